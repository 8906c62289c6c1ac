//! `mmv-train export`: a training run folder -> a bundle. Loads the run's weights, deflates the
//! video network (calibrating S3D-G's BatchNorm on train-split images), gathers int8
//! calibration samples from the train split, and writes every requested precision.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use burn::prelude::*;
use mmv_runtime::bundle::manifest::{Manifest, Precision};

use super::{CalibrationSet, ExportModel, ExportOptions, bn_stats, export_bundle};
use crate::data::augment::Augment;
use crate::data::splits::ClipSplit;
use crate::deflate::deflate_calibrated;
use crate::eval::{EvalOptions, load_run};
use crate::run;

/// How to export a run.
#[derive(Clone, Debug)]
pub struct RunExportOptions {
    pub run: PathBuf,
    pub out: PathBuf,
    pub precisions: Vec<Precision>,
    /// Most frequent words kept in the bundle's vocabulary (and word table).
    pub vocab_limit: usize,
    /// Train-split samples used for int8 calibration and BN re-learning.
    pub calibration_samples: usize,
    /// Epochs of BatchNorm re-learning for the deflated S3D-G (0: naive deflation).
    pub deflation_epochs: usize,
    pub version: String,
}

/// What the export did, besides writing the bundle.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RunExportReport {
    pub weights: String,
    /// Mean L1 between deflated and video features in the last calibration epoch.
    pub deflation_l1: Option<f64>,
    pub files: Vec<(String, u64)>,
}

/// Exports `options.run` into `options.out`.
pub fn export_run(
    options: &RunExportOptions,
    mut on_event: impl FnMut(&str),
) -> anyhow::Result<(Manifest, RunExportReport)> {
    let meta = run::read_meta(&options.run)?;
    let loaded = load_run(&EvalOptions {
        run: options.run.clone(),
        ..Default::default()
    })?;
    let words = run::load_word_vectors(&meta.glove, &loaded.config)?;
    let config = &loaded.config;
    let model = loaded.model.valid();
    let data = &loaded.data;

    // Calibration inputs from the train split (never test data).
    let n = options.calibration_samples.max(1);
    let samples: Vec<_> = (0..n as u64)
        .map(|i| data.sample(ClipSplit::Train, i, meta.seed ^ 0xCA11, &Augment::NONE))
        .collect();
    let train_images: Vec<usize> = data.split_images(ClipSplit::Train).take(n).collect();
    let (c, s) = (config.video.channels, config.video.size);
    let images: Vec<Vec<f32>> = train_images.iter().map(|&i| data.still_image(i)).collect();
    let (image_net, deflation_l1) = deflate_calibrated(
        &model,
        config.video.frames,
        &images,
        [c, s, s],
        options.deflation_epochs,
    );

    let calibration = CalibrationSet {
        clips: samples.iter().map(|x| x.video.clone()).collect(),
        images,
        logmels: samples.iter().map(|x| x.audio.clone()).collect(),
        texts: samples
            .iter()
            .map(|x| {
                x.text[..config.text.max_words]
                    .iter()
                    .map(|&i| i as i64)
                    .collect()
            })
            .collect(),
    };
    // FAC: each modality's own statistics in the shared va -> vat BatchNorm.
    let logmel_shape = [
        samples[0].audio.len() / config.audio.logmel.n_mels,
        config.audio.logmel.n_mels,
    ];
    let clip_shape = [c, config.video.frames, s, s];
    let clips: Vec<Vec<f32>> = samples.iter().map(|x| x.video.clone()).collect();
    let (video_model, audio_model, bn_note) = match bn_stats::fac_map_statistics(
        &model,
        &clips,
        clip_shape,
        &calibration.logmels,
        logmel_shape,
    ) {
        Some((v, a)) => (
            bn_stats::with_map_statistics(&model, &v),
            Some(bn_stats::with_map_statistics(&model, &a)),
            format!(
                "; FAC va -> vat BatchNorm statistics re-estimated per modality on {n} train clips \
                 and {n} train audio windows"
            ),
        ),
        None => (model.clone(), None, String::new()),
    };
    let eval_summary = read_eval_summary(&options.run);
    let step = run::read_metrics(&options.run)
        .ok()
        .and_then(|m| m.last().map(|l| l.step + 1))
        .unwrap_or(0);
    let export_options = ExportOptions {
        precisions: options.precisions.clone(),
        vocab_limit: options.vocab_limit,
        version: options.version.clone(),
        training_config: toml::to_string(config)?,
        data: format!(
            "AV-Digits from {} (MNIST train images 0-7999, FSDD train takes), seed {}{bn_note}",
            meta.data_dir.display(),
            meta.seed
        ),
        eval_summary,
        step,
    };
    let export = ExportModel {
        model: &video_model,
        audio_model: audio_model.as_ref(),
        image: &image_net,
        config,
        vocab: &words.vocab,
    };
    let mut files = Vec::new();
    let manifest = export_bundle(&export, &calibration, &export_options, &options.out, |f| {
        on_event(f)
    })?;
    for e in &manifest.encoders {
        files.push((e.file.clone(), e.bytes));
    }
    // The weights travel with the bundle, so that a later run can warm-start from a release.
    let kept = options.out.join(crate::checkpoint::BUNDLE_WEIGHTS_FILE);
    let bytes = std::fs::copy(&loaded.weights, &kept)
        .with_context(|| format!("copying {} to {}", loaded.weights.display(), kept.display()))?;
    on_event(crate::checkpoint::BUNDLE_WEIGHTS_FILE);
    files.push((crate::checkpoint::BUNDLE_WEIGHTS_FILE.to_string(), bytes));
    Ok((
        manifest,
        RunExportReport {
            weights: loaded.weights.display().to_string(),
            deflation_l1,
            files,
        },
    ))
}

/// Headline numbers from the run's `eval.json`, when it was evaluated.
fn read_eval_summary(run: &Path) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    let Ok(text) = std::fs::read_to_string(run.join("eval.json")) else {
        return out;
    };
    let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) else {
        return out;
    };
    let mut walk = vec![(String::new(), &value)];
    while let Some((prefix, v)) = walk.pop() {
        match v {
            serde_json::Value::Number(n) => {
                if let Some(x) = n.as_f64() {
                    out.insert(prefix, x);
                }
            }
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk.push((key, v));
                }
            }
            _ => {}
        }
    }
    out
}
