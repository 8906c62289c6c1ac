//! One media layer: the board daemon (`mmv-host`, file sources, the released bundle) and the
//! `mmv tag` / `mmv index` code path give the same clips, tags and index rows for the same files.
//!
//! The inputs are made here (no data needed): a Y4M at 12.5 fps (not a multiple of the model's
//! 5 fps, so the frame sampling rule matters) whose last clip is 5 of 8 model frames (kept and
//! padded), and a 16 kHz WAV of a tone, a silent window (no embedding on either side), noise and
//! a tail of 0.7 window (kept, padded).
//!
//! - `mmv tag`'s side is the library calls the command makes (`Pipeline::tagger`,
//!   `Pipeline::open`, `FileClips::next`, `Pipeline::tag`), and `mmv index`'s is `index_file`.
//! - The daemon's side is `mmv_host::daemon::run` on a TOML configuration, as `mmv-host
//!   --config` runs it: the bundle through the runtime, the camera and microphone threads over
//!   the files, the queues, the inference loop, the tag-line file and the SQLite index.
//!
//! Compared: per clip and audio window, the time range, the modality, the tags (labels in order,
//! scores within 1e-5) and, in the two SQLite files, the embeddings (within 1e-5) and the video
//! rows' thumbnails (byte for byte).
//!
//! The same footage as a camera's raw YUYV (which `mmv tag` does not open: no header) is
//! compared with the runtime's reader and pipeline (`RawReader`, `Clips`, `Pipeline::embed_clip`):
//! both keep the frames in YUYV, so the grey model reads their Y plane on both sides.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use mmv_runtime::bundle::manifest::Precision;
use mmv_runtime::bundle::{Bundle, BundleOptions};
use mmv_runtime::frames::{Picture, PixelFormat, rgb_to_yuv};
use mmv_runtime::index::{Index, IndexOptions, index_file};
use mmv_runtime::ingest::raw::{RawReader, RawVideo};
use mmv_runtime::ingest::y4m::Y4mWriter;
use mmv_runtime::ingest::{Clips, OpenOptions};
use mmv_runtime::pipeline::Pipeline;
use mmv_runtime::tag::{AVDIGITS_LABELS, LabelSet, Tag};

/// Every label, so whole distributions are compared.
const TOP_K: usize = 10;
const SIDE: usize = 64;
/// 12.5 fps: `F25:2`.
const FPS: (u32, u32) = (25, 2);
/// 4.16 s: model frames 0..=20, so clips of 8, 8 and 5 (padded to 8).
const FRAMES: usize = 52;
const RATE: u32 = 16_000;
/// The bundle's audio window (1.6 s at 16 kHz).
const WINDOW: usize = 25_600;

fn bundle_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .join("models/avdigits-fac-s3d")
}

/// A bright square and bar moving over a dark, slowly brightening canvas: RGB frames.
fn footage() -> Vec<Vec<u8>> {
    let mut frames = Vec::with_capacity(FRAMES);
    for i in 0..FRAMES {
        let mut rgb = vec![0u8; SIDE * SIDE * 3];
        for y in 0..SIDE {
            for x in 0..SIDE {
                let in_square = (x + 64 - i) % 64 < 14 && (y + i / 2) % 64 < 14;
                let in_bar = (y + 3 * i) % 64 < 4;
                let v = if in_square || in_bar {
                    230
                } else {
                    (10 + 2 * i) as u8
                };
                rgb[(y * SIDE + x) * 3..][..3].copy_from_slice(&[v, v / 2 + 40, 255 - v]);
            }
        }
        frames.push(rgb);
    }
    frames
}

/// [`footage`] as a Y4M file (4:2:0: read back as I420).
fn write_footage(path: &Path) {
    let file = std::io::BufWriter::new(std::fs::File::create(path).expect("y4m"));
    let mut w = Y4mWriter::new(file, SIDE, SIDE, FPS.0, FPS.1).expect("header");
    for rgb in footage() {
        w.write_frame(&rgb).expect("frame");
    }
    w.finish().expect("finish");
}

/// [`footage`] as a camera's raw YUYV dump (chroma of each pixel pair's first pixel).
fn write_yuyv(path: &Path) {
    let mut out = Vec::with_capacity(FRAMES * SIDE * SIDE * 2);
    for rgb in footage() {
        for pair in rgb.chunks_exact(6) {
            let a = rgb_to_yuv([pair[0], pair[1], pair[2]]);
            let b = rgb_to_yuv([pair[3], pair[4], pair[5]]);
            out.extend_from_slice(&[a[0], a[1], b[0], a[2]]);
        }
    }
    std::fs::write(path, out).expect("yuyv");
}

/// A tone, a silent window, noise, and 0.7 window of a higher tone.
fn write_audio(path: &Path) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("wav");
    let tone = |i: usize, hz: f32| (i as f32 * hz * std::f32::consts::TAU / RATE as f32).sin();
    let mut noise = 12345u32;
    let n = 3 * WINDOW + WINDOW * 7 / 10;
    for i in 0..n {
        let v = match i / WINDOW {
            0 => 0.5 * tone(i, 440.0),
            1 => 0.0,
            2 => {
                noise = noise.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (noise >> 8) as f32 / (1 << 24) as f32 - 0.5
            }
            _ => 0.4 * tone(i, 880.0),
        };
        w.write_sample((v * 32767.0) as i16).expect("sample");
    }
    w.finalize().expect("finalize");
}

/// One clip or window as tagged: modality ("clip" or "audio"), time range, tags.
#[derive(Debug)]
struct Tagged {
    modality: String,
    start_s: f64,
    end_s: f64,
    tags: Vec<(String, f32)>,
}

/// One index row: modality, time range, embeddings, thumbnail.
#[derive(Debug)]
struct Row {
    modality: String,
    start_s: f64,
    end_s: f64,
    va: Option<Vec<f32>>,
    vat: Option<Vec<f32>>,
    thumbnail: Option<Vec<u8>>,
}

fn pairs(tags: &[Tag]) -> Vec<(String, f32)> {
    tags.iter().map(|t| (t.label.clone(), t.score)).collect()
}

/// `mmv tag --labels LABELS --top-k 10 FILE...` as the command runs it.
fn mmv_tag(pipeline: &Pipeline, labels: &LabelSet, files: &[&Path]) -> Vec<Tagged> {
    let tagger = pipeline.tagger(labels).expect("labels");
    let mut out = Vec::new();
    for path in files {
        let mut clips = pipeline
            .open(path, &OpenOptions::default(), None)
            .expect("open");
        while let Some(clip) = clips.next(0, false).expect("clip") {
            let t = pipeline.tag(&tagger, &clip, TOP_K, 0.0).expect("tags");
            for (modality, tags) in [("clip", &t.video), ("audio", &t.audio)] {
                if let Some(tags) = tags {
                    out.push(Tagged {
                        modality: modality.into(),
                        start_s: clip.start_s,
                        end_s: clip.end_s,
                        tags: pairs(tags),
                    });
                }
            }
        }
    }
    out
}

/// The daemon's tag lines: of its single-frame (image) path when `images`, else of clips and
/// audio windows.
fn tag_lines(path: &Path, images: bool) -> Vec<Tagged> {
    let text = std::fs::read_to_string(path).expect("tag lines");
    text.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json"))
        // Event records share the stream (they have an "event" key).
        .filter(|v| v.get("event").is_none() && (v["modality"] == "image") == images)
        .map(|v| Tagged {
            modality: v["modality"].as_str().expect("modality").into(),
            start_s: v["start_s"].as_f64().expect("start"),
            end_s: v["end_s"].as_f64().expect("end"),
            tags: v["tags"]
                .as_array()
                .expect("tags")
                .iter()
                .map(|t| {
                    let label = t["label"].as_str().expect("label").to_string();
                    (label, t["score"].as_f64().expect("score") as f32)
                })
                .collect(),
        })
        .collect()
}

/// Every segment of an index file, by modality and time.
fn index_rows(path: &Path) -> Vec<Row> {
    let conn = rusqlite::Connection::open(path).expect("index");
    let blob = |b: Option<Vec<u8>>| {
        b.map(|b| {
            b.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        })
    };
    let mut stmt = conn
        .prepare(
            "SELECT modality, start_s, end_s, va, vat, thumbnail FROM segments \
             ORDER BY modality, start_s",
        )
        .expect("query");
    stmt.query_map([], |r| {
        Ok(Row {
            modality: r.get(0)?,
            start_s: r.get(1)?,
            end_s: r.get(2)?,
            va: blob(r.get(3)?),
            vat: blob(r.get(4)?),
            thumbnail: r.get(5)?,
        })
    })
    .expect("rows")
    .collect::<Result<_, _>>()
    .expect("rows")
}

fn close(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-5)
}

/// An embedding as a row or the pipeline has it (None: the modality has none).
type Vector = Option<Vec<f32>>;

/// Each (daemon, runtime) pair of embeddings: both absent, or both present and within 1e-5.
fn same_embeddings(at: &str, pairs: [(&Vector, &Vector); 2]) {
    for pair in pairs {
        match pair {
            (Some(a), Some(b)) => assert!(close(a, b), "{at}: embeddings differ"),
            (None, None) => {}
            _ => panic!("{at}: an embedding on one side only"),
        }
    }
}

#[test]
fn daemon_and_mmv_tag_agree_on_the_same_files() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let (y4m, wav) = (dir.join("cam.y4m"), dir.join("mic.wav"));
    write_footage(&y4m);
    write_audio(&wav);
    let labels_path = dir.join("labels.txt");
    std::fs::write(&labels_path, AVDIGITS_LABELS).expect("labels");
    let labels = LabelSet::load(&labels_path).expect("labels");

    // `mmv tag` and `mmv index`, through the runtime.
    let options = BundleOptions {
        precision: Some(Precision::Fp32),
        threads: 1,
        encoders: None,
    };
    let pipeline = Pipeline::new(Bundle::open(&bundle_dir(), &options).expect("bundle"));
    let want = mmv_tag(&pipeline, &labels, &[&y4m, &wav]);
    let cli_index = dir.join("mmv-index.sqlite");
    let mut index = Index::open(&cli_index).expect("index");
    for f in [&y4m, &wav] {
        index_file(
            &pipeline,
            &mut index,
            f,
            &IndexOptions::default(),
            &mut |_| {},
        )
        .expect("index_file");
    }
    drop(index);

    // The daemon, from its configuration file.
    let config = format!(
        r#"
bundle = {{ dir = "{}", precision = "fp32", threads = 1 }}
camera = {{ source = "y4m", path = "cam.y4m" }}
microphone = {{ source = "wav", path = "mic.wav" }}
labels = {{ file = "labels.txt" }}
tagging = {{ top_k = {TOP_K}, min_probability = 0.0, image_every = 0 }}
index = {{ path = "daemon.sqlite" }}
outputs = {{ tags = "tags.jsonl", framebuffer = "off" }}
"#,
        bundle_dir().display()
    );
    let config_path = dir.join("mmv-host.toml");
    std::fs::write(&config_path, config).expect("config");
    let config = mmv_host::config::Config::load(&config_path).expect("config");
    let stats = mmv_host::daemon::run(&config, Arc::new(AtomicBool::new(false))).expect("daemon");
    assert_eq!(stats.silent_windows, 1, "{stats:?}");
    let mut got = tag_lines(&dir.join("tags.jsonl"), false);

    // The inputs exercise the sampling, tail and silence rules.
    let spans = |rows: &[Tagged], m: &str| -> Vec<(f64, f64)> {
        rows.iter()
            .filter(|r| r.modality == m)
            .map(|r| (r.start_s, r.end_s))
            .collect()
    };
    assert_eq!(spans(&want, "clip"), [(0.0, 1.6), (1.6, 3.2), (3.2, 4.2)]);
    assert_eq!(spans(&want, "audio"), [(0.0, 1.6), (3.2, 4.8), (4.8, 5.92)]);

    // Tags: the daemon interleaves its two streams; compare in (modality, time) order.
    got.sort_by(|a, b| {
        (&a.modality, a.start_s)
            .partial_cmp(&(&b.modality, b.start_s))
            .expect("times")
    });
    let mut want = want;
    want.sort_by(|a, b| {
        (&a.modality, a.start_s)
            .partial_cmp(&(&b.modality, b.start_s))
            .expect("times")
    });
    assert_eq!(got.len(), want.len(), "daemon {got:?}\nmmv tag {want:?}");
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g.modality, w.modality);
        assert!(
            (g.start_s - w.start_s).abs() < 1e-9 && (g.end_s - w.end_s).abs() < 1e-9,
            "daemon {g:?}\nmmv tag {w:?}"
        );
        let labels = |t: &[(String, f32)]| t.iter().map(|(l, _)| l.clone()).collect::<Vec<_>>();
        assert_eq!(
            labels(&g.tags),
            labels(&w.tags),
            "{} at {}",
            g.modality,
            g.start_s
        );
        for ((_, a), (_, b)) in g.tags.iter().zip(&w.tags) {
            assert!(
                (a - b).abs() <= 1e-5,
                "{} at {}: {a} vs {b}",
                g.modality,
                g.start_s
            );
        }
    }

    // Index rows: the same segments, embeddings and video thumbnails in both files.
    let daemon_rows = index_rows(&dir.join("daemon.sqlite"));
    let cli_rows = index_rows(&cli_index);
    assert_eq!(
        daemon_rows.len(),
        cli_rows.len(),
        "{daemon_rows:?}\n{cli_rows:?}"
    );
    assert_eq!(cli_rows.len(), 6);
    for (d, c) in daemon_rows.iter().zip(&cli_rows) {
        let at = format!("{} {}-{}", c.modality, c.start_s, c.end_s);
        assert_eq!(d.modality, c.modality, "{at}");
        assert!(
            (d.start_s - c.start_s).abs() < 1e-9 && (d.end_s - c.end_s).abs() < 1e-9,
            "{at}: daemon {}-{}",
            d.start_s,
            d.end_s
        );
        same_embeddings(&at, [(&d.va, &c.va), (&d.vat, &c.vat)]);
        if c.modality == "video" {
            assert!(c.thumbnail.is_some(), "{at}");
            assert_eq!(d.thumbnail, c.thumbnail, "{at}: thumbnails differ");
        }
    }
}

#[test]
fn daemon_and_the_runtime_agree_on_a_raw_yuyv_camera() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let raw = dir.join("cam.yuyv");
    write_yuyv(&raw);
    let labels_path = dir.join("labels.txt");
    std::fs::write(&labels_path, AVDIGITS_LABELS).expect("labels");
    let labels = LabelSet::load(&labels_path).expect("labels");
    let fps = f64::from(FPS.0) / f64::from(FPS.1);

    // The runtime's side: its raw reader, clip sampler and pipeline.
    let options = BundleOptions {
        precision: Some(Precision::Fp32),
        threads: 1,
        encoders: None,
    };
    let pipeline = Pipeline::new(Bundle::open(&bundle_dir(), &options).expect("bundle"));
    let tagger = pipeline.tagger(&labels).expect("labels");
    let video = RawVideo {
        format: PixelFormat::Yuyv,
        width: SIDE,
        height: SIDE,
        fps,
    };
    let reader = RawReader::open(&raw, video).expect("raw");
    let mut clips = Clips::new(
        pipeline.geometry(None).expect("geometry"),
        Some(Box::new(reader)),
        None,
    );
    let mut want = Vec::new();
    while let Some(clip) = clips.next_clip().expect("clip") {
        assert!(
            clip.frames
                .iter()
                .all(|f| matches!(&**f, Picture::Camera(c) if c.format() == PixelFormat::Yuyv)),
            "frames stay YUYV"
        );
        let e = pipeline.embed_clip(&clip, true).expect("embed");
        let t = pipeline.tag(&tagger, &e, TOP_K, 0.0).expect("tags");
        want.push((
            Tagged {
                modality: "clip".into(),
                start_s: e.start_s,
                end_s: e.end_s,
                tags: pairs(t.video.as_ref().expect("video tags")),
            },
            e,
        ));
    }
    let spans: Vec<(f64, f64)> = want.iter().map(|(t, _)| (t.start_s, t.end_s)).collect();
    assert_eq!(spans, [(0.0, 1.6), (1.6, 3.2), (3.2, 4.2)]);

    // The daemon, from its configuration file.
    let config = format!(
        r#"
bundle = {{ dir = "{}", precision = "fp32", threads = 1 }}
camera = {{ source = "yuyv", path = "cam.yuyv", width = {SIDE}, height = {SIDE}, fps = {fps} }}
labels = {{ file = "labels.txt" }}
tagging = {{ top_k = {TOP_K}, min_probability = 0.0, image_every = 0 }}
index = {{ path = "daemon.sqlite" }}
outputs = {{ tags = "tags.jsonl", framebuffer = "off" }}
"#,
        bundle_dir().display()
    );
    let config_path = dir.join("mmv-host.toml");
    std::fs::write(&config_path, config).expect("config");
    let config = mmv_host::config::Config::load(&config_path).expect("config");
    let stats = mmv_host::daemon::run(&config, Arc::new(AtomicBool::new(false))).expect("daemon");
    assert_eq!(stats.clips, 3, "{stats:?}");
    let got = tag_lines(&dir.join("tags.jsonl"), false);
    let rows = index_rows(&dir.join("daemon.sqlite"));
    assert_eq!(got.len(), want.len(), "daemon {got:?}");
    assert_eq!(rows.len(), want.len(), "{rows:?}");
    for ((g, row), (w, e)) in got.iter().zip(&rows).zip(&want) {
        let at = format!("clip {}-{}", w.start_s, w.end_s);
        assert_eq!(g.modality, "clip", "{at}");
        assert!(
            (g.start_s - w.start_s).abs() < 1e-9 && (g.end_s - w.end_s).abs() < 1e-9,
            "{at}: daemon {g:?}"
        );
        let names = |t: &[(String, f32)]| t.iter().map(|(l, _)| l.clone()).collect::<Vec<_>>();
        assert_eq!(names(&g.tags), names(&w.tags), "{at}");
        for ((_, a), (_, b)) in g.tags.iter().zip(&w.tags) {
            assert!((a - b).abs() <= 1e-5, "{at}: {a} vs {b}");
        }
        let video = e.video.as_ref().expect("video embedding");
        same_embeddings(&at, [(&row.va, &video.va), (&row.vat, &video.vat)]);
        assert!(e.thumbnail.is_some(), "{at}");
        assert_eq!(row.thumbnail, e.thumbnail, "{at}: thumbnails differ");
    }
}

/// A bundle that frames stills (`video.still_framing`): the daemon's single-frame path frames
/// a camera frame exactly as `mmv tag` frames the same picture as a still, and the framing is
/// really applied on both sides (the unframed bundle answers otherwise).
#[test]
fn daemon_and_mmv_tag_frame_a_still_alike() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    // The released bundle, with still framing switched on in a copy of its manifest.
    let framed = dir.join("bundle");
    std::fs::create_dir(&framed).expect("bundle dir");
    for entry in std::fs::read_dir(bundle_dir()).expect("bundle") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), framed.join(entry.file_name())).expect("copy");
    }
    let manifest_path = framed.join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest_path).expect("manifest"))
            .expect("json");
    manifest["video"]["still_framing"] =
        serde_json::to_value(mmv_runtime::frames::StillFraming::default()).expect("framing");
    std::fs::write(&manifest_path, manifest.to_string()).expect("manifest");

    // Dark ink on light paper, small, off centre: what framing changes most.
    let (w, h) = (96usize, 72usize);
    let mut rgb = vec![230u8; w * h * 3];
    for y in 8..30 {
        for x in 60..74 {
            if x < 63 || y < 11 || (x + y) % 7 == 0 {
                rgb[(y * w + x) * 3..(y * w + x) * 3 + 3].fill(25);
            }
        }
    }
    let jpeg = mmv_runtime::frames::encode_jpeg(&rgb, w, h, 95).expect("jpeg");
    let still = dir.join("still.jpg");
    std::fs::write(&still, &jpeg).expect("still");
    // The camera: the same JPEG as a raw MJPEG stream of three frames.
    std::fs::write(dir.join("cam.mjpeg"), [&jpeg[..], &jpeg, &jpeg].concat()).expect("cam");
    std::fs::write(dir.join("labels.txt"), AVDIGITS_LABELS).expect("labels");
    let labels = LabelSet::load(&dir.join("labels.txt")).expect("labels");

    let options = BundleOptions {
        precision: Some(Precision::Fp32),
        threads: 1,
        encoders: None,
    };
    let image_tags = |bundle: &Path| -> Vec<(String, f32)> {
        let pipeline = Pipeline::new(Bundle::open(bundle, &options).expect("bundle"));
        let tagger = pipeline.tagger(&labels).expect("labels");
        let mut clips = pipeline
            .open(&still, &OpenOptions::default(), None)
            .expect("open");
        let clip = clips.next(0, false).expect("clip").expect("one still");
        let t = pipeline.tag(&tagger, &clip, TOP_K, 0.0).expect("tags");
        pairs(t.image.as_ref().expect("image tags"))
    };
    let want = image_tags(&framed);
    let unframed = image_tags(&bundle_dir());
    assert!(
        want.iter()
            .zip(&unframed)
            .any(|((la, a), (lb, b))| la != lb || (a - b).abs() > 1e-3),
        "framing changed nothing: {want:?}"
    );

    let config = format!(
        r#"
bundle = {{ dir = "{}", precision = "fp32", threads = 1 }}
camera = {{ source = "mjpeg", path = "cam.mjpeg", fps = 1.0 }}
labels = {{ file = "labels.txt" }}
tagging = {{ top_k = {TOP_K}, min_probability = 0.0, image_every = 1 }}
outputs = {{ tags = "tags.jsonl", framebuffer = "off" }}
"#,
        framed.display()
    );
    let config_path = dir.join("mmv-host.toml");
    std::fs::write(&config_path, config).expect("config");
    let config = mmv_host::config::Config::load(&config_path).expect("config");
    mmv_host::daemon::run(&config, Arc::new(AtomicBool::new(false))).expect("daemon");
    let images = tag_lines(&dir.join("tags.jsonl"), true);
    assert_eq!(images.len(), 3, "{images:?}");
    for Tagged { tags: got, .. } in &images {
        assert_eq!(got.len(), want.len());
        for ((lg, g), (lw, w)) in got.iter().zip(&want) {
            assert_eq!(lg, lw, "daemon {got:?}\nmmv tag {want:?}");
            assert!((g - w).abs() <= 1e-5, "daemon {got:?}\nmmv tag {want:?}");
        }
    }
}
