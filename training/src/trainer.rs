//! One MMV training step: forward every modality, the weighted NCE + MIL-NCE loss, backward,
//! and an Adam update at the scheduled learning rate.

use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;

use crate::config::MmvConfig;
use crate::loss::{mil_nce_masked, nce};
use crate::model::heads::{AudioSpaces, Heads, VideoSpaces};
use crate::model::{Batch, Mmv};
use crate::schedule::WarmupCosine;

/// What one step measured.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct StepStats {
    pub step: usize,
    pub lr: f64,
    pub loss: f64,
    /// NCE(v, a), before weighting; None when its weight is 0.
    pub nce_va: Option<f64>,
    /// MIL-NCE(v, t), before weighting; None when its weight is 0.
    pub mil_nce_vt: Option<f64>,
    /// MIL-NCE(a, t), before weighting; None when its weight is 0.
    pub mil_nce_at: Option<f64>,
}

/// The parts of the MMV loss, before weighting (for logging).
#[derive(Clone, Copy, Debug, Default)]
pub struct LossParts {
    pub nce_va: Option<f64>,
    pub mil_nce_vt: Option<f64>,
    pub mil_nce_at: Option<f64>,
}

/// The weighted MMV loss of a batch, and its parts (as f64 for logging).
///
/// Clips whose narrations are all padding (empty clips) are no MIL-NCE anchors but stay
/// negatives. With `at_weight > 0`, the clip's audio meets its own narrations too, through
/// FAC's shared va -> vat map; video and audio pass it separately, so its BatchNorm normalises
/// each with its own batch statistics (the exporter re-estimates per-modality statistics).
pub fn mmv_loss(model: &Mmv, batch: &Batch, config: &MmvConfig) -> (Tensor<1>, LossParts) {
    let loss_cfg = &config.loss;
    let needs_audio = loss_cfg.va_weight > 0.0 || loss_cfg.at_weight > 0.0;
    let o = &config.optim;
    let video = model.embed_video(batch.video.clone());
    // A frozen side: no gradient flows into it (and none is computed there).
    let video = if o.freeze_video_text {
        VideoSpaces {
            va: video.va.detach(),
            vt: video.vt.detach(),
        }
    } else {
        video
    };
    let frozen_text = o.freeze_audio_text || o.freeze_video_text;
    let audio = needs_audio.then(|| {
        let a = model.embed_audio(batch.audio.clone());
        if o.freeze_audio_text {
            AudioSpaces {
                va: a.va.detach(),
                vt: a.vt.map(Tensor::detach),
            }
        } else {
            a
        }
    });
    let mut total: Option<Tensor<1>> = None;
    let mut add = |part: Tensor<1>, weight: f64| -> Option<f64> {
        let value = part.clone().into_scalar::<f32>() as f64;
        let weighted = part.mul_scalar(weight);
        total = Some(match total.take() {
            Some(t) => t + weighted,
            None => weighted,
        });
        Some(value)
    };
    let mut parts = LossParts::default();
    let text_needed = loss_cfg.vt_weight > 0.0 || loss_cfg.at_weight > 0.0;
    let (text, has_text) = if text_needed {
        let [b, k, w] = batch.text.dims();
        let has = batch
            .text
            .clone()
            .greater_elem(0)
            .int()
            .reshape([b, k * w])
            .sum_dim(1)
            .greater_elem(0)
            .float()
            .reshape([b]);
        let text = model.embed_text(batch.text.clone());
        (
            Some(if frozen_text { text.detach() } else { text }),
            Some(has),
        )
    } else {
        (None, None)
    };
    if let Some(audio) = &audio
        && loss_cfg.va_weight > 0.0
    {
        let part = nce(video.va.clone(), audio.va.clone(), loss_cfg.temperature);
        parts.nce_va = add(part, loss_cfg.va_weight);
    }
    if let (Some(text), true) = (&text, loss_cfg.vt_weight > 0.0) {
        let part = mil_nce_masked(
            video.vt.clone(),
            text.clone(),
            loss_cfg.temperature,
            has_text.clone(),
        );
        parts.mil_nce_vt = add(part, loss_cfg.vt_weight);
    }
    if let (Some(text), Some(audio), true) = (&text, &audio, loss_cfg.at_weight > 0.0) {
        let a_vt = audio
            .vt
            .clone()
            .expect("validated: at_weight needs an audio-text space");
        let part = mil_nce_masked(a_vt, text.clone(), loss_cfg.temperature, has_text);
        parts.mil_nce_at = add(part, loss_cfg.at_weight);
    }
    (total.expect("validated: some loss weight > 0"), parts)
}

/// A model with its optimiser state and schedule.
pub struct Trainer {
    pub model: Mmv,
    pub config: MmvConfig,
    pub schedule: WarmupCosine,
    pub step: usize,
    optim: ModuleOptimizer,
    /// With `optim.freeze_audio_text` (or `freeze_video_text`): the initial model in inference
    /// form (its own copy of every weight and BatchNorm statistic: clones of a module share
    /// their running statistics), whose frozen parts are put back after every step.
    frozen: Option<(Mmv, Frozen)>,
}

impl Trainer {
    /// `model` must live on an autodiff device.
    pub fn new(model: Mmv, config: MmvConfig) -> Self {
        let o = &config.optim;
        let optim = AdamConfig::new().with_epsilon(o.adam_epsilon as f32).init();
        Self {
            schedule: WarmupCosine::new(o.learning_rate, o.warmup_steps, o.total_steps),
            frozen: match (o.freeze_audio_text, o.freeze_video_text) {
                (true, _) => Some((model.valid(), Frozen::AudioText)),
                (_, true) => Some((model.valid(), Frozen::VideoText)),
                _ => None,
            },
            model,
            config,
            step: 0,
            optim,
        }
    }

    /// Writes the optimiser state (Adam's moments) to a burnpack file, for resuming.
    pub fn save_optimizer(&self, path: &std::path::Path) -> Result<(), String> {
        self.optim.save(path).map_err(|e| e.to_string())
    }

    /// Reads optimiser state written by [`save_optimizer`](Self::save_optimizer). Its entries
    /// are keyed by parameter id, so the model must carry the ids it had when saved (see
    /// `checkpoint::with_stable_param_ids`).
    pub fn load_optimizer(&mut self, path: &std::path::Path) -> Result<(), String> {
        if !path.is_file() {
            return Err("no such file".into());
        }
        let optim = std::mem::replace(&mut self.optim, AdamConfig::new().init());
        self.optim = optim.load(path).map_err(|e| e.to_string())?;
        Ok(())
    }

    /// One optimisation step on `batch` (which must live on the model's device).
    pub fn step(&mut self, batch: &Batch) -> StepStats {
        let lr = self.schedule.lr(self.step);
        let (loss, parts) = mmv_loss(&self.model, batch, &self.config);
        let value = loss.clone().into_scalar::<f32>() as f64;
        let grads = GradientsParams::from_grads(loss.backward(), &self.model);
        self.model = self.optim.step(lr, self.model.clone(), grads);
        if let Some((frozen, which)) = &self.frozen {
            self.model = restore(self.model.clone(), frozen, *which);
        }
        let stats = StepStats {
            step: self.step,
            lr,
            loss: value,
            nce_va: parts.nce_va,
            mil_nce_vt: parts.mil_nce_vt,
            mil_nce_at: parts.mil_nce_at,
        };
        self.step += 1;
        stats
    }
}

/// Which side a warm restart keeps as it was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Frozen {
    AudioText,
    VideoText,
}

/// `model` with the frozen side of `frozen`: the text network and head, FAC's va -> vat map
/// (on both video's and audio's way to text), and the audio or the video network and head.
fn restore(mut model: Mmv, frozen: &Mmv, which: Frozen) -> Mmv {
    // `train()` makes fresh training-mode copies (new BatchNorm statistics that this model's
    // forward passes may move without moving `frozen`'s), with the parameters' ids kept.
    fn fresh<M: Module + Clone>(m: &M) -> M {
        m.clone().train()
    }
    let audio = which == Frozen::AudioText;
    if audio {
        model.audio = fresh(&frozen.audio);
    } else {
        model.video = fresh(&frozen.video);
    }
    model.text = fresh(&frozen.text);
    model.heads = match (model.heads, &frozen.heads) {
        (Heads::Fac(mut h), Heads::Fac(f)) => {
            if audio {
                h.audio_va = fresh(&f.audio_va);
            } else {
                h.video_va = fresh(&f.video_va);
            }
            h.va_to_vat = fresh(&f.va_to_vat);
            h.text_vat = fresh(&f.text_vat);
            Heads::Fac(h)
        }
        (Heads::Shared(mut h), Heads::Shared(f)) => {
            if audio {
                h.audio = fresh(&f.audio);
            } else {
                h.video = fresh(&f.video);
            }
            h.text = fresh(&f.text);
            Heads::Shared(h)
        }
        (Heads::Disjoint(mut h), Heads::Disjoint(f)) => {
            if audio {
                h.audio_va = fresh(&f.audio_va);
            } else {
                h.video_va = fresh(&f.video_va);
                h.video_vt = fresh(&f.video_vt);
            }
            h.text_vt = fresh(&f.text_vt);
            Heads::Disjoint(h)
        }
        (heads, _) => heads,
    };
    model
}
