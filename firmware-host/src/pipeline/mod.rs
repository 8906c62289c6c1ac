//! The inference loop: it takes frames and audio from the capture queues and runs
//! - every Nth frame through the deflated image network,
//! - every clip of T frames, sampled at the model's rate ([`clips`]), through the video network,
//! - every audio window ([`audio`]) through the audio network (silent windows get no
//!   embedding, as in `mmv tag`),
//!
//! then tags each output with the runtime's tagger and fans it out ([`fanout`]): tag lines,
//! index rows (clips and audio windows, with the runtime's thumbnails) and the overlay
//! ([`display`]); [`events`] turns each modality's tags into start and end events (a label
//! that holds over k of n windows).
//!
//! The media work is the runtime's (the same front ends, sampling rule, tail rule, silence rule
//! and tagger as `mmv tag`), so a file replayed here gives `mmv tag`'s clips and tags. The live
//! part is the daemon's: a clip never spans a gap (another opening of the source, a jump in
//! time), so a still camera, a slow one or a snapshot source never completes a clip, and then
//! the image path tags every frame even when `image_every = 0` asked for clips only. Audio
//! windows likewise never span a gap (drops, restarts).

pub mod audio;
pub mod clips;
pub mod display;
pub mod events;
pub mod fanout;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mmv_runtime::frames::Picture;
use mmv_runtime::pipeline::THUMBNAIL_SIDE;
use mmv_runtime::tag::{Tag, Tagger};

use self::audio::{AudioWindows, Window};
use self::clips::{Clip, ClipSampler, Shot};
use self::display::{FpsMeter, Latest};
use self::events::{Events, Rules};
use self::fanout::{Clock, Output, Selection};
use crate::capture::{AudioChunk, Frame, FrameEvent};
use crate::model::{Embedder, Modality, ModelSpec};
use crate::outputs::events_jsonl::{EndReason, EventRecord};
use crate::outputs::index_sink::IndexSink;
use crate::outputs::tags_jsonl::TagWriter;
use crate::overlay::{Display, RgbCanvas};
use crate::queue::Receiver;
use crate::supervisor::SourceHealth;

/// Pipeline settings (from `[tagging]`, `[index]`).
#[derive(Clone, Debug)]
pub struct PipelineOptions {
    pub image_every: usize,
    pub clips: bool,
    pub top_k: usize,
    /// Lowest softmax probability listed (the open-set cut is the tagger's).
    pub min_probability: f32,
    pub emit_empty: bool,
    /// Seconds between audio windows; `None`: one window.
    pub audio_hop_s: Option<f32>,
    /// Index audio windows as well as clips.
    pub index_audio: bool,
    /// Start and end events by these rules; None: no events.
    pub events: Option<Rules>,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        Self {
            image_every: 1,
            clips: true,
            top_k: 3,
            min_probability: 0.0,
            emit_empty: false,
            audio_hop_s: None,
            index_audio: true,
            events: Some(Rules::DEFAULT),
        }
    }
}

/// Counters, for the status line, logs and tests.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PipelineStats {
    pub frames: u64,
    pub images: u64,
    pub clips: u64,
    /// Audio windows cut, silent ones included.
    pub audio_windows: u64,
    /// Audio windows below the runtime's silence level: not embedded, tagged or indexed.
    pub silent_windows: u64,
    /// Audio windows abandoned at a gap or restart.
    pub audio_resets: u64,
    /// Partial clips abandoned at a gap or restart.
    pub clip_resets: u64,
    pub tag_lines: u64,
    /// Event records (starts and ends) written.
    pub event_lines: u64,
    pub index_rows: u64,
    pub index_failures: u64,
    /// Frames that could not be preprocessed.
    pub bad_frames: u64,
    /// Network calls that failed.
    pub embed_failures: u64,
    pub display_failures: u64,
    /// Capture to output, of the last output.
    pub last_latency_ms: f64,
}

/// Everything the pipeline writes to.
pub struct Outputs<X> {
    pub tags: Option<TagWriter<Box<dyn std::io::Write + Send>>>,
    pub events: EventOutput,
    pub index: Option<X>,
    pub displays: Vec<Box<dyn Display + Send>>,
}

/// Where event records go.
#[derive(Default)]
pub enum EventOutput {
    /// Nowhere.
    Off,
    /// Into the tag stream, between the tag lines.
    #[default]
    WithTags,
    /// A stream of their own.
    Own(TagWriter<Box<dyn std::io::Write + Send>>),
}

/// The health of the sources, for the overlay's status line.
#[derive(Clone, Default)]
pub struct Health {
    pub camera: Option<Arc<SourceHealth>>,
    pub mic: Option<Arc<SourceHealth>>,
}

/// The inference loop's state.
pub struct Pipeline<E, X> {
    embedder: E,
    spec: ModelSpec,
    tagger: Tagger,
    out: Outputs<X>,
    opts: PipelineOptions,
    events: Option<Events>,
    /// Event records waiting to be written, reused.
    event_buf: Vec<EventRecord>,
    health: Health,
    clips: ClipSampler,
    audio: AudioWindows,
    stats: PipelineStats,
    clock: Clock,
    /// The overlay's canvas, reused.
    canvas: Vec<u8>,
    last_thumb: Option<Arc<Vec<u8>>>,
    last_thumb_at: Option<Instant>,
    latest: Latest,
    overlay_drops: u64,
    fps: FpsMeter,
    last_log: Instant,
}

impl<E: Embedder, X: IndexSink> Pipeline<E, X> {
    /// `tagger`: the labels embedded by this embedder ([`Embedder::tagger`]).
    pub fn new(
        embedder: E,
        tagger: Tagger,
        out: Outputs<X>,
        opts: PipelineOptions,
        health: Health,
    ) -> Self {
        let spec = embedder.spec().clone();
        let g = spec.geometry;
        Self {
            clips: ClipSampler::new(g.frames, g.fps),
            audio: AudioWindows::new(g.sample_rate, g.window_samples, opts.audio_hop_s),
            events: opts.events.map(Events::new),
            event_buf: Vec::new(),
            embedder,
            spec,
            tagger,
            out,
            opts,
            health,
            stats: PipelineStats::default(),
            clock: Clock::now(),
            canvas: Vec::new(),
            last_thumb: None,
            last_thumb_at: None,
            latest: Latest::default(),
            overlay_drops: 0,
            fps: FpsMeter::default(),
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

    /// Takes one item of the camera queue.
    pub fn process_video(&mut self, event: FrameEvent) {
        match event {
            FrameEvent::Frame(frame) => self.process_frame(frame),
            FrameEvent::End { epoch, pts } => {
                for clip in self.clips.end(epoch, pts) {
                    self.embed_clip(clip);
                }
                self.end_events("camera", EndReason::StreamEnd);
            }
        }
    }

    /// Runs one frame through the image and clip paths and the overlay.
    pub fn process_frame(&mut self, frame: Frame) {
        let chw: Arc<[f32]> = match self.embedder.preprocess(&frame.image) {
            Ok(v) => v.into(),
            Err(e) => {
                self.stats.bad_frames += 1;
                tracing::warn!(error = %e, seq = frame.seq, "frame preprocessing failed");
                return;
            }
        };
        self.stats.frames += 1;
        self.fps.tick(Instant::now());
        let image = Arc::new(frame.image);

        let clips_on = self.opts.clips && self.spec.has_clip;
        let mut clips = Vec::new();
        if clips_on {
            let (abandoned, done) = self.clips.offer(Shot {
                epoch: frame.epoch,
                pts: frame.pts,
                captured: frame.captured,
                chw: chw.clone(),
                image: image.clone(),
            });
            if abandoned {
                self.stats.clip_resets += 1;
            }
            clips = done;
        }
        // Clips-only configurations still tag frames while no clip can be assembled.
        let every = match self.opts.image_every {
            0 if !(clips_on && self.clips.active()) => 1,
            n => n,
        };
        if self.spec.has_image && every > 0 && (self.stats.frames - 1).is_multiple_of(every as u64)
        {
            self.stats.images += 1;
            let still = self
                .embedder
                .preprocess_still(&image)
                .map(|framed| framed.map_or_else(|| chw.clone(), Arc::<[f32]>::from));
            match still.and_then(|still| self.embedder.embed_image(&still)) {
                Ok(e) => {
                    let pts = frame.pts.as_secs_f64();
                    self.refresh_thumbnail(&image);
                    self.emit(Output {
                        source: "camera",
                        modality: Modality::Image,
                        embedding: &e,
                        span_s: (pts, pts),
                        span: (frame.captured, frame.captured),
                        index: None,
                    });
                }
                Err(e) => self.embed_failed(Modality::Image, &e),
            }
        }
        for clip in clips {
            self.embed_clip(clip);
        }
        if !self.out.displays.is_empty() {
            // The overlay draws in RGB: the only per-frame conversion, and only with a display.
            if let Err(e) = image.rgb_into(&mut self.canvas) {
                self.stats.display_failures += 1;
                tracing::warn!(error = %e, seq = frame.seq, "frame cannot be shown");
                return;
            }
            let mut canvas = RgbCanvas {
                width: image.width() as u32,
                height: image.height() as u32,
                data: std::mem::take(&mut self.canvas),
            };
            self.show(&mut canvas);
            self.canvas = canvas.data;
        }
    }

    fn embed_clip(&mut self, clip: Clip) {
        self.stats.clips += 1;
        match self.embedder.embed_clip(&clip.frames) {
            Ok(e) => {
                let thumb = if self.out.index.is_some() {
                    thumbnail(&clip.middle)
                } else {
                    None
                };
                if let Some(t) = &thumb {
                    self.last_thumb = Some(Arc::new(t.clone()));
                    self.last_thumb_at = Some(Instant::now());
                }
                let dur = Duration::from_secs_f64((clip.end_s - clip.start_s).max(0.0));
                self.emit(Output {
                    source: "camera",
                    modality: Modality::Clip,
                    embedding: &e,
                    span_s: (clip.start_s, clip.end_s),
                    span: (clip.captured, clip.captured + dur),
                    index: Some(thumb.as_deref()),
                });
            }
            Err(e) => self.embed_failed(Modality::Clip, &e),
        }
    }

    /// Keeps a recent thumbnail for audio rows when no clip provides one (at most once a second).
    fn refresh_thumbnail(&mut self, image: &Picture) {
        let index_wants = self.out.index.is_some() && self.opts.index_audio;
        let stale = self
            .last_thumb_at
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(1));
        if index_wants
            && stale
            && let Some(t) = thumbnail(image)
        {
            self.last_thumb = Some(Arc::new(t));
            self.last_thumb_at = Some(Instant::now());
        }
    }

    /// Adds audio; runs every window that completes (and, at the end of a stream, the tail).
    pub fn process_audio(&mut self, chunk: &AudioChunk) {
        if !self.spec.has_audio {
            return;
        }
        if self.audio.push(chunk) {
            self.stats.audio_resets += 1;
        }
        while let Some(w) = self.audio.next_window() {
            self.embed_window(w);
        }
        if chunk.end {
            for w in self.audio.finish() {
                self.embed_window(w);
            }
            self.end_events("microphone", EndReason::StreamEnd);
        }
    }

    fn embed_window(&mut self, w: Window) {
        self.stats.audio_windows += 1;
        match self.embedder.embed_audio(&w.samples, w.rate) {
            Ok(Some(e)) => {
                let thumb = self.last_thumb.clone();
                let index = self
                    .opts
                    .index_audio
                    .then(|| thumb.as_deref().map(Vec::as_slice));
                self.emit(Output {
                    source: "microphone",
                    modality: Modality::Audio,
                    embedding: &e,
                    span_s: (w.start_s, w.end_s),
                    span: (w.start, w.end),
                    index,
                });
            }
            Ok(None) => {
                // Silence: a window without labels.
                self.stats.silent_windows += 1;
                self.observe(
                    "microphone",
                    Modality::Audio,
                    (w.start_s, w.end_s),
                    (w.start, w.end),
                    &[],
                );
            }
            Err(e) => self.embed_failed(Modality::Audio, &e),
        }
    }

    fn embed_failed(&mut self, m: Modality, e: &dyn std::error::Error) {
        self.stats.embed_failures += 1;
        tracing::warn!(modality = m.name(), error = %e, "network call failed");
    }

    /// Tags an output, writes its tag line and index row, and keeps its tags for the overlay.
    fn emit(&mut self, out: Output<'_>) {
        let sel = Selection {
            top_k: self.opts.top_k,
            min_probability: self.opts.min_probability,
            emit_empty: self.opts.emit_empty,
        };
        let tags = fanout::tags(&self.tagger, out.embedding, out.modality, sel);
        fanout::publish(
            &mut self.out,
            &self.clock,
            sel,
            &out,
            &tags,
            &mut self.stats,
        );
        // Without an open-set cut every listed tag is "present"; only the best is the answer.
        let answers = match self.tagger.cut(fanout::cut_key(out.modality)) {
            Some(_) => &tags[..],
            None => &tags[..tags.len().min(1)],
        };
        self.observe(out.source, out.modality, out.span_s, out.span, answers);
        self.latest.set(out.modality, tags);
    }

    /// Takes a window's present tags into the events, and writes the events it starts or ends.
    fn observe(
        &mut self,
        source: &str,
        modality: Modality,
        span_s: (f64, f64),
        span: (Instant, Instant),
        tags: &[Tag],
    ) {
        let Some(events) = self.events.as_mut() else {
            return;
        };
        let w = events::Window {
            start_s: span_s.0,
            end_s: span_s.1,
            start_time: self.clock.unix(span.0),
            end_time: self.clock.unix(span.1),
            tags,
        };
        events.observe(source, modality, &w, &mut self.event_buf);
        self.write_events();
    }

    /// Ends the events of `source` (its stream ended or it is down).
    fn end_events(&mut self, source: &str, reason: EndReason) {
        if let Some(events) = self.events.as_mut() {
            events.end_source(source, reason, &mut self.event_buf);
            self.write_events();
        }
    }

    fn write_events(&mut self) {
        let Self {
            event_buf,
            out,
            stats,
            ..
        } = self;
        for e in event_buf.drain(..) {
            tracing::debug!(event = ?e.event, label = %e.label, modality = e.modality.name(), "event");
            let writer = match &mut out.events {
                EventOutput::Off => None,
                EventOutput::WithTags => out.tags.as_mut(),
                EventOutput::Own(w) => Some(w),
            };
            if let Some(w) = writer {
                match w.write_record(&e) {
                    Ok(()) => stats.event_lines += 1,
                    Err(e) => tracing::error!(error = %e, "event output failed"),
                }
            }
        }
    }

    /// Ends every event in progress (the daemon is stopping; a replay's sources have ended
    /// theirs already).
    pub fn finish_events(&mut self) {
        if let Some(events) = self.events.as_mut() {
            events.finish(EndReason::Stopped, &mut self.event_buf);
            self.write_events();
        }
    }

    /// Ends the events of a source that is down once its queued data is processed.
    fn end_lost_sources(&mut self, camera_idle: bool, mic_idle: bool) {
        let Some(events) = self.events.as_ref() else {
            return;
        };
        let down = |h: &Option<Arc<SourceHealth>>| h.as_ref().is_some_and(|h| !h.is_up());
        let lost_camera = camera_idle && down(&self.health.camera) && events.has_open("camera");
        let lost_mic = mic_idle && down(&self.health.mic) && events.has_open("microphone");
        if lost_camera {
            self.end_events("camera", EndReason::SourceLost);
        }
        if lost_mic {
            self.end_events("microphone", EndReason::SourceLost);
        }
    }

    /// Flushes the index.
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
        frames: Option<&Receiver<FrameEvent>>,
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
                && let Some(ev) = rx.pop()
            {
                self.process_video(ev);
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
            let (camera_idle, mic_idle) = (
                frames.is_none_or(Receiver::is_empty),
                audio.is_none_or(Receiver::is_empty),
            );
            self.end_lost_sources(camera_idle, mic_idle);
            let finished =
                |h: &Option<Arc<SourceHealth>>| h.as_ref().is_none_or(|h| h.is_finished());
            if finished(&self.health.camera)
                && finished(&self.health.mic)
                && camera_idle
                && mic_idle
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        self.finish_events();
        self.flush();
    }
}

/// The runtime's index thumbnail of a frame (what `mmv index` stores; the frame is made RGB
/// here, for the thumbnail only); None if it fails.
fn thumbnail(image: &Picture) -> Option<Vec<u8>> {
    image
        .thumbnail_jpeg(THUMBNAIL_SIDE)
        .map_err(|e| tracing::warn!(error = %e, "thumbnail failed"))
        .ok()
}
