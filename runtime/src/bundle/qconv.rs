//! A direct int8 convolution for AVX-512 VNNI hosts: the op the int8 rewrite ([`super::qdq`])
//! emits there instead of `ConvInteger` + rescale.
//!
//! tract runs `ConvInteger` through im2col and an int8 matrix product; on our small maps (rows
//! of 8-40 points) that is slower than its float direct convolution (`third_party/`). This op
//! computes the same integer sums directly: the float input is quantised (as the graph's
//! QuantizeLinear does, which the op replaces) while it is copied once into a zero-padded buffer
//! laid out in stride phases (as the float direct path does), four input channels to a 32-bit
//! lane (`vpdpbusd` multiplies four unsigned bytes by four signed ones and adds them to
//! a lane), and each output point's sum is rescaled and biased as it is stored. The result is
//! the rewrite's arithmetic (the exact integer sum, then `as f32 * scale + bias`), so the
//! embeddings are those of the `ConvInteger` graph (a unit test compares them).
//!
//! `vpdpbusd` wants unsigned inputs: the copy stores `x + 128` and each output channel
//! subtracts `128 * sum(w)` (padding stores 128 too, the int8 zero, so the correction holds at
//! the borders).

use std::sync::Arc;

use tract_onnx::pb::NodeProto;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_hir::infer::{InferenceResult, ShapeFactoid, Solver, TensorProxy};
use tract_onnx::tract_hir::internal::{InferenceOp, inference_wrap};

/// The ONNX op type the rewrite gives these nodes (a name no ONNX domain uses).
pub const OP_TYPE: &str = "MmvQConvDirect";

/// Whether this host runs the op: x86-64 with AVX-512F and VNNI.
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512vnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The shortest output row the op takes: below it im2col wins (as for the float path).
pub const MIN_ROW: usize = 8;

/// One int8 2D convolution, NCHW, group 1, zero points 0, output channels a multiple of 4.
#[derive(Clone, Debug, PartialEq)]
pub struct QConvDirect {
    ic: usize,
    oc: usize,
    kernel: [usize; 2],
    strides: [usize; 2],
    dilations: [usize; 2],
    /// Before (top, left) and after (bottom, right).
    pads: [usize; 4],
    /// Per group of four output channels, per tap (channel quad, ky, kx), per channel of the
    /// group: four signed weights packed in a lane.
    taps: Arc<Vec<i32>>,
    /// `128 * sum(w)` per output channel.
    correction: Arc<Vec<i32>>,
    /// `s_x * s_w[c]` and the bias, per output channel.
    scale: Arc<Vec<f32>>,
    bias: Arc<Vec<f32>>,
    /// The output shape for the input the rewrite saw (for tract-onnx's shape inference).
    output: [usize; 4],
    /// `1 / s_x`: the input's QuantizeLinear, done here as tract does it.
    x_inv: f32,
}

impl Eq for QConvDirect {}

/// What the rewrite knows about a convolution it hands to the op.
pub struct Params<'a> {
    /// int8 weights, OIHW.
    pub weights: &'a [i8],
    pub shape: [usize; 4],
    pub strides: [usize; 2],
    pub dilations: [usize; 2],
    pub pads: [usize; 4],
    pub scale: &'a [f32],
    pub bias: Option<&'a [f32]>,
    /// The input's shape, NCHW.
    pub input: [usize; 4],
    /// The input's quantisation scale (zero point 0).
    pub x_scale: f32,
}

impl QConvDirect {
    pub fn new(p: &Params) -> Option<QConvDirect> {
        let [oc, ic, kh, kw] = p.shape;
        if oc == 0 || !oc.is_multiple_of(4) || p.weights.len() != oc * ic * kh * kw {
            return None;
        }
        let quads = ic.div_ceil(4);
        let n_taps = quads * kh * kw;
        let w = |o: usize, c: usize, y: usize, x: usize| -> i8 {
            if c < ic {
                p.weights[((o * ic + c) * kh + y) * kw + x]
            } else {
                0
            }
        };
        let mut taps = Vec::with_capacity(oc * n_taps);
        for g in (0..oc).step_by(4) {
            for o in g..g + 4 {
                for q in 0..quads {
                    for y in 0..kh {
                        for x in 0..kw {
                            let b = [0, 1, 2, 3].map(|l| w(o, 4 * q + l, y, x) as u8);
                            taps.push(i32::from_le_bytes(b));
                        }
                    }
                }
            }
        }
        let correction = (0..oc)
            .map(|o| {
                128 * p.weights[o * ic * kh * kw..(o + 1) * ic * kh * kw]
                    .iter()
                    .map(|&v| v as i32)
                    .sum::<i32>()
            })
            .collect();
        let mut op = QConvDirect {
            ic,
            oc,
            kernel: [kh, kw],
            strides: p.strides,
            dilations: p.dilations,
            pads: p.pads,
            taps: Arc::new(taps),
            correction: Arc::new(correction),
            scale: Arc::new(p.scale.to_vec()),
            bias: Arc::new(p.bias.map_or_else(|| vec![0.0; oc], <[f32]>::to_vec)),
            output: [0; 4],
            x_inv: p.x_scale.recip(),
        };
        op.output = op.output_shape(&p.input).ok()?;
        Some(op)
    }

    /// The output shape for the input the rewrite saw.
    pub fn output(&self) -> [usize; 4] {
        self.output
    }

    fn output_hw(&self, h: usize, w: usize) -> Option<[usize; 2]> {
        let dims = [
            h + self.pads[0] + self.pads[2],
            w + self.pads[1] + self.pads[3],
        ];
        let mut out = [0; 2];
        for a in 0..2 {
            let reach = self.dilations[a] * (self.kernel[a] - 1) + 1;
            out[a] = dims[a].checked_sub(reach)? / self.strides[a] + 1;
        }
        Some(out)
    }

    /// The output shape for an input shape, or why the op cannot take it.
    fn output_shape(&self, input: &[usize]) -> TractResult<[usize; 4]> {
        let &[n, c, h, w] = input else {
            bail!("{OP_TYPE}: a 4D NCHW input expected, got {input:?}");
        };
        ensure!(
            c == self.ic,
            "{OP_TYPE}: {c} input channels, {} expected",
            self.ic
        );
        let [oh, ow] = self
            .output_hw(h, w)
            .with_context(|| format!("{OP_TYPE}: input {h}x{w} smaller than the kernel"))?;
        Ok([n, self.oc, oh, ow])
    }

    /// Quantises `x` as tract's `QuantizeLinearI8` does (times `1 / s_x`, NaN to 0, clamped,
    /// rounded half to even), plus 128.
    fn quantise(&self, x: f32) -> u8 {
        const ROUND: f32 = 12_582_912.0;
        let v = x * self.x_inv;
        let v = if v.is_nan() {
            0.0
        } else {
            v.clamp(-128.0, 127.0)
        };
        (((v + ROUND) - ROUND) as i32 as u8) ^ 0x80
    }

    fn eval_f32(&self, input: &[f32], shape: &[usize]) -> TractResult<Tensor> {
        let [n, oc, oh, ow] = self.output_shape(shape)?;
        let (ic, h, w) = (shape[1], shape[2], shape[3]);
        let [s0, s1] = self.strides;
        let (ph, pw) = (
            h + self.pads[0] + self.pads[2],
            w + self.pads[1] + self.pads[3],
        );
        let (ph2, pw2) = (ph.div_ceil(s0), pw.div_ceil(s1));
        let plane = ph2 * pw2;
        let quads = ic.div_ceil(4);
        let chan = s0 * s1 * plane;
        // The padded, phased copy: lane l of a point holds channel 4q + l, quantised, plus 128
        // (a missing channel reads a row of zeros: 128 too).
        let mut padded = vec![0x8080_8080u32; n * quads * chan];
        let zeros = vec![0f32; w];
        let mut row_buf = vec![0u32; w];
        let vector = available();
        for b in 0..n {
            for q in 0..quads {
                let dst = &mut padded[(b * quads + q) * chan..][..chan];
                let plane_of = |l: usize| {
                    let c = 4 * q + l;
                    (c < ic).then(|| &input[(b * ic + c) * h * w..][..h * w])
                };
                let planes = [plane_of(0), plane_of(1), plane_of(2), plane_of(3)];
                for y in 0..h {
                    let row = |l: usize| planes[l].map_or(&zeros[..], |p| &p[y * w..][..w]);
                    let (r0, r1, r2, r3) = (row(0), row(1), row(2), row(3));
                    let yy = y + self.pads[0];
                    let base = (yy % s0) * s1 * plane + (yy / s0) * pw2;
                    let pack = |x: usize| {
                        u32::from_le_bytes([
                            self.quantise(r0[x]),
                            self.quantise(r1[x]),
                            self.quantise(r2[x]),
                            self.quantise(r3[x]),
                        ])
                    };
                    // The row's packed lanes, then (stride 1) in place or (stride > 1) spread
                    // over the phases.
                    let packed: &mut [u32] = if s1 == 1 {
                        &mut dst[base + self.pads[1]..][..w]
                    } else {
                        &mut row_buf
                    };
                    if vector {
                        #[cfg(target_arch = "x86_64")]
                        // SAFETY: the features are present; four rows and `packed` of `w`.
                        unsafe {
                            pack_row_avx512([r0, r1, r2, r3], packed, self.x_inv)
                        };
                    } else {
                        for (x, d) in packed.iter_mut().enumerate() {
                            *d = pack(x);
                        }
                    }
                    if s1 > 1 {
                        for (x, v) in row_buf.iter().enumerate() {
                            let xx = x + self.pads[1];
                            dst[base + (xx % s1) * plane + xx / s1] = *v;
                        }
                    }
                }
            }
        }
        let [kh, kw] = self.kernel;
        let mut offsets = Vec::with_capacity(quads * kh * kw);
        for q in 0..quads {
            for ky in 0..kh {
                for kx in 0..kw {
                    let (a, b) = (ky * self.dilations[0], kx * self.dilations[1]);
                    let phase = (a % s0) * s1 + b % s1;
                    offsets.push((q * chan + phase * plane + (a / s0) * pw2 + b / s1) as isize);
                }
            }
        }
        let n_taps = offsets.len();
        let plane_out = oh * ow;
        // Written in place in the output tensor: no second copy of the whole output.
        let mut tensor = Tensor::zero::<f32>(&[n, oc, oh, ow])?;
        let mut plain = tensor.try_as_plain_ram_mut()?;
        let out = plain.as_slice_mut::<f32>()?;
        // As the float direct path: short rows as one run per plane over the phase planes'
        // row pitch, the points between two rows computed and dropped.
        let one_run = ow % 64 != 0 && oh > 1;
        let run_len = if one_run { (oh - 1) * pw2 + ow } else { ow };
        let mut scratch = vec![0f32; 4 * run_len];
        for g in (0..oc).step_by(4) {
            let taps = &self.taps[g * n_taps..(g + 4) * n_taps];
            let group = Group {
                correction: std::array::from_fn(|o| self.correction[g + o]),
                scale: std::array::from_fn(|o| self.scale[g + o]),
                bias: std::array::from_fn(|o| self.bias[g + o]),
            };
            for b in 0..n {
                let src = &padded[b * quads * chan..][..quads * chan];
                let rows = if one_run { 1 } else { oh };
                for y in 0..rows {
                    run4(src, y * pw2, &offsets, taps, run_len, &mut scratch, &group);
                    for o in 0..4 {
                        let dst = &mut out[(b * oc + g + o) * plane_out..][..plane_out];
                        let s = &scratch[o * run_len..][..run_len];
                        if one_run {
                            for (d, r) in dst.chunks_exact_mut(ow).zip(s.chunks(pw2)) {
                                d.copy_from_slice(&r[..ow]);
                            }
                        } else {
                            dst[y * ow..][..ow].copy_from_slice(s);
                        }
                    }
                }
            }
        }
        Ok(tensor)
    }
}

/// The first `min(rest, 16)` of sixteen lanes.
fn tail_mask(rest: usize) -> u16 {
    if rest >= 16 {
        0xffff
    } else {
        ((1u32 << rest) - 1) as u16
    }
}

/// [`QConvDirect::quantise`] of four rows into one row of packed lanes, sixteen points at a
/// time: the same arithmetic (times `1 / s_x`, NaN to 0, clamp, `1.5 * 2^23` rounding).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn pack_row_avx512(rows: [&[f32]; 4], out: &mut [u32], inv: f32) {
    use std::arch::x86_64::*;
    unsafe {
        let w = out.len();
        let inv = _mm512_set1_ps(inv);
        let (lo, hi) = (_mm512_set1_ps(-128.0), _mm512_set1_ps(127.0));
        let round = _mm512_set1_ps(12_582_912.0);
        let byte = _mm512_set1_epi32(0xff);
        let mut x = 0;
        while x < w {
            let rest = w - x;
            let m = tail_mask(rest);
            let mut lanes = _mm512_setzero_si512();
            for (l, row) in rows.iter().enumerate() {
                let v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, row.as_ptr().add(x)), inv);
                let ordered = _mm512_cmp_ps_mask::<_CMP_ORD_Q>(v, v);
                let v = _mm512_min_ps(_mm512_max_ps(_mm512_maskz_mov_ps(ordered, v), lo), hi);
                let q = _mm512_cvttps_epi32(_mm512_sub_ps(_mm512_add_ps(v, round), round));
                let q = _mm512_and_si512(q, byte);
                lanes = _mm512_or_si512(
                    lanes,
                    match l {
                        0 => q,
                        1 => _mm512_slli_epi32::<8>(q),
                        2 => _mm512_slli_epi32::<16>(q),
                        _ => _mm512_slli_epi32::<24>(q),
                    },
                );
            }
            let lanes = _mm512_xor_si512(lanes, _mm512_set1_epi32(0x8080_8080u32 as i32));
            _mm512_mask_storeu_epi32(out.as_mut_ptr().add(x) as *mut i32, m, lanes);
            x += 16;
        }
    }
}

/// The rescale of four output channels.
struct Group {
    correction: [i32; 4],
    scale: [f32; 4],
    bias: [f32; 4],
}

/// Four output channels over `len` points from `start` of the phase planes, into `out` (four
/// runs of `len`). Every read stays inside `src` (the caller's geometry, checked in debug).
fn run4(
    src: &[u32],
    start: usize,
    offsets: &[isize],
    taps: &[i32],
    len: usize,
    out: &mut [f32],
    g: &Group,
) {
    debug_assert!(
        offsets
            .iter()
            .all(|&o| o >= 0 && start + o as usize + len <= src.len())
    );
    #[cfg(target_arch = "x86_64")]
    if available() {
        // SAFETY: the features are present, and the reads are in bounds (above).
        unsafe { run4_vnni(src.as_ptr().add(start), offsets, taps, len, out, g) };
        return;
    }
    let n = offsets.len();
    for i in 0..len {
        for o in 0..4 {
            let mut acc = 0i32;
            for (t, &off) in offsets.iter().enumerate() {
                let x = src[start + off as usize + i].to_le_bytes();
                let w = taps[o * n + t].to_le_bytes();
                acc += (0..4)
                    .map(|l| x[l] as i32 * (w[l] as i8) as i32)
                    .sum::<i32>();
            }
            out[o * len + i] = (acc - g.correction[o]) as f32 * g.scale[o] + g.bias[o];
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vnni")]
unsafe fn run4_vnni(
    src: *const u32,
    offsets: &[isize],
    taps: &[i32],
    len: usize,
    out: &mut [f32],
    g: &Group,
) {
    use std::arch::x86_64::*;
    unsafe {
        let n = offsets.len();
        let corr = g.correction.map(|c| _mm512_set1_epi32(c));
        let scale = g.scale.map(|s| _mm512_set1_ps(s));
        let bias = g.bias.map(|b| _mm512_set1_ps(b));
        let o = out.as_mut_ptr();
        let store = |acc: __m512i, c: usize, at: usize, m: __mmask16| {
            let v = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc, corr[c]));
            let v = _mm512_add_ps(_mm512_mul_ps(v, scale[c]), bias[c]);
            _mm512_mask_storeu_ps(o.add(c * len + at), m, v);
        };
        let mut i = 0;
        // 64 points by 4 channels: sixteen accumulators, four loads and four broadcasts per
        // sixteen dot products.
        while i + 64 <= len {
            let mut acc = [[_mm512_setzero_si512(); 4]; 4];
            for t in 0..n {
                let p = src.offset(*offsets.get_unchecked(t)).add(i);
                let x = [0, 16, 32, 48].map(|v| _mm512_loadu_si512(p.add(v) as *const _));
                for (c, row) in acc.iter_mut().enumerate() {
                    let w = _mm512_set1_epi32(*taps.get_unchecked(c * n + t));
                    for (a, x) in row.iter_mut().zip(&x) {
                        *a = _mm512_dpbusd_epi32(*a, *x, w);
                    }
                }
            }
            for (c, row) in acc.iter().enumerate() {
                for (v, a) in row.iter().enumerate() {
                    store(*a, c, i + 16 * v, 0xffff);
                }
            }
            i += 64;
        }
        while i < len {
            let rest = len - i;
            let m = tail_mask(rest);
            let mut acc = [_mm512_setzero_si512(); 4];
            for t in 0..n {
                let p = src.offset(*offsets.get_unchecked(t)).add(i);
                let x = _mm512_maskz_loadu_epi32(m, p as *const i32);
                for (c, a) in acc.iter_mut().enumerate() {
                    let w = _mm512_set1_epi32(*taps.get_unchecked(c * n + t));
                    *a = _mm512_dpbusd_epi32(*a, x, w);
                }
            }
            for (c, a) in acc.iter().enumerate() {
                store(*a, c, i, m);
            }
            i += 16;
        }
    }
}

impl Op for QConvDirect {
    fn name(&self) -> StaticName {
        OP_TYPE.into()
    }

    fn as_typed(&self) -> Option<&dyn TypedOp> {
        Some(self)
    }
}

impl EvalOp for QConvDirect {
    fn eval_out_of_plan(&self, inputs: TVec<TValue>) -> TractResult<Option<TVec<TValue>>> {
        Ok(Some(EvalOp::eval(
            self,
            &EvalContext::out_of_plan(),
            inputs,
        )?))
    }

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = inputs.first().context("no input")?;
        let view = input.to_plain_array_view::<f32>()?;
        let data = view.as_slice().context("non-contiguous input")?;
        Ok(tvec!(self.eval_f32(data, input.shape())?.into_tvalue()))
    }
}

impl TypedOp for QConvDirect {
    fn as_op(&self) -> &dyn Op {
        self
    }

    fn as_op_mut(&mut self) -> &mut dyn Op {
        self
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let shape = inputs[0]
            .shape
            .as_concrete()
            .context("a concrete input shape expected")?;
        Ok(tvec!(f32::fact(self.output_shape(shape)?)))
    }
}

fn rules<'p>(
    op: &dyn Op,
    s: &mut Solver,
    _inputs: &'p [TensorProxy],
    outputs: &'p [TensorProxy],
) -> InferenceResult {
    let op = op.downcast_ref::<QConvDirect>().context("not the op")?;
    s.equals(&outputs[0].datum_type, f32::datum_type())?;
    s.equals(&outputs[0].shape, ShapeFactoid::from(op.output.to_vec()))?;
    Ok(())
}

/// The node's builder for tract-onnx: the op's constants travel as the node's attributes.
pub fn build(
    _ctx: &tract_onnx::model::ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let ints = |name: &str| -> TractResult<Vec<usize>> {
        let a = node
            .attribute
            .iter()
            .find(|a| a.name == name)
            .context(name.to_string())?;
        Ok(a.ints.iter().map(|&v| v as usize).collect())
    };
    let floats = |name: &str| -> Option<Vec<f32>> {
        node.attribute
            .iter()
            .find(|a| a.name == name)
            .map(|a| a.floats.clone())
    };
    let shape = ints("w_shape")?;
    let weights: Vec<i8> = node
        .attribute
        .iter()
        .find(|a| a.name == "w")
        .context("w")?
        .ints
        .iter()
        .map(|&v| v as i8)
        .collect();
    let two = |v: Vec<usize>| -> TractResult<[usize; 2]> {
        v.try_into()
            .map_err(|v| format_err!("two values expected, got {v:?}"))
    };
    let scale = floats("scale").context("scale")?;
    let bias = floats("bias");
    let params = Params {
        weights: &weights,
        shape: shape.try_into().map_err(|v| format_err!("w_shape {v:?}"))?,
        strides: two(ints("strides")?)?,
        dilations: two(ints("dilations")?)?,
        pads: ints("pads")?
            .try_into()
            .map_err(|v| format_err!("pads {v:?}"))?,
        scale: &scale,
        bias: bias.as_deref(),
        input: ints("input_shape")?
            .try_into()
            .map_err(|v| format_err!("input_shape {v:?}"))?,
        x_scale: floats("x_scale")
            .and_then(|v| v.first().copied())
            .context("x_scale")?,
    };
    let op = QConvDirect::new(&params).context("weights the op cannot take")?;
    Ok((inference_wrap(op, 1, rules), vec![]))
}
