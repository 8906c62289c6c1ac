//! Model bundles: a directory of ONNX files (one per encoder and precision) plus
//! `manifest.json`. Opening a bundle checks the manifest's schema and every file's SHA-256,
//! chooses a precision, and builds one optimised tract plan per encoder, once.

pub mod manifest;
mod panic_guard;
pub mod precision;
mod qconv;
mod qdq;
pub mod session;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::audio::{LogMel, add_white_noise, subtract_noise_floor};
use crate::text::{Tokenizer, Vocab};
use manifest::{EncoderKind, Manifest, ManifestError, Precision};

/// Seed of the noise floor's stream (any fixed value: the same window gets the same noise).
const NOISE_FLOOR_SEED: u64 = 0x6E6F_6973_6566;
pub use session::{Embedding, EncoderSession};

/// Errors opening or running a bundle. Each names the file and the problem.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("bundle file {file}: {problem}")]
    File { file: String, problem: String },
    #[error(
        "bundle file {file}: SHA-256 is {actual}, the manifest says {expected}: the file is corrupt or was replaced"
    )]
    Checksum {
        file: String,
        expected: String,
        actual: String,
    },
    #[error("model {file}: {problem}")]
    Model { file: String, problem: String },
    #[error("bundle {dir} has no {kind} encoder at precision {precision}")]
    Missing {
        dir: String,
        kind: &'static str,
        precision: &'static str,
    },
    #[error("bad input: {0}")]
    Input(String),
}

/// How to open a bundle.
#[derive(Clone, Debug)]
pub struct BundleOptions {
    /// None: choose from the CPU's features (see [`precision::choose`]).
    pub precision: Option<Precision>,
    /// Threads for each plan's matrix products.
    pub threads: usize,
    /// Which encoders to load (None: every one the bundle has at that precision).
    pub encoders: Option<Vec<EncoderKind>>,
}

impl Default for BundleOptions {
    fn default() -> Self {
        Self {
            precision: None,
            threads: 1,
            encoders: None,
        }
    }
}

/// An opened bundle: its manifest, its front ends and one plan per encoder.
#[derive(Debug)]
pub struct Bundle {
    pub dir: PathBuf,
    pub manifest: Manifest,
    pub precision: Precision,
    /// Why this precision was chosen (for logs).
    pub precision_reason: String,
    pub tokenizer: Tokenizer,
    pub vocab: Vocab,
    pub logmel: LogMel,
    sessions: BTreeMap<EncoderKind, EncoderSession>,
}

/// Lower-case hex SHA-256 of a file, streamed.
pub fn sha256_file(path: &Path) -> Result<String, std::io::Error> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

fn verify(dir: &Path, file: &str, expected: &str) -> Result<(), BundleError> {
    let path = dir.join(file);
    let actual = sha256_file(&path).map_err(|e| BundleError::File {
        file: path.display().to_string(),
        problem: e.to_string(),
    })?;
    if !actual.eq_ignore_ascii_case(expected) {
        return Err(BundleError::Checksum {
            file: path.display().to_string(),
            expected: expected.into(),
            actual,
        });
    }
    Ok(())
}

impl Bundle {
    pub fn open(dir: &Path, options: &BundleOptions) -> Result<Self, BundleError> {
        let manifest = Manifest::load(dir)?;
        let (precision, precision_reason) = match options.precision {
            Some(p) => (p, "chosen by the caller".to_string()),
            None => precision::choose(&manifest.precisions()),
        };
        verify(dir, &manifest.text.vocab_file, &manifest.text.vocab_sha256)?;
        let vocab_path = dir.join(&manifest.text.vocab_file);
        let vocab = Vocab::load_text(&vocab_path).map_err(|e| BundleError::File {
            file: vocab_path.display().to_string(),
            problem: e.to_string(),
        })?;
        let logmel = LogMel::new(manifest.audio.logmel.clone()).map_err(|e| BundleError::File {
            file: dir.join(manifest::MANIFEST_FILE).display().to_string(),
            problem: e.to_string(),
        })?;
        let wanted: Vec<EncoderKind> = options
            .encoders
            .clone()
            .unwrap_or_else(|| EncoderKind::ALL.to_vec());
        let mut sessions = BTreeMap::new();
        for kind in wanted {
            let Some(spec) = manifest.encoder(kind, precision) else {
                if options.encoders.is_some() {
                    return Err(BundleError::Missing {
                        dir: dir.display().to_string(),
                        kind: kind.name(),
                        precision: precision.name(),
                    });
                }
                continue;
            };
            verify(dir, &spec.file, &spec.sha256)?;
            sessions.insert(
                kind,
                EncoderSession::load(dir, spec, options.threads.max(1))?,
            );
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            tokenizer: manifest.text.tokenizer.clone(),
            manifest,
            precision,
            precision_reason,
            vocab,
            logmel,
            sessions,
        })
    }

    /// The loaded session for `kind`.
    pub fn session(&self, kind: EncoderKind) -> Result<&EncoderSession, BundleError> {
        self.sessions.get(&kind).ok_or(BundleError::Missing {
            dir: self.dir.display().to_string(),
            kind: kind.name(),
            precision: self.precision.name(),
        })
    }

    /// The encoders this bundle has loaded.
    pub fn kinds(&self) -> Vec<EncoderKind> {
        self.sessions.keys().copied().collect()
    }

    /// A clip already preprocessed to [C, T, H, W] (see the manifest's video spec).
    pub fn embed_clip(&self, clip: &[f32]) -> Result<Embedding, BundleError> {
        self.session(EncoderKind::Clip)?.run_f32(clip)
    }

    /// One frame already preprocessed to [C, H, W], through the deflated image network.
    pub fn embed_image(&self, image: &[f32]) -> Result<Embedding, BundleError> {
        self.session(EncoderKind::Image)?.run_f32(image)
    }

    /// A log-mel window [frames, mels] of exactly the manifest's window size.
    pub fn embed_logmel(&self, logmel: &[f32]) -> Result<Embedding, BundleError> {
        self.session(EncoderKind::Audio)?.run_f32(logmel)
    }

    /// Audio samples at the manifest's sample rate: padded with silence or cut to one window,
    /// then through the log-mel front end.
    pub fn embed_audio(&self, samples: &[f32]) -> Result<Embedding, BundleError> {
        let n = self.manifest.audio.window_samples;
        let mut window = samples[..samples.len().min(n)].to_vec();
        window.resize(n, 0.0);
        add_white_noise(
            &mut window,
            self.manifest.audio.noise_floor,
            NOISE_FLOOR_SEED,
        );
        let mut spec = self.logmel.compute(&window);
        subtract_noise_floor(&mut spec.data, spec.n_mels, self.manifest.audio.noise_gate);
        self.embed_logmel(&spec.data)
    }

    /// Token ids of one text, as the text encoder takes them.
    pub fn text_ids(&self, text: &str) -> Vec<i64> {
        self.tokenizer
            .encode(text, &self.vocab)
            .into_iter()
            .map(i64::from)
            .collect()
    }

    /// A text (a label prompt or a search query) in the text space.
    pub fn embed_text(&self, text: &str) -> Result<Embedding, BundleError> {
        self.session(EncoderKind::Text)?
            .run_i64(&self.text_ids(text))
    }
}
