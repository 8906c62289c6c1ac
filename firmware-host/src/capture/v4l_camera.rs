//! A V4L2 camera (UVC webcams, CSI cameras with a V4L2 driver) through the `v4l` crate, in
//! MJPEG or YUYV at a chosen size and rate, read with memory-mapped buffers. It is a runtime
//! `FrameSource` like the file readers, stamped with the driver's clock: YUYV frames come out
//! as YUYV (`mmv_runtime::frames::Picture::camera`, copied out of the driver's buffer, not
//! converted: the model's front end reads the Y plane), MJPEG frames decoded to RGB.
//!
//! The driver may round the size and rate; the camera logs what it actually got. A pixel format
//! the device refuses is an error (no silent fallback: the conversion would then be wrong).

use std::path::{Path, PathBuf};
use std::time::Duration;

use mmv_runtime::frames::{Picture, PixelFormat};
use v4l::FourCC;
use v4l::buffer::Type;
use v4l::io::traits::CaptureStream;
use v4l::prelude::{Device, MmapStream};
use v4l::video::Capture;
use v4l::video::capture::Parameters;

use super::{CaptureError, FrameSource, IngestError, NextFrame};
use crate::config::V4lFormat;

/// Driver buffers: enough to ride out a slow inference step without the driver dropping.
const BUFFERS: u32 = 4;

pub struct V4lCamera {
    path: PathBuf,
    stream: MmapStream<'static>,
    // Kept open for the stream's lifetime.
    _device: Device,
    width: u32,
    height: u32,
    format: PixelFormat,
    fps: f32,
    first_timestamp: Option<Duration>,
    timestamp: Option<Duration>,
}

impl std::fmt::Debug for V4lCamera {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("V4lCamera")
            .field("path", &self.path)
            .field("size", &(self.width, self.height))
            .field("format", &self.format)
            .field("fps", &self.fps)
            .finish()
    }
}

impl V4lCamera {
    pub fn open(
        path: &Path,
        format: V4lFormat,
        width: u32,
        height: u32,
        fps: f32,
    ) -> Result<Self, CaptureError> {
        let name = format!("v4l {}", path.display());
        let io = |e| CaptureError::io(&name, e);
        let device = Device::with_path(path).map_err(io)?;
        let (fourcc, pixel) = match format {
            V4lFormat::Mjpeg => (FourCC::new(b"MJPG"), PixelFormat::Mjpeg),
            V4lFormat::Yuyv => (FourCC::new(b"YUYV"), PixelFormat::Yuyv),
        };
        let mut wanted = device.format().map_err(io)?;
        wanted.width = width;
        wanted.height = height;
        wanted.fourcc = fourcc;
        let got = device.set_format(&wanted).map_err(io)?;
        if got.fourcc != fourcc {
            return Err(CaptureError::unsupported(
                &name,
                format!("asked for {fourcc}, the device gives {}", got.fourcc),
            ));
        }
        let rounded = fps.round().clamp(1.0, 1000.0) as u32;
        let actual_fps = match device.set_params(&Parameters::with_fps(rounded)) {
            Ok(p) if p.interval.numerator > 0 => {
                p.interval.denominator as f32 / p.interval.numerator as f32
            }
            Ok(_) => fps,
            Err(e) => {
                tracing::warn!(device = %path.display(), error = %e, "cannot set the frame rate");
                fps
            }
        };
        if (got.width, got.height) != (width, height) {
            tracing::warn!(
                device = %path.display(),
                asked = %format!("{width}x{height}"),
                got = %format!("{}x{}", got.width, got.height),
                "the driver changed the frame size"
            );
        }
        let stream = MmapStream::with_buffers(&device, Type::VideoCapture, BUFFERS).map_err(io)?;
        Ok(Self {
            path: path.to_path_buf(),
            stream,
            _device: device,
            width: got.width,
            height: got.height,
            format: pixel,
            fps: actual_fps,
            first_timestamp: None,
            timestamp: None,
        })
    }
}

impl V4lCamera {
    /// For logs: the device and what it delivers.
    pub fn describe(&self) -> String {
        format!(
            "{} ({} {}x{} at {} fps)",
            self.path.display(),
            self.format.name(),
            self.width,
            self.height,
            self.fps
        )
    }
}

impl FrameSource for V4lCamera {
    fn fps(&self) -> f64 {
        f64::from(self.fps)
    }

    fn next_frame(&mut self, decode: bool) -> Result<NextFrame, IngestError> {
        let path = &self.path;
        let (buf, meta) = self.stream.next().map_err(|source| IngestError::Io {
            path: path.clone(),
            source,
        })?;
        let used = (meta.bytesused as usize).min(buf.len());
        let data = if used > 0 { &buf[..used] } else { buf };
        // The driver's timestamps (monotonic clock) give the true spacing of frames even when
        // this thread was late to pick them up.
        let ts = Duration::new(
            u64::try_from(meta.timestamp.sec).unwrap_or(0),
            u32::try_from(meta.timestamp.usec).unwrap_or(0).min(999_999) * 1000,
        );
        let first = *self.first_timestamp.get_or_insert(ts);
        self.timestamp = Some(ts.saturating_sub(first));
        if !decode {
            return Ok(NextFrame::Skipped);
        }
        // A frame that cannot be converted (a corrupt JPEG) is a bad frame, not a lost device:
        // `IngestError::Frame` tells the capture thread to skip it.
        let (w, h) = (self.width as usize, self.height as usize);
        // The driver reuses its buffer, so the frame is copied out (as read, 2 bytes a pixel).
        let picture = Picture::camera(self.format, data.to_vec(), w, h).map_err(|source| {
            IngestError::Frame {
                path: path.clone(),
                source,
            }
        })?;
        Ok(NextFrame::Frame(picture))
    }

    fn timestamp(&self) -> Option<Duration> {
        self.timestamp
    }
}
