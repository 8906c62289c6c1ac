//! `mmv-train`: trains, evaluates and exports MMV networks. A thin shell over `mmv_training`.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use mmv_runtime::bundle::manifest::Precision;
use mmv_training::config::MmvConfig;
use mmv_training::data::augment::Augment;
use mmv_training::data::resolve_data_dir;
use mmv_training::word_vectors::WordVectors;
use mmv_training::{backend, demo, design_table, eval, export, run};

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
    /// Train a model on AV-Digits (self-supervised: NCE(video, audio) + MIL-NCE(video, text)).
    /// Writes metrics.jsonl, checkpoints (safetensors), model.safetensors and loss.png to --out.
    Train {
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
        /// GloVe-format word vectors; DATA/glove/glove.6B.50d.top50k.txt.gz when absent.
        #[arg(long)]
        glove: Option<PathBuf>,
        /// Train without augmentation.
        #[arg(long)]
        no_augment: bool,
    },
    /// Evaluate a run: linear probes (video, audio, single image), zero-shot classification,
    /// text-to-video retrieval. Writes eval.json and eval.md into the run folder.
    Eval {
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
    },
    /// Evaluate an exported bundle through the runtime (tract), one precision after another,
    /// on the same AV-Digits test data: zero-shot video, text-to-video retrieval, zero-shot
    /// audio-to-text, and linear probes on the audio and deflated image embeddings. Writes
    /// eval-bundle.json and eval-bundle.md into the bundle folder (not part of its manifest).
    EvalBundle {
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
    },
    /// How closely one precision of a bundle follows another on a sample of the test data:
    /// per encoder, the cosine between their embeddings and how often their zero-shot answers
    /// agree. For f16 on x86, where tract emulates f16 far too slowly for the full eval-bundle.
    /// Writes precision-agreement-<other>.md/.json into the bundle folder.
    ComparePrecisions {
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
    },
    /// The MMV design table: shared, disjoint and FAC, plus the va-only and vt-only runs, each
    /// trained for --steps from one base config and evaluated; writes design-table.md/.json.
    /// The defaults (models/avdigits-small-fac-s3d.toml, 1500 steps) fit in two hours on 2 cores.
    DesignTable {
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
    },
    /// Export a run as a model bundle: one ONNX file per encoder (clip, deflated image, audio,
    /// text) and precision, a vocabulary and manifest.json, for the `mmv` runtime.
    Export {
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
    },
    /// Check a model config and print its parameter counts.
    Info {
        /// Model config (TOML); the embedded default when absent.
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

fn parse_precision(flag: &str, name: &str) -> anyhow::Result<Precision> {
    Precision::parse(name.trim())
        .ok_or_else(|| anyhow::anyhow!("{flag}: {name:?} is not one of fp32, f16, int8"))
}

fn parse_precisions(list: &str) -> anyhow::Result<Vec<Precision>> {
    list.split(',')
        .map(|p| parse_precision("--precision", p))
        .collect()
}

/// Writes a report beside a bundle as `<stem>.json` and `<stem>.md`.
fn write_report(
    dir: &std::path::Path,
    stem: &str,
    rows: &impl serde::Serialize,
    md: &str,
) -> anyhow::Result<()> {
    for (ext, text) in [
        ("json", serde_json::to_string_pretty(rows)?),
        ("md", md.into()),
    ] {
        let path = dir.join(format!("{stem}.{ext}"));
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
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
        Command::Train {
            config,
            data,
            out,
            seed,
            checkpoint_every,
            resume,
            steps,
            batch_size,
            stop_at,
            glove,
            no_augment,
        } => {
            let mut config = load_config(config.as_ref())?;
            if let Some(s) = steps {
                config.optim.total_steps = s;
                config.optim.warmup_steps = config.optim.warmup_steps.min(s.saturating_sub(1));
            }
            if let Some(b) = batch_size {
                config.optim.batch_size = b;
            }
            config.validate().map_err(anyhow::Error::msg)?;
            let data_dir = resolve_data_dir(data.as_deref())?;
            let total = if resume {
                run::read_meta(&out)?.config.optim.total_steps
            } else {
                config.optim.total_steps
            };
            let end = stop_at.unwrap_or(total).min(total);
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
                out: out.clone(),
                seed,
                checkpoint_every,
                resume,
                glove,
                stop_at,
                augment: if no_augment {
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
                out.display()
            );
        }
        Command::EvalBundle {
            bundle,
            data,
            precision,
            test_clips,
            probe_images,
            threads,
            seed,
        } => {
            let data_dir = resolve_data_dir(data.as_deref())?;
            let mut rows = Vec::new();
            for p in parse_precisions(&precision)? {
                let options = eval::bundle::BundleEvalOptions {
                    bundle: bundle.clone(),
                    data_dir: data_dir.clone(),
                    precision: p,
                    test_clips,
                    probe_images,
                    threads,
                    seed,
                };
                let row = eval::bundle::evaluate_bundle(&options, |what| {
                    eprintln!("eval-bundle {}: {what}", p.name())
                })?;
                rows.push(row);
            }
            let md = eval::bundle::markdown(&bundle.display().to_string(), &rows);
            write_report(&bundle, "eval-bundle", &rows, &md)?;
            print!("{md}");
        }
        Command::ComparePrecisions {
            bundle,
            data,
            reference,
            other,
            clips,
            images,
            audio,
            threads,
            seed,
        } => {
            let reference = parse_precision("--reference", &reference)?;
            let other = parse_precision("--other", &other)?;
            let options = eval::agreement::AgreementOptions {
                bundle: bundle.clone(),
                data_dir: resolve_data_dir(data.as_deref())?,
                reference,
                other,
                clips,
                images,
                audio,
                threads,
                seed,
            };
            let rows =
                eval::agreement::compare(&options, |what| eprintln!("compare-precisions: {what}"))?;
            let md = eval::agreement::markdown(
                &bundle.display().to_string(),
                reference.name(),
                other.name(),
                &rows,
            );
            let stem = format!("precision-agreement-{}", other.name());
            write_report(&bundle, &stem, &rows, &md)?;
            print!("{md}");
        }
        Command::Export {
            run,
            out,
            precision,
            vocab_limit,
            calibration_samples,
            deflation_epochs,
            version,
        } => {
            let precisions = parse_precisions(&precision)?;
            let options = export::from_run::RunExportOptions {
                run,
                out: out.clone(),
                precisions,
                vocab_limit,
                calibration_samples,
                deflation_epochs,
                version,
            };
            let (manifest, report) =
                export::from_run::export_run(&options, |event| eprintln!("{event}"))?;
            println!("bundle {} ({}):", out.display(), manifest.name);
            for (file, bytes) in &report.files {
                println!("  {file:<20} {:>10.1} KiB", *bytes as f64 / 1024.0);
            }
            if let Some(l1) = report.deflation_l1 {
                println!("  deflation: BN re-learned, final mean L1 {l1:.4}");
            }
        }
        Command::Eval {
            run,
            data,
            weights,
            probe_images,
            seed,
            deflation_epochs,
            deflation_images,
        } => {
            let options = eval::EvalOptions {
                run: run.clone(),
                data_dir: data,
                weights,
                probe_images,
                seed,
                deflation_epochs,
                deflation_images,
            };
            let report = eval::evaluate(&options, |what| eprintln!("eval: {what}"))?;
            eval::write_report(&run, &report)?;
            print!("{}", eval::markdown(&report));
        }
        Command::DesignTable {
            config,
            data,
            out,
            steps,
            batch_size,
            probe_images,
            seed,
        } => {
            let mut base = match &config {
                Some(p) => MmvConfig::load(p)?,
                None => design_table::default_base(),
            };
            if let Some(b) = batch_size {
                base.optim.batch_size = b;
            }
            let options = design_table::TableOptions {
                base,
                data_dir: resolve_data_dir(data.as_deref())?,
                out: out.clone(),
                steps,
                seed,
                probe_images: Some(probe_images),
            };
            let started = std::time::Instant::now();
            let rows = design_table::build(&options, |what| {
                eprintln!(
                    "design-table [{:.0} s]: {what}",
                    started.elapsed().as_secs_f64()
                )
            })?;
            print!("{}", design_table::markdown(&options, &rows));
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
