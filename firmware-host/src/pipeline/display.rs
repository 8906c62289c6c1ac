//! The overlay's side of the pipeline: the frame rate, the latest tags of each network, and
//! drawing them onto the frame (or a black canvas) for every display.

use std::time::{Duration, Instant};

use mmv_runtime::tag::Tag;

use super::Pipeline;
use crate::model::{Embedder, Modality};
use crate::outputs::index_sink::IndexSink;
use crate::overlay::{self, OverlayState, RgbCanvas, TagLine};

/// Frames per second over the last second or so.
#[derive(Debug)]
pub struct FpsMeter {
    window_start: Instant,
    count: u32,
    pub fps: f32,
}

impl Default for FpsMeter {
    fn default() -> Self {
        Self {
            window_start: Instant::now(),
            count: 0,
            fps: 0.0,
        }
    }
}

impl FpsMeter {
    pub fn tick(&mut self, now: Instant) {
        self.count += 1;
        let dt = now - self.window_start;
        if dt >= Duration::from_secs(1) {
            self.fps = self.count as f32 / dt.as_secs_f32();
            self.count = 0;
            self.window_start = now;
        }
    }
}

const MODALITIES: [Modality; 3] = [Modality::Image, Modality::Clip, Modality::Audio];

/// The latest tags of each network.
#[derive(Debug, Default)]
pub struct Latest([Vec<Tag>; 3]);

impl Latest {
    pub fn set(&mut self, m: Modality, tags: Vec<Tag>) {
        self.0[MODALITIES.iter().position(|&x| x == m).unwrap_or(0)] = tags;
    }

    /// Every network's tags, best first, at most what the overlay shows.
    fn lines(&self) -> Vec<TagLine> {
        let mut lines: Vec<TagLine> = MODALITIES
            .iter()
            .zip(&self.0)
            .flat_map(|(&modality, tags)| {
                tags.iter().map(move |t| TagLine {
                    modality,
                    label: t.label.clone(),
                    score: t.score,
                })
            })
            .collect();
        lines.sort_by(|a, b| b.score.total_cmp(&a.score));
        lines.truncate(overlay::MAX_TAG_LINES);
        lines
    }
}

impl<E: Embedder, X: IndexSink> Pipeline<E, X> {
    /// The overlay's content now.
    pub fn overlay_state(&self) -> OverlayState {
        OverlayState {
            tags: self.latest.lines(),
            fps: self.fps.fps,
            drops: self.overlay_drops,
            latency_ms: self.stats.last_latency_ms as f32,
            camera_up: self.health.camera.as_ref().map(|h| h.is_up()),
            mic_up: self.health.mic.as_ref().map(|h| h.is_up()),
        }
    }

    /// Draws the overlay on `canvas` and shows it on every display.
    pub(super) fn show(&mut self, canvas: &mut RgbCanvas) {
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
}
