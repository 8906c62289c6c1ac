//! `mmv-runtime`: the MMV edge inference runtime, the library a board links.
//!
//! The *front ends* turn raw media into model inputs: WAV decoding, resampling and log-mel
//! features ([`audio`]), camera-format conversion, frame resizing and normalisation
//! ([`frames`]), and caption tokenisation ([`text`]). Training (`mmv-training`) calls these same
//! functions, so a model is always fed exactly the preprocessing it was trained with.
//!
//! On top of them: [`bundle`] loads exported models into tract; [`pipeline`] turns frames and
//! audio into embeddings; [`tag`] scores them against text labels; [`ingest`] reads footage
//! into clips; [`index`] stores and searches their embeddings in SQLite and fills itself from
//! footage ([`index::indexer`]); [`vector`] holds the vector maths they share. The tools
//! (the `mmv` command line, its demo and benchmark harness) are in the `mmv-cli` crate.

pub mod audio;
pub mod bundle;
pub mod frames;
pub mod index;
pub mod ingest;
pub mod limits;
pub mod open_set;
pub mod pipeline;
pub mod report;
pub mod tag;
pub mod text;
pub mod vector;
