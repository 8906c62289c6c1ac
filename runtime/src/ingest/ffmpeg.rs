//! Containers and codecs we do not decode ourselves (MP4, MKV, AVI, MOV, WebM, MP3, ...), through
//! `ffprobe` (which streams a file has) and `ffmpeg` subprocesses.
//!
//! Video comes back as a Y4M stream at the file's own frame rate (`-pix_fmt yuv420p`, limited
//! range), read by [`Y4mReader`], so frame sampling and colour conversion are ours, as for
//! native files. Audio comes back as mono f32 at the file's own sample rate, and is resampled
//! by the runtime's resampler like any WAV. The whole audio track is held in memory (a mono
//! 48 kHz hour is about 690 MB).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::thread::JoinHandle;

use serde::Deserialize;

use crate::audio::Audio;

use super::IngestError;
use super::y4m::Y4mReader;

/// Which programs to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ffmpeg {
    pub ffmpeg: PathBuf,
    pub ffprobe: PathBuf,
}

impl Default for Ffmpeg {
    /// `ffmpeg` and `ffprobe` from `PATH`.
    fn default() -> Self {
        Self {
            ffmpeg: "ffmpeg".into(),
            ffprobe: "ffprobe".into(),
        }
    }
}

/// What a file holds, from ffprobe.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Probe {
    pub has_video: bool,
    /// The first audio stream's sample rate, if there is one.
    pub audio_rate: Option<u32>,
}

#[derive(Deserialize)]
struct ProbeJson {
    #[serde(default)]
    streams: Vec<ProbeStream>,
}

#[derive(Deserialize)]
struct ProbeStream {
    codec_type: Option<String>,
    sample_rate: Option<String>,
}

/// ffmpeg's output as a reader: reaps the process at the end of the stream (a non-zero exit
/// becomes a read error carrying ffmpeg's message) and kills it if dropped early.
pub struct ChildReader {
    child: Child,
    stdout: ChildStdout,
    stderr: Option<JoinHandle<String>>,
    done: bool,
}

impl Read for ChildReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.done {
            return Ok(0);
        }
        let n = self.stdout.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.done = true;
            let status = self.child.wait()?;
            let stderr = self
                .stderr
                .take()
                .and_then(|h| h.join().ok())
                .unwrap_or_default();
            if !status.success() {
                return Err(std::io::Error::other(format!(
                    "ffmpeg exited with {status}: {}",
                    last_lines(&stderr)
                )));
            }
        }
        Ok(n)
    }
}

impl Drop for ChildReader {
    fn drop(&mut self) {
        if !self.done {
            // Killing an exited child fails harmlessly; wait reaps it either way.
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn last_lines(text: &str) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(3)..].join(" / ")
}

impl Ffmpeg {
    fn spawn(
        &self,
        program: &Path,
        args: &[&std::ffi::OsStr],
        path: &Path,
    ) -> Result<Child, IngestError> {
        Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| {
                if source.kind() == std::io::ErrorKind::NotFound {
                    IngestError::FfmpegMissing {
                        path: path.to_path_buf(),
                        program: program.to_path_buf(),
                    }
                } else {
                    IngestError::Ffmpeg {
                        path: path.to_path_buf(),
                        problem: format!("cannot run {}: {source}", program.display()),
                    }
                }
            })
    }

    /// Runs a program to completion and returns its stdout.
    fn run(
        &self,
        program: &Path,
        args: &[&std::ffi::OsStr],
        path: &Path,
    ) -> Result<Vec<u8>, IngestError> {
        let child = self.spawn(program, args, path)?;
        let out = child.wait_with_output().map_err(|source| IngestError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        if !out.status.success() {
            return Err(IngestError::Ffmpeg {
                path: path.to_path_buf(),
                problem: format!(
                    "{} exited with {}: {}",
                    program.display(),
                    out.status,
                    last_lines(&String::from_utf8_lossy(&out.stderr))
                ),
            });
        }
        Ok(out.stdout)
    }

    /// Which streams `path` has.
    pub fn probe(&self, path: &Path) -> Result<Probe, IngestError> {
        let args: [&std::ffi::OsStr; 7] = [
            "-v".as_ref(),
            "error".as_ref(),
            "-show_entries".as_ref(),
            "stream=codec_type,sample_rate".as_ref(),
            "-of".as_ref(),
            "json".as_ref(),
            path.as_os_str(),
        ];
        let out = self.run(&self.ffprobe, &args, path)?;
        let json: ProbeJson = serde_json::from_slice(&out).map_err(|e| IngestError::Ffmpeg {
            path: path.to_path_buf(),
            problem: format!("unexpected ffprobe output: {e}"),
        })?;
        let mut probe = Probe::default();
        for s in json.streams {
            match s.codec_type.as_deref() {
                Some("video") => probe.has_video = true,
                Some("audio") if probe.audio_rate.is_none() => {
                    probe.audio_rate = s
                        .sample_rate
                        .and_then(|r| r.parse().ok())
                        .filter(|&r| r > 0);
                }
                _ => {}
            }
        }
        Ok(probe)
    }

    /// The first video stream, decoded to a Y4M stream at its own frame rate.
    pub fn video(&self, path: &Path) -> Result<Y4mReader<ChildReader>, IngestError> {
        let args: [&std::ffi::OsStr; 14] = [
            "-v".as_ref(),
            "error".as_ref(),
            "-nostdin".as_ref(),
            "-i".as_ref(),
            path.as_os_str(),
            "-map".as_ref(),
            "0:v:0".as_ref(),
            "-an".as_ref(),
            "-pix_fmt".as_ref(),
            "yuv420p".as_ref(),
            "-f".as_ref(),
            "yuv4mpegpipe".as_ref(),
            // Y4M has one frame rate: variable-rate streams are made constant (frames
            // duplicated or dropped), so frame k is at time k / rate.
            "-vsync".as_ref(),
            "cfr".as_ref(),
        ];
        let mut args = args.to_vec();
        args.push("-".as_ref());
        let mut child = self.spawn(&self.ffmpeg, &args, path)?;
        let stdout = child.stdout.take().ok_or_else(|| IngestError::Ffmpeg {
            path: path.to_path_buf(),
            problem: "no stdout pipe".into(),
        })?;
        // ffmpeg blocks if nobody drains its stderr; collect it on a thread.
        let stderr = child.stderr.take().map(|mut e| {
            std::thread::spawn(move || {
                let mut s = String::new();
                let _ = e.read_to_string(&mut s);
                s
            })
        });
        let reader = ChildReader {
            child,
            stdout,
            stderr,
            done: false,
        };
        Y4mReader::new(reader, path).map_err(|e| match e {
            IngestError::Io { source, .. } => IngestError::Ffmpeg {
                path: path.to_path_buf(),
                problem: source.to_string(),
            },
            other => other,
        })
    }

    /// The first audio stream, mixed to mono, at `rate` Hz (the stream's own rate).
    pub fn audio(&self, path: &Path, rate: u32) -> Result<Audio, IngestError> {
        let rate_arg = rate.to_string();
        let args: [&std::ffi::OsStr; 16] = [
            "-v".as_ref(),
            "error".as_ref(),
            "-nostdin".as_ref(),
            "-i".as_ref(),
            path.as_os_str(),
            "-map".as_ref(),
            "0:a:0".as_ref(),
            "-vn".as_ref(),
            "-ac".as_ref(),
            "1".as_ref(),
            "-ar".as_ref(),
            rate_arg.as_ref(),
            "-f".as_ref(),
            "f32le".as_ref(),
            "-acodec".as_ref(),
            "pcm_f32le".as_ref(),
        ];
        let mut args = args.to_vec();
        args.push("-".as_ref());
        let bytes = self.run(&self.ffmpeg, &args, path)?;
        let samples: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        if samples.is_empty() {
            return Err(IngestError::Format {
                path: path.to_path_buf(),
                problem: "the audio stream decodes to no samples".into(),
            });
        }
        if samples.iter().any(|s| !s.is_finite()) {
            return Err(IngestError::Format {
                path: path.to_path_buf(),
                problem: "the audio stream decodes to non-finite samples".into(),
            });
        }
        Ok(Audio {
            sample_rate: rate,
            samples,
        })
    }
}

/// True when `ffmpeg` can be run (for tests and `mmv info`).
pub fn available(ffmpeg: &Ffmpeg) -> bool {
    Command::new(&ffmpeg.ffmpeg)
        .arg("-version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::{FrameSource, NextFrame};

    #[test]
    fn missing_ffmpeg_is_a_clear_error() {
        let ff = Ffmpeg {
            ffmpeg: "/nonexistent/ffmpeg".into(),
            ffprobe: "/nonexistent/ffprobe".into(),
        };
        let e = ff.probe(Path::new("clip.mp4")).unwrap_err();
        assert!(matches!(e, IngestError::FfmpegMissing { .. }), "{e}");
        let msg = e.to_string();
        assert!(msg.contains("clip.mp4") && msg.contains("ffmpeg"), "{msg}");
        assert!(matches!(
            ff.video(Path::new("clip.mp4")),
            Err(IngestError::FfmpegMissing { .. })
        ));
        assert!(!available(&ff));
    }

    /// Encodes a short test clip with ffmpeg's own generators and reads it back.
    #[test]
    fn decodes_video_and_audio_when_ffmpeg_is_installed() {
        let ff = Ffmpeg::default();
        if !available(&ff) {
            eprintln!("ffmpeg is not installed: skipping");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.mkv");
        let status = Command::new("ffmpeg")
            .args([
                "-v",
                "error",
                "-f",
                "lavfi",
                "-i",
                "testsrc=size=64x48:rate=10:duration=1",
            ])
            .args([
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=440:sample_rate=22050:duration=1",
            ])
            .args(["-c:v", "mjpeg", "-c:a", "pcm_s16le", "-shortest"])
            .arg(&path)
            .status()
            .unwrap();
        assert!(status.success());
        let probe = ff.probe(&path).unwrap();
        assert_eq!(
            probe,
            Probe {
                has_video: true,
                audio_rate: Some(22050)
            }
        );
        let mut video = ff.video(&path).unwrap();
        assert_eq!((video.width, video.height, video.fps()), (64, 48, 10.0));
        let mut n = 0;
        while let NextFrame::Frame(f) = video.next_frame(true).unwrap() {
            // yuv420p through Y4M: I420, not converted to RGB.
            assert_eq!(
                (f.width(), f.height(), f.format()),
                (64, 48, crate::frames::PixelFormat::I420)
            );
            n += 1;
        }
        assert_eq!(n, 10);
        let audio = ff.audio(&path, 22050).unwrap();
        assert!(
            (audio.samples.len() as i64 - 22050).abs() < 1200,
            "{}",
            audio.samples.len()
        );

        // Not a media file.
        let junk = dir.path().join("junk.mp4");
        std::fs::write(&junk, b"not a video").unwrap();
        let e = ff.probe(&junk).unwrap_err().to_string();
        assert!(e.contains("junk.mp4"), "{e}");
    }
}
