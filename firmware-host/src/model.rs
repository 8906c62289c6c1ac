//! The model as the daemon sees it: an [`Embedder`], the MMV encoders behind the runtime's front
//! ends. The real one is the runtime's `Pipeline` (the code `mmv tag` and `mmv index` run:
//! preprocessing, resampling, the silence rule, the label prompts); `crate::fake` has a
//! deterministic one for tests and benchmarks.

use std::sync::Arc;

use mmv_runtime::bundle::Embedding;
use mmv_runtime::bundle::manifest::EncoderKind;
use mmv_runtime::frames::{FrameSpec, Picture};
use mmv_runtime::ingest::ClipGeometry;
use mmv_runtime::pipeline::{Pipeline, PipelineError};
use mmv_runtime::tag::{LabelSet, Tagger};
use serde::Serialize;

/// Which network produced an output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
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

/// What the pipeline needs to know about the model's inputs.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelSpec {
    /// Clip frames and rate, audio rate and window (clips side by side).
    pub geometry: ClipGeometry,
    /// Size, channels and normalisation of one frame.
    pub frame: FrameSpec,
    /// Which encoders exist.
    pub has_image: bool,
    pub has_clip: bool,
    pub has_audio: bool,
}

/// The MMV encoders with their front ends. `&mut self` so that an implementation may keep
/// scratch buffers.
pub trait Embedder {
    type Error: std::error::Error + Send + Sync + 'static;
    fn spec(&self) -> &ModelSpec;
    /// One frame, in the format its source delivered, through the frame front end: [C, H, W]
    /// (a grey model reads the Y plane of a YUV frame; no RGB frame is made).
    fn preprocess(&mut self, frame: &Picture) -> Result<Vec<f32>, Self::Error>;
    /// A frame for the single-frame (image) path when it differs from `preprocess`'s (bundles
    /// that frame stills frame it first, as `mmv tag` does an image); None (the default): the
    /// clip path's preprocessing serves both.
    fn preprocess_still(&mut self, _frame: &Picture) -> Result<Option<Vec<f32>>, Self::Error> {
        Ok(None)
    }
    /// One preprocessed frame through the deflated image network.
    fn embed_image(&mut self, chw: &[f32]) -> Result<Embedding, Self::Error>;
    /// `geometry.frames` preprocessed frames through the video network.
    fn embed_clip(&mut self, frames: &[Arc<[f32]>]) -> Result<Embedding, Self::Error>;
    /// One window of mono samples at `rate` Hz, resampled to the model's rate, through the
    /// audio network; `None` for silence.
    fn embed_audio(&mut self, samples: &[f32], rate: u32)
    -> Result<Option<Embedding>, Self::Error>;
    /// The labels' prompts embedded by the text network: the zero-shot tagger.
    fn tagger(&mut self, labels: &LabelSet) -> Result<Tagger, Self::Error>;
}

/// A real bundle, through the runtime's pipeline.
#[derive(Debug)]
pub struct BundleEmbedder {
    pub pipeline: Pipeline,
    spec: ModelSpec,
}

impl BundleEmbedder {
    pub fn new(pipeline: Pipeline) -> Result<Self, PipelineError> {
        let kinds = pipeline.bundle.kinds();
        let spec = ModelSpec {
            geometry: pipeline.geometry(None)?,
            frame: pipeline.bundle.manifest.video.frame.clone(),
            has_image: kinds.contains(&EncoderKind::Image),
            has_clip: kinds.contains(&EncoderKind::Clip),
            has_audio: kinds.contains(&EncoderKind::Audio),
        };
        Ok(Self { pipeline, spec })
    }
}

impl Embedder for BundleEmbedder {
    type Error = PipelineError;
    fn spec(&self) -> &ModelSpec {
        &self.spec
    }
    fn preprocess(&mut self, frame: &Picture) -> Result<Vec<f32>, PipelineError> {
        self.pipeline.preprocess(frame)
    }
    fn preprocess_still(&mut self, frame: &Picture) -> Result<Option<Vec<f32>>, PipelineError> {
        if self.pipeline.bundle.manifest.video.still_framing.is_none() {
            return Ok(None);
        }
        self.pipeline.preprocess_still(frame).map(Some)
    }
    fn embed_image(&mut self, chw: &[f32]) -> Result<Embedding, PipelineError> {
        Ok(self.pipeline.bundle.embed_image(chw)?)
    }
    fn embed_clip(&mut self, frames: &[Arc<[f32]>]) -> Result<Embedding, PipelineError> {
        self.pipeline.embed_preprocessed(frames)
    }
    fn embed_audio(
        &mut self,
        samples: &[f32],
        rate: u32,
    ) -> Result<Option<Embedding>, PipelineError> {
        let samples = self.pipeline.to_model_rate(samples, rate)?;
        self.pipeline.embed_audio(&samples)
    }
    fn tagger(&mut self, labels: &LabelSet) -> Result<Tagger, PipelineError> {
        self.pipeline.tagger(labels)
    }
}
