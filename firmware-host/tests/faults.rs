//! Fault injection: a camera that fails mid-stream (and once more when reopened) and a
//! microphone whose FIFO writer goes away. The daemon must keep the other modality running,
//! reopen the failed one with backoff, and resume: checked on the pipeline's real outputs.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mmv_host::capture::file_audio::{RawFormat, RawPcmSource};
use mmv_host::capture::{
    CaptureError, FrameSource, IngestError, NextFrame, RgbFrame, audio_channel, frame_channel,
};
use mmv_host::config::AtEnd;
use mmv_host::fake::FakeEmbedder;
use mmv_host::model::{Embedder, Modality};
use mmv_host::outputs::index_sink::MemoryIndex;
use mmv_host::outputs::tags_jsonl::TagWriter;
use mmv_host::pipeline::{EventOutput, Health, Outputs, Pipeline, PipelineOptions};
use mmv_host::supervisor::{Policy, SourceHealth, run_camera, run_microphone};
use mmv_runtime::tag::LabelSet;

const LABELS: [&str; 4] = ["zero", "one", "two", "three"];

fn labels() -> Vec<String> {
    LABELS.map(String::from).to_vec()
}

/// Grey frames at 10 fps whose level encodes label `label` for the fake embedder; fails with an
/// I/O error after `fail_after` frames (`None`: ends cleanly after `len`).
struct FlakyCamera {
    label: usize,
    seq: u64,
    len: u64,
    fail_after: Option<u64>,
}

impl FrameSource for FlakyCamera {
    fn fps(&self) -> f64 {
        10.0
    }
    fn next_frame(&mut self, _decode: bool) -> Result<NextFrame, IngestError> {
        if self.fail_after == Some(self.seq) {
            return Err(IngestError::Io {
                path: "flaky".into(),
                source: std::io::Error::other("USB device disconnected"),
            });
        }
        if self.seq == self.len {
            return Ok(NextFrame::End);
        }
        // Slow enough that audio and video really interleave.
        std::thread::sleep(Duration::from_millis(5));
        let level = (((self.label as f32 + 0.5) / LABELS.len() as f32) * 255.0) as u8;
        self.seq += 1;
        Ok(NextFrame::Frame(
            RgbFrame {
                width: 16,
                height: 16,
                data: vec![level; 16 * 16 * 3],
            }
            .into(),
        ))
    }
}

/// A sine whose peak encodes label `label` for the fake embedder, as s16le.
fn tone(label: usize, seconds: f32) -> Vec<u8> {
    let amp = (label as f32 + 0.5) / LABELS.len() as f32;
    let n = (16_000.0 * seconds) as usize;
    (0..n)
        .flat_map(|i| {
            let v = amp * (i as f32 * 440.0 * std::f32::consts::TAU / 16_000.0).sin();
            ((v * 32767.0) as i16).to_le_bytes()
        })
        .collect()
}

/// A `Write` that the test can read back.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The tag lines (`events`: false) or the event records (true) written so far.
fn records(out: &Shared, events: bool) -> Vec<serde_json::Value> {
    let text = String::from_utf8(out.0.lock().expect("lock").clone()).expect("utf8");
    text.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json line"))
        .filter(|v| v.get("event").is_some() == events)
        .collect()
}

fn lines(out: &Shared) -> Vec<serde_json::Value> {
    records(out, false)
}

fn pipeline(tags: &Shared, health: Health) -> Pipeline<FakeEmbedder, MemoryIndex> {
    let mut fake = FakeEmbedder::new(&labels());
    let label_set = LabelSet::parse(&LABELS.join("\n"), "test").expect("labels");
    let tagger = fake.tagger(&label_set).expect("tagger");
    let outputs = Outputs {
        tags: Some(TagWriter::new(Box::new(tags.clone()))),
        events: EventOutput::WithTags,
        index: Some(MemoryIndex::default()),
        displays: Vec::new(),
    };
    Pipeline::new(fake, tagger, outputs, PipelineOptions::default(), health)
}

fn fast_policy(at_end: AtEnd) -> Policy {
    Policy::new(
        Duration::from_millis(30),
        Duration::from_millis(200),
        at_end,
        true,
    )
}

#[test]
fn camera_failing_mid_stream_is_reopened_while_audio_carries_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pcm = dir.path().join("mic.raw");
    std::fs::write(&pcm, tone(2, 5.0)).expect("pcm");

    let stop = Arc::new(AtomicBool::new(false));
    let cam_health = Arc::new(SourceHealth::default());
    let mic_health = Arc::new(SourceHealth::default());
    let attempts = Arc::new(AtomicU32::new(0));

    let (mut ftx, frx) = frame_channel();
    let cam = {
        let (stop, h, attempts) = (stop.clone(), cam_health.clone(), attempts.clone());
        std::thread::spawn(move || {
            let open = || match attempts.fetch_add(1, Ordering::SeqCst) {
                // First opening: 20 frames (two clips and a half), then the cable is pulled.
                0 => Ok(FlakyCamera {
                    label: 1,
                    seq: 0,
                    len: 100,
                    fail_after: Some(20),
                }),
                // The device is not back yet.
                1 => Err(CaptureError::device("flaky", "no such device")),
                // Back: 20 frames, then a clean end.
                _ => Ok(FlakyCamera {
                    label: 3,
                    seq: 0,
                    len: 20,
                    fail_after: None,
                }),
            };
            run_camera(
                "camera",
                open,
                &mut ftx,
                &fast_policy(AtEnd::Stop),
                &stop,
                &h,
            );
        })
    };
    let (atx, arx) = audio_channel();
    let mic = {
        let (stop, h) = (stop.clone(), mic_health.clone());
        std::thread::spawn(move || {
            let open = || RawPcmSource::new(&pcm, 16_000, 1, RawFormat::S16, false);
            run_microphone(
                "microphone",
                open,
                &atx,
                &fast_policy(AtEnd::Stop),
                &stop,
                &h,
            );
        })
    };

    let tags = Shared::default();
    let mut p = pipeline(
        &tags,
        Health {
            camera: Some(cam_health.clone()),
            mic: Some(mic_health.clone()),
        },
    );
    p.run(Some(&frx), Some(&arx), &stop);
    cam.join().expect("camera thread");
    mic.join().expect("mic thread");

    assert_eq!(attempts.load(Ordering::SeqCst), 3);
    assert_eq!(cam_health.opens(), 2);
    assert_eq!(cam_health.failures(), 2, "one failed run, one failed open");
    assert!(
        cam_health
            .last_error()
            .is_some_and(|e| e.contains("no such device"))
    );
    let s = p.stats().clone();
    assert_eq!(s.frames, 40, "every frame of both openings");
    assert_eq!(
        s.clips, 5,
        "two clips per opening, the partial clip not joined across the gap; the second \
         opening ends cleanly, so its tail (4 of 8 frames) is a clip, as in `mmv tag`"
    );
    assert!(s.clip_resets >= 1);
    assert_eq!(
        s.audio_windows, 5,
        "all audio, while the camera was down too"
    );
    assert_eq!(s.index_rows, 5 + 5);

    let out = lines(&tags);
    let clip_labels: Vec<&str> = out
        .iter()
        .filter(|l| l["modality"] == "clip")
        .map(|l| l["tags"][0]["label"].as_str().expect("label"))
        .collect();
    assert_eq!(
        clip_labels,
        vec!["one", "one", "three", "three", "three"],
        "clips resume after the fault"
    );
    assert!(
        out.iter()
            .filter(|l| l["modality"] == "audio")
            .all(|l| l["tags"][0]["label"] == "two")
    );
    // Clip events (2 of 3 clips): "one" ends with the failed opening (the source is down, or
    // its next opening restarts the stream), "three" at the clean end of the second opening.
    let clip_events: Vec<(String, String, String)> = records(&tags, true)
        .iter()
        .filter(|e| e["modality"] == "clip")
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or("").to_string();
            (s("event"), s("label"), s("reason"))
        })
        .collect();
    let reason = clip_events.get(1).map(|e| e.2.clone()).unwrap_or_default();
    assert!(
        reason == "source_lost" || reason == "restart",
        "{clip_events:?}"
    );
    let ev = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
    assert_eq!(
        clip_events,
        vec![
            ev("start", "one", ""),
            ev("end", "one", &reason),
            ev("start", "three", ""),
            ev("end", "three", "stream_end"),
        ]
    );
    let index = p.outputs().index.as_ref().expect("index");
    assert!(
        index
            .rows
            .iter()
            .filter(|r| r.modality == Modality::Clip)
            .all(|r| r.thumbnail_bytes > 0),
        "every clip row has a thumbnail"
    );
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).expect("path");
    // SAFETY: `c` is a valid NUL-terminated path that outlives the call.
    let rv = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
    assert_eq!(rv, 0, "mkfifo: {}", std::io::Error::last_os_error());
}

#[test]
fn microphone_fifo_closed_is_reopened_while_the_camera_carries_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("mic.fifo");
    mkfifo(&fifo);

    let stop = Arc::new(AtomicBool::new(false));
    let cam_health = Arc::new(SourceHealth::default());
    let mic_health = Arc::new(SourceHealth::default());

    // Two writer sessions of 2 s of audio each; the FIFO is closed in between, like a
    // microphone that disappears and comes back.
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            for label in [0usize, 3] {
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&fifo)
                    .expect("open FIFO for writing");
                f.write_all(&tone(label, 2.0)).expect("write");
                drop(f);
                std::thread::sleep(Duration::from_millis(300));
            }
        })
    };

    let (mut ftx, frx) = frame_channel();
    let cam = {
        let (stop, h) = (stop.clone(), cam_health.clone());
        std::thread::spawn(move || {
            let open = || {
                Ok(FlakyCamera {
                    label: 2,
                    seq: 0,
                    len: 160,
                    fail_after: None,
                })
            };
            run_camera(
                "camera",
                open,
                &mut ftx,
                &fast_policy(AtEnd::Stop),
                &stop,
                &h,
            );
        })
    };
    let (atx, arx) = audio_channel();
    let mic = {
        let (stop, h, fifo) = (stop.clone(), mic_health.clone(), fifo.clone());
        std::thread::spawn(move || {
            let open = || RawPcmSource::new(&fifo, 16_000, 1, RawFormat::S16, false);
            run_microphone(
                "microphone",
                open,
                &atx,
                &fast_policy(AtEnd::Retry),
                &stop,
                &h,
            );
        })
    };
    // The microphone retries forever; stop once the writer is done and everything has drained.
    let stopper = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            writer.join().expect("writer");
            std::thread::sleep(Duration::from_millis(1500));
            stop.store(true, Ordering::Relaxed);
        })
    };

    let tags = Shared::default();
    let mut p = pipeline(
        &tags,
        Health {
            camera: Some(cam_health.clone()),
            mic: Some(mic_health.clone()),
        },
    );
    p.run(Some(&frx), Some(&arx), &stop);
    stopper.join().expect("stopper");
    cam.join().expect("camera thread");
    // The microphone thread may be blocked opening the FIFO (no writer any more): unblock it.
    // Non-blocking: if it is not blocked there, there is no reader and this fails harmlessly.
    let _ = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo);
    mic.join().expect("mic thread");

    let s = p.stats().clone();
    assert_eq!(
        s.frames, 160,
        "the camera ran through the microphone's outage"
    );
    assert_eq!(s.clips, 20);
    assert_eq!(s.audio_windows, 4, "2 s before and 2 s after the outage");
    assert!(mic_health.opens() >= 2, "reopened after the FIFO closed");
    let audio: Vec<String> = lines(&tags)
        .iter()
        .filter(|l| l["modality"] == "audio")
        .map(|l| l["tags"][0]["label"].as_str().expect("label").to_string())
        .collect();
    assert_eq!(audio, vec!["zero", "zero", "three", "three"]);
}
