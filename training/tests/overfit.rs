//! Overfitting one small batch: 50 Adam steps cut the loss at least in half, for each design
//! (and for both video families).

mod common;

use burn::prelude::*;
use common::{tiny_config, tiny_data, tiny_words};
use mmv_training::config::{Design, VideoArch};
use mmv_training::model::Mmv;
use mmv_training::trainer::Trainer;

fn overfit(design: Design, arch: VideoArch) {
    let device = Device::flex().autodiff();
    device.seed(3);
    let config = tiny_config(design, arch);
    let words = tiny_words(&config);
    let data = tiny_data(&config, words.vocab.clone());
    let batch = data.batch(&[0, 1, 2, 3, 4, 5, 6, 7], 11, &device);
    let mut trainer = Trainer::new(Mmv::new(&config, words.table, &device), config);
    let first = trainer.step(&batch);
    let mut last = first;
    for _ in 1..50 {
        last = trainer.step(&batch);
    }
    assert!(first.loss.is_finite() && last.loss.is_finite());
    assert!(
        last.loss <= first.loss / 2.0,
        "{design:?}/{arch:?}: loss {:.3} -> {:.3} in 50 steps",
        first.loss,
        last.loss
    );
}

#[test]
fn overfits_shared_s3dg() {
    overfit(Design::Shared, VideoArch::S3dg);
}

#[test]
fn overfits_disjoint_s3dg() {
    overfit(Design::Disjoint, VideoArch::S3dg);
}

#[test]
fn overfits_fac_s3dg() {
    overfit(Design::Fac, VideoArch::S3dg);
}

#[test]
fn overfits_fac_tsm() {
    overfit(Design::Fac, VideoArch::Tsm);
}
