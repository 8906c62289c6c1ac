//! int8 calibration: runs the fp32 graph with every quantisation point exposed as an output on
//! training samples, and turns each point's largest magnitude into a symmetric int8 scale.

use std::collections::BTreeMap;

use mmv_runtime::bundle::manifest::{DType, EncoderKind, TensorSpec};
use tract_onnx::prelude::*;

use super::onnx::{Graph, int8_scale};
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
    let fail = |problem: String| ExportError::Calibration {
        kind: kind.name(),
        problem,
    };
    let keys: Vec<String> = g.taps().iter().map(|(k, _)| k.clone()).collect();
    let first_tap = embeddings;
    let bytes = g.into_bytes("mmv-edge calibration");
    let mut model = tract_onnx::onnx()
        .model_for_read(&mut bytes.as_slice())
        .map_err(|e| fail(format!("{e:#}")))?;
    let fact = match input.dtype {
        DType::I64 => i64::fact(&input.shape),
        _ => f32::fact(&input.shape),
    };
    model = model
        .with_input_fact(0, fact.into())
        .map_err(|e| fail(format!("{e:#}")))?;
    let plan = model
        .into_optimized()
        .and_then(|m| m.into_runnable())
        .map_err(|e| fail(format!("{e:#}")))?;
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
        return Err(fail("no calibration samples of the right size".into()));
    }
    let mut max_abs = vec![0.0f32; keys.len()];
    for x in inputs {
        let outputs = plan
            .run(tvec!(x.into_tvalue()))
            .map_err(|e| fail(format!("{e:#}")))?;
        for (i, m) in max_abs.iter_mut().enumerate() {
            let view = outputs[first_tap + i]
                .to_plain_array_view::<f32>()
                .map_err(|e| fail(format!("{e:#}")))?;
            *m = view.iter().fold(*m, |acc, v| acc.max(v.abs()));
        }
    }
    Ok(keys
        .into_iter()
        .zip(max_abs)
        .map(|(k, m)| (k, int8_scale(m)))
        .collect())
}

fn float_inputs(samples: &[Vec<f32>], shape: &[usize]) -> Vec<Tensor> {
    samples
        .iter()
        .filter_map(|s| Tensor::from_shape(shape, s).ok())
        .collect()
}
