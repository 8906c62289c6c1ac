//! The inference loop: it takes frames and audio from the capture queues and runs
//! - every Nth frame through the deflated image network,
//! - every completed clip of T frames (sampled at the model's clip rate) through the video
//!   network,
//! - every audio window through the audio network,
//!
//! then writes tags, index rows (clips and audio windows, with thumbnails) and the overlay.
//!
//! A clip must be contiguous: frames of another source opening (epoch), a gap longer than half
//! a clip period, or time running backwards start it afresh. So a still camera, a low frame rate
//! or a snapshot source never completes a clip, and then the image path tags every frame even
//! when `image_every = 0` asked for clips only. Audio windows likewise never span a gap (drops,
//! restarts).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mmv_runtime::bundle::Embedding;
use mmv_runtime::frames::preprocess_rgb8;

use crate::capture::convert::to_rgb8;
use crate::capture::{AudioChunk, Frame};
use crate::model::{Embedder, Modality, Tag, Tagger};
use crate::outputs::index_sink::{IndexRecord, IndexSink, thumbnail_jpeg};
use crate::outputs::tags_jsonl::{TagRecord, TagWriter};
use crate::overlay::{self, Display, OverlayState, RgbCanvas, TagLine};
use crate::queue::Receiver;
use crate::supervisor::SourceHealth;

/// Pipeline settings (from `[tagging]`, `[index]`).
#[derive(Clone, Debug)]
pub struct PipelineOptions {
    pub image_every: usize,
    pub clips: bool,
    pub top_k: usize,
    pub threshold: f32,
    pub emit_empty: bool,
    /// Seconds between audio windows; `None`: one window.
    pub audio_hop_s: Option<f32>,
    /// Index audio windows as well as clips.
    pub index_audio: bool,
    pub thumbnail_width: u32,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        Self {
            image_every: 1,
            clips: true,
            top_k: 3,
            threshold: 0.0,
            emit_empty: false,
            audio_hop_s: None,
            index_audio: true,
            thumbnail_width: 160,
        }
    }
}

/// Counters, for the status line, logs and tests.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PipelineStats {
    pub frames: u64,
    pub images: u64,
    pub clips: u64,
    pub audio_windows: u64,
    /// Audio windows abandoned at a gap or restart.
    pub audio_resets: u64,
    /// Partial clips abandoned at a gap or restart.
    pub clip_resets: u64,
    pub tag_lines: u64,
    pub index_rows: u64,
    pub index_failures: u64,
    /// Frames that could not be decoded or preprocessed.
    pub bad_frames: u64,
    /// Network calls that failed.
    pub embed_failures: u64,
    pub display_failures: u64,
    /// Capture to output, of the last output.
    pub last_latency_ms: f64,
}

/// A clip handed to the video network.
struct Clip {
    cthw: Vec<f32>,
    start_pts: Duration,
    end_pts: Duration,
    captured: Instant,
    /// The middle frame, for the thumbnail.
    thumb: Option<(Vec<u8>, u32, u32)>,
}

/// Samples frames at the clip rate into clips of T.
struct ClipAssembler {
    channels: usize,
    t: usize,
    period: Duration,
    frames: Vec<Vec<f32>>,
    epoch: u32,
    next_due: Duration,
    last_pts: Duration,
    start_pts: Duration,
    captured: Option<Instant>,
    thumb: Option<(Vec<u8>, u32, u32)>,
    /// At least one clip completed since the last gap.
    active: bool,
}

enum Offer {
    Taken,
    Skipped,
    Reset,
}

impl ClipAssembler {
    fn new(t: usize, fps: f32, channels: usize) -> Self {
        let fps = if fps.is_finite() && fps > 0.0 {
            fps
        } else {
            10.0
        };
        Self {
            channels: channels.max(1),
            t: t.max(1),
            period: Duration::from_secs_f64(1.0 / f64::from(fps)),
            frames: Vec::with_capacity(t),
            epoch: 0,
            next_due: Duration::ZERO,
            last_pts: Duration::ZERO,
            start_pts: Duration::ZERO,
            captured: None,
            thumb: None,
            active: false,
        }
    }

    fn reset(&mut self) -> bool {
        let had = !self.frames.is_empty();
        self.frames.clear();
        self.thumb = None;
        self.captured = None;
        self.active = false;
        had
    }

    /// Offers one preprocessed frame; returns a clip when one completes.
    fn offer(
        &mut self,
        frame: &Frame,
        chw: &[f32],
        rgb: &[u8],
        w: u32,
        h: u32,
    ) -> (Offer, Option<Clip>) {
        let mut outcome = Offer::Taken;
        if !self.frames.is_empty() {
            let early = self.next_due.saturating_sub(self.period / 4);
            let late = self.next_due + self.period / 2;
            if frame.epoch != self.epoch || frame.pts < self.last_pts || frame.pts > late {
                self.reset();
                outcome = Offer::Reset;
            } else if frame.pts < early {
                return (Offer::Skipped, None);
            }
        }
        if self.frames.is_empty() {
            self.epoch = frame.epoch;
            self.start_pts = frame.pts;
            self.next_due = frame.pts;
            self.captured = Some(frame.captured);
        }
        self.next_due += self.period;
        self.last_pts = frame.pts;
        if self.frames.len() == self.t / 2 {
            self.thumb = Some((rgb.to_vec(), w, h));
        }
        self.frames.push(chw.to_vec());
        if self.frames.len() < self.t {
            return (outcome, None);
        }
        // [T][C*H*W] -> [C][T][H*W].
        let per_frame = self.frames[0].len();
        let mut cthw = Vec::with_capacity(per_frame * self.t);
        let c = self.channels;
        let hw = per_frame / c;
        // A frame whose length is not C*H*W cannot come from preprocess_rgb8; be safe anyway.
        if hw * c != per_frame || self.frames.iter().any(|f| f.len() != per_frame) {
            self.reset();
            return (Offer::Reset, None);
        }
        for ch in 0..c {
            for f in &self.frames {
                cthw.extend_from_slice(&f[ch * hw..(ch + 1) * hw]);
            }
        }
        let clip = Clip {
            cthw,
            start_pts: self.start_pts,
            end_pts: frame.pts + self.period,
            captured: self.captured.unwrap_or(frame.captured),
            thumb: self.thumb.take(),
        };
        self.frames.clear();
        self.active = true;
        (outcome, Some(clip))
    }
}

/// Cuts the audio stream into windows at the model's rate.
struct AudioWindows {
    model_rate: u32,
    window: usize,
    hop_s: Option<f32>,
    epoch: u32,
    rate: u32,
    /// Samples at the source rate, starting at stream sample `buf_start`.
    buf: Vec<f32>,
    buf_start: u64,
    expected: u64,
    /// `captured` of the epoch's first chunk, minus its stream offset: stream sample 0's instant.
    origin: Option<Instant>,
}

struct Window {
    samples: Vec<f32>,
    start_s: f64,
    end_s: f64,
    /// Capture instants of the first and the last sample.
    start: Instant,
    end: Instant,
}

impl AudioWindows {
    fn new(model_rate: u32, window: usize, hop_s: Option<f32>) -> Self {
        Self {
            model_rate: model_rate.max(1),
            window: window.max(1),
            hop_s,
            epoch: 0,
            rate: 0,
            buf: Vec::new(),
            buf_start: 0,
            expected: 0,
            origin: None,
        }
    }

    fn src_window(&self) -> usize {
        let n = self.window as u64 * u64::from(self.rate) / u64::from(self.model_rate);
        n.max(1) as usize
    }

    fn src_hop(&self) -> usize {
        match self.hop_s {
            Some(h) => ((f64::from(h) * f64::from(self.rate)).round() as usize).max(1),
            None => self.src_window(),
        }
    }

    /// Adds a chunk; true if it broke continuity (a partial window was abandoned).
    fn push(&mut self, c: &AudioChunk) -> bool {
        let mut reset = false;
        if c.epoch != self.epoch || c.rate != self.rate || c.start != self.expected {
            reset = !self.buf.is_empty();
            self.buf.clear();
            self.epoch = c.epoch;
            self.rate = c.rate.max(1);
            self.buf_start = c.start;
            self.origin = c.captured.checked_sub(Duration::from_secs_f64(
                c.start as f64 / f64::from(self.rate),
            ));
        }
        self.buf.extend_from_slice(c.samples());
        self.expected = c.start + u64::from(c.len);
        reset
    }

    /// The next complete window, resampled to the model's rate.
    fn next(&mut self) -> Option<Result<Window, String>> {
        let n = self.src_window();
        if self.buf.len() < n {
            return None;
        }
        let rate = f64::from(self.rate);
        let start_s = self.buf_start as f64 / rate;
        let end_s = (self.buf_start + n as u64) as f64 / rate;
        let origin = self.origin.unwrap_or_else(Instant::now);
        let raw = &self.buf[..n];
        let samples = if self.rate == self.model_rate {
            Ok(raw.to_vec())
        } else {
            mmv_runtime::audio::resample(raw, self.rate, self.model_rate).map_err(|e| e.to_string())
        };
        let hop = self.src_hop().min(self.buf.len());
        self.buf.drain(..hop);
        self.buf_start += hop as u64;
        Some(samples.map(|mut s| {
            s.resize(self.window, 0.0);
            Window {
                samples: s,
                start_s,
                end_s,
                start: origin + Duration::from_secs_f64(start_s),
                end: origin + Duration::from_secs_f64(end_s),
            }
        }))
    }
}

/// Maps monotonic instants to Unix time, from one reading of both clocks.
#[derive(Clone, Copy, Debug)]
struct Clock {
    instant: Instant,
    unix: f64,
}

impl Clock {
    fn now() -> Self {
        Self {
            instant: Instant::now(),
            unix: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
        }
    }
    fn unix(&self, t: Instant) -> f64 {
        if t >= self.instant {
            self.unix + (t - self.instant).as_secs_f64()
        } else {
            self.unix - (self.instant - t).as_secs_f64()
        }
    }
}

/// Everything the pipeline writes to.
pub struct Outputs<X> {
    pub tags: Option<TagWriter<Box<dyn std::io::Write + Send>>>,
    pub index: Option<X>,
    pub displays: Vec<Box<dyn Display + Send>>,
}

/// The health of the sources, for the overlay's status line.
#[derive(Clone, Default)]
pub struct Health {
    pub camera: Option<Arc<SourceHealth>>,
    pub mic: Option<Arc<SourceHealth>>,
}

/// The inference loop's state.
pub struct Pipeline<E, T, X> {
    embedder: E,
    tagger: T,
    out: Outputs<X>,
    opts: PipelineOptions,
    health: Health,
    clips: ClipAssembler,
    audio: AudioWindows,
    stats: PipelineStats,
    clock: Clock,
    rgb: Vec<u8>,
    last_thumb: Option<Arc<Vec<u8>>>,
    last_thumb_at: Option<Instant>,
    /// Latest tags per modality, for the overlay.
    latest: [Vec<Tag>; 3],
    overlay_drops: u64,
    fps: FpsMeter,
    last_log: Instant,
}

/// Frames per second over the last second or so.
struct FpsMeter {
    window_start: Instant,
    count: u32,
    fps: f32,
}

impl FpsMeter {
    fn tick(&mut self, now: Instant) {
        self.count += 1;
        let dt = now - self.window_start;
        if dt >= Duration::from_secs(1) {
            self.fps = self.count as f32 / dt.as_secs_f32();
            self.count = 0;
            self.window_start = now;
        }
    }
}

fn modality_slot(m: Modality) -> usize {
    match m {
        Modality::Image => 0,
        Modality::Clip => 1,
        Modality::Audio => 2,
    }
}

impl<E: Embedder, T: Tagger, X: IndexSink> Pipeline<E, T, X> {
    pub fn new(
        embedder: E,
        tagger: T,
        out: Outputs<X>,
        opts: PipelineOptions,
        health: Health,
    ) -> Self {
        let spec = embedder.spec().clone();
        Self {
            clips: ClipAssembler::new(spec.clip_frames, spec.clip_fps, spec.frame.channels),
            audio: AudioWindows::new(spec.audio_rate, spec.window_samples, opts.audio_hop_s),
            embedder,
            tagger,
            out,
            opts,
            health,
            stats: PipelineStats::default(),
            clock: Clock::now(),
            rgb: Vec::new(),
            last_thumb: None,
            last_thumb_at: None,
            latest: Default::default(),
            overlay_drops: 0,
            fps: FpsMeter {
                window_start: Instant::now(),
                count: 0,
                fps: 0.0,
            },
            last_log: Instant::now(),
        }
    }

    pub fn stats(&self) -> &PipelineStats {
        &self.stats
    }

    pub fn embedder(&self) -> &E {
        &self.embedder
    }

    pub fn outputs(&self) -> &Outputs<X> {
        &self.out
    }

    /// Drop counts to show on the overlay (set by the loop from the queues' counters).
    pub fn set_drops(&mut self, drops: u64) {
        self.overlay_drops = drops;
    }

    /// Runs one frame through the image and clip paths and the overlay.
    pub fn process_frame(&mut self, frame: &Frame) {
        let spec = self.embedder.spec().clone();
        let (w, h) = match to_rgb8(frame, &mut self.rgb) {
            Ok(size) => size,
            Err(e) => {
                self.stats.bad_frames += 1;
                tracing::warn!(error = %e, seq = frame.seq, "bad frame");
                return;
            }
        };
        let chw = match preprocess_rgb8(&self.rgb, w as usize, h as usize, &spec.frame) {
            Ok(v) => v,
            Err(e) => {
                self.stats.bad_frames += 1;
                tracing::warn!(error = %e, seq = frame.seq, "frame preprocessing failed");
                return;
            }
        };
        self.stats.frames += 1;
        let now = Instant::now();
        self.fps.tick(now);

        let mut clip = None;
        if self.opts.clips && spec.has_clip {
            let (offer, done) = self.clips.offer(frame, &chw, &self.rgb, w, h);
            if matches!(offer, Offer::Reset) {
                self.stats.clip_resets += 1;
            }
            clip = done;
        }
        // Clips-only configurations still tag frames while no clip can be assembled.
        let every = if self.opts.image_every > 0 {
            self.opts.image_every
        } else if !(self.opts.clips && spec.has_clip && self.clips.active) {
            1
        } else {
            0
        };
        if spec.has_image && every > 0 && (self.stats.frames - 1).is_multiple_of(every as u64) {
            self.stats.images += 1;
            match self.embedder.embed_image(&chw) {
                Ok(e) => {
                    let pts = frame.pts.as_secs_f64();
                    self.refresh_thumbnail(w, h, false);
                    self.emit(
                        "camera",
                        Modality::Image,
                        &e,
                        (pts, pts),
                        (frame.captured, frame.captured),
                        None,
                    );
                }
                Err(e) => self.embed_failed(Modality::Image, &e),
            }
        }
        if let Some(clip) = clip {
            self.stats.clips += 1;
            match self.embedder.embed_clip(&clip.cthw) {
                Ok(e) => {
                    let thumb = clip.thumb.as_ref().and_then(|(rgb, tw, th)| {
                        thumbnail_jpeg(rgb, *tw, *th, self.opts.thumbnail_width)
                    });
                    if let Some(t) = &thumb {
                        self.last_thumb = Some(Arc::new(t.clone()));
                        self.last_thumb_at = Some(now);
                    }
                    let span = (clip.start_pts.as_secs_f64(), clip.end_pts.as_secs_f64());
                    let dur = clip.end_pts.saturating_sub(clip.start_pts);
                    self.emit(
                        "camera",
                        Modality::Clip,
                        &e,
                        span,
                        (clip.captured, clip.captured + dur),
                        Some(thumb.as_deref()),
                    );
                }
                Err(e) => self.embed_failed(Modality::Clip, &e),
            }
        }
        if !self.out.displays.is_empty() {
            let mut canvas = RgbCanvas {
                width: w,
                height: h,
                data: std::mem::take(&mut self.rgb),
            };
            self.show(&mut canvas);
            self.rgb = canvas.data;
        }
    }

    /// Keeps a recent thumbnail for audio rows when no clip provides one (at most once a second).
    fn refresh_thumbnail(&mut self, w: u32, h: u32, force: bool) {
        let index_wants = self.out.index.is_some() && self.opts.index_audio;
        let stale = self
            .last_thumb_at
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(1));
        if index_wants
            && (force || stale)
            && let Some(t) = thumbnail_jpeg(&self.rgb, w, h, self.opts.thumbnail_width)
        {
            self.last_thumb = Some(Arc::new(t));
            self.last_thumb_at = Some(Instant::now());
        }
    }

    /// Adds audio; runs every window that completes.
    pub fn process_audio(&mut self, chunk: &AudioChunk) {
        if self.audio.push(chunk) {
            self.stats.audio_resets += 1;
        }
        if !self.embedder.spec().has_audio {
            return;
        }
        while let Some(w) = self.audio.next() {
            let w = match w {
                Ok(w) => w,
                Err(e) => {
                    self.stats.embed_failures += 1;
                    tracing::warn!(error = %e, "audio resampling failed");
                    continue;
                }
            };
            self.stats.audio_windows += 1;
            match self.embedder.embed_audio(&w.samples) {
                Ok(e) => {
                    let thumb = if self.opts.index_audio {
                        Some(self.last_thumb.clone())
                    } else {
                        None
                    };
                    let thumb_ref = thumb.as_ref().map(|t| t.as_deref().map(|v| v.as_slice()));
                    self.emit(
                        "microphone",
                        Modality::Audio,
                        &e,
                        (w.start_s, w.end_s),
                        (w.start, w.end),
                        thumb_ref,
                    );
                }
                Err(e) => self.embed_failed(Modality::Audio, &e),
            }
        }
    }

    fn embed_failed(&mut self, m: Modality, e: &dyn std::error::Error) {
        self.stats.embed_failures += 1;
        tracing::warn!(modality = m.name(), error = %e, "network call failed");
    }

    /// Tags, writes the tag line, and (`index`: Some) inserts an index row with that thumbnail.
    fn emit(
        &mut self,
        source: &str,
        modality: Modality,
        embedding: &Embedding,
        (start_s, end_s): (f64, f64),
        (start, end): (Instant, Instant),
        index: Option<Option<&[u8]>>,
    ) {
        let mut tags = self.tagger.tag(embedding);
        tags.truncate(self.opts.top_k);
        tags.retain(|t| t.score >= self.opts.threshold);
        let latency_ms = end.elapsed().as_secs_f64() * 1e3;
        self.stats.last_latency_ms = latency_ms;
        let clock = self.clock;
        if (!tags.is_empty() || self.opts.emit_empty)
            && let Some(w) = self.out.tags.as_mut()
        {
            let record = TagRecord {
                time: clock.unix(start),
                source,
                modality,
                start_s,
                end_s,
                latency_ms,
                tags: &tags,
            };
            match w.write(&record) {
                Ok(()) => self.stats.tag_lines += 1,
                Err(e) => tracing::error!(error = %e, "tag output failed"),
            }
        }
        if let (Some(thumbnail), Some(sink)) = (index, self.out.index.as_mut()) {
            let record = IndexRecord {
                source,
                modality,
                start_time: self.clock.unix(start),
                end_time: self.clock.unix(end),
                start_s,
                end_s,
                embedding,
                tags: &tags,
                thumbnail,
            };
            // A busy database (another reader) is worth a short retry; losing the row is not.
            let mut attempt = 0;
            loop {
                match sink.insert(&record) {
                    Ok(()) => {
                        self.stats.index_rows += 1;
                        break;
                    }
                    Err(e) if attempt < 3 => {
                        attempt += 1;
                        tracing::warn!(error = %e, attempt, "index insert failed; retrying");
                        std::thread::sleep(Duration::from_millis(20 << attempt));
                    }
                    Err(e) => {
                        self.stats.index_failures += 1;
                        tracing::error!(error = %e, "index insert failed; row lost");
                        break;
                    }
                }
            }
        }
        self.latest[modality_slot(modality)] = tags;
    }

    /// The overlay's content now.
    pub fn overlay_state(&self) -> OverlayState {
        let mut tags: Vec<TagLine> = [Modality::Image, Modality::Clip, Modality::Audio]
            .into_iter()
            .flat_map(|m| {
                self.latest[modality_slot(m)].iter().map(move |t| TagLine {
                    modality: m,
                    label: t.label.clone(),
                    score: t.score,
                })
            })
            .collect();
        tags.sort_by(|a, b| b.score.total_cmp(&a.score));
        tags.truncate(overlay::MAX_TAG_LINES);
        OverlayState {
            tags,
            fps: self.fps.fps,
            drops: self.overlay_drops,
            latency_ms: self.stats.last_latency_ms as f32,
            camera_up: self.health.camera.as_ref().map(|h| h.is_up()),
            mic_up: self.health.mic.as_ref().map(|h| h.is_up()),
        }
    }

    fn show(&mut self, canvas: &mut RgbCanvas) {
        let state = self.overlay_state();
        overlay::draw(canvas, &state);
        for d in &mut self.out.displays {
            if let Err(e) = d.show(canvas) {
                self.stats.display_failures += 1;
                if self.stats.display_failures < 10
                    || self.stats.display_failures.is_multiple_of(1000)
                {
                    tracing::warn!(display = %d.describe(), error = %e, "display failed");
                }
            }
        }
    }

    /// Shows the overlay on a black canvas (no camera frame to draw on).
    pub fn show_idle(&mut self, width: u32, height: u32) {
        if !self.out.displays.is_empty() {
            let mut canvas = RgbCanvas::new(width, height);
            self.show(&mut canvas);
        }
    }

    /// Flushes the index and the tag output.
    pub fn flush(&mut self) {
        if let Some(sink) = self.out.index.as_mut()
            && let Err(e) = sink.flush()
        {
            tracing::error!(error = %e, "index flush failed");
        }
    }

    /// Runs until `stop` is set, or until every source is finished and the queues are empty.
    /// Frames and audio alternate: after each frame, all waiting audio is taken (cheap until a
    /// window completes), so slow video inference never starves the audio path.
    pub fn run(
        &mut self,
        frames: Option<&Receiver<Frame>>,
        audio: Option<&Receiver<AudioChunk>>,
        stop: &AtomicBool,
    ) {
        let mut last_frame = Instant::now();
        let mut last_idle_show = Instant::now();
        loop {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let mut worked = false;
            if let Some(rx) = frames
                && let Some(f) = rx.pop()
            {
                self.process_frame(&f);
                last_frame = Instant::now();
                worked = true;
            }
            if let Some(rx) = audio {
                while let Some(c) = rx.pop() {
                    self.process_audio(&c);
                    worked = true;
                }
            }
            let drops = frames.map_or(0, |r| r.stats().dropped())
                + audio.map_or(0, |r| r.stats().dropped());
            self.overlay_drops = drops;
            if self.last_log.elapsed() >= Duration::from_secs(10) {
                self.last_log = Instant::now();
                let s = &self.stats;
                tracing::info!(
                    frames = s.frames,
                    clips = s.clips,
                    images = s.images,
                    audio_windows = s.audio_windows,
                    index_rows = s.index_rows,
                    drops,
                    fps = self.fps.fps,
                    latency_ms = s.last_latency_ms,
                    "status"
                );
            }
            // No frame for a while (audio only, or the camera is down): keep the status visible.
            if last_frame.elapsed() >= Duration::from_secs(1)
                && last_idle_show.elapsed() >= Duration::from_secs(1)
            {
                last_idle_show = Instant::now();
                self.show_idle(320, 240);
            }
            if worked {
                continue;
            }
            let finished =
                |h: &Option<Arc<SourceHealth>>| h.as_ref().is_none_or(|h| h.is_finished());
            let queues_empty =
                frames.is_none_or(Receiver::is_empty) && audio.is_none_or(Receiver::is_empty);
            if finished(&self.health.camera) && finished(&self.health.mic) && queues_empty {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        self.flush();
    }
}
