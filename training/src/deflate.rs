//! Deflation: one video network for still images (MMV section 3.3).
//!
//! S3D-G: every 3D kernel is summed over its temporal axis, giving a network whose kernels have
//! temporal size 1 (a 2D network, run on a one-frame clip and exported with true 2D
//! convolutions). Temporal zero-padding makes this inexact at the clip's borders, so the
//! calibrated variant re-learns the BatchNorm scales and shifts with an L1 loss, so that its
//! features on an image match the video network's on the static clip repeating that image.
//! TSM-ResNet deflates to the same 2D ResNet with the temporal shift switched off.

use burn::module::{Module, Param, ParamId};
use burn::nn::BatchNorm;
use burn::nn::PaddingConfig3d;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;

use crate::model::video_s3dg::{ConvBnRelu3d, S3dg};
use crate::model::{Mmv, VideoNet};

/// Every conv + BN unit of an S3D-G network, in a fixed order.
fn units_mut(net: &mut S3dg) -> Vec<&mut ConvBnRelu3d> {
    let mut units = vec![&mut net.stem.spatial, &mut net.stem.temporal];
    for b in &mut net.blocks {
        units.push(&mut b.branch0);
        units.push(&mut b.branch1_reduce);
        units.push(&mut b.branch1.spatial);
        units.push(&mut b.branch1.temporal);
    }
    units
}

fn bns(net: &S3dg) -> Vec<&BatchNorm> {
    let mut out = vec![&net.stem.spatial.bn, &net.stem.temporal.bn];
    for b in &net.blocks {
        out.extend([
            &b.branch0.bn,
            &b.branch1_reduce.bn,
            &b.branch1.spatial.bn,
            &b.branch1.temporal.bn,
        ]);
    }
    out
}

/// Naive deflation of S3D-G: kernels summed over time, no temporal padding. The result runs on
/// one-frame clips [B, C, 1, H, W].
pub fn deflate_s3dg(net: &S3dg) -> S3dg {
    let mut out = net.clone();
    for unit in units_mut(&mut out) {
        let conv = &mut unit.conv;
        let summed = conv.weight.val().sum_dim(2);
        conv.weight = Param::from_tensor(summed);
        conv.kernel_size[0] = 1;
        conv.stride[0] = 1;
        if let PaddingConfig3d::Explicit(_, h, w) = conv.padding {
            conv.padding = PaddingConfig3d::Explicit(0, h, w);
        }
    }
    out
}

/// The deflated image network of a model.
// One value per model: the size difference between variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum ImageNet {
    /// S3D-G with temporal kernels of size 1 (naive or calibrated).
    S3dg(S3dg),
    /// TSM-ResNet run without the shift: the video network itself.
    Tsm(crate::model::video_tsm::TsmResNet),
}

impl ImageNet {
    /// Naive deflation of a model's video network.
    pub fn naive(model: &Mmv) -> Self {
        match &model.video {
            VideoNet::S3dg(net) => ImageNet::S3dg(deflate_s3dg(net)),
            VideoNet::Tsm(net) => ImageNet::Tsm(net.clone()),
        }
    }

    /// `image`: [B, C, H, W] -> f_v [B, C_last].
    pub fn forward(&self, image: Tensor<4>) -> Tensor<2> {
        match self {
            ImageNet::S3dg(net) => {
                let [b, c, h, w] = image.dims();
                net.forward(image.reshape([b, c, 1, h, w]))
            }
            ImageNet::Tsm(net) => net.forward_image(image),
        }
    }
}

/// A static clip repeating each image T times: [B, C, H, W] -> [B, C, T, H, W].
pub fn static_clip(images: Tensor<4>, frames: usize) -> Tensor<5> {
    let [b, c, h, w] = images.dims();
    images.reshape([b, c, 1, h, w]).repeat_dim(2, frames)
}

/// Calibrates a naively deflated S3D-G: Adam on the BN scales and shifts only (running
/// statistics kept as they are, BN in inference form) to minimise the L1 distance between the
/// deflated features on each image and the video network's on its static clip. Returns the
/// calibrated network and the mean L1 of the last epoch. `batches` are image batches
/// [B, C, H, W] from the training split; `video` is the trained video network.
pub fn calibrate_s3dg(
    video: &S3dg,
    naive: &S3dg,
    frames: usize,
    batches: &[Tensor<4>],
    epochs: usize,
    learning_rate: f64,
) -> (S3dg, f64) {
    let device = batches
        .first()
        .map(|b| b.device())
        .unwrap_or_else(Device::flex);
    let train_device = if device.is_autodiff() {
        device.clone()
    } else {
        device.clone().autodiff()
    };
    // Targets from the video network in inference mode.
    let video_eval = video.clone().valid();
    let targets: Vec<Tensor<2>> = batches
        .iter()
        .map(|b| {
            let clip = static_clip(b.clone().without_autodiff(), frames);
            video_eval.forward(clip).detach()
        })
        .collect();

    let mut net = naive.clone().train().fork(&train_device);
    for unit in units_mut(&mut net) {
        // BN in inference form: only gamma and beta move.
        unit.bn.training = unit.bn.training.clone().with_value(false);
    }
    let bn_ids: Vec<ParamId> = bns(&net)
        .iter()
        .flat_map(|bn| [bn.gamma.id, bn.beta.id])
        .collect();
    let mut optim = AdamConfig::new().init();
    let mut last = f64::NAN;
    for _ in 0..epochs {
        let mut total = 0.0;
        for (images, target) in batches.iter().zip(&targets) {
            let [b, c, h, w] = images.dims();
            let x = images
                .clone()
                .to_device(&train_device)
                .reshape([b, c, 1, h, w]);
            let out = net.forward(x);
            let loss = (out - target.clone().to_device(&train_device)).abs().mean();
            total += loss.clone().into_scalar::<f32>() as f64;
            let mut grads = loss.backward();
            let grads = GradientsParams::from_params(&mut grads, &net, &bn_ids);
            net = optim.step(learning_rate, net, grads);
        }
        last = total / batches.len().max(1) as f64;
    }
    (net.valid(), last)
}

/// The deflated image network of a trained model: S3D-G summed over time, then (when
/// `epochs > 0`) its BN re-learned on `images` ([C, H, W] each, train split only), 16 a batch;
/// TSM without its shift. Returns the network and the last calibration L1 (S3D-G only).
pub fn deflate_calibrated(
    model: &Mmv,
    frames: usize,
    images: &[Vec<f32>],
    shape: [usize; 3],
    epochs: usize,
) -> (ImageNet, Option<f64>) {
    let naive = ImageNet::naive(model);
    let (VideoNet::S3dg(video), ImageNet::S3dg(naive_net)) = (&model.video, &naive) else {
        return (naive, None);
    };
    if epochs == 0 || images.is_empty() {
        return (naive, None);
    }
    let device = model.text.words.device();
    let [c, h, w] = shape;
    let batches: Vec<Tensor<4>> = images
        .chunks(16)
        .map(|chunk| {
            let flat: Vec<f32> = chunk.iter().flatten().copied().collect();
            Tensor::from_data(TensorData::new(flat, [chunk.len(), c, h, w]), &device)
        })
        .collect();
    let (calibrated, l1) = calibrate_s3dg(video, naive_net, frames, &batches, epochs, 0.01);
    (ImageNet::S3dg(calibrated), Some(l1))
}
