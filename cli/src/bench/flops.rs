//! Floating-point operations of one inference of an ONNX graph, counted from its protobuf
//! nodes with every tensor's shape taken from tract's shape inference on the same file.
//!
//! Conventions (those of most papers and profilers):
//! - a multiply-add is 2 FLOPs: Conv is `2 * output elements * (C_in / groups) * kernel
//!   volume`, plus one per output element for a bias; MatMul `2 * M * K * N` per batch; Gemm
//!   likewise plus `M * N` for C. Quantised forms (ConvInteger, QLinearConv, MatMulInteger,
//!   QLinearMatMul) count as their float forms, since they do the same arithmetic;
//! - element-wise arithmetic (Add, Mul, Relu, Sigmoid, ...) is 1 FLOP per output element,
//!   BatchNormalization 2 (scale and shift), pooling one per window element per output,
//!   global pools and reductions one per input element, LpNormalization 3 per element;
//! - data movement and format changes (Reshape, Transpose, Concat, Slice, Gather, Cast,
//!   QuantizeLinear, DequantizeLinear, ...) are 0: they cost time, but are not the model's
//!   arithmetic.
//!
//! So the achieved GFLOP/s of an encoder (FLOPs / latency) is comparable across runtimes and
//! precisions of the same graph: a QDQ int8 graph does the same model arithmetic as fp32.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use tract_onnx::pb;
use tract_onnx::prelude::*;

/// Errors counting a graph's FLOPs.
#[derive(Debug, thiserror::Error)]
pub enum FlopsError {
    #[error("counting FLOPs of {file}: {problem}")]
    Model { file: String, problem: String },
}

/// FLOPs of the nodes of one op type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpFlops {
    pub op_type: String,
    pub nodes: usize,
    pub flops: u64,
}

/// FLOPs of one inference of a graph.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GraphFlops {
    pub total: u64,
    /// Conv, MatMul and Gemm (and their quantised forms): the multiply-adds.
    pub linear: u64,
    /// Per op type, largest first.
    pub by_op: Vec<OpFlops>,
    /// Nodes whose shapes tract could not infer, so counted as 0 (empty when exact).
    pub unknown: Vec<String>,
}

/// Counts the FLOPs of the ONNX file at `path`, with its inputs fixed to `inputs` (datum type
/// and shape, in graph input order; None keeps the shapes the file declares).
pub fn count_file(
    path: &Path,
    inputs: Option<&[(DatumType, Vec<usize>)]>,
) -> Result<GraphFlops, FlopsError> {
    let file = path.display().to_string();
    let proto = tract_onnx::onnx()
        .proto_model_for_path(path)
        .map_err(|e| FlopsError::Model {
            file: file.clone(),
            problem: format!("{e:#}"),
        })?;
    let dir = path.parent().and_then(|p| p.to_str());
    count_proto(&proto, dir, inputs).map_err(|problem| FlopsError::Model { file, problem })
}

/// Counts the FLOPs of a parsed model (see [`count_file`]); `dir` holds external data, if any.
pub fn count_proto(
    proto: &pb::ModelProto,
    dir: Option<&str>,
    inputs: Option<&[(DatumType, Vec<usize>)]>,
) -> Result<GraphFlops, String> {
    let err = |e: TractError| format!("{e:#}");
    let parsed = tract_onnx::onnx().parse(proto, dir).map_err(err)?;
    let mut model = parsed.model;
    if let Some(inputs) = inputs {
        for (i, (dt, shape)) in inputs.iter().enumerate() {
            model
                .set_input_fact(i, InferenceFact::dt_shape(*dt, shape))
                .map_err(err)?;
        }
    }
    model.analyse(false).map_err(err)?;
    let graph = proto
        .graph
        .as_ref()
        .ok_or_else(|| "the model has no graph".to_string())?;
    let shape = |name: &str| -> Option<Vec<usize>> {
        let outlet = parsed.outlets_by_name.get(name)?;
        let fact = model.outlet_fact(*outlet).ok()?;
        fact.shape
            .as_concrete_finite()
            .ok()
            .flatten()
            .map(|s| s.to_vec())
    };

    let mut by_op: BTreeMap<String, (usize, u64)> = BTreeMap::new();
    let mut result = GraphFlops::default();
    for node in &graph.node {
        let ins: Vec<Option<Vec<usize>>> = node
            .input
            .iter()
            .map(|n| (!n.is_empty()).then(|| shape(n)).flatten())
            .collect();
        let out = node.output.first().and_then(|n| shape(n));
        let flops = match node_flops(node, &ins, out.as_deref()) {
            Some(f) => f,
            None => {
                result
                    .unknown
                    .push(format!("{} ({})", node.name, node.op_type));
                0
            }
        };
        let entry = by_op.entry(node.op_type.clone()).or_default();
        entry.0 += 1;
        entry.1 += flops;
        result.total += flops;
        if LINEAR.contains(&node.op_type.as_str()) {
            result.linear += flops;
        }
    }
    result.by_op = by_op
        .into_iter()
        .map(|(op_type, (nodes, flops))| OpFlops {
            op_type,
            nodes,
            flops,
        })
        .collect();
    result
        .by_op
        .sort_by(|a, b| b.flops.cmp(&a.flops).then(a.op_type.cmp(&b.op_type)));
    Ok(result)
}

const LINEAR: [&str; 7] = [
    "Conv",
    "ConvInteger",
    "QLinearConv",
    "MatMul",
    "MatMulInteger",
    "QLinearMatMul",
    "Gemm",
];

const ELEMENTWISE: [&str; 21] = [
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Relu",
    "LeakyRelu",
    "PRelu",
    "Max",
    "Min",
    "Sqrt",
    "Neg",
    "Abs",
    "Exp",
    "Log",
    "Sigmoid",
    "HardSigmoid",
    "Tanh",
    "Clip",
    "Pow",
    "Erf",
    "Reciprocal",
];

const REDUCTIONS: [&str; 8] = [
    "GlobalAveragePool",
    "GlobalMaxPool",
    "ReduceMean",
    "ReduceSum",
    "ReduceMax",
    "ReduceMin",
    "ReduceL2",
    "ReduceSumSquare",
];

fn attr<'a>(node: &'a pb::NodeProto, name: &str) -> Option<&'a pb::AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

fn volume(shape: &[usize]) -> u64 {
    shape.iter().map(|&d| d as u64).product()
}

/// One node's FLOPs; None when a shape it needs is unknown. Ops that do no arithmetic are 0.
fn node_flops(
    node: &pb::NodeProto,
    ins: &[Option<Vec<usize>>],
    out: Option<&[usize]>,
) -> Option<u64> {
    let input = |i: usize| ins.get(i).and_then(|s| s.as_deref());
    let has_input = |i: usize| node.input.get(i).is_some_and(|n| !n.is_empty());
    let op = node.op_type.as_str();
    Some(match op {
        "Conv" | "ConvInteger" | "QLinearConv" => {
            let (w, bias) = if op == "QLinearConv" { (3, 8) } else { (1, 2) };
            let out = volume(out?);
            // W is [M, C / groups, k...]: each output element reads C/groups * k values.
            let per_output = volume(&input(w)?[1..]);
            let bias = if op != "ConvInteger" && has_input(bias) {
                out
            } else {
                0
            };
            2 * out * per_output + bias
        }
        "MatMul" | "MatMulInteger" | "QLinearMatMul" => {
            let k = *input(0)?.last()? as u64;
            2 * volume(out?) * k
        }
        "Gemm" => {
            let a = input(0)?;
            let trans_a = attr(node, "transA").is_some_and(|a| a.i != 0);
            let k = if trans_a { a.first()? } else { a.get(1)? };
            let out = volume(out?);
            2 * out * (*k as u64) + if has_input(2) { out } else { 0 }
        }
        "BatchNormalization" => 2 * volume(out?),
        "MaxPool" | "AveragePool" | "LpPool" => {
            let kernel: u64 = attr(node, "kernel_shape")?
                .ints
                .iter()
                .map(|&k| k as u64)
                .product();
            volume(out?) * kernel
        }
        "LpNormalization" => 3 * volume(input(0)?),
        "Softmax" | "LogSoftmax" => 3 * volume(out?),
        _ if REDUCTIONS.contains(&op) => volume(input(0)?),
        _ if ELEMENTWISE.contains(&op) => volume(out?),
        _ => 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(name: &str, dims: &[i64]) -> pb::ValueInfoProto {
        use pb::tensor_shape_proto::{Dimension, dimension::Value};
        pb::ValueInfoProto {
            name: name.into(),
            r#type: Some(pb::TypeProto {
                value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                    elem_type: pb::tensor_proto::DataType::Float as i32,
                    shape: Some(pb::TensorShapeProto {
                        dim: dims
                            .iter()
                            .map(|&d| Dimension {
                                value: Some(Value::DimValue(d)),
                                ..Default::default()
                            })
                            .collect(),
                    }),
                })),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn weights(name: &str, dims: &[i64]) -> pb::TensorProto {
        let n: i64 = dims.iter().product();
        pb::TensorProto {
            name: name.into(),
            dims: dims.to_vec(),
            data_type: pb::tensor_proto::DataType::Float as i32,
            float_data: (0..n).map(|i| (i % 7) as f32 * 0.1).collect(),
            ..Default::default()
        }
    }

    fn node(
        op: &str,
        inputs: &[&str],
        output: &str,
        attrs: Vec<pb::AttributeProto>,
    ) -> pb::NodeProto {
        pb::NodeProto {
            name: output.into(),
            op_type: op.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.into()],
            attribute: attrs,
            ..Default::default()
        }
    }

    fn ints(name: &str, v: &[i64]) -> pb::AttributeProto {
        pb::AttributeProto {
            name: name.into(),
            r#type: pb::attribute_proto::AttributeType::Ints as i32,
            ints: v.to_vec(),
            ..Default::default()
        }
    }

    /// x [1,3,8,8] -> Conv 4x3x3x3 (pad 1, bias) -> Relu -> MaxPool 2x2/2 -> Reshape [1,64]
    /// -> MatMul [64,10].
    fn tiny_model(batch: i64) -> pb::ModelProto {
        let shape = pb::TensorProto {
            name: "shape".into(),
            dims: vec![2],
            data_type: pb::tensor_proto::DataType::Int64 as i32,
            int64_data: vec![batch, 64],
            ..Default::default()
        };
        pb::ModelProto {
            ir_version: 8,
            opset_import: vec![pb::OperatorSetIdProto {
                domain: String::new(),
                version: 17,
            }],
            graph: Some(pb::GraphProto {
                name: "tiny".into(),
                node: vec![
                    node(
                        "Conv",
                        &["x", "w", "b"],
                        "conv",
                        vec![ints("kernel_shape", &[3, 3]), ints("pads", &[1, 1, 1, 1])],
                    ),
                    node("Relu", &["conv"], "relu", vec![]),
                    node(
                        "MaxPool",
                        &["relu"],
                        "pool",
                        vec![ints("kernel_shape", &[2, 2]), ints("strides", &[2, 2])],
                    ),
                    node("Reshape", &["pool", "shape"], "flat", vec![]),
                    node("MatMul", &["flat", "m"], "y", vec![]),
                ],
                initializer: vec![
                    weights("w", &[4, 3, 3, 3]),
                    weights("b", &[4]),
                    weights("m", &[64, 10]),
                    shape,
                ],
                input: vec![value("x", &[1, 3, 8, 8])],
                output: vec![value("y", &[1, 10])],
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn counts_a_tiny_graph_by_hand() {
        let f = count_proto(&tiny_model(1), None, None).unwrap();
        // Conv: output 1x4x8x8 = 256 elements, each 3*3*3 = 27 multiply-adds, plus a bias add.
        let conv = 2 * 256 * 27 + 256;
        // Relu: one per element; MaxPool: 4x4x4 = 64 outputs of a 2x2 window.
        let (relu, pool) = (256, 64 * 4);
        // MatMul: [1,64] x [64,10].
        let matmul = 2 * 64 * 10;
        assert_eq!(f.total, conv + relu + pool + matmul);
        assert_eq!(f.linear, conv + matmul);
        assert!(f.unknown.is_empty(), "{:?}", f.unknown);
        assert_eq!(f.by_op[0].op_type, "Conv");
        assert_eq!(f.by_op[0].flops, 14_080);
        let reshape = f.by_op.iter().find(|o| o.op_type == "Reshape").unwrap();
        assert_eq!((reshape.nodes, reshape.flops), (1, 0));
    }

    #[test]
    fn input_shapes_given_override_the_declared_ones() {
        // The same graph on a batch of 2 (the Reshape target follows): every count doubles.
        let one = count_proto(&tiny_model(1), None, None).unwrap();
        let two = count_proto(
            &tiny_model(2),
            None,
            Some(&[(f32::datum_type(), vec![2, 3, 8, 8])]),
        )
        .unwrap();
        assert_eq!(two.total, 2 * one.total);
    }
}
