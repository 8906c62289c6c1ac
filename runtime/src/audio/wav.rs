//! WAV decoding to mono `f32`.
//!
//! Models consume mono audio, so multi-channel files are averaged down here,
//! once, instead of in every caller. Only 16-bit PCM and 32-bit float WAVs are
//! accepted: they cover every data set we train on, and refusing the rest
//! (8-bit, 24-bit, 32-bit int) loudly beats guessing a scale for them.

use std::io::Read;
use std::path::{Path, PathBuf};

use hound::{SampleFormat, WavReader};

use super::AudioError;
use crate::limits::{AUDIO_RESERVE_SAMPLES, MAX_AUDIO_SAMPLES};

/// Decoded mono audio.
#[derive(Clone, Debug, PartialEq)]
pub struct Audio {
    /// Samples per second.
    pub sample_rate: u32,
    /// Mono samples, nominally in [-1, 1]: 16-bit PCM is scaled by 1/32768
    /// (as librosa/soundfile do); 32-bit float data is passed through as stored.
    pub samples: Vec<f32>,
}

impl Audio {
    /// Duration in seconds.
    pub fn duration_secs(&self) -> f64 {
        self.samples.len() as f64 / f64::from(self.sample_rate)
    }
}

/// Reads a WAV file, averaging all channels to mono.
///
/// Errors name `path` for: a missing or unreadable file, data that is not a
/// WAV, an unsupported sample format (anything but 16-bit PCM or 32-bit float),
/// a file with zero samples, and truncated or non-finite sample data.
pub fn read_wav(path: &Path) -> Result<Audio, AudioError> {
    let file = std::fs::File::open(path).map_err(|source| AudioError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let bytes = file.metadata().map(|m| m.len()).ok();
    let mut reader = std::io::BufReader::new(file);
    let audio = read_wav_checked(&mut reader, path, bytes)?;
    Ok(audio)
}

/// Decodes a WAV file held in memory; errors name it `<memory>`.
pub fn read_wav_bytes(bytes: &[u8]) -> Result<Audio, AudioError> {
    read_wav_from(bytes, Path::new("<memory>"))
}

/// Decodes a WAV stream; `origin` is only used to name the source in errors.
pub fn read_wav_from<R: Read>(reader: R, origin: &Path) -> Result<Audio, AudioError> {
    read_wav_checked(reader, origin, None)
}

/// [`read_wav_from`], also checking the declared length against `file_bytes` (the size of the
/// file, where known) and [`MAX_AUDIO_SAMPLES`], before any sample is read.
fn read_wav_checked<R: Read>(
    reader: R,
    origin: &Path,
    file_bytes: Option<u64>,
) -> Result<Audio, AudioError> {
    let path = || origin.to_path_buf();
    let mut wav = WavReader::new(reader).map_err(|e| header_error(e, path()))?;
    let spec = wav.spec();
    // hound's `len` is the data chunk's declared size in samples (all channels).
    let declared = u64::from(wav.len());
    if declared > MAX_AUDIO_SAMPLES {
        return Err(AudioError::Corrupt {
            path: path(),
            reason: format!(
                "the header declares {declared} samples; at most {MAX_AUDIO_SAMPLES} are read \
                 (split the recording)"
            ),
        });
    }
    let declared_bytes = declared * u64::from(spec.bits_per_sample.div_ceil(8));
    if let Some(file_bytes) = file_bytes
        && declared_bytes > file_bytes
    {
        return Err(AudioError::Corrupt {
            path: path(),
            reason: format!(
                "truncated: the header declares {declared_bytes} bytes of samples but the file \
                 is {file_bytes} bytes"
            ),
        });
    }
    let channels = usize::from(spec.channels);
    if channels == 0 || spec.sample_rate == 0 {
        return Err(AudioError::NotWav {
            path: path(),
            reason: format!("{} channels at {} Hz", spec.channels, spec.sample_rate),
        });
    }

    // The header's sample count is only a hint: a lying header must not make
    // us allocate gigabytes, so cap the up-front reservation.
    let hint = (declared as usize).min(AUDIO_RESERVE_SAMPLES);
    let interleaved: Vec<f32> = match (spec.sample_format, spec.bits_per_sample) {
        (SampleFormat::Int, 16) => {
            let mut out = Vec::with_capacity(hint);
            for s in wav.samples::<i16>() {
                let s = s.map_err(|e| data_error(e, path()))?;
                out.push(f32::from(s) / 32768.0);
            }
            out
        }
        (SampleFormat::Float, 32) => {
            let mut out = Vec::with_capacity(hint);
            for s in wav.samples::<f32>() {
                let s = s.map_err(|e| data_error(e, path()))?;
                // NaN/inf would silently poison every feature computed later.
                if !s.is_finite() {
                    return Err(AudioError::Corrupt {
                        path: path(),
                        reason: format!("non-finite sample {s}"),
                    });
                }
                out.push(s);
            }
            out
        }
        (format, bits) => {
            return Err(AudioError::UnsupportedFormat {
                path: path(),
                bits,
                kind: match format {
                    SampleFormat::Int => "PCM",
                    SampleFormat::Float => "float",
                },
            });
        }
    };

    let samples = if channels == 1 {
        interleaved
    } else {
        let n = channels as f32;
        // A trailing partial frame (possible only in a damaged file) is dropped.
        interleaved
            .chunks_exact(channels)
            .map(|frame| frame.iter().sum::<f32>() / n)
            .collect()
    };
    if samples.is_empty() {
        return Err(AudioError::Empty { path: path() });
    }
    Ok(Audio {
        sample_rate: spec.sample_rate,
        samples,
    })
}

/// Maps a hound error raised while parsing the header.
fn header_error(e: hound::Error, path: PathBuf) -> AudioError {
    match e {
        // Running out of bytes inside the RIFF header (hound says so with an error of its own,
        // no OS error code): an empty or cut file, not an I/O fault.
        hound::Error::IoError(source) if source.raw_os_error().is_none() => AudioError::NotWav {
            path,
            reason: "the file ends inside its header (empty or truncated)".into(),
        },
        hound::Error::IoError(source) => AudioError::Io { path, source },
        // hound reports "unsupported" for e.g. compressed (non-PCM) WAVE data.
        hound::Error::Unsupported => AudioError::NotWav {
            path,
            reason: "unsupported WAVE encoding (not PCM or IEEE float)".into(),
        },
        other => AudioError::NotWav {
            path,
            reason: other.to_string(),
        },
    }
}

/// Maps a hound error raised while reading samples.
fn data_error(e: hound::Error, path: PathBuf) -> AudioError {
    AudioError::Corrupt {
        path,
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hound::{WavSpec, WavWriter};
    use std::io::Cursor;

    fn wav_bytes<S: hound::Sample + Copy>(
        channels: u16,
        bits: u16,
        format: SampleFormat,
        samples: &[S],
    ) -> Vec<u8> {
        let spec = WavSpec {
            channels,
            sample_rate: 16_000,
            bits_per_sample: bits,
            sample_format: format,
        };
        let mut buf = Cursor::new(Vec::new());
        {
            let mut w = WavWriter::new(&mut buf, spec).unwrap();
            for &s in samples {
                w.write_sample(s).unwrap();
            }
            w.finalize().unwrap();
        }
        buf.into_inner()
    }

    #[test]
    fn reads_16_bit_mono_scaled() {
        let bytes = wav_bytes(1, 16, SampleFormat::Int, &[0i16, 16384, -32768, 32767]);
        let audio = read_wav_bytes(&bytes).unwrap();
        assert_eq!(audio.sample_rate, 16_000);
        assert_eq!(audio.samples, vec![0.0, 0.5, -1.0, 32767.0 / 32768.0]);
    }

    #[test]
    fn averages_stereo_to_mono() {
        let bytes = wav_bytes(2, 16, SampleFormat::Int, &[16384i16, 0, -16384, -16384]);
        let audio = read_wav_bytes(&bytes).unwrap();
        assert_eq!(audio.samples, vec![0.25, -0.5]);
    }

    #[test]
    fn reads_float_wav() {
        let bytes = wav_bytes(1, 32, SampleFormat::Float, &[0.25f32, -0.75]);
        assert_eq!(read_wav_bytes(&bytes).unwrap().samples, vec![0.25, -0.75]);
    }

    #[test]
    fn rejects_non_finite_float() {
        let bytes = wav_bytes(1, 32, SampleFormat::Float, &[0.25f32, f32::NAN]);
        let err = read_wav_bytes(&bytes).unwrap_err();
        assert!(matches!(err, AudioError::Corrupt { .. }), "{err}");
    }

    #[test]
    fn rejects_8_and_24_bit() {
        let b8 = wav_bytes(1, 8, SampleFormat::Int, &[1i8, -1]);
        let err = read_wav_bytes(&b8).unwrap_err();
        assert!(
            matches!(err, AudioError::UnsupportedFormat { bits: 8, .. }),
            "{err}"
        );
        let b24 = wav_bytes(1, 24, SampleFormat::Int, &[1i32, -1]);
        let err = read_wav_bytes(&b24).unwrap_err();
        assert!(
            matches!(err, AudioError::UnsupportedFormat { bits: 24, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("24-bit PCM"), "{err}");
    }

    #[test]
    fn rejects_empty_wav() {
        let bytes = wav_bytes::<i16>(1, 16, SampleFormat::Int, &[]);
        let err = read_wav_bytes(&bytes).unwrap_err();
        assert!(matches!(err, AudioError::Empty { .. }), "{err}");
    }

    #[test]
    fn rejects_non_wav_and_truncated() {
        let err = read_wav_bytes(b"this is not a wav file at all").unwrap_err();
        assert!(matches!(err, AudioError::NotWav { .. }), "{err}");
        let err = read_wav_bytes(&[]).unwrap_err();
        assert!(matches!(err, AudioError::NotWav { .. }), "{err}");
        assert!(err.to_string().contains("ends inside its header"), "{err}");
        // Header intact, sample data cut mid-way.
        let mut bytes = wav_bytes(1, 16, SampleFormat::Int, &[1i16; 100]);
        bytes.truncate(bytes.len() - 51);
        assert!(read_wav_bytes(&bytes).is_err());
    }

    #[test]
    fn missing_file_names_the_path() {
        let path = Path::new("/definitely/not/here/clip.wav");
        let err = read_wav(path).unwrap_err();
        assert!(matches!(err, AudioError::Io { .. }), "{err}");
        assert!(err.to_string().contains("/definitely/not/here/clip.wav"));
    }

    #[test]
    fn file_errors_name_the_file() {
        let dir = std::env::temp_dir().join(format!("mmv-wav-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bogus.wav");
        std::fs::write(&path, b"RIFF....nope").unwrap();
        let err = read_wav(&path).unwrap_err();
        assert!(err.to_string().contains("bogus.wav"), "{err}");
        let good = dir.join("good.wav");
        std::fs::write(&good, wav_bytes(1, 16, SampleFormat::Int, &[100i16; 10])).unwrap();
        assert_eq!(read_wav(&good).unwrap().samples.len(), 10);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
