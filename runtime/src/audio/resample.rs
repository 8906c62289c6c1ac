//! Offline sample-rate conversion of a whole clip.
//!
//! Uses rubato's synchronous FFT resampler, which applies a steep
//! anti-aliasing filter and is exact for rational rate ratios (all real audio
//! rates are integers). The resampler's own delay is removed so that output
//! sample `n` lines up with time `n / to_hz`, and the output has exactly
//! `round(len * to_hz / from_hz)` samples.

use rubato::{FftFixedInOut, Resampler};

use super::AudioError;

/// Approximate input chunk size for rubato, rounded up to a multiple of
/// `from_hz / gcd(from_hz, to_hz)`. ~1k keeps the FFTs small and fast.
const CHUNK: usize = 1024;

/// Number of output samples for `len` input samples: `round(len * to / from)`
/// (halves round up). Returns 0 when `from_hz` is 0.
pub fn resampled_len(len: usize, from_hz: u32, to_hz: u32) -> usize {
    if from_hz == 0 {
        return 0;
    }
    // u128 so that long clips at high rates cannot overflow.
    let (len, from, to) = (len as u128, u128::from(from_hz), u128::from(to_hz));
    usize::try_from((len * to + from / 2) / from).unwrap_or(usize::MAX)
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Resamples mono `samples` from `from_hz` to `to_hz`.
///
/// Equal rates return the input unchanged; empty input gives empty output.
/// Errors if either rate is zero.
pub fn resample(samples: &[f32], from_hz: u32, to_hz: u32) -> Result<Vec<f32>, AudioError> {
    if from_hz == 0 || to_hz == 0 {
        return Err(AudioError::InvalidRate { from_hz, to_hz });
    }
    if from_hz == to_hz {
        return Ok(samples.to_vec());
    }
    let out_len = resampled_len(samples.len(), from_hz, to_hz);
    if out_len == 0 {
        return Ok(Vec::new());
    }
    let rubato_err = |reason: String| AudioError::Resample {
        from_hz,
        to_hz,
        reason,
    };

    // rubato's FFT resampler delays the signal by floor(chunk_in / 2) input
    // samples; only an even chunk makes that a whole number of output samples
    // (chunk_out / 2) that we can cut off exactly. chunk_in is a multiple of
    // from_hz / gcd, so pick an even multiple when that quotient is odd.
    let min_in = (from_hz / gcd(from_hz, to_hz)) as usize;
    let mut multiple = CHUNK.div_ceil(min_in);
    if min_in % 2 == 1 && multiple % 2 == 1 {
        multiple += 1;
    }
    let mut resampler =
        FftFixedInOut::<f32>::new(from_hz as usize, to_hz as usize, multiple * min_in, 1)
            .map_err(|e| rubato_err(e.to_string()))?;
    if resampler.input_frames_next() % 2 == 1 {
        // Only reachable for absurd rates where rubato's f32 sizing rounds.
        return Err(rubato_err(format!(
            "odd FFT chunk {} would misalign the output",
            resampler.input_frames_next()
        )));
    }
    let chunk_in = resampler.input_frames_next();
    let chunk_out = resampler.output_frames_next();
    // The first `delay` output samples are the filter's warm-up, not signal.
    let delay = resampler.output_delay();
    let wanted = delay + out_len;

    let mut input = vec![0.0f32; chunk_in];
    let mut output = vec![0.0f32; chunk_out];
    let mut out = Vec::with_capacity(wanted + chunk_out);
    let mut pos = 0usize;
    // Keep feeding (zero-padded past the end) until the delayed tail is flushed.
    while out.len() < wanted {
        let end = samples.len().min(pos.saturating_add(chunk_in));
        let take = end.saturating_sub(pos);
        if take > 0 {
            input[..take].copy_from_slice(&samples[pos..end]);
        }
        input[take..].fill(0.0);
        resampler
            .process_into_buffer(&[input.as_slice()], &mut [output.as_mut_slice()], None)
            .map_err(|e| rubato_err(e.to_string()))?;
        out.extend_from_slice(&output);
        pos = pos.saturating_add(chunk_in);
    }
    out.drain(..delay);
    out.truncate(out_len);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f32::consts::TAU;

    fn sine(freq: f32, rate: u32, len: usize) -> Vec<f32> {
        (0..len)
            .map(|n| (TAU * freq * n as f32 / rate as f32).sin())
            .collect()
    }

    #[test]
    fn identity_when_rates_equal() {
        let x = sine(440.0, 16_000, 1000);
        assert_eq!(resample(&x, 16_000, 16_000).unwrap(), x);
    }

    #[test]
    fn zero_rates_are_errors() {
        assert!(matches!(
            resample(&[0.0; 10], 0, 16_000),
            Err(AudioError::InvalidRate { .. })
        ));
        assert!(matches!(
            resample(&[0.0; 10], 16_000, 0),
            Err(AudioError::InvalidRate { .. })
        ));
    }

    #[test]
    fn output_length_is_rounded_ratio() {
        for &(len, from, to) in &[
            (0usize, 8_000u32, 16_000u32),
            (1, 8_000, 16_000),
            (1, 44_100, 16_000),
            (12_345, 44_100, 16_000),
            (16_000, 16_000, 8_000),
            (777, 22_050, 16_000),
            (4_801, 48_000, 44_100),
        ] {
            let y = resample(&vec![0.1; len], from, to).unwrap();
            let expected = ((len as f64) * f64::from(to) / f64::from(from)).round() as usize;
            assert_eq!(y.len(), expected, "{len} samples {from}->{to}");
        }
    }

    /// A tone well inside both bands must come out as the same tone, in phase
    /// (checks that the resampler delay is compensated).
    #[test]
    fn tone_survives_up_and_down_sampling() {
        for &(from, to) in &[
            (8_000u32, 16_000u32),
            (44_100, 16_000),
            (22_050, 16_000),
            (16_000, 22_050),
            (48_000, 16_000),
            (11_025, 8_000),
        ] {
            let len = from as usize; // one second
            let x = sine(440.0, from, len);
            let y = resample(&x, from, to).unwrap();
            let want = sine(440.0, to, y.len());
            // Skip the edges, where zero padding makes a (correct) transient.
            let margin = to as usize / 20;
            let err = y[margin..y.len() - margin]
                .iter()
                .zip(&want[margin..want.len() - margin])
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(err < 1e-3, "{from}->{to}: max error {err}");
        }
    }

    #[test]
    fn removes_content_above_new_nyquist() {
        // 6 kHz cannot exist at 8 kHz sampling; it must be filtered, not aliased.
        let x = sine(6_000.0, 16_000, 16_000);
        let y = resample(&x, 16_000, 8_000).unwrap();
        let rms = (y[800..7200].iter().map(|v| v * v).sum::<f32>() / 6400.0).sqrt();
        assert!(rms < 1e-2, "aliased energy rms {rms}");
    }
}
