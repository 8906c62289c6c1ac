//! File-backed cameras: Y4M, a stream of concatenated JPEGs (MJPEG, as `ffmpeg -f mjpeg` writes
//! it) and raw YUYV. A path may be a FIFO, so another process can play the camera live; when
//! its writer goes away the source ends (or errors, mid-frame) like an unplugged camera.
//!
//! Replays run as fast as the consumer takes them unless `realtime` paces them at their rate.

use std::fs::File;
use std::io::{BufRead, BufReader, ErrorKind, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{CaptureError, Frame, FrameSource, PixelFormat};

/// Largest JPEG accepted in an MJPEG stream; a stream without an end marker fails instead of
/// eating memory.
const MAX_JPEG_BYTES: usize = 16 << 20;
/// Largest frame side accepted from a header.
const MAX_SIDE: u32 = 8192;

/// Sleeps so that frame `seq` is not delivered before `seq / fps` seconds after the start.
#[derive(Debug)]
struct Pacer {
    start: Instant,
    fps: Option<f32>,
}

impl Pacer {
    fn new(realtime: bool, fps: f32) -> Self {
        Self {
            start: Instant::now(),
            fps: (realtime && fps > 0.0).then_some(fps),
        }
    }
    fn wait(&self, seq: u64) {
        if let Some(fps) = self.fps {
            let due = self.start + Duration::from_secs_f64(seq as f64 / f64::from(fps));
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
    }
}

fn open(path: &Path, name: &str) -> Result<BufReader<File>, CaptureError> {
    // Opening a FIFO blocks until a writer appears: that is the "camera plugged in" moment.
    File::open(path)
        .map(|f| BufReader::with_capacity(1 << 16, f))
        .map_err(|e| CaptureError::io(name, e))
}

/// Reads exactly `buf.len()` bytes; `Ok(false)` on a clean end of stream before the first byte.
fn read_all_or_eof<R: Read>(r: &mut R, buf: &mut [u8], name: &str) -> Result<bool, CaptureError> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) if filled == 0 => return Ok(false),
            Ok(0) => {
                return Err(CaptureError::format(
                    name,
                    format!(
                        "stream ended inside a frame ({filled} of {} bytes)",
                        buf.len()
                    ),
                ));
            }
            Ok(n) => filled += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(CaptureError::io(name, e)),
        }
    }
    Ok(true)
}

fn pts(seq: u64, fps: f32) -> Duration {
    if fps > 0.0 {
        Duration::from_secs_f64(seq as f64 / f64::from(fps))
    } else {
        Duration::ZERO
    }
}

/// Y4M colour layouts this reader accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Y4mColour {
    I420,
    Mono,
    Yuv444,
}

/// A YUV4MPEG2 file: `C420*` (delivered as I420), `Cmono` (grey) and `C444` (converted to RGB).
#[derive(Debug)]
pub struct Y4mSource {
    path: PathBuf,
    name: String,
    reader: BufReader<File>,
    width: u32,
    height: u32,
    fps: f32,
    colour: Y4mColour,
    seq: u64,
    pacer: Pacer,
}

impl Y4mSource {
    pub fn open(path: &Path, realtime: bool) -> Result<Self, CaptureError> {
        let name = format!("y4m {}", path.display());
        let mut reader = open(path, &name)?;
        let mut header = Vec::new();
        read_line(&mut reader, &mut header, 4096, &name)?;
        let text = String::from_utf8_lossy(&header);
        let mut words = text.split_ascii_whitespace();
        if words.next() != Some("YUV4MPEG2") {
            return Err(CaptureError::format(&name, "not a YUV4MPEG2 file"));
        }
        let (mut width, mut height, mut fps, mut colour) = (0u32, 0u32, 0f32, Y4mColour::I420);
        for w in words {
            let (tag, value) = w.split_at(1);
            match tag {
                "W" => width = value.parse().unwrap_or(0),
                "H" => height = value.parse().unwrap_or(0),
                "F" => {
                    let mut parts = value.split(':');
                    let num: f32 = parts.next().and_then(|v| v.parse().ok()).unwrap_or(0.0);
                    let den: f32 = parts.next().and_then(|v| v.parse().ok()).unwrap_or(1.0);
                    fps = if den > 0.0 { num / den } else { 0.0 };
                }
                "C" => {
                    colour = if value.starts_with("420") {
                        Y4mColour::I420
                    } else if value == "mono" {
                        Y4mColour::Mono
                    } else if value == "444" {
                        Y4mColour::Yuv444
                    } else {
                        return Err(CaptureError::unsupported(
                            &name,
                            format!("Y4M colour space C{value} (use 420, 444 or mono)"),
                        ));
                    }
                }
                _ => {}
            }
        }
        if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
            return Err(CaptureError::format(
                &name,
                format!("bad frame size {width}x{height}"),
            ));
        }
        if !fps.is_finite() || fps < 0.0 {
            fps = 0.0;
        }
        Ok(Self {
            path: path.to_path_buf(),
            name,
            reader,
            width,
            height,
            fps,
            colour,
            seq: 0,
            pacer: Pacer::new(realtime, fps),
        })
    }

    fn frame_bytes(&self) -> usize {
        let (w, h) = (self.width as usize, self.height as usize);
        match self.colour {
            Y4mColour::I420 => w * h + 2 * (w.div_ceil(2) * h.div_ceil(2)),
            Y4mColour::Mono => w * h,
            Y4mColour::Yuv444 => w * h * 3,
        }
    }
}

/// Reads one `\n`-terminated line (without it); `Ok(false)` at a clean end of stream.
fn read_line<R: BufRead>(
    r: &mut R,
    line: &mut Vec<u8>,
    max: usize,
    name: &str,
) -> Result<bool, CaptureError> {
    line.clear();
    let n = r
        .by_ref()
        .take(max as u64 + 1)
        .read_until(b'\n', line)
        .map_err(|e| CaptureError::io(name, e))?;
    if n == 0 {
        return Ok(false);
    }
    if line.last() != Some(&b'\n') {
        return Err(CaptureError::format(
            name,
            if n > max {
                "header line too long".to_string()
            } else {
                "stream ended inside a header".to_string()
            },
        ));
    }
    line.pop();
    Ok(true)
}

impl FrameSource for Y4mSource {
    fn describe(&self) -> String {
        format!(
            "{} ({}x{} at {} fps, {:?})",
            self.path.display(),
            self.width,
            self.height,
            self.fps,
            self.colour
        )
    }

    fn nominal_fps(&self) -> Option<f32> {
        (self.fps > 0.0).then_some(self.fps)
    }

    fn next_frame(&mut self) -> Result<Option<Frame>, CaptureError> {
        let mut line = Vec::new();
        if !read_line(&mut self.reader, &mut line, 1024, &self.name)? {
            return Ok(None);
        }
        if !line.starts_with(b"FRAME") {
            return Err(CaptureError::format(&self.name, "missing FRAME marker"));
        }
        let mut data = vec![0u8; self.frame_bytes()];
        if !read_all_or_eof(&mut self.reader, &mut data, &self.name)? {
            return Err(CaptureError::format(&self.name, "stream ended after FRAME"));
        }
        let (format, data) = match self.colour {
            Y4mColour::I420 => (PixelFormat::I420, data),
            Y4mColour::Mono => (PixelFormat::Gray8, data),
            Y4mColour::Yuv444 => {
                let n = (self.width * self.height) as usize;
                let rgb = (0..n)
                    .flat_map(|i| super::convert::yuv_to_rgb(data[i], data[n + i], data[2 * n + i]))
                    .collect();
                (PixelFormat::Rgb8, rgb)
            }
        };
        self.pacer.wait(self.seq);
        let frame = Frame {
            seq: self.seq,
            epoch: 0,
            pts: pts(self.seq, self.fps),
            captured: Instant::now(),
            width: self.width,
            height: self.height,
            format,
            data,
        };
        self.seq += 1;
        Ok(Some(frame))
    }
}

/// Raw packed YUYV frames back to back (`ffmpeg -pix_fmt yuyv422 -f rawvideo`).
#[derive(Debug)]
pub struct RawYuyvSource {
    path: PathBuf,
    name: String,
    reader: BufReader<File>,
    width: u32,
    height: u32,
    fps: f32,
    seq: u64,
    pacer: Pacer,
}

impl RawYuyvSource {
    pub fn open(
        path: &Path,
        width: u32,
        height: u32,
        fps: f32,
        realtime: bool,
    ) -> Result<Self, CaptureError> {
        let name = format!("yuyv {}", path.display());
        if width == 0
            || height == 0
            || !width.is_multiple_of(2)
            || width > MAX_SIDE
            || height > MAX_SIDE
        {
            return Err(CaptureError::format(
                &name,
                format!("bad YUYV frame size {width}x{height} (width must be even)"),
            ));
        }
        Ok(Self {
            path: path.to_path_buf(),
            reader: open(path, &name)?,
            name,
            width,
            height,
            fps,
            seq: 0,
            pacer: Pacer::new(realtime, fps),
        })
    }
}

impl FrameSource for RawYuyvSource {
    fn describe(&self) -> String {
        format!(
            "{} (raw YUYV {}x{} at {} fps)",
            self.path.display(),
            self.width,
            self.height,
            self.fps
        )
    }

    fn nominal_fps(&self) -> Option<f32> {
        (self.fps > 0.0).then_some(self.fps)
    }

    fn next_frame(&mut self) -> Result<Option<Frame>, CaptureError> {
        let mut data = vec![0u8; (self.width * self.height * 2) as usize];
        if !read_all_or_eof(&mut self.reader, &mut data, &self.name)? {
            return Ok(None);
        }
        self.pacer.wait(self.seq);
        let frame = Frame {
            seq: self.seq,
            epoch: 0,
            pts: pts(self.seq, self.fps),
            captured: Instant::now(),
            width: self.width,
            height: self.height,
            format: PixelFormat::Yuyv,
            data,
        };
        self.seq += 1;
        Ok(Some(frame))
    }
}

/// Concatenated JPEG images (`ffmpeg -f mjpeg`, or `.mjpeg` dumps of a UVC camera). The frame
/// rate is not in the stream, so it is configured. Images are split by walking JPEG segments,
/// not by searching for FF D9, so embedded EXIF thumbnails do not cut a frame short.
#[derive(Debug)]
pub struct MjpegSource {
    path: PathBuf,
    name: String,
    reader: BufReader<File>,
    fps: f32,
    seq: u64,
    pacer: Pacer,
}

impl MjpegSource {
    pub fn open(path: &Path, fps: f32, realtime: bool) -> Result<Self, CaptureError> {
        let name = format!("mjpeg {}", path.display());
        Ok(Self {
            path: path.to_path_buf(),
            reader: open(path, &name)?,
            name,
            fps,
            seq: 0,
            pacer: Pacer::new(realtime, fps),
        })
    }
}

impl FrameSource for MjpegSource {
    fn describe(&self) -> String {
        format!("{} (MJPEG at {} fps)", self.path.display(), self.fps)
    }

    fn nominal_fps(&self) -> Option<f32> {
        (self.fps > 0.0).then_some(self.fps)
    }

    fn next_frame(&mut self) -> Result<Option<Frame>, CaptureError> {
        let Some((data, width, height)) = read_jpeg(&mut self.reader, &self.name)? else {
            return Ok(None);
        };
        self.pacer.wait(self.seq);
        let frame = Frame {
            seq: self.seq,
            epoch: 0,
            pts: pts(self.seq, self.fps),
            captured: Instant::now(),
            width,
            height,
            format: PixelFormat::Mjpeg,
            data,
        };
        self.seq += 1;
        Ok(Some(frame))
    }
}

fn next_byte<R: BufRead>(r: &mut R, name: &str) -> Result<Option<u8>, CaptureError> {
    loop {
        match r.fill_buf() {
            Ok([]) => return Ok(None),
            Ok(buf) => {
                let b = buf[0];
                r.consume(1);
                return Ok(Some(b));
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(CaptureError::io(name, e)),
        }
    }
}

/// Reads the next whole JPEG (SOI to EOI) and its size from the SOF header. `Ok(None)` at the
/// end of the stream (bytes before an SOI are skipped).
pub fn read_jpeg<R: BufRead>(
    r: &mut R,
    name: &str,
) -> Result<Option<(Vec<u8>, u32, u32)>, CaptureError> {
    let truncated = || CaptureError::format(name, "stream ended inside a JPEG");
    // Find SOI.
    let mut prev = 0u8;
    loop {
        let Some(b) = next_byte(r, name)? else {
            return Ok(None);
        };
        if prev == 0xFF && b == 0xD8 {
            break;
        }
        prev = b;
    }
    let mut out = vec![0xFF, 0xD8];
    let (mut width, mut height) = (0u32, 0u32);
    let mut pending_marker: Option<u8> = None;
    loop {
        if out.len() > MAX_JPEG_BYTES {
            return Err(CaptureError::format(name, "JPEG larger than 16 MiB"));
        }
        let marker = match pending_marker.take() {
            Some(m) => m,
            None => {
                let b = next_byte(r, name)?.ok_or_else(truncated)?;
                if b != 0xFF {
                    return Err(CaptureError::format(
                        name,
                        format!("expected a JPEG marker, found byte {b:#04x}"),
                    ));
                }
                let mut m = 0xFF;
                while m == 0xFF {
                    m = next_byte(r, name)?.ok_or_else(truncated)?;
                }
                m
            }
        };
        out.extend_from_slice(&[0xFF, marker]);
        match marker {
            0xD9 => break,
            0x01 | 0xD0..=0xD7 => continue,
            _ => {}
        }
        let hi = next_byte(r, name)?.ok_or_else(truncated)?;
        let lo = next_byte(r, name)?.ok_or_else(truncated)?;
        let len = usize::from(u16::from_be_bytes([hi, lo]));
        if len < 2 {
            return Err(CaptureError::format(name, "JPEG segment length below 2"));
        }
        out.extend_from_slice(&[hi, lo]);
        let start = out.len();
        out.resize(start + len - 2, 0);
        r.read_exact(&mut out[start..]).map_err(|e| {
            if e.kind() == ErrorKind::UnexpectedEof {
                truncated()
            } else {
                CaptureError::io(name, e)
            }
        })?;
        // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC): precision, height, width.
        if matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC) && len >= 7 {
            let seg = &out[start..];
            height = u32::from(u16::from_be_bytes([seg[1], seg[2]]));
            width = u32::from(u16::from_be_bytes([seg[3], seg[4]]));
        }
        if marker == 0xDA {
            // Entropy-coded data: FF 00 is a stuffed FF and FF D0-D7 are restart markers; any
            // other FF xx is the next real marker.
            loop {
                if out.len() > MAX_JPEG_BYTES {
                    return Err(CaptureError::format(name, "JPEG larger than 16 MiB"));
                }
                let b = next_byte(r, name)?.ok_or_else(truncated)?;
                if b != 0xFF {
                    out.push(b);
                    continue;
                }
                let mut n = next_byte(r, name)?.ok_or_else(truncated)?;
                while n == 0xFF {
                    n = next_byte(r, name)?.ok_or_else(truncated)?;
                }
                if n == 0x00 || (0xD0..=0xD7).contains(&n) {
                    out.extend_from_slice(&[0xFF, n]);
                } else {
                    pending_marker = Some(n);
                    break;
                }
            }
        }
    }
    if width == 0 || height == 0 {
        return Err(CaptureError::format(name, "JPEG without a frame header"));
    }
    Ok(Some((out, width, height)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn jpeg(w: u32, h: u32, shade: u8) -> Vec<u8> {
        let img = image::RgbImage::from_pixel(w, h, image::Rgb([shade, shade, shade]));
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
            .encode_image(&img)
            .expect("encode");
        out
    }

    #[test]
    fn y4m_frames_come_out_in_order_with_timestamps() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.y4m");
        let mut f = File::create(&path).expect("create");
        writeln!(f, "YUV4MPEG2 W4 H2 F10:1 Ip A1:1 C420jpeg").expect("w");
        for i in 0..3u8 {
            f.write_all(b"FRAME\n").expect("w");
            f.write_all(&[16 + i * 50; 8]).expect("y");
            f.write_all(&[128; 4]).expect("uv");
        }
        drop(f);
        let mut src = Y4mSource::open(&path, false).expect("open");
        assert_eq!(src.nominal_fps(), Some(10.0));
        let mut seen = Vec::new();
        while let Some(frame) = src.next_frame().expect("frame") {
            assert_eq!(
                (frame.width, frame.height, frame.format),
                (4, 2, PixelFormat::I420)
            );
            seen.push((frame.seq, frame.pts.as_millis(), frame.data[0]));
        }
        assert_eq!(seen, vec![(0, 0, 16), (1, 100, 66), (2, 200, 116)]);
    }

    #[test]
    fn truncated_y4m_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.y4m");
        std::fs::write(&path, b"YUV4MPEG2 W4 H2 F10:1\nFRAME\n\x10\x10").expect("write");
        let mut src = Y4mSource::open(&path, false).expect("open");
        assert!(matches!(src.next_frame(), Err(CaptureError::Format { .. })));
        std::fs::write(&path, b"RIFF....").expect("write");
        assert!(Y4mSource::open(&path, false).is_err());
        std::fs::write(&path, b"YUV4MPEG2 W4 H2 C422\n").expect("write");
        assert!(matches!(
            Y4mSource::open(&path, false),
            Err(CaptureError::Unsupported { .. })
        ));
    }

    #[test]
    fn mjpeg_stream_splits_on_segments() {
        let a = jpeg(16, 8, 30);
        let b = jpeg(8, 8, 220);
        let mut stream = b"junk".to_vec();
        stream.extend_from_slice(&a);
        stream.extend_from_slice(&b);
        let mut r = std::io::Cursor::new(stream);
        let (fa, wa, ha) = read_jpeg(&mut r, "t").expect("ok").expect("first");
        assert_eq!((fa.as_slice(), wa, ha), (a.as_slice(), 16, 8));
        let (fb, wb, hb) = read_jpeg(&mut r, "t").expect("ok").expect("second");
        assert_eq!((fb.as_slice(), wb, hb), (b.as_slice(), 8, 8));
        assert!(read_jpeg(&mut r, "t").expect("ok").is_none());
        // Cut short: an error, not a panic or a partial frame.
        let mut cut = std::io::Cursor::new(a[..a.len() - 10].to_vec());
        assert!(read_jpeg(&mut cut, "t").is_err());
    }

    #[test]
    fn raw_yuyv_reads_whole_frames() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.yuyv");
        std::fs::write(
            &path,
            [[16u8, 128, 235, 128].repeat(4), vec![1, 2, 3]].concat(),
        )
        .expect("write");
        let mut src = RawYuyvSource::open(&path, 4, 2, 30.0, false).expect("open");
        let f = src.next_frame().expect("ok").expect("frame");
        assert_eq!((f.format, f.data.len()), (PixelFormat::Yuyv, 16));
        assert!(
            src.next_frame().is_err(),
            "3 trailing bytes: a truncated frame"
        );
    }
}
