//! `mmv info`: what a bundle or an index holds.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use mmv_runtime::bundle::manifest::{EncoderKind, Manifest};
use mmv_runtime::bundle::{Bundle, BundleOptions};
use mmv_runtime::index::Index;
use serde_json::json;

use super::output::{ms, print_json, print_table, spinner};

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// A bundle directory or an index file (default: the default bundle).
    #[arg(value_name = "PATH", default_value_os_t = super::default_bundle())]
    path: PathBuf,
    /// Also verify every file's SHA-256, build the networks and time one run of each.
    #[arg(long)]
    check: bool,
    /// Threads for `--check`.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// JSON instead of tables.
    #[arg(long)]
    json: bool,
}

pub fn run(args: InfoArgs) -> Result<ExitCode> {
    if args.path.is_dir() {
        bundle_info(&args)
    } else {
        index_info(&args)
    }
}

fn bundle_info(args: &InfoArgs) -> Result<ExitCode> {
    let manifest = Manifest::load(&args.path)?;
    let mut timings = Vec::new();
    let mut chosen = None;
    if args.check {
        let pb = spinner("verifying and building the networks", args.json);
        let t0 = Instant::now();
        let bundle = Bundle::open(
            &args.path,
            &BundleOptions {
                threads: args.threads.max(1),
                ..BundleOptions::default()
            },
        )
        .with_context(|| format!("opening bundle {}", args.path.display()))?;
        let load = t0.elapsed();
        for kind in bundle.kinds() {
            let session = bundle.session(kind)?;
            let n: usize = session.input().shape.iter().product();
            let t = Instant::now();
            match kind {
                EncoderKind::Text => session.run_i64(&vec![0; n])?,
                _ => session.run_f32(&vec![0.0; n])?,
            };
            timings.push((kind.name(), t.elapsed()));
        }
        pb.finish_and_clear();
        chosen = Some((
            bundle.precision.name(),
            bundle.precision_reason.clone(),
            load,
        ));
    }
    if args.json {
        return print_json(&json!({
            "manifest": manifest,
            "check": chosen.as_ref().map(|(p, why, load)| json!({
                "precision": p,
                "why": why,
                "load_ms": load.as_secs_f64() * 1e3,
                "first_run_ms": timings.iter().map(|(k, t)| (k.to_string(), t.as_secs_f64() * 1e3))
                    .collect::<std::collections::BTreeMap<_, _>>(),
            })),
        }))
        .map(|()| ExitCode::SUCCESS);
    }
    let m = &manifest;
    println!("bundle       {}", args.path.display());
    println!(
        "model        {} {} (design {})",
        m.name, m.version, m.design
    );
    println!(
        "video        {} frames at {} fps, {}x{}x{} (channels x height x width)",
        m.video.frames,
        m.video.fps,
        m.video.frame.channels,
        m.video.frame.height,
        m.video.frame.width
    );
    println!(
        "audio        {} samples at {} Hz, {} log-mel frames x {} mels",
        m.audio.window_samples,
        m.audio.logmel.sample_rate,
        m.audio.window_frames,
        m.audio.logmel.n_mels
    );
    println!(
        "text         {} words max, vocabulary of {}",
        m.text.tokenizer.max_words, m.text.vocab_size
    );
    if let Some(f) = &m.video.still_framing {
        println!(
            "stills       framed: the object centred at {}x its box{}",
            f.box_scale,
            if f.bright_on_dark {
                ", ink made bright on dark"
            } else {
                ""
            }
        );
    }
    if m.audio.noise_floor > 0.0 || m.audio.noise_gate > 0.0 {
        println!(
            "audio front  noise floor sd {}, noise gate {}",
            m.audio.noise_floor, m.audio.noise_gate
        );
    }
    match &m.open_set {
        Some(o) => {
            // Each modality's cut with its kind of score (typicality, contrast or cosine).
            let cuts: Vec<String> = o
                .thresholds
                .iter()
                .map(|(k, v)| format!("{k} {v:.3} ({:?})", o.score_of(k)).to_lowercase())
                .collect();
            println!("open set     cuts: {}", cuts.join(", "));
        }
        None => println!("open set     not calibrated: tags always name the best label"),
    }
    println!("temperature  {}", m.temperature);
    if !m.provenance.exporter.is_empty() {
        println!(
            "exported by  {} (step {})",
            m.provenance.exporter, m.provenance.step
        );
    }
    println!();
    let rows: Vec<Vec<String>> = m
        .encoders
        .iter()
        .map(|e| {
            vec![
                e.kind.name().into(),
                e.precision.name().into(),
                e.file.clone(),
                format!("{:.1} MB", e.bytes as f64 / 1e6),
                e.inputs
                    .first()
                    .map(|i| format!("{:?}", i.shape))
                    .unwrap_or_default(),
                e.outputs
                    .iter()
                    .map(|o| o.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                timings
                    .iter()
                    .find(|(k, _)| {
                        *k == e.kind.name()
                            && chosen.as_ref().is_some_and(|c| c.0 == e.precision.name())
                    })
                    .map(|(_, t)| ms(*t))
                    .unwrap_or_default(),
            ]
        })
        .collect();
    print_table(
        &[
            "encoder",
            "precision",
            "file",
            "size",
            "input",
            "outputs",
            "first run",
        ],
        &rows,
    );
    if let Some((p, why, load)) = chosen {
        println!();
        println!("checksums OK; runs {p} ({why}); opened in {}", ms(load));
    }
    if !m.provenance.eval_summary.is_empty() {
        println!();
        let rows: Vec<Vec<String>> = m
            .provenance
            .eval_summary
            .iter()
            .map(|(k, v)| vec![k.clone(), format!("{v:.4}")])
            .collect();
        print_table(&["evaluation", "value"], &rows);
    }
    Ok(ExitCode::SUCCESS)
}

fn index_info(args: &InfoArgs) -> Result<ExitCode> {
    let index = Index::open_existing(&args.path)?;
    let stats = index.stats()?;
    if args.json {
        return print_json(&stats).map(|()| ExitCode::SUCCESS);
    }
    println!("index           {}", args.path.display());
    println!("schema version  {}", stats.schema_version);
    println!(
        "files           {} complete, {} pending (interrupted; `mmv index` again finishes them)",
        stats.files_complete, stats.files_pending
    );
    println!(
        "models          {}",
        stats
            .models
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    );
    let rows: Vec<Vec<String>> = stats
        .segments
        .iter()
        .map(|(m, n)| vec![m.name().into(), n.to_string()])
        .collect();
    println!();
    print_table(&["modality", "rows"], &rows);
    Ok(ExitCode::SUCCESS)
}
