//! The MMV networks: one encoder per modality and the projection heads of the chosen design.
//!
//! Every piece is a plain burn `Module` with public fields, so that the deflation and the ONNX
//! exporter can walk the weights.

pub mod audio_resnet;
pub mod heads;
pub mod resnet;
pub mod temporal_shift;
pub mod text;
pub mod video_s3dg;
pub mod video_tsm;

use burn::prelude::*;

use crate::config::{MmvConfig, VideoArch};
use audio_resnet::AudioResNet;
use heads::{AudioSpaces, Heads, VideoSpaces};
use text::TextEncoder;
use video_s3dg::S3dg;
use video_tsm::TsmResNet;

/// The video network of either family.
// One value per model: the size difference between variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum VideoNet {
    S3dg(S3dg),
    Tsm(TsmResNet),
}

impl VideoNet {
    pub fn forward(&self, video: Tensor<5>) -> Tensor<2> {
        match self {
            VideoNet::S3dg(net) => net.forward(video),
            VideoNet::Tsm(net) => net.forward(video),
        }
    }
}

/// A whole MMV model.
#[derive(Module, Debug)]
pub struct Mmv {
    pub video: VideoNet,
    pub audio: AudioResNet,
    pub text: TextEncoder,
    pub heads: Heads,
}

/// The encoder inputs of one batch. `text` holds several narrations per clip (MIL-NCE's
/// positives): [B, K, W] token ids.
#[derive(Clone, Debug)]
pub struct Batch {
    /// [B, C, T, H, W], normalised as the runtime's frame front end does.
    pub video: Tensor<5>,
    /// [B, 1, frames, mels] log-mel from the runtime's audio front end.
    pub audio: Tensor<4>,
    /// [B, K, W] token ids from the runtime's tokenizer (0 = padding).
    pub text: Tensor<3, Int>,
}

impl Mmv {
    /// `word_table`: the frozen word vectors, row-major [vocab, config.text.word_dim].
    pub fn new(config: &MmvConfig, word_table: Vec<f32>, device: &Device) -> Self {
        let video = match config.video.arch {
            VideoArch::S3dg => VideoNet::S3dg(S3dg::new(&config.video, device)),
            VideoArch::Tsm => VideoNet::Tsm(TsmResNet::new(&config.video, device)),
        };
        let audio = AudioResNet::new(&config.audio, device);
        let text = TextEncoder::new(word_table, config.text.word_dim, config.text.hidden, device);
        let d_v = *config.video.widths.last().expect("validated: non-empty");
        let d_a = *config.audio.widths.last().expect("validated: non-empty");
        let heads = Heads::new(&config.heads, d_v, d_a, config.text.hidden, device);
        Self {
            video,
            audio,
            text,
            heads,
        }
    }

    pub fn embed_video(&self, video: Tensor<5>) -> VideoSpaces {
        self.heads.video(self.video.forward(video))
    }

    pub fn embed_audio(&self, logmel: Tensor<4>) -> AudioSpaces {
        self.heads.audio(self.audio.forward(logmel))
    }

    /// [B, K, W] ids -> [B, K, d_vt] text embeddings (unnormalised).
    pub fn embed_text(&self, ids: Tensor<3, Int>) -> Tensor<3> {
        self.heads.text(self.text.forward(ids))
    }
}
