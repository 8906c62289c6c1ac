//! Video-frame preprocessing shared by training and inference.
//!
//! A decoded 8-bit frame (RGB or grey, row-major, interleaved) or a camera
//! frame becomes the vision tower's input in four steps:
//! 1. resize, keeping the aspect ratio, so the frame just covers the target
//!    (the short side matches), with a bilinear (triangle) filter — widened
//!    when shrinking so it averages instead of aliasing, as PIL's `BILINEAR`;
//! 2. centre-crop to `height × width` (1 and 2 are one pass of a SIMD resizer
//!    over a source box: [`FramePreprocessor`], module `resize`);
//! 3. convert the model-size pixels to the model's channel count (RGB → grey
//!    with BT.601 luma weights 0.299/0.587/0.114; grey → RGB by replication;
//!    for grey models the Y plane of YUYV / NV12 / I420 is the grey image) and
//!    scale to [0, 1];
//! 4. normalise each channel `(x - mean) / std` and lay out CHW.
//!
//! Colour work after resizing is exact for RGB → grey (it is linear); the
//! 8-bit resizer output differs from the f32 [`reference`] by at most 1.1/255,
//! and the Y-plane grey is the luma of the YUV → RGB conversion, so both paths
//! of a camera frame give a grey model the same image (bounds in the tests).
//! Training, the runtime's pipeline and the board daemon all call these
//! functions, so they feed the model identically.
//!
//! Frames that arrive in a camera's format (YUYV, NV12, I420, MJPEG) go through
//! [`preprocess_camera`], or are converted to RGB8 by [`to_rgb8`] ([`camera`]);
//! still images and thumbnails are decoded and encoded by [`codec`]. Readers hand out a
//! [`Picture`] (`picture`): camera formats stay in their format until something needs colour
//! (thumbnails, the overlay), and [`preprocess_picture`] feeds either kind to the model.

mod camera;
mod codec;
mod framing;
mod picture;
pub mod reference;
mod resize;

pub use camera::{
    PixelFormat, YuvLayout, YuvRange, rgb_to_yuv, to_rgb8, to_rgb8_into, yuv_planar_to_rgb8,
};
pub use codec::{RgbFrame, decode_image, decode_jpeg, encode_jpeg, thumbnail_jpeg};
pub use framing::StillFraming;
pub use picture::{CameraFrame, Picture};
pub use resize::FramePreprocessor;

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

thread_local! {
    /// One front end per thread, so the `preprocess_*` functions allocate nothing per frame.
    static PREPROCESSOR: std::cell::RefCell<FramePreprocessor> =
        std::cell::RefCell::new(FramePreprocessor::new());
}

fn with_preprocessor<R>(f: impl FnOnce(&mut FramePreprocessor) -> R) -> R {
    PREPROCESSOR.with(|p| f(&mut p.borrow_mut()))
}

/// Preprocesses an interleaved RGB8 frame (`width * height * 3` bytes) into
/// a CHW f32 tensor of `spec.output_len()` values.
pub fn preprocess_rgb8(
    rgb: &[u8],
    width: usize,
    height: usize,
    spec: &FrameSpec,
) -> Result<Vec<f32>, FrameError> {
    let mut out = Vec::new();
    preprocess_rgb8_into(rgb, width, height, spec, &mut out)?;
    Ok(out)
}

/// [`preprocess_rgb8`] into a caller's buffer (resized to `spec.output_len()`).
pub fn preprocess_rgb8_into(
    rgb: &[u8],
    width: usize,
    height: usize,
    spec: &FrameSpec,
    out: &mut Vec<f32>,
) -> Result<(), FrameError> {
    with_preprocessor(|p| p.rgb8(rgb, width, height, spec, out))
}

/// Preprocesses a grey8 frame (`width * height` bytes) into a CHW f32 tensor
/// of `spec.output_len()` values (replicated to 3 channels for RGB specs).
pub fn preprocess_gray8(
    gray: &[u8],
    width: usize,
    height: usize,
    spec: &FrameSpec,
) -> Result<Vec<f32>, FrameError> {
    let mut out = Vec::new();
    preprocess_gray8_into(gray, width, height, spec, &mut out)?;
    Ok(out)
}

/// [`preprocess_gray8`] into a caller's buffer (resized to `spec.output_len()`).
pub fn preprocess_gray8_into(
    gray: &[u8],
    width: usize,
    height: usize,
    spec: &FrameSpec,
    out: &mut Vec<f32>,
) -> Result<(), FrameError> {
    with_preprocessor(|p| p.gray8(gray, width, height, spec, out))
}

/// Preprocesses a frame in a camera's format (see [`FramePreprocessor::camera`]: grey models
/// read the Y plane of YUV formats, no RGB) into a CHW f32 tensor of `spec.output_len()`.
pub fn preprocess_camera(
    format: PixelFormat,
    data: &[u8],
    width: usize,
    height: usize,
    spec: &FrameSpec,
) -> Result<Vec<f32>, FrameError> {
    let mut out = Vec::new();
    preprocess_camera_into(format, data, width, height, spec, &mut out)?;
    Ok(out)
}

/// [`preprocess_camera`] into a caller's buffer (resized to `spec.output_len()`).
pub fn preprocess_camera_into(
    format: PixelFormat,
    data: &[u8],
    width: usize,
    height: usize,
    spec: &FrameSpec,
    out: &mut Vec<f32>,
) -> Result<(), FrameError> {
    with_preprocessor(|p| p.camera(format, data, width, height, spec, out))
}

/// Preprocesses a [`Picture`] (see [`FramePreprocessor::picture`]: RGB as [`preprocess_rgb8`],
/// camera formats as [`preprocess_camera`]) into a CHW f32 tensor of `spec.output_len()`.
pub fn preprocess_picture(picture: &Picture, spec: &FrameSpec) -> Result<Vec<f32>, FrameError> {
    let mut out = Vec::new();
    preprocess_picture_into(picture, spec, &mut out)?;
    Ok(out)
}

/// [`preprocess_picture`] into a caller's buffer (resized to `spec.output_len()`).
pub fn preprocess_picture_into(
    picture: &Picture,
    spec: &FrameSpec,
    out: &mut Vec<f32>,
) -> Result<(), FrameError> {
    with_preprocessor(|p| p.picture(picture, spec, out))
}

/// An 8-bit full-range value in [0, 1].
pub(crate) fn unit(v: u8) -> f32 {
    f32::from(v) / 255.0
}

/// BT.601 luma (weights 0.299 / 0.587 / 0.114) of a full-range RGB8 pixel, in [0, 1].
pub(crate) fn luma(rgb: [u8; 3]) -> f32 {
    let [r, g, b] = rgb.map(unit);
    0.299 * r + 0.587 * g + 0.114 * b
}

/// Validates spec, sizes and buffer length; returns the size as u32s.
pub(crate) fn check_input(
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

#[cfg(test)]
mod tests {

    /// The front end keeps buffers per thread; what came before must never show in a result
    /// (training samples are a pure function of their index, whatever the thread did before).
    #[test]
    fn a_frame_preprocesses_the_same_whatever_came_before() {
        let spec = FrameSpec {
            width: 32,
            height: 32,
            channels: 1,
            mean: vec![0.5],
            std: vec![0.25],
        };
        let frame = |w: usize, h: usize, k: usize| -> Vec<u8> {
            (0..w * h).map(|i| ((i * 7 + k * 13) % 251) as u8).collect()
        };
        let a = frame(64, 64, 1);
        let first = preprocess_gray8(&a, 64, 64, &spec).unwrap();
        // Another size, another format, another spec on the same thread.
        preprocess_gray8(&frame(100, 40, 2), 100, 40, &spec).unwrap();
        preprocess_rgb8(&frame(30, 50, 3).repeat(3), 30, 50, &spec).unwrap();
        let rgb_spec = FrameSpec {
            channels: 3,
            mean: vec![0.5; 3],
            std: vec![0.25; 3],
            ..spec.clone()
        };
        preprocess_gray8(&a, 64, 64, &rgb_spec).unwrap();
        assert_eq!(preprocess_gray8(&a, 64, 64, &spec).unwrap(), first);
        // And on another thread.
        let other = std::thread::spawn(move || preprocess_gray8(&a, 64, 64, &spec).unwrap());
        assert_eq!(other.join().unwrap(), first);
    }
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

    /// A natural-like RGB frame: smooth gradients, a few hard-edged shapes, sensor noise.
    fn scene(w: usize, h: usize, seed: u32) -> Vec<u8> {
        scene_with(w, h, seed, true)
    }

    /// [`scene`] with or without its hard-edged shapes (without: smooth colour everywhere).
    fn scene_with(w: usize, h: usize, seed: u32, shapes: bool) -> Vec<u8> {
        let mut state = seed.wrapping_mul(2_654_435_761).max(1);
        let mut noise = move || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state % 9) as i32 - 4
        };
        let mut rgb = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            for x in 0..w {
                let (fx, fy) = (x as f32 / w as f32, y as f32 / h as f32);
                let disc = shapes && (fx - 0.4).powi(2) + (fy - 0.5).powi(2) < 0.04;
                let bar = shapes && (x / (w / 8).max(1)).is_multiple_of(2) && fy > 0.7;
                let base = [
                    40.0 + 160.0 * fx,
                    30.0 + 180.0 * fy,
                    200.0 - 150.0 * fx * fy,
                ];
                for (c, b) in base.into_iter().enumerate() {
                    let v = if disc {
                        [230.0, 200.0, 40.0][c]
                    } else if bar {
                        [20.0, 30.0, 60.0][c]
                    } else {
                        b
                    };
                    rgb.push((v as i32 + noise()).clamp(0, 255) as u8);
                }
            }
        }
        rgb
    }

    fn max_diff(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    /// The 8-bit SIMD path against the f32 reference, in [0, 1] units: the resizer rounds to
    /// bytes twice (after its horizontal pass and after its vertical one), at most half a step
    /// each, and the first error passes the vertical filter at most unchanged (triangle
    /// weights are non-negative and sum to 1): 1 step. Its i16 fixed-point weights keep at
    /// least 14 significant bits of the largest weight (for shrink factors below 128), which
    /// moves an output by at most ~0.03 step per pass. Equal 8-bit pixels then give bit-equal
    /// values (same `unit`, luma and normalisation arithmetic). Measured worst: 1.000 step.
    const TOLERANCE: f32 = 1.1 / 255.0;

    #[test]
    fn simd_path_agrees_with_the_f32_reference() {
        let sizes = [(640, 480), (320, 240), (64, 48), (33, 17), (8, 6)];
        let specs = [(32, 32, 1), (24, 24, 3), (48, 40, 1), (224, 224, 3)];
        for (i, &(w, h)) in sizes.iter().enumerate() {
            let rgb = scene(w, h, i as u32 + 1);
            let gray: Vec<u8> = rgb
                .chunks_exact(3)
                .map(|p| {
                    (0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]))
                        as u8
                })
                .collect();
            for &(oh, ow, c) in &specs {
                let spec = FrameSpec::unnormalized(oh, ow, c);
                let new = preprocess_rgb8(&rgb, w, h, &spec).unwrap();
                let old = reference::preprocess_rgb8(&rgb, w, h, &spec).unwrap();
                let d = max_diff(&new, &old);
                assert!(d <= TOLERANCE, "rgb {w}x{h} -> {ow}x{oh}x{c}: {d}");
                let new = preprocess_gray8(&gray, w, h, &spec).unwrap();
                let old = reference::preprocess_gray8(&gray, w, h, &spec).unwrap();
                let d = max_diff(&new, &old);
                assert!(d <= TOLERANCE, "grey {w}x{h} -> {ow}x{oh}x{c}: {d}");
            }
        }
        // Normalisation is applied after resizing: the bound scales by 1 / std.
        let spec = FrameSpec {
            height: 32,
            width: 32,
            channels: 1,
            mean: vec![0.45],
            std: vec![0.25],
        };
        let rgb = scene(640, 480, 9);
        let d = max_diff(
            &preprocess_rgb8(&rgb, 640, 480, &spec).unwrap(),
            &reference::preprocess_rgb8(&rgb, 640, 480, &spec).unwrap(),
        );
        assert!(d <= TOLERANCE / 0.25, "{d}");
    }

    /// Packs an RGB frame as YUYV, NV12 and I420 (limited-range BT.601, chroma averaged).
    fn yuv_frames(rgb: &[u8], w: usize, h: usize) -> Vec<(PixelFormat, Vec<u8>)> {
        let yuv: Vec<[u8; 3]> = rgb
            .chunks_exact(3)
            .map(|p| rgb_to_yuv([p[0], p[1], p[2]]))
            .collect();
        let y: Vec<u8> = yuv.iter().map(|p| p[0]).collect();
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let mut u = Vec::with_capacity(cw * ch);
        let mut v = Vec::with_capacity(cw * ch);
        for cy in 0..ch {
            for cx in 0..cw {
                let px = yuv[(cy * 2).min(h - 1) * w + (cx * 2).min(w - 1)];
                u.push(px[1]);
                v.push(px[2]);
            }
        }
        let mut yuyv = Vec::with_capacity(w * h * 2);
        for row in 0..h {
            for pair in 0..w / 2 {
                let (a, b) = (yuv[row * w + 2 * pair], yuv[row * w + 2 * pair + 1]);
                let c = (row / 2) * cw + pair;
                yuyv.extend_from_slice(&[a[0], u[c], b[0], v[c]]);
            }
        }
        let i420 = [y.clone(), u.clone(), v.clone()].concat();
        let uv: Vec<u8> = u.iter().zip(&v).flat_map(|(a, b)| [*a, *b]).collect();
        let nv12 = [y, uv].concat();
        vec![
            (PixelFormat::Yuyv, yuyv),
            (PixelFormat::Nv12, nv12),
            (PixelFormat::I420, i420),
        ]
    }

    /// Gain of the limited-range luma over the 8-bit Y step (`camera::limited_luma_unit`).
    const Y_GAIN: f32 = 298.0 / 256.0;

    /// The luma that [`camera::limited_luma_unit`] defines, without its clamp (inactive for
    /// Y in 16..=235), applied to f32 values of Y in [0, 1] units.
    fn limited_luma_of_unit_y(y: f32) -> f32 {
        (y * 255.0 - 16.0) * Y_GAIN / 255.0
    }

    #[test]
    fn y_plane_is_the_grey_image_of_camera_frames() {
        let spec = FrameSpec::unnormalized(32, 32, 1);
        let rgb_spec = FrameSpec::unnormalized(24, 24, 3);
        for (w, h) in [(640, 480), (64, 48), (34, 20)] {
            let rgb = scene(w, h, 3);
            for (format, data) in yuv_frames(&rgb, w, h) {
                // The Y path against the f32 reference resize of the same luma: the luma is
                // affine in Y, so it commutes with the (normalised) resize; only the resizer
                // differs, and its 8-bit error in Y is scaled by the gain.
                let y_plane: Vec<u8> = match format {
                    PixelFormat::Yuyv => data.iter().step_by(2).copied().collect(),
                    _ => data[..w * h].to_vec(),
                };
                let exact: Vec<f32> = reference::preprocess_gray8(&y_plane, w, h, &spec)
                    .unwrap()
                    .into_iter()
                    .map(limited_luma_of_unit_y)
                    .collect();
                let new = preprocess_camera(format, &data, w, h, &spec).unwrap();
                let d = max_diff(&new, &exact);
                assert!(
                    d <= TOLERANCE * Y_GAIN + 1e-6,
                    "{} {w}x{h}: {d}",
                    format.name()
                );
                // RGB models still see colour (through RGB8): the RGB8 path's tolerance.
                let via_rgb = to_rgb8(format, &data, w, h).unwrap();
                let new = preprocess_camera(format, &data, w, h, &rgb_spec).unwrap();
                let old = reference::preprocess_rgb8(&via_rgb, w, h, &rgb_spec).unwrap();
                let d = max_diff(&new, &old);
                assert!(d <= TOLERANCE, "{} {w}x{h} rgb: {d}", format.name());
            }
        }
        // Against the old path (camera frame -> RGB8 -> BT.601 grey, f32 reference): the same
        // luma by design, so where no R, G or B clips the grey of the RGB8 pixels is the Y
        // path's grey within 0.64 step (camera.rs's exhaustive test); plus the resizer's
        // bound. A frame with smooth colour (no chroma edge for 4:2:0 / 4:2:2 subsampling to
        // push out of gamut) clips nowhere. (At hard colour edges, as in `scene`, the RGB path
        // clips and loses luma that the Y plane keeps: up to 12 steps on an 8x6 frame.)
        for (w, h) in [(640, 480), (64, 48), (34, 20)] {
            let rgb = scene_with(w, h, 7, false);
            for (format, data) in yuv_frames(&rgb, w, h) {
                let via_rgb = to_rgb8(format, &data, w, h).unwrap();
                let old = reference::preprocess_rgb8(&via_rgb, w, h, &spec).unwrap();
                let new = preprocess_camera(format, &data, w, h, &spec).unwrap();
                let d = max_diff(&new, &old);
                let bound = TOLERANCE * Y_GAIN + 0.64 / 255.0 + 1e-6;
                assert!(d <= bound, "{} {w}x{h} via RGB: {d}", format.name());
            }
        }
        let rgb = scene(16, 8, 4);
        assert_eq!(
            preprocess_camera(PixelFormat::Rgb24, &rgb, 16, 8, &spec).unwrap(),
            preprocess_rgb8(&rgb, 16, 8, &spec).unwrap()
        );
        assert!(matches!(
            preprocess_camera(PixelFormat::Yuyv, &[0; 30], 5, 3, &spec),
            Err(FrameError::OddWidth { .. })
        ));
        assert!(matches!(
            preprocess_camera(PixelFormat::Nv12, &[0; 10], 4, 4, &spec),
            Err(FrameError::FormatLength { expected: 24, .. })
        ));
    }

    #[test]
    fn training_and_runtime_share_one_front_end() {
        // Training renders grey canvases and calls preprocess_gray8 (training/src/data,
        // synthetic.rs); the runtime feeds RGB frames (pipeline) and the daemon camera frames.
        // A grey canvas gives the same tensor through all three entry points.
        let spec = FrameSpec::unnormalized(32, 32, 1);
        let (w, h) = (96, 96);
        let gray: Vec<u8> = scene(w, h, 5).chunks_exact(3).map(|p| p[1]).collect();
        let rgb: Vec<u8> = gray.iter().flat_map(|&v| [v, v, v]).collect();
        let training = preprocess_gray8(&gray, w, h, &spec).unwrap();
        let runtime = preprocess_rgb8(&rgb, w, h, &spec).unwrap();
        let camera = preprocess_camera(PixelFormat::Gray8, &gray, w, h, &spec).unwrap();
        assert_eq!(training, camera);
        // Grey RGB: the luma weights sum to 1, up to f32 rounding.
        assert!(max_diff(&training, &runtime) < 1e-6);
        let old = reference::preprocess_gray8(&gray, w, h, &spec).unwrap();
        assert!(max_diff(&training, &old) <= TOLERANCE);
    }

    #[test]
    fn a_reused_preprocessor_keeps_its_buffers() {
        let spec = FrameSpec::unnormalized(32, 32, 1);
        let rgb = scene(640, 480, 6);
        let mut p = FramePreprocessor::new();
        let mut out = Vec::new();
        p.rgb8(&rgb, 640, 480, &spec, &mut out).unwrap();
        let first = out.clone();
        let ptr = out.as_ptr();
        for _ in 0..3 {
            p.rgb8(&rgb, 640, 480, &spec, &mut out).unwrap();
            assert_eq!(out.as_ptr(), ptr, "the output buffer was reallocated");
            assert_eq!(out, first);
        }
    }

    #[test]
    fn spec_roundtrips_through_json() {
        let spec = FrameSpec::unnormalized(224, 224, 3);
        let json = serde_json::to_string(&spec).unwrap();
        assert_eq!(serde_json::from_str::<FrameSpec>(&json).unwrap(), spec);
    }
}
