//! Reading footage: Y4M ([`y4m`]), raw MJPEG ([`mjpeg`]) and headerless camera frames
//! ([`raw`]) natively, WAV audio ([`wav`]), JPEG/PNG stills, and every other container through
//! an `ffmpeg` subprocess ([`ffmpeg`]); then cutting it into the model's clips ([`clips`]).

pub mod clips;
pub mod ffmpeg;
pub mod mjpeg;
pub mod raw;
pub mod wav;
pub mod y4m;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::audio::{Audio, AudioError};
use crate::frames::{FrameError, Picture, RgbFrame, decode_image};

pub use clips::{Clip, ClipGeometry, Clips};
pub use ffmpeg::Ffmpeg;

/// Problems reading footage; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {problem}")]
    Format { path: PathBuf, problem: String },
    #[error("{path}: {source}")]
    Frame { path: PathBuf, source: FrameError },
    #[error("{path}: {source}")]
    Audio { path: PathBuf, source: AudioError },
    #[error(
        "{path}: decoding this file type needs ffmpeg, and {program} was not found; install it \
         (e.g. `apt-get install ffmpeg`) or convert the file to Y4M, MJPEG or WAV"
    )]
    FfmpegMissing { path: PathBuf, program: PathBuf },
    #[error("ffmpeg cannot decode {path}: {problem}")]
    Ffmpeg { path: PathBuf, problem: String },
    #[error(
        "{path}: unsupported file type (Y4M, MJPEG, WAV, JPEG, PNG, or with ffmpeg: {})",
        FFMPEG_EXTENSIONS.join(", ")
    )]
    Unsupported { path: PathBuf },
    #[error("{path}: has neither video nor audio")]
    NoStreams { path: PathBuf },
}

/// The result of reading one frame.
#[derive(Debug)]
pub enum NextFrame {
    /// The stream has ended.
    End,
    /// A frame was read past without decoding it.
    Skipped,
    /// A decoded frame, in the format its source delivered (camera formats are not converted
    /// to RGB: the model's front end reads them as they are).
    Frame(Picture),
}

/// A stream of video frames at a constant rate.
pub trait FrameSource {
    /// Frames per second.
    fn fps(&self) -> f64;
    /// Reads the next frame, decoding it only if `decode` (frames the clip sampler does not
    /// use are just read past).
    fn next_frame(&mut self, decode: bool) -> Result<NextFrame, IngestError>;
    /// When the frame last read was taken, since the stream began, for sources with a clock of
    /// their own (a camera driver's timestamps); None (files): frame `n` is at `n / fps`.
    fn timestamp(&self) -> Option<Duration> {
        None
    }
}

impl<S: FrameSource + ?Sized> FrameSource for Box<S> {
    fn fps(&self) -> f64 {
        (**self).fps()
    }
    fn next_frame(&mut self, decode: bool) -> Result<NextFrame, IngestError> {
        (**self).next_frame(decode)
    }
    fn timestamp(&self) -> Option<Duration> {
        (**self).timestamp()
    }
}

/// How a file is decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaKind {
    Y4m,
    Mjpeg,
    Wav,
    /// A JPEG or PNG still image.
    Image,
    /// Anything ffmpeg decodes.
    Ffmpeg,
}

/// File extensions handed to ffmpeg.
pub const FFMPEG_EXTENSIONS: &[&str] = &[
    "mp4", "m4v", "mov", "mkv", "webm", "avi", "mpg", "mpeg", "ts", "mts", "flv", "wmv", "3gp",
    "ogv", "mp3", "m4a", "aac", "flac", "ogg", "opus",
];

impl MediaKind {
    /// The kind of a file, by its extension (case-insensitive).
    pub fn of(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        Some(match ext.as_str() {
            "y4m" => Self::Y4m,
            "mjpeg" | "mjpg" => Self::Mjpeg,
            "wav" => Self::Wav,
            "jpg" | "jpeg" | "png" => Self::Image,
            e if FFMPEG_EXTENSIONS.contains(&e) => Self::Ffmpeg,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Y4m => "y4m",
            Self::Mjpeg => "mjpeg",
            Self::Wav => "wav",
            Self::Image => "image",
            Self::Ffmpeg => "ffmpeg",
        }
    }
}

/// Decoding settings.
#[derive(Clone, Debug, PartialEq)]
pub struct OpenOptions {
    /// Frame rate of raw MJPEG streams (they carry none).
    pub mjpeg_fps: f64,
    pub ffmpeg: Ffmpeg,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            mjpeg_fps: mjpeg::DEFAULT_FPS,
            ffmpeg: Ffmpeg::default(),
        }
    }
}

/// An opened file: its video stream and/or audio track, or a still image.
pub struct Media {
    pub kind: MediaKind,
    pub video: Option<Box<dyn FrameSource>>,
    /// The whole audio track, mono, at its own rate.
    pub audio: Option<Audio>,
    pub image: Option<RgbFrame>,
}

impl std::fmt::Debug for Media {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Media")
            .field("kind", &self.kind)
            .field("video", &self.video.as_ref().map(|v| v.fps()))
            .field("audio", &self.audio.as_ref().map(|a| a.sample_rate))
            .field("image", &self.image.as_ref().map(|i| (i.width, i.height)))
            .finish()
    }
}

/// Largest still image file read.
pub const MAX_IMAGE_BYTES: u64 = crate::limits::MAX_IMAGE_BYTES;

/// Opens `path` for decoding, by its extension.
pub fn open(path: &Path, options: &OpenOptions) -> Result<Media, IngestError> {
    let kind = MediaKind::of(path).ok_or_else(|| IngestError::Unsupported {
        path: path.to_path_buf(),
    })?;
    let mut media = Media {
        kind,
        video: None,
        audio: None,
        image: None,
    };
    match kind {
        MediaKind::Y4m => media.video = Some(Box::new(y4m::Y4mReader::open(path)?)),
        MediaKind::Mjpeg => {
            media.video = Some(Box::new(mjpeg::MjpegReader::open(path, options.mjpeg_fps)?));
        }
        MediaKind::Wav => media.audio = Some(wav::read(path)?),
        MediaKind::Image => media.image = Some(read_image(path)?),
        MediaKind::Ffmpeg => {
            let probe = options.ffmpeg.probe(path)?;
            if probe.has_video {
                media.video = Some(Box::new(options.ffmpeg.video(path)?));
            }
            if let Some(rate) = probe.audio_rate {
                media.audio = Some(options.ffmpeg.audio(path, rate)?);
            }
            if media.video.is_none() && media.audio.is_none() {
                return Err(IngestError::NoStreams {
                    path: path.to_path_buf(),
                });
            }
        }
    }
    Ok(media)
}

/// Reads and decodes a JPEG or PNG file.
pub fn read_image(path: &Path) -> Result<RgbFrame, IngestError> {
    let io = |source| IngestError::Io {
        path: path.to_path_buf(),
        source,
    };
    let bytes = std::fs::metadata(path).map_err(io)?.len();
    if bytes > MAX_IMAGE_BYTES {
        return Err(IngestError::Format {
            path: path.to_path_buf(),
            problem: format!("{bytes} bytes is too large for an image"),
        });
    }
    let data = std::fs::read(path).map_err(io)?;
    decode_image(&data).map_err(|source| IngestError::Frame {
        path: path.to_path_buf(),
        source,
    })
}

/// The files to index under `paths`: files as given (any extension, so an unsupported one is
/// reported), directories walked recursively for supported extensions, sorted.
pub fn collect_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, IngestError> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|source| IngestError::Io {
            path: p.clone(),
            source,
        })?;
        if meta.is_dir() {
            walk(p, &mut out)?;
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), IngestError> {
    let io = |source| IngestError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(io)?;
    entries.sort();
    for path in entries {
        // Symlinked directories are not followed (no cycles); symlinked files are.
        let is_dir = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir());
        if is_dir {
            walk(&path, out)?;
        } else if path.is_file() && MediaKind::of(&path).is_some() {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_by_extension() {
        assert_eq!(MediaKind::of(Path::new("a/b.Y4M")), Some(MediaKind::Y4m));
        assert_eq!(MediaKind::of(Path::new("x.mjpg")), Some(MediaKind::Mjpeg));
        assert_eq!(MediaKind::of(Path::new("x.mp4")), Some(MediaKind::Ffmpeg));
        assert_eq!(MediaKind::of(Path::new("x.png")), Some(MediaKind::Image));
        assert_eq!(MediaKind::of(Path::new("x.txt")), None);
        assert_eq!(MediaKind::of(Path::new("noext")), None);
        let e = open(Path::new("notes.txt"), &OpenOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("notes.txt") && e.contains("unsupported"), "{e}");
    }

    #[test]
    fn collects_supported_files_sorted() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("sub")).unwrap();
        for f in ["b.y4m", "a.wav", "notes.txt", "sub/c.mp4"] {
            std::fs::write(d.join(f), b"").unwrap();
        }
        let got = collect_files(&[d.to_path_buf(), d.join("notes.txt")]).unwrap();
        let names: Vec<String> = got
            .iter()
            .map(|p| p.strip_prefix(d).unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["a.wav", "b.y4m", "sub/c.mp4", "notes.txt"]);
        let e = collect_files(&[d.join("missing")]).unwrap_err().to_string();
        assert!(e.contains("missing"), "{e}");
    }

    #[test]
    fn empty_and_bad_files_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let empty_wav = dir.path().join("empty.wav");
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 16000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        hound::WavWriter::create(&empty_wav, spec)
            .unwrap()
            .finalize()
            .unwrap();
        let e = open(&empty_wav, &OpenOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("empty.wav") && e.contains("no audio"), "{e}");
        let bad_png = dir.path().join("bad.png");
        std::fs::write(&bad_png, b"\x89PNG\r\n\x1a\ngarbage").unwrap();
        let e = open(&bad_png, &OpenOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("bad.png") && e.contains("PNG"), "{e}");
    }
}
