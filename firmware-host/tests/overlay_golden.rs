//! The overlay against a committed golden image. Regenerate it (after a deliberate change, and
//! look at the result) with `MMV_UPDATE_GOLDEN=1 cargo test -p mmv-host --test overlay_golden`.

use std::path::PathBuf;

use mmv_host::model::Modality;
use mmv_host::overlay::png::{PngSnapshots, decode, encode};
use mmv_host::overlay::{Display, OverlayState, RgbCanvas, TagLine, draw};

fn scene() -> RgbCanvas {
    // A deterministic "camera frame": diagonal colour gradient with a bright square.
    let (w, h) = (320u32, 240u32);
    let mut data = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            let inside = (200..260).contains(&x) && (90..150).contains(&y);
            if inside {
                data.extend_from_slice(&[250, 250, 230]);
            } else {
                data.extend_from_slice(&[(x * 255 / w) as u8, (y * 255 / h) as u8, 96]);
            }
        }
    }
    RgbCanvas::from_rgb(w, h, data).expect("canvas")
}

fn state() -> OverlayState {
    OverlayState {
        tags: vec![
            TagLine {
                modality: Modality::Clip,
                label: "seven".into(),
                score: 0.83,
            },
            TagLine {
                modality: Modality::Audio,
                label: "seven".into(),
                score: 0.61,
            },
            TagLine {
                modality: Modality::Image,
                label: "one".into(),
                score: 0.12,
            },
        ],
        fps: 14.8,
        drops: 3,
        latency_ms: 42.0,
        camera_up: Some(true),
        mic_up: Some(false),
    }
}

fn golden_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/overlay-320x240.png")
}

#[test]
fn overlay_matches_the_golden_image() {
    let mut canvas = scene();
    draw(&mut canvas, &state());
    let path = golden_path();
    if std::env::var_os("MMV_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, encode(&canvas).expect("encode")).expect("write golden");
    }
    let golden = decode(&std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (create it with MMV_UPDATE_GOLDEN=1)",
            path.display()
        )
    }))
    .expect("decode golden");
    assert_eq!((canvas.width, canvas.height), (golden.width, golden.height));
    let differing = canvas
        .data
        .chunks_exact(3)
        .zip(golden.data.chunks_exact(3))
        .filter(|(a, b)| a != b)
        .count();
    if differing > 0 {
        let out = std::env::temp_dir().join("overlay-320x240.actual.png");
        let _ = std::fs::write(&out, encode(&canvas).expect("encode"));
        panic!(
            "{differing} pixels differ from {}; actual written to {}",
            path.display(),
            out.display()
        );
    }
    // The overlay really drew something: the panel and text changed the scene.
    let plain = scene();
    let changed = canvas
        .data
        .chunks_exact(3)
        .zip(plain.data.chunks_exact(3))
        .filter(|(a, b)| a != b)
        .count();
    assert!(changed > 5_000, "only {changed} pixels changed");
}

#[test]
fn png_snapshots_write_every_nth_frame_atomically() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut snaps = PngSnapshots::new(dir.path(), 3).expect("snapshots");
    let mut canvas = scene();
    draw(&mut canvas, &state());
    for _ in 0..7 {
        snaps.show(&canvas).expect("show");
    }
    assert_eq!(snaps.written(), 3, "frames 0, 3 and 6");
    let back = decode(&std::fs::read(snaps.latest()).expect("read")).expect("decode");
    assert_eq!(back, canvas);
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(
        names,
        vec!["overlay-latest.png"],
        "no temporary file left behind"
    );
}
