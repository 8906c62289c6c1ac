//! Content that is no digit: letters drawn with a font and words that are not digit words,
//! spoken by espeak-ng. Three disjoint sets, so that what a model trained on never decides its
//! open-set cut, and what the cut was chosen on never measures it:
//! [`Set::Training`] (empty clips, `data::empty_clip`), [`Set::Calibration`] (`calibrate-tags`)
//! and [`Set::Evaluation`] (`eval-product`).
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
    fn letters(self) -> (&'static str, &'static [u8]) {
        match self {
            Set::Training => ("ΔΣΠΩλπξЖЛЯШжлш", epaint_default_fonts::HACK_REGULAR),
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

/// The voices espeak-ng speaks the words in.
pub const VOICES: [&str; 5] = ["en", "en-us", "en-gb", "en+f3", "en+m3"];

/// One letter of `set`, white on black, filling 60-90 % of a `side` x `side` grey image
/// (row-major bytes).
pub fn letter(set: Set, side: usize, rng: &mut StdRng) -> Vec<u8> {
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
    fn every_letter_of_every_set_has_a_glyph_in_its_font() {
        for set in [Set::Training, Set::Calibration, Set::Evaluation] {
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
        let mut rng = StdRng::seed_from_u64(1);
        let img = letter(Set::Training, 28, &mut rng);
        let ink = img.iter().filter(|&&p| p > 128).count();
        assert!((20..28 * 28 / 2).contains(&ink), "{ink} inked pixels");
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
