//! "Empty" clips: nothing shown, nothing said, no narration. They are ordinary self-supervised
//! pairs (the clip's picture and its sound still belong together), and they give the model
//! something that is no digit to hold the digits apart from, so that "none of the labels"
//! becomes a place in the embedding space rather than the nearest digit.
//!
//! What they show avoids anything a person would read as a digit: no lone strokes (a "1"),
//! no rings (a "0"); solid boxes, discs, crosses, triangles and dot grids, moving like a digit.

use rand::{Rng, SeedableRng, rngs::StdRng};

use super::augment::{EmptyAudio, EmptyVideo, Jitter};
use super::moving_mnist::{self, CANVAS, DIGIT, Motion};
use super::non_digits;

/// `frames` canvas frames (8-bit grey, CANVAS x CANVAS) of an empty clip.
pub fn video(kind: EmptyVideo, frames: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = StdRng::seed_from_u64(seed);
    match kind {
        EmptyVideo::Blank => vec![vec![0u8; CANVAS * CANVAS]; frames],
        EmptyVideo::Noise => {
            let peak = rng.random_range(60.0f32..255.0);
            (0..frames)
                .map(|_| {
                    (0..CANVAS * CANVAS)
                        .map(|_| (rng.random::<f32>() * peak) as u8)
                        .collect()
                })
                .collect()
        }
        EmptyVideo::Clutter => clutter(frames, &mut rng),
        EmptyVideo::Letter => {
            // A letter of the training set, at a digit's range of sizes, moving like a digit.
            let side = DIGIT as usize;
            let glyph = non_digits::letter(non_digits::Set::Training, side, &mut rng);
            let mut jitter = Jitter::none(frames);
            jitter.scale = rng.random_range(0.5f32..2.3);
            let motion = Motion::random(DIGIT * jitter.scale, &mut rng);
            moving_mnist::render(&glyph, side, side, motion, &jitter)
        }
    }
}

#[derive(Clone, Copy)]
enum Shape {
    Box { w: f32, h: f32 },
    Disc { r: f32 },
    Cross { r: f32, diagonal: bool },
    Triangle { r: f32 },
    Dots { step: f32, n: usize },
}

fn clutter(frames: usize, rng: &mut StdRng) -> Vec<Vec<u8>> {
    let count = rng.random_range(1..=3);
    let c = CANVAS as f32;
    let shapes: Vec<(Shape, f32, f32, f32, f32, u8)> = (0..count)
        .map(|_| {
            let shape = match rng.random_range(0..5) {
                0 => Shape::Box {
                    w: rng.random_range(6.0..30.0),
                    h: rng.random_range(6.0..30.0),
                },
                1 => Shape::Disc {
                    r: rng.random_range(3.0..14.0),
                },
                2 => Shape::Cross {
                    r: rng.random_range(5.0..16.0),
                    diagonal: rng.random(),
                },
                3 => Shape::Triangle {
                    r: rng.random_range(6.0..18.0),
                },
                _ => Shape::Dots {
                    step: rng.random_range(4.0..8.0),
                    n: rng.random_range(2..5),
                },
            };
            let angle = rng.random_range(0.0..std::f32::consts::TAU);
            let speed = rng.random_range(0.0..4.0);
            (
                shape,
                rng.random_range(8.0..c - 8.0),
                rng.random_range(8.0..c - 8.0),
                angle.cos() * speed,
                angle.sin() * speed,
                rng.random_range(120..=255u8),
            )
        })
        .collect();
    (0..frames)
        .map(|t| {
            let mut canvas = vec![0u8; CANVAS * CANVAS];
            for &(shape, x, y, vx, vy, level) in &shapes {
                let (cx, cy) = (x + vx * t as f32, y + vy * t as f32);
                for py in 0..CANVAS {
                    for px in 0..CANVAS {
                        let (dx, dy) = (px as f32 + 0.5 - cx, py as f32 + 0.5 - cy);
                        if inside(shape, dx, dy) {
                            canvas[py * CANVAS + px] = canvas[py * CANVAS + px].max(level);
                        }
                    }
                }
            }
            canvas
        })
        .collect()
}

fn inside(shape: Shape, dx: f32, dy: f32) -> bool {
    match shape {
        Shape::Box { w, h } => dx.abs() <= w / 2.0 && dy.abs() <= h / 2.0,
        Shape::Disc { r } => dx * dx + dy * dy <= r * r,
        Shape::Cross { r, diagonal } => {
            let (u, v) = if diagonal {
                ((dx + dy) * 0.707, (dx - dy) * 0.707)
            } else {
                (dx, dy)
            };
            (u.abs() <= 1.5 && v.abs() <= r) || (v.abs() <= 1.5 && u.abs() <= r)
        }
        Shape::Triangle { r } => dy <= r / 2.0 && dy >= -r && dx.abs() <= (dy + r) * 0.58,
        Shape::Dots { step, n } => {
            let half = step * (n as f32 - 1.0) / 2.0;
            let (u, v) = (dx + half, dy + half);
            let (iu, iv) = ((u / step).round(), (v / step).round());
            (0.0..n as f32).contains(&iu)
                && (0.0..n as f32).contains(&iv)
                && (u - iu * step).powi(2) + (v - iv * step).powi(2) <= 2.0
        }
    }
}

/// `n` samples at `rate` Hz of an empty clip's sound, in [-1, 1]. A spoken word comes from the
/// data set's bank of non-digit speech (`AvDigits::load_non_digit_speech`); here, without it,
/// [`EmptyAudio::Speech`] is silence.
pub fn audio(kind: EmptyAudio, n: usize, rate: u32, seed: u64) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    let level = rng.random_range(0.005f32..0.25);
    match kind {
        EmptyAudio::Silence | EmptyAudio::Speech => vec![0.0; n],
        EmptyAudio::WhiteNoise => white_noise(n, level, &mut rng),
        EmptyAudio::PinkNoise => pink(&white_noise(n, level, &mut rng)),
        EmptyAudio::Tone => {
            let f0 = rng.random_range(100.0f32..3000.0);
            let f1 = f0 * rng.random_range(0.7f32..1.4);
            let mut phase = 0.0f32;
            (0..n)
                .map(|i| {
                    let f = f0 + (f1 - f0) * i as f32 / n.max(1) as f32;
                    phase += std::f32::consts::TAU * f / rate as f32;
                    phase.sin() * level
                })
                .collect()
        }
    }
}

/// Gaussian-like white noise (a sum of four uniforms) of standard deviation about `level`.
pub fn white_noise(n: usize, level: f32, rng: &mut impl Rng) -> Vec<f32> {
    (0..n)
        .map(|_| (0..4).map(|_| rng.random::<f32>() - 0.5).sum::<f32>() * 1.7 * level)
        .collect()
}

/// Pink noise (-3 dB per octave) from white noise, by Paul Kellet's economy filter.
pub fn pink(white: &[f32]) -> Vec<f32> {
    let (mut b0, mut b1, mut b2) = (0.0f32, 0.0f32, 0.0f32);
    white
        .iter()
        .map(|&w| {
            b0 = 0.99765 * b0 + w * 0.0990460;
            b1 = 0.96300 * b1 + w * 0.2965164;
            b2 = 0.57000 * b2 + w * 1.0526913;
            (b0 + b1 + b2 + w * 0.1848) * 0.25
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_clips_have_the_clip_shape_and_differ_by_seed() {
        let lit = |f: &[u8]| f.iter().filter(|&&p| p > 0).count();
        for kind in [
            EmptyVideo::Blank,
            EmptyVideo::Clutter,
            EmptyVideo::Noise,
            EmptyVideo::Letter,
        ] {
            let v = video(kind, 8, 3);
            assert_eq!(v.len(), 8);
            assert!(v.iter().all(|f| f.len() == CANVAS * CANVAS));
        }
        // A letter is drawn, and it moves.
        for seed in 0..10 {
            let v = video(EmptyVideo::Letter, 8, seed);
            let f = &v[0];
            assert!(lit(f) > 10 && lit(f) < CANVAS * CANVAS / 2, "seed {seed}");
            assert!(
                v.iter().any(|g| g != f),
                "seed {seed}: the letter stands still"
            );
        }
        assert!(video(EmptyVideo::Blank, 2, 0)[0].iter().all(|&p| p == 0));
        // Clutter draws something, and not the whole canvas.
        for seed in 0..20 {
            let f = &video(EmptyVideo::Clutter, 1, seed)[0];
            assert!(
                lit(f) > 10 && lit(f) < CANVAS * CANVAS,
                "seed {seed}: {}",
                lit(f)
            );
        }
        assert_ne!(
            video(EmptyVideo::Clutter, 1, 1),
            video(EmptyVideo::Clutter, 1, 2)
        );
        for kind in [
            EmptyAudio::Silence,
            EmptyAudio::WhiteNoise,
            EmptyAudio::PinkNoise,
            EmptyAudio::Tone,
        ] {
            let a = audio(kind, 16000, 16000, 5);
            assert_eq!(a.len(), 16000);
            assert!(a.iter().all(|s| s.is_finite() && s.abs() <= 1.0));
            let energy: f32 = a.iter().map(|s| s * s).sum();
            assert_eq!(energy == 0.0, kind == EmptyAudio::Silence, "{kind:?}");
        }
    }
}
