//! The fuzz targets' bodies (see `targets.rs`), shared with the stable replay test.

pub mod targets;
