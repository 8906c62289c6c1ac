//! YUV4MPEG2 (`.y4m`): uncompressed frames behind a one-line text header, read natively, and
//! also the format ffmpeg pipes decoded video to us in (see [`super::ffmpeg`]).
//!
//! Header: `YUV4MPEG2 W<width> H<height> F<num>:<den> [I.] [A.] [C<colour>] [X<comment>]...`,
//! then per frame `FRAME[ params]\n` and the planes. Colour spaces read: `420jpeg`, `420paldv`,
//! `420mpeg2`, `420` (all 8-bit 4:2:0; the chroma siting differences are below what the
//! model sees), `422`, `444` and `mono`; `XCOLORRANGE=FULL` selects full-range YUV.
//!
//! Limited-range 4:2:0 frames (what ffmpeg pipes us) come out as I420 and full-range mono as
//! GRAY8, unconverted ([`Picture::Camera`]: a grey model's front end reads their Y plane); the
//! other colour spaces as RGB.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::path::{Path, PathBuf};

use crate::frames::{
    Picture, PixelFormat, RgbFrame, YuvLayout, YuvRange, rgb_to_yuv, yuv_planar_to_rgb8,
};

use super::{FrameSource, IngestError, NextFrame};

/// Largest frame side accepted (a corrupt header must not make us allocate gigabytes); see
/// [`crate::limits`].
pub const MAX_SIDE: usize = crate::limits::MAX_FRAME_SIDE;
/// Longest header or frame-header line.
const MAX_LINE: usize = crate::limits::MAX_Y4M_LINE;

/// How the planes of a frame are laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Colour {
    Yuv(YuvLayout),
    Mono,
}

/// A streaming Y4M reader.
pub struct Y4mReader<R: Read> {
    reader: BufReader<R>,
    path: PathBuf,
    pub width: usize,
    pub height: usize,
    fps: f64,
    colour: Colour,
    range: YuvRange,
    frame_len: usize,
    frames_read: u64,
    buf: Vec<u8>,
}

impl<R: Read> std::fmt::Debug for Y4mReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Y4mReader")
            .field("path", &self.path)
            .field("width", &self.width)
            .field("height", &self.height)
            .field("fps", &self.fps)
            .finish_non_exhaustive()
    }
}

impl Y4mReader<std::fs::File> {
    /// Opens a `.y4m` file and reads its header.
    pub fn open(path: &Path) -> Result<Self, IngestError> {
        let file = std::fs::File::open(path).map_err(|source| IngestError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::new(file, path)
    }
}

impl<R: Read> Y4mReader<R> {
    /// Reads the header from `reader`; `path` names the source in errors.
    pub fn new(reader: R, path: &Path) -> Result<Self, IngestError> {
        let mut reader = BufReader::with_capacity(1 << 16, reader);
        let bad = |problem: String| IngestError::Format {
            path: path.to_path_buf(),
            problem,
        };
        let line = read_line(&mut reader, path)?
            .ok_or_else(|| bad("empty file, not a Y4M stream".into()))?;
        let line = String::from_utf8(line).map_err(|_| {
            bad("not a Y4M file (its first line is not text, so no YUV4MPEG2 signature)".into())
        })?;
        let mut fields = line.split(' ');
        if fields.next() != Some("YUV4MPEG2") {
            return Err(bad("not a Y4M file (no YUV4MPEG2 signature)".into()));
        }
        let (mut width, mut height, mut fps) = (None, None, None);
        let mut colour = Colour::Yuv(YuvLayout::Yuv420);
        let mut range = YuvRange::Limited;
        for field in fields.filter(|f| !f.is_empty()) {
            // The tag is one character; a multi-byte one (fuzzing found it) is just unknown.
            let (tag, value) = field.split_at(field.chars().next().map_or(0, char::len_utf8));
            match tag {
                "W" => width = value.parse::<usize>().ok(),
                "H" => height = value.parse::<usize>().ok(),
                "F" => {
                    let parsed = value
                        .split_once(':')
                        .and_then(|(n, d)| Some((n.parse::<u32>().ok()?, d.parse::<u32>().ok()?)));
                    match parsed {
                        Some((n, d)) if n > 0 && d > 0 => fps = Some(f64::from(n) / f64::from(d)),
                        _ => return Err(bad(format!("bad frame rate {field:?}"))),
                    }
                }
                "C" => {
                    colour = match value {
                        "420jpeg" | "420paldv" | "420mpeg2" | "420" => {
                            Colour::Yuv(YuvLayout::Yuv420)
                        }
                        "422" => Colour::Yuv(YuvLayout::Yuv422),
                        "444" => Colour::Yuv(YuvLayout::Yuv444),
                        "mono" => Colour::Mono,
                        other => {
                            return Err(bad(format!(
                                "colour space {other:?} is not supported (8-bit 420, 422, 444 \
                                 or mono only; convert with ffmpeg -pix_fmt yuv420p)"
                            )));
                        }
                    }
                }
                "X" if value == "COLORRANGE=FULL" => range = YuvRange::Full,
                // Interlacing, aspect ratio and other comments do not change the pixels.
                _ => {}
            }
        }
        let (width, height) = match (width, height) {
            (Some(w), Some(h)) if (1..=MAX_SIDE).contains(&w) && (1..=MAX_SIDE).contains(&h) => {
                (w, h)
            }
            _ => {
                return Err(bad(format!(
                    "the header needs a width and height between 1 and {MAX_SIDE} (W and H)"
                )));
            }
        };
        if width * height > crate::limits::MAX_FRAME_PIXELS {
            return Err(bad(format!(
                "a {width}x{height} frame is larger than {} pixels",
                crate::limits::MAX_FRAME_PIXELS
            )));
        }
        let fps = fps.ok_or_else(|| bad("the header has no frame rate (F)".into()))?;
        let frame_len = match colour {
            Colour::Mono => width * height,
            // Bounded by MAX_SIDE, so this cannot overflow.
            Colour::Yuv(layout) => layout.frame_len(width, height).unwrap_or(usize::MAX),
        };
        Ok(Self {
            reader,
            path: path.to_path_buf(),
            width,
            height,
            fps,
            colour,
            range,
            frame_len,
            frames_read: 0,
            buf: Vec::new(),
        })
    }

    fn bad(&self, problem: String) -> IngestError {
        IngestError::Format {
            path: self.path.clone(),
            problem,
        }
    }

    /// The frame just read. 4:2:0 limited range is I420 byte for byte (the same layout,
    /// the same limited-range BT.601 reading), and full-range mono is GRAY8: those stay as they
    /// are ([`Picture::Camera`], the model's front end reads them without RGB). The others (4:2:2,
    /// 4:4:4, full-range YUV, limited-range mono, whose stretch is not the YUV luma) become RGB.
    fn convert(&mut self) -> Result<Picture, IngestError> {
        let frame_error = |source| IngestError::Frame {
            path: self.path.clone(),
            source,
        };
        let (width, height) = (self.width, self.height);
        let camera = match (self.colour, self.range) {
            (Colour::Yuv(YuvLayout::Yuv420), YuvRange::Limited) => Some(PixelFormat::I420),
            (Colour::Mono, YuvRange::Full) => Some(PixelFormat::Gray8),
            _ => None,
        };
        if let Some(format) = camera {
            // The buffer goes with the frame; the next read allocates a new one.
            let data = std::mem::take(&mut self.buf);
            return Picture::camera(format, data, width, height).map_err(frame_error);
        }
        let data = match self.colour {
            Colour::Mono => self
                .buf
                .iter()
                .flat_map(|&v| {
                    // Limited-range luma 16-235 stretched to 0-255 (full range is GRAY8 above).
                    let g = ((i32::from(v) - 16) * 255 / 219).clamp(0, 255) as u8;
                    [g, g, g]
                })
                .collect(),
            Colour::Yuv(layout) => yuv_planar_to_rgb8(&self.buf, width, height, layout, self.range)
                .map_err(frame_error)?,
        };
        Ok(Picture::Rgb(RgbFrame {
            width,
            height,
            data,
        }))
    }
}

impl<R: Read> FrameSource for Y4mReader<R> {
    fn fps(&self) -> f64 {
        self.fps
    }

    fn next_frame(&mut self, decode: bool) -> Result<NextFrame, IngestError> {
        let Some(line) = read_line(&mut self.reader, &self.path)? else {
            return Ok(NextFrame::End);
        };
        let n = self.frames_read;
        if !line.starts_with(b"FRAME") {
            return Err(self.bad(format!("frame {n} does not start with FRAME")));
        }
        self.buf.resize(self.frame_len, 0);
        let mut filled = 0;
        while filled < self.frame_len {
            match self.reader.read(&mut self.buf[filled..]) {
                Ok(0) => {
                    return Err(self.bad(format!(
                        "truncated: frame {n} has {filled} of its {} bytes",
                        self.frame_len
                    )));
                }
                Ok(k) => filled += k,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(IngestError::Io {
                        path: self.path.clone(),
                        source,
                    });
                }
            }
        }
        self.frames_read += 1;
        if decode {
            Ok(NextFrame::Frame(self.convert()?))
        } else {
            Ok(NextFrame::Skipped)
        }
    }
}

/// Reads one `\n`-terminated line (without the `\n`); None at a clean end of stream.
fn read_line<R: BufRead>(reader: &mut R, path: &Path) -> Result<Option<Vec<u8>>, IngestError> {
    let mut line = Vec::new();
    let n = reader
        .by_ref()
        .take(MAX_LINE as u64 + 1)
        .read_until(b'\n', &mut line)
        .map_err(|source| IngestError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    if n == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') {
        let problem = if n > MAX_LINE {
            format!("a header line is longer than {MAX_LINE} bytes")
        } else {
            "truncated: the stream ends inside a header line".into()
        };
        return Err(IngestError::Format {
            path: path.to_path_buf(),
            problem,
        });
    }
    line.pop();
    Ok(Some(line))
}

/// Writes RGB8 frames as a 4:2:0 limited-range Y4M stream (chroma averaged over each 2x2).
pub struct Y4mWriter<W: Write> {
    out: W,
    width: usize,
    height: usize,
}

impl<W: Write> Y4mWriter<W> {
    /// Writes the header; `fps` is `num / den` frames per second.
    pub fn new(
        mut out: W,
        width: usize,
        height: usize,
        fps_num: u32,
        fps_den: u32,
    ) -> std::io::Result<Self> {
        writeln!(
            out,
            "YUV4MPEG2 W{width} H{height} F{fps_num}:{fps_den} Ip A1:1 C420jpeg"
        )?;
        Ok(Self { out, width, height })
    }

    /// Writes one `width * height * 3`-byte RGB8 frame.
    pub fn write_frame(&mut self, rgb: &[u8]) -> std::io::Result<()> {
        let (w, h) = (self.width, self.height);
        if rgb.len() != w * h * 3 {
            return Err(std::io::Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "a {w}x{h} RGB frame has {} bytes, not {}",
                    w * h * 3,
                    rgb.len()
                ),
            ));
        }
        let yuv: Vec<[u8; 3]> = rgb
            .chunks_exact(3)
            .map(|p| rgb_to_yuv([p[0], p[1], p[2]]))
            .collect();
        let (cw, ch) = YuvLayout::Yuv420.chroma_size(w, h);
        let mut plane = Vec::with_capacity(w * h + 2 * cw * ch);
        plane.extend(yuv.iter().map(|p| p[0]));
        for c in [1, 2] {
            for cy in 0..ch {
                for cx in 0..cw {
                    let mut sum = 0u32;
                    let mut n = 0u32;
                    for y in 2 * cy..(2 * cy + 2).min(h) {
                        for x in 2 * cx..(2 * cx + 2).min(w) {
                            sum += u32::from(yuv[y * w + x][c]);
                            n += 1;
                        }
                    }
                    plane.push(((sum + n / 2) / n) as u8);
                }
            }
        }
        self.out.write_all(b"FRAME\n")?;
        self.out.write_all(&plane)
    }

    pub fn finish(mut self) -> std::io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Writes frames to a Y4M file at `fps` frames per second (an integer rate), as a
/// [`Y4mWriter`] stream; an empty list is an error (a Y4M header needs the frame size).
pub fn write_y4m(path: &Path, frames: &[RgbFrame], fps: u32) -> std::io::Result<()> {
    let Some(first) = frames.first() else {
        return Err(std::io::Error::other("no frames to write"));
    };
    let file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut writer = Y4mWriter::new(file, first.width, first.height, fps, 1)?;
    for f in frames {
        writer.write_frame(&f.data)?;
    }
    writer.finish()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(n: usize, w: usize, h: usize) -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| {
                (0..w * h)
                    .flat_map(|p| {
                        let v = ((p * 7 + i * 40) % 200 + 20) as u8;
                        [v, v / 2, 255 - v]
                    })
                    .collect()
            })
            .collect()
    }

    fn encode(frames: &[Vec<u8>], w: usize, h: usize) -> Vec<u8> {
        let mut writer = Y4mWriter::new(Vec::new(), w, h, 25, 1).unwrap();
        for f in frames {
            writer.write_frame(f).unwrap();
        }
        writer.finish().unwrap()
    }

    fn reader(bytes: &[u8]) -> Result<Y4mReader<&[u8]>, IngestError> {
        Y4mReader::new(bytes, Path::new("t.y4m"))
    }

    #[test]
    fn round_trips_through_the_writer() {
        let (w, h) = (6, 4);
        let src = frames(3, w, h);
        let bytes = encode(&src, w, h);
        let mut r = reader(&bytes).unwrap();
        assert_eq!((r.width, r.height, r.fps()), (6, 4, 25.0));
        assert!(matches!(r.next_frame(false).unwrap(), NextFrame::Skipped));
        let NextFrame::Frame(f) = r.next_frame(true).unwrap() else {
            panic!("a frame")
        };
        assert_eq!(f.format(), PixelFormat::I420);
        let f = f.to_rgb().unwrap().into_owned();
        assert_eq!((f.width, f.height), (6, 4));
        // 4:2:0 loses chroma detail: compare luma-ish closeness loosely.
        let err: f64 = f
            .data
            .iter()
            .zip(&src[1])
            .map(|(a, b)| f64::from(a.abs_diff(*b)))
            .sum::<f64>()
            / f.data.len() as f64;
        assert!(err < 40.0, "{err}");
        assert!(matches!(r.next_frame(true).unwrap(), NextFrame::Frame(_)));
        assert!(matches!(r.next_frame(true).unwrap(), NextFrame::End));
    }

    #[test]
    fn write_y4m_writes_a_readable_file_and_refuses_no_frames() {
        let (w, h) = (6, 4);
        let src: Vec<RgbFrame> = frames(2, w, h)
            .into_iter()
            .map(|data| RgbFrame {
                width: w,
                height: h,
                data,
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.y4m");
        write_y4m(&path, &src, 10).unwrap();
        let mut r = Y4mReader::open(&path).unwrap();
        assert_eq!((r.width, r.height, r.fps()), (6, 4, 10.0));
        assert!(matches!(r.next_frame(false).unwrap(), NextFrame::Skipped));
        assert!(matches!(r.next_frame(true).unwrap(), NextFrame::Frame(_)));
        assert!(matches!(r.next_frame(true).unwrap(), NextFrame::End));
        assert!(write_y4m(&path, &[], 10).is_err());
    }

    #[test]
    fn grey_round_trip_is_nearly_exact() {
        let (w, h) = (4, 2);
        let grey: Vec<u8> = (0..w * h).flat_map(|p| [(p * 30) as u8; 3]).collect();
        let bytes = encode(std::slice::from_ref(&grey), w, h);
        let NextFrame::Frame(f) = reader(&bytes).unwrap().next_frame(true).unwrap() else {
            panic!()
        };
        let f = f.to_rgb().unwrap().into_owned();
        assert!(f.data.iter().zip(&grey).all(|(a, b)| a.abs_diff(*b) <= 2));
    }

    #[test]
    fn reads_other_colour_spaces() {
        let mut mono = b"YUV4MPEG2 W2 H1 F30000:1001 Cmono\nFRAME\n".to_vec();
        mono.extend_from_slice(&[16, 235]);
        let mut r = reader(&mono).unwrap();
        assert!((r.fps() - 29.97).abs() < 0.01);
        let NextFrame::Frame(Picture::Rgb(f)) = r.next_frame(true).unwrap() else {
            panic!("limited-range mono is stretched to RGB")
        };
        assert_eq!(f.data, vec![0, 0, 0, 255, 255, 255]);

        let mut c444 = b"YUV4MPEG2 W1 H1 F1:1 C444 XCOLORRANGE=FULL\nFRAME Ixyz\n".to_vec();
        c444.extend_from_slice(&[200, 128, 128]);
        let NextFrame::Frame(Picture::Rgb(f)) = reader(&c444).unwrap().next_frame(true).unwrap()
        else {
            panic!("4:4:4 is converted to RGB")
        };
        assert_eq!(f.data, vec![200, 200, 200]);

        let mut full_mono = b"YUV4MPEG2 W2 H1 F1:1 Cmono XCOLORRANGE=FULL\nFRAME\n".to_vec();
        full_mono.extend_from_slice(&[16, 235]);
        let NextFrame::Frame(Picture::Camera(c)) =
            reader(&full_mono).unwrap().next_frame(true).unwrap()
        else {
            panic!("full-range mono stays GRAY8")
        };
        assert_eq!(
            (c.format(), c.data()),
            (PixelFormat::Gray8, &[16u8, 235][..])
        );
    }

    #[test]
    fn limited_420_frames_are_i420_unconverted() {
        // Odd sizes too: the chroma planes are rounded up in both layouts.
        for (w, h) in [(6, 4), (5, 3)] {
            let src = frames(1, w, h);
            let bytes = encode(&src, w, h);
            let header_len = bytes.iter().position(|&b| b == b'\n').unwrap() + 1 + 6;
            let planes = &bytes[header_len..];
            let NextFrame::Frame(Picture::Camera(c)) =
                reader(&bytes).unwrap().next_frame(true).unwrap()
            else {
                panic!("an I420 frame")
            };
            assert_eq!(
                (c.format(), c.width(), c.height()),
                (PixelFormat::I420, w, h)
            );
            assert_eq!(c.data(), planes);
            // Its RGB is what the RGB path made before, byte for byte.
            let old =
                yuv_planar_to_rgb8(planes, w, h, YuvLayout::Yuv420, YuvRange::Limited).unwrap();
            let pic = Picture::Camera(c);
            assert_eq!(pic.to_rgb().unwrap().data, old);
        }
    }

    fn err(bytes: &[u8]) -> String {
        let result = reader(bytes).and_then(|mut r| {
            loop {
                if let NextFrame::End = r.next_frame(true)? {
                    break Ok(());
                }
            }
        });
        let e = result.unwrap_err().to_string();
        assert!(e.contains("t.y4m"), "{e}");
        e
    }

    #[test]
    fn malformed_streams_are_clear_errors() {
        let good = encode(&frames(2, 4, 4), 4, 4);
        // Truncated inside the second frame's data, and inside its FRAME line.
        assert!(err(&good[..good.len() - 5]).contains("truncated: frame 1 has"));
        let second = good.len() - (16 + 8) - 6;
        assert!(err(&good[..second + 3]).contains("truncated"));
        assert!(err(b"").contains("empty file"));
        assert!(err(b"RIFF....WAVE\n").contains("not a Y4M"));
        assert!(err(b"YUV4MPEG2 W4 H4 F25:1").contains("truncated"));
        assert!(err(b"YUV4MPEG2 W4 F25:1\n").contains("width and height"));
        assert!(err(b"YUV4MPEG2 W0 H4 F25:1\n").contains("width and height"));
        assert!(err(b"YUV4MPEG2 W99999999 H99999999 F25:1\n").contains("width and height"));
        assert!(err(b"YUV4MPEG2 W4 H4 F25:0\n").contains("frame rate"));
        assert!(err(b"YUV4MPEG2 W4 H4\n").contains("no frame rate"));
        assert!(err(b"YUV4MPEG2 W4 H4 F1:1 C420p10\n").contains("not supported"));
        assert!(err(b"YUV4MPEG2 W1 H1 F1:1 Cmono\nJUNK\n").contains("FRAME"));
        // Fuzzing found a panic here: a field starting with a multi-byte character.
        // (An unknown field is skipped: without its newline the header is truncated.)
        assert!(err("YUV4MPEG2 W4 ʷ H4 F25:1".as_bytes()).contains("truncated"));
        assert!(err("YUV4MPEG2 W4 ʷ F25:1\n".as_bytes()).contains("width and height"));
        assert!(err("YUV4MPEG2 W4 H4 F25:1 Cé\n".as_bytes()).contains("not supported"));
        // Over the pixel limit, though each side is within its own.
        assert!(err(b"YUV4MPEG2 W16384 H16384 F25:1 C444\n").contains("pixels"));
        let long = [b"YUV4MPEG2 ".as_slice(), &[b'X'; 5000], b"\n"].concat();
        assert!(err(&long).contains("longer than"));
    }
}
