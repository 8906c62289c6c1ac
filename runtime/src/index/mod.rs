//! The search index: a SQLite file of clip embeddings, with the files they came from.
//!
//! - [`schema`]: tables and migrations (`PRAGMA user_version`);
//! - [`store`]: writing files and their clips crash-safely, reading rows back;
//! - [`search`]: brute-force top-k over the embeddings held in memory;
//! - [`indexer`]: footage files -> clips embedded by the pipeline -> rows, incrementally
//!   and resumably.
//!
//! Crash safety: a file is a `files` row in state `pending` until the transaction that commits
//! its last clips marks it `complete`; clips are committed in batches, each batch in one
//! transaction together with the file's `clips_done` counter. A process killed at any point
//! leaves the database at some batch boundary; a rerun resumes the file at `clips_done`, and the
//! `UNIQUE (file_id, clip, modality)` constraint makes a duplicate row impossible. Searches
//! read complete files only. The database runs in WAL mode with `synchronous = NORMAL`: a crash
//! of the process loses nothing committed; a power cut may lose the last batches, never
//! consistency, and a rerun redoes them.

pub mod indexer;
mod scan;
pub mod schema;
pub mod search;
pub mod store;

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};
use serde::{Deserialize, Serialize};

pub use indexer::{FileOutcome, IndexFileError, IndexOptions, index_file};
pub use schema::SchemaError;
pub use search::{EmbeddingTable, Hit, QUANTISED_MIN_ROWS, Query};
pub use store::{FileRecord, FileStatus, IndexStats, NewFile, NewSegment, SegmentInfo};

/// How long a writer waits for another process's transaction before giving up.
const BUSY_TIMEOUT_MS: u64 = 10_000;

/// Errors of the index; each names the index file.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("index {path}: {source}")]
    Sql {
        path: String,
        source: rusqlite::Error,
    },
    #[error("index {path}: {source}")]
    Schema { path: String, source: SchemaError },
    #[error("no index at {path} (create one with `mmv index {path} FILES...`)")]
    NotFound { path: String },
    #[error("index {path}: {problem}")]
    Corrupt { path: String, problem: String },
    #[error("index {path}: {problem}")]
    Conflict { path: String, problem: String },
    #[error("index {path} holds no clips embedded by model {model} (it holds: {available})")]
    NoModel {
        path: String,
        model: String,
        available: String,
    },
}

/// What a row was embedded from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Modality {
    /// A clip of frames, through the video network.
    Video,
    /// A window of audio, through the audio network.
    Audio,
    /// A still image, through the deflated image network.
    Image,
}

impl Modality {
    pub const ALL: [Modality; 3] = [Self::Video, Self::Audio, Self::Image];

    pub fn name(self) -> &'static str {
        match self {
            Self::Video => "video",
            Self::Audio => "audio",
            Self::Image => "image",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == text)
    }
}

/// Which model embedded a row: queries only compare with rows of the model that embeds them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ModelKey {
    pub name: String,
    pub version: String,
    pub design: String,
}

impl std::fmt::Display for ModelKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.name, self.version)
    }
}

/// An open index.
#[derive(Debug)]
pub struct Index {
    conn: Connection,
    path: PathBuf,
}

impl Index {
    /// Opens the index at `path`, creating it (and migrating it to the current schema) if needed.
    pub fn open(path: &Path) -> Result<Self, IndexError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        Self::open_with(path, flags)
    }

    /// Opens an existing index (for searching); a missing file is [`IndexError::NotFound`]
    /// rather than a new empty index.
    pub fn open_existing(path: &Path) -> Result<Self, IndexError> {
        if !path.is_file() {
            return Err(IndexError::NotFound {
                path: path.display().to_string(),
            });
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        Self::open_with(path, flags)
    }

    fn open_with(path: &Path, flags: OpenFlags) -> Result<Self, IndexError> {
        let name = path.display().to_string();
        let sql = |source| IndexError::Sql {
            path: name.clone(),
            source,
        };
        let mut conn = Connection::open_with_flags(path, flags).map_err(sql)?;
        conn.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS))
            .map_err(sql)?;
        // Another program's database or a newer index is refused before anything is written.
        let origin = name.clone();
        let schema_error = move |source| match source {
            SchemaError::Sql(source) => IndexError::Sql {
                path: origin.clone(),
                source,
            },
            source => IndexError::Schema {
                path: origin.clone(),
                source,
            },
        };
        schema::check(&conn).map_err(&schema_error)?;
        // journal_mode answers with the mode in force; anything but WAL means the file could
        // not switch (a read-only directory, say), which would silently lose crash safety.
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(sql)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(IndexError::Corrupt {
                path: name,
                problem: format!("cannot switch to WAL mode (journal mode is {mode})"),
            });
        }
        conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")
            .map_err(sql)?;
        schema::migrate(&mut conn).map_err(schema_error)?;
        Ok(Self {
            conn,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version of the open database (always the current one after opening).
    pub fn schema_version(&self) -> Result<u32, IndexError> {
        self.conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| self.sql(e))
    }

    fn sql(&self, source: rusqlite::Error) -> IndexError {
        IndexError::Sql {
            path: self.path.display().to_string(),
            source,
        }
    }

    fn corrupt(&self, problem: String) -> IndexError {
        IndexError::Corrupt {
            path: self.path.display().to_string(),
            problem,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_creates_and_refuses_what_it_should() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.db");
        assert!(matches!(
            Index::open_existing(&path),
            Err(IndexError::NotFound { .. })
        ));
        let index = Index::open(&path).unwrap();
        assert_eq!(index.schema_version().unwrap(), schema::current_version());
        drop(index);
        Index::open_existing(&path).unwrap();

        // Not a database at all.
        let junk = dir.path().join("junk.db");
        std::fs::write(
            &junk,
            b"this is not sqlite, just some text that is long enough",
        )
        .unwrap();
        let err = Index::open(&junk).unwrap_err().to_string();
        assert!(err.contains("junk.db"), "{err}");

        // Another program's database is left alone.
        let other = dir.path().join("other.db");
        Connection::open(&other)
            .unwrap()
            .execute_batch("CREATE TABLE notes (x TEXT);")
            .unwrap();
        let err = Index::open(&other).unwrap_err().to_string();
        assert!(err.contains("not an mmv index"), "{err}");
    }
}
