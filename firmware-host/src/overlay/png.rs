//! PNG output of overlaid frames: for tests (the golden image) and for headless boards, which
//! keep `overlay-latest.png` fresh instead of driving a screen.

use std::path::{Path, PathBuf};

use super::{Display, DisplayError, RgbCanvas};

/// Encodes a canvas as PNG.
pub fn encode(canvas: &RgbCanvas) -> Result<Vec<u8>, String> {
    let img = image::RgbImage::from_raw(canvas.width, canvas.height, canvas.data.clone())
        .ok_or_else(|| "canvas size does not match its data".to_string())?;
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .map_err(|e| e.to_string())?;
    Ok(out.into_inner())
}

/// Decodes a PNG into a canvas (RGB8).
pub fn decode(png: &[u8]) -> Result<RgbCanvas, String> {
    let img = image::load_from_memory_with_format(png, image::ImageFormat::Png)
        .map_err(|e| e.to_string())?
        .into_rgb8();
    let (w, h) = img.dimensions();
    RgbCanvas::from_rgb(w, h, img.into_raw()).ok_or_else(|| "bad PNG size".into())
}

/// Writes `overlay-latest.png` in a directory every `every` frames, atomically (a viewer never
/// reads a half-written file).
#[derive(Debug)]
pub struct PngSnapshots {
    dir: PathBuf,
    every: u32,
    count: u64,
    written: u64,
}

impl PngSnapshots {
    pub fn new(dir: &Path, every: u32) -> Result<Self, DisplayError> {
        std::fs::create_dir_all(dir).map_err(|source| DisplayError::Io {
            target: dir.display().to_string(),
            source,
        })?;
        Ok(Self {
            dir: dir.to_path_buf(),
            every: every.max(1),
            count: 0,
            written: 0,
        })
    }

    /// The file it keeps up to date.
    pub fn latest(&self) -> PathBuf {
        self.dir.join("overlay-latest.png")
    }

    /// Snapshots written so far.
    pub fn written(&self) -> u64 {
        self.written
    }
}

impl Display for PngSnapshots {
    fn describe(&self) -> String {
        format!(
            "PNG snapshots in {} (every {} frames)",
            self.dir.display(),
            self.every
        )
    }

    fn show(&mut self, canvas: &RgbCanvas) -> Result<(), DisplayError> {
        let due = self.count.is_multiple_of(u64::from(self.every));
        self.count += 1;
        if !due {
            return Ok(());
        }
        let target = self.latest();
        let png = encode(canvas).map_err(|problem| DisplayError::Png {
            target: target.display().to_string(),
            problem,
        })?;
        let tmp = self.dir.join(".overlay-latest.png.tmp");
        let io = |source| DisplayError::Io {
            target: target.display().to_string(),
            source,
        };
        std::fs::write(&tmp, png).map_err(io)?;
        std::fs::rename(&tmp, &target).map_err(io)?;
        self.written += 1;
        Ok(())
    }
}
