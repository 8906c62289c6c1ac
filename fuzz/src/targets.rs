//! One function per parser of untrusted input. Each feeds arbitrary bytes through the same code
//! the `mmv` tools and the daemon run, and checks the contract of issue 14 beyond "no panic":
//! every error names its source (the origin passed in). libFuzzer calls these from
//! `fuzz_targets/*.rs`; `tests/fuzz_replay.rs` calls them on every committed seed and
//! regression input on the stable toolchain (where the `config` target is always compiled;
//! under cargo-fuzz it needs the fuzz crate's `host` feature, on by default).
#![allow(unexpected_cfgs)]

use std::io::Cursor;
use std::path::Path;

use mmv_runtime::audio::read_wav_from;
use mmv_runtime::bundle::manifest::{EncoderKind, Manifest, Precision};
use mmv_runtime::bundle::session::EncoderSession;
use mmv_runtime::frames::{PixelFormat, decode_image};
use mmv_runtime::index::Index;
use mmv_runtime::ingest::mjpeg::MjpegReader;
use mmv_runtime::ingest::raw::{RawReader, RawVideo};
use mmv_runtime::ingest::y4m::Y4mReader;
use mmv_runtime::ingest::{FrameSource, NextFrame};
use mmv_runtime::tag::LabelSet;
use mmv_runtime::text::{Tokenizer, Vocab};

/// The name every target gives its input, which errors must repeat.
pub const ORIGIN: &str = "fuzz-input";

/// One fuzz target: its name (as in `fuzz/Cargo.toml`) and its function.
pub type Target = (&'static str, fn(&[u8]));

/// The names of the targets, as in `fuzz/Cargo.toml`, with their functions.
pub const TARGETS: &[Target] = &[
    ("wav", wav),
    ("y4m", y4m),
    ("mjpeg", mjpeg),
    ("raw", raw),
    ("image", image),
    ("labels", labels),
    ("text", text),
    ("vocab", vocab),
    ("manifest", manifest),
    #[cfg(any(feature = "host", not(fuzzing)))]
    ("config", config),
    ("onnx", onnx),
    ("index", index),
];

/// Most frames read from one input (a valid stream of tiny frames would otherwise run long).
const MAX_FRAMES: usize = 16;

fn names_origin(e: &dyn std::fmt::Display) {
    let text = e.to_string();
    assert!(text.contains(ORIGIN), "an error that names no file: {text}");
}

/// WAV through the audio front end (`mmv embed a.wav`, the daemon's `wav` microphone).
pub fn wav(data: &[u8]) {
    match read_wav_from(data, Path::new(ORIGIN)) {
        Ok(audio) => {
            assert!(!audio.samples.is_empty() && audio.sample_rate > 0);
            assert!(audio.samples.iter().all(|s| s.is_finite()));
        }
        Err(e) => names_origin(&e),
    }
}

fn frames(source: &mut dyn FrameSource) {
    for _ in 0..MAX_FRAMES {
        match source.next_frame(true) {
            Ok(NextFrame::End) => return,
            Ok(NextFrame::Skipped) => {}
            Ok(NextFrame::Frame(f)) => {
                // Camera formats arrive unconverted; their RGB must still be whole.
                let rgb = f.to_rgb().expect("a checked frame converts");
                assert_eq!(rgb.data.len(), f.width() * f.height() * 3);
            }
            Err(e) => return names_origin(&e),
        }
    }
}

/// Y4M streams (files, and what ffmpeg pipes to us).
pub fn y4m(data: &[u8]) {
    match Y4mReader::new(Cursor::new(data), Path::new(ORIGIN)) {
        Ok(mut r) => frames(&mut r),
        Err(e) => names_origin(&e),
    }
}

/// Raw MJPEG streams, each frame through the JPEG decoder.
pub fn mjpeg(data: &[u8]) {
    match MjpegReader::new(Cursor::new(data), Path::new(ORIGIN), 25.0) {
        Ok(mut r) => frames(&mut r),
        Err(e) => names_origin(&e),
    }
}

/// Headerless camera frames (the daemon's `yuyv` FIFOs): the first 4 bytes pick the pixel
/// format and the frame size, the rest is the stream.
pub fn raw(data: &[u8]) {
    let [f, w, h, r, rest @ ..] = data else {
        return;
    };
    let formats = PixelFormat::ALL;
    let video = RawVideo {
        format: formats[usize::from(*f) % formats.len()],
        width: usize::from(*w) % 64,
        height: usize::from(*h) % 64,
        fps: f64::from(*r) - 1.0,
    };
    match RawReader::new(Cursor::new(rest), Path::new(ORIGIN), video) {
        Ok(mut reader) => frames(&mut reader),
        Err(e) => names_origin(&e),
    }
}

/// JPEG and PNG stills (`mmv embed a.jpg`, `mmv search --image`). The decoder has no origin
/// to name (its callers wrap its errors with the file); it must only not panic or overrun.
pub fn image(data: &[u8]) {
    if let Ok(f) = decode_image(data) {
        assert_eq!(f.data.len(), f.width * f.height * 3);
    }
}

/// Label files (`mmv tag --labels`, the daemon's `[labels] file`).
pub fn labels(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match LabelSet::parse(text, ORIGIN) {
        Ok(set) => assert!(!set.labels.is_empty()),
        Err(e) => names_origin(&e),
    }
}

/// Text queries and prompts through the tokenizer: always exactly `max_words` ids.
pub fn text(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let vocab = Vocab::from_words(["one", "two", "seven", "i\u{307}", "don't"]);
    let tokenizer = Tokenizer::default();
    let ids = tokenizer.encode(&text, &vocab);
    assert_eq!(ids.len(), tokenizer.max_words);
    assert!(ids.iter().all(|&id| (id as usize) < vocab.len()));
    for w in tokenizer.words(&text) {
        assert!(!w.is_empty());
    }
}

/// Vocabulary files (a bundle's `vocab.txt`).
pub fn vocab(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Vocab::parse_text(text, ORIGIN) {
        Ok(v) => assert!(v.len() >= 2),
        Err(e) => names_origin(&e),
    }
}

/// Bundle manifests (`manifest.json`).
pub fn manifest(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Manifest::from_json(text, ORIGIN) {
        // Whatever passes validation has tensors small enough to allocate.
        Ok(m) => {
            for e in &m.encoders {
                for t in e.inputs.iter().chain(&e.outputs) {
                    let n: usize = t.shape.iter().product();
                    assert!(n <= mmv_runtime::limits::MAX_TENSOR_ELEMENTS);
                }
            }
        }
        Err(e) => names_origin(&e),
    }
}

/// The daemon's configuration (TOML), parsed and checked (no file is opened).
#[cfg(any(feature = "host", not(fuzzing)))]
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match mmv_host::config::Config::parse(text, ORIGIN) {
        Ok(c) => {
            let _ = c.problems();
        }
        Err(e) => names_origin(&e),
    }
}

/// The real bundle's manifest, for the ONNX target's tensor specs.
const REAL_MANIFEST: &str = include_str!("../../models/avdigits-fac-s3d/manifest.json");

/// ONNX networks, loaded as a bundle's image encoder (parse, type-check, optimise).
pub fn onnx(data: &[u8]) {
    let manifest = Manifest::from_json(REAL_MANIFEST, "the real manifest").expect("it parses");
    let spec = manifest
        .encoder(EncoderKind::Image, Precision::Fp32)
        .expect("the real bundle has an fp32 image encoder");
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(dir.path().join(&spec.file), data).expect("the input is written");
    if let Err(e) = EncoderSession::load(dir.path(), spec, 1) {
        let text = e.to_string();
        assert!(
            text.contains(&spec.file),
            "an error that names no file: {text}"
        );
    }
}

/// SQLite index files (`mmv search`, `mmv info`, `mmv index` on an existing file): opened
/// as an existing index, then read.
pub fn index(data: &[u8]) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join(format!("{ORIGIN}.db"));
    std::fs::write(&path, data).expect("the input is written");
    match Index::open_existing(&path) {
        Ok(index) => {
            let _ = index.schema_version();
            let _ = index.models();
            let _ = index.files();
            let _ = index.stats();
        }
        Err(e) => names_origin(&e),
    }
}
