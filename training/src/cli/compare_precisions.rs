//! `mmv-train compare-precisions`: how closely one precision of a bundle follows another on a
//! sample of the test data; writes precision-agreement-<other>.md/.json into the bundle folder.

use std::path::PathBuf;

use clap::Args;
use mmv_training::data::resolve_data_dir;
use mmv_training::eval;

use super::common::{parse_precision, write_report};

#[derive(Args)]
pub struct ComparePrecisionsArgs {
    /// The bundle folder written by `export`.
    #[arg(long)]
    bundle: PathBuf,
    /// The shared data folder; $MMV_DATA when absent.
    #[arg(long)]
    data: Option<PathBuf>,
    /// The reference precision.
    #[arg(long, default_value = "fp32")]
    reference: String,
    /// The precision to compare with it.
    #[arg(long, default_value = "f16")]
    other: String,
    /// Test clips (zero-shot video).
    #[arg(long, default_value_t = 100)]
    clips: usize,
    /// MNIST test images (deflated image network, zero-shot).
    #[arg(long, default_value_t = 200)]
    images: usize,
    /// FSDD official test takes (zero-shot audio-to-text).
    #[arg(long, default_value_t = 50)]
    audio: usize,
    #[arg(long, default_value_t = 1)]
    threads: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

pub fn run(args: ComparePrecisionsArgs) -> anyhow::Result<()> {
    let reference = parse_precision("--reference", &args.reference)?;
    let other = parse_precision("--other", &args.other)?;
    let options = eval::agreement::AgreementOptions {
        bundle: args.bundle.clone(),
        data_dir: resolve_data_dir(args.data.as_deref())?,
        reference,
        other,
        clips: args.clips,
        images: args.images,
        audio: args.audio,
        threads: args.threads,
        seed: args.seed,
    };
    let rows = eval::agreement::compare(&options, |what| eprintln!("compare-precisions: {what}"))?;
    let md = eval::agreement::markdown(
        &args.bundle.display().to_string(),
        reference.name(),
        other.name(),
        &rows,
    );
    let stem = format!("precision-agreement-{}", other.name());
    write_report(&args.bundle, &stem, &rows, &md)?;
    print!("{md}");
    Ok(())
}
