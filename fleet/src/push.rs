//! Push: the rows of a local index that the central database does not have yet.
//!
//! - Rows are keyed by (device, local row id) centrally; `INSERT ... ON CONFLICT DO NOTHING`
//!   makes a batch sent twice harmless.
//! - The cursor (the highest local row id sent, per database and device) lives in the local
//!   index file, in this crate's own table `fleet_push_cursor`; it moves only after the batch's
//!   transaction has committed centrally. A push killed anywhere resumes at the cursor and at
//!   worst re-sends one batch, which the key absorbs: nothing lost, nothing twice.
//! - Rows of a file still being indexed (`pending`) are not sent, and neither is anything after
//!   them, so the cursor never passes a row that could still appear below it.
//! - While the database is away (network gone, server restarting) the push reconnects with
//!   exponential backoff (0.2 s doubling to 10 s, with jitter) for up to `max_wait`.

use std::path::Path;
use std::time::{Duration, Instant};

use pgvector::Vector;
use postgres::Client;
use postgres::types::ToSql;
use rand::Rng;
use rusqlite::{OpenFlags, params};
use serde::Serialize;

use crate::{FleetError, ModelIdentity, schema, url};

/// How a push runs.
#[derive(Clone, Debug)]
pub struct PushOptions {
    /// This board's name in the fleet.
    pub device: String,
    /// Rows per transaction.
    pub batch_rows: usize,
    /// The identities of the bundles this board runs; a local row of a model not among them is
    /// sent with an empty manifest hash (no query of a known bundle will compare with it).
    pub models: Vec<ModelIdentity>,
    /// Give up when the database has been unreachable this long.
    pub max_wait: Duration,
    /// Send the clips' thumbnails (small JPEGs) too.
    pub thumbnails: bool,
}

impl PushOptions {
    pub fn new(device: impl Into<String>, models: Vec<ModelIdentity>) -> Self {
        Self {
            device: device.into(),
            batch_rows: 256,
            models,
            max_wait: Duration::from_secs(600),
            thumbnails: true,
        }
    }
}

/// What a push did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PushReport {
    pub device: String,
    pub rows_pushed: u64,
    pub batches: u64,
    pub reconnects: u64,
    /// The cursor after the push: the highest local row id the database has.
    pub cursor: i64,
    /// Rows of complete files in the local index (the database holds as many for this device
    /// once the push is done).
    pub local_rows: u64,
    /// Local models that no `--bundle` given describes (pushed with an unknown manifest hash).
    pub unknown_models: Vec<String>,
    pub elapsed_s: f64,
}

/// Progress of a push, for printing.
#[derive(Debug)]
pub enum PushEvent<'a> {
    /// A batch committed.
    Batch { rows: usize, cursor: i64 },
    /// The database is away; the next try is in `retry_in`.
    Waiting {
        error: &'a str,
        retry_in: Duration,
        away_for: Duration,
    },
}

/// One row as the database stores it.
#[derive(Clone, Debug)]
pub struct CentralRow {
    pub local_id: i64,
    pub model: ModelIdentity,
    pub path: String,
    pub file_sha256: String,
    pub clip: i32,
    pub modality: String,
    pub start_s: f64,
    pub end_s: f64,
    /// Seconds since the epoch when the file was indexed.
    pub indexed_at: Option<f64>,
    pub va: Option<Vector>,
    pub vat: Option<Vector>,
    pub thumbnail: Option<Vec<u8>>,
}

const COLUMNS: usize = 16;

/// Inserts `rows` of `device` in one statement (the caller's transaction); rows already there
/// are left alone. Returns how many were new.
pub fn insert_rows(
    client: &mut impl postgres::GenericClient,
    device: &str,
    rows: &[CentralRow],
) -> Result<u64, FleetError> {
    if rows.is_empty() {
        return Ok(0);
    }
    let mut sql = String::from(
        "INSERT INTO fleet_segments (device, local_id, model_name, model_version, model_design, \
         manifest_sha256, path, file_sha256, clip, modality, start_s, end_s, indexed_at, va, vat, \
         thumbnail) VALUES ",
    );
    let mut params: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(rows.len() * COLUMNS);
    for (i, r) in rows.iter().enumerate() {
        let b = i * COLUMNS;
        if i > 0 {
            sql.push(',');
        }
        sql.push('(');
        for c in 1..=COLUMNS {
            if c > 1 {
                sql.push(',');
            }
            if c == 13 {
                sql.push_str(&format!("to_timestamp(${}::float8)", b + c));
            } else {
                sql.push_str(&format!("${}", b + c));
            }
        }
        sql.push(')');
        params.extend_from_slice(&[
            &device as &(dyn ToSql + Sync),
            &r.local_id,
            &r.model.name,
            &r.model.version,
            &r.model.design,
            &r.model.manifest_sha256,
            &r.path,
            &r.file_sha256,
            &r.clip,
            &r.modality,
            &r.start_s,
            &r.end_s,
            &r.indexed_at,
            &r.va,
            &r.vat,
            &r.thumbnail,
        ]);
    }
    sql.push_str(" ON CONFLICT (device, local_id) DO NOTHING");
    client.execute(&sql, &params).map_err(|source| {
        let context = match source.code().map(|c| c.code()) {
            Some("23503") => format!(
                "device {device:?} is not registered in the fleet database (its owner adds it \
                 with `mmv fleet add-device`)"
            ),
            Some("42501") => format!("this role may not write rows of device {device:?}"),
            _ => format!("pushing rows of device {device:?}"),
        };
        FleetError::Sql { context, source }
    })
}

/// Records each model of `rows` in `fleet_models` (for "other models exist" notes).
fn insert_models(
    client: &mut impl postgres::GenericClient,
    rows: &[CentralRow],
) -> Result<(), FleetError> {
    let mut models: Vec<&ModelIdentity> = rows.iter().map(|r| &r.model).collect();
    models.sort();
    models.dedup();
    for m in models {
        client
            .execute(
                "INSERT INTO fleet_models (name, version, design, manifest_sha256) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                &[&m.name, &m.version, &m.design, &m.manifest_sha256],
            )
            .map_err(FleetError::sql("recording the model"))?;
    }
    Ok(())
}

/// The local side: the index file and its cursor table.
pub struct LocalIndex {
    conn: rusqlite::Connection,
    path: String,
}

impl LocalIndex {
    /// Opens an existing mmv index (checked and migrated by the runtime first) and creates the
    /// cursor table if it is missing.
    pub fn open(path: &Path) -> Result<Self, FleetError> {
        drop(mmv_runtime::index::Index::open_existing(path)?);
        let name = path.display().to_string();
        let local = |source| FleetError::Local {
            path: name.clone(),
            source,
        };
        let conn = rusqlite::Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(local)?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(local)?;
        conn.execute_batch(
            "PRAGMA synchronous = NORMAL;
             CREATE TABLE IF NOT EXISTS fleet_push_cursor (
                 target TEXT NOT NULL,
                 device TEXT NOT NULL,
                 last_local_id INTEGER NOT NULL,
                 rows_pushed INTEGER NOT NULL,
                 updated_at INTEGER NOT NULL,
                 PRIMARY KEY (target, device)
             );",
        )
        .map_err(local)?;
        Ok(Self { conn, path: name })
    }

    fn local(&self, source: rusqlite::Error) -> FleetError {
        FleetError::Local {
            path: self.path.clone(),
            source,
        }
    }

    /// The cursor for (`target`, `device`): the highest local row id already in the database.
    pub fn cursor(&self, target: &str, device: &str) -> Result<i64, FleetError> {
        self.conn
            .query_row(
                "SELECT last_local_id FROM fleet_push_cursor WHERE target = ?1 AND device = ?2",
                params![target, device],
                |r| r.get(0),
            )
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(0),
                e => Err(e),
            })
            .map_err(|e| self.local(e))
    }

    fn advance(&self, target: &str, device: &str, to: i64, rows: u64) -> Result<(), FleetError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        self.conn
            .execute(
                "INSERT INTO fleet_push_cursor (target, device, last_local_id, rows_pushed, \
                 updated_at) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (target, device) DO UPDATE \
                 SET last_local_id = excluded.last_local_id, \
                 rows_pushed = rows_pushed + excluded.rows_pushed, updated_at = excluded.updated_at",
                params![target, device, to, rows as i64, now],
            )
            .map(drop)
            .map_err(|e| self.local(e))
    }

    /// Rows of complete files (what a search of this index sees).
    pub fn complete_rows(&self) -> Result<u64, FleetError> {
        self.conn
            .query_row(
                "SELECT count(*) FROM segments s JOIN files f ON f.id = s.file_id \
                 WHERE f.status = 'complete'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(|e| self.local(e))
    }

    /// Up to `limit` rows after `cursor`, in id order, stopping before the first row of a file
    /// still pending. Models are matched to `models` by name, version and design.
    pub fn rows_after(
        &self,
        cursor: i64,
        limit: usize,
        models: &[ModelIdentity],
        thumbnails: bool,
        unknown: &mut Vec<String>,
    ) -> Result<Vec<CentralRow>, FleetError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT s.id, s.clip, s.modality, s.start_s, s.end_s, s.va, s.vat, s.thumbnail, \
                 f.path, f.sha256, f.status, coalesce(f.completed_at, f.started_at), \
                 m.name, m.version, m.design \
                 FROM segments s JOIN files f ON f.id = s.file_id JOIN models m ON m.id = f.model_id \
                 WHERE s.id > ?1 ORDER BY s.id LIMIT ?2",
            )
            .map_err(|e| self.local(e))?;
        let mut rows = stmt
            .query(params![cursor, limit as i64])
            .map_err(|e| self.local(e))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(|e| self.local(e))? {
            let get = |e| FleetError::Local {
                path: self.path.clone(),
                source: e,
            };
            let status: String = row.get(10).map_err(get)?;
            if status != "complete" {
                break;
            }
            let id: i64 = row.get(0).map_err(get)?;
            let vector = |col: usize| -> Result<Option<Vector>, FleetError> {
                let bytes: Option<Vec<u8>> = row.get(col).map_err(get)?;
                bytes
                    .map(|b| {
                        if b.len() % 4 != 0 {
                            return Err(FleetError::Invalid(format!(
                                "local index {}: row {id} has an embedding of {} bytes",
                                self.path,
                                b.len()
                            )));
                        }
                        Ok(Vector::from(
                            b.chunks_exact(4)
                                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                                .collect::<Vec<f32>>(),
                        ))
                    })
                    .transpose()
            };
            let (name, version, design): (String, String, String) = (
                row.get(12).map_err(get)?,
                row.get(13).map_err(get)?,
                row.get(14).map_err(get)?,
            );
            let model = models
                .iter()
                .find(|m| m.name == name && m.version == version && m.design == design)
                .cloned()
                .unwrap_or_else(|| {
                    let label = format!("{name} {version}");
                    if !unknown.contains(&label) {
                        unknown.push(label);
                    }
                    ModelIdentity {
                        name,
                        version,
                        design,
                        manifest_sha256: String::new(),
                    }
                });
            let indexed_at: Option<String> = row.get(11).map_err(get)?;
            out.push(CentralRow {
                local_id: id,
                model,
                path: row.get(8).map_err(get)?,
                file_sha256: row.get(9).map_err(get)?,
                clip: row.get(1).map_err(get)?,
                modality: row.get(2).map_err(get)?,
                start_s: row.get(3).map_err(get)?,
                end_s: row.get(4).map_err(get)?,
                indexed_at: indexed_at.and_then(|t| t.parse().ok()),
                va: vector(5)?,
                vat: vector(6)?,
                thumbnail: if thumbnails {
                    row.get(7).map_err(get)?
                } else {
                    None
                },
            });
        }
        Ok(out)
    }
}

/// Where a URL points, without user or password: the cursor's key, so that pushing one index
/// to two databases keeps two cursors.
pub fn target_of(db_url: &str) -> Result<String, FleetError> {
    let config = url::parse(db_url)?;
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            postgres::config::Host::Tcp(h) => h.clone(),
            postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .unwrap_or_default();
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config.get_dbname().or(config.get_user()).unwrap_or("");
    Ok(format!("{host}:{port}/{db}"))
}

/// Pushes the new rows of the index at `index_path` to the database at `db_url`.
pub fn push(
    index_path: &Path,
    db_url: &str,
    options: &PushOptions,
    on_event: &mut dyn FnMut(&PushEvent<'_>),
) -> Result<PushReport, FleetError> {
    crate::roles::check_device_name(&options.device)?;
    let started = Instant::now();
    let local = LocalIndex::open(index_path)?;
    let target = target_of(db_url)?;
    let device = options.device.as_str();
    let mut report = PushReport {
        device: device.to_string(),
        cursor: local.cursor(&target, device)?,
        ..PushReport::default()
    };
    let mut client: Option<Client> = None;
    let mut rng = rand::rng();
    loop {
        let rows = local.rows_after(
            report.cursor,
            options.batch_rows.max(1),
            &options.models,
            options.thumbnails,
            &mut report.unknown_models,
        )?;
        let Some(last) = rows.last().map(|r| r.local_id) else {
            break;
        };
        let mut away_since: Option<Instant> = None;
        let mut delay = Duration::from_millis(200);
        loop {
            match send_batch(&mut client, db_url, device, &rows) {
                Ok(()) => break,
                Err(e) if e.is_transient() => {
                    client = None;
                    let since = *away_since.get_or_insert_with(Instant::now);
                    if since.elapsed() >= options.max_wait {
                        return Err(FleetError::GaveUp {
                            url: url::mask(db_url),
                            waited_s: since.elapsed().as_secs_f64(),
                            last: e.to_string(),
                        });
                    }
                    let jitter = rng.random_range(0.0..0.25) * delay.as_secs_f64();
                    let retry_in = delay + Duration::from_secs_f64(jitter);
                    on_event(&PushEvent::Waiting {
                        error: &e.to_string(),
                        retry_in,
                        away_for: since.elapsed(),
                    });
                    std::thread::sleep(retry_in);
                    delay = (delay * 2).min(Duration::from_secs(10));
                    report.reconnects += 1;
                }
                Err(e) => return Err(e),
            }
        }
        local.advance(&target, device, last, rows.len() as u64)?;
        report.cursor = last;
        report.rows_pushed += rows.len() as u64;
        report.batches += 1;
        on_event(&PushEvent::Batch {
            rows: rows.len(),
            cursor: last,
        });
    }
    report.local_rows = local.complete_rows()?;
    report.elapsed_s = started.elapsed().as_secs_f64();
    Ok(report)
}

/// One batch in one transaction, connecting first if needed.
fn send_batch(
    client: &mut Option<Client>,
    db_url: &str,
    device: &str,
    rows: &[CentralRow],
) -> Result<(), FleetError> {
    if client.is_none() {
        let mut c = url::connect(db_url)?;
        schema::check_version(&mut c)?;
        *client = Some(c);
    }
    let c = client.as_mut().expect("connected above");
    let mut tx = c
        .transaction()
        .map_err(FleetError::sql("starting a push transaction"))?;
    insert_models(&mut tx, rows)?;
    insert_rows(&mut tx, device, rows)?;
    tx.commit()
        .map_err(FleetError::sql("committing a push batch"))
}

/// Rows of `device` in the database (as the connected role can see them).
pub fn central_rows(client: &mut Client, device: &str) -> Result<u64, FleetError> {
    client
        .query_one(
            "SELECT count(*) FROM fleet_segments WHERE device = $1",
            &[&device],
        )
        .and_then(|r| r.try_get::<_, i64>(0))
        .map(|n| n as u64)
        .map_err(FleetError::sql("counting rows"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_leave_out_users_and_passwords() {
        assert_eq!(
            target_of("postgresql://dev:pw@db.example:6543/fleet?sslmode=require").unwrap(),
            "db.example:6543/fleet"
        );
        assert_eq!(
            target_of("host=10.0.0.5 user=dev password=x dbname=f").unwrap(),
            "10.0.0.5:5432/f"
        );
    }
}
