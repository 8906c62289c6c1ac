//! WAV files: decoded by the audio front end ([`crate::audio::read_wav`], 16-bit PCM or 32-bit
//! float, any channel count and sample rate, mixed to mono); the pipeline resamples them to the
//! model's rate.

use std::path::Path;

use crate::audio::{Audio, read_wav};

use super::IngestError;

/// Reads a WAV file to mono samples at its own rate.
pub fn read(path: &Path) -> Result<Audio, IngestError> {
    read_wav(path).map_err(|source| IngestError::Audio {
        path: path.to_path_buf(),
        source,
    })
}
