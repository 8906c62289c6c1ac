//! Live clips: frames sampled at the model's rate into clips of T, by the runtime's rule
//! (`mmv_runtime::ingest::clips`), pushed one frame at a time instead of pulled from a file.
//!
//! - Model frame `j` of a stream is the frame on screen at `origin + j / fps`: the last frame
//!   stamped at or before that time, so a 25 fps camera feeds a 5 fps model every fifth frame
//!   and a 29.97 fps one the frame just before each tick. A frame is known to be the last one
//!   before a tick when the next frame arrives after it (or the stream ends), so a clip leaves
//!   one source frame later than its last frame.
//! - Clips sit side by side on that grid, from the stream's first frame.
//! - At a clean end of the stream, the last clip is kept if it is the first one or if at least
//!   half of it is footage, padded with its last frame, and ends at the end of the footage.
//!
//! So a file replayed through the daemon gives the clips `mmv tag` gives. What the runtime
//! never sees, the daemon handles: a clip never spans a gap (another opening of the source,
//! time running backwards, or two frames more than 1.5 model periods apart), so a still camera,
//! a slow one or a snapshot source never completes a clip.

use std::sync::Arc;
use std::time::{Duration, Instant};

use mmv_runtime::frames::Picture;

/// Timestamps this close count as the same instant (drivers stamp in microseconds).
const SAME_TIME: Duration = Duration::from_micros(1);

/// One frame as the sampler keeps it.
#[derive(Clone, Debug)]
pub struct Shot {
    pub epoch: u32,
    pub pts: Duration,
    pub captured: Instant,
    /// Preprocessed, [C, H, W].
    pub chw: Arc<[f32]>,
    /// For the thumbnail (converted to RGB only if one is made).
    pub image: Arc<Picture>,
}

/// A complete clip for the video network.
#[derive(Debug)]
pub struct Clip {
    /// `frames` preprocessed frames.
    pub frames: Vec<Arc<[f32]>>,
    /// Stream seconds.
    pub start_s: f64,
    pub end_s: f64,
    /// When its first frame was captured.
    pub captured: Instant,
    /// The middle frame (the thumbnail, as `mmv index` picks it).
    pub middle: Arc<Picture>,
}

/// Samples a stream's frames at the model's rate into clips of `frames`.
#[derive(Debug)]
pub struct ClipSampler {
    frames: usize,
    fps: f64,
    /// Frames further apart than this are a gap.
    max_step: Duration,
    /// The stream's model-frame grid: epoch, model frame 0's time; None before its first frame.
    grid: Option<(u32, Duration)>,
    /// The model frame to fill next.
    next: u64,
    last_pts: Duration,
    /// The latest frame at or before the next model frame's time.
    candidate: Option<Shot>,
    /// The clip in progress.
    taken: Vec<Shot>,
    /// Clips completed since the grid began.
    done: u32,
}

impl ClipSampler {
    /// Clips of `frames` frames at `fps`.
    pub fn new(frames: usize, fps: f64) -> Self {
        let fps = if fps.is_finite() && fps > 0.0 {
            fps
        } else {
            10.0
        };
        Self {
            frames: frames.max(1),
            fps,
            max_step: Duration::from_secs_f64(1.5 / fps),
            grid: None,
            next: 0,
            last_pts: Duration::ZERO,
            candidate: None,
            taken: Vec::with_capacity(frames),
            done: 0,
        }
    }

    /// At least one clip completed since the last gap.
    pub fn active(&self) -> bool {
        self.done > 0
    }

    /// Model frame `j`'s time.
    fn due(&self, origin: Duration, j: u64) -> Duration {
        origin + Duration::from_secs_f64(j as f64 / self.fps)
    }

    /// Model frame `j`'s time in stream seconds, computed as the runtime does (`j / fps`).
    fn seconds(&self, origin: Duration, j: u64) -> f64 {
        origin.as_secs_f64() + j as f64 / self.fps
    }

    /// Forgets the stream; true if frames waiting to join a clip were abandoned.
    pub fn reset(&mut self) -> bool {
        let had = !self.taken.is_empty() || self.candidate.is_some();
        self.grid = None;
        self.next = 0;
        self.candidate = None;
        self.taken.clear();
        self.done = 0;
        had
    }

    /// Offers the next frame; returns whether a partial clip was abandoned at a gap, and the
    /// clips that completed.
    pub fn offer(&mut self, shot: Shot) -> (bool, Vec<Clip>) {
        let mut abandoned = false;
        if let Some((epoch, _)) = self.grid
            && (shot.epoch != epoch
                || shot.pts < self.last_pts
                || shot.pts - self.last_pts > self.max_step)
        {
            abandoned = self.reset();
        }
        let (_, origin) = *self.grid.get_or_insert((shot.epoch, shot.pts));
        let mut clips = Vec::new();
        // Every model frame before this one's time shows the candidate.
        while shot.pts > self.due(origin, self.next) + SAME_TIME
            && let Some(c) = self.candidate.clone()
        {
            clips.extend(self.take(origin, c));
        }
        self.last_pts = shot.pts;
        self.candidate = Some(shot);
        (abandoned, clips)
    }

    /// The stream of `epoch` ended at `end`: the candidate fills the model frames before then,
    /// and the partial clip is kept by the runtime's rule. Clears the stream.
    pub fn end(&mut self, epoch: u32, end: Duration) -> Vec<Clip> {
        let Some((e, origin)) = self.grid else {
            return Vec::new();
        };
        if e != epoch {
            return Vec::new();
        }
        let mut clips = Vec::new();
        while self.due(origin, self.next) + SAME_TIME < end
            && let Some(c) = self.candidate.clone()
        {
            clips.extend(self.take(origin, c));
        }
        let available = self.taken.len();
        if available > 0 && (self.done == 0 || available * 2 >= self.frames) {
            let last = self.taken[available - 1].clone();
            self.taken.resize(self.frames, last);
            clips.push(self.finish(origin, available));
        }
        self.reset();
        clips
    }

    /// `shot` is model frame `next`; the clip, if that completes one.
    fn take(&mut self, origin: Duration, shot: Shot) -> Option<Clip> {
        self.taken.push(shot);
        self.next += 1;
        (self.taken.len() == self.frames).then(|| self.finish(origin, self.frames))
    }

    /// The clip of the `frames` taken, `available` of them footage (the rest padding).
    fn finish(&mut self, origin: Duration, available: usize) -> Clip {
        let start = self.next - available as u64;
        let shots = std::mem::take(&mut self.taken);
        self.done += 1;
        Clip {
            start_s: self.seconds(origin, start),
            end_s: self.seconds(origin, start + available as u64),
            captured: shots[0].captured,
            middle: shots[shots.len() / 2].image.clone(),
            frames: shots.into_iter().map(|s| s.chw).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frame `i` of a stream at `fps`: its index is its only pixel value.
    fn shot(epoch: u32, i: u64, fps: f64) -> Shot {
        Shot {
            epoch,
            pts: Duration::from_secs_f64(i as f64 / fps),
            captured: Instant::now(),
            chw: Arc::from(vec![i as f32]),
            image: Arc::new(Picture::Rgb(mmv_runtime::frames::RgbFrame {
                width: 1,
                height: 1,
                data: vec![i as u8; 3],
            })),
        }
    }

    fn ids(c: &Clip) -> Vec<u64> {
        c.frames.iter().map(|f| f[0] as u64).collect()
    }

    /// `n` frames at `fps` through a sampler of clips of 4 at 5 fps, then the end.
    fn run(n: u64, fps: f64) -> Vec<Clip> {
        let mut s = ClipSampler::new(4, 5.0);
        let mut clips = Vec::new();
        for i in 0..n {
            let (abandoned, done) = s.offer(shot(1, i, fps));
            assert!(!abandoned);
            clips.extend(done);
        }
        clips.extend(s.end(1, Duration::from_secs_f64(n as f64 / fps)));
        clips
    }

    #[test]
    fn picks_the_frame_on_screen_at_each_model_frame_as_the_runtime_does() {
        // 25 fps: every fifth frame; 43 frames = 8.6 model frames, the tail (1 of 4) dropped.
        let clips = run(43, 25.0);
        assert_eq!(clips.len(), 2);
        assert_eq!(ids(&clips[0]), vec![0, 5, 10, 15]);
        assert_eq!(ids(&clips[1]), vec![20, 25, 30, 35]);
        assert_eq!((clips[1].start_s, clips[1].end_s), (0.8, 1.6));
        assert_eq!(clips[1].middle.to_rgb().unwrap().data[0], 30);
        // 12.5 fps: floor(2.5 j), the frame before each tick.
        let clips = run(20, 12.5);
        assert_eq!(ids(&clips[0]), vec![0, 2, 5, 7]);
        assert_eq!(ids(&clips[1]), vec![10, 12, 15, 17]);
        // 4 fps (slower than the model, not a gap): frames repeat, floor(0.8 j).
        let clips = run(13, 4.0);
        assert_eq!(ids(&clips[0]), vec![0, 0, 1, 2]);
        assert_eq!(ids(&clips[1]), vec![3, 4, 4, 5]);
    }

    #[test]
    fn the_tail_is_kept_when_half_is_footage_and_padded() {
        // 10 fps, 28 frames: 14 model frames, so the fourth clip has 2 of its 4.
        let clips = run(28, 10.0);
        assert_eq!(clips.len(), 4);
        assert_eq!(ids(&clips[3]), vec![24, 26, 26, 26]);
        assert_eq!((clips[3].start_s, clips[3].end_s), (2.4, 2.8));
        // One model frame of four after two clips: dropped; a short first clip: kept.
        assert_eq!(run(18, 10.0).len(), 2);
        let short = run(3, 10.0);
        assert_eq!(short.len(), 1);
        assert_eq!(ids(&short[0]), vec![0, 2, 2, 2]);
        assert!((short[0].end_s - 0.4).abs() < 1e-12);
    }

    #[test]
    fn gaps_and_restarts_start_afresh() {
        let mut s = ClipSampler::new(4, 5.0);
        for i in 0..6 {
            assert!(s.offer(shot(1, i, 10.0)).1.is_empty());
        }
        // Frames 6..9 are lost: 0.4 s between frames is a gap.
        let (abandoned, done) = s.offer(shot(1, 10, 10.0));
        assert!(abandoned && done.is_empty() && !s.active());
        let done: Vec<Clip> = (11..18).flat_map(|i| s.offer(shot(1, i, 10.0)).1).collect();
        assert_eq!(ids(&done[0]), vec![10, 12, 14, 16]);
        assert!(s.active());
        // Another opening: its own grid, from its first frame.
        let (abandoned, _) = s.offer(shot(2, 0, 10.0));
        assert!(abandoned, "frame 17 was waiting to start the next clip");
        assert!(
            s.end(1, Duration::from_secs(9)).is_empty(),
            "not this epoch"
        );
        let tail = s.end(2, Duration::from_millis(100));
        assert_eq!(
            tail.len(),
            1,
            "the first clip of a stream is kept, however short"
        );
    }
}
