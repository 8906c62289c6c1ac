//! The daemon's pacing around the runtime's readers. Files and FIFOs are read by
//! `mmv_runtime::ingest` (Y4M, MJPEG streams, raw camera frames: one parser for the daemon and
//! `mmv index`); by default a replay runs as fast as inference takes it, and `realtime` makes it
//! deliver frame `n` no earlier than `n / fps` seconds after opening, like a camera.

use std::time::{Duration, Instant};

use super::{FrameSource, IngestError, NextFrame};

/// Sleeps until `start + done / rate` seconds (no sleep for a rate that is not positive).
pub fn pace(start: Instant, done: u64, rate: f64) {
    if rate > 0.0 && rate.is_finite() {
        let due = start + Duration::from_secs_f64(done as f64 / rate);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
    }
}

/// A frame source delivered at its own rate (`realtime`) or as fast as it is read.
#[derive(Debug)]
pub struct Paced<S> {
    inner: S,
    realtime: bool,
    start: Instant,
    frames: u64,
}

impl<S: FrameSource> Paced<S> {
    pub fn new(inner: S, realtime: bool) -> Self {
        Self {
            inner,
            realtime,
            start: Instant::now(),
            frames: 0,
        }
    }
}

impl<S: FrameSource> FrameSource for Paced<S> {
    fn fps(&self) -> f64 {
        self.inner.fps()
    }

    fn next_frame(&mut self, decode: bool) -> Result<NextFrame, IngestError> {
        let next = self.inner.next_frame(decode)?;
        if self.realtime && !matches!(next, NextFrame::End) {
            pace(self.start, self.frames, self.fps());
            self.frames += 1;
        }
        Ok(next)
    }

    fn timestamp(&self) -> Option<Duration> {
        self.inner.timestamp()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mmv_runtime::frames::PixelFormat;
    use mmv_runtime::ingest::raw::{RawReader, RawVideo};
    use std::path::Path;

    #[test]
    fn realtime_replays_keep_the_frame_rate_and_fast_ones_do_not() {
        let bytes = [7u8; 4 * 20];
        let video = RawVideo {
            format: PixelFormat::Gray8,
            width: 2,
            height: 2,
            fps: 100.0,
        };
        let open = || RawReader::new(&bytes[..], Path::new("t"), video);
        for (realtime, slow) in [(true, true), (false, false)] {
            let mut src = Paced::new(open().expect("reader"), realtime);
            let t0 = Instant::now();
            let mut n = 0;
            while !matches!(src.next_frame(true).expect("frame"), NextFrame::End) {
                n += 1;
            }
            assert_eq!(n, 20);
            // 20 frames at 100 fps: the last is due 190 ms after the start.
            let took = t0.elapsed();
            assert_eq!(took >= Duration::from_millis(185), slow, "{took:?}");
        }
    }
}
