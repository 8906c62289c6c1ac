//! TSM-ResNet: a 2D ResNet applied to every frame, whose residual blocks shift 1/8 of the
//! channels one frame forward and 1/8 one frame back (Lin et al. 2019). Pooling over space,
//! then time, gives f_v. With the shift off it is the deflated image network.

use burn::prelude::*;

use super::resnet::ResNet2d;
use crate::config::VideoConfig;

#[derive(Module, Debug)]
pub struct TsmResNet {
    pub resnet: ResNet2d,
}

impl TsmResNet {
    pub fn new(config: &VideoConfig, device: &Device) -> Self {
        Self {
            resnet: ResNet2d::new(
                config.channels,
                &config.widths,
                config.blocks_per_stage,
                device,
            ),
        }
    }

    /// `video`: [B, C, T, H, W] -> f_v: [B, C_last].
    pub fn forward(&self, video: Tensor<5>) -> Tensor<2> {
        let [b, c, t, h, w] = video.dims();
        let frames = video.permute([0, 2, 1, 3, 4]).reshape([b * t, c, h, w]);
        let x = self.resnet.forward(frames, Some(t));
        let [_, c2, h2, w2] = x.dims();
        x.reshape([b, t * c2, h2 * w2])
            .mean_dim(2)
            .reshape([b, t, c2])
            .mean_dim(1)
            .reshape([b, c2])
    }

    /// The deflated image network: the same weights with the shift switched off.
    /// `image`: [B, C, H, W] -> [B, C_last].
    pub fn forward_image(&self, image: Tensor<4>) -> Tensor<2> {
        let x = self.resnet.forward(image, None);
        let [b, c, h, w] = x.dims();
        x.reshape([b, c, h * w]).mean_dim(2).reshape([b, c])
    }
}
