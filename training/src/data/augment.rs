//! Augmentation that keeps a clip's meaning: the digit stays the same digit and the word the
//! same word. Video: digit scale, brightness, a small per-frame shift (camera shake); never a
//! horizontal flip (a flipped 2 is not a 2). Audio: gain, background noise, and a time shift of
//! the word inside the clip.
//!
//! [`Jitter::draw`] takes every random number a clip's augmentation needs from the clip's own
//! stream, so a sample stays a pure function of (split, index, seed).

use rand::Rng;

/// How strongly to augment; [`Augment::NONE`] for evaluation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Augment {
    /// Relative digit size is drawn from [1 - scale, 1 + scale].
    pub scale: f32,
    /// Peak brightness is drawn from [1 - brightness, 1].
    pub brightness: f32,
    /// Per-frame shift in canvas pixels, each axis in [-shift_px, shift_px].
    pub shift_px: f32,
    /// Gain in dB, drawn from [-gain_db, gain_db].
    pub gain_db: f32,
    /// Standard deviation of added white noise, drawn from [0, noise].
    pub noise: f32,
    /// Extra shift of the word's placement, as a fraction of the clip, in [-time_shift, time_shift].
    pub time_shift: f32,
}

impl Augment {
    /// No augmentation: nominal size and brightness, clean audio.
    pub const NONE: Augment = Augment {
        scale: 0.0,
        brightness: 0.0,
        shift_px: 0.0,
        gain_db: 0.0,
        noise: 0.0,
        time_shift: 0.0,
    };

    /// The training default.
    pub const TRAIN: Augment = Augment {
        scale: 0.15,
        brightness: 0.35,
        shift_px: 1.0,
        gain_db: 6.0,
        noise: 0.005,
        time_shift: 0.1,
    };
}

/// One clip's drawn augmentation.
#[derive(Clone, Debug, PartialEq)]
pub struct Jitter {
    pub scale: f32,
    pub brightness: f32,
    /// (dx, dy) per frame.
    pub shifts: Vec<(f32, f32)>,
    pub gain: f32,
    pub noise: f32,
    /// Fraction of the clip to move the word by.
    pub time_shift: f32,
    /// Seed of the noise samples.
    pub noise_seed: u64,
}

impl Jitter {
    pub fn draw(a: &Augment, frames: usize, rng: &mut impl Rng) -> Self {
        let mut sym = |r: f32| {
            if r > 0.0 {
                rng.random_range(-r..=r)
            } else {
                0.0
            }
        };
        let scale = 1.0 + sym(a.scale);
        let brightness = 1.0 - sym(a.brightness).abs();
        let shifts = (0..frames)
            .map(|_| (sym(a.shift_px), sym(a.shift_px)))
            .collect();
        let gain = 10f32.powf(sym(a.gain_db) / 20.0);
        let noise = sym(a.noise).abs();
        let time_shift = sym(a.time_shift);
        let noise_seed = if noise > 0.0 { rng.random() } else { 0 };
        Self {
            scale,
            brightness,
            shifts,
            gain,
            noise,
            time_shift,
            noise_seed,
        }
    }

    /// The identity jitter (what [`Augment::NONE`] draws).
    pub fn none(frames: usize) -> Self {
        Self {
            scale: 1.0,
            brightness: 1.0,
            shifts: vec![(0.0, 0.0); frames],
            gain: 1.0,
            noise: 0.0,
            time_shift: 0.0,
            noise_seed: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{SeedableRng, rngs::StdRng};

    #[test]
    fn none_draws_the_identity() {
        let mut rng = StdRng::seed_from_u64(0);
        assert_eq!(Jitter::draw(&Augment::NONE, 3, &mut rng), Jitter::none(3));
        let j = Jitter::draw(&Augment::TRAIN, 3, &mut rng);
        assert!((0.85..=1.15).contains(&j.scale));
        assert!((0.65..=1.0).contains(&j.brightness));
        assert!(j.gain > 0.49 && j.gain < 2.0);
    }
}
