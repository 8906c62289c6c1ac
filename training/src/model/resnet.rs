//! 2D residual blocks shared by the TSM-ResNet video network and the audio network.
//!
//! A block can shift channels in time before its first convolution (TSM's residual shift); the
//! audio network and the deflated image network call it with the shift off.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;

use super::temporal_shift::temporal_shift;

/// Conv2d (no bias) + BatchNorm.
#[derive(Module, Debug)]
pub struct ConvBn2d {
    pub conv: Conv2d,
    pub bn: BatchNorm,
}

impl ConvBn2d {
    pub fn new(c_in: usize, c_out: usize, kernel: usize, stride: usize, device: &Device) -> Self {
        let pad = kernel / 2;
        Self {
            conv: Conv2dConfig::new([c_in, c_out], [kernel, kernel])
                .with_stride([stride, stride])
                .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
                .with_bias(false)
                .init(device),
            bn: BatchNormConfig::new(c_out).init(device),
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.bn.forward(self.conv.forward(x))
    }
}

/// A basic residual block: 3x3 conv-BN-ReLU, 3x3 conv-BN, plus the (projected) input.
#[derive(Module, Debug)]
pub struct ResBlock2d {
    pub conv1: ConvBn2d,
    pub conv2: ConvBn2d,
    pub shortcut: Option<ConvBn2d>,
}

impl ResBlock2d {
    pub fn new(c_in: usize, c_out: usize, stride: usize, device: &Device) -> Self {
        let shortcut =
            (stride != 1 || c_in != c_out).then(|| ConvBn2d::new(c_in, c_out, 1, stride, device));
        Self {
            conv1: ConvBn2d::new(c_in, c_out, 3, stride, device),
            conv2: ConvBn2d::new(c_out, c_out, 3, 1, device),
            shortcut,
        }
    }

    /// `x`: [N, C, H, W]. With `shift_frames = Some(T)`, N is B*T frames in clip order and the
    /// residual branch sees the temporally shifted input, as in TSM.
    pub fn forward(&self, x: Tensor<4>, shift_frames: Option<usize>) -> Tensor<4> {
        let branch_in = match shift_frames {
            Some(t) => temporal_shift(x.clone(), t),
            None => x.clone(),
        };
        let y = relu(self.conv1.forward(branch_in));
        let y = self.conv2.forward(y);
        let skip = match &self.shortcut {
            Some(proj) => proj.forward(x),
            None => x,
        };
        relu(y + skip)
    }
}

/// A stem plus stages of residual blocks; every stage after the first halves the resolution.
#[derive(Module, Debug)]
pub struct ResNet2d {
    pub stem: ConvBn2d,
    pub blocks: Vec<ResBlock2d>,
}

impl ResNet2d {
    pub fn new(c_in: usize, widths: &[usize], blocks_per_stage: usize, device: &Device) -> Self {
        let stem = ConvBn2d::new(c_in, widths[0], 3, 1, device);
        let mut blocks = Vec::new();
        let mut c = widths[0];
        for (stage, &w) in widths.iter().enumerate() {
            for b in 0..blocks_per_stage {
                let stride = if stage > 0 && b == 0 { 2 } else { 1 };
                blocks.push(ResBlock2d::new(c, w, stride, device));
                c = w;
            }
        }
        Self { stem, blocks }
    }

    /// The feature map before pooling: [N, C_last, H', W'].
    pub fn forward(&self, x: Tensor<4>, shift_frames: Option<usize>) -> Tensor<4> {
        let mut x = relu(self.stem.forward(x));
        for block in &self.blocks {
            x = block.forward(x, shift_frames);
        }
        x
    }

    pub fn out_channels(&self) -> usize {
        self.blocks
            .last()
            .map(|b| b.conv2.bn.gamma.dims()[0])
            .unwrap_or_else(|| self.stem.bn.gamma.dims()[0])
    }
}
