//! `mmv-train eval-bundle`: evaluates an exported bundle through the runtime, one precision
//! after another; writes eval-bundle.json and eval-bundle.md into the bundle folder.

use std::path::PathBuf;

use clap::Args;
use mmv_training::data::resolve_data_dir;
use mmv_training::eval;

use super::common::{parse_precisions, write_report};

#[derive(Args)]
pub struct EvalBundleArgs {
    /// The bundle folder written by `export`.
    #[arg(long)]
    bundle: PathBuf,
    /// The shared data folder; $MMV_DATA when absent.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Comma-separated precisions, the first one the reference (f16 runs about 400x slower
    /// than fp32 on x86, where tract has no native f16 kernels).
    #[arg(long, default_value = "fp32,int8")]
    precision: String,
    /// Test clips for zero-shot classification and retrieval.
    #[arg(long, default_value_t = 1000)]
    test_clips: usize,
    /// MNIST train images for the deflated image probe (plus 800 validation images).
    #[arg(long, default_value_t = 2000)]
    probe_images: usize,
    #[arg(long, default_value_t = 1)]
    threads: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

pub fn run(args: EvalBundleArgs) -> anyhow::Result<()> {
    let data_dir = resolve_data_dir(args.data.as_deref())?;
    let mut rows = Vec::new();
    for p in parse_precisions(&args.precision)? {
        let options = eval::bundle::BundleEvalOptions {
            bundle: args.bundle.clone(),
            data_dir: data_dir.clone(),
            precision: p,
            test_clips: args.test_clips,
            probe_images: args.probe_images,
            threads: args.threads,
            seed: args.seed,
        };
        let row = eval::bundle::evaluate_bundle(&options, |what| {
            eprintln!("eval-bundle {}: {what}", p.name())
        })?;
        rows.push(row);
    }
    let md = eval::bundle::markdown(&args.bundle.display().to_string(), &rows);
    write_report(&args.bundle, "eval-bundle", &rows, &md)?;
    print!("{md}");
    Ok(())
}
