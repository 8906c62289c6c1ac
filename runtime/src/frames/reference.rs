//! The reference frame front end: resize in f32 with the `image` crate's triangle filter, then
//! crop and normalise, exactly as the runtime did up to bundle 1.1.0 (and as training did while
//! that bundle was trained). The product path is [`super::FramePreprocessor`]; this one stays
//! for the agreement tests and as the baseline of the preprocessing benches.

use image::imageops::{self, FilterType};
use image::{ImageBuffer, Luma, Pixel, Rgb};

use super::{FrameError, FrameSpec, check_input, luma, unit};

/// Reference: preprocesses an interleaved RGB8 frame (`width * height * 3` bytes) into
/// a CHW f32 tensor of `spec.output_len()` values.
pub fn preprocess_rgb8(
    rgb: &[u8],
    width: usize,
    height: usize,
    spec: &FrameSpec,
) -> Result<Vec<f32>, FrameError> {
    let (w, h) = check_input(rgb, width, height, 3, spec)?;
    if spec.channels == 1 {
        let grey = rgb
            .chunks_exact(3)
            .map(|p| luma([p[0], p[1], p[2]]))
            .collect();
        Ok(finish::<Luma<f32>>(to_image(w, h, grey), spec))
    } else {
        let values = rgb.iter().copied().map(unit).collect();
        Ok(finish::<Rgb<f32>>(to_image(w, h, values), spec))
    }
}

/// Reference: preprocesses a grey8 frame (`width * height` bytes) into a CHW f32 tensor
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
