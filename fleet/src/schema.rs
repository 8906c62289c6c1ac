//! The central tables and their migrations.
//!
//! `fleet_schema.version` holds the schema version; `MIGRATIONS[i]` takes the database from
//! version `i` to `i + 1`. [`migrate`] runs them all in one transaction under an advisory lock,
//! so two `mmv fleet init` at once, or one killed halfway, leave the database at the old version
//! or the new one, never between; running it again changes nothing. A database newer than this
//! build is refused.
//!
//! Embeddings are pgvector `vector` columns without a fixed width (models differ); an HNSW index
//! needs one, so each indexed width gets a partial expression index,
//! `hnsw ((vat::vector(64)) vector_ip_ops) WHERE vector_dims(vat) = 64`, which a query uses when
//! it orders by `vat::vector(64) <#> $q` under the same condition ([`ensure_hnsw`]).

use postgres::Client;

use crate::FleetError;
use crate::roles::{DEVICE_GROUP, READER_GROUP};

/// The SQL of each migration, in order; the schema version is `MIGRATIONS.len()`.
pub const MIGRATIONS: &[&str] = &[
    // 1: devices, models, segments; group roles' grants and row-level security.
    r#"
    CREATE TABLE fleet_devices (
        device text PRIMARY KEY,
        role name NOT NULL UNIQUE,
        added_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE fleet_models (
        name text NOT NULL,
        version text NOT NULL,
        design text NOT NULL,
        manifest_sha256 text NOT NULL,
        first_pushed_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (name, version, design, manifest_sha256)
    );
    -- One row per row of a device's local index (segments.id = local_id).
    CREATE TABLE fleet_segments (
        device text NOT NULL REFERENCES fleet_devices (device),
        local_id bigint NOT NULL,
        model_name text NOT NULL,
        model_version text NOT NULL,
        model_design text NOT NULL,
        manifest_sha256 text NOT NULL,
        path text NOT NULL,
        file_sha256 text NOT NULL,
        clip integer NOT NULL,
        modality text NOT NULL CHECK (modality IN ('video', 'audio', 'image')),
        start_s double precision NOT NULL,
        end_s double precision NOT NULL,
        indexed_at timestamptz,
        va vector,
        vat vector,
        thumbnail bytea,
        pushed_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (device, local_id)
    );
    CREATE INDEX fleet_segments_model
        ON fleet_segments (model_name, model_version, manifest_sha256, model_design);
    -- The widths that have an HNSW index, per space.
    CREATE TABLE fleet_hnsw (
        space text NOT NULL CHECK (space IN ('va', 'vat')),
        dim integer NOT NULL,
        PRIMARY KEY (space, dim)
    );

    GRANT SELECT ON fleet_schema, fleet_devices, fleet_models, fleet_segments, fleet_hnsw
        TO mmv_fleet_reader;
    GRANT SELECT ON fleet_schema, fleet_devices, fleet_models, fleet_hnsw TO mmv_fleet_device;
    GRANT INSERT ON fleet_models TO mmv_fleet_device;
    GRANT SELECT, INSERT, UPDATE ON fleet_segments TO mmv_fleet_device;

    -- Row-level security: a device's role sees, inserts and updates the rows of its own
    -- device only (fleet_devices maps devices to roles); readers see every row. Nobody but
    -- the owner deletes.
    ALTER TABLE fleet_segments ENABLE ROW LEVEL SECURITY;
    CREATE POLICY fleet_segments_read ON fleet_segments FOR SELECT TO mmv_fleet_reader
        USING (true);
    CREATE POLICY fleet_segments_own ON fleet_segments FOR ALL TO mmv_fleet_device
        USING (EXISTS (SELECT 1 FROM fleet_devices d
                       WHERE d.device = fleet_segments.device AND d.role = current_user))
        WITH CHECK (EXISTS (SELECT 1 FROM fleet_devices d
                            WHERE d.device = fleet_segments.device AND d.role = current_user));
    "#,
];

/// The schema version this build writes.
pub fn current_version() -> i32 {
    MIGRATIONS.len() as i32
}

/// Key of the advisory lock that serialises migrations ("mmvfleet" in ASCII).
const MIGRATION_LOCK: i64 = 0x6d6d_7666_6c65_6574;

/// Brings the database to the current schema (creating the pgvector extension and the group
/// roles if needed). Returns the version found before (0 for a new database). Run as the
/// database owner (`mmv fleet init`); devices and readers never migrate.
pub fn migrate(client: &mut Client) -> Result<i32, FleetError> {
    let mut tx = client
        .transaction()
        .map_err(FleetError::sql("starting the migration"))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(FleetError::sql("locking the schema"))?;
    tx.batch_execute("CREATE EXTENSION IF NOT EXISTS vector")
        .map_err(FleetError::sql(
            "creating the pgvector extension (is pgvector installed on the server?)",
        ))?;
    // Group roles are cluster-wide: created once, shared by the databases of a cluster.
    for group in [DEVICE_GROUP, READER_GROUP] {
        tx.batch_execute(&format!(
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{group}') \
             THEN CREATE ROLE {group} NOLOGIN; END IF; END $$"
        ))
        .map_err(FleetError::sql(format!("creating role {group}")))?;
    }
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS fleet_schema (version integer NOT NULL); \
         INSERT INTO fleet_schema (version) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM fleet_schema)",
    )
    .map_err(FleetError::sql("creating fleet_schema"))?;
    let found: i32 = tx
        .query_one("SELECT max(version) FROM fleet_schema", &[])
        .and_then(|r| r.try_get(0))
        .map_err(FleetError::sql("reading the schema version"))?;
    if found > current_version() {
        return Err(FleetError::SchemaTooNew {
            found,
            supported: current_version(),
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        tx.batch_execute(sql)
            .map_err(FleetError::sql(format!("migration {}", i + 1)))?;
        tx.execute("UPDATE fleet_schema SET version = $1", &[&(i as i32 + 1)])
            .map_err(FleetError::sql("recording the schema version"))?;
    }
    tx.commit()
        .map_err(FleetError::sql("committing the migration"))?;
    Ok(found)
}

/// The schema version of the database; [`FleetError::NoSchema`] where there is none and
/// [`FleetError::SchemaTooNew`] where this build cannot read it.
pub fn check_version(client: &mut Client) -> Result<i32, FleetError> {
    let exists: bool = client
        .query_one("SELECT to_regclass('fleet_schema') IS NOT NULL", &[])
        .and_then(|r| r.try_get(0))
        .map_err(FleetError::sql("looking for the fleet schema"))?;
    if !exists {
        return Err(FleetError::NoSchema);
    }
    let found: Option<i32> = client
        .query_one("SELECT max(version) FROM fleet_schema", &[])
        .and_then(|r| r.try_get(0))
        .map_err(FleetError::sql("reading the schema version"))?;
    match found {
        None | Some(0) => Err(FleetError::NoSchema),
        Some(v) if v > current_version() => Err(FleetError::SchemaTooNew {
            found: v,
            supported: current_version(),
        }),
        Some(v) => Ok(v),
    }
}

/// The embedding spaces of a row.
pub const SPACES: [&str; 2] = ["va", "vat"];

/// HNSW build parameters. pgvector's defaults are m = 16, ef_construction = 64; inserting into
/// an HNSW index costs far more than the row itself (here 265 rows/s into a table with both
/// indexes against 20,000 without), and most of it scales with ef_construction. Measured on
/// 100k clustered rows of 128 + 64 floats, 2 connections, 2 cores: ef_construction 64 gives
/// 733 rows/s and recall@10 1.000, 40 gives 1173 rows/s and 0.998, 32 gives 1286 rows/s and
/// 0.961. m stays 16: m = 8 loses recall that a larger ef_search does not win back.
pub const HNSW_M: u32 = 16;
/// See [`HNSW_M`].
pub const HNSW_EF_CONSTRUCTION: u32 = 40;

/// Creates (if missing) the HNSW index (inner product) for vectors of width `dim` in `space`.
/// Building it over existing rows takes a while; new rows are indexed as they arrive. An index
/// that exists keeps the parameters it was built with.
pub fn ensure_hnsw(client: &mut Client, space: &str, dim: usize) -> Result<(), FleetError> {
    if !SPACES.contains(&space) || dim == 0 || dim > 16_000 {
        return Err(FleetError::Invalid(format!(
            "no HNSW index for space {space:?} of width {dim}"
        )));
    }
    // Identifiers and widths are this code's own (checked above), not user text.
    let sql = format!(
        "CREATE INDEX IF NOT EXISTS fleet_segments_{space}_{dim}_hnsw ON fleet_segments \
         USING hnsw (({space}::vector({dim})) vector_ip_ops) \
         WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION}) WHERE vector_dims({space}) = {dim}; \
         INSERT INTO fleet_hnsw (space, dim) VALUES ('{space}', {dim}) ON CONFLICT DO NOTHING"
    );
    client.batch_execute(&sql).map_err(FleetError::sql(format!(
        "creating the HNSW index on {space}({dim})"
    )))
}

/// The (space, width) pairs that have an HNSW index.
pub fn hnsw_indexes(client: &mut Client) -> Result<Vec<(String, usize)>, FleetError> {
    let rows = client
        .query("SELECT space, dim FROM fleet_hnsw ORDER BY space, dim", &[])
        .map_err(FleetError::sql("reading fleet_hnsw"))?;
    rows.iter()
        .map(|r| {
            let space: String = r
                .try_get(0)
                .map_err(FleetError::sql("reading fleet_hnsw"))?;
            let dim: i32 = r
                .try_get(1)
                .map_err(FleetError::sql("reading fleet_hnsw"))?;
            Ok((space, dim as usize))
        })
        .collect()
}
