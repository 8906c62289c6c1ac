//! S3D-G: the video network with separable 3D convolutions (a 1xkxk spatial convolution then a
//! kx1x1 temporal one) and self-gating, in the Inception style of Xie et al. 2018, scaled down
//! by configuration. Global average pooling over (T, H, W) gives f_v.

use burn::nn::conv::{Conv3d, Conv3dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{
    BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d, PaddingConfig3d,
};
use burn::prelude::*;
use burn::tensor::activation::{relu, sigmoid};

use crate::config::VideoConfig;

/// Conv3d (no bias) + BatchNorm + ReLU.
#[derive(Module, Debug)]
pub struct ConvBnRelu3d {
    pub conv: Conv3d,
    pub bn: BatchNorm,
}

impl ConvBnRelu3d {
    fn new(
        c_in: usize,
        c_out: usize,
        kernel: [usize; 3],
        stride: [usize; 3],
        device: &Device,
    ) -> Self {
        let pad = [kernel[0] / 2, kernel[1] / 2, kernel[2] / 2];
        Self {
            conv: Conv3dConfig::new([c_in, c_out], kernel)
                .with_stride(stride)
                .with_padding(PaddingConfig3d::Explicit(pad[0], pad[1], pad[2]))
                .with_bias(false)
                .init(device),
            bn: BatchNormConfig::new(c_out).init(device),
        }
    }

    pub fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        relu(self.bn.forward(self.conv.forward(x)))
    }
}

/// A separable 3D convolution: spatial 1xkxk, then temporal kx1x1, each with BN + ReLU.
#[derive(Module, Debug)]
pub struct SepConv3d {
    pub spatial: ConvBnRelu3d,
    pub temporal: ConvBnRelu3d,
}

impl SepConv3d {
    fn new(c_in: usize, c_out: usize, k: usize, device: &Device) -> Self {
        Self {
            spatial: ConvBnRelu3d::new(c_in, c_out, [1, k, k], [1, 1, 1], device),
            temporal: ConvBnRelu3d::new(c_out, c_out, [k, 1, 1], [1, 1, 1], device),
        }
    }

    pub fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        self.temporal.forward(self.spatial.forward(x))
    }
}

/// Self-gating: each channel is scaled by a sigmoid of a linear map of the pooled features.
#[derive(Module, Debug)]
pub struct SelfGating {
    pub fc: Linear,
}

impl SelfGating {
    fn new(c: usize, device: &Device) -> Self {
        Self {
            fc: LinearConfig::new(c, c).init(device),
        }
    }

    pub fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        let [b, c, t, h, w] = x.dims();
        let pooled = x
            .clone()
            .reshape([b, c, t * h * w])
            .mean_dim(2)
            .reshape([b, c]);
        let gate = sigmoid(self.fc.forward(pooled)).reshape([b, c, 1, 1, 1]);
        x * gate
    }
}

/// An Inception-style S3D-G block: a 1x1x1 branch and a 1x1x1 -> separable 3x3x3 branch,
/// concatenated, then self-gated.
#[derive(Module, Debug)]
pub struct S3dgBlock {
    pub branch0: ConvBnRelu3d,
    pub branch1_reduce: ConvBnRelu3d,
    pub branch1: SepConv3d,
    pub gating: SelfGating,
}

impl S3dgBlock {
    fn new(c_in: usize, c_out: usize, device: &Device) -> Self {
        let half = c_out / 2;
        let reduce = (c_out / 4).max(1);
        Self {
            branch0: ConvBnRelu3d::new(c_in, half, [1, 1, 1], [1, 1, 1], device),
            branch1_reduce: ConvBnRelu3d::new(c_in, reduce, [1, 1, 1], [1, 1, 1], device),
            branch1: SepConv3d::new(reduce, c_out - half, 3, device),
            gating: SelfGating::new(c_out, device),
        }
    }

    pub fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        let b0 = self.branch0.forward(x.clone());
        let b1 = self.branch1.forward(self.branch1_reduce.forward(x));
        self.gating.forward(Tensor::cat(vec![b0, b1], 1))
    }
}

/// The whole S3D-G trunk.
#[derive(Module, Debug)]
pub struct S3dg {
    pub stem: SepConv3d,
    /// Blocks in order; `downsample_before[i]` says whether a spatial 3x3/2 max pool precedes
    /// block i (the first block of every stage after the first).
    pub blocks: Vec<S3dgBlock>,
    #[module(skip)]
    pub downsample_before: Vec<bool>,
    pub pool: MaxPool2d,
}

impl S3dg {
    pub fn new(config: &VideoConfig, device: &Device) -> Self {
        let stem = SepConv3d::new(config.channels, config.widths[0], 3, device);
        let mut blocks = Vec::new();
        let mut downsample_before = Vec::new();
        let mut c = config.widths[0];
        for (stage, &w) in config.widths.iter().enumerate() {
            for b in 0..config.blocks_per_stage {
                downsample_before.push(stage > 0 && b == 0);
                blocks.push(S3dgBlock::new(c, w, device));
                c = w;
            }
        }
        let pool = MaxPool2dConfig::new([3, 3])
            .with_strides([2, 2])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .init();
        Self {
            stem,
            blocks,
            downsample_before,
            pool,
        }
    }

    /// Spatial max pooling of every frame: [B, C, T, H, W] is viewed as [B, C*T, H, W], which
    /// pools each (channel, frame) plane on its own without a transpose.
    fn spatial_pool(&self, x: Tensor<5>) -> Tensor<5> {
        let [b, c, t, h, w] = x.dims();
        let y = self.pool.forward(x.reshape([b, c * t, h, w]));
        let [_, _, h2, w2] = y.dims();
        y.reshape([b, c, t, h2, w2])
    }

    /// `video`: [B, C, T, H, W] -> f_v: [B, C_last].
    pub fn forward(&self, video: Tensor<5>) -> Tensor<2> {
        let mut x = self.stem.forward(video);
        for (block, &down) in self.blocks.iter().zip(&self.downsample_before) {
            if down {
                x = self.spatial_pool(x);
            }
            x = block.forward(x);
        }
        let [b, c, t, h, w] = x.dims();
        x.reshape([b, c, t * h * w]).mean_dim(2).reshape([b, c])
    }
}
