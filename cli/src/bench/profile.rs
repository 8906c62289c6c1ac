//! Where an encoder's time goes inside tract: each node of the optimised plan timed on its own
//! over several runs, summed by op type, with the shapes of the costliest nodes. This is what
//! `tract --profile` prints, built here on tract-core's public evaluation hook so that it needs
//! no extra crate and runs the plan exactly as the runtime does (same facts, the same
//! [`optimize`](mmv_runtime::bundle::session::optimize), the same thread pool).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tract_onnx::prelude::*;
use tract_onnx::tract_core::plan::{SimpleState, eval};
use tract_onnx::tract_core::runtime::RunOptions;
use tract_onnx::tract_core::tract_linalg::multithread::Executor;

use super::{BenchError, EncoderInput};
use mmv_runtime::bundle::manifest::EncoderFile;

/// Time spent in one op type (or one node), per inference.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpTime {
    /// Op type (`Conv`, `OptMatMul`, ...), or for a node: its name and op.
    pub name: String,
    pub nodes: usize,
    /// Mean milliseconds per inference.
    pub ms: f64,
    /// Share of the summed node times.
    pub share: f64,
}

/// A per-node profile of one encoder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub file: String,
    pub threads: usize,
    pub runs: usize,
    /// Summed node time per inference, in ms (excludes tract's bookkeeping between nodes).
    pub nodes_ms: f64,
    /// Wall time per profiled inference, in ms.
    pub wall_ms: f64,
    pub by_op: Vec<OpTime>,
    /// The costliest nodes, with their output shapes.
    pub top_nodes: Vec<OpTime>,
}

/// Profiles `spec` from bundle `dir` on `input`, `runs` times after one warm-up.
pub fn profile(
    dir: &Path,
    spec: &EncoderFile,
    input: &EncoderInput,
    threads: usize,
    runs: usize,
) -> Result<Profile, BenchError> {
    let path = dir.join(&spec.file);
    let fail = |e: TractError| BenchError::Invalid(format!("profiling {}: {e:#}", path.display()));
    let model = mmv_runtime::bundle::session::read_model(&path, spec).map_err(fail)?;
    let plan = mmv_runtime::bundle::session::optimize(model)
        .map_err(fail)?
        .into_runnable_with_options(&RunOptions {
            executor: (threads > 1).then(|| Executor::multithread(threads)),
            ..RunOptions::default()
        })
        .map_err(fail)?;
    let shape = &spec.inputs[0].shape;
    let tensor = match input {
        EncoderInput::Floats(x) => match spec.inputs[0].dtype {
            mmv_runtime::bundle::manifest::DType::F16 => {
                let h: Vec<f16> = x.iter().map(|&v| f16::from_f32(v)).collect();
                Tensor::from_shape(shape, &h)
            }
            _ => Tensor::from_shape(shape, x),
        },
        EncoderInput::Ids(x) => Tensor::from_shape(shape, x),
    }
    .map_err(fail)?;

    let mut per_node: BTreeMap<usize, f64> = BTreeMap::new();
    let mut state = SimpleState::new(&plan).map_err(fail)?;
    let mut wall = 0.0;
    for run in 0..=runs {
        let t = Instant::now();
        let mut times: Vec<(usize, f64)> = Vec::new();
        state
            .run_plan_with_eval(
                tvec!(tensor.clone().into_tvalue()),
                |ctx, op_state, node, inputs| {
                    let t = Instant::now();
                    let out = eval(ctx, op_state, node, inputs);
                    times.push((node.id, t.elapsed().as_secs_f64() * 1e3));
                    out
                },
            )
            .map_err(fail)?;
        // Run 0 is the warm-up.
        if run > 0 {
            wall += t.elapsed().as_secs_f64() * 1e3;
            for (id, ms) in times {
                *per_node.entry(id).or_default() += ms;
            }
        }
    }
    let runs_f = runs.max(1) as f64;
    let graph = plan.model();
    let nodes_ms: f64 = per_node.values().sum::<f64>() / runs_f;
    let share = |ms: f64| if nodes_ms > 0.0 { ms / nodes_ms } else { 0.0 };
    let mut by_op: BTreeMap<String, (usize, f64)> = BTreeMap::new();
    let mut top_nodes = Vec::new();
    for (&id, &total) in &per_node {
        let node = &graph.nodes()[id];
        let op = node.op().name().to_string();
        let e = by_op.entry(op.clone()).or_default();
        e.0 += 1;
        e.1 += total / runs_f;
        let shapes: Vec<String> = node
            .outputs
            .iter()
            .map(|o| format!("{:?}", o.fact.shape))
            .collect();
        top_nodes.push(OpTime {
            name: format!("{} ({op}) -> {}", node.name, shapes.join(", ")),
            nodes: 1,
            ms: total / runs_f,
            share: share(total / runs_f),
        });
    }
    let mut by_op: Vec<OpTime> = by_op
        .into_iter()
        .map(|(name, (nodes, ms))| OpTime {
            name,
            nodes,
            ms,
            share: share(ms),
        })
        .collect();
    by_op.sort_by(|a, b| b.ms.total_cmp(&a.ms));
    top_nodes.sort_by(|a, b| b.ms.total_cmp(&a.ms));
    top_nodes.truncate(10);
    Ok(Profile {
        file: spec.file.clone(),
        threads,
        runs,
        nodes_ms,
        wall_ms: wall / runs_f,
        by_op,
        top_nodes,
    })
}
