//! The bundle manifest: the JSON file beside a bundle's ONNX files that says what each file is,
//! how its inputs must be preprocessed, and how to check that nothing was corrupted.
//!
//! Training writes it (the exporter) and the runtime reads it; this module is the one definition
//! of the format. `schema_version` changes whenever a reader of the old version would misread a
//! new file.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::audio::LogMelConfig;
use crate::frames::FrameSpec;
use crate::limits::{
    MAX_CLIP_FRAMES, MAX_FRAME_PIXELS, MAX_FRAME_SIDE, MAX_MANIFEST_BYTES, MAX_TENSOR_ELEMENTS,
    MAX_TENSOR_RANK, MAX_VOCAB_WORDS, MAX_WINDOW_SAMPLES,
};
use crate::text::Tokenizer;

/// The manifest format this build reads and writes.
pub const SCHEMA_VERSION: u32 = 1;

/// The manifest's file name inside a bundle directory.
pub const MANIFEST_FILE: &str = "manifest.json";

/// Which network a file holds.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum EncoderKind {
    /// The video network on a clip of T frames: input [1, C, T, H, W].
    Clip,
    /// The deflated video network on one frame: input [1, C, H, W].
    Image,
    /// The audio network on one window's log-mel: input [1, 1, frames, mels].
    Audio,
    /// The text network on one narration's token ids: input [1, 1, W] (i64).
    Text,
}

impl EncoderKind {
    pub const ALL: [EncoderKind; 4] = [Self::Clip, Self::Image, Self::Audio, Self::Text];

    pub fn name(self) -> &'static str {
        match self {
            Self::Clip => "clip",
            Self::Image => "image",
            Self::Audio => "audio",
            Self::Text => "text",
        }
    }
}

/// Numeric precision of a file's weights (and activations where the runtime supports it).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    Fp32,
    F16,
    Int8,
}

impl Precision {
    pub fn name(self) -> &'static str {
        match self {
            Self::Fp32 => "fp32",
            Self::F16 => "f16",
            Self::Int8 => "int8",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "fp32" | "f32" => Some(Self::Fp32),
            "f16" | "fp16" => Some(Self::F16),
            "int8" | "i8" => Some(Self::Int8),
            _ => None,
        }
    }
}

/// Element type of a graph input or output.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DType {
    F32,
    F16,
    I64,
}

/// One named input or output with its fixed shape.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct TensorSpec {
    pub name: String,
    pub shape: Vec<usize>,
    pub dtype: DType,
}

/// Output names: embeddings in the video-audio space, and in the space where text lives
/// (S_vat for the FAC and shared designs, S_vt for disjoint). Outputs are L2-normalised in the
/// graph.
pub const OUTPUT_VA: &str = "z_va";
pub const OUTPUT_VAT: &str = "z_vat";

/// One ONNX file of the bundle.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct EncoderFile {
    pub kind: EncoderKind,
    pub precision: Precision,
    /// Path relative to the bundle directory.
    pub file: String,
    /// Lower-case hex SHA-256 of the file's bytes.
    pub sha256: String,
    pub bytes: u64,
    pub inputs: Vec<TensorSpec>,
    pub outputs: Vec<TensorSpec>,
}

/// How frames are sampled and preprocessed.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct VideoSpec {
    /// Frames per clip (T).
    pub frames: usize,
    /// Frames per second at which a clip is sampled.
    pub fps: f32,
    /// Size, channels and normalisation of one frame.
    pub frame: FrameSpec,
    /// How still images are framed before the frame front end (`frames::StillFraming`,
    /// chosen by `mmv-train calibrate-tags` on validation stills). Absent: stills are used
    /// as they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub still_framing: Option<crate::frames::StillFraming>,
}

/// How audio windows are cut and turned into log-mel.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct AudioSpec {
    pub logmel: LogMelConfig,
    /// Samples in one window at `logmel.sample_rate` (the clip's duration).
    pub window_samples: usize,
    /// Log-mel frames in one window (the audio network's fixed input length).
    pub window_frames: usize,
    /// Standard deviation of the white noise added to every window before its log-mel
    /// (`audio::add_white_noise`, fixed seed): the training clips' noise floor, so that a
    /// word padded with digital silence looks like what the network learnt. 0 (the default,
    /// and older bundles): none.
    #[serde(default)]
    pub noise_floor: f32,
    /// Strength of the spectral subtraction of each window's own steady noise, after its
    /// log-mel and before the network (`audio::subtract_noise_floor`): 0 (the default, and
    /// older bundles) off; 1 subtracts the estimated noise, 2 twice it.
    #[serde(default)]
    pub noise_gate: f32,
}

/// How text is tokenised.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TextSpec {
    pub tokenizer: Tokenizer,
    /// Vocabulary file (one word a line, `<pad>` and `<unk>` first), relative to the bundle.
    pub vocab_file: String,
    pub vocab_sha256: String,
    pub vocab_size: usize,
}

/// Where the model came from.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Provenance {
    /// The training configuration (TOML text).
    pub training_config: String,
    /// What it was trained on.
    pub data: String,
    /// Headline evaluation figures (name -> value), when the run was evaluated.
    #[serde(default)]
    pub eval_summary: BTreeMap<String, f64>,
    /// The training step of the exported checkpoint.
    pub step: usize,
    /// The tool that wrote the bundle.
    pub exporter: String,
}

/// The whole manifest.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub schema_version: u32,
    pub name: String,
    pub version: String,
    /// "shared", "disjoint" or "fac".
    pub design: String,
    /// Softmax temperature for zero-shot tagging (the training temperature).
    pub temperature: f32,
    pub video: VideoSpec,
    pub audio: AudioSpec,
    pub text: TextSpec,
    pub encoders: Vec<EncoderFile>,
    pub provenance: Provenance,
    /// Open-set calibration (`mmv-train calibrate-tags`): when present, tagging answers "none"
    /// below its per-modality cuts. Absent in bundles made before it, which never abstain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_set: Option<crate::open_set::OpenSet>,
}

/// Errors reading or checking a manifest.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read manifest {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("manifest {path} is not valid JSON for a bundle: {source}")]
    Parse {
        path: String,
        source: serde_json::Error,
    },
    #[error(
        "manifest {path} has schema version {found}; this build reads version {SCHEMA_VERSION}"
    )]
    SchemaVersion { path: String, found: u32 },
    #[error("manifest {path}: {problem}")]
    Invalid { path: String, problem: String },
}

impl Manifest {
    /// Reads `dir/manifest.json` and checks its structure (not the files' hashes).
    pub fn load(dir: &Path) -> Result<Self, ManifestError> {
        let path = dir.join(MANIFEST_FILE);
        let name = path.display().to_string();
        let io = |source| ManifestError::Io {
            path: name.clone(),
            source,
        };
        let bytes = std::fs::metadata(&path).map_err(io)?.len();
        if bytes > MAX_MANIFEST_BYTES {
            return Err(ManifestError::Invalid {
                path: name,
                problem: format!("{bytes} bytes; a manifest is at most {MAX_MANIFEST_BYTES}"),
            });
        }
        let text = std::fs::read_to_string(&path).map_err(io)?;
        Self::from_json(&text, &name)
    }

    /// Parses manifest JSON; `origin` names the source in errors.
    pub fn from_json(text: &str, origin: &str) -> Result<Self, ManifestError> {
        // Read the version first, so that a newer format says so instead of failing on a field.
        #[derive(Deserialize)]
        struct Version {
            schema_version: u32,
        }
        let version: Version =
            serde_json::from_str(text).map_err(|source| ManifestError::Parse {
                path: origin.into(),
                source,
            })?;
        if version.schema_version != SCHEMA_VERSION {
            return Err(ManifestError::SchemaVersion {
                path: origin.into(),
                found: version.schema_version,
            });
        }
        let manifest: Manifest =
            serde_json::from_str(text).map_err(|source| ManifestError::Parse {
                path: origin.into(),
                source,
            })?;
        manifest
            .validate()
            .map_err(|problem| ManifestError::Invalid {
                path: origin.into(),
                problem,
            })?;
        Ok(manifest)
    }

    /// Writes `dir/manifest.json` (pretty-printed, stable field order).
    pub fn save(&self, dir: &Path) -> Result<(), ManifestError> {
        let path = dir.join(MANIFEST_FILE);
        let text = serde_json::to_string_pretty(self).expect("a manifest always serialises");
        std::fs::write(&path, text + "\n").map_err(|source| ManifestError::Io {
            path: path.display().to_string(),
            source,
        })
    }

    /// Structural checks: sizes are positive, files are unique and stay inside the bundle.
    pub fn validate(&self) -> Result<(), String> {
        if self.video.frames == 0 || self.video.fps.is_nan() || self.video.fps <= 0.0 {
            return Err("video.frames and video.fps must be positive".into());
        }
        if self.video.frames > MAX_CLIP_FRAMES || !self.video.fps.is_finite() {
            return Err(format!(
                "video.frames {} is more than {MAX_CLIP_FRAMES}, or video.fps {} is not finite",
                self.video.frames, self.video.fps
            ));
        }
        let (w, h) = (self.video.frame.width, self.video.frame.height);
        if w.max(h) > MAX_FRAME_SIDE || w.saturating_mul(h) > MAX_FRAME_PIXELS {
            return Err(format!(
                "video.frame {w}x{h} is larger than {MAX_FRAME_SIDE} a side or \
                 {MAX_FRAME_PIXELS} pixels"
            ));
        }
        if self.audio.window_samples > MAX_WINDOW_SAMPLES
            || self.audio.window_frames > MAX_WINDOW_SAMPLES
        {
            return Err(format!(
                "audio window of {} samples / {} frames is longer than {MAX_WINDOW_SAMPLES}",
                self.audio.window_samples, self.audio.window_frames
            ));
        }
        if self.text.tokenizer.max_words > MAX_TENSOR_ELEMENTS {
            return Err(format!(
                "text.tokenizer.max_words {} is more than {MAX_TENSOR_ELEMENTS}",
                self.text.tokenizer.max_words
            ));
        }
        if self.text.vocab_size > MAX_VOCAB_WORDS {
            return Err(format!(
                "text.vocab_size {} is more than {MAX_VOCAB_WORDS}",
                self.text.vocab_size
            ));
        }
        self.video
            .frame
            .validate()
            .map_err(|e| format!("video.frame: {e}"))?;
        self.audio
            .logmel
            .validate()
            .map_err(|e| format!("audio.logmel: {e}"))?;
        if self.audio.window_samples == 0 || self.audio.window_frames == 0 {
            return Err("audio window sizes must be positive".into());
        }
        if let Some(framing) = &self.video.still_framing {
            framing.validate()?;
        }
        if let Some(open_set) = &self.open_set {
            open_set.validate()?;
        }
        if self.temperature.is_nan() || self.temperature <= 0.0 {
            return Err("temperature must be positive".into());
        }
        let mut seen = std::collections::BTreeSet::new();
        for e in &self.encoders {
            check_relative(&e.file)?;
            if !seen.insert((e.kind, e.precision)) {
                return Err(format!(
                    "two {} files at precision {}",
                    e.kind.name(),
                    e.precision.name()
                ));
            }
            if e.inputs.is_empty() || e.outputs.is_empty() {
                return Err(format!("{}: inputs and outputs must be listed", e.file));
            }
            if e.inputs
                .iter()
                .chain(&e.outputs)
                .any(|t| t.shape.contains(&0))
            {
                return Err(format!("{}: a zero-sized dimension", e.file));
            }
            for t in e.inputs.iter().chain(&e.outputs) {
                let elements = t
                    .shape
                    .iter()
                    .try_fold(1usize, |n, &d| n.checked_mul(d))
                    .filter(|&n| n <= MAX_TENSOR_ELEMENTS);
                if t.shape.len() > MAX_TENSOR_RANK || elements.is_none() {
                    return Err(format!(
                        "{}: tensor {:?} of shape {:?} is larger than {MAX_TENSOR_ELEMENTS} \
                         elements or {MAX_TENSOR_RANK} dimensions",
                        e.file, t.name, t.shape
                    ));
                }
            }
        }
        check_relative(&self.text.vocab_file)?;
        Ok(())
    }

    /// The file for `kind` at `precision`, if the bundle has one.
    pub fn encoder(&self, kind: EncoderKind, precision: Precision) -> Option<&EncoderFile> {
        self.encoders
            .iter()
            .find(|e| e.kind == kind && e.precision == precision)
    }

    /// The precisions the bundle holds for every encoder it has.
    pub fn precisions(&self) -> Vec<Precision> {
        let mut all: Vec<Precision> = self.encoders.iter().map(|e| e.precision).collect();
        all.sort();
        all.dedup();
        all
    }
}

/// Bundle paths are relative and never climb out of the bundle directory.
fn check_relative(file: &str) -> Result<(), String> {
    let p = Path::new(file);
    let escapes = p.is_absolute()
        || p.components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)));
    if file.is_empty() || escapes {
        return Err(format!(
            "file path {file:?} must be a plain relative path inside the bundle"
        ));
    }
    Ok(())
}
