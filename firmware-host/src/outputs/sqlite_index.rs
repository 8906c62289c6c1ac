//! The runtime's SQLite search index as the daemon's [`IndexSink`]: live footage lands in the
//! same file `mmv index` writes, so `mmv search` finds it offline later.
//!
//! The index stores footage as files of clips, and searches only files marked complete. Live
//! capture has no file, so each source's stream is cut into chunks: every `batch` rows (or on
//! [`IndexSink::flush`]) one chunk is committed as a complete "file" in one transaction, named
//! `live/<source>/<session start, UTC>#<chunk>`, with its clips' stream times. A crash loses at
//! most the rows of the chunk in progress, never a committed one, and every committed row is
//! immediately searchable.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mmv_runtime::index::{
    self as rt_index, Index, IndexError as RtIndexError, ModelKey, NewFile, NewSegment,
};

use super::index_sink::{IndexRecord, IndexSink};
use crate::model::Modality;

/// Index failures, naming the file.
#[derive(Debug, thiserror::Error)]
#[error("index {path}: {source}")]
pub struct SqliteSinkError {
    path: PathBuf,
    #[source]
    source: RtIndexError,
}

/// Rows of one (source, modality) stream not yet committed.
#[derive(Debug, Default)]
struct Pending {
    chunk: u32,
    rows: Vec<NewSegment>,
    window_s: f64,
}

/// The SQLite index sink.
#[derive(Debug)]
pub struct SqliteIndex {
    path: PathBuf,
    index: Index,
    model_id: i64,
    session: String,
    batch: usize,
    pending: BTreeMap<(String, &'static str), Pending>,
    committed: u64,
}

fn modality(m: Modality) -> rt_index::Modality {
    match m {
        Modality::Image => rt_index::Modality::Image,
        Modality::Clip => rt_index::Modality::Video,
        Modality::Audio => rt_index::Modality::Audio,
    }
}

impl SqliteIndex {
    /// Opens (or creates) the index at `path` for `model`; chunks of `batch` rows.
    pub fn open(path: &Path, model: &ModelKey, batch: usize) -> Result<Self, SqliteSinkError> {
        let err = |source| SqliteSinkError {
            path: path.to_path_buf(),
            source,
        };
        let mut index = Index::open(path).map_err(err)?;
        let model_id = index.model_id(model).map_err(err)?;
        let session = time_label(std::time::SystemTime::now());
        Ok(Self {
            path: path.to_path_buf(),
            index,
            model_id,
            session,
            batch: batch.max(1),
            pending: BTreeMap::new(),
            committed: 0,
        })
    }

    /// Rows committed by this sink.
    pub fn committed(&self) -> u64 {
        self.committed
    }

    fn commit(&mut self, key: &(String, &'static str)) -> Result<(), SqliteSinkError> {
        let Some(p) = self.pending.get_mut(key) else {
            return Ok(());
        };
        if p.rows.is_empty() {
            return Ok(());
        }
        let name = format!("live/{}/{}#{:06}", key.0, self.session, p.chunk);
        let file = NewFile {
            // A live chunk has no content to hash: its unique name stands in for it.
            sha256: format!("{name}/{}", key.1),
            path: name,
            bytes: 0,
            kind: "live".into(),
            window_s: p.window_s,
            stride_s: p.window_s,
        };
        let err = |source| SqliteSinkError {
            path: self.path.clone(),
            source,
        };
        let rec = self.index.begin_file(self.model_id, &file).map_err(err)?;
        let n = p.rows.len() as u32;
        let duration = p.rows.last().map_or(0.0, |r| r.end_s);
        if rec.status == rt_index::FileStatus::Pending {
            let rows: Vec<NewSegment> = p
                .rows
                .iter()
                .enumerate()
                .map(|(i, r)| NewSegment {
                    clip: rec.clips_done + i as u32,
                    ..r.clone()
                })
                .collect();
            self.index
                .commit_clips(
                    rec.id,
                    rec.clips_done,
                    rec.clips_done + n,
                    &rows,
                    Some(duration),
                )
                .map_err(|source| SqliteSinkError {
                    path: self.path.clone(),
                    source,
                })?;
            self.committed += u64::from(n);
        }
        p.rows.clear();
        p.chunk += 1;
        Ok(())
    }
}

impl IndexSink for SqliteIndex {
    type Error = SqliteSinkError;

    fn insert(&mut self, r: &IndexRecord<'_>) -> Result<(), Self::Error> {
        let m = modality(r.modality);
        let key = (r.source.to_string(), m.name());
        let p = self.pending.entry(key.clone()).or_default();
        p.window_s = r.end_s - r.start_s;
        p.rows.push(NewSegment {
            clip: p.rows.len() as u32,
            modality: m,
            start_s: r.start_s,
            end_s: r.end_s,
            va: r.embedding.va.clone(),
            vat: r.embedding.vat.clone(),
            thumbnail: r.thumbnail.map(<[u8]>::to_vec),
        });
        if p.rows.len() >= self.batch {
            self.commit(&key)?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        let keys: Vec<_> = self.pending.keys().cloned().collect();
        for key in keys {
            self.commit(&key)?;
        }
        Ok(())
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` for a time (UTC, no time-zone database needed).
fn time_label(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use mmv_runtime::bundle::Embedding;

    fn key() -> ModelKey {
        ModelKey {
            name: "m".into(),
            version: "1".into(),
            design: "fac".into(),
        }
    }

    #[test]
    fn time_labels_are_civil_utc() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_796_012_345);
        assert_eq!(time_label(t), "2026-11-30T04:19:05Z");
        let leap = std::time::UNIX_EPOCH + std::time::Duration::from_secs(951_782_400 + 86_399);
        assert_eq!(time_label(leap), "2000-02-29T23:59:59Z");
        assert_eq!(time_label(std::time::UNIX_EPOCH), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn rows_are_searchable_in_committed_chunks_and_flush_commits_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("live.db");
        let mut sink = SqliteIndex::open(&path, &key(), 4).unwrap();
        let emb = |x: f32| Embedding {
            va: Some(vec![x, 1.0 - x]),
            vat: Some(vec![1.0 - x, x]),
        };
        for i in 0..10 {
            let e = emb(i as f32 / 10.0);
            sink.insert(&IndexRecord {
                source: "camera",
                modality: Modality::Clip,
                start_time: 0.0,
                end_time: 0.0,
                start_s: i as f64 * 1.6,
                end_s: (i + 1) as f64 * 1.6,
                embedding: &e,
                tags: &[],
                thumbnail: Some(&[0xFF, 0xD8]),
            })
            .unwrap();
        }
        // Two chunks of 4 are committed; 2 rows wait.
        assert_eq!(sink.committed(), 8);
        let index = Index::open(&path).unwrap();
        let table = index.load_model_table(&key()).unwrap();
        assert_eq!(table.len(), 8);
        drop(index);
        sink.flush().unwrap();
        assert_eq!(sink.committed(), 10);
        let index = Index::open(&path).unwrap();
        let files = index.files().unwrap();
        assert_eq!(files.len(), 3);
        assert!(files.iter().all(|f| f.path.starts_with("live/camera/")));
        let table = index.load_model_table(&key()).unwrap();
        assert_eq!(table.len(), 10);
        // The last row's stream time survives.
        let hits = index
            .resolve(&table.top_k(
                &mmv_runtime::index::Query {
                    va: Some(vec![0.1, 0.9]),
                    vat: Some(vec![0.9, 0.1]),
                    text: false,
                },
                10,
                &[],
            ))
            .unwrap();
        assert!(hits.iter().any(|(s, _)| (s.end_s - 16.0).abs() < 1e-9));
    }
}
