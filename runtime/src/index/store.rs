//! Writing and reading index rows: models, files (pending -> complete), and their segments.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::{Index, IndexError, Modality, ModelKey};

/// Whether a file's clips are all in the index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileStatus {
    Pending,
    Complete,
}

impl FileStatus {
    fn name(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Complete => "complete",
        }
    }
}

/// A `files` row.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FileRecord {
    pub id: i64,
    pub sha256: String,
    pub model_id: i64,
    pub path: String,
    pub bytes: u64,
    pub kind: String,
    pub window_s: f64,
    pub stride_s: f64,
    pub status: FileStatus,
    /// Clips committed so far (all of them once complete).
    pub clips_done: u32,
    pub duration_s: Option<f64>,
}

/// A file about to be indexed.
#[derive(Clone, Debug, PartialEq)]
pub struct NewFile {
    pub sha256: String,
    pub path: String,
    pub bytes: u64,
    /// How it is decoded (`y4m`, `mjpeg`, `wav`, `image`, `ffmpeg`).
    pub kind: String,
    /// Clip window and stride, in seconds: a pending file resumes only with the same ones.
    pub window_s: f64,
    pub stride_s: f64,
}

/// One row to add: one clip (or image) in one modality.
#[derive(Clone, Debug, PartialEq)]
pub struct NewSegment {
    pub clip: u32,
    pub modality: Modality,
    pub start_s: f64,
    pub end_s: f64,
    pub va: Option<Vec<f32>>,
    pub vat: Option<Vec<f32>>,
    pub thumbnail: Option<Vec<u8>>,
}

/// A segment with its file, for showing a search hit.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SegmentInfo {
    pub id: i64,
    pub path: String,
    pub sha256: String,
    pub clip: u32,
    pub modality: Modality,
    pub start_s: f64,
    pub end_s: f64,
    #[serde(skip)]
    pub thumbnail: Option<Vec<u8>>,
}

/// A segment of a file with its text-space embedding (None where the encoder has none).
pub type FileSegment = (SegmentInfo, Option<Vec<f32>>);

/// Row counts, for `mmv info`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct IndexStats {
    pub schema_version: u32,
    pub models: Vec<ModelKey>,
    pub files_complete: u64,
    pub files_pending: u64,
    /// (modality, rows) of complete files.
    pub segments: Vec<(Modality, u64)>,
}

const FILE_COLUMNS: &str =
    "id, sha256, model_id, path, bytes, kind, window_s, stride_s, status, clips_done, duration_s";

fn file_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<FileRecord> {
    let status: String = row.get(8)?;
    Ok(FileRecord {
        id: row.get(0)?,
        sha256: row.get(1)?,
        model_id: row.get(2)?,
        path: row.get(3)?,
        bytes: row.get::<_, i64>(4)? as u64,
        kind: row.get(5)?,
        window_s: row.get(6)?,
        stride_s: row.get(7)?,
        // The CHECK constraint admits these two only.
        status: if status == "complete" {
            FileStatus::Complete
        } else {
            FileStatus::Pending
        },
        clips_done: row.get(9)?,
        duration_s: row.get(10)?,
    })
}

/// Little-endian f32 bytes.
pub(crate) fn to_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// The inverse of [`to_blob`]; None when the length is not a multiple of 4.
pub(crate) fn from_blob(b: &[u8]) -> Option<Vec<f32>> {
    if !b.len().is_multiple_of(4) {
        return None;
    }
    Some(
        b.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    )
}

fn now() -> String {
    // Seconds since the epoch: sortable, and needs no date library.
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    secs.to_string()
}

impl Index {
    /// The id of `model`, adding it on first use. A model of the same name and version but
    /// another design is an error (two different models must not share rows).
    pub fn model_id(&mut self, model: &ModelKey) -> Result<i64, IndexError> {
        let path = self.path.display().to_string();
        let sql = |source| IndexError::Sql {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(sql)?;
        let found: Option<(i64, String)> = tx
            .query_row(
                "SELECT id, design FROM models WHERE name = ?1 AND version = ?2",
                params![model.name, model.version],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(sql)?;
        let id = match found {
            Some((id, design)) if design == model.design => id,
            Some((_, design)) => {
                return Err(IndexError::Conflict {
                    path,
                    problem: format!(
                        "model {model} is recorded with design {design}, but this bundle's is {}",
                        model.design
                    ),
                });
            }
            None => {
                tx.execute(
                    "INSERT INTO models (name, version, design) VALUES (?1, ?2, ?3)",
                    params![model.name, model.version, model.design],
                )
                .map_err(sql)?;
                tx.last_insert_rowid()
            }
        };
        tx.commit().map_err(sql)?;
        Ok(id)
    }

    /// The id of `model` if the index has it.
    pub fn find_model(&self, model: &ModelKey) -> Result<Option<i64>, IndexError> {
        self.conn
            .query_row(
                "SELECT id FROM models WHERE name = ?1 AND version = ?2",
                params![model.name, model.version],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.sql(e))
    }

    /// Every model the index has rows for.
    pub fn models(&self) -> Result<Vec<ModelKey>, IndexError> {
        let mut stmt = self
            .conn
            .prepare("SELECT name, version, design FROM models ORDER BY id")
            .map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(ModelKey {
                    name: r.get(0)?,
                    version: r.get(1)?,
                    design: r.get(2)?,
                })
            })
            .map_err(|e| self.sql(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sql(e))
    }

    /// The file with this content for this model, if any.
    pub fn file(&self, sha256: &str, model_id: i64) -> Result<Option<FileRecord>, IndexError> {
        self.conn
            .query_row(
                &format!("SELECT {FILE_COLUMNS} FROM files WHERE sha256 = ?1 AND model_id = ?2"),
                params![sha256, model_id],
                file_from_row,
            )
            .optional()
            .map_err(|e| self.sql(e))
    }

    /// Starts (or resumes) indexing a file, and returns its row:
    /// - no row yet: a new `pending` row with no clips;
    /// - `pending` with the same window and stride: returned as is, to resume at `clips_done`;
    /// - `pending` with other settings: its clips are deleted and it restarts from clip 0;
    /// - `complete`: returned untouched (the caller skips the file).
    pub fn begin_file(&mut self, model_id: i64, file: &NewFile) -> Result<FileRecord, IndexError> {
        let path = self.path.display().to_string();
        let sql = |source| IndexError::Sql {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(sql)?;
        let existing = tx
            .query_row(
                &format!("SELECT {FILE_COLUMNS} FROM files WHERE sha256 = ?1 AND model_id = ?2"),
                params![file.sha256, model_id],
                file_from_row,
            )
            .optional()
            .map_err(sql)?;
        match existing {
            Some(rec) if rec.status == FileStatus::Complete => {}
            Some(rec) if rec.window_s == file.window_s && rec.stride_s == file.stride_s => {
                tx.execute(
                    "UPDATE files SET path = ?2 WHERE id = ?1",
                    params![rec.id, file.path],
                )
                .map_err(sql)?;
            }
            Some(rec) => {
                tx.execute("DELETE FROM segments WHERE file_id = ?1", params![rec.id])
                    .map_err(sql)?;
                tx.execute(
                    "UPDATE files SET path = ?2, window_s = ?3, stride_s = ?4, clips_done = 0, \
                     started_at = ?5 WHERE id = ?1",
                    params![rec.id, file.path, file.window_s, file.stride_s, now()],
                )
                .map_err(sql)?;
            }
            None => {
                tx.execute(
                    "INSERT INTO files (sha256, model_id, path, bytes, kind, window_s, stride_s, \
                     status, clips_done, started_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, ?9)",
                    params![
                        file.sha256,
                        model_id,
                        file.path,
                        file.bytes as i64,
                        file.kind,
                        file.window_s,
                        file.stride_s,
                        FileStatus::Pending.name(),
                        now()
                    ],
                )
                .map_err(sql)?;
            }
        }
        let rec = tx
            .query_row(
                &format!("SELECT {FILE_COLUMNS} FROM files WHERE sha256 = ?1 AND model_id = ?2"),
                params![file.sha256, model_id],
                file_from_row,
            )
            .map_err(sql)?;
        tx.commit().map_err(sql)?;
        Ok(rec)
    }

    /// Commits one batch of a pending file's clips in one transaction: `segments` are clips
    /// `clips_done..clips_done_after` (the file's counter must still be `clips_done`, else
    /// another process is indexing the same file). `complete` (the file's duration) marks the
    /// file complete in the same transaction.
    pub fn commit_clips(
        &mut self,
        file_id: i64,
        clips_done: u32,
        clips_done_after: u32,
        segments: &[NewSegment],
        complete: Option<f64>,
    ) -> Result<(), IndexError> {
        let path = self.path.display().to_string();
        let sql = |source| IndexError::Sql {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(sql)?;
        let (status, done): (String, u32) = tx
            .query_row(
                "SELECT status, clips_done FROM files WHERE id = ?1",
                params![file_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(sql)?;
        if status != FileStatus::Pending.name() || done != clips_done {
            return Err(IndexError::Conflict {
                path,
                problem: format!(
                    "file {file_id} changed under this writer (status {status}, {done} clips, \
                     expected pending with {clips_done}): is another `mmv index` running?"
                ),
            });
        }
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO segments (file_id, clip, modality, start_s, end_s, va, vat, \
                     thumbnail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .map_err(sql)?;
            for s in segments {
                insert
                    .execute(params![
                        file_id,
                        s.clip,
                        s.modality.name(),
                        s.start_s,
                        s.end_s,
                        s.va.as_deref().map(to_blob),
                        s.vat.as_deref().map(to_blob),
                        s.thumbnail
                    ])
                    .map_err(sql)?;
            }
        }
        match complete {
            Some(duration) => tx.execute(
                "UPDATE files SET clips_done = ?2, status = 'complete', duration_s = ?3, \
                 completed_at = ?4 WHERE id = ?1",
                params![file_id, clips_done_after, duration, now()],
            ),
            None => tx.execute(
                "UPDATE files SET clips_done = ?2 WHERE id = ?1",
                params![file_id, clips_done_after],
            ),
        }
        .map_err(sql)?;
        tx.commit().map_err(sql)
    }

    /// Every file row, in insertion order.
    pub fn files(&self) -> Result<Vec<FileRecord>, IndexError> {
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT {FILE_COLUMNS} FROM files ORDER BY id"))
            .map_err(|e| self.sql(e))?;
        let rows = stmt.query_map([], file_from_row).map_err(|e| self.sql(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sql(e))
    }

    /// A segment and its file, by segment id.
    pub fn segment(&self, id: i64) -> Result<SegmentInfo, IndexError> {
        let row = self
            .conn
            .query_row(
                "SELECT s.id, f.path, f.sha256, s.clip, s.modality, s.start_s, s.end_s, \
                 s.thumbnail FROM segments s JOIN files f ON f.id = s.file_id WHERE s.id = ?1",
                params![id],
                |r| {
                    Ok((
                        SegmentInfo {
                            id: r.get(0)?,
                            path: r.get(1)?,
                            sha256: r.get(2)?,
                            clip: r.get(3)?,
                            modality: Modality::Video,
                            start_s: r.get(5)?,
                            end_s: r.get(6)?,
                            thumbnail: r.get(7)?,
                        },
                        r.get::<_, String>(4)?,
                    ))
                },
            )
            .map_err(|e| self.sql(e))?;
        let (mut info, modality) = row;
        info.modality = Modality::parse(&modality)
            .ok_or_else(|| self.corrupt(format!("segment {id} has modality {modality:?}")))?;
        Ok(info)
    }

    /// The segments of one file (by `files.id`), in clip and modality order, each with its
    /// text-space (`vat`) embedding, for a timeline of tags. Thumbnails are left out (see
    /// [`Index::thumbnail`]); an unknown file has none.
    pub fn file_segments(&self, file_id: i64) -> Result<Vec<FileSegment>, IndexError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT s.id, f.path, f.sha256, s.clip, s.modality, s.start_s, s.end_s, s.vat \
                 FROM segments s JOIN files f ON f.id = s.file_id WHERE f.id = ?1 \
                 ORDER BY s.clip, s.modality",
            )
            .map_err(|e| self.sql(e))?;
        let mut rows = stmt.query(params![file_id]).map_err(|e| self.sql(e))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(|e| self.sql(e))? {
            let get = |e| self.sql(e);
            let id: i64 = r.get(0).map_err(get)?;
            let modality: String = r.get(4).map_err(get)?;
            let modality = Modality::parse(&modality)
                .ok_or_else(|| self.corrupt(format!("segment {id} has modality {modality:?}")))?;
            let vat: Option<Vec<u8>> = r.get(7).map_err(get)?;
            let vat = vat
                .map(|b| {
                    from_blob(&b).ok_or_else(|| {
                        self.corrupt(format!("segment {id}: a vat of {} bytes", b.len()))
                    })
                })
                .transpose()?;
            let info = SegmentInfo {
                id,
                path: r.get(1).map_err(get)?,
                sha256: r.get(2).map_err(get)?,
                clip: r.get(3).map_err(get)?,
                modality,
                start_s: r.get(5).map_err(get)?,
                end_s: r.get(6).map_err(get)?,
                thumbnail: None,
            };
            out.push((info, vat));
        }
        Ok(out)
    }

    /// A segment's thumbnail (a small JPEG); None for an unknown segment or one without.
    pub fn thumbnail(&self, segment_id: i64) -> Result<Option<Vec<u8>>, IndexError> {
        self.conn
            .query_row(
                "SELECT thumbnail FROM segments WHERE id = ?1",
                params![segment_id],
                |r| r.get::<_, Option<Vec<u8>>>(0),
            )
            .optional()
            .map(Option::flatten)
            .map_err(|e| self.sql(e))
    }

    /// Counts of models, files and segments.
    pub fn stats(&self) -> Result<IndexStats, IndexError> {
        let count = |sql: &str| -> Result<u64, IndexError> {
            self.conn
                .query_row(sql, [], |r| r.get::<_, i64>(0))
                .map(|n| n as u64)
                .map_err(|e| self.sql(e))
        };
        let mut segments = Vec::new();
        for m in Modality::ALL {
            let n: i64 = self
                .conn
                .query_row(
                    "SELECT count(*) FROM segments s JOIN files f ON f.id = s.file_id \
                     WHERE f.status = 'complete' AND s.modality = ?1",
                    params![m.name()],
                    |r| r.get(0),
                )
                .map_err(|e| self.sql(e))?;
            if n > 0 {
                segments.push((m, n as u64));
            }
        }
        Ok(IndexStats {
            schema_version: self.schema_version()?,
            models: self.models()?,
            files_complete: count("SELECT count(*) FROM files WHERE status = 'complete'")?,
            files_pending: count("SELECT count(*) FROM files WHERE status = 'pending'")?,
            segments,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn model() -> ModelKey {
        ModelKey {
            name: "m".into(),
            version: "1".into(),
            design: "fac".into(),
        }
    }

    pub(crate) fn new_file(sha: &str) -> NewFile {
        NewFile {
            sha256: sha.into(),
            path: format!("/footage/{sha}.y4m"),
            bytes: 10,
            kind: "y4m".into(),
            window_s: 1.6,
            stride_s: 1.6,
        }
    }

    pub(crate) fn seg(clip: u32, modality: Modality, va: &[f32], vat: &[f32]) -> NewSegment {
        NewSegment {
            clip,
            modality,
            start_s: f64::from(clip) * 1.6,
            end_s: f64::from(clip + 1) * 1.6,
            va: Some(va.to_vec()),
            vat: Some(vat.to_vec()),
            thumbnail: None,
        }
    }

    #[test]
    fn blobs_round_trip() {
        let v = [1.5f32, -0.25, f32::MIN_POSITIVE];
        assert_eq!(from_blob(&to_blob(&v)).unwrap(), v);
        assert_eq!(from_blob(&[0; 5]), None);
    }

    #[test]
    fn files_go_pending_batches_complete() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = Index::open(&dir.path().join("i.db")).unwrap();
        let m = index.model_id(&model()).unwrap();
        assert_eq!(index.model_id(&model()).unwrap(), m);
        let other_design = ModelKey {
            design: "shared".into(),
            ..model()
        };
        assert!(matches!(
            index.model_id(&other_design),
            Err(IndexError::Conflict { .. })
        ));

        let rec = index.begin_file(m, &new_file("aa")).unwrap();
        assert_eq!((rec.status, rec.clips_done), (FileStatus::Pending, 0));
        index
            .commit_clips(
                rec.id,
                0,
                1,
                &[seg(0, Modality::Video, &[1.0], &[1.0])],
                None,
            )
            .unwrap();
        // A stale writer is refused, and nothing it tried is kept.
        assert!(matches!(
            index.commit_clips(
                rec.id,
                0,
                1,
                &[seg(0, Modality::Audio, &[1.0], &[1.0])],
                None
            ),
            Err(IndexError::Conflict { .. })
        ));
        // Resuming returns the counter.
        let again = index.begin_file(m, &new_file("aa")).unwrap();
        assert_eq!((again.id, again.clips_done), (rec.id, 1));
        index
            .commit_clips(
                rec.id,
                1,
                2,
                &[seg(1, Modality::Video, &[1.0], &[1.0])],
                Some(3.2),
            )
            .unwrap();
        let done = index.file("aa", m).unwrap().unwrap();
        assert_eq!(done.status, FileStatus::Complete);
        assert_eq!(done.duration_s, Some(3.2));
        let stats = index.stats().unwrap();
        assert_eq!(stats.files_complete, 1);
        assert_eq!(stats.segments, vec![(Modality::Video, 2)]);

        // Different settings restart a pending file from scratch.
        let p = index.begin_file(m, &new_file("bb")).unwrap();
        index
            .commit_clips(p.id, 0, 1, &[seg(0, Modality::Video, &[1.0], &[1.0])], None)
            .unwrap();
        let restarted = index
            .begin_file(
                m,
                &NewFile {
                    stride_s: 0.8,
                    ..new_file("bb")
                },
            )
            .unwrap();
        assert_eq!((restarted.id, restarted.clips_done), (p.id, 0));
        let n: i64 = index
            .conn
            .query_row(
                "SELECT count(*) FROM segments WHERE file_id = ?1",
                [p.id],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 0);
        let info = index.segment(1).unwrap();
        assert_eq!((info.clip, info.modality), (0, Modality::Video));
        assert_eq!(info.path, "/footage/aa.y4m");
    }
}
