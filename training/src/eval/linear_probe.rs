//! Linear probes, as the reference code does them: standardise the frozen features with the
//! training part's statistics, then fit a linear classifier (multinomial logistic regression,
//! L2-regularised, from linfa) whose regularisation is chosen on a validation part of train;
//! refit on all of train with that choice and report accuracy on test.

use linfa::prelude::*;
use linfa_logistic::MultiLogisticRegression;
use ndarray::{Array1, Array2};

/// L2 weights tried (linfa's loss is summed over samples, so these are per-dataset strengths).
pub const ALPHAS: [f64; 6] = [0.01, 0.1, 1.0, 10.0, 100.0, 1000.0];

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("linear probe: {0}")]
    Data(String),
    #[error("linear probe: the classifier failed to fit: {0}")]
    Fit(String),
}

/// Features of `n` examples, `dim` each, row-major, and their labels.
#[derive(Clone, Debug, Default)]
pub struct Features {
    pub dim: usize,
    pub x: Vec<f32>,
    pub y: Vec<usize>,
}

impl Features {
    pub fn new(dim: usize) -> Self {
        Self {
            dim,
            ..Self::default()
        }
    }

    pub fn len(&self) -> usize {
        self.y.len()
    }

    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    pub fn push(&mut self, x: &[f32], y: usize) {
        debug_assert_eq!(x.len(), self.dim);
        self.x.extend_from_slice(x);
        self.y.push(y);
    }

    /// The rows whose index satisfies `keep`.
    pub fn select(&self, keep: impl Fn(usize) -> bool) -> Features {
        let mut out = Features::new(self.dim);
        for i in (0..self.len()).filter(|&i| keep(i)) {
            out.push(&self.x[i * self.dim..(i + 1) * self.dim], self.y[i]);
        }
        out
    }

    /// Concatenation of two feature sets of the same width.
    pub fn concat(&self, other: &Features) -> Features {
        let mut out = self.clone();
        out.x.extend_from_slice(&other.x);
        out.y.extend_from_slice(&other.y);
        out
    }
}

/// Per-feature mean and standard deviation of a training set.
#[derive(Clone, Debug)]
pub struct Standardizer {
    mean: Vec<f64>,
    inv_std: Vec<f64>,
}

impl Standardizer {
    pub fn fit(f: &Features) -> Self {
        let (n, d) = (f.len().max(1) as f64, f.dim);
        let mut mean = vec![0.0; d];
        for row in f.x.chunks(d) {
            for (m, &v) in mean.iter_mut().zip(row) {
                *m += v as f64 / n;
            }
        }
        let mut var = vec![0.0; d];
        for row in f.x.chunks(d) {
            for ((s, &v), m) in var.iter_mut().zip(row).zip(&mean) {
                *s += (v as f64 - m).powi(2) / n;
            }
        }
        // A constant feature carries nothing; scale 1 keeps it at zero instead of dividing by 0.
        let inv_std = var
            .iter()
            .map(|v| if *v > 1e-12 { 1.0 / v.sqrt() } else { 1.0 })
            .collect();
        Self { mean, inv_std }
    }

    pub fn apply(&self, f: &Features) -> Array2<f64> {
        let d = f.dim;
        Array2::from_shape_fn((f.len(), d), |(i, j)| {
            (f.x[i * d + j] as f64 - self.mean[j]) * self.inv_std[j]
        })
    }
}

/// A fitted probe: standardiser and classifier.
pub struct Probe {
    standardizer: Standardizer,
    model: linfa_logistic::MultiFittedLogisticRegression<f64, usize>,
    pub alpha: f64,
    pub val_accuracy: f64,
}

/// What a probe measured.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ProbeResult {
    pub accuracy: f64,
    pub alpha: f64,
    pub val_accuracy: f64,
    pub train: usize,
    pub test: usize,
}

fn fit_one(
    x: &Array2<f64>,
    y: &[usize],
    alpha: f64,
) -> Result<linfa_logistic::MultiFittedLogisticRegression<f64, usize>, ProbeError> {
    let dataset = Dataset::new(x.clone(), Array1::from_vec(y.to_vec()));
    MultiLogisticRegression::default()
        .alpha(alpha)
        .max_iterations(200)
        .fit(&dataset)
        .map_err(|e| ProbeError::Fit(e.to_string()))
}

fn accuracy_of(predicted: &Array1<usize>, y: &[usize]) -> f64 {
    let hits = predicted.iter().zip(y).filter(|(p, t)| p == t).count();
    hits as f64 / y.len().max(1) as f64
}

impl Probe {
    /// Chooses the regularisation on `val` (fitting on `fit`), then refits on `fit` + `val`.
    pub fn train(fit: &Features, val: &Features) -> Result<Probe, ProbeError> {
        if fit.is_empty() || val.is_empty() || fit.dim != val.dim {
            return Err(ProbeError::Data(format!(
                "needs non-empty fit and validation sets of one width ({} x {}, {} x {})",
                fit.len(),
                fit.dim,
                val.len(),
                val.dim
            )));
        }
        let s = Standardizer::fit(fit);
        let (xf, xv) = (s.apply(fit), s.apply(val));
        let mut best: Option<(f64, f64)> = None;
        for alpha in ALPHAS {
            let model = fit_one(&xf, &fit.y, alpha)?;
            let acc = accuracy_of(&model.predict(&xv), &val.y);
            // Ties go to the stronger regularisation (later in the list).
            if best.is_none_or(|(a, _)| acc >= a) {
                best = Some((acc, alpha));
            }
        }
        let (val_accuracy, alpha) = best.expect("ALPHAS is not empty");
        let all = fit.concat(val);
        let standardizer = Standardizer::fit(&all);
        let model = fit_one(&standardizer.apply(&all), &all.y, alpha)?;
        Ok(Probe {
            standardizer,
            model,
            alpha,
            val_accuracy,
        })
    }

    pub fn predict(&self, f: &Features) -> Vec<usize> {
        self.model.predict(&self.standardizer.apply(f)).to_vec()
    }

    pub fn accuracy(&self, f: &Features) -> f64 {
        accuracy_of(&Array1::from_vec(self.predict(f)), &f.y)
    }
}

/// Trains a probe on `fit` + `val` and measures it on `test`.
pub fn linear_probe(
    fit: &Features,
    val: &Features,
    test: &Features,
) -> Result<ProbeResult, ProbeError> {
    let probe = Probe::train(fit, val)?;
    Ok(ProbeResult {
        accuracy: probe.accuracy(test),
        alpha: probe.alpha,
        val_accuracy: probe.val_accuracy,
        train: fit.len() + val.len(),
        test: test.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng, rngs::StdRng};

    fn blobs(n: usize, seed: u64) -> Features {
        // Three classes separated along different axes, with a useless constant feature.
        let mut rng = StdRng::seed_from_u64(seed);
        let mut f = Features::new(4);
        for i in 0..n {
            let c = i % 3;
            let mut x = [0.0f32; 4];
            for (j, v) in x.iter_mut().enumerate().take(3) {
                *v = rng.random_range(-1.0..1.0) + if j == c { 3.0 } else { 0.0 };
            }
            x[3] = 7.0;
            f.push(&x, c);
        }
        f
    }

    #[test]
    fn separable_classes_are_learned() {
        let r = linear_probe(&blobs(150, 1), &blobs(60, 2), &blobs(90, 3)).unwrap();
        assert!(r.accuracy > 0.95, "{r:?}");
        assert_eq!((r.train, r.test), (210, 90));
        assert!(linear_probe(&Features::new(4), &blobs(3, 1), &blobs(3, 1)).is_err());
    }
}
