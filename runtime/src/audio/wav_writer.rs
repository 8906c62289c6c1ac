//! WAV encoding: mono 16-bit PCM, the format every reader (ours, librosa, ffmpeg) takes.

use std::path::Path;

use super::AudioError;

/// Writes mono 16-bit PCM at `rate` Hz; samples are clipped to [-1, 1].
pub fn write_wav(path: &Path, samples: &[f32], rate: u32) -> Result<(), AudioError> {
    let fail = |e: hound::Error| AudioError::Write {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).map_err(fail)?;
    for &s in samples {
        w.write_sample((s.clamp(-1.0, 1.0) * 32767.0).round() as i16)
            .map_err(fail)?;
    }
    w.finalize().map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_the_reader() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.wav");
        let samples: Vec<f32> = (0..800).map(|i| (i as f32 * 0.05).sin() * 0.5).collect();
        write_wav(&path, &samples, 8000).unwrap();
        let back = crate::audio::read_wav(&path).unwrap();
        assert_eq!(back.sample_rate, 8000);
        assert_eq!(back.samples.len(), 800);
        let worst = back
            .samples
            .iter()
            .zip(&samples)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-4, "{worst}");
        let err = write_wav(&dir.path().join("no/such/dir/b.wav"), &samples, 8000).unwrap_err();
        assert!(err.to_string().contains("b.wav"), "{err}");
    }
}
