//! Sustained load with the real bundle (issue 14): an accelerated replay of MINUTES of media
//! (default 60) through the daemon exactly as `mmv-host` runs it (`daemon::run`: the bundle's
//! networks, the real readers, queues, supervisor, tagger, tag lines and the SQLite index),
//! sampling the process's resident memory, open file descriptors and threads once a second.
//!
//! `cargo run --release -p mmv-host --example replay -- [MINUTES] [BUNDLE]`
//!
//! The media are a Y4M camera file (64x48, 5 fps) and a WAV microphone file (16 kHz mono), each
//! MINUTES long, written to a temporary directory first and replayed as fast as the pipeline
//! takes them (`realtime = false`: the readers wait for room in the queues). Prints the samples
//! at the start (once the first index rows are committed) and at the end, their growth (which
//! must stay under 5 %, or the example fails), peaks, and the items lost: frames and audio
//! windows written but not processed, and clips and windows not found in the index.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

const FPS: usize = 5;
const SIDE: (usize, usize) = (64, 48);
const RATE: usize = 16_000;
/// Largest growth from the start sample to the end sample accepted.
const MAX_GROWTH: f64 = 0.05;

#[derive(Clone, Copy, Debug)]
struct Sample {
    t_s: f64,
    rss_kib: u64,
    fds: usize,
    threads: u64,
    rows: i64,
}

fn proc_status(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// Rows of complete "files" (the daemon's committed chunks) in the index.
fn rows(db: &Path) -> i64 {
    if !db.exists() {
        return 0;
    }
    mmv_runtime::index::Index::open_existing(db)
        .and_then(|i| i.stats())
        .map_or(0, |s| s.segments.iter().map(|(_, n)| *n as i64).sum())
}

fn sample(t0: Instant, db: &Path) -> Sample {
    Sample {
        t_s: t0.elapsed().as_secs_f64(),
        rss_kib: proc_status("VmRSS:"),
        // Minus the one read_dir itself holds open.
        fds: std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count().saturating_sub(1)),
        threads: proc_status("Threads:"),
        rows: rows(db),
    }
}

fn write_media(dir: &Path, minutes: usize) -> anyhow::Result<(usize, usize)> {
    let frames = minutes * 60 * FPS;
    let (w, h) = SIDE;
    let mut f = std::io::BufWriter::new(std::fs::File::create(dir.join("camera.y4m"))?);
    writeln!(f, "YUV4MPEG2 W{w} H{h} F{FPS}:1 Ip A1:1 C420jpeg")?;
    let mut luma = vec![0u8; w * h];
    let chroma = vec![128u8; 2 * (w / 2) * (h / 2)];
    for i in 0..frames {
        // A level stepping every 2 s and a moving bar, so that frames and tags change.
        let level = 30 + ((i / (2 * FPS)) % 10) as u8 * 20;
        let bar = (i * 3) % w;
        for (j, p) in luma.iter_mut().enumerate() {
            *p = if (j % w).abs_diff(bar) < 3 {
                235
            } else {
                level
            };
        }
        f.write_all(b"FRAME\n")?;
        f.write_all(&luma)?;
        f.write_all(&chroma)?;
    }
    f.flush()?;
    let samples = minutes * 60 * RATE;
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: RATE as u32,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut wav = hound::WavWriter::create(dir.join("mic.wav"), spec)?;
    for i in 0..samples {
        // A tone whose pitch changes every second, never silent.
        let hz = 200.0 + 60.0 * ((i / RATE) % 12) as f32;
        let x = (i as f32 * hz * std::f32::consts::TAU / RATE as f32).sin();
        wav.write_sample((x * 9000.0) as i16)?;
    }
    wav.finalize()?;
    Ok((frames, samples))
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let minutes: usize = args
        .next()
        .map_or(Ok(60), |a| a.parse())
        .context("MINUTES")?;
    let bundle = args.next().map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/avdigits-fac-s3d"),
        PathBuf::from,
    );
    let bundle = bundle
        .canonicalize()
        .with_context(|| format!("bundle {}", bundle.display()))?;
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path();
    let t_write = Instant::now();
    let (frames, samples) = write_media(dir, minutes)?;
    eprintln!(
        "{minutes} min of media written in {:.1} s: {frames} frames ({}x{} at {FPS} fps), \
         {samples} samples at {RATE} Hz",
        t_write.elapsed().as_secs_f64(),
        SIDE.0,
        SIDE.1
    );
    let db = dir.join("index.sqlite");
    let config_path = dir.join("mmv-host.toml");
    std::fs::write(
        &config_path,
        format!(
            "[bundle]\ndir = {bundle:?}\nthreads = 1\n\n\
             [camera]\nsource = \"y4m\"\npath = \"camera.y4m\"\nat_end = \"stop\"\n\n\
             [microphone]\nsource = \"wav\"\npath = \"mic.wav\"\nat_end = \"stop\"\n\n\
             [index]\npath = \"index.sqlite\"\n\n\
             [outputs]\ntags = \"tags.jsonl\"\nevents = \"off\"\nframebuffer = \"off\"\n",
            bundle = bundle.display().to_string()
        ),
    )?;
    let config = mmv_host::config::Config::load(&config_path)?;

    let stop = Arc::new(AtomicBool::new(false));
    let t0 = Instant::now();
    let daemon = {
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("daemon".into())
            .spawn(move || mmv_host::daemon::run(&config, stop))?
    };
    let mut samples_taken = Vec::new();
    while !daemon.is_finished() {
        samples_taken.push(sample(t0, &db));
        std::thread::sleep(Duration::from_millis(1000));
    }
    let stats = daemon
        .join()
        .map_err(|_| anyhow::anyhow!("the daemon thread panicked"))??;
    let wall = t0.elapsed().as_secs_f64();
    let Some(start) = samples_taken.iter().find(|s| s.rows > 0).copied() else {
        bail!("no index row was committed while sampling");
    };
    let Some(end) = samples_taken.last().copied() else {
        bail!("no sample taken");
    };
    let peak_rss = samples_taken.iter().map(|s| s.rss_kib).max().unwrap_or(0);
    let peak_fds = samples_taken.iter().map(|s| s.fds).max().unwrap_or(0);
    let peak_threads = samples_taken.iter().map(|s| s.threads).max().unwrap_or(0);
    let growth = |a: f64, b: f64| if a > 0.0 { b / a - 1.0 } else { 0.0 };
    let rss_growth = growth(start.rss_kib as f64, end.rss_kib as f64);
    let final_rows = rows(&db);

    // Items lost between the files and the index.
    let frames_lost = frames as i64 - stats.frames as i64;
    let window = mmv_runtime::bundle::manifest::Manifest::load(&bundle)?
        .audio
        .window_samples;
    // Whole windows, and the tail kept as a last (padded) one.
    let windows_expected = samples.div_ceil(window) as i64;
    let windows_lost = windows_expected - stats.audio_windows as i64;
    let rows_expected = (stats.clips + stats.audio_windows - stats.silent_windows) as i64;
    println!(
        "replayed {minutes} min of media in {wall:.1} s ({:.0}x real time) with {}",
        minutes as f64 * 60.0 / wall,
        bundle.display()
    );
    println!(
        "pipeline: {} frames, {} images, {} clips, {} audio windows ({} silent), {} tag lines, \
         {} index rows ({final_rows} in the file), {} index failures, {} embed failures",
        stats.frames,
        stats.images,
        stats.clips,
        stats.audio_windows,
        stats.silent_windows,
        stats.tag_lines,
        stats.index_rows,
        stats.index_failures,
        stats.embed_failures
    );
    println!(
        "lost: {frames_lost} frames (of {frames}), {windows_lost} audio windows (of \
         {windows_expected}), {} index rows (of {rows_expected})",
        rows_expected - final_rows
    );
    for (name, s) in [("start", start), ("end", end)] {
        println!(
            "{name} (t = {:.1} s, {} rows): RSS {:.1} MiB, {} open fds, {} threads",
            s.t_s,
            s.rows,
            s.rss_kib as f64 / 1024.0,
            s.fds,
            s.threads
        );
    }
    println!(
        "growth start -> end: RSS {:+.2} % (peak {:.1} MiB), fds {:+}, threads {:+} (peaks {peak_fds}, \
         {peak_threads}); {} samples",
        rss_growth * 100.0,
        peak_rss as f64 / 1024.0,
        end.fds as i64 - start.fds as i64,
        end.threads as i64 - start.threads as i64,
        samples_taken.len()
    );
    if rss_growth > MAX_GROWTH
        || end.fds > start.fds
        || end.threads > start.threads
        || frames_lost != 0
        || windows_lost != 0
        || final_rows != rows_expected
    {
        bail!("not flat, or items lost (see above)");
    }
    stop.store(true, Ordering::Relaxed);
    Ok(())
}
