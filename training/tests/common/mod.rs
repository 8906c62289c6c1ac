//! Shared helpers for the training crate's integration tests.
#![allow(dead_code)]

use mmv_runtime::text::Vocab;
use mmv_training::config::{Design, MmvConfig, VideoArch};
use mmv_training::synthetic::{SyntheticAv, narration_words};
use mmv_training::word_vectors::WordVectors;

/// A tiny model of the given design and video family, small enough for debug-profile tests.
pub fn tiny_config(design: Design, arch: VideoArch) -> MmvConfig {
    let mut c = MmvConfig::embedded_default();
    c.video.arch = arch;
    c.video.frames = 4;
    c.video.size = 16;
    c.video.widths = vec![8, 16];
    c.audio.widths = vec![8, 16];
    c.audio.logmel.n_mels = 16;
    c.text.word_dim = 16;
    c.text.hidden = 32;
    c.text.narrations_per_clip = 2;
    c.heads.design = design;
    c.heads.va_dim = 32;
    c.heads.vat_dim = 16;
    c.optim.batch_size = 8;
    c.optim.warmup_steps = 0;
    c.optim.total_steps = 1000;
    c.validate().unwrap();
    c
}

pub fn tiny_words(config: &MmvConfig) -> WordVectors {
    WordVectors::random(narration_words(), config.text.word_dim, 7)
}

pub fn tiny_data(config: &MmvConfig, vocab: Vocab) -> SyntheticAv {
    SyntheticAv::new(config, vocab).unwrap()
}
