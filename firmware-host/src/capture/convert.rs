//! Camera pixel formats to interleaved RGB8, the input of `mmv_runtime::frames::preprocess_rgb8`.
//!
//! This is the one place that converts; the runtime is growing its own conversions
//! (YUYV/NV12/I420/MJPEG -> RGB), and when they land [`to_rgb8`] becomes a thin call to them.
//! YUV uses BT.601 limited range (16-235 luma), what UVC cameras and Y4M files carry; JPEG
//! decoding (full-range JFIF) is the `image` crate's pure-Rust decoder.

use super::{Frame, PixelFormat};

/// A frame that cannot be converted.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConvertError {
    #[error("{format:?} frame {width}x{height} needs {expected} bytes, got {actual}")]
    Length {
        format: PixelFormat,
        width: u32,
        height: u32,
        expected: usize,
        actual: usize,
    },
    #[error("{format:?} frame has an odd width {width} (chroma is shared by pixel pairs)")]
    OddWidth { format: PixelFormat, width: u32 },
    #[error("JPEG: {0}")]
    Jpeg(String),
    #[error("frame size {width}x{height} is zero or too large")]
    Size { width: u32, height: u32 },
}

/// Largest frame accepted (8K UHD), so a corrupt header cannot ask for gigabytes.
const MAX_PIXELS: u64 = 7680 * 4320;

/// Converts `frame` into `out` (resized as needed) as RGB8; returns (width, height).
pub fn to_rgb8(frame: &Frame, out: &mut Vec<u8>) -> Result<(u32, u32), ConvertError> {
    let (w, h) = (frame.width, frame.height);
    if frame.format == PixelFormat::Mjpeg {
        return decode_jpeg(&frame.data, out);
    }
    let pixels = u64::from(w) * u64::from(h);
    if pixels == 0 || pixels > MAX_PIXELS {
        return Err(ConvertError::Size {
            width: w,
            height: h,
        });
    }
    let (wu, hu) = (w as usize, h as usize);
    let n = wu * hu;
    let expected = match frame.format {
        PixelFormat::Rgb8 => n * 3,
        PixelFormat::Gray8 => n,
        PixelFormat::Yuyv => n * 2,
        PixelFormat::I420 => n + 2 * (wu.div_ceil(2) * hu.div_ceil(2)),
        PixelFormat::Mjpeg => return decode_jpeg(&frame.data, out),
    };
    if frame.data.len() != expected {
        return Err(ConvertError::Length {
            format: frame.format,
            width: w,
            height: h,
            expected,
            actual: frame.data.len(),
        });
    }
    out.clear();
    out.reserve(n * 3);
    let d = &frame.data;
    match frame.format {
        PixelFormat::Rgb8 => out.extend_from_slice(d),
        PixelFormat::Gray8 => {
            for &g in d {
                out.extend_from_slice(&[g, g, g]);
            }
        }
        PixelFormat::Yuyv => {
            if !wu.is_multiple_of(2) {
                return Err(ConvertError::OddWidth {
                    format: frame.format,
                    width: w,
                });
            }
            for q in d.chunks_exact(4) {
                let (y0, u, y1, v) = (q[0], q[1], q[2], q[3]);
                out.extend_from_slice(&yuv_to_rgb(y0, u, v));
                out.extend_from_slice(&yuv_to_rgb(y1, u, v));
            }
        }
        PixelFormat::I420 => {
            let cw = wu.div_ceil(2);
            let ch = hu.div_ceil(2);
            let (yp, rest) = d.split_at(n);
            let (up, vp) = rest.split_at(cw * ch);
            for row in 0..hu {
                for col in 0..wu {
                    let c = (row / 2) * cw + col / 2;
                    out.extend_from_slice(&yuv_to_rgb(yp[row * wu + col], up[c], vp[c]));
                }
            }
        }
        PixelFormat::Mjpeg => return decode_jpeg(&frame.data, out),
    }
    Ok((w, h))
}

/// BT.601 limited range, integer arithmetic (the usual 8-bit fixed-point coefficients).
pub fn yuv_to_rgb(y: u8, u: u8, v: u8) -> [u8; 3] {
    let c = i32::from(y) - 16;
    let d = i32::from(u) - 128;
    let e = i32::from(v) - 128;
    let clamp = |x: i32| ((x + 128) >> 8).clamp(0, 255) as u8;
    [
        clamp(298 * c + 409 * e),
        clamp(298 * c - 100 * d - 208 * e),
        clamp(298 * c + 516 * d),
    ]
}

/// Decodes one JPEG into RGB8.
pub fn decode_jpeg(jpeg: &[u8], out: &mut Vec<u8>) -> Result<(u32, u32), ConvertError> {
    let img = image::load_from_memory_with_format(jpeg, image::ImageFormat::Jpeg)
        .map_err(|e| ConvertError::Jpeg(e.to_string()))?;
    let (w, h) = (img.width(), img.height());
    if u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(ConvertError::Size {
            width: w,
            height: h,
        });
    }
    let rgb = img.into_rgb8();
    out.clear();
    out.extend_from_slice(rgb.as_raw());
    Ok((w, h))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn frame(format: PixelFormat, width: u32, height: u32, data: Vec<u8>) -> Frame {
        Frame {
            seq: 0,
            epoch: 0,
            pts: Duration::ZERO,
            captured: Instant::now(),
            width,
            height,
            format,
            data,
        }
    }

    #[test]
    fn yuv_reference_colours() {
        assert_eq!(yuv_to_rgb(16, 128, 128), [0, 0, 0]);
        assert_eq!(yuv_to_rgb(235, 128, 128), [255, 255, 255]);
        // BT.601 limited-range red, green and blue (from 255,0,0 etc.), within rounding.
        let close = |a: [u8; 3], b: [u8; 3]| a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= 2);
        assert!(close(yuv_to_rgb(81, 90, 240), [255, 0, 0]));
        assert!(close(yuv_to_rgb(145, 54, 34), [0, 255, 0]));
        assert!(close(yuv_to_rgb(41, 240, 110), [0, 0, 255]));
    }

    #[test]
    fn yuyv_and_i420_agree_on_a_flat_frame() {
        let (w, h) = (4u32, 2u32);
        let yuyv = frame(PixelFormat::Yuyv, w, h, [81, 90, 81, 240].repeat(4));
        let mut i420 = vec![81u8; 8];
        i420.extend_from_slice(&[90, 90, 240, 240]);
        let i420 = frame(PixelFormat::I420, w, h, i420);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        assert_eq!(to_rgb8(&yuyv, &mut a), Ok((4, 2)));
        assert_eq!(to_rgb8(&i420, &mut b), Ok((4, 2)));
        assert_eq!(a, b);
        assert_eq!(a.len(), 24);
        assert!(a[0] > 250 && a[1] < 3 && a[2] < 3, "red: {:?}", &a[..3]);
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let mut out = Vec::new();
        let short = frame(PixelFormat::Yuyv, 4, 2, vec![0; 15]);
        assert!(matches!(
            to_rgb8(&short, &mut out),
            Err(ConvertError::Length { expected: 16, .. })
        ));
        let odd = frame(PixelFormat::Yuyv, 3, 2, vec![0; 12]);
        assert!(matches!(
            to_rgb8(&odd, &mut out),
            Err(ConvertError::OddWidth { .. })
        ));
        let zero = frame(PixelFormat::Rgb8, 0, 2, vec![]);
        assert!(matches!(
            to_rgb8(&zero, &mut out),
            Err(ConvertError::Size { .. })
        ));
        let jpeg = frame(PixelFormat::Mjpeg, 4, 2, vec![0xFF, 0xD8, 0xFF, 0xD9]);
        assert!(matches!(
            to_rgb8(&jpeg, &mut out),
            Err(ConvertError::Jpeg(_))
        ));
    }

    #[test]
    fn jpeg_round_trip() {
        let img = image::RgbImage::from_fn(16, 8, |x, _| image::Rgb([(x * 16) as u8, 100, 50]));
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 95)
            .encode_image(&img)
            .expect("encode");
        let mut out = Vec::new();
        assert_eq!(decode_jpeg(&jpeg, &mut out), Ok((16, 8)));
        let err: i32 = out
            .iter()
            .zip(img.as_raw())
            .map(|(a, b)| (i32::from(*a) - i32::from(*b)).abs())
            .max()
            .unwrap_or(0);
        assert!(err < 12, "max error {err}");
    }
}
