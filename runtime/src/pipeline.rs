//! From decoded media to embeddings and tags, with one model bundle: frames through the frame
//! front end and the video (clip) or deflated image network, audio through the resampler, the
//! log-mel front end and the audio network, text through the tokenizer and the text network.
//! `mmv embed`, `mmv tag`, `mmv index` and `mmv search` all go through here, and so does the
//! board daemon, so every caller feeds the model identically. Frames come as [`Picture`]s:
//! camera formats are preprocessed as they are and made RGB only for thumbnails.

use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use crate::audio::{AudioError, resample};
use crate::bundle::manifest::EncoderKind;
use crate::bundle::{Bundle, BundleError, Embedding};
use crate::frames::{FrameError, Picture, preprocess_picture};
use crate::index::{Modality, ModelKey, Query};
use crate::ingest::{self, Clip, ClipGeometry, Clips, IngestError, Media, OpenOptions};
use crate::tag::{LabelSet, MAX_TEXT_BYTES, Tag, TagError, Tagger};
use crate::text::{PAD_ID, UNK_ID};
use crate::vector::normalize;

/// The released bundle, relative to the repository root: the default of every command (the
/// best of the released bundles by the product-path table, README).
pub const DEFAULT_BUNDLE: &str = "models/avdigits-fac-tsm-robust";

/// Sample rates accepted for audio input. Outside this range a file is almost surely damaged,
/// and the resampler's FFT size grows with the rate.
pub const SAMPLE_RATES: std::ops::RangeInclusive<u32> = 1_000..=384_000;

/// Audio windows quieter than this peak level (about -80 dBFS) are silence: they get no audio
/// embedding, since the audio network's answer for silence means nothing.
pub const SILENCE_PEAK: f32 = 1e-4;

/// Longer side of stored thumbnails, in pixels.
pub const THUMBNAIL_SIDE: usize = 96;

/// Errors of the pipeline. Media errors name their file; model errors their ONNX file.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error(transparent)]
    Ingest(#[from] IngestError),
    #[error(transparent)]
    Tag(#[from] TagError),
    #[error("{what}: {source}")]
    Frame { what: String, source: FrameError },
    #[error("{what}: {source}")]
    Audio { what: String, source: AudioError },
    #[error("{0}")]
    Input(String),
}

/// The embeddings of one clip (or of a still image), with a thumbnail.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClipEmbedding {
    pub index: u32,
    pub start_s: f64,
    pub end_s: f64,
    pub video: Option<Embedding>,
    /// None when the clip has no audio, or only silence.
    pub audio: Option<Embedding>,
    pub image: Option<Embedding>,
    /// A small JPEG of the clip's middle frame (or the image).
    pub thumbnail: Option<Vec<u8>>,
}

impl ClipEmbedding {
    /// (modality, embedding) pairs present in this clip.
    pub fn modalities(&self) -> Vec<(Modality, &Embedding)> {
        [
            (Modality::Video, &self.video),
            (Modality::Audio, &self.audio),
            (Modality::Image, &self.image),
        ]
        .into_iter()
        .filter_map(|(m, e)| e.as_ref().map(|e| (m, e)))
        .collect()
    }
}

/// Tags of one clip: per modality, and fused audio+video where both exist.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ClipTags {
    pub video: Option<Vec<Tag>>,
    pub audio: Option<Vec<Tag>>,
    pub image: Option<Vec<Tag>>,
    pub fused: Option<Vec<Tag>>,
}

impl ClipTags {
    /// (modality, tags) pairs present in this clip, in a fixed order.
    pub fn modalities(&self) -> [(&'static str, Option<&Vec<Tag>>); 4] {
        [
            ("video", self.video.as_ref()),
            ("audio", self.audio.as_ref()),
            ("image", self.image.as_ref()),
            ("fused", self.fused.as_ref()),
        ]
    }
}

/// A whole file's answer per modality, the product's rule: the best label of the window where
/// the best label stands out most from the others (the highest contrast: its cosine minus the
/// mean cosine over the labels; max over windows), and "none" when that window's label is below
/// the modality's open-set cut. Picking by contrast rather than by cosine keeps a window holding
/// half a word, or only noise, from outvoting the window that holds the word (AV-Digits, words
/// split across overlapping windows: 87.5 -> 90 % on 2.3.0, 47.5 -> 83 % on 3.0.0). `mmv tag`
/// prints it under a file's clips; `eval-product` scores it.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct FileSummary {
    /// Per modality: the chosen window's best tag (its `present` says whether it counts).
    pub best: std::collections::BTreeMap<&'static str, Tag>,
}

impl FileSummary {
    /// Takes one window's tags into account.
    pub fn add(&mut self, tags: &ClipTags) {
        for (m, t) in tags.modalities() {
            let Some(first) = t.and_then(|t| t.first()) else {
                continue;
            };
            match self.best.get(m) {
                Some(b) if b.contrast >= first.contrast => {}
                _ => {
                    self.best.insert(m, first.clone());
                }
            }
        }
    }

    /// The label a modality answers, None for "none" (or no such modality in the file).
    pub fn answer(&self, modality: &str) -> Option<&Tag> {
        self.best.get(modality).filter(|t| t.present)
    }
}

/// A bundle with the front ends around it.
#[derive(Debug)]
pub struct Pipeline {
    pub bundle: Bundle,
}

impl Pipeline {
    pub fn new(bundle: Bundle) -> Self {
        Self { bundle }
    }

    /// The model's identity in the index.
    pub fn model_key(&self) -> ModelKey {
        let m = &self.bundle.manifest;
        ModelKey {
            name: m.name.clone(),
            version: m.version.clone(),
            design: m.design.clone(),
        }
    }

    fn has(&self, kind: EncoderKind) -> bool {
        self.bundle.kinds().contains(&kind)
    }

    /// Seconds between the windows a file is tagged over (`mmv tag`'s default stride): half a
    /// window, so that whatever one window's border cuts (a word, a digit on its way across)
    /// lies whole, or nearly, inside the next. Side by side, a word split by a border was
    /// answered right 79 % of the time against 92.5 % centred (2.3.0, `eval-product`); half a
    /// window apart, 90 %. Indexing keeps windows side by side (one row per stretch of footage).
    pub fn tag_stride_s(&self) -> f64 {
        let v = &self.bundle.manifest.video;
        v.frames as f64 / f64::from(v.fps) / 2.0
    }

    /// Opens a media file for tagging: as [`Pipeline::open`], with clips `stride_s` apart or,
    /// by default, [`Pipeline::tag_stride_s`] apart (`mmv tag` and `eval-product`).
    pub fn open_for_tagging(
        &self,
        path: &Path,
        options: &OpenOptions,
        stride_s: Option<f64>,
    ) -> Result<FileClips<'_>, PipelineError> {
        self.open(path, options, Some(stride_s.unwrap_or(self.tag_stride_s())))
    }

    /// The clip shape for a stride in seconds (None: clips side by side).
    pub fn geometry(&self, stride_s: Option<f64>) -> Result<ClipGeometry, PipelineError> {
        if let Some(s) = stride_s
            && !(s.is_finite() && s > 0.0)
        {
            return Err(PipelineError::Input(format!(
                "the clip stride must be a positive number of seconds, got {s}"
            )));
        }
        let m = &self.bundle.manifest;
        let fps = f64::from(m.video.fps);
        Ok(ClipGeometry {
            frames: m.video.frames,
            fps,
            stride_frames: ClipGeometry::stride_frames_for(m.video.frames, fps, stride_s),
            sample_rate: m.audio.logmel.sample_rate,
            window_samples: m.audio.window_samples,
        })
    }

    /// One frame through the frame front end: CHW f32. A frame in a camera format is read as it
    /// is (a grey model reads the Y plane of YUV; no RGB frame is made).
    pub fn preprocess(&self, frame: &Picture) -> Result<Vec<f32>, PipelineError> {
        preprocess_picture(frame, &self.bundle.manifest.video.frame).map_err(|source| {
            PipelineError::Frame {
                what: "frame".into(),
                source,
            }
        })
    }

    /// A clip of frames (the manifest's frame count) through the video network.
    pub fn embed_frames(&self, frames: &[Arc<Picture>]) -> Result<Embedding, PipelineError> {
        let t = self.bundle.manifest.video.frames;
        if frames.len() != t {
            return Err(PipelineError::Input(format!(
                "a clip needs {t} frames, got {}",
                frames.len()
            )));
        }
        let chw: Vec<Vec<f32>> = frames
            .iter()
            .map(|f| self.preprocess(f))
            .collect::<Result<_, _>>()?;
        self.embed_preprocessed(&chw)
    }

    /// A clip of frames already through [`Pipeline::preprocess`] (CHW each, the manifest's
    /// frame count) through the video network, for callers that preprocess a frame once and
    /// use it twice (the board daemon's image and clip paths).
    pub fn embed_preprocessed<F: AsRef<[f32]>>(
        &self,
        frames: &[F],
    ) -> Result<Embedding, PipelineError> {
        let t = self.bundle.manifest.video.frames;
        let spec = &self.bundle.manifest.video.frame;
        if frames.len() != t || frames.iter().any(|f| f.as_ref().len() != spec.output_len()) {
            return Err(PipelineError::Input(format!(
                "a clip needs {t} preprocessed frames of {} values",
                spec.output_len()
            )));
        }
        // [T][C][H*W] -> [C][T][H*W].
        let plane = spec.height * spec.width;
        let mut cthw = Vec::with_capacity(spec.channels * t * plane);
        for c in 0..spec.channels {
            for f in frames {
                cthw.extend_from_slice(&f.as_ref()[c * plane..(c + 1) * plane]);
            }
        }
        Ok(self.bundle.embed_clip(&cthw)?)
    }

    /// A still image through the frame front end, framed first where the bundle asks for it
    /// (`video.still_framing`: the object centred at its training scale, bright on dark). A
    /// picture with nothing to frame is used as it is.
    pub fn preprocess_still(&self, image: &Picture) -> Result<Vec<f32>, PipelineError> {
        let Some(framing) = &self.bundle.manifest.video.still_framing else {
            return self.preprocess(image);
        };
        let rgb = image.to_rgb().map_err(|source| PipelineError::Frame {
            what: "still".into(),
            source,
        })?;
        match framing.frame(&rgb) {
            Some(framed) => self.preprocess(&Picture::Rgb(framed)),
            None => self.preprocess(image),
        }
    }

    /// A still image (or one frame) through the deflated image network.
    pub fn embed_image(&self, image: &Picture) -> Result<Embedding, PipelineError> {
        let chw = self.preprocess_still(image)?;
        Ok(self.bundle.embed_image(&chw)?)
    }

    /// Audio at any rate, resampled to the model's.
    pub fn to_model_rate(&self, samples: &[f32], rate: u32) -> Result<Vec<f32>, PipelineError> {
        if !SAMPLE_RATES.contains(&rate) {
            return Err(PipelineError::Input(format!(
                "audio at {rate} Hz: sample rates from {} to {} Hz are accepted",
                SAMPLE_RATES.start(),
                SAMPLE_RATES.end()
            )));
        }
        let to = self.bundle.manifest.audio.logmel.sample_rate;
        resample(samples, rate, to).map_err(|source| PipelineError::Audio {
            what: "audio".into(),
            source,
        })
    }

    /// One window of audio at the model's rate (padded or cut to the window) through the audio
    /// network; None for silence.
    pub fn embed_audio(&self, samples: &[f32]) -> Result<Option<Embedding>, PipelineError> {
        let peak = samples.iter().fold(0.0f32, |m, s| m.max(s.abs()));
        if peak < SILENCE_PEAK {
            return Ok(None);
        }
        Ok(Some(self.bundle.embed_audio(samples)?))
    }

    /// A label prompt or a search query in the text space. The text must be at most
    /// [`MAX_TEXT_BYTES`] and hold at least one word the model knows.
    pub fn embed_text(&self, text: &str) -> Result<Vec<f32>, PipelineError> {
        if text.len() > MAX_TEXT_BYTES {
            return Err(PipelineError::Input(format!(
                "the text is {} bytes; at most {MAX_TEXT_BYTES} are accepted",
                text.len()
            )));
        }
        let ids = self.bundle.text_ids(text);
        let known = |&id: &i64| id != i64::from(PAD_ID) && id != i64::from(UNK_ID);
        if !ids.iter().any(known) {
            let shown: String = text.chars().take(60).collect();
            return Err(PipelineError::Input(format!(
                "no word of {shown:?} is in the model's vocabulary ({} words; stop words like \
                 \"the\" are ignored)",
                self.bundle.vocab.len()
            )));
        }
        let e = self.bundle.embed_text(text)?;
        e.vat.ok_or_else(|| {
            PipelineError::Input("the bundle's text network has no text-space output".into())
        })
    }

    /// Embeds every label's prompts and builds a tagger at the manifest's temperature, with the
    /// bundle's open-set cuts when it was calibrated (`Tagger::with_cuts` overrides them).
    pub fn tagger(&self, labels: &LabelSet) -> Result<Tagger, PipelineError> {
        let mut embeddings = Vec::with_capacity(labels.labels.len());
        for label in &labels.labels {
            let prompts = label
                .prompts
                .iter()
                .map(|p| {
                    self.embed_text(p).map_err(|e| {
                        PipelineError::Tag(TagError::Line {
                            origin: labels.origin.clone(),
                            line: label.line,
                            problem: format!("label {:?}: {e}", label.name),
                        })
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            embeddings.push(prompts);
        }
        let tagger = Tagger::new(labels, embeddings, self.bundle.manifest.temperature)?;
        Ok(match &self.bundle.manifest.open_set {
            Some(set) => tagger.with_open_set(set)?,
            None => tagger,
        })
    }

    /// Scores a clip's embeddings against the labels: the `top_k` labels at or above
    /// `threshold` for each modality in the text space, and fused audio+video.
    pub fn tag(
        &self,
        tagger: &Tagger,
        clip: &ClipEmbedding,
        top_k: usize,
        threshold: f32,
    ) -> Result<ClipTags, PipelineError> {
        let vat = |e: &Option<Embedding>| e.as_ref().and_then(|e| e.vat.clone());
        let (v, a, i) = (vat(&clip.video), vat(&clip.audio), vat(&clip.image));
        let top = |z: &Option<Vec<f32>>, m: &str| -> Result<Option<Vec<Tag>>, TagError> {
            z.as_ref()
                .map(|z| Ok(tagger.top(&tagger.scores(z)?, m, top_k, threshold)))
                .transpose()
        };
        let fused = match (&v, &a) {
            (Some(v), Some(a)) => Some(tagger.top(&tagger.fused(v, a)?, "fused", top_k, threshold)),
            _ => None,
        };
        Ok(ClipTags {
            video: top(&v, "video")?,
            audio: top(&a, "audio")?,
            image: top(&i, "image")?,
            fused,
        })
    }

    /// Opens a media file and returns its clips, embedded one at a time.
    pub fn open(
        &self,
        path: &Path,
        options: &OpenOptions,
        stride_s: Option<f64>,
    ) -> Result<FileClips<'_>, PipelineError> {
        let geometry = self.geometry(stride_s)?;
        let Media {
            kind,
            video,
            audio,
            image,
        } = ingest::open(path, options)?;
        let source = if let Some(image) = image {
            Source::Image(Some(Picture::Rgb(image)))
        } else {
            let audio = match audio {
                Some(a) => Some(
                    self.to_model_rate(&a.samples, a.sample_rate)
                        .map_err(|e| PipelineError::Input(format!("{}: {e}", path.display())))?,
                ),
                None => None,
            };
            Source::Clips(Box::new(Clips::new(geometry, video, audio)))
        };
        Ok(FileClips {
            pipeline: self,
            kind,
            geometry,
            source,
        })
    }

    /// Embeds one clip (video, audio, thumbnail). `thumbnail`: whether to make one.
    pub fn embed_clip(&self, clip: &Clip, thumbnail: bool) -> Result<ClipEmbedding, PipelineError> {
        let video = if !clip.frames.is_empty() && self.has(EncoderKind::Clip) {
            Some(self.embed_frames(&clip.frames)?)
        } else {
            None
        };
        let audio = match &clip.audio {
            Some(a) if self.has(EncoderKind::Audio) => self.embed_audio(a)?,
            _ => None,
        };
        let thumbnail = match clip.frames.get(clip.frames.len() / 2) {
            Some(f) if thumbnail => Some(self.thumbnail(f)?),
            _ => None,
        };
        Ok(ClipEmbedding {
            index: clip.index,
            start_s: clip.start_s,
            end_s: clip.end_s,
            video,
            audio,
            image: None,
            thumbnail,
        })
    }

    /// The stored thumbnail of a frame: the only place a clip's frame is made RGB.
    fn thumbnail(&self, frame: &Picture) -> Result<Vec<u8>, PipelineError> {
        frame
            .thumbnail_jpeg(THUMBNAIL_SIDE)
            .map_err(|source| PipelineError::Frame {
                what: "thumbnail".into(),
                source,
            })
    }
}

/// What to search with.
#[derive(Clone, Debug, PartialEq)]
pub enum QueryInput {
    Text(String),
    /// A JPEG or PNG file.
    Image(std::path::PathBuf),
    /// Any audio file `mmv index` reads (WAV, or through ffmpeg).
    Audio(std::path::PathBuf),
}

impl Pipeline {
    /// A query's embedding. An audio file longer than one window is embedded window by window
    /// (side by side) and the non-silent windows' embeddings averaged.
    pub fn query(&self, input: &QueryInput, options: &OpenOptions) -> Result<Query, PipelineError> {
        match input {
            QueryInput::Text(text) => Ok(Query {
                va: None,
                vat: Some(self.embed_text(text)?),
                text: true,
            }),
            QueryInput::Image(path) => {
                let image = Picture::Rgb(ingest::read_image(path)?);
                let e = self.embed_image(&image)?;
                Ok(Query {
                    va: e.va,
                    vat: e.vat,
                    text: false,
                })
            }
            QueryInput::Audio(path) => {
                let media = ingest::open(path, options)?;
                let audio = media.audio.ok_or_else(|| {
                    PipelineError::Input(format!("{}: has no audio", path.display()))
                })?;
                let samples = self.to_model_rate(&audio.samples, audio.sample_rate)?;
                let n = self.bundle.manifest.audio.window_samples;
                let mut windows = Vec::new();
                // As for clips, a tail shorter than half a window counts only if it is all.
                let chunks = samples
                    .chunks(n)
                    .enumerate()
                    .filter(|(i, w)| *i == 0 || w.len() * 2 >= n)
                    .map(|(_, w)| w);
                for w in chunks.take(MAX_QUERY_WINDOWS) {
                    // As `mmv tag` reads it: a query shorter than a window sits in its middle.
                    let w = if samples.len() < n {
                        ingest::clips::centred_window(w, n)
                    } else {
                        w.to_vec()
                    };
                    if let Some(e) = self.embed_audio(&w)? {
                        windows.push(e);
                    }
                }
                if windows.is_empty() {
                    return Err(PipelineError::Input(format!(
                        "{}: the audio is silent",
                        path.display()
                    )));
                }
                let mean = |get: fn(&Embedding) -> Option<&Vec<f32>>| -> Option<Vec<f32>> {
                    let first = get(&windows[0])?;
                    let mut sum = vec![0.0f32; first.len()];
                    for w in &windows {
                        sum.iter_mut().zip(get(w)?).for_each(|(s, v)| *s += v);
                    }
                    normalize(&mut sum);
                    Some(sum)
                };
                Ok(Query {
                    va: mean(|e| e.va.as_ref()),
                    vat: mean(|e| e.vat.as_ref()),
                    text: false,
                })
            }
        }
    }
}

impl Pipeline {
    /// Whether a search hit lies below the bundle's open-set cut for the hit's modality: where
    /// that cut is on typicality, whether the hit's own text-space embedding (`segment_vat`)
    /// is too far from every label's training inputs (for any query: tagging would give the
    /// segment no label); where it is on the cosine, whether a text query's score (the cosine
    /// that tagging compares with the cut) is under it. A hit below the cut is marked, not
    /// hidden (`mmv search`, the web page). Bundles without cuts, cuts on the contrast (a
    /// label's cosine minus the mean over a label set, with no counterpart for a free-text
    /// query), other queries on cosine cuts and hits without an embedding give None.
    pub fn below_cut(
        &self,
        query: &Query,
        modality: Modality,
        score: f32,
        segment_vat: Option<&[f32]>,
    ) -> Option<bool> {
        let open_set = self.bundle.manifest.open_set.as_ref()?;
        let cut = open_set.threshold(modality.name())?;
        match open_set.score_of(modality.name()) {
            crate::open_set::OpenSetScore::Cosine => query.text.then_some(score < cut),
            crate::open_set::OpenSetScore::Contrast => None,
            crate::open_set::OpenSetScore::Typicality => {
                let g = open_set.gaussians.get(modality.name())?;
                let z = segment_vat.filter(|z| z.len() == g.dim())?;
                Some(g.typicality(z) < cut)
            }
        }
    }
}

/// Windows of an audio query embedded at most (about 16 s at AV-Digits' 1.6 s window).
pub const MAX_QUERY_WINDOWS: usize = 10;

enum Source {
    Clips(Box<Clips>),
    Image(Option<Picture>),
}

/// The clips of one file, embedded on demand.
pub struct FileClips<'p> {
    pipeline: &'p Pipeline,
    pub kind: ingest::MediaKind,
    pub geometry: ClipGeometry,
    source: Source,
}

impl FileClips<'_> {
    /// The next clip's embeddings; clips below `skip_below` are decoded but not embedded
    /// (returned with no embeddings), for resuming. None after the last clip.
    pub fn next(
        &mut self,
        skip_below: u32,
        thumbnails: bool,
    ) -> Result<Option<ClipEmbedding>, PipelineError> {
        match &mut self.source {
            Source::Image(image) => {
                let Some(image) = image.take() else {
                    return Ok(None);
                };
                if skip_below > 0 {
                    return Ok(Some(ClipEmbedding::default()));
                }
                Ok(Some(ClipEmbedding {
                    image: Some(self.pipeline.embed_image(&image)?),
                    thumbnail: thumbnails
                        .then(|| self.pipeline.thumbnail(&image))
                        .transpose()?,
                    ..ClipEmbedding::default()
                }))
            }
            Source::Clips(clips) => {
                let Some(clip) = clips.next_clip()? else {
                    return Ok(None);
                };
                if clip.index < skip_below {
                    return Ok(Some(ClipEmbedding {
                        index: clip.index,
                        start_s: clip.start_s,
                        end_s: clip.end_s,
                        ..ClipEmbedding::default()
                    }));
                }
                Ok(Some(self.pipeline.embed_clip(&clip, thumbnails)?))
            }
        }
    }

    /// The footage's duration, once every clip has been read (0 for a still image).
    pub fn duration_s(&self) -> Option<f64> {
        match &self.source {
            Source::Clips(c) => c.duration_s(),
            Source::Image(_) => Some(0.0),
        }
    }
}
