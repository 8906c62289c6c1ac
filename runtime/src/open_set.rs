//! Open-set tagging: whether *any* label is present before saying which.
//!
//! A zero-shot tagger's softmax over its labels always sums to one, so it names a digit for a
//! street scene as readily as for a digit. A bundle calibrated by `mmv-train calibrate-tags`
//! carries, in its manifest (or in a file beside it, `mmv tag --open-set`), one cut per
//! modality on a score of the input (below it the answer is "none"). The cut is
//! chosen on training and validation data and label-free negatives (noise, tones, non-digit
//! speech, letters, shapes, footage), never on a test split; the manifest records how.
//!
//! Three kinds of score exist ([`OpenSetScore`]); the calibration picks one per modality. The
//! typicality score does not look at the labels' text at all: it asks how far the embedding
//! lies from the in-domain inputs of any label ([`LabelGaussians`], a Gaussian per label with
//! one shared covariance, fitted on training inputs), so that a spoken word that is not a digit,
//! which resembles the digit words' text a little, still lies far from every digit's takes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The modalities a cut exists for (the names used in the manifest and in JSON output).
pub const MODALITIES: [&str; 4] = ["video", "audio", "image", "fused"];

/// What an open-set cut applies to.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OpenSetScore {
    /// The best label's cosine similarity (bundles calibrated before `score` existed).
    #[default]
    Cosine,
    /// The best label's cosine minus the mean cosine over the label set: how far the best
    /// label stands out. An input that resembles every label a little (a letter, a spoken
    /// word that is not a digit) has a high cosine but a low contrast.
    Contrast,
    /// How typical the embedding is of some label's in-domain inputs: minus its smallest
    /// squared Mahalanobis distance to a label's mean, per dimension (about -1 for a typical
    /// in-domain input, far lower for what the networks never saw), from the modality's
    /// [`LabelGaussians`] in the calibration.
    Typicality,
}

impl OpenSetScore {
    /// The values a score of this kind (and so a cut on it) can take.
    pub fn range(self) -> (f32, f32) {
        match self {
            OpenSetScore::Cosine => (-1.0, 1.0),
            // A contrast (a cosine minus a mean of cosines) lies in [-2, 2].
            OpenSetScore::Contrast => (-2.0, 2.0),
            OpenSetScore::Typicality => (f32::MIN, 0.0),
        }
    }
}

/// Per label, the mean of its in-domain embeddings, and the inverse of their covariance
/// around those means (shared by the labels): what [`OpenSetScore::Typicality`] measures
/// distances with. Fitted by [`LabelGaussians::fit`] on training inputs only.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LabelGaussians {
    /// One mean per label, in label order.
    pub means: Vec<Vec<f32>>,
    /// The shared precision matrix (inverse covariance), row by row.
    pub precision: Vec<Vec<f32>>,
    /// Inputs fitted on.
    pub samples: usize,
}

impl LabelGaussians {
    /// Fits the means and the shared covariance of `samples` (label index, embedding), the
    /// covariance shrunk by `shrink` (0 to 1) toward its mean variance so that it inverts.
    pub fn fit(samples: &[(usize, Vec<f32>)], labels: usize, shrink: f64) -> Result<Self, String> {
        let dim = samples.first().map_or(0, |(_, z)| z.len());
        if dim == 0 || labels == 0 {
            return Err("no samples to fit label Gaussians on".into());
        }
        let mut sums = vec![vec![0.0f64; dim]; labels];
        let mut counts = vec![0usize; labels];
        for (l, z) in samples {
            if *l >= labels || z.len() != dim {
                return Err(format!(
                    "a sample has label {l} of {labels} or {} values of {dim}",
                    z.len()
                ));
            }
            counts[*l] += 1;
            sums[*l]
                .iter_mut()
                .zip(z)
                .for_each(|(s, &v)| *s += f64::from(v));
        }
        if let Some(l) = counts.iter().position(|&c| c == 0) {
            return Err(format!("label {l} has no sample to fit its mean on"));
        }
        let means: Vec<Vec<f64>> = sums
            .iter()
            .zip(&counts)
            .map(|(s, &c)| s.iter().map(|v| v / c as f64).collect())
            .collect();
        let mut cov = vec![0.0f64; dim * dim];
        for (l, z) in samples {
            let d: Vec<f64> = z
                .iter()
                .zip(&means[*l])
                .map(|(&v, m)| f64::from(v) - m)
                .collect();
            for i in 0..dim {
                for j in 0..=i {
                    cov[i * dim + j] += d[i] * d[j];
                }
            }
        }
        let n = samples.len() as f64;
        let mean_var = (0..dim).map(|i| cov[i * dim + i] / n).sum::<f64>() / dim as f64;
        for i in 0..dim {
            for j in 0..=i {
                let mut c = (1.0 - shrink) * cov[i * dim + j] / n;
                if i == j {
                    c += shrink * mean_var;
                }
                cov[i * dim + j] = c;
                cov[j * dim + i] = c;
            }
        }
        let precision = invert_spd(&cov, dim)
            .ok_or("the embeddings' covariance does not invert (too few or identical samples)")?;
        Ok(Self {
            means: means
                .into_iter()
                .map(|m| m.into_iter().map(|v| v as f32).collect())
                .collect(),
            precision: precision
                .chunks(dim)
                .map(|r| r.iter().map(|&v| v as f32).collect())
                .collect(),
            samples: samples.len(),
        })
    }

    /// Width of the embeddings fitted on.
    pub fn dim(&self) -> usize {
        self.precision.len()
    }

    /// The typicality of `z`: minus its smallest squared Mahalanobis distance to a label's
    /// mean, divided by the dimension. `z` must have [`LabelGaussians::dim`] values.
    pub fn typicality(&self, z: &[f32]) -> f32 {
        let dim = self.dim();
        let mut best = f64::INFINITY;
        let mut d = vec![0.0f64; dim];
        for mean in &self.means {
            d.iter_mut()
                .zip(z.iter().zip(mean))
                .for_each(|(d, (&v, &m))| *d = f64::from(v) - f64::from(m));
            let mut dist = 0.0;
            for (row, di) in self.precision.iter().zip(&d) {
                let pd: f64 = row.iter().zip(&d).map(|(&p, &x)| f64::from(p) * x).sum();
                dist += di * pd;
            }
            best = best.min(dist);
        }
        (-best / dim as f64) as f32
    }

    fn validate(&self, modality: &str) -> Result<(), String> {
        let dim = self.dim();
        let square = self.precision.iter().all(|r| r.len() == dim);
        let means = !self.means.is_empty() && self.means.iter().all(|m| m.len() == dim);
        let finite = self
            .precision
            .iter()
            .chain(&self.means)
            .flatten()
            .all(|v| v.is_finite());
        if dim == 0 || !square || !means || !finite {
            return Err(format!(
                "open_set.gaussians.{modality} is not {0} means and a {0}x{0} precision matrix of finite numbers",
                dim.max(1)
            ));
        }
        Ok(())
    }
}

/// The inverse of a symmetric positive definite `dim` x `dim` matrix (row-major), through its
/// Cholesky factor; None when it is not positive definite.
fn invert_spd(a: &[f64], dim: usize) -> Option<Vec<f64>> {
    // a = L L^T.
    let mut l = vec![0.0f64; dim * dim];
    for i in 0..dim {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i * dim + k] * l[j * dim + k]).sum();
            if i == j {
                let v = a[i * dim + i] - s;
                // Not positive (or NaN): not positive definite.
                if v.is_nan() || v <= 0.0 {
                    return None;
                }
                l[i * dim + i] = v.sqrt();
            } else {
                l[i * dim + j] = (a[i * dim + j] - s) / l[j * dim + j];
            }
        }
    }
    // Columns of a^-1: solve L y = e_c, then L^T x = y.
    let mut inv = vec![0.0f64; dim * dim];
    let mut y = vec![0.0f64; dim];
    for c in 0..dim {
        for i in 0..dim {
            let e = if i == c { 1.0 } else { 0.0 };
            let s: f64 = (0..i).map(|k| l[i * dim + k] * y[k]).sum();
            y[i] = (e - s) / l[i * dim + i];
        }
        for i in (0..dim).rev() {
            let s: f64 = (i + 1..dim)
                .map(|k| l[k * dim + i] * inv[k * dim + c])
                .sum();
            inv[i * dim + c] = (y[i] - s) / l[i * dim + i];
        }
    }
    Some(inv)
}

/// A bundle's open-set calibration (manifest field `open_set`). The default has no cuts.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OpenSet {
    /// Per modality ("video", "audio", "image", "fused"): the lowest best-label score
    /// (`score`) at which a label counts as present.
    pub thresholds: BTreeMap<String, f32>,
    /// What the thresholds apply to; absent in older bundles: the cosine.
    #[serde(default)]
    pub score: OpenSetScore,
    /// Per modality, another kind of score than `score` where the calibration chose one.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub modality_scores: BTreeMap<String, OpenSetScore>,
    /// Per modality scored by typicality: its label Gaussians.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub gaussians: BTreeMap<String, LabelGaussians>,
    /// How the cuts were chosen, in words.
    pub method: String,
    /// The label set calibrated on (e.g. "avdigits": the ten digit words).
    pub labels: String,
    /// The most a negative kind may be tagged on the calibration data.
    pub target_negative_rate: f32,
    /// The command that wrote this, with its arguments.
    pub made_by: String,
    /// Per modality: what the cut keeps and lets through on the calibration data.
    #[serde(default)]
    pub calibration: BTreeMap<String, ModalityCalibration>,
}

/// What one modality's cut did on the calibration data.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModalityCalibration {
    /// In-domain inputs (train / validation split) and the share whose best label is kept.
    pub positives: usize,
    pub positives_kept: f32,
    /// Per negative kind: (inputs, share tagged).
    pub negatives: BTreeMap<String, (usize, f32)>,
    /// Per kind of score tried ("contrast", "typicality", ...): the share of right answers
    /// its cut kept; the kind that kept most is the modality's.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub kept_by_score: BTreeMap<String, f32>,
}

impl OpenSet {
    /// The cut of a modality; None where the bundle was not calibrated for it.
    pub fn threshold(&self, modality: &str) -> Option<f32> {
        self.thresholds.get(modality).copied()
    }

    /// What a modality's cut applies to.
    pub fn score_of(&self, modality: &str) -> OpenSetScore {
        self.modality_scores
            .get(modality)
            .copied()
            .unwrap_or(self.score)
    }

    /// The kind of score a user's one cut for every modality (`mmv tag --threshold`) applies
    /// to: the base kind, or the contrast where that is typicality (a number in [-1, 1] is a
    /// cosine or a contrast). Without a calibration: the cosine.
    pub fn user_cut_kind(&self) -> OpenSetScore {
        match self.score {
            OpenSetScore::Typicality => OpenSetScore::Contrast,
            kind => kind,
        }
    }

    /// A calibration file (one kept beside a bundle, `mmv tag --open-set`), read and checked.
    pub fn load(path: &std::path::Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
        Self::from_json(&text).map_err(|e| format!("not an open-set calibration: {e}"))
    }

    /// A calibration from its JSON (a manifest's `open_set`, or the file `calibrate-tags`'s
    /// output is kept in beside a bundle), checked.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let set: Self = serde_json::from_str(text).map_err(|e| e.to_string())?;
        set.validate()?;
        Ok(set)
    }

    /// Checks the values a reader relies on.
    pub fn validate(&self) -> Result<(), String> {
        for (m, t) in &self.thresholds {
            if !MODALITIES.contains(&m.as_str()) {
                return Err(format!(
                    "open_set.thresholds has an unknown modality {m:?} (known: {})",
                    MODALITIES.join(", ")
                ));
            }
            let kind = self.score_of(m);
            let (lo, hi) = kind.range();
            if !(t.is_finite() && (lo..=hi).contains(t)) {
                return Err(format!(
                    "open_set.thresholds.{m} is {t}; a {kind:?} cut lies in [{lo}, {hi}]"
                ));
            }
            if kind == OpenSetScore::Typicality && !self.gaussians.contains_key(m) {
                return Err(format!(
                    "open_set scores {m} by typicality but has no open_set.gaussians.{m}"
                ));
            }
        }
        for m in self.modality_scores.keys().chain(self.gaussians.keys()) {
            if !MODALITIES.contains(&m.as_str()) {
                return Err(format!(
                    "open_set names an unknown modality {m:?} (known: {})",
                    MODALITIES.join(", ")
                ));
            }
        }
        for (m, g) in &self.gaussians {
            g.validate(m)?;
        }
        Ok(())
    }
}

/// Picks the cut for one modality: the lowest similarity at which every negative kind is
/// tagged at most `target` of the time (so that each kind, not only their sum, stays under
/// it). `negatives`: per kind, the best-label scores of kind `kind`. Returns None without
/// negatives.
pub fn choose_threshold(
    negatives: &BTreeMap<String, Vec<f32>>,
    target: f32,
    kind: OpenSetScore,
) -> Option<f32> {
    let (lo, hi) = kind.range();
    let mut cut: Option<f32> = None;
    for scores in negatives.values() {
        if scores.is_empty() {
            continue;
        }
        let mut s = scores.clone();
        s.sort_by(|a, b| b.total_cmp(a));
        // At most floor(target * n) of this kind may reach the cut: just above the next one.
        let allowed = (target * s.len() as f32).floor() as usize;
        let kind_cut = if allowed >= s.len() {
            lo
        } else {
            next_up(s[allowed])
        };
        cut = Some(cut.map_or(kind_cut, |c: f32| c.max(kind_cut)));
    }
    cut.map(|c| c.clamp(lo, hi))
}

/// The smallest f32 above `x` (a cut that `x` itself does not reach).
fn next_up(x: f32) -> f32 {
    if x.is_nan() || x == f32::INFINITY {
        return x;
    }
    let bits = x.to_bits();
    let next = if x == 0.0 {
        1
    } else if x > 0.0 {
        bits + 1
    } else {
        bits - 1
    };
    f32::from_bits(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_negative_kind_stays_under_the_target() {
        let mut neg = BTreeMap::new();
        // 100 noise scores 0.00..0.99 and 50 speech scores all at 0.3.
        neg.insert(
            "noise".to_string(),
            (0..100).map(|i| i as f32 / 100.0).collect::<Vec<_>>(),
        );
        neg.insert("speech".to_string(), vec![0.3; 50]);
        let share_at_or_above = |scores: &[f32], cut: f32| {
            scores.iter().filter(|&&s| s >= cut).count() as f32 / scores.len() as f32
        };
        let cut = choose_threshold(&neg, 0.02, OpenSetScore::Cosine).unwrap();
        // Two noise scores (0.99, 0.98) may pass; 0.97 may not.
        assert!(cut > 0.97 && cut <= 0.98, "{cut}");
        assert!(share_at_or_above(&neg["noise"], cut) <= 0.02);
        assert_eq!(share_at_or_above(&neg["speech"], cut), 0.0);
        // A kind that must never pass pushes the cut above its best score.
        neg.insert("tone".to_string(), vec![0.995]);
        let cut = choose_threshold(&neg, 0.02, OpenSetScore::Cosine).unwrap();
        assert!(cut > 0.995);
        assert_eq!(
            choose_threshold(&BTreeMap::new(), 0.02, OpenSetScore::Cosine),
            None
        );
    }

    #[test]
    fn validation_names_the_bad_field() {
        let mut set = OpenSet {
            thresholds: BTreeMap::from([("video".to_string(), 0.4)]),
            score: OpenSetScore::Cosine,
            method: "m".into(),
            labels: "avdigits".into(),
            target_negative_rate: 0.01,
            made_by: "test".into(),
            ..OpenSet::default()
        };
        set.validate().unwrap();
        set.thresholds.insert("smell".into(), 0.1);
        assert!(set.validate().unwrap_err().contains("smell"));
        set.thresholds.remove("smell");
        set.thresholds.insert("audio".into(), 1.5);
        assert!(set.validate().unwrap_err().contains("audio"));
        // A typicality cut needs its Gaussians.
        set.thresholds.insert("audio".into(), -3.0);
        set.modality_scores
            .insert("audio".into(), OpenSetScore::Typicality);
        assert!(set.validate().unwrap_err().contains("gaussians.audio"));
        let g = LabelGaussians::fit(&two_blobs(), 2, 0.01).unwrap();
        set.gaussians.insert("audio".into(), g);
        set.validate().unwrap();
        set.thresholds.insert("audio".into(), 0.5);
        assert!(set.validate().unwrap_err().contains("Typicality"));
    }

    /// Two labels' samples around (2, 0, 0) and (-2, 0, 0), spread 0.5 in x and 1 in y and z.
    fn two_blobs() -> Vec<(usize, Vec<f32>)> {
        let mut out = Vec::new();
        for i in 0..200 {
            let t = i as f32;
            let (a, b, c) = ((t * 0.37).sin(), (t * 0.71).cos(), (t * 1.13).sin());
            let label = i % 2;
            let x = if label == 0 { 2.0 } else { -2.0 };
            out.push((label, vec![x + 0.5 * a, 1.0 * b * 1.4, 1.0 * c * 1.4]));
        }
        out
    }

    #[test]
    fn typicality_measures_distance_in_each_direction_s_own_units() {
        let g = LabelGaussians::fit(&two_blobs(), 2, 0.0).unwrap();
        assert_eq!(g.dim(), 3);
        assert!((g.means[0][0] - 2.0).abs() < 0.05, "{:?}", g.means);
        // At a mean: 0. One unit off in x (sd 0.35) is far less typical than one unit in y
        // (sd 1): the covariance, not plain distance, decides.
        assert!(g.typicality(&[2.0, 0.0, 0.0]).abs() < 0.05);
        let off_x = g.typicality(&[3.0, 0.0, 0.0]);
        let off_y = g.typicality(&[2.0, 1.0, 0.0]);
        assert!(off_x < off_y && off_y < 0.0, "{off_x} {off_y}");
        // The nearest label counts: near either mean is typical.
        assert!((g.typicality(&[-2.0, 0.0, 0.0]) - g.typicality(&[2.0, 0.0, 0.0])).abs() < 0.1);
        // Bad input is refused, not fitted.
        assert!(
            LabelGaussians::fit(&two_blobs(), 3, 0.0)
                .unwrap_err()
                .contains("label 2")
        );
        assert!(LabelGaussians::fit(&[], 2, 0.0).is_err());
        let same = vec![(0, vec![1.0, 1.0]), (1, vec![1.0, 1.0])];
        assert!(LabelGaussians::fit(&same, 2, 0.0).is_err());
    }

    #[test]
    fn inverse_of_a_known_matrix() {
        let a = [4.0, 2.0, 2.0, 3.0];
        let inv = invert_spd(&a, 2).unwrap();
        // [[4, 2], [2, 3]]^-1 = [[3, -2], [-2, 4]] / 8.
        for (x, y) in inv.iter().zip([0.375, -0.25, -0.25, 0.5]) {
            assert!((x - y).abs() < 1e-12, "{inv:?}");
        }
        assert!(invert_spd(&[1.0, 2.0, 2.0, 1.0], 2).is_none());
    }
}
