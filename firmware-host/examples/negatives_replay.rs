//! The daemon on an accelerated replay of footage with no digit in it (issue 19): how many tag
//! lines and events it emits, per modality, with a bundle's open-set calibration.
//!
//! ```sh
//! cargo run -p mmv-host --example negatives_replay -- --bundle models/avdigits-fac-tsm-robust \
//!     [--open-set models/avdigits-fac-tsm-robust/open-set-calibration.json] [--minutes 60] \
//!     [--seed 1] [--precision fp32] [--audio-hop SECONDS] [--keep DIR]
//! ```
//!
//! 1. Writes MINUTES of a camera (Y4M, 64x64 at 10 fps) and a microphone (16 kHz WAV) where
//!    nothing is a digit: segments of 1 to 6 s of a flat level, pixel noise, moving stripes or
//!    drifting filled shapes; silence, white or brown noise, a steady or gliding tone, and
//!    non-digit words spoken by espeak-ng (when it is installed) over faint noise.
//! 2. Replays them through the daemon (`daemon::run`: file sources as fast as the pipeline
//!    takes them, every frame through the image network, clips, audio windows, the default
//!    event rules) with `tagging.open_set` set to the calibration file when given (else the
//!    bundle's own cuts, if any).
//! 3. Prints, per modality, the windows tagged with a digit and the events started (and, with
//!    `--keep`, leaves the media, the configuration and the daemon's output in DIR).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, bail};
use mmv_host::config::Config;
use mmv_runtime::audio::{read_wav, resample, write_wav};
use mmv_runtime::ingest::y4m::Y4mWriter;
use mmv_runtime::tag::AVDIGITS_LABELS;

const FPS: u32 = 10;
const SIDE: usize = 64;
const RATE: u32 = 16_000;
/// Non-digit words (none sounds like a digit).
const WORDS: &[&str] = &[
    "hello", "window", "camera", "garden", "coffee", "market", "yellow", "planet", "button",
    "river", "doctor", "morning", "paper", "animal", "silver", "kitchen",
];

struct Args {
    bundle: PathBuf,
    open_set: Option<PathBuf>,
    minutes: f64,
    seed: u64,
    precision: String,
    keep: Option<PathBuf>,
    /// `tagging.audio_hop_s` (default: one window, side by side).
    audio_hop: Option<f32>,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        bundle: "models/avdigits-fac-tsm-robust".into(),
        open_set: None,
        minutes: 60.0,
        seed: 1,
        precision: "fp32".into(),
        keep: None,
        audio_hop: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--bundle" => a.bundle = value()?.into(),
            "--open-set" => a.open_set = Some(value()?.into()),
            "--minutes" => a.minutes = value()?.parse()?,
            "--seed" => a.seed = value()?.parse()?,
            "--precision" => a.precision = value()?,
            "--keep" => a.keep = Some(value()?.into()),
            "--audio-hop" => a.audio_hop = Some(value()?.parse()?),
            other => bail!("unknown argument {other:?} (see the example's header)"),
        }
    }
    Ok(a)
}

/// A small deterministic generator (xorshift), so that a seed gives the same replay.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
    fn pick(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// The words spoken by espeak-ng at the microphone's rate; empty when it is not installed.
fn spoken_words(dir: &Path) -> Vec<Vec<f32>> {
    let mut out = Vec::new();
    for (i, w) in WORDS.iter().enumerate() {
        let path = dir.join(format!("word-{i}.wav"));
        let ok = std::process::Command::new("espeak-ng")
            .args(["-s", "140", "-w"])
            .arg(&path)
            .arg(w)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("espeak-ng not available: no spoken words in the replay");
            return Vec::new();
        }
        if let Ok(wav) = read_wav(&path)
            && let Ok(s) = resample(&wav.samples, wav.sample_rate, RATE)
        {
            out.push(s);
        }
    }
    out
}

/// Writes the camera and microphone files; returns their length in seconds.
fn write_media(a: &Args, dir: &Path) -> anyhow::Result<f64> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ a.seed);
    let words = spoken_words(dir);
    let total = a.minutes * 60.0;
    let mut audio = vec![0.0f32; (total * f64::from(RATE)) as usize];
    let mut t = 0.0;
    let mut brown = 0.0f32;
    while t < total {
        let len = rng.range(1.0, 6.0).min(total - t);
        let (s0, s1) = (
            (t * f64::from(RATE)) as usize,
            (((t + len) * f64::from(RATE)) as usize).min(audio.len()),
        );
        let span = &mut audio[s0..s1];
        let amp = rng.range(0.01, 0.2) as f32;
        match rng.pick(5) {
            0 => {}
            1 => span
                .iter_mut()
                .for_each(|s| *s = amp * (rng.range(-1.0, 1.0) as f32)),
            2 => span.iter_mut().for_each(|s| {
                brown = 0.98 * brown + 0.1 * rng.range(-1.0, 1.0) as f32;
                *s = amp * brown;
            }),
            3 => {
                let (f0, f1) = (rng.range(150.0, 3000.0), rng.range(150.0, 3000.0));
                let mut phase = 0.0f64;
                let n = span.len().max(1) as f64;
                for (i, s) in span.iter_mut().enumerate() {
                    phase +=
                        std::f64::consts::TAU * (f0 + (f1 - f0) * i as f64 / n) / f64::from(RATE);
                    *s = amp * phase.sin() as f32;
                }
            }
            _ => {
                span.iter_mut()
                    .for_each(|s| *s = 0.002 * (rng.range(-1.0, 1.0) as f32));
                if !words.is_empty() {
                    let w = &words[rng.pick(words.len())];
                    let n = w.len().min(span.len());
                    let at = rng.pick(span.len() - n + 1);
                    for (s, x) in span[at..at + n].iter_mut().zip(w) {
                        *s += x;
                    }
                }
            }
        }
        t += len;
    }
    write_wav(&dir.join("mic.wav"), &audio, RATE)?;

    let file = std::io::BufWriter::new(std::fs::File::create(dir.join("cam.y4m"))?);
    let mut y4m = Y4mWriter::new(file, SIDE, SIDE, FPS, 1)?;
    let frames = (total * f64::from(FPS)) as usize;
    let mut f = 0;
    while f < frames {
        let n = ((rng.range(1.0, 6.0) * f64::from(FPS)) as usize).min(frames - f);
        let kind = rng.pick(4);
        let level = rng.pick(256) as u8;
        let (cx, cy, r) = (
            rng.range(0.0, 64.0),
            rng.range(0.0, 64.0),
            rng.range(6.0, 24.0),
        );
        let (vx, vy) = (rng.range(-1.5, 1.5), rng.range(-1.5, 1.5));
        let square = rng.pick(2) == 0;
        for k in 0..n {
            let mut grey = vec![0u8; SIDE * SIDE];
            for (i, p) in grey.iter_mut().enumerate() {
                let (x, y) = ((i % SIDE) as f64, (i / SIDE) as f64);
                *p = match kind {
                    0 => level,
                    1 => (rng.next() & 0xff) as u8,
                    2 => {
                        if ((x + y * 0.5 + 2.0 * k as f64) / 6.0) as i64 % 2 == 0 {
                            level
                        } else {
                            255 - level
                        }
                    }
                    _ => {
                        let (px, py) = (cx + vx * k as f64, cy + vy * k as f64);
                        let inside = if square {
                            (x - px).abs() < r && (y - py).abs() < r * 0.6
                        } else {
                            (x - px).hypot(y - py) < r
                        };
                        if inside { 255 - level / 2 } else { level / 4 }
                    }
                };
            }
            let rgb: Vec<u8> = grey.iter().flat_map(|&v| [v, v, v]).collect();
            y4m.write_frame(&rgb)?;
        }
        f += n;
    }
    y4m.finish()?;
    std::fs::write(dir.join("labels.txt"), AVDIGITS_LABELS)?;
    Ok(total)
}

fn main() -> anyhow::Result<()> {
    let a = args()?;
    let tmp = tempfile::tempdir()?;
    let dir = match &a.keep {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| d.display().to_string())?;
            d.as_path()
        }
        None => tmp.path(),
    };
    let seconds = write_media(&a, dir)?;
    let open_set = match &a.open_set {
        Some(p) => format!(
            "open_set = {:?}\n",
            std::path::absolute(p)?.display().to_string()
        ),
        None => String::new(),
    };
    let hop = a
        .audio_hop
        .map_or(String::new(), |h| format!("audio_hop_s = {h}\n"));
    let config = format!(
        "[bundle]\ndir = {:?}\nprecision = {:?}\n\
         [camera]\nsource = \"y4m\"\npath = \"cam.y4m\"\n\
         [microphone]\nsource = \"wav\"\npath = \"mic.wav\"\n\
         [labels]\nfile = \"labels.txt\"\n\
         [tagging]\ntop_k = 1\n{open_set}{hop}\
         [outputs]\ntags = \"out.jsonl\"\nframebuffer = \"off\"\n",
        std::path::absolute(&a.bundle)?.display().to_string(),
        a.precision,
    );
    std::fs::write(dir.join("mmv-host.toml"), config)?;
    let config = Config::load(&dir.join("mmv-host.toml"))?;
    let started = std::time::Instant::now();
    let stats = mmv_host::daemon::run(&config, Arc::new(AtomicBool::new(false)))?;
    let wall = started.elapsed().as_secs_f64();
    // Per modality: windows tagged with a digit, events started.
    let mut counts: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for line in std::fs::read_to_string(dir.join("out.jsonl"))
        .unwrap_or_default()
        .lines()
    {
        let v: serde_json::Value = serde_json::from_str(line)?;
        let m = v["modality"].as_str().unwrap_or("?").to_string();
        let c = counts.entry(m).or_default();
        match v.get("event").and_then(|e| e.as_str()) {
            Some("start") => c.1 += 1,
            Some(_) => {}
            None => c.0 += 1,
        }
    }
    println!(
        "{:.0} min of footage without digits replayed in {wall:.1} s ({:.0}x real time) with {} \
         ({}), {}",
        seconds / 60.0,
        seconds / wall,
        a.bundle.display(),
        a.precision,
        match &a.open_set {
            Some(p) => format!("tagging.open_set = {}", p.display()),
            None => "the bundle's own cuts".into(),
        }
    );
    println!(
        "windows: {} frames, {} clips, {} audio windows ({} silent)",
        stats.frames, stats.clips, stats.audio_windows, stats.silent_windows
    );
    println!("| modality | windows tagged with a digit | events started |");
    println!("| --- | ---: | ---: |");
    for m in ["image", "clip", "audio"] {
        let (tagged, events) = counts.get(m).copied().unwrap_or_default();
        println!("| {m} | {tagged} | {events} |");
    }
    Ok(())
}
