//! `mmv-train calibrate-tags`: chooses a bundle's front-end settings and open-set cuts on
//! training and validation data and stores them in its manifest: the audio noise floor and
//! gate, the still framing (`video.still_framing`, kept when it answers the validation stills
//! better), and the open-set cuts (`open_set`, see `mmv_runtime::open_set`).
//!
//! Per modality, the cut is on the best label's score (its cosine similarity, or its contrast:
//! the cosine minus the mean over the labels) or on the input's typicality (label Gaussians
//! fitted here on other training inputs), whichever keeps more right answers; it is the lowest
//! at which every kind of label-free negative (the calibration set of [`super::negatives`]) is
//! tagged at most `target` of the time, at fp32 and, where the bundle has it, int8 alike (the
//! Gaussians are fitted on both precisions' embeddings). Only training and validation data
//! are read: FSDD takes that self-supervised training used (no test take of either protocol),
//! MNIST train images (the probe-validation ones, 7200..8000, for the cuts; earlier ones for
//! the Gaussians), and negatives made here. Never a test split. The fused (audio + video) cut
//! is the mean of the two contrast cuts, as the fused score is their mean.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mmv_runtime::bundle::manifest::{MANIFEST_FILE, Precision};
use mmv_runtime::frames::StillFraming;
use mmv_runtime::open_set::{
    LabelGaussians, ModalityCalibration, OpenSet, OpenSetScore, choose_threshold,
};

use super::rows::{self, Placement, spread};
use super::{NegativeRow, Product, ProductError, Purpose, Row};
use crate::data::AvDigits;
use crate::data::splits::{MNIST_PROBE_VAL, fsdd_pretrain};
use mmv_runtime::pipeline::PipelineError;

#[derive(Clone, Debug)]
pub struct CalibrateOptions {
    pub bundle: PathBuf,
    pub data_dir: PathBuf,
    /// In-domain inputs per row (takes, images, clips).
    pub per_row: usize,
    pub negatives_per_kind: usize,
    /// Training inputs per modality the typicality's label Gaussians are fitted on.
    pub fit_inputs: usize,
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
        // inside a recording with a faint noise floor (where the gate matters).
        let mut gates = Vec::new();
        for (k, &gate) in NOISE_GATES.iter().enumerate() {
            progress(&format!("audio noise gate {gate}"));
            product.pipeline.bundle.manifest.audio.noise_gate = gate;
            let as_is = takes_row(&product, Placement::AsIs, &format!("gate{k}-0"))?;
            let in_recording = takes_row(&product, IN_RECORDING, &format!("gate{k}-1"))?;
            gates.push((gate, as_is.accuracy(), in_recording.accuracy()));
        }
        let noise_gate = first_best(gates.iter().map(|&(g, a, b)| (g, (a + b) / 2.0)));
        product.pipeline.bundle.manifest.audio.noise_gate = noise_gate;
        // Stills: MNIST probe-validation images (train split), every still style (scales,
        // polarity, blur) with and without framing; the framing with the better mean top-1 is
        // kept.
        let val: Vec<usize> = spread(&MNIST_PROBE_VAL.collect::<Vec<_>>(), options.per_row);
        let mut framings = Vec::new();
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

        // The bundle's int8 networks too, when it has them, with the settings chosen above:
        // the Gaussians are fitted on both precisions' embeddings and each cut holds for both,
        // so that a user who runs int8 keeps what fp32 keeps.
        let mut products = vec![product];
        let manifest = &products[0].pipeline.bundle.manifest;
        if manifest.precisions().contains(&Precision::Int8) {
            let (audio, video) = (manifest.audio.clone(), manifest.video.clone());
            let mut int8 = Product::open(&options.bundle, Precision::Int8)?;
            int8.pipeline.bundle.manifest.audio = audio;
            int8.pipeline.bundle.manifest.video = video;
            int8.tagger = int8.tagger.clone().with_score(options.score);
            products.push(int8);
        }
        // The label Gaussians of typicality, fitted on other training inputs than those the
        // cuts are measured on.
        let gaussians = fit_gaussians(&products, &data, &takes, options, &work, &mut progress)?;
        let product = &products[0];
        progress("positives: validation clips");
        let clips = rows::write_clips(
            product,
            &data,
            &val,
            &work.join("clips"),
            false,
            options.seed,
        )?;
        // The positives and negatives, scored with the base kind of score and with
        // typicality; each modality keeps the kind whose cut keeps more right answers.
        let base = options.score;
        let mut measured = Vec::new();
        for kind in [base, OpenSetScore::Typicality] {
            // No cuts: every answer is kept, carrying its score of `kind`.
            let probe = OpenSet {
                score: base,
                modality_scores: ["audio", "image", "video"]
                    .into_iter()
                    .map(|m| (m.to_string(), kind))
                    .collect(),
                gaussians: gaussians.clone(),
                ..OpenSet::default()
            };
            let mut runs = Vec::new();
            for p in &mut products {
                p.tagger =
                    p.tagger
                        .clone()
                        .with_open_set(&probe)
                        .map_err(|e| ProductError::Bundle {
                            path: options.bundle.clone(),
                            problem: e.to_string(),
                        })?;
                runs.push(measure(
                    p,
                    &data,
                    &takes,
                    &val,
                    &clips,
                    options,
                    kind,
                    &work,
                    &mut progress,
                )?);
            }
            measured.push((kind, runs));
        }
        let mut thresholds = BTreeMap::new();
        let mut base_cuts = BTreeMap::new();
        let mut modality_scores = BTreeMap::new();
        let mut kept_gaussians = BTreeMap::new();
        let mut calibration = BTreeMap::new();
        for modality in ["audio", "image", "video"] {
            let mut best: Option<(OpenSetScore, f32, ModalityCalibration)> = None;
            let mut kept_by_score = BTreeMap::new();
            for (kind, runs) in &measured {
                let kind = *kind;
                let Some((cut, cal)) = cut_for(modality, kind, runs, options.target) else {
                    continue;
                };
                if kind == base {
                    base_cuts.insert(modality, cut);
                }
                kept_by_score.insert(format!("{kind:?}").to_lowercase(), cal.positives_kept);
                if best
                    .as_ref()
                    .is_none_or(|b| cal.positives_kept > b.2.positives_kept)
                {
                    best = Some((kind, cut, cal));
                }
            }
            let Some((kind, cut, mut cal)) = best else {
                continue;
            };
            cal.kept_by_score = kept_by_score;
            thresholds.insert(modality.to_string(), cut);
            if kind != base {
                modality_scores.insert(modality.to_string(), kind);
            }
            if kind == OpenSetScore::Typicality
                && let Some(g) = gaussians.get(modality)
            {
                kept_gaussians.insert(modality.to_string(), g.clone());
            }
            calibration.insert(modality.to_string(), cal);
        }
        // Fused scores are the base kind of score on the mean of the two modalities'
        // similarities: their cut is the mean of the two base-kind cuts.
        if let (Some(&v), Some(&a)) = (base_cuts.get("video"), base_cuts.get("audio")) {
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
        let precisions = products
            .iter()
            .map(|p| p.pipeline.bundle.precision.name())
            .collect::<Vec<_>>()
            .join(" and ");
        let open_set = OpenSet {
            thresholds,
            score: options.score,
            modality_scores,
            gaussians: kept_gaussians,
            method: format!(
                "per-modality cut on the best label's {} or on the input's typicality (minus its \
                 smallest squared Mahalanobis distance to a digit's mean, per dimension, from label \
                 Gaussians fitted on other training takes, stills and clips, embedded at every \
                 precision measured), whichever keeps more \
                 right answers: the lowest at which each \
                 kind of label-free negative, at every precision measured ({}), is tagged at most {:.1} % of the time, measured through \
                 the runtime on files (training FSDD takes, MNIST probe-validation images 7200..8000 \
                 as stills and clips, and {} negatives per kind: noises, tones, espeak-ng words, \
                 letters, shapes, blank/noise images and clips, the first half of each footage \
                 file); fused = mean of video and audio's cuts on the base kind; measured with the audio noise floor \
                 {noise_floor} (audio.noise_floor), the best of the training takes' top-1 as \
                 plain files ({floors_text}), and the noise gate {noise_gate} \
                 (audio.noise_gate), the best mean top-1 of those takes as they are and in a \
                 recording with a faint noise floor ({gates_text}); stills {}, the better mean \
                 top-1 of the validation stills in every style ({framing_text})",
                match options.score {
                    OpenSetScore::Cosine => "cosine similarity",
                    OpenSetScore::Contrast | OpenSetScore::Typicality =>
                        "contrast (its cosine similarity minus the mean over the labels)",
                },
                precisions,
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

/// Fits each modality's label Gaussians on training inputs other than those the cuts are
/// measured on: FSDD training takes not in `measured_takes` (centred in a window), MNIST
/// train images before the probe-validation range as stills in every style and as clips.
fn fit_gaussians(
    products: &[Product],
    data: &AvDigits,
    measured_takes: &[usize],
    options: &CalibrateOptions,
    work: &Path,
    progress: &mut impl FnMut(&str),
) -> Result<BTreeMap<String, LabelGaussians>, ProductError> {
    // Per file, the window `mmv tag` answers from (its best label's contrast the highest):
    // a window that holds half a word or only the padding around it is not what a digit's
    // input looks like.
    let product = &products[0];
    let embed = |files: Vec<(PathBuf, usize)>, modality: &str| {
        let mut samples = Vec::new();
        for (path, digit) in files.iter().cloned() {
            for product in products {
                let mut best: Option<(f32, Vec<f32>)> = None;
                for z in product.window_embeddings(&path, modality)? {
                    let s = product.tagger.scores(&z).map_err(PipelineError::from)?;
                    let top = product.tagger.top(&s, modality, 1, 0.0);
                    let contrast = top.first().map_or(f32::MIN, |t| t.contrast);
                    if best.as_ref().is_none_or(|(c, _)| contrast > *c) {
                        best = Some((contrast, z));
                    }
                }
                samples.extend(best.map(|(_, z)| (digit, z)));
            }
        }
        Ok::<_, ProductError>(samples)
    };
    let mut samples: BTreeMap<&str, Vec<(usize, Vec<f32>)>> = BTreeMap::new();
    progress("label Gaussians: training takes");
    let others: Vec<usize> = (0..data.recordings.len())
        .filter(|&i| fsdd_pretrain(&data.recordings[i]) && !measured_takes.contains(&i))
        .collect();
    let takes = spread(&others, options.fit_inputs);
    let files = rows::write_takes(
        product,
        data,
        &takes,
        false,
        Placement::Centred,
        &work.join("fit-audio"),
    )?;
    samples.insert("audio", embed(files, "audio")?);
    progress("label Gaussians: training stills");
    let train: Vec<usize> = (0..MNIST_PROBE_VAL.start).collect();
    let styles = rows::still_styles();
    let images = spread(&train, options.fit_inputs);
    let mut stills = Vec::new();
    for (k, (_, style)) in styles.iter().enumerate() {
        // Each style its own share of the images.
        let part: Vec<usize> = images
            .iter()
            .copied()
            .skip(k)
            .step_by(styles.len())
            .collect();
        let files = rows::write_stills(data, &part, *style, &work.join(format!("fit-still-{k}")))?;
        stills.extend(embed(files, "image")?);
    }
    samples.insert("image", stills);
    progress("label Gaussians: training clips");
    let files = rows::write_clips(
        product,
        data,
        &images,
        &work.join("fit-clips"),
        false,
        options.seed ^ 0xF17,
    )?;
    samples.insert("video", embed(files, "video")?);
    samples
        .into_iter()
        .map(|(m, s)| {
            LabelGaussians::fit(&s, product.tagger.labels.len(), GAUSSIAN_SHRINK)
                .map(|g| (m.to_string(), g))
                .map_err(|problem| ProductError::Bundle {
                    path: options.bundle.clone(),
                    problem: format!("fitting the {m} label Gaussians: {problem}"),
                })
        })
        .collect()
}

/// How far the Gaussians' covariance is shrunk toward its mean variance: barely, so that it
/// always inverts.
const GAUSSIAN_SHRINK: f64 = 0.01;

/// Per modality, the in-domain rows a cut is measured on.
type Positives = BTreeMap<&'static str, Vec<Row>>;

/// The calibration's positives (training takes as they are and in a faint recording,
/// validation stills in every style, validation clips) and its negatives, answered by the
/// product as it is set now, every answer carrying a score of `kind`.
#[allow(clippy::too_many_arguments)]
fn measure(
    product: &Product,
    data: &AvDigits,
    takes: &[usize],
    val: &[usize],
    clips: &[(PathBuf, usize)],
    options: &CalibrateOptions,
    kind: OpenSetScore,
    work: &Path,
    progress: &mut impl FnMut(&str),
) -> Result<(Positives, Vec<NegativeRow>), ProductError> {
    let dir = work.join(format!("measure-{kind:?}"));
    let mut positives = Positives::new();
    progress(&format!("positives by {kind:?}: training takes"));
    for (k, placement) in [Placement::AsIs, IN_RECORDING].into_iter().enumerate() {
        let mut row = Row::new("audio", "training takes", "audio");
        rows::audio_row(
            product,
            data,
            &mut row,
            takes,
            false,
            placement,
            None,
            &dir.join(format!("a{k}")),
        )?;
        positives.entry("audio").or_default().push(row);
    }
    progress(&format!("positives by {kind:?}: validation stills"));
    for (k, (_, style)) in rows::still_styles().into_iter().enumerate() {
        let mut row = Row::new("image", "validation stills", "image");
        rows::still_row(
            product,
            data,
            &mut row,
            val,
            style,
            &dir.join(format!("s{k}")),
        )?;
        positives.entry("image").or_default().push(row);
    }
    progress(&format!("positives by {kind:?}: validation clips"));
    let mut row = Row::new("video", "validation clips", "video");
    rows::clip_row(product, &mut row, clips)?;
    positives.entry("video").or_default().push(row);
    let negatives = rows::negative_rows(
        product,
        &options.data_dir,
        Purpose::Calibration,
        options.negatives_per_kind,
        &dir.join("negatives"),
        progress,
    )?;
    Ok((positives, negatives))
}

/// One modality's cut on scores of `kind`: the lowest that holds every negative kind at the
/// target in every run (one per precision measured), and what it keeps and lets through over
/// the runs together.
fn cut_for(
    modality: &str,
    kind: OpenSetScore,
    runs: &[(Positives, Vec<NegativeRow>)],
    target: f32,
) -> Option<(f32, ModalityCalibration)> {
    let of_modality = |negatives: &'_ [NegativeRow]| {
        negatives
            .iter()
            .filter(|r| r.modality == modality)
            .cloned()
            .collect::<Vec<_>>()
    };
    let mut cut: Option<f32> = None;
    for (_, negatives) in runs {
        // Inputs without an answer (silence the runtime skips) are never tagged.
        let kinds: BTreeMap<String, Vec<f32>> = of_modality(negatives)
            .into_iter()
            .map(|r| (r.kind, r.scores))
            .collect();
        let c = choose_threshold(&kinds, target, kind)?;
        cut = Some(cut.map_or(c, |x: f32| x.max(c)));
    }
    let cut = cut?;
    let pos: Vec<(f32, bool)> = runs
        .iter()
        .flat_map(|(positives, _)| positives.get(modality).into_iter().flatten())
        .flat_map(|r| r.scores.iter().copied())
        .collect();
    let kept = pos.iter().filter(|(s, right)| *right && *s >= cut).count();
    let right = pos.iter().filter(|(_, right)| *right).count();
    let mut negatives: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for (_, rows) in runs {
        for r in of_modality(rows) {
            let tagged = r.scores.iter().filter(|&&s| s >= cut).count();
            let e = negatives.entry(r.kind.clone()).or_default();
            e.0 += r.n;
            e.1 += tagged;
        }
    }
    Some((
        cut,
        ModalityCalibration {
            positives: pos.len(),
            positives_kept: kept as f32 / right.max(1) as f32,
            negatives: negatives
                .into_iter()
                .map(|(k, (n, tagged))| (k, (n, tagged as f32 / n.max(1) as f32)))
                .collect(),
            kept_by_score: BTreeMap::new(),
        },
    ))
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
