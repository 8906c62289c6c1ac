//! Argument parsing and dispatch for the `mmv` binary; one module per subcommand, and
//! [`output`] for tables, JSON and progress bars.

mod bench;
mod demo;
mod embed;
mod fleet;
mod index;
mod info;
mod output;
mod search;
mod serve;
mod tag;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use mmv_runtime::bundle::manifest::{EncoderKind, Precision};
use mmv_runtime::bundle::{Bundle, BundleOptions};
use mmv_runtime::ingest::{Ffmpeg, OpenOptions};
use mmv_runtime::pipeline::{DEFAULT_BUNDLE, Pipeline};

/// MMV edge runtime: embed, tag, index and search audio-visual footage with an MMV model.
#[derive(Debug, Parser)]
#[command(name = "mmv", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Describe a model bundle (a directory) or a search index (a file).
    Info(info::InfoArgs),
    /// Print the embeddings of footage, images or texts.
    Embed(embed::EmbedArgs),
    /// Tag footage or images with zero-shot labels.
    Tag(tag::TagArgs),
    /// Add footage to a search index (incremental and resumable).
    Index(index::IndexArgs),
    /// Search an index by text, by an image or by an audio file.
    Search(search::SearchArgs),
    /// Render a clip, tag it, index it and search it: the product end to end, no data needed.
    Demo(demo::DemoArgs),
    /// Measure latency, throughput and memory of a bundle on this machine (MLPerf-style).
    Bench(bench::BenchArgs),
    /// Many devices, one query: push indexes to PostgreSQL + pgvector and search them all.
    Fleet(fleet::FleetArgs),
    /// Serve a web page and JSON API to search an index from a browser (the fleet database:
    /// `mmv fleet serve`).
    Serve(serve::ServeArgs),
}

/// Which model to run, shared by every command that embeds.
#[derive(Debug, Clone, Args)]
pub struct ModelArgs {
    /// Model bundle directory (or set MMV_BUNDLE).
    #[arg(long, value_name = "DIR", default_value_os_t = default_bundle())]
    bundle: PathBuf,
    /// Precision to run: fp32, f16 or int8 (default: the best the CPU runs natively).
    #[arg(long, value_name = "P")]
    precision: Option<String>,
    /// Threads for each network's matrix products.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

/// How footage is decoded, shared by the commands that read it.
#[derive(Debug, Clone, Args)]
pub struct DecodeArgs {
    /// Seconds between clip starts. Default: for `mmv tag`, half the model's clip length
    /// (overlapping windows, so a word or movement cut by one window's border is whole in the
    /// next); for `mmv index` and `mmv embed`, the clip length (clips side by side).
    #[arg(long, value_name = "SECONDS")]
    stride: Option<f64>,
    /// Frame rate of raw MJPEG files, which carry none.
    #[arg(long, value_name = "FPS", default_value_t = mmv_runtime::ingest::mjpeg::DEFAULT_FPS)]
    mjpeg_fps: f64,
    /// The ffmpeg program, for MP4, MKV, AVI and other containers.
    #[arg(long, value_name = "PATH", default_value = "ffmpeg")]
    ffmpeg: PathBuf,
    /// The ffprobe program.
    #[arg(long, value_name = "PATH", default_value = "ffprobe")]
    ffprobe: PathBuf,
}

impl DecodeArgs {
    fn open_options(&self) -> OpenOptions {
        OpenOptions {
            mjpeg_fps: self.mjpeg_fps,
            ffmpeg: Ffmpeg {
                ffmpeg: self.ffmpeg.clone(),
                ffprobe: self.ffprobe.clone(),
            },
        }
    }
}

/// Reads an open-set calibration file (`--open-set`: one shipped beside a bundle, e.g.
/// `models/avdigits-fac-tsm-robust/open-set-calibration.json`), checked.
fn read_open_set(path: &std::path::Path) -> Result<mmv_runtime::open_set::OpenSet> {
    mmv_runtime::open_set::OpenSet::load(path)
        .map_err(|e| anyhow::anyhow!("open-set calibration {}: {e}", path.display()))
}

fn default_bundle() -> PathBuf {
    std::env::var_os("MMV_BUNDLE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_BUNDLE))
}

impl ModelArgs {
    /// Opens the bundle with only the encoders a command needs (None: all it has).
    fn open(&self, encoders: Option<Vec<EncoderKind>>) -> Result<Pipeline> {
        let precision = match &self.precision {
            Some(p) => Some(
                Precision::parse(p)
                    .with_context(|| format!("unknown precision {p:?} (fp32, f16 or int8)"))?,
            ),
            None => None,
        };
        if !self.bundle.join("manifest.json").is_file() {
            bail!(
                "no model bundle at {} (it needs a manifest.json); pass --bundle DIR or set \
                 MMV_BUNDLE",
                self.bundle.display()
            );
        }
        let options = BundleOptions {
            precision,
            threads: self.threads.max(1),
            encoders,
        };
        let bundle = Bundle::open(&self.bundle, &options)
            .with_context(|| format!("opening bundle {}", self.bundle.display()))?;
        Ok(Pipeline::new(bundle))
    }
}

pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Info(a) => info::run(a),
        Command::Embed(a) => embed::run(a),
        Command::Tag(a) => tag::run(a),
        Command::Index(a) => index::run(a),
        Command::Search(a) => search::run(a),
        Command::Demo(a) => demo::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Serve(a) => serve::run(a),
        Command::Fleet(a) => fleet::run(a),
    }
}
