//! Live audio windows: the stream cut into the model's windows at the source's rate (the
//! embedder resamples each), side by side or every `hop_s` seconds.
//!
//! As in `mmv tag`, at a clean end of the stream the last window is kept if it is the first
//! one or if at least half of it is audio, padded with silence, and ends at the end of the
//! audio. A window never spans a gap (drops, another opening of the source, a rate change).

use std::time::{Duration, Instant};

use crate::capture::AudioChunk;

/// One window of mono samples at the source's rate.
#[derive(Debug)]
pub struct Window {
    pub samples: Vec<f32>,
    pub rate: u32,
    /// Stream seconds.
    pub start_s: f64,
    pub end_s: f64,
    /// Capture instants of the first and the last sample.
    pub start: Instant,
    pub end: Instant,
}

/// Cuts the audio stream into windows.
#[derive(Debug)]
pub struct AudioWindows {
    model_rate: u32,
    /// Samples per window at the model's rate.
    window: usize,
    hop_s: Option<f32>,
    epoch: u32,
    rate: u32,
    /// Samples at the source rate, starting at stream sample `buf_start`.
    buf: Vec<f32>,
    buf_start: u64,
    expected: u64,
    /// `captured` of the stream's first chunk, minus its stream offset: sample 0's instant.
    origin: Option<Instant>,
    /// Windows cut since the stream (or the last gap) began.
    cut: u64,
}

impl AudioWindows {
    pub fn new(model_rate: u32, window: usize, hop_s: Option<f32>) -> Self {
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
            cut: 0,
        }
    }

    /// Samples per window at the source rate.
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
    pub fn push(&mut self, c: &AudioChunk) -> bool {
        let mut reset = false;
        if c.epoch != self.epoch || c.rate != self.rate || c.start != self.expected {
            reset = !self.buf.is_empty();
            self.buf.clear();
            self.epoch = c.epoch;
            self.rate = c.rate.max(1);
            self.buf_start = c.start;
            self.cut = 0;
            self.origin = c.captured.checked_sub(Duration::from_secs_f64(
                c.start as f64 / f64::from(self.rate),
            ));
        }
        self.buf.extend_from_slice(c.samples());
        self.expected = c.start + u64::from(c.len);
        reset
    }

    /// The next complete window.
    pub fn next_window(&mut self) -> Option<Window> {
        let n = self.src_window();
        (self.buf.len() >= n).then(|| self.cut_window(n))
    }

    /// At the end of the stream: the windows left by the runtime's rule (the first window,
    /// however short, or a tail at least half full). Clears the stream.
    pub fn finish(&mut self) -> Vec<Window> {
        let n = self.src_window();
        let mut out = Vec::new();
        while !self.buf.is_empty() && (self.cut == 0 || self.buf.len() * 2 >= n) {
            out.push(self.cut_window(self.buf.len().min(n)));
        }
        self.buf.clear();
        self.expected = u64::MAX;
        out
    }

    /// The window of the first `available` samples (padded with silence to a whole window),
    /// then moves on by the hop.
    fn cut_window(&mut self, available: usize) -> Window {
        let rate = f64::from(self.rate);
        let start_s = self.buf_start as f64 / rate;
        let end_s = (self.buf_start + available as u64) as f64 / rate;
        let origin = self.origin.unwrap_or_else(Instant::now);
        let mut samples = self.buf[..available].to_vec();
        samples.resize(self.src_window(), 0.0);
        let hop = self.src_hop().min(self.buf.len());
        self.buf.drain(..hop);
        self.buf_start += hop as u64;
        self.cut += 1;
        Window {
            samples,
            rate: self.rate,
            start_s,
            end_s,
            start: origin + Duration::from_secs_f64(start_s),
            end: origin + Duration::from_secs_f64(end_s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::AUDIO_CHUNK;

    fn chunk(start: u64, len: usize, end: bool) -> AudioChunk {
        let mut samples = [0.0; AUDIO_CHUNK];
        for (i, s) in samples.iter_mut().enumerate().take(len) {
            *s = (start + i as u64) as f32;
        }
        AudioChunk {
            epoch: 1,
            start,
            rate: 1000,
            len: len as u16,
            captured: Instant::now(),
            end,
            samples,
        }
    }

    /// `n` samples at 1 kHz in chunks of 100, windows of 250 (model rate 1 kHz), then the end.
    fn run(n: u64, hop_s: Option<f32>) -> Vec<Window> {
        let mut w = AudioWindows::new(1000, 250, hop_s);
        let mut out = Vec::new();
        for start in (0..n).step_by(100) {
            assert!(!w.push(&chunk(start, (n - start).min(100) as usize, false)));
            out.extend(std::iter::from_fn(|| w.next_window()));
        }
        out.extend(w.finish());
        out
    }

    #[test]
    fn windows_side_by_side_and_the_tail_by_the_runtime_s_rule() {
        // 0.9 s: three windows of 0.25 s and 0.15 s of tail (more than half): padded.
        let ws = run(900, None);
        let spans: Vec<(f64, f64)> = ws.iter().map(|w| (w.start_s, w.end_s)).collect();
        assert_eq!(spans, [(0.0, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 0.9)]);
        assert_eq!(ws[3].samples.len(), 250);
        assert_eq!((ws[3].samples[149], ws[3].samples[150]), (899.0, 0.0));
        // A tail under half a window is dropped; a short stream still gives one window.
        assert_eq!(run(800, None).len(), 3);
        let one = run(100, None);
        assert_eq!((one.len(), one[0].end_s), (1, 0.1));
        // Overlapping windows: starts every 0.1 s while at least half a window is left.
        let starts: Vec<f64> = run(500, Some(0.1)).iter().map(|w| w.start_s).collect();
        assert_eq!(starts, [0.0, 0.1, 0.2, 0.3]);
    }

    #[test]
    fn a_gap_abandons_the_partial_window() {
        let mut w = AudioWindows::new(1000, 250, None);
        assert!(!w.push(&chunk(0, 100, false)));
        assert!(
            w.push(&chunk(300, 100, false)),
            "samples 100..300 are missing"
        );
        assert!(w.next_window().is_none());
        assert!(!w.push(&chunk(400, 100, false)));
        assert!(!w.push(&chunk(500, 100, false)));
        let win = w.next_window().expect("a window after the gap");
        assert_eq!((win.start_s, win.samples[0]), (0.3, 300.0));
    }
}
