//! Events through the daemon as deployed (a TOML file, file sources replayed as fast as
//! inference goes): one event per digit shown or said, with its times, none for flickers, short
//! dropouts or content that is no label; none at all on a replay of negatives when the bundle's
//! open-set cuts reject them, with the fake embedder and with the released bundle.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use mmv_host::config::Config;
use mmv_host::daemon::{run, run_with};
use mmv_host::fake::FakeEmbedder;
use mmv_host::pipeline::PipelineStats;
use mmv_runtime::frames::RgbFrame;
use mmv_runtime::ingest::y4m::write_y4m;

/// The fake embedder knows a fifth name that is none of the daemon's four labels: content at
/// its level embeds orthogonally to every label (cosine 0), as a negative would.
const NAMES: [&str; 5] = ["zero", "one", "two", "three", "noise"];
const FPS: u32 = 10;

/// A grey 32x24 frame that the fake embedder reads as name `i` (the middle of its level band).
fn frame(i: usize) -> RgbFrame {
    let v = (((i as f32 + 0.5) / NAMES.len() as f32) * 255.0).round() as u8;
    RgbFrame {
        width: 32,
        height: 24,
        data: vec![v; 32 * 24 * 3],
    }
}

/// One second of a 440 Hz sine that the fake embedder reads as name `i`; `None`: silence.
fn second(i: Option<usize>) -> Vec<f32> {
    let amp = i.map_or(0.0, |i| (i as f32 + 0.5) / NAMES.len() as f32);
    (0..16_000)
        .map(|s| amp * (s as f32 * 440.0 * std::f32::consts::TAU / 16_000.0).sin())
        .collect()
}

fn write_wav(path: &Path, samples: &[f32]) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("wav");
    for s in samples {
        w.write_sample((s * 32767.0) as i16).expect("sample");
    }
    w.finalize().expect("finalize");
}

/// The daemon's configuration for `cam.y4m` and `mic.wav` in `dir`, with `extra` TOML.
fn write_config(dir: &Path, bundle: &Path, labels: &str, extra: &str) -> Config {
    let text = format!(
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
{labels}
[tagging]
top_k = 1
[outputs]
tags = "out.jsonl"
framebuffer = "off"
{extra}
"#,
        bundle.display()
    );
    let path = dir.join("mmv-host.toml");
    std::fs::write(&path, text).expect("config");
    Config::load(&path).expect("config loads")
}

/// (event, label, start_s, end_s, reason) of each event record of `modality`, in order, and
/// the number of tag lines.
type Summary = Vec<(String, String, f64, Option<f64>, String)>;

fn read_out(dir: &Path) -> (BTreeMap<String, Summary>, usize) {
    let text = std::fs::read_to_string(dir.join("out.jsonl")).unwrap_or_default();
    let mut events: BTreeMap<String, Summary> = BTreeMap::new();
    let mut tag_lines = 0;
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("json");
        if v.get("event").is_none() {
            tag_lines += 1;
            continue;
        }
        let s = |k: &str| v[k].as_str().unwrap_or("").to_string();
        // Times to 0.1 ms: stream seconds come from sample and frame counts.
        let round = |x: f64| (x * 1e4).round() / 1e4;
        events.entry(s("modality")).or_default().push((
            s("event"),
            s("label"),
            round(v["start_s"].as_f64().expect("start_s")),
            v["end_s"].as_f64().map(round),
            s("reason"),
        ));
    }
    (events, tag_lines)
}

fn start(label: &str, at: f64) -> (String, String, f64, Option<f64>, String) {
    ("start".into(), label.into(), at, None, String::new())
}

fn end(
    label: &str,
    from: f64,
    to: f64,
    reason: &str,
) -> (String, String, f64, Option<f64>, String) {
    ("end".into(), label.into(), from, Some(to), reason.into())
}

fn fake(cut: Option<f32>) -> FakeEmbedder {
    let mut fake = FakeEmbedder::new(&NAMES.map(String::from));
    if let Some(c) = cut {
        // A calibrated bundle's cuts.
        fake.cuts = ["image", "video", "audio"]
            .into_iter()
            .map(|m| (m.to_string(), c))
            .collect();
    }
    fake
}

fn run_fake(config: &Config, fake: FakeEmbedder) -> PipelineStats {
    run_with(config, fake, None, Arc::new(AtomicBool::new(false))).expect("daemon runs")
}

const FAKE_LABELS: &str = r#"names = ["zero", "one", "two", "three"]"#;
const RULES: &str =
    "[events]\nimage = { k = 3, n = 5 }\nclip = { k = 2, n = 3 }\naudio = { k = 1, n = 2 }\n";

#[test]
fn one_event_per_digit_shown_or_said_with_its_times() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Camera, 10 fps, in clips of 8 frames (0.8 s): "one" for 4 clips with one frame of
    // nothing in it, nothing for 2 clips, "three" for 5 clips with one frame of "two" in it,
    // nothing for 2 clips.
    let mut frames = Vec::new();
    for f in 0..104 {
        let name = match f {
            12 => 4,
            0..32 => 1,
            68 => 2,
            48..88 => 3,
            _ => 4,
        };
        frames.push(frame(name));
    }
    write_y4m(&dir.path().join("cam.y4m"), &frames, FPS).expect("y4m");
    // Microphone, in windows of 1 s: "one" twice around a silent second, nothing (a level that
    // is no label), "three", then "two" at once, silence.
    let said = [
        Some(1),
        Some(1),
        None,
        Some(1),
        Some(4),
        Some(4),
        Some(3),
        Some(2),
        None,
        None,
    ];
    let audio: Vec<f32> = said.iter().flat_map(|&s| second(s)).collect();
    write_wav(&dir.path().join("mic.wav"), &audio);

    let config = write_config(dir.path(), Path::new("unused"), FAKE_LABELS, RULES);
    let stats = run_fake(&config, fake(Some(0.5)));
    assert_eq!(
        (stats.frames, stats.clips, stats.audio_windows),
        (104, 13, 10)
    );
    assert_eq!(stats.silent_windows, 3);

    let (events, _) = read_out(dir.path());
    // Image (3 of 5 frames): the dropout (1 frame) and the flicker of "two" (1 frame) are
    // bridged; each event ends at its last frame's time.
    assert_eq!(
        events["image"],
        vec![
            start("one", 0.0),
            end("one", 0.0, 3.1, "absent"),
            start("three", 4.8),
            end("three", 4.8, 8.7, "absent"),
        ]
    );
    // Clips (2 of 3): each from its first clip's start to its last clip's end.
    assert_eq!(
        events["clip"],
        vec![
            start("one", 0.0),
            end("one", 0.0, 3.2, "absent"),
            start("three", 4.8),
            end("three", 4.8, 8.8, "absent"),
        ]
    );
    // Audio (1 of 2): the silent second does not split "one"; "three" and "two" interleave.
    assert_eq!(
        events["audio"],
        vec![
            start("one", 0.0),
            end("one", 0.0, 4.0, "absent"),
            start("three", 6.0),
            start("two", 7.0),
            end("three", 6.0, 7.0, "absent"),
            end("two", 7.0, 8.0, "absent"),
        ]
    );
    assert_eq!(stats.event_lines, 4 + 4 + 6);

    // Without hysteresis (1 of 1) the same replay chatters.
    let dir2 = tempfile::tempdir().expect("tempdir");
    for f in ["cam.y4m", "mic.wav"] {
        std::fs::copy(dir.path().join(f), dir2.path().join(f)).expect("copy");
    }
    let rules =
        "[events]\nimage = { k = 1, n = 1 }\nclip = { k = 1, n = 1 }\naudio = { k = 1, n = 1 }\n";
    let config = write_config(dir2.path(), Path::new("unused"), FAKE_LABELS, rules);
    run_fake(&config, fake(Some(0.5)));
    let (events, _) = read_out(dir2.path());
    let starts = |m: &str| events[m].iter().filter(|e| e.0 == "start").count();
    // Image: "one" and "three" split by their one-frame gaps, and the flicker of "two".
    assert_eq!(
        (starts("image"), starts("clip"), starts("audio")),
        (5, 2, 4)
    );
}

/// Camera and microphone content that is none of the labels, mixed with silence: 12 s.
fn write_negatives(dir: &Path) {
    let frames: Vec<RgbFrame> = (0..120).map(|_| frame(4)).collect();
    write_y4m(&dir.join("cam.y4m"), &frames, FPS).expect("y4m");
    let audio: Vec<f32> = (0..12)
        .flat_map(|s| second((s % 3 != 0).then_some(4)))
        .collect();
    write_wav(&dir.join("mic.wav"), &audio);
}

#[test]
fn a_replay_of_negatives_gives_no_event_when_the_cuts_reject_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_negatives(dir.path());
    let config = write_config(dir.path(), Path::new("unused"), FAKE_LABELS, "");
    let stats = run_fake(&config, fake(Some(0.5)));
    assert_eq!(
        (stats.frames, stats.clips, stats.audio_windows),
        (120, 15, 12)
    );
    let (events, tag_lines) = read_out(dir.path());
    assert!(events.is_empty(), "{events:?}");
    assert_eq!((tag_lines, stats.event_lines), (0, 0));

    // The cuts are what removes them: without, every output names its best label, and events
    // follow with the default rules.
    let config = write_config(dir.path(), Path::new("unused"), FAKE_LABELS, "");
    std::fs::remove_file(dir.path().join("out.jsonl")).expect("rm");
    let stats = run_fake(&config, fake(None));
    let (events, tag_lines) = read_out(dir.path());
    assert_eq!(tag_lines, 120 + 15 + 8);
    assert_eq!(events.len(), 3, "{events:?}");
    assert!(stats.event_lines > 0);
}

/// The released bundle, with open-set cuts in a copy of its manifest (`None`: without).
fn bundle_with_cuts(dir: &Path, cut: Option<f32>) -> PathBuf {
    let released = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/avdigits-fac-s3d");
    let out = dir.join("bundle");
    std::fs::create_dir_all(&out).expect("bundle dir");
    for entry in std::fs::read_dir(&released).expect("released bundle") {
        let entry = entry.expect("entry");
        if entry.file_name() != "manifest.json" {
            std::os::unix::fs::symlink(entry.path(), out.join(entry.file_name())).expect("link");
        }
    }
    let text = std::fs::read_to_string(released.join("manifest.json")).expect("manifest");
    let mut manifest: serde_json::Value = serde_json::from_str(&text).expect("json");
    manifest["open_set"] = match cut {
        Some(c) => serde_json::json!({
            "thresholds": {"video": c, "audio": c, "image": c, "fused": c},
            "method": "test: one cut for every modality",
            "labels": "avdigits",
            "target_negative_rate": 0.01,
            "made_by": "firmware-host/tests/events.rs",
        }),
        None => serde_json::Value::Null,
    };
    std::fs::write(out.join("manifest.json"), manifest.to_string()).expect("manifest");
    out
}

#[test]
fn the_released_bundle_gives_no_event_on_negatives_with_its_cuts() {
    // 16 s of an empty canvas, pixel noise and moving bars (64x64, 10 fps); silence, white
    // noise and a tone.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut seed = 7u32;
    let frames: Vec<RgbFrame> = (0..160)
        .map(|f| {
            let mut grey = vec![0u8; 64 * 64];
            match f / 40 {
                1 | 3 => {
                    for p in &mut grey {
                        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                        *p = (seed >> 24) as u8;
                    }
                }
                2 => {
                    for (i, p) in grey.iter_mut().enumerate() {
                        if ((i % 64 + f) / 8) % 2 == 0 {
                            *p = 200;
                        }
                    }
                }
                _ => {}
            }
            RgbFrame {
                width: 64,
                height: 64,
                data: grey.iter().flat_map(|&v| [v, v, v]).collect(),
            }
        })
        .collect();
    write_y4m(&dir.path().join("cam.y4m"), &frames, FPS).expect("y4m");
    let audio: Vec<f32> = (0..16 * 16_000)
        .map(|i| match i / (4 * 16_000) {
            1 => {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                0.1 * ((seed >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0)
            }
            2 => 0.2 * (i as f32 * 1000.0 * std::f32::consts::TAU / 16_000.0).sin(),
            _ => 0.0,
        })
        .collect();
    write_wav(&dir.path().join("mic.wav"), &audio);
    let labels = "names = [\"zero\", \"one\", \"two\", \"three\", \"four\", \"five\", \"six\", \"seven\", \"eight\", \"nine\"]";

    // Cuts at 0.55: a little above what `mmv-train calibrate-tags` chose for this bundle
    // (0.49 to 0.51).
    let bundle = bundle_with_cuts(dir.path(), Some(0.55));
    let config = write_config(dir.path(), &bundle, labels, "");
    let stats = run(&config, Arc::new(AtomicBool::new(false))).expect("daemon runs");
    assert_eq!((stats.frames, stats.clips), (160, 10));
    let (events, tag_lines) = read_out(dir.path());
    assert!(events.is_empty(), "{events:?}");
    assert_eq!((tag_lines, stats.event_lines), (0, 0));

    // Without cuts the same replay names a digit for every output, and events follow.
    std::fs::remove_dir_all(&bundle).expect("rm bundle");
    std::fs::remove_file(dir.path().join("out.jsonl")).ok();
    let bundle = bundle_with_cuts(dir.path(), None);
    let config = write_config(dir.path(), &bundle, labels, "");
    run(&config, Arc::new(AtomicBool::new(false))).expect("daemon runs");
    let (events, tag_lines) = read_out(dir.path());
    assert_eq!(
        tag_lines,
        160 + 10 + stats.audio_windows as usize - stats.silent_windows as usize
    );
    assert!(!events.is_empty());
}
