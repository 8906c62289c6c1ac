//! A small built-in audio-visual task, so the demo and the tests run with no data at all.
//!
//! Each of ten classes is a digit: the video is that digit drawn as a seven-segment glyph,
//! moving and bouncing on a black canvas (a Moving-MNIST stand-in); the audio is a two-tone
//! "utterance" at class-specific pitches placed at a random time in the clip; the text is a few
//! narrations that name the digit. Everything passes through the runtime's front ends (frames,
//! log-mel, tokenizer), exactly as real data does.

use burn::prelude::*;
use mmv_runtime::audio::{LogMel, LogMelConfig};
use mmv_runtime::frames::{FrameSpec, preprocess_gray8};
use mmv_runtime::text::{Tokenizer, Vocab};
use rand::{Rng, SeedableRng, rngs::StdRng};

use crate::config::MmvConfig;
use crate::data::narrations::narration;
pub use crate::data::narrations::{DIGIT_WORDS, NARRATIONS};
pub use crate::data::{Sample, batch_from_samples};
use crate::model::Batch;

/// Seven-segment masks (a, b, c, d, e, f, g) for 0-9.
const SEGMENTS: [u8; 10] = [
    0b0111111, 0b0000110, 0b1011011, 0b1001111, 0b1100110, 0b1101101, 0b1111101, 0b0000111,
    0b1111111, 0b1101111,
];

/// The generator: front ends built once from the model config.
pub struct SyntheticAv {
    config: MmvConfig,
    frame_spec: FrameSpec,
    logmel: LogMel,
    tokenizer: Tokenizer,
    vocab: Vocab,
}

/// The frame front end's settings for a model.
pub use crate::data::avdigits::frame_spec;
/// Every word the narrations use, for building a vocabulary.
pub use crate::data::narrations::narration_words;

impl SyntheticAv {
    pub fn new(config: &MmvConfig, vocab: Vocab) -> Result<Self, mmv_runtime::audio::AudioError> {
        Ok(Self {
            frame_spec: frame_spec(config),
            logmel: LogMel::new(config.audio.logmel.clone())?,
            tokenizer: Tokenizer::with_max_words(config.text.max_words),
            vocab,
            config: config.clone(),
        })
    }

    pub fn logmel_config(&self) -> &LogMelConfig {
        self.logmel.config()
    }

    /// The narration token ids of a prompt, as the text encoder takes them ([W]).
    pub fn encode_text(&self, text: &str) -> Vec<u32> {
        self.tokenizer.encode(text, &self.vocab)
    }

    /// One sample of `class` (0-9); `seed` fixes motion, timing, noise and narrations.
    pub fn sample(&self, class: usize, seed: u64) -> Sample {
        let mut rng = StdRng::seed_from_u64(seed ^ (class as u64).wrapping_mul(0x9E37_79B9));
        Sample {
            video: self.render_video(class, &mut rng),
            audio: self.render_audio(class, &mut rng),
            text: self.narrations(class, &mut rng),
        }
    }

    fn render_video(&self, class: usize, rng: &mut StdRng) -> Vec<f32> {
        let v = &self.config.video;
        let size = v.size;
        let glyph_h = (size * 5 / 8).max(5);
        let glyph_w = (glyph_h * 3 / 5).max(3);
        let max_x = (size - glyph_w) as f32;
        let max_y = (size - glyph_h) as f32;
        let (mut x, mut y) = (rng.random::<f32>() * max_x, rng.random::<f32>() * max_y);
        let angle = rng.random::<f32>() * std::f32::consts::TAU;
        let speed = size as f32 / 12.0;
        let (mut dx, mut dy) = (angle.cos() * speed, angle.sin() * speed);
        let brightness = 0.7 + 0.3 * rng.random::<f32>();
        let plane = size * size;
        let mut out = vec![0.0f32; v.channels * v.frames * plane];
        let mut canvas = vec![0u8; plane];
        for t in 0..v.frames {
            canvas.iter_mut().for_each(|p| *p = 0);
            draw_digit(
                &mut canvas,
                size,
                class,
                x as usize,
                y as usize,
                glyph_w,
                glyph_h,
                brightness,
            );
            let frame = preprocess_gray8(&canvas, size, size, &self.frame_spec)
                .expect("synthetic frames match the frame spec");
            for c in 0..v.channels {
                let dst = (c * v.frames + t) * plane;
                out[dst..dst + plane].copy_from_slice(&frame[c * plane..(c + 1) * plane]);
            }
            // Bounce off the walls, as Moving-MNIST does.
            x += dx;
            y += dy;
            if x < 0.0 || x > max_x {
                dx = -dx;
                x = x.clamp(0.0, max_x);
            }
            if y < 0.0 || y > max_y {
                dy = -dy;
                y = y.clamp(0.0, max_y);
            }
        }
        out
    }

    fn render_audio(&self, class: usize, rng: &mut StdRng) -> Vec<f32> {
        let sr = self.config.audio.logmel.sample_rate as f32;
        let n = self.config.clip_samples();
        let len = ((0.4 * sr) as usize).min(n);
        let start = rng.random_range(0..=n - len);
        let (f1, f2) = (300.0 + 90.0 * class as f32, 1500.0 + 350.0 * class as f32);
        let gain = 0.3 + 0.4 * rng.random::<f32>();
        let mut samples: Vec<f32> = (0..n).map(|_| (rng.random::<f32>() - 0.5) * 0.01).collect();
        for i in 0..len {
            let t = i as f32 / sr;
            let envelope = (std::f32::consts::PI * i as f32 / len as f32).sin();
            let tone = (std::f32::consts::TAU * f1 * t).sin()
                + 0.5 * (std::f32::consts::TAU * f2 * t).sin();
            samples[start + i] += gain * envelope * tone;
        }
        self.logmel.compute(&samples).data
    }

    fn narrations(&self, class: usize, rng: &mut StdRng) -> Vec<u32> {
        let k = self.config.text.narrations_per_clip;
        let mut ids = Vec::with_capacity(k * self.config.text.max_words);
        for _ in 0..k {
            let template = NARRATIONS[rng.random_range(0..NARRATIONS.len())];
            ids.extend(self.encode_text(&narration(template, class)));
        }
        ids
    }

    /// A batch of the given classes on `device`.
    pub fn batch(&self, classes: &[usize], seed: u64, device: &Device) -> Batch {
        let samples: Vec<Sample> = classes
            .iter()
            .enumerate()
            .map(|(i, &c)| self.sample(c, seed.wrapping_mul(1_000_003).wrapping_add(i as u64)))
            .collect();
        batch_from_samples(&samples, &self.config, device)
    }
}

/// Draws a seven-segment digit with its top-left corner at (x, y).
#[allow(clippy::too_many_arguments)]
fn draw_digit(
    canvas: &mut [u8],
    size: usize,
    digit: usize,
    x: usize,
    y: usize,
    w: usize,
    h: usize,
    brightness: f32,
) {
    let value = (255.0 * brightness) as u8;
    let thick = (h / 6).max(1);
    let mid = h / 2;
    let mut fill = |x0: usize, y0: usize, x1: usize, y1: usize| {
        for yy in y0..y1.min(size) {
            for xx in x0..x1.min(size) {
                canvas[yy * size + xx] = value;
            }
        }
    };
    let mask = SEGMENTS[digit % 10];
    let seg = |i: u8| mask & (1 << i) != 0;
    if seg(0) {
        fill(x, y, x + w, y + thick); // a: top
    }
    if seg(1) {
        fill(x + w - thick, y, x + w, y + mid); // b: top right
    }
    if seg(2) {
        fill(x + w - thick, y + mid, x + w, y + h); // c: bottom right
    }
    if seg(3) {
        fill(x, y + h - thick, x + w, y + h); // d: bottom
    }
    if seg(4) {
        fill(x, y + mid, x + thick, y + h); // e: bottom left
    }
    if seg(5) {
        fill(x, y, x + thick, y + mid); // f: top left
    }
    if seg(6) {
        fill(x, y + mid - thick / 2, x + w, y + mid - thick / 2 + thick); // g: middle
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MmvConfig;

    fn generator() -> SyntheticAv {
        let config = MmvConfig::embedded_default();
        SyntheticAv::new(&config, Vocab::from_words(narration_words())).unwrap()
    }

    #[test]
    fn samples_are_deterministic_and_class_dependent() {
        let g = generator();
        assert_eq!(g.sample(3, 7), g.sample(3, 7));
        assert_ne!(g.sample(3, 7).video, g.sample(3, 8).video);
        let s = g.sample(8, 1);
        let c = MmvConfig::embedded_default();
        assert_eq!(s.video.len(), c.video.frames * c.video.size * c.video.size);
        assert_eq!(s.audio.len() % c.audio.logmel.n_mels, 0);
        assert_eq!(s.text.len(), c.text.narrations_per_clip * c.text.max_words);
        // An 8 lights every segment, a 1 only two: more bright pixels.
        let lit = |v: &[f32]| v.iter().filter(|&&p| p > 0.5).count();
        assert!(lit(&g.sample(8, 1).video) > lit(&g.sample(1, 1).video));
    }

    #[test]
    fn narrations_name_the_digit() {
        let g = generator();
        let seven = g.encode_text("seven")[0];
        let s = g.sample(7, 3);
        let w = MmvConfig::embedded_default().text.max_words;
        for narration in s.text.chunks(w) {
            assert!(narration.contains(&seven), "{narration:?}");
        }
    }
}
