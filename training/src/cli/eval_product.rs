//! `mmv-train eval-product`: the product-path evaluation of a bundle (plain files through the
//! runtime, the way `mmv tag` and `mmv search` meet them), one precision after another; writes
//! eval-product.md, eval-product.json and open-set.png into the bundle folder.

use std::path::PathBuf;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use mmv_training::data::resolve_data_dir;
use mmv_training::eval::product::{self, ProductOptions, Sections};

use super::common::parse_precisions;

#[derive(Args)]
pub struct EvalProductArgs {
    /// The bundle folder.
    #[arg(long)]
    bundle: PathBuf,
    /// The shared data folder; $MMV_DATA when absent.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Comma-separated precisions, the first one the reference.
    #[arg(long, default_value = "fp32,int8")]
    precision: String,
    /// Inputs per in-domain row: FSDD test takes, MNIST test images and clips (spread over
    /// digits and speakers).
    #[arg(long, default_value_t = 300)]
    per_row: usize,
    /// Label-free negative inputs per kind (noises, tones, speech, letters, shapes, ...).
    #[arg(long, default_value_t = 50)]
    negatives_per_kind: usize,
    /// Keep the written media files here (default: a temporary folder, removed at the end).
    #[arg(long)]
    keep: Option<PathBuf>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Measure only these parts (comma-separated: audio, stills, clips, negatives); the
    /// tables written beside the bundle then hold only them.
    #[arg(long, default_value = "all", value_parser = Sections::parse)]
    sections: Sections,
    /// Evaluate with the open-set cuts in this file (e.g. the bundle's
    /// open-set-calibration.json, shipped beside it) instead of the manifest's.
    #[arg(long, value_name = "FILE")]
    open_set: Option<PathBuf>,
}

pub fn run(args: EvalProductArgs) -> anyhow::Result<()> {
    let data_dir = resolve_data_dir(args.data.as_deref())?;
    let command = format!(
        "mmv-train eval-product --bundle {} --precision {} --per-row {} --negatives-per-kind {}",
        args.bundle.display(),
        args.precision,
        args.per_row,
        args.negatives_per_kind
    ) + &if args.sections == Sections::ALL {
        String::new()
    } else {
        format!(" --sections {}", args.sections.names().join(","))
    } + &args
        .open_set
        .as_ref()
        .map(|f| format!(" --open-set {}", f.display()))
        .unwrap_or_default();
    let mut evals = Vec::new();
    for p in parse_precisions(&args.precision)? {
        let bar = ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}").expect("valid template"),
        );
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        let options = ProductOptions {
            bundle: args.bundle.clone(),
            data_dir: data_dir.clone(),
            precision: p,
            per_row: args.per_row,
            negatives_per_kind: args.negatives_per_kind,
            work_dir: args.keep.as_ref().map(|k| k.join(p.name())),
            seed: args.seed,
            sections: args.sections,
            open_set: args.open_set.clone(),
        };
        let eval = product::run(&options, |what| {
            bar.set_message(format!("{}: {what}", p.name()))
        })?;
        bar.finish_and_clear();
        evals.push(eval);
    }
    product::report::write_all(&evals, &args.bundle, &command)?;
    print!("{}", product::report::markdown(&evals, &command));
    Ok(())
}
