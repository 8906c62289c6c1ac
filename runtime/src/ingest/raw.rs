//! Headerless video: frames of one camera pixel format back to back (a V4L2 capture dump,
//! `ffmpeg -f rawvideo -pix_fmt yuyv422`), whose size and rate the caller knows, since the
//! stream carries neither. A path may be a FIFO that another program writes.
//!
//! Frames come out in their own format ([`Picture::camera`]: YUYV, NV12, I420 and GRAY8 as
//! read, RGB24 as RGB), not converted to RGB: the model's front end reads them as they are (a
//! grey model the Y plane), and only what needs colour converts a frame.

use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use crate::frames::{Picture, PixelFormat};

use super::y4m::MAX_SIDE;
use super::{FrameSource, IngestError, NextFrame};

/// What a raw stream holds (it does not say so itself).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RawVideo {
    pub format: PixelFormat,
    pub width: usize,
    pub height: usize,
    /// Frames per second.
    pub fps: f64,
}

/// A streaming reader of fixed-size raw frames.
pub struct RawReader<R: Read> {
    reader: BufReader<R>,
    path: PathBuf,
    video: RawVideo,
    frame_len: usize,
    frames_read: u64,
    buf: Vec<u8>,
}

impl RawReader<std::fs::File> {
    /// Opens `path` (opening a FIFO waits for its writer).
    pub fn open(path: &Path, video: RawVideo) -> Result<Self, IngestError> {
        let file = std::fs::File::open(path).map_err(|source| IngestError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::new(file, path, video)
    }
}

impl<R: Read> RawReader<R> {
    /// Frames as `video` says; `path` names the source in errors. MJPEG has no fixed frame
    /// size: read it with [`super::mjpeg::MjpegReader`].
    pub fn new(reader: R, path: &Path, video: RawVideo) -> Result<Self, IngestError> {
        let bad = |problem: String| IngestError::Format {
            path: path.to_path_buf(),
            problem,
        };
        let RawVideo {
            format,
            width,
            height,
            fps,
        } = video;
        if !(1..=MAX_SIDE).contains(&width) || !(1..=MAX_SIDE).contains(&height) {
            return Err(bad(format!(
                "a raw frame size must be between 1 and {MAX_SIDE} a side, got {width}x{height}"
            )));
        }
        if width * height > crate::limits::MAX_FRAME_PIXELS {
            return Err(bad(format!(
                "a {width}x{height} frame is larger than {} pixels",
                crate::limits::MAX_FRAME_PIXELS
            )));
        }
        if format == PixelFormat::Yuyv && !width.is_multiple_of(2) {
            return Err(bad(format!(
                "a YUYV frame needs an even width, got {width}"
            )));
        }
        if !(fps.is_finite() && fps > 0.0) {
            return Err(bad(format!("the frame rate must be positive, got {fps}")));
        }
        let frame_len = format.frame_len(width, height).ok_or_else(|| {
            bad(format!(
                "{} frames have no fixed size; read them as an MJPEG stream",
                format.name()
            ))
        })?;
        Ok(Self {
            reader: BufReader::with_capacity(1 << 16, reader),
            path: path.to_path_buf(),
            video,
            frame_len,
            frames_read: 0,
            buf: Vec::with_capacity(frame_len),
        })
    }
}

impl<R: Read> FrameSource for RawReader<R> {
    fn fps(&self) -> f64 {
        self.video.fps
    }

    fn next_frame(&mut self, decode: bool) -> Result<NextFrame, IngestError> {
        self.buf.clear();
        // A decoded frame took the last buffer with it.
        self.buf.reserve_exact(self.frame_len);
        let got = (&mut self.reader)
            .take(self.frame_len as u64)
            .read_to_end(&mut self.buf)
            .map_err(|source| IngestError::Io {
                path: self.path.clone(),
                source,
            })?;
        let n = self.frames_read;
        if got == 0 {
            return Ok(NextFrame::End);
        }
        if got < self.frame_len {
            return Err(IngestError::Format {
                path: self.path.clone(),
                problem: format!(
                    "truncated: frame {n} has {got} of its {} bytes",
                    self.frame_len
                ),
            });
        }
        self.frames_read += 1;
        if !decode {
            return Ok(NextFrame::Skipped);
        }
        let RawVideo {
            format,
            width,
            height,
            ..
        } = self.video;
        // The bytes go with the frame, as read (the length was checked above).
        let data = std::mem::take(&mut self.buf);
        let picture =
            Picture::camera(format, data, width, height).map_err(|source| IngestError::Frame {
                path: self.path.clone(),
                source,
            })?;
        Ok(NextFrame::Frame(picture))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn video(format: PixelFormat, width: usize, height: usize, fps: f64) -> RawVideo {
        RawVideo {
            format,
            width,
            height,
            fps,
        }
    }

    fn reader(bytes: &[u8], format: PixelFormat, w: usize, h: usize) -> RawReader<&[u8]> {
        RawReader::new(bytes, Path::new("cam.raw"), video(format, w, h, 30.0)).unwrap()
    }

    #[test]
    fn reads_whole_frames_in_their_format() {
        // Two 4x2 YUYV frames (black, then white) and 3 stray bytes: a truncated third frame.
        let bytes = [
            [16u8, 128, 16, 128].repeat(4),
            [235u8, 128, 235, 128].repeat(4),
            vec![1, 2, 3],
        ]
        .concat();
        let mut r = reader(&bytes, PixelFormat::Yuyv, 4, 2);
        assert_eq!(r.fps(), 30.0);
        let NextFrame::Frame(black) = r.next_frame(true).unwrap() else {
            panic!("a frame")
        };
        assert!(
            matches!(&black, Picture::Camera(c) if c.format() == PixelFormat::Yuyv && c.data() == &bytes[..16]),
            "{black:?}"
        );
        assert_eq!((black.width(), black.height()), (4, 2));
        assert_eq!(black.to_rgb().unwrap().data, vec![0; 24]);
        assert!(matches!(r.next_frame(false).unwrap(), NextFrame::Skipped));
        let e = r.next_frame(true).unwrap_err().to_string();
        assert!(
            e.contains("cam.raw") && e.contains("truncated: frame 2"),
            "{e}"
        );
        let mut grey = reader(&[9, 9], PixelFormat::Gray8, 2, 1);
        assert!(matches!(
            grey.next_frame(true).unwrap(),
            NextFrame::Frame(Picture::Camera(_))
        ));
        let mut rgb = reader(&[1, 2, 3], PixelFormat::Rgb24, 1, 1);
        assert!(matches!(
            rgb.next_frame(true).unwrap(),
            NextFrame::Frame(Picture::Rgb(f)) if f.data == [1, 2, 3]
        ));
        assert!(matches!(grey.next_frame(true).unwrap(), NextFrame::End));
    }

    /// A raw YUYV stream reaches the model's front end as YUYV: a grey model's input is
    /// `preprocess_camera` of the bytes read (the Y plane), which the RGB path does not give.
    #[test]
    fn yuyv_frames_preprocess_from_the_y_plane() {
        use crate::frames::{
            FrameSpec, preprocess_camera, preprocess_picture, preprocess_rgb8, rgb_to_yuv, to_rgb8,
        };
        let (w, h) = (48, 36);
        // Colour edges: the RGB conversion clips there, the Y plane does not.
        let frame: Vec<u8> = (0..w * h / 2)
            .flat_map(|i| {
                let rgb = if (i / 3) % 2 == 0 {
                    [235, 30, 20]
                } else {
                    [10, 90, 240]
                };
                let [y, u, v] = rgb_to_yuv(rgb);
                [y, u, y.saturating_sub((i % 7) as u8), v]
            })
            .collect();
        let bytes = frame.repeat(2);
        let spec = FrameSpec {
            mean: vec![0.45],
            std: vec![0.25],
            ..FrameSpec::unnormalized(16, 16, 1)
        };
        let mut r = reader(&bytes, PixelFormat::Yuyv, w, h);
        let NextFrame::Frame(picture) = r.next_frame(true).unwrap() else {
            panic!("a frame")
        };
        let got = preprocess_picture(&picture, &spec).unwrap();
        assert_eq!(
            got,
            preprocess_camera(PixelFormat::Yuyv, &frame, w, h, &spec).unwrap()
        );
        let rgb = to_rgb8(PixelFormat::Yuyv, &frame, w, h).unwrap();
        assert_ne!(got, preprocess_rgb8(&rgb, w, h, &spec).unwrap());
        assert!(matches!(r.next_frame(true).unwrap(), NextFrame::Frame(_)));
        assert!(matches!(r.next_frame(true).unwrap(), NextFrame::End));
    }

    #[test]
    fn bad_settings_are_clear_errors() {
        let p = Path::new("cam.raw");
        for (format, w, h, fps, want) in [
            (PixelFormat::Yuyv, 3, 2, 30.0, "even width"),
            (PixelFormat::Gray8, 0, 2, 30.0, "between 1 and"),
            (PixelFormat::Gray8, 2, 2, 0.0, "frame rate"),
            (PixelFormat::Mjpeg, 2, 2, 30.0, "MJPEG stream"),
        ] {
            let e = RawReader::new(&[][..], p, video(format, w, h, fps))
                .err()
                .expect("an error")
                .to_string();
            assert!(e.contains(want), "{e}");
        }
    }
}
