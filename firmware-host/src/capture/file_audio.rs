//! File-backed microphones: WAV files and raw PCM (a plain file or a FIFO that another process
//! writes, so a test or a tool can play the microphone live).
//!
//! `realtime` sources are paced at their sample rate and drop the oldest audio when the consumer
//! falls behind, like a device; the others are replays: as fast as the consumer takes them,
//! waiting instead of dropping, so nothing is lost.

use std::fs::File;
use std::io::{BufReader, ErrorKind, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::{AudioSource, AudioTx, CaptureError, RunEnd};

/// Sample encodings of raw PCM (little-endian).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RawFormat {
    S16,
    F32,
}

impl RawFormat {
    pub fn bytes(self) -> usize {
        match self {
            Self::S16 => 2,
            Self::F32 => 4,
        }
    }
}

/// Frames per read: 1024 frames is 64 ms at 16 kHz.
const BLOCK_FRAMES: usize = 1024;

/// Paces `done` frames at `rate` from `start` when `realtime`.
fn pace(realtime: bool, start: Instant, done: u64, rate: u32) {
    if realtime && rate > 0 {
        let due = start + Duration::from_secs_f64(done as f64 / f64::from(rate));
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
    }
}

/// Raw interleaved PCM.
#[derive(Debug)]
pub struct RawPcmSource {
    path: PathBuf,
    name: String,
    rate: u32,
    channels: usize,
    format: RawFormat,
    realtime: bool,
}

impl RawPcmSource {
    /// Checks the parameters; the file is opened by `run` (opening a FIFO waits for its writer).
    pub fn new(
        path: &Path,
        rate: u32,
        channels: u16,
        format: RawFormat,
        realtime: bool,
    ) -> Result<Self, CaptureError> {
        let name = format!("pcm {}", path.display());
        if rate == 0 || channels == 0 {
            return Err(CaptureError::format(
                &name,
                "sample rate and channels must be positive",
            ));
        }
        Ok(Self {
            path: path.to_path_buf(),
            name,
            rate,
            channels: usize::from(channels),
            format,
            realtime,
        })
    }
}

impl AudioSource for RawPcmSource {
    fn describe(&self) -> String {
        format!(
            "{} (raw {:?}, {} Hz, {} ch)",
            self.path.display(),
            self.format,
            self.rate,
            self.channels
        )
    }

    fn sample_rate(&self) -> u32 {
        self.rate
    }

    fn run(&mut self, tx: &AudioTx, stop: &AtomicBool) -> Result<RunEnd, CaptureError> {
        let mut file =
            BufReader::new(File::open(&self.path).map_err(|e| CaptureError::io(&self.name, e))?);
        let frame_bytes = self.channels * self.format.bytes();
        let mut bytes = vec![0u8; BLOCK_FRAMES * frame_bytes];
        let mut samples = vec![0f32; BLOCK_FRAMES * self.channels];
        let wait = (!self.realtime).then_some(stop);
        let start = Instant::now();
        let mut done = 0u64;
        // Bytes carried over when a read ends inside a frame.
        let mut have = 0usize;
        loop {
            if stop.load(Ordering::Relaxed) {
                return Ok(RunEnd::Stopped);
            }
            let n = match file.read(&mut bytes[have..]) {
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(CaptureError::io(&self.name, e)),
            };
            if n == 0 {
                tx.flush(wait);
                return Ok(RunEnd::Ended);
            }
            have += n;
            let frames = have / frame_bytes;
            let used = frames * frame_bytes;
            let out = &mut samples[..frames * self.channels];
            match self.format {
                RawFormat::S16 => {
                    for (o, b) in out.iter_mut().zip(bytes[..used].chunks_exact(2)) {
                        *o = f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0;
                    }
                }
                RawFormat::F32 => {
                    for (o, b) in out.iter_mut().zip(bytes[..used].chunks_exact(4)) {
                        let v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                        *o = if v.is_finite() { v } else { 0.0 };
                    }
                }
            }
            tx.write_interleaved(out, self.channels, wait);
            bytes.copy_within(used..have, 0);
            have -= used;
            done += frames as u64;
            pace(self.realtime, start, done, self.rate);
        }
    }
}

/// A WAV file (8/16/24/32-bit integer or 32-bit float PCM), streamed.
#[derive(Debug)]
pub struct WavSource {
    path: PathBuf,
    name: String,
    rate: u32,
    realtime: bool,
}

impl WavSource {
    /// Reads the header now so that a bad file fails at start-up, with its name.
    pub fn new(path: &Path, realtime: bool) -> Result<Self, CaptureError> {
        let name = format!("wav {}", path.display());
        let reader =
            hound::WavReader::open(path).map_err(|e| CaptureError::format(&name, e.to_string()))?;
        let rate = reader.spec().sample_rate;
        if rate == 0 {
            return Err(CaptureError::format(&name, "sample rate 0"));
        }
        Ok(Self {
            path: path.to_path_buf(),
            name,
            rate,
            realtime,
        })
    }
}

impl AudioSource for WavSource {
    fn describe(&self) -> String {
        format!("{} (WAV, {} Hz)", self.path.display(), self.rate)
    }

    fn sample_rate(&self) -> u32 {
        self.rate
    }

    fn run(&mut self, tx: &AudioTx, stop: &AtomicBool) -> Result<RunEnd, CaptureError> {
        let name = self.name.clone();
        let bad = move |e: hound::Error| CaptureError::format(&name, e.to_string());
        let reader = hound::WavReader::new(BufReader::new(
            File::open(&self.path).map_err(|e| CaptureError::io(&self.name, e))?,
        ))
        .map_err(&bad)?;
        let spec = reader.spec();
        let channels = usize::from(spec.channels.max(1));
        match spec.sample_format {
            hound::SampleFormat::Float => {
                let samples = reader.into_samples::<f32>().map(|r| r.map_err(&bad));
                self.pump(samples, channels, tx, stop)
            }
            hound::SampleFormat::Int => {
                let bits = spec.bits_per_sample.clamp(1, 32);
                let scale = (1.0 / 2f64.powi(i32::from(bits) - 1)) as f32;
                let samples = reader
                    .into_samples::<i32>()
                    .map(|r| r.map(|v| v as f32 * scale).map_err(&bad));
                self.pump(samples, channels, tx, stop)
            }
        }
    }
}

impl WavSource {
    fn pump(
        &self,
        mut samples: impl Iterator<Item = Result<f32, CaptureError>>,
        channels: usize,
        tx: &AudioTx,
        stop: &AtomicBool,
    ) -> Result<RunEnd, CaptureError> {
        let wait = (!self.realtime).then_some(stop);
        let mut block: Vec<f32> = Vec::with_capacity(BLOCK_FRAMES * channels);
        let start = Instant::now();
        let mut done = 0u64;
        loop {
            if stop.load(Ordering::Relaxed) {
                return Ok(RunEnd::Stopped);
            }
            block.clear();
            while block.len() < BLOCK_FRAMES * channels {
                match samples.next() {
                    Some(v) => block.push(v?),
                    None => break,
                }
            }
            let frames = block.len() / channels;
            if frames > 0 {
                tx.write_interleaved(&block[..frames * channels], channels, wait);
                done += frames as u64;
                pace(self.realtime, start, done, self.rate);
            }
            if block.len() < BLOCK_FRAMES * channels {
                tx.flush(wait);
                return Ok(RunEnd::Ended);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::audio_channel;

    #[test]
    fn raw_s16_file_arrives_intact_and_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.raw");
        let values: Vec<i16> = (0..5000).map(|i| (i * 7 % 20000) as i16).collect();
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(&path, bytes).expect("write");
        let (tx, rx) = audio_channel();
        let mut src = RawPcmSource::new(&path, 16_000, 1, RawFormat::S16, false).expect("new");
        tx.begin(src.sample_rate());
        let stop = AtomicBool::new(false);
        let consumer = std::thread::spawn(move || {
            let mut got = Vec::new();
            while got.len() < 5000 {
                match rx.pop() {
                    Some(c) => {
                        assert_eq!(c.start as usize, got.len(), "no gaps");
                        got.extend_from_slice(c.samples());
                    }
                    None => std::thread::sleep(Duration::from_millis(1)),
                }
            }
            got
        });
        assert_eq!(src.run(&tx, &stop).expect("run"), RunEnd::Ended);
        let got = consumer.join().expect("consumer");
        let want: Vec<f32> = values.iter().map(|&v| f32::from(v) / 32768.0).collect();
        assert_eq!(got, want);
        assert_eq!(
            tx.stats().dropped(),
            0,
            "a replay waits instead of dropping"
        );
    }

    #[test]
    fn wav_stereo_is_downmixed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.wav");
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&path, spec).expect("create");
        for i in 0..300i16 {
            w.write_sample(i * 10).expect("l");
            w.write_sample(i * 30).expect("r");
        }
        w.finalize().expect("finalize");
        let (tx, rx) = audio_channel();
        let mut src = WavSource::new(&path, false).expect("new");
        assert_eq!(src.sample_rate(), 8000);
        tx.begin(8000);
        src.run(&tx, &AtomicBool::new(false)).expect("run");
        let mut got = Vec::new();
        while let Some(c) = rx.pop() {
            got.extend_from_slice(c.samples());
        }
        assert_eq!(got.len(), 300);
        assert!((got[100] - 2000.0 / 32768.0).abs() < 1e-6);
    }
}
