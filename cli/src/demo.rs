//! `mmv demo`: the product end to end with nothing but a bundle: render footage of handwritten-
//! style digits moving on a black canvas (Moving-MNIST's geometry: a 28-pixel digit on a 64x64
//! canvas), write it as a Y4M file, tag it, index it into a temporary SQLite index, and search
//! it by text, timing each step.
//!
//! The digits are drawn from pen strokes (polylines with a soft 2.5-pixel nib), the closest a
//! program can get to MNIST without shipping MNIST. The soundtrack speaks each clip's digit:
//! ten real recordings embedded in the binary (FSDD test-split takes, speaker jackson, take 0;
//! CC BY-SA 4.0, see the README), written beside the footage as a WAV, tagged window by window
//! and searched by sound.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;

use mmv_runtime::audio::{AudioError, read_wav_bytes, resample, write_wav};
use mmv_runtime::bundle::{Bundle, BundleOptions};
use mmv_runtime::frames::RgbFrame;
use mmv_runtime::index::{FileOutcome, IndexFileError, IndexOptions, index_file};
use mmv_runtime::index::{Index, ModelKey, SegmentInfo};
use mmv_runtime::ingest::OpenOptions;
use mmv_runtime::ingest::y4m::write_y4m;
use mmv_runtime::pipeline::{ClipTags, Pipeline, PipelineError, QueryInput};
use mmv_runtime::tag::{LabelSet, Tag};

/// Canvas side (Moving-MNIST).
pub const CANVAS: usize = 64;
/// Digit box side (MNIST).
pub const DIGIT: usize = 28;

/// Each digit spoken once: FSDD takes `{digit}_jackson_0.wav` (official test split), 8 kHz.
const SPEECH: [&[u8]; 10] = [
    include_bytes!("../fixtures/speech/0_jackson_0.wav"),
    include_bytes!("../fixtures/speech/1_jackson_0.wav"),
    include_bytes!("../fixtures/speech/2_jackson_0.wav"),
    include_bytes!("../fixtures/speech/3_jackson_0.wav"),
    include_bytes!("../fixtures/speech/4_jackson_0.wav"),
    include_bytes!("../fixtures/speech/5_jackson_0.wav"),
    include_bytes!("../fixtures/speech/6_jackson_0.wav"),
    include_bytes!("../fixtures/speech/7_jackson_0.wav"),
    include_bytes!("../fixtures/speech/8_jackson_0.wav"),
    include_bytes!("../fixtures/speech/9_jackson_0.wav"),
];

/// The spoken `digit` at `rate` Hz.
pub fn spoken(digit: u8, rate: u32) -> Result<Vec<f32>, AudioError> {
    let take = read_wav_bytes(SPEECH[usize::from(digit % 10)])?;
    resample(&take.samples, take.sample_rate, rate)
}

/// A soundtrack at `rate` Hz with each of `digits` spoken once, centred in its own
/// `clip_s`-second span (where the footage shows it).
pub fn soundtrack(digits: &[u8], clip_s: f64, rate: u32) -> Result<Vec<f32>, AudioError> {
    let span = (clip_s * f64::from(rate)).round() as usize;
    let mut out = vec![0.0f32; span * digits.len()];
    for (i, &d) in digits.iter().enumerate() {
        let word = spoken(d, rate)?;
        let word = &word[..word.len().min(span)];
        let at = i * span + (span - word.len()) / 2;
        out[at..at + word.len()].copy_from_slice(word);
    }
    Ok(out)
}

/// Pen strokes of each digit in a 28x28 box (x right, y down), as MNIST writers draw them:
/// a digit is one or more polylines.
fn strokes(digit: u8) -> Vec<Vec<(f32, f32)>> {
    let ellipse = |cx: f32, cy: f32, rx: f32, ry: f32, from: f32, to: f32| -> Vec<(f32, f32)> {
        (0..=24)
            .map(|i| {
                let a = (from + (to - from) * i as f32 / 24.0).to_radians();
                (cx + rx * a.cos(), cy + ry * a.sin())
            })
            .collect()
    };
    match digit % 10 {
        0 => vec![ellipse(14.0, 14.0, 6.0, 9.0, 0.0, 360.0)],
        1 => vec![vec![(12.0, 7.0), (15.0, 5.0), (14.0, 23.0)]],
        2 => vec![vec![
            (8.0, 9.0),
            (10.0, 6.0),
            (14.0, 5.0),
            (18.0, 6.0),
            (20.0, 9.0),
            (19.0, 13.0),
            (8.0, 23.0),
            (21.0, 23.0),
        ]],
        3 => vec![vec![
            (8.0, 6.0),
            (14.0, 5.0),
            (19.0, 7.0),
            (19.0, 11.0),
            (13.0, 14.0),
            (19.0, 16.0),
            (20.0, 20.0),
            (15.0, 23.0),
            (8.0, 22.0),
        ]],
        4 => vec![vec![(17.0, 23.0), (17.0, 5.0), (7.0, 17.0), (21.0, 17.0)]],
        5 => vec![vec![
            (19.0, 5.0),
            (9.0, 5.0),
            (8.0, 13.0),
            (14.0, 12.0),
            (19.0, 15.0),
            (19.0, 20.0),
            (14.0, 23.0),
            (8.0, 22.0),
        ]],
        6 => vec![
            vec![(18.0, 5.0), (12.0, 8.0), (8.0, 15.0), (8.0, 19.0)],
            ellipse(13.5, 18.0, 5.5, 5.0, 180.0, 540.0),
        ],
        7 => vec![vec![(7.0, 5.0), (21.0, 5.0), (12.0, 23.0)]],
        8 => vec![
            ellipse(14.0, 9.5, 5.0, 4.5, 0.0, 360.0),
            ellipse(14.0, 18.5, 6.0, 4.5, 0.0, 360.0),
        ],
        _ => vec![
            ellipse(14.0, 10.0, 5.0, 4.5, 0.0, 360.0),
            vec![(19.0, 10.0), (17.0, 23.0)],
        ],
    }
}

/// Distance from `p` to the segment `a`-`b`.
fn segment_distance(p: (f32, f32), a: (f32, f32), b: (f32, f32)) -> f32 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len2 = dx * dx + dy * dy;
    let t = if len2 > 0.0 {
        (((p.0 - a.0) * dx + (p.1 - a.1) * dy) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let (x, y) = (a.0 + t * dx, a.1 + t * dy);
    ((p.0 - x).powi(2) + (p.1 - y).powi(2)).sqrt()
}

/// The digit drawn into a `DIGIT x DIGIT` grey image (0-255).
pub fn draw_digit(digit: u8) -> Vec<u8> {
    let lines = strokes(digit);
    let half_width = 1.25;
    (0..DIGIT * DIGIT)
        .map(|i| {
            let p = ((i % DIGIT) as f32 + 0.5, (i / DIGIT) as f32 + 0.5);
            let d = lines
                .iter()
                .flat_map(|l| l.windows(2).map(|w| segment_distance(p, w[0], w[1])))
                .fold(f32::INFINITY, f32::min);
            // Full ink inside the nib, a one-pixel soft edge.
            ((half_width + 0.5 - d).clamp(0.0, 1.0) * 255.0).round() as u8
        })
        .collect()
}

/// Frames of `digits` shown one after another, each for `frames_per_digit` frames, moving
/// and bouncing on the canvas as in Moving-MNIST.
pub fn render_digits(digits: &[u8], frames_per_digit: usize) -> Vec<RgbFrame> {
    let room = (CANVAS - DIGIT) as f32;
    let (mut x, mut y, mut vx, mut vy) = (6.0f32, 20.0f32, 1.6f32, 1.1f32);
    let mut frames = Vec::new();
    for &digit in digits {
        let glyph = draw_digit(digit);
        for _ in 0..frames_per_digit {
            let mut canvas = vec![0u8; CANVAS * CANVAS * 3];
            let (ox, oy) = (x.round() as usize, y.round() as usize);
            for gy in 0..DIGIT {
                for gx in 0..DIGIT {
                    let v = glyph[gy * DIGIT + gx];
                    let i = ((oy + gy) * CANVAS + ox + gx) * 3;
                    canvas[i..i + 3].copy_from_slice(&[v, v, v]);
                }
            }
            frames.push(RgbFrame {
                width: CANVAS,
                height: CANVAS,
                data: canvas,
            });
            (x, vx) = bounce(x + vx, vx, room);
            (y, vy) = bounce(y + vy, vy, room);
        }
    }
    frames
}

fn bounce(p: f32, v: f32, room: f32) -> (f32, f32) {
    if p < 0.0 {
        (-p, -v)
    } else if p > room {
        (2.0 * room - p, -v)
    } else {
        (p, v)
    }
}

/// What the demo does.
#[derive(Clone, Debug)]
pub struct DemoOptions {
    pub bundle: PathBuf,
    /// Digits shown, one per clip.
    pub digits: Vec<u8>,
    /// The text searched for.
    pub query: String,
    /// Where the footage and the index go (None: a temporary directory, removed afterwards).
    pub work_dir: Option<PathBuf>,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            bundle: mmv_runtime::pipeline::DEFAULT_BUNDLE.into(),
            digits: vec![3, 7, 1],
            query: "seven".into(),
            work_dir: None,
        }
    }
}

/// Errors of the demo.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(
        "no model bundle at {0}: the demo needs the released bundle (models/avdigits-fac-tsm-robust) or --bundle DIR"
    )]
    NoBundle(String),
    #[error(transparent)]
    Bundle(#[from] mmv_runtime::bundle::BundleError),
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error(transparent)]
    Index(#[from] mmv_runtime::index::IndexError),
    #[error("the demo's soundtrack: {0}")]
    Audio(#[from] AudioError),
    #[error(transparent)]
    IndexFile(#[from] IndexFileError),
    #[error("demo files in {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// One tagged clip, with the digit drawn in it.
#[derive(Clone, Debug, Serialize)]
pub struct DemoClip {
    pub clip: u32,
    pub start_s: f64,
    pub end_s: f64,
    pub shown: u8,
    pub tags: ClipTags,
    /// The soundtrack's window over the same span: its tags (the digit `shown` is spoken).
    pub audio_tags: Option<Vec<Tag>>,
}

/// Wall-clock time of each step.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Latencies {
    /// Verifying and building every network.
    pub load_bundle: Duration,
    pub render: Duration,
    /// Embedding the label prompts.
    pub labels: Duration,
    /// Decoding, preprocessing and embedding one clip (mean).
    pub embed_clip: Duration,
    /// Scoring one clip against the labels (mean).
    pub tag_clip: Duration,
    /// Indexing the whole file (embedding again, thumbnails, SQLite).
    pub index_file: Duration,
    pub query_embed: Duration,
    /// Embedding the spoken query (decode, resample, log-mel, audio net).
    pub sound_query_embed: Duration,
    pub index_load: Duration,
    pub search: Duration,
}

/// What the demo found.
#[derive(Clone, Debug, Serialize)]
pub struct DemoReport {
    pub model: ModelKey,
    pub precision: String,
    pub footage: PathBuf,
    pub index: PathBuf,
    pub clips: Vec<DemoClip>,
    pub query: String,
    pub hits: Vec<(SegmentInfo, f32)>,
    /// The soundtrack (WAV) beside the footage.
    pub soundtrack: PathBuf,
    /// The query spoken (when it is one of the ten digit words), and what it finds.
    pub sound_query: Option<String>,
    pub sound_hits: Vec<(SegmentInfo, f32)>,
    pub latencies: Latencies,
    /// Whether the work directory is kept.
    pub kept: bool,
}

/// Runs the demo.
pub fn run(options: &DemoOptions) -> Result<DemoReport, DemoError> {
    if !options
        .bundle
        .join(mmv_runtime::bundle::manifest::MANIFEST_FILE)
        .is_file()
    {
        return Err(DemoError::NoBundle(options.bundle.display().to_string()));
    }
    let mut lat = Latencies::default();
    let t = Instant::now();
    let pipeline = Pipeline::new(Bundle::open(&options.bundle, &BundleOptions::default())?);
    lat.load_bundle = t.elapsed();

    let temp;
    let (dir, kept) = match &options.work_dir {
        Some(d) => (d.clone(), true),
        None => {
            temp = tempfile::tempdir().map_err(|source| DemoError::Io {
                path: std::env::temp_dir().display().to_string(),
                source,
            })?;
            (temp.path().to_path_buf(), false)
        }
    };
    let io = |source| DemoError::Io {
        path: dir.display().to_string(),
        source,
    };
    std::fs::create_dir_all(&dir).map_err(io)?;

    // Footage at twice the model's frame rate, one digit per clip.
    let t = Instant::now();
    let geometry = pipeline.geometry(None)?;
    let fps = (geometry.fps * 2.0).round().max(1.0) as u32;
    let per_digit = geometry.frames * 2;
    let frames = render_digits(&options.digits, per_digit);
    let footage = dir.join("digits.y4m");
    write_y4m(&footage, &frames, fps).map_err(io)?;
    let rate = pipeline.bundle.manifest.audio.logmel.sample_rate;
    let clip_s = per_digit as f64 / f64::from(fps);
    let soundtrack_path = dir.join("digits.wav");
    write_wav(
        &soundtrack_path,
        &soundtrack(&options.digits, clip_s, rate)?,
        rate,
    )?;
    lat.render = t.elapsed();

    let t = Instant::now();
    let tagger = pipeline.tagger(&LabelSet::avdigits())?;
    lat.labels = t.elapsed();

    let mut clips = Vec::new();
    let mut files = pipeline.open(&footage, &OpenOptions::default(), None)?;
    loop {
        let t = Instant::now();
        let Some(clip) = files.next(0, false)? else {
            break;
        };
        lat.embed_clip += t.elapsed();
        let t = Instant::now();
        let tags = pipeline.tag(&tagger, &clip, 3, 0.0)?;
        lat.tag_clip += t.elapsed();
        clips.push(DemoClip {
            clip: clip.index,
            start_s: clip.start_s,
            end_s: clip.end_s,
            shown: options
                .digits
                .get(clip.index as usize)
                .copied()
                .unwrap_or_default(),
            tags,
            audio_tags: None,
        });
    }
    // The soundtrack's windows span the clips' times (same window, same stride).
    let mut sound = pipeline.open(&soundtrack_path, &OpenOptions::default(), None)?;
    while let Some(window) = sound.next(0, false)? {
        let tags = pipeline.tag(&tagger, &window, 3, 0.0)?;
        if let Some(c) = clips.get_mut(window.index as usize) {
            c.audio_tags = tags.audio;
        }
    }
    let n = clips.len().max(1) as u32;
    lat.embed_clip /= n;
    lat.tag_clip /= n;

    let index_path = dir.join("index.db");
    let mut index = Index::open(&index_path)?;
    let t = Instant::now();
    let outcome = index_file(
        &pipeline,
        &mut index,
        &footage,
        &IndexOptions::default(),
        &mut |_| {},
    )?;
    lat.index_file = t.elapsed();
    debug_assert!(matches!(
        outcome,
        FileOutcome::Indexed { .. } | FileOutcome::AlreadyIndexed { .. }
    ));
    index_file(
        &pipeline,
        &mut index,
        &soundtrack_path,
        &IndexOptions::default(),
        &mut |_| {},
    )?;

    let t = Instant::now();
    let query = pipeline.query(
        &QueryInput::Text(options.query.clone()),
        &OpenOptions::default(),
    )?;
    lat.query_embed = t.elapsed();
    let t = Instant::now();
    let table = index.load_model_table(&pipeline.model_key())?;
    lat.index_load = t.elapsed();
    let t = Instant::now();
    let top = table.top_k(&query, 3, &[]);
    lat.search = t.elapsed();
    let hits = index.resolve(&top)?;

    // Search by sound: the query word spoken, when it is a digit word.
    let words = LabelSet::avdigits();
    let spoken_digit = words
        .labels
        .iter()
        .position(|l| l.name.eq_ignore_ascii_case(options.query.trim()));
    let (sound_query, sound_hits) = match spoken_digit {
        Some(d) => {
            let path = dir.join(format!("query-{}.wav", words.labels[d].name));
            write_wav(&path, &spoken(d as u8, rate)?, rate)?;
            let t = Instant::now();
            let z = pipeline.query(&QueryInput::Audio(path.clone()), &OpenOptions::default())?;
            lat.sound_query_embed = t.elapsed();
            let top = table.top_k(&z, 3, &[]);
            (Some(path.display().to_string()), index.resolve(&top)?)
        }
        None => (None, Vec::new()),
    };

    Ok(DemoReport {
        model: pipeline.model_key(),
        precision: pipeline.bundle.precision.name().into(),
        footage,
        index: index_path,
        clips,
        query: options.query.clone(),
        hits,
        soundtrack: soundtrack_path,
        sound_query,
        sound_hits,
        latencies: lat,
        kept,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_have_ink_and_differ() {
        let glyphs: Vec<Vec<u8>> = (0..10).map(draw_digit).collect();
        for (d, g) in glyphs.iter().enumerate() {
            let ink = g.iter().filter(|&&v| v > 128).count();
            // MNIST digits cover roughly 10-25 % of the 28x28 box.
            assert!((50..250).contains(&ink), "digit {d}: {ink} pixels of ink");
            // Nothing touches the box's border, as in MNIST.
            for i in 0..DIGIT {
                assert_eq!(g[i], 0);
                assert_eq!(g[i * DIGIT], 0);
            }
        }
        for a in 0..10 {
            for b in a + 1..10 {
                assert_ne!(glyphs[a], glyphs[b]);
            }
        }
    }

    #[test]
    fn soundtrack_speaks_each_digit_in_its_own_span() {
        let track = soundtrack(&[3, 7], 1.6, 16_000).unwrap();
        let span = 25_600;
        assert_eq!(track.len(), 2 * span);
        for (i, d) in [3u8, 7].into_iter().enumerate() {
            let word = spoken(d, 16_000).unwrap();
            let part = &track[i * span..(i + 1) * span];
            // The take itself, centred, and silence around it.
            let at = (span - word.len()) / 2;
            assert_eq!(&part[at..at + word.len()], &word[..]);
            assert!(part[..at].iter().all(|&x| x == 0.0));
            assert!(part[at + word.len()..].iter().all(|&x| x == 0.0));
        }
        assert_ne!(spoken(3, 16_000).unwrap(), spoken(7, 16_000).unwrap());
    }

    #[test]
    fn renders_moving_frames_and_a_readable_y4m() {
        let frames = render_digits(&[7, 1], 4);
        assert_eq!(frames.len(), 8);
        assert_ne!(frames[0].data, frames[1].data, "the digit moves");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.y4m");
        write_y4m(&path, &frames, 10).unwrap();
        let mut r = mmv_runtime::ingest::y4m::Y4mReader::open(&path).unwrap();
        use mmv_runtime::ingest::{FrameSource, NextFrame};
        assert_eq!(r.fps(), 10.0);
        let NextFrame::Frame(f) = r.next_frame(true).unwrap() else {
            panic!()
        };
        let max_err = f
            .to_rgb()
            .unwrap()
            .data
            .iter()
            .zip(&frames[0].data)
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap();
        // Grey survives 4:2:0 limited range within rounding.
        assert!(max_err <= 2, "{max_err}");
    }
}
