//! Content that is no digit: letters drawn with a font and words that are not digit words,
//! spoken by espeak-ng. Three disjoint sets, so that what a model trained on never decides its
//! open-set cut, and what the cut was chosen on never measures it:
//! [`Set::Training`] (empty clips, `data::empty_clip`), [`Set::Calibration`] (`calibrate-tags`)
//! and [`Set::Evaluation`] (`eval-product`). The sets differ in their letters and in their
//! fonts too: calibration draws in Hack, evaluation in Ubuntu Light, training in
//! embedded-graphics' pixel fonts (Greek and Cyrillic), so that no font is shared either.
//!
//! No set has a digit look-alike: O o D Q I l i j (0, 1), S s (5), Z z (2), B b (6, 8),
//! G g q (9), T t (7, +), A (4), e c (6, 0 in some hands) are left out; among the training set's
//! Greek and Cyrillic letters, Φ Ю Ο Б З are left out for the same reason.

use std::path::Path;
use std::process::Command;

use ab_glyph::{Font, FontRef, PxScale, ScaleFont};
use rand::{Rng, rngs::StdRng};

/// Which of the three disjoint sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Set {
    Training,
    Calibration,
    Evaluation,
}

impl Set {
    /// The set's letters and, but for training, the outline font they are drawn in.
    fn letters(self) -> (&'static str, &'static [u8]) {
        match self {
            Set::Training => (TRAINING_LETTERS, &[]),
            Set::Calibration => ("EFHKMNRWXYkmnrwx", epaint_default_fonts::HACK_REGULAR),
            Set::Evaluation => ("CJLPUVadfhpuvy", epaint_default_fonts::UBUNTU_LIGHT),
        }
    }

    /// Words none of which sounds like a digit ("won", "to", "for", "ate", "tree", "fine",
    /// "heaven", "forest" are avoided).
    pub fn words(self) -> &'static [&'static str] {
        match self {
            Set::Training => &[
                "pencil", "blanket", "sugar", "mirror", "candle", "chicken", "lemon", "carpet",
                "monkey", "rocket", "pillow", "tunnel", "banana", "guitar", "jungle", "castle",
                "magnet", "puzzle", "lantern", "bucket",
            ],
            Set::Calibration => &[
                "window", "garden", "yellow", "basket", "music", "table", "purple", "river",
                "kitchen", "pocket", "rabbit", "summer", "paper", "orange", "jacket", "bottle",
            ],
            Set::Evaluation => &[
                "hello", "camera", "door", "water", "people", "morning", "little", "coffee",
                "market", "silver", "animal", "button", "planet", "doctor",
            ],
        }
    }
}

/// Greek (ISO 8859-7) then Cyrillic (ISO 8859-5) letters, drawn in pixel fonts.
const TRAINING_LETTERS: &str = "ΔΣΠΩλπξЖЛЯШжлш";
const GREEK: usize = 7;

/// The voices espeak-ng speaks the words in.
pub const VOICES: [&str; 5] = ["en", "en-us", "en-gb", "en+f3", "en+m3"];

/// One letter of `set`, white on black, filling 60-90 % of a `side` x `side` grey image
/// (row-major bytes).
pub fn letter(set: Set, side: usize, rng: &mut StdRng) -> Vec<u8> {
    if set == Set::Training {
        return pixel_font_letter(side, rng);
    }
    let (letters, font_bytes) = set.letters();
    let chars: Vec<char> = letters.chars().collect();
    let c = chars[rng.random_range(0..chars.len())];
    let font = FontRef::try_from_slice(font_bytes).expect("the embedded fonts parse");
    let px = side as f32 * rng.random_range(0.6f32..0.9);
    let scaled = font.as_scaled(PxScale::from(px));
    let glyph = scaled.scaled_glyph(c);
    let mut img = vec![0u8; side * side];
    if let Some(outline) = font.outline_glyph(glyph) {
        let b = outline.px_bounds();
        let (w, h) = (b.width(), b.height());
        let ox = ((side as f32 - w) / 2.0).max(0.0);
        let oy = ((side as f32 - h) / 2.0).max(0.0);
        outline.draw(|x, y, cov| {
            let (tx, ty) = ((ox + x as f32) as usize, (oy + y as f32) as usize);
            if tx < side && ty < side {
                img[ty * side + tx] = (cov * 255.0).round().min(255.0) as u8;
            }
        });
    }
    img
}

/// A training letter: one of embedded-graphics' pixel fonts, its ink box scaled (area
/// sampled, so edges are grey) to 60-90 % of `side` and centred.
fn pixel_font_letter(side: usize, rng: &mut StdRng) -> Vec<u8> {
    use embedded_graphics::mono_font::{MonoFont, MonoTextStyle, iso_8859_5, iso_8859_7};
    use embedded_graphics::pixelcolor::BinaryColor;
    use embedded_graphics::prelude::*;
    use embedded_graphics::text::{Baseline, Text};

    struct Bits {
        w: usize,
        h: usize,
        on: Vec<bool>,
    }
    impl OriginDimensions for Bits {
        fn size(&self) -> Size {
            Size::new(self.w as u32, self.h as u32)
        }
    }
    impl DrawTarget for Bits {
        type Color = BinaryColor;
        type Error = std::convert::Infallible;
        fn draw_iter<I: IntoIterator<Item = Pixel<BinaryColor>>>(
            &mut self,
            pixels: I,
        ) -> Result<(), Self::Error> {
            for Pixel(p, c) in pixels {
                let (x, y) = (p.x as usize, p.y as usize);
                if p.x >= 0 && p.y >= 0 && x < self.w && y < self.h {
                    self.on[y * self.w + x] = c.is_on();
                }
            }
            Ok(())
        }
    }

    let chars: Vec<char> = TRAINING_LETTERS.chars().collect();
    let i = rng.random_range(0..chars.len());
    let fonts: [&MonoFont; 4] = if i < GREEK {
        [
            &iso_8859_7::FONT_9X15,
            &iso_8859_7::FONT_8X13,
            &iso_8859_7::FONT_10X20,
            &iso_8859_7::FONT_6X13,
        ]
    } else {
        [
            &iso_8859_5::FONT_9X15,
            &iso_8859_5::FONT_8X13,
            &iso_8859_5::FONT_10X20,
            &iso_8859_5::FONT_6X13,
        ]
    };
    let font = fonts[rng.random_range(0..fonts.len())];
    let (w, h) = (
        font.character_size.width as usize,
        font.character_size.height as usize,
    );
    let mut bits = Bits {
        w,
        h,
        on: vec![false; w * h],
    };
    let text = chars[i].to_string();
    let style = MonoTextStyle::new(font, BinaryColor::On);
    let Ok(_) = Text::with_baseline(&text, Point::zero(), style, Baseline::Top).draw(&mut bits);
    let mut img = vec![0u8; side * side];
    let ink = |x: usize, y: usize| bits.on[y * w + x];
    let xs: Vec<usize> = (0..w).filter(|&x| (0..h).any(|y| ink(x, y))).collect();
    let ys: Vec<usize> = (0..h).filter(|&y| (0..w).any(|x| ink(x, y))).collect();
    let (Some(&x0), Some(&x1), Some(&y0), Some(&y1)) =
        (xs.first(), xs.last(), ys.first(), ys.last())
    else {
        return img;
    };
    let (bw, bh) = ((x1 + 1 - x0) as f32, (y1 + 1 - y0) as f32);
    let target = side as f32 * rng.random_range(0.6f32..0.9);
    let k = target / bw.max(bh);
    let (tw, th) = (bw * k, bh * k);
    let (ox, oy) = ((side as f32 - tw) / 2.0, (side as f32 - th) / 2.0);
    // 4 x 4 samples per output pixel, each read from the nearest font pixel.
    for (py, row) in img.chunks_exact_mut(side).enumerate() {
        for (px, out) in row.iter_mut().enumerate() {
            let mut hits = 0;
            for sy in 0..4 {
                for sx in 0..4 {
                    let u = (px as f32 + (sx as f32 + 0.5) / 4.0 - ox) / k;
                    let v = (py as f32 + (sy as f32 + 0.5) / 4.0 - oy) / k;
                    if u >= 0.0 && v >= 0.0 && u < bw && v < bh {
                        hits += ink(x0 + u as usize, y0 + v as usize) as u32;
                    }
                }
            }
            *out = (hits * 255 / 16) as u8;
        }
    }
    img
}

/// Why a word could not be spoken.
#[derive(Debug, thiserror::Error)]
pub enum SpeakError {
    #[error("cannot run espeak-ng: {0} (install the Debian package espeak-ng)")]
    Missing(std::io::Error),
    #[error("espeak-ng failed on {word:?}: {stderr}")]
    Failed { word: String, stderr: String },
}

/// Speaks `word` with espeak-ng into the WAV file `path` (espeak-ng's own rate, 22.05 kHz):
/// `voice` from [`VOICES`], `speed` in words per minute, `pitch` 0-99.
pub fn speak(
    word: &str,
    voice: &str,
    speed: u32,
    pitch: u32,
    path: &Path,
) -> Result<(), SpeakError> {
    let out = Command::new("espeak-ng")
        .args([
            "-v",
            voice,
            "-s",
            &speed.to_string(),
            "-p",
            &pitch.to_string(),
            "-w",
        ])
        .arg(path)
        .arg(word)
        .output()
        .map_err(SpeakError::Missing)?;
    if !out.status.success() {
        return Err(SpeakError::Failed {
            word: word.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn outline_letters_have_glyphs_and_training_letters_are_drawn_and_vary() {
        for set in [Set::Calibration, Set::Evaluation] {
            let (letters, font_bytes) = set.letters();
            let font = FontRef::try_from_slice(font_bytes).unwrap();
            for c in letters.chars() {
                let glyph = font.as_scaled(PxScale::from(20.0)).scaled_glyph(c);
                assert!(
                    font.outline_glyph(glyph).is_some(),
                    "{set:?}: no glyph for {c}"
                );
            }
        }
        // The training letters come from pixel fonts: each draw has ink, and they vary.
        let mut rng = StdRng::seed_from_u64(1);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..400 {
            let img = letter(Set::Training, 28, &mut rng);
            let ink = img.iter().filter(|&&p| p > 128).count();
            // Pixel fonts scaled up have thick strokes: up to 60 % of the picture.
            assert!((20..28 * 28 * 6 / 10).contains(&ink), "{ink} inked pixels");
            seen.insert(img);
        }
        assert!(
            seen.len() > 100,
            "{} different training letters",
            seen.len()
        );
    }

    #[test]
    fn the_three_sets_share_no_letter_and_no_word() {
        let sets = [Set::Training, Set::Calibration, Set::Evaluation];
        for (i, a) in sets.iter().enumerate() {
            for b in &sets[i + 1..] {
                assert!(!a.letters().0.chars().any(|c| b.letters().0.contains(c)));
                assert!(!a.words().iter().any(|w| b.words().contains(w)));
            }
        }
    }
}
