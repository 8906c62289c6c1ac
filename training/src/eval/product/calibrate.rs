//! `mmv-train calibrate-tags`: chooses a bundle's front-end settings and open-set cuts on
//! training and validation data and stores them in its manifest: the audio noise floor and
//! gate, the still framing (`video.still_framing`, kept when it answers the validation stills
//! better), and the open-set cuts (`open_set`, see `mmv_runtime::open_set`).
//!
//! Per modality, the cut on the best label's score (its cosine similarity, or its contrast:
//! the cosine minus the mean over the labels) is the lowest at which every kind of label-free
//! negative (the calibration set of [`super::negatives`]) is tagged at most `target` of the
//! time. Only training and validation data are read: FSDD takes that self-supervised training
//! used (no test take of either protocol), MNIST's probe-validation images (7200..8000, inside
//! the train split), and negatives made here. Never a test split. The fused (audio + video)
//! cut is the mean of the two, as the fused score is their mean.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mmv_runtime::bundle::manifest::{MANIFEST_FILE, Precision};
use mmv_runtime::frames::StillFraming;
use mmv_runtime::open_set::{
    ModalityCalibration, OpenSet, OpenSetScore, choose_threshold, share_at_or_above,
};

use super::rows::{self, Placement, spread};
use super::{Product, ProductError, Purpose, Row};
use crate::data::splits::{MNIST_PROBE_VAL, fsdd_pretrain};

#[derive(Clone, Debug)]
pub struct CalibrateOptions {
    pub bundle: PathBuf,
    pub data_dir: PathBuf,
    /// In-domain inputs per row (takes, images, clips).
    pub per_row: usize,
    pub negatives_per_kind: usize,
    /// The most each negative kind may be tagged on the calibration data.
    pub target: f32,
    /// What the cuts apply to: the best label's cosine or its contrast.
    pub score: OpenSetScore,
    pub seed: u64,
    /// The command line, recorded in the manifest.
    pub command: String,
}

/// The audio noise floors tried (standard deviations; training's background noise is drawn
/// up to 0.005 by the standard preset and up to 0.03 by the robust one).
pub const NOISE_FLOORS: [f32; 6] = [0.0, 0.0003, 0.001, 0.002, 0.004, 0.01];

/// The noise-gate strengths tried (`audio.noise_gate`, `mmv_runtime::audio::subtract_noise_floor`).
pub const NOISE_GATES: [f32; 6] = [0.0, 2.0, 4.0, 8.0, 16.0, 32.0];

/// Where a word sits in the noise-gate scan: inside a longer recording with a faint noise
/// floor, as a microphone gives it (the takes as they are are scanned too).
const IN_RECORDING: Placement = Placement::InRecording {
    windows: 3,
    at: 0.4,
};

/// What [`calibrate`] chooses: the open-set cuts and the audio noise floor.
#[derive(Clone, Debug)]
pub struct Calibration {
    pub open_set: OpenSet,
    /// `video.still_framing` for the manifest.
    pub still_framing: Option<StillFraming>,
    /// Each framing tried with the validation stills' mean top-1 (%) over the still styles.
    pub framings: Vec<(Option<StillFraming>, f64)>,
    /// `audio.noise_floor` for the manifest.
    pub noise_floor: f32,
    /// Each floor tried with the training takes' top-1 (%) as plain files.
    pub floors: Vec<(f32, f64)>,
    /// `audio.noise_gate` for the manifest.
    pub noise_gate: f32,
    /// Each gate tried with the training takes' top-1 (%): as they are, and in a recording.
    pub gates: Vec<(f32, f64, f64)>,
}

/// Measures the calibration data through the product path (fp32): first the audio noise floor
/// that answers the training takes best, then, with it, the cuts.
pub fn calibrate(
    options: &CalibrateOptions,
    mut progress: impl FnMut(&str),
) -> Result<Calibration, ProductError> {
    progress("opening the bundle");
    let mut product = Product::open(&options.bundle, Precision::Fp32)?;
    // Every answer below carries the score the cuts will apply to.
    product.tagger = product.tagger.clone().with_score(options.score);
    let data = rows::load_data(&product, &options.data_dir)?;
    let work = super::tempfile_dir()?;
    let result = (|| {
        let mut positives: BTreeMap<&str, Vec<Row>> = BTreeMap::new();
        // Audio: takes that training itself used, as they are and inside a longer recording.
        let takes: Vec<usize> = (0..data.recordings.len())
            .filter(|&i| fsdd_pretrain(&data.recordings[i]))
            .collect();
        let takes = spread(&takes, options.per_row);
        // Top-1 of the takes through the product as it is set now, placed as asked.
        let takes_row = |product: &Product, placement, dir: &str| {
            let mut row = Row::new("audio", "training takes", "audio");
            rows::audio_row(
                product,
                &data,
                &mut row,
                &takes,
                false,
                placement,
                None,
                &work.join(dir),
            )
            .map(|()| row)
        };
        // The audio noise floor first: the cuts are measured with the floor the bundle keeps.
        let mut floors = Vec::new();
        for (k, &floor) in NOISE_FLOORS.iter().enumerate() {
            progress(&format!("audio noise floor {floor}"));
            product.pipeline.bundle.manifest.audio.noise_floor = floor;
            let row = takes_row(&product, Placement::AsIs, &format!("floor{k}"))?;
            floors.push((floor, row.accuracy()));
        }
        let noise_floor = first_best(floors.iter().copied());
        product.pipeline.bundle.manifest.audio.noise_floor = noise_floor;
        // Then the noise gate, with that floor: the best mean of the takes as they are and
        // inside a recording with a faint noise floor (where the gate matters). The kept gate's
        // two rows are the audio positives of the cuts below.
        let mut gates = Vec::new();
        let mut gate_rows = Vec::new();
        for (k, &gate) in NOISE_GATES.iter().enumerate() {
            progress(&format!("audio noise gate {gate}"));
            product.pipeline.bundle.manifest.audio.noise_gate = gate;
            let as_is = takes_row(&product, Placement::AsIs, &format!("gate{k}-0"))?;
            let in_recording = takes_row(&product, IN_RECORDING, &format!("gate{k}-1"))?;
            gates.push((gate, as_is.accuracy(), in_recording.accuracy()));
            gate_rows.push(vec![as_is, in_recording]);
        }
        let noise_gate = first_best(gates.iter().map(|&(g, a, b)| (g, (a + b) / 2.0)));
        product.pipeline.bundle.manifest.audio.noise_gate = noise_gate;
        let kept = NOISE_GATES
            .iter()
            .position(|&g| g == noise_gate)
            .expect("the kept gate is one of those tried");
        positives.insert("audio", gate_rows.swap_remove(kept));
        // Stills and clips: MNIST probe-validation images (train split), every still style
        // (scales, polarity, blur) with and without framing; the framing with the better mean
        // top-1 is kept, and its rows are the image positives of the cuts below.
        let val: Vec<usize> = spread(&MNIST_PROBE_VAL.collect::<Vec<_>>(), options.per_row);
        let mut framings = Vec::new();
        let mut framing_rows = Vec::new();
        for (f, framing) in [None, Some(StillFraming::default())]
            .into_iter()
            .enumerate()
        {
            progress(if framing.is_some() {
                "validation stills, framed"
            } else {
                "validation stills, as they are"
            });
            product.pipeline.bundle.manifest.video.still_framing = framing.clone();
            let mut styled = Vec::new();
            for (k, (_, style)) in rows::still_styles().into_iter().enumerate() {
                let mut row = Row::new("image", "validation stills", "image");
                rows::still_row(
                    &product,
                    &data,
                    &mut row,
                    &val,
                    style,
                    &work.join(format!("s{f}-{k}")),
                )?;
                styled.push(row);
            }
            let mean = styled.iter().map(Row::accuracy).sum::<f64>() / styled.len().max(1) as f64;
            framings.push((framing, mean));
            framing_rows.push(styled);
        }
        let kept = (0..framings.len()).fold(0, |best, i| {
            if framings[i].1 > framings[best].1 {
                i
            } else {
                best
            }
        });
        let still_framing = framings[kept].0.clone();
        product.pipeline.bundle.manifest.video.still_framing = still_framing.clone();
        positives.insert("image", framing_rows.swap_remove(kept));
        progress("positives: validation clips");
        let clips = rows::write_clips(
            &product,
            &data,
            &val,
            &work.join("clips"),
            false,
            options.seed,
        )?;
        let mut row = Row::new("video", "validation clips", "video");
        rows::clip_row(&product, &mut row, &clips)?;
        positives.entry("video").or_default().push(row);

        let negatives = rows::negative_rows(
            &product,
            &options.data_dir,
            Purpose::Calibration,
            options.negatives_per_kind,
            &work.join("negatives"),
            &mut progress,
        )?;
        let mut thresholds = BTreeMap::new();
        let mut calibration = BTreeMap::new();
        for modality in ["audio", "image", "video"] {
            let kinds: BTreeMap<String, Vec<f32>> = negatives
                .iter()
                .filter(|r| r.modality == modality)
                .map(|r| {
                    // Inputs without an answer (silence the runtime skips) are never tagged.
                    (r.kind.clone(), r.scores.clone())
                })
                .collect();
            let Some(cut) = choose_threshold(&kinds, options.target) else {
                continue;
            };
            let pos: Vec<(f32, bool)> = positives
                .get(modality)
                .into_iter()
                .flatten()
                .flat_map(|r| r.scores.iter().copied())
                .collect();
            let kept = pos.iter().filter(|(s, right)| *right && *s >= cut).count();
            let right = pos.iter().filter(|(_, right)| *right).count();
            thresholds.insert(modality.to_string(), cut);
            calibration.insert(
                modality.to_string(),
                ModalityCalibration {
                    positives: pos.len(),
                    positives_kept: kept as f32 / right.max(1) as f32,
                    negatives: negatives
                        .iter()
                        .filter(|r| r.modality == modality)
                        .map(|r| {
                            let tagged = share_at_or_above(&r.scores, cut) * r.scores.len() as f32;
                            (r.kind.clone(), (r.n, tagged / r.n.max(1) as f32))
                        })
                        .collect(),
                },
            );
        }
        if let (Some(&v), Some(&a)) = (thresholds.get("video"), thresholds.get("audio")) {
            thresholds.insert("fused".into(), 0.5 * (v + a));
        }
        let floors_text = floors
            .iter()
            .map(|(f, acc)| format!("{f}: {acc:.1} %"))
            .collect::<Vec<_>>()
            .join(", ");
        let framing_text = framings
            .iter()
            .map(|(f, acc)| {
                format!(
                    "{}: {acc:.1} %",
                    if f.is_some() { "framed" } else { "as they are" }
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let gates_text = gates
            .iter()
            .map(|(g, a, b)| format!("{g}: {a:.1} / {b:.1} %"))
            .collect::<Vec<_>>()
            .join(", ");
        let open_set = OpenSet {
            thresholds,
            score: options.score,
            method: format!(
                "per-modality cut on the best label's {}: the lowest at which each \
                 kind of label-free negative is tagged at most {:.1} % of the time, measured through \
                 the runtime on files (training FSDD takes, MNIST probe-validation images 7200..8000 \
                 as stills and clips, and {} negatives per kind: noises, tones, espeak-ng words, \
                 letters, shapes, blank/noise images and clips, the first half of each footage \
                 file); fused = mean of video and audio; measured with the audio noise floor \
                 {noise_floor} (audio.noise_floor), the best of the training takes' top-1 as \
                 plain files ({floors_text}), and the noise gate {noise_gate} \
                 (audio.noise_gate), the best mean top-1 of those takes as they are and in a \
                 recording with a faint noise floor ({gates_text}); stills {}, the better mean \
                 top-1 of the validation stills in every style ({framing_text})",
                match options.score {
                    OpenSetScore::Cosine => "cosine similarity",
                    OpenSetScore::Contrast =>
                        "contrast (its cosine similarity minus the mean over the labels)",
                },
                100.0 * options.target,
                options.negatives_per_kind,
                if still_framing.is_some() {
                    "framed (video.still_framing)"
                } else {
                    "as they are"
                },
            ),
            labels: "avdigits".into(),
            target_negative_rate: options.target,
            made_by: options.command.clone(),
            calibration,
        };
        Ok(Calibration {
            open_set,
            still_framing,
            framings,
            noise_floor,
            floors,
            noise_gate,
            gates,
        })
    })();
    let _ = std::fs::remove_dir_all(&work);
    result
}

/// The candidate with the highest score; the first (the lower setting) on a tie.
fn first_best(scored: impl Iterator<Item = (f32, f64)>) -> f32 {
    scored
        .fold((0.0f32, f64::MIN), |best, (x, score)| {
            if score > best.1 { (x, score) } else { best }
        })
        .0
}

/// Stores the calibration (`open_set`, `audio.noise_floor`, `audio.noise_gate`,
/// `video.still_framing`) in the bundle's manifest, leaving
/// every other field as it was.
pub fn store(bundle: &Path, calibration: &Calibration) -> Result<(), ProductError> {
    let path = bundle.join(MANIFEST_FILE);
    let fail = |problem: String| ProductError::Bundle {
        path: path.clone(),
        problem,
    };
    let text = std::fs::read_to_string(&path).map_err(|e| fail(e.to_string()))?;
    let mut value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| fail(e.to_string()))?;
    let obj = value
        .as_object_mut()
        .ok_or_else(|| fail("the manifest is not a JSON object".into()))?;
    obj.insert(
        "open_set".into(),
        serde_json::to_value(&calibration.open_set).expect("open-set calibration serialises"),
    );
    obj.get_mut("audio")
        .and_then(|a| a.as_object_mut())
        .ok_or_else(|| fail("the manifest has no audio section".into()))?
        .extend([
            (
                "noise_floor".to_string(),
                serde_json::json!(calibration.noise_floor),
            ),
            (
                "noise_gate".to_string(),
                serde_json::json!(calibration.noise_gate),
            ),
        ]);
    let video = obj
        .get_mut("video")
        .and_then(|v| v.as_object_mut())
        .ok_or_else(|| fail("the manifest has no video section".into()))?;
    match &calibration.still_framing {
        Some(framing) => {
            video.insert(
                "still_framing".into(),
                serde_json::to_value(framing).expect("still framing serialises"),
            );
        }
        None => {
            video.remove("still_framing");
        }
    }
    let out = serde_json::to_string_pretty(&value).expect("JSON serialises");
    // Written beside and renamed, so a crash never leaves half a manifest.
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, out + "\n").map_err(|e| fail(e.to_string()))?;
    std::fs::rename(&tmp, &path).map_err(|e| fail(e.to_string()))
}
