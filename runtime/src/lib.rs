//! `mmv-runtime`: the MMV edge inference runtime.
//!
//! This crate owns the *front ends* — the code that turns raw media into model
//! inputs: WAV decoding, resampling and log-mel features ([`audio`]), frame
//! resizing and normalisation ([`frames`]), and caption tokenisation ([`text`]).
//! Training (`mmv-training`) calls these same functions, so a model is always
//! fed exactly the preprocessing it was trained with.

pub mod audio;
pub mod bundle;
pub mod frames;
pub mod text;
