//! The AV-Digits dataset: a Moving-MNIST clip of a real handwritten digit, a real recording of
//! someone saying that digit placed somewhere in the clip's time span, and narrations naming
//! it.
//!
//! A clip is a pure function of (split, index, seed): [`AvDigits::plan`] draws which image and
//! which take it combines, and a stream seed for everything else (motion, placement,
//! augmentation, narrations); [`AvDigits::render`] turns a plan into model inputs. Training asks
//! for clip `step * batch + i`, so a resumed run sees exactly the batches it would have seen.
//!
//! All recordings are decoded and resampled once at load time and kept in memory (3,000 FSDD
//! takes at 16 kHz are about 30 MB); the log-mel is computed per clip, after placement and
//! augmentation, because both change it (it costs well under a millisecond per clip).

use std::path::{Path, PathBuf};

use mmv_runtime::audio::{LogMel, add_white_noise, subtract_noise_floor};
use mmv_runtime::frames::{FrameSpec, preprocess_gray8};
use mmv_runtime::text::{Tokenizer, Vocab};
use rand::{Rng, SeedableRng, rngs::StdRng};

use super::augment::{Augment, EmptyAudio, Jitter};
use super::fsdd::{self, Recording};
use super::mnist::Mnist;
use super::moving_mnist::{self, CANVAS, DIGIT, Motion};
use super::narrations::pick_narrations;
use super::non_digits;
use super::splits::ClipSplit;
use super::{DataError, Sample, mix_seed};
use crate::config::MmvConfig;

/// Which clip: the MNIST image, the FSDD take, and the seed of its remaining randomness.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClipPlan {
    pub image: usize,
    pub digit: u8,
    /// Index into [`AvDigits::recordings`].
    pub take: usize,
    pub stream: u64,
}

/// The loaded data set and the front ends of one model configuration.
pub struct AvDigits {
    config: MmvConfig,
    frame_spec: FrameSpec,
    logmel: LogMel,
    tokenizer: Tokenizer,
    vocab: Vocab,
    data_dir: PathBuf,
    pub mnist: Mnist,
    /// Every FSDD take, sorted by (digit, speaker, take).
    pub recordings: Vec<Recording>,
    /// The held-out voice's recordings (never used by [`ClipSplit::Train`]).
    pub heldout: Vec<Recording>,
    waveforms: Vec<Vec<f32>>,
    heldout_waveforms: Vec<Vec<f32>>,
    /// Spoken words that are no digit, for empty clips that say one (empty unless
    /// [`AvDigits::load_non_digit_speech`] was called).
    non_digit_speech: Vec<Vec<f32>>,
    /// takes[split][digit]: indices into `recordings` that a split may use.
    takes: [[Vec<usize>; 10]; 2],
    /// images[split][digit]: MNIST indices of a split's images of each digit.
    images: [[Vec<usize>; 10]; 2],
}

fn split_slot(split: ClipSplit) -> usize {
    match split {
        ClipSplit::Train => 0,
        ClipSplit::Test => 1,
    }
}

/// The frame front end's settings for a model: grey or RGB at the clip size, pixels in [0, 1].
pub fn frame_spec(config: &MmvConfig) -> FrameSpec {
    FrameSpec::unnormalized(config.video.size, config.video.size, config.video.channels)
}

impl AvDigits {
    /// Loads MNIST, indexes and decodes FSDD and the held-out voice under `data_dir`.
    /// `vocab` maps narration words to the word-vector table's rows.
    pub fn load(data_dir: &Path, config: &MmvConfig, vocab: Vocab) -> Result<Self, DataError> {
        if !data_dir.is_dir() {
            return Err(DataError::MissingDir {
                path: data_dir.to_path_buf(),
            });
        }
        let rate = config.audio.logmel.sample_rate;
        let mnist = Mnist::load(data_dir)?;
        let needed = super::splits::MNIST_TEST.end;
        if mnist.len() < needed {
            return Err(DataError::Idx {
                path: data_dir.join(super::mnist::IMAGES_FILE),
                problem: format!("{} images; the splits need {needed}", mnist.len()),
            });
        }
        let fsdd_dir = data_dir.join(fsdd::RECORDINGS_DIR);
        let recordings = fsdd::index_dir(&fsdd_dir)?;
        let heldout = fsdd::index_dir(&data_dir.join(fsdd::HELDOUT_DIR))?;
        let waveforms = fsdd::load_waveforms(&recordings, rate)?;
        let heldout_waveforms = fsdd::load_waveforms(&heldout, rate)?;

        let mut takes: [[Vec<usize>; 10]; 2] = Default::default();
        let mut images: [[Vec<usize>; 10]; 2] = Default::default();
        for split in [ClipSplit::Train, ClipSplit::Test] {
            let s = split_slot(split);
            for (i, r) in recordings.iter().enumerate() {
                if split.has_take(r) {
                    takes[s][r.digit as usize].push(i);
                }
            }
            for i in split.mnist() {
                images[s][mnist.labels[i] as usize].push(i);
            }
            for digit in 0..10u8 {
                if takes[s][digit as usize].is_empty() {
                    return Err(DataError::NoTakes {
                        dir: fsdd_dir.clone(),
                        digit,
                        split: split.name().into(),
                    });
                }
            }
        }
        Ok(Self {
            frame_spec: frame_spec(config),
            logmel: LogMel::new(config.audio.logmel.clone())?,
            tokenizer: Tokenizer::with_max_words(config.text.max_words),
            vocab,
            config: config.clone(),
            data_dir: data_dir.to_path_buf(),
            mnist,
            recordings,
            heldout,
            waveforms,
            heldout_waveforms,
            non_digit_speech: Vec::new(),
            takes,
            images,
        })
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn config(&self) -> &MmvConfig {
        &self.config
    }

    /// The MNIST images of a split.
    pub fn split_images(&self, split: ClipSplit) -> std::ops::Range<usize> {
        split.mnist()
    }

    /// Which image and take training clip `index` (or test clip of `image`) combines.
    /// Training clips draw a random image of the train split; its digit picks a random take
    /// among the split's takes of that digit.
    pub fn plan(&self, split: ClipSplit, index: u64, seed: u64) -> ClipPlan {
        let s = split_slot(split);
        let mut rng = StdRng::seed_from_u64(mix_seed(seed, 1 + s as u64, index));
        let range = split.mnist();
        let image = match split {
            ClipSplit::Train => rng.random_range(range),
            // Test clips enumerate the test images in order (wrapping).
            ClipSplit::Test => range.start + (index as usize % range.len()),
        };
        self.plan_for_image(split, image, &mut rng)
    }

    /// The clip of a given MNIST image (for evaluation: each image once); its take and the rest
    /// are drawn from (image, seed).
    pub fn plan_image(&self, split: ClipSplit, image: usize, seed: u64) -> ClipPlan {
        let s = split_slot(split);
        let mut rng = StdRng::seed_from_u64(mix_seed(seed, 3 + s as u64, image as u64));
        self.plan_for_image(split, image, &mut rng)
    }

    fn plan_for_image(&self, split: ClipSplit, image: usize, rng: &mut StdRng) -> ClipPlan {
        let digit = self.mnist.labels[image];
        let pool = &self.takes[split_slot(split)][digit as usize];
        ClipPlan {
            image,
            digit,
            take: pool[rng.random_range(0..pool.len())],
            stream: rng.random(),
        }
    }

    /// Speaks the training set's non-digit words (`data::non_digits`) in every voice at two
    /// speeds with espeak-ng into `dir` (files already there are reused, so a resumed run hears
    /// the same words) and keeps them for empty clips that say a word. Returns how many.
    pub fn load_non_digit_speech(&mut self, dir: &Path) -> Result<usize, DataError> {
        std::fs::create_dir_all(dir).map_err(|source| DataError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let rate = self.config.audio.logmel.sample_rate;
        let mut bank = Vec::new();
        for word in non_digits::Set::Training.words() {
            for voice in non_digits::VOICES {
                for speed in [130, 175] {
                    let path = dir.join(format!("{word}-{}-{speed}.wav", voice.replace('+', "_")));
                    if !path.is_file() {
                        non_digits::speak(word, voice, speed, 50, &path)?;
                    }
                    bank.push(fsdd::load_waveform(&path, rate)?);
                }
            }
        }
        self.non_digit_speech = bank;
        Ok(self.non_digit_speech.len())
    }

    /// Training clip `index` for `seed`, augmented with `augment`.
    pub fn sample(&self, split: ClipSplit, index: u64, seed: u64, augment: &Augment) -> Sample {
        self.render(&self.plan(split, index, seed), augment)
    }

    /// Renders a planned clip: the moving digit, the placed word, and K narrations; or, when
    /// the jitter draws an empty clip, nothing shown, nothing said and no narration (all-padding
    /// ids, which the loss leaves out as anchors and keeps as negatives).
    pub fn render(&self, plan: &ClipPlan, augment: &Augment) -> Sample {
        let mut rng = StdRng::seed_from_u64(plan.stream);
        let frames = self.config.video.frames;
        let jitter = Jitter::draw(augment, frames, &mut rng);
        if let Some((shown, heard)) = jitter.robust.empty {
            let mut canvas = super::empty_clip::video(shown, frames, jitter.robust.seed);
            moving_mnist::apply_look(&mut canvas, &jitter.robust);
            let video = self.canvas_to_clip(&canvas);
            let rate = self.config.audio.logmel.sample_rate;
            let n = self.config.clip_samples();
            let audio = if heard == EmptyAudio::Speech && !self.non_digit_speech.is_empty() {
                let word = jitter.robust.seed as usize % self.non_digit_speech.len();
                self.place_audio(&self.non_digit_speech[word], &jitter, Some(&mut rng))
            } else {
                let sound = super::empty_clip::audio(heard, n, rate, jitter.robust.seed ^ 0xA0D);
                self.finish_audio(sound, &jitter)
            };
            let k = self.config.text.narrations_per_clip;
            let text = vec![0u32; k * self.config.text.max_words];
            return Sample { video, audio, text };
        }
        let motion = Motion::random(DIGIT * jitter.scale, &mut rng);
        let video = self.video(plan.image, motion, &jitter);
        let audio = self.place_audio(&self.waveforms[plan.take], &jitter, Some(&mut rng));
        let narrations = pick_narrations(
            plan.digit as usize,
            self.config.text.narrations_per_clip,
            &mut rng,
        );
        let text = narrations
            .iter()
            .flat_map(|n| self.encode_text(n))
            .collect();
        Sample { video, audio, text }
    }

    /// The clip of MNIST image `image` standing still in the middle of the canvas: the
    /// "static clip" on which a video network sees a single image.
    pub fn static_video(&self, image: usize) -> Vec<f32> {
        let frames = self.config.video.frames;
        self.video(image, Motion::still(DIGIT), &Jitter::none(frames))
    }

    /// MNIST image `image` as the deflated network sees it: [C, H, W], the first frame of its
    /// static clip (so image and static clip are preprocessed identically).
    pub fn still_image(&self, image: usize) -> Vec<f32> {
        let v = &self.config.video;
        let plane = v.size * v.size;
        let clip = self.static_video(image);
        (0..v.channels)
            .flat_map(|c| {
                let start = c * v.frames * plane;
                clip[start..start + plane].to_vec()
            })
            .collect()
    }

    /// A clip of `image` moving with the given motion: [C, T, H, W] through the runtime's frame
    /// front end.
    pub fn video(&self, image: usize, motion: Motion, jitter: &Jitter) -> Vec<f32> {
        let m = &self.mnist;
        let mut canvas = moving_mnist::render(m.image(image), m.rows, m.cols, motion, jitter);
        moving_mnist::apply_look(&mut canvas, &jitter.robust);
        self.canvas_to_clip(&canvas)
    }

    /// Canvas frames -> [C, T, H, W] through the runtime's frame front end.
    fn canvas_to_clip(&self, canvas: &[Vec<u8>]) -> Vec<f32> {
        let v = &self.config.video;
        let plane = v.size * v.size;
        let mut out = vec![0.0f32; v.channels * v.frames * plane];
        for (t, frame) in canvas.iter().enumerate() {
            let chw = preprocess_gray8(frame, CANVAS, CANVAS, &self.frame_spec)
                .expect("canvas frames match the validated frame spec");
            for c in 0..v.channels {
                let dst = (c * v.frames + t) * plane;
                out[dst..dst + plane].copy_from_slice(&chw[c * plane..(c + 1) * plane]);
            }
        }
        out
    }

    /// The log-mel [frames, mels] of one clip's audio: `word` placed in the clip's time span
    /// (at random when `rng` is given, centred otherwise), padded with silence, augmented.
    pub fn place_audio(&self, word: &[f32], jitter: &Jitter, rng: Option<&mut StdRng>) -> Vec<f32> {
        let n = self.config.clip_samples();
        let mut clip = vec![0.0f32; n];
        let sped;
        let word = if (jitter.robust.speed - 1.0).abs() > 1e-3 {
            sped = change_speed(word, jitter.robust.speed);
            &sped[..]
        } else {
            word
        };
        let len = word.len();
        if let Some(cut) = jitter.robust.cut_start {
            // Cut by the window's border: the word starts before the clip or ends after it.
            let start = if cut < 0.0 {
                (cut * len as f32) as isize
            } else {
                n as isize - ((1.0 - cut) * len as f32) as isize
            };
            for (i, &s) in word.iter().enumerate() {
                let t = start + i as isize;
                if (0..n as isize).contains(&t) {
                    clip[t as usize] = s * jitter.gain;
                }
            }
            return self.finish_audio(clip, jitter);
        }
        let (src, dst) = if len >= n {
            // A word longer than the clip (2 of 3,000 takes): keep a window of it.
            let room = len - n;
            let start = match rng {
                Some(r) => r.random_range(0..=room),
                None => room / 2,
            };
            (&word[start..start + n], 0)
        } else {
            let room = n - len;
            let base = match rng {
                Some(r) => r.random_range(0..=room) as f32,
                None => room as f32 / 2.0,
            };
            let shifted = (base + jitter.time_shift * n as f32).clamp(0.0, room as f32);
            (word, shifted as usize)
        };
        for (o, &s) in clip[dst..dst + src.len()].iter_mut().zip(src) {
            *o = s * jitter.gain;
        }
        self.finish_audio(clip, jitter)
    }

    /// Noise, clipping, the log-mel front end and SpecAugment's masks.
    fn finish_audio(&self, mut clip: Vec<f32>, jitter: &Jitter) -> Vec<f32> {
        // The noise's own stream, so that switching noise on does not move anything else; the
        // runtime's generator, the one a bundle's noise floor uses.
        add_white_noise(&mut clip, jitter.noise, jitter.noise_seed);
        for o in &mut clip {
            *o = o.clamp(-1.0, 1.0);
        }
        let mut spec = self.logmel.compute(&clip).data;
        // The bundle's noise gate, as the runtime applies it (before SpecAugment's masks, which
        // inference never sees).
        subtract_noise_floor(
            &mut spec,
            self.config.audio.logmel.n_mels,
            self.config.audio.noise_gate,
        );
        let r = &jitter.robust;
        if !r.time_masks.is_empty() || !r.freq_masks.is_empty() {
            let mels = self.config.audio.logmel.n_mels;
            let frames = spec.len() / mels;
            // Masked cells take the clip's mean, as SpecAugment's mean-masking does.
            let mean = spec.iter().sum::<f32>() / spec.len().max(1) as f32;
            for &(at, width) in &r.time_masks {
                let t0 = (at * frames.saturating_sub(width) as f32) as usize;
                for t in t0..(t0 + width).min(frames) {
                    spec[t * mels..(t + 1) * mels].fill(mean);
                }
            }
            for &(at, width) in &r.freq_masks {
                let m0 = (at * mels.saturating_sub(width) as f32) as usize;
                for t in 0..frames {
                    spec[t * mels + m0..t * mels + (m0 + width).min(mels)].fill(mean);
                }
            }
        }
        spec
    }

    /// FSDD take `take` as decoded at the front end's rate (for product-path evaluation).
    pub fn waveform(&self, take: usize) -> &[f32] {
        &self.waveforms[take]
    }

    /// Held-out recording `i` as decoded at the front end's rate.
    pub fn heldout_waveform(&self, i: usize) -> &[f32] {
        &self.heldout_waveforms[i]
    }

    /// The log-mel of FSDD take `take` (index into `recordings`) centred in a clip, clean.
    pub fn recording_audio(&self, take: usize) -> Vec<f32> {
        let frames = self.config.video.frames;
        self.place_audio(&self.waveforms[take], &Jitter::none(frames), None)
    }

    /// The log-mel of held-out recording `i`, centred in a clip, clean.
    pub fn heldout_audio(&self, i: usize) -> Vec<f32> {
        let frames = self.config.video.frames;
        self.place_audio(&self.heldout_waveforms[i], &Jitter::none(frames), None)
    }

    /// The token ids of one narration ([max_words]).
    pub fn encode_text(&self, text: &str) -> Vec<u32> {
        self.tokenizer.encode(text, &self.vocab)
    }

    /// The number of log-mel frames per clip.
    pub fn audio_frames(&self) -> usize {
        self.logmel.num_frames(self.config.clip_samples())
    }

    /// The takes of `digit` that `split` may use (indices into `recordings`).
    pub fn takes(&self, split: ClipSplit, digit: u8) -> &[usize] {
        &self.takes[split_slot(split)][digit as usize]
    }

    /// The MNIST images of `digit` in `split`.
    pub fn images(&self, split: ClipSplit, digit: u8) -> &[usize] {
        &self.images[split_slot(split)][digit as usize]
    }
}

/// Plays `word` `rate` times faster (tempo and pitch together) by linear interpolation; an
/// augmentation only, where an interpolating resampler's few-percent aliasing does not matter.
fn change_speed(word: &[f32], rate: f32) -> Vec<f32> {
    let n = ((word.len() as f32) / rate).floor() as usize;
    (0..n)
        .map(|i| {
            let x = i as f32 * rate;
            let j = x as usize;
            let f = x - j as f32;
            let a = word[j.min(word.len() - 1)];
            let b = word[(j + 1).min(word.len() - 1)];
            a + (b - a) * f
        })
        .collect()
}
