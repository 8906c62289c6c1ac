//! Load-time rewrite of an int8 file's quantised 2D convolutions into integer convolutions.
//!
//! The int8 files are standard QDQ ONNX (`mmv-train export`): a quantised convolution reads
//! `DequantizeLinear(QuantizeLinear(x))` and `DequantizeLinear(int8 weights)`. onnxruntime
//! fuses that into an integer convolution; tract 0.23.9 runs it as written, a float
//! convolution behind two float passes, so int8 was slower than fp32 (1.2-1.5x). Here, before
//! tract sees the graph (the file is unchanged, so other runtimes keep reading plain QDQ), each
//! such convolution with zero points 0 (symmetric, as the exporter writes them) becomes
//!
//! ```text
//! ConvInteger(QuantizeLinear(x), w_int8) -> Cast(f32) -> Mul(s_x * s_w[c]) -> Add(bias[c])
//! ```
//!
//! which is the same arithmetic (int8 products summed exactly in i32, then one rescale) on
//! tract's int8 matrix products (VNNI where the CPU has it). The per-channel scale and bias
//! are laid out over the convolution's batch (`batch_of`): tract fuses them into one pass after
//! the product only when a constant varies along leading axes, and TSM's clip network runs its
//! 2D convolutions on a batch of 8 frames (unfused, the two passes cost 40 % of its time).

use std::collections::{BTreeMap, BTreeSet};

use tract_onnx::data_resolver::FopenDataResolver;
use tract_onnx::pb::{
    AttributeProto, ModelProto, NodeProto, TensorProto, attribute_proto, tensor_proto,
};
use tract_onnx::prelude::*;
use tract_onnx::tensor::load_tensor;

/// One convolution found quantised on both inputs.
struct Found {
    conv: usize,
    /// The float input of the QuantizeLinear, and its scale where its zero point is 0.
    x_float: Option<(String, f32)>,
    /// Names: the int8 activation (QuantizeLinear's output), the int8 weights.
    x_q: String,
    w_q: String,
    /// `s_x * s_w[c]`, per output channel.
    scale: Vec<f32>,
    bias: Option<Vec<f32>>,
    /// Rank of the convolution's weights (4: 2D).
    rank: usize,
}

/// Rewrites every convolution of `proto` quantised on both inputs (zero points 0) into an
/// integer convolution and a rescale; returns how many. `shape_of(name)` is the shape of the
/// tensor `name` (the convolution's input) where known. With `direct`, a convolution whose
/// output rows are [`super::qconv::MIN_ROW`] points or more becomes one
/// [`super::qconv::QConvDirect`] node instead (AVX-512 VNNI hosts), and one of fewer than four
/// input channels stays as written.
pub fn rewrite_convs(
    proto: &mut ModelProto,
    shape_of: impl Fn(&str) -> Option<Vec<usize>>,
    direct: bool,
) -> TractResult<usize> {
    let Some(graph) = proto.graph.as_mut() else {
        return Ok(0);
    };
    let inits: BTreeMap<&str, &TensorProto> = graph
        .initializer
        .iter()
        .map(|t| (t.name.as_str(), t))
        .collect();
    let producer: BTreeMap<&str, &NodeProto> = graph
        .node
        .iter()
        .flat_map(|n| n.output.iter().map(move |o| (o.as_str(), n)))
        .collect();
    let init = |name: &str| -> TractResult<Option<Tensor>> {
        inits
            .get(name)
            .map(|t| load_tensor(&FopenDataResolver, t, None))
            .transpose()
    };
    // A zero point that is absent or all zeros.
    let zero = |node: &NodeProto| -> TractResult<bool> {
        Ok(match node.input.get(2).filter(|z| !z.is_empty()) {
            None => true,
            Some(z) => match init(z)? {
                Some(t) => floats(&t)?.iter().all(|&v| v == 0.0),
                None => false,
            },
        })
    };
    let mut found = Vec::new();
    for (i, conv) in graph.node.iter().enumerate() {
        if conv.op_type != "Conv" || conv.input.len() < 2 {
            continue;
        }
        let (Some(dx), Some(dw)) = (
            producer.get(conv.input[0].as_str()),
            producer.get(conv.input[1].as_str()),
        ) else {
            continue;
        };
        if dx.op_type != "DequantizeLinear" || dw.op_type != "DequantizeLinear" {
            continue;
        }
        let Some(qx) = producer.get(dx.input[0].as_str()) else {
            continue;
        };
        let (Some(w), Some(s_w), Some(s_x)) = (
            init(&dw.input[0])?,
            dw.input.get(1).map(|s| init(s)).transpose()?.flatten(),
            dx.input.get(1).map(|s| init(s)).transpose()?.flatten(),
        ) else {
            continue;
        };
        let axis = dw
            .attribute
            .iter()
            .find(|a| a.name == "axis")
            .map_or(1, |a| a.i);
        let channels = w.shape().first().copied().unwrap_or(0);
        let per_channel = s_w.len() == channels && (axis == 0 || s_w.len() == 1);
        // 2D kernels larger than 1x1 only: tract has no fast integer path for 3D ones (S3D-G's
        // int8 clip network went from 7.7 to 48 ms), and on 1x1 convolutions over small maps
        // the rescale costs more than the integer product saves (S3D-G's deflated image
        // network: 0.81 -> 0.99 ms with them rewritten).
        let spatial = w.rank() == 4 && w.shape()[2] * w.shape()[3] > 1;
        if !spatial
            || qx.op_type != "QuantizeLinear"
            || w.datum_type() != i8::datum_type()
            || s_x.len() != 1
            || !(per_channel || s_w.len() == 1)
            || !zero(dx)?
            || !zero(dw)?
        {
            continue;
        }
        let s_x = floats(&s_x)?[0];
        let s_w = floats(&s_w)?;
        let scale = (0..channels)
            .map(|c| s_x * s_w[if s_w.len() == 1 { 0 } else { c }])
            .collect();
        let bias = match conv.input.get(2).filter(|b| !b.is_empty()) {
            None => None,
            Some(b) => match init(b)? {
                Some(t) if t.len() == channels => Some(floats(&t)?),
                // A bias computed in the graph: not a form this rewrite knows.
                _ => continue,
            },
        };
        // The QuantizeLinear's own scale (the direct op quantises as it does).
        // Its zero point must be there and int8 (absent, ONNX's output is uint8).
        let q_int8 = qx
            .input
            .get(2)
            .filter(|z| !z.is_empty())
            .map(|z| init(z))
            .transpose()?
            .flatten()
            .is_some_and(|t| t.datum_type().unquantized() == i8::datum_type());
        let x_float = match (
            qx.input.get(1).map(|s| init(s)).transpose()?.flatten(),
            q_int8 && zero(qx)?,
        ) {
            (Some(scale), true) if scale.len() == 1 => {
                Some((qx.input[0].clone(), floats(&scale)?[0]))
            }
            _ => None,
        };
        found.push(Found {
            conv: i,
            x_float,
            x_q: dx.input[0].clone(),
            w_q: dw.input[0].clone(),
            scale,
            bias,
            rank: w.rank(),
        });
    }
    if found.is_empty() {
        return Ok(0);
    }
    let mut replacements: BTreeMap<usize, Vec<NodeProto>> = BTreeMap::new();
    let mut new_inits = Vec::new();
    for (k, f) in found.iter().enumerate() {
        let conv = &graph.node[f.conv];
        let out = conv.output[0].clone();
        let input_shape = shape_of(&conv.input[0]);
        // A first convolution of fewer than four input channels would fill the direct op's
        // lanes with zeros (0.22 ms for the clip network's grey input) and runs faster on
        // tract's float direct path: on such hosts it stays as written.
        if direct
            && input_shape
                .as_ref()
                .and_then(|s| s.get(1))
                .is_some_and(|&c| c < 4)
        {
            continue;
        }
        if direct && let Some(node) = direct_node(conv, f, input_shape.as_deref(), &inits, k)? {
            replacements.insert(f.conv, vec![node]);
            continue;
        }
        let batch = input_shape
            .and_then(|s| s.first().copied())
            .unwrap_or(1)
            .max(1);
        let channels = f.scale.len();
        let mut dims = vec![batch as i64, channels as i64];
        dims.resize(f.rank, 1);
        let tiled =
            |v: &[f32]| -> Vec<f32> { (0..batch).flat_map(|_| v.iter().copied()).collect() };
        let name = |what: &str| format!("mmv_qdq_{k}_{what}");
        let mut nodes = vec![
            NodeProto {
                op_type: "ConvInteger".into(),
                name: name("conv"),
                input: vec![f.x_q.clone(), f.w_q.clone()],
                output: vec![name("i32")],
                attribute: conv.attribute.clone(),
                ..Default::default()
            },
            NodeProto {
                op_type: "Cast".into(),
                name: name("cast"),
                input: vec![name("i32")],
                output: vec![name("f32")],
                attribute: vec![AttributeProto {
                    name: "to".into(),
                    r#type: attribute_proto::AttributeType::Int as i32,
                    i: tensor_proto::DataType::Float as i64,
                    ..Default::default()
                }],
                ..Default::default()
            },
        ];
        new_inits.push(float_tensor(&name("scale"), &dims, &tiled(&f.scale)));
        let scaled = if f.bias.is_some() {
            name("scaled")
        } else {
            out.clone()
        };
        nodes.push(NodeProto {
            op_type: "Mul".into(),
            name: name("mul"),
            input: vec![name("f32"), name("scale")],
            output: vec![scaled.clone()],
            ..Default::default()
        });
        if let Some(bias) = &f.bias {
            new_inits.push(float_tensor(&name("bias"), &dims, &tiled(bias)));
            nodes.push(NodeProto {
                op_type: "Add".into(),
                name: name("add"),
                input: vec![scaled, name("bias")],
                output: vec![out],
                ..Default::default()
            });
        }
        replacements.insert(f.conv, nodes);
    }
    let rewritten = replacements.len();
    let old = std::mem::take(&mut graph.node);
    for (i, node) in old.into_iter().enumerate() {
        match replacements.remove(&i) {
            Some(nodes) => graph.node.extend(nodes),
            None => graph.node.push(node),
        }
    }
    // DequantizeLinear nodes nothing reads any more.
    let read: BTreeSet<String> = graph
        .node
        .iter()
        .flat_map(|n| n.input.iter().cloned())
        .chain(graph.output.iter().map(|o| o.name.clone()))
        .collect();
    graph
        .node
        .retain(|n| n.op_type != "DequantizeLinear" || n.output.iter().any(|o| read.contains(o)));
    graph.initializer.extend(new_inits);
    Ok(rewritten)
}

/// The [`super::qconv::QConvDirect`] node for a found convolution, where the op takes it: 2D,
/// group 1, explicit pads, output channels a multiple of 4, output rows long enough.
fn direct_node(
    conv: &NodeProto,
    f: &Found,
    input_shape: Option<&[usize]>,
    inits: &BTreeMap<&str, &TensorProto>,
    k: usize,
) -> TractResult<Option<NodeProto>> {
    use super::qconv::{MIN_ROW, OP_TYPE, Params, QConvDirect};
    let (Some(&[n, c, h, w]), Some((x_float, x_scale))) = (input_shape, &f.x_float) else {
        return Ok(None);
    };
    let attr = |name: &str| conv.attribute.iter().find(|a| a.name == name);
    let ints = |name: &str, default: Vec<i64>| attr(name).map_or(default, |a| a.ints.clone());
    let group = attr("group").map_or(1, |a| a.i);
    let auto_pad = attr("auto_pad").map_or(String::new(), |a| {
        String::from_utf8_lossy(&a.s).into_owned()
    });
    if f.rank != 4 || group != 1 || !(auto_pad.is_empty() || auto_pad == "NOTSET") {
        return Ok(None);
    }
    let Some(w_proto) = inits.get(f.w_q.as_str()) else {
        return Ok(None);
    };
    let weights = load_tensor(&FopenDataResolver, w_proto, None)?;
    let shape: [usize; 4] = match weights.shape().try_into() {
        Ok(s) => s,
        Err(_) => return Ok(None),
    };
    let values: Vec<i8> = weights
        .cast_to::<i8>()?
        .to_plain_array_view::<i8>()?
        .iter()
        .copied()
        .collect();
    let to_usize = |v: Vec<i64>| v.into_iter().map(|v| v.max(0) as usize).collect::<Vec<_>>();
    let (Ok(strides), Ok(dilations), Ok(pads)) = (
        <[usize; 2]>::try_from(to_usize(ints("strides", vec![1, 1]))),
        <[usize; 2]>::try_from(to_usize(ints("dilations", vec![1, 1]))),
        <[usize; 4]>::try_from(to_usize(ints("pads", vec![0, 0, 0, 0]))),
    ) else {
        return Ok(None);
    };
    let params = Params {
        weights: &values,
        shape,
        strides,
        dilations,
        pads,
        scale: &f.scale,
        bias: f.bias.as_deref(),
        input: [n, c, h, w],
        x_scale: *x_scale,
    };
    // Rows shorter than MIN_ROW run faster through im2col.
    match QConvDirect::new(&params) {
        Some(op) if op.output()[3] >= MIN_ROW => {}
        _ => return Ok(None),
    }
    let list = |name: &str, v: Vec<i64>| AttributeProto {
        name: name.into(),
        r#type: attribute_proto::AttributeType::Ints as i32,
        ints: v,
        ..Default::default()
    };
    let floats = |name: &str, v: &[f32]| AttributeProto {
        name: name.into(),
        r#type: attribute_proto::AttributeType::Floats as i32,
        floats: v.to_vec(),
        ..Default::default()
    };
    let as_i64 = |v: &[usize]| v.iter().map(|&x| x as i64).collect::<Vec<_>>();
    let mut attribute = vec![
        list("w", values.iter().map(|&v| v as i64).collect()),
        list("w_shape", as_i64(&shape)),
        list("strides", as_i64(&strides)),
        list("dilations", as_i64(&dilations)),
        list("pads", as_i64(&pads)),
        list("input_shape", as_i64(&[n, c, h, w])),
        floats("scale", &f.scale),
        floats("x_scale", &[*x_scale]),
    ];
    if let Some(bias) = &f.bias {
        attribute.push(floats("bias", bias));
    }
    Ok(Some(NodeProto {
        op_type: OP_TYPE.into(),
        name: format!("mmv_qdq_{k}_direct"),
        input: vec![x_float.clone()],
        output: vec![conv.output[0].clone()],
        attribute,
        ..Default::default()
    }))
}

fn floats(t: &Tensor) -> TractResult<Vec<f32>> {
    Ok(t.cast_to::<f32>()?
        .to_plain_array_view::<f32>()?
        .iter()
        .copied()
        .collect())
}

fn float_tensor(name: &str, dims: &[i64], values: &[f32]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: tensor_proto::DataType::Float as i32,
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use crate::bundle::manifest::{EncoderKind, Precision};
    use crate::bundle::qconv;
    use crate::bundle::session::{Int8Form, max_abs_diff, run_released};

    /// The released bundle's int8 networks give the same embeddings through integer
    /// convolutions, and through the direct int8 op where the host runs it, as through
    /// tract's plain QDQ execution; the convolutions the int8 plan quantised on both inputs
    /// are rewritten, and the direct op takes at least one per network.
    #[test]
    fn integer_convolutions_give_the_qdq_graphs_embeddings() {
        for kind in [EncoderKind::Audio, EncoderKind::Clip, EncoderKind::Image] {
            let run = |form| run_released(kind, Precision::Int8, form, &[], qconv::OP_TYPE);
            let (qdq, none, _) = run(Int8Form::AsWritten);
            assert_eq!(none, 0);
            let mut forms = vec![Int8Form::Integer];
            if qconv::available() {
                forms.push(Int8Form::Direct);
            }
            for form in forms {
                let (values, rewritten, direct) = run(form);
                assert!(
                    rewritten >= 3,
                    "{kind:?} {form:?}: only {rewritten} convolutions rewritten"
                );
                if form == Int8Form::Direct {
                    assert!(direct >= 1, "{kind:?}: no direct int8 convolution");
                }
                let worst = max_abs_diff(&qdq, &values);
                assert!(
                    worst <= 1e-5,
                    "{kind:?} {form:?}: outputs differ by {worst}"
                );
            }
        }
    }
}
