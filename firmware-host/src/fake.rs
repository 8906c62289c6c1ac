//! A deterministic stand-in for the MMV networks, for tests and the soak benchmark: no model file
//! is needed, yet what it outputs depends on what it was shown, so tests can check that the right
//! data reached the right network.
//!
//! Label `i` of `n` embeds as the basis vector `e_i`. A frame or clip embeds as `e_i` with
//! `i = floor(mean pixel value * n)` (pixels in [0, 1]); an audio window as `e_i` with
//! `i = floor(amplitude * n)`, where amplitude is sqrt(2) * RMS (a sine's peak).

use std::time::Duration;

use mmv_runtime::bundle::Embedding;
use mmv_runtime::frames::FrameSpec;

use crate::model::{Embedder, ModelSpec};

/// Wrong input size (the real networks have fixed input shapes too).
#[derive(Debug, thiserror::Error)]
#[error("fake {what}: expected {expected} values, got {actual}")]
pub struct FakeError {
    what: &'static str,
    expected: usize,
    actual: usize,
}

#[derive(Clone, Debug)]
pub struct FakeEmbedder {
    labels: Vec<String>,
    spec: ModelSpec,
    /// Time each network call takes (slept), to model inference cost.
    pub work: Duration,
    /// Calls per network: image, clip, audio, text.
    pub calls: [u64; 4],
}

impl FakeEmbedder {
    /// 32x32 RGB frames in [0, 1], clips of 8 frames at 10 fps, 1 s windows at 16 kHz.
    pub fn new(labels: &[String]) -> Self {
        Self::with_spec(
            labels,
            ModelSpec {
                frame: FrameSpec::unnormalized(32, 32, 3),
                clip_frames: 8,
                clip_fps: 10.0,
                audio_rate: 16_000,
                window_samples: 16_000,
                temperature: 0.07,
                has_image: true,
                has_clip: true,
                has_audio: true,
                has_text: true,
            },
        )
    }

    pub fn with_spec(labels: &[String], spec: ModelSpec) -> Self {
        Self {
            labels: labels.to_vec(),
            spec,
            work: Duration::ZERO,
            calls: [0; 4],
        }
    }

    fn n(&self) -> usize {
        self.labels.len().max(1)
    }

    /// The embedding of label `i`.
    pub fn label_embedding(&self, i: usize) -> Embedding {
        let mut v = vec![0.0; self.n()];
        v[i.min(self.n() - 1)] = 1.0;
        Embedding {
            va: Some(v.clone()),
            vat: Some(v),
        }
    }

    fn level_embedding(&self, level: f32) -> Embedding {
        let n = self.n();
        let i = if level.is_finite() && level > 0.0 {
            ((level * n as f32) as usize).min(n - 1)
        } else {
            0
        };
        self.label_embedding(i)
    }

    fn pause(&self) {
        if !self.work.is_zero() {
            std::thread::sleep(self.work);
        }
    }

    fn check(&self, what: &'static str, expected: usize, actual: usize) -> Result<(), FakeError> {
        if expected == actual {
            Ok(())
        } else {
            Err(FakeError {
                what,
                expected,
                actual,
            })
        }
    }
}

fn mean(v: &[f32]) -> f32 {
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<f32>() / v.len() as f32
    }
}

impl Embedder for FakeEmbedder {
    type Error = FakeError;

    fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    fn embed_image(&mut self, chw: &[f32]) -> Result<Embedding, FakeError> {
        self.check("image", self.spec.frame.output_len(), chw.len())?;
        self.calls[0] += 1;
        self.pause();
        Ok(self.level_embedding(mean(chw)))
    }

    fn embed_clip(&mut self, cthw: &[f32]) -> Result<Embedding, FakeError> {
        let expected = self.spec.frame.output_len() * self.spec.clip_frames;
        self.check("clip", expected, cthw.len())?;
        self.calls[1] += 1;
        self.pause();
        Ok(self.level_embedding(mean(cthw)))
    }

    fn embed_audio(&mut self, samples: &[f32]) -> Result<Embedding, FakeError> {
        self.check("audio", self.spec.window_samples, samples.len())?;
        self.calls[2] += 1;
        self.pause();
        let rms = (samples.iter().map(|s| s * s).sum::<f32>() / samples.len().max(1) as f32).sqrt();
        Ok(self.level_embedding(rms * std::f32::consts::SQRT_2))
    }

    fn embed_text(&mut self, text: &str) -> Result<Embedding, FakeError> {
        self.calls[3] += 1;
        // The longest label that is a word of the text (so "seven" does not match "seventeen").
        let words: Vec<&str> = text.split(|c: char| !c.is_alphanumeric()).collect();
        let best = self
            .labels
            .iter()
            .enumerate()
            .filter(|(_, l)| words.contains(&l.as_str()))
            .max_by_key(|(_, l)| l.len())
            .map(|(i, _)| i);
        Ok(match best {
            Some(i) => self.label_embedding(i),
            None => Embedding {
                va: Some(vec![0.0; self.n()]),
                vat: Some(vec![0.0; self.n()]),
            },
        })
    }
}
