//! Label-free negatives: inputs in which none of the ten digits is shown or said, written as
//! files for the product path. Two disjoint sets: [`Purpose::Calibration`] (what
//! `calibrate-tags` chooses the cuts on) and [`Purpose::Evaluation`] (what `eval-product`
//! measures them on): other seeds, other letters in another font, other words, other tones,
//! the other half of each footage file.
//!
//! Kinds, as the open-set issue lists them: silence and noises, tones, non-digit speech
//! (espeak-ng), the footage's soundtrack; letters (no digit look-alikes: O, I, l, S, Z, B, G, q
//! and the like are left out) and shapes, blank and noise images; blank, noise, letter, shape and
//! footage clips.

use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng, rngs::StdRng};

use super::ProductError;
use super::media::{Gray, write_clip, write_png, write_wav};
use crate::data::empty_clip::{pink, white_noise};
use crate::data::non_digits::{self, SpeakError};

/// Which of the two disjoint negative sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    Calibration,
    Evaluation,
}

/// The sample rate negatives' sounds are written at (the product resamples as for any file).
pub const RATE: u32 = 16_000;

/// One negative file and its kind.
#[derive(Clone, Debug)]
pub struct Negative {
    pub kind: &'static str,
    pub path: PathBuf,
    /// For footage: the clip stride and which clips (by start time) belong to this purpose.
    pub footage: Option<FootageSplit>,
}

/// The part of a footage file that belongs to one purpose: clips starting in its first half
/// (calibration) or its second half (evaluation), the file's own duration deciding.
#[derive(Clone, Copy, Debug)]
pub struct FootageSplit {
    pub stride_s: f64,
    pub first_half: bool,
}

/// What a negative set holds, per kind (so that a small run stays balanced).
#[derive(Clone, Copy, Debug)]
pub struct NegativeCounts {
    pub per_kind: usize,
}

impl Purpose {
    fn set(self) -> non_digits::Set {
        match self {
            Purpose::Calibration => non_digits::Set::Calibration,
            Purpose::Evaluation => non_digits::Set::Evaluation,
        }
    }
}

fn seed_of(purpose: Purpose) -> u64 {
    match purpose {
        Purpose::Calibration => 0xCA1,
        Purpose::Evaluation => 0xE7A1,
    }
}

/// Writes the audio negatives into `dir`: silence (a faint noise floor, since true zeros are
/// skipped by the runtime's silence rule), white and pink noise, tones, non-digit speech.
pub fn audio(
    dir: &Path,
    purpose: Purpose,
    counts: NegativeCounts,
) -> Result<Vec<Negative>, ProductError> {
    let mut rng = StdRng::seed_from_u64(seed_of(purpose));
    let mut out = Vec::new();
    let n = (RATE as f32 * 1.6) as usize;
    for i in 0..counts.per_kind {
        let level = rng.random_range(0.002f32..0.2);
        let white = white_noise(n, level, &mut rng);
        let faint = white_noise(n, 0.0005, &mut rng);
        let pink = pink(&white);
        let tone = {
            let f = match purpose {
                // The 440 Hz tone is an evaluation input; calibration uses others.
                Purpose::Evaluation if i == 0 => 440.0,
                _ => rng.random_range(150.0f32..2500.0),
            };
            let amp = rng.random_range(0.05f32..0.5);
            (0..n)
                .map(|t| (std::f32::consts::TAU * f * t as f32 / RATE as f32).sin() * amp)
                .collect::<Vec<_>>()
        };
        for (kind, samples) in [
            ("silence", faint),
            ("white noise", white),
            ("pink noise", pink),
            ("tone", tone),
        ] {
            let path = dir.join(format!("{}-{i}.wav", kind.replace(' ', "-")));
            write_wav(&path, &samples, RATE)?;
            out.push(Negative {
                kind,
                path,
                footage: None,
            });
        }
    }
    out.extend(speech(dir, purpose, counts)?);
    Ok(out)
}

/// Non-digit words through espeak-ng, several voices and speeds. An error names espeak-ng when
/// it is missing (Debian package `espeak-ng`).
fn speech(
    dir: &Path,
    purpose: Purpose,
    counts: NegativeCounts,
) -> Result<Vec<Negative>, ProductError> {
    let words = purpose.set().words();
    let voices = non_digits::VOICES;
    let mut rng = StdRng::seed_from_u64(seed_of(purpose) ^ 0x5BEE);
    let mut out = Vec::new();
    for i in 0..counts.per_kind {
        let word = words[i % words.len()];
        let voice = voices[rng.random_range(0..voices.len())];
        let speed = rng.random_range(120i32..200) as u32;
        let pitch = rng.random_range(20i32..80) as u32;
        let path = dir.join(format!("speech-{i}-{word}.wav"));
        non_digits::speak(word, voice, speed, pitch, &path).map_err(|e| ProductError::Tool {
            tool: "espeak-ng",
            problem: match e {
                SpeakError::Missing(e) => format!("{e} (install the Debian package espeak-ng)"),
                SpeakError::Failed { stderr, .. } => stderr,
            },
        })?;
        out.push(Negative {
            kind: "non-digit speech",
            path,
            footage: None,
        });
    }
    Ok(out)
}

/// The footage files, split in time: calibration uses each file's first half, evaluation its
/// second half. `kind` is "footage soundtrack" or "footage video".
pub fn footage(
    data_dir: &Path,
    purpose: Purpose,
    kind: &'static str,
    stride_s: f64,
) -> Vec<Negative> {
    // (file, has a soundtrack), as data/README.md describes them.
    let files: &[(&str, bool)] = &[("bigbuckbunny.mp4", true), ("bikes.mp4", false)];
    files
        .iter()
        .filter(|(_, has_audio)| kind != "footage soundtrack" || *has_audio)
        .map(|&(name, _)| Negative {
            kind,
            path: data_dir.join("footage").join(name),
            footage: Some(FootageSplit {
                stride_s,
                first_half: purpose == Purpose::Calibration,
            }),
        })
        .collect()
}

/// Still-image negatives: letters in a font, shapes, blank and noise images (PNG).
pub fn stills(
    dir: &Path,
    purpose: Purpose,
    counts: NegativeCounts,
) -> Result<Vec<Negative>, ProductError> {
    let mut rng = StdRng::seed_from_u64(seed_of(purpose) ^ 0x571);
    let mut out = Vec::new();
    for i in 0..counts.per_kind {
        let side = [28usize, 64, 96][i % 3];
        for kind in ["letters", "shapes", "blank image", "noise image"] {
            let mut img = match kind {
                "letters" => letter_image(purpose, side, &mut rng),
                "shapes" => shape_image(side, &mut rng),
                "blank image" => Gray::new(side, side, rng.random_range(0..=255)),
                _ => Gray {
                    width: side,
                    height: side,
                    data: (0..side * side).map(|_| rng.random()).collect(),
                },
            };
            if kind != "blank image" && kind != "noise image" && rng.random::<f32>() < 0.35 {
                img = img.inverted();
            }
            let path = dir.join(format!("{}-{i}.png", kind.replace(' ', "-")));
            write_png(&path, &img)?;
            out.push(Negative {
                kind,
                path,
                footage: None,
            });
        }
    }
    Ok(out)
}

/// Clip negatives: blank, noise, moving-letter and moving-shape clips (Y4M at the model's rate).
pub fn clips(
    dir: &Path,
    purpose: Purpose,
    counts: NegativeCounts,
    frames: usize,
    fps: u32,
) -> Result<Vec<Negative>, ProductError> {
    let mut rng = StdRng::seed_from_u64(seed_of(purpose) ^ 0xC11);
    let mut out = Vec::new();
    let side = 64;
    for i in 0..counts.per_kind {
        for kind in ["blank clip", "noise clip", "letter clip", "shape clip"] {
            let seq: Vec<Gray> = match kind {
                "blank clip" => vec![Gray::new(side, side, rng.random_range(0..=80)); frames],
                "noise clip" => (0..frames)
                    .map(|_| Gray {
                        width: side,
                        height: side,
                        data: (0..side * side).map(|_| rng.random()).collect(),
                    })
                    .collect(),
                _ => {
                    // A letter or a few shapes, moving as a Moving-MNIST digit does.
                    let glyph = if kind == "letter clip" {
                        letter_image(purpose, 28, &mut rng)
                    } else {
                        shape_image(28, &mut rng)
                    };
                    let (mut x, mut y) = (
                        rng.random_range(0.0..36.0f32),
                        rng.random_range(0.0..36.0f32),
                    );
                    let (vx, vy) = (
                        rng.random_range(-3.0..3.0f32),
                        rng.random_range(-3.0..3.0f32),
                    );
                    (0..frames)
                        .map(|_| {
                            let mut f = Gray::new(side, side, 0);
                            f.paste_scaled(&glyph, x as usize, y as usize, 28);
                            x = (x + vx).clamp(0.0, 36.0);
                            y = (y + vy).clamp(0.0, 36.0);
                            f
                        })
                        .collect()
                }
            };
            let path = dir.join(format!("{}-{i}.y4m", kind.replace(' ', "-")));
            write_clip(&path, &seq, fps)?;
            out.push(Negative {
                kind,
                path,
                footage: None,
            });
        }
    }
    Ok(out)
}

/// One letter of the purpose's set, white on black (`data::non_digits`).
fn letter_image(purpose: Purpose, side: usize, rng: &mut StdRng) -> Gray {
    Gray {
        width: side,
        height: side,
        data: non_digits::letter(purpose.set(), side, rng),
    }
}

/// Solid boxes, discs and crosses: nothing a person would read as a digit.
fn shape_image(side: usize, rng: &mut StdRng) -> Gray {
    let mut img = Gray::new(side, side, 0);
    let s = side as f32;
    for _ in 0..rng.random_range(1..=3) {
        let (cx, cy) = (
            rng.random_range(0.2..0.8) * s,
            rng.random_range(0.2..0.8) * s,
        );
        let r = rng.random_range(0.08..0.3) * s;
        let kind = rng.random_range(0..3);
        let level = rng.random_range(120..=255u8);
        for y in 0..side {
            for x in 0..side {
                let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
                let inside = match kind {
                    0 => dx.abs() <= r && dy.abs() <= r * 0.7,
                    1 => dx * dx + dy * dy <= r * r,
                    _ => {
                        let t = (s / 28.0).max(1.0) * 1.5;
                        (dx.abs() <= t && dy.abs() <= r) || (dy.abs() <= t && dx.abs() <= r)
                    }
                };
                if inside {
                    img.data[y * side + x] = img.data[y * side + x].max(level);
                }
            }
        }
    }
    img
}
