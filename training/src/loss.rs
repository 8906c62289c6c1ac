//! The MMV losses: NCE between video and audio, MIL-NCE between video and its narrations.
//!
//! Both follow the MIL-NCE reference implementation (Miech et al. 2020): embeddings are
//! L2-normalised, scores are dot products over a temperature, the positives' exp-scores are
//! summed in the numerator, and the denominator sums every score in the clip's row (its video
//! against every clip's texts) and in its column (its texts against every clip's video), as the
//! reference's `cat((x, x.T))` does. NCE is MIL-NCE with one positive per clip, so there is one
//! implementation of both.

use burn::prelude::*;

/// L2-normalises along the last dimension (with a small floor so a zero vector stays finite).
pub fn l2_normalize<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    let norm = x.clone().square().sum_dim(D - 1).sqrt().clamp_min(1e-12);
    x / norm
}

/// log(sum(exp(x))) along `dim`, kept as a size-1 dimension; stable for large scores.
pub fn logsumexp<const D: usize>(x: Tensor<D>, dim: usize) -> Tensor<D> {
    let max = x.clone().detach().max_dim(dim);
    (x - max.clone()).exp().sum_dim(dim).log() + max
}

/// MIL-NCE. `video`: [B, d]; `texts`: [B, K, d], the K positives of each clip. Returns the mean
/// loss over the batch as a [1] tensor. Inputs need not be normalised.
pub fn mil_nce(video: Tensor<2>, texts: Tensor<3>, temperature: f64) -> Tensor<1> {
    mil_nce_masked(video, texts, temperature, None)
}

/// MIL-NCE where only some clips have narrations. `has_text`: [B], 1 for a clip with
/// narrations, 0 for one without (an empty clip). A clip without narrations is no anchor and
/// its (padding) texts are no negatives, but its video stays a negative for every other clip's
/// narrations: what teaches the text side that an empty picture is none of the words.
/// With every flag 1 this is [`mil_nce`] exactly.
pub fn mil_nce_masked(
    video: Tensor<2>,
    texts: Tensor<3>,
    temperature: f64,
    has_text: Option<Tensor<1>>,
) -> Tensor<1> {
    let [b, k, d] = texts.dims();
    let v = l2_normalize(video);
    let t = l2_normalize(texts);
    // scores[i, j, k] = <v_i, t_{j,k}> / tau
    let scores = v
        .clone()
        .matmul(t.clone().reshape([b * k, d]).transpose())
        .div_scalar(temperature)
        .reshape([b, b, k]);
    // Positives: each clip's video against its own K narrations.
    let positive = (v.reshape([b, 1, d]) * t)
        .sum_dim(2)
        .reshape([b, k])
        .div_scalar(temperature);
    let numerator = logsumexp(positive, 1).reshape([b]);
    // A clip's row: its video against every clip's texts (texts of clips without any left out).
    let row_scores = match &has_text {
        Some(mask) => {
            let penalty = (mask.clone().neg().add_scalar(1.0) * -1e4).reshape([1, b, 1]);
            scores.clone() + penalty
        }
        None => scores.clone(),
    };
    let row = row_scores.reshape([b, b * k]);
    let column = scores.swap_dims(0, 1).reshape([b, b * k]);
    let denominator = logsumexp(Tensor::cat(vec![row, column], 1), 1).reshape([b]);
    let per_clip = denominator - numerator;
    match has_text {
        Some(mask) => {
            let anchors = mask.clone().sum().clamp_min(1.0);
            (per_clip * mask).sum() / anchors
        }
        None => per_clip.mean(),
    }
}

/// NCE between two modalities with one positive per clip: `a`, `b`: [B, d].
pub fn nce(a: Tensor<2>, b: Tensor<2>, temperature: f64) -> Tensor<1> {
    let [n, d] = b.dims();
    mil_nce(a, b.reshape([n, 1, d]), temperature)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plain f64 reference of the same loss, written from the formula.
    fn reference(video: &[Vec<f64>], texts: &[Vec<Vec<f64>>], tau: f64) -> f64 {
        let norm = |x: &Vec<f64>| {
            let n = x.iter().map(|v| v * v).sum::<f64>().sqrt();
            x.iter().map(|v| v / n).collect::<Vec<_>>()
        };
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
        let v: Vec<Vec<f64>> = video.iter().map(norm).collect();
        let t: Vec<Vec<Vec<f64>>> = texts
            .iter()
            .map(|ts| ts.iter().map(norm).collect())
            .collect();
        let b = v.len();
        let mut total = 0.0;
        for i in 0..b {
            let num: f64 = t[i].iter().map(|tk| (dot(&v[i], tk) / tau).exp()).sum();
            let mut den = 0.0;
            for j in 0..b {
                for tk in &t[j] {
                    den += (dot(&v[i], tk) / tau).exp();
                }
                for tk in &t[i] {
                    den += (dot(&v[j], tk) / tau).exp();
                }
            }
            total += -(num / den).ln();
        }
        total / b as f64
    }

    fn fixed_inputs(b: usize, k: usize, d: usize) -> (Vec<Vec<f64>>, Vec<Vec<Vec<f64>>>) {
        // Deterministic, varied values without a random generator.
        let val = |i: usize| ((i as f64 * 0.618_033_988_75).fract() - 0.5) * 2.0;
        let video = (0..b)
            .map(|i| (0..d).map(|j| val(i * d + j + 1)).collect())
            .collect();
        let texts = (0..b)
            .map(|i| {
                (0..k)
                    .map(|kk| (0..d).map(|j| val(1000 + (i * k + kk) * d + j)).collect())
                    .collect()
            })
            .collect();
        (video, texts)
    }

    fn to_tensor2(x: &[Vec<f64>], device: &Device) -> Tensor<2> {
        let (r, c) = (x.len(), x[0].len());
        let flat: Vec<f32> = x.iter().flatten().map(|&v| v as f32).collect();
        Tensor::from_data(TensorData::new(flat, [r, c]), device)
    }

    fn to_tensor3(x: &[Vec<Vec<f64>>], device: &Device) -> Tensor<3> {
        let (a, b, c) = (x.len(), x[0].len(), x[0][0].len());
        let flat: Vec<f32> = x.iter().flatten().flatten().map(|&v| v as f32).collect();
        Tensor::from_data(TensorData::new(flat, [a, b, c]), device)
    }

    #[test]
    fn masked_mil_nce_equals_the_reference_on_the_clips_with_text() {
        let device = Device::flex();
        let (b, k, tau) = (5, 2, 0.1);
        let (v, t) = fixed_inputs(b, k, 6);
        let vt = to_tensor2(&v, &device);
        let tt = to_tensor3(&t, &device);
        let all = Tensor::<1>::from_data(TensorData::new(vec![1.0f32; b], [b]), &device);
        let plain = mil_nce(vt.clone(), tt.clone(), tau).into_scalar::<f32>();
        let masked = mil_nce_masked(vt.clone(), tt.clone(), tau, Some(all)).into_scalar::<f32>();
        assert!((plain - masked).abs() < 1e-5, "{plain} vs {masked}");
        // Clip 4 without text: the reference with clip 4's texts removed from every row and its
        // row not averaged, but its video still in the columns.
        let flags = vec![1.0f32, 1.0, 1.0, 1.0, 0.0];
        let mask = Tensor::<1>::from_data(TensorData::new(flags, [b]), &device);
        let got = mil_nce_masked(vt, tt, tau, Some(mask)).into_scalar::<f32>() as f64;
        let norm = |x: &Vec<f64>| {
            let n = x.iter().map(|v| v * v).sum::<f64>().sqrt();
            x.iter().map(|v| v / n).collect::<Vec<_>>()
        };
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
        let vn: Vec<Vec<f64>> = v.iter().map(norm).collect();
        let tn: Vec<Vec<Vec<f64>>> = t.iter().map(|ts| ts.iter().map(norm).collect()).collect();
        let mut total = 0.0;
        for i in 0..4 {
            let num: f64 = tn[i].iter().map(|tk| (dot(&vn[i], tk) / tau).exp()).sum();
            let mut den = 0.0;
            for j in 0..b {
                if j < 4 {
                    den += tn[j]
                        .iter()
                        .map(|tk| (dot(&vn[i], tk) / tau).exp())
                        .sum::<f64>();
                }
                den += tn[i]
                    .iter()
                    .map(|tk| (dot(&vn[j], tk) / tau).exp())
                    .sum::<f64>();
            }
            total += -(num / den).ln();
        }
        let want = total / 4.0;
        assert!((got - want).abs() < 1e-4, "{got} vs {want}");
    }

    #[test]
    fn mil_nce_equals_the_f64_reference() {
        let device = Device::flex();
        for (b, k, tau) in [(4, 3, 0.07), (5, 1, 0.07), (3, 2, 0.5)] {
            let (v, t) = fixed_inputs(b, k, 6);
            let got: f32 =
                mil_nce(to_tensor2(&v, &device), to_tensor3(&t, &device), tau).into_scalar();
            let want = reference(&v, &t, tau);
            assert!(
                (got as f64 - want).abs() < 1e-4 * want.max(1.0),
                "b={b} k={k}: burn {got} vs reference {want}"
            );
        }
    }

    #[test]
    fn nce_is_mil_nce_with_one_positive() {
        let device = Device::flex();
        let (v, t) = fixed_inputs(6, 1, 5);
        let a: Vec<Vec<f64>> = t.iter().map(|x| x[0].clone()).collect();
        let got: f32 = nce(to_tensor2(&v, &device), to_tensor2(&a, &device), 0.07).into_scalar();
        let want = reference(&v, &t, 0.07);
        assert!((got as f64 - want).abs() < 1e-4 * want, "{got} vs {want}");
    }

    #[test]
    fn gradients_match_finite_differences() {
        let device = Device::flex().autodiff();
        let (b, k, d, tau) = (3, 2, 4, 0.5);
        let (v, t) = fixed_inputs(b, k, d);
        let vt = to_tensor2(&v, &device).require_grad();
        let tt = to_tensor3(&t, &device).require_grad();
        let loss = mil_nce(vt.clone(), tt.clone(), tau);
        let grads = loss.backward();
        let gv: Vec<f32> = vt
            .grad(&grads)
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let gt: Vec<f32> = tt
            .grad(&grads)
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let eps = 1e-5;
        for i in 0..b {
            for j in 0..d {
                let (mut plus, mut minus) = (v.clone(), v.clone());
                plus[i][j] += eps;
                minus[i][j] -= eps;
                let fd = (reference(&plus, &t, tau) - reference(&minus, &t, tau)) / (2.0 * eps);
                let got = gv[i * d + j] as f64;
                assert!((got - fd).abs() < 1e-3, "dL/dv[{i}][{j}]: {got} vs {fd}");
            }
        }
        for i in 0..b {
            for kk in 0..k {
                for j in 0..d {
                    let (mut plus, mut minus) = (t.clone(), t.clone());
                    plus[i][kk][j] += eps;
                    minus[i][kk][j] -= eps;
                    let fd = (reference(&v, &plus, tau) - reference(&v, &minus, tau)) / (2.0 * eps);
                    let got = gt[(i * k + kk) * d + j] as f64;
                    assert!(
                        (got - fd).abs() < 1e-3,
                        "dL/dt[{i}][{kk}][{j}]: {got} vs {fd}"
                    );
                }
            }
        }
    }

    #[test]
    fn perfect_alignment_approaches_the_floor() {
        // With identical, orthogonal pairs the loss tends to log 2 (the positive is counted in
        // both the row and the column of the denominator).
        let device = Device::flex();
        let eye = Tensor::<2>::eye(4, &device);
        let loss: f32 = nce(eye.clone(), eye, 0.01).into_scalar();
        assert!((loss - std::f32::consts::LN_2).abs() < 1e-3, "{loss}");
    }
}
