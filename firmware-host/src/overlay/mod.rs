//! The on-screen overlay: the current top tags with their scores, and a status line (frame
//! rate, drops, latency, source health), drawn with `embedded-graphics` onto the camera frame,
//! then shown on a [`Display`]: the Linux framebuffer ([`framebuffer`]) or PNG snapshots
//! ([`png`]) for tests and headless boards.

pub mod framebuffer;
pub mod png;

use embedded_graphics::mono_font::{MonoFont, MonoTextStyle, ascii};
use embedded_graphics::pixelcolor::Rgb888;
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::{PrimitiveStyle, Rectangle};
use embedded_graphics::text::{Baseline, Text};

use crate::model::Modality;

/// An RGB8 image that `embedded-graphics` can draw on.
#[derive(Clone, Debug, PartialEq)]
pub struct RgbCanvas {
    pub width: u32,
    pub height: u32,
    /// Interleaved RGB, row-major, `width * height * 3` bytes.
    pub data: Vec<u8>,
}

impl RgbCanvas {
    pub fn new(width: u32, height: u32) -> Self {
        Self {
            width,
            height,
            data: vec![0; width as usize * height as usize * 3],
        }
    }

    /// Wraps RGB8 pixels; `None` if the length does not match the size.
    pub fn from_rgb(width: u32, height: u32, data: Vec<u8>) -> Option<Self> {
        (data.len() == width as usize * height as usize * 3).then_some(Self {
            width,
            height,
            data,
        })
    }

    /// Halves the brightness of a rectangle (clipped to the canvas), so that text over a busy
    /// picture stays legible while the picture still shows through.
    pub fn darken(&mut self, area: Rectangle) {
        let area = area.intersection(&self.bounding_box());
        let Some(br) = area.bottom_right() else {
            return;
        };
        for y in area.top_left.y..=br.y {
            let row = y as usize * self.width as usize;
            let a = (row + area.top_left.x as usize) * 3;
            let b = (row + br.x as usize + 1) * 3;
            if let Some(span) = self.data.get_mut(a..b) {
                for v in span {
                    *v /= 2;
                }
            }
        }
    }
}

impl OriginDimensions for RgbCanvas {
    fn size(&self) -> Size {
        Size::new(self.width, self.height)
    }
}

impl DrawTarget for RgbCanvas {
    type Color = Rgb888;
    type Error = core::convert::Infallible;

    fn draw_iter<I>(&mut self, pixels: I) -> Result<(), Self::Error>
    where
        I: IntoIterator<Item = Pixel<Self::Color>>,
    {
        let (w, h) = (self.width as i32, self.height as i32);
        for Pixel(p, c) in pixels {
            if p.x >= 0 && p.y >= 0 && p.x < w && p.y < h {
                let i = (p.y as usize * self.width as usize + p.x as usize) * 3;
                // `get_mut`: a canvas built with a short buffer loses pixels instead of panicking.
                if let Some(px) = self.data.get_mut(i..i + 3) {
                    px.copy_from_slice(&[c.r(), c.g(), c.b()]);
                }
            }
        }
        Ok(())
    }
}

/// One tag line of the overlay.
#[derive(Clone, Debug, PartialEq)]
pub struct TagLine {
    pub modality: Modality,
    pub label: String,
    pub score: f32,
}

/// What the overlay shows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OverlayState {
    /// Best first; at most [`MAX_TAG_LINES`] are drawn.
    pub tags: Vec<TagLine>,
    /// Frames processed per second.
    pub fps: f32,
    /// Items lost to full queues since start (frames + audio chunks).
    pub drops: u64,
    /// Capture to output, of the last output.
    pub latency_ms: f32,
    /// Source health: `None` when the modality is not configured.
    pub camera_up: Option<bool>,
    pub mic_up: Option<bool>,
}

pub const MAX_TAG_LINES: usize = 5;

fn font_for(width: u32) -> &'static MonoFont<'static> {
    if width >= 640 {
        &ascii::FONT_10X20
    } else {
        &ascii::FONT_6X10
    }
}

fn health(up: Option<bool>) -> &'static str {
    match up {
        None => "-",
        Some(true) => "ok",
        Some(false) => "LOST",
    }
}

/// Draws the overlay onto `canvas`: tags top left (modality, label, score and a score bar),
/// the status line along the bottom.
pub fn draw(canvas: &mut RgbCanvas, state: &OverlayState) {
    let font = font_for(canvas.width);
    let (cw, ch) = (
        font.character_size.width as i32,
        font.character_size.height as i32,
    );
    let pad = 2;
    let white = MonoTextStyle::new(font, Rgb888::WHITE);
    let grey = MonoTextStyle::new(font, Rgb888::new(190, 190, 190));

    let lines: Vec<&TagLine> = state.tags.iter().take(MAX_TAG_LINES).collect();
    if !lines.is_empty() {
        // "[clip] seven         0.83" then a bar under the label, 14 + 2 + 4 characters wide.
        let text_cols = 22;
        let panel = Rectangle::new(
            Point::new(0, 0),
            Size::new(
                (text_cols * cw + 2 * pad) as u32,
                (lines.len() as i32 * (ch + 3) + pad) as u32,
            ),
        );
        canvas.darken(panel);
        for (i, t) in lines.iter().enumerate() {
            let y = pad + i as i32 * (ch + 3);
            let label: String = t.label.chars().take(12).collect();
            let m = match t.modality {
                Modality::Image => "img",
                Modality::Clip => "vid",
                Modality::Audio => "aud",
            };
            let text = format!("{m} {label:<12} {:>4.2}", t.score.clamp(0.0, 1.0));
            let _ =
                Text::with_baseline(&text, Point::new(pad, y), white, Baseline::Top).draw(canvas);
            let bar_w = ((text_cols * cw) as f32 * t.score.clamp(0.0, 1.0)).round() as u32;
            let colour = match t.modality {
                Modality::Image => Rgb888::new(80, 200, 255),
                Modality::Clip => Rgb888::new(120, 255, 120),
                Modality::Audio => Rgb888::new(255, 190, 60),
            };
            if bar_w > 0 {
                let _ = Rectangle::new(Point::new(pad, y + ch), Size::new(bar_w, 2))
                    .into_styled(PrimitiveStyle::with_fill(colour))
                    .draw(canvas);
            }
        }
    }

    let status = format!(
        "{:.1} fps  drops {}  {:.0} ms  cam {} mic {}",
        state.fps,
        state.drops,
        state.latency_ms,
        health(state.camera_up),
        health(state.mic_up)
    );
    let y = canvas.height as i32 - ch - pad;
    canvas.darken(Rectangle::new(
        Point::new(0, y - 1),
        Size::new(canvas.width, (ch + pad + 1) as u32),
    ));
    let _ = Text::with_baseline(&status, Point::new(pad, y), grey, Baseline::Top).draw(canvas);
}

/// Where an overlaid frame is shown.
pub trait Display {
    fn describe(&self) -> String;
    fn show(&mut self, canvas: &RgbCanvas) -> Result<(), DisplayError>;
}

impl<D: Display + ?Sized> Display for Box<D> {
    fn describe(&self) -> String {
        (**self).describe()
    }
    fn show(&mut self, canvas: &RgbCanvas) -> Result<(), DisplayError> {
        (**self).show(canvas)
    }
}

/// Display failures.
#[derive(Debug, thiserror::Error)]
pub enum DisplayError {
    #[error("{target}: {source}")]
    Io {
        target: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{target}: unsupported: {problem}")]
    Unsupported { target: String, problem: String },
    #[error("{target}: PNG: {problem}")]
    Png { target: String, problem: String },
}
