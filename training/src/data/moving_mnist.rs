//! Moving-MNIST clips: one real MNIST digit moving with a constant velocity and bouncing off
//! the walls of a black 64x64 canvas (the classic Moving-MNIST geometry, 28x28 digits). The
//! canvas frames are 8-bit grey images, like a camera's; the runtime's frame front end then
//! resizes them to the model's input size, exactly as it does at inference.

use rand::Rng;

use rand::SeedableRng;
use rand::rngs::StdRng;

use super::augment::{Jitter, Robust};

/// Canvas side in pixels.
pub const CANVAS: usize = 64;
/// Nominal digit side on the canvas, in pixels.
pub const DIGIT: f32 = 28.0;

/// Where a digit starts and how fast it moves, in canvas pixels (per frame).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Motion {
    pub x: f32,
    pub y: f32,
    pub vx: f32,
    pub vy: f32,
}

impl Motion {
    /// A random start inside the canvas and a random direction at 2-5 pixels per frame.
    pub fn random(digit_size: f32, rng: &mut impl Rng) -> Self {
        let room = (CANVAS as f32 - digit_size).max(0.0);
        let angle = rng.random_range(0.0..std::f32::consts::TAU);
        let speed = rng.random_range(2.0..5.0);
        Self {
            x: rng.random_range(0.0..=room),
            y: rng.random_range(0.0..=room),
            vx: angle.cos() * speed,
            vy: angle.sin() * speed,
        }
    }

    /// The digit still in the middle of the canvas: the "static clip" of an image.
    pub fn still(digit_size: f32) -> Self {
        let c = (CANVAS as f32 - digit_size) / 2.0;
        Self {
            x: c,
            y: c,
            vx: 0.0,
            vy: 0.0,
        }
    }
}

/// Renders `jitter.shifts.len()` canvas frames (each `CANVAS * CANVAS` bytes) of the
/// `rows x cols` digit `image`.
pub fn render(
    image: &[u8],
    rows: usize,
    cols: usize,
    motion: Motion,
    jitter: &Jitter,
) -> Vec<Vec<u8>> {
    let size = DIGIT * jitter.scale;
    let room = (CANVAS as f32 - size).max(0.0);
    let Motion {
        mut x,
        mut y,
        mut vx,
        mut vy,
    } = motion;
    let mut frames = Vec::with_capacity(jitter.shifts.len());
    for &(dx, dy) in &jitter.shifts {
        let mut canvas = vec![0u8; CANVAS * CANVAS];
        draw(
            &mut canvas,
            image,
            rows,
            cols,
            x + dx,
            y + dy,
            size,
            jitter.brightness,
        );
        frames.push(canvas);
        (x, vx) = bounce(x + vx, vx, room);
        (y, vy) = bounce(y + vy, vy, room);
    }
    frames
}

/// Reflects a position that left [0, room] back inside, reversing the velocity.
fn bounce(p: f32, v: f32, room: f32) -> (f32, f32) {
    if p < 0.0 {
        ((-p).min(room), -v)
    } else if p > room {
        ((2.0 * room - p).max(0.0), -v)
    } else {
        (p, v)
    }
}

/// Draws the digit scaled to `size` pixels with its top-left corner at (x, y): bilinear
/// sampling of the source image, so sub-pixel motion and scaling stay smooth.
#[allow(clippy::too_many_arguments)]
fn draw(
    canvas: &mut [u8],
    image: &[u8],
    rows: usize,
    cols: usize,
    x: f32,
    y: f32,
    size: f32,
    gain: f32,
) {
    let px = |r: isize, c: isize| -> f32 {
        if r < 0 || c < 0 || r >= rows as isize || c >= cols as isize {
            0.0
        } else {
            f32::from(image[r as usize * cols + c as usize])
        }
    };
    let x0 = x.floor().max(0.0) as usize;
    let y0 = y.floor().max(0.0) as usize;
    let x1 = ((x + size).ceil() as usize + 1).min(CANVAS);
    let y1 = ((y + size).ceil() as usize + 1).min(CANVAS);
    let (sx, sy) = (cols as f32 / size, rows as f32 / size);
    for cy in y0..y1 {
        let v = (cy as f32 + 0.5 - y) * sy - 0.5;
        let (r, fv) = (v.floor() as isize, v - v.floor());
        for cx in x0..x1 {
            let u = (cx as f32 + 0.5 - x) * sx - 0.5;
            let (c, fu) = (u.floor() as isize, u - u.floor());
            let value = (1.0 - fv) * ((1.0 - fu) * px(r, c) + fu * px(r, c + 1))
                + fv * ((1.0 - fu) * px(r + 1, c) + fu * px(r + 1, c + 1));
            let out = &mut canvas[cy * CANVAS + cx];
            *out = (*out).max((value * gain).round().clamp(0.0, 255.0) as u8);
        }
    }
}

/// What a camera adds to the rendered canvas (the robust preset): the ink lifted above a grey
/// background, a Gaussian blur, inverted polarity (dark ink on light paper) and sensor noise.
/// Does nothing for [`Robust::none`].
pub fn apply_look(frames: &mut [Vec<u8>], look: &Robust) {
    if look.background == 0.0 && look.blur_sigma == 0.0 && !look.invert && look.pixel_noise == 0.0 {
        return;
    }
    let mut rng = StdRng::seed_from_u64(look.seed ^ 0x1005);
    let kernel = gaussian_kernel(look.blur_sigma);
    for frame in frames.iter_mut() {
        let mut v: Vec<f32> = frame.iter().map(|&p| f32::from(p) / 255.0).collect();
        if kernel.len() > 1 {
            v = blur(&v, &kernel);
        }
        for p in &mut v {
            let mut x = look.background + (1.0 - look.background) * *p;
            if look.invert {
                x = 1.0 - x;
            }
            if look.pixel_noise > 0.0 {
                let g: f32 = (0..4).map(|_| rng.random::<f32>() - 0.5).sum::<f32>() * 1.7;
                x += g * look.pixel_noise;
            }
            *p = x;
        }
        for (o, x) in frame.iter_mut().zip(v) {
            *o = (x * 255.0).round().clamp(0.0, 255.0) as u8;
        }
    }
}

fn gaussian_kernel(sigma: f32) -> Vec<f32> {
    if sigma < 0.2 {
        return vec![1.0];
    }
    let r = (sigma * 2.5).ceil() as i32;
    let k: Vec<f32> = (-r..=r)
        .map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let sum: f32 = k.iter().sum();
    k.into_iter().map(|x| x / sum).collect()
}

/// Separable blur of one CANVAS x CANVAS plane, edges clamped.
fn blur(v: &[f32], k: &[f32]) -> Vec<f32> {
    let r = (k.len() / 2) as isize;
    let n = CANVAS as isize;
    let pass = |src: &[f32], horizontal: bool| -> Vec<f32> {
        let mut out = vec![0.0; src.len()];
        for y in 0..n {
            for x in 0..n {
                let mut acc = 0.0;
                for (i, w) in k.iter().enumerate() {
                    let d = i as isize - r;
                    let (sx, sy) = if horizontal {
                        ((x + d).clamp(0, n - 1), y)
                    } else {
                        (x, (y + d).clamp(0, n - 1))
                    };
                    acc += w * src[(sy * n + sx) as usize];
                }
                out[(y * n + x) as usize] = acc;
            }
        }
        out
    };
    pass(&pass(v, true), false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square() -> Vec<u8> {
        let mut img = vec![0u8; 28 * 28];
        for r in 8..20 {
            for c in 8..20 {
                img[r * 28 + c] = 255;
            }
        }
        img
    }

    #[test]
    fn still_clip_repeats_the_centred_image() {
        let frames = render(&square(), 28, 28, Motion::still(DIGIT), &Jitter::none(4));
        assert_eq!(frames.len(), 4);
        assert!(frames.windows(2).all(|f| f[0] == f[1]));
        // Scale 1 at an integer position copies the image.
        let off = 18;
        assert_eq!(frames[0][(off + 10) * CANVAS + off + 10], 255);
        assert_eq!(frames[0][(off + 2) * CANVAS + off + 2], 0);
        let lit: usize = frames[0].iter().filter(|&&p| p > 0).count();
        assert_eq!(lit, 144);
    }

    #[test]
    fn digits_move_and_stay_inside() {
        let motion = Motion {
            x: 30.0,
            y: 1.0,
            vx: 4.5,
            vy: -3.0,
        };
        let frames = render(&square(), 28, 28, motion, &Jitter::none(12));
        let mass = |f: &[u8]| f.iter().map(|&p| p as u64).sum::<u64>();
        let first = mass(&frames[0]);
        for f in &frames {
            // Never clipped by the border: the whole digit stays on the canvas.
            let m = mass(f) as f64 / first as f64;
            assert!((0.95..1.05).contains(&m), "{m}");
        }
        assert_ne!(frames[0], frames[1]);
        assert_eq!(bounce(-1.0, -2.0, 10.0), (1.0, 2.0));
        assert_eq!(bounce(12.0, 3.0, 10.0), (8.0, -3.0));
    }

    #[test]
    fn look_inverts_blurs_and_lifts_the_background() {
        let clean = render(&square(), 28, 28, Motion::still(DIGIT), &Jitter::none(1));
        let mut frames = clean.clone();
        apply_look(&mut frames, &Robust::none());
        assert_eq!(frames, clean);
        let look = Robust {
            invert: true,
            background: 0.2,
            blur_sigma: 1.0,
            ..Robust::none()
        };
        apply_look(&mut frames, &look);
        let f = &frames[0];
        // Background 0.2 inverted: 204; the square's centre stays full ink, now black.
        assert_eq!(f[0], 204);
        let off = 18;
        assert_eq!(f[(off + 14) * CANVAS + off + 14], 0);
        // The blur leaves grey at the square's edge.
        let edge = f[(off + 14) * CANVAS + off + 8];
        assert!(edge > 30 && edge < 200, "{edge}");
    }
}
