//! A deterministic stand-in for the MMV networks, for tests and the soak benchmark: no model file
//! is needed, yet what it outputs depends on what it was shown, so tests can check that the right
//! data reached the right network. The front ends around it are the runtime's (frame
//! preprocessing, resampling, the silence level, the tagger).
//!
//! Label `i` of `n` embeds as the basis vector `e_i`. A frame or clip embeds as `e_i` with
//! `i = floor(mean pixel value * n)` (pixels in [0, 1]); an audio window as `e_i` with
//! `i = floor(amplitude * n)`, where amplitude is sqrt(2) * RMS (a sine's peak).
//!
//! Content that is none of the daemon's labels: give the fake more names than the configured
//! labels (say five, with four labels); a level that maps to a fifth name embeds as `e_4`,
//! whose cosine similarity with every label is 0. With `cuts` (a calibrated bundle's open-set
//! cuts), such content is tagged "none".

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use mmv_runtime::audio::resample;
use mmv_runtime::bundle::Embedding;
use mmv_runtime::frames::{FrameSpec, Picture, preprocess_picture};
use mmv_runtime::ingest::ClipGeometry;
use mmv_runtime::pipeline::SILENCE_PEAK;
use mmv_runtime::tag::{LabelSet, Tagger};

use crate::model::{Embedder, ModelSpec};

/// Wrong input (the real networks have fixed input shapes too).
#[derive(Debug, thiserror::Error)]
#[error("fake model: {0}")]
pub struct FakeError(String);

#[derive(Clone, Debug)]
pub struct FakeEmbedder {
    labels: Vec<String>,
    spec: ModelSpec,
    /// Softmax temperature of the tagger.
    pub temperature: f32,
    /// Open-set cuts per modality ("video", "audio", "image"), as a calibrated bundle's
    /// manifest carries them; empty: none (every output names its best label).
    pub cuts: BTreeMap<String, f32>,
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
                geometry: ClipGeometry {
                    frames: 8,
                    fps: 10.0,
                    stride_frames: 8,
                    sample_rate: 16_000,
                    window_samples: 16_000,
                },
                frame: FrameSpec::unnormalized(32, 32, 3),
                has_image: true,
                has_clip: true,
                has_audio: true,
            },
        )
    }

    pub fn with_spec(labels: &[String], spec: ModelSpec) -> Self {
        Self {
            labels: labels.to_vec(),
            spec,
            temperature: 0.07,
            cuts: BTreeMap::new(),
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

    /// Counts a call to network `which` and sleeps `work`.
    fn call(&mut self, which: usize) {
        self.calls[which] += 1;
        if !self.work.is_zero() {
            std::thread::sleep(self.work);
        }
    }

    fn check(&self, what: &str, expected: usize, actual: usize) -> Result<(), FakeError> {
        if expected == actual {
            Ok(())
        } else {
            Err(FakeError(format!(
                "{what}: expected {expected} values, got {actual}"
            )))
        }
    }

    /// The text embedding: the longest label that is a word of the text (so "seven" does not
    /// match "seventeen"), or zeros.
    fn embed_text(&mut self, text: &str) -> Vec<f32> {
        self.call(3);
        let words: Vec<&str> = text.split(|c: char| !c.is_alphanumeric()).collect();
        let best = self
            .labels
            .iter()
            .enumerate()
            .filter(|(_, l)| words.contains(&l.as_str()))
            .max_by_key(|(_, l)| l.len())
            .map(|(i, _)| i);
        match best {
            Some(i) => self.label_embedding(i).vat.unwrap_or_default(),
            None => vec![0.0; self.n()],
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

    fn preprocess(&mut self, frame: &Picture) -> Result<Vec<f32>, FakeError> {
        preprocess_picture(frame, &self.spec.frame).map_err(|e| FakeError(e.to_string()))
    }

    fn embed_image(&mut self, chw: &[f32]) -> Result<Embedding, FakeError> {
        self.check("image", self.spec.frame.output_len(), chw.len())?;
        self.call(0);
        Ok(self.level_embedding(mean(chw)))
    }

    fn embed_clip(&mut self, frames: &[Arc<[f32]>]) -> Result<Embedding, FakeError> {
        self.check("clip frames", self.spec.geometry.frames, frames.len())?;
        for f in frames {
            self.check("clip frame", self.spec.frame.output_len(), f.len())?;
        }
        self.call(1);
        let all: Vec<f32> = frames.iter().flat_map(|f| f.iter().copied()).collect();
        Ok(self.level_embedding(mean(&all)))
    }

    fn embed_audio(&mut self, samples: &[f32], rate: u32) -> Result<Option<Embedding>, FakeError> {
        let g = self.spec.geometry;
        let mut samples =
            resample(samples, rate, g.sample_rate).map_err(|e| FakeError(e.to_string()))?;
        samples.resize(g.window_samples, 0.0);
        // The runtime's silence rule (`Pipeline::embed_audio`): no embedding for silence.
        if samples.iter().fold(0.0f32, |m, s| m.max(s.abs())) < SILENCE_PEAK {
            return Ok(None);
        }
        self.call(2);
        let rms = (samples.iter().map(|s| s * s).sum::<f32>() / samples.len().max(1) as f32).sqrt();
        Ok(Some(self.level_embedding(rms * std::f32::consts::SQRT_2)))
    }

    fn tagger(&mut self, labels: &LabelSet) -> Result<Tagger, FakeError> {
        let prompts: Vec<Vec<Vec<f32>>> = labels
            .labels
            .iter()
            .map(|l| l.prompts.iter().map(|p| self.embed_text(p)).collect())
            .collect();
        Tagger::new(labels, prompts, self.temperature)
            .map(|t| t.with_cuts(self.cuts.clone()))
            .map_err(|e| FakeError(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runtime_tagger_over_fake_prompts_ranks_the_matching_label_first() {
        let names: Vec<String> = ["zero", "one", "two"].map(String::from).to_vec();
        let mut fake = FakeEmbedder::new(&names);
        let labels = LabelSet::parse("zero\none | the number one\ntwo\n", "test").expect("labels");
        let tagger = fake.tagger(&labels).expect("tagger");
        let one = fake.label_embedding(1).vat.expect("vat");
        let tags = tagger.top(&tagger.scores(&one).expect("scores"), "video", 3, 0.0);
        assert_eq!(tags[0].label, "one");
        let total: f32 = tags.iter().map(|t| t.score).sum();
        assert!((total - 1.0).abs() < 1e-5);
        assert!(tags[0].score > 0.99, "temperature sharpens: {tags:?}");
        // Silence gets no embedding, as in the runtime.
        assert!(fake.embed_audio(&[0.0; 100], 16_000).expect("ok").is_none());
        assert_eq!(fake.calls[2], 0);
    }
}
