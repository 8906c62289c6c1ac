//! The search index as the daemon sees it: an [`IndexSink`] that takes one row per clip (and per
//! audio window), with its embeddings, tags and a JPEG thumbnail, so footage is searchable
//! offline later (`mmv search`).
//!
//! The runtime's SQLite index is the real sink (wired by the daemon when it lands). Until then
//! [`SpoolIndex`] keeps every row in an append-only JSON-lines file with the thumbnails beside
//! it, from which rows can be imported; [`MemoryIndex`] is for tests.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use mmv_runtime::bundle::Embedding;
use serde::Serialize;

use crate::model::{Modality, Tag};

/// One row.
#[derive(Clone, Debug)]
pub struct IndexRecord<'a> {
    /// "camera", "microphone".
    pub source: &'a str,
    pub modality: Modality,
    /// Unix seconds at the start and end of the clip or window.
    pub start_time: f64,
    pub end_time: f64,
    /// Stream seconds (since the source was opened).
    pub start_s: f64,
    pub end_s: f64,
    pub embedding: &'a Embedding,
    pub tags: &'a [Tag],
    /// JPEG bytes.
    pub thumbnail: Option<&'a [u8]>,
}

/// A store of index rows.
pub trait IndexSink {
    type Error: std::error::Error + Send + Sync + 'static;
    fn insert(&mut self, record: &IndexRecord<'_>) -> Result<(), Self::Error>;
    /// Makes inserted rows durable.
    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

impl<S: IndexSink + ?Sized> IndexSink for Box<S> {
    type Error = S::Error;
    fn insert(&mut self, record: &IndexRecord<'_>) -> Result<(), Self::Error> {
        (**self).insert(record)
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        (**self).flush()
    }
}

/// No index configured.
#[derive(Debug, Default)]
pub struct NoIndex;

impl IndexSink for NoIndex {
    type Error = std::convert::Infallible;
    fn insert(&mut self, _: &IndexRecord<'_>) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// Index failures.
#[derive(Debug, thiserror::Error)]
#[error("index {path}: {source}")]
pub struct SpoolError {
    path: String,
    #[source]
    source: std::io::Error,
}

#[derive(Serialize)]
struct SpoolRow<'a> {
    row: u64,
    source: &'a str,
    modality: Modality,
    start_time: f64,
    end_time: f64,
    start_s: f64,
    end_s: f64,
    z_va: Option<&'a [f32]>,
    z_vat: Option<&'a [f32]>,
    tags: &'a [Tag],
    thumbnail: Option<String>,
}

/// Rows as JSON lines in `DIR/rows.jsonl`, thumbnails as `DIR/thumbs/ROW.jpg`. Appends only;
/// a restart continues the row numbers.
#[derive(Debug)]
pub struct SpoolIndex {
    dir: PathBuf,
    rows: BufWriter<File>,
    next_row: u64,
}

impl SpoolIndex {
    pub fn open(dir: &Path) -> Result<Self, SpoolError> {
        let err = |source| SpoolError {
            path: dir.display().to_string(),
            source,
        };
        std::fs::create_dir_all(dir.join("thumbs")).map_err(err)?;
        let rows_path = dir.join("rows.jsonl");
        let next_row = match std::fs::read(&rows_path) {
            Ok(bytes) => bytes.iter().filter(|&&b| b == b'\n').count() as u64,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(err(e)),
        };
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&rows_path)
            .map_err(err)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            rows: BufWriter::new(file),
            next_row,
        })
    }

    /// Rows written, including those of earlier runs.
    pub fn rows(&self) -> u64 {
        self.next_row
    }

    fn err(&self, source: std::io::Error) -> SpoolError {
        SpoolError {
            path: self.dir.display().to_string(),
            source,
        }
    }
}

impl IndexSink for SpoolIndex {
    type Error = SpoolError;

    fn insert(&mut self, r: &IndexRecord<'_>) -> Result<(), SpoolError> {
        let row = self.next_row;
        let thumbnail = match r.thumbnail {
            Some(jpeg) => {
                let name = format!("thumbs/{row:08}.jpg");
                std::fs::write(self.dir.join(&name), jpeg).map_err(|e| self.err(e))?;
                Some(name)
            }
            None => None,
        };
        let line = SpoolRow {
            row,
            source: r.source,
            modality: r.modality,
            start_time: r.start_time,
            end_time: r.end_time,
            start_s: r.start_s,
            end_s: r.end_s,
            z_va: r.embedding.va.as_deref(),
            z_vat: r.embedding.vat.as_deref(),
            tags: r.tags,
            thumbnail,
        };
        serde_json::to_writer(&mut self.rows, &line).map_err(|e| self.err(e.into()))?;
        self.rows.write_all(b"\n").map_err(|e| self.err(e))?;
        self.next_row += 1;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SpoolError> {
        self.rows.flush().map_err(|e| self.err(e))
    }
}

/// One stored row of a [`MemoryIndex`].
#[derive(Clone, Debug, PartialEq)]
pub struct StoredRow {
    pub source: String,
    pub modality: Modality,
    pub start_s: f64,
    pub end_s: f64,
    pub top_label: Option<String>,
    pub thumbnail_bytes: usize,
}

/// Rows in memory (tests).
#[derive(Debug, Default)]
pub struct MemoryIndex {
    pub rows: Vec<StoredRow>,
}

impl IndexSink for MemoryIndex {
    type Error = std::convert::Infallible;
    fn insert(&mut self, r: &IndexRecord<'_>) -> Result<(), Self::Error> {
        self.rows.push(StoredRow {
            source: r.source.into(),
            modality: r.modality,
            start_s: r.start_s,
            end_s: r.end_s,
            top_label: r.tags.first().map(|t| t.label.clone()),
            thumbnail_bytes: r.thumbnail.map_or(0, <[u8]>::len),
        });
        Ok(())
    }
}

/// A JPEG thumbnail of an RGB8 frame, `width` pixels wide (never upscaled).
pub fn thumbnail_jpeg(rgb: &[u8], w: u32, h: u32, width: u32) -> Option<Vec<u8>> {
    let img = image::RgbImage::from_raw(w, h, rgb.to_vec())?;
    let tw = width.clamp(1, w.max(1));
    let th = ((u64::from(h) * u64::from(tw)) / u64::from(w.max(1))).max(1) as u32;
    let small = image::imageops::resize(&img, tw, th, image::imageops::FilterType::Triangle);
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80)
        .encode_image(&small)
        .ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spool_appends_rows_and_thumbnails_and_continues_after_restart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let emb = Embedding {
            va: Some(vec![1.0, 0.0]),
            vat: Some(vec![0.0, 1.0]),
        };
        let tags = [Tag {
            label: "seven".into(),
            score: 0.9,
        }];
        let thumb = thumbnail_jpeg(&[200u8; 64 * 48 * 3], 64, 48, 32).expect("thumb");
        let rec = IndexRecord {
            source: "camera",
            modality: Modality::Clip,
            start_time: 10.0,
            end_time: 10.8,
            start_s: 0.0,
            end_s: 0.8,
            embedding: &emb,
            tags: &tags,
            thumbnail: Some(&thumb),
        };
        {
            let mut s = SpoolIndex::open(dir.path()).expect("open");
            s.insert(&rec).expect("insert");
            s.insert(&rec).expect("insert");
            s.flush().expect("flush");
        }
        let mut s = SpoolIndex::open(dir.path()).expect("reopen");
        assert_eq!(s.rows(), 2);
        s.insert(&rec).expect("insert");
        s.flush().expect("flush");
        let text = std::fs::read_to_string(dir.path().join("rows.jsonl")).expect("rows");
        let last: serde_json::Value =
            serde_json::from_str(text.lines().last().expect("line")).expect("json");
        assert_eq!(last["row"], 2);
        assert_eq!(last["thumbnail"], "thumbs/00000002.jpg");
        let img = image::load_from_memory(
            &std::fs::read(dir.path().join("thumbs/00000002.jpg")).expect("thumb"),
        )
        .expect("jpeg");
        assert_eq!((img.width(), img.height()), (32, 24));
    }
}
