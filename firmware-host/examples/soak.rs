//! Sustained-load replay: N minutes of clip time (default 10) through the whole pipeline at
//! maximum speed, printing resident memory at 1 minute and at the end, and checking that the
//! index lost no row.
//!
//! `cargo run -p mmv-host --release --example soak -- [MINUTES] [WORK_MS]`
//!
//! The camera is a 30 s Y4M file (160x120, 10 fps) replayed in a loop with continuous
//! timestamps; the microphone a 30 s WAV at 16 kHz, looped likewise. Both go through the real
//! readers, queues, supervisor, conversions, preprocessing, tagging, the runtime's SQLite index
//! (rows and JPEG thumbnails, committed in chunks), tag output and overlay PNG snapshots. The
//! networks are the fake embedder (no model file needed); WORK_MS adds a simulated inference
//! time per network call.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mmv_host::capture::file_audio::WavSource;
use mmv_host::capture::{
    AudioSource, AudioTx, CaptureError, FrameSource, IngestError, NextFrame, RunEnd, audio_channel,
    frame_channel,
};
use mmv_host::config::AtEnd;
use mmv_host::daemon::Boxed;
use mmv_host::fake::FakeEmbedder;
use mmv_host::model::Embedder;
use mmv_host::outputs::sqlite_index::SqliteIndex;
use mmv_host::outputs::tags_jsonl::TagWriter;
use mmv_host::overlay::png::PngSnapshots;
use mmv_host::pipeline::{EventOutput, Health, Outputs, Pipeline, PipelineOptions};
use mmv_host::supervisor::{Policy, SourceHealth, run_camera, run_microphone};
use mmv_host::sysinfo;
use mmv_runtime::index::{Index, ModelKey};
use mmv_runtime::ingest::y4m::Y4mReader;
use mmv_runtime::tag::LabelSet;

const FPS: u32 = 10;
const LOOP_S: u32 = 30;
const LABELS: [&str; 10] = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
];

fn write_y4m(path: &Path) -> std::io::Result<()> {
    let (w, h) = (160usize, 120usize);
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(f, "YUV4MPEG2 W{w} H{h} F{FPS}:1 Ip A1:1 C420jpeg")?;
    for i in 0..(FPS * LOOP_S) as usize {
        f.write_all(b"FRAME\n")?;
        // Brightness steps every 2 s so tags change; a moving bar so frames differ.
        let level = 20 + ((i / 20) % 10) as u8 * 22;
        let bar = (i * 4) % w;
        for y in 0..h {
            let row: Vec<u8> = (0..w)
                .map(|x| {
                    if x.abs_diff(bar) < 4 {
                        235
                    } else {
                        level.saturating_add((y / 8) as u8)
                    }
                })
                .collect();
            f.write_all(&row)?;
        }
        f.write_all(&vec![128u8; 2 * (w / 2) * (h / 2)])?;
    }
    f.flush()
}

fn write_wav(path: &Path) -> Result<(), hound::Error> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec)?;
    for i in 0..16_000 * LOOP_S as usize {
        let amp = 0.05 + ((i / 16_000) % 10) as f32 * 0.1;
        let v = amp * (i as f32 * 440.0 * std::f32::consts::TAU / 16_000.0).sin();
        w.write_sample((v * 32767.0) as i16)?;
    }
    w.finalize()
}

/// The Y4M file replayed `loops` times as one stream (continuous timestamps), then the end.
struct Looped {
    path: PathBuf,
    inner: Y4mReader<std::fs::File>,
    loops: u32,
    done: u32,
}

impl FrameSource for Looped {
    fn fps(&self) -> f64 {
        self.inner.fps()
    }
    fn next_frame(&mut self, decode: bool) -> Result<NextFrame, IngestError> {
        loop {
            match self.inner.next_frame(decode)? {
                NextFrame::End => {
                    self.done += 1;
                    if self.done == self.loops {
                        return Ok(NextFrame::End);
                    }
                    self.inner = Y4mReader::open(&self.path)?;
                }
                frame => return Ok(frame),
            }
        }
    }
}

/// The WAV file replayed `loops` times into one continuous stream.
struct LoopedWav {
    path: PathBuf,
    loops: u32,
}

impl AudioSource for LoopedWav {
    fn describe(&self) -> String {
        format!("{} x{}", self.path.display(), self.loops)
    }
    fn sample_rate(&self) -> u32 {
        16_000
    }
    fn run(&mut self, tx: &AudioTx, stop: &AtomicBool) -> Result<RunEnd, CaptureError> {
        for _ in 0..self.loops {
            if WavSource::new(&self.path, false)?.run(tx, stop)? == RunEnd::Stopped {
                return Ok(RunEnd::Stopped);
            }
        }
        Ok(RunEnd::Ended)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let minutes: u32 = args.next().map_or(Ok(10), |a| a.parse())?;
    let work_ms: u64 = args.next().map_or(Ok(0), |a| a.parse())?;
    let loops = (minutes * 60).div_ceil(LOOP_S);
    let dir = tempfile::tempdir()?;
    let (y4m, wav) = (dir.path().join("cam.y4m"), dir.path().join("mic.wav"));
    write_y4m(&y4m)?;
    write_wav(&wav)?;
    let index_path = dir.path().join("index.sqlite");
    let model = ModelKey {
        name: "soak".into(),
        version: "0".into(),
        design: "fac".into(),
    };

    let labels: Vec<String> = LABELS.map(String::from).to_vec();
    let mut fake = FakeEmbedder::new(&labels);
    fake.work = Duration::from_millis(work_ms);
    let tagger = fake.tagger(&LabelSet::parse(&LABELS.join("\n"), "soak")?)?;
    let outputs = Outputs {
        tags: Some(TagWriter::new(
            Box::new(std::io::BufWriter::new(std::fs::File::create(
                dir.path().join("tags.jsonl"),
            )?)) as Box<dyn Write + Send>,
        )),
        events: EventOutput::WithTags,
        index: Some(Boxed(SqliteIndex::open(&index_path, &model, 16)?)),
        displays: vec![Box::new(PngSnapshots::new(
            &dir.path().join("overlay"),
            30,
        )?)],
    };

    let stop = Arc::new(AtomicBool::new(false));
    let (cam_h, mic_h) = (
        Arc::new(SourceHealth::default()),
        Arc::new(SourceHealth::default()),
    );
    let policy = Policy::new(
        Duration::from_millis(100),
        Duration::from_secs(2),
        AtEnd::Stop,
        true,
    );
    let (mut ftx, frx) = frame_channel();
    let cam = {
        let (stop, h, p, path) = (stop.clone(), cam_h.clone(), policy.clone(), y4m.clone());
        std::thread::spawn(move || {
            let open = || {
                Ok::<_, CaptureError>(Looped {
                    inner: Y4mReader::open(&path)?,
                    path: path.clone(),
                    loops,
                    done: 0,
                })
            };
            run_camera("camera", open, &mut ftx, &p, &stop, &h);
        })
    };
    let (atx, arx) = audio_channel();
    let mic = {
        let (stop, h, p) = (stop.clone(), mic_h.clone(), policy.clone());
        std::thread::spawn(move || {
            let open = || {
                Ok(LoopedWav {
                    path: wav.clone(),
                    loops,
                })
            };
            run_microphone("microphone", open, &atx, &p, &stop, &h);
        })
    };

    let mut pipeline = Pipeline::new(
        fake,
        tagger,
        outputs,
        PipelineOptions::default(),
        Health {
            camera: Some(cam_h.clone()),
            mic: Some(mic_h.clone()),
        },
    );
    // The loop of Pipeline::run, unrolled to sample memory at exact clip times.
    let start = Instant::now();
    let mut marks: Vec<(u32, f64, sysinfo::Memory)> = Vec::new();
    let mut next_mark = 1u32;
    let frames_per_minute = u64::from(FPS) * 60;
    loop {
        let mut worked = false;
        if let Some(event) = frx.pop() {
            pipeline.process_video(event);
            worked = true;
        }
        while let Some(c) = arx.pop() {
            pipeline.process_audio(&c);
            worked = true;
        }
        let frames = pipeline.stats().frames;
        if frames >= u64::from(next_mark) * frames_per_minute {
            if let Some(m) = sysinfo::memory() {
                marks.push((next_mark, start.elapsed().as_secs_f64(), m));
                eprintln!(
                    "{next_mark:>3} min of clip time after {:>6.1} s: RSS {} KiB, peak {} KiB",
                    start.elapsed().as_secs_f64(),
                    m.rss_kib,
                    m.peak_rss_kib
                );
            }
            next_mark += 1;
        }
        if !worked {
            if cam_h.is_finished() && mic_h.is_finished() && frx.is_empty() && arx.is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    pipeline.flush();
    stop.store(true, Ordering::Relaxed);
    cam.join().map_err(|_| "camera thread panicked")?;
    mic.join().map_err(|_| "mic thread panicked")?;

    let s = pipeline.stats().clone();
    let rows_on_disk = Index::open(&index_path)?.load_model_table(&model)?.len() as u64;
    let expected_frames = u64::from(loops * LOOP_S * FPS);
    let expected_clips = expected_frames / 8;
    let expected_windows = u64::from(loops * LOOP_S);
    println!(
        "replayed {} s of clip time in {:.1} s",
        loops * LOOP_S,
        start.elapsed().as_secs_f64()
    );
    println!(
        "frames {} (expected {expected_frames}), images {}, clips {} (expected {expected_clips}), audio windows {} (expected {expected_windows})",
        s.frames, s.images, s.clips, s.audio_windows
    );
    println!(
        "index rows: {} inserted, {} on disk, {} failed; drops: frames {}, audio {}",
        s.index_rows,
        rows_on_disk,
        s.index_failures,
        frx.stats().dropped(),
        arx.stats().dropped()
    );
    for (minute, secs, m) in &marks {
        if *minute == 1 || *minute == marks.len() as u32 {
            println!(
                "at {minute} min of clip time ({secs:.1} s wall): RSS {} KiB, peak RSS {} KiB",
                m.rss_kib, m.peak_rss_kib
            );
        }
    }
    let ok = s.frames == expected_frames
        && s.clips == expected_clips
        && s.audio_windows == expected_windows
        && s.index_rows == expected_clips + expected_windows
        && rows_on_disk == s.index_rows
        && s.index_failures == 0;
    println!(
        "{}",
        if ok {
            "OK: no row lost"
        } else {
            "FAILED: rows or data lost"
        }
    );
    if ok {
        Ok(())
    } else {
        Err("soak failed".into())
    }
}
