//! The rows of the product-path evaluation and of the tag calibration: which files are
//! written, how they are answered, and how the answers are counted. Both commands call the same
//! builders with different inputs (test splits for `eval-product`, train / validation data for
//! `calibrate-tags`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mmv_runtime::frames::encode_jpeg;
use mmv_runtime::index::{Index, IndexOptions, index_file};
use mmv_runtime::pipeline::QueryInput;
use mmv_runtime::text::Vocab;
use rand::{Rng, SeedableRng, rngs::StdRng};

use super::media::{Gray, write_clip, write_jpeg, write_png, write_wav};
use super::negatives::{self, NegativeCounts, Purpose};
use super::{NegativeRow, Product, ProductError, ProductOptions, Row, SearchRow};
use crate::config::MmvConfig;
use crate::data::AvDigits;
use crate::data::augment::Jitter;
use crate::data::moving_mnist::{self, DIGIT, Motion};
use crate::data::narrations::{DIGIT_WORDS, NARRATIONS, narration, narration_words};
use crate::data::splits::{FsddProtocol, MNIST_TEST, Side};

fn mkdir(dir: &Path) -> Result<(), ProductError> {
    std::fs::create_dir_all(dir).map_err(|e| ProductError::Write {
        path: dir.to_path_buf(),
        problem: e.to_string(),
    })
}

/// AV-Digits with the bundle's own training configuration (its front ends' settings).
pub fn load_data(product: &Product, data_dir: &Path) -> Result<AvDigits, ProductError> {
    let m = &product.pipeline.bundle.manifest;
    let config: MmvConfig =
        toml::from_str(&m.provenance.training_config).map_err(|e| ProductError::Bundle {
            path: PathBuf::from(&m.name),
            problem: format!("the manifest's training config does not parse: {e}"),
        })?;
    Ok(AvDigits::load(
        data_dir,
        &config,
        Vocab::from_words(narration_words()),
    )?)
}

/// Where a word is placed in a written recording.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Placement {
    /// The file as it is (its own rate and length).
    AsIs,
    /// Centred in one window, silence around (what the protocol evaluation does).
    Centred,
    /// In a recording of `windows` windows with a faint noise floor, the word's centre at
    /// `at` (a fraction of the recording).
    InRecording { windows: usize, at: f32 },
}

/// Answers FSDD takes (indices into `data.recordings`, or held-out takes when `heldout`)
/// placed as `placement`, in the audio modality, read with clips `stride_s` apart.
#[allow(clippy::too_many_arguments)]
pub fn audio_row(
    product: &Product,
    data: &AvDigits,
    row: &mut Row,
    takes: &[usize],
    heldout: bool,
    placement: Placement,
    stride_s: Option<f64>,
    dir: &Path,
) -> Result<(), ProductError> {
    for (path, digit) in write_takes(product, data, takes, heldout, placement, dir)? {
        let a = product.answer(&path, stride_s)?;
        row.add(a.get("audio"), digit, product.cut("audio"));
    }
    Ok(())
}

/// FSDD takes (indices into `data.recordings`, or held-out takes when `heldout`) as WAV files
/// placed as `placement` (as they are: the data's own files), with their digits.
pub fn write_takes(
    product: &Product,
    data: &AvDigits,
    takes: &[usize],
    heldout: bool,
    placement: Placement,
    dir: &Path,
) -> Result<Vec<(PathBuf, usize)>, ProductError> {
    mkdir(dir)?;
    let window = product.pipeline.bundle.manifest.audio.window_samples;
    let rate = product.pipeline.bundle.manifest.audio.logmel.sample_rate;
    let mut rng = StdRng::seed_from_u64(0xA0D10 ^ takes.len() as u64);
    let mut out = Vec::with_capacity(takes.len());
    for &t in takes {
        let (rec, wave) = if heldout {
            (&data.heldout[t], data.heldout_waveform(t))
        } else {
            (&data.recordings[t], data.waveform(t))
        };
        let path = match placement {
            Placement::AsIs => rec.path.clone(),
            Placement::Centred => {
                let mut s = vec![0.0f32; window.max(wave.len())];
                let off = (s.len() - wave.len()) / 2;
                s[off..off + wave.len()].copy_from_slice(wave);
                let p = dir.join(format!("{}_{}_{}.wav", rec.digit, rec.speaker, rec.take));
                write_wav(&p, &s, rate)?;
                p
            }
            Placement::InRecording { windows, at } => {
                let n = window * windows;
                let mut s = crate::data::empty_clip::white_noise(n, 0.0005, &mut rng);
                let centre = (at * n as f32) as isize;
                let start = centre - wave.len() as isize / 2;
                for (i, &x) in wave.iter().enumerate() {
                    let j = start + i as isize;
                    if (0..n as isize).contains(&j) {
                        s[j as usize] += x;
                    }
                }
                let p = dir.join(format!("{}_{}_{}.wav", rec.digit, rec.speaker, rec.take));
                write_wav(&p, &s, rate)?;
                p
            }
        };
        out.push((path, rec.digit as usize));
    }
    Ok(out)
}

/// How a still is written.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StillStyle {
    /// The digit's 28 px box as a fraction of the image side (1: the MNIST image itself).
    pub fraction: f32,
    pub inverted: bool,
    /// Blurred and saved as JPEG at quality 60 instead of PNG.
    pub blur_jpeg: bool,
}

/// Answers MNIST images written as stills in `style`, in the image modality.
pub fn still_row(
    product: &Product,
    data: &AvDigits,
    row: &mut Row,
    images: &[usize],
    style: StillStyle,
    dir: &Path,
) -> Result<(), ProductError> {
    for (path, digit) in write_stills(data, images, style, dir)? {
        let a = product.answer(&path, None)?;
        row.add(a.get("image"), digit, product.cut("image"));
    }
    Ok(())
}

/// MNIST images written as stills in `style` (PNG, or JPEG when blurred), with their digits.
pub fn write_stills(
    data: &AvDigits,
    images: &[usize],
    style: StillStyle,
    dir: &Path,
) -> Result<Vec<(PathBuf, usize)>, ProductError> {
    mkdir(dir)?;
    let m = &data.mnist;
    let mut rng = StdRng::seed_from_u64(0x571 ^ images.len() as u64);
    let mut out = Vec::with_capacity(images.len());
    for &i in images {
        let digit = Gray {
            width: m.cols,
            height: m.rows,
            data: m.image(i).to_vec(),
        };
        let side = (m.cols as f32 / style.fraction).round() as usize;
        let mut img = if side <= m.cols {
            digit
        } else {
            let mut canvas = Gray::new(side, side, 0);
            let (x, y) = (
                rng.random_range(0..=side - m.cols),
                rng.random_range(0..=side - m.rows),
            );
            canvas.paste_scaled(&digit, x, y, m.cols);
            canvas
        };
        if style.inverted {
            img = img.inverted();
        }
        let path = if style.blur_jpeg {
            let p = dir.join(format!("{i}.jpg"));
            write_jpeg(&p, &img.blurred(), 60)?;
            p
        } else {
            let p = dir.join(format!("{i}.png"));
            write_png(&p, &img)?;
            p
        };
        out.push((path, m.labels[i] as usize));
    }
    Ok(out)
}

/// Writes the Moving-MNIST clip of each image (one window at the model's rate) as Y4M, and
/// as MJPEG when `mjpeg`; returns the files with their digits.
pub fn write_clips(
    product: &Product,
    data: &AvDigits,
    images: &[usize],
    dir: &Path,
    mjpeg: bool,
    seed: u64,
) -> Result<Vec<(PathBuf, usize)>, ProductError> {
    mkdir(dir)?;
    let man = &product.pipeline.bundle.manifest;
    let (frames, fps) = (man.video.frames, man.video.fps.round() as u32);
    let m = &data.mnist;
    let mut out = Vec::new();
    for &i in images {
        let mut rng = StdRng::seed_from_u64(crate::data::mix_seed(seed, 77, i as u64));
        let motion = Motion::random(DIGIT, &mut rng);
        let canvas =
            moving_mnist::render(m.image(i), m.rows, m.cols, motion, &Jitter::none(frames));
        let side = moving_mnist::CANVAS;
        let seq: Vec<Gray> = canvas
            .into_iter()
            .map(|data| Gray {
                width: side,
                height: side,
                data,
            })
            .collect();
        let path =
            if mjpeg {
                let p = dir.join(format!("{i}.mjpeg"));
                let mut bytes = Vec::new();
                for f in &seq {
                    let rgb = f.to_rgb();
                    bytes.extend(encode_jpeg(&rgb.data, rgb.width, rgb.height, 90).map_err(
                        |e| ProductError::Write {
                            path: p.clone(),
                            problem: e.to_string(),
                        },
                    )?);
                }
                std::fs::write(&p, bytes).map_err(|e| ProductError::Write {
                    path: p.clone(),
                    problem: e.to_string(),
                })?;
                p
            } else {
                let p = dir.join(format!("{i}.y4m"));
                write_clip(&p, &seq, fps)?;
                p
            };
        out.push((path, m.labels[i] as usize));
    }
    Ok(out)
}

/// Answers clip files in the video modality.
pub fn clip_row(
    product: &Product,
    row: &mut Row,
    files: &[(PathBuf, usize)],
) -> Result<(), ProductError> {
    for (path, digit) in files {
        let a = product.answer(path, None)?;
        row.add(a.get("video"), *digit, product.cut("video"));
    }
    Ok(())
}

/// What the evaluation's row builders share.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    pub product: &'a Product,
    pub data: &'a AvDigits,
    pub options: &'a ProductOptions,
    /// Where the media files are written.
    pub work: &'a Path,
}

/// The in-domain audio rows of the evaluation (FSDD test takes, held-out voice).
pub fn audio_rows(
    ctx: &Ctx,
    rows: &mut Vec<Row>,
    progress: &mut impl FnMut(&str),
) -> Result<(), ProductError> {
    let Ctx {
        product,
        data,
        options,
        work,
    } = *ctx;
    let test_takes = |protocol: FsddProtocol| -> Vec<usize> {
        let all: Vec<usize> = (0..data.recordings.len())
            .filter(|&i| protocol.side(&data.recordings[i]) == Side::Test)
            .collect();
        spread(&all, options.per_row)
    };
    let official = test_takes(FsddProtocol::Official);
    let disjoint = test_takes(FsddProtocol::SpeakerDisjoint);
    let heldout: Vec<usize> = (0..data.heldout.len()).collect();
    let side_by_side = Some(product.pipeline.geometry(None)?.window_s());
    // (row, takes, held-out voice, placement, stride)
    type Spec<'a> = (&'a str, &'a [usize], bool, Placement, Option<f64>);
    let specs: Vec<Spec> = vec![
        (
            "FSDD official test WAVs as they are",
            &official,
            false,
            Placement::AsIs,
            None,
        ),
        (
            "the same, centred in one window",
            &official,
            false,
            Placement::Centred,
            None,
        ),
        (
            "at the start of a 3-window recording",
            &official,
            false,
            Placement::InRecording {
                windows: 3,
                at: 0.12,
            },
            None,
        ),
        (
            "at the centre of a 3-window recording",
            &official,
            false,
            Placement::InRecording {
                windows: 3,
                at: 0.5,
            },
            None,
        ),
        (
            "at the end of a 3-window recording",
            &official,
            false,
            Placement::InRecording {
                windows: 3,
                at: 0.88,
            },
            None,
        ),
        (
            "split across two windows",
            &official,
            false,
            Placement::InRecording {
                windows: 2,
                at: 0.5,
            },
            None,
        ),
        (
            "split across two windows, windows side by side (--stride = one window)",
            &official,
            false,
            Placement::InRecording {
                windows: 2,
                at: 0.5,
            },
            side_by_side,
        ),
        (
            "FSDD speaker-disjoint test WAVs as they are",
            &disjoint,
            false,
            Placement::AsIs,
            None,
        ),
        (
            "held-out voice as it is",
            &heldout,
            true,
            Placement::AsIs,
            None,
        ),
    ];
    for (k, (name, takes, held, placement, stride)) in specs.into_iter().enumerate() {
        progress(&format!("audio: {name}"));
        let mut row = Row::new("audio -> text", name, "audio");
        audio_row(
            product,
            data,
            &mut row,
            takes,
            held,
            placement,
            stride,
            &work.join(format!("audio-{k}")),
        )?;
        rows.push(row);
    }
    Ok(())
}

/// The in-domain still rows of the evaluation (MNIST test digits).
pub fn still_rows(
    ctx: &Ctx,
    rows: &mut Vec<Row>,
    progress: &mut impl FnMut(&str),
) -> Result<(), ProductError> {
    let images = spread(&MNIST_TEST.collect::<Vec<_>>(), ctx.options.per_row);
    for (k, (name, style)) in still_styles().into_iter().enumerate() {
        progress(&format!("stills: {name}"));
        let mut row = Row::new("image -> text", name, "image");
        let dir = ctx.work.join(format!("still-{k}"));
        still_row(ctx.product, ctx.data, &mut row, &images, style, &dir)?;
        rows.push(row);
    }
    Ok(())
}

/// The still styles measured: scales from filling the image to a quarter of it, inverted
/// polarity, blur with JPEG noise.
pub fn still_styles() -> Vec<(&'static str, StillStyle)> {
    let s = |fraction, inverted, blur_jpeg| StillStyle {
        fraction,
        inverted,
        blur_jpeg,
    };
    vec![
        (
            "MNIST test digits filling the image (PNG)",
            s(1.0, false, false),
        ),
        ("digit at 1/2 of the image side", s(0.5, false, false)),
        ("digit at 1/4 of the image side", s(0.25, false, false)),
        (
            "inverted polarity (dark ink on light), filling",
            s(1.0, true, false),
        ),
        ("inverted polarity, digit at 1/4", s(0.25, true, false)),
        (
            "blurred, JPEG quality 60, digit at 1/2",
            s(0.5, false, true),
        ),
    ]
}

/// The clip rows (zero-shot video on Y4M, MJPEG and MP4 files) and the search rows over an
/// index of the Y4M clips (by text, by an image, by a sound).
pub fn clip_rows(
    ctx: &Ctx,
    rows: &mut Vec<Row>,
    search: &mut Vec<SearchRow>,
    progress: &mut impl FnMut(&str),
) -> Result<(), ProductError> {
    let Ctx {
        product,
        data,
        options,
        work,
    } = *ctx;
    let all: Vec<usize> = MNIST_TEST.collect();
    let images = spread(&all, options.per_row);
    progress("clips: writing Y4M and MJPEG");
    let y4m = write_clips(
        product,
        data,
        &images,
        &work.join("clips-y4m"),
        false,
        options.seed,
    )?;
    let mjpeg = write_clips(
        product,
        data,
        &images,
        &work.join("clips-mjpeg"),
        true,
        options.seed,
    )?;
    for (name, files) in [
        ("Moving-MNIST test clips as Y4M", &y4m),
        ("the same clips as MJPEG", &mjpeg),
    ] {
        progress(&format!("clips: {name}"));
        let mut row = Row::new("video -> text", name, "video");
        clip_row(product, &mut row, files)?;
        rows.push(row);
    }
    if let Some(mp4) = to_mp4(&y4m, &work.join("clips-mp4"))? {
        progress("clips: MP4 through ffmpeg");
        let mut row = Row::new(
            "video -> text",
            "the same clips as H.264 MP4 (ffmpeg)",
            "video",
        );
        clip_row(product, &mut row, &mp4)?;
        rows.push(row);
    }

    progress("search: indexing the Y4M clips");
    let db = work.join("index.db");
    let _ = std::fs::remove_file(&db);
    let mut index = Index::open(&db)?;
    let digit_of: BTreeMap<String, usize> = y4m
        .iter()
        .map(|(p, d)| (p.display().to_string(), *d))
        .collect();
    for (path, _) in &y4m {
        index_file(
            &product.pipeline,
            &mut index,
            path,
            &IndexOptions {
                thumbnails: false,
                ..IndexOptions::default()
            },
            &mut |_| {},
        )
        .map_err(|e| ProductError::Bundle {
            path: path.clone(),
            problem: e.to_string(),
        })?;
    }
    let key = product.pipeline.model_key();
    let mut measure = |name: &str, queries: Vec<(QueryInput, usize)>| -> Result<(), ProductError> {
        let (mut r1, mut r5) = (0, 0);
        for (q, digit) in &queries {
            let query = product.pipeline.query(q, &product.open)?;
            let hits = index.search(&key, &query, 5, &[])?;
            let digits: Vec<usize> = hits
                .iter()
                .filter_map(|(s, _)| digit_of.get(&s.path).copied())
                .collect();
            r1 += usize::from(digits.first() == Some(digit));
            r5 += usize::from(digits.contains(digit));
        }
        search.push(SearchRow {
            name: name.into(),
            queries: queries.len(),
            r_at_1: super::pct(r1, queries.len()),
            r_at_5: super::pct(r5, queries.len()),
        });
        Ok(())
    };
    progress("search: by text");
    let text: Vec<(QueryInput, usize)> = (0..DIGIT_WORDS.len())
        .flat_map(|d| {
            NARRATIONS
                .iter()
                .map(move |t| (QueryInput::Text(narration(t, d)), d))
        })
        .collect();
    measure("text -> clip (100 narrations)", text)?;
    progress("search: by image");
    // Query images: test digits not among the indexed clips.
    let others: Vec<usize> = MNIST_TEST
        .rev()
        .filter(|i| !images.contains(i))
        .take(100)
        .collect();
    let dir = work.join("query-images");
    mkdir(&dir)?;
    let mut image_queries = Vec::new();
    for &i in &others {
        let p = dir.join(format!("{i}.png"));
        let m = &data.mnist;
        write_png(
            &p,
            &Gray {
                width: m.cols,
                height: m.rows,
                data: m.image(i).to_vec(),
            },
        )?;
        image_queries.push((QueryInput::Image(p), m.labels[i] as usize));
    }
    measure("image -> clip (100 MNIST test PNGs)", image_queries)?;
    progress("search: by sound");
    let takes: Vec<usize> = (0..data.recordings.len())
        .filter(|&i| FsddProtocol::Official.side(&data.recordings[i]) == Side::Test)
        .collect();
    let sound: Vec<(QueryInput, usize)> = spread(&takes, 100)
        .into_iter()
        .map(|t| {
            let r = &data.recordings[t];
            (QueryInput::Audio(r.path.clone()), r.digit as usize)
        })
        .collect();
    measure("sound -> clip (100 FSDD official test WAVs)", sound)?;
    Ok(())
}

/// H.264 MP4 copies of the first 50 clips through ffmpeg; None when ffmpeg is not installed.
fn to_mp4(
    files: &[(PathBuf, usize)],
    dir: &Path,
) -> Result<Option<Vec<(PathBuf, usize)>>, ProductError> {
    let have = std::process::Command::new("ffmpeg")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have {
        return Ok(None);
    }
    mkdir(dir)?;
    let mut out = Vec::new();
    for (path, digit) in files.iter().take(50) {
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("clip");
        let mp4 = dir.join(format!("{stem}.mp4"));
        let o = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-i"])
            .arg(path)
            .args(["-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "23"])
            .arg(&mp4)
            .output()
            .map_err(|e| ProductError::Tool {
                tool: "ffmpeg",
                problem: e.to_string(),
            })?;
        if !o.status.success() {
            return Err(ProductError::Tool {
                tool: "ffmpeg",
                problem: String::from_utf8_lossy(&o.stderr).into_owned(),
            });
        }
        out.push((mp4, *digit));
    }
    Ok(Some(out))
}

/// The label-free negative files of `purpose` written into `dir` (and, where ffmpeg is there,
/// the footage files), each with the modality it is answered in: audio kinds in audio, stills
/// in image, clips and footage video in video.
pub fn negative_files(
    product: &Product,
    data_dir: &Path,
    purpose: Purpose,
    per_kind: usize,
    dir: &Path,
) -> Result<Vec<(negatives::Negative, &'static str)>, ProductError> {
    mkdir(dir)?;
    let counts = NegativeCounts { per_kind };
    let man = &product.pipeline.bundle.manifest;
    let mut files: Vec<(negatives::Negative, &'static str)> = Vec::new();
    files.extend(
        negatives::audio(dir, purpose, counts)?
            .into_iter()
            .map(|n| (n, "audio")),
    );
    files.extend(
        negatives::stills(dir, purpose, counts)?
            .into_iter()
            .map(|n| (n, "image")),
    );
    files.extend(
        negatives::clips(
            dir,
            purpose,
            counts,
            man.video.frames,
            man.video.fps.round() as u32,
        )?
        .into_iter()
        .map(|n| (n, "video")),
    );
    let ffmpeg = std::process::Command::new("ffmpeg")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    if ffmpeg {
        for (kind, modality) in [("footage video", "video"), ("footage soundtrack", "audio")] {
            files.extend(
                negatives::footage(data_dir, purpose, kind, 0.2)
                    .into_iter()
                    .map(|n| (n, modality)),
            );
        }
    }
    Ok(files)
}

/// A footage negative's window embeddings in `modality` (text space), those of the clips
/// that start in its purpose's half of the file: each is one input.
pub fn footage_windows(
    product: &Product,
    neg: &negatives::Negative,
    split: negatives::FootageSplit,
    modality: &str,
) -> Result<Vec<Vec<f32>>, ProductError> {
    let mut clips = product
        .pipeline
        .open(&neg.path, &product.open, Some(split.stride_s))?;
    let mut found = Vec::new();
    while let Some(clip) = clips.next(0, false)? {
        let z = match modality {
            "audio" => clip.audio.as_ref(),
            _ => clip.video.as_ref(),
        }
        .and_then(|e| e.vat.clone());
        found.extend(z.map(|z| (clip.start_s, z)));
    }
    // The halves by the file's own duration, known once every clip was read.
    let half = clips.duration_s().unwrap_or(0.0) / 2.0;
    Ok(found
        .into_iter()
        .filter(|(start, _)| (*start < half) == split.first_half)
        .map(|(_, z)| z)
        .collect())
}

/// The label-free negatives of `purpose`, answered in their modality.
pub fn negative_rows(
    product: &Product,
    data_dir: &Path,
    purpose: Purpose,
    per_kind: usize,
    dir: &Path,
    progress: &mut impl FnMut(&str),
) -> Result<Vec<NegativeRow>, ProductError> {
    progress("negatives: writing sounds, stills and clips");
    let files = negative_files(product, data_dir, purpose, per_kind, dir)?;
    let mut rows: BTreeMap<(String, &'static str), NegativeRow> = BTreeMap::new();
    for (neg, modality) in &files {
        progress(&format!("negatives: {}", neg.kind));
        let row = rows
            .entry((neg.kind.to_string(), modality))
            .or_insert_with(|| NegativeRow {
                kind: neg.kind.into(),
                modality: (*modality).into(),
                ..NegativeRow::default()
            });
        let cut = product.cut(modality);
        match neg.footage {
            // Footage: every clip of the purpose's half counts as one input.
            Some(split) => {
                for z in footage_windows(product, neg, split, modality)? {
                    row.add(Some(&product.best(&z, modality)?), cut);
                }
            }
            None => {
                let a = product.answer(&neg.path, None)?;
                row.add(a.get(modality), cut);
            }
        }
    }
    Ok(rows.into_values().collect())
}

/// `n` items spread evenly over `all` (every digit and speaker, not the first few).
pub fn spread(all: &[usize], n: usize) -> Vec<usize> {
    if n >= all.len() {
        return all.to_vec();
    }
    (0..n).map(|k| all[k * all.len() / n]).collect()
}
