//! Capture: where frames and audio samples come from.
//!
//! A camera is an `mmv_runtime::ingest::FrameSource`, the runtime's one trait for video: the
//! runtime's own readers (Y4M, MJPEG streams, raw camera frames; files or FIFOs) behind the
//! daemon's pacing ([`paced`]), and the V4L2 camera (`v4l_camera`) implement it. A capture
//! thread pulls frames from it, stamps them ([`Frame`]) and queues them ([`FrameEvent`]).
//! Frames stay in the format the source delivered ([`Picture`]: raw YUYV and the V4L2 camera's
//! YUYV are not converted to RGB); the model's front end reads them as they are, and only the
//! thumbnails and the overlay convert the frames they store or show.
//! A microphone is an [`AudioSource`], which pushes into an [`AudioTx`], possibly from a driver
//! callback: ALSA (`cpal_mic`), or files read by the runtime (`file_audio`). The pipeline, the
//! supervisor and the faults are tested here with files.

#[cfg(feature = "alsa")]
pub mod cpal_mic;
pub mod file_audio;
pub mod paced;
#[cfg(feature = "v4l")]
pub mod v4l_camera;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use mmv_runtime::frames::{Picture, RgbFrame};
pub use mmv_runtime::ingest::{FrameSource, IngestError, NextFrame};

use crate::queue::{self, QueueStats, Receiver, Sender};

/// One captured frame, in the format its source delivered.
#[derive(Clone, Debug)]
pub struct Frame {
    /// Frame number since the source was opened.
    pub seq: u64,
    /// Which opening of the source delivered it (bumped on every restart), so that clip assembly
    /// never joins frames across a gap.
    pub epoch: u32,
    /// Stream time: since the source was opened (the driver's clock, or `seq / fps` for files).
    pub pts: Duration,
    /// When it was captured on this machine (latency, wall-clock timestamps).
    pub captured: Instant,
    pub image: Picture,
}

/// What the camera thread queues: frames, and the clean end of an opening's stream.
#[derive(Clone, Debug)]
pub enum FrameEvent {
    Frame(Frame),
    /// The stream of opening `epoch` ended (a file's end) at stream time `pts`: the last frame
    /// stays on screen until then, and a partial clip may be finished as `mmv tag` does.
    End {
        epoch: u32,
        pts: Duration,
    },
}

/// Capture failures. A source that returns one is closed and reopened by the supervisor.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("{source_name}: {error}")]
    Io {
        source_name: String,
        #[source]
        error: std::io::Error,
    },
    #[error("{source_name}: bad data: {problem}")]
    Format {
        source_name: String,
        problem: String,
    },
    #[error("{source_name}: unsupported: {problem}")]
    Unsupported {
        source_name: String,
        problem: String,
    },
    #[error("{source_name}: device error: {problem}")]
    Device {
        source_name: String,
        problem: String,
    },
    #[error("{source_name}: no data for {stalled:?}")]
    Stalled {
        source_name: String,
        stalled: Duration,
    },
    /// A runtime reader's error (it names the file).
    #[error(transparent)]
    Media(#[from] IngestError),
}

impl CaptureError {
    pub fn io(source_name: &str, error: std::io::Error) -> Self {
        Self::Io {
            source_name: source_name.into(),
            error,
        }
    }
    pub fn format(source_name: &str, problem: impl Into<String>) -> Self {
        Self::Format {
            source_name: source_name.into(),
            problem: problem.into(),
        }
    }
    pub fn unsupported(source_name: &str, problem: impl Into<String>) -> Self {
        Self::Unsupported {
            source_name: source_name.into(),
            problem: problem.into(),
        }
    }
    pub fn device(source_name: &str, problem: impl Into<String>) -> Self {
        Self::Device {
            source_name: source_name.into(),
            problem: problem.into(),
        }
    }
}

/// How an [`AudioSource::run`] ended without an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunEnd {
    /// `stop` was set.
    Stopped,
    /// The source has no more data (end of a file).
    Ended,
}

/// A microphone, or anything that delivers audio into an [`AudioTx`].
pub trait AudioSource {
    fn describe(&self) -> String;
    /// The rate of the samples it delivers, in Hz.
    fn sample_rate(&self) -> u32;
    /// Captures into `tx` until `stop` is set, the data ends, or the device fails.
    fn run(&mut self, tx: &AudioTx, stop: &AtomicBool) -> Result<RunEnd, CaptureError>;
}

impl<S: AudioSource + ?Sized> AudioSource for Box<S> {
    fn describe(&self) -> String {
        (**self).describe()
    }
    fn sample_rate(&self) -> u32 {
        (**self).sample_rate()
    }
    fn run(&mut self, tx: &AudioTx, stop: &AtomicBool) -> Result<RunEnd, CaptureError> {
        (**self).run(tx, stop)
    }
}

/// Mono samples in one queue item. 256 samples is 16 ms at 16 kHz: small enough for low latency,
/// large enough that the queue's per-item cost is negligible.
pub const AUDIO_CHUNK: usize = 256;
/// Audio queue slots (one kept free): 127 chunks, about 2 s at 16 kHz, 0.7 s at 48 kHz.
pub const AUDIO_QUEUE_SLOTS: usize = 128;
/// Frame queue slots (one kept free).
pub const FRAME_QUEUE_SLOTS: usize = 9;

/// A run of mono samples, in order, with their position in the stream.
#[derive(Clone, Copy, Debug)]
pub struct AudioChunk {
    /// Which opening of the source delivered it (see [`Frame::epoch`]).
    pub epoch: u32,
    /// Index of the first sample since the source was opened, counting dropped samples, so the
    /// consumer sees gaps.
    pub start: u64,
    pub rate: u32,
    pub len: u16,
    /// When the callback (or reader) received it.
    pub captured: Instant,
    /// The last chunk of the opening's stream (a file's end): windows may be finished with a
    /// partial one, as `mmv tag` does.
    pub end: bool,
    pub samples: [f32; AUDIO_CHUNK],
}

impl AudioChunk {
    pub fn samples(&self) -> &[f32] {
        &self.samples[..usize::from(self.len)]
    }
}

/// Sample types the microphone path accepts.
pub trait ToF32: Copy {
    fn to_f32(self) -> f32;
}
impl ToF32 for f32 {
    fn to_f32(self) -> f32 {
        self
    }
}
impl ToF32 for i16 {
    fn to_f32(self) -> f32 {
        f32::from(self) / 32768.0
    }
}
impl ToF32 for i32 {
    fn to_f32(self) -> f32 {
        (f64::from(self) / 2_147_483_648.0) as f32
    }
}
impl ToF32 for u8 {
    fn to_f32(self) -> f32 {
        (f32::from(self) - 128.0) / 128.0
    }
}

struct AudioTxState {
    sender: Sender<AudioChunk>,
    epoch: u32,
    rate: u32,
    next_sample: u64,
    pending: AudioChunk,
}

/// The producing end of the audio queue, shared by whichever source is running (cpal's callback
/// must own a `'static` handle; a restarted source gets a fresh clone). Writing never blocks or
/// allocates: it downmixes into a fixed chunk and pushes full chunks (drop-oldest).
#[derive(Clone)]
pub struct AudioTx {
    state: Arc<Mutex<AudioTxState>>,
    stats: Arc<QueueStats>,
    /// Milliseconds since `origin` at the last write, for stall detection.
    last_write_ms: Arc<AtomicU64>,
    /// Mono samples written since the queue was made, for rate checks.
    written: Arc<AtomicU64>,
    origin: Instant,
}

/// Makes the audio queue: the shared producer and the inference thread's receiver.
pub fn audio_channel() -> (AudioTx, Receiver<AudioChunk>) {
    let (sender, receiver) = queue::channel::<AudioChunk, AUDIO_QUEUE_SLOTS>();
    let stats = sender.stats().clone();
    let origin = Instant::now();
    let tx = AudioTx {
        state: Arc::new(Mutex::new(AudioTxState {
            sender,
            epoch: 0,
            rate: 0,
            next_sample: 0,
            pending: empty_chunk(0, 0, 0, origin),
        })),
        stats,
        last_write_ms: Arc::new(AtomicU64::new(0)),
        written: Arc::new(AtomicU64::new(0)),
        origin,
    };
    (tx, receiver)
}

fn empty_chunk(epoch: u32, start: u64, rate: u32, captured: Instant) -> AudioChunk {
    AudioChunk {
        epoch,
        start,
        rate,
        len: 0,
        captured,
        end: false,
        samples: [0.0; AUDIO_CHUNK],
    }
}

impl AudioTx {
    /// Starts a new stream (a source opened or reopened) at `rate` Hz: sample positions restart
    /// at 0 and the epoch is bumped so the consumer never joins audio across the gap.
    pub fn begin(&self, rate: u32) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.epoch = s.epoch.wrapping_add(1);
        s.rate = rate;
        s.next_sample = 0;
        s.pending = empty_chunk(s.epoch, 0, rate, Instant::now());
        self.touch();
    }

    fn touch(&self) {
        let ms = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_write_ms.store(ms, Ordering::Relaxed);
    }

    /// Time since the last write (or `begin`).
    pub fn idle_for(&self) -> Duration {
        let now = self.origin.elapsed();
        now.saturating_sub(Duration::from_millis(
            self.last_write_ms.load(Ordering::Relaxed),
        ))
    }

    pub fn stats(&self) -> &Arc<QueueStats> {
        &self.stats
    }

    /// Mono samples written so far (including dropped ones).
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Writes interleaved samples with `channels` channels, downmixed to mono. `wait`: block
    /// while the queue is full (replays) instead of dropping the oldest (live capture).
    pub fn write_interleaved<S: ToF32>(
        &self,
        data: &[S],
        channels: usize,
        wait: Option<&AtomicBool>,
    ) {
        let channels = channels.max(1);
        let frames = data.len() / channels;
        self.written.fetch_add(frames as u64, Ordering::Relaxed);
        // A callback never waits for the lock: the only other holder is a source that is being
        // replaced, and its data is worth less than blocking the audio thread.
        let mut s = match self.state.try_lock() {
            Ok(s) => s,
            Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => {
                if let Some(stop) = wait {
                    let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
                    Self::write_locked(&mut s, data, channels, frames, Some(stop));
                    drop(s);
                    self.touch();
                } else {
                    for _ in 0..frames.div_ceil(AUDIO_CHUNK) {
                        self.stats.count_drop();
                    }
                }
                return;
            }
        };
        Self::write_locked(&mut s, data, channels, frames, wait);
        drop(s);
        self.touch();
    }

    fn write_locked<S: ToF32>(
        s: &mut AudioTxState,
        data: &[S],
        channels: usize,
        frames: usize,
        wait: Option<&AtomicBool>,
    ) {
        let scale = 1.0 / channels as f32;
        for f in 0..frames {
            let frame = &data[f * channels..(f + 1) * channels];
            let mono = frame.iter().map(|v| v.to_f32()).sum::<f32>() * scale;
            if s.pending.len == 0 {
                s.pending.captured = Instant::now();
                s.pending.start = s.next_sample;
                s.pending.epoch = s.epoch;
                s.pending.rate = s.rate;
            }
            let i = usize::from(s.pending.len);
            s.pending.samples[i] = mono;
            s.pending.len += 1;
            s.next_sample += 1;
            if usize::from(s.pending.len) == AUDIO_CHUNK {
                let chunk = s.pending;
                s.pending.len = 0;
                s.sender.send(chunk, wait);
            }
        }
    }

    /// Ends the stream (the end of a file): pushes the samples held back, in a chunk marked
    /// as the last (possibly empty).
    pub fn end_of_stream(&self, wait: Option<&AtomicBool>) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut chunk = s.pending;
        if chunk.len == 0 {
            chunk = empty_chunk(s.epoch, s.next_sample, s.rate, Instant::now());
        }
        chunk.end = true;
        s.pending.len = 0;
        s.sender.send(chunk, wait);
    }
}

/// The frame queue: the capture thread's sender and the inference thread's receiver.
pub fn frame_channel() -> (Sender<FrameEvent>, Receiver<FrameEvent>) {
    queue::channel::<FrameEvent, FRAME_QUEUE_SLOTS>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audio_tx_downmixes_chunks_and_marks_positions() {
        let (tx, rx) = audio_channel();
        tx.begin(16_000);
        // Stereo: left = i, right = -i + 2i = i, so the mono mean is i.
        let data: Vec<i16> = (0..600i16).flat_map(|i| [i, i]).collect();
        tx.write_interleaved(&data, 2, None);
        tx.end_of_stream(None);
        let a = rx.pop().expect("first chunk");
        let b = rx.pop().expect("second chunk");
        let c = rx.pop().expect("partial chunk");
        assert!(rx.pop().is_none());
        assert_eq!((a.start, a.len, a.epoch, a.rate), (0, 256, 1, 16_000));
        assert_eq!((b.start, b.len, b.end), (256, 256, false));
        assert_eq!((c.start, c.len, c.end), (512, 88, true));
        tx.end_of_stream(None);
        let empty = rx.pop().expect("an empty end marker");
        assert_eq!((empty.start, empty.len, empty.end), (600, 0, true));
        assert!((c.samples()[87] - 599.0 / 32768.0).abs() < 1e-6);
        tx.begin(16_000);
        tx.write_interleaved(&[0.5f32; 256], 1, None);
        let d = rx.pop().expect("after restart");
        assert_eq!((d.epoch, d.start), (2, 0));
    }

    #[test]
    fn audio_overflow_drops_oldest_chunks() {
        let (tx, rx) = audio_channel();
        tx.begin(8_000);
        let n_chunks = AUDIO_QUEUE_SLOTS + 10;
        let data: Vec<f32> = (0..n_chunks * AUDIO_CHUNK).map(|i| i as f32).collect();
        tx.write_interleaved(&data, 1, None);
        let first = rx.pop().expect("chunks");
        // 127 slots: the 11 oldest chunks were dropped.
        assert_eq!(first.start, (11 * AUDIO_CHUNK) as u64);
        assert_eq!(tx.stats().dropped(), 11);
        let mut last = first;
        while let Some(c) = rx.pop() {
            last = c;
        }
        assert_eq!(last.start, ((n_chunks - 1) * AUDIO_CHUNK) as u64);
    }
}
