//! Log-mel spectrogram: the audio network's input features.
//!
//! The output matches, to float32 rounding, librosa's
//!
//! ```python
//! mel = librosa.feature.melspectrogram(
//!     y=y, sr=sr, n_fft=n_fft, hop_length=hop, win_length=n_fft, window="hann",
//!     center=True, pad_mode="constant", power=1.0, n_mels=n_mels,
//!     fmin=f_min, fmax=f_max, htk=True, norm=None)
//! log_mel = np.log(mel + 1e-6)
//! ```
//!
//! i.e. a *magnitude* STFT with a periodic Hann window over a signal padded
//! with `n_fft / 2` zeros at both ends, HTK-scale unnormalised triangular mel
//! filters, and a natural log with a `1e-6` floor, as the MMV reference TF
//! pipeline does. `benches/logmel_vs_librosa.py` checks this claim.
//!
//! Frame `t` is centred on input sample `t * hop_length`, so a clip of `len`
//! samples has `1 + len / hop_length` frames. Empty input follows the same
//! formula: one frame of all-zero (padding) signal, i.e. `ln(1e-6)` everywhere.

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};
use serde::{Deserialize, Serialize};

use super::AudioError;

/// Added to the mel energies before the log so silence maps to `ln(1e-6)`.
pub const LOG_OFFSET: f32 = 1e-6;

/// Parameters of the log-mel front end; stored in model bundles so training
/// and inference featurise identically.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LogMelConfig {
    /// Sample rate the input must already have, in Hz.
    pub sample_rate: u32,
    /// FFT size and window length, in samples (must be even).
    pub n_fft: usize,
    /// Hop between frame centres, in samples.
    pub hop_length: usize,
    /// Number of mel bands.
    pub n_mels: usize,
    /// Lowest filter edge, in Hz.
    pub f_min: f32,
    /// Highest filter edge, in Hz (at most `sample_rate / 2`).
    pub f_max: f32,
}

impl Default for LogMelConfig {
    /// 16 kHz, 32 ms windows, 16 ms hop, 40 bands over 80–7600 Hz: the models' setting
    /// (`[audio.logmel]` of `models/*.toml`, checked against the embedded default model).
    fn default() -> Self {
        Self {
            sample_rate: 16_000,
            n_fft: 512,
            hop_length: 256,
            n_mels: 40,
            f_min: 80.0,
            f_max: 7600.0,
        }
    }
}

impl LogMelConfig {
    /// Rejects configurations that cannot produce meaningful features.
    pub fn validate(&self) -> Result<(), AudioError> {
        let bad = |msg: String| Err(AudioError::InvalidLogMelConfig(msg));
        if self.sample_rate == 0 {
            return bad("sample_rate must be positive".into());
        }
        if self.n_fft < 2 || !self.n_fft.is_multiple_of(2) {
            // Even sizes keep librosa's centring symmetric (frames = 1 + len/hop).
            return bad(format!("n_fft must be even and >= 2, got {}", self.n_fft));
        }
        if self.hop_length == 0 {
            return bad("hop_length must be positive".into());
        }
        if self.n_mels == 0 {
            return bad("n_mels must be positive".into());
        }
        if !self.f_min.is_finite() || !self.f_max.is_finite() || self.f_min < 0.0 {
            return bad(format!(
                "f_min and f_max must be finite and f_min >= 0, got {} and {}",
                self.f_min, self.f_max
            ));
        }
        if self.f_min >= self.f_max {
            return bad(format!(
                "f_min ({}) must be below f_max ({})",
                self.f_min, self.f_max
            ));
        }
        let nyquist = self.sample_rate as f32 / 2.0;
        if self.f_max > nyquist {
            return bad(format!(
                "f_max ({}) exceeds the Nyquist frequency ({nyquist}) of {} Hz audio",
                self.f_max, self.sample_rate
            ));
        }
        Ok(())
    }
}

/// A log-mel spectrogram, time-major: `data[t * n_mels + m]`.
#[derive(Clone, Debug, PartialEq)]
pub struct LogMelSpec {
    pub frames: usize,
    pub n_mels: usize,
    pub data: Vec<f32>,
}

impl LogMelSpec {
    /// The `n_mels` values of frame `t`.
    pub fn frame(&self, t: usize) -> &[f32] {
        &self.data[t * self.n_mels..(t + 1) * self.n_mels]
    }
}

/// One triangular filter, stored sparsely as the FFT bins it touches.
#[derive(Clone, Debug)]
struct MelFilter {
    first_bin: usize,
    weights: Vec<f32>,
}

/// A log-mel extractor; build once per config and reuse (it is `Send + Sync`).
#[derive(Clone)]
pub struct LogMel {
    config: LogMelConfig,
    /// Periodic Hann window (`scipy.signal.get_window('hann', n, fftbins=True)`).
    window: Vec<f64>,
    /// The FFT runs in f64 like librosa's (its window is float64, which
    /// promotes the frames), so we agree with it to float32 rounding even in
    /// quiet bins of loud frames, where the log magnifies tiny errors.
    fft: Arc<dyn RealToComplex<f64>>,
    filters: Vec<MelFilter>,
}

impl std::fmt::Debug for LogMel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogMel")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Hz to mel on the HTK scale: `2595 * log10(1 + f / 700)`.
pub fn hz_to_mel_htk(hz: f64) -> f64 {
    2595.0 * (1.0 + hz / 700.0).log10()
}

/// Mel (HTK scale) to Hz: `700 * (10^(m / 2595) - 1)`.
pub fn mel_to_hz_htk(mel: f64) -> f64 {
    700.0 * (10f64.powf(mel / 2595.0) - 1.0)
}

impl LogMel {
    /// Validates `config` and precomputes the window, FFT plan and filterbank.
    pub fn new(config: LogMelConfig) -> Result<Self, AudioError> {
        config.validate()?;
        let n = config.n_fft;
        let window = (0..n)
            .map(|i| 0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / n as f64).cos())
            .collect();
        let fft = RealFftPlanner::<f64>::new().plan_fft_forward(n);
        let filters = mel_filterbank(&config);
        Ok(Self {
            config,
            window,
            fft,
            filters,
        })
    }

    pub fn config(&self) -> &LogMelConfig {
        &self.config
    }

    /// Centre frequencies of the mel bands in Hz (band `m` peaks there).
    pub fn band_centers_hz(&self) -> Vec<f64> {
        mel_points(&self.config)[1..=self.config.n_mels].to_vec()
    }

    /// Frames produced for `num_samples` input samples: `1 + num_samples / hop`.
    pub fn num_frames(&self, num_samples: usize) -> usize {
        1 + num_samples / self.config.hop_length
    }

    /// Computes the log-mel spectrogram of `samples` (already at
    /// `config.sample_rate`). Never fails: any length, including 0, is valid.
    pub fn compute(&self, samples: &[f32]) -> LogMelSpec {
        let mut spec = LogMelSpec {
            frames: 0,
            n_mels: self.config.n_mels,
            data: Vec::new(),
        };
        self.compute_into(samples, &mut spec);
        spec
    }

    /// Like [`compute`](Self::compute) but reuses `out`'s allocation.
    pub fn compute_into(&self, samples: &[f32], out: &mut LogMelSpec) {
        let n_fft = self.config.n_fft;
        let hop = self.config.hop_length;
        let n_mels = self.config.n_mels;
        let pad = n_fft / 2;
        let frames = self.num_frames(samples.len());

        out.frames = frames;
        out.n_mels = n_mels;
        out.data.clear();
        out.data.resize(frames * n_mels, 0.0);

        // Scratch buffers: allocated once per call, reused for every frame.
        let mut frame = self.fft.make_input_vec();
        let mut spectrum = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        let mut magnitude = vec![0.0f32; spectrum.len()];

        for (t, row) in out.data.chunks_exact_mut(n_mels).enumerate() {
            // Window covers padded[t*hop .. t*hop+n_fft], i.e. samples from
            // t*hop - pad; the parts before 0 and past the end are zero padding.
            // t <= len / hop, so first_sample <= len and the slice below is valid.
            let lo = pad.saturating_sub(t * hop);
            let first_sample = (t * hop).saturating_sub(pad);
            let avail = samples.len().saturating_sub(first_sample);
            let hi = (lo + avail).min(n_fft);
            frame[..lo].fill(0.0);
            frame[hi..].fill(0.0);
            for ((dst, w), &s) in frame[lo..hi]
                .iter_mut()
                .zip(&self.window[lo..hi])
                .zip(&samples[first_sample..])
            {
                *dst = f64::from(s) * w;
            }
            // Lengths come from the plan itself, so this cannot fail.
            if self
                .fft
                .process_with_scratch(&mut frame, &mut spectrum, &mut scratch)
                .is_err()
            {
                unreachable!("realfft buffers were made by the plan");
            }
            // librosa stores the STFT as complex64, so round before |.|.
            for (m, c) in magnitude.iter_mut().zip(&spectrum) {
                let c = Complex::new(c.re as f32, c.im as f32);
                *m = (c.re * c.re + c.im * c.im).sqrt();
            }
            for (v, filter) in row.iter_mut().zip(&self.filters) {
                let bins = &magnitude[filter.first_bin..filter.first_bin + filter.weights.len()];
                let energy: f32 = bins.iter().zip(&filter.weights).map(|(a, w)| a * w).sum();
                *v = (energy + LOG_OFFSET).ln();
            }
        }
    }
}

/// `n_mels + 2` filter edge frequencies in Hz, evenly spaced in HTK mel
/// (librosa's `mel_frequencies(n_mels + 2, fmin, fmax, htk=True)`).
fn mel_points(config: &LogMelConfig) -> Vec<f64> {
    let count = config.n_mels + 2;
    let lo = hz_to_mel_htk(f64::from(config.f_min));
    let hi = hz_to_mel_htk(f64::from(config.f_max));
    let step = (hi - lo) / (count - 1) as f64;
    (0..count)
        .map(|i| {
            // np.linspace pins the last point to `stop` exactly.
            let mel = if i == count - 1 {
                hi
            } else {
                lo + i as f64 * step
            };
            mel_to_hz_htk(mel)
        })
        .collect()
}

/// librosa's `filters.mel(htk=True, norm=None)`: triangles in f64, stored f32.
fn mel_filterbank(config: &LogMelConfig) -> Vec<MelFilter> {
    let n_bins = config.n_fft / 2 + 1;
    // np.fft.rfftfreq(n_fft, 1/sr)
    let bin_hz = 1.0 / (config.n_fft as f64 * (1.0 / f64::from(config.sample_rate)));
    let edges = mel_points(config);
    (0..config.n_mels)
        .map(|m| {
            let (left, centre, right) = (edges[m], edges[m + 1], edges[m + 2]);
            let weights: Vec<f32> = (0..n_bins)
                .map(|k| {
                    let f = k as f64 * bin_hz;
                    let rising = (f - left) / (centre - left);
                    let falling = (right - f) / (right - centre);
                    rising.min(falling).max(0.0) as f32
                })
                .collect();
            // Keep only the non-zero span; a degenerate (empty) filter keeps a
            // zero-length span and yields ln(1e-6), as librosa's zero row does.
            let first = weights.iter().position(|&w| w > 0.0).unwrap_or(0);
            let last = weights
                .iter()
                .rposition(|&w| w > 0.0)
                .map_or(first, |l| l + 1);
            MelFilter {
                first_bin: first,
                weights: weights[first..last].to_vec(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f32::consts::TAU;

    fn default_logmel() -> LogMel {
        LogMel::new(LogMelConfig::default()).unwrap()
    }

    fn tone(freq: f32, rate: u32, len: usize, amp: f32) -> Vec<f32> {
        (0..len)
            .map(|n| amp * (TAU * freq * n as f32 / rate as f32).sin())
            .collect()
    }

    #[test]
    fn frame_count_formula() {
        let lm = default_logmel();
        for len in [0usize, 1, 255, 256, 257, 511, 512, 16_000, 20_800] {
            let spec = lm.compute(&vec![0.0; len]);
            assert_eq!(spec.frames, 1 + len / 256, "len {len}");
            assert_eq!(lm.num_frames(len), spec.frames);
            assert_eq!(spec.data.len(), spec.frames * lm.config().n_mels);
        }
    }

    #[test]
    fn silence_and_empty_input_give_log_floor() {
        let lm = default_logmel();
        let floor = LOG_OFFSET.ln();
        for len in [0usize, 1, 1000] {
            let spec = lm.compute(&vec![0.0; len]);
            assert!(spec.data.iter().all(|&v| v == floor), "len {len}");
        }
    }

    #[test]
    fn tone_peaks_in_its_band() {
        let lm = default_logmel();
        let centers = lm.band_centers_hz();
        for &f in &[250.0f32, 440.0, 1000.0, 3000.0, 6500.0] {
            let spec = lm.compute(&tone(f, 16_000, 16_000, 0.5));
            let expected = centers
                .iter()
                .enumerate()
                .min_by(|a, b| {
                    (a.1 - f64::from(f))
                        .abs()
                        .total_cmp(&(b.1 - f64::from(f)).abs())
                })
                .unwrap()
                .0;
            let mid = spec.frame(spec.frames / 2);
            let peak = mid
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .unwrap()
                .0;
            assert_eq!(peak, expected, "{f} Hz");
        }
    }

    #[test]
    fn filterbank_matches_htk_triangles() {
        let lm = default_logmel();
        // Each filter peaks at <= 1 and spans the bins between its edges.
        for filter in &lm.filters {
            assert!(!filter.weights.is_empty());
            let max = filter.weights.iter().cloned().fold(0.0f32, f32::max);
            assert!(max > 0.0 && max <= 1.0);
        }
        assert!((hz_to_mel_htk(700.0) - 2595.0 * 2f64.log10()).abs() < 1e-9);
        assert!((mel_to_hz_htk(hz_to_mel_htk(1234.5)) - 1234.5).abs() < 1e-9);
    }

    #[test]
    fn known_value_of_dc_frame() {
        // For a constant 1.0 signal an interior frame's spectrum is the Hann
        // window's: |X[0]| = n/2, |X[1]| = n/4, zero elsewhere. With f_min = 0
        // the first band weights bin 0 by 0, so it sees only 128 * w[1].
        let cfg = LogMelConfig {
            f_min: 0.0,
            ..LogMelConfig::default()
        };
        let lm = LogMel::new(cfg).unwrap();
        let spec = lm.compute(&vec![1.0; 4096]);
        let mid = spec.frame(8);
        let f = &lm.filters[0];
        let w1 = if f.first_bin <= 1 && 1 < f.first_bin + f.weights.len() {
            f.weights[1 - f.first_bin]
        } else {
            0.0
        };
        let expected = (128.0 * w1 + LOG_OFFSET).ln();
        assert!((mid[0] - expected).abs() < 1e-4, "{} vs {expected}", mid[0]);
    }

    #[test]
    fn compute_into_reuses_and_matches() {
        let lm = default_logmel();
        let x = tone(1000.0, 16_000, 5000, 0.3);
        let a = lm.compute(&x);
        let mut b = lm.compute(&[0.0; 100_000]);
        lm.compute_into(&x, &mut b);
        assert_eq!(a, b);
    }

    #[test]
    fn config_validation() {
        assert!(LogMelConfig::default().validate().is_ok());
        let base = LogMelConfig::default();
        let bad = [
            LogMelConfig {
                sample_rate: 0,
                ..base.clone()
            },
            LogMelConfig {
                n_fft: 0,
                ..base.clone()
            },
            LogMelConfig {
                n_fft: 511,
                ..base.clone()
            },
            LogMelConfig {
                hop_length: 0,
                ..base.clone()
            },
            LogMelConfig {
                n_mels: 0,
                ..base.clone()
            },
            LogMelConfig {
                f_max: 8000.5,
                ..base.clone()
            },
            LogMelConfig {
                f_min: 7600.0,
                ..base.clone()
            },
            LogMelConfig {
                f_min: -1.0,
                ..base.clone()
            },
            LogMelConfig {
                f_max: f32::NAN,
                ..base.clone()
            },
        ];
        for cfg in bad {
            let err = LogMel::new(cfg.clone()).unwrap_err();
            assert!(
                matches!(err, AudioError::InvalidLogMelConfig(_)),
                "{cfg:?}: {err}"
            );
        }
        // f_max exactly at Nyquist is allowed.
        assert!(
            LogMelConfig {
                f_max: 8000.0,
                ..base
            }
            .validate()
            .is_ok()
        );
    }

    #[test]
    fn logmel_is_shareable_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<LogMel>();
    }

    #[test]
    fn default_is_the_default_models_setting() {
        // The file mmv-training embeds as its default model (`config::EMBEDDED_DEFAULT`).
        let model: toml::Value =
            toml::from_str(include_str!("../../../models/avdigits-fac-s3d.toml")).unwrap();
        let logmel: LogMelConfig = model["audio"]["logmel"].clone().try_into().unwrap();
        assert_eq!(logmel, LogMelConfig::default());
    }

    #[test]
    fn config_roundtrips_through_json() {
        let cfg = LogMelConfig::default();
        let json = serde_json::to_string(&cfg).unwrap();
        assert_eq!(serde_json::from_str::<LogMelConfig>(&json).unwrap(), cfg);
    }
}
