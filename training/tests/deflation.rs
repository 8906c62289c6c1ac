//! Deflation: on static clips, the calibrated deflated S3D-G is closer to the video network
//! (mean cosine of embeddings) than the naive one; TSM's deflation is exact.

mod common;

use burn::prelude::*;
use common::{tiny_config, tiny_data, tiny_words};
use mmv_training::config::{Design, MmvConfig, VideoArch};
use mmv_training::deflate::{ImageNet, calibrate_s3dg, static_clip};
use mmv_training::loss::l2_normalize;
use mmv_training::model::{Mmv, VideoNet};
use mmv_training::trainer::Trainer;

fn trained(config: &MmvConfig) -> (Mmv, mmv_training::synthetic::SyntheticAv) {
    let device = Device::flex().autodiff();
    device.seed(5);
    let words = tiny_words(config);
    let data = tiny_data(config, words.vocab.clone());
    let mut trainer = Trainer::new(Mmv::new(config, words.table, &device), config.clone());
    for step in 0..10 {
        trainer.step(&data.batch(&[0, 1, 2, 3, 4, 5, 6, 7], step, &device));
    }
    (trainer.model.valid(), data)
}

/// Image batches [B, C, H, W]: the first frame of synthetic clips.
fn images(data: &mmv_training::synthetic::SyntheticAv, seed: u64, device: &Device) -> Tensor<4> {
    let batch = data.batch(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], seed, device);
    let [b, c, _, h, w] = batch.video.dims();
    batch
        .video
        .slice(s![.., .., 0..1, .., ..])
        .reshape([b, c, h, w])
}

fn mean_cosine(a: Tensor<2>, b: Tensor<2>) -> f32 {
    (l2_normalize(a) * l2_normalize(b))
        .sum_dim(1)
        .mean()
        .into_scalar()
}

#[test]
fn calibrated_deflation_beats_naive_on_static_clips() {
    let config = tiny_config(Design::Fac, VideoArch::S3dg);
    let (model, data) = trained(&config);
    let device = Device::flex();
    let VideoNet::S3dg(video) = &model.video else {
        unreachable!()
    };
    let ImageNet::S3dg(naive) = ImageNet::naive(&model) else {
        unreachable!()
    };
    let train: Vec<Tensor<4>> = (0..6).map(|s| images(&data, 1000 + s, &device)).collect();
    let (calibrated, l1) = calibrate_s3dg(video, &naive, config.video.frames, &train, 15, 0.01);
    assert!(l1.is_finite());

    // Held-out images. Compare the video embeddings f_v (what calibration matches) after
    // removing the target batch's mean: a barely trained network maps every input close to one
    // common direction, and plain cosines then all round to 1 and say nothing.
    let test = images(&data, 5000, &device);
    let target = video.forward(static_clip(test.clone(), config.video.frames));
    let centre = target.clone().mean_dim(0);
    let embed = |net: &mmv_training::model::video_s3dg::S3dg| {
        let [b, c, h, w] = test.dims();
        net.forward(test.clone().reshape([b, c, 1, h, w]))
    };
    let (naive_out, calibrated_out) = (embed(&naive), embed(&calibrated));
    let l1 = |out: &Tensor<2>| -> f32 { (out.clone() - target.clone()).abs().mean().into_scalar() };
    let (naive_l1, calibrated_l1) = (l1(&naive_out), l1(&calibrated_out));
    let naive_cos = mean_cosine(naive_out - centre.clone(), target.clone() - centre.clone());
    let calibrated_cos = mean_cosine(calibrated_out - centre.clone(), target - centre);
    assert!(
        calibrated_l1 < naive_l1,
        "calibrated L1 {calibrated_l1:.6} should beat naive {naive_l1:.6}"
    );
    assert!(
        calibrated_cos > naive_cos,
        "calibrated cosine {calibrated_cos:.6} should beat naive {naive_cos:.6}"
    );
    eprintln!(
        "naive: cos {naive_cos:.4}, L1 {naive_l1:.5}; calibrated: cos {calibrated_cos:.4}, L1 {calibrated_l1:.5}"
    );
}

#[test]
fn tsm_deflation_is_the_unshifted_network() {
    let config = tiny_config(Design::Fac, VideoArch::Tsm);
    let (model, data) = trained(&config);
    let device = Device::flex();
    let image_net = ImageNet::naive(&model);
    let imgs = images(&data, 7, &device);
    let VideoNet::Tsm(video) = &model.video else {
        unreachable!()
    };
    // One-frame clips have nothing to shift: the deflated network equals the video network.
    let [b, c, h, w] = imgs.dims();
    let as_clip = video.forward(imgs.clone().reshape([b, c, 1, h, w]));
    let deflated = image_net.forward(imgs);
    let diff: f32 = (as_clip - deflated).abs().max().into_scalar();
    assert!(diff < 1e-5, "{diff}");
}
