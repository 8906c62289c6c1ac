//! The daemon as deployed, from a TOML file: file-backed camera and microphone, the fake
//! embedder in place of a bundle, tags to a file, the runtime's SQLite index and PNG snapshots;
//! and a raw YUYV camera through the released bundle's front end.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use mmv_host::config::Config;
use mmv_host::daemon::{Boxed, DynIndex, check_config, open_bundle, run_with};
use mmv_host::fake::FakeEmbedder;
use mmv_host::model::{BundleEmbedder, Embedder, ModelSpec};
use mmv_host::outputs::sqlite_index::SqliteIndex;
use mmv_runtime::bundle::Embedding;
use mmv_runtime::frames::{
    Picture, PixelFormat, preprocess_camera, preprocess_rgb8, rgb_to_yuv, to_rgb8,
};
use mmv_runtime::index::{Index, ModelKey};
use mmv_runtime::tag::{LabelSet, Tagger};

fn write_inputs(dir: &std::path::Path) {
    // 4 s of 32x24 grey Y4M at 10 fps, brightness for label "two" of four (level 0.625).
    let mut y4m = b"YUV4MPEG2 W32 H24 F10:1 Ip A1:1 C420jpeg\n".to_vec();
    for _ in 0..40 {
        y4m.extend_from_slice(b"FRAME\n");
        // Limited-range luma for 0.625: 16 + 0.625 * 219.
        y4m.extend(std::iter::repeat_n(153u8, 32 * 24));
        y4m.extend(std::iter::repeat_n(128u8, 2 * 16 * 12));
    }
    std::fs::write(dir.join("cam.y4m"), y4m).expect("y4m");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(dir.join("mic.wav"), spec).expect("wav");
    for i in 0..48_000 {
        // Peak 0.375: label "one" of four.
        let v = 0.375 * (i as f32 * 440.0 * std::f32::consts::TAU / 16_000.0).sin();
        w.write_sample((v * 32767.0) as i16).expect("sample");
    }
    w.finalize().expect("finalize");
}

const CONFIG: &str = r#"
[bundle]
dir = "no-bundle-here"

[camera]
source = "y4m"
path = "cam.y4m"

[microphone]
source = "wav"
path = "mic.wav"

[labels]
names = ["zero", "one", "two", "three"]

[tagging]
top_k = 1
min_probability = 0.5

[index]
path = "index.sqlite"
thumbnail_width = 16

[outputs]
tags = "out/tags.jsonl"
framebuffer = "off"
png_dir = "out/overlay"
png_every = 10
"#;

#[test]
fn daemon_runs_a_config_end_to_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_inputs(dir.path());
    let path = dir.path().join("mmv-host.toml");
    std::fs::write(&path, CONFIG).expect("config");
    let config = Config::load(&path).expect("config loads");

    let fake = FakeEmbedder::new(&["zero", "one", "two", "three"].map(String::from));
    // The fake embedder has no manifest, so the index is opened for a named model here;
    // `default_index` takes the name from the bundle's manifest.
    let model = ModelKey {
        name: "fake".into(),
        version: "0".into(),
        design: "fac".into(),
    };
    let index_path = dir.path().join(&config.index.as_ref().expect("index").path);
    let sink = SqliteIndex::open(&index_path, &model, 4).expect("index opens");
    let index: Option<DynIndex> = Some(Box::new(Boxed(sink)));
    let stats = run_with(&config, fake, index, Arc::new(AtomicBool::new(false))).expect("run");

    assert_eq!((stats.frames, stats.images, stats.clips), (40, 40, 5));
    assert_eq!(stats.audio_windows, 3);
    assert_eq!(stats.index_rows, 5 + 3);
    let tags = std::fs::read_to_string(dir.path().join("out/tags.jsonl")).expect("tags");
    // Tag lines and event records share the stream; events have an "event" key.
    let (events, lines): (Vec<serde_json::Value>, Vec<serde_json::Value>) = tags
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json"))
        .partition(|v| v.get("event").is_some());
    assert_eq!(lines.len(), 40 + 5 + 3);
    for l in &lines {
        let want = if l["modality"] == "audio" {
            "one"
        } else {
            "two"
        };
        assert_eq!(l["tags"][0]["label"], want, "{l}");
    }
    // One label throughout each modality: one event each, from the first window to the end.
    let summary: Vec<(String, String, String, f64, Option<f64>)> = events
        .iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or("").to_string();
            (
                s("event"),
                s("modality"),
                s("label"),
                e["start_s"].as_f64().expect("start"),
                e["end_s"].as_f64(),
            )
        })
        .collect();
    let ev = |p: &str, m: &str, l: &str, s: f64, e: Option<f64>| {
        (p.to_string(), m.to_string(), l.to_string(), s, e)
    };
    let mut want = vec![
        ev("start", "image", "two", 0.0, None),
        ev("start", "clip", "two", 0.0, None),
        ev("end", "clip", "two", 0.0, Some(4.0)),
        ev("end", "image", "two", 0.0, Some(3.9)),
        ev("start", "audio", "one", 0.0, None),
        ev("end", "audio", "one", 0.0, Some(3.0)),
    ];
    let mut got = summary.clone();
    let order = |v: &mut Vec<(String, String, String, f64, Option<f64>)>| {
        v.sort_by(|a, b| (&a.1, &a.0).cmp(&(&b.1, &b.0)).reverse())
    };
    order(&mut got);
    order(&mut want);
    assert_eq!(got, want, "{summary:?}");
    assert_eq!(stats.event_lines, 6);
    assert!(
        events
            .iter()
            .filter(|e| e["event"] == "end")
            .all(|e| e["reason"] == "stream_end")
    );

    // Every clip and audio window is a searchable row of the SQLite index.
    let index = Index::open(&index_path).expect("index reopens");
    let table = index.load_model_table(&model).expect("model rows");
    assert_eq!(table.len(), 8);
    let files = index.files().expect("files");
    assert!(
        files.iter().all(|f| f.path.starts_with("live/")),
        "{files:?}"
    );
    assert!(dir.path().join("out/overlay/overlay-latest.png").exists());
}

#[test]
fn check_config_says_which_cuts_and_event_rules_apply() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/avdigits-fac-s3d");
    let path = dir.path().join("mmv-host.toml");
    let base = format!(
        "[bundle]\ndir = \"{}\"\n[microphone]\nsource = \"wav\"\npath = \"mic.wav\"\n[labels]\nnames = [\"one\"]\n",
        bundle.display()
    );
    // An older configuration's `threshold` (then a softmax probability) is read as a cosine
    // cut, and said so.
    std::fs::write(
        &path,
        format!("{base}[tagging]\nthreshold = 0.2\n[events.clip]\nk = 1\nn = 3\n"),
    )
    .expect("config");
    let lines = check_config(&path).expect("valid").join("\n");
    assert!(
        lines.contains("tagging.threshold = 0.2: one cosine cut for every modality"),
        "{lines}"
    );
    assert!(lines.contains("tagging.min_probability"), "{lines}");
    assert!(
        // A cut applies: the rules measured with one, but clip as configured.
        lines.contains("image 2 of 20, clip 1 of 3, audio 1 of 3; written with the tag lines"),
        "{lines}"
    );
    // Without it, the bundle's calibrated cuts, if any.
    std::fs::write(&path, format!("{base}[outputs]\nevents = \"off\"\n")).expect("config");
    let lines = check_config(&path).expect("valid").join("\n");
    assert!(lines.contains("open-set cuts"), "{lines}");
    assert!(lines.contains("; not written"), "{lines}");
    // `tagging.open_set`: a calibration file replaces the bundle's cuts.
    let cal = dir.path().join("open-set.json");
    std::fs::write(
        &cal,
        r#"{"thresholds": {"audio": 0.25, "video": 0.5}, "score": "contrast", "method": "by hand",
            "labels": "avdigits", "target_negative_rate": 0.01, "made_by": "this test"}"#,
    )
    .expect("calibration");
    let with_file = format!("{base}[tagging]\nopen_set = \"{}\"\n", cal.display());
    std::fs::write(&path, &with_file).expect("config");
    let lines = check_config(&path).expect("valid").join("\n");
    assert!(
        lines.contains(&format!(
            "calibrated, from tagging.open_set {}",
            cal.display()
        )),
        "{lines}"
    );
    assert!(lines.contains("audio 0.250"), "{lines}");
    assert!(
        lines.contains("image 2 of 20, clip 1 of 2, audio 1 of 3"),
        "{lines}"
    );
    // A file that is not a calibration is refused, by name.
    std::fs::write(&cal, r#"{"thresholds": {"smell": 0.1}}"#).expect("bad calibration");
    let e = check_config(&path)
        .expect_err("not a calibration")
        .to_string();
    assert!(
        e.contains("tagging.open_set") && e.contains("open-set.json"),
        "{e}"
    );
    // A bundle without a calibration and no cut configured: the rules measured without one.
    let plain =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/avdigits-fac-tsm-robust");
    std::fs::write(
        &path,
        base.replace(&bundle.display().to_string(), &plain.display().to_string()),
    )
    .expect("config");
    let lines = check_config(&path).expect("valid").join("\n");
    assert!(
        lines.contains("image 20 of 30, clip 2 of 2, audio 1 of 3"),
        "{lines}"
    );
}

#[test]
fn check_config_names_the_missing_bundle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("mmv-host.toml");
    std::fs::write(&path, CONFIG).expect("config");
    let e = check_config(&path).expect_err("no bundle");
    assert!(e.to_string().contains("no-bundle-here"), "{e}");
    std::fs::write(&path, "[bundle]\ndir = 3\n").expect("config");
    assert!(check_config(&path).is_err());
}

/// The embedder the daemon runs, watched: what reaches its front end, and what comes out.
struct Watched<E> {
    inner: E,
    /// Per frame: its format, its bytes and the front end's output.
    seen: Arc<Mutex<Vec<Seen>>>,
}

type Seen = (PixelFormat, Vec<u8>, Vec<f32>);

impl<E: Embedder> Embedder for Watched<E> {
    type Error = E::Error;
    fn spec(&self) -> &ModelSpec {
        self.inner.spec()
    }
    fn preprocess(&mut self, frame: &Picture) -> Result<Vec<f32>, E::Error> {
        let chw = self.inner.preprocess(frame)?;
        let bytes = match frame {
            Picture::Camera(c) => c.data().to_vec(),
            Picture::Rgb(f) => f.data.clone(),
        };
        self.seen
            .lock()
            .expect("lock")
            .push((frame.format(), bytes, chw.clone()));
        Ok(chw)
    }
    fn embed_image(&mut self, chw: &[f32]) -> Result<Embedding, E::Error> {
        self.inner.embed_image(chw)
    }
    fn embed_clip(&mut self, frames: &[Arc<[f32]>]) -> Result<Embedding, E::Error> {
        self.inner.embed_clip(frames)
    }
    fn embed_audio(&mut self, samples: &[f32], rate: u32) -> Result<Option<Embedding>, E::Error> {
        self.inner.embed_audio(samples, rate)
    }
    fn tagger(&mut self, labels: &LabelSet) -> Result<Tagger, E::Error> {
        self.inner.tagger(labels)
    }
}

/// A raw YUYV camera (a file here; a FIFO or the V4L2 camera on a board) reaches the model as
/// YUYV: the daemon's front end (the released bundle's, through the runtime's pipeline) gives
/// `preprocess_camera` of the bytes the camera delivered, the grey model's Y-plane path, which
/// the old RGB path does not give; only the overlay and thumbnails convert frames to RGB.
#[test]
fn raw_yuyv_frames_reach_the_model_unconverted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (w, h, n) = (64usize, 48usize, 6usize);
    // Saturated colour bars moving over a ramp: the RGB conversion clips at their edges.
    let frames: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            let mut yuyv = Vec::with_capacity(w * h * 2);
            for y in 0..h {
                for pair in 0..w / 2 {
                    let rgb = |x: usize| -> [u8; 3] {
                        match (x + 3 * i) / 5 % 3 {
                            0 => [240, 20, 10],
                            1 => [10, 30, 245],
                            _ => [(x * 4) as u8, (y * 5) as u8, 128],
                        }
                    };
                    let a = rgb_to_yuv(rgb(2 * pair));
                    let b = rgb_to_yuv(rgb(2 * pair + 1));
                    yuyv.extend_from_slice(&[a[0], a[1], b[0], a[2]]);
                }
            }
            yuyv
        })
        .collect();
    std::fs::write(dir.path().join("cam.yuyv"), frames.concat()).expect("yuyv");
    let bundle =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/avdigits-fac-s3d");
    let config = format!(
        r#"
bundle = {{ dir = "{}", precision = "fp32", threads = 1 }}
camera = {{ source = "yuyv", path = "cam.yuyv", width = {w}, height = {h}, fps = 10 }}
labels = {{ names = ["one", "two"] }}
outputs = {{ tags = "tags.jsonl", framebuffer = "off", png_dir = "overlay", png_every = 1 }}
"#,
        bundle.display()
    );
    let path = dir.path().join("mmv-host.toml");
    std::fs::write(&path, config).expect("config");
    let config = Config::load(&path).expect("config loads");
    let embedder = BundleEmbedder::new(open_bundle(&config).expect("bundle")).expect("embedder");
    let spec = embedder.spec().frame.clone();
    assert_eq!(spec.channels, 1, "a grey model");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let watched = Watched {
        inner: embedder,
        seen: seen.clone(),
    };
    let stats = run_with(&config, watched, None, Arc::new(AtomicBool::new(false))).expect("run");
    assert_eq!(stats.frames, n as u64, "{stats:?}");
    let seen = seen.lock().expect("lock");
    assert_eq!(seen.len(), n);
    for (i, (format, bytes, chw)) in seen.iter().enumerate() {
        assert_eq!(*format, PixelFormat::Yuyv, "frame {i}");
        assert_eq!(
            bytes, &frames[i],
            "frame {i}: the bytes the camera delivered"
        );
        let want = preprocess_camera(PixelFormat::Yuyv, &frames[i], w, h, &spec).expect("camera");
        assert_eq!(chw, &want, "frame {i}");
        let rgb = to_rgb8(PixelFormat::Yuyv, &frames[i], w, h).expect("rgb");
        let via_rgb = preprocess_rgb8(&rgb, w, h, &spec).expect("rgb path");
        assert_ne!(chw, &via_rgb, "frame {i}: the Y plane, not RGB");
    }
    // The overlay still shows the frames, in colour.
    assert!(dir.path().join("overlay/overlay-latest.png").exists());
}
