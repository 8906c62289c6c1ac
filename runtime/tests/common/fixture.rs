//! A tiny, deterministic model bundle for tests, written from scratch as ONNX protobufs: the
//! same files, manifest and I/O contract as an exported MMV bundle, with random linear maps in
//! place of trained networks. It exercises loading, preprocessing, the index and the CLI
//! without the released bundle; it knows nothing about digits.
//!
//! - clip  [1, C, T, H, W] -> mean over time and a 4x4 grid of cells -> Linear -> va -> Linear
//!   -> vat, both L2-normalised;
//! - image [1, C, H, W] -> the same cells, the same maps (so an image embeds exactly as the
//!   static clip of that image: an ideal deflation);
//! - audio [1, 1, F, M] -> mean over frames -> Linear -> va -> the shared va->vat map;
//! - text  [1, 1, W] ids -> an embedding table -> max over words -> vat.

#![allow(dead_code)]

use std::path::Path;

use mmv_runtime::audio::LogMelConfig;
use mmv_runtime::bundle::manifest::{
    AudioSpec, DType, EncoderFile, EncoderKind, Manifest, OUTPUT_VA, OUTPUT_VAT, Precision,
    Provenance, SCHEMA_VERSION, TensorSpec, TextSpec, VideoSpec,
};
use mmv_runtime::bundle::sha256_file;
use mmv_runtime::frames::FrameSpec;
use mmv_runtime::text::{Tokenizer, Vocab};
use prost::Message;
use tract_onnx::pb;

pub const FRAMES: usize = 8;
pub const FPS: f32 = 5.0;
pub const SIZE: usize = 32;
pub const VA: usize = 24;
pub const VAT: usize = 12;
pub const SAMPLE_RATE: u32 = 16_000;
pub const WINDOW_SAMPLES: usize = 25_600;
pub const HOP: usize = 256;
pub const MELS: usize = 40;
pub const WORDS: [&str; 12] = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "number",
    "bright",
];

/// Deterministic uniform numbers in [-1, 1).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
    fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.next()).collect()
    }
}

fn f32_tensor(name: &str, dims: &[usize], data: Vec<f32>) -> pb::TensorProto {
    pb::TensorProto {
        name: name.into(),
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: pb::tensor_proto::DataType::Float as i32,
        float_data: data,
        ..Default::default()
    }
}

fn i64_tensor(name: &str, data: Vec<i64>) -> pb::TensorProto {
    pb::TensorProto {
        name: name.into(),
        dims: vec![data.len() as i64],
        data_type: pb::tensor_proto::DataType::Int64 as i32,
        int64_data: data,
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

fn int(name: &str, v: i64) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: pb::attribute_proto::AttributeType::Int as i32,
        i: v,
        ..Default::default()
    }
}

fn node(op: &str, inputs: &[&str], output: &str, attrs: Vec<pb::AttributeProto>) -> pb::NodeProto {
    pb::NodeProto {
        op_type: op.into(),
        name: output.into(),
        input: inputs.iter().map(|s| (*s).into()).collect(),
        output: vec![output.into()],
        attribute: attrs,
        ..Default::default()
    }
}

fn value_info(name: &str, elem: pb::tensor_proto::DataType, shape: &[usize]) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{Dimension, dimension::Value};
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: elem as i32,
                shape: Some(pb::TensorShapeProto {
                    dim: shape
                        .iter()
                        .map(|&d| Dimension {
                            value: Some(Value::DimValue(d as i64)),
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

/// x [1, D] -> x / |x|.
fn l2(nodes: &mut Vec<pb::NodeProto>, x: &str, out: &str) {
    let ss = format!("{out}_ss");
    let norm = format!("{out}_norm");
    nodes.push(node(
        "ReduceSumSquare",
        &[x],
        &ss,
        vec![ints("axes", &[1]), int("keepdims", 1)],
    ));
    nodes.push(node("Sqrt", &[&ss], &norm, vec![]));
    nodes.push(node("Div", &[x, &norm], out, vec![]));
}

struct Graph {
    nodes: Vec<pb::NodeProto>,
    inits: Vec<pb::TensorProto>,
    input: pb::ValueInfoProto,
}

fn write_model(path: &Path, g: Graph) {
    let float = pb::tensor_proto::DataType::Float;
    let graph = pb::GraphProto {
        name: "fixture".into(),
        node: g.nodes,
        initializer: g.inits,
        input: vec![g.input],
        output: vec![
            value_info(OUTPUT_VA, float, &[1, VA]),
            value_info(OUTPUT_VAT, float, &[1, VAT]),
        ],
        ..Default::default()
    };
    let model = pb::ModelProto {
        ir_version: 8,
        opset_import: vec![pb::OperatorSetIdProto {
            domain: String::new(),
            version: 13,
        }],
        producer_name: "mmv-runtime test fixture".into(),
        graph: Some(graph),
        ..Default::default()
    };
    std::fs::write(path, model.encode_to_vec()).unwrap();
}

/// Shared tail: features [1, n] -> `W_in` -> va -> `W_vat` -> vat (both normalised).
fn heads(nodes: &mut Vec<pb::NodeProto>, features: &str, w_in: &str) {
    nodes.push(node("MatMul", &[features, w_in], "va_raw", vec![]));
    l2(nodes, "va_raw", OUTPUT_VA);
    nodes.push(node("MatMul", &[OUTPUT_VA, "w_vat"], "vat_raw", vec![]));
    l2(nodes, "vat_raw", OUTPUT_VAT);
}

/// Writes the fixture bundle into `dir` (created if needed) and returns its manifest.
pub fn write_bundle(dir: &Path) -> Manifest {
    std::fs::create_dir_all(dir).unwrap();
    let mut rng = Lcg(7);
    let channels = 1;
    let cells = 4;
    let feat = channels * cells * cells;
    let w_video = rng.vec(feat * VA);
    // Centre pixel features around mid-grey so bright and dark frames differ in direction.
    let w_audio = rng.vec(MELS * VA);
    let w_vat = rng.vec(VA * VAT);
    let float = pb::tensor_proto::DataType::Float;
    let common = |extra: Vec<pb::TensorProto>| {
        let mut v = vec![f32_tensor("w_vat", &[VA, VAT], w_vat.clone())];
        v.extend(extra);
        v
    };

    // Clip.
    let cs = SIZE / cells;
    let mut nodes = vec![
        node("Reshape", &["video", "cells_shape"], "cells", vec![]),
        node(
            "ReduceMean",
            &["cells"],
            "pooled",
            vec![ints("axes", &[2, 4, 6]), int("keepdims", 0)],
        ),
        node("Reshape", &["pooled", "flat_shape"], "feat", vec![]),
        node("Sub", &["feat", "half"], "centred", vec![]),
    ];
    heads(&mut nodes, "centred", "w_video");
    write_model(
        &dir.join("clip.onnx"),
        Graph {
            nodes,
            inits: common(vec![
                i64_tensor(
                    "cells_shape",
                    vec![
                        1,
                        channels as i64,
                        FRAMES as i64,
                        cells as i64,
                        cs as i64,
                        cells as i64,
                        cs as i64,
                    ],
                ),
                i64_tensor("flat_shape", vec![1, feat as i64]),
                f32_tensor("half", &[1], vec![0.5]),
                f32_tensor("w_video", &[feat, VA], w_video.clone()),
            ]),
            input: value_info("video", float, &[1, channels, FRAMES, SIZE, SIZE]),
        },
    );

    // Image: the same cells without time.
    let mut nodes = vec![
        node("Reshape", &["image", "cells_shape"], "cells", vec![]),
        node(
            "ReduceMean",
            &["cells"],
            "pooled",
            vec![ints("axes", &[3, 5]), int("keepdims", 0)],
        ),
        node("Reshape", &["pooled", "flat_shape"], "feat", vec![]),
        node("Sub", &["feat", "half"], "centred", vec![]),
    ];
    heads(&mut nodes, "centred", "w_video");
    write_model(
        &dir.join("image.onnx"),
        Graph {
            nodes,
            inits: common(vec![
                i64_tensor(
                    "cells_shape",
                    vec![
                        1,
                        channels as i64,
                        cells as i64,
                        cs as i64,
                        cells as i64,
                        cs as i64,
                    ],
                ),
                i64_tensor("flat_shape", vec![1, feat as i64]),
                f32_tensor("half", &[1], vec![0.5]),
                f32_tensor("w_video", &[feat, VA], w_video),
            ]),
            input: value_info("image", float, &[1, channels, SIZE, SIZE]),
        },
    );

    // Audio.
    let frames = 1 + WINDOW_SAMPLES / HOP;
    let mut nodes = vec![
        node(
            "ReduceMean",
            &["logmel"],
            "pooled",
            vec![ints("axes", &[2]), int("keepdims", 0)],
        ),
        node("Reshape", &["pooled", "flat_shape"], "feat", vec![]),
        // Log-mel values sit around -5..5; scale them down like a first layer would.
        node("Mul", &["feat", "scale"], "scaled", vec![]),
    ];
    heads(&mut nodes, "scaled", "w_audio");
    write_model(
        &dir.join("audio.onnx"),
        Graph {
            nodes,
            inits: common(vec![
                i64_tensor("flat_shape", vec![1, MELS as i64]),
                f32_tensor("scale", &[1], vec![0.1]),
                f32_tensor("w_audio", &[MELS, VA], w_audio),
            ]),
            input: value_info("logmel", float, &[1, 1, frames, MELS]),
        },
    );

    // Text: the va output is a copy of vat's input so the graph has both outputs.
    let vocab = Vocab::from_words(WORDS);
    let table: Vec<f32> = (0..vocab.len())
        .flat_map(|id| {
            let row = rng.vec(VAT);
            // Padding contributes nothing under the max.
            if id == 0 { vec![-10.0; VAT] } else { row }
        })
        .collect();
    let max_words = Tokenizer::default().max_words;
    let nodes = vec![
        node("Gather", &["table", "ids"], "words", vec![int("axis", 0)]),
        node(
            "ReduceMax",
            &["words"],
            "pooled",
            vec![ints("axes", &[2]), int("keepdims", 0)],
        ),
        node("Reshape", &["pooled", "flat_shape"], "vat_raw", vec![]),
        node(
            "ReduceSumSquare",
            &["vat_raw"],
            "ss",
            vec![ints("axes", &[1]), int("keepdims", 1)],
        ),
        node("Sqrt", &["ss"], "norm", vec![]),
        node("Div", &["vat_raw", "norm"], OUTPUT_VAT, vec![]),
    ];
    let text_graph = pb::GraphProto {
        name: "fixture-text".into(),
        node: nodes,
        initializer: vec![
            f32_tensor("table", &[vocab.len(), VAT], table),
            i64_tensor("flat_shape", vec![1, VAT as i64]),
        ],
        input: vec![value_info(
            "ids",
            pb::tensor_proto::DataType::Int64,
            &[1, 1, max_words],
        )],
        output: vec![value_info(OUTPUT_VAT, float, &[1, VAT])],
        ..Default::default()
    };
    let model = pb::ModelProto {
        ir_version: 8,
        opset_import: vec![pb::OperatorSetIdProto {
            domain: String::new(),
            version: 13,
        }],
        graph: Some(text_graph),
        ..Default::default()
    };
    std::fs::write(dir.join("text.onnx"), model.encode_to_vec()).unwrap();
    vocab.save_text(&dir.join("vocab.txt")).unwrap();

    let spec = |name: &str, shape: Vec<usize>, dtype| TensorSpec {
        name: name.into(),
        shape,
        dtype,
    };
    let outputs = vec![
        spec(OUTPUT_VA, vec![1, VA], DType::F32),
        spec(OUTPUT_VAT, vec![1, VAT], DType::F32),
    ];
    let file = |kind, name: &str, input: TensorSpec, outputs: Vec<TensorSpec>| {
        let path = dir.join(name);
        EncoderFile {
            kind,
            precision: Precision::Fp32,
            file: name.into(),
            sha256: sha256_file(&path).unwrap(),
            bytes: std::fs::metadata(&path).unwrap().len(),
            inputs: vec![input],
            outputs,
        }
    };
    let manifest = Manifest {
        schema_version: SCHEMA_VERSION,
        name: "test-fixture".into(),
        version: "0.0.1".into(),
        design: "fac".into(),
        temperature: 0.07,
        video: VideoSpec {
            frames: FRAMES,
            fps: FPS,
            frame: FrameSpec::unnormalized(SIZE, SIZE, 1),
            still_framing: None,
        },
        audio: AudioSpec {
            logmel: LogMelConfig {
                sample_rate: SAMPLE_RATE,
                n_fft: 512,
                hop_length: HOP,
                n_mels: MELS,
                f_min: 80.0,
                f_max: 7600.0,
            },
            window_samples: WINDOW_SAMPLES,
            window_frames: frames,
            noise_floor: 0.0,
            noise_gate: 0.0,
        },
        text: TextSpec {
            tokenizer: Tokenizer::default(),
            vocab_file: "vocab.txt".into(),
            vocab_sha256: sha256_file(&dir.join("vocab.txt")).unwrap(),
            vocab_size: vocab.len(),
        },
        encoders: vec![
            file(
                EncoderKind::Clip,
                "clip.onnx",
                spec("video", vec![1, 1, FRAMES, SIZE, SIZE], DType::F32),
                outputs.clone(),
            ),
            file(
                EncoderKind::Image,
                "image.onnx",
                spec("image", vec![1, 1, SIZE, SIZE], DType::F32),
                outputs.clone(),
            ),
            file(
                EncoderKind::Audio,
                "audio.onnx",
                spec("logmel", vec![1, 1, frames, MELS], DType::F32),
                outputs.clone(),
            ),
            file(
                EncoderKind::Text,
                "text.onnx",
                spec("ids", vec![1, 1, max_words], DType::I64),
                vec![spec(OUTPUT_VAT, vec![1, VAT], DType::F32)],
            ),
        ],
        provenance: Provenance {
            exporter: "runtime/tests/common/fixture.rs".into(),
            data: "none: random weights".into(),
            ..Provenance::default()
        },
        open_set: None,
    };
    manifest.save(dir).unwrap();
    manifest
}
