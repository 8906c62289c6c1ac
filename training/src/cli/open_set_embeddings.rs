//! `mmv-train open-set-embeddings`: writes the embeddings the open-set cuts score (training,
//! validation, test inputs and both negative sets) as JSON lines, for study in other tools.

use std::path::PathBuf;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use mmv_training::data::resolve_data_dir;
use mmv_training::eval::product::embeddings;

use super::common::parse_precisions;

#[derive(Args)]
pub struct OpenSetEmbeddingsArgs {
    /// The bundle folder.
    #[arg(long)]
    bundle: PathBuf,
    /// The shared data folder; $MMV_DATA when absent.
    #[arg(long)]
    data: Option<PathBuf>,
    /// The precision whose networks embed.
    #[arg(long, default_value = "fp32")]
    precision: String,
    /// Inputs per row and per negative kind.
    #[arg(long, default_value_t = 200)]
    per_row: usize,
    /// The JSON-lines file to write: one line per input file with its split (fit,
    /// calibration, evaluation), modality, row or negative kind, digit, every window's
    /// embedding and the window `mmv tag` answers from.
    #[arg(long)]
    out: PathBuf,
}

pub fn run(args: OpenSetEmbeddingsArgs) -> anyhow::Result<()> {
    let data_dir = resolve_data_dir(args.data.as_deref())?;
    let [precision] = parse_precisions(&args.precision)?[..] else {
        anyhow::bail!("--precision takes one precision, got {}", args.precision);
    };
    let bar = ProgressBar::new_spinner().with_style(
        ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}").expect("valid template"),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    let lines = embeddings::dump(
        &args.bundle,
        &data_dir,
        precision,
        args.per_row,
        &args.out,
        |what| bar.set_message(what.to_string()),
    )?;
    bar.finish_and_clear();
    println!("{lines} inputs written to {}", args.out.display());
    Ok(())
}
