//! Writes the Rust log-mel of a WAV for `benches/logmel_vs_librosa.py`.
//!
//! ```text
//! cargo run -p mmv-runtime --example logmel_dump -- clip.wav /tmp/clip \
//!     --sample-rate 8000 --n-fft 256 --hop-length 128 --n-mels 40 --f-min 20 --f-max 3800
//! python3 benches/logmel_vs_librosa.py clip.wav /tmp/clip.json
//! ```
//!
//! Produces `PREFIX.f32` (raw little-endian f32, [frames][n_mels]) and
//! `PREFIX.json` (shape + config). Defaults are `LogMelConfig::default()`.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Parser;
use mmv_runtime::audio::{LogMel, LogMelConfig, read_wav};

#[derive(Parser)]
struct Args {
    /// Input WAV, already at --sample-rate.
    wav: PathBuf,
    /// Output prefix: writes PREFIX.f32 and PREFIX.json.
    prefix: PathBuf,
    #[arg(long, default_value_t = LogMelConfig::default().sample_rate)]
    sample_rate: u32,
    #[arg(long, default_value_t = LogMelConfig::default().n_fft)]
    n_fft: usize,
    #[arg(long, default_value_t = LogMelConfig::default().hop_length)]
    hop_length: usize,
    #[arg(long, default_value_t = LogMelConfig::default().n_mels)]
    n_mels: usize,
    #[arg(long, default_value_t = LogMelConfig::default().f_min)]
    f_min: f32,
    #[arg(long, default_value_t = LogMelConfig::default().f_max)]
    f_max: f32,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = LogMelConfig {
        sample_rate: args.sample_rate,
        n_fft: args.n_fft,
        hop_length: args.hop_length,
        n_mels: args.n_mels,
        f_min: args.f_min,
        f_max: args.f_max,
    };
    let audio = read_wav(&args.wav)?;
    if audio.sample_rate != config.sample_rate {
        // librosa gets the file as is, so resampling here would compare apples to pears.
        bail!(
            "{} is {} Hz; pass --sample-rate {} (the comparison needs native-rate audio)",
            args.wav.display(),
            audio.sample_rate,
            audio.sample_rate
        );
    }
    let spec = LogMel::new(config.clone())?.compute(&audio.samples);

    let data_path = args.prefix.with_extension("f32");
    let meta_path = args.prefix.with_extension("json");
    let bytes: Vec<u8> = spec.data.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(&data_path, bytes)
        .with_context(|| format!("writing {}", data_path.display()))?;
    let meta = serde_json::json!({
        "frames": spec.frames,
        "n_mels": spec.n_mels,
        "data": data_path.file_name().context("prefix has no file name")?.to_string_lossy(),
        "config": config,
    });
    std::fs::write(&meta_path, serde_json::to_string_pretty(&meta)?)
        .with_context(|| format!("writing {}", meta_path.display()))?;
    println!(
        "{} frames x {} mels -> {}",
        spec.frames,
        spec.n_mels,
        meta_path.display()
    );
    Ok(())
}
