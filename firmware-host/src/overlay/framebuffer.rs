//! The Linux framebuffer (`/dev/fb0`): the simplest screen a board has, with no compositor.
//!
//! [`Framebuffer`] is generic over where the bytes go (`Write + Seek`), so pixel packing and
//! scaling are tested against a memory buffer; [`Framebuffer::open`] asks the kernel for the
//! real device's geometry (FBIOGET_VSCREENINFO / FBIOGET_FSCREENINFO) and writes with `pwrite`
//! semantics (seek + write), so no `mmap` and no unsafe pixel access is needed.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

use super::{Display, DisplayError, RgbCanvas};

/// One colour channel's place in a pixel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Channel {
    pub offset: u32,
    pub length: u32,
}

/// Framebuffer geometry and pixel layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FbGeometry {
    pub width: u32,
    pub height: u32,
    /// 16, 24 or 32.
    pub bits_per_pixel: u32,
    /// Bytes from one row to the next.
    pub line_length: u32,
    /// The visible area's offset inside the (virtual) buffer.
    pub xoffset: u32,
    pub yoffset: u32,
    pub red: Channel,
    pub green: Channel,
    pub blue: Channel,
}

impl FbGeometry {
    /// The common 32-bit XRGB8888 layout (B, G, R, X in memory).
    pub fn xrgb8888(width: u32, height: u32) -> Self {
        Self {
            width,
            height,
            bits_per_pixel: 32,
            line_length: width * 4,
            xoffset: 0,
            yoffset: 0,
            red: Channel {
                offset: 16,
                length: 8,
            },
            green: Channel {
                offset: 8,
                length: 8,
            },
            blue: Channel {
                offset: 0,
                length: 8,
            },
        }
    }

    /// 16-bit RGB565, common on small SPI panels.
    pub fn rgb565(width: u32, height: u32) -> Self {
        Self {
            width,
            height,
            bits_per_pixel: 16,
            line_length: width * 2,
            xoffset: 0,
            yoffset: 0,
            red: Channel {
                offset: 11,
                length: 5,
            },
            green: Channel {
                offset: 5,
                length: 6,
            },
            blue: Channel {
                offset: 0,
                length: 5,
            },
        }
    }

    fn check(&self, target: &str) -> Result<(), DisplayError> {
        let bytes = self.bits_per_pixel / 8;
        let ok = matches!(self.bits_per_pixel, 16 | 24 | 32)
            && self.width > 0
            && self.height > 0
            && u64::from(self.line_length)
                >= u64::from(self.width + self.xoffset) * u64::from(bytes)
            && [self.red, self.green, self.blue]
                .iter()
                .all(|c| c.length <= 8 && c.offset + c.length <= self.bits_per_pixel);
        if ok {
            Ok(())
        } else {
            Err(DisplayError::Unsupported {
                target: target.into(),
                problem: format!("pixel layout {self:?}"),
            })
        }
    }

    /// Packs one RGB pixel into this layout's bytes (little-endian, as the kernel stores them).
    pub fn pack(&self, rgb: [u8; 3], out: &mut [u8]) {
        let place = |v: u8, c: Channel| -> u32 {
            if c.length == 0 {
                0
            } else {
                (u32::from(v) >> (8 - c.length)) << c.offset
            }
        };
        let px = place(rgb[0], self.red) | place(rgb[1], self.green) | place(rgb[2], self.blue);
        let bytes = (self.bits_per_pixel / 8) as usize;
        out[..bytes].copy_from_slice(&px.to_le_bytes()[..bytes]);
    }
}

/// A framebuffer written through `W`.
#[derive(Debug)]
pub struct Framebuffer<W> {
    target: String,
    out: W,
    geometry: FbGeometry,
    row: Vec<u8>,
}

impl<W: Write + Seek> Framebuffer<W> {
    pub fn new(target: &str, out: W, geometry: FbGeometry) -> Result<Self, DisplayError> {
        geometry.check(target)?;
        Ok(Self {
            target: target.into(),
            out,
            geometry,
            row: Vec::new(),
        })
    }

    pub fn geometry(&self) -> FbGeometry {
        self.geometry
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write + Seek> Display for Framebuffer<W> {
    fn describe(&self) -> String {
        let g = &self.geometry;
        format!(
            "framebuffer {} ({}x{}, {} bpp)",
            self.target, g.width, g.height, g.bits_per_pixel
        )
    }

    /// Scales the canvas to fit the screen (nearest neighbour, aspect kept, centred on black).
    fn show(&mut self, canvas: &RgbCanvas) -> Result<(), DisplayError> {
        let g = self.geometry;
        if canvas.width == 0 || canvas.height == 0 {
            return Ok(());
        }
        if canvas.data.len() != canvas.width as usize * canvas.height as usize * 3 {
            return Err(DisplayError::Unsupported {
                target: self.target.clone(),
                problem: format!(
                    "canvas {}x{} has {} bytes",
                    canvas.width,
                    canvas.height,
                    canvas.data.len()
                ),
            });
        }
        let bpp = (g.bits_per_pixel / 8) as usize;
        // Fit: the smaller of the two scale factors, in 16.16 fixed point.
        let sx = (u64::from(g.width) << 16) / u64::from(canvas.width);
        let sy = (u64::from(g.height) << 16) / u64::from(canvas.height);
        let s = sx.min(sy).max(1);
        let (dw, dh) = (
            ((u64::from(canvas.width) * s) >> 16).clamp(1, u64::from(g.width)) as u32,
            ((u64::from(canvas.height) * s) >> 16).clamp(1, u64::from(g.height)) as u32,
        );
        let (x0, y0) = ((g.width - dw) / 2, (g.height - dh) / 2);
        self.row.resize(g.width as usize * bpp, 0);
        let io = |source| DisplayError::Io {
            target: self.target.clone(),
            source,
        };
        for y in 0..g.height {
            self.row.fill(0);
            if y >= y0 && y < y0 + dh {
                let cy = (u64::from(y - y0) * u64::from(canvas.height) / u64::from(dh)) as usize;
                for x in x0..x0 + dw {
                    let cx = (u64::from(x - x0) * u64::from(canvas.width) / u64::from(dw)) as usize;
                    let i = (cy * canvas.width as usize + cx) * 3;
                    let rgb = [canvas.data[i], canvas.data[i + 1], canvas.data[i + 2]];
                    g.pack(rgb, &mut self.row[x as usize * bpp..]);
                }
            }
            let pos = u64::from(y + g.yoffset) * u64::from(g.line_length)
                + u64::from(g.xoffset) * bpp as u64;
            self.out.seek(SeekFrom::Start(pos)).map_err(io)?;
            self.out.write_all(&self.row).map_err(io)?;
        }
        self.out.flush().map_err(io)
    }
}

// The kernel's structures from <linux/fb.h>.
#[repr(C)]
#[derive(Default, Clone, Copy)]
struct FbBitfield {
    offset: u32,
    length: u32,
    msb_right: u32,
}

#[repr(C)]
#[derive(Default, Clone, Copy)]
struct FbVarScreeninfo {
    xres: u32,
    yres: u32,
    xres_virtual: u32,
    yres_virtual: u32,
    xoffset: u32,
    yoffset: u32,
    bits_per_pixel: u32,
    grayscale: u32,
    red: FbBitfield,
    green: FbBitfield,
    blue: FbBitfield,
    transp: FbBitfield,
    nonstd: u32,
    activate: u32,
    height: u32,
    width: u32,
    accel_flags: u32,
    pixclock: u32,
    left_margin: u32,
    right_margin: u32,
    upper_margin: u32,
    lower_margin: u32,
    hsync_len: u32,
    vsync_len: u32,
    sync: u32,
    vmode: u32,
    rotate: u32,
    colorspace: u32,
    reserved: [u32; 4],
}

#[repr(C)]
#[derive(Default, Clone, Copy)]
struct FbFixScreeninfo {
    id: [u8; 16],
    smem_start: libc::c_ulong,
    smem_len: u32,
    type_: u32,
    type_aux: u32,
    visual: u32,
    xpanstep: u16,
    ypanstep: u16,
    ywrapstep: u16,
    line_length: u32,
    mmio_start: libc::c_ulong,
    mmio_len: u32,
    accel: u32,
    capabilities: u16,
    reserved: [u16; 2],
}

const FBIOGET_VSCREENINFO: libc::c_ulong = 0x4600;
const FBIOGET_FSCREENINFO: libc::c_ulong = 0x4602;

impl Framebuffer<File> {
    /// Opens a framebuffer device and reads its geometry from the kernel.
    pub fn open(path: &Path) -> Result<Self, DisplayError> {
        use std::os::fd::AsRawFd;
        let target = path.display().to_string();
        let io = |source| DisplayError::Io {
            target: target.clone(),
            source,
        };
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(io)?;
        let fd = file.as_raw_fd();
        let mut var = FbVarScreeninfo::default();
        let mut fix = FbFixScreeninfo::default();
        // SAFETY: `fd` is an open descriptor owned by `file` for the whole call, and each
        // request writes exactly one struct of the type passed (layouts copied from
        // <linux/fb.h>, repr(C)). A non-framebuffer file makes the call fail with ENOTTY.
        let rv = unsafe {
            libc::ioctl(
                fd,
                FBIOGET_VSCREENINFO as _,
                &mut var as *mut FbVarScreeninfo,
            )
        };
        if rv != 0 {
            return Err(io(std::io::Error::last_os_error()));
        }
        // SAFETY: as above, for the fixed screen info.
        let rf = unsafe {
            libc::ioctl(
                fd,
                FBIOGET_FSCREENINFO as _,
                &mut fix as *mut FbFixScreeninfo,
            )
        };
        if rf != 0 {
            return Err(io(std::io::Error::last_os_error()));
        }
        let ch = |b: FbBitfield| Channel {
            offset: b.offset,
            length: b.length,
        };
        let geometry = FbGeometry {
            width: var.xres,
            height: var.yres,
            bits_per_pixel: var.bits_per_pixel,
            line_length: fix.line_length,
            xoffset: var.xoffset,
            yoffset: var.yoffset,
            red: ch(var.red),
            green: ch(var.green),
            blue: ch(var.blue),
        };
        Framebuffer::new(&target, file, geometry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn packs_xrgb8888_and_rgb565() {
        let mut px = [0u8; 4];
        FbGeometry::xrgb8888(1, 1).pack([0x12, 0x34, 0x56], &mut px);
        assert_eq!(px, [0x56, 0x34, 0x12, 0x00], "B G R X in memory");
        let mut px = [0u8; 2];
        FbGeometry::rgb565(1, 1).pack([0xFF, 0x00, 0xFF], &mut px);
        assert_eq!(u16::from_le_bytes(px), 0xF81F);
    }

    #[test]
    fn scales_to_fit_and_centres() {
        // A 2x1 canvas (red, blue) onto a 4x4 screen: scaled x2 to 4x2, rows 1-2.
        let canvas = RgbCanvas::from_rgb(2, 1, vec![255, 0, 0, 0, 0, 255]).expect("canvas");
        let g = FbGeometry::xrgb8888(4, 4);
        let mut fb = Framebuffer::new("mem", Cursor::new(vec![0u8; 64]), g).expect("fb");
        fb.show(&canvas).expect("show");
        let mem = fb.into_inner().into_inner();
        let px = |x: usize, y: usize| &mem[(y * 4 + x) * 4..(y * 4 + x) * 4 + 3];
        assert_eq!(px(0, 0), [0, 0, 0], "letterbox");
        assert_eq!(px(0, 1), [0, 0, 255], "red is B G R = 0 0 255");
        assert_eq!(px(1, 2), [0, 0, 255]);
        assert_eq!(px(2, 1), [255, 0, 0], "blue");
        assert_eq!(px(3, 3), [0, 0, 0]);
    }

    #[test]
    fn rejects_layouts_it_cannot_pack() {
        let mut g = FbGeometry::xrgb8888(4, 4);
        g.bits_per_pixel = 8;
        assert!(Framebuffer::new("mem", Cursor::new(Vec::new()), g).is_err());
    }

    #[test]
    fn a_regular_file_is_not_a_framebuffer() {
        let f = tempfile::NamedTempFile::new().expect("tmp");
        assert!(matches!(
            Framebuffer::open(f.path()),
            Err(DisplayError::Io { .. })
        ));
    }
}
