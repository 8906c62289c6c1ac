//! File-backed microphones: WAV files, read by the runtime (`mmv_runtime::ingest::wav`, the
//! decoder `mmv index` uses: 16-bit PCM or 32-bit float, mixed to mono, non-finite samples
//! refused), and raw PCM (a plain file or a FIFO that another process writes, so a test or a
//! tool can play the microphone live).
//!
//! `realtime` sources are paced at their sample rate and drop the oldest audio when the consumer
//! falls behind, like a device; the others are replays: as fast as the consumer takes them,
//! waiting instead of dropping, so nothing is lost.

use std::fs::File;
use std::io::{BufReader, ErrorKind, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use serde::Deserialize;

use super::paced::pace;
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

/// Frames per write: 1024 frames is 64 ms at 16 kHz.
const BLOCK_FRAMES: usize = 1024;

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
                tx.end_of_stream(wait);
                return Ok(RunEnd::Ended);
            }
            have += n;
            let frames = have / frame_bytes;
            let used = &bytes[..frames * frame_bytes];
            match self.format {
                RawFormat::S16 => {
                    let s: Vec<i16> = used
                        .chunks_exact(2)
                        .map(|b| i16::from_le_bytes([b[0], b[1]]))
                        .collect();
                    tx.write_interleaved(&s, self.channels, wait);
                }
                RawFormat::F32 => {
                    let s: Vec<f32> = used
                        .chunks_exact(4)
                        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                        .map(|v| if v.is_finite() { v } else { 0.0 })
                        .collect();
                    tx.write_interleaved(&s, self.channels, wait);
                }
            }
            bytes.copy_within(frames * frame_bytes..have, 0);
            have -= frames * frame_bytes;
            done += frames as u64;
            if self.realtime {
                pace(start, done, f64::from(self.rate));
            }
        }
    }
}

/// A WAV file, decoded by the runtime when opened (so a bad file fails at start-up, named),
/// then played into the queue.
#[derive(Debug)]
pub struct WavSource {
    path: PathBuf,
    rate: u32,
    samples: Vec<f32>,
    realtime: bool,
}

impl WavSource {
    pub fn new(path: &Path, realtime: bool) -> Result<Self, CaptureError> {
        let audio = mmv_runtime::ingest::wav::read(path)?;
        Ok(Self {
            path: path.to_path_buf(),
            rate: audio.sample_rate,
            samples: audio.samples,
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
        let wait = (!self.realtime).then_some(stop);
        let start = Instant::now();
        let mut done = 0u64;
        for block in self.samples.chunks(BLOCK_FRAMES) {
            if stop.load(Ordering::Relaxed) {
                return Ok(RunEnd::Stopped);
            }
            tx.write_interleaved(block, 1, wait);
            done += block.len() as u64;
            if self.realtime {
                pace(start, done, f64::from(self.rate));
            }
        }
        tx.end_of_stream(wait);
        Ok(RunEnd::Ended)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::audio_channel;
    use std::time::Duration;

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
            loop {
                match rx.pop() {
                    Some(c) => {
                        assert_eq!(c.start as usize, got.len(), "no gaps");
                        got.extend_from_slice(c.samples());
                        if c.end {
                            return got;
                        }
                    }
                    None => std::thread::sleep(Duration::from_millis(1)),
                }
            }
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

    /// A WAV file of `samples` (interleaved), 16-bit or float.
    fn wav<S: hound::Sample + Copy>(path: &Path, channels: u16, float: bool, samples: &[S]) {
        let spec = hound::WavSpec {
            channels,
            sample_rate: 8000,
            bits_per_sample: if float { 32 } else { 16 },
            sample_format: if float {
                hound::SampleFormat::Float
            } else {
                hound::SampleFormat::Int
            },
        };
        let mut w = hound::WavWriter::create(path, spec).expect("create");
        for &v in samples {
            w.write_sample(v).expect("sample");
        }
        w.finalize().expect("finalize");
    }

    #[test]
    fn wav_is_the_runtime_s_mono_decoding() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.wav");
        let stereo: Vec<i16> = (0..300i16).flat_map(|i| [i * 10, i * 30]).collect();
        wav(&path, 2, false, &stereo);
        let (tx, rx) = audio_channel();
        let mut src = WavSource::new(&path, false).expect("new");
        assert_eq!(src.sample_rate(), 8000);
        tx.begin(8000);
        src.run(&tx, &AtomicBool::new(false)).expect("run");
        let mut got = Vec::new();
        while let Some(c) = rx.pop() {
            got.extend_from_slice(c.samples());
        }
        let want = mmv_runtime::audio::read_wav(&path)
            .expect("runtime")
            .samples;
        assert_eq!(got, want);
        assert!((got[100] - 2000.0 / 32768.0).abs() < 1e-6);

        // What the runtime refuses, the daemon refuses, naming the file.
        wav(&path, 1, true, &[f32::NAN]);
        let e = WavSource::new(&path, false).expect_err("NaN").to_string();
        assert!(e.contains("s.wav") && e.contains("non-finite"), "{e}");
    }
}
