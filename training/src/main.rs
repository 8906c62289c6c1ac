//! `mmv-train`: trains, evaluates and exports MMV networks. A thin shell over `mmv_training`.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use mmv_training::config::MmvConfig;
use mmv_training::word_vectors::WordVectors;
use mmv_training::{backend, demo};

#[derive(Parser)]
#[command(
    name = "mmv-train",
    version,
    about = "Train MMV (self-supervised multimodal versatile) networks on burn",
    long_about = "Train MMV networks: video (S3D-G or TSM-ResNet), audio (ResNet over log-mel) and \
                  text (frozen word vectors) encoders, projected into shared / disjoint / FAC \
                  spaces and trained with NCE(video, audio) + MIL-NCE(video, text)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a small model on a built-in synthetic audio-visual task and report zero-shot
    /// accuracy. Needs no data: the model config is embedded (models/avdigits-fac-s3d.toml).
    Demo {
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
    },
    /// Check a model config and print its parameter counts.
    Info {
        /// Model config (TOML); the embedded default when absent.
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

fn load_config(path: Option<&PathBuf>) -> anyhow::Result<MmvConfig> {
    Ok(match path {
        Some(p) => MmvConfig::load(p)?,
        None => MmvConfig::embedded_default(),
    })
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Demo {
            config,
            steps,
            batch_size,
            eval_clips,
            seed,
            glove,
            json,
        } => {
            let config = load_config(config.as_ref())?;
            let word_vectors = glove
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
            let bar = ProgressBar::new(steps as u64).with_style(
                ProgressStyle::with_template(
                    "{bar:30} {pos}/{len} steps  {per_sec}  eta {eta}  {msg}",
                )
                .expect("valid template"),
            );
            let options = demo::DemoOptions {
                steps,
                batch_size,
                seed,
                eval_clips,
                word_vectors,
            };
            let report = demo::run(config, options, |s| {
                bar.set_message(format!("loss {:.3}  lr {:.2e}", s.loss, s.lr));
                bar.inc(1);
            })?;
            bar.finish_and_clear();
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_report(&report);
            }
        }
        Command::Info { config } => {
            let config = load_config(config.as_ref())?;
            let device = backend::inference_device();
            let table = vec![0.0; 2 * config.text.word_dim];
            let model = mmv_training::model::Mmv::new(&config, table, &device);
            use burn::module::Module;
            println!("{}", config.name);
            println!(
                "  video   {:?}: {} parameters",
                config.video.arch,
                model.video.num_params()
            );
            println!("  audio   ResNet: {} parameters", model.audio.num_params());
            println!(
                "  text    per-word MLP: {} parameters (+ frozen word table)",
                model.text.num_params()
            );
            println!(
                "  heads   {:?}: {} parameters",
                config.heads.design,
                model.heads.num_params()
            );
        }
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
