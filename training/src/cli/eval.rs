//! `mmv-train eval`: the paper's evaluations on a run; writes eval.json and eval.md into it.

use std::path::PathBuf;

use clap::Args;
use mmv_training::eval;

#[derive(Args)]
pub struct EvalArgs {
    /// The run folder written by `train`.
    #[arg(long)]
    run: PathBuf,
    /// The shared data folder; the run's own when absent.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Weights to evaluate instead of the run's final ones (e.g. a checkpoint's).
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Use only the first N MNIST train images (plus the 800 validation images) for the
    /// video and image probes.
    #[arg(long)]
    probe_images: Option<usize>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Epochs of BN re-learning for the calibrated deflated S3D-G, as `export` does it;
    /// 0 skips the deflated-network probes.
    #[arg(long, default_value_t = 20)]
    deflation_epochs: usize,
    /// Train images the deflated S3D-G's BN is re-learned on.
    #[arg(long, default_value_t = 64)]
    deflation_images: usize,
}

pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    let options = eval::EvalOptions {
        run: args.run.clone(),
        data_dir: args.data,
        weights: args.weights,
        probe_images: args.probe_images,
        seed: args.seed,
        deflation_epochs: args.deflation_epochs,
        deflation_images: args.deflation_images,
    };
    let report = eval::evaluate(&options, |what| eprintln!("eval: {what}"))?;
    eval::write_report(&args.run, &report)?;
    print!("{}", eval::markdown(&report));
    Ok(())
}
