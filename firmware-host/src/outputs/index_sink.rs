//! The search index as the daemon sees it: an [`IndexSink`] that takes one row per clip (and per
//! audio window), with its embeddings, tags and a JPEG thumbnail, so footage is searchable
//! offline later (`mmv search`). The runtime's SQLite index is the real sink
//! ([`super::sqlite_index`]); [`MemoryIndex`] is for tests.

use mmv_runtime::bundle::Embedding;
use mmv_runtime::tag::Tag;

use crate::model::Modality;

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
