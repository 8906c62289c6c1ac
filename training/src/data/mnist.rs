//! The MNIST images and labels, read from gzipped IDX files (`mnist/` in the data folder).
//!
//! IDX: a big-endian header (magic `0x0000_08DD`, where DD is the number of dimensions, then
//! one u32 per dimension) followed by the unsigned bytes. The reader checks every size against
//! the header, so a truncated or padded file is an error that names it, never a panic.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::DataError;

pub const IMAGES_FILE: &str = "mnist/mnist10k-images-idx3-ubyte.gz";
pub const LABELS_FILE: &str = "mnist/mnist10k-labels-idx1-ubyte.gz";

/// MNIST digits: `len()` images of `rows x cols` bytes (0 = black) and their labels 0-9.
#[derive(Clone, Debug, PartialEq)]
pub struct Mnist {
    pub rows: usize,
    pub cols: usize,
    pub pixels: Vec<u8>,
    pub labels: Vec<u8>,
}

impl Mnist {
    /// Reads the two IDX files under `data_dir`.
    pub fn load(data_dir: &Path) -> Result<Self, DataError> {
        Self::load_files(&data_dir.join(IMAGES_FILE), &data_dir.join(LABELS_FILE))
    }

    pub fn load_files(images: &Path, labels: &Path) -> Result<Self, DataError> {
        let (dims, pixels) = read_idx(images)?;
        let [n, rows, cols] = dims[..] else {
            return Err(idx_err(
                images,
                format!("{} dimensions, images need 3", dims.len()),
            ));
        };
        let (ldims, label_bytes) = read_idx(labels)?;
        let [m] = ldims[..] else {
            return Err(idx_err(
                labels,
                format!("{} dimensions, labels need 1", ldims.len()),
            ));
        };
        let mismatch = |problem: String| DataError::MnistMismatch {
            images: images.to_path_buf(),
            labels: labels.to_path_buf(),
            problem,
        };
        if n != m {
            return Err(mismatch(format!("{n} images but {m} labels")));
        }
        if n == 0 || rows == 0 || cols == 0 {
            return Err(idx_err(images, "no images".into()));
        }
        if let Some(bad) = label_bytes.iter().find(|&&l| l > 9) {
            return Err(idx_err(labels, format!("label {bad} is not a digit 0-9")));
        }
        Ok(Self {
            rows,
            cols,
            pixels,
            labels: label_bytes,
        })
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The `rows * cols` pixels of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.rows * self.cols;
        &self.pixels[i * n..(i + 1) * n]
    }
}

fn idx_err(path: &Path, problem: String) -> DataError {
    DataError::Idx {
        path: path.to_path_buf(),
        problem,
    }
}

/// Reads an unsigned-byte IDX file (gzipped when its name ends in `.gz`): its dimensions and data.
pub fn read_idx(path: &Path) -> Result<(Vec<usize>, Vec<u8>), DataError> {
    let io = |source| DataError::Io {
        path: PathBuf::from(path),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    if path.extension().is_some_and(|e| e == "gz") {
        flate2::read::GzDecoder::new(file)
            .read_to_end(&mut bytes)
            .map_err(|e| idx_err(path, format!("gzip stream is damaged: {e}")))?;
    } else {
        std::io::BufReader::new(file)
            .read_to_end(&mut bytes)
            .map_err(io)?;
    }
    parse_idx(&bytes).map_err(|problem| idx_err(path, problem))
}

/// Parses IDX bytes (unsigned-byte data only, the type MNIST uses).
pub fn parse_idx(bytes: &[u8]) -> Result<(Vec<usize>, Vec<u8>), String> {
    if bytes.len() < 4 {
        return Err(format!(
            "{} bytes, shorter than the 4-byte magic",
            bytes.len()
        ));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err("bad magic: the first two bytes must be zero".into());
    }
    if bytes[2] != 0x08 {
        return Err(format!(
            "data type 0x{:02x}; only unsigned bytes (0x08) are supported",
            bytes[2]
        ));
    }
    let ndim = bytes[3] as usize;
    if ndim == 0 {
        return Err("zero dimensions".into());
    }
    let header = 4 + 4 * ndim;
    if bytes.len() < header {
        return Err(format!(
            "truncated header: {} of {header} bytes",
            bytes.len()
        ));
    }
    let dims: Vec<usize> = (0..ndim)
        .map(|d| {
            let b = &bytes[4 + 4 * d..8 + 4 * d];
            u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize
        })
        .collect();
    let expected = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| format!("dimensions {dims:?} overflow"))?;
    let got = bytes.len() - header;
    if got < expected {
        return Err(format!(
            "truncated: {got} data bytes where the header {dims:?} needs {expected}"
        ));
    }
    if got > expected {
        return Err(format!(
            "{} bytes of trailing data after the {expected} that the header {dims:?} announces",
            got - expected
        ));
    }
    Ok((dims, bytes[header..].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut out = vec![0, 0, 8, dims.len() as u8];
        for d in dims {
            out.extend(d.to_be_bytes());
        }
        out.extend(data);
        out
    }

    #[test]
    fn parses_and_rejects_idx() {
        let (dims, data) = parse_idx(&idx(&[2, 3], &[1, 2, 3, 4, 5, 6])).unwrap();
        assert_eq!(dims, vec![2, 3]);
        assert_eq!(data, vec![1, 2, 3, 4, 5, 6]);
        let err = parse_idx(&idx(&[2, 3], &[1, 2, 3])).unwrap_err();
        assert!(err.contains("truncated"), "{err}");
        assert!(
            parse_idx(&idx(&[2], &[1, 2, 3]))
                .unwrap_err()
                .contains("trailing")
        );
        assert!(parse_idx(&[0, 0, 8]).is_err());
        assert!(
            parse_idx(&[0, 0, 0x0D, 1, 0, 0, 0, 0])
                .unwrap_err()
                .contains("0x0d")
        );
        assert!(
            parse_idx(&[0, 0, 8, 3, 0, 0])
                .unwrap_err()
                .contains("header")
        );
    }

    #[test]
    fn truncated_gzip_file_names_the_file() {
        let dir = std::env::temp_dir().join(format!("mmv-idx-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let images = dir.join("images.idx.gz");
        let labels = dir.join("labels.idx.gz");
        let gz = |bytes: &[u8]| {
            use std::io::Write;
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(bytes).unwrap();
            enc.finish().unwrap()
        };
        std::fs::write(&images, gz(&idx(&[2, 2, 2], &[0; 8]))).unwrap();
        std::fs::write(&labels, gz(&idx(&[2], &[3, 7]))).unwrap();
        let m = Mnist::load_files(&images, &labels).unwrap();
        assert_eq!((m.len(), m.rows, m.cols), (2, 2, 2));
        assert_eq!(m.labels, vec![3, 7]);

        // Cut the data: fewer pixels than the header says.
        std::fs::write(&images, gz(&idx(&[2, 2, 2], &[0; 5]))).unwrap();
        let err = Mnist::load_files(&images, &labels).unwrap_err().to_string();
        assert!(
            err.contains("images.idx.gz") && err.contains("truncated"),
            "{err}"
        );
        // Cut the gzip stream itself.
        let whole = gz(&idx(&[2, 2, 2], &[0; 8]));
        std::fs::write(&images, &whole[..whole.len() / 2]).unwrap();
        let err = Mnist::load_files(&images, &labels).unwrap_err().to_string();
        assert!(err.contains("images.idx.gz"), "{err}");
        // Labels that are not digits, and counts that differ.
        std::fs::write(&images, gz(&idx(&[2, 2, 2], &[0; 8]))).unwrap();
        std::fs::write(&labels, gz(&idx(&[2], &[3, 12]))).unwrap();
        let err = Mnist::load_files(&images, &labels).unwrap_err().to_string();
        assert!(err.contains("labels.idx.gz") && err.contains("12"), "{err}");
        std::fs::write(&labels, gz(&idx(&[3], &[3, 1, 2]))).unwrap();
        let err = Mnist::load_files(&images, &labels).unwrap_err().to_string();
        assert!(err.contains("2 images but 3 labels"), "{err}");
        // A missing file.
        let err = Mnist::load_files(&dir.join("nope.gz"), &labels)
            .unwrap_err()
            .to_string();
        assert!(err.contains("nope.gz"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
