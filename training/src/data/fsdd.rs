//! The Free Spoken Digit Dataset (`fsdd/recordings/`) and the held-out voice
//! (`heldout-speech/`): an index of `{digit}_{speaker}_{take}.wav` files, and their decoding to
//! waveforms at the model's sample rate through the runtime's WAV reader and resampler.

use std::path::{Path, PathBuf};

use mmv_runtime::audio::{read_wav, resample};

use super::DataError;

pub const RECORDINGS_DIR: &str = "fsdd/recordings";
pub const HELDOUT_DIR: &str = "heldout-speech";

/// One recording: who says which digit, and which take it is.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Recording {
    pub digit: u8,
    pub speaker: String,
    pub take: u32,
    pub path: PathBuf,
}

impl Recording {
    /// Parses `{digit}_{speaker}_{take}.wav`; None for any other name.
    pub fn from_path(path: &Path) -> Option<Self> {
        let stem = path.file_stem()?.to_str()?;
        let mut parts = stem.splitn(3, '_');
        let digit: u8 = parts.next()?.parse().ok()?;
        let speaker = parts.next()?;
        let take: u32 = parts.next()?.parse().ok()?;
        (digit <= 9 && !speaker.is_empty()).then(|| Self {
            digit,
            speaker: speaker.to_string(),
            take,
            path: path.to_path_buf(),
        })
    }
}

/// Every `.wav` in `dir`, sorted by (digit, speaker, take) so indices are stable across
/// machines. A `.wav` whose name does not parse is an error (it would silently change the
/// splits otherwise); other files are ignored.
pub fn index_dir(dir: &Path) -> Result<Vec<Recording>, DataError> {
    if !dir.is_dir() {
        return Err(DataError::MissingDir {
            path: dir.to_path_buf(),
        });
    }
    let io = |source| DataError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.extension().is_none_or(|e| e != "wav") {
            continue;
        }
        out.push(
            Recording::from_path(&path)
                .ok_or(DataError::BadRecordingName { path: path.clone() })?,
        );
    }
    out.sort();
    Ok(out)
}

/// Decodes one recording to mono samples at `sample_rate`. The file must be 16-bit PCM (FSDD's
/// format); anything else is an error that names it.
pub fn load_waveform(path: &Path, sample_rate: u32) -> Result<Vec<f32>, DataError> {
    // hound reads only the header here; the samples are decoded by the runtime's reader.
    let spec = hound::WavReader::open(path)
        .map_err(|e| match e {
            hound::Error::IoError(source) => DataError::Io {
                path: path.to_path_buf(),
                source,
            },
            other => DataError::NotPcm16 {
                path: path.to_path_buf(),
                found: format!("not a readable WAV ({other})"),
            },
        })?
        .spec();
    if spec.sample_format != hound::SampleFormat::Int || spec.bits_per_sample != 16 {
        let kind = match spec.sample_format {
            hound::SampleFormat::Int => "PCM",
            hound::SampleFormat::Float => "float",
        };
        return Err(DataError::NotPcm16 {
            path: path.to_path_buf(),
            found: format!("{}-bit {kind}", spec.bits_per_sample),
        });
    }
    let audio = read_wav(path)?;
    Ok(resample(&audio.samples, audio.sample_rate, sample_rate)?)
}

/// Decodes many recordings on all cores; results in input order.
pub fn load_waveforms(
    recordings: &[Recording],
    sample_rate: u32,
) -> Result<Vec<Vec<f32>>, DataError> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .max(1);
    let chunk = recordings.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = recordings
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|r| load_waveform(&r.path, sample_rate))
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        let mut out = Vec::with_capacity(recordings.len());
        for h in handles {
            out.extend(h.join().expect("a WAV decoding thread panicked")?);
        }
        Ok(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_wav(path: &Path, bits: u16, format: hound::SampleFormat) {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 8000,
            bits_per_sample: bits,
            sample_format: format,
        };
        let mut w = hound::WavWriter::create(path, spec).unwrap();
        for i in 0..800 {
            match (format, bits) {
                (hound::SampleFormat::Int, 16) => w.write_sample((i % 100) as i16 * 100).unwrap(),
                (hound::SampleFormat::Int, _) => w.write_sample(i % 100).unwrap(),
                _ => w.write_sample(0.01f32 * (i % 7) as f32).unwrap(),
            }
        }
        w.finalize().unwrap();
    }

    #[test]
    fn names_parse() {
        let r = Recording::from_path(Path::new("x/7_theo_36.wav")).unwrap();
        assert_eq!((r.digit, r.speaker.as_str(), r.take), (7, "theo", 36));
        assert!(Recording::from_path(Path::new("7_theo.wav")).is_none());
        assert!(Recording::from_path(Path::new("12_theo_1.wav")).is_none());
        assert!(Recording::from_path(Path::new("a_theo_1.wav")).is_none());
    }

    #[test]
    fn bad_files_are_named() {
        let dir = std::env::temp_dir().join(format!("mmv-fsdd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("3_anna_0.wav");
        write_wav(&good, 16, hound::SampleFormat::Int);
        let w = load_waveform(&good, 16000).unwrap();
        assert_eq!(w.len(), 1600, "8 kHz -> 16 kHz doubles the length");

        let float = dir.join("3_anna_1.wav");
        write_wav(&float, 32, hound::SampleFormat::Float);
        let err = load_waveform(&float, 16000).unwrap_err().to_string();
        assert!(
            err.contains("3_anna_1.wav") && err.contains("32-bit float"),
            "{err}"
        );
        let b24 = dir.join("3_anna_2.wav");
        write_wav(&b24, 24, hound::SampleFormat::Int);
        let err = load_waveform(&b24, 16000).unwrap_err().to_string();
        assert!(
            err.contains("3_anna_2.wav") && err.contains("24-bit PCM"),
            "{err}"
        );
        let junk = dir.join("3_anna_3.wav");
        std::fs::write(&junk, b"RIFF but not really").unwrap();
        let err = load_waveform(&junk, 16000).unwrap_err().to_string();
        assert!(err.contains("3_anna_3.wav"), "{err}");
        // Truncated sample data: the header survives, the samples do not.
        let cut = dir.join("3_anna_4.wav");
        let bytes = std::fs::read(&good).unwrap();
        std::fs::write(&cut, &bytes[..bytes.len() - 901]).unwrap();
        let err = load_waveform(&cut, 16000).unwrap_err().to_string();
        assert!(err.contains("3_anna_4.wav"), "{err}");
        let err = load_waveform(&dir.join("missing.wav"), 16000)
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing.wav"), "{err}");

        std::fs::write(dir.join("notes.txt"), "ignored").unwrap();
        std::fs::write(dir.join("three.wav"), "x").unwrap();
        let err = index_dir(&dir).unwrap_err().to_string();
        assert!(err.contains("three.wav"), "{err}");
        std::fs::remove_file(dir.join("three.wav")).unwrap();
        assert_eq!(index_dir(&dir).unwrap().len(), 5);
        let err = index_dir(&dir.join("nope")).unwrap_err().to_string();
        assert!(err.contains("nope"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
