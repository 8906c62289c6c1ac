//! mmv-training: trains MMV networks (Alayrac et al., NeurIPS 2020) on burn.
//!
//! - [`config`]: the TOML model and training configuration;
//! - [`model`]: the video (S3D-G, TSM-ResNet), audio and text encoders and the projection heads
//!   of the shared, disjoint and FAC designs;
//! - [`loss`]: NCE and MIL-NCE; [`schedule`]: warm-up + cosine learning rate;
//! - [`trainer`]: one training step; [`word_vectors`]: the frozen GloVe table;
//! - [`synthetic`]: a small built-in audio-visual task for the demo and the tests;
//! - [`backend`]: which burn device runs training.
//!
//! The front ends (log-mel, frames, tokenizer) come from `mmv-runtime`, so training and
//! inference preprocess identically.

pub mod backend;
pub mod checkpoint;
pub mod config;
pub mod data;
pub mod deflate;
pub mod demo;
pub mod design_table;
pub mod eval;
pub mod export;
pub mod loss;
pub mod metrics;
pub mod model;
pub mod plot;
pub mod run;
pub mod schedule;
pub mod synthetic;
pub mod trainer;
pub mod word_vectors;
