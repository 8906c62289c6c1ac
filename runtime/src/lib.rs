//! `mmv-runtime`: the MMV edge inference runtime.
//!
//! The *front ends* turn raw media into model inputs: WAV decoding, resampling and log-mel
//! features ([`audio`]), camera-format conversion, frame resizing and normalisation
//! ([`frames`]), and caption tokenisation ([`text`]). Training (`mmv-training`) calls these same
//! functions, so a model is always fed exactly the preprocessing it was trained with.
//!
//! On top of them: [`bundle`] loads exported models into tract; [`pipeline`] turns frames and
//! audio into embeddings; [`tag`] scores them against text labels; [`ingest`] reads footage
//! into clips; [`index`] stores and searches their embeddings in SQLite, and [`indexer`] fills
//! it. [`demo`] runs all of it on footage it renders itself, and [`bench`] measures it.

pub mod audio;
pub mod bench;
pub mod bundle;
pub mod demo;
pub mod frames;
pub mod index;
pub mod indexer;
pub mod ingest;
pub mod pipeline;
pub mod tag;
pub mod text;
