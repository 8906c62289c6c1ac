//! The design table of MMV (its Table 1) on AV-Digits: the shared, disjoint and FAC spaces
//! trained on all three modalities, plus the pair-only runs (video-audio only, video-text only),
//! all from one base config at one fixed budget, evaluated the same way and written as one
//! table (`mmv-train design-table`).
//!
//! Each variant is an ordinary run folder under the output folder, so an interrupted table
//! resumes: a finished variant (weights and eval.json present) is not trained again.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::{Design, MmvConfig};
use crate::data::augment::Augment;
use crate::eval::{self, EvalError, EvalOptions, EvalReport};
use crate::run::{self, RunError, TrainOptions};

/// The table's base config (`models/avdigits-small-fac-s3d.toml`) and budget: five runs of
/// 1,500 steps plus their evaluations fit in two hours on 2 CPU cores.
pub const DEFAULT_BASE: &str = include_str!("../../models/avdigits-small-fac-s3d.toml");
pub const DEFAULT_STEPS: usize = 1500;
/// Train images for the table's video and image probes (plus the 800 validation images).
pub const DEFAULT_PROBE_IMAGES: usize = 2000;

/// The default base config, parsed.
pub fn default_base() -> MmvConfig {
    MmvConfig::from_toml_str(DEFAULT_BASE, "embedded avdigits-small-fac-s3d.toml")
        .expect("the embedded design-table config is valid (checked by a unit test)")
}

pub const TABLE_MD: &str = "design-table.md";
pub const TABLE_JSON: &str = "design-table.json";

/// One row of the table.
#[derive(Clone, Copy, Debug)]
pub struct Variant {
    pub name: &'static str,
    pub design: Design,
    pub va_weight: f64,
    pub vt_weight: f64,
}

/// The rows: three designs on va + vt, and the two pairs alone (one space each).
pub const VARIANTS: [Variant; 5] = [
    Variant {
        name: "va only",
        design: Design::Shared,
        va_weight: 1.0,
        vt_weight: 0.0,
    },
    Variant {
        name: "vt only",
        design: Design::Shared,
        va_weight: 0.0,
        vt_weight: 1.0,
    },
    Variant {
        name: "shared",
        design: Design::Shared,
        va_weight: 1.0,
        vt_weight: 1.0,
    },
    Variant {
        name: "disjoint",
        design: Design::Disjoint,
        va_weight: 1.0,
        vt_weight: 1.0,
    },
    Variant {
        name: "fac",
        design: Design::Fac,
        va_weight: 1.0,
        vt_weight: 1.0,
    },
];

impl Variant {
    pub fn folder(&self) -> String {
        self.name.replace(' ', "-")
    }

    pub fn config(&self, base: &MmvConfig, steps: usize) -> MmvConfig {
        let mut c = base.clone();
        c.name = format!("{}-{}", base.name, self.folder());
        c.heads.design = self.design;
        c.loss.va_weight = self.va_weight;
        c.loss.vt_weight = self.vt_weight;
        c.optim.total_steps = steps;
        c.optim.warmup_steps = c.optim.warmup_steps.min(steps / 10);
        c
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Eval(#[from] EvalError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config: {0}")]
    Config(String),
}

/// How to build the table.
#[derive(Clone, Debug)]
pub struct TableOptions {
    pub base: MmvConfig,
    pub data_dir: PathBuf,
    pub out: PathBuf,
    /// Training steps of every variant.
    pub steps: usize,
    pub seed: u64,
    /// Train images for the video and image probes (see [`EvalOptions::probe_images`]).
    pub probe_images: Option<usize>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub variant: String,
    pub report: EvalReport,
    pub train_seconds: f64,
}

/// Trains and evaluates every variant, then writes the table. `progress` hears each phase.
pub fn build(
    options: &TableOptions,
    mut progress: impl FnMut(&str),
) -> Result<Vec<Row>, TableError> {
    std::fs::create_dir_all(&options.out).map_err(|source| TableError::Io {
        path: options.out.clone(),
        source,
    })?;
    let mut rows = Vec::new();
    for variant in VARIANTS {
        let dir = options.out.join(variant.folder());
        let config = variant.config(&options.base, options.steps);
        config.validate().map_err(TableError::Config)?;
        let finished = dir.join(run::FINAL_WEIGHTS).is_file()
            && run::latest_checkpoint(&dir)?
                .and_then(|c| crate::checkpoint::read_state(&c).ok())
                .is_some_and(|s| s.step >= options.steps);
        let resume = dir.join(run::RUN_FILE).is_file();
        if resume && !run::read_meta(&dir).is_ok_and(|m| m.config == config) {
            return Err(TableError::Config(format!(
                "{} holds a run of another config or budget; remove it or choose another --out",
                dir.display()
            )));
        }
        let mut train_seconds = 0.0;
        if !finished {
            progress(&format!(
                "{}: training {} steps",
                variant.name, options.steps
            ));
            let summary = run::train(
                TrainOptions {
                    config: config.clone(),
                    data_dir: options.data_dir.clone(),
                    out: dir.clone(),
                    seed: options.seed,
                    checkpoint_every: (options.steps / 4).max(1),
                    resume,
                    glove: None,
                    stop_at: None,
                    augment: Augment::TRAIN,
                    init_from: None,
                },
                |_| {},
            )?;
            train_seconds = summary.seconds;
        }
        progress(&format!("{}: evaluating", variant.name));
        let eval_options = EvalOptions {
            run: dir.clone(),
            data_dir: Some(options.data_dir.clone()),
            weights: None,
            probe_images: options.probe_images,
            seed: options.seed,
            // The deflated networks are the released runs' business, not the table's.
            deflation_epochs: 0,
            deflation_images: 0,
        };
        let report = eval::evaluate(&eval_options, |_| {})?;
        eval::write_report(&dir, &report)?;
        rows.push(Row {
            variant: variant.name.to_string(),
            report,
            train_seconds,
        });
    }
    write(&options.out, options, &rows)?;
    Ok(rows)
}

fn pct(x: f64) -> String {
    format!("{:.1}", 100.0 * x)
}

/// The table in Markdown.
pub fn markdown(options: &TableOptions, rows: &[Row]) -> String {
    let mut s = String::new();
    let b = &options.base;
    let _ = writeln!(
        s,
        "# MMV design table on AV-Digits\n\nBase config `{}` ({:?} video), {} steps of batch {} per variant, seed {}. Accuracies in %, chance 10.\n",
        b.name, b.video.arch, options.steps, b.optim.batch_size, options.seed
    );
    let _ = writeln!(
        s,
        "| variant | design | pairs | video linear | audio linear (official) | audio linear (speaker-disjoint) | zero-shot video->text | text->video R@1 | zero-shot audio->text (official) | train s |"
    );
    let _ = writeln!(
        s,
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for row in rows {
        let r = &row.report;
        let variant = VARIANTS.iter().find(|v| v.name == row.variant);
        let pairs = match variant.map(|v| (v.va_weight > 0.0, v.vt_weight > 0.0)) {
            Some((true, true)) => "va + vt",
            Some((true, false)) => "va",
            Some((false, true)) => "vt",
            _ => "?",
        };
        let a2t = r
            .zero_shot_audio_to_text
            .as_ref()
            .map_or("n/a".to_string(), |z| pct(z.official_test));
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0} |",
            row.variant,
            r.design,
            pairs,
            pct(r.video_linear_probe.accuracy),
            pct(r.audio_linear_probe.official.accuracy),
            pct(r.audio_linear_probe.speaker_disjoint.accuracy),
            pct(r.zero_shot_video_accuracy),
            pct(r.text_to_video.r_at_1),
            a2t,
            row.train_seconds
        );
    }
    let _ = writeln!(
        s,
        "\nPair-only runs use one shared space; in them the untrained pair's zero-shot numbers measure an untrained head (about chance). 'train s' is 0 for a variant finished by an earlier invocation."
    );
    s
}

fn write(dir: &Path, options: &TableOptions, rows: &[Row]) -> Result<(), TableError> {
    let md = dir.join(TABLE_MD);
    std::fs::write(&md, markdown(options, rows))
        .map_err(|source| TableError::Io { path: md, source })?;
    let json = dir.join(TABLE_JSON);
    std::fs::write(
        &json,
        serde_json::to_string_pretty(rows).expect("rows serialise"),
    )
    .map_err(|source| TableError::Io { path: json, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_is_a_valid_config_with_its_own_folder() {
        let base = default_base();
        assert_eq!(base.heads.design, Design::Fac);
        let mut folders = Vec::new();
        for v in VARIANTS {
            let c = v.config(&base, 50);
            c.validate().unwrap();
            assert_eq!(c.optim.total_steps, 50);
            assert!(c.optim.warmup_steps < 50);
            assert_eq!(
                (c.loss.va_weight > 0.0, c.loss.vt_weight > 0.0),
                (v.va_weight > 0.0, v.vt_weight > 0.0)
            );
            assert!(!v.folder().contains(' '));
            folders.push(v.folder());
        }
        folders.sort();
        folders.dedup();
        assert_eq!(folders.len(), VARIANTS.len());
    }
}
