//! The frame front end of the product path: resize first, colour work after.
//!
//! A frame goes to the model's size before anything else touches its pixels: a SIMD
//! convolution resizer (`fast_image_resize`, AVX2 / SSE4.1 / NEON picked at run time) reads the
//! 8-bit source once and writes the `width x height` centre crop of the covering resize
//! directly (the crop is a source box, so no full-size intermediate exists). Only then are the
//! few model-size pixels turned into grey or RGB, scaled to [0, 1] and normalised. For a grey
//! model fed by a camera in YUYV, NV12 or I420 the Y plane *is* the grey image: it is resized
//! where it lies in the camera's buffer (YUYV as two-byte pixels whose first byte is Y) and no
//! RGB is ever made.
//!
//! The filter is the same triangle (bilinear) filter as the reference, widened when shrinking
//! so it averages instead of aliasing (PIL's `BILINEAR`), with the same geometry (the covering
//! size rounded to whole pixels, the crop offset rounded down). The differences from the f32
//! reference ([`super::reference`]) are the resizer's two roundings to bytes (after each pass)
//! and its i16 fixed-point weights: at most 1.1 / 255 of the [0, 1] range, 1.000 / 255
//! measured (the tests hold it to that). The colour work after resizing uses the reference's
//! arithmetic, so equal bytes give bit-equal values. YUV sources use the luma definition of
//! the YUV -> RGB conversion (`camera::limited_luma_unit`, `(Y - 16) * 298 / 256`), so the Y
//! path's grey is the grey of the RGB path's pixels (within 0.64 / 255 where no R, G or B
//! clips; at colour edges the RGB path clips, the Y plane does not).
//!
//! A [`FramePreprocessor`] owns the resizer's buffers and the model-size scratch image, so a
//! capture loop that keeps one (or uses the `preprocess_*` functions, which keep one per
//! thread) allocates nothing per frame once the first frame has sized them.

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};

use super::camera::{PixelFormat, check_raw, limited_luma_unit, to_rgb8_into};
use super::{FrameError, FrameSpec, check_input, luma, unit};

/// What the bytes of the model-size scratch image mean.
#[derive(Clone, Copy, Debug)]
enum Small {
    /// Interleaved R, G, B.
    Rgb,
    /// Full-range grey, one byte per pixel: value `v / 255`.
    Grey,
    /// Limited-range BT.601 luma in the first of `stride` bytes per pixel: value
    /// [`limited_luma_unit`], the grey that [`to_rgb8`](super::to_rgb8)'s RGB of the pixel has.
    LimitedY { stride: usize },
}

/// Reusable state of the frame front end: the resizer's buffers, the model-size scratch image
/// and a buffer for frames that must become RGB first (MJPEG, or YUV for RGB models).
#[derive(Debug, Default)]
pub struct FramePreprocessor {
    resizer: Resizer,
    small: Vec<u8>,
    rgb: Vec<u8>,
}

impl FramePreprocessor {
    pub fn new() -> Self {
        Self::default()
    }

    /// An interleaved RGB8 frame (`width * height * 3` bytes) into `out` (resized to
    /// `spec.output_len()`, CHW).
    pub fn rgb8(
        &mut self,
        rgb: &[u8],
        width: usize,
        height: usize,
        spec: &FrameSpec,
        out: &mut Vec<f32>,
    ) -> Result<(), FrameError> {
        check_input(rgb, width, height, 3, spec)?;
        self.resize(rgb, width, height, PixelType::U8x3, spec)?;
        self.emit(Small::Rgb, spec, out);
        Ok(())
    }

    /// A grey8 frame (`width * height` bytes, full range) into `out`.
    pub fn gray8(
        &mut self,
        gray: &[u8],
        width: usize,
        height: usize,
        spec: &FrameSpec,
        out: &mut Vec<f32>,
    ) -> Result<(), FrameError> {
        check_input(gray, width, height, 1, spec)?;
        self.resize(gray, width, height, PixelType::U8, spec)?;
        self.emit(Small::Grey, spec, out);
        Ok(())
    }

    /// A frame in a camera's format into `out`. Grey models read the Y plane of YUYV, NV12
    /// and I420 (limited-range BT.601) directly; RGB models and MJPEG go through RGB8
    /// ([`to_rgb8_into`], into a buffer kept here).
    pub fn camera(
        &mut self,
        format: PixelFormat,
        data: &[u8],
        width: usize,
        height: usize,
        spec: &FrameSpec,
        out: &mut Vec<f32>,
    ) -> Result<(), FrameError> {
        match format {
            PixelFormat::Rgb24 => return self.rgb8(data, width, height, spec, out),
            PixelFormat::Gray8 => return self.gray8(data, width, height, spec, out),
            PixelFormat::Yuyv | PixelFormat::Nv12 | PixelFormat::I420 if spec.channels == 1 => {
                spec.validate()?;
                if width == 0 || height == 0 {
                    return Err(FrameError::ZeroSize { width, height });
                }
                check_raw(format, data, width, height)?;
                let small = if format == PixelFormat::Yuyv {
                    // Y0 U Y1 V: two-byte pixels (Y, U) and (Y, V); only byte 0 is used.
                    self.resize(data, width, height, PixelType::U8x2, spec)?;
                    Small::LimitedY { stride: 2 }
                } else {
                    self.resize(&data[..width * height], width, height, PixelType::U8, spec)?;
                    Small::LimitedY { stride: 1 }
                };
                self.emit(small, spec, out);
                return Ok(());
            }
            _ => {}
        }
        let mut rgb = std::mem::take(&mut self.rgb);
        let done = to_rgb8_into(format, data, width, height, &mut rgb)
            .and_then(|()| self.rgb8(&rgb, width, height, spec, out));
        self.rgb = rgb;
        done
    }

    /// Resizes the centre crop of the covering resize of `src` into `self.small`.
    fn resize(
        &mut self,
        src: &[u8],
        width: usize,
        height: usize,
        pixel: PixelType,
        spec: &FrameSpec,
    ) -> Result<(), FrameError> {
        let fail = |problem: String| FrameError::Decode {
            format: "resize",
            problem,
        };
        // Sizes were checked to fit u32 (check_input / frame_len and spec.validate).
        let (w, h) = (
            u32::try_from(width).map_err(|_| FrameError::TooLarge { width, height })?,
            u32::try_from(height).map_err(|_| FrameError::TooLarge { width, height })?,
        );
        let (out_w, out_h) = (spec.width as u32, spec.height as u32);
        let src = ImageRef::new(w, h, src, pixel).map_err(|e| fail(e.to_string()))?;
        self.small.clear();
        self.small
            .resize(spec.width * spec.height * pixel.size(), 0);
        let mut dst = Image::from_slice_u8(out_w, out_h, &mut self.small, pixel)
            .map_err(|e| fail(e.to_string()))?;
        let (left, top, cw, ch) = crop_box(width, height, spec);
        // No channel is alpha: U8x2 is YUYV's (Y, U) / (Y, V) pairs, which the resizer would
        // otherwise read as grey + alpha and premultiply (Y scaled by chroma).
        let options = ResizeOptions::new()
            .resize_alg(ResizeAlg::Convolution(FilterType::Bilinear))
            .crop(left, top, cw, ch)
            .use_alpha(false);
        self.resizer
            .resize(&src, &mut dst, &options)
            .map_err(|e| fail(e.to_string()))
    }

    /// The model-size scratch image, converted, scaled and normalised into CHW `out`, with the
    /// reference's arithmetic (`unit`, the BT.601 weights on unit values, `(x - mean) / std`
    /// as a multiplication by `1 / std`), so equal 8-bit pixels give bit-equal values.
    fn emit(&self, small: Small, spec: &FrameSpec, out: &mut Vec<f32>) {
        let plane = spec.width * spec.height;
        out.clear();
        out.resize(spec.output_len(), 0.0);
        let norm = |c: usize| (spec.mean[c], 1.0 / spec.std[c]);
        let (grey, stride): (fn(u8) -> f32, usize) = match small {
            Small::Rgb if spec.channels == 1 => {
                let (mean, inv_std) = norm(0);
                for (o, p) in out.iter_mut().zip(self.small.chunks_exact(3)) {
                    *o = (luma([p[0], p[1], p[2]]) - mean) * inv_std;
                }
                return;
            }
            Small::Rgb => {
                for (c, dst) in out.chunks_exact_mut(plane).enumerate() {
                    let (mean, inv_std) = norm(c);
                    for (o, p) in dst.iter_mut().zip(self.small.chunks_exact(3)) {
                        *o = (unit(p[c]) - mean) * inv_std;
                    }
                }
                return;
            }
            Small::Grey => (unit, 1),
            Small::LimitedY { stride } => (limited_luma_unit, stride),
        };
        // Grey feeds every output channel (replication).
        for (c, dst) in out.chunks_exact_mut(plane).enumerate() {
            let (mean, inv_std) = norm(c);
            for (o, p) in dst.iter_mut().zip(self.small.chunks_exact(stride)) {
                *o = (grey(p[0]) - mean) * inv_std;
            }
        }
    }
}

/// The source box (left, top, width, height) that the covering resize + centre crop of the
/// reference maps onto the output: scale so the frame just covers the target (the short side
/// matches, the covering size rounded to whole pixels), crop the overflow evenly (offset
/// rounded down).
fn crop_box(width: usize, height: usize, spec: &FrameSpec) -> (f64, f64, f64, f64) {
    let (w, h) = (width as f64, height as f64);
    let (out_w, out_h) = (spec.width as f64, spec.height as f64);
    let scale = (out_w / w).max(out_h / h);
    let new_w = (w * scale).round().max(out_w);
    let new_h = (h * scale).round().max(out_h);
    let x0 = ((new_w - out_w) / 2.0).floor();
    let y0 = ((new_h - out_h) / 2.0).floor();
    let (sx, sy) = (w / new_w, h / new_h);
    (x0 * sx, y0 * sy, out_w * sx, out_h * sy)
}
