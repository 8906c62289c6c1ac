//! The error type shared by the audio front end.

use std::path::PathBuf;

/// Everything that can go wrong while decoding, resampling or featurising audio.
///
/// Variants about a file carry its path (`<memory>` for in-memory input) so the
/// message alone tells the user which file is at fault.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    /// The file could not be opened or read (missing file, permissions, I/O).
    #[error("cannot read WAV file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The data is not a (well-formed) RIFF/WAVE file.
    #[error("cannot write WAV file {path}: {reason}")]
    Write { path: PathBuf, reason: String },
    #[error("{path} is not a valid WAV file: {reason}")]
    NotWav { path: PathBuf, reason: String },
    /// A WAV file whose sample encoding we do not decode.
    #[error(
        "{path}: unsupported WAV sample format ({bits}-bit {kind}); need 16-bit PCM or 32-bit float"
    )]
    UnsupportedFormat {
        path: PathBuf,
        bits: u16,
        kind: &'static str,
    },
    /// A well-formed WAV file with no audio in it.
    #[error("{path} contains no audio samples")]
    Empty { path: PathBuf },
    /// The header was fine but the sample data is truncated or unusable.
    #[error("{path}: corrupt sample data: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    /// A sample rate of zero was passed to the resampler.
    #[error("cannot resample from {from_hz} Hz to {to_hz} Hz: sample rates must be positive")]
    InvalidRate { from_hz: u32, to_hz: u32 },
    /// The resampler rejected the job (should not happen for valid rates).
    #[error("resampling from {from_hz} Hz to {to_hz} Hz failed: {reason}")]
    Resample {
        from_hz: u32,
        to_hz: u32,
        reason: String,
    },
    /// A [`LogMelConfig`](crate::audio::LogMelConfig) that makes no sense.
    #[error("invalid log-mel config: {0}")]
    InvalidLogMelConfig(String),
}
