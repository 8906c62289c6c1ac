//! Fleet search: the best rows of one model across devices, scored as `mmv search` scores a
//! local index (see `mmv_runtime::index::search`): a text query by `q.vat . row.vat`; an image
//! or audio query by the mean of the dot products in each space both it and the row have.
//!
//! [`Mode::Hnsw`] asks pgvector's HNSW index of each space the query uses for its nearest rows
//! by inner product (`<#>`), with iterative scans so that filters (model, device, modality,
//! time) do not starve the result, and rescores the candidates exactly. [`Mode::Exact`] scans
//! every row of the model: the reference the bench measures recall against.

use mmv_runtime::index::{Modality, Query};
use pgvector::Vector;
use postgres::Client;
use postgres::types::ToSql;
use serde::Serialize;

use crate::{FleetError, ModelIdentity};

/// How the database finds the nearest rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Hnsw,
    Exact,
}

/// pgvector's HNSW beam width (`hnsw.ef_search`) when a search names none. pgvector's own
/// default, 40, gave recall@10 0.944 on the 1M-row bench table (fleet/results); see the
/// README's fleet section for the sweep that chose this.
pub const DEFAULT_EF_SEARCH: usize = 64;

/// Which rows a query may return, besides its model's, and how widely HNSW looks for them.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Only these devices (all when empty).
    pub devices: Vec<String>,
    /// Only these modalities (all when empty).
    pub modalities: Vec<Modality>,
    /// Only rows indexed at or after this time (any PostgreSQL timestamptz text, e.g.
    /// `2026-12-01` or `2026-12-06 14:00+00`).
    pub since: Option<String>,
    /// Only rows indexed before this time.
    pub until: Option<String>,
    /// HNSW beam width (`hnsw.ef_search`; [`DEFAULT_EF_SEARCH`] when `None`): wider finds more
    /// of the true nearest rows and costs time. Ignored by exact scans.
    pub ef_search: Option<usize>,
}

/// One hit.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FleetHit {
    pub device: String,
    pub local_id: i64,
    pub path: String,
    pub file_sha256: String,
    pub clip: i32,
    pub modality: String,
    pub start_s: f64,
    pub end_s: f64,
    /// When the device indexed the file (UTC, RFC 3339).
    pub indexed_at: Option<String>,
    pub score: f32,
}

/// A query's answer.
#[derive(Clone, Debug, Serialize)]
pub struct SearchOutcome {
    pub model: ModelIdentity,
    pub mode: Mode,
    pub hits: Vec<FleetHit>,
    /// Models other than the query's with rows in the database: never compared with it.
    pub other_models: Vec<ModelIdentity>,
}

/// Builds a query's SQL and parameters.
struct Sql {
    text: String,
    params: Vec<Box<dyn ToSql + Sync>>,
}

impl Sql {
    fn param(&mut self, v: impl ToSql + Sync + 'static) -> String {
        self.params.push(Box::new(v));
        format!("${}", self.params.len())
    }
}

/// The conditions every candidate meets: the model, and the filter.
fn conditions(sql: &mut Sql, model: &ModelIdentity, filter: &Filter) -> String {
    let mut c = vec![
        format!("model_name = {}", sql.param(model.name.clone())),
        format!("model_version = {}", sql.param(model.version.clone())),
        format!(
            "manifest_sha256 = {}",
            sql.param(model.manifest_sha256.clone())
        ),
        format!("model_design = {}", sql.param(model.design.clone())),
    ];
    if !filter.devices.is_empty() {
        c.push(format!(
            "device = ANY({})",
            sql.param(filter.devices.clone())
        ));
    }
    if !filter.modalities.is_empty() {
        let m: Vec<String> = filter
            .modalities
            .iter()
            .map(|m| m.name().to_string())
            .collect();
        c.push(format!("modality = ANY({})", sql.param(m)));
    }
    if let Some(t) = &filter.since {
        c.push(format!(
            "indexed_at >= {}::text::timestamptz",
            sql.param(t.clone())
        ));
    }
    if let Some(t) = &filter.until {
        c.push(format!(
            "indexed_at < {}::text::timestamptz",
            sql.param(t.clone())
        ));
    }
    c.join(" AND ")
}

/// The spaces a query scores in: (column, query vector).
fn spaces(query: &Query) -> Vec<(&'static str, &[f32])> {
    let mut s = Vec::new();
    if !query.text
        && let Some(v) = &query.va
    {
        s.push(("va", v.as_slice()));
    }
    if let Some(v) = &query.vat {
        s.push(("vat", v.as_slice()));
    }
    s
}

const HIT_COLUMNS: &str = "s.device, s.local_id, s.path, s.file_sha256, s.clip, s.modality, \
    s.start_s, s.end_s, \
    to_char(s.indexed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')";

/// The `k` best rows of `model` for `query`, best first.
pub fn search(
    client: &mut Client,
    model: &ModelIdentity,
    query: &Query,
    k: usize,
    filter: &Filter,
    mode: Mode,
) -> Result<SearchOutcome, FleetError> {
    let hits = top_k(client, model, query, k, filter, mode)?;
    let other_models = other_models(client, model)?;
    Ok(SearchOutcome {
        model: model.clone(),
        mode,
        hits,
        other_models,
    })
}

/// The hits alone (what the bench times).
pub fn top_k(
    client: &mut Client,
    model: &ModelIdentity,
    query: &Query,
    k: usize,
    filter: &Filter,
    mode: Mode,
) -> Result<Vec<FleetHit>, FleetError> {
    let spaces = spaces(query);
    if k == 0 || spaces.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = Sql {
        text: String::new(),
        params: Vec::new(),
    };
    let cond = conditions(&mut sql, model, filter);
    // The exact score: the mean over the spaces both the query and the row have.
    let mut terms = Vec::new();
    let mut counts = Vec::new();
    let mut qs = Vec::new();
    for (col, q) in &spaces {
        let dim = q.len();
        let p = sql.param(Vector::from(q.to_vec()));
        terms.push(format!(
            "CASE WHEN vector_dims(s.{col}) = {dim} THEN -(s.{col}::vector({dim}) <#> {p}::vector({dim})) ELSE 0 END"
        ));
        counts.push(format!("coalesce((vector_dims(s.{col}) = {dim})::int, 0)"));
        qs.push((*col, dim, p));
    }
    let score = format!(
        "(({}) / nullif({}, 0))::real",
        terms.join(" + "),
        counts.join(" + ")
    );
    let any_space = qs
        .iter()
        .map(|(col, dim, _)| format!("vector_dims(s.{col}) = {dim}"))
        .collect::<Vec<_>>()
        .join(" OR ");
    let k_param = sql.param(k as i64);
    sql.text = match mode {
        Mode::Exact => format!(
            "SELECT {HIT_COLUMNS}, {score} AS score FROM fleet_segments s \
             WHERE {cond} AND ({any_space}) \
             ORDER BY score DESC, s.device, s.local_id LIMIT {k_param}"
        ),
        Mode::Hnsw => {
            // Each space's nearest rows through its index; then the exact score over them.
            let n = sql.param((k.max(10) * 4) as i64);
            let cands: Vec<String> = qs
                .iter()
                .map(|(col, dim, p)| {
                    format!(
                        "(SELECT device, local_id FROM fleet_segments \
                         WHERE {cond} AND vector_dims({col}) = {dim} \
                         ORDER BY {col}::vector({dim}) <#> {p}::vector({dim}) LIMIT {n})"
                    )
                })
                .collect();
            format!(
                "WITH c AS MATERIALIZED ({}) \
                 SELECT {HIT_COLUMNS}, {score} AS score FROM fleet_segments s \
                 JOIN c ON c.device = s.device AND c.local_id = s.local_id \
                 ORDER BY score DESC, s.device, s.local_id LIMIT {k_param}",
                cands.join(" UNION ")
            )
        }
    };
    let mut tx = client
        .transaction()
        .map_err(FleetError::sql("starting a search"))?;
    match mode {
        Mode::Hnsw => {
            let ef = filter
                .ef_search
                .unwrap_or(DEFAULT_EF_SEARCH)
                .max(k * 4)
                .clamp(1, 1000);
            tx.batch_execute(&format!(
                "SET LOCAL hnsw.ef_search = {ef}; SET LOCAL hnsw.iterative_scan = relaxed_order"
            ))
            .map_err(FleetError::sql("setting up the HNSW search"))?;
        }
        Mode::Exact => {
            // Parallel workers would take the other clients' cores; an exact scan is the
            // reference, timed as one backend does it.
            tx.batch_execute("SET LOCAL max_parallel_workers_per_gather = 0")
                .map_err(FleetError::sql("setting up the exact search"))?;
        }
    }
    let params: Vec<&(dyn ToSql + Sync)> = sql.params.iter().map(|p| p.as_ref()).collect();
    let rows = tx
        .query(&sql.text, &params)
        .map_err(FleetError::sql("searching the fleet"))?;
    tx.commit().map_err(FleetError::sql("ending a search"))?;
    rows.iter()
        .map(|r| {
            let get = FleetError::sql;
            Ok(FleetHit {
                device: r.try_get(0).map_err(get("reading a hit"))?,
                local_id: r.try_get(1).map_err(get("reading a hit"))?,
                path: r.try_get(2).map_err(get("reading a hit"))?,
                file_sha256: r.try_get(3).map_err(get("reading a hit"))?,
                clip: r.try_get(4).map_err(get("reading a hit"))?,
                modality: r.try_get(5).map_err(get("reading a hit"))?,
                start_s: r.try_get(6).map_err(get("reading a hit"))?,
                end_s: r.try_get(7).map_err(get("reading a hit"))?,
                indexed_at: r.try_get(8).map_err(get("reading a hit"))?,
                score: r.try_get(9).map_err(get("reading a hit"))?,
            })
        })
        .collect()
}

/// Rows of `model` in the database, and the devices they came from.
pub fn model_counts(client: &mut Client, model: &ModelIdentity) -> Result<(i64, i64), FleetError> {
    let mut sql = Sql {
        text: String::new(),
        params: Vec::new(),
    };
    let cond = conditions(&mut sql, model, &Filter::default());
    sql.text = format!("SELECT count(*), count(DISTINCT device) FROM fleet_segments WHERE {cond}");
    let params: Vec<&(dyn ToSql + Sync)> = sql.params.iter().map(|p| p.as_ref()).collect();
    client
        .query_one(&sql.text, &params)
        .map(|r| (r.get(0), r.get(1)))
        .map_err(FleetError::sql("counting the model's rows"))
}

/// A row's thumbnail (JPEG), if the device pushed one; None also for a row of another model.
pub fn thumbnail(
    client: &mut Client,
    model: &ModelIdentity,
    device: &str,
    local_id: i64,
) -> Result<Option<Vec<u8>>, FleetError> {
    let mut sql = Sql {
        text: String::new(),
        params: Vec::new(),
    };
    let cond = conditions(&mut sql, model, &Filter::default());
    let (d, l) = (sql.param(device.to_string()), sql.param(local_id));
    sql.text = format!(
        "SELECT thumbnail FROM fleet_segments WHERE {cond} AND device = {d} AND local_id = {l}"
    );
    let params: Vec<&(dyn ToSql + Sync)> = sql.params.iter().map(|p| p.as_ref()).collect();
    let row = client
        .query_opt(&sql.text, &params)
        .map_err(FleetError::sql("reading a thumbnail"))?;
    Ok(row.and_then(|r| r.get::<_, Option<Vec<u8>>>(0)))
}

/// Models other than `model` that have rows in the database.
pub fn other_models(
    client: &mut Client,
    model: &ModelIdentity,
) -> Result<Vec<ModelIdentity>, FleetError> {
    let rows = client
        .query(
            "SELECT name, version, design, manifest_sha256 FROM fleet_models \
             WHERE NOT (name = $1 AND version = $2 AND design = $3 AND manifest_sha256 = $4) \
             ORDER BY 1, 2, 4",
            &[
                &model.name,
                &model.version,
                &model.design,
                &model.manifest_sha256,
            ],
        )
        .map_err(FleetError::sql("reading fleet_models"))?;
    Ok(rows
        .iter()
        .map(|r| ModelIdentity {
            name: r.get(0),
            version: r.get(1),
            design: r.get(2),
            manifest_sha256: r.get(3),
        })
        .collect())
}
