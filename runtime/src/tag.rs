//! Zero-shot tagging: a label file's text prompts embedded once by the text network, and a
//! score per label for a clip's video, audio, or both.
//!
//! # Label files
//!
//! A plain UTF-8 text file, one label a line:
//!
//! ```text
//! # Lines starting with '#' are comments; blank lines are ignored.
//! seven | the number seven
//! eight | eight | the digit eight
//! dog
//! ```
//!
//! - `NAME | PROMPT` gives the label's display name and the text the model reads;
//! - `NAME | PROMPT | PROMPT ...` averages several prompts (their embeddings, re-normalised);
//! - a line without `|` is both the name and the prompt.
//!
//! Names are unique (case-sensitive); every prompt needs at least one word the model knows
//! (else its embedding says nothing) and at most [`MAX_TEXT_BYTES`] bytes.
//!
//! # Scores
//!
//! The probability of label `l` for an embedding `z` (in the space where text lives, `vat`) is
//! `softmax_l(z . t_l / temperature)` with the manifest's (training) temperature; the fused
//! audio+video score uses the mean of the two dot products as the logit, which is the
//! normalised product of the two modalities' distributions at that temperature.

use std::path::Path;

use crate::open_set::OpenSet;
pub use crate::open_set::OpenSetScore;

use serde::Serialize;

use crate::vector::{dot, normalize, softmax};

/// Longest prompt or query text accepted, in bytes. The text network reads at most 16 words,
/// so longer text is a mistake (a file passed as a query, say), not a longer description.
pub const MAX_TEXT_BYTES: usize = crate::limits::MAX_TEXT_BYTES;

/// Longest label file accepted, in bytes.
pub const MAX_LABEL_FILE_BYTES: u64 = crate::limits::MAX_LABEL_FILE_BYTES;

/// The AV-Digits label set: the built-in default of `mmv tag` and `mmv demo`.
pub const AVDIGITS_LABELS: &str = include_str!("../labels/avdigits.txt");

/// Problems reading a label file or scoring against it.
#[derive(Debug, thiserror::Error)]
pub enum TagError {
    #[error("cannot read label file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("label file {origin}, line {line}: {problem}")]
    Line {
        origin: String,
        line: usize,
        problem: String,
    },
    #[error("label file {origin} has no labels")]
    Empty { origin: String },
    #[error("label file {origin} is {bytes} bytes; at most {MAX_LABEL_FILE_BYTES} are accepted")]
    TooLarge { origin: String, bytes: u64 },
    #[error("tagging needs {expected} values per embedding, got {actual}")]
    Dimension { expected: usize, actual: usize },
    #[error("{0}")]
    Embed(String),
}

/// One label: its display name and the prompts the text network reads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Label {
    pub name: String,
    pub prompts: Vec<String>,
    /// 1-based line in the label file (for error messages).
    pub line: usize,
}

/// Parsed labels, in file order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelSet {
    /// Where the labels came from (a path, or `built-in AV-Digits labels`).
    pub origin: String,
    pub labels: Vec<Label>,
}

impl LabelSet {
    /// Reads and parses a label file.
    pub fn load(path: &Path) -> Result<Self, TagError> {
        let origin = path.display().to_string();
        let io = |source| TagError::Io {
            path: origin.clone(),
            source,
        };
        let bytes = std::fs::metadata(path).map_err(io)?.len();
        if bytes > MAX_LABEL_FILE_BYTES {
            return Err(TagError::TooLarge { origin, bytes });
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        Self::parse(&text, &origin)
    }

    /// The built-in AV-Digits labels (the ten digit words).
    pub fn avdigits() -> Self {
        Self::parse(AVDIGITS_LABELS, "built-in AV-Digits labels")
            .unwrap_or_else(|e| unreachable!("the built-in labels parse: {e}"))
    }

    /// Parses label-file text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, TagError> {
        let mut labels: Vec<Label> = Vec::new();
        // Name -> index in `labels`: duplicates found in constant time (a quadratic scan of a
        // 1 MiB file of short labels would take minutes).
        let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let fail = |problem: String| TagError::Line {
                origin: origin.into(),
                line,
                problem,
            };
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = trimmed.split('|').map(str::trim).collect();
            let (name, prompts) = match fields.as_slice() {
                [only] => (*only, vec![*only]),
                [name, prompts @ ..] => (*name, prompts.to_vec()),
                [] => unreachable!("split yields at least one field"),
            };
            if name.is_empty() {
                return Err(fail("the label name is empty".into()));
            }
            if let Some(empty) = prompts.iter().position(|p| p.is_empty()) {
                return Err(fail(format!("prompt {} of {name:?} is empty", empty + 1)));
            }
            if let Some(long) = prompts.iter().find(|p| p.len() > MAX_TEXT_BYTES) {
                return Err(fail(format!(
                    "a prompt of {name:?} is {} bytes; at most {MAX_TEXT_BYTES} are accepted",
                    long.len()
                )));
            }
            if let Some(&first) = seen.get(name) {
                return Err(fail(format!(
                    "label {name:?} was already defined on line {}",
                    labels[first].line
                )));
            }
            if labels.len() == crate::limits::MAX_LABELS {
                return Err(fail(format!(
                    "more than {} labels; a label set holds at most that many",
                    crate::limits::MAX_LABELS
                )));
            }
            seen.insert(name.to_string(), labels.len());
            labels.push(Label {
                name: name.into(),
                prompts: prompts.into_iter().map(String::from).collect(),
                line,
            });
        }
        if labels.is_empty() {
            return Err(TagError::Empty {
                origin: origin.into(),
            });
        }
        Ok(Self {
            origin: origin.into(),
            labels,
        })
    }
}

/// One label's score for one input.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Tag {
    pub label: String,
    /// Softmax probability over the label set, in [0, 1].
    pub score: f32,
    /// Dot product of the (unit) embeddings, in [-1, 1]; the mean of the two for fused scores.
    pub similarity: f32,
    /// The similarity minus the mean similarity over the label set: how far this label stands
    /// out from the others for this input.
    pub contrast: f32,
    /// How typical the input is of the labels' in-domain inputs (see
    /// [`OpenSetScore::Typicality`]); present where the calibration scores the modality so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub typicality: Option<f32>,
    /// Whether the open-set score (the similarity, the contrast or the input's typicality, as
    /// the tagger's [`OpenSetScore`] says) reaches the modality's cut (see [`crate::open_set`]):
    /// false means "none of the labels is there" for the best tag. Under typicality only the
    /// best tag can be present. Always true without a cut.
    pub present: bool,
}

impl Tag {
    /// The value an open-set cut of kind `score` applies to.
    pub fn open_score(&self, score: OpenSetScore) -> f32 {
        match score {
            OpenSetScore::Cosine => self.similarity,
            OpenSetScore::Contrast => self.contrast,
            // Without its Gaussians a modality has no typicality: never above a cut.
            OpenSetScore::Typicality => self.typicality.unwrap_or(f32::NEG_INFINITY),
        }
    }
}

/// Every label's similarity and probability for one input, in label order.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Scores {
    pub similarities: Vec<f32>,
    pub probabilities: Vec<f32>,
    /// The embedding scored, for the typicality of [`Tagger::top`]; empty for fused scores and
    /// for a tagger without label Gaussians.
    #[serde(skip)]
    pub input: Vec<f32>,
}

/// A label set embedded in the text space, ready to score embeddings.
#[derive(Clone, Debug)]
pub struct Tagger {
    pub labels: Vec<Label>,
    /// One unit vector per label (the mean of its prompts' embeddings, re-normalised).
    text: Vec<Vec<f32>>,
    temperature: f32,
    /// The open-set cuts per modality ("video", "audio", "image", "fused"), their kinds of
    /// score and typicality's Gaussians (none by default: every best label is present).
    open_set: OpenSet,
}

impl Tagger {
    /// Builds a tagger from the labels and each label's prompt embeddings (`prompt_embeddings[l]`
    /// holds one vector per prompt of label `l`, in the text space).
    pub fn new(
        labels: &LabelSet,
        prompt_embeddings: Vec<Vec<Vec<f32>>>,
        temperature: f32,
    ) -> Result<Self, TagError> {
        let dim = prompt_embeddings
            .first()
            .and_then(|p| p.first())
            .map_or(0, Vec::len);
        if prompt_embeddings.len() != labels.labels.len() || dim == 0 {
            return Err(TagError::Embed(format!(
                "{} labels but {} prompt embedding sets",
                labels.labels.len(),
                prompt_embeddings.len()
            )));
        }
        let mut text = Vec::with_capacity(labels.labels.len());
        for prompts in prompt_embeddings {
            let mut mean = vec![0.0f32; dim];
            for p in &prompts {
                if p.len() != dim {
                    return Err(TagError::Dimension {
                        expected: dim,
                        actual: p.len(),
                    });
                }
                mean.iter_mut().zip(p).for_each(|(m, v)| *m += v);
            }
            normalize(&mut mean);
            text.push(mean);
        }
        Ok(Self {
            labels: labels.labels.clone(),
            text,
            temperature,
            open_set: OpenSet::default(),
        })
    }

    /// Applies a bundle's open-set calibration: its cuts, the kind of score each modality's
    /// cut applies to, and the label Gaussians of typicality. Gaussians of another width than
    /// this tagger's text space are an error.
    pub fn with_open_set(mut self, set: &OpenSet) -> Result<Self, TagError> {
        for g in set.gaussians.values() {
            if g.dim() != self.dim() {
                return Err(TagError::Dimension {
                    expected: self.dim(),
                    actual: g.dim(),
                });
            }
        }
        self.open_set = set.clone();
        Ok(self)
    }

    /// Sets what the open-set cuts apply to (a bundle's `open_set.score`).
    pub fn with_score(mut self, score: OpenSetScore) -> Self {
        self.open_set.score = score;
        self
    }

    /// What a modality's open-set cut applies to.
    pub fn score_kind(&self, modality: &str) -> OpenSetScore {
        self.open_set.score_of(modality)
    }

    /// Sets the open-set cuts: per modality, the lowest open-set score (`with_score`) at which a label counts as
    /// present (a bundle's calibrated `open_set.thresholds`, or one value for all from the user).
    pub fn with_cuts(mut self, cuts: std::collections::BTreeMap<String, f32>) -> Self {
        self.open_set.thresholds = cuts;
        self
    }

    /// One cut for every modality, as a user sets it (`mmv tag --threshold`): on the cosine
    /// or the contrast (the bundle's own kind, the contrast where the calibration scored by
    /// typicality), since a user's number between -1 and 1 means one of those.
    pub fn with_uniform_cut(mut self, cut: f32) -> Self {
        let set = &mut self.open_set;
        set.thresholds = crate::open_set::MODALITIES
            .iter()
            .map(|m| (m.to_string(), cut))
            .collect();
        set.modality_scores.clear();
        set.score = set.user_cut_kind();
        self
    }

    /// The cut of a modality, if any.
    pub fn cut(&self, modality: &str) -> Option<f32> {
        self.open_set.threshold(modality)
    }

    /// Width of the text space.
    pub fn dim(&self) -> usize {
        self.text.first().map_or(0, Vec::len)
    }

    /// Scores one embedding in the text space.
    pub fn scores(&self, z: &[f32]) -> Result<Scores, TagError> {
        let similarities = self.similarities(z)?;
        let mut scores = self.finish(similarities);
        // Kept only where a typicality needs it: no copy per window otherwise.
        if !self.open_set.gaussians.is_empty() {
            scores.input = z.to_vec();
        }
        Ok(scores)
    }

    /// Fused audio+video scores: the mean of the two modalities' similarities as the logit.
    pub fn fused(&self, video: &[f32], audio: &[f32]) -> Result<Scores, TagError> {
        let v = self.similarities(video)?;
        let a = self.similarities(audio)?;
        Ok(self.finish(v.iter().zip(&a).map(|(x, y)| 0.5 * (x + y)).collect()))
    }

    /// The best `top_k` labels of `modality`'s scores whose probability is at least
    /// `min_probability`, best first, each marked present or not by the modality's cut.
    pub fn top(
        &self,
        scores: &Scores,
        modality: &str,
        top_k: usize,
        min_probability: f32,
    ) -> Vec<Tag> {
        let cut = self.cut(modality);
        let kind = self.score_kind(modality);
        let typicality = self
            .open_set
            .gaussians
            .get(modality)
            .filter(|g| g.dim() == scores.input.len())
            .map(|g| g.typicality(&scores.input));
        let mean =
            scores.similarities.iter().sum::<f32>() / scores.similarities.len().max(1) as f32;
        let mut order: Vec<usize> = (0..self.labels.len()).collect();
        order.sort_by(|&a, &b| scores.probabilities[b].total_cmp(&scores.probabilities[a]));
        order
            .into_iter()
            .filter(|&l| scores.probabilities[l] >= min_probability)
            .take(top_k)
            .enumerate()
            .map(|(rank, l)| {
                let mut tag = Tag {
                    label: self.labels[l].name.clone(),
                    score: scores.probabilities[l],
                    similarity: scores.similarities[l],
                    contrast: scores.similarities[l] - mean,
                    typicality,
                    present: true,
                };
                // Typicality scores the input, not a label: it says whether a label is there,
                // and the best one says which, so the labels after it are never present (the
                // daemon started events for them too).
                tag.present = cut.is_none_or(|c| tag.open_score(kind) >= c)
                    && (rank == 0 || kind != OpenSetScore::Typicality);
                tag
            })
            .collect()
    }

    fn similarities(&self, z: &[f32]) -> Result<Vec<f32>, TagError> {
        if z.len() != self.dim() {
            return Err(TagError::Dimension {
                expected: self.dim(),
                actual: z.len(),
            });
        }
        Ok(self.text.iter().map(|t| dot(t, z)).collect())
    }

    fn finish(&self, similarities: Vec<f32>) -> Scores {
        let probabilities = softmax(&similarities, self.temperature);
        Scores {
            similarities,
            probabilities,
            input: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_prompts_comments_and_blank_lines() {
        let set = LabelSet::parse(
            "# digits\n\n seven | the number seven \neight|eight|the digit eight\ndog\n  # indented comment\n",
            "test",
        )
        .unwrap();
        let got: Vec<(&str, Vec<&str>, usize)> = set
            .labels
            .iter()
            .map(|l| {
                (
                    l.name.as_str(),
                    l.prompts.iter().map(String::as_str).collect(),
                    l.line,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("seven", vec!["the number seven"], 3),
                ("eight", vec!["eight", "the digit eight"], 4),
                ("dog", vec!["dog"], 5),
            ]
        );
        let builtin = LabelSet::avdigits();
        assert_eq!(builtin.labels.len(), 10);
        assert_eq!(builtin.labels[7].name, "seven");
    }

    #[test]
    fn bad_label_files_name_the_line() {
        let cases = [
            ("a\n | b\n", 2, "name is empty"),
            ("a | \n", 1, "prompt 1"),
            ("a | x\nb\na | y\n", 3, "already defined on line 1"),
        ];
        for (text, want_line, want) in cases {
            match LabelSet::parse(text, "f.txt") {
                Err(TagError::Line { line, problem, .. }) => {
                    assert_eq!(line, want_line, "{text:?}");
                    assert!(problem.contains(want), "{problem}");
                }
                other => panic!("{text:?}: {other:?}"),
            }
        }
        assert!(matches!(
            LabelSet::parse("# only comments\n\n", "f.txt"),
            Err(TagError::Empty { .. })
        ));
        let huge = format!("x | {}\n", "word ".repeat(2000));
        let err = LabelSet::parse(&huge, "f.txt").unwrap_err().to_string();
        assert!(
            err.contains("f.txt, line 1") && err.contains("4096"),
            "{err}"
        );
        let err = LabelSet::load(Path::new("/nonexistent/labels.txt")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/labels.txt"));
    }

    fn unit(v: &[f32]) -> Vec<f32> {
        let mut v = v.to_vec();
        normalize(&mut v);
        v
    }

    fn tagger() -> Tagger {
        let labels = LabelSet::parse("x\ny | y1 | y2\nz\n", "t").unwrap();
        Tagger::new(
            &labels,
            vec![
                vec![unit(&[1.0, 0.0, 0.0])],
                vec![unit(&[0.0, 1.0, 0.0]), unit(&[0.0, 1.0, 0.2])],
                vec![unit(&[0.0, 0.0, 1.0])],
            ],
            0.07,
        )
        .unwrap()
    }

    #[test]
    fn softmax_at_the_temperature_ranks_and_sums_to_one() {
        let t = tagger();
        let s = t.scores(&unit(&[0.9, 0.3, 0.1])).unwrap();
        let total: f32 = s.probabilities.iter().sum();
        assert!((total - 1.0).abs() < 1e-5);
        let top = t.top(&s, "video", 2, 0.0);
        assert_eq!(top.len(), 2);
        assert_eq!(top[0].label, "x");
        assert_eq!(top[1].label, "y");
        assert!(top[0].score > 0.99, "{top:?}");
        // Threshold drops the weak ones; top_k caps.
        assert_eq!(t.top(&s, "video", 3, 0.5).len(), 1);
        assert_eq!(t.top(&s, "video", 1, 0.0).len(), 1);
        // Exactly the softmax of sims / 0.07.
        let want = softmax(&s.similarities, 0.07);
        assert_eq!(s.probabilities, want);
        let e: Vec<f32> = s.similarities.iter().map(|x| (x / 0.07).exp()).collect();
        let sum: f32 = e.iter().sum();
        assert!((s.probabilities[0] - e[0] / sum).abs() < 1e-6);
    }

    #[test]
    fn open_set_cuts_mark_the_best_label_absent_below_them() {
        let cuts = std::collections::BTreeMap::from([("audio".to_string(), 0.5f32)]);
        let t = tagger().with_cuts(cuts);
        // Similarity to x is 0.9 / |v|: present in audio; a weak input is not.
        let strong = t.scores(&unit(&[0.9, 0.3, 0.1])).unwrap();
        let weak = t.scores(&unit(&[0.2, 0.2, -0.9])).unwrap();
        assert!(t.top(&strong, "audio", 1, 0.0)[0].present);
        let w = &t.top(&weak, "audio", 1, 0.0)[0];
        assert!(!w.present && w.similarity < 0.5, "{w:?}");
        // Modalities without a cut never abstain.
        assert!(t.top(&weak, "video", 1, 0.0)[0].present);
        assert_eq!(t.cut("audio"), Some(0.5));
    }

    #[test]
    fn a_contrast_cut_rejects_what_resembles_every_label_alike() {
        let cuts = std::collections::BTreeMap::from([("audio".to_string(), 0.3f32)]);
        // Close to all three labels (cosine about 0.6 each, a hair more to x): a high cosine,
        // no contrast. Close to x alone: both high.
        let alike = unit(&[1.02, 0.92, 1.0]);
        let clear = unit(&[0.9, 0.1, 0.1]);
        let cosine = tagger().with_cuts(cuts.clone());
        let contrast = tagger().with_cuts(cuts).with_score(OpenSetScore::Contrast);
        assert_eq!(contrast.score_kind("audio"), OpenSetScore::Contrast);
        let top = |t: &Tagger, z: &[f32]| t.top(&t.scores(z).unwrap(), "audio", 1, 0.0)[0].clone();
        let a = top(&cosine, &alike);
        assert_eq!(a.label, "x");
        assert!(a.present && a.similarity > 0.5, "{a:?}");
        // Contrast: the similarity minus the mean over the three labels.
        let s = cosine.scores(&alike).unwrap().similarities;
        let mean = s.iter().sum::<f32>() / 3.0;
        assert!(
            (a.contrast - (s[0] - mean)).abs() < 1e-6 && a.contrast < 0.01,
            "{a:?}"
        );
        assert!(!top(&contrast, &alike).present);
        let c = top(&contrast, &clear);
        assert!(c.present && c.contrast > 0.3, "{c:?}");
    }

    #[test]
    fn a_typicality_cut_rejects_what_lies_far_from_every_label_s_inputs() {
        use crate::open_set::LabelGaussians;
        // In-domain audio: tight clusters around each label's own direction.
        let mut samples = Vec::new();
        for i in 0..300 {
            let l = i % 3;
            let t = i as f32;
            let mut z = [
                0.05 * (t * 0.7).sin(),
                0.05 * (t * 1.3).cos(),
                0.05 * (t * 0.3).sin(),
            ];
            z[l] += 1.0;
            samples.push((l, z.to_vec()));
        }
        let set = OpenSet {
            thresholds: [("audio".to_string(), -4.0f32)].into(),
            score: OpenSetScore::Contrast,
            modality_scores: [("audio".to_string(), OpenSetScore::Typicality)].into(),
            gaussians: [(
                "audio".to_string(),
                LabelGaussians::fit(&samples, 3, 0.01).unwrap(),
            )]
            .into(),
            method: "test".into(),
            labels: "t".into(),
            target_negative_rate: 0.01,
            made_by: "test".into(),
            calibration: Default::default(),
        };
        set.validate().unwrap();
        let t = tagger().with_open_set(&set).unwrap();
        assert_eq!(t.score_kind("audio"), OpenSetScore::Typicality);
        assert_eq!(t.score_kind("video"), OpenSetScore::Contrast);
        let top = |z: &[f32]| t.top(&t.scores(z).unwrap(), "audio", 1, 0.0)[0].clone();
        // Near label x's inputs: present. Between x and y, where no input lay: a clear best
        // label by contrast, and yet absent.
        let near = top(&[1.02, 0.01, 0.0]);
        assert!(near.present && near.typicality.unwrap() > -4.0, "{near:?}");
        // The input's typicality says a label is there and the best says which: the others,
        // listed with the same typicality, are not present.
        let all = t.top(&t.scores(&[1.02, 0.01, 0.0]).unwrap(), "audio", 3, 0.0);
        assert_eq!(all.len(), 3);
        assert!(
            all[0].present && all[1..].iter().all(|x| !x.present),
            "{all:?}"
        );
        let between = top(&unit(&[1.0, 0.6, 0.0]));
        assert_eq!(between.label, "x");
        assert!(
            !between.present && between.typicality.unwrap() < -4.0,
            "{between:?}"
        );
        // Fused scores have no embedding of their own, so no typicality.
        assert_eq!(
            t.top(
                &t.fused(&[1.0, 0.0, 0.0], &[1.0, 0.0, 0.0]).unwrap(),
                "fused",
                1,
                0.0
            )[0]
            .typicality,
            None
        );
        // Gaussians of another width than the text space are refused.
        let mut wide = set.clone();
        wide.gaussians.insert(
            "audio".into(),
            LabelGaussians::fit(
                &[
                    (0, vec![1.0, 0.0, 0.0, 0.0]),
                    (0, vec![0.0, 1.0, 0.0, 0.0]),
                    (0, vec![0.0, 0.0, 1.0, 1.0]),
                    (0, vec![0.0, 0.0, 0.0, 1.0]),
                    (0, vec![1.0, 1.0, 1.0, 0.0]),
                ],
                1,
                0.5,
            )
            .unwrap(),
        );
        assert!(matches!(
            tagger().with_open_set(&wide),
            Err(TagError::Dimension { .. })
        ));
    }

    #[test]
    fn fused_scores_average_the_logits() {
        let t = tagger();
        let (v, a) = (unit(&[1.0, 1.0, 0.0]), unit(&[0.0, 1.0, 1.0]));
        let f = t.fused(&v, &a).unwrap();
        let (sv, sa) = (t.scores(&v).unwrap(), t.scores(&a).unwrap());
        for l in 0..3 {
            let want = 0.5 * (sv.similarities[l] + sa.similarities[l]);
            assert!((f.similarities[l] - want).abs() < 1e-6);
        }
        // Both modalities agree on y only.
        assert_eq!(t.top(&f, "fused", 1, 0.0)[0].label, "y");
    }

    #[test]
    fn wrong_dimension_is_an_error() {
        assert!(matches!(
            tagger().scores(&[1.0, 0.0]),
            Err(TagError::Dimension {
                expected: 3,
                actual: 2
            })
        ));
    }
}
