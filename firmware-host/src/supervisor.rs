//! Keeping sources alive: each capture runs under a supervisor that opens the source, pumps it,
//! and when it fails (an error, a stall, a vanished FIFO) logs why, waits with exponential
//! backoff and opens it again, while the other modality carries on in its own thread.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::capture::{
    AudioSource, AudioTx, CaptureError, Frame, FrameEvent, FrameSource, IngestError, NextFrame,
    RunEnd,
};
use crate::config::AtEnd;
use crate::queue::Sender;

/// Exponential backoff: `initial`, doubling up to `max`.
#[derive(Clone, Debug)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        let initial = initial.max(Duration::from_millis(1));
        Self {
            initial,
            max: max.max(initial),
            next: initial,
        }
    }

    /// The wait before the next attempt (and doubles the one after).
    pub fn next_wait(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(self.max);
        wait
    }

    /// After a healthy run: the next failure waits `initial` again.
    pub fn reset(&mut self) {
        self.next = self.initial;
    }
}

/// How a supervised source behaves.
#[derive(Clone, Debug)]
pub struct Policy {
    pub initial: Duration,
    pub max: Duration,
    pub at_end: AtEnd,
    /// Replays: wait for room in the queue instead of dropping the oldest item.
    pub lossless: bool,
    /// A run that lasted this long resets the backoff.
    pub healthy_after: Duration,
}

impl Policy {
    pub fn new(initial: Duration, max: Duration, at_end: AtEnd, lossless: bool) -> Self {
        Self {
            initial,
            max,
            at_end,
            lossless,
            healthy_after: Duration::from_secs(2),
        }
    }
}

/// What the rest of the daemon can see of a source, updated by its supervisor.
#[derive(Debug, Default)]
pub struct SourceHealth {
    up: AtomicBool,
    finished: AtomicBool,
    opens: AtomicU64,
    failures: AtomicU64,
    items: AtomicU64,
    bad_frames: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl SourceHealth {
    /// Open and delivering.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }
    /// The supervisor has returned (end of data with `at_end = stop`, or stopped).
    pub fn is_finished(&self) -> bool {
        self.finished.load(Ordering::Relaxed)
    }
    /// Successful opens (restarts = opens - 1).
    pub fn opens(&self) -> u64 {
        self.opens.load(Ordering::Relaxed)
    }
    /// Failed opens and failed runs.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }
    /// Frames or audio runs delivered.
    pub fn items(&self) -> u64 {
        self.items.load(Ordering::Relaxed)
    }
    /// Frames the source could not convert, skipped.
    pub fn bad_frames(&self) -> u64 {
        self.bad_frames.load(Ordering::Relaxed)
    }
    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn failed(&self, name: &str, error: &CaptureError, wait: Duration) {
        self.up.store(false, Ordering::Relaxed);
        self.failures.fetch_add(1, Ordering::Relaxed);
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(error.to_string());
        tracing::warn!(source = name, error = %error, retry_in_ms = wait.as_millis() as u64, "source failed; retrying");
    }
}

/// Sleeps `d` in short naps; false if `stop` was set meanwhile.
pub fn nap(d: Duration, stop: &AtomicBool) -> bool {
    let end = Instant::now() + d;
    loop {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        let now = Instant::now();
        if now >= end {
            return true;
        }
        std::thread::sleep((end - now).min(Duration::from_millis(20)));
    }
}

enum Next {
    Reopen { wait: Option<Duration> },
    Finish,
}

fn after_end(name: &str, policy: &Policy, delivered: bool, backoff: &mut Backoff) -> Next {
    match policy.at_end {
        AtEnd::Stop => {
            tracing::info!(source = name, "source ended");
            Next::Finish
        }
        // A file with no data would otherwise spin: treat it as a failure.
        AtEnd::Loop if delivered => Next::Reopen { wait: None },
        AtEnd::Loop | AtEnd::Retry => {
            let wait = backoff.next_wait();
            tracing::warn!(
                source = name,
                retry_in_ms = wait.as_millis() as u64,
                "source ended; reopening"
            );
            Next::Reopen { wait: Some(wait) }
        }
    }
}

/// Stream time of frame `seq` at `fps` (zero for a source without a rate).
fn at_rate(seq: u64, fps: f64) -> Duration {
    if fps > 0.0 && fps.is_finite() {
        Duration::from_secs_f64(seq as f64 / fps)
    } else {
        Duration::ZERO
    }
}

/// Runs a camera until `stop` (or its end, with `at_end = stop`): `open` makes a fresh source
/// for each attempt; its frames (in the source's format) go to `tx`, stamped with their stream time (the source's
/// clock, or `seq / fps`) and with the attempt number as their epoch. A clean end of the stream
/// is queued too ([`FrameEvent::End`]). A frame the source could not convert
/// ([`IngestError::Frame`], a corrupt JPEG) is skipped and counted; any other error reopens it.
pub fn run_camera<S, F>(
    name: &str,
    mut open: F,
    tx: &mut Sender<FrameEvent>,
    policy: &Policy,
    stop: &AtomicBool,
    health: &SourceHealth,
) where
    S: FrameSource,
    F: FnMut() -> Result<S, CaptureError>,
{
    let mut backoff = Backoff::new(policy.initial, policy.max);
    let wait = policy.lossless.then_some(stop);
    let mut epoch = 0u32;
    'open: while !stop.load(Ordering::Relaxed) {
        let mut source = match open() {
            Ok(s) => s,
            Err(e) => {
                let wait = backoff.next_wait();
                health.failed(name, &e, wait);
                nap(wait, stop);
                continue;
            }
        };
        epoch = epoch.wrapping_add(1);
        health.opens.fetch_add(1, Ordering::Relaxed);
        health.up.store(true, Ordering::Relaxed);
        let fps = source.fps();
        tracing::info!(source = name, fps, epoch, "camera opened");
        let opened = Instant::now();
        let mut delivered = false;
        let mut seq = 0u64;
        loop {
            if stop.load(Ordering::Relaxed) {
                break 'open;
            }
            match source.next_frame(true) {
                Ok(NextFrame::Frame(image)) => {
                    let pts = source.timestamp().unwrap_or_else(|| at_rate(seq, fps));
                    let frame = Frame {
                        seq,
                        epoch,
                        pts,
                        captured: Instant::now(),
                        image,
                    };
                    seq += 1;
                    tx.send(FrameEvent::Frame(frame), wait);
                    health.items.fetch_add(1, Ordering::Relaxed);
                    delivered = true;
                    if opened.elapsed() >= policy.healthy_after {
                        backoff.reset();
                    }
                }
                // Only asked for when not decoding; nothing to deliver.
                Ok(NextFrame::Skipped) => {}
                Err(IngestError::Frame { path, source }) => {
                    health.bad_frames.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(source = name, path = %path.display(), error = %source, "bad frame skipped");
                }
                Ok(NextFrame::End) => {
                    // The last frame stays on screen for one frame period.
                    let pts = match source.timestamp() {
                        Some(t) => t + at_rate(1, fps),
                        None => at_rate(seq, fps),
                    };
                    tx.send(FrameEvent::End { epoch, pts }, wait);
                    health.up.store(false, Ordering::Relaxed);
                    match after_end(name, policy, delivered, &mut backoff) {
                        Next::Finish => break 'open,
                        Next::Reopen { wait } => {
                            if let Some(w) = wait {
                                nap(w, stop);
                            }
                            continue 'open;
                        }
                    }
                }
                Err(e) => {
                    let wait = backoff.next_wait();
                    health.failed(name, &e.into(), wait);
                    drop(source);
                    nap(wait, stop);
                    continue 'open;
                }
            }
        }
    }
    health.up.store(false, Ordering::Relaxed);
    health.finished.store(true, Ordering::Relaxed);
}

/// Runs a microphone until `stop` (or its end, with `at_end = stop`), reopening it on failure.
pub fn run_microphone<S, F>(
    name: &str,
    mut open: F,
    tx: &AudioTx,
    policy: &Policy,
    stop: &AtomicBool,
    health: &SourceHealth,
) where
    S: AudioSource,
    F: FnMut() -> Result<S, CaptureError>,
{
    let mut backoff = Backoff::new(policy.initial, policy.max);
    while !stop.load(Ordering::Relaxed) {
        let mut source = match open() {
            Ok(s) => s,
            Err(e) => {
                let wait = backoff.next_wait();
                health.failed(name, &e, wait);
                nap(wait, stop);
                continue;
            }
        };
        tx.begin(source.sample_rate());
        health.opens.fetch_add(1, Ordering::Relaxed);
        health.up.store(true, Ordering::Relaxed);
        tracing::info!(source = name, device = %source.describe(), "microphone opened");
        let opened = Instant::now();
        let result = source.run(tx, stop);
        health.up.store(false, Ordering::Relaxed);
        health.items.fetch_add(1, Ordering::Relaxed);
        if opened.elapsed() >= policy.healthy_after {
            backoff.reset();
        }
        match result {
            Ok(RunEnd::Stopped) => break,
            Ok(RunEnd::Ended) => match after_end(name, policy, true, &mut backoff) {
                Next::Finish => break,
                Next::Reopen { wait } => {
                    if let Some(w) = wait {
                        nap(w, stop);
                    }
                }
            },
            Err(e) => {
                let wait = backoff.next_wait();
                health.failed(name, &e, wait);
                drop(source);
                nap(wait, stop);
            }
        }
    }
    health.up.store(false, Ordering::Relaxed);
    health.finished.store(true, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(350));
        let waits: Vec<u128> = (0..5).map(|_| b.next_wait().as_millis()).collect();
        assert_eq!(waits, vec![100, 200, 350, 350, 350]);
        b.reset();
        assert_eq!(b.next_wait(), Duration::from_millis(100));
    }
}
