//! Emits each trained burn module as ONNX nodes, reading its weights.
//!
//! BatchNorm is folded into the preceding convolution or linear map (inference statistics), so
//! the graphs hold only Conv, MatMul + Add, pooling and element-wise ops: fewer nodes for tract,
//! and the same arithmetic as burn's eval mode. Heads use MatMul + Add rather than Gemm because
//! tract 0.23 cannot load an f16 Gemm.

use burn::nn::conv::{Conv2d, Conv3d};
use burn::nn::{BatchNorm, Linear, PaddingConfig2d, PaddingConfig3d};
use burn::prelude::*;

use super::onnx::{Graph, T, int, ints};
use crate::model::heads::{FacVideoHead, Heads, LinearBn};
use crate::model::resnet::{ConvBn2d, ResNet2d};
use crate::model::text::TextEncoder;
use crate::model::video_s3dg::{ConvBnRelu3d, S3dg, S3dgBlock, SelfGating, SepConv3d};

/// A tensor's values as f32.
pub fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("float tensor")
}

/// BatchNorm as a per-channel affine map y = x * scale + shift (inference statistics).
pub fn bn_affine(bn: &BatchNorm) -> (Vec<f32>, Vec<f32>) {
    let gamma = values(bn.gamma.val());
    let beta = values(bn.beta.val());
    let mean = values(bn.running_mean.value());
    let var = values(bn.running_var.value());
    let scale: Vec<f32> = gamma
        .iter()
        .zip(&var)
        .map(|(g, v)| g / (v + bn.epsilon as f32).sqrt())
        .collect();
    let shift = beta
        .iter()
        .zip(&mean)
        .zip(&scale)
        .map(|((b, m), s)| b - m * s)
        .collect();
    (scale, shift)
}

/// Folds a per-output-channel affine map into weights laid out with the output channel
/// outermost (convolutions: [C_out, ...]).
fn fold_out_major(weight: &mut [f32], bias: &mut [f32], scale: &[f32], shift: &[f32]) {
    let per = weight.len() / scale.len();
    for (c, (s, t)) in scale.iter().zip(shift).enumerate() {
        weight[c * per..(c + 1) * per]
            .iter_mut()
            .for_each(|w| *w *= s);
        bias[c] = bias[c] * s + t;
    }
}

/// Emits a convolution whose output channel is folded with `bn`. `spatial` is the number of
/// spatial axes of the input; a 3D kernel with temporal size 1 is emitted as 2D when
/// `spatial == 2` (the deflated image network).
#[allow(clippy::too_many_arguments)]
fn conv(
    g: &mut Graph,
    key: &str,
    x: &T,
    weight: Vec<f32>,
    wdims: &[usize],
    bias: Option<Vec<f32>>,
    bn: Option<&BatchNorm>,
    strides: &[usize],
    pads: &[usize],
) -> T {
    let c_out = wdims[0];
    let mut weight = weight;
    let mut bias = bias.unwrap_or_else(|| vec![0.0; c_out]);
    if let Some(bn) = bn {
        let (scale, shift) = bn_affine(bn);
        fold_out_major(&mut weight, &mut bias, &scale, &shift);
    }
    let spatial = x.dims.len() - 2;
    // Drop the kernel's temporal axis when emitting a 3D kernel as 2D.
    let (wdims, strides, pads): (Vec<usize>, Vec<usize>, Vec<usize>) = if wdims.len() - 2 > spatial
    {
        assert_eq!(
            wdims[2], 1,
            "{key}: only a temporal kernel of 1 can run on an image"
        );
        let drop = |v: &[usize]| v[1..].to_vec();
        let n = pads.len() / 2;
        let p: Vec<usize> = pads[1..n].iter().chain(&pads[n + 1..]).copied().collect();
        ([&wdims[..2], &wdims[3..]].concat(), drop(strides), p)
    } else {
        (wdims.to_vec(), strides.to_vec(), pads.to_vec())
    };
    let xq = g.quant_point(key, x);
    let w = g.weight(&format!("{key}_w"), &weight, &wdims, 0);
    let b = g.float_const(&format!("{key}_b"), &bias, &[c_out]);
    let kernel = &wdims[2..];
    let mut out = vec![x.dims[0], c_out];
    for i in 0..spatial {
        let padded = x.dims[2 + i] + pads[i] + pads[spatial + i];
        out.push((padded - kernel[i]) / strides[i] + 1);
    }
    let as_i64 = |v: &[usize]| v.iter().map(|&d| d as i64).collect::<Vec<_>>();
    g.node(
        "Conv",
        &[&xq, &w, &b],
        vec![
            ints("kernel_shape", &as_i64(kernel)),
            ints("strides", &as_i64(&strides)),
            ints("pads", &as_i64(&pads)),
        ],
        &out,
    )
}

fn conv3d(g: &mut Graph, key: &str, x: &T, c: &Conv3d, bn: &BatchNorm) -> T {
    let w = c.weight.val();
    let wdims = w.dims().to_vec();
    let pads = match c.padding {
        PaddingConfig3d::Explicit(d, h, w) => vec![d, h, w, d, h, w],
        PaddingConfig3d::Valid => vec![0; 6],
        PaddingConfig3d::Same => panic!("{key}: export needs explicit padding"),
    };
    let bias = c.bias.as_ref().map(|b| values(b.val()));
    conv(
        g,
        key,
        x,
        values(w),
        &wdims,
        bias,
        Some(bn),
        &c.stride,
        &pads,
    )
}

fn conv2d(g: &mut Graph, key: &str, x: &T, c: &Conv2d, bn: &BatchNorm) -> T {
    let w = c.weight.val();
    let wdims = w.dims().to_vec();
    let pads = match c.padding {
        PaddingConfig2d::Explicit(t, l, b, r) => vec![t, l, b, r],
        PaddingConfig2d::Valid => vec![0; 4],
        PaddingConfig2d::Same => panic!("{key}: export needs explicit padding"),
    };
    let bias = c.bias.as_ref().map(|b| values(b.val()));
    conv(
        g,
        key,
        x,
        values(w),
        &wdims,
        bias,
        Some(bn),
        &c.stride,
        &pads,
    )
}

pub fn relu(g: &mut Graph, x: &T) -> T {
    g.node("Relu", &[x], vec![], &x.dims.clone())
}

/// x [.., d_in] @ W [d_in, d_out] + b, with an optional BN folded into the output columns.
pub fn linear(g: &mut Graph, key: &str, x: &T, l: &Linear, bn: Option<&BatchNorm>) -> T {
    let wt = l.weight.val();
    let [d_in, d_out] = wt.dims();
    let mut w = values(wt);
    let mut b = l
        .bias
        .as_ref()
        .map(|b| values(b.val()))
        .unwrap_or_else(|| vec![0.0; d_out]);
    if let Some(bn) = bn {
        let (scale, shift) = bn_affine(bn);
        for row in w.chunks_mut(d_out) {
            row.iter_mut().zip(&scale).for_each(|(v, s)| *v *= s);
        }
        b.iter_mut()
            .zip(scale.iter().zip(&shift))
            .for_each(|(v, (s, t))| *v = *v * s + t);
    }
    let xq = g.quant_point(key, x);
    let wt = g.weight(&format!("{key}_w"), &w, &[d_in, d_out], 1);
    let bt = g.float_const(&format!("{key}_b"), &b, &[d_out]);
    let mut out = x.dims.clone();
    *out.last_mut().expect("rank >= 1") = d_out;
    let y = g.node("MatMul", &[&xq, &wt], vec![], &out);
    g.node("Add", &[&y, &bt], vec![], &out)
}

fn linear_bn(g: &mut Graph, key: &str, x: &T, m: &LinearBn) -> T {
    linear(g, key, x, &m.linear, Some(&m.bn))
}

/// L2 normalisation along the last axis.
pub fn l2_normalize(g: &mut Graph, x: &T) -> T {
    let axis = x.dims.len() as i64 - 1;
    g.node(
        "LpNormalization",
        &[x],
        vec![int("axis", axis), int("p", 2)],
        &x.dims.clone(),
    )
}

fn reduce_mean(g: &mut Graph, x: &T, axes: &[usize], keep: bool) -> T {
    let out: Vec<usize> = x
        .dims
        .iter()
        .enumerate()
        .filter_map(|(i, &d)| match (axes.contains(&i), keep) {
            (true, true) => Some(1),
            (true, false) => None,
            (false, _) => Some(d),
        })
        .collect();
    let axes: Vec<i64> = axes.iter().map(|&a| a as i64).collect();
    g.node(
        "ReduceMean",
        &[x],
        vec![ints("axes", &axes), int("keepdims", keep as i64)],
        &out,
    )
}

// ---- S3D-G (clip: [1, C, T, H, W]; deflated image: [1, C, H, W]) ----

fn conv_bn_relu3d(g: &mut Graph, key: &str, x: &T, m: &ConvBnRelu3d) -> T {
    let y = conv3d(g, key, x, &m.conv, &m.bn);
    relu(g, &y)
}

fn sep_conv3d(g: &mut Graph, key: &str, x: &T, m: &SepConv3d) -> T {
    let y = conv_bn_relu3d(g, &format!("{key}_s"), x, &m.spatial);
    conv_bn_relu3d(g, &format!("{key}_t"), &y, &m.temporal)
}

fn self_gating(g: &mut Graph, key: &str, x: &T, m: &SelfGating) -> T {
    let c = x.dims[1];
    let axes: Vec<usize> = (2..x.dims.len()).collect();
    let pooled = reduce_mean(g, x, &axes, false);
    let logits = linear(g, key, &pooled, &m.fc, None);
    let gate = g.node("Sigmoid", &[&logits], vec![], &[1, c]);
    let mut gate_dims = vec![1, c];
    gate_dims.extend(std::iter::repeat_n(1, x.dims.len() - 2));
    let gate = g.reshape(&gate, &gate_dims);
    g.node("Mul", &[x, &gate], vec![], &x.dims.clone())
}

fn s3dg_block(g: &mut Graph, key: &str, x: &T, m: &S3dgBlock) -> T {
    let b0 = conv_bn_relu3d(g, &format!("{key}_b0"), x, &m.branch0);
    let r = conv_bn_relu3d(g, &format!("{key}_b1r"), x, &m.branch1_reduce);
    let b1 = sep_conv3d(g, &format!("{key}_b1"), &r, &m.branch1);
    let mut dims = b0.dims.clone();
    dims[1] += b1.dims[1];
    let cat = g.node("Concat", &[&b0, &b1], vec![int("axis", 1)], &dims);
    self_gating(g, &format!("{key}_gate"), &cat, &m.gating)
}

/// Spatial 3x3/2 max pooling of every frame.
fn spatial_max_pool(g: &mut Graph, x: &T, net: &S3dg) -> T {
    let k = net.pool.kernel_size;
    let s = net.pool.stride;
    let (pt, pl, pb, pr) = match net.pool.padding {
        PaddingConfig2d::Explicit(t, l, b, r) => (t, l, b, r),
        _ => (0, 0, 0, 0),
    };
    let planes = x.dims[..x.dims.len() - 2].iter().product::<usize>();
    let (h, w) = (x.dims[x.dims.len() - 2], x.dims[x.dims.len() - 1]);
    let h2 = (h + pt + pb - k[0]) / s[0] + 1;
    let w2 = (w + pl + pr - k[1]) / s[1] + 1;
    // A clip is viewed as [1, C*T, H, W] so each (channel, frame) plane pools on its own.
    let flat = g.reshape(x, &[1, planes, h, w]);
    let pooled = g.node(
        "MaxPool",
        &[&flat],
        vec![
            ints("kernel_shape", &[k[0] as i64, k[1] as i64]),
            ints("strides", &[s[0] as i64, s[1] as i64]),
            ints("pads", &[pt as i64, pl as i64, pb as i64, pr as i64]),
        ],
        &[1, planes, h2, w2],
    );
    let mut dims = x.dims.clone();
    let n = dims.len();
    dims[n - 2] = h2;
    dims[n - 1] = w2;
    g.reshape(&pooled, &dims)
}

/// S3D-G features f_v: [1, C_last].
pub fn s3dg(g: &mut Graph, x: &T, net: &S3dg) -> T {
    let mut y = sep_conv3d(g, "stem", x, &net.stem);
    for (i, (block, &down)) in net.blocks.iter().zip(&net.downsample_before).enumerate() {
        if down {
            y = spatial_max_pool(g, &y, net);
        }
        y = s3dg_block(g, &format!("block{i}"), &y, block);
    }
    let axes: Vec<usize> = (2..y.dims.len()).collect();
    reduce_mean(g, &y, &axes, false)
}

// ---- 2D ResNets (TSM video, deflated TSM image, audio) ----

fn conv_bn2d(g: &mut Graph, key: &str, x: &T, m: &ConvBn2d) -> T {
    conv2d(g, key, x, &m.conv, &m.bn)
}

/// TSM's temporal shift on [T, C, H, W] frames of one clip.
fn temporal_shift(g: &mut Graph, x: &T, frames: usize) -> T {
    let (c, h, w) = (x.dims[1], x.dims[2], x.dims[3]);
    let fold = c / 8;
    if frames < 2 || fold == 0 {
        return x.clone();
    }
    let v = g.reshape(x, &[1, frames, c, h, w]);
    let slice = |g: &mut Graph, t0: usize, t1: usize, c0: usize, c1: usize| {
        let starts = g.i64_const("starts", &[t0 as i64, c0 as i64]);
        let ends = g.i64_const("ends", &[t1 as i64, c1 as i64]);
        let axes = g.i64_const("axes", &[1, 2]);
        g.node(
            "Slice",
            &[&v, &starts, &ends, &axes],
            vec![],
            &[1, t1 - t0, c1 - c0, h, w],
        )
    };
    let zeros = vec![0.0; fold * h * w];
    let z = g.float_const("shift_zeros", &zeros, &[1, 1, fold, h, w]);
    let prev = slice(g, 0, frames - 1, 0, fold);
    let fwd = g.node(
        "Concat",
        &[&z, &prev],
        vec![int("axis", 1)],
        &[1, frames, fold, h, w],
    );
    let next = slice(g, 1, frames, fold, 2 * fold);
    let back = g.node(
        "Concat",
        &[&next, &z],
        vec![int("axis", 1)],
        &[1, frames, fold, h, w],
    );
    let rest = slice(g, 0, frames, 2 * fold, c);
    let all = g.node(
        "Concat",
        &[&fwd, &back, &rest],
        vec![int("axis", 2)],
        &[1, frames, c, h, w],
    );
    g.reshape(&all, &[frames, c, h, w])
}

/// The feature map of a 2D ResNet: [N, C_last, H', W'].
pub fn resnet2d(g: &mut Graph, key: &str, x: &T, net: &ResNet2d, shift_frames: Option<usize>) -> T {
    let stem = conv_bn2d(g, &format!("{key}_stem"), x, &net.stem);
    let mut y = relu(g, &stem);
    for (i, block) in net.blocks.iter().enumerate() {
        let k = format!("{key}_block{i}");
        let branch_in = match shift_frames {
            Some(t) => temporal_shift(g, &y, t),
            None => y.clone(),
        };
        let a = conv_bn2d(g, &format!("{k}_c1"), &branch_in, &block.conv1);
        let a = relu(g, &a);
        let a = conv_bn2d(g, &format!("{k}_c2"), &a, &block.conv2);
        let skip = match &block.shortcut {
            Some(proj) => conv_bn2d(g, &format!("{k}_proj"), &y, proj),
            None => y.clone(),
        };
        let sum = g.node("Add", &[&a, &skip], vec![], &a.dims.clone());
        y = relu(g, &sum);
    }
    y
}

/// Global average pooling of [N, C, H, W] to [N, C].
pub fn global_pool(g: &mut Graph, x: &T) -> T {
    let (n, c) = (x.dims[0], x.dims[1]);
    let p = g.node("GlobalAveragePool", &[x], vec![], &[n, c, 1, 1]);
    g.reshape(&p, &[n, c])
}

/// TSM-ResNet clip features: input [1, C, T, H, W] -> [1, C_last].
pub fn tsm_clip(g: &mut Graph, x: &T, net: &ResNet2d) -> T {
    let (c, t, h, w) = (x.dims[1], x.dims[2], x.dims[3], x.dims[4]);
    let frames = g.node(
        "Transpose",
        &[x],
        vec![ints("perm", &[0, 2, 1, 3, 4])],
        &[1, t, c, h, w],
    );
    let frames = g.reshape(&frames, &[t, c, h, w]);
    let fmap = resnet2d(g, "tsm", &frames, net, Some(t));
    let per_frame = global_pool(g, &fmap);
    let c2 = per_frame.dims[1];
    let per_frame = g.reshape(&per_frame, &[1, t, c2]);
    reduce_mean(g, &per_frame, &[1], false)
}

// ---- text ----

/// Text features for token ids [1, 1, W] -> [1, 1, hidden]. `vocab_rows` keeps the first rows of
/// the frozen table (ids beyond it must have been mapped to unknown by the tokenizer).
pub fn text(g: &mut Graph, ids: &T, enc: &TextEncoder, vocab_rows: usize) -> T {
    let [vocab, dim] = enc.words.dims();
    let rows = vocab_rows.min(vocab);
    let table = values(enc.words.clone().slice(s![0..rows, ..]));
    let (b, k, w) = (ids.dims[0], ids.dims[1], ids.dims[2]);
    let vectors = g.gather_rows("words", &table, [rows, dim], ids, &[b, k, w, dim]);
    // Padding words (id 0) are masked out of the max by (id > 0), computed from the ids: a 0/1
    // table gathered like the words cost 4 bytes per vocabulary row (a tenth of the int8 file).
    let zero = g.i64_const("pad_id", &[0]);
    let real = g.node("Greater", &[ids, &zero], vec![], &[b, k, w]);
    let to = g.float_type() as i64;
    let m = g.node("Cast", &[&real], vec![int("to", to)], &[b, k, w]);
    let m = g.reshape(&m, &[b, k, w, 1]);
    let per_word = linear(g, "text_proj", &vectors, &enc.proj, None);
    let per_word = relu(g, &per_word);
    let hidden = per_word.dims[3];
    let masked = g.node("Mul", &[&per_word, &m], vec![], &[b, k, w, hidden]);
    g.node(
        "ReduceMax",
        &[&masked],
        vec![ints("axes", &[2]), int("keepdims", 0)],
        &[b, k, hidden],
    )
}

// ---- heads ----

fn fac_video_va(g: &mut Graph, f_v: &T, h: &FacVideoHead) -> T {
    let a = linear_bn(g, "head_v_va1", f_v, &h.first);
    let a = relu(g, &a);
    linear_bn(g, "head_v_va2", &a, &h.second)
}

/// Video (or image) features -> (z_va, z_vat), unnormalised.
pub fn video_heads(g: &mut Graph, f_v: &T, heads: &Heads) -> (T, T) {
    match heads {
        Heads::Shared(h) => {
            let z = linear(g, "head_v", f_v, &h.video, None);
            (z.clone(), z)
        }
        Heads::Disjoint(h) => (
            linear(g, "head_v_va", f_v, &h.video_va, None),
            linear(g, "head_v_vt", f_v, &h.video_vt, None),
        ),
        Heads::Fac(h) => {
            let va = fac_video_va(g, f_v, &h.video_va);
            let r = relu(g, &va);
            let vat = linear_bn(g, "head_va_vat_v", &r, &h.va_to_vat.map);
            (va, vat)
        }
    }
}

/// Audio features -> (z_va, z_vat if the design puts audio in the text space).
pub fn audio_heads(g: &mut Graph, f_a: &T, heads: &Heads) -> (T, Option<T>) {
    match heads {
        Heads::Shared(h) => {
            let z = linear(g, "head_a", f_a, &h.audio, None);
            (z.clone(), Some(z))
        }
        Heads::Disjoint(h) => (linear(g, "head_a_va", f_a, &h.audio_va, None), None),
        Heads::Fac(h) => {
            let va = linear(g, "head_a_va", f_a, &h.audio_va, None);
            let r = relu(g, &va);
            let vat = linear_bn(g, "head_va_vat_a", &r, &h.va_to_vat.map);
            (va, Some(vat))
        }
    }
}

/// Text features [1, 1, hidden] -> z_vat [1, d].
pub fn text_head(g: &mut Graph, f_t: &T, heads: &Heads) -> T {
    let z = match heads {
        Heads::Shared(h) => linear(g, "head_t", f_t, &h.text, None),
        Heads::Disjoint(h) => linear(g, "head_t", f_t, &h.text_vt, None),
        Heads::Fac(h) => linear(g, "head_t", f_t, &h.text_vat, None),
    };
    let d = *z.dims.last().expect("rank 3");
    g.reshape(&z, &[1, d])
}
