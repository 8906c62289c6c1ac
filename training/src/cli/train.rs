//! `mmv-train train`: a training run on AV-Digits, with a progress bar.

use std::path::PathBuf;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use mmv_training::backend::DeviceChoice;
use mmv_training::data::augment::Augment;
use mmv_training::data::resolve_data_dir;
use mmv_training::{backend, run};

use super::common::load_config;

#[derive(Args)]
pub struct TrainArgs {
    /// Model config (TOML); the embedded default (models/avdigits-fac-s3d.toml) when absent.
    #[arg(long)]
    config: Option<PathBuf>,
    /// The shared data folder; $MMV_DATA when absent.
    #[arg(long)]
    data: Option<PathBuf>,
    /// The run folder.
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Save a checkpoint every N steps (and always at the end).
    #[arg(long, default_value_t = 500)]
    checkpoint_every: usize,
    /// Continue the run in --out from its latest checkpoint (with its recorded config and seed).
    #[arg(long)]
    resume: bool,
    /// Override optim.total_steps of the config (the schedule's length).
    #[arg(long)]
    steps: Option<usize>,
    /// Override optim.batch_size of the config.
    #[arg(long)]
    batch_size: Option<usize>,
    /// Stop after this many steps in total, keeping the schedule (e.g. to time a config).
    #[arg(long)]
    stop_at: Option<usize>,
    /// Start from the weights of an earlier run (its model.safetensors, or a bundle folder that
    /// `mmv-train export` wrote: its training-weights.safetensors; same model config) with this
    /// run's fresh learning-rate schedule: a warm restart to train a finished run longer.
    #[arg(long, value_name = "MODEL.safetensors|BUNDLE_DIR")]
    init_from: Option<PathBuf>,
    /// GloVe-format word vectors; DATA/glove/glove.6B.50d.top50k.txt.gz when absent.
    #[arg(long)]
    glove: Option<PathBuf>,
    /// Train without augmentation.
    #[arg(long)]
    no_augment: bool,
    /// cpu, cuda or vulkan; the GPU backend this binary was built with when absent, else cpu.
    /// Checked before anything else: a device that cannot run here is a one-line error.
    #[arg(long)]
    device: Option<DeviceChoice>,
}

pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    backend::choose(args.device.unwrap_or_else(DeviceChoice::build_default))?;
    let mut config = load_config(args.config.as_ref())?;
    if let Some(s) = args.steps {
        config.optim.total_steps = s;
        config.optim.warmup_steps = config.optim.warmup_steps.min(s.saturating_sub(1));
    }
    if let Some(b) = args.batch_size {
        config.optim.batch_size = b;
    }
    config.validate().map_err(anyhow::Error::msg)?;
    let data_dir = resolve_data_dir(args.data.as_deref())?;
    let total = if args.resume {
        run::read_meta(&args.out)?.config.optim.total_steps
    } else {
        config.optim.total_steps
    };
    let end = args.stop_at.unwrap_or(total).min(total);
    eprintln!(
        "mmv-train train: {} ({:?} video, {:?} design) on {}, {} steps, batch {}",
        config.name,
        config.video.arch,
        config.heads.design,
        backend::describe(),
        end,
        config.optim.batch_size
    );
    let bar = ProgressBar::new(end as u64).with_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} steps  {msg}  eta {eta}")
            .expect("valid template"),
    );
    let options = run::TrainOptions {
        config,
        data_dir,
        out: args.out.clone(),
        seed: args.seed,
        checkpoint_every: args.checkpoint_every,
        resume: args.resume,
        glove: args.glove,
        stop_at: args.stop_at,
        init_from: args.init_from,
        augment: if args.no_augment {
            Augment::NONE
        } else {
            Augment::TRAIN
        },
    };
    let summary = run::train(options, |m| {
        bar.set_position(m.step as u64 + 1);
        bar.set_message(format!(
            "loss {:.3}  {:.2} steps/s  lr {:.2e}",
            m.loss, m.steps_per_s, m.lr
        ));
    })?;
    bar.finish_and_clear();
    println!(
        "trained steps {}..{} in {:.0} s ({:.2} steps/s, {:.0} s making batches); last loss {}; run in {}",
        summary.first_step,
        summary.first_step + summary.steps_done,
        summary.seconds,
        summary.steps_per_s,
        summary.data_seconds,
        summary.last_loss.map_or("-".into(), |l| format!("{l:.3}")),
        args.out.display()
    );
    Ok(())
}
