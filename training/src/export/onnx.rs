//! A small ONNX graph builder over tract-onnx's protobuf types (`tract_onnx::pb`).
//!
//! Graphs are written node by node with real protobuf messages, never from string templates.
//! Every tensor carries its static shape (bundles have fixed shapes, batch 1), and the builder
//! applies the file's precision in one place: f16 stores every float as f16; int8 stores the
//! weights its plan names per-channel as int8 behind DequantizeLinear and wraps the activations
//! it names (those entering a Conv or MatMul) in QuantizeLinear/DequantizeLinear with calibrated
//! per-tensor scales (QDQ); what the plan leaves out stays float.

use std::collections::{BTreeMap, BTreeSet};

use half::f16;
use prost::Message;
use tract_onnx::pb::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto, attribute_proto::AttributeType,
    tensor_proto::DataType, tensor_shape_proto, type_proto,
};

/// The opset the graphs use: ReduceMean/ReduceMax still take `axes` as an attribute there.
pub const OPSET: i64 = 13;

/// How a graph stores its numbers.
#[derive(Clone, Debug, PartialEq)]
pub enum Mode {
    Fp32,
    F16,
    /// fp32, plus every quantisation point exposed as an extra output, to measure ranges.
    Calibrate,
    /// QDQ int8: the activations and weights the plan names; everything else in float.
    Int8(Int8Plan),
}

/// What an int8 graph quantises (the rest stays float; see `calibrate::drop_sensitive_points`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Int8Plan {
    /// Activation points, with the scales a `Calibrate` run measured (key -> scale).
    pub activations: BTreeMap<String, f32>,
    /// Weights stored as per-channel int8 (by the hint they are built with).
    pub weights: BTreeSet<String>,
}

/// A tensor in the graph: its name and static shape.
#[derive(Clone, Debug, PartialEq)]
pub struct T {
    pub name: String,
    pub dims: Vec<usize>,
}

pub struct Graph {
    mode: Mode,
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    inputs: Vec<ValueInfoProto>,
    outputs: Vec<ValueInfoProto>,
    taps: Vec<(String, T)>,
    /// The weights' hints, in `Calibrate` mode (the weights an int8 plan may quantise).
    weight_keys: Vec<String>,
    counter: usize,
}

fn value_info(name: &str, dims: &[usize], elem: DataType) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|&d| tensor_shape_proto::Dimension {
            denotation: String::new(),
            value: Some(tensor_shape_proto::dimension::Value::DimValue(d as i64)),
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            denotation: String::new(),
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: elem as i32,
                shape: Some(TensorShapeProto { dim }),
            })),
        }),
        doc_string: String::new(),
    }
}

fn tensor_proto(name: &str, dims: &[usize], elem: DataType, raw: Vec<u8>) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: elem as i32,
        raw_data: raw,
        ..Default::default()
    }
}

/// Attribute helpers.
pub fn ints(name: &str, values: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Ints as i32,
        ints: values.to_vec(),
        ..Default::default()
    }
}

pub fn int(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Int as i32,
        i: value,
        ..Default::default()
    }
}

/// Symmetric int8 scale for a range: max |x| maps to 127 (a tiny floor keeps zeros finite).
pub fn int8_scale(max_abs: f32) -> f32 {
    (max_abs / 127.0).max(1e-8)
}

impl Graph {
    pub fn new(mode: Mode) -> Self {
        Self {
            mode,
            nodes: Vec::new(),
            initializers: Vec::new(),
            inputs: Vec::new(),
            outputs: Vec::new(),
            taps: Vec::new(),
            weight_keys: Vec::new(),
            counter: 0,
        }
    }

    /// The element type floats have in this graph.
    pub fn float_type(&self) -> DataType {
        match self.mode {
            Mode::F16 => DataType::Float16,
            _ => DataType::Float,
        }
    }

    fn fresh(&mut self, hint: &str) -> String {
        self.counter += 1;
        format!("{hint}_{}", self.counter)
    }

    /// A graph input of the float type.
    pub fn float_input(&mut self, name: &str, dims: &[usize]) -> T {
        let elem = self.float_type();
        self.inputs.push(value_info(name, dims, elem));
        T {
            name: name.into(),
            dims: dims.to_vec(),
        }
    }

    /// A graph input of i64 (token ids).
    pub fn i64_input(&mut self, name: &str, dims: &[usize]) -> T {
        self.inputs.push(value_info(name, dims, DataType::Int64));
        T {
            name: name.into(),
            dims: dims.to_vec(),
        }
    }

    /// Marks `t` as a graph output called `name` (through an Identity, which tract removes).
    pub fn output(&mut self, t: &T, name: &str) {
        self.nodes.push(NodeProto {
            input: vec![t.name.clone()],
            output: vec![name.into()],
            name: format!("output_{name}"),
            op_type: "Identity".into(),
            ..Default::default()
        });
        let elem = self.float_type();
        self.outputs.push(value_info(name, &t.dims, elem));
    }

    /// An initializer named after `hint`, from little-endian bytes of `elem`.
    fn constant(&mut self, hint: &str, dims: &[usize], elem: DataType, raw: Vec<u8>) -> T {
        let name = self.fresh(hint);
        self.initializers.push(tensor_proto(&name, dims, elem, raw));
        T {
            name,
            dims: dims.to_vec(),
        }
    }

    /// A float constant stored in the graph's float type.
    pub fn float_const(&mut self, hint: &str, data: &[f32], dims: &[usize]) -> T {
        debug_assert_eq!(data.len(), dims.iter().product::<usize>());
        match self.mode {
            Mode::F16 => {
                let half: Vec<f16> = data.iter().map(|&v| f16::from_f32(v)).collect();
                self.f16_const(hint, &half, dims)
            }
            _ => self.f32_const(hint, data, dims),
        }
    }

    fn f32_const(&mut self, hint: &str, data: &[f32], dims: &[usize]) -> T {
        let raw = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.constant(hint, dims, DataType::Float, raw)
    }

    fn f16_const(&mut self, hint: &str, data: &[f16], dims: &[usize]) -> T {
        let raw = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.constant(hint, dims, DataType::Float16, raw)
    }

    fn i8_const(&mut self, hint: &str, data: &[i8], dims: &[usize]) -> T {
        let raw = data.iter().map(|&v| v as u8).collect();
        self.constant(hint, dims, DataType::Int8, raw)
    }

    /// A 1-D i64 constant (shapes, axes, slice bounds).
    pub fn i64_const(&mut self, hint: &str, data: &[i64]) -> T {
        let raw = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.constant(hint, &[data.len()], DataType::Int64, raw)
    }

    /// A weight: a float constant, or, where the int8 plan names it, a per-channel int8 tensor
    /// (channels along `channel_axis`) behind DequantizeLinear. `hint` must be stable across
    /// builds of the same network (it names the weight in the plan).
    pub fn weight(&mut self, hint: &str, data: &[f32], dims: &[usize], channel_axis: usize) -> T {
        if self.mode == Mode::Calibrate {
            self.weight_keys.push(hint.to_string());
        }
        let quantised = matches!(&self.mode, Mode::Int8(plan) if plan.weights.contains(hint));
        if !quantised {
            return self.float_const(hint, data, dims);
        }
        let channels = dims[channel_axis];
        let inner: usize = dims[channel_axis + 1..].iter().product();
        let mut max_abs = vec![0.0f32; channels];
        for (i, v) in data.iter().enumerate() {
            let c = (i / inner) % channels;
            max_abs[c] = max_abs[c].max(v.abs());
        }
        let scales: Vec<f32> = max_abs.iter().map(|&m| int8_scale(m)).collect();
        let q: Vec<i8> = data
            .iter()
            .enumerate()
            .map(|(i, v)| {
                (v / scales[(i / inner) % channels])
                    .round()
                    .clamp(-127.0, 127.0) as i8
            })
            .collect();
        let qt = self.i8_const(&format!("{hint}_q"), &q, dims);
        let st = self.f32_const(&format!("{hint}_scale"), &scales, &[channels]);
        let zt = self.i8_const(&format!("{hint}_zp"), &vec![0; channels], &[channels]);
        self.node(
            "DequantizeLinear",
            &[&qt, &st, &zt],
            vec![int("axis", channel_axis as i64)],
            dims,
        )
    }

    /// Rows of a table `[rows, dim]` picked by integer `ids` (Gather on axis 0), giving
    /// `out_dims`. In int8 mode the table is stored as int8 with one scale per row, and only
    /// the gathered rows are dequantised (Cast + Mul): dequantising the whole table on every
    /// query made the int8 text encoder 40-55x slower than fp32 in tract.
    pub fn gather_rows(
        &mut self,
        hint: &str,
        data: &[f32],
        dims: [usize; 2],
        ids: &T,
        out_dims: &[usize],
    ) -> T {
        if !matches!(self.mode, Mode::Int8(_)) {
            let table = self.float_const(hint, data, &dims);
            return self.node("Gather", &[&table, ids], vec![int("axis", 0)], out_dims);
        }
        let [rows, dim] = dims;
        // The per-row scales are stored in f16 (rounded before quantising, so rows and scales
        // agree): their rounding (2^-11 relative) is far below the int8 step (1/127), and a f32
        // scale per row was 1/13 of the int8 table's size.
        let scales: Vec<f16> = (0..rows)
            .map(|r| {
                let s = int8_scale(
                    data[r * dim..(r + 1) * dim]
                        .iter()
                        .fold(0.0f32, |m, v| m.max(v.abs())),
                );
                f16::from_f32(s.max(f16::MIN_POSITIVE.to_f32()))
            })
            .collect();
        let q: Vec<i8> = data
            .iter()
            .enumerate()
            .map(|(i, v)| (v / scales[i / dim].to_f32()).round().clamp(-127.0, 127.0) as i8)
            .collect();
        let qt = self.i8_const(&format!("{hint}_q"), &q, &dims);
        let st = self.f16_const(&format!("{hint}_scale"), &scales, &[rows, 1]);
        let to_f32 = vec![int("to", DataType::Float as i64)];
        let picked = self.node("Gather", &[&qt, ids], vec![int("axis", 0)], out_dims);
        let picked = self.node("Cast", &[&picked], to_f32.clone(), out_dims);
        let mut scale_dims = out_dims.to_vec();
        *scale_dims.last_mut().expect("rank >= 1") = 1;
        let scale = self.node("Gather", &[&st, ids], vec![int("axis", 0)], &scale_dims);
        let scale = self.node("Cast", &[&scale], to_f32, &scale_dims);
        self.node("Mul", &[&picked, &scale], vec![], out_dims)
    }

    /// A quantisation point on an activation entering a Conv or MatMul. `key` must be stable
    /// across builds of the same network (it joins calibration to quantisation).
    pub fn quant_point(&mut self, key: &str, x: &T) -> T {
        match &self.mode {
            Mode::Calibrate => {
                self.taps.push((key.to_string(), x.clone()));
                x.clone()
            }
            // A point without a scale stays in float (see calibrate::drop_sensitive_points).
            Mode::Int8(plan) => {
                let Some(&scale) = plan.activations.get(key) else {
                    return x.clone();
                };
                let s = self.f32_const(&format!("{key}_act_scale"), &[scale], &[]);
                let z = self.i8_const(&format!("{key}_act_zp"), &[0], &[]);
                let q = self.node("QuantizeLinear", &[x, &s, &z], vec![], &x.dims);
                self.node("DequantizeLinear", &[&q, &s, &z], vec![], &x.dims)
            }
            _ => x.clone(),
        }
    }

    /// Appends a node with one output of shape `out_dims`.
    pub fn node(
        &mut self,
        op: &str,
        inputs: &[&T],
        attrs: Vec<AttributeProto>,
        out_dims: &[usize],
    ) -> T {
        let out = self.fresh(&op.to_ascii_lowercase());
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|t| t.name.clone()).collect(),
            output: vec![out.clone()],
            name: out.clone(),
            op_type: op.into(),
            attribute: attrs,
            ..Default::default()
        });
        T {
            name: out,
            dims: out_dims.to_vec(),
        }
    }

    /// Reshape to static `dims`.
    pub fn reshape(&mut self, x: &T, dims: &[usize]) -> T {
        debug_assert_eq!(
            x.dims.iter().product::<usize>(),
            dims.iter().product::<usize>()
        );
        let shape: Vec<i64> = dims.iter().map(|&d| d as i64).collect();
        let s = self.i64_const("shape", &shape);
        self.node("Reshape", &[x, &s], vec![], dims)
    }

    /// The weights' hints, in `Calibrate` mode.
    pub fn weight_keys(&self) -> &[String] {
        &self.weight_keys
    }

    /// The calibration taps (key, tensor), in `Calibrate` mode.
    pub fn taps(&self) -> &[(String, T)] {
        &self.taps
    }

    /// The finished model, serialised. In `Calibrate` mode every tap is an extra output.
    pub fn into_bytes(mut self, producer: &str) -> Vec<u8> {
        if self.mode == Mode::Calibrate {
            for (_, t) in self.taps.clone() {
                self.outputs
                    .push(value_info(&t.name, &t.dims, DataType::Float));
            }
        }
        let model = ModelProto {
            ir_version: 8,
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: OPSET,
            }],
            producer_name: producer.into(),
            producer_version: env!("CARGO_PKG_VERSION").into(),
            graph: Some(GraphProto {
                node: self.nodes,
                name: "mmv".into(),
                initializer: self.initializers,
                input: self.inputs,
                output: self.outputs,
                ..Default::default()
            }),
            ..Default::default()
        };
        model.encode_to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::{Graph, Mode};
    // The explicit imports above shadow tract's own `Graph` from the glob.
    use tract_onnx::prelude::*;

    /// The int8 row table through tract: every gathered row is within half an int8 step (plus
    /// the f16 rounding of its scale) of the f32 row, and the file stores one byte per weight
    /// and two per row scale.
    #[test]
    fn int8_gather_rows_dequantises_only_the_picked_rows() {
        let (rows, dim) = (300, 50);
        let table: Vec<f32> = (0..rows * dim)
            .map(|i| ((i * 7919 % 1000) as f32 / 500.0 - 1.0) * (1.0 + (i / dim) as f32 / 30.0))
            .collect();
        let mut g = Graph::new(Mode::Int8(Default::default()));
        let ids = g.i64_input("ids", &[1, 4]);
        let picked = g.gather_rows("words", &table, [rows, dim], &ids, &[1, 4, dim]);
        g.output(&picked, "rows");
        let bytes = g.into_bytes("test");
        // One byte per weight and under 3 per row scale (f16, not f32), plus ~400 bytes of graph.
        assert!(
            bytes.len() < rows * dim + rows * 3 + 600,
            "{} bytes for {rows}x{dim} int8 rows",
            bytes.len()
        );
        let plan = tract_onnx::onnx()
            .model_for_read(&mut bytes.as_slice())
            .unwrap()
            .into_optimized()
            .unwrap()
            .into_runnable()
            .unwrap();
        let picks = [0i64, 17, 150, 299];
        let input = Tensor::from_shape(&[1, 4], &picks).unwrap();
        let out = plan.run(tvec!(input.into_tvalue())).unwrap();
        let got = out[0].to_plain_array_view::<f32>().unwrap();
        for (k, &r) in picks.iter().enumerate() {
            let row = &table[r as usize * dim..(r as usize + 1) * dim];
            let max_abs = row.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let tolerance = max_abs / 127.0 * 0.5 + max_abs * 1e-3;
            for (j, &want) in row.iter().enumerate() {
                let have = got[[0, k, j]];
                assert!(
                    (have - want).abs() <= tolerance,
                    "row {r} col {j}: {have} vs {want} (tolerance {tolerance})"
                );
            }
        }
    }
}

#[cfg(test)]
mod quant_point_tests {
    use super::{BTreeMap, BTreeSet, Graph, Int8Plan, Mode};

    /// In int8 mode a point with a scale gets QuantizeLinear + DequantizeLinear, and a point
    /// the sensitivity pass left out stays float (no quantise node at all).
    #[test]
    fn only_points_with_a_scale_are_quantised() {
        let count = |activations: BTreeMap<String, f32>| {
            let mut g = Graph::new(Mode::Int8(Int8Plan {
                activations,
                weights: BTreeSet::new(),
            }));
            let x = g.float_input("x", &[1, 4]);
            let y = g.quant_point("p", &x);
            g.output(&y, "y");
            g.nodes
                .iter()
                .filter(|n| n.op_type == "QuantizeLinear")
                .count()
        };
        assert_eq!(count(BTreeMap::from([("p".to_string(), 0.1)])), 1);
        assert_eq!(count(BTreeMap::new()), 0);
    }

    /// A weight the plan names is stored as int8 behind DequantizeLinear; one it leaves out
    /// stays a float constant; a calibration build lists both.
    #[test]
    fn only_weights_in_the_plan_are_quantised() {
        let build = |mode: Mode| {
            let mut g = Graph::new(mode);
            let x = g.float_input("x", &[1, 2]);
            let a = g.weight("a_w", &[0.5, -1.0, 0.25, 2.0], &[2, 2], 1);
            let b = g.weight("b_w", &[1.0, 0.0, 0.0, 1.0], &[2, 2], 1);
            let y = g.node("MatMul", &[&x, &a], vec![], &[1, 2]);
            let y = g.node("MatMul", &[&y, &b], vec![], &[1, 2]);
            g.output(&y, "y");
            g
        };
        let g = build(Mode::Calibrate);
        assert_eq!(g.weight_keys(), ["a_w", "b_w"]);
        let g = build(Mode::Int8(Int8Plan {
            activations: BTreeMap::new(),
            weights: BTreeSet::from(["a_w".to_string()]),
        }));
        let dequantised: Vec<&str> = g
            .nodes
            .iter()
            .filter(|n| n.op_type == "DequantizeLinear")
            .map(|n| n.input[0].as_str())
            .collect();
        assert_eq!(dequantised.len(), 1);
        assert!(dequantised[0].starts_with("a_w_q"), "{dequantised:?}");
    }
}
