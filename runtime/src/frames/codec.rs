//! Still-image codecs: decoding JPEG (MJPEG frames, query images) and PNG (query images) to
//! RGB8, and encoding the small JPEG thumbnails the search index stores.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::imageops::{self, FilterType};
use image::{ExtendedColorType, ImageFormat, ImageReader, Limits, RgbImage};

use super::FrameError;

/// Largest side accepted when decoding: bigger images are refused before pixels are
/// allocated (a corrupt header can claim 65535x65535).
pub const MAX_DECODE_SIDE: u32 = 16_384;

/// A decoded RGB8 frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RgbFrame {
    pub width: usize,
    pub height: usize,
    /// Interleaved R, G, B bytes, row-major, `width * height * 3` of them.
    pub data: Vec<u8>,
}

/// Decodes one JPEG image (grey, RGB or CMYK) to RGB8.
pub fn decode_jpeg(data: &[u8]) -> Result<RgbFrame, FrameError> {
    decode_as(data, ImageFormat::Jpeg, "MJPEG")
}

/// Decodes a JPEG or PNG file's bytes (told apart by their signatures) to RGB8.
pub fn decode_image(data: &[u8]) -> Result<RgbFrame, FrameError> {
    if data.starts_with(&[0xFF, 0xD8]) {
        decode_as(data, ImageFormat::Jpeg, "JPEG")
    } else if data.starts_with(b"\x89PNG\r\n\x1a\n") {
        decode_as(data, ImageFormat::Png, "PNG")
    } else {
        Err(FrameError::Decode {
            format: "image",
            problem: "neither a JPEG nor a PNG file (unknown signature)".into(),
        })
    }
}

fn decode_as(data: &[u8], format: ImageFormat, name: &'static str) -> Result<RgbFrame, FrameError> {
    let fail = |e: image::ImageError| FrameError::Decode {
        format: name,
        problem: e.to_string(),
    };
    let mut reader = ImageReader::with_format(Cursor::new(data), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_DECODE_SIDE);
    limits.max_image_height = Some(MAX_DECODE_SIDE);
    reader.limits(limits);
    let img = reader.decode().map_err(fail)?.into_rgb8();
    let (w, h) = img.dimensions();
    Ok(RgbFrame {
        width: w as usize,
        height: h as usize,
        data: img.into_raw(),
    })
}

/// Encodes an RGB8 frame as a baseline JPEG at `quality` (1-100).
pub fn encode_jpeg(
    rgb: &[u8],
    width: usize,
    height: usize,
    quality: u8,
) -> Result<Vec<u8>, FrameError> {
    let (w, h) = rgb_size(rgb, width, height)?;
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, quality.clamp(1, 100))
        .encode(rgb, w, h, ExtendedColorType::Rgb8)
        .map_err(|e| FrameError::Encode(e.to_string()))?;
    Ok(out)
}

/// A JPEG thumbnail whose longer side is at most `max_side` pixels (never enlarged).
pub fn thumbnail_jpeg(
    rgb: &[u8],
    width: usize,
    height: usize,
    max_side: usize,
) -> Result<Vec<u8>, FrameError> {
    let (w, h) = rgb_size(rgb, width, height)?;
    let longer = width.max(height);
    if longer <= max_side.max(1) {
        return encode_jpeg(rgb, width, height, 80);
    }
    let scale = max_side.max(1) as f64 / longer as f64;
    let tw = ((f64::from(w) * scale).round() as u32).max(1);
    let th = ((f64::from(h) * scale).round() as u32).max(1);
    let img = RgbImage::from_raw(w, h, rgb.to_vec())
        .unwrap_or_else(|| unreachable!("buffer length checked"));
    let small = imageops::resize(&img, tw, th, FilterType::Triangle);
    encode_jpeg(small.as_raw(), tw as usize, th as usize, 80)
}

/// Checks an RGB8 buffer against its size; returns the size as u32s.
fn rgb_size(rgb: &[u8], width: usize, height: usize) -> Result<(u32, u32), FrameError> {
    if width == 0 || height == 0 {
        return Err(FrameError::ZeroSize { width, height });
    }
    let too_large = || FrameError::TooLarge { width, height };
    let expected = width
        .checked_mul(height)
        .and_then(|n| n.checked_mul(3))
        .ok_or_else(too_large)?;
    if rgb.len() != expected {
        return Err(FrameError::BufferLength {
            expected,
            actual: rgb.len(),
            width,
            height,
            channels: 3,
        });
    }
    // JPEG stores sizes in 16 bits.
    match (u16::try_from(width), u16::try_from(height)) {
        (Ok(w), Ok(h)) => Ok((u32::from(w), u32::from(h))),
        _ => Err(too_large()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(w: usize, h: usize) -> Vec<u8> {
        (0..h)
            .flat_map(|y| (0..w).flat_map(move |x| [(x * 8) as u8, (y * 8) as u8, 128]))
            .collect()
    }

    #[test]
    fn jpeg_round_trip_is_close() {
        let rgb = ramp(32, 24);
        let jpeg = encode_jpeg(&rgb, 32, 24, 95).unwrap();
        let back = decode_jpeg(&jpeg).unwrap();
        assert_eq!((back.width, back.height), (32, 24));
        let err: f64 = rgb
            .iter()
            .zip(&back.data)
            .map(|(a, b)| f64::from(a.abs_diff(*b)))
            .sum::<f64>()
            / rgb.len() as f64;
        assert!(err < 4.0, "mean abs error {err}");
        assert_eq!(decode_image(&jpeg).unwrap(), back);
    }

    #[test]
    fn png_decodes() {
        let rgb = ramp(5, 3);
        let mut png = Vec::new();
        image::ImageEncoder::write_image(
            image::codecs::png::PngEncoder::new(&mut png),
            &rgb,
            5,
            3,
            ExtendedColorType::Rgb8,
        )
        .unwrap();
        let back = decode_image(&png).unwrap();
        assert_eq!(back.data, rgb);
    }

    #[test]
    fn thumbnails_are_small_and_never_enlarged() {
        let rgb = ramp(300, 200);
        let thumb = decode_jpeg(&thumbnail_jpeg(&rgb, 300, 200, 96).unwrap()).unwrap();
        assert_eq!((thumb.width, thumb.height), (96, 64));
        let small = decode_jpeg(&thumbnail_jpeg(&ramp(20, 10), 20, 10, 96).unwrap()).unwrap();
        assert_eq!((small.width, small.height), (20, 10));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bad in [&b""[..], b"\xFF\xD8\xFF", b"\x89PNG\r\n\x1a\nxx", b"GIF89a"] {
            assert!(matches!(decode_image(bad), Err(FrameError::Decode { .. })));
        }
        assert!(matches!(
            encode_jpeg(&[0; 5], 2, 1, 80),
            Err(FrameError::BufferLength { .. })
        ));
        assert!(matches!(
            encode_jpeg(&vec![0; 70_000 * 3], 70_000, 1, 80),
            Err(FrameError::TooLarge { .. })
        ));
    }
}
