//! `mmv-train open-set-embeddings`: writes the text-space embeddings that the open-set
//! calibration and the product-path evaluation score, one JSON line per input file, so that
//! other open-set scores can be studied outside the project (e.g. with numpy) before one is
//! built in. Each line holds every window's embedding as `mmv tag` reads the file, and which
//! window `mmv tag` answers from (its best label's contrast the highest).
//!
//! Splits: `fit` (training inputs the label Gaussians are fitted on), `calibration` (the
//! training / validation inputs and negatives that the cuts are chosen on) and `evaluation`
//! (test inputs and the evaluation negatives: only for measuring).

use std::io::Write;
use std::path::{Path, PathBuf};

use mmv_runtime::bundle::manifest::Precision;
use mmv_runtime::pipeline::PipelineError;
use serde::Serialize;

use super::rows::{self, Placement, spread};
use super::{Product, ProductError, Purpose};
use crate::data::splits::{FsddProtocol, MNIST_PROBE_VAL, MNIST_TEST, Side, fsdd_pretrain};

/// One input file's embeddings.
#[derive(Serialize)]
struct Line<'a> {
    split: &'a str,
    precision: &'a str,
    modality: &'a str,
    /// The row or negative kind ("training takes", "letters", ...).
    group: &'a str,
    /// The digit shown or said; None for a negative.
    digit: Option<usize>,
    /// The window `mmv tag` answers from.
    answer: usize,
    windows: Vec<Vec<f32>>,
}

/// Writes the embeddings of every input (about `per_row` per row and per negative kind) at
/// `precision` as JSON lines to `out`.
pub fn dump(
    bundle: &Path,
    data_dir: &Path,
    precision: Precision,
    per_row: usize,
    out: &Path,
    mut progress: impl FnMut(&str),
) -> Result<usize, ProductError> {
    let product = Product::open(bundle, precision)?;
    let data = rows::load_data(&product, data_dir)?;
    let fail = |e: std::io::Error| ProductError::Write {
        path: out.to_path_buf(),
        problem: e.to_string(),
    };
    let mut sink = Sink {
        file: std::io::BufWriter::new(std::fs::File::create(out).map_err(fail)?),
        lines: 0,
        out: out.to_path_buf(),
    };
    // Made once the output file is known to be writable, and removed whatever happens.
    let work = super::tempfile_dir()?;
    let result = (|| -> Result<(), ProductError> {
        let p = precision.name();
        let mut emit = |sink: &mut Sink,
                        split: &str,
                        modality: &str,
                        group: &str,
                        files: &[(PathBuf, Option<usize>)]|
         -> Result<(), ProductError> {
            progress(&format!("{split}: {group}"));
            for (path, digit) in files {
                let windows = product.window_embeddings(path, modality)?;
                let Some(answer) = answering_window(&product, &windows, modality)? else {
                    continue;
                };
                let line = Line {
                    split,
                    precision: p,
                    modality,
                    group,
                    digit: *digit,
                    answer,
                    windows,
                };
                sink.write(&line)?;
            }
            Ok(())
        };
        let labelled = |v: Vec<(PathBuf, usize)>| -> Vec<(PathBuf, Option<usize>)> {
            v.into_iter().map(|(p, d)| (p, Some(d))).collect()
        };
        let takes_of = |keep: &dyn Fn(usize) -> bool, n: usize| -> Vec<usize> {
            let all: Vec<usize> = (0..data.recordings.len()).filter(|&i| keep(i)).collect();
            spread(&all, n)
        };
        // Audio: training takes (half for the fit, half for the cuts), test takes of both
        // protocols, the held-out voice.
        let train = takes_of(&|i| fsdd_pretrain(&data.recordings[i]), 2 * per_row);
        let (fit, cal): (Vec<usize>, Vec<usize>) =
            train
                .iter()
                .enumerate()
                .fold((Vec::new(), Vec::new()), |(mut f, mut c), (k, &t)| {
                    if k % 2 == 0 {
                        f.push(t)
                    } else {
                        c.push(t)
                    }
                    (f, c)
                });
        let d = |name: &str| work.join(name);
        for (split, group, takes, placement) in [
            ("fit", "training takes, centred", &fit, Placement::Centred),
            ("calibration", "training takes", &cal, Placement::AsIs),
        ] {
            let files = rows::write_takes(&product, &data, takes, false, placement, &d(group))?;
            emit(&mut sink, split, "audio", group, &labelled(files))?;
        }
        for protocol in [FsddProtocol::Official, FsddProtocol::SpeakerDisjoint] {
            let takes = takes_of(
                &|i| protocol.side(&data.recordings[i]) == Side::Test,
                per_row,
            );
            let group = format!("{} test takes", protocol.name());
            let files =
                rows::write_takes(&product, &data, &takes, false, Placement::AsIs, &d(&group))?;
            emit(&mut sink, "evaluation", "audio", &group, &labelled(files))?;
        }
        let heldout: Vec<usize> = (0..data.heldout.len()).collect();
        let files = rows::write_takes(&product, &data, &heldout, true, Placement::AsIs, &d("h"))?;
        emit(
            &mut sink,
            "evaluation",
            "audio",
            "held-out voice",
            &labelled(files),
        )?;
        // Stills in every style and clips: MNIST train images (fit), probe-validation images
        // (calibration), test images (evaluation).
        let fit_images = spread(&(0..MNIST_PROBE_VAL.start).collect::<Vec<_>>(), per_row);
        let val = spread(&MNIST_PROBE_VAL.collect::<Vec<_>>(), per_row);
        let test = spread(&MNIST_TEST.collect::<Vec<_>>(), per_row);
        for (split, images) in [
            ("fit", &fit_images),
            ("calibration", &val),
            ("evaluation", &test),
        ] {
            for (k, (name, style)) in rows::still_styles().into_iter().enumerate() {
                let dir = d(&format!("{split}-still-{k}"));
                let files = rows::write_stills(&data, images, style, &dir)?;
                emit(&mut sink, split, "image", name, &labelled(files))?;
            }
            let files = rows::write_clips(
                &product,
                &data,
                images,
                &d(&format!("{split}-clips")),
                false,
                0,
            )?;
            emit(&mut sink, split, "video", "clips", &labelled(files))?;
        }
        // Negatives of both sets (footage: every window of the set's half is one input).
        for (split, purpose) in [
            ("calibration", Purpose::Calibration),
            ("evaluation", Purpose::Evaluation),
        ] {
            let files = rows::negative_files(
                &product,
                data_dir,
                purpose,
                per_row,
                &d(&format!("{split}-negatives")),
            )?;
            for (neg, modality) in &files {
                match neg.footage {
                    // Footage: each window of the set's half of the file is one input.
                    Some(half) => {
                        for z in rows::footage_windows(&product, neg, half, modality)? {
                            sink.write(&Line {
                                split,
                                precision: p,
                                modality,
                                group: neg.kind,
                                digit: None,
                                answer: 0,
                                windows: vec![z],
                            })?;
                        }
                    }
                    None => emit(
                        &mut sink,
                        split,
                        modality,
                        neg.kind,
                        &[(neg.path.clone(), None)],
                    )?,
                }
            }
        }
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&work);
    result?;
    sink.file.flush().map_err(fail)?;
    Ok(sink.lines)
}

/// The JSON-lines file being written.
struct Sink {
    file: std::io::BufWriter<std::fs::File>,
    lines: usize,
    out: PathBuf,
}

impl Sink {
    fn write(&mut self, line: &Line) -> Result<(), ProductError> {
        let fail = |problem: String| ProductError::Write {
            path: self.out.clone(),
            problem,
        };
        serde_json::to_writer(&mut self.file, line).map_err(|e| fail(e.to_string()))?;
        self.file
            .write_all(b"\n")
            .map_err(|e| fail(e.to_string()))?;
        self.lines += 1;
        Ok(())
    }
}

/// The window `mmv tag` answers from: its best label's contrast the highest (None: no window).
fn answering_window(
    product: &Product,
    windows: &[Vec<f32>],
    modality: &str,
) -> Result<Option<usize>, ProductError> {
    let mut best: Option<(f32, usize)> = None;
    for (i, z) in windows.iter().enumerate() {
        let s = product.tagger.scores(z).map_err(PipelineError::from)?;
        let contrast = product
            .tagger
            .top(&s, modality, 1, 0.0)
            .first()
            .map_or(f32::MIN, |t| t.contrast);
        if best.is_none_or(|(c, _)| contrast > c) {
            best = Some((contrast, i));
        }
    }
    Ok(best.map(|(_, i)| i))
}
