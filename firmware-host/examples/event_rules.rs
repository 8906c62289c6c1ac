//! Measures the event rules (`k` of `n` windows, per modality) on a replay through the daemon:
//! the measurement behind `[events]`'s defaults (firmware-host/README.md, "Events").
//!
//! ```sh
//! cargo run -p mmv-host --example event_rules -- --data ../shared/data \
//!     --bundle models/avdigits-fac-s3d --minutes 20 --seeds 1,2,3 [--audio-hop 0.4] [--cut 0.45] \
//!     [--longest 10] [--rows 8] [--open-set FILE] [--write DIR]
//! ```
//!
//! `--write DIR` only writes the first seed's footage into DIR (`cam.y4m`, `mic.wav`,
//! `labels.txt` and `truth.json`: each digit's time shown and said) for other tools, e.g.
//! `benches/aarch64_agreement.py --footage`, and stops.
//!
//! 1. Writes AV-Digits-like footage (a Y4M at 10 fps and a 16 kHz WAV): test-split MNIST digits
//!    (images 8000..) moving and bouncing on a 64x64 canvas for 2 to 10 s each (`--longest`),
//!    each spoken once meanwhile by an FSDD test take (takes 0-4), between 1 to 4 s of something
//!    else (an empty canvas, pixel noise or moving bars; silence, white noise or a tone).
//!    Presence is scored three or four ways: an ideal cut (present while a digit is there),
//!    `--cut`, an open-set calibration's own cuts and kinds of score (`--open-set FILE`, e.g. the
//!    one shipped beside a bundle: contrast or typicality per modality), and no cut.
//! 2. Replays it through the daemon (`daemon::run`, the bundle at fp32, file sources, every
//!    frame through the image network, clips, audio windows) with the best label of every
//!    window on its tag line (`threshold = -1`, `top_k = 1`).
//! 3. Feeds those windows to the events ([`mmv_host::pipeline::events`]) for every `k` of `n`
//!    (`n` up to 30), a label present by each presence setting, and scores the events
//!    against what was shown and said: an event matches a digit shown (or spoken) when it has
//!    its label and overlaps it in time; a digit without one is missed, every further event on
//!    it is a split, an event on nothing of its label is false. Prints the best rules of each
//!    modality by missed + split + false, summed over the seeds' replays.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, bail};
use mmv_host::config::Config;
use mmv_host::model::Modality;
use mmv_host::outputs::events_jsonl::{EndReason, EventRecord, Phase};
use mmv_host::pipeline::events::{Events, Rule, Rules, Window};
use mmv_runtime::audio::{read_wav, resample, write_wav};
use mmv_runtime::ingest::y4m::Y4mWriter;
use mmv_runtime::open_set::{OpenSet, OpenSetScore};
use mmv_runtime::tag::{AVDIGITS_LABELS, Tag};

const FPS: u32 = 10;
const RATE: u32 = 16_000;
const CANVAS: usize = 64;
const DIGIT: usize = 28;
const WORDS: [&str; 10] = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
];

/// splitmix64: reproducible without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

struct Args {
    data: PathBuf,
    bundle: PathBuf,
    minutes: f64,
    seeds: Vec<u64>,
    audio_hop: Option<f32>,
    cut: Option<f32>,
    /// An open-set calibration whose cuts decide presence (its Gaussians give each window's
    /// typicality).
    open_set: Option<PathBuf>,
    /// Longest a digit is shown, in seconds.
    longest: f64,
    /// Rules listed per table (the best; (1, 1) and the default are always listed).
    rows: usize,
    /// Only write the first seed's footage here.
    write: Option<PathBuf>,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        data: std::env::var_os("MMV_DATA").map_or_else(|| "../shared/data".into(), PathBuf::from),
        bundle: "models/avdigits-fac-s3d".into(),
        minutes: 10.0,
        seeds: vec![1],
        audio_hop: None,
        cut: None,
        open_set: None,
        longest: 10.0,
        rows: 8,
        write: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--data" => a.data = value()?.into(),
            "--bundle" => a.bundle = value()?.into(),
            "--minutes" => a.minutes = value()?.parse()?,
            "--seeds" => {
                a.seeds = value()?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()?
            }
            "--audio-hop" => a.audio_hop = Some(value()?.parse()?),
            "--cut" => a.cut = Some(value()?.parse()?),
            "--open-set" => a.open_set = Some(value()?.into()),
            "--longest" => a.longest = value()?.parse()?,
            "--rows" => a.rows = value()?.parse()?,
            "--write" => a.write = Some(value()?.into()),
            other => bail!("unknown argument {other}"),
        }
    }
    Ok(a)
}

fn gunzip(path: &Path) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(
        std::fs::File::open(path).with_context(|| path.display().to_string())?,
    )
    .read_to_end(&mut out)?;
    Ok(out)
}

/// The MNIST test split (images 8000..): 28x28 digits with their labels.
fn mnist_test(data: &Path) -> anyhow::Result<Vec<(u8, Vec<u8>)>> {
    let images = gunzip(&data.join("mnist/mnist10k-images-idx3-ubyte.gz"))?;
    let labels = gunzip(&data.join("mnist/mnist10k-labels-idx1-ubyte.gz"))?;
    let n = labels.len() - 8;
    Ok((8000..n)
        .map(|i| {
            let px = &images[16 + i * DIGIT * DIGIT..16 + (i + 1) * DIGIT * DIGIT];
            (labels[8 + i], px.to_vec())
        })
        .collect())
}

/// FSDD test takes (0-4 of every speaker) per digit, at 16 kHz.
fn fsdd_test(data: &Path) -> anyhow::Result<Vec<Vec<Vec<f32>>>> {
    let dir = data.join("fsdd/recordings");
    let mut takes = vec![Vec::new(); 10];
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .with_context(|| dir.display().to_string())?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    names.sort();
    for name in names {
        let parts: Vec<&str> = name.trim_end_matches(".wav").split('_').collect();
        let [digit, _, take] = parts[..] else {
            continue;
        };
        let (Ok(digit), Ok(take)) = (digit.parse::<usize>(), take.parse::<u32>()) else {
            continue;
        };
        if take <= 4 && digit < 10 {
            let a = read_wav(&dir.join(&name))?;
            takes[digit].push(resample(&a.samples, a.sample_rate, RATE)?);
        }
    }
    Ok(takes)
}

/// What is on screen (or said) over a span of the replay.
#[derive(Clone, Debug)]
struct Shown {
    digit: usize,
    start: f64,
    end: f64,
}

/// Something else on screen between digits.
#[derive(Clone, Copy)]
enum Filler {
    Empty,
    Noise,
    Bars,
}

/// One stretch of the video timeline.
enum Segment {
    Digit { image: Vec<u8>, vx: f64, vy: f64 },
    Filler(Filler),
}

/// Writes the replay into `dir`; returns (shown, said).
fn write_replay(a: &Args, seed: u64, dir: &Path) -> anyhow::Result<(Vec<Shown>, Vec<Shown>)> {
    let mnist = mnist_test(&a.data)?;
    let takes = fsdd_test(&a.data)?;
    let mut rng = Rng(seed);
    let total = a.minutes * 60.0;
    let mut timeline: Vec<(f64, f64, Segment)> = Vec::new();
    let (mut shown, mut said) = (Vec::new(), Vec::new());
    let mut audio = vec![0.0f32; ((total + a.longest + 8.0) * f64::from(RATE)) as usize];
    let mut t = 0.0;
    while t < total {
        let gap = rng.uniform(1.0, 4.0);
        let filler = [Filler::Empty, Filler::Noise, Filler::Bars][rng.below(3)];
        timeline.push((t, t + gap, Segment::Filler(filler)));
        // The gap's sound: silence, white noise or a tone.
        let (s0, s1) = (
            (t * f64::from(RATE)) as usize,
            ((t + gap) * f64::from(RATE)) as usize,
        );
        match rng.below(3) {
            0 => {}
            1 => {
                let amp = rng.uniform(0.02, 0.2) as f32;
                for s in &mut audio[s0..s1] {
                    *s = amp * (rng.uniform(-1.0, 1.0) as f32);
                }
            }
            _ => {
                let (f, amp) = (rng.uniform(200.0, 2000.0), rng.uniform(0.05, 0.3));
                for (i, s) in audio[s0..s1].iter_mut().enumerate() {
                    *s = (amp * (std::f64::consts::TAU * f * i as f64 / f64::from(RATE)).sin())
                        as f32;
                }
            }
        }
        t += gap;
        let (digit, image) = mnist[rng.below(mnist.len())].clone();
        let digit = usize::from(digit);
        let dur = rng.uniform(2.0, a.longest);
        let (vx, vy) = (rng.uniform(-2.0, 2.0), rng.uniform(-2.0, 2.0));
        timeline.push((t, t + dur, Segment::Digit { image, vx, vy }));
        shown.push(Shown {
            digit,
            start: t,
            end: t + dur,
        });
        // Said once, somewhere while shown.
        let take = &takes[digit][rng.below(takes[digit].len())];
        let len = take.len() as f64 / f64::from(RATE);
        let at = t + rng.uniform(0.0, (dur - len).max(0.0));
        let s0 = (at * f64::from(RATE)) as usize;
        audio[s0..s0 + take.len()].copy_from_slice(take);
        said.push(Shown {
            digit,
            start: at,
            end: at + len,
        });
        t += dur;
    }
    let end = t;
    audio.truncate((end * f64::from(RATE)) as usize);

    let file = std::io::BufWriter::new(std::fs::File::create(dir.join("cam.y4m"))?);
    let mut y4m = Y4mWriter::new(file, CANVAS, CANVAS, FPS, 1)?;
    let frames = (end * f64::from(FPS)) as usize;
    let mut seg = 0;
    let mut pos = (18.0f64, 18.0f64);
    let mut vel = (0.0, 0.0);
    for f in 0..frames {
        let tf = f as f64 / f64::from(FPS);
        while seg + 1 < timeline.len() && tf >= timeline[seg].1 {
            seg += 1;
            if let Segment::Digit { vx, vy, .. } = &timeline[seg].2 {
                pos = (rng.uniform(0.0, 36.0), rng.uniform(0.0, 36.0));
                vel = (*vx, *vy);
            }
        }
        let mut canvas = vec![0u8; CANVAS * CANVAS];
        match &timeline[seg].2 {
            Segment::Digit { image, .. } => {
                let room = (CANVAS - DIGIT) as f64;
                for (p, v) in [(&mut pos.0, &mut vel.0), (&mut pos.1, &mut vel.1)] {
                    *p += *v;
                    if *p < 0.0 || *p > room {
                        *v = -*v;
                        *p = p.clamp(0.0, room);
                    }
                }
                let (ox, oy) = (pos.0 as usize, pos.1 as usize);
                for y in 0..DIGIT {
                    for x in 0..DIGIT {
                        canvas[(oy + y) * CANVAS + ox + x] = image[y * DIGIT + x];
                    }
                }
            }
            Segment::Filler(Filler::Empty) => {}
            Segment::Filler(Filler::Noise) => {
                for p in &mut canvas {
                    *p = (rng.next() & 0xff) as u8;
                }
            }
            Segment::Filler(Filler::Bars) => {
                let off = f % CANVAS;
                for y in 0..CANVAS {
                    for x in 0..CANVAS {
                        if ((x + off) / 8).is_multiple_of(2) && (y / 16).is_multiple_of(2) {
                            canvas[y * CANVAS + x] = 200;
                        }
                    }
                }
            }
        }
        let rgb: Vec<u8> = canvas.iter().flat_map(|&v| [v, v, v]).collect();
        y4m.write_frame(&rgb)?;
    }
    y4m.finish()?;

    write_wav(&dir.join("mic.wav"), &audio, RATE)?;
    std::fs::write(dir.join("labels.txt"), AVDIGITS_LABELS)?;
    Ok((shown, said))
}

/// One window of a tag line: its span and best label.
#[derive(Clone, Debug)]
struct Line {
    start_s: f64,
    end_s: f64,
    label: String,
    similarity: f32,
    contrast: f32,
    /// Present when the replay ran with an open-set calibration that scores this modality
    /// by typicality.
    typicality: Option<f32>,
    modality: Modality,
}

fn replay(a: &Args, dir: &Path) -> anyhow::Result<BTreeMap<Modality, Vec<Line>>> {
    let hop = a
        .audio_hop
        .map_or(String::new(), |h| format!("audio_hop_s = {h}\n"));
    // The calibration's Gaussians, for each window's typicality (`threshold = -1` still
    // writes every window's best label).
    let open_set = match &a.open_set {
        Some(p) => format!(
            "open_set = {:?}\n",
            std::path::absolute(p)?.display().to_string()
        ),
        None => String::new(),
    };
    let config = format!(
        r#"
[bundle]
dir = "{}"
precision = "fp32"
[camera]
source = "y4m"
path = "cam.y4m"
[microphone]
source = "wav"
path = "mic.wav"
[labels]
file = "labels.txt"
[tagging]
top_k = 1
threshold = -1.0
{hop}{open_set}
[events]
enabled = false
[outputs]
tags = "tags.jsonl"
framebuffer = "off"
"#,
        std::path::absolute(&a.bundle)?.display()
    );
    std::fs::write(dir.join("mmv-host.toml"), config)?;
    let config = Config::load(&dir.join("mmv-host.toml"))?;
    let started = std::time::Instant::now();
    let stats = mmv_host::daemon::run(&config, Arc::new(AtomicBool::new(false)))?;
    eprintln!(
        "replayed in {:.1} s: {} frames, {} clips, {} audio windows ({} silent)",
        started.elapsed().as_secs_f64(),
        stats.frames,
        stats.clips,
        stats.audio_windows,
        stats.silent_windows
    );
    let mut out: BTreeMap<Modality, Vec<Line>> = BTreeMap::new();
    for l in std::fs::read_to_string(dir.join("tags.jsonl"))?.lines() {
        let v: serde_json::Value = serde_json::from_str(l)?;
        let m = match v["modality"].as_str() {
            Some("image") => Modality::Image,
            Some("clip") => Modality::Clip,
            Some("audio") => Modality::Audio,
            _ => continue,
        };
        let t = &v["tags"][0];
        out.entry(m).or_default().push(Line {
            start_s: v["start_s"].as_f64().unwrap_or(0.0),
            end_s: v["end_s"].as_f64().unwrap_or(0.0),
            label: t["label"].as_str().unwrap_or("").to_string(),
            similarity: t["similarity"].as_f64().unwrap_or(-1.0) as f32,
            contrast: t["contrast"].as_f64().unwrap_or(-2.0) as f32,
            typicality: t["typicality"].as_f64().map(|x| x as f32),
            modality: m,
        });
    }
    for lines in out.values_mut() {
        lines.sort_by(|x, y| x.start_s.total_cmp(&y.start_s));
    }
    Ok(out)
}

/// How a rule did on one modality.
#[derive(Clone, Debug, Default)]
struct Score {
    truth: usize,
    events: usize,
    missed: usize,
    split: usize,
    false_: usize,
    /// From the start of what was shown or said to the end of the window that started its
    /// event, per matched digit.
    delays: Vec<f64>,
}

impl Score {
    fn errors(&self) -> usize {
        self.missed + self.split + self.false_
    }
    fn add(&mut self, o: &Score) {
        self.truth += o.truth;
        self.events += o.events;
        self.missed += o.missed;
        self.split += o.split;
        self.false_ += o.false_;
        self.delays.extend_from_slice(&o.delays);
    }

    fn median_delay(&self) -> f64 {
        let mut d = self.delays.clone();
        d.sort_by(f64::total_cmp);
        d.get(d.len() / 2).copied().unwrap_or(f64::NAN)
    }
}

/// When a window's best label counts as present.
#[derive(Clone, Copy, Debug)]
enum Presence {
    /// Always (a bundle without open-set cuts).
    Best,
    /// At this cosine similarity or above.
    Cut(f32),
    /// At an open-set calibration's cut or above, on its kind of score for the modality
    /// (image, clip, audio).
    Calibrated([(OpenSetScore, f32); 3]),
    /// When a digit is there (shown, or said) for at least half the window or half the digit:
    /// what a perfect open-set cut would do; the label stays the model's.
    Ideal,
}

impl Presence {
    fn name(self) -> String {
        match self {
            Self::Best => "no cut (every window's best label)".into(),
            Self::Cut(c) => format!("cut {c}"),
            Self::Calibrated(c) => format!(
                "the open-set calibration's cuts (image {:?} {}, clip {:?} {}, audio {:?} {})",
                c[0].0, c[0].1, c[1].0, c[1].1, c[2].0, c[2].1
            ),
            Self::Ideal => "ideal cut (present exactly while a digit is there)".into(),
        }
    }

    fn present(self, l: &Line, truth: &[Shown]) -> bool {
        match self {
            Self::Best => true,
            Self::Cut(c) => l.similarity >= c,
            Self::Calibrated(c) => {
                let (kind, cut) = c[match l.modality {
                    Modality::Image => 0,
                    Modality::Clip => 1,
                    Modality::Audio => 2,
                }];
                let score = match kind {
                    OpenSetScore::Cosine => l.similarity,
                    OpenSetScore::Contrast => l.contrast,
                    OpenSetScore::Typicality => l.typicality.unwrap_or(f32::NEG_INFINITY),
                };
                score >= cut
            }
            Self::Ideal => truth.iter().any(|t| {
                let overlap = t.end.min(l.end_s) - t.start.max(l.start_s);
                let need = 0.5 * (l.end_s - l.start_s).min(t.end - t.start);
                overlap >= need && (overlap > 0.0 || l.start_s >= t.start && l.start_s < t.end)
            }),
        }
    }
}

fn score(
    lines: &[Line],
    truth: &[Shown],
    m: Modality,
    rule: Rule,
    presence: Presence,
    hop: f64,
) -> Score {
    let mut events = Events::new(Rules {
        image: rule,
        clip: rule,
        audio: rule,
    });
    let mut records: Vec<(EventRecord, f64)> = Vec::new();
    let mut out = Vec::new();
    let mut feed =
        |start_s: f64, end_s: f64, tags: &[Tag], records: &mut Vec<(EventRecord, f64)>| {
            let w = Window {
                start_s,
                end_s,
                start_time: start_s,
                end_time: end_s,
                tags,
            };
            events.observe("replay", m, &w, &mut out);
            records.extend(out.drain(..).map(|e| (e, end_s)));
        };
    let mut last_start: Option<f64> = None;
    for l in lines {
        // Silent audio windows have no tag line: windows without labels.
        if let Some(prev) = last_start {
            let mut t = prev + hop;
            while m == Modality::Audio && l.start_s - t > hop * 0.5 {
                feed(t, t + hop, &[], &mut records);
                t += hop;
            }
        }
        last_start = Some(l.start_s);
        let present = presence.present(l, truth);
        let tag = Tag {
            label: l.label.clone(),
            score: 1.0,
            similarity: l.similarity,
            contrast: 0.0,
            typicality: None,
            present,
        };
        feed(l.start_s, l.end_s, std::slice::from_ref(&tag), &mut records);
    }
    events.finish(EndReason::Stopped, &mut out);
    records.extend(out.drain(..).map(|e| (e, f64::NAN)));

    let starts: BTreeMap<u64, f64> = records
        .iter()
        .filter(|(e, _)| e.event == Phase::Start)
        .map(|(e, at)| (e.id, *at))
        .collect();
    let mut hits = vec![0usize; truth.len()];
    let mut s = Score {
        truth: truth.len(),
        ..Score::default()
    };
    for (e, _) in records.iter().filter(|(e, _)| e.event == Phase::End) {
        s.events += 1;
        let (es, ee) = (e.start_s, e.end_s.unwrap_or(e.start_s));
        let best = truth
            .iter()
            .enumerate()
            .filter(|(_, t)| WORDS[t.digit] == e.label && es <= t.end && ee >= t.start)
            .max_by(|(_, x), (_, y)| {
                let o = |t: &Shown| t.end.min(ee) - t.start.max(es);
                o(x).total_cmp(&o(y))
            });
        match best {
            Some((i, t)) => {
                hits[i] += 1;
                if hits[i] == 1 {
                    s.delays.push(starts[&e.id] - t.start);
                }
            }
            None => s.false_ += 1,
        }
    }
    s.missed = hits.iter().filter(|&&h| h == 0).count();
    s.split = hits.iter().map(|&h| h.saturating_sub(1)).sum();
    s
}

/// The rules tried.
fn grid() -> Vec<Rule> {
    (1..=10)
        .chain([12, 15, 20, 25, 30])
        .flat_map(|n| (1..=n).map(move |k| Rule { k, n }))
        .collect()
}

/// One modality's counts: windows, those on a digit, those with the digit's label; the score
/// per (presence setting, n, k).
#[derive(Default)]
struct Tally {
    windows: [usize; 3],
    scores: BTreeMap<(usize, usize, usize), Score>,
}

fn main() -> anyhow::Result<()> {
    let a = args()?;
    if let Some(dir) = &a.write {
        std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
        let (shown, said) = write_replay(&a, a.seeds[0], dir)?;
        let spans = |v: &[Shown]| {
            v.iter()
                .map(|s| serde_json::json!({"digit": s.digit, "start_s": s.start, "end_s": s.end}))
                .collect::<Vec<_>>()
        };
        let truth = serde_json::json!({"shown": spans(&shown), "said": spans(&said)});
        std::fs::write(
            dir.join("truth.json"),
            serde_json::to_string_pretty(&truth)?,
        )?;
        eprintln!("{} digits written to {}", shown.len(), dir.display());
        return Ok(());
    }
    let hop = f64::from(a.audio_hop.unwrap_or(1.6));
    let modalities = [Modality::Image, Modality::Clip, Modality::Audio];
    let mut settings = vec![Presence::Ideal];
    settings.extend(a.cut.map(Presence::Cut));
    if let Some(path) = &a.open_set {
        let set = OpenSet::from_json(
            &std::fs::read_to_string(path).with_context(|| path.display().to_string())?,
        )
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let of = |key: &str| -> anyhow::Result<(OpenSetScore, f32)> {
            let cut = set
                .threshold(key)
                .with_context(|| format!("{}: no cut for {key}", path.display()))?;
            Ok((set.score_of(key), cut))
        };
        settings.push(Presence::Calibrated([
            of("image")?,
            of("video")?,
            of("audio")?,
        ]));
    }
    settings.push(Presence::Best);
    let mut tallies: Vec<Tally> = modalities.iter().map(|_| Tally::default()).collect();
    let mut digits = 0;
    for &seed in &a.seeds {
        let dir = tempfile::tempdir()?;
        let (shown, said) = write_replay(&a, seed, dir.path())?;
        digits += shown.len();
        eprintln!(
            "seed {seed}: {:.1} min, {} digits shown and said",
            a.minutes,
            shown.len()
        );
        let windows = replay(&a, dir.path())?;
        for (mi, &m) in modalities.iter().enumerate() {
            let lines = windows.get(&m).map_or(&[][..], Vec::as_slice);
            let truth = if m == Modality::Audio { &said } else { &shown };
            let on: Vec<&Line> = lines
                .iter()
                .filter(|l| Presence::Ideal.present(l, truth))
                .collect();
            let right = on
                .iter()
                .filter(|l| {
                    truth.iter().any(|t| {
                        WORDS[t.digit] == l.label && t.end.min(l.end_s) >= t.start.max(l.start_s)
                    })
                })
                .count();
            let t = &mut tallies[mi];
            for (i, v) in [lines.len(), on.len(), right].into_iter().enumerate() {
                t.windows[i] += v;
            }
            for (pi, &presence) in settings.iter().enumerate() {
                for r in grid() {
                    let s = score(lines, truth, m, r, presence, hop);
                    t.scores.entry((pi, r.n, r.k)).or_default().add(&s);
                }
            }
        }
    }
    let seeds: Vec<String> = a.seeds.iter().map(u64::to_string).collect();
    println!(
        "events against truth: {digits} digits shown (2 to {} s) and said, {} replays of {:.1} min \
         (seeds {}), bundle {}{}",
        a.longest,
        a.seeds.len(),
        a.minutes,
        seeds.join(", "),
        a.bundle.display(),
        a.audio_hop
            .map_or(String::new(), |h| format!(", audio hop {h} s"))
    );
    for (mi, &m) in modalities.iter().enumerate() {
        let t = &tallies[mi];
        println!(
            "\n## {}: {} windows, {} on a digit, {} of those with its label\n",
            m.name(),
            t.windows[0],
            t.windows[1],
            t.windows[2]
        );
        for (pi, presence) in settings.iter().enumerate() {
            println!("{}:\n", presence.name());
            println!(
                "| k of n | events | missed | split | false | errors / digits | median start delay (s) |"
            );
            println!("| --- | --- | --- | --- | --- | --- | --- |");
            let mut rows: Vec<(Rule, &Score)> = t
                .scores
                .iter()
                .filter(|((p, ..), _)| *p == pi)
                .map(|(&(_, n, k), s)| (Rule { k, n }, s))
                .collect();
            rows.sort_by_key(|(r, s)| (s.errors(), r.n, r.k));
            // The daemon's default for this case: with a cut or without.
            let default = Rules::defaults(!matches!(presence, Presence::Best)).get(m);
            for (i, (r, s)) in rows.iter().enumerate() {
                if i < a.rows || (r.k, r.n) == (1, 1) || *r == default {
                    println!(
                        "| {} of {}{} | {} | {} | {} | {} | {:.1} % | {:.2} |",
                        r.k,
                        r.n,
                        if *r == default { " (default)" } else { "" },
                        s.events,
                        s.missed,
                        s.split,
                        s.false_,
                        100.0 * s.errors() as f64 / s.truth.max(1) as f64,
                        s.median_delay()
                    );
                }
            }
            println!();
        }
    }
    Ok(())
}
