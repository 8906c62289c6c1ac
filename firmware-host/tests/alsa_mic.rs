//! The cpal microphone through real ALSA: alsa-lib's `file` PCM plugin turns a FIFO into a
//! capture device, and a writer thread paces known samples into it in real time. This binary
//! holds this one test because it points ALSA at its own configuration (`ALSA_CONFIG_PATH`),
//! which alsa-lib reads once per process.
#![cfg(feature = "alsa")]

use std::fs::OpenOptions;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mmv_host::capture::cpal_mic::CpalMic;
use mmv_host::capture::file_audio::RawFormat;
use mmv_host::capture::{AudioSource, CaptureError, audio_channel};

const RATE: u32 = 16_000;
const PERIOD: u32 = 512;

const ASOUNDRC: &str = r#"
pcm.!default {
    type file
    slave.pcm { type null }
    file "/dev/null"
    infile { @func getenv vars [ MIC_RAW ] default "/dev/zero" }
    format "raw"
    hint { show on description "File-backed test microphone" }
}
"#;

/// Sample `i` of the test signal: distinct for i < 30000, so order and gaps are visible.
fn sample(i: usize) -> i16 {
    ((i * 37) % 30_000) as i16 - 15_000
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).expect("path");
    // SAFETY: `c` is a valid NUL-terminated path that outlives the call.
    let rv = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
    assert_eq!(rv, 0, "mkfifo: {}", std::io::Error::last_os_error());
}

/// Writes `n` samples into the FIFO at real-time pace, then, once `release` is set (the
/// consumer has them all), closes it: the device vanishes.
fn feed(path: &Path, n: usize, release: &AtomicBool) -> std::io::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    // Non-blocking open: fails with ENXIO until ALSA opens the reading end, instead of hanging
    // the test forever if it never does.
    let mut fifo = loop {
        match OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
        {
            Ok(f) => break f,
            Err(e) if Instant::now() < deadline && e.raw_os_error() == Some(libc::ENXIO) => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(e),
        }
    };
    let start = Instant::now();
    let block = PERIOD as usize;
    for (b, first) in (0..n).step_by(block).enumerate() {
        let bytes: Vec<u8> = (first..(first + block).min(n))
            .flat_map(|i| sample(i).to_le_bytes())
            .collect();
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            match fifo.write(rest) {
                Ok(k) => rest = &rest[k..],
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(2))
                }
                Err(e) => return Err(e),
            }
        }
        let due = start + Duration::from_secs_f64(((b + 1) * block) as f64 / f64::from(RATE));
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    // Closing now would let ALSA run ahead on silence before the test has read everything.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !release.load(Ordering::Relaxed) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

#[test]
fn alsa_file_plugin_capture_through_a_fifo() {
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("asound.conf");
    std::fs::write(&conf, ASOUNDRC).expect("write asound.conf");
    let fifo = dir.path().join("mic.fifo");
    mkfifo(&fifo);
    // SAFETY: set before any thread of this process starts and before alsa-lib reads its
    // configuration; this test binary has no other test that could race on the environment.
    unsafe {
        std::env::set_var("ALSA_CONFIG_PATH", &conf);
        std::env::set_var("MIC_RAW", &fifo);
    }

    const N: usize = 24_000; // 1.5 s
    let release = Arc::new(AtomicBool::new(false));
    let writer = {
        let (fifo, release) = (fifo.clone(), release.clone());
        std::thread::spawn(move || feed(&fifo, N, &release))
    };
    let (tx, rx) = audio_channel();
    tx.begin(RATE);
    let stop = Arc::new(AtomicBool::new(false));
    let mic = std::thread::spawn({
        let (tx, stop) = (tx.clone(), stop.clone());
        move || {
            let mut mic = CpalMic::new(
                "default",
                RATE,
                1,
                RawFormat::S16,
                PERIOD,
                Duration::from_millis(800),
            );
            let end = mic.run(&tx, &stop);
            (end, mic.xruns())
        }
    });

    let mut got: Vec<f32> = Vec::with_capacity(N + 4096);
    let started = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(20);
    while got.len() < N && Instant::now() < deadline && !mic.is_finished() {
        match rx.pop() {
            Some(c) => {
                assert_eq!(
                    c.start as usize,
                    got.len(),
                    "no gap in the sample positions"
                );
                got.extend_from_slice(c.samples());
            }
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    let fed_in = started.elapsed().as_secs_f64();
    let dropped_while_fed = tx.stats().dropped();
    release.store(true, Ordering::Relaxed);
    writer
        .join()
        .expect("writer thread")
        .expect("feeding the FIFO");

    // After the writer closed the FIFO the plugin serves silence as fast as it can: the source
    // must report that (or a stall) as a broken device rather than carry on, so that the
    // supervisor reopens it.
    let wait_end = Instant::now() + Duration::from_secs(10);
    while !mic.is_finished() && Instant::now() < wait_end {
        while rx.pop().is_some() {}
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    let (end, xruns) = mic.join().expect("mic thread");

    assert!(got.len() >= N, "captured {} of {N} samples", got.len());
    // Paced by the FIFO: about real time, not as fast as a file could be read.
    assert!(
        fed_in > 1.2,
        "{N} samples at {RATE} Hz arrived in {fed_in:.2} s"
    );
    let want: Vec<f32> = (0..N).map(|i| f32::from(sample(i)) / 32768.0).collect();
    let first_bad = got.iter().zip(&want).position(|(a, b)| a != b);
    assert_eq!(
        first_bad, None,
        "captured samples differ from the written ones"
    );
    assert_eq!(dropped_while_fed, 0);
    assert_eq!(xruns, 0);
    match end {
        Err(CaptureError::Stalled { .. } | CaptureError::Device { .. }) => {}
        other => panic!("a closed FIFO must end the stream with an error, got {other:?}"),
    }
}
