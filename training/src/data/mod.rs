//! AV-Digits: the project's miniature of MMV's training data, built from real signals in the
//! shared data folder (see `data/README.md` there).
//!
//! - [`mnist`] reads the gzipped IDX files; [`fsdd`] indexes and decodes the spoken-digit WAVs;
//! - [`splits`] fixes which MNIST image and which FSDD take belongs to which split;
//! - [`moving_mnist`] renders a clip, [`narrations`] writes its texts, [`augment`] draws the
//!   meaning-preserving jitter;
//! - [`avdigits`] puts them together: one deterministic [`Sample`] per (split, index, seed).
//!
//! Every input goes through the runtime's front ends (frames, log-mel, tokenizer), exactly as at
//! inference.

pub mod augment;
pub mod avdigits;
pub mod empty_clip;
pub mod fsdd;
pub mod mnist;
pub mod moving_mnist;
pub mod narrations;
pub mod non_digits;
pub mod splits;

use std::path::{Path, PathBuf};

use burn::prelude::*;

use crate::config::MmvConfig;
use crate::model::Batch;

pub use avdigits::AvDigits;

/// The environment variable that names the data folder when `--data` is not given.
pub const DATA_ENV: &str = "MMV_DATA";

/// Everything that can be wrong with the data folder. Each variant names the file at fault.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("no data folder: pass --data DIR or set {DATA_ENV} (the shared data folder)")]
    NoDataDir,
    #[error("data folder {path} is missing or not a folder")]
    MissingDir { path: PathBuf },
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid IDX file: {problem}")]
    Idx { path: PathBuf, problem: String },
    #[error("{images} and {labels} do not match: {problem}")]
    MnistMismatch {
        images: PathBuf,
        labels: PathBuf,
        problem: String,
    },
    #[error("{path}: name is not DIGIT_SPEAKER_TAKE.wav")]
    BadRecordingName { path: PathBuf },
    #[error("{path}: {found}; FSDD recordings must be 16-bit PCM WAV")]
    NotPcm16 { path: PathBuf, found: String },
    #[error(transparent)]
    Audio(#[from] mmv_runtime::audio::AudioError),
    #[error(transparent)]
    Speak(#[from] non_digits::SpeakError),
    #[error("{dir}: no recording of digit {digit} in the {split} split")]
    NoTakes {
        dir: PathBuf,
        digit: u8,
        split: String,
    },
}

/// The data folder from `--data` or, failing that, `MMV_DATA`; checked to exist.
pub fn resolve_data_dir(flag: Option<&Path>) -> Result<PathBuf, DataError> {
    let dir = match flag {
        Some(p) => p.to_path_buf(),
        None => std::env::var_os(DATA_ENV)
            .map(PathBuf::from)
            .ok_or(DataError::NoDataDir)?,
    };
    if !dir.is_dir() {
        return Err(DataError::MissingDir { path: dir });
    }
    Ok(dir)
}

/// One clip's encoder inputs as flat vectors.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// [C, T, H, W]
    pub video: Vec<f32>,
    /// [frames, mels]
    pub audio: Vec<f32>,
    /// [K, W] token ids
    pub text: Vec<u32>,
}

/// Stacks samples into the model's input tensors.
pub fn batch_from_samples(samples: &[Sample], config: &MmvConfig, device: &Device) -> Batch {
    let b = samples.len();
    let v = &config.video;
    let mels = config.audio.logmel.n_mels;
    let frames = samples.first().map_or(0, |s| s.audio.len() / mels);
    let (k, w) = (config.text.narrations_per_clip, config.text.max_words);
    let video: Vec<f32> = samples
        .iter()
        .flat_map(|s| s.video.iter().copied())
        .collect();
    let audio: Vec<f32> = samples
        .iter()
        .flat_map(|s| s.audio.iter().copied())
        .collect();
    let text: Vec<i64> = samples
        .iter()
        .flat_map(|s| s.text.iter().map(|&id| id as i64))
        .collect();
    Batch {
        video: Tensor::from_data(
            TensorData::new(video, [b, v.channels, v.frames, v.size, v.size]),
            device,
        ),
        audio: Tensor::from_data(TensorData::new(audio, [b, 1, frames, mels]), device),
        text: Tensor::from_data(TensorData::new(text, [b, k, w]), device),
    }
}

/// A 64-bit mix of a seed and a stream position (splitmix64's finaliser), so that every
/// (seed, split, index) gets its own independent random stream.
pub fn mix_seed(seed: u64, stream: u64, index: u64) -> u64 {
    let mut z = seed
        .wrapping_add(stream.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(index.wrapping_mul(0xD1B5_4A32_D192_ED03));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
