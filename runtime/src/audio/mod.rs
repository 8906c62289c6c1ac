//! Audio front end: WAV decoding, resampling and log-mel features.
//!
//! The pipeline is [`read_wav`] → [`resample`] to the model rate →
//! [`LogMel::compute`]. Every step reports bad input as an [`AudioError`]
//! rather than panicking.

mod error;
mod logmel;
mod noise_floor;
mod noise_gate;
mod resample;
mod wav;
mod wav_writer;

pub use error::AudioError;
pub use logmel::{LOG_OFFSET, LogMel, LogMelConfig, LogMelSpec, hz_to_mel_htk, mel_to_hz_htk};
pub use noise_floor::add_white_noise;
pub use noise_gate::subtract_noise_floor;
pub use resample::{resample, resampled_len};
pub use wav::{Audio, read_wav, read_wav_bytes, read_wav_from};
pub use wav_writer::write_wav;
