//! A decoded frame as its source delivered it: RGB8 (still images, MJPEG, most Y4M colour
//! spaces) or the bytes of a camera format (YUYV, NV12, I420, grey) left as they are.
//!
//! Why: the front end resizes before any colour work, and for a grey model the Y plane of a
//! YUV frame is the grey image, so converting a camera frame to a full-size RGB frame when it
//! is read would spend most of the preprocessing time (and a 3-byte-per-pixel buffer) on
//! pixels the model never sees. Readers (raw camera files and FIFOs, Y4M's 4:2:0, the daemon's
//! V4L2 camera) therefore hand out a [`Picture`]; the model's front end takes it as it is
//! ([`FramePreprocessor::picture`]: `camera` for camera formats, `rgb8` for RGB, the one
//! resizer and YUV code of this module), and only what needs colour (thumbnails, the
//! overlay) converts it, frame by frame, with [`Picture::to_rgb`] / [`Picture::rgb_into`].

use std::borrow::Cow;

use super::camera::{PixelFormat, check_raw, to_rgb8, to_rgb8_into};
use super::codec::{RgbFrame, thumbnail_jpeg};
use super::resize::FramePreprocessor;
use super::{FrameError, FrameSpec};

/// A decoded frame, in the pixel format its source delivered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Picture {
    /// Interleaved RGB8.
    Rgb(RgbFrame),
    /// A camera format with a fixed layout (never MJPEG or RGB24), checked against its size.
    Camera(CameraFrame),
}

/// The bytes of one frame in a fixed-layout camera format (YUYV, NV12, I420, GRAY8), as
/// [`to_rgb8`] and [`FramePreprocessor::camera`] take them: made by [`Picture::camera`], which
/// checks the length, so a `CameraFrame` always holds exactly one frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CameraFrame {
    format: PixelFormat,
    width: usize,
    height: usize,
    data: Vec<u8>,
}

impl CameraFrame {
    pub fn format(&self) -> PixelFormat {
        self.format
    }
    pub fn width(&self) -> usize {
        self.width
    }
    pub fn height(&self) -> usize {
        self.height
    }
    pub fn data(&self) -> &[u8] {
        &self.data
    }
}

impl From<RgbFrame> for Picture {
    fn from(frame: RgbFrame) -> Self {
        Self::Rgb(frame)
    }
}

impl Picture {
    /// One frame of a camera format, `width x height`. YUYV, NV12, I420 and GRAY8 are kept as
    /// they are (the length is checked); RGB24 becomes [`Picture::Rgb`]; MJPEG is decoded to
    /// RGB (a JPEG of another size than `width x height` is [`FrameError::SizeMismatch`]).
    pub fn camera(
        format: PixelFormat,
        data: Vec<u8>,
        width: usize,
        height: usize,
    ) -> Result<Self, FrameError> {
        if width == 0 || height == 0 {
            return Err(FrameError::ZeroSize { width, height });
        }
        match format {
            PixelFormat::Mjpeg => Ok(Self::Rgb(RgbFrame {
                width,
                height,
                data: to_rgb8(format, &data, width, height)?,
            })),
            PixelFormat::Rgb24 => {
                check_raw(format, &data, width, height)?;
                Ok(Self::Rgb(RgbFrame {
                    width,
                    height,
                    data,
                }))
            }
            PixelFormat::Gray8 | PixelFormat::Yuyv | PixelFormat::Nv12 | PixelFormat::I420 => {
                check_raw(format, &data, width, height)?;
                Ok(Self::Camera(CameraFrame {
                    format,
                    width,
                    height,
                    data,
                }))
            }
        }
    }

    pub fn width(&self) -> usize {
        match self {
            Self::Rgb(f) => f.width,
            Self::Camera(c) => c.width,
        }
    }

    pub fn height(&self) -> usize {
        match self {
            Self::Rgb(f) => f.height,
            Self::Camera(c) => c.height,
        }
    }

    /// The pixel format of the bytes held ([`PixelFormat::Rgb24`] for RGB).
    pub fn format(&self) -> PixelFormat {
        match self {
            Self::Rgb(_) => PixelFormat::Rgb24,
            Self::Camera(c) => c.format,
        }
    }

    /// The frame in RGB8: borrowed when it is RGB, converted ([`to_rgb8`]) otherwise. For what
    /// needs colour (thumbnails, query images), not for the model's input.
    pub fn to_rgb(&self) -> Result<Cow<'_, RgbFrame>, FrameError> {
        match self {
            Self::Rgb(f) => Ok(Cow::Borrowed(f)),
            Self::Camera(c) => Ok(Cow::Owned(RgbFrame {
                width: c.width,
                height: c.height,
                data: to_rgb8(c.format, &c.data, c.width, c.height)?,
            })),
        }
    }

    /// The index's thumbnail of the frame (a JPEG whose longer side is at most `side`): the
    /// frame is made RGB for it, and only for it.
    pub fn thumbnail_jpeg(&self, side: usize) -> Result<Vec<u8>, FrameError> {
        let rgb = self.to_rgb()?;
        thumbnail_jpeg(&rgb.data, rgb.width, rgb.height, side)
    }

    /// The frame's interleaved RGB8 bytes into a caller's buffer (cleared first), so a loop that
    /// shows every frame (the overlay) reuses one allocation.
    pub fn rgb_into(&self, out: &mut Vec<u8>) -> Result<(), FrameError> {
        match self {
            Self::Rgb(f) => {
                out.clear();
                out.extend_from_slice(&f.data);
                Ok(())
            }
            Self::Camera(c) => to_rgb8_into(c.format, &c.data, c.width, c.height, out),
        }
    }
}

impl FramePreprocessor {
    /// A [`Picture`] into `out` (CHW, `spec.output_len()` values): RGB through
    /// [`FramePreprocessor::rgb8`], camera formats through [`FramePreprocessor::camera`] (a grey
    /// model reads the Y plane; no RGB frame is made).
    pub fn picture(
        &mut self,
        picture: &Picture,
        spec: &FrameSpec,
        out: &mut Vec<f32>,
    ) -> Result<(), FrameError> {
        match picture {
            Picture::Rgb(f) => self.rgb8(&f.data, f.width, f.height, spec, out),
            Picture::Camera(c) => self.camera(c.format, &c.data, c.width, c.height, spec, out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{encode_jpeg, preprocess_camera, preprocess_picture, preprocess_rgb8};
    use super::*;

    /// A frame with colour edges, so the Y-plane and RGB paths of a grey model differ.
    fn rgb_scene(w: usize, h: usize) -> Vec<u8> {
        (0..w * h)
            .flat_map(|i| {
                let (x, y) = (i % w, i / w);
                if (x / 3 + y / 2) % 2 == 0 {
                    [230, 40, 30]
                } else {
                    [20, (x * 9 % 256) as u8, 220]
                }
            })
            .collect()
    }

    fn yuyv_of(rgb: &[u8]) -> Vec<u8> {
        rgb.chunks_exact(6)
            .flat_map(|p| {
                let a = super::super::rgb_to_yuv([p[0], p[1], p[2]]);
                let b = super::super::rgb_to_yuv([p[3], p[4], p[5]]);
                [a[0], a[1], b[0], a[2]]
            })
            .collect()
    }

    #[test]
    fn camera_frames_preprocess_as_preprocess_camera_and_rgb_as_preprocess_rgb8() {
        let (w, h) = (40, 30);
        let rgb = rgb_scene(w, h);
        let yuyv = yuyv_of(&rgb);
        let grey = FrameSpec::unnormalized(16, 16, 1);
        let colour = FrameSpec {
            mean: vec![0.4, 0.5, 0.6],
            std: vec![0.2, 0.3, 0.25],
            ..FrameSpec::unnormalized(16, 16, 3)
        };
        let pic = Picture::camera(PixelFormat::Yuyv, yuyv.clone(), w, h).unwrap();
        assert!(matches!(&pic, Picture::Camera(c) if c.data() == yuyv));
        assert_eq!(
            (pic.width(), pic.height(), pic.format()),
            (w, h, PixelFormat::Yuyv)
        );
        for spec in [&grey, &colour] {
            assert_eq!(
                preprocess_picture(&pic, spec).unwrap(),
                preprocess_camera(PixelFormat::Yuyv, &yuyv, w, h, spec).unwrap()
            );
        }
        // The grey model read the Y plane, not RGB: the RGB path of the same bytes differs.
        let via_rgb = to_rgb8(PixelFormat::Yuyv, &yuyv, w, h).unwrap();
        assert_ne!(
            preprocess_picture(&pic, &grey).unwrap(),
            preprocess_rgb8(&via_rgb, w, h, &grey).unwrap()
        );
        assert_eq!(pic.to_rgb().unwrap().data, via_rgb);
        let mut buf = vec![7u8; 3];
        pic.rgb_into(&mut buf).unwrap();
        assert_eq!(buf, via_rgb);

        // RGB pictures are bit-identical to preprocess_rgb8, and borrowed for colour.
        let pic = Picture::from(RgbFrame {
            width: w,
            height: h,
            data: rgb.clone(),
        });
        for spec in [&grey, &colour] {
            assert_eq!(
                preprocess_picture(&pic, spec).unwrap(),
                preprocess_rgb8(&rgb, w, h, spec).unwrap()
            );
        }
        assert!(matches!(pic.to_rgb().unwrap(), Cow::Borrowed(_)));
        pic.rgb_into(&mut buf).unwrap();
        assert_eq!(buf, rgb);
        assert_eq!(
            Picture::camera(PixelFormat::Rgb24, rgb.clone(), w, h).unwrap(),
            pic
        );
    }

    #[test]
    fn mjpeg_is_decoded_and_bad_frames_are_errors() {
        let rgb = rgb_scene(16, 8);
        let jpeg = encode_jpeg(&rgb, 16, 8, 95).unwrap();
        let pic = Picture::camera(PixelFormat::Mjpeg, jpeg.clone(), 16, 8).unwrap();
        assert!(matches!(pic, Picture::Rgb(ref f) if (f.width, f.height) == (16, 8)));
        assert!(matches!(
            Picture::camera(PixelFormat::Mjpeg, jpeg, 8, 8),
            Err(FrameError::SizeMismatch { .. })
        ));
        assert!(matches!(
            Picture::camera(PixelFormat::Yuyv, vec![0; 30], 5, 3),
            Err(FrameError::OddWidth { .. })
        ));
        assert!(matches!(
            Picture::camera(PixelFormat::Nv12, vec![0; 10], 4, 4),
            Err(FrameError::FormatLength { expected: 24, .. })
        ));
        assert!(matches!(
            Picture::camera(PixelFormat::Gray8, vec![], 0, 4),
            Err(FrameError::ZeroSize { .. })
        ));
        let grey = Picture::camera(PixelFormat::Gray8, vec![9, 200], 2, 1).unwrap();
        assert_eq!(grey.to_rgb().unwrap().data, vec![9, 9, 9, 200, 200, 200]);
    }
}
