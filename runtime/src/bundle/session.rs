//! One encoder's ONNX file turned into a tract plan, built once with every input shape fixed
//! (a symbolic axis made tract 16-23x slower here) and run many times.

use std::path::Path;
use std::sync::Arc;

use tract_onnx::prelude::*;
use tract_onnx::tract_core::knobs::KnobScope;
use tract_onnx::tract_core::runtime::RunOptions;
use tract_onnx::tract_core::tract_linalg::multithread::Executor;

use super::BundleError;
use super::manifest::{DType, EncoderFile, OUTPUT_VA, OUTPUT_VAT, TensorSpec};
use super::panic_guard::guarded;

type Plan = Arc<TypedRunnableModel>;

/// Smallest conv kernel volume tract lowers through lazy im2col (tract's default: 6).
const LAZY_IM2COL_MIN_KERNEL: &str = "3";

/// Embeddings of one input: in the video-audio space and in the space where text lives; each
/// L2-normalised by the graph. An encoder lacks a space when its design has none for it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Embedding {
    pub va: Option<Vec<f32>>,
    pub vat: Option<Vec<f32>>,
}

/// A runnable encoder.
#[derive(Debug)]
pub struct EncoderSession {
    pub spec: EncoderFile,
    plan: Plan,
}

/// tract's optimisation of a typed-checked model, with the runtime's knob settings: the one
/// place that decides how a plan is built (the runtime and `mmv bench --profile` both use it).
///
/// tract 0.23.9 lowers a conv of kernel volume < 6 through an eager im2col, and for a 3D kernel
/// (S3D-G's temporal 3x1x1 convs) that im2col is its generic, per-element patcher: about a third
/// of the clip network's time. Lazy im2col from volume 3 made the clip network 1.4-2.2x faster
/// here (benches/README.md); only kernels of volume 3-5 are affected. The knob is read while
/// optimising, so a scope around it suffices.
pub fn optimize(model: InferenceModel) -> TractResult<TypedModel> {
    optimize_with(model, &[])
}

/// [`optimize`] with more knobs set while it runs (tests and A/B runs).
pub(crate) fn optimize_with(
    model: InferenceModel,
    knobs: &[(&str, &str)],
) -> TractResult<TypedModel> {
    let knobs = [("TRACT_LAZY_IM2COL_MIN_KERNEL", LAZY_IM2COL_MIN_KERNEL)]
        .into_iter()
        .chain(knobs.iter().copied());
    KnobScope::new(knobs)?.enter(|| model.into_optimized())
}

/// How an int8 file's quantised convolutions reach tract.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Int8Form {
    /// The QDQ graph as written: tract dequantises the weights once and runs float
    /// convolutions on inputs rounded through int8.
    AsWritten,
    /// `ConvInteger` and a rescale ([`super::qdq`]): tract's int8 im2col and matrix products.
    Integer,
    /// [`super::qconv::QConvDirect`] where it takes the convolution (AVX-512 VNNI hosts, output
    /// rows of 8 points and more), `ConvInteger` for the others.
    Direct,
}

impl Int8Form {
    /// The fastest form on this host, measured on the default bundle
    /// (benches/results/int8_forms.md): the direct int8 convolution where the CPU has VNNI;
    /// else, where tract's float direct convolution takes short rows (AVX-512 without VNNI),
    /// the graph as written (its convolutions then run on that path); else (AVX2, ARM) the
    /// integer convolutions. `MMV_INT8_FORM=qdq|integer|direct` chooses one for A/B runs.
    pub fn here() -> Int8Form {
        match std::env::var("MMV_INT8_FORM").as_deref() {
            Ok("qdq") => return Int8Form::AsWritten,
            Ok("integer") => return Int8Form::Integer,
            Ok("direct") => return Int8Form::Direct,
            _ => {}
        }
        if super::qconv::available() {
            Int8Form::Direct
        } else if tract_linalg::routines::conv_w4_f32_takes_short_rows() {
            Int8Form::AsWritten
        } else {
            Int8Form::Integer
        }
    }
}

/// Reads an encoder's ONNX file for tract with every input's type and shape fixed, its
/// quantised convolutions in this host's fastest form ([`Int8Form::here`]).
pub fn read_model(path: &Path, spec: &EncoderFile) -> TractResult<InferenceModel> {
    Ok(read_model_as(path, spec, Int8Form::here())?.0)
}

/// [`read_model`] with a given int8 form; also says how many convolutions it rewrote.
pub(crate) fn read_model_as(
    path: &Path,
    spec: &EncoderFile,
    form: Int8Form,
) -> TractResult<(InferenceModel, usize)> {
    let (integer_convs, direct) = match form {
        Int8Form::AsWritten => (false, false),
        Int8Form::Integer => (true, false),
        Int8Form::Direct => (true, true),
    };
    let mut onnx = tract_onnx::onnx();
    onnx.op_register
        .insert(super::qconv::OP_TYPE, super::qconv::build);
    let mut proto = onnx.proto_model_for_path(path)?;
    let with_facts = |mut model: InferenceModel| -> TractResult<InferenceModel> {
        for (i, input) in spec.inputs.iter().enumerate() {
            let fact = match input.dtype {
                DType::F32 => f32::fact(&input.shape),
                DType::F16 => f16::fact(&input.shape),
                DType::I64 => i64::fact(&input.shape),
            };
            model = model.with_input_fact(i, fact.into())?;
        }
        Ok(model)
    };
    let quantised = proto
        .graph
        .as_ref()
        .is_some_and(|g| g.node.iter().any(|n| n.op_type == "QuantizeLinear"));
    let mut rewritten = 0;
    if quantised && integer_convs {
        // The shape of each convolution's input, from the graph as written: typed only when a
        // convolution is found to rewrite (a second parse of the file). A graph that does not
        // type leaves the shapes unknown, which `rewrite_convs` takes as batch 1 (correct,
        // unfused) and no direct convolution.
        let original = proto.clone();
        let typed = std::cell::OnceCell::new();
        let shape_of = |name: &str| {
            let typed = typed
                .get_or_init(|| with_facts(onnx.model_for_proto_model(&original)?)?.into_typed())
                .as_ref()
                .ok()?;
            let outlet = typed.find_outlet_label(name)?;
            let fact = typed.outlet_fact(outlet).ok()?;
            Some(fact.shape.as_concrete()?.to_vec())
        };
        rewritten = super::qdq::rewrite_convs(&mut proto, shape_of, direct)?;
    }
    Ok((with_facts(onnx.model_for_proto_model(&proto)?)?, rewritten))
}

impl EncoderSession {
    /// Loads, type-checks and optimises `dir/spec.file`; `threads` > 1 gives the plan its own
    /// thread pool for matrix products.
    pub fn load(dir: &Path, spec: &EncoderFile, threads: usize) -> Result<Self, BundleError> {
        let path = dir.join(&spec.file);
        let file = path.display().to_string();
        // tract can panic on a malformed graph: that is an error naming the file too.
        guarded(|| Self::load_unguarded(&path, spec, threads)).unwrap_or_else(|panic| {
            Err(BundleError::Model {
                file,
                problem: format!("malformed network (tract failed: {panic})"),
            })
        })
    }

    fn load_unguarded(
        path: &Path,
        spec: &EncoderFile,
        threads: usize,
    ) -> Result<Self, BundleError> {
        let fail = |e: TractError| BundleError::Model {
            file: path.display().to_string(),
            problem: format!("{e:#}"),
        };
        let plan = optimize(read_model(path, spec).map_err(fail)?)
            .map_err(fail)?
            .into_runnable_with_options(&RunOptions {
                executor: (threads > 1).then(|| Executor::multithread(threads)),
                ..RunOptions::default()
            })
            .map_err(fail)?;
        Ok(Self {
            spec: spec.clone(),
            plan,
        })
    }

    /// The one input's spec.
    pub fn input(&self) -> &TensorSpec {
        &self.spec.inputs[0]
    }

    /// Runs on a float input laid out as the input spec says (cast to f16 for f16 graphs).
    pub fn run_f32(&self, data: &[f32]) -> Result<Embedding, BundleError> {
        let spec = self.input();
        self.check_len(data.len())?;
        let tensor = match spec.dtype {
            DType::F32 => Tensor::from_shape(&spec.shape, data),
            DType::F16 => {
                let halves: Vec<f16> = data.iter().map(|&v| f16::from_f32(v)).collect();
                Tensor::from_shape(&spec.shape, &halves)
            }
            DType::I64 => {
                return Err(BundleError::Input(format!(
                    "{} takes token ids, not floats",
                    self.spec.file
                )));
            }
        }
        .map_err(|e| BundleError::Input(format!("{e:#}")))?;
        self.run(tensor)
    }

    /// Runs on token ids.
    pub fn run_i64(&self, ids: &[i64]) -> Result<Embedding, BundleError> {
        let spec = self.input();
        self.check_len(ids.len())?;
        if spec.dtype != DType::I64 {
            return Err(BundleError::Input(format!(
                "{} takes floats, not token ids",
                self.spec.file
            )));
        }
        let tensor = Tensor::from_shape(&spec.shape, ids)
            .map_err(|e| BundleError::Input(format!("{e:#}")))?;
        self.run(tensor)
    }

    fn check_len(&self, len: usize) -> Result<(), BundleError> {
        let spec = self.input();
        let want: usize = spec.shape.iter().product();
        if len != want {
            return Err(BundleError::Input(format!(
                "{} expects {} values (shape {:?}), got {len}",
                self.spec.file, want, spec.shape
            )));
        }
        Ok(())
    }

    fn run(&self, input: Tensor) -> Result<Embedding, BundleError> {
        let failed = |problem: String| BundleError::Model {
            file: self.spec.file.clone(),
            problem: format!("inference failed: {problem}"),
        };
        let outputs = guarded(|| self.plan.run(tvec!(input.into_tvalue())))
            .map_err(failed)?
            .map_err(|e| failed(format!("{e:#}")))?;
        let mut embedding = Embedding::default();
        for (spec, value) in self.spec.outputs.iter().zip(outputs.iter()) {
            let as_f32 = value.cast_to::<f32>().map_err(|e| BundleError::Model {
                file: self.spec.file.clone(),
                problem: format!("output {}: {e:#}", spec.name),
            })?;
            let values = as_f32
                .to_plain_array_view::<f32>()
                .map_err(|e| BundleError::Model {
                    file: self.spec.file.clone(),
                    problem: format!("output {}: {e:#}", spec.name),
                })?
                .iter()
                .copied()
                .collect();
            match spec.name.as_str() {
                OUTPUT_VA => embedding.va = Some(values),
                OUTPUT_VAT => embedding.vat = Some(values),
                _ => {}
            }
        }
        Ok(embedding)
    }
}

/// Test support shared by the bundle's tests: runs the released default bundle's `kind`
/// network at `precision` on a fixed, input-like signal in [-2, 2], read in `form` and
/// optimised with `knobs`; returns its outputs, how many convolutions the int8 rewrite
/// replaced, and how many plan nodes are named `op`.
#[cfg(test)]
pub(crate) fn run_released(
    kind: super::manifest::EncoderKind,
    precision: super::manifest::Precision,
    form: Int8Form,
    knobs: &[(&str, &str)],
    op: &str,
) -> (Vec<Vec<f32>>, usize, usize) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/avdigits-fac-tsm-robust");
    let manifest = super::manifest::Manifest::load(&dir).unwrap();
    let spec = manifest.encoder(kind, precision).unwrap();
    let shape = &spec.inputs[0].shape;
    let n: usize = shape.iter().product();
    let x: Vec<f32> = (0..n).map(|i| 2.0 * ((i as f32) * 0.37).sin()).collect();
    let input = Tensor::from_shape(shape, &x).unwrap();
    let (model, rewritten) = read_model_as(&dir.join(&spec.file), spec, form).unwrap();
    let typed = optimize_with(model, knobs).unwrap();
    let count = typed
        .nodes()
        .iter()
        .filter(|node| node.op.name() == op)
        .count();
    let out = typed
        .into_runnable()
        .unwrap()
        .run(tvec![input.into()])
        .unwrap();
    let values = out
        .iter()
        .map(|t| {
            t.to_plain_array_view::<f32>()
                .unwrap()
                .iter()
                .copied()
                .collect()
        })
        .collect();
    (values, rewritten, count)
}

/// Test support: the largest absolute difference between two runs' outputs (same shapes).
#[cfg(test)]
pub(crate) fn max_abs_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .flat_map(|(a, b)| {
            assert_eq!(a.len(), b.len());
            a.iter().zip(b).map(|(x, y)| (x - y).abs())
        })
        .fold(0.0, f32::max)
}

#[cfg(test)]
mod tests {
    use super::{Int8Form, max_abs_diff, run_released};
    use crate::bundle::manifest::{EncoderKind, Precision};

    /// The released fp32 networks give the same embeddings through tract's direct convolution
    /// (the patched short-row path, `third_party/`) as through im2col, and their 3x3
    /// convolutions take it on a host whose kernel takes short rows.
    #[test]
    fn direct_convolutions_give_the_im2col_embeddings() {
        let short_rows = tract_linalg::routines::conv_w4_f32_takes_short_rows();
        for kind in [EncoderKind::Audio, EncoderKind::Clip, EncoderKind::Image] {
            let run = |min_w: &str| {
                let knobs = [("TRACT_MIN_DIRECT_SPATIAL_W", min_w)];
                let (values, _, direct) = run_released(
                    kind,
                    Precision::Fp32,
                    Int8Form::AsWritten,
                    &knobs,
                    "DirectSpatialConv",
                );
                (values, direct)
            };
            let (im2col, none) = run("1000000");
            let (direct, taken) = run("8");
            assert_eq!(none, 0, "{kind:?}: direct convolutions with the path off");
            if short_rows {
                assert!(taken >= 6, "{kind:?}: only {taken} direct convolutions");
            }
            let worst = max_abs_diff(&im2col, &direct);
            assert!(worst <= 1e-5, "{kind:?}: outputs differ by {worst}");
        }
    }
}
