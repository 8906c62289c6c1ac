//! The demo job on embedded defaults: train a small MMV model on the built-in synthetic
//! audio-visual task for a few steps, then measure zero-shot video->text and audio->text
//! classification on fresh clips. No data, files or camera needed.

use std::time::Instant;

use burn::prelude::*;
use mmv_runtime::text::Vocab;

use crate::backend;
use crate::config::MmvConfig;
use crate::eval::zero_shot;
use crate::model::Mmv;
use crate::synthetic::{SyntheticAv, narration_words};
use crate::trainer::{StepStats, Trainer};
use crate::word_vectors::WordVectors;

/// What the demo measured.
#[derive(Clone, Debug, serde::Serialize)]
pub struct DemoReport {
    pub steps: Vec<StepStats>,
    pub seconds_per_step: f64,
    /// Zero-shot video -> text accuracy on fresh clips (chance 0.1).
    pub video_to_text_accuracy: f64,
    /// Zero-shot audio -> text accuracy (FAC and shared only; never trained on audio-text).
    pub audio_to_text_accuracy: Option<f64>,
    pub eval_clips: usize,
}

/// Settings of a demo run.
#[derive(Clone, Debug)]
pub struct DemoOptions {
    pub steps: usize,
    pub batch_size: usize,
    pub seed: u64,
    pub eval_clips: usize,
    pub word_vectors: Option<WordVectors>,
}

/// Builds the vocabulary and frozen table: GloVe when given, else seeded random vectors over
/// the synthetic narrations' words.
fn word_table(config: &MmvConfig, given: Option<WordVectors>, seed: u64) -> (Vocab, Vec<f32>) {
    let wv =
        given.unwrap_or_else(|| WordVectors::random(narration_words(), config.text.word_dim, seed));
    (wv.vocab, wv.table)
}

/// Runs the demo; `on_step` sees every step (for a progress bar).
pub fn run(
    mut config: MmvConfig,
    options: DemoOptions,
    mut on_step: impl FnMut(&StepStats),
) -> anyhow::Result<DemoReport> {
    if let Some(wv) = &options.word_vectors {
        config.text.word_dim = wv.dim;
    }
    config.optim.batch_size = options.batch_size;
    config.optim.total_steps = options.steps.max(2);
    config.optim.warmup_steps = (options.steps / 10).min(config.optim.total_steps - 1);
    config.validate().map_err(anyhow::Error::msg)?;

    let device = backend::training_device();
    device.seed(options.seed);
    let (vocab, table) = word_table(&config, options.word_vectors, options.seed);
    let data = SyntheticAv::new(&config, vocab)?;
    let model = Mmv::new(&config, table, &device);
    let mut trainer = Trainer::new(model, config.clone());

    let started = Instant::now();
    let mut steps = Vec::with_capacity(options.steps);
    for step in 0..options.steps {
        // Each batch holds distinct classes where it can, so in-batch negatives differ.
        let classes: Vec<usize> = (0..options.batch_size)
            .map(|i| (i + step * 3) % 10)
            .collect();
        let batch = data.batch(&classes, options.seed.wrapping_add(step as u64), &device);
        let stats = trainer.step(&batch);
        on_step(&stats);
        steps.push(stats);
    }
    let seconds_per_step = started.elapsed().as_secs_f64() / options.steps.max(1) as f64;

    let (v2t, a2t) = zero_shot(
        &trainer.model.valid(),
        &data,
        options.eval_clips,
        options.seed,
    );
    Ok(DemoReport {
        steps,
        seconds_per_step,
        video_to_text_accuracy: v2t,
        audio_to_text_accuracy: a2t,
        eval_clips: options.eval_clips,
    })
}

/// Zero-shot classification on fresh clips: each clip's video (and audio, where the design puts
/// audio in the text space) is matched to the nearest digit in the text space
/// ([`crate::eval::zero_shot`]).
pub fn zero_shot(model: &Mmv, data: &SyntheticAv, clips: usize, seed: u64) -> (f64, Option<f64>) {
    let device = model.text.words.device();
    let classes_emb = zero_shot::class_embeddings(model, |t| data.encode_text(t));
    let classes: Vec<usize> = (0..clips).map(|i| i % 10).collect();
    // A seed far from the training seeds: these clips were never seen.
    let batch = data.batch(&classes, seed.wrapping_add(1 << 40), &device);
    let accuracy = |emb: Tensor<2>| {
        zero_shot::accuracy(&zero_shot::classify(emb, classes_emb.clone()), &classes)
    };
    let v2t = accuracy(model.embed_video(batch.video).vt);
    let a2t = model.embed_audio(batch.audio).vt.map(accuracy);
    (v2t, a2t)
}
