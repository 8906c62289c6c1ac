//! The daemon as deployed, from a TOML file: file-backed camera and microphone, the fake
//! embedder in place of a bundle, tags to a file, the runtime's SQLite index and PNG snapshots.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use mmv_host::config::Config;
use mmv_host::daemon::{Boxed, DynIndex, check_config, run_with};
use mmv_host::fake::FakeEmbedder;
use mmv_host::outputs::sqlite_index::SqliteIndex;
use mmv_runtime::index::{Index, ModelKey};

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
threshold = 0.5

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
    let lines: Vec<serde_json::Value> = tags
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(lines.len(), 40 + 5 + 3);
    for l in &lines {
        let want = if l["modality"] == "audio" {
            "one"
        } else {
            "two"
        };
        assert_eq!(l["tags"][0]["label"], want, "{l}");
    }
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
fn check_config_names_the_missing_bundle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("mmv-host.toml");
    std::fs::write(&path, CONFIG).expect("config");
    let e = check_config(&path).expect_err("no bundle");
    assert!(e.to_string().contains("no-bundle-here"), "{e}");
    std::fs::write(&path, "[bundle]\ndir = 3\n").expect("config");
    assert!(check_config(&path).is_err());
}
