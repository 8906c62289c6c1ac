//! White noise added to audio, reproducibly: the training clips' background noise and the
//! noise floor a bundle may ask for before its log-mel (`audio.noise_floor` in the manifest).
//!
//! Training adds a little background noise to nearly every clip, so the audio network has
//! hardly seen exact digital silence; a trimmed WAV padded with zeros to fill a window is out
//! of its distribution. A bundle whose manifest names a floor gets that noise added to every
//! window (the same noise for the same window: a fixed seed), in `mmv tag`, search and the
//! daemon alike.

/// Adds white noise of standard deviation `sigma` (about Gaussian: a sum of four uniforms) to
/// `samples`, drawn from a stream fixed by `seed`.
pub fn add_white_noise(samples: &mut [f32], sigma: f32, seed: u64) {
    if sigma <= 0.0 {
        return;
    }
    let mut state = seed;
    let mut uniform = || {
        // splitmix64: a small, well-mixed generator that needs no dependency.
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 24) as f32
    };
    for s in samples {
        // Four uniforms in [-0.5, 0.5) sum to variance 1/3; x1.7 brings it to about 1.
        let g = (0..4).map(|_| uniform() - 0.5).sum::<f32>() * 1.7;
        *s += g * sigma;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn has_the_asked_level_and_repeats_with_its_seed() {
        let mut a = vec![0.0f32; 48_000];
        add_white_noise(&mut a, 0.01, 7);
        let mean = a.iter().sum::<f32>() / a.len() as f32;
        let sd = (a.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / a.len() as f32).sqrt();
        assert!(mean.abs() < 2e-4, "mean {mean}");
        assert!((sd - 0.0098).abs() < 5e-4, "sd {sd}");
        let mut b = vec![0.0f32; 48_000];
        add_white_noise(&mut b, 0.01, 7);
        assert_eq!(a, b);
        let mut c = vec![0.0f32; 48_000];
        add_white_noise(&mut c, 0.01, 8);
        assert_ne!(a, c);
        let mut silent = vec![0.25f32; 10];
        add_white_noise(&mut silent, 0.0, 7);
        assert_eq!(silent, vec![0.25f32; 10]);
    }
}
