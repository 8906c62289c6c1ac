//! `optim.freeze_audio_text` / `freeze_video_text`: a warm restart that teaches one side only.
//! Steps leave the other side and the text network (weights and BatchNorm statistics) exactly
//! as they were, while the trained side learns; asking for both is refused.

mod common;

use burn::prelude::*;
use common::{tiny_config, tiny_data, tiny_words};
use mmv_training::config::{Design, VideoArch};
use mmv_training::model::Mmv;
use mmv_training::trainer::Trainer;

fn max_diff(a: Tensor<2>, b: Tensor<2>) -> f32 {
    (a - b).abs().max().into_scalar::<f32>()
}

#[test]
fn a_frozen_audio_and_text_side_does_not_move_while_video_learns() {
    one_side_learns(false);
}

#[test]
fn a_frozen_video_and_text_side_does_not_move_while_audio_learns() {
    one_side_learns(true);
}

#[test]
fn freezing_both_sides_is_refused() {
    let mut config = tiny_config(Design::Fac, VideoArch::Tsm);
    config.optim.freeze_audio_text = true;
    config.optim.freeze_video_text = true;
    let e = config.validate().expect_err("nothing to train");
    assert!(e.contains("freeze_video_text"), "{e}");
}

/// `audio_learns`: video and text frozen; else audio and text frozen.
fn one_side_learns(audio_learns: bool) {
    for design in [Design::Fac, Design::Shared, Design::Disjoint] {
        let device = Device::flex().autodiff();
        device.seed(5);
        let mut config = tiny_config(design, VideoArch::Tsm);
        config.optim.freeze_audio_text = !audio_learns;
        config.optim.freeze_video_text = audio_learns;
        let words = tiny_words(&config);
        let data = tiny_data(&config, words.vocab.clone());
        let batch = data.batch(&[0, 1, 2, 3, 4, 5, 6, 7], 11, &device);
        let mut trainer = Trainer::new(Mmv::new(&config, words.table, &device), config);
        // Inference mode: BatchNorm's running statistics count too.
        let embed = |m: &Mmv| {
            let m = m.valid();
            let text = m.embed_text(batch.text.clone().inner());
            let [b, k, d] = text.dims();
            (
                m.embed_audio(batch.audio.clone().inner()).va,
                m.embed_video(batch.video.clone().inner()).va,
                text.reshape([b * k, d]),
            )
        };
        let (audio0, video0, text0) = embed(&trainer.model);
        let first = trainer.step(&batch);
        let mut last = first;
        for _ in 1..20 {
            last = trainer.step(&batch);
        }
        let (audio1, video1, text1) = embed(&trainer.model);
        let (frozen, learnt) = if audio_learns {
            ((video0, video1), (audio0, audio1))
        } else {
            ((audio0, audio1), (video0, video1))
        };
        assert_eq!(
            max_diff(frozen.0, frozen.1),
            0.0,
            "{design:?}: the frozen side moved"
        );
        assert_eq!(max_diff(text0, text1), 0.0, "{design:?}: text moved");
        assert!(
            max_diff(learnt.0, learnt.1) > 1e-3,
            "{design:?}: the other side did not learn"
        );
        assert!(
            last.loss < first.loss,
            "{design:?}: loss {:.3} -> {:.3}",
            first.loss,
            last.loss
        );
    }
}
