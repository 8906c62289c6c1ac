//! Video-frame preprocessing shared by training and inference.
//!
//! A decoded 8-bit frame (RGB or grey, row-major, interleaved) becomes the
//! vision tower's input in four steps:
//! 1. convert to the model's channel count (RGB → grey with BT.601 luma
//!    weights 0.299/0.587/0.114; grey → RGB by replication) and scale to [0, 1];
//! 2. resize, keeping the aspect ratio, so the frame just covers the target
//!    (the short side matches), with a bilinear (triangle) filter — widened
//!    when shrinking so it averages instead of aliasing, as PIL's `BILINEAR`;
//! 3. centre-crop to `height × width`;
//! 4. normalise each channel `(x - mean) / std` and lay out CHW.
//!
//! Resizing runs on f32 values, so no extra 8-bit rounding creeps in, and the
//! colour conversion is done on the side with fewer channels (it is linear,
//! so the order does not change the result).
//!
//! Frames that arrive in a camera's format (YUYV, NV12, I420, MJPEG) are first
//! converted to RGB8 by [`to_rgb8`] ([`camera`]); still images and thumbnails
//! are decoded and encoded by [`codec`].

mod camera;
mod codec;

pub use camera::{
    PixelFormat, YuvLayout, YuvRange, rgb_to_yuv, to_rgb8, to_rgb8_into, yuv_planar_to_rgb8,
};
pub use codec::{RgbFrame, decode_image, decode_jpeg, encode_jpeg, thumbnail_jpeg};

use image::imageops::{self, FilterType};
use image::{ImageBuffer, Luma, Pixel, Rgb};
use serde::{Deserialize, Serialize};

/// What the vision tower expects: output size, channels and normalisation.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FrameSpec {
    pub height: usize,
    pub width: usize,
    /// 1 (grey) or 3 (RGB).
    pub channels: usize,
    /// Per-channel mean, applied to values in [0, 1]; `channels` entries.
    pub mean: Vec<f32>,
    /// Per-channel standard deviation; `channels` non-zero entries.
    pub std: Vec<f32>,
}

/// Bad frame input or an unusable [`FrameSpec`].
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FrameError {
    #[error("invalid frame spec: {0}")]
    InvalidSpec(String),
    #[error("frame has zero size ({width}x{height})")]
    ZeroSize { width: usize, height: usize },
    #[error("frame is too large ({width}x{height})")]
    TooLarge { width: usize, height: usize },
    #[error("a {format} frame needs an even width, got {width}")]
    OddWidth { format: &'static str, width: usize },
    #[error("cannot decode {format} data: {problem}")]
    Decode {
        format: &'static str,
        problem: String,
    },
    #[error("decoded {format} frame is {actual_width}x{actual_height}, expected {width}x{height}")]
    SizeMismatch {
        format: &'static str,
        width: usize,
        height: usize,
        actual_width: usize,
        actual_height: usize,
    },
    #[error("{format} frame buffer has {actual} bytes, expected {expected} for {width}x{height}")]
    FormatLength {
        format: &'static str,
        expected: usize,
        actual: usize,
        width: usize,
        height: usize,
    },
    #[error("cannot encode a JPEG: {0}")]
    Encode(String),
    #[error(
        "frame buffer has {actual} bytes, expected {expected} for {width}x{height} with {channels} channel(s)"
    )]
    BufferLength {
        expected: usize,
        actual: usize,
        width: usize,
        height: usize,
        channels: usize,
    },
}

impl FrameSpec {
    /// A spec without normalisation (mean 0, std 1): output stays in [0, 1].
    pub fn unnormalized(height: usize, width: usize, channels: usize) -> Self {
        Self {
            height,
            width,
            channels,
            mean: vec![0.0; channels],
            std: vec![1.0; channels],
        }
    }

    /// Number of f32 values in a preprocessed frame (`channels * height * width`).
    pub fn output_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    pub fn validate(&self) -> Result<(), FrameError> {
        let bad = |msg: String| Err(FrameError::InvalidSpec(msg));
        if self.channels != 1 && self.channels != 3 {
            return bad(format!("channels must be 1 or 3, got {}", self.channels));
        }
        if self.height == 0 || self.width == 0 {
            return bad(format!(
                "output size must be positive, got {}x{}",
                self.width, self.height
            ));
        }
        if u32::try_from(self.height).is_err() || u32::try_from(self.width).is_err() {
            return bad(format!(
                "output size {}x{} is too large",
                self.width, self.height
            ));
        }
        if self.mean.len() != self.channels || self.std.len() != self.channels {
            return bad(format!(
                "mean and std need {} entries each, got {} and {}",
                self.channels,
                self.mean.len(),
                self.std.len()
            ));
        }
        if self.mean.iter().any(|m| !m.is_finite())
            || self.std.iter().any(|s| !s.is_finite() || *s == 0.0)
        {
            return bad(format!(
                "mean must be finite and std finite and non-zero, got {:?} and {:?}",
                self.mean, self.std
            ));
        }
        Ok(())
    }
}

/// Preprocesses an interleaved RGB8 frame (`width * height * 3` bytes) into
/// a CHW f32 tensor of `spec.output_len()` values.
pub fn preprocess_rgb8(
    rgb: &[u8],
    width: usize,
    height: usize,
    spec: &FrameSpec,
) -> Result<Vec<f32>, FrameError> {
    let (w, h) = check_input(rgb, width, height, 3, spec)?;
    if spec.channels == 1 {
        let luma = rgb
            .chunks_exact(3)
            .map(|p| {
                let [r, g, b] = [p[0], p[1], p[2]].map(unit);
                0.299 * r + 0.587 * g + 0.114 * b
            })
            .collect();
        Ok(finish::<Luma<f32>>(to_image(w, h, luma), spec))
    } else {
        let values = rgb.iter().copied().map(unit).collect();
        Ok(finish::<Rgb<f32>>(to_image(w, h, values), spec))
    }
}

/// Preprocesses a grey8 frame (`width * height` bytes) into a CHW f32 tensor
/// of `spec.output_len()` values (replicated to 3 channels for RGB specs).
pub fn preprocess_gray8(
    gray: &[u8],
    width: usize,
    height: usize,
    spec: &FrameSpec,
) -> Result<Vec<f32>, FrameError> {
    let (w, h) = check_input(gray, width, height, 1, spec)?;
    let values = gray.iter().copied().map(unit).collect();
    Ok(finish::<Luma<f32>>(to_image(w, h, values), spec))
}

fn unit(v: u8) -> f32 {
    f32::from(v) / 255.0
}

/// Validates spec, sizes and buffer length; returns the size as u32s.
fn check_input(
    buf: &[u8],
    width: usize,
    height: usize,
    channels: usize,
    spec: &FrameSpec,
) -> Result<(u32, u32), FrameError> {
    spec.validate()?;
    if width == 0 || height == 0 {
        return Err(FrameError::ZeroSize { width, height });
    }
    let expected = width
        .checked_mul(height)
        .and_then(|n| n.checked_mul(channels))
        .ok_or(FrameError::TooLarge { width, height })?;
    if buf.len() != expected {
        return Err(FrameError::BufferLength {
            expected,
            actual: buf.len(),
            width,
            height,
            channels,
        });
    }
    match (u32::try_from(width), u32::try_from(height)) {
        (Ok(w), Ok(h)) => Ok((w, h)),
        _ => Err(FrameError::TooLarge { width, height }),
    }
}

fn to_image<P: Pixel<Subpixel = f32>>(
    w: u32,
    h: u32,
    values: Vec<f32>,
) -> ImageBuffer<P, Vec<f32>> {
    // The length was checked against width * height * channels.
    ImageBuffer::from_raw(w, h, values).unwrap_or_else(|| unreachable!("buffer length checked"))
}

/// Resize + centre-crop + normalise; `P` has 1 or 3 channels, and a 1-channel
/// image is replicated if the spec wants 3.
fn finish<P: Pixel<Subpixel = f32> + 'static>(
    img: ImageBuffer<P, Vec<f32>>,
    spec: &FrameSpec,
) -> Vec<f32> {
    // Sizes were validated to fit u32.
    let (out_w, out_h) = (spec.width as u32, spec.height as u32);
    let (w, h) = img.dimensions();
    // Scale so the image covers the target, then crop the overflow evenly.
    let scale = (f64::from(out_w) / f64::from(w)).max(f64::from(out_h) / f64::from(h));
    let new_w = ((f64::from(w) * scale).round() as u32).max(out_w);
    let new_h = ((f64::from(h) * scale).round() as u32).max(out_h);
    let img = if (new_w, new_h) == (w, h) {
        img
    } else {
        imageops::resize(&img, new_w, new_h, FilterType::Triangle)
    };
    let x0 = ((new_w - out_w) / 2) as usize;
    let y0 = ((new_h - out_h) / 2) as usize;

    let src_c = usize::from(P::CHANNEL_COUNT);
    let (ow, oh) = (spec.width, spec.height);
    let stride = new_w as usize * src_c;
    let raw = img.as_raw();
    let mut out = Vec::with_capacity(spec.output_len());
    for c in 0..spec.channels {
        // Grey sources feed every output channel (replication).
        let sc = if src_c == 1 { 0 } else { c };
        let (mean, inv_std) = (spec.mean[c], 1.0 / spec.std[c]);
        for y in 0..oh {
            let row = &raw[(y0 + y) * stride..];
            out.extend((0..ow).map(|x| (row[(x0 + x) * src_c + sc] - mean) * inv_std));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_when_sizes_match() {
        let (w, h) = (5, 3);
        let rgb: Vec<u8> = (0..w * h * 3).map(|i| (i * 17 % 256) as u8).collect();
        let out = preprocess_rgb8(&rgb, w, h, &FrameSpec::unnormalized(h, w, 3)).unwrap();
        assert_eq!(out.len(), 3 * w * h);
        for c in 0..3 {
            for y in 0..h {
                for x in 0..w {
                    assert_eq!(
                        out[c * h * w + y * w + x],
                        f32::from(rgb[(y * w + x) * 3 + c]) / 255.0
                    );
                }
            }
        }
        let gray: Vec<u8> = (0..w * h).map(|i| (i * 13) as u8).collect();
        let out = preprocess_gray8(&gray, w, h, &FrameSpec::unnormalized(h, w, 1)).unwrap();
        let want: Vec<f32> = gray.iter().map(|&v| f32::from(v) / 255.0).collect();
        assert_eq!(out, want);
    }

    #[test]
    fn normalisation_applies_mean_and_std() {
        let spec = FrameSpec {
            height: 1,
            width: 1,
            channels: 3,
            mean: vec![0.5, 0.0, 1.0],
            std: vec![0.5, 2.0, 0.25],
        };
        let out = preprocess_rgb8(&[255, 255, 0], 1, 1, &spec).unwrap();
        assert_eq!(out, vec![1.0, 0.5, -4.0]);
    }

    #[test]
    fn gradient_stays_monotonic_after_resize_and_crop() {
        // Horizontal ramp 64x48 (4:3) -> 24x24: resized to 32x24, cropped.
        let (w, h) = (64, 48);
        let gray: Vec<u8> = (0..h).flat_map(|_| (0..w).map(|x| (x * 4) as u8)).collect();
        let out = preprocess_gray8(&gray, w, h, &FrameSpec::unnormalized(24, 24, 1)).unwrap();
        assert_eq!(out.len(), 24 * 24);
        for row in out.chunks_exact(24) {
            assert!(row.windows(2).all(|p| p[0] < p[1]), "{row:?}");
            // Centre crop: the ramp's middle, not its ends.
            assert!(row[0] > 0.1 && row[23] < 0.9, "{row:?}");
        }
        // Rows agree (vertical content is constant), up to f32 rounding.
        for row in out.chunks_exact(24) {
            assert!(
                row.iter()
                    .zip(&out[..24])
                    .all(|(a, b)| (a - b).abs() < 1e-5)
            );
        }

        // Upscaling a vertical ramp keeps it monotonic too.
        let gray: Vec<u8> = (0..8)
            .flat_map(|y| std::iter::repeat_n((y * 30) as u8, 6))
            .collect();
        let out = preprocess_gray8(&gray, 6, 8, &FrameSpec::unnormalized(40, 30, 1)).unwrap();
        let col: Vec<f32> = (0..40).map(|y| out[y * 30 + 15]).collect();
        assert!(col.windows(2).all(|p| p[0] <= p[1]), "{col:?}");
        assert!(col[39] > col[0]);
    }

    #[test]
    fn rgb_to_gray_uses_bt601() {
        let spec = FrameSpec::unnormalized(1, 3, 1);
        let rgb = [255, 0, 0, 0, 255, 0, 0, 0, 255];
        let out = preprocess_rgb8(&rgb, 3, 1, &spec).unwrap();
        for (got, want) in out.iter().zip([0.299f32, 0.587, 0.114]) {
            assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        }
    }

    #[test]
    fn gray_to_rgb_replicates() {
        let gray = [0u8, 51, 102, 255];
        let out = preprocess_gray8(&gray, 2, 2, &FrameSpec::unnormalized(2, 2, 3)).unwrap();
        let plane: Vec<f32> = gray.iter().map(|&v| f32::from(v) / 255.0).collect();
        assert_eq!(&out[0..4], &plane[..]);
        assert_eq!(&out[4..8], &plane[..]);
        assert_eq!(&out[8..12], &plane[..]);
    }

    #[test]
    fn bad_inputs_are_errors() {
        let spec = FrameSpec::unnormalized(4, 4, 3);
        assert!(matches!(
            preprocess_rgb8(&[0; 47], 4, 4, &spec),
            Err(FrameError::BufferLength {
                expected: 48,
                actual: 47,
                ..
            })
        ));
        assert!(matches!(
            preprocess_gray8(&[0; 48], 4, 4, &spec),
            Err(FrameError::BufferLength { expected: 16, .. })
        ));
        assert_eq!(
            preprocess_rgb8(&[], 0, 4, &spec),
            Err(FrameError::ZeroSize {
                width: 0,
                height: 4
            })
        );
        assert!(matches!(
            preprocess_gray8(&[0; 4], usize::MAX, 2, &spec),
            Err(FrameError::TooLarge { .. })
        ));
        for bad in [
            FrameSpec::unnormalized(4, 4, 2),
            FrameSpec::unnormalized(0, 4, 3),
            FrameSpec {
                std: vec![1.0, 0.0, 1.0],
                ..spec.clone()
            },
            FrameSpec {
                mean: vec![0.0],
                ..spec.clone()
            },
            FrameSpec {
                mean: vec![f32::NAN, 0.0, 0.0],
                ..spec.clone()
            },
        ] {
            assert!(matches!(
                preprocess_rgb8(&[0; 48], 4, 4, &bad),
                Err(FrameError::InvalidSpec(_))
            ));
        }
    }

    #[test]
    fn spec_roundtrips_through_json() {
        let spec = FrameSpec::unnormalized(224, 224, 3);
        let json = serde_json::to_string(&spec).unwrap();
        assert_eq!(serde_json::from_str::<FrameSpec>(&json).unwrap(), spec);
    }
}
