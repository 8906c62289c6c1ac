//! Cutting footage into the model's clips: a window of `frames` frames sampled at the model's
//! frame rate, and the audio of the same time span, every `stride` seconds.
//!
//! Frames are resampled in time by picking, for the model's frame `j` (at `j / fps` seconds),
//! the source frame on screen at that time (`floor(j * source_fps / fps)`), so a 25 fps file
//! feeds a 5 fps model every fifth frame, a slower file repeats frames, and skipped frames are
//! never decoded. Frames stay in the format their reader gave ([`Picture`]: camera formats are
//! not converted to RGB).
//!
//! Clip `i` starts at `i * stride`. The last clip may run past the end of the footage: it is
//! kept if it is the first clip or if at least half of it is footage, and is padded with the
//! last frame (video) or silence (audio); its end time is the end of the footage.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::frames::Picture;

use super::{FrameSource, IngestError, NextFrame};

/// Clip shape: the model's input window and how far apart clips start.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClipGeometry {
    /// Frames per clip (the model's T).
    pub frames: usize,
    /// The model's frame rate.
    pub fps: f64,
    /// Model frames between clip starts (>= 1).
    pub stride_frames: usize,
    /// The model's audio sample rate.
    pub sample_rate: u32,
    /// Audio samples per clip.
    pub window_samples: usize,
}

impl ClipGeometry {
    /// Seconds per clip.
    pub fn window_s(&self) -> f64 {
        self.frames as f64 / self.fps
    }

    /// Seconds between clip starts.
    pub fn stride_s(&self) -> f64 {
        self.stride_frames as f64 / self.fps
    }

    /// The stride in seconds rounded to whole model frames (at least one). None: the window
    /// (clips side by side).
    pub fn stride_frames_for(frames: usize, fps: f64, stride_s: Option<f64>) -> usize {
        match stride_s {
            Some(s) => ((s * fps).round() as usize).max(1),
            None => frames,
        }
    }

    fn stride_samples(&self) -> usize {
        ((self.stride_s() * f64::from(self.sample_rate)).round() as usize).max(1)
    }
}

/// One clip's inputs.
#[derive(Clone, Debug)]
pub struct Clip {
    pub index: u32,
    pub start_s: f64,
    pub end_s: f64,
    /// `geometry.frames` frames (empty for audio-only footage).
    pub frames: Vec<Arc<Picture>>,
    /// `geometry.window_samples` samples at the model rate (None without audio).
    pub audio: Option<Vec<f32>>,
}

/// Produces the clips of one piece of footage, in order.
pub struct Clips {
    geometry: ClipGeometry,
    video: Option<Box<dyn FrameSource>>,
    /// Audio at the model rate.
    audio: Option<Vec<f32>>,
    next_clip: u32,
    /// Model frames from index `first_frame` on.
    buffered: VecDeque<Arc<Picture>>,
    first_frame: usize,
    /// Set once the source has ended: the number of model frames it gave.
    total_frames: Option<usize>,
    /// Source frames read so far, and the last one decoded (index, frame).
    source_pos: u64,
    last: Option<(u64, Arc<Picture>)>,
}

impl Clips {
    /// Clips of `video` (if any) with `audio` (if any, already at the model's rate).
    pub fn new(
        geometry: ClipGeometry,
        video: Option<Box<dyn FrameSource>>,
        audio: Option<Vec<f32>>,
    ) -> Self {
        Self {
            geometry,
            video,
            audio,
            next_clip: 0,
            buffered: VecDeque::new(),
            first_frame: 0,
            total_frames: None,
            source_pos: 0,
            last: None,
        }
    }

    /// The duration of the footage, in seconds, once the last clip has been produced.
    pub fn duration_s(&self) -> Option<f64> {
        match (&self.video, self.total_frames) {
            (Some(_), Some(n)) => Some(n as f64 / self.geometry.fps),
            (Some(_), None) => None,
            (None, _) => self
                .audio
                .as_ref()
                .map(|a| a.len() as f64 / f64::from(self.geometry.sample_rate)),
        }
    }

    /// The next clip, or None after the last.
    pub fn next_clip(&mut self) -> Result<Option<Clip>, IngestError> {
        let g = self.geometry;
        let i = self.next_clip;
        let clip = if self.video.is_some() {
            let start = i as usize * g.stride_frames;
            // Drop frames no later clip needs.
            while self.first_frame < start && !self.buffered.is_empty() {
                self.buffered.pop_front();
                self.first_frame += 1;
            }
            while self.total_frames.is_none()
                && self.first_frame + self.buffered.len() < start + g.frames
            {
                let j = self.first_frame + self.buffered.len();
                match self.model_frame(j)? {
                    Some(f) => self.buffered.push_back(f),
                    None => self.total_frames = Some(j),
                }
            }
            let available = match self.total_frames {
                Some(n) => n.saturating_sub(start).min(g.frames),
                None => g.frames,
            };
            if available == 0 || (i > 0 && available * 2 < g.frames) {
                return Ok(None);
            }
            let mut frames: Vec<Arc<Picture>> = self
                .buffered
                .iter()
                .skip(start - self.first_frame)
                .take(available)
                .cloned()
                .collect();
            let last = frames
                .last()
                .cloned()
                .unwrap_or_else(|| unreachable!("available > 0"));
            frames.resize(g.frames, last);
            let start_s = start as f64 / g.fps;
            Clip {
                index: i,
                start_s,
                end_s: (start + available) as f64 / g.fps,
                frames,
                audio: self.audio_window((start_s * f64::from(g.sample_rate)).round() as usize),
            }
        } else {
            let Some(audio) = &self.audio else {
                return Ok(None);
            };
            let start = i as usize * g.stride_samples();
            let available = audio.len().saturating_sub(start).min(g.window_samples);
            if available == 0 || (i > 0 && available * 2 < g.window_samples) {
                return Ok(None);
            }
            let rate = f64::from(g.sample_rate);
            // A recording shorter than one window (a spoken word saved on its own) is centred
            // in it, where training places words, not pushed against its start.
            let window = if audio.len() < g.window_samples {
                Some(centred_window(audio, g.window_samples))
            } else {
                self.audio_window(start)
            };
            Clip {
                index: i,
                start_s: start as f64 / rate,
                end_s: (start + available) as f64 / rate,
                frames: Vec::new(),
                audio: window,
            }
        };
        self.next_clip += 1;
        Ok(Some(clip))
    }

    /// `window_samples` samples from `start`, padded with silence at the end.
    fn audio_window(&self, start: usize) -> Option<Vec<f32>> {
        let audio = self.audio.as_ref()?;
        let n = self.geometry.window_samples;
        let from = start.min(audio.len());
        let mut window = audio[from..(from + n).min(audio.len())].to_vec();
        window.resize(n, 0.0);
        Some(window)
    }

    /// Model frame `j`: the source frame on screen at `j / fps`; None past the end.
    fn model_frame(&mut self, j: usize) -> Result<Option<Arc<Picture>>, IngestError> {
        let Some(video) = self.video.as_mut() else {
            return Ok(None);
        };
        // The epsilon keeps exact ratios (25 -> 5 fps) from flooring a hair too low.
        let k = (j as f64 * video.fps() / self.geometry.fps + 1e-9).floor() as u64;
        if let Some((lk, f)) = &self.last
            && *lk == k
        {
            return Ok(Some(f.clone()));
        }
        while self.source_pos < k {
            match video.next_frame(false)? {
                NextFrame::End => return Ok(None),
                _ => self.source_pos += 1,
            }
        }
        match video.next_frame(true)? {
            NextFrame::End => Ok(None),
            NextFrame::Skipped => unreachable!("decode was asked for"),
            NextFrame::Frame(f) => {
                self.source_pos += 1;
                let f = Arc::new(f);
                self.last = Some((k, f.clone()));
                Ok(Some(f))
            }
        }
    }
}

/// `samples` (at most `n`) in the middle of `n` samples of silence.
pub fn centred_window(samples: &[f32], n: usize) -> Vec<f32> {
    let len = samples.len().min(n);
    let mut window = vec![0.0f32; n];
    let at = (n - len) / 2;
    window[at..at + len].copy_from_slice(&samples[..len]);
    window
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frames::RgbFrame;

    /// A source of `n` 1x1 frames whose red value is the frame index.
    struct Counter {
        n: u64,
        pos: u64,
        fps: f64,
        decoded: u64,
    }

    impl FrameSource for Counter {
        fn fps(&self) -> f64 {
            self.fps
        }
        fn next_frame(&mut self, decode: bool) -> Result<NextFrame, IngestError> {
            if self.pos == self.n {
                return Ok(NextFrame::End);
            }
            self.pos += 1;
            if !decode {
                return Ok(NextFrame::Skipped);
            }
            self.decoded += 1;
            Ok(NextFrame::Frame(Picture::Rgb(RgbFrame {
                width: 1,
                height: 1,
                data: vec![(self.pos - 1) as u8, 0, 0],
            })))
        }
    }

    fn geometry(stride_frames: usize) -> ClipGeometry {
        ClipGeometry {
            frames: 4,
            fps: 5.0,
            stride_frames,
            sample_rate: 10,
            window_samples: 8,
        }
    }

    fn collect(mut clips: Clips) -> Vec<Clip> {
        let mut out = Vec::new();
        while let Some(c) = clips.next_clip().unwrap() {
            out.push(c);
        }
        out
    }

    fn reds(c: &Clip) -> Vec<u8> {
        c.frames
            .iter()
            .map(|f| f.to_rgb().unwrap().data[0])
            .collect()
    }

    #[test]
    fn samples_frames_in_time_and_pads_the_tail() {
        // 25 fps source, 5 fps model: every fifth frame. 43 frames = 1.72 s = 8.6 model frames:
        // model frames 0..=8 exist (frame 8 is source 40).
        let src = Counter {
            n: 43,
            pos: 0,
            fps: 25.0,
            decoded: 0,
        };
        let audio: Vec<f32> = (0..20).map(|i| i as f32).collect();
        let clips = collect(Clips::new(geometry(4), Some(Box::new(src)), Some(audio)));
        assert_eq!(clips.len(), 2, "the third clip would be 1 frame of 4");
        assert_eq!(reds(&clips[0]), vec![0, 5, 10, 15]);
        assert_eq!(reds(&clips[1]), vec![20, 25, 30, 35]);
        assert_eq!((clips[1].start_s, clips[1].end_s), (0.8, 1.6));
        let a = clips[1].audio.as_ref().unwrap();
        assert_eq!(a[..], [8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0]);

        // With a stride of 3 frames the tail clip (frames 6..10, 3 of them real) is padded.
        let src = Counter {
            n: 43,
            pos: 0,
            fps: 25.0,
            decoded: 0,
        };
        let mut it = Clips::new(geometry(3), Some(Box::new(src)), None);
        let mut all = Vec::new();
        while let Some(c) = it.next_clip().unwrap() {
            all.push(c);
        }
        assert_eq!(all.len(), 3);
        assert_eq!(reds(&all[2]), vec![30, 35, 40, 40]);
        assert!((all[2].end_s - 1.8).abs() < 1e-9);
        assert!(all[2].audio.is_none());
        assert!((it.duration_s().unwrap() - 1.8).abs() < 1e-9);
    }

    #[test]
    fn upsamples_slow_sources_by_repeating_frames() {
        let src = Counter {
            n: 2,
            pos: 0,
            fps: 2.5,
            decoded: 0,
        };
        let clips = collect(Clips::new(geometry(4), Some(Box::new(src)), None));
        // Model frames at 0, 0.2, 0.4, 0.6 s show source frames 0 (0-0.4 s) and 1 (0.4-0.8 s).
        assert_eq!(clips.len(), 1);
        assert_eq!(reds(&clips[0]), vec![0, 0, 1, 1]);
    }

    #[test]
    fn a_short_file_still_gives_one_clip() {
        let src = Counter {
            n: 1,
            pos: 0,
            fps: 30.0,
            decoded: 0,
        };
        let clips = collect(Clips::new(
            geometry(4),
            Some(Box::new(src)),
            Some(vec![1.0; 3]),
        ));
        assert_eq!(clips.len(), 1);
        assert_eq!(reds(&clips[0]), vec![0, 0, 0, 0]);
        assert_eq!(
            clips[0].audio.as_ref().unwrap()[..],
            [1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0]
        );
        let empty = Counter {
            n: 0,
            pos: 0,
            fps: 30.0,
            decoded: 0,
        };
        assert!(collect(Clips::new(geometry(4), Some(Box::new(empty)), None)).is_empty());
    }

    #[test]
    fn audio_only_clips_follow_the_samples() {
        // 25 samples, windows of 8, stride 4 frames = 0.8 s = 8 samples.
        let audio: Vec<f32> = (0..25).map(|i| i as f32).collect();
        let mut it = Clips::new(geometry(4), None, Some(audio));
        let mut clips = Vec::new();
        while let Some(c) = it.next_clip().unwrap() {
            clips.push(c);
        }
        // Starts 0, 8, 16 (9 samples left: full), 24 (1 left: dropped).
        assert_eq!(clips.len(), 3);
        assert_eq!(clips[2].audio.as_ref().unwrap()[0], 16.0);
        assert!(clips[2].frames.is_empty());
        assert!((it.duration_s().unwrap() - 2.5).abs() < 1e-9);
        assert!(collect(Clips::new(geometry(4), None, None)).is_empty());
    }

    #[test]
    fn a_recording_shorter_than_one_window_is_centred_in_it() {
        // 4 samples in windows of 8: two samples of silence on each side.
        let audio = vec![1.0f32, 2.0, 3.0, 4.0];
        let clips = collect(Clips::new(geometry(4), None, Some(audio)));
        assert_eq!(clips.len(), 1);
        assert_eq!(
            clips[0].audio.as_deref().unwrap(),
            &[0.0, 0.0, 1.0, 2.0, 3.0, 4.0, 0.0, 0.0]
        );
        assert!((clips[0].end_s - 0.4).abs() < 1e-9);
    }
}
