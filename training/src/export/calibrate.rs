//! int8 calibration: runs the fp32 graph with every quantisation point exposed as an output on
//! training samples, and turns each point's 99.99th-percentile magnitude into a symmetric int8
//! scale; then chooses which activations and weights to quantise by how far each (alone, and
//! with the others) moves the embeddings from fp32 ([`drop_sensitive_points`]).

use std::collections::BTreeMap;
use std::ops::Range;

use mmv_runtime::bundle::manifest::{DType, EncoderKind, TensorSpec};
use mmv_runtime::vector::dot;
use tract_onnx::prelude::*;

use super::onnx::{Graph, Int8Plan, Mode, int8_scale};
use super::{CalibrationSet, ExportError};

/// Per-key activation scales for `g` (built in `Mode::Calibrate`), whose first `embeddings`
/// outputs are the embeddings and the rest the taps.
pub fn activation_scales(
    g: Graph,
    input: &TensorSpec,
    embeddings: usize,
    kind: EncoderKind,
    set: &CalibrationSet,
) -> Result<BTreeMap<String, f32>, ExportError> {
    let keys: Vec<String> = g.taps().iter().map(|(k, _)| k.clone()).collect();
    let plan = runnable(g, input, kind)?;
    let inputs = samples(input, kind, set)?;
    // Two passes: the largest magnitude of each point, then a histogram of magnitudes under
    // it, from which the scale covers all but the rarest (1 - CALIBRATION_QUANTILE) of values.
    let taps = |x: &Tensor| run_outputs(&plan, x, embeddings..embeddings + keys.len(), kind);
    let mut max_abs = vec![0.0f32; keys.len()];
    for x in &inputs {
        for (m, values) in max_abs.iter_mut().zip(taps(x)?) {
            *m = values.iter().fold(*m, |acc, &v| acc.max(v.abs()));
        }
    }
    let mut histograms = vec![vec![0u64; BINS]; keys.len()];
    for x in &inputs {
        for ((h, values), &m) in histograms.iter_mut().zip(taps(x)?).zip(&max_abs) {
            for v in values {
                let bin = ((v.abs() / m.max(f32::MIN_POSITIVE)) * BINS as f32) as usize;
                h[bin.min(BINS - 1)] += 1;
            }
        }
    }
    Ok(keys
        .into_iter()
        .zip(histograms.iter().zip(&max_abs))
        .map(|(k, (h, &m))| (k, int8_scale(quantile_bound(h, m, CALIBRATION_QUANTILE))))
        .collect())
}

/// The share of each quantisation point's magnitudes its int8 range covers. Measured on the
/// released S3D-G bundle (`compare-precisions --other int8`, 1000 clips / 1000 images / 300
/// takes): the largest magnitude (1.0) let rare outliers set a coarse step (clip answers the
/// same as fp32: 982 of 1000, images 944, audio 268); 0.9999 gave 995 / 971 / 281; 0.999
/// clipped too much (min cosine to fp32 0.82 on clips against 0.98).
pub const CALIBRATION_QUANTILE: f64 = 0.9999;
/// Histogram bins between 0 and the largest magnitude.
const BINS: usize = 4096;

/// The upper edge of the first bin of `histogram` (equal bins over [0, max]) at which the
/// cumulative count reaches `quantile` of all values.
fn quantile_bound(histogram: &[u64], max: f32, quantile: f64) -> f32 {
    let total: u64 = histogram.iter().sum();
    let wanted = (quantile * total as f64).ceil() as u64;
    let mut seen = 0;
    for (i, &count) in histogram.iter().enumerate() {
        seen += count;
        if seen >= wanted {
            return max * (i + 1) as f32 / histogram.len() as f32;
        }
    }
    max
}

/// A tract error while calibrating `kind`'s encoder.
fn fail(kind: EncoderKind) -> impl Fn(anyhow::Error) -> ExportError {
    move |e| ExportError::Calibration {
        kind: kind.name(),
        problem: format!("{e:#}"),
    }
}

/// The optimised tract plan of `g` with its input fixed to `input`.
fn runnable(
    g: Graph,
    input: &TensorSpec,
    kind: EncoderKind,
) -> Result<Arc<TypedRunnableModel>, ExportError> {
    let bytes = g.into_bytes("mmv-edge calibration");
    let fact = match input.dtype {
        DType::I64 => i64::fact(&input.shape),
        _ => f32::fact(&input.shape),
    };
    tract_onnx::onnx()
        .model_for_read(&mut bytes.as_slice())
        .and_then(|m| m.with_input_fact(0, fact.into()))
        .and_then(|m| m.into_optimized())
        .and_then(|m| m.into_runnable())
        .map_err(fail(kind))
}

/// The calibration samples of `kind` as input tensors.
fn samples(
    input: &TensorSpec,
    kind: EncoderKind,
    set: &CalibrationSet,
) -> Result<Vec<Tensor>, ExportError> {
    let inputs: Vec<Tensor> = match kind {
        EncoderKind::Clip => float_inputs(&set.clips, &input.shape),
        EncoderKind::Image => float_inputs(&set.images, &input.shape),
        EncoderKind::Audio => float_inputs(&set.logmels, &input.shape),
        EncoderKind::Text => set
            .texts
            .iter()
            .filter_map(|ids| Tensor::from_shape(&input.shape, ids).ok())
            .collect(),
    };
    if inputs.is_empty() {
        return Err(ExportError::Calibration {
            kind: kind.name(),
            problem: "no calibration samples of the right size".into(),
        });
    }
    Ok(inputs)
}

/// Outputs `which` of one run of `plan` on `x`, as flat f32 vectors.
fn run_outputs(
    plan: &Arc<TypedRunnableModel>,
    x: &Tensor,
    which: Range<usize>,
    kind: EncoderKind,
) -> Result<Vec<Vec<f32>>, ExportError> {
    let outputs = plan
        .run(tvec!(x.clone().into_tvalue()))
        .map_err(fail(kind))?;
    which
        .map(|i| {
            Ok(outputs[i]
                .to_plain_array_view::<f32>()
                .map_err(fail(kind))?
                .iter()
                .copied()
                .collect())
        })
        .collect()
}

/// The lowest mean cosine to fp32 (over the sensitivity samples, for each embedding) that
/// quantising one point alone may cause; a point below it stays in float. On the released
/// TSM bundle the first residual block's input alone took the clip embeddings to 0.943 and the
/// image embeddings to 0.963 (the stem's output: a near-constant background with the digit's
/// values far above it), and one projection input of the image network to 0.981; every other
/// point of both bundles stayed above 0.99. On 3.0.0 the audio stem's weights alone took the
/// audio embeddings to 0.90: the log-mel input sits on a large constant (silence is ln 1e-6 =
/// -13.8), and the stem's filters had learned to cancel it, which their int8 rounding undoes.
pub const MIN_SOLO_COSINE: f64 = 0.99;

/// The lowest mean cosine to fp32 that all the kept points quantised together may cause:
/// errors that each stay small add up through the residual blocks.
pub const MIN_TOTAL_COSINE: f64 = 0.99;

/// Samples the sensitivity pass runs (of the calibration set): one tract run per point each.
const SENSITIVITY_SAMPLES: usize = 16;

/// One thing an int8 graph may quantise.
#[derive(Clone, Debug, PartialEq)]
pub enum Point {
    /// An activation entering a Conv or MatMul, with its calibrated scale.
    Activation(String, f32),
    /// A weight, by its hint.
    Weight(String),
}

impl std::fmt::Display for Point {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Point::Activation(k, _) => write!(f, "activation {k}"),
            Point::Weight(k) => write!(f, "weight {k}"),
        }
    }
}

impl Point {
    fn add_to(&self, plan: &mut Int8Plan) {
        match self {
            Point::Activation(k, s) => {
                plan.activations.insert(k.clone(), *s);
            }
            Point::Weight(k) => {
                plan.weights.insert(k.clone());
            }
        }
    }
}

/// Why a point stays float.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Sensitivity {
    /// Quantised alone, the embeddings fell to this mean cosine.
    Alone(f64),
    /// Added to the points kept before it, the embeddings fell to this mean cosine.
    WithOthers(f64),
}

impl std::fmt::Display for Sensitivity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Sensitivity::Alone(c) => write!(f, "int8 alone: mean cosine {c:.4}"),
            Sensitivity::WithOthers(c) => {
                write!(f, "int8 with the points kept before it: mean cosine {c:.4}")
            }
        }
    }
}

/// Mixed precision by sensitivity, over activations and weights alike. First each point alone
/// (everything else in float): a point whose embeddings fall below a mean cosine of
/// [`MIN_SOLO_COSINE`] to fp32 stays float. Then the others together, least sensitive first: a
/// point that takes the combination below [`MIN_TOTAL_COSINE`] stays float too. `build` makes
/// the encoder's graph in a given mode; `report` hears of each point left in float.
pub fn drop_sensitive_points(
    build: impl Fn(Mode) -> (Graph, TensorSpec, usize),
    kind: EncoderKind,
    set: &CalibrationSet,
    points: Vec<Point>,
    mut report: impl FnMut(&Point, Sensitivity),
) -> Result<Int8Plan, ExportError> {
    let (g, input, embeddings) = build(Mode::Fp32);
    let mut inputs = samples(&input, kind, set)?;
    inputs.truncate(SENSITIVITY_SAMPLES);
    let embed_all = |g: Graph| -> Result<Vec<Vec<Vec<f32>>>, ExportError> {
        let plan = runnable(g, &input, kind)?;
        inputs
            .iter()
            .map(|x| run_outputs(&plan, x, 0..embeddings, kind))
            .collect()
    };
    let reference = embed_all(g)?;
    // The embeddings are L2-normalised in the graph, so a dot product is their cosine; the
    // worst embedding's mean over the samples.
    let cosine = |plan: &Int8Plan| -> Result<f64, ExportError> {
        let (g, _, _) = build(Mode::Int8(plan.clone()));
        let got = embed_all(g)?;
        Ok((0..embeddings)
            .map(|e| {
                let sum: f64 = reference
                    .iter()
                    .zip(&got)
                    .map(|(r, q)| f64::from(dot(&r[e], &q[e])))
                    .sum();
                sum / reference.len() as f64
            })
            .fold(f64::INFINITY, f64::min))
    };
    let mut alone = Vec::new();
    for point in points {
        let mut plan = Int8Plan::default();
        point.add_to(&mut plan);
        let c = cosine(&plan)?;
        if c >= MIN_SOLO_COSINE {
            alone.push((point, c));
        } else {
            report(&point, Sensitivity::Alone(c));
        }
    }
    alone.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut kept = Int8Plan::default();
    for (point, _) in alone {
        let mut with = kept.clone();
        point.add_to(&mut with);
        let c = cosine(&with)?;
        if c >= MIN_TOTAL_COSINE {
            kept = with;
        } else {
            report(&point, Sensitivity::WithOthers(c));
        }
    }
    Ok(kept)
}

fn float_inputs(samples: &[Vec<f32>], shape: &[usize]) -> Vec<Tensor> {
    samples
        .iter()
        .filter_map(|s| Tensor::from_shape(shape, s).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::quantile_bound;

    #[test]
    fn the_quantile_bound_ignores_rare_outliers_but_not_the_bulk() {
        // 9999 values in the first tenth of the range, one outlier at the top.
        let mut h = vec![0u64; 100];
        h[9] = 9999;
        h[99] = 1;
        assert_eq!(quantile_bound(&h, 50.0, 0.9999), 5.0);
        assert_eq!(quantile_bound(&h, 50.0, 1.0), 50.0);
        // Spread evenly, the 99.99th percentile is the top bin.
        let even = vec![100u64; 100];
        assert_eq!(quantile_bound(&even, 2.0, 0.9999), 2.0);
        assert_eq!(quantile_bound(&[0; 4], 3.0, 0.9999), 0.75);
    }
}
