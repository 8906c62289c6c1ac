//! One line of a run's `metrics.jsonl`: what [`crate::run`] writes each step and
//! [`crate::plot`] draws.

use serde::{Deserialize, Serialize};

/// One line of `metrics.jsonl`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct MetricsLine {
    /// 0-based step.
    pub step: usize,
    pub lr: f64,
    pub loss: f64,
    pub nce_va: Option<f64>,
    pub mil_nce_vt: Option<f64>,
    /// MIL-NCE(a, t) when the config weighs it (absent in older runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mil_nce_at: Option<f64>,
    /// Seconds spent making the batch, and in the training step.
    pub data_s: f64,
    pub step_s: f64,
    /// Steps per second over this session so far.
    pub steps_per_s: f64,
}
