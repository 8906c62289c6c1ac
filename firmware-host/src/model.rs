//! The model as the daemon sees it: an [`Embedder`] (the four MMV encoders) and a [`Tagger`]
//! (zero-shot labels from text prompts). `mmv_runtime::bundle::Bundle` is the real embedder;
//! `crate::fake` has a deterministic one for tests and benchmarks.

use mmv_runtime::bundle::{Bundle, BundleError, Embedding, manifest::EncoderKind};
use mmv_runtime::frames::FrameSpec;
use serde::Serialize;

/// Which network produced an output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Modality {
    /// One frame through the deflated image network.
    Image,
    /// A clip of T frames through the video network.
    Clip,
    /// One audio window through the audio network.
    Audio,
}

impl Modality {
    pub fn name(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Clip => "clip",
            Self::Audio => "audio",
        }
    }
}

/// What the pipeline needs to know about the model's inputs (from the bundle manifest).
#[derive(Clone, Debug, PartialEq)]
pub struct ModelSpec {
    /// Size, channels and normalisation of one frame.
    pub frame: FrameSpec,
    /// Frames per clip (T).
    pub clip_frames: usize,
    /// The rate clips are sampled at.
    pub clip_fps: f32,
    /// Audio sample rate the audio network expects.
    pub audio_rate: u32,
    /// Samples per audio window.
    pub window_samples: usize,
    /// Softmax temperature for zero-shot scores.
    pub temperature: f32,
    /// Which encoders exist.
    pub has_image: bool,
    pub has_clip: bool,
    pub has_audio: bool,
    pub has_text: bool,
}

/// The MMV encoders. `&mut self` so that an implementation may keep scratch buffers.
pub trait Embedder {
    type Error: std::error::Error + Send + Sync + 'static;
    fn spec(&self) -> &ModelSpec;
    /// One frame, preprocessed to [C, H, W].
    fn embed_image(&mut self, chw: &[f32]) -> Result<Embedding, Self::Error>;
    /// One clip, preprocessed to [C, T, H, W].
    fn embed_clip(&mut self, cthw: &[f32]) -> Result<Embedding, Self::Error>;
    /// One window of mono samples at `spec().audio_rate`.
    fn embed_audio(&mut self, samples: &[f32]) -> Result<Embedding, Self::Error>;
    /// A label prompt or a query.
    fn embed_text(&mut self, text: &str) -> Result<Embedding, Self::Error>;
}

/// A real bundle as an [`Embedder`].
#[derive(Debug)]
pub struct BundleEmbedder {
    pub bundle: Bundle,
    spec: ModelSpec,
}

impl BundleEmbedder {
    pub fn new(bundle: Bundle) -> Self {
        let m = &bundle.manifest;
        let kinds = bundle.kinds();
        let spec = ModelSpec {
            frame: m.video.frame.clone(),
            clip_frames: m.video.frames,
            clip_fps: m.video.fps,
            audio_rate: m.audio.logmel.sample_rate,
            window_samples: m.audio.window_samples,
            temperature: m.temperature,
            has_image: kinds.contains(&EncoderKind::Image),
            has_clip: kinds.contains(&EncoderKind::Clip),
            has_audio: kinds.contains(&EncoderKind::Audio),
            has_text: kinds.contains(&EncoderKind::Text),
        };
        Self { bundle, spec }
    }
}

impl Embedder for BundleEmbedder {
    type Error = BundleError;
    fn spec(&self) -> &ModelSpec {
        &self.spec
    }
    fn embed_image(&mut self, chw: &[f32]) -> Result<Embedding, BundleError> {
        self.bundle.embed_image(chw)
    }
    fn embed_clip(&mut self, cthw: &[f32]) -> Result<Embedding, BundleError> {
        self.bundle.embed_clip(cthw)
    }
    fn embed_audio(&mut self, samples: &[f32]) -> Result<Embedding, BundleError> {
        self.bundle.embed_audio(samples)
    }
    fn embed_text(&mut self, text: &str) -> Result<Embedding, BundleError> {
        self.bundle.embed_text(text)
    }
}

/// One label and its score.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Tag {
    pub label: String,
    pub score: f32,
}

/// Zero-shot tagging of an embedding.
pub trait Tagger {
    /// Every label with its score, best first; empty when the embedding has no space shared
    /// with text (audio in the disjoint design).
    fn tag(&self, embedding: &Embedding) -> Vec<Tag>;
}

/// Labels embedded once as text prompts; an embedding's scores are the softmax of its dot
/// products with them over the temperature, as in MMV's zero-shot classification.
#[derive(Clone, Debug)]
pub struct PromptTagger {
    labels: Vec<String>,
    /// One text-space embedding per label.
    prompts: Vec<Vec<f32>>,
    temperature: f32,
}

/// Errors building a tagger.
#[derive(Debug, thiserror::Error)]
pub enum TaggerError {
    #[error("no labels")]
    NoLabels,
    #[error("the text encoder gave no text-space embedding for {0:?}")]
    NoTextSpace(String),
    #[error("embedding the prompt {prompt:?}: {message}")]
    Embed { prompt: String, message: String },
}

impl PromptTagger {
    /// Embeds `template` (with `{}` replaced by each label) for every label.
    pub fn new<E: Embedder>(
        embedder: &mut E,
        labels: &[String],
        template: &str,
    ) -> Result<Self, TaggerError> {
        if labels.is_empty() {
            return Err(TaggerError::NoLabels);
        }
        let mut prompts = Vec::with_capacity(labels.len());
        for label in labels {
            let prompt = template.replace("{}", label);
            let e = embedder
                .embed_text(&prompt)
                .map_err(|e| TaggerError::Embed {
                    prompt: prompt.clone(),
                    message: e.to_string(),
                })?;
            prompts.push(
                e.vat
                    .ok_or_else(|| TaggerError::NoTextSpace(prompt.clone()))?,
            );
        }
        let t = embedder.spec().temperature;
        Ok(Self {
            labels: labels.to_vec(),
            prompts,
            temperature: if t.is_finite() && t > 0.0 { t } else { 1.0 },
        })
    }

    pub fn labels(&self) -> &[String] {
        &self.labels
    }
}

impl Tagger for PromptTagger {
    fn tag(&self, embedding: &Embedding) -> Vec<Tag> {
        let Some(z) = embedding.vat.as_ref() else {
            return Vec::new();
        };
        let logits: Vec<f32> = self
            .prompts
            .iter()
            .map(|p| p.iter().zip(z).map(|(a, b)| a * b).sum::<f32>() / self.temperature)
            .collect();
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        if !max.is_finite() {
            return Vec::new();
        }
        let exps: Vec<f32> = logits.iter().map(|l| (l - max).exp()).collect();
        let sum: f32 = exps.iter().sum();
        let mut tags: Vec<Tag> = self
            .labels
            .iter()
            .zip(exps)
            .map(|(label, e)| Tag {
                label: label.clone(),
                score: e / sum,
            })
            .collect();
        tags.sort_by(|a, b| b.score.total_cmp(&a.score));
        tags
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::FakeEmbedder;

    #[test]
    fn prompt_tagger_ranks_the_matching_label_first() {
        let labels: Vec<String> = ["zero", "one", "two"].map(String::from).to_vec();
        let mut fake = FakeEmbedder::new(&labels);
        let tagger = PromptTagger::new(&mut fake, &labels, "{}").expect("tagger");
        let one = fake.label_embedding(1);
        let tags = tagger.tag(&one);
        assert_eq!(tags[0].label, "one");
        let total: f32 = tags.iter().map(|t| t.score).sum();
        assert!((total - 1.0).abs() < 1e-5);
        assert!(tags[0].score > 0.99, "temperature sharpens: {tags:?}");
        assert!(tagger.tag(&Embedding::default()).is_empty());
        assert!(matches!(
            PromptTagger::new(&mut fake, &[], "{}"),
            Err(TaggerError::NoLabels)
        ));
    }
}
