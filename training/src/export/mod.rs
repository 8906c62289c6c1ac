//! Turns a trained model into a bundle: one ONNX file per encoder (clip, deflated image, audio,
//! text) and precision (fp32, f16, int8), a vocabulary file, and `manifest.json`.
//!
//! The graphs are written node by node with tract-onnx's protobuf types ([`onnx`]), from the
//! burn modules' weights ([`graphs`]). That path handles everything our networks use (3D
//! convolutions, pooling, the temporal shift, gathers), where burn-onnx's tracing exporter cannot
//! lower Conv3d, 3D pools or mean_dim. Shapes are fixed with batch 1, which keeps tract on its
//! fast paths.

pub mod bn_stats;
pub mod calibrate;
pub mod from_run;
pub mod graphs;
pub mod onnx;

use std::collections::BTreeMap;
use std::path::Path;

use mmv_runtime::audio::LogMel;
use mmv_runtime::bundle::manifest::{
    AudioSpec, DType, EncoderFile, EncoderKind, Manifest, OUTPUT_VA, OUTPUT_VAT, Precision,
    Provenance, SCHEMA_VERSION, TensorSpec, TextSpec, VideoSpec,
};
use mmv_runtime::bundle::sha256_file;
use mmv_runtime::text::{Tokenizer, Vocab};

use crate::config::{Design, MmvConfig};
use crate::deflate::ImageNet;
use crate::model::Mmv;
use crate::synthetic::frame_spec;
use onnx::{Graph, Mode, T};

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot write {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("int8 calibration of the {kind} encoder failed: {problem}")]
    Calibration { kind: &'static str, problem: String },
    #[error("{0}")]
    Invalid(String),
}

/// Inputs used to calibrate int8 activation ranges: flat tensors laid out as each encoder's
/// input (clips [C,T,H,W], images [C,H,W], log-mel [frames, mels], token ids [W]).
#[derive(Clone, Debug, Default)]
pub struct CalibrationSet {
    pub clips: Vec<Vec<f32>>,
    pub images: Vec<Vec<f32>>,
    pub logmels: Vec<Vec<f32>>,
    pub texts: Vec<Vec<i64>>,
}

/// What to export and the facts the manifest records.
#[derive(Clone, Debug)]
pub struct ExportOptions {
    pub precisions: Vec<Precision>,
    /// Rows of the word table kept (the most frequent words, GloVe order); other words map to
    /// the unknown word.
    pub vocab_limit: usize,
    pub version: String,
    pub training_config: String,
    pub data: String,
    pub eval_summary: BTreeMap<String, f64>,
    pub step: usize,
}

/// A model ready for export: inference-mode modules (call `.valid()` first).
pub struct ExportModel<'a> {
    pub model: &'a Mmv,
    /// The model whose heads the audio graph uses, when audio has BatchNorm statistics of its
    /// own ([`bn_stats`]); None: `model`'s.
    pub audio_model: Option<&'a Mmv>,
    pub image: &'a ImageNet,
    pub config: &'a MmvConfig,
    pub vocab: &'a Vocab,
}

/// The input spec of each encoder.
fn input_spec(
    kind: EncoderKind,
    config: &MmvConfig,
    audio_frames: usize,
    float: DType,
) -> TensorSpec {
    let v = &config.video;
    let (name, shape, dtype) = match kind {
        EncoderKind::Clip => (
            "video",
            vec![1, v.channels, v.frames, v.size, v.size],
            float,
        ),
        EncoderKind::Image => ("image", vec![1, v.channels, v.size, v.size], float),
        EncoderKind::Audio => (
            "logmel",
            vec![1, 1, audio_frames, config.audio.logmel.n_mels],
            float,
        ),
        EncoderKind::Text => ("tokens", vec![1, 1, config.text.max_words], DType::I64),
    };
    TensorSpec {
        name: name.into(),
        shape,
        dtype,
    }
}

/// Builds one encoder's graph in `mode`; returns it with its output specs.
pub fn build_graph(
    m: &ExportModel,
    kind: EncoderKind,
    mode: Mode,
    audio_frames: usize,
) -> (Graph, TensorSpec, Vec<TensorSpec>) {
    let mut g = Graph::new(mode);
    let float = match g.float_type() {
        tract_onnx::pb::tensor_proto::DataType::Float16 => DType::F16,
        _ => DType::F32,
    };
    let input = input_spec(kind, m.config, audio_frames, float);
    let x = match input.dtype {
        DType::I64 => g.i64_input(&input.name, &input.shape),
        _ => g.float_input(&input.name, &input.shape),
    };
    let (va, vat): (Option<T>, Option<T>) = match kind {
        EncoderKind::Clip => {
            let f = match &m.model.video {
                crate::model::VideoNet::S3dg(net) => graphs::s3dg(&mut g, &x, net),
                crate::model::VideoNet::Tsm(net) => graphs::tsm_clip(&mut g, &x, &net.resnet),
            };
            let (va, vat) = graphs::video_heads(&mut g, &f, &m.model.heads);
            (Some(va), Some(vat))
        }
        EncoderKind::Image => {
            let f = match m.image {
                ImageNet::S3dg(net) => graphs::s3dg(&mut g, &x, net),
                ImageNet::Tsm(net) => {
                    let fmap = graphs::resnet2d(&mut g, "tsm", &x, &net.resnet, None);
                    graphs::global_pool(&mut g, &fmap)
                }
            };
            let (va, vat) = graphs::video_heads(&mut g, &f, &m.model.heads);
            (Some(va), Some(vat))
        }
        EncoderKind::Audio => {
            let fmap = graphs::resnet2d(&mut g, "audio", &x, &m.model.audio.resnet, None);
            let f = graphs::global_pool(&mut g, &fmap);
            let heads = &m.audio_model.unwrap_or(m.model).heads;
            let (va, vat) = graphs::audio_heads(&mut g, &f, heads);
            (Some(va), vat)
        }
        EncoderKind::Text => {
            let f = graphs::text(&mut g, &x, &m.model.text, m.vocab.len());
            (None, Some(graphs::text_head(&mut g, &f, &m.model.heads)))
        }
    };
    let mut outputs = Vec::new();
    for (t, name) in [(va, OUTPUT_VA), (vat, OUTPUT_VAT)] {
        if let Some(t) = t {
            let n = graphs::l2_normalize(&mut g, &t);
            g.output(&n, name);
            outputs.push(TensorSpec {
                name: name.into(),
                shape: n.dims.clone(),
                dtype: float,
            });
        }
    }
    (g, input, outputs)
}

fn design_name(d: Design) -> &'static str {
    match d {
        Design::Shared => "shared",
        Design::Disjoint => "disjoint",
        Design::Fac => "fac",
    }
}

/// Writes the bundle into `out` (created if needed) and returns its manifest; `on_event` hears
/// each file written and each int8 point kept in float.
pub fn export_bundle(
    m: &ExportModel,
    calibration: &CalibrationSet,
    options: &ExportOptions,
    out: &Path,
    mut on_event: impl FnMut(&str),
) -> Result<Manifest, ExportError> {
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| ExportError::Io { path, source }
    };
    std::fs::create_dir_all(out).map_err(io(out))?;
    let config = m.config;
    let logmel = LogMel::new(config.audio.logmel.clone())
        .map_err(|e| ExportError::Invalid(format!("audio.logmel: {e}")))?;
    let window_samples = config.clip_samples();
    let audio_frames = logmel.num_frames(window_samples);

    // The vocabulary the bundle ships: the first `vocab_limit` ids (specials included).
    let rows = options.vocab_limit.clamp(2, m.vocab.len());
    let kept: Vec<String> = m.vocab.words()[2..rows].to_vec();
    let vocab = Vocab::from_words(kept);
    let vocab_path = out.join("vocab.txt");
    vocab
        .save_text(&vocab_path)
        .map_err(|e| ExportError::Invalid(e.to_string()))?;
    let pruned = ExportModel {
        vocab: &vocab,
        ..*m
    };
    // Calibration texts were tokenised with the full vocabulary: words past the pruned one are
    // unknown to the bundle, as they will be at run time (and would index past its table).
    let calibration = &CalibrationSet {
        texts: calibration
            .texts
            .iter()
            .map(|ids| {
                ids.iter()
                    .map(|&id| {
                        if (0..rows as i64).contains(&id) {
                            id
                        } else {
                            i64::from(mmv_runtime::text::UNK_ID)
                        }
                    })
                    .collect()
            })
            .collect(),
        ..calibration.clone()
    };

    let mut encoders = Vec::new();
    for &precision in &options.precisions {
        for kind in EncoderKind::ALL {
            let mode = match precision {
                Precision::Fp32 => Mode::Fp32,
                Precision::F16 => Mode::F16,
                Precision::Int8 => {
                    let (g, input, outs) =
                        build_graph(&pruned, kind, Mode::Calibrate, audio_frames);
                    let weights = g.weight_keys().to_vec();
                    let scales =
                        calibrate::activation_scales(g, &input, outs.len(), kind, calibration)?;
                    let points = scales
                        .into_iter()
                        .map(|(k, s)| calibrate::Point::Activation(k, s))
                        .chain(weights.into_iter().map(calibrate::Point::Weight))
                        .collect();
                    let kept = calibrate::drop_sensitive_points(
                        |mode| {
                            let (g, input, outs) = build_graph(&pruned, kind, mode, audio_frames);
                            (g, input, outs.len())
                        },
                        kind,
                        calibration,
                        points,
                        |point, why| {
                            on_event(&format!("{}: {point} stays float ({why})", kind.name()))
                        },
                    )?;
                    Mode::Int8(kept)
                }
            };
            let (g, input, outputs) = build_graph(&pruned, kind, mode, audio_frames);
            let file = format!("{}.{}.onnx", kind.name(), precision.name());
            let path = out.join(&file);
            std::fs::write(&path, g.into_bytes("mmv-edge")).map_err(io(&path))?;
            let sha256 = sha256_file(&path).map_err(io(&path))?;
            let bytes = std::fs::metadata(&path).map_err(io(&path))?.len();
            on_event(&format!("wrote {file}"));
            encoders.push(EncoderFile {
                kind,
                precision,
                file,
                sha256,
                bytes,
                inputs: vec![input],
                outputs,
            });
        }
    }

    let manifest = Manifest {
        schema_version: SCHEMA_VERSION,
        name: config.name.clone(),
        version: options.version.clone(),
        design: design_name(config.heads.design).into(),
        temperature: config.loss.temperature as f32,
        video: VideoSpec {
            frames: config.video.frames,
            fps: config.video.fps,
            frame: frame_spec(config),
            still_framing: None,
        },
        audio: AudioSpec {
            logmel: config.audio.logmel.clone(),
            window_samples,
            window_frames: audio_frames,
            noise_floor: 0.0,
            noise_gate: config.audio.noise_gate,
        },
        text: TextSpec {
            tokenizer: Tokenizer::with_max_words(config.text.max_words),
            vocab_file: "vocab.txt".into(),
            vocab_sha256: sha256_file(&vocab_path).map_err(io(&vocab_path))?,
            vocab_size: vocab.len(),
        },
        encoders,
        provenance: Provenance {
            training_config: options.training_config.clone(),
            data: options.data.clone(),
            eval_summary: options.eval_summary.clone(),
            step: options.step,
            exporter: format!("mmv-train export {}", env!("CARGO_PKG_VERSION")),
        },
        open_set: None,
    };
    manifest
        .validate()
        .map_err(|p| ExportError::Invalid(format!("the manifest would be invalid: {p}")))?;
    manifest
        .save(out)
        .map_err(|e| ExportError::Invalid(e.to_string()))?;
    Ok(manifest)
}
