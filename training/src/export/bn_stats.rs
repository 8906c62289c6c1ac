//! Per-modality BatchNorm statistics for FAC's shared va -> vat map.
//!
//! The map is one module for video and audio, but the two reach it with different statistics.
//! In the paper's loss only video passes it, so at inference audio would be normalised with
//! video's statistics; with the audio-text pair, both pass it and its running statistics
//! become a blend of the two. Either way the exported graphs would normalise at least one
//! modality with statistics that are not its own. The exporter re-estimates them instead, on
//! train-split inputs (no labels): the mean and variance of the map's linear output over the
//! video clips, and over the audio windows, each used in that modality's graphs (the learned
//! scale and shift stay shared). This is the label-free BatchNorm recalibration the paper
//! applies to deflated networks, here applied per modality.

use burn::module::RunningState;
use burn::prelude::*;
use burn::tensor::activation::relu;

use crate::model::Mmv;
use crate::model::heads::Heads;

/// Mean and (biased) variance per channel of FAC's va -> vat linear output, for `clips`
/// ([C, T, H, W] each) and `logmels` ([frames, mels] each); None for the other designs.
pub fn fac_map_statistics(
    model: &Mmv,
    clips: &[Vec<f32>],
    clip_shape: [usize; 4],
    logmels: &[Vec<f32>],
    logmel_shape: [usize; 2],
) -> Option<(Stats, Stats)> {
    let Heads::Fac(h) = &model.heads else {
        return None;
    };
    let device = h.va_to_vat.map.bn.running_mean.value().device();
    let chunk = 16;
    let mut video_out = Vec::new();
    for batch in clips.chunks(chunk) {
        let flat: Vec<f32> = batch.iter().flatten().copied().collect();
        let [c, t, hh, w] = clip_shape;
        let x = Tensor::<5>::from_data(TensorData::new(flat, [batch.len(), c, t, hh, w]), &device);
        let va = h.video_va.forward(model.video.forward(x));
        video_out.push(h.va_to_vat.map.linear.forward(relu(va)));
    }
    let mut audio_out = Vec::new();
    for batch in logmels.chunks(chunk) {
        let flat: Vec<f32> = batch.iter().flatten().copied().collect();
        let [f, m] = logmel_shape;
        let x = Tensor::<4>::from_data(TensorData::new(flat, [batch.len(), 1, f, m]), &device);
        let va = h.audio_va.forward(model.audio.forward(x));
        audio_out.push(h.va_to_vat.map.linear.forward(relu(va)));
    }
    if video_out.is_empty() || audio_out.is_empty() {
        return None;
    }
    Some((
        Stats::of(Tensor::cat(video_out, 0)),
        Stats::of(Tensor::cat(audio_out, 0)),
    ))
}

/// One modality's per-channel statistics.
#[derive(Clone, Debug, PartialEq)]
pub struct Stats {
    pub mean: Vec<f32>,
    pub var: Vec<f32>,
}

impl Stats {
    fn of(y: Tensor<2>) -> Self {
        let [_, d] = y.dims();
        let (var, mean) = y.var_mean_bias(0);
        let v = |t: Tensor<2>| -> Vec<f32> { super::graphs::values(t.reshape([d])) };
        Self {
            mean: v(mean),
            var: v(var),
        }
    }
}

/// A copy of `model` whose FAC va -> vat BatchNorm uses `stats` as its running statistics.
pub fn with_map_statistics(model: &Mmv, stats: &Stats) -> Mmv {
    let mut m = model.clone();
    if let Heads::Fac(h) = &mut m.heads {
        let bn = &mut h.va_to_vat.map.bn;
        let device = bn.running_mean.value().device();
        let d = stats.mean.len();
        bn.running_mean = RunningState::new(Tensor::from_data(
            TensorData::new(stats.mean.clone(), [d]),
            &device,
        ));
        bn.running_var = RunningState::new(Tensor::from_data(
            TensorData::new(stats.var.clone(), [d]),
            &device,
        ));
    }
    m
}
