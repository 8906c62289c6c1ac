//! The fleet database behind the search routes (`mmv fleet serve`): the same page and search
//! API as over a local index, answered by PostgreSQL + pgvector across every device's rows
//! (crate mmv-fleet). Queries are embedded here with the bundle; only rows of that bundle's
//! model are compared. Hits carry their device; their thumbnails come from the database.
//! Timelines and "more like this" need a device's own index, and say so.

use std::sync::Mutex;
use std::time::Instant;

use mmv_fleet::search::{self, Filter, Mode};
use mmv_fleet::{FleetError, ModelIdentity, schema, url};
use mmv_runtime::index::Modality;
use mmv_runtime::ingest::OpenOptions;
use mmv_runtime::pipeline::{Pipeline, QueryInput};
use serde_json::{Value, json};

use crate::catalog::{SearchHit, SearchResult, Searcher, embed_query, file_name};
use crate::error::ApiError;

/// The fleet database and the model whose rows it searches.
pub struct FleetCatalog {
    pipeline: Pipeline,
    model: ModelIdentity,
    /// The URL holds the password: kept here, never logged or answered (`masked` is).
    url: String,
    masked: String,
    /// One connection, reopened when the database went away.
    client: Mutex<Option<postgres::Client>>,
    open_options: OpenOptions,
    ef_search: Option<usize>,
    /// The model's row count and when it was read: counting 1M rows is a scan, not something
    /// to repeat on every search.
    rows: Mutex<Option<(i64, Instant)>>,
}

/// How long a row count shown with search results may be.
const ROWS_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(60);

/// A fleet thumbnail's URL.
fn thumbnail_url(device: &str, local_id: i64, modality: Modality) -> Option<String> {
    (modality != Modality::Audio).then(|| {
        let device: String = device
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        format!("/api/fleet/{device}/{local_id}/thumbnail.jpg")
    })
}

fn fleet_error(e: FleetError) -> ApiError {
    if e.is_transient() {
        ApiError::Unavailable(format!("the fleet database is not reachable: {e}"))
    } else {
        ApiError::Internal(e.to_string())
    }
}

impl FleetCatalog {
    /// Connects (a wrong URL or an old schema fails here, before serving) to the database of
    /// the bundle that `pipeline` was opened from (`bundle_dir`).
    pub fn connect(
        url: String,
        bundle_dir: &std::path::Path,
        pipeline: Pipeline,
        open_options: OpenOptions,
        ef_search: Option<usize>,
    ) -> Result<Self, FleetError> {
        let model = ModelIdentity::of_bundle(bundle_dir)?;
        let mut client = url::connect(&url)?;
        schema::check_version(&mut client)?;
        Ok(Self {
            pipeline,
            model,
            masked: url::mask(&url),
            url,
            client: Mutex::new(Some(client)),
            open_options,
            ef_search,
            rows: Mutex::new(None),
        })
    }

    /// The database's address with any password masked.
    pub fn masked_url(&self) -> &str {
        &self.masked
    }

    /// Runs `f` on the connection, reconnecting once if the database went away.
    fn with_client<T>(
        &self,
        f: impl Fn(&mut postgres::Client) -> Result<T, FleetError>,
    ) -> Result<T, ApiError> {
        let mut guard = self
            .client
            .lock()
            .map_err(|_| ApiError::Internal("the fleet connection was poisoned".into()))?;
        if let Some(c) = guard.as_mut().filter(|c| !c.is_closed()) {
            match f(c) {
                Err(e) if e.is_transient() => {
                    tracing::warn!(db = %self.masked, error = %e, "fleet database away; reconnecting");
                }
                other => return other.map_err(fleet_error),
            }
        }
        *guard = None;
        let mut c = url::connect(&self.url).map_err(fleet_error)?;
        let out = f(&mut c).map_err(fleet_error);
        *guard = Some(c);
        out
    }

    /// A fleet row's thumbnail JPEG.
    pub fn thumbnail(&self, device: &str, local_id: i64) -> Result<Vec<u8>, ApiError> {
        self.with_client(|c| search::thumbnail(c, &self.model, device, local_id))?
            .ok_or_else(|| {
                ApiError::NotFound(format!(
                    "clip {local_id} of device {device:?} has no thumbnail in the fleet database"
                ))
            })
    }

    /// The model's rows in the database, re-counted at most every [`ROWS_MAX_AGE`].
    fn rows(&self) -> Result<i64, ApiError> {
        if let Ok(cached) = self.rows.lock()
            && let Some((n, at)) = *cached
            && at.elapsed() < ROWS_MAX_AGE
        {
            return Ok(n);
        }
        let (n, _) = self.with_client(|c| search::model_counts(c, &self.model))?;
        if let Ok(mut cached) = self.rows.lock() {
            *cached = Some((n, Instant::now()));
        }
        Ok(n)
    }

    /// The model and the database (masked) behind the page.
    pub fn info(&self) -> Result<Value, ApiError> {
        let (rows, devices) = self.with_client(|c| search::model_counts(c, &self.model))?;
        let other_models = self.with_client(|c| search::other_models(c, &self.model))?;
        let bundle = &self.pipeline.bundle;
        Ok(json!({
            "model": self.pipeline.model_key(),
            "precision": bundle.precision,
            "encoders": bundle.kinds(),
            "open_set_cuts": bundle.manifest.open_set.as_ref().map(|o| &o.thresholds),
            "index": null,
            "fleet": {
                "database": self.masked,
                "rows": rows,
                "devices": devices,
                // Rows of other models are never compared with this one's.
                "other_models": other_models,
            },
        }))
    }
}

impl Searcher for FleetCatalog {
    /// The `k` best rows of this model across the fleet (of the given modalities; none: all).
    fn search(
        &self,
        input: &QueryInput,
        described: Value,
        k: usize,
        modalities: &[Modality],
    ) -> Result<SearchResult, ApiError> {
        let (query, embed_ms) = embed_query(&self.pipeline, input, &self.open_options)?;
        let filter = Filter {
            modalities: modalities.to_vec(),
            ef_search: self.ef_search,
            ..Filter::default()
        };
        let t1 = Instant::now();
        let hits =
            self.with_client(|c| search::top_k(c, &self.model, &query, k, &filter, Mode::Hnsw))?;
        let search_ms = t1.elapsed().as_secs_f64() * 1e3;
        let rows = self.rows()?;
        let hits = hits
            .into_iter()
            .enumerate()
            .map(|(rank, h)| {
                let modality = Modality::parse(&h.modality).unwrap_or(Modality::Video);
                SearchHit {
                    rank: rank + 1,
                    score: h.score,
                    // Fleet rows come back without their embeddings: only cosine cuts mark.
                    below_cut: self.pipeline.below_cut(&query, modality, h.score, None),
                    segment_id: h.local_id,
                    file_id: None,
                    name: file_name(&h.path),
                    thumbnail: thumbnail_url(&h.device, h.local_id, modality),
                    device: Some(h.device),
                    path: h.path,
                    clip: u32::try_from(h.clip).unwrap_or(0),
                    modality,
                    start_s: h.start_s,
                    end_s: h.end_s,
                }
            })
            .collect();
        Ok(SearchResult {
            query: described,
            rows_searched: rows as usize,
            embed_ms,
            search_ms,
            hits,
        })
    }
}
