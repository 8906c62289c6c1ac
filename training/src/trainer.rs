//! One MMV training step: forward every modality, the weighted NCE + MIL-NCE loss, backward,
//! and an Adam update at the scheduled learning rate.

use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;

use crate::config::MmvConfig;
use crate::loss::{mil_nce, nce};
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
}

/// The weighted MMV loss of a batch, and its parts (as f64 for logging).
pub fn mmv_loss(
    model: &Mmv,
    batch: &Batch,
    config: &MmvConfig,
) -> (Tensor<1>, Option<f64>, Option<f64>) {
    let loss_cfg = &config.loss;
    let video = model.embed_video(batch.video.clone());
    let mut total: Option<Tensor<1>> = None;
    let mut add = |part: Tensor<1>, weight: f64| {
        let weighted = part.mul_scalar(weight);
        total = Some(match total.take() {
            Some(t) => t + weighted,
            None => weighted,
        });
    };
    let mut va = None;
    if loss_cfg.va_weight > 0.0 {
        let audio = model.embed_audio(batch.audio.clone());
        let part = nce(video.va, audio.va, loss_cfg.temperature);
        va = Some(part.clone().into_scalar::<f32>() as f64);
        add(part, loss_cfg.va_weight);
    }
    let mut vt = None;
    if loss_cfg.vt_weight > 0.0 {
        let text = model.embed_text(batch.text.clone());
        let part = mil_nce(video.vt, text, loss_cfg.temperature);
        vt = Some(part.clone().into_scalar::<f32>() as f64);
        add(part, loss_cfg.vt_weight);
    }
    (total.expect("validated: some loss weight > 0"), va, vt)
}

/// A model with its optimiser state and schedule.
pub struct Trainer {
    pub model: Mmv,
    pub config: MmvConfig,
    pub schedule: WarmupCosine,
    pub step: usize,
    optim: ModuleOptimizer,
}

impl Trainer {
    /// `model` must live on an autodiff device.
    pub fn new(model: Mmv, config: MmvConfig) -> Self {
        let o = &config.optim;
        let optim = AdamConfig::new().with_epsilon(o.adam_epsilon as f32).init();
        Self {
            schedule: WarmupCosine::new(o.learning_rate, o.warmup_steps, o.total_steps),
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
        let (loss, nce_va, mil_nce_vt) = mmv_loss(&self.model, batch, &self.config);
        let value = loss.clone().into_scalar::<f32>() as f64;
        let grads = GradientsParams::from_grads(loss.backward(), &self.model);
        self.model = self.optim.step(lr, self.model.clone(), grads);
        let stats = StepStats {
            step: self.step,
            lr,
            loss: value,
            nce_va,
            mil_nce_vt,
        };
        self.step += 1;
        stats
    }
}
