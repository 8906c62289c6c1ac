//! Writing test media as the plain files a user would hand to `mmv`: 16-bit PCM WAV, PNG and
//! JPEG stills, Y4M clips. Everything the product-path evaluation measures goes through these
//! files and the runtime's readers, never through training-side tensors.

use std::path::Path;

use mmv_runtime::frames::{RgbFrame, encode_jpeg};
use mmv_runtime::ingest::y4m::write_y4m;

use super::ProductError;

fn io(path: &Path) -> impl FnOnce(String) -> ProductError + '_ {
    move |problem| ProductError::Write {
        path: path.to_path_buf(),
        problem,
    }
}

/// Mono 16-bit PCM WAV at `rate` Hz (samples clipped to [-1, 1]): the runtime's writer.
pub fn write_wav(path: &Path, samples: &[f32], rate: u32) -> Result<(), ProductError> {
    mmv_runtime::audio::write_wav(path, samples, rate).map_err(|e| io(path)(e.to_string()))
}

/// An 8-bit grey image, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Gray {
    pub width: usize,
    pub height: usize,
    pub data: Vec<u8>,
}

impl Gray {
    pub fn new(width: usize, height: usize, fill: u8) -> Self {
        Self {
            width,
            height,
            data: vec![fill; width * height],
        }
    }

    pub fn to_rgb(&self) -> RgbFrame {
        RgbFrame {
            width: self.width,
            height: self.height,
            data: self.data.iter().flat_map(|&p| [p, p, p]).collect(),
        }
    }

    /// Pastes `src` scaled (bilinear) to `side` x `side` pixels at (x, y), keeping the
    /// brighter pixel (ink on a dark background).
    pub fn paste_scaled(&mut self, src: &Gray, x: usize, y: usize, side: usize) {
        let s = src.width as f32 / side as f32;
        for dy in 0..side {
            for dx in 0..side {
                let (tx, ty) = (x + dx, y + dy);
                if tx >= self.width || ty >= self.height {
                    continue;
                }
                let u = ((dx as f32 + 0.5) * s - 0.5).max(0.0);
                let v = ((dy as f32 + 0.5) * s - 0.5).max(0.0);
                let (u0, v0) = (u as usize, v as usize);
                let (u1, v1) = ((u0 + 1).min(src.width - 1), (v0 + 1).min(src.height - 1));
                let (fu, fv) = (u - u0 as f32, v - v0 as f32);
                let p = |c: usize, r: usize| f32::from(src.data[r * src.width + c]);
                let val = (1.0 - fv) * ((1.0 - fu) * p(u0, v0) + fu * p(u1, v0))
                    + fv * ((1.0 - fu) * p(u0, v1) + fu * p(u1, v1));
                let o = &mut self.data[ty * self.width + tx];
                *o = (*o).max(val.round().clamp(0.0, 255.0) as u8);
            }
        }
    }

    /// Dark ink on light paper.
    pub fn inverted(&self) -> Self {
        Self {
            data: self.data.iter().map(|&p| 255 - p).collect(),
            ..self.clone()
        }
    }

    /// A 3x3 box blur (a slightly soft camera).
    pub fn blurred(&self) -> Self {
        let (w, h) = (self.width as isize, self.height as isize);
        let mut out = self.clone();
        for y in 0..h {
            for x in 0..w {
                let mut sum = 0u32;
                let mut n = 0u32;
                for dy in -1..=1 {
                    for dx in -1..=1 {
                        let (sx, sy) = (x + dx, y + dy);
                        if (0..w).contains(&sx) && (0..h).contains(&sy) {
                            sum += u32::from(self.data[(sy * w + sx) as usize]);
                            n += 1;
                        }
                    }
                }
                out.data[(y * w + x) as usize] = (sum / n) as u8;
            }
        }
        out
    }
}

/// Grey PNG.
pub fn write_png(path: &Path, image: &Gray) -> Result<(), ProductError> {
    let file = std::fs::File::create(path).map_err(|e| io(path)(e.to_string()))?;
    let mut enc = png::Encoder::new(
        std::io::BufWriter::new(file),
        image.width as u32,
        image.height as u32,
    );
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc.write_header().map_err(|e| io(path)(e.to_string()))?;
    w.write_image_data(&image.data)
        .map_err(|e| io(path)(e.to_string()))
}

/// JPEG at `quality` (1-100), through the runtime's encoder.
pub fn write_jpeg(path: &Path, image: &Gray, quality: u8) -> Result<(), ProductError> {
    let rgb = image.to_rgb();
    let bytes = encode_jpeg(&rgb.data, rgb.width, rgb.height, quality)
        .map_err(|e| io(path)(e.to_string()))?;
    std::fs::write(path, bytes).map_err(|e| io(path)(e.to_string()))
}

/// Y4M clip of grey frames at `fps`.
pub fn write_clip(path: &Path, frames: &[Gray], fps: u32) -> Result<(), ProductError> {
    let rgb: Vec<RgbFrame> = frames.iter().map(Gray::to_rgb).collect();
    write_y4m(path, &rgb, fps).map_err(|e| io(path)(e.to_string()))
}
