//! The index's SQL schema and its migrations.
//!
//! `PRAGMA user_version` holds the schema version; `MIGRATIONS[i]` takes a database from
//! version `i` to `i + 1`, and each runs in its own transaction together with the version bump,
//! so a crash leaves the database at one version or the next, never between. A database newer
//! than this build is refused (it could hold rows this build would misread); `application_id`
//! marks the file as an mmv index, so another program's SQLite file is never "migrated".

use rusqlite::Connection;

/// `PRAGMA application_id` of an mmv index: "MMVi" in ASCII.
pub const APPLICATION_ID: i32 = 0x4D4D_5669;

/// The SQL of each migration, in order; the schema version is `MIGRATIONS.len()`.
pub const MIGRATIONS: &[&str] = &[
    // 1: models, files, segments.
    r#"
    CREATE TABLE models (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        version TEXT NOT NULL,
        design TEXT NOT NULL,
        UNIQUE (name, version)
    );
    -- One row per (file content, model). `status` is 'pending' while clips are being added,
    -- and becomes 'complete' in the transaction that commits the file's last clips; searches
    -- read complete files only. `clips_done` counts the clips committed so far, so an
    -- interrupted file resumes at that clip.
    CREATE TABLE files (
        id INTEGER PRIMARY KEY,
        sha256 TEXT NOT NULL,
        model_id INTEGER NOT NULL REFERENCES models(id),
        path TEXT NOT NULL,
        bytes INTEGER NOT NULL,
        kind TEXT NOT NULL,
        window_s REAL NOT NULL,
        stride_s REAL NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('pending', 'complete')),
        clips_done INTEGER NOT NULL DEFAULT 0,
        duration_s REAL,
        started_at TEXT NOT NULL,
        completed_at TEXT,
        UNIQUE (sha256, model_id)
    );
    -- One row per clip and modality. Embeddings are little-endian f32 arrays (NULL where the
    -- encoder has no such space); thumbnails are small JPEGs (NULL for audio).
    CREATE TABLE segments (
        id INTEGER PRIMARY KEY,
        file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
        clip INTEGER NOT NULL,
        modality TEXT NOT NULL CHECK (modality IN ('video', 'audio', 'image')),
        start_s REAL NOT NULL,
        end_s REAL NOT NULL,
        va BLOB,
        vat BLOB,
        thumbnail BLOB,
        UNIQUE (file_id, clip, modality)
    );
    "#,
];

/// The schema version this build writes.
pub fn current_version() -> u32 {
    MIGRATIONS.len() as u32
}

/// Why a database cannot be brought to the current schema.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error(
        "schema version {found} is newer than this build's ({}); upgrade mmv to read it",
        current_version()
    )]
    TooNew { found: u32 },
    #[error(
        "it is a SQLite database of another program (application_id {found:#x}), not an mmv index"
    )]
    Foreign { found: i32 },
    #[error("it has tables but no mmv schema version, so it is not an mmv index")]
    Unversioned,
    #[error(transparent)]
    Sql(#[from] rusqlite::Error),
}

/// Brings `conn` to the current schema, applying the missing migrations. Returns the version
/// found before migrating (0 for a new database).
pub fn migrate(conn: &mut Connection) -> Result<u32, SchemaError> {
    let found = check(conn)?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        // PRAGMA takes no parameters; the values are numbers this code produced.
        tx.execute_batch(&format!(
            "PRAGMA user_version = {}; PRAGMA application_id = {APPLICATION_ID};",
            i + 1
        ))?;
        tx.commit()?;
    }
    Ok(found)
}

/// Whether `conn` holds an mmv index this build reads (or nothing yet), without writing to it:
/// the version found (0 for a new database), or why the file is not ours to open. Run before
/// anything changes the file (switching it to WAL rewrites its header), so that another
/// program's database or a newer index is left byte-for-byte as it was.
pub fn check(conn: &Connection) -> Result<u32, SchemaError> {
    let found: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let app: i32 = conn.query_row("PRAGMA application_id", [], |r| r.get(0))?;
    if app != 0 && app != APPLICATION_ID {
        return Err(SchemaError::Foreign { found: app });
    }
    if found == 0 {
        let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
        if tables > 0 {
            return Err(SchemaError::Unversioned);
        }
    }
    if found > current_version() {
        return Err(SchemaError::TooNew { found });
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_database_migrates_to_current_and_reopens() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), 0);
        let v: u32 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, current_version());
        // Idempotent.
        assert_eq!(migrate(&mut conn).unwrap(), current_version());
        conn.execute(
            "INSERT INTO models (name, version, design) VALUES ('m', '1', 'fac')",
            [],
        )
        .unwrap();
    }

    #[test]
    fn newer_foreign_and_unversioned_databases_are_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(&format!(
            "PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = 99;"
        ))
        .unwrap();
        assert!(matches!(
            migrate(&mut conn),
            Err(SchemaError::TooNew { found: 99 })
        ));

        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("PRAGMA application_id = 42;").unwrap();
        assert!(matches!(
            migrate(&mut conn),
            Err(SchemaError::Foreign { found: 42 })
        ));

        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (x);").unwrap();
        assert!(matches!(migrate(&mut conn), Err(SchemaError::Unversioned)));
        // Nothing was changed.
        let n: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
    }
}
