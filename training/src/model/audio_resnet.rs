//! The audio network: a 2D ResNet over the log-mel spectrogram (time x mel), mean-pooled to f_a.

use burn::prelude::*;

use super::resnet::ResNet2d;
use crate::config::AudioConfig;

#[derive(Module, Debug)]
pub struct AudioResNet {
    pub resnet: ResNet2d,
}

impl AudioResNet {
    pub fn new(config: &AudioConfig, device: &Device) -> Self {
        Self {
            resnet: ResNet2d::new(1, &config.widths, config.blocks_per_stage, device),
        }
    }

    /// `logmel`: [B, 1, frames, mels] -> f_a: [B, C_last].
    pub fn forward(&self, logmel: Tensor<4>) -> Tensor<2> {
        let x = self.resnet.forward(logmel, None);
        let [b, c, h, w] = x.dims();
        x.reshape([b, c, h * w]).mean_dim(2).reshape([b, c])
    }
}
