//! The microphone through cpal (ALSA on Linux).
//!
//! The stream is opened with exactly the configured rate, channels, sample format and a fixed
//! period size, without querying the device's supported configs first: a query opens the PCM
//! once more, which a FIFO-backed test device (and some USB devices) do not survive. The data
//! callback only downmixes into the shared [`AudioTx`]: no allocation, no lock waits.
//!
//! Device loss shows up as an error callback, as silence on the data path (a stream that stops
//! calling back), or as data far faster than the sample rate (a PCM whose clock or source broke:
//! ALSA's `file` plugin does this when its FIFO's writer goes away). Each ends `run` with an
//! error, and the supervisor reopens the device.

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};

use super::file_audio::RawFormat;
use super::{AudioSource, AudioTx, CaptureError, RunEnd};

/// An ALSA capture device.
#[derive(Debug)]
pub struct CpalMic {
    name: String,
    device: String,
    rate: u32,
    channels: u16,
    format: RawFormat,
    buffer_frames: u32,
    stall: Duration,
    xruns: Arc<AtomicU64>,
}

impl CpalMic {
    /// `device`: an ALSA PCM name ("default", "hw:1,0", ...). `stall`: how long without data
    /// counts as a lost device.
    pub fn new(
        device: &str,
        rate: u32,
        channels: u16,
        format: RawFormat,
        buffer_frames: u32,
        stall: Duration,
    ) -> Self {
        Self {
            name: format!("alsa {device}"),
            device: device.into(),
            rate,
            channels: channels.max(1),
            format,
            buffer_frames,
            stall,
            xruns: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Overruns reported by the driver and recovered from (the audio they cost is lost).
    pub fn xruns(&self) -> u64 {
        self.xruns.load(Ordering::Relaxed)
    }

    fn open_device(&self) -> Result<cpal::Device, CaptureError> {
        let host = cpal::default_host();
        let device = if self.device == "default" {
            host.default_input_device()
        } else {
            cpal::DeviceId::from_str(&format!("alsa:{}", self.device))
                .ok()
                .and_then(|id| host.device_by_id(&id))
        };
        device.ok_or_else(|| CaptureError::device(&self.name, "no such capture device"))
    }
}

impl AudioSource for CpalMic {
    fn describe(&self) -> String {
        format!(
            "ALSA {} ({} Hz, {} ch, {:?}, {}-frame periods)",
            self.device, self.rate, self.channels, self.format, self.buffer_frames
        )
    }

    fn sample_rate(&self) -> u32 {
        self.rate
    }

    fn run(&mut self, tx: &AudioTx, stop: &AtomicBool) -> Result<RunEnd, CaptureError> {
        let device = self.open_device()?;
        let config = cpal::StreamConfig {
            channels: self.channels,
            sample_rate: self.rate,
            buffer_size: cpal::BufferSize::Fixed(self.buffer_frames),
        };
        // Fatal errors travel to this thread; the channel is bounded and `try_send` never
        // blocks the driver's thread.
        let (err_tx, err_rx) = mpsc::sync_channel::<String>(4);
        let xruns = self.xruns.clone();
        let on_error = move |e: cpal::Error| match e.kind() {
            // Recovered by cpal (the PCM is re-prepared); only counted.
            cpal::ErrorKind::Xrun => {
                xruns.fetch_add(1, Ordering::Relaxed);
            }
            cpal::ErrorKind::DeviceChanged | cpal::ErrorKind::RealtimeDenied => {}
            _ => {
                let _ = err_tx.try_send(e.to_string());
            }
        };
        let channels = usize::from(self.channels);
        let data_tx = tx.clone();
        let fail = |e: cpal::Error| CaptureError::device(&self.name, e.to_string());
        let stream = match self.format {
            RawFormat::S16 => device.build_input_stream::<i16, _, _>(
                config,
                move |data: &[i16], _: &cpal::InputCallbackInfo| {
                    data_tx.write_interleaved(data, channels, None)
                },
                on_error,
                None,
            ),
            RawFormat::F32 => device.build_input_stream::<f32, _, _>(
                config,
                move |data: &[f32], _: &cpal::InputCallbackInfo| {
                    data_tx.write_interleaved(data, channels, None)
                },
                on_error,
                None,
            ),
        }
        .map_err(fail)?;
        stream.play().map_err(fail)?;
        let (mut window_start, mut window_count) = (std::time::Instant::now(), tx.written());
        loop {
            if stop.load(Ordering::Relaxed) {
                return Ok(RunEnd::Stopped);
            }
            match err_rx.recv_timeout(Duration::from_millis(50)) {
                Ok(message) => return Err(CaptureError::device(&self.name, message)),
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(CaptureError::device(&self.name, "stream closed"));
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            let elapsed = window_start.elapsed();
            if elapsed >= Duration::from_secs(1) {
                let n = tx.written() - window_count;
                // Twice the rate, plus a few buffers of start-up burst.
                let limit = 2.0 * f64::from(self.rate) * elapsed.as_secs_f64()
                    + 8.0 * f64::from(self.buffer_frames);
                if n as f64 > limit {
                    return Err(CaptureError::device(
                        &self.name,
                        format!(
                            "delivers {:.0} samples/s at a nominal {} Hz: its clock or source is broken",
                            n as f64 / elapsed.as_secs_f64(),
                            self.rate
                        ),
                    ));
                }
                (window_start, window_count) = (std::time::Instant::now(), tx.written());
            }
            let idle = tx.idle_for();
            if idle > self.stall {
                return Err(CaptureError::Stalled {
                    source_name: self.name.clone(),
                    stalled: idle,
                });
            }
        }
    }
}
