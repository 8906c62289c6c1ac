//! The model and training configuration, read from a TOML file under `models/`.
//!
//! One file fixes everything a run depends on: the encoders' widths and depths, the clip
//! geometry, the audio front end, the projection design and the optimiser. The runtime's front
//! ends take their parameters from here too, so a bundle exported from a run preprocesses exactly
//! as training did.

use std::path::Path;

use mmv_runtime::audio::LogMelConfig;
use serde::{Deserialize, Serialize};

/// Errors from reading or checking a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("config {path} is not valid TOML for an MMV model: {source}")]
    Parse {
        path: String,
        source: toml::de::Error,
    },
    #[error("config {path}: {problem}")]
    Invalid { path: String, problem: String },
}

/// The video network family.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum VideoArch {
    /// S3D-G: separable 3D convolutions (1xkxk then kx1x1) with self-gating.
    S3dg,
    /// TSM-ResNet: a 2D ResNet whose residual blocks shift channels in time.
    Tsm,
}

/// How the modalities' embedding spaces are arranged (MMV section 3.1).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Design {
    /// One space S_vat for video, audio and text.
    Shared,
    /// S_va for video-audio and S_vt for video-text; audio and text are not comparable.
    Disjoint,
    /// Fine S_va for video-audio, then one linear map S_va -> S_vat where text lives.
    Fac,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VideoConfig {
    pub arch: VideoArch,
    /// Frames per clip (T).
    pub frames: usize,
    /// Frames per second at which clips are sampled.
    pub fps: f32,
    /// Square input size in pixels (H = W).
    pub size: usize,
    /// Input channels: 1 (grey) or 3 (RGB).
    pub channels: usize,
    /// Output channels of each stage; every stage after the first halves the resolution.
    pub widths: Vec<usize>,
    /// Residual (TSM) or gated (S3D-G) blocks per stage.
    #[serde(default = "one")]
    pub blocks_per_stage: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AudioConfig {
    /// The runtime's log-mel front end, shared with inference.
    pub logmel: LogMelConfig,
    /// Output channels of each ResNet stage over (time, mel).
    pub widths: Vec<usize>,
    #[serde(default = "one")]
    pub blocks_per_stage: usize,
    /// Noise-gate strength applied to every training log-mel
    /// (`mmv_runtime::audio::subtract_noise_floor`) and exported as the bundle's
    /// `audio.noise_gate`, so that the network learns on what inference feeds it. 0 (the
    /// default, and older configs): off.
    #[serde(default)]
    pub noise_gate: f32,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TextConfig {
    /// Words kept per narration after stop-word removal.
    #[serde(default = "sixteen")]
    pub max_words: usize,
    /// Word-vector width; must match the GloVe file when one is given.
    pub word_dim: usize,
    /// Width of the per-word Linear + ReLU before max-pooling (f_t).
    pub hidden: usize,
    /// Narrations (MIL-NCE positives) per clip.
    #[serde(default = "four")]
    pub narrations_per_clip: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HeadsConfig {
    pub design: Design,
    /// Width of the fine video-audio space (512 in the paper).
    pub va_dim: usize,
    /// Width of the coarse space where text lives (256 in the paper). In `shared` it is the
    /// one space; in `disjoint` it is S_vt.
    pub vat_dim: usize,
    /// BatchNorm momentum as burn counts it (the reference's decay 0.9 is momentum 0.1).
    #[serde(default = "bn_momentum")]
    pub bn_momentum: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LossConfig {
    /// lambda_va: weight of NCE(v, a); 0 turns the audio branch off (a "vt only" run).
    pub va_weight: f64,
    /// lambda_vt: weight of MIL-NCE(v, t); 0 turns the text branch off (a "va only" run).
    pub vt_weight: f64,
    #[serde(default = "temperature")]
    pub temperature: f64,
    /// lambda_at: weight of MIL-NCE(a, t) between a clip's audio (through FAC's va -> vat map)
    /// and its own narrations. Not in the paper's FAC loss (0 there and by default); the pairing
    /// is the clip's own, so no label enters. With it, FAC's va -> vat map sees audio in training
    /// (each modality normalised with its own batch statistics).
    #[serde(default)]
    pub at_weight: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OptimConfig {
    pub learning_rate: f64,
    pub warmup_steps: usize,
    pub total_steps: usize,
    pub batch_size: usize,
    #[serde(default = "adam_epsilon")]
    pub adam_epsilon: f64,
    /// Only the video network and its head into S_va learn: the audio and text networks,
    /// their heads and FAC's va -> vat map keep their initial weights (a warm restart that
    /// teaches the video side something new without moving what audio tagging answers).
    #[serde(default)]
    pub freeze_audio_text: bool,
    /// The mirror image: only the audio network and its head into S_va learn; the video and
    /// text networks, their heads and FAC's va -> vat map keep their initial weights.
    #[serde(default)]
    pub freeze_video_text: bool,
}

/// Which augmentation a run trains with (`data::augment`).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum AugmentPreset {
    /// The clean protocol's jitter (the 1.x releases).
    #[default]
    Standard,
    /// Wide scale, polarity, blur and noise on video; cut, sped-up and masked words; empty
    /// clips (the product-quality and open-set issues).
    Robust,
    /// Robust, with twice the empty clips, some showing a letter or saying a word that is no
    /// digit (the open-set issue).
    RobustOpenSet,
    /// RobustOpenSet with letters only, no spoken words.
    RobustOpenSetLetters,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrainDataConfig {
    #[serde(default)]
    pub augment: AugmentPreset,
}

/// A whole MMV model and its training recipe.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MmvConfig {
    pub name: String,
    pub video: VideoConfig,
    pub audio: AudioConfig,
    pub text: TextConfig,
    pub heads: HeadsConfig,
    pub loss: LossConfig,
    pub optim: OptimConfig,
    /// How training clips are made; absent in the 1.x configs (standard augmentation).
    #[serde(default)]
    pub data: TrainDataConfig,
}

fn one() -> usize {
    1
}
fn four() -> usize {
    4
}
fn sixteen() -> usize {
    16
}
fn bn_momentum() -> f64 {
    0.1
}
fn temperature() -> f64 {
    0.07
}
fn adam_epsilon() -> f64 {
    1e-5
}

/// The configuration built into the binaries, so that the demo runs with no files at all.
pub const EMBEDDED_DEFAULT: &str = include_str!("../../models/avdigits-fac-s3d.toml");

impl MmvConfig {
    /// Parse and validate TOML text; `origin` names the source in errors.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let config: MmvConfig = toml::from_str(text).map_err(|source| ConfigError::Parse {
            path: origin.to_string(),
            source,
        })?;
        config.validate().map_err(|problem| ConfigError::Invalid {
            path: origin.to_string(),
            problem,
        })?;
        Ok(config)
    }

    /// Read and validate a TOML file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml_str(&text, &path.display().to_string())
    }

    /// The configuration embedded in the binary (`models/avdigits-fac-s3d.toml`).
    pub fn embedded_default() -> Self {
        Self::from_toml_str(EMBEDDED_DEFAULT, "embedded avdigits-fac-s3d.toml")
            .expect("the embedded default config is valid (checked by a unit test)")
    }

    /// The audio samples in one clip, at the front end's sample rate.
    pub fn clip_samples(&self) -> usize {
        let seconds = self.video.frames as f64 / self.video.fps as f64;
        (seconds * self.audio.logmel.sample_rate as f64).round() as usize
    }

    /// Checks that every size is usable, so that a bad file fails here with a message
    /// instead of deep inside a convolution.
    pub fn validate(&self) -> Result<(), String> {
        if self.optim.freeze_audio_text && self.optim.freeze_video_text {
            return Err(
                "optim.freeze_audio_text and optim.freeze_video_text together leave nothing to train"
                    .into(),
            );
        }
        let v = &self.video;
        if v.frames == 0 || v.size == 0 || v.fps <= 0.0 {
            return Err("video.frames, video.size and video.fps must be positive".into());
        }
        if v.channels != 1 && v.channels != 3 {
            return Err(format!("video.channels must be 1 or 3, got {}", v.channels));
        }
        if v.widths.is_empty() || v.widths.contains(&0) {
            return Err("video.widths must be a non-empty list of positive widths".into());
        }
        if v.size >> (v.widths.len() - 1) < 2 {
            return Err(format!(
                "video.size {} is too small for {} stages (each halves it)",
                v.size,
                v.widths.len()
            ));
        }
        if v.arch == VideoArch::Tsm && v.widths.iter().any(|w| w % 8 != 0) {
            return Err(
                "TSM shifts 1/8 of the channels: video.widths must be multiples of 8".into(),
            );
        }
        if self.audio.widths.is_empty() || self.audio.widths.contains(&0) {
            return Err("audio.widths must be a non-empty list of positive widths".into());
        }
        self.audio
            .logmel
            .validate()
            .map_err(|e| format!("audio.logmel: {e}"))?;
        let t = &self.text;
        if t.max_words == 0 || t.word_dim == 0 || t.hidden == 0 || t.narrations_per_clip == 0 {
            return Err("text sizes must be positive".into());
        }
        if self.heads.va_dim == 0 || self.heads.vat_dim == 0 {
            return Err("heads.va_dim and heads.vat_dim must be positive".into());
        }
        let l = &self.loss;
        if l.va_weight < 0.0 || l.vt_weight < 0.0 || l.va_weight + l.vt_weight == 0.0 {
            return Err("loss weights must be >= 0 and not both 0".into());
        }
        if l.at_weight < 0.0 {
            return Err("loss.at_weight must be >= 0".into());
        }
        if l.at_weight > 0.0 && self.heads.design == Design::Disjoint {
            return Err(
                "loss.at_weight needs audio and text in one space: not the disjoint design".into(),
            );
        }
        if l.temperature <= 0.0 {
            return Err("loss.temperature must be positive".into());
        }
        let o = &self.optim;
        if o.learning_rate <= 0.0 || o.total_steps == 0 || o.batch_size < 2 {
            return Err(
                "optim needs learning_rate > 0, total_steps > 0, batch_size >= 2 (negatives)"
                    .into(),
            );
        }
        if o.warmup_steps >= o.total_steps {
            return Err("optim.warmup_steps must be below optim.total_steps".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_is_valid() {
        let c = MmvConfig::embedded_default();
        assert_eq!(c.heads.design, Design::Fac);
        assert!(c.clip_samples() > 0);
    }

    #[test]
    fn every_model_config_in_the_repo_parses() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                MmvConfig::load(&path).unwrap();
                seen += 1;
            }
        }
        assert!(seen >= 2, "expected the released configs under models/");
    }

    #[test]
    fn bad_configs_name_the_problem() {
        let mut text = EMBEDDED_DEFAULT.replace("design = \"fac\"", "design = \"triple\"");
        let err = MmvConfig::from_toml_str(&text, "x.toml").unwrap_err();
        assert!(err.to_string().contains("x.toml"), "{err}");
        text = EMBEDDED_DEFAULT.replace("batch_size = ", "batch_size = 1 #");
        let err = MmvConfig::from_toml_str(&text, "y.toml").unwrap_err();
        assert!(err.to_string().contains("batch_size"), "{err}");
    }
}
