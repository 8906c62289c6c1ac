//! Helpers shared by the integration tests: the fixture bundle and small media files. The
//! CLI's tests (`cli/tests/`) use the same fixture bundle.

#![allow(dead_code)]

pub mod fixture;

use std::path::Path;

use mmv_cli::demo::render_digits;
use mmv_runtime::frames::{RgbFrame, encode_jpeg};
use mmv_runtime::ingest::y4m::write_y4m;

/// A Y4M file of `digits`, one clip each, at 10 fps (twice the fixture's 5 fps).
pub fn digits_y4m(path: &Path, digits: &[u8]) -> Vec<RgbFrame> {
    let frames = render_digits(digits, fixture::FRAMES * 2);
    write_y4m(path, &frames, 10).unwrap();
    frames
}

/// A Y4M file of `digits` standing still in the middle of the canvas, one clip each, at
/// 10 fps; returns one frame per digit.
pub fn still_digits_y4m(path: &Path, digits: &[u8]) -> Vec<RgbFrame> {
    use mmv_cli::demo::{CANVAS, DIGIT, draw_digit};
    let stills: Vec<RgbFrame> = digits
        .iter()
        .map(|&d| {
            let glyph = draw_digit(d);
            let mut data = vec![0u8; CANVAS * CANVAS * 3];
            let o = (CANVAS - DIGIT) / 2;
            for y in 0..DIGIT {
                for x in 0..DIGIT {
                    let i = ((o + y) * CANVAS + o + x) * 3;
                    data[i..i + 3].fill(glyph[y * DIGIT + x]);
                }
            }
            RgbFrame {
                width: CANVAS,
                height: CANVAS,
                data,
            }
        })
        .collect();
    let frames: Vec<RgbFrame> = stills
        .iter()
        .flat_map(|f| std::iter::repeat_n(f.clone(), fixture::FRAMES * 2))
        .collect();
    write_y4m(path, &frames, 10).unwrap();
    stills
}

/// An MJPEG stream of the same kind of footage.
pub fn digits_mjpeg(path: &Path, digits: &[u8]) {
    let frames = render_digits(digits, fixture::FRAMES * 5);
    let mut bytes = Vec::new();
    for f in &frames {
        bytes.extend(encode_jpeg(&f.data, f.width, f.height, 90).unwrap());
    }
    std::fs::write(path, bytes).unwrap();
}

/// A 16-bit mono WAV of `seconds` of a tone at `hz`, sampled at `rate`.
pub fn tone_wav(path: &Path, rate: u32, seconds: f32, hz: f32) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    let n = (seconds * rate as f32) as usize;
    for i in 0..n {
        let t = i as f32 / rate as f32;
        let v = (t * hz * std::f32::consts::TAU).sin() * 0.5;
        w.write_sample((v * 32767.0) as i16).unwrap();
    }
    w.finalize().unwrap();
}

/// A PNG of one frame.
pub fn png(path: &Path, frame: &RgbFrame) {
    image::save_buffer(
        path,
        &frame.data,
        frame.width as u32,
        frame.height as u32,
        image::ExtendedColorType::Rgb8,
    )
    .unwrap();
}
