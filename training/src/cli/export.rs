//! `mmv-train export`: a run as a model bundle for the `mmv` runtime.

use std::path::PathBuf;

use clap::Args;
use mmv_training::export;

use super::common::parse_precisions;

#[derive(Args)]
pub struct ExportArgs {
    /// The run folder written by `train`.
    #[arg(long)]
    run: PathBuf,
    /// The bundle folder to write (e.g. models/avdigits-fac-s3d).
    #[arg(long)]
    out: PathBuf,
    /// Comma-separated precisions: fp32, f16, int8.
    #[arg(long, default_value = "fp32,f16,int8")]
    precision: String,
    /// Words kept in the bundle's vocabulary (the most frequent GloVe words).
    #[arg(long, default_value_t = 8000)]
    vocab_limit: usize,
    /// Train-split samples for int8 calibration and the deflation's BN re-learning.
    #[arg(long, default_value_t = 64)]
    calibration_samples: usize,
    /// Epochs of BN re-learning for the deflated S3D-G (0: naive deflation).
    #[arg(long, default_value_t = 20)]
    deflation_epochs: usize,
    /// The bundle's version string.
    #[arg(long, default_value = "0.1.0")]
    version: String,
}

pub fn run(args: ExportArgs) -> anyhow::Result<()> {
    let options = export::from_run::RunExportOptions {
        run: args.run,
        out: args.out.clone(),
        precisions: parse_precisions(&args.precision)?,
        vocab_limit: args.vocab_limit,
        calibration_samples: args.calibration_samples,
        deflation_epochs: args.deflation_epochs,
        version: args.version,
    };
    let (manifest, report) = export::from_run::export_run(&options, |event| eprintln!("{event}"))?;
    println!("bundle {} ({}):", args.out.display(), manifest.name);
    for (file, bytes) in &report.files {
        println!("  {file:<20} {:>10.1} KiB", *bytes as f64 / 1024.0);
    }
    if let Some(l1) = report.deflation_l1 {
        println!("  deflation: BN re-learned, final mean L1 {l1:.4}");
    }
    Ok(())
}
