//! `mmv bench`: latency, throughput and memory of a bundle on this machine.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use mmv_cli::bench::{self, BenchOptions, EncoderInput, report, scenario::ScenarioSettings};
use mmv_runtime::bundle::manifest::{EncoderKind, Manifest, Precision};
use mmv_runtime::bundle::{Bundle, BundleOptions};

use super::output::{bar, print_json};

#[derive(Debug, Args)]
#[command(
    after_long_help = "For every encoder (clip, image, audio, text), every precision the bundle holds and every thread \
count given, it loads and optimises the network (timed), runs it once (first-inference time), \
then runs two MLPerf-style scenarios on a fixed input:

  SingleStream  one query at a time: p50, p90 and p99 latency (MLPerf reports p90);
  Offline       all samples at once, on cores/threads parallel workers: throughput.

Each scenario runs warm-up queries, then keeps going until BOTH --min-duration and \
--min-queries are reached; a run cut short by --max-duration is INVALID and says which rule it \
missed. MLPerf's own minimums are 600 s and 1024 queries (SingleStream) and 24576 samples \
(Offline); the defaults here (2 s, 20 queries) suit a quick look on a small board, so pass \
--min-duration 600 --min-queries 1024 for a run comparable with MLPerf's rules.

Then the whole pipeline (camera frames -> preprocessing -> clip network, audio -> log-mel -> \
audio network, zero-shot tags of video, audio and both; what is not the networks as a share of \
the networks' time, with the frames as RGB and as YUYV) and a top-10 query over an in-memory \
index of --search-rows random embeddings (from 16,384 rows an int8 scan on all cores with f32 \
re-ranking), beside the exact f32 scan on one core and the recall@10 against it.

Also reported: peak resident memory per case (reset between cases where the kernel allows), \
the machine (CPU model, cores, frequency governor), and each network's FLOPs with the achieved \
GFLOP/s at p50.

f16 files are skipped on CPUs without native f16 arithmetic (tract emulates f16 there, about \
400x slower on x86); name f16 in --precision to measure it anyway."
)]
pub struct BenchArgs {
    /// The bundle directory (default: the default bundle, or MMV_BUNDLE).
    #[arg(value_name = "BUNDLE", default_value_os_t = super::default_bundle())]
    bundle: PathBuf,
    /// Precisions, comma-separated (fp32, f16, int8). Default: all the bundle holds, except f16
    /// where the CPU lacks native f16.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    precision: Option<Vec<String>>,
    /// Thread counts, comma-separated: each network is measured at each.
    #[arg(long, value_name = "LIST", value_delimiter = ',', default_value = "1")]
    threads: Vec<usize>,
    /// Encoders, comma-separated (clip, image, audio, text), or `none`. Default: all.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    encoders: Option<Vec<String>>,
    /// Minimum measured seconds per scenario (MLPerf: 600).
    #[arg(long, value_name = "SECONDS", default_value_t = 2.0)]
    min_duration: f64,
    /// Minimum measured queries per scenario (MLPerf SingleStream: 1024).
    #[arg(long, value_name = "N", default_value_t = 20)]
    min_queries: usize,
    /// Stop a scenario after this many seconds even if the minimums are unmet (INVALID).
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0)]
    max_duration: f64,
    /// Untimed warm-up queries before each scenario.
    #[arg(long, value_name = "N", default_value_t = 2)]
    warmup: usize,
    /// Skip the Offline scenario.
    #[arg(long)]
    no_offline: bool,
    /// Skip the whole-pipeline benchmark.
    #[arg(long)]
    no_pipeline: bool,
    /// Camera frame size fed to the pipeline.
    #[arg(long, value_name = "WxH", default_value = "640x480")]
    camera: String,
    /// Rows of the in-memory search index (0: no search benchmark).
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    search_rows: usize,
    /// Width of the search embeddings (default: the bundle's text-space width).
    #[arg(long, value_name = "D")]
    search_dim: Option<usize>,
    /// Also profile each encoder node by node (at the first thread count): which tract ops
    /// take the time.
    #[arg(long)]
    profile: bool,
    /// Runs averaged per profile.
    #[arg(long, value_name = "N", default_value_t = 20)]
    profile_runs: usize,
    /// Write each encoder's benchmark input to DIR (raw little-endian + inputs.json), and
    /// tract's outputs for it (FILE.out.json), for peers such as benches/ort_vs_tract.py to
    /// feed the same values and compare answers.
    #[arg(long, value_name = "DIR")]
    inputs_dir: Option<PathBuf>,
    /// Draw latency histograms and a per-case bar chart to this PNG.
    #[arg(long, value_name = "PNG")]
    plot: Option<PathBuf>,
    /// Also write the tables as Markdown to this file.
    #[arg(long, value_name = "FILE")]
    markdown: Option<PathBuf>,
    /// JSON instead of tables (every latency included).
    #[arg(long)]
    json: bool,
}

fn parse_camera(text: &str) -> Result<(usize, usize)> {
    let (w, h) = text
        .split_once(['x', 'X'])
        .with_context(|| format!("--camera {text:?}: expected WIDTHxHEIGHT, e.g. 640x480"))?;
    let (w, h): (usize, usize) = (w.trim().parse()?, h.trim().parse()?);
    if w < 8 || h < 8 || w * h > 64 << 20 {
        bail!("--camera {text:?}: each side at least 8 pixels, at most 64 Mpixels");
    }
    Ok((w, h))
}

fn seconds(name: &str, s: f64) -> Result<Duration> {
    Duration::try_from_secs_f64(s).with_context(|| format!("{name} {s}: not a number of seconds"))
}

pub fn run(args: BenchArgs) -> Result<ExitCode> {
    if !args.bundle.join("manifest.json").is_file() {
        bail!(
            "no model bundle at {} (it needs a manifest.json); pass BUNDLE or set MMV_BUNDLE",
            args.bundle.display()
        );
    }
    let precisions = args
        .precision
        .as_ref()
        .map(|list| {
            list.iter()
                .map(|p| {
                    Precision::parse(p)
                        .with_context(|| format!("unknown precision {p:?} (fp32, f16 or int8)"))
                })
                .collect::<Result<Vec<_>>>()
        })
        .transpose()?;
    let encoders = args
        .encoders
        .as_ref()
        .map(|list| {
            list.iter()
                // `none` measures no encoder: only the pipeline and search scenarios.
                .filter(|e| e.trim() != "none")
                .map(|e| {
                    EncoderKind::ALL
                        .into_iter()
                        .find(|k| k.name() == e.trim())
                        .with_context(|| {
                            format!("unknown encoder {e:?} (clip, image, audio, text)")
                        })
                })
                .collect::<Result<Vec<_>>>()
        })
        .transpose()?;
    let options = BenchOptions {
        precisions,
        threads: args.threads.clone(),
        encoders,
        settings: ScenarioSettings {
            warmup_queries: args.warmup,
            min_duration: seconds("--min-duration", args.min_duration)?,
            min_queries: args.min_queries,
            max_duration: seconds("--max-duration", args.max_duration)?,
        },
        offline: !args.no_offline,
        pipeline: !args.no_pipeline,
        camera: parse_camera(&args.camera)?,
        search_rows: args.search_rows,
        search_dim: args.search_dim,
        inputs_dir: args.inputs_dir.clone(),
    };

    let pb = bar(0, "cases", args.json);
    let report = bench::run(&args.bundle, &options, &mut |done, total, label| {
        pb.set_length(total as u64);
        pb.set_position(done as u64);
        pb.set_message(label.to_string());
    })
    .with_context(|| format!("benchmarking {}", args.bundle.display()))?;
    pb.finish_and_clear();

    let profiles = if args.profile {
        profiles(&args, &report)?
    } else {
        Vec::new()
    };
    if let Some(path) = &args.plot {
        bench::plot::write_png(&report, path)?;
    }
    if let Some(path) = &args.markdown {
        let mut text = report::markdown(&report);
        for p in &profiles {
            let (ops, _) = report::profile_tables(p);
            text += &format!(
                "\nProfile of {} ({} thread(s), mean of {} runs, {:.2} ms in nodes):\n\n{}",
                p.file,
                p.threads,
                p.runs,
                p.nodes_ms,
                ops.markdown()
            );
        }
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    if args.json {
        let mut value = serde_json::to_value(&report)?;
        value["profiles"] = serde_json::to_value(&profiles)?;
        print_json(&value)?;
    } else {
        print!("{}", report::text(&report));
        for p in &profiles {
            let (ops, nodes) = report::profile_tables(p);
            println!(
                "\nprofile  {} ({} thread(s), mean of {} runs: {:.2} ms in nodes, {:.2} ms wall)\n{}\n{}",
                p.file,
                p.threads,
                p.runs,
                p.nodes_ms,
                p.wall_ms,
                ops.text(),
                nodes.text()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A node-by-node profile of each encoder file measured, at the first thread count.
fn profiles(args: &BenchArgs, r: &bench::BenchReport) -> Result<Vec<bench::profile::Profile>> {
    let manifest = Manifest::load(&args.bundle)?;
    let base = Bundle::open(
        &args.bundle,
        &BundleOptions {
            encoders: Some(Vec::new()),
            ..BundleOptions::default()
        },
    )?;
    let threads = args.threads.first().copied().unwrap_or(1);
    let mut out = Vec::new();
    let mut seen = Vec::new();
    for e in &r.encoders {
        if seen.contains(&(e.kind, e.precision)) {
            continue;
        }
        seen.push((e.kind, e.precision));
        let spec = manifest
            .encoder(e.kind, e.precision)
            .context("the manifest changed during the run")?;
        let input = EncoderInput::for_kind(&base, e.kind, spec);
        out.push(bench::profile::profile(
            &args.bundle,
            spec,
            &input,
            threads,
            args.profile_runs.max(1),
        )?);
    }
    Ok(out)
}
