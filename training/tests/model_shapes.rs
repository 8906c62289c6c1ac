//! Each encoder's output shape for each design, and FAC's single va -> vat module.

mod common;

use burn::module::Module;
use burn::prelude::*;
use common::{tiny_config, tiny_data, tiny_words};
use mmv_training::config::{Design, VideoArch};
use mmv_training::model::Mmv;
use mmv_training::model::heads::Heads;

#[test]
fn output_shapes_for_every_design_and_video_family() {
    let device = Device::flex();
    for arch in [VideoArch::S3dg, VideoArch::Tsm] {
        for design in [Design::Shared, Design::Disjoint, Design::Fac] {
            let config = tiny_config(design, arch);
            let words = tiny_words(&config);
            let data = tiny_data(&config, words.vocab.clone());
            let model = Mmv::new(&config, words.table, &device);
            let batch = data.batch(&[0, 1, 2, 3, 4], 1, &device);
            let v = model.embed_video(batch.video);
            let a = model.embed_audio(batch.audio);
            let t = model.embed_text(batch.text);
            let (va, vat) = (config.heads.va_dim, config.heads.vat_dim);
            let (va_w, vt_w) = match design {
                Design::Shared => (vat, vat),
                Design::Disjoint | Design::Fac => (va, vat),
            };
            assert_eq!(v.va.dims(), [5, va_w], "{arch:?} {design:?} video va");
            assert_eq!(v.vt.dims(), [5, vt_w], "{arch:?} {design:?} video vt");
            assert_eq!(a.va.dims(), [5, va_w], "{arch:?} {design:?} audio va");
            match design {
                Design::Disjoint => assert!(a.vt.is_none(), "disjoint: audio has no text space"),
                _ => assert_eq!(a.vt.unwrap().dims(), [5, vt_w], "{design:?} audio vt"),
            }
            assert_eq!(t.dims(), [5, config.text.narrations_per_clip, vt_w]);
        }
    }
}

#[test]
fn fac_has_one_va_to_vat_module_shared_by_video_and_audio() {
    let device = Device::flex();
    let config = tiny_config(Design::Fac, VideoArch::S3dg);
    let words = tiny_words(&config);
    let model = Mmv::new(&config, words.table, &device);
    let Heads::Fac(heads) = &model.heads else {
        panic!("FAC config built {:?}", model.heads)
    };
    let (d_v, d_a, d_t) = (16, 16, config.text.hidden);
    let (va, vat) = (config.heads.va_dim, config.heads.vat_dim);
    // video->va: Linear+BN+ReLU+Linear(no bias)+BN; audio->va: Linear; ONE va->vat: Linear+BN;
    // text->vat: Linear. burn counts 4 vectors per BN: scale, shift and the running statistics.
    let expected = (d_v * va + va + 4 * va)
        + (va * va + 4 * va)
        + (d_a * va + va)
        + (va * vat + vat + 4 * vat)
        + (d_t * vat + vat);
    assert_eq!(model.heads.num_params(), expected);
    assert_eq!(heads.va_to_vat.num_params(), va * vat + vat + 4 * vat);

    // Changing the one va->vat map moves both the video and the audio text-space embeddings.
    let data = tiny_data(&config, words.vocab.clone());
    let batch = data.batch(&[0, 1, 2], 1, &device);
    let before_v = model.embed_video(batch.video.clone()).vt;
    let before_a = model.embed_audio(batch.audio.clone()).vt.unwrap();
    let mut changed = model.clone();
    if let Heads::Fac(h) = &mut changed.heads {
        h.va_to_vat.map.linear.weight = h
            .va_to_vat
            .map
            .linear
            .weight
            .clone()
            .map(|w| w.mul_scalar(-1.0));
    }
    let after_v = changed.embed_video(batch.video).vt;
    let after_a = changed.embed_audio(batch.audio).vt.unwrap();
    let diff = |a: Tensor<2>, b: Tensor<2>| (a - b).abs().max().into_scalar::<f32>();
    assert!(diff(before_v, after_v) > 1e-3);
    assert!(diff(before_a, after_a) > 1e-3);
}
