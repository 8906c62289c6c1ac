//! `mmv-peer-timing`: times one of the runtime's Rust front ends on a given input and prints
//! JSON, so that a Python peer can put its own figure beside it in the same run.
//!
//! `mmv-peer-timing logmel WAV META_JSON [RUNS]`: the log-mel of the whole WAV with the
//! configuration in META_JSON's `config` (the file `logmel_dump` writes and
//! `logmel_vs_librosa.py` reads; the WAV must be at its rate), RUNS times after two warm-up
//! runs; prints `{"samples", "sample_rate", "runs", "median_ms", "min_ms"}`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use mmv_runtime::audio::{LogMel, LogMelConfig, read_wav};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(what), Some(wav), Some(meta)) = (args.first(), args.get(1), args.get(2)) else {
        bail!("usage: mmv-peer-timing logmel WAV META_JSON [RUNS]");
    };
    if what != "logmel" {
        bail!("unknown front end {what:?}: only logmel");
    }
    let runs: usize = match args.get(3) {
        Some(r) => r.parse().context("RUNS must be a number")?,
        None => 50,
    };
    let path = PathBuf::from(wav);
    let audio = read_wav(&path).with_context(|| format!("reading {}", path.display()))?;
    let meta: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(meta).with_context(|| format!("reading {meta}"))?,
    )
    .with_context(|| format!("{meta} is not JSON"))?;
    let config: LogMelConfig = serde_json::from_value(meta["config"].clone())
        .with_context(|| "the meta JSON's \"config\" is not a log-mel configuration")?;
    if audio.sample_rate != config.sample_rate {
        bail!(
            "{} is {} Hz; the configuration's rate is {} Hz",
            path.display(),
            audio.sample_rate,
            config.sample_rate
        );
    }
    let logmel = LogMel::new(config)?;
    for _ in 0..2 {
        std::hint::black_box(logmel.compute(&audio.samples));
    }
    let mut ms: Vec<f64> = (0..runs.max(1))
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(logmel.compute(&audio.samples));
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    println!(
        "{{\"samples\": {}, \"sample_rate\": {}, \"runs\": {}, \"median_ms\": {}, \"min_ms\": {}}}",
        audio.samples.len(),
        audio.sample_rate,
        ms.len(),
        ms[(ms.len() - 1) / 2],
        ms[0]
    );
    Ok(())
}
