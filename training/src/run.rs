//! A training run on AV-Digits, as `mmv-train train` drives it: the loop over batches, metrics
//! as JSON lines, checkpoints every N steps and at the end, `--resume`, and the loss plot.
//!
//! A run folder holds:
//! - `run.json`: the config, seed, data folder and word vectors the run was started with;
//! - `metrics.jsonl`: one line per step (losses, learning rate, timings);
//! - `checkpoints/step-NNNNNN/`: weights (safetensors), Adam state and step;
//! - `model.safetensors`: the final weights; `loss.png`: the loss curves.
//!
//! Batches are a pure function of (seed, step), and parameters carry stable ids, so a resumed
//! run continues the same schedule on the same batches.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::backend;
use crate::checkpoint::{self, CheckpointError, CheckpointState};
use crate::config::MmvConfig;
use crate::data::augment::Augment;
use crate::data::splits::ClipSplit;
use crate::data::{AvDigits, DataError, Sample, batch_from_samples};
use crate::metrics::MetricsLine;
use crate::model::Mmv;
use crate::trainer::Trainer;
use crate::word_vectors::{WordVectorError, WordVectors};

pub const RUN_FILE: &str = "run.json";
pub const METRICS_FILE: &str = "metrics.jsonl";
pub const CHECKPOINTS_DIR: &str = "checkpoints";
pub const FINAL_WEIGHTS: &str = "model.safetensors";
pub const LOSS_PLOT: &str = "loss.png";
/// The word vectors inside the data folder.
pub const GLOVE_FILE: &str = "glove/glove.6B.50d.top50k.txt.gz";

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    WordVectors(#[from] WordVectorError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {problem}")]
    Run { path: PathBuf, problem: String },
    #[error("config: {0}")]
    Config(String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> RunError + '_ {
    move |source| RunError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What a run was started with (`run.json`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RunMeta {
    pub config: MmvConfig,
    pub seed: u64,
    pub data_dir: PathBuf,
    pub glove: PathBuf,
    pub checkpoint_every: usize,
    /// Weights the run started from (a warm restart: a new schedule on trained weights).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_from: Option<PathBuf>,
}

/// How to run `mmv-train train`.
#[derive(Clone, Debug)]
pub struct TrainOptions {
    pub config: MmvConfig,
    pub data_dir: PathBuf,
    pub out: PathBuf,
    pub seed: u64,
    pub checkpoint_every: usize,
    /// Continue the run in `out` from its latest checkpoint (its config and seed win).
    pub resume: bool,
    /// GloVe file; `data_dir/glove/...` when absent.
    pub glove: Option<PathBuf>,
    /// Stop after this many steps in total (the schedule still spans `total_steps`).
    pub stop_at: Option<usize>,
    /// [`Augment::NONE`] trains without augmentation; anything else means "the preset the
    /// run's config names" (`[data] augment`), so that a resumed run keeps its own.
    pub augment: Augment,
    /// Start from these weights (`model.safetensors` of an earlier run of the same config)
    /// instead of a fresh initialisation; recorded in `run.json`.
    pub init_from: Option<PathBuf>,
}

/// What a finished (or stopped) run did.
#[derive(Clone, Debug, Serialize)]
pub struct TrainSummary {
    pub first_step: usize,
    pub steps_done: usize,
    pub last_loss: Option<f64>,
    pub seconds: f64,
    pub steps_per_s: f64,
    pub data_seconds: f64,
}

/// The frozen word table for a config: the GloVe file's vectors.
pub fn load_word_vectors(glove: &Path, config: &MmvConfig) -> Result<WordVectors, RunError> {
    let wv = WordVectors::load_glove(glove, None)?;
    if wv.dim != config.text.word_dim {
        return Err(RunError::Config(format!(
            "text.word_dim is {} but {} has {}-d vectors",
            config.text.word_dim,
            glove.display(),
            wv.dim
        )));
    }
    Ok(wv)
}

/// Reads `run.json` from a run folder.
pub fn read_meta(run: &Path) -> Result<RunMeta, RunError> {
    let path = run.join(RUN_FILE);
    let text = std::fs::read_to_string(&path).map_err(io_err(&path))?;
    serde_json::from_str(&text).map_err(|e| RunError::Run {
        path,
        problem: format!("not a run description: {e}"),
    })
}

/// The newest complete checkpoint folder of a run, if any.
pub fn latest_checkpoint(run: &Path) -> Result<Option<PathBuf>, RunError> {
    let dir = run.join(CHECKPOINTS_DIR);
    if !dir.is_dir() {
        return Ok(None);
    }
    let mut best: Option<(usize, PathBuf)> = None;
    for entry in std::fs::read_dir(&dir).map_err(io_err(&dir))? {
        let path = entry.map_err(io_err(&dir))?.path();
        // A folder without its state file was cut short while being written.
        if !path.join(checkpoint::STATE_FILE).is_file() {
            continue;
        }
        if let Ok(state) = checkpoint::read_state(&path)
            && best.as_ref().is_none_or(|(s, _)| state.step > *s)
        {
            best = Some((state.step, path));
        }
    }
    Ok(best.map(|(_, p)| p))
}

/// Reads `metrics.jsonl` (lines that do not parse are skipped: a killed run may leave half a
/// line).
pub fn read_metrics(run: &Path) -> Result<Vec<MetricsLine>, RunError> {
    let path = run.join(METRICS_FILE);
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(&path)(e)),
    };
    let mut out = Vec::new();
    for line in std::io::BufReader::new(file).lines() {
        if let Ok(m) = serde_json::from_str(&line.map_err(io_err(&path))?) {
            out.push(m);
        }
    }
    Ok(out)
}

/// Makes training batch `step`: clips `step * B .. (step + 1) * B` of the train split, built on
/// both cores (the model's kernels are idle meanwhile).
pub fn training_samples(
    data: &AvDigits,
    step: usize,
    batch: usize,
    seed: u64,
    augment: &Augment,
) -> Vec<Sample> {
    let first = (step * batch) as u64;
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 4);
    let per = batch.div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    (t * per..((t + 1) * per).min(batch))
                        .map(|i| data.sample(ClipSplit::Train, first + i as u64, seed, augment))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a sample thread panicked"))
            .collect()
    })
}

/// Runs (or resumes) training; `on_step` sees every metrics line (for a progress bar).
pub fn train(
    options: TrainOptions,
    mut on_step: impl FnMut(&MetricsLine),
) -> Result<TrainSummary, RunError> {
    let out = options.out.clone();
    std::fs::create_dir_all(&out).map_err(io_err(&out))?;
    let meta_path = out.join(RUN_FILE);
    let meta = if options.resume {
        read_meta(&out)?
    } else {
        if meta_path.exists() {
            return Err(RunError::Run {
                path: out,
                problem: "already holds a run; pass --resume to continue it, or another --out"
                    .into(),
            });
        }
        let meta = RunMeta {
            config: options.config.clone(),
            seed: options.seed,
            data_dir: options.data_dir.clone(),
            glove: options
                .glove
                .clone()
                .unwrap_or_else(|| options.data_dir.join(GLOVE_FILE)),
            checkpoint_every: options.checkpoint_every.max(1),
            init_from: options.init_from.clone(),
        };
        let json = serde_json::to_string_pretty(&meta).expect("run meta serialises");
        std::fs::write(&meta_path, json).map_err(io_err(&meta_path))?;
        meta
    };
    let config = meta.config.clone();
    config.validate().map_err(RunError::Config)?;

    let words = load_word_vectors(&meta.glove, &config)?;
    // The data folder given now wins over the recorded one (runs move between machines).
    let mut data = AvDigits::load(&options.data_dir, &config, words.vocab.clone())?;
    let augment = if options.augment == Augment::NONE {
        Augment::NONE
    } else {
        Augment::preset(config.data.augment)
    };
    if augment.non_digit_words {
        let n = data.load_non_digit_speech(&out.join("non-digit-speech"))?;
        tracing::info!("{n} spoken non-digit words for empty clips");
    }

    let device = backend::training_device();
    device.seed(meta.seed);
    let mut model = checkpoint::with_stable_param_ids(Mmv::new(&config, words.table, &device));
    if let Some(init) = &meta.init_from {
        // Before any checkpoint: a resumed run's checkpoint replaces these weights below.
        model = checkpoint::load_weights(model, init)?;
    }
    let mut trainer = Trainer::new(model, config.clone());
    if options.resume
        && let Some(dir) = latest_checkpoint(&out)?
    {
        let state = checkpoint::restore(&dir, &mut trainer)?;
        tracing::info!("resumed from {} at step {}", dir.display(), state.step);
    }
    let start = trainer.step;
    keep_metrics_before(&out, start)?;

    let end = options
        .stop_at
        .unwrap_or(config.optim.total_steps)
        .min(config.optim.total_steps);
    let metrics_path = out.join(METRICS_FILE);
    let mut metrics = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&metrics_path)
        .map_err(io_err(&metrics_path))?;
    let batch = config.optim.batch_size;
    let started = Instant::now();
    let mut data_seconds = 0.0;
    let mut last_loss = None;
    for step in start..end {
        let t0 = Instant::now();
        let samples = training_samples(&data, step, batch, meta.seed, &augment.at_step(step));
        let batch_tensors = batch_from_samples(&samples, &config, &device);
        let data_s = t0.elapsed().as_secs_f64();
        data_seconds += data_s;
        let stats = trainer.step(&batch_tensors);
        let line = MetricsLine {
            step,
            lr: stats.lr,
            loss: stats.loss,
            nce_va: stats.nce_va,
            mil_nce_vt: stats.mil_nce_vt,
            mil_nce_at: stats.mil_nce_at,
            data_s,
            step_s: t0.elapsed().as_secs_f64() - data_s,
            steps_per_s: (step + 1 - start) as f64 / started.elapsed().as_secs_f64(),
        };
        if !stats.loss.is_finite() {
            return Err(RunError::Run {
                path: out,
                problem: format!("the loss became {} at step {step}", stats.loss),
            });
        }
        let json = serde_json::to_string(&line).expect("metrics serialise");
        writeln!(metrics, "{json}").map_err(io_err(&metrics_path))?;
        last_loss = Some(stats.loss);
        on_step(&line);
        let done = step + 1;
        if done % meta.checkpoint_every == 0 || done == end {
            let dir = out.join(CHECKPOINTS_DIR).join(format!("step-{done:06}"));
            let state = CheckpointState {
                step: done,
                seed: meta.seed,
                config_name: config.name.clone(),
            };
            checkpoint::save(&dir, &trainer, &state)?;
        }
    }
    metrics.flush().map_err(io_err(&metrics_path))?;
    if end > start || !out.join(FINAL_WEIGHTS).exists() {
        checkpoint::save_weights(&trainer.model, &out.join(FINAL_WEIGHTS))?;
    }
    let all = read_metrics(&out)?;
    if !all.is_empty() {
        let plot = out.join(LOSS_PLOT);
        crate::plot::loss_curves(&all, &config.name, &plot).map_err(|problem| RunError::Run {
            path: plot,
            problem,
        })?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let steps_done = end.saturating_sub(start);
    Ok(TrainSummary {
        first_step: start,
        steps_done,
        last_loss,
        seconds,
        steps_per_s: steps_done as f64 / seconds.max(1e-9),
        data_seconds,
    })
}

/// On resume, drops metrics of steps the checkpoint does not contain (they will be redone).
fn keep_metrics_before(run: &Path, step: usize) -> Result<(), RunError> {
    let path = run.join(METRICS_FILE);
    if !path.exists() {
        return Ok(());
    }
    let kept: Vec<String> = read_metrics(run)?
        .into_iter()
        .filter(|m| m.step < step)
        .map(|m| serde_json::to_string(&m).expect("metrics serialise"))
        .collect();
    let mut text = kept.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    std::fs::write(&path, text).map_err(io_err(&path))
}
