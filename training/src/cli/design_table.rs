//! `mmv-train design-table`: shared, disjoint and FAC plus the va-only and vt-only runs, each
//! trained from one base config and evaluated; writes design-table.md/.json.

use std::path::PathBuf;

use clap::Args;
use mmv_training::config::MmvConfig;
use mmv_training::data::resolve_data_dir;
use mmv_training::design_table;

#[derive(Args)]
pub struct DesignTableArgs {
    /// Base model config; models/avdigits-small-fac-s3d.toml (embedded) when absent.
    #[arg(long)]
    config: Option<PathBuf>,
    /// The shared data folder; $MMV_DATA when absent.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Folder for the five runs and the table (re-running resumes).
    #[arg(long)]
    out: PathBuf,
    /// Training steps per variant.
    #[arg(long, default_value_t = design_table::DEFAULT_STEPS)]
    steps: usize,
    /// Override optim.batch_size of the base config.
    #[arg(long)]
    batch_size: Option<usize>,
    /// Train images for the video and image probes (all 8,000 when absent).
    #[arg(long, default_value_t = design_table::DEFAULT_PROBE_IMAGES)]
    probe_images: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

pub fn run(args: DesignTableArgs) -> anyhow::Result<()> {
    let mut base = match &args.config {
        Some(p) => MmvConfig::load(p)?,
        None => design_table::default_base(),
    };
    if let Some(b) = args.batch_size {
        base.optim.batch_size = b;
    }
    let options = design_table::TableOptions {
        base,
        data_dir: resolve_data_dir(args.data.as_deref())?,
        out: args.out.clone(),
        steps: args.steps,
        seed: args.seed,
        probe_images: Some(args.probe_images),
    };
    let started = std::time::Instant::now();
    let rows = design_table::build(&options, |what| {
        eprintln!(
            "design-table [{:.0} s]: {what}",
            started.elapsed().as_secs_f64()
        )
    })?;
    print!("{}", design_table::markdown(&options, &rows));
    Ok(())
}
