//! The product-path evaluation (`mmv-train eval-product`): test media written as the plain
//! files a user would hand to `mmv tag` and `mmv search` (WAV, PNG, JPEG, Y4M, MJPEG), read and
//! embedded by the runtime's public path ([`Pipeline`], the code behind `mmv tag`, `mmv index`,
//! `mmv search` and the daemon), and scored the way the product decides: windows half a window
//! apart as `mmv tag` reads them ([`Pipeline::open_for_tagging`]), a file's answer per modality
//! is the label of the window where it stands out most (max over windows of the best label's
//! contrast, [`FileSummary`]), and a calibrated bundle answers "none" below its cut. Never
//! training-side tensors.
//!
//! [`run`] measures one precision of one bundle: in-domain rows (audio, stills, clips, search)
//! with right / wrong / abstained, and the open-set rows (label-free negatives per kind, see
//! [`negatives`]) with the share tagged. [`report`] writes the tables, JSON and plot.

pub mod calibrate;
pub mod embeddings;
pub mod media;
pub mod negatives;
pub mod report;
pub mod rows;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mmv_runtime::bundle::manifest::Precision;
use mmv_runtime::bundle::{Bundle, BundleOptions};
use mmv_runtime::ingest::OpenOptions;
use mmv_runtime::pipeline::{FileSummary, Pipeline, PipelineError};
use mmv_runtime::tag::{LabelSet, Tag, Tagger};
use serde::Serialize;

use crate::data::DataError;

pub use negatives::Purpose;

#[derive(Debug, thiserror::Error)]
pub enum ProductError {
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Index(#[from] mmv_runtime::index::IndexError),
    #[error("cannot write {path}: {problem}")]
    Write { path: PathBuf, problem: String },
    #[error("{tool}: {problem}")]
    Tool { tool: &'static str, problem: String },
    #[error("{path}: {problem}")]
    Bundle { path: PathBuf, problem: String },
}

/// What `eval-product` measures.
#[derive(Clone, Debug)]
pub struct ProductOptions {
    pub bundle: PathBuf,
    pub data_dir: PathBuf,
    pub precision: Precision,
    /// Inputs per in-domain row (test takes, test images, test clips), the first N.
    pub per_row: usize,
    /// Negative inputs per kind.
    pub negatives_per_kind: usize,
    /// Where the media files are written (a temporary folder when None).
    pub work_dir: Option<PathBuf>,
    pub seed: u64,
    /// The parts measured; all of them by default.
    pub sections: Sections,
    /// Open-set cuts to evaluate with instead of the manifest's (a calibration shipped beside
    /// the bundle, as `mmv tag --threshold` opts in to it); None: the manifest's, if any.
    pub open_set: Option<PathBuf>,
}

/// Which parts of the evaluation run (a quick look at one modality needs only its rows).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sections {
    pub audio: bool,
    pub stills: bool,
    pub clips: bool,
    pub negatives: bool,
}

impl Sections {
    pub const ALL: Sections = Sections {
        audio: true,
        stills: true,
        clips: true,
        negatives: true,
    };

    /// Parses a comma-separated list of `audio`, `stills`, `clips`, `negatives` (or `all`).
    pub fn parse(list: &str) -> Result<Sections, String> {
        let mut s = Sections {
            audio: false,
            stills: false,
            clips: false,
            negatives: false,
        };
        for part in list.split(',').map(str::trim) {
            match part {
                "all" => s = Sections::ALL,
                "audio" => s.audio = true,
                "stills" => s.stills = true,
                "clips" => s.clips = true,
                "negatives" => s.negatives = true,
                other => {
                    return Err(format!(
                        "unknown section {other:?}: expected audio, stills, clips, negatives or all"
                    ));
                }
            }
        }
        Ok(s)
    }

    /// The names of the parts switched on.
    pub fn names(&self) -> Vec<&'static str> {
        [
            (self.audio, "audio"),
            (self.stills, "stills"),
            (self.clips, "clips"),
            (self.negatives, "negatives"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect()
    }
}

/// A file's answer in one modality: the best label of the window where it stands out most.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Answer {
    pub label: usize,
    /// The open-set score its cut applies to: the best label's cosine similarity, or its
    /// contrast (`mmv_runtime::open_set::OpenSetScore`).
    pub similarity: f32,
}

/// A file's answers per modality ("video", "audio", "image", "fused").
pub type FileAnswers = BTreeMap<&'static str, Answer>;

/// A bundle at one precision, with the product's default labels (the ten digit words).
pub struct Product {
    pub pipeline: Pipeline,
    pub tagger: Tagger,
    pub open: OpenOptions,
}

impl Product {
    pub fn open(bundle: &Path, precision: Precision) -> Result<Self, ProductError> {
        let b = Bundle::open(
            bundle,
            &BundleOptions {
                precision: Some(precision),
                ..Default::default()
            },
        )
        .map_err(PipelineError::from)?;
        let pipeline = Pipeline::new(b);
        let tagger = pipeline.tagger(&LabelSet::avdigits())?;
        let open = OpenOptions {
            mjpeg_fps: f64::from(pipeline.bundle.manifest.video.fps),
            ..OpenOptions::default()
        };
        Ok(Self {
            pipeline,
            tagger,
            open,
        })
    }

    /// The cut of a modality from the bundle's open-set calibration (None: not calibrated).
    pub fn cut(&self, modality: &str) -> Option<f32> {
        self.pipeline
            .bundle
            .manifest
            .open_set
            .as_ref()
            .and_then(|o| o.threshold(modality))
    }

    /// Reads `path` through the runtime and answers per modality as `mmv tag` does; `stride_s`
    /// as `mmv tag --stride` (None: `mmv tag`'s default).
    pub fn answer(&self, path: &Path, stride_s: Option<f64>) -> Result<FileAnswers, ProductError> {
        let mut clips = self.pipeline.open_for_tagging(path, &self.open, stride_s)?;
        let mut summary = FileSummary::default();
        while let Some(clip) = clips.next(0, false)? {
            summary.add(&self.pipeline.tag(&self.tagger, &clip, 1, 0.0)?);
        }
        Ok(summary
            .best
            .iter()
            .map(|(m, tag)| (*m, self.answer_of(tag, m)))
            .collect())
    }

    /// The text-space embedding of every window of `path` in `modality` ("audio", "image",
    /// "video"), read as `mmv tag` reads it.
    pub fn window_embeddings(
        &self,
        path: &Path,
        modality: &str,
    ) -> Result<Vec<Vec<f32>>, ProductError> {
        let mut clips = self.pipeline.open_for_tagging(path, &self.open, None)?;
        let mut out = Vec::new();
        while let Some(clip) = clips.next(0, false)? {
            let e = match modality {
                "audio" => &clip.audio,
                "image" => &clip.image,
                _ => &clip.video,
            };
            out.extend(e.as_ref().and_then(|e| e.vat.clone()));
        }
        Ok(out)
    }

    /// The best label of one embedding of `modality` in the text space, as the tagger ranks it.
    pub fn best(&self, z: &[f32], modality: &str) -> Result<Answer, ProductError> {
        let scores = self.tagger.scores(z).map_err(PipelineError::from)?;
        let tags = self.tagger.top(&scores, modality, 1, 0.0);
        Ok(self.answer_of(tags.first().expect("a label set is never empty"), modality))
    }

    /// A tag as an answer: its label's index and the open-set score the modality's cut
    /// applies to.
    fn answer_of(&self, tag: &Tag, modality: &str) -> Answer {
        let label = self
            .tagger
            .labels
            .iter()
            .position(|l| l.name == tag.label)
            .expect("a tag names one of the tagger's labels");
        Answer {
            label,
            similarity: tag.open_score(self.tagger.score_kind(modality)),
        }
    }
}

/// One in-domain row: files with a known digit, answered in one modality.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Row {
    pub group: String,
    pub name: String,
    pub modality: String,
    pub n: usize,
    /// Top-1 right, ignoring abstention (the closed-set figure).
    pub right: usize,
    /// With the bundle's cut: right and kept, wrong and kept, abstained.
    pub right_kept: usize,
    pub wrong_kept: usize,
    pub abstained: usize,
    /// (similarity, right) per file, for the cut plot.
    #[serde(skip)]
    pub scores: Vec<(f32, bool)>,
}

impl Row {
    pub fn new(group: &str, name: &str, modality: &str) -> Self {
        Self {
            group: group.into(),
            name: name.into(),
            modality: modality.into(),
            ..Self::default()
        }
    }

    /// Adds one file's answer for `digit` under `cut` (None: no abstention). A file with no
    /// answer in the row's modality (e.g. silent audio) counts as abstained and wrong.
    pub fn add(&mut self, answer: Option<&Answer>, digit: usize, cut: Option<f32>) {
        self.n += 1;
        let Some(a) = answer else {
            self.abstained += 1;
            self.scores.push((f32::NEG_INFINITY, false));
            return;
        };
        let right = a.label == digit;
        self.right += usize::from(right);
        self.scores.push((a.similarity, right));
        if cut.is_some_and(|c| a.similarity < c) {
            self.abstained += 1;
        } else if right {
            self.right_kept += 1;
        } else {
            self.wrong_kept += 1;
        }
    }

    pub fn accuracy(&self) -> f64 {
        pct(self.right, self.n)
    }
}

/// One negative kind in one modality: the share of its inputs tagged with a label.
#[derive(Clone, Debug, Default, Serialize)]
pub struct NegativeRow {
    pub kind: String,
    pub modality: String,
    pub n: usize,
    pub tagged: usize,
    #[serde(skip)]
    pub scores: Vec<f32>,
}

impl NegativeRow {
    pub fn add(&mut self, answer: Option<&Answer>, cut: Option<f32>) {
        self.n += 1;
        if let Some(a) = answer {
            self.scores.push(a.similarity);
            if cut.is_none_or(|c| a.similarity >= c) {
                self.tagged += 1;
            }
        }
    }

    pub fn share(&self) -> f64 {
        pct(self.tagged, self.n)
    }
}

/// A search measurement over an index of the clip files.
#[derive(Clone, Debug, Serialize)]
pub struct SearchRow {
    pub name: String,
    pub queries: usize,
    pub r_at_1: f64,
    pub r_at_5: f64,
}

/// Everything one precision measured.
#[derive(Clone, Debug, Serialize)]
pub struct ProductEval {
    pub bundle: String,
    pub version: String,
    pub precision: String,
    /// The cuts used (the bundle's calibration), per modality.
    pub cuts: BTreeMap<String, f32>,
    /// What each modality's cut applies to.
    pub cut_scores: BTreeMap<String, mmv_runtime::open_set::OpenSetScore>,
    pub rows: Vec<Row>,
    pub search: Vec<SearchRow>,
    pub negatives: Vec<NegativeRow>,
    pub seconds: f64,
}

pub fn pct(a: usize, n: usize) -> f64 {
    if n == 0 {
        0.0
    } else {
        100.0 * a as f64 / n as f64
    }
}

/// Measures one precision of a bundle through the product path.
pub fn run(
    options: &ProductOptions,
    mut progress: impl FnMut(&str),
) -> Result<ProductEval, ProductError> {
    let started = std::time::Instant::now();
    progress("opening the bundle");
    let mut product = Product::open(&options.bundle, options.precision)?;
    if let Some(path) = &options.open_set {
        let fail = |problem: String| ProductError::Bundle {
            path: path.clone(),
            problem,
        };
        let cuts = mmv_runtime::open_set::OpenSet::load(path).map_err(fail)?;
        // The tagger scores with the file's kinds of score, as a bundle carrying it would.
        product.tagger = product
            .tagger
            .clone()
            .with_open_set(&cuts)
            .map_err(|e| fail(e.to_string()))?;
        product.pipeline.bundle.manifest.open_set = Some(cuts);
    }
    let tmp;
    let work = match &options.work_dir {
        Some(d) => d.clone(),
        None => {
            tmp = tempfile_dir()?;
            tmp.clone()
        }
    };
    let mut cuts = BTreeMap::new();
    let mut cut_scores = BTreeMap::new();
    for m in mmv_runtime::open_set::MODALITIES {
        if let Some(c) = product.cut(m) {
            cuts.insert(m.to_string(), c);
            cut_scores.insert(m.to_string(), product.tagger.score_kind(m));
        }
    }
    let data = rows::load_data(&product, &options.data_dir)?;
    let mut out = ProductEval {
        bundle: product.pipeline.bundle.manifest.name.clone(),
        version: product.pipeline.bundle.manifest.version.clone(),
        precision: options.precision.name().into(),
        cuts,
        cut_scores,
        rows: Vec::new(),
        search: Vec::new(),
        negatives: Vec::new(),
        seconds: 0.0,
    };
    let ctx = rows::Ctx {
        product: &product,
        data: &data,
        options,
        work: &work,
    };
    let only = options.sections;
    if only.audio {
        rows::audio_rows(&ctx, &mut out.rows, &mut progress)?;
    }
    if only.stills {
        rows::still_rows(&ctx, &mut out.rows, &mut progress)?;
    }
    if only.clips {
        rows::clip_rows(&ctx, &mut out.rows, &mut out.search, &mut progress)?;
    }
    if only.negatives {
        out.negatives = rows::negative_rows(
            &product,
            &options.data_dir,
            Purpose::Evaluation,
            options.negatives_per_kind,
            &work.join("negatives"),
            &mut progress,
        )?;
    }
    out.seconds = started.elapsed().as_secs_f64();
    if options.work_dir.is_none() {
        let _ = std::fs::remove_dir_all(&work);
    }
    Ok(out)
}

/// A fresh folder under the system's temporary directory (removed by [`run`] when done).
pub(crate) fn tempfile_dir() -> Result<PathBuf, ProductError> {
    let dir = std::env::temp_dir().join(format!(
        "mmv-eval-product-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    std::fs::create_dir_all(&dir).map_err(|e| ProductError::Write {
        path: dir.clone(),
        problem: e.to_string(),
    })?;
    Ok(dir)
}
