//! Raw MJPEG streams (`.mjpeg`, `.mjpg`): JPEG images back to back, as a camera's MJPEG mode
//! or `ffmpeg -f mjpeg` writes them. The stream has no timing, so the frame rate is an option
//! (ffmpeg assumes 25 fps for such files, and so do we by default).
//!
//! Frames are split by walking the JPEG marker structure rather than searching for the end
//! marker `FF D9`, which also occurs inside an EXIF thumbnail: segments are skipped by their
//! lengths, and only entropy-coded data is scanned, where a data `FF` is always followed by a
//! stuffed `00` or a restart marker.

use std::io::{BufReader, ErrorKind, Read};
use std::path::{Path, PathBuf};

use crate::frames::decode_jpeg;

use super::{FrameSource, IngestError, NextFrame};

/// Largest frame accepted: a stream that never ends its JPEG must not exhaust memory.
pub const MAX_FRAME_BYTES: usize = crate::limits::MAX_MJPEG_FRAME_BYTES;
/// The frame rate assumed for MJPEG streams, as ffmpeg does.
pub const DEFAULT_FPS: f64 = 25.0;

/// A streaming MJPEG reader.
pub struct MjpegReader<R: Read> {
    reader: BufReader<R>,
    path: PathBuf,
    fps: f64,
    frames_read: u64,
    frame: Vec<u8>,
}

impl MjpegReader<std::fs::File> {
    pub fn open(path: &Path, fps: f64) -> Result<Self, IngestError> {
        let file = std::fs::File::open(path).map_err(|source| IngestError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::new(file, path, fps)
    }
}

impl<R: Read> MjpegReader<R> {
    pub fn new(reader: R, path: &Path, fps: f64) -> Result<Self, IngestError> {
        if !(fps.is_finite() && fps > 0.0) {
            return Err(IngestError::Format {
                path: path.to_path_buf(),
                problem: format!("MJPEG frame rate must be positive, got {fps}"),
            });
        }
        Ok(Self {
            reader: BufReader::with_capacity(1 << 16, reader),
            path: path.to_path_buf(),
            fps,
            frames_read: 0,
            frame: Vec::new(),
        })
    }

    fn bad(&self, problem: String) -> IngestError {
        IngestError::Format {
            path: self.path.clone(),
            problem,
        }
    }

    /// One byte, or None at the end of the stream.
    fn byte(&mut self) -> Result<Option<u8>, IngestError> {
        let mut b = [0u8];
        loop {
            return match self.reader.read(&mut b) {
                Ok(0) => Ok(None),
                Ok(_) => {
                    if self.frame.len() >= MAX_FRAME_BYTES {
                        return Err(self.bad(format!(
                            "frame {} is larger than {MAX_FRAME_BYTES} bytes: not an MJPEG stream?",
                            self.frames_read
                        )));
                    }
                    self.frame.push(b[0]);
                    Ok(Some(b[0]))
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(source) => Err(IngestError::Io {
                    path: self.path.clone(),
                    source,
                }),
            };
        }
    }

    /// A byte inside a frame: the end of the stream here is a truncated frame.
    fn need(&mut self) -> Result<u8, IngestError> {
        self.byte()?.ok_or_else(|| {
            self.bad(format!(
                "truncated: the stream ends inside frame {}",
                self.frames_read
            ))
        })
    }

    /// Reads the next JPEG into `self.frame`; false at a clean end of stream.
    fn read_jpeg(&mut self) -> Result<bool, IngestError> {
        self.frame.clear();
        // Between frames some writers leave padding; skip anything before the next SOI.
        let mut skipped = 0usize;
        loop {
            let Some(b) = self.byte()? else {
                if self.frames_read == 0 {
                    let what = if skipped == 0 {
                        "an empty file"
                    } else {
                        "no JPEG image in the stream"
                    };
                    return Err(self.bad(format!("{what}, not an MJPEG stream")));
                }
                return Ok(false);
            };
            if b == 0xFF && self.need()? == 0xD8 {
                break;
            }
            skipped += 1;
            self.frame.clear();
            if self.frames_read == 0 && skipped > 1024 {
                return Err(self.bad("not an MJPEG stream (no JPEG start marker)".into()));
            }
        }
        self.frame.clear();
        self.frame.extend_from_slice(&[0xFF, 0xD8]);
        let mut marker = self.next_marker()?;
        loop {
            match marker {
                0xD9 => return Ok(true),
                0xD8 => {
                    return Err(self.bad(format!(
                        "frame {} has a nested start marker",
                        self.frames_read
                    )));
                }
                0x01 | 0xD0..=0xD7 => marker = self.next_marker()?,
                _ => {
                    let len = usize::from(self.need()?) << 8 | usize::from(self.need()?);
                    if len < 2 {
                        return Err(self.bad(format!(
                            "frame {}: a segment length of {len}",
                            self.frames_read
                        )));
                    }
                    for _ in 2..len {
                        self.need()?;
                    }
                    marker = if marker == 0xDA {
                        self.scan_entropy_data()?
                    } else {
                        self.next_marker()?
                    };
                }
            }
        }
    }

    /// The next marker code after a segment: `FF` (any fill `FF`s), then the code.
    fn next_marker(&mut self) -> Result<u8, IngestError> {
        if self.need()? != 0xFF {
            return Err(self.bad(format!(
                "frame {} is corrupt (a marker was expected)",
                self.frames_read
            )));
        }
        loop {
            match self.need()? {
                0xFF => {}
                code => return Ok(code),
            }
        }
    }

    /// Skips entropy-coded data after a start-of-scan; returns the marker that ends it.
    fn scan_entropy_data(&mut self) -> Result<u8, IngestError> {
        loop {
            if self.need()? != 0xFF {
                continue;
            }
            let mut code = self.need()?;
            while code == 0xFF {
                code = self.need()?;
            }
            match code {
                0x00 | 0xD0..=0xD7 => {}
                code => return Ok(code),
            }
        }
    }
}

impl<R: Read> FrameSource for MjpegReader<R> {
    fn fps(&self) -> f64 {
        self.fps
    }

    fn next_frame(&mut self, decode: bool) -> Result<NextFrame, IngestError> {
        if !self.read_jpeg()? {
            return Ok(NextFrame::End);
        }
        let n = self.frames_read;
        self.frames_read += 1;
        if !decode {
            return Ok(NextFrame::Skipped);
        }
        let frame = decode_jpeg(&self.frame).map_err(|source| IngestError::Format {
            path: self.path.clone(),
            problem: format!("frame {n}: {source}"),
        })?;
        Ok(NextFrame::Frame(frame.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frames::encode_jpeg;

    fn jpeg(v: u8) -> Vec<u8> {
        let rgb: Vec<u8> = (0..8 * 8)
            .flat_map(|i| [v, (i * 3) as u8, 255 - v])
            .collect();
        encode_jpeg(&rgb, 8, 8, 90).unwrap()
    }

    fn read_all(bytes: &[u8]) -> Result<Vec<Option<crate::frames::RgbFrame>>, IngestError> {
        let mut r = MjpegReader::new(bytes, Path::new("t.mjpeg"), DEFAULT_FPS)?;
        let mut out = Vec::new();
        loop {
            match r.next_frame(out.len() != 1)? {
                NextFrame::End => return Ok(out),
                NextFrame::Skipped => out.push(None),
                NextFrame::Frame(f) => out.push(Some(f.to_rgb().unwrap().into_owned())),
            }
        }
    }

    #[test]
    fn splits_concatenated_jpegs() {
        let (a, b, c) = (jpeg(10), jpeg(120), jpeg(250));
        // An EXIF-like APP1 segment holding a fake thumbnail (its own FFD8..FFD9) in frame b.
        let mut b_exif = vec![
            0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x08, 0xFF, 0xD8, 0xFF, 0xD9, 0, 0,
        ];
        b_exif.extend_from_slice(&b[2..]);
        let stream = [a.clone(), vec![0, 0, 0], b_exif, c.clone()].concat();
        let frames = read_all(&stream).unwrap();
        assert_eq!(frames.len(), 3);
        assert!(frames[1].is_none());
        let first = frames[0].as_ref().unwrap();
        assert_eq!((first.width, first.height), (8, 8));
        assert!(first.data[0].abs_diff(10) < 8);
        assert!(frames[2].as_ref().unwrap().data[0].abs_diff(250) < 8);
    }

    #[test]
    fn bad_streams_are_clear_errors() {
        let a = jpeg(10);
        let e = read_all(&[a.clone(), a[..a.len() / 2].to_vec()].concat())
            .unwrap_err()
            .to_string();
        assert!(e.contains("t.mjpeg") && e.contains("truncated"), "{e}");
        let e = read_all(&[0u8; 5000]).unwrap_err().to_string();
        assert!(e.contains("not an MJPEG stream"), "{e}");
        let e = read_all(b"").unwrap_err().to_string();
        assert!(e.contains("an empty file"), "{e}");
        // Structurally complete but undecodable: a frame that is only SOI + EOI.
        let e = read_all(&[0xFF, 0xD8, 0xFF, 0xD9]).unwrap_err().to_string();
        assert!(e.contains("frame 0"), "{e}");
        // Garbage where a marker should be.
        let e = read_all(&[0xFF, 0xD8, 0x12, 0x34]).unwrap_err().to_string();
        assert!(e.contains("corrupt"), "{e}");
        assert!(MjpegReader::new(&[][..], Path::new("x"), 0.0).is_err());
    }
}
