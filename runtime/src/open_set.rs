//! Open-set tagging: whether *any* label is present before saying which.
//!
//! A zero-shot tagger's softmax over its labels always sums to one, so it names a digit for a
//! street scene as readily as for a digit. A bundle calibrated by `mmv-train calibrate-tags`
//! carries, in its manifest, one cut per modality on the best label's cosine similarity
//! (the dot product of unit embeddings, in [-1, 1]): below it the answer is "none". The cut is
//! chosen on training and validation data and label-free negatives (noise, tones, non-digit
//! speech, letters, shapes, footage), never on a test split; the manifest records how.

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
}

/// A bundle's open-set calibration (manifest field `open_set`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OpenSet {
    /// Per modality ("video", "audio", "image", "fused"): the lowest best-label score
    /// (`score`) at which a label counts as present.
    pub thresholds: BTreeMap<String, f32>,
    /// What the thresholds apply to; absent in older bundles: the cosine.
    #[serde(default)]
    pub score: OpenSetScore,
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
}

impl OpenSet {
    /// The cut of a modality; None where the bundle was not calibrated for it.
    pub fn threshold(&self, modality: &str) -> Option<f32> {
        self.thresholds.get(modality).copied()
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
            // A contrast (cosine minus a mean of cosines) lies in [-2, 2].
            let bound = match self.score {
                OpenSetScore::Cosine => 1.0,
                OpenSetScore::Contrast => 2.0,
            };
            if !(t.is_finite() && (-bound..=bound).contains(t)) {
                return Err(format!(
                    "open_set.thresholds.{m} is {t}; a {:?} cut lies in [-{bound}, {bound}]",
                    self.score
                ));
            }
        }
        Ok(())
    }
}

/// Picks the cut for one modality: the lowest similarity at which every negative kind is
/// tagged at most `target` of the time (so that each kind, not only their sum, stays under
/// it). `negatives`: per kind, the best-label similarities. Returns None without negatives.
pub fn choose_threshold(negatives: &BTreeMap<String, Vec<f32>>, target: f32) -> Option<f32> {
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
            -1.0
        } else {
            next_up(s[allowed])
        };
        cut = Some(cut.map_or(kind_cut, |c: f32| c.max(kind_cut)));
    }
    cut.map(|c| c.clamp(-1.0, 1.0))
}

/// The share of `scores` at or above `cut`.
pub fn share_at_or_above(scores: &[f32], cut: f32) -> f32 {
    if scores.is_empty() {
        return 0.0;
    }
    scores.iter().filter(|&&s| s >= cut).count() as f32 / scores.len() as f32
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
        let cut = choose_threshold(&neg, 0.02).unwrap();
        // Two noise scores (0.99, 0.98) may pass; 0.97 may not.
        assert!(cut > 0.97 && cut <= 0.98, "{cut}");
        assert!(share_at_or_above(&neg["noise"], cut) <= 0.02);
        assert_eq!(share_at_or_above(&neg["speech"], cut), 0.0);
        // A kind that must never pass pushes the cut above its best score.
        neg.insert("tone".to_string(), vec![0.995]);
        let cut = choose_threshold(&neg, 0.02).unwrap();
        assert!(cut > 0.995);
        assert_eq!(choose_threshold(&BTreeMap::new(), 0.02), None);
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
            calibration: BTreeMap::new(),
        };
        set.validate().unwrap();
        set.thresholds.insert("smell".into(), 0.1);
        assert!(set.validate().unwrap_err().contains("smell"));
        set.thresholds.remove("smell");
        set.thresholds.insert("audio".into(), 1.5);
        assert!(set.validate().unwrap_err().contains("audio"));
    }
}
