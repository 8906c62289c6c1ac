//! `mmv demo`: the product end to end with nothing but a bundle: render footage of handwritten-
//! style digits moving on a black canvas (Moving-MNIST's geometry: a 28-pixel digit on a 64x64
//! canvas), write it as a Y4M file, tag it, index it into a temporary SQLite index, and search
//! it by text, timing each step.
//!
//! The digits are drawn from pen strokes (polylines with a soft 2.5-pixel nib), the closest a
//! program can get to MNIST without shipping MNIST. There is no audio: speech cannot be
//! synthesised convincingly here, so the demo shows the video side.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;

use mmv_runtime::bundle::{Bundle, BundleOptions};
use mmv_runtime::frames::RgbFrame;
use mmv_runtime::index::{FileOutcome, IndexFileError, IndexOptions, index_file};
use mmv_runtime::index::{Index, ModelKey, SegmentInfo};
use mmv_runtime::ingest::OpenOptions;
use mmv_runtime::ingest::y4m::write_y4m;
use mmv_runtime::pipeline::{ClipTags, Pipeline, PipelineError, QueryInput};
use mmv_runtime::tag::LabelSet;

/// Canvas side (Moving-MNIST).
pub const CANVAS: usize = 64;
/// Digit box side (MNIST).
pub const DIGIT: usize = 28;

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
        "no model bundle at {0}: the demo needs the released bundle (models/avdigits-fac-s3d) or --bundle DIR"
    )]
    NoBundle(String),
    #[error(transparent)]
    Bundle(#[from] mmv_runtime::bundle::BundleError),
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error(transparent)]
    Index(#[from] mmv_runtime::index::IndexError),
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
        });
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

    Ok(DemoReport {
        model: pipeline.model_key(),
        precision: pipeline.bundle.precision.name().into(),
        footage,
        index: index_path,
        clips,
        query: options.query.clone(),
        hits,
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
