//! The evaluations re-run on an exported bundle through the runtime (tract), one precision at a
//! time (`mmv-train eval-bundle`): what each precision costs in accuracy against fp32, on the
//! same test data, with the same protocol.
//!
//! The bundle's graphs end at the normalised space embeddings, so the probes here read `z_va`
//! (video, image, audio) instead of the backbone features `mmv-train eval` probes; the zero-shot
//! figures are the same measurement as there. Compare precisions with each other, not with the
//! run's own eval table.

use std::path::{Path, PathBuf};
use std::time::Instant;

use mmv_runtime::bundle::manifest::Precision;
use mmv_runtime::bundle::{Bundle, BundleError, BundleOptions};
use mmv_runtime::text::Vocab;
use mmv_runtime::vector::{dot, normalize};
use serde::Serialize;

use super::linear_probe::{Features, ProbeResult, linear_probe};
use super::retrieval::{self, Retrieval};
use super::{EvalError, split_by};
use crate::config::MmvConfig;
use crate::data::augment::Augment;
use crate::data::narrations::{DIGIT_WORDS, NARRATIONS, narration, narration_words};
use crate::data::splits::{
    ClipSplit, FsddProtocol, MNIST_PROBE_VAL, MNIST_TEST, MNIST_TRAIN, Side,
};
use crate::data::{AvDigits, DataError};

/// What `eval-bundle` needs.
#[derive(Clone, Debug)]
pub struct BundleEvalOptions {
    pub bundle: PathBuf,
    pub data_dir: PathBuf,
    pub precision: Precision,
    /// Test clips for zero-shot classification and retrieval (the first N of the test split).
    pub test_clips: usize,
    /// MNIST train images for the deflated image probe (plus the 800 validation images).
    pub probe_images: usize,
    pub threads: usize,
    pub seed: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum BundleEvalError {
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Eval(#[from] EvalError),
    #[error("{path}: the manifest's training config does not parse: {message}")]
    Config { path: PathBuf, message: String },
    #[error("{path}: the bundle has no {what} output")]
    MissingOutput { path: PathBuf, what: &'static str },
}

impl BundleEvalError {
    pub(super) fn missing(bundle: &Path, what: &'static str) -> Self {
        Self::MissingOutput {
            path: bundle.to_path_buf(),
            what,
        }
    }
}

/// One precision's figures.
#[derive(Clone, Debug, Serialize)]
pub struct BundleEval {
    pub precision: String,
    pub zero_shot_video_accuracy: f64,
    pub zero_shot_video_clips: usize,
    pub text_to_video: Retrieval,
    /// FSDD official test takes, audio -> text through the design's heads (FAC: va -> vat).
    pub zero_shot_audio_to_text: Option<f64>,
    /// FSDD official test takes whose z_va is nearest the video prototype of their digit (the
    /// normalised mean z_va of that digit's test clips), in S_va: audio-video alignment alone.
    pub audio_to_video_prototypes: f64,
    /// Linear probe on the audio z_va, FSDD official split.
    pub audio_probe_official: ProbeResult,
    /// Linear probe on the deflated image network's z_va, MNIST.
    pub image_probe_deflated: ProbeResult,
    /// Mean milliseconds per call of each encoder during the evaluation (batch 1).
    pub ms_per_clip: f64,
    pub ms_per_image: f64,
    pub ms_per_audio: f64,
    pub seconds: f64,
}

pub(super) fn nearest(z: &[f32], classes: &[Vec<f32>]) -> usize {
    let mut best = (0, f32::NEG_INFINITY);
    for (c, e) in classes.iter().enumerate() {
        let s = dot(z, e);
        if s > best.1 {
            best = (c, s);
        }
    }
    best.0
}

/// A bundle opened at one precision, with the data and the class prompts.
pub(super) struct Opened {
    pub bundle: Bundle,
    pub data: AvDigits,
    /// One normalised z_vat per digit: the mean of its narrations' embeddings.
    pub classes: Vec<Vec<f32>>,
    /// Every narration's z_vat with its digit (the retrieval queries).
    pub queries: Vec<(Vec<f32>, usize)>,
}

pub(super) fn open(
    path: &Path,
    data_dir: &Path,
    precision: Precision,
    threads: usize,
    progress: &mut impl FnMut(&str),
) -> Result<Opened, BundleEvalError> {
    progress("loading the bundle");
    let bundle = Bundle::open(
        path,
        &BundleOptions {
            precision: Some(precision),
            threads: threads.max(1),
            ..Default::default()
        },
    )?;
    let config: MmvConfig =
        toml::from_str(&bundle.manifest.provenance.training_config).map_err(|e| {
            BundleEvalError::Config {
                path: path.join("manifest.json"),
                message: e.to_string(),
            }
        })?;
    progress("loading the data");
    let data = AvDigits::load(data_dir, &config, Vocab::from_words(narration_words()))?;
    // Class prompts: the mean of every narration template's text embedding, as `eval` does.
    progress("text: class prompts");
    let mut classes = Vec::new();
    let mut queries: Vec<(Vec<f32>, usize)> = Vec::new();
    for digit in 0..DIGIT_WORDS.len() {
        let mut mean: Vec<f32> = Vec::new();
        for template in NARRATIONS {
            let mut z = bundle
                .embed_text(&narration(template, digit))?
                .vat
                .ok_or_else(|| BundleEvalError::missing(path, "text z_vat"))?;
            normalize(&mut z);
            if mean.is_empty() {
                mean = vec![0.0; z.len()];
            }
            mean.iter_mut().zip(&z).for_each(|(m, x)| *m += x);
            queries.push((z, digit));
        }
        normalize(&mut mean);
        classes.push(mean);
    }
    Ok(Opened {
        bundle,
        data,
        classes,
        queries,
    })
}

/// Evaluates one precision of a bundle; `progress` hears what is being done.
pub fn evaluate_bundle(
    options: &BundleEvalOptions,
    mut progress: impl FnMut(&str),
) -> Result<BundleEval, BundleEvalError> {
    let started = Instant::now();
    let Opened {
        bundle,
        data,
        classes,
        queries,
    } = open(
        &options.bundle,
        &options.data_dir,
        options.precision,
        options.threads,
        &mut progress,
    )?;
    let missing = |what| BundleEvalError::missing(&options.bundle, what);
    let label = |i: usize| data.mnist.labels[i] as usize;

    progress("video: zero-shot classification and retrieval");
    let t0 = Instant::now();
    let test: Vec<usize> = MNIST_TEST.take(options.test_clips.max(1)).collect();
    let mut gallery: Vec<Vec<f32>> = Vec::new();
    // Per digit, the sum of the test clips' z_va: the video prototypes that audio is compared
    // with in S_va (where NCE(v, a) trained it), to tell apart "audio is not aligned with
    // video" from "the va -> vat map does not carry audio to text".
    let mut video_prototypes: Vec<Vec<f32>> = vec![Vec::new(); DIGIT_WORDS.len()];
    let mut hits = 0;
    for &image in &test {
        let plan = data.plan_image(ClipSplit::Test, image, options.seed);
        let clip = data.render(&plan, &Augment::NONE).video;
        let e = bundle.embed_clip(&clip)?;
        let z = e.vat.ok_or_else(|| missing("clip z_vat"))?;
        let va = e.va.ok_or_else(|| missing("clip z_va"))?;
        let proto = &mut video_prototypes[label(image)];
        if proto.is_empty() {
            *proto = vec![0.0; va.len()];
        }
        proto.iter_mut().zip(&va).for_each(|(p, x)| *p += x);
        hits += usize::from(nearest(&z, &classes) == label(image));
        gallery.push(z);
    }
    video_prototypes.iter_mut().for_each(|p| normalize(p));
    let ms_per_clip = t0.elapsed().as_secs_f64() * 1e3 / test.len() as f64;
    let scores: Vec<f32> = queries
        .iter()
        .flat_map(|(q, _)| gallery.iter().map(|g| dot(q, g)))
        .collect();
    let query_labels: Vec<usize> = queries.iter().map(|q| q.1).collect();
    let gallery_labels: Vec<usize> = test.iter().map(|&i| label(i)).collect();
    let text_to_video = retrieval::retrieval(&scores, &query_labels, &gallery_labels);

    progress("image: deflated network probe");
    let t0 = Instant::now();
    let probe_train: Vec<usize> = (MNIST_TRAIN.start
        ..(MNIST_TRAIN.start + options.probe_images).min(MNIST_PROBE_VAL.start))
        .chain(MNIST_PROBE_VAL)
        .collect();
    let embed_images = |images: &[usize]| -> Result<Features, BundleEvalError> {
        let mut out: Option<Features> = None;
        for &i in images {
            let z = bundle
                .embed_image(&data.still_image(i))?
                .va
                .ok_or_else(|| missing("image z_va"))?;
            out.get_or_insert_with(|| Features::new(z.len()))
                .push(&z, label(i));
        }
        Ok(out.unwrap_or_else(|| Features::new(0)))
    };
    let train = embed_images(&probe_train)?;
    let test_images = embed_images(&test)?;
    let n_images = probe_train.len() + test.len();
    let ms_per_image = t0.elapsed().as_secs_f64() * 1e3 / n_images as f64;
    let (fit, val) = split_by(&train, &probe_train, |i| MNIST_PROBE_VAL.contains(&i));
    let image_probe_deflated = linear_probe(&fit, &val, &test_images).map_err(EvalError::from)?;

    progress("audio: FSDD probe and zero-shot audio to text");
    let t0 = Instant::now();
    let recs = &data.recordings;
    let mut audio = Features::new(0);
    let mut audio_hits = (0, 0);
    let mut audio_video_hits = (0, 0);
    let mut has_vat = true;
    for (i, rec) in recs.iter().enumerate() {
        let e = bundle.embed_logmel(&data.recording_audio(i))?;
        let va = e.va.ok_or_else(|| missing("audio z_va"))?;
        if audio.dim == 0 {
            audio = Features::new(va.len());
        }
        if FsddProtocol::Official.side(rec) == Side::Test {
            let ok = nearest(&va, &video_prototypes) == rec.digit as usize;
            audio_video_hits.0 += usize::from(ok);
            audio_video_hits.1 += 1;
        }
        audio.push(&va, rec.digit as usize);
        match e.vat {
            Some(vat) if FsddProtocol::Official.side(rec) == Side::Test => {
                audio_hits.0 += usize::from(nearest(&vat, &classes) == rec.digit as usize);
                audio_hits.1 += 1;
            }
            Some(_) => {}
            None => has_vat = false,
        }
    }
    let ms_per_audio = t0.elapsed().as_secs_f64() * 1e3 / recs.len().max(1) as f64;
    let official = |i: usize| FsddProtocol::Official.side(&recs[i]);
    let off_val = |i: usize| official(i) == Side::Train && recs[i].take < 10;
    let audio_probe_official = linear_probe(
        &audio.select(|i| official(i) == Side::Train && !off_val(i)),
        &audio.select(off_val),
        &audio.select(|i| official(i) == Side::Test),
    )
    .map_err(EvalError::from)?;

    Ok(BundleEval {
        precision: options.precision.name().to_string(),
        zero_shot_video_accuracy: hits as f64 / test.len() as f64,
        zero_shot_video_clips: test.len(),
        text_to_video,
        zero_shot_audio_to_text: has_vat.then(|| audio_hits.0 as f64 / audio_hits.1.max(1) as f64),
        audio_to_video_prototypes: audio_video_hits.0 as f64 / audio_video_hits.1.max(1) as f64,
        audio_probe_official,
        image_probe_deflated,
        ms_per_clip,
        ms_per_image,
        ms_per_audio,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The precisions side by side, with each one's difference from the first (fp32) in points.
pub fn markdown(bundle: &str, rows: &[BundleEval]) -> String {
    let pct = |x: f64| format!("{:.1} %", 100.0 * x);
    let delta = |x: f64, base: f64| {
        if (x - base).abs() < 5e-5 {
            String::new()
        } else {
            format!(" ({:+.1})", 100.0 * (x - base))
        }
    };
    let mut s = format!(
        "| `{bundle}` | {} |\n| --- |{}\n",
        rows.iter()
            .map(|r| r.precision.as_str())
            .collect::<Vec<_>>()
            .join(" | "),
        " --- |".repeat(rows.len())
    );
    let Some(base) = rows.first().cloned() else {
        return s;
    };
    let mut line = |name: String, get: &dyn Fn(&BundleEval) -> f64, percent: bool| {
        let cells: Vec<String> = rows
            .iter()
            .map(|r| {
                if percent {
                    format!("{}{}", pct(get(r)), delta(get(r), get(&base)))
                } else {
                    format!("{:.1}", get(r))
                }
            })
            .collect();
        s.push_str(&format!("| {name} | {} |\n", cells.join(" | ")));
    };
    line(
        format!(
            "zero-shot video ({} test clips)",
            base.zero_shot_video_clips
        ),
        &|r| r.zero_shot_video_accuracy,
        true,
    );
    line(
        "text-to-video R@1".into(),
        &|r| r.text_to_video.r_at_1,
        true,
    );
    line(
        "text-to-video R@5".into(),
        &|r| r.text_to_video.r_at_5,
        true,
    );
    if base.zero_shot_audio_to_text.is_some() {
        line(
            "zero-shot audio-to-text, FSDD official test".into(),
            &|r| r.zero_shot_audio_to_text.unwrap_or(f64::NAN),
            true,
        );
    }
    line(
        "audio -> video prototypes in S_va, FSDD official test".into(),
        &|r| r.audio_to_video_prototypes,
        true,
    );
    line(
        format!(
            "audio probe on z_va, FSDD official ({} test)",
            base.audio_probe_official.test
        ),
        &|r| r.audio_probe_official.accuracy,
        true,
    );
    line(
        format!(
            "deflated image probe on z_va ({} / {})",
            base.image_probe_deflated.train, base.image_probe_deflated.test
        ),
        &|r| r.image_probe_deflated.accuracy,
        true,
    );
    line(
        "ms per clip (tract, batch 1)".into(),
        &|r| r.ms_per_clip,
        false,
    );
    line("ms per image".into(), &|r| r.ms_per_image, false);
    line("ms per audio window".into(), &|r| r.ms_per_audio, false);
    s
}
