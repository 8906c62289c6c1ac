//! Augmentation that keeps a clip's meaning: the digit stays the same digit and the word the
//! same word. Video: digit scale, brightness, a small per-frame shift (camera shake); never a
//! horizontal flip (a flipped 2 is not a 2). Audio: gain, background noise, and a time shift of
//! the word inside the clip.
//!
//! The *robust* preset ([`Augment::ROBUST`]) adds what a camera and a microphone meet and the
//! clean protocol never shows: digits from a quarter of the frame to filling it, dark ink on
//! light paper, blur, a grey background and sensor noise; words cut by the window's border,
//! spoken faster or slower, with louder noise and SpecAugment masks; and "empty" clips (nothing
//! shown, nothing said, no narration), the self-supervised pairs that leave room for "none".
//!
//! [`Jitter::draw`] takes every random number a clip's augmentation needs from the clip's own
//! stream, so a sample stays a pure function of (split, index, seed). The robust fields draw
//! only when they are on, so the standard preset's clips are the same as before they existed.

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
    /// When above zero: the digit's relative size is drawn log-uniformly from
    /// [wide_scale.0, wide_scale.1] instead of from `scale` (1.0 = 28 px on the 64 px canvas).
    pub wide_scale: (f32, f32),
    /// Probability of inverted polarity (dark ink on a light background).
    pub invert: f32,
    /// Largest Gaussian blur sigma, in canvas pixels (drawn from [0, blur] for half the clips).
    pub blur: f32,
    /// Largest background grey level in [0, 1] (the ink is drawn above it).
    pub background: f32,
    /// Largest standard deviation of per-pixel sensor noise, in [0, 1] grey units.
    pub pixel_noise: f32,
    /// Probability that the word is placed partly outside the window (up to 40 % of it cut).
    pub cut_word: f32,
    /// Speed perturbation: the word is played at a rate drawn from [1 - speed, 1 + speed]
    /// (tempo and pitch together, as a speaker talking faster and higher).
    pub speed: f32,
    /// SpecAugment: this many time masks of up to `time_mask` log-mel frames and as many
    /// frequency masks of up to `freq_mask` mel bands, each drawn with probability one half.
    pub spec_masks: usize,
    pub time_mask: usize,
    pub freq_mask: usize,
    /// Probability that a clip is "empty": nothing shown (blank, noisy or cluttered canvas),
    /// nothing said (silence, noise, a tone), no narration.
    pub empty: f32,
    /// Whether empty clips may also show a letter that is no digit (`data::non_digits`'
    /// training set): something that is there, yet none of the labels.
    pub non_digit_letters: bool,
    /// Whether empty clips may also say a word that is no digit (espeak-ng).
    pub non_digit_words: bool,
    /// Share of clips that get the robust levers above (the others keep the standard jitter).
    pub robust_share: f32,
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
        wide_scale: (0.0, 0.0),
        invert: 0.0,
        blur: 0.0,
        background: 0.0,
        pixel_noise: 0.0,
        cut_word: 0.0,
        speed: 0.0,
        spec_masks: 0,
        time_mask: 0,
        freq_mask: 0,
        empty: 0.0,
        non_digit_letters: false,
        non_digit_words: false,
        robust_share: 0.0,
    };

    /// The training default of the 1.x releases (the clean protocol's jitter).
    pub const TRAIN: Augment = Augment {
        scale: 0.15,
        brightness: 0.35,
        shift_px: 1.0,
        gain_db: 6.0,
        noise: 0.005,
        time_shift: 0.1,
        ..Augment::NONE
    };

    /// What users feed the product: sizes from a quarter of the frame (0.5: 14 px digit box on
    /// the 64 px canvas) to filling it (2.3: the 28 px MNIST box stretched over 64 px), either
    /// polarity, blur, background and noise; words anywhere, cut, faster or slower, noisier;
    /// one clip in eight empty.
    pub const ROBUST: Augment = Augment {
        scale: 0.15,
        brightness: 0.35,
        shift_px: 1.0,
        gain_db: 10.0,
        noise: 0.03,
        time_shift: 0.1,
        wide_scale: (0.5, 2.3),
        invert: 0.35,
        blur: 1.2,
        background: 0.3,
        pixel_noise: 0.06,
        cut_word: 0.3,
        speed: 0.15,
        spec_masks: 2,
        time_mask: 12,
        freq_mask: 6,
        empty: 0.125,
        non_digit_letters: false,
        non_digit_words: false,
        robust_share: 0.5,
    };

    /// [`Augment::ROBUST`] with twice the empty clips, which may also show a letter or say a
    /// word that is no digit (the open-set issue: models that leave room for "none").
    pub const ROBUST_OPEN_SET: Augment = Augment {
        empty: 0.25,
        non_digit_letters: true,
        non_digit_words: true,
        ..Augment::ROBUST
    };

    /// [`Augment::ROBUST_OPEN_SET`] without the spoken words: letters only (to tell which of
    /// the two costs what).
    pub const ROBUST_OPEN_SET_LETTERS: Augment = Augment {
        non_digit_words: false,
        ..Augment::ROBUST_OPEN_SET
    };

    /// The augmentation of training step `step`: the robust levers and the empty clips come
    /// in over steps 200..600 (a curriculum). Measured on 120-step runs of the TSM model:
    /// MIL-NCE(v, t) reached 3.03 with the standard jitter, but stayed at 3.45 with the robust
    /// levers from the start and at 3.27 with empty clips alone (chance is about 3.4-3.5):
    /// the network first needs the clean alignment to hold on to.
    pub fn at_step(&self, step: usize) -> Augment {
        let ramp = ((step as f32 - 200.0) / 400.0).clamp(0.0, 1.0);
        Augment {
            robust_share: self.robust_share * ramp,
            empty: self.empty * ramp,
            ..*self
        }
    }

    /// The preset a config names.
    pub fn preset(preset: crate::config::AugmentPreset) -> Augment {
        match preset {
            crate::config::AugmentPreset::Standard => Augment::TRAIN,
            crate::config::AugmentPreset::Robust => Augment::ROBUST,
            crate::config::AugmentPreset::RobustOpenSet => Augment::ROBUST_OPEN_SET,
            crate::config::AugmentPreset::RobustOpenSetLetters => Augment::ROBUST_OPEN_SET_LETTERS,
        }
    }
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
    /// The robust preset's draws; [`Robust::none`] under the other presets.
    pub robust: Robust,
}

/// The robust preset's share of a clip's jitter.
#[derive(Clone, Debug, PartialEq)]
pub struct Robust {
    /// Whether this clip got the robust levers (see [`Augment::robust_share`]).
    pub full: bool,
    pub invert: bool,
    pub blur_sigma: f32,
    /// Background grey level in [0, 1].
    pub background: f32,
    pub pixel_noise: f32,
    /// Where the word starts, as a fraction of the clip (may be negative or past the end minus
    /// the word: the word is cut); None: the usual placement inside the clip.
    pub cut_start: Option<f32>,
    pub speed: f32,
    /// (start, width) of each time mask and each frequency mask.
    pub time_masks: Vec<(f32, usize)>,
    pub freq_masks: Vec<(f32, usize)>,
    /// An empty clip: what it shows and what it sounds like.
    pub empty: Option<(EmptyVideo, EmptyAudio)>,
    /// Seed of the per-pixel noise and of the empty clip's content.
    pub seed: u64,
}

/// What an empty clip shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmptyVideo {
    /// Only the background (and the sensor noise).
    Blank,
    /// Random strokes, boxes and blobs that are no digit, moving like one.
    Clutter,
    /// Strong random noise.
    Noise,
    /// A letter that is no digit, moving like one (only with [`Augment::non_digit_letters`]).
    Letter,
}

/// What an empty clip sounds like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmptyAudio {
    Silence,
    WhiteNoise,
    PinkNoise,
    /// A steady or gliding tone.
    Tone,
    /// A spoken word that is no digit (only with [`Augment::non_digit_words`]).
    Speech,
}

impl Robust {
    pub fn none() -> Self {
        Self {
            full: false,
            invert: false,
            blur_sigma: 0.0,
            background: 0.0,
            pixel_noise: 0.0,
            cut_start: None,
            speed: 1.0,
            time_masks: Vec::new(),
            freq_masks: Vec::new(),
            empty: None,
            seed: 0,
        }
    }

    fn draw(a: &Augment, rng: &mut impl Rng) -> Self {
        let full = rng.random::<f32>() < a.robust_share;
        let off = Augment {
            empty: a.empty,
            non_digit_letters: a.non_digit_letters,
            non_digit_words: a.non_digit_words,
            ..Augment::NONE
        };
        let a = if full { a } else { &off };
        let chance = |rng: &mut dyn rand::RngCore, p: f32| p > 0.0 && rng.random::<f32>() < p;
        let up_to = |rng: &mut dyn rand::RngCore, m: f32| {
            if m > 0.0 {
                rng.random_range(0.0..=m)
            } else {
                0.0
            }
        };
        let invert = chance(rng, a.invert);
        let blur_sigma = if chance(rng, 0.5) {
            up_to(rng, a.blur)
        } else {
            0.0
        };
        let background = up_to(rng, a.background);
        let pixel_noise = up_to(rng, a.pixel_noise);
        // A cut word starts up to 40 % of its own length before the clip or ends as far past
        // it; the fraction is of the clip and is resolved against the word's length later.
        let cut_start = chance(rng, a.cut_word).then(|| rng.random_range(-0.4f32..=0.4));
        let speed = 1.0 + up_to(rng, 2.0 * a.speed) - a.speed;
        let masks = |width: usize, rng: &mut dyn rand::RngCore| {
            let mut out = Vec::new();
            for _ in 0..a.spec_masks {
                if width > 0 && chance(rng, 0.5) {
                    out.push((rng.random::<f32>(), rng.random_range(1..=width)));
                }
            }
            out
        };
        let time_masks = masks(a.time_mask, rng);
        let freq_masks = masks(a.freq_mask, rng);
        // Without non-digit content the draws are exactly the earlier releases' (reproducible).
        let videos = if a.non_digit_letters { 4 } else { 3 };
        let audios = if a.non_digit_words { 6 } else { 4 };
        let empty = chance(rng, a.empty).then(|| {
            let video = match rng.random_range(0..videos) {
                0 => EmptyVideo::Blank,
                1 => EmptyVideo::Clutter,
                2 => EmptyVideo::Noise,
                _ => EmptyVideo::Letter,
            };
            // With non-digit content, speech is one empty sound in three.
            let audio = match rng.random_range(0..audios) {
                0 => EmptyAudio::Silence,
                1 => EmptyAudio::WhiteNoise,
                2 => EmptyAudio::PinkNoise,
                3 => EmptyAudio::Tone,
                _ => EmptyAudio::Speech,
            };
            (video, audio)
        });
        Self {
            full,
            invert,
            blur_sigma,
            background,
            pixel_noise,
            cut_start,
            speed,
            time_masks,
            freq_masks,
            empty,
            seed: rng.random(),
        }
    }
}

impl Augment {
    /// Whether any robust field is on (only then does [`Jitter::draw`] draw them).
    pub fn is_robust(&self) -> bool {
        self.wide_scale.1 > 0.0
            || self.invert > 0.0
            || self.blur > 0.0
            || self.background > 0.0
            || self.pixel_noise > 0.0
            || self.cut_word > 0.0
            || self.speed > 0.0
            || self.spec_masks > 0
            || self.empty > 0.0
    }
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
        let mut scale = 1.0 + sym(a.scale);
        let brightness = 1.0 - sym(a.brightness).abs();
        let shifts = (0..frames)
            .map(|_| (sym(a.shift_px), sym(a.shift_px)))
            .collect();
        let gain = 10f32.powf(sym(a.gain_db) / 20.0);
        let noise = sym(a.noise).abs();
        let time_shift = sym(a.time_shift);
        let noise_seed = if noise > 0.0 { rng.random() } else { 0 };
        let robust = if a.is_robust() {
            let robust = Robust::draw(a, rng);
            if a.wide_scale.1 > 0.0 && robust.full {
                let (lo, hi) = (a.wide_scale.0.max(1e-3).ln(), a.wide_scale.1.ln());
                scale = rng.random_range(lo..=hi.max(lo)).exp();
            }
            robust
        } else {
            Robust::none()
        };
        Self {
            scale,
            brightness,
            shifts,
            gain,
            noise,
            time_shift,
            noise_seed,
            robust,
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
            robust: Robust::none(),
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
        assert_eq!(j.robust, Robust::none());
    }

    #[test]
    fn the_curriculum_brings_the_robust_levers_in_over_steps_200_to_600() {
        let a = Augment::ROBUST;
        assert_eq!(a.at_step(0).robust_share, 0.0);
        assert_eq!(a.at_step(0).empty, 0.0);
        assert_eq!(a.at_step(400).robust_share, a.robust_share / 2.0);
        assert_eq!(a.at_step(600), a);
        assert_eq!(Augment::TRAIN.at_step(0), Augment::TRAIN);
        let mut rng = StdRng::seed_from_u64(3);
        let early = Augment::ROBUST.at_step(100);
        for _ in 0..200 {
            let j = Jitter::draw(&early, 8, &mut rng);
            assert!(!j.robust.full && j.robust.empty.is_none());
            assert!((0.85..=1.15).contains(&j.scale));
        }
    }

    #[test]
    fn robust_preset_draws_every_lever() {
        let mut rng = StdRng::seed_from_u64(1);
        let draws: Vec<Jitter> = (0..400)
            .map(|_| Jitter::draw(&Augment::ROBUST, 8, &mut rng))
            .collect();
        let share = |f: &dyn Fn(&Jitter) -> bool| {
            draws.iter().filter(|j| f(j)).count() as f32 / draws.len() as f32
        };
        assert!(draws.iter().all(|j| (0.5..=2.3).contains(&j.scale)));
        assert!((0.4..0.6).contains(&share(&|j| j.robust.full)));
        // Clips without the robust levers keep the standard jitter.
        assert!(
            draws
                .iter()
                .filter(|j| !j.robust.full)
                .all(|j| (0.85..=1.15).contains(&j.scale) && !j.robust.invert)
        );
        assert!(share(&|j| j.scale < 0.8) > 0.07 && share(&|j| j.scale > 1.6) > 0.07);
        assert!((0.1..0.25).contains(&share(&|j| j.robust.invert)));
        assert!((0.08..0.22).contains(&share(&|j| j.robust.cut_start.is_some())));
        assert!((0.07..0.2).contains(&share(&|j| j.robust.empty.is_some())));
        assert!(share(&|j| !j.robust.time_masks.is_empty()) > 0.25);
        assert!(
            draws
                .iter()
                .all(|j| (0.85..=1.15).contains(&j.robust.speed))
        );
    }

    #[test]
    fn only_the_open_set_preset_shows_letters_and_says_words() {
        let empties = |a: &Augment| {
            let mut rng = StdRng::seed_from_u64(2);
            (0..2000)
                .filter_map(|_| Jitter::draw(a, 8, &mut rng).robust.empty)
                .collect::<Vec<_>>()
        };
        let robust = empties(&Augment::ROBUST);
        assert!(
            robust
                .iter()
                .all(|&(v, a)| v != EmptyVideo::Letter && a != EmptyAudio::Speech)
        );
        let open = empties(&Augment::ROBUST_OPEN_SET);
        let n = open.len() as f32;
        assert!(
            (0.2..0.3).contains(&(n / 2000.0)),
            "{n} empty clips of 2000"
        );
        let letters = open.iter().filter(|e| e.0 == EmptyVideo::Letter).count() as f32;
        let words = open.iter().filter(|e| e.1 == EmptyAudio::Speech).count() as f32;
        assert!(
            (0.18..0.32).contains(&(letters / n)),
            "letters {letters} of {n}"
        );
        assert!((0.25..0.42).contains(&(words / n)), "words {words} of {n}");
        let letters_only = empties(&Augment::ROBUST_OPEN_SET_LETTERS);
        assert!(letters_only.iter().all(|&(_, a)| a != EmptyAudio::Speech));
        assert!(letters_only.iter().any(|&(v, _)| v == EmptyVideo::Letter));
    }
}
