//! `mmv-train demo`: trains a small model on the built-in synthetic task, no data needed, and
//! reports zero-shot accuracy.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use mmv_training::backend::DeviceChoice;
use mmv_training::word_vectors::WordVectors;
use mmv_training::{backend, demo};

use super::common::load_config;

#[derive(Args)]
pub struct DemoArgs {
    /// A model config (TOML) instead of the embedded one.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Training steps.
    #[arg(long, default_value_t = 60)]
    steps: usize,
    /// Clips per batch (the in-batch negatives of NCE and MIL-NCE).
    #[arg(long, default_value_t = 10)]
    batch_size: usize,
    /// Fresh clips for the zero-shot evaluation.
    #[arg(long, default_value_t = 100)]
    eval_clips: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// GloVe-format word vectors (plain or .gz); seeded random vectors when absent.
    #[arg(long)]
    glove: Option<PathBuf>,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// cpu, cuda or vulkan; the GPU backend this binary was built with when absent, else cpu.
    #[arg(long)]
    device: Option<DeviceChoice>,
}

pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    backend::choose(args.device.unwrap_or_else(DeviceChoice::build_default))?;
    let config = load_config(args.config.as_ref())?;
    let word_vectors = args
        .glove
        .map(|p| WordVectors::load_glove(&p, None))
        .transpose()
        .context("loading --glove")?;
    eprintln!(
        "mmv-train demo: {} ({:?} video, {:?} design) on {}",
        config.name,
        config.video.arch,
        config.heads.design,
        backend::describe()
    );
    let bar = ProgressBar::new(args.steps as u64).with_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} steps  {per_sec}  eta {eta}  {msg}")
            .expect("valid template"),
    );
    let options = demo::DemoOptions {
        steps: args.steps,
        batch_size: args.batch_size,
        seed: args.seed,
        eval_clips: args.eval_clips,
        word_vectors,
    };
    let report = demo::run(config, options, |s| {
        bar.set_message(format!("loss {:.3}  lr {:.2e}", s.loss, s.lr));
        bar.inc(1);
    })?;
    bar.finish_and_clear();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    Ok(())
}

fn print_report(r: &demo::DemoReport) {
    let first = r.steps.first();
    let last = r.steps.last();
    println!("| measure | value |");
    println!("| --- | --- |");
    if let (Some(f), Some(l)) = (first, last) {
        println!("| loss, first step | {:.3} |", f.loss);
        println!("| loss, last step ({}) | {:.3} |", l.step + 1, l.loss);
        if let (Some(a), Some(b)) = (f.nce_va, l.nce_va) {
            println!("| NCE(video, audio) | {a:.3} -> {b:.3} |");
        }
        if let (Some(a), Some(b)) = (f.mil_nce_vt, l.mil_nce_vt) {
            println!("| MIL-NCE(video, text) | {a:.3} -> {b:.3} |");
        }
    }
    println!("| seconds per step | {:.3} |", r.seconds_per_step);
    println!(
        "| zero-shot video -> text ({} clips, chance 10 %) | {:.1} % |",
        r.eval_clips,
        100.0 * r.video_to_text_accuracy
    );
    match r.audio_to_text_accuracy {
        Some(a) => println!(
            "| zero-shot audio -> text, never trained on audio-text | {:.1} % |",
            100.0 * a
        ),
        None => println!("| zero-shot audio -> text | n/a (disjoint design) |"),
    }
}
