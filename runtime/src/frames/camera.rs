//! Camera pixel formats to RGB8: what V4L2 cameras and video files deliver (packed YUYV,
//! semi-planar NV12, planar I420 and its 4:2:2 / 4:4:4 relatives, MJPEG, grey, RGB) becomes the
//! interleaved RGB8 that [`preprocess_rgb8`](super::preprocess_rgb8) takes.
//!
//! YUV is read as limited-range BT.601 (Y in 16-235, Cb/Cr in 16-240), what webcams, Y4M files
//! and ffmpeg's default `yuv420p` output carry for standard-definition and web video. The
//! conversion is the usual 8-bit fixed-point one (coefficients scaled by 256, as libyuv), so a
//! pixel costs a few integer operations and no tables.
//!
//! Chroma planes of odd-sized 4:2:0 frames are rounded up (`(w + 1) / 2`), as V4L2 and Y4M lay
//! them out. Buffers must hold exactly one frame with no row padding: a V4L2 caller passes
//! `&buf[..bytesused]` of a buffer whose `bytesperline` equals the width.

use super::FrameError;
use super::codec::decode_jpeg;

/// A frame's pixel layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PixelFormat {
    /// Interleaved R, G, B bytes (V4L2 `RGB3`).
    Rgb24,
    /// One luma byte per pixel, full range (V4L2 `GREY`).
    Gray8,
    /// Packed 4:2:2, `Y0 U Y1 V` per two pixels (V4L2 `YUYV`).
    Yuyv,
    /// 4:2:0: the Y plane, then one plane of interleaved U, V (V4L2 `NV12`).
    Nv12,
    /// 4:2:0: the Y plane, then the U plane, then the V plane (V4L2 `YU12`, aka I420).
    I420,
    /// One JPEG image per frame (V4L2 `MJPG`); its size is in the data.
    Mjpeg,
}

impl PixelFormat {
    pub const ALL: [PixelFormat; 6] = [
        Self::Rgb24,
        Self::Gray8,
        Self::Yuyv,
        Self::Nv12,
        Self::I420,
        Self::Mjpeg,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Rgb24 => "RGB24",
            Self::Gray8 => "GRAY8",
            Self::Yuyv => "YUYV",
            Self::Nv12 => "NV12",
            Self::I420 => "I420",
            Self::Mjpeg => "MJPEG",
        }
    }

    /// The V4L2 four-character code.
    pub fn fourcc(self) -> [u8; 4] {
        *match self {
            Self::Rgb24 => b"RGB3",
            Self::Gray8 => b"GREY",
            Self::Yuyv => b"YUYV",
            Self::Nv12 => b"NV12",
            Self::I420 => b"YU12",
            Self::Mjpeg => b"MJPG",
        }
    }

    /// The format of a V4L2 four-character code (`I420` and `JPEG` accepted as aliases).
    pub fn from_fourcc(code: [u8; 4]) -> Option<Self> {
        match &code {
            b"I420" => Some(Self::I420),
            b"JPEG" => Some(Self::Mjpeg),
            _ => Self::ALL.into_iter().find(|f| f.fourcc() == code),
        }
    }

    /// Bytes in one `width x height` frame; None for MJPEG (variable) or on overflow.
    pub fn frame_len(self, width: usize, height: usize) -> Option<usize> {
        let pixels = width.checked_mul(height)?;
        let chroma = width.div_ceil(2).checked_mul(height.div_ceil(2))?;
        match self {
            Self::Rgb24 => pixels.checked_mul(3),
            Self::Gray8 => Some(pixels),
            Self::Yuyv => pixels.checked_mul(2),
            Self::Nv12 | Self::I420 => pixels.checked_add(chroma.checked_mul(2)?),
            Self::Mjpeg => None,
        }
    }
}

/// Converts one frame to interleaved RGB8 (`width * height * 3` bytes).
///
/// For MJPEG, `width` and `height` are the size the camera negotiated; a JPEG of another size
/// is an error ([`FrameError::SizeMismatch`]).
pub fn to_rgb8(
    format: PixelFormat,
    data: &[u8],
    width: usize,
    height: usize,
) -> Result<Vec<u8>, FrameError> {
    let mut out = Vec::new();
    to_rgb8_into(format, data, width, height, &mut out)?;
    Ok(out)
}

/// [`to_rgb8`] into a caller's buffer (cleared first), so a capture loop reuses one allocation.
pub fn to_rgb8_into(
    format: PixelFormat,
    data: &[u8],
    width: usize,
    height: usize,
    out: &mut Vec<u8>,
) -> Result<(), FrameError> {
    out.clear();
    if width == 0 || height == 0 {
        return Err(FrameError::ZeroSize { width, height });
    }
    if format == PixelFormat::Mjpeg {
        let frame = decode_jpeg(data)?;
        if (frame.width, frame.height) != (width, height) {
            return Err(FrameError::SizeMismatch {
                format: format.name(),
                width,
                height,
                actual_width: frame.width,
                actual_height: frame.height,
            });
        }
        *out = frame.data;
        return Ok(());
    }
    check_raw(format, data, width, height)?;
    let pixels = width * height;
    out.reserve(pixels * 3);
    match format {
        PixelFormat::Rgb24 => out.extend_from_slice(data),
        PixelFormat::Gray8 => out.extend(data.iter().flat_map(|&v| [v, v, v])),
        PixelFormat::Yuyv => {
            for quad in data.chunks_exact(4) {
                let (u, v) = (quad[1], quad[3]);
                out.extend_from_slice(&yuv_to_rgb(quad[0], u, v));
                out.extend_from_slice(&yuv_to_rgb(quad[2], u, v));
            }
        }
        PixelFormat::I420 => {
            let (y, chroma) = data.split_at(pixels);
            let (u, v) = chroma.split_at(chroma.len() / 2);
            convert_planar(
                y,
                u,
                v,
                width,
                height,
                YuvLayout::Yuv420,
                YuvRange::Limited,
                out,
            );
        }
        PixelFormat::Nv12 => {
            let (y, uv) = data.split_at(pixels);
            let cw = width.div_ceil(2);
            for row in 0..height {
                let luma = &y[row * width..(row + 1) * width];
                let chroma = &uv[(row / 2) * cw * 2..];
                for (col, &l) in luma.iter().enumerate() {
                    let c = (col / 2) * 2;
                    out.extend_from_slice(&yuv_to_rgb(l, chroma[c], chroma[c + 1]));
                }
            }
        }
        PixelFormat::Mjpeg => unreachable!("handled above"),
    }
    Ok(())
}

/// Checks a raw (not MJPEG) frame's width and length against its format.
pub(crate) fn check_raw(
    format: PixelFormat,
    data: &[u8],
    width: usize,
    height: usize,
) -> Result<(), FrameError> {
    if format == PixelFormat::Yuyv && !width.is_multiple_of(2) {
        return Err(FrameError::OddWidth {
            format: format.name(),
            width,
        });
    }
    let expected = format
        .frame_len(width, height)
        .ok_or(FrameError::TooLarge { width, height })?;
    if data.len() != expected {
        return Err(FrameError::FormatLength {
            format: format.name(),
            expected,
            actual: data.len(),
            width,
            height,
        });
    }
    Ok(())
}

/// Chroma subsampling of a planar YUV frame (Y plane, then U, then V).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum YuvLayout {
    /// Chroma halved in both directions (I420, Y4M `C420*`).
    Yuv420,
    /// Chroma halved horizontally (Y4M `C422`).
    Yuv422,
    /// Full-resolution chroma (Y4M `C444`).
    Yuv444,
}

impl YuvLayout {
    /// (horizontal, vertical) subsampling factors.
    fn factors(self) -> (usize, usize) {
        match self {
            Self::Yuv420 => (2, 2),
            Self::Yuv422 => (2, 1),
            Self::Yuv444 => (1, 1),
        }
    }

    /// Width and height of each chroma plane.
    pub fn chroma_size(self, width: usize, height: usize) -> (usize, usize) {
        let (fx, fy) = self.factors();
        (width.div_ceil(fx), height.div_ceil(fy))
    }

    /// Bytes in one frame (Y + U + V planes); None on overflow.
    pub fn frame_len(self, width: usize, height: usize) -> Option<usize> {
        let (cw, ch) = self.chroma_size(width, height);
        width
            .checked_mul(height)?
            .checked_add(cw.checked_mul(ch)?.checked_mul(2)?)
    }
}

/// The value range of YUV samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum YuvRange {
    /// Y in 16-235, Cb/Cr in 16-240 (video, cameras): the default everywhere.
    Limited,
    /// Y, Cb, Cr in 0-255 (JPEG, ffmpeg's `yuvj*` formats, Y4M `XCOLORRANGE=FULL`).
    Full,
}

/// Converts a planar YUV frame (`layout.frame_len(width, height)` bytes, BT.601 in `range`)
/// to RGB8.
pub fn yuv_planar_to_rgb8(
    data: &[u8],
    width: usize,
    height: usize,
    layout: YuvLayout,
    range: YuvRange,
) -> Result<Vec<u8>, FrameError> {
    if width == 0 || height == 0 {
        return Err(FrameError::ZeroSize { width, height });
    }
    let expected = layout
        .frame_len(width, height)
        .ok_or(FrameError::TooLarge { width, height })?;
    if data.len() != expected {
        return Err(FrameError::FormatLength {
            format: "planar YUV",
            expected,
            actual: data.len(),
            width,
            height,
        });
    }
    let (y, chroma) = data.split_at(width * height);
    let (u, v) = chroma.split_at(chroma.len() / 2);
    let mut out = Vec::with_capacity(width * height * 3);
    convert_planar(y, u, v, width, height, layout, range, &mut out);
    Ok(out)
}

/// One full-range BT.601 (JPEG) pixel to RGB, in 8.8 fixed point with rounding.
#[inline]
fn yuv_full_to_rgb(y: u8, u: u8, v: u8) -> [u8; 3] {
    let c = 256 * i32::from(y);
    let d = i32::from(u) - 128;
    let e = i32::from(v) - 128;
    let clamp = |x: i32| ((x + 128) >> 8).clamp(0, 255) as u8;
    [
        clamp(c + 359 * e),
        clamp(c - 88 * d - 183 * e),
        clamp(c + 454 * d),
    ]
}

/// Appends the RGB of planes already checked to be the right sizes.
#[allow(clippy::too_many_arguments)]
fn convert_planar(
    y: &[u8],
    u: &[u8],
    v: &[u8],
    width: usize,
    height: usize,
    layout: YuvLayout,
    range: YuvRange,
    out: &mut Vec<u8>,
) {
    let yuv_to_rgb = match range {
        YuvRange::Limited => yuv_to_rgb,
        YuvRange::Full => yuv_full_to_rgb,
    };
    let (fx, fy) = layout.factors();
    let (cw, _) = layout.chroma_size(width, height);
    out.reserve(width * height * 3);
    for row in 0..height {
        let luma = &y[row * width..(row + 1) * width];
        let crow = (row / fy) * cw;
        for (col, &l) in luma.iter().enumerate() {
            let c = crow + col / fx;
            out.extend_from_slice(&yuv_to_rgb(l, u[c], v[c]));
        }
    }
}

/// The luma gain of limited-range BT.601 in 8.8 fixed point: 255 / 219 ≈ 298 / 256 (libyuv's).
const LIMITED_Y_GAIN: i32 = 298;

/// The grey value in [0, 1] of a limited-range BT.601 luma sample: `(y - 16) * 298 / 256`
/// in 8-bit units, clamped. This is the luma definition of [`yuv_to_rgb`]: its R, G and B all
/// carry this luma term, and the chroma terms cancel in the BT.601 luma weights up to
/// (0.195 |V - 128| + 0.124 |U - 128|) / 256 of an 8-bit step, so for every pixel whose R, G
/// and B do not clip, `0.299 R + 0.587 G + 0.114 B` of [`to_rgb8`]'s output is this value
/// within 0.64 / 255 (0.5 of that from rounding R, G, B to bytes; exhaustively tested). Grey
/// models reading the Y plane use it, so they see the grey that the RGB path sees.
pub(crate) fn limited_luma_unit(y: u8) -> f32 {
    ((f32::from(y) - 16.0) * (LIMITED_Y_GAIN as f32 / (256.0 * 255.0))).clamp(0.0, 1.0)
}

/// One limited-range BT.601 pixel to RGB, in 8.8 fixed point with rounding.
#[inline]
fn yuv_to_rgb(y: u8, u: u8, v: u8) -> [u8; 3] {
    let c = LIMITED_Y_GAIN * (i32::from(y) - 16);
    let d = i32::from(u) - 128;
    let e = i32::from(v) - 128;
    let clamp = |x: i32| ((x + 128) >> 8).clamp(0, 255) as u8;
    [
        clamp(c + 409 * e),
        clamp(c - 100 * d - 208 * e),
        clamp(c + 516 * d),
    ]
}

/// Limited-range BT.601 Y, Cb, Cr of an RGB pixel: the inverse of the conversion above, for
/// writing YUV (Y4M files) from RGB.
pub fn rgb_to_yuv([r, g, b]: [u8; 3]) -> [u8; 3] {
    let [r, g, b] = [r, g, b].map(|x| f32::from(x) / 255.0);
    let y = 0.299 * r + 0.587 * g + 0.114 * b;
    let cb = (b - y) / 1.772;
    let cr = (r - y) / 1.402;
    [
        (16.0 + 219.0 * y).round() as u8,
        (128.0 + 224.0 * cb).round() as u8,
        (128.0 + 224.0 * cr).round() as u8,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &[u8], b: &[u8], tol: u8) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.abs_diff(*y) <= tol)
    }

    #[test]
    fn y_plane_grey_is_the_luma_of_the_rgb_conversion() {
        // Every limited-range (Y, U, V) whose RGB does not clip: the BT.601 grey of the RGB8
        // pixel is limited_luma_unit(Y) within 0.64 step (see its comment); 0.576 measured.
        let mut worst = 0.0f32;
        for y in 16..=235u8 {
            for u in 16..=240u8 {
                for v in 16..=240u8 {
                    let c = LIMITED_Y_GAIN * (i32::from(y) - 16);
                    let (d, e) = (i32::from(u) - 128, i32::from(v) - 128);
                    let raw = [c + 409 * e, c - 100 * d - 208 * e, c + 516 * d];
                    if raw.iter().any(|&x| !(0..=255).contains(&((x + 128) >> 8))) {
                        continue;
                    }
                    let grey = super::super::luma(yuv_to_rgb(y, u, v));
                    worst = worst.max((grey - limited_luma_unit(y)).abs());
                }
            }
        }
        assert!(worst * 255.0 <= 0.64, "{}", worst * 255.0);
        assert!(worst * 255.0 > 0.5, "the bound is tight: {}", worst * 255.0);
        assert_eq!(limited_luma_unit(16), 0.0);
        assert_eq!(limited_luma_unit(0), 0.0);
        assert_eq!(limited_luma_unit(255), 1.0);
    }

    #[test]
    fn bt601_reference_colours() {
        assert_eq!(yuv_to_rgb(16, 128, 128), [0, 0, 0]);
        assert_eq!(yuv_to_rgb(235, 128, 128), [255, 255, 255]);
        // Out-of-range values clamp instead of wrapping.
        assert_eq!(yuv_to_rgb(0, 128, 128), [0, 0, 0]);
        assert_eq!(yuv_to_rgb(255, 128, 128), [255, 255, 255]);
        for rgb in [
            [255, 0, 0],
            [0, 255, 0],
            [0, 0, 255],
            [200, 120, 40],
            [17, 99, 201],
        ] {
            let [y, u, v] = rgb_to_yuv(rgb);
            assert!(close(&yuv_to_rgb(y, u, v), &rgb, 2), "{rgb:?}");
        }
    }

    /// A 4x2 test image of distinct colours, constant over each 2x2 block so 4:2:0 is exact.
    fn blocks() -> (Vec<[u8; 3]>, usize, usize) {
        let (a, b) = ([200, 30, 60], [20, 180, 90]);
        (vec![a, a, b, b, a, a, b, b], 4, 2)
    }

    #[test]
    fn yuyv_nv12_i420_agree_with_the_source() {
        let (px, w, h) = blocks();
        let want: Vec<u8> = px.iter().flatten().copied().collect();
        let yuv: Vec<[u8; 3]> = px.iter().map(|&p| rgb_to_yuv(p)).collect();
        let luma: Vec<u8> = yuv.iter().map(|p| p[0]).collect();
        // Chroma of the top-left pixel of each 2x2 (or 2x1) block.
        let u420: Vec<u8> = [0, 2].iter().map(|&x| yuv[x][1]).collect();
        let v420: Vec<u8> = [0, 2].iter().map(|&x| yuv[x][2]).collect();

        let mut yuyv = Vec::new();
        for p in yuv.chunks_exact(2) {
            yuyv.extend_from_slice(&[p[0][0], p[0][1], p[1][0], p[0][2]]);
        }
        let mut nv12 = luma.clone();
        for (u, v) in u420.iter().zip(&v420) {
            nv12.extend_from_slice(&[*u, *v]);
        }
        let i420 = [luma.clone(), u420.clone(), v420.clone()].concat();
        for (format, data) in [
            (PixelFormat::Yuyv, yuyv),
            (PixelFormat::Nv12, nv12),
            (PixelFormat::I420, i420.clone()),
        ] {
            let rgb = to_rgb8(format, &data, w, h).unwrap();
            assert!(close(&rgb, &want, 2), "{format:?}: {rgb:?} vs {want:?}");
        }
        assert_eq!(
            yuv_planar_to_rgb8(&i420, w, h, YuvLayout::Yuv420, YuvRange::Limited).unwrap(),
            to_rgb8(PixelFormat::I420, &i420, w, h).unwrap()
        );
        // Full range: Y passes through for grey; a JPEG-range red comes back red.
        let grey = [77u8, 128, 128];
        assert_eq!(
            yuv_planar_to_rgb8(&grey, 1, 1, YuvLayout::Yuv444, YuvRange::Full).unwrap(),
            vec![77, 77, 77]
        );
        let red = [76u8, 85, 255];
        let rgb = yuv_planar_to_rgb8(&red, 1, 1, YuvLayout::Yuv444, YuvRange::Full).unwrap();
        assert!(close(&rgb, &[255, 0, 0], 2), "{rgb:?}");
    }

    #[test]
    fn odd_sizes_round_chroma_up() {
        // 3x3 I420: 9 luma bytes, then 2x2 U and V planes.
        let (w, h) = (3, 3);
        assert_eq!(PixelFormat::I420.frame_len(w, h), Some(9 + 8));
        let mut data = vec![128u8; 17];
        data[..9].copy_from_slice(&[16, 60, 100, 140, 180, 235, 16, 16, 16]);
        let rgb = to_rgb8(PixelFormat::I420, &data, w, h).unwrap();
        assert_eq!(rgb.len(), 27);
        assert_eq!(&rgb[15..18], &[255, 255, 255]);
        let rgb = to_rgb8(PixelFormat::Nv12, &data, w, h).unwrap();
        assert_eq!(&rgb[0..3], &[0, 0, 0]);
        assert_eq!(YuvLayout::Yuv422.frame_len(3, 3), Some(9 + 12));
        assert_eq!(YuvLayout::Yuv444.frame_len(3, 3), Some(27));
    }

    #[test]
    fn into_reuses_the_buffer_and_clears_it_on_error() {
        let mut out = vec![1u8; 100];
        to_rgb8_into(PixelFormat::Gray8, &[7, 9], 2, 1, &mut out).unwrap();
        assert_eq!(out, vec![7, 7, 7, 9, 9, 9]);
        assert!(to_rgb8_into(PixelFormat::Gray8, &[7], 2, 1, &mut out).is_err());
        assert!(out.is_empty());
    }

    #[test]
    fn grey_and_rgb_pass_through() {
        assert_eq!(
            to_rgb8(PixelFormat::Gray8, &[7, 9], 2, 1).unwrap(),
            vec![7, 7, 7, 9, 9, 9]
        );
        assert_eq!(
            to_rgb8(PixelFormat::Rgb24, &[1, 2, 3], 1, 1).unwrap(),
            vec![1, 2, 3]
        );
    }

    #[test]
    fn mjpeg_decodes_and_checks_the_size() {
        let rgb: Vec<u8> = (0..16 * 8 * 3).map(|i| (i % 251) as u8).collect();
        let jpeg = crate::frames::encode_jpeg(&rgb, 16, 8, 95).unwrap();
        let out = to_rgb8(PixelFormat::Mjpeg, &jpeg, 16, 8).unwrap();
        assert_eq!(out.len(), rgb.len());
        assert!(matches!(
            to_rgb8(PixelFormat::Mjpeg, &jpeg, 8, 8),
            Err(FrameError::SizeMismatch {
                actual_width: 16,
                ..
            })
        ));
        assert!(matches!(
            to_rgb8(PixelFormat::Mjpeg, &jpeg[..jpeg.len() / 3], 16, 8),
            Err(FrameError::Decode { .. })
        ));
        assert!(matches!(
            to_rgb8(PixelFormat::Mjpeg, b"not a jpeg", 16, 8),
            Err(FrameError::Decode { .. })
        ));
    }

    #[test]
    fn bad_buffers_are_errors() {
        assert!(matches!(
            to_rgb8(PixelFormat::Yuyv, &[0; 6], 3, 1),
            Err(FrameError::OddWidth { width: 3, .. })
        ));
        assert!(matches!(
            to_rgb8(PixelFormat::Nv12, &[0; 5], 2, 2),
            Err(FrameError::FormatLength {
                expected: 6,
                actual: 5,
                ..
            })
        ));
        assert!(matches!(
            to_rgb8(PixelFormat::I420, &[], 0, 2),
            Err(FrameError::ZeroSize { .. })
        ));
        assert!(matches!(
            to_rgb8(PixelFormat::Rgb24, &[0; 3], usize::MAX, 2),
            Err(FrameError::TooLarge { .. })
        ));
        assert!(matches!(
            yuv_planar_to_rgb8(&[0; 10], 2, 2, YuvLayout::Yuv444, YuvRange::Limited),
            Err(FrameError::FormatLength { expected: 12, .. })
        ));
    }

    #[test]
    fn fourcc_round_trips() {
        for f in PixelFormat::ALL {
            assert_eq!(PixelFormat::from_fourcc(f.fourcc()), Some(f));
        }
        assert_eq!(PixelFormat::from_fourcc(*b"I420"), Some(PixelFormat::I420));
        assert_eq!(PixelFormat::from_fourcc(*b"H264"), None);
    }
}
