//! Framing a still image the way the model saw its training objects.
//!
//! A video network trained on digits drawn at a few sizes on a dark canvas answers a photo of
//! a digit filling the frame, or a small one in a corner, or dark ink on white paper, far worse
//! than the same digit at its training size (the product-path stills, issue 11). For bundles
//! whose manifest asks for it (`video.still_framing`), a still is framed before the frame front
//! end: the object is what differs from the picture's border (its median), the crop is the
//! square around the object's box, `box_scale` times its side, centred on it (padded with the
//! border's colour where it leaves the picture), and, when the border is light, the crop is
//! inverted so that ink is bright on dark, as in training. A picture with nothing on it (no
//! pixel far enough from the border) is left as it is. Only stills are framed (`mmv tag` on an
//! image, the daemon's single-frame path, image queries); clips are not.

use serde::{Deserialize, Serialize};

use super::RgbFrame;

/// How stills are framed (manifest `video.still_framing`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StillFraming {
    /// Side of the square crop, as a multiple of the object's box's longer side.
    pub box_scale: f32,
    /// A pixel is part of the object when its luma differs from the border's median by at
    /// least this share of the largest difference in the picture.
    pub ink_fraction: f32,
    /// Pictures whose largest difference from the border is below this (0-255 luma) hold
    /// nothing to frame.
    pub min_contrast: u8,
    /// Invert light-bordered pictures so that the object is bright on dark.
    pub bright_on_dark: bool,
}

impl Default for StillFraming {
    fn default() -> Self {
        Self {
            box_scale: 2.0,
            ink_fraction: 0.3,
            min_contrast: 24,
            bright_on_dark: true,
        }
    }
}

impl StillFraming {
    /// Checks the values a reader relies on.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.box_scale.is_finite() && (1.0..=8.0).contains(&self.box_scale)) {
            return Err(format!(
                "video.still_framing.box_scale is {}; it lies in [1, 8]",
                self.box_scale
            ));
        }
        if !(self.ink_fraction.is_finite() && self.ink_fraction > 0.0 && self.ink_fraction <= 1.0) {
            return Err(format!(
                "video.still_framing.ink_fraction is {}; it lies in (0, 1]",
                self.ink_fraction
            ));
        }
        Ok(())
    }

    /// The framed still, or None when the picture holds nothing to frame (use it as it is).
    pub fn frame(&self, image: &RgbFrame) -> Option<RgbFrame> {
        let (w, h) = (image.width, image.height);
        if w == 0 || h == 0 || image.data.len() != w * h * 3 {
            return None;
        }
        let px = |x: usize, y: usize| -> [u8; 3] {
            let i = (y * w + x) * 3;
            [image.data[i], image.data[i + 1], image.data[i + 2]]
        };
        // BT.601, as the frame front end's RGB -> grey.
        let luma = |p: [u8; 3]| -> i32 {
            (299 * i32::from(p[0]) + 587 * i32::from(p[1]) + 114 * i32::from(p[2]) + 500) / 1000
        };
        let mut border: Vec<[u8; 3]> = Vec::with_capacity(2 * (w + h));
        for x in 0..w {
            border.push(px(x, 0));
            border.push(px(x, h - 1));
        }
        for y in 1..h.saturating_sub(1) {
            border.push(px(0, y));
            border.push(px(w - 1, y));
        }
        // The background: each channel's median over the border.
        let mut bg = [0u8; 3];
        for (c, out) in bg.iter_mut().enumerate() {
            let mut v: Vec<u8> = border.iter().map(|p| p[c]).collect();
            v.sort_unstable();
            *out = v[v.len() / 2];
        }
        let bg_luma = luma(bg);
        // Each pixel's distance from the background, once.
        let diffs: Vec<i32> = image
            .data
            .chunks_exact(3)
            .map(|p| (luma([p[0], p[1], p[2]]) - bg_luma).abs())
            .collect();
        let largest = diffs.iter().copied().max().unwrap_or(0);
        if largest < i32::from(self.min_contrast) {
            return None;
        }
        let cut = ((self.ink_fraction * largest as f32).ceil() as i32).max(1);
        let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0, 0);
        for (i, _) in diffs.iter().enumerate().filter(|(_, d)| **d >= cut) {
            let (x, y) = (i % w, i / w);
            x0 = x0.min(x);
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
        }
        let box_side = (x1 - x0 + 1).max(y1 - y0 + 1) as f32;
        // At least 8 pixels, at most what a sane picture needs (the frame front end resizes).
        let side = ((box_side * self.box_scale).round() as usize).clamp(8, 4 * w.max(h));
        // Centre of the box, in doubled coordinates to keep halves exact.
        let cx2 = (x0 + x1 + 1) as isize;
        let cy2 = (y0 + y1 + 1) as isize;
        let left = (cx2 - side as isize) / 2;
        let top = (cy2 - side as isize) / 2;
        let invert = self.bright_on_dark && bg_luma > 127;
        let mut data = Vec::with_capacity(side * side * 3);
        for j in 0..side as isize {
            let sy = top + j;
            for i in 0..side as isize {
                let sx = left + i;
                let p = if sx >= 0 && sy >= 0 && (sx as usize) < w && (sy as usize) < h {
                    px(sx as usize, sy as usize)
                } else {
                    bg
                };
                if invert {
                    data.extend(p.map(|v| 255 - v));
                } else {
                    data.extend(p);
                }
            }
        }
        Some(RgbFrame {
            width: side,
            height: side,
            data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canvas(w: usize, h: usize, fill: u8) -> RgbFrame {
        RgbFrame {
            width: w,
            height: h,
            data: vec![fill; w * h * 3],
        }
    }

    fn rect(img: &mut RgbFrame, x: usize, y: usize, rw: usize, rh: usize, v: u8) {
        for yy in y..y + rh {
            for xx in x..x + rw {
                let i = (yy * img.width + xx) * 3;
                img.data[i..i + 3].fill(v);
            }
        }
    }

    fn at(img: &RgbFrame, x: usize, y: usize) -> u8 {
        img.data[(y * img.width + x) * 3]
    }

    #[test]
    fn a_small_object_in_a_corner_is_centred_at_half_the_side() {
        let mut img = canvas(100, 80, 0);
        rect(&mut img, 70, 10, 10, 20, 255); // 10 wide, 20 tall
        let f = StillFraming::default().frame(&img).unwrap();
        assert_eq!((f.width, f.height), (40, 40));
        // The object's 20 rows fill the middle half; 10 columns centred.
        assert_eq!(at(&f, 20, 20), 255);
        assert_eq!(at(&f, 20, 10), 255);
        assert_eq!(at(&f, 20, 29), 255);
        assert_eq!(at(&f, 20, 9), 0);
        assert_eq!(at(&f, 20, 30), 0);
        assert_eq!(at(&f, 15, 20), 255);
        assert_eq!(at(&f, 14, 20), 0);
        assert_eq!(at(&f, 24, 20), 255);
        assert_eq!(at(&f, 25, 20), 0);
    }

    #[test]
    fn a_filling_object_is_shrunk_with_border_padding_and_dark_ink_is_inverted() {
        // Dark ink on white paper, the ink touching the picture's edges except the border row.
        let mut img = canvas(30, 30, 240);
        rect(&mut img, 1, 1, 28, 28, 20);
        let f = StillFraming::default().frame(&img).unwrap();
        assert_eq!(f.width, 56);
        // Ink becomes bright (255 - 20), paper and padding dark (255 - 240).
        assert_eq!(at(&f, 28, 28), 235);
        assert_eq!(at(&f, 0, 0), 15);
        assert_eq!(at(&f, 55, 55), 15);
        // Without inversion the colours stay.
        let keep = StillFraming {
            bright_on_dark: false,
            ..StillFraming::default()
        };
        let f = keep.frame(&img).unwrap();
        assert_eq!((at(&f, 28, 28), at(&f, 0, 0)), (20, 240));
    }

    #[test]
    fn a_picture_with_nothing_on_it_is_left_alone() {
        assert!(StillFraming::default().frame(&canvas(64, 48, 0)).is_none());
        let mut faint = canvas(64, 48, 100);
        rect(&mut faint, 10, 10, 5, 5, 110); // below min_contrast
        assert!(StillFraming::default().frame(&faint).is_none());
        let bad = RgbFrame {
            width: 4,
            height: 4,
            data: vec![0; 5],
        };
        assert!(StillFraming::default().frame(&bad).is_none());
    }

    #[test]
    fn validation_names_the_field() {
        let mut f = StillFraming::default();
        f.validate().unwrap();
        f.box_scale = 0.5;
        assert!(f.validate().unwrap_err().contains("box_scale"));
        f.box_scale = 2.0;
        f.ink_fraction = 0.0;
        assert!(f.validate().unwrap_err().contains("ink_fraction"));
    }
}
