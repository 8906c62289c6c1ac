//! What the API searches: an index and the model that embedded it, with the label set that
//! tags each clip for the timelines. All of it is blocking work, run off the async threads.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use mmv_runtime::index::{EmbeddingTable, FileStatus, Index, Modality, ModelKey, Query};
use mmv_runtime::ingest::OpenOptions;
use mmv_runtime::pipeline::{Pipeline, QueryInput};
use mmv_runtime::tag::{Tag, Tagger};
use serde::Serialize;
use serde_json::{Value, json};

use crate::error::ApiError;

/// How often, at most, the server looks for files indexed since it loaded the rows.
const RELOAD_CHECK: Duration = Duration::from_secs(2);
/// Tags shown per clip on a timeline.
const TIMELINE_TAGS: usize = 3;

/// The rows in memory, with what tells whether they are stale.
struct Rows {
    table: Arc<EmbeddingTable>,
    /// sha256 -> files.id, for this model's complete files.
    file_ids: HashMap<String, i64>,
    /// (files, complete files) when loaded.
    signature: (usize, usize),
    checked: Instant,
}

/// An index, the model that embedded it and the labels of its timelines.
pub struct Catalog {
    pipeline: Pipeline,
    tagger: Tagger,
    index: Mutex<Index>,
    rows: RwLock<Rows>,
    model: ModelKey,
    model_id: i64,
    open_options: OpenOptions,
    index_name: String,
}

/// One search result.
#[derive(Clone, Debug, Serialize)]
pub struct SearchHit {
    pub rank: usize,
    pub score: f32,
    /// Text queries on a calibrated bundle: whether the score is under the modality's open-set
    /// cut (the hit would carry no label); null otherwise.
    pub below_cut: Option<bool>,
    /// The device's own row id in fleet search (`mmv fleet serve`); the index's segment id
    /// otherwise.
    pub segment_id: i64,
    /// The device the row came from (fleet search only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    pub file_id: Option<i64>,
    pub name: String,
    pub path: String,
    pub clip: u32,
    pub modality: Modality,
    pub start_s: f64,
    pub end_s: f64,
    /// The thumbnail's URL (null for audio rows, which have none).
    pub thumbnail: Option<String>,
}

/// A search's answer.
#[derive(Clone, Debug, Serialize)]
pub struct SearchResult {
    pub query: Value,
    pub rows_searched: usize,
    pub embed_ms: f64,
    pub search_ms: f64,
    pub hits: Vec<SearchHit>,
}

/// What the search routes ask: an index ([`Catalog`]) or the fleet database
/// ([`crate::fleet::FleetCatalog`]).
pub trait Searcher: Send + Sync {
    /// The `k` best rows for a query, of the given modalities (none: all).
    fn search(
        &self,
        input: &QueryInput,
        described: Value,
        k: usize,
        modalities: &[Modality],
    ) -> Result<SearchResult, ApiError>;
}

/// A query through the bundle, and how long that took in ms.
pub(crate) fn embed_query(
    pipeline: &Pipeline,
    input: &QueryInput,
    options: &OpenOptions,
) -> Result<(Query, f64), ApiError> {
    let t0 = Instant::now();
    let query = pipeline.query(input, options)?;
    Ok((query, t0.elapsed().as_secs_f64() * 1e3))
}

impl Searcher for Catalog {
    fn search(
        &self,
        input: &QueryInput,
        described: Value,
        k: usize,
        modalities: &[Modality],
    ) -> Result<SearchResult, ApiError> {
        let (query, embed_ms) = embed_query(&self.pipeline, input, &self.open_options)?;
        self.search_embedded(&query, described, embed_ms, k, modalities)
    }
}

pub(crate) fn file_name(path: &str) -> String {
    Path::new(path)
        .file_name()
        .map_or_else(|| path.to_string(), |n| n.to_string_lossy().into_owned())
}

fn thumbnail_url(id: i64, modality: Modality) -> Option<String> {
    (modality != Modality::Audio).then(|| format!("/api/clips/{id}/thumbnail.jpg"))
}

impl Catalog {
    /// Opens the catalog: `pipeline` must be the model the index was built with (an index with
    /// none of its rows is an error naming the models it has). `tagger`: the timelines' labels.
    pub fn new(
        index_path: &Path,
        pipeline: Pipeline,
        tagger: Tagger,
        open_options: OpenOptions,
    ) -> Result<Self, ApiError> {
        let index = Index::open_existing(index_path)?;
        let model = pipeline.model_key();
        // Fails with the models the index does have.
        index.load_model_table(&model)?;
        let model_id = index
            .find_model(&model)?
            .ok_or_else(|| ApiError::Internal("the model vanished from the index".into()))?;
        Self::build(index_path, index, model_id, pipeline, tagger, open_options)
    }

    /// As [`Catalog::new`], for an index that is still being filled (the daemon's): one without
    /// rows of this model yet is searched as empty until they come.
    pub fn open_growing(
        index_path: &Path,
        pipeline: Pipeline,
        tagger: Tagger,
        open_options: OpenOptions,
    ) -> Result<Self, ApiError> {
        let mut index = Index::open_existing(index_path)?;
        let model_id = index.model_id(&pipeline.model_key())?;
        Self::build(index_path, index, model_id, pipeline, tagger, open_options)
    }

    fn build(
        index_path: &Path,
        index: Index,
        model_id: i64,
        pipeline: Pipeline,
        tagger: Tagger,
        open_options: OpenOptions,
    ) -> Result<Self, ApiError> {
        let model = pipeline.model_key();
        let rows = Self::load(&index, model_id)?;
        Ok(Self {
            pipeline,
            tagger,
            index: Mutex::new(index),
            rows: RwLock::new(rows),
            model,
            model_id,
            open_options,
            index_name: file_name(&index_path.display().to_string()),
        })
    }

    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    fn load(index: &Index, model_id: i64) -> Result<Rows, ApiError> {
        let table = index.load_table(model_id)?;
        let files = index.files()?;
        let file_ids = files
            .iter()
            .filter(|f| f.model_id == model_id && f.status == FileStatus::Complete)
            .map(|f| (f.sha256.clone(), f.id))
            .collect();
        Ok(Rows {
            table: Arc::new(table),
            file_ids,
            signature: signature(&files),
            checked: Instant::now(),
        })
    }

    fn index(&self) -> Result<std::sync::MutexGuard<'_, Index>, ApiError> {
        self.index
            .lock()
            .map_err(|_| ApiError::Internal("the index lock is poisoned".into()))
    }

    /// The rows, reloaded when files were indexed since (checked every few seconds).
    fn rows(&self) -> Result<(Arc<EmbeddingTable>, HashMap<String, i64>), ApiError> {
        let poisoned = || ApiError::Internal("the rows' lock is poisoned".into());
        {
            let rows = self.rows.read().map_err(|_| poisoned())?;
            if rows.checked.elapsed() < RELOAD_CHECK {
                return Ok((rows.table.clone(), rows.file_ids.clone()));
            }
        }
        let mut rows = self.rows.write().map_err(|_| poisoned())?;
        if rows.checked.elapsed() >= RELOAD_CHECK {
            let index = self.index()?;
            if signature(&index.files()?) != rows.signature {
                *rows = Self::load(&index, self.model_id)?;
                tracing::info!(rows = rows.table.len(), "index rows reloaded");
            }
            rows.checked = Instant::now();
        }
        Ok((rows.table.clone(), rows.file_ids.clone()))
    }

    /// As [`Catalog::search`], for a query already embedded.
    pub fn search_embedded(
        &self,
        query: &Query,
        described: Value,
        embed_ms: f64,
        k: usize,
        modalities: &[Modality],
    ) -> Result<SearchResult, ApiError> {
        let (table, file_ids) = self.rows()?;
        let t1 = Instant::now();
        let hits = table.top_k(query, k, modalities);
        let search_ms = t1.elapsed().as_secs_f64() * 1e3;
        let resolved = self.index()?.resolve(&hits)?;
        let hits = resolved
            .into_iter()
            .enumerate()
            .map(|(rank, (info, score))| SearchHit {
                rank: rank + 1,
                score,
                below_cut: self.pipeline.below_cut(
                    query,
                    info.modality,
                    score,
                    table.vat_of(info.id),
                ),
                segment_id: info.id,
                device: None,
                file_id: file_ids.get(&info.sha256).copied(),
                name: file_name(&info.path),
                thumbnail: thumbnail_url(info.id, info.modality),
                path: info.path,
                clip: info.clip,
                modality: info.modality,
                start_s: info.start_s,
                end_s: info.end_s,
            })
            .collect();
        Ok(SearchResult {
            query: described,
            rows_searched: table.len(),
            embed_ms,
            search_ms,
            hits,
        })
    }

    /// A segment's thumbnail JPEG.
    pub fn thumbnail(&self, segment_id: i64) -> Result<Vec<u8>, ApiError> {
        self.index()?
            .thumbnail(segment_id)?
            .ok_or_else(|| ApiError::NotFound(format!("clip {segment_id} has no thumbnail")))
    }

    /// This model's files.
    pub fn files(&self) -> Result<Value, ApiError> {
        let files = self.index()?.files()?;
        let list: Vec<Value> = files
            .iter()
            .filter(|f| f.model_id == self.model_id)
            .map(|f| {
                json!({
                    "id": f.id,
                    "name": file_name(&f.path),
                    "path": f.path,
                    "kind": f.kind,
                    "status": f.status,
                    "clips": f.clips_done,
                    "duration_s": f.duration_s,
                    "window_s": f.window_s,
                    "stride_s": f.stride_s,
                })
            })
            .collect();
        Ok(json!({ "files": list }))
    }

    /// One file's clips in time order, each with its tags (the labels' best `TIMELINE_TAGS`,
    /// each marked present or not by the bundle's open-set cut).
    pub fn timeline(&self, file_id: i64) -> Result<Value, ApiError> {
        let index = self.index()?;
        let file = index
            .files()?
            .into_iter()
            .find(|f| f.id == file_id && f.model_id == self.model_id)
            .ok_or_else(|| ApiError::NotFound(format!("no file {file_id} in this index")))?;
        let segments = index.file_segments(file_id)?;
        drop(index);
        let mut clips = Vec::with_capacity(segments.len());
        for (info, vat) in segments {
            let tags: Vec<Tag> = match &vat {
                Some(z) => {
                    let scores = self
                        .tagger
                        .scores(z)
                        .map_err(|e| ApiError::Internal(e.to_string()))?;
                    self.tagger
                        .top(&scores, info.modality.name(), TIMELINE_TAGS, 0.0)
                }
                None => Vec::new(),
            };
            clips.push(json!({
                "segment_id": info.id,
                "clip": info.clip,
                "modality": info.modality,
                "start_s": info.start_s,
                "end_s": info.end_s,
                "thumbnail": thumbnail_url(info.id, info.modality),
                "tags": tags,
            }));
        }
        Ok(json!({
            "file": {
                "id": file.id,
                "name": file_name(&file.path),
                "path": file.path,
                "kind": file.kind,
                "status": file.status,
                "duration_s": file.duration_s,
            },
            "clips": clips,
        }))
    }

    /// The model, its labels and cuts, and the index's counts.
    pub fn info(&self) -> Result<Value, ApiError> {
        let stats = self.index()?.stats()?;
        let (table, _) = self.rows()?;
        let m = &self.pipeline.bundle.manifest;
        Ok(json!({
            "model": self.model,
            "precision": self.pipeline.bundle.precision,
            "encoders": self.pipeline.bundle.kinds(),
            "labels": self.tagger.labels.iter().map(|l| l.name.clone()).collect::<Vec<_>>(),
            "open_set_cuts": m.open_set.as_ref().map(|o| &o.thresholds),
            "index": {
                "name": self.index_name,
                "schema_version": stats.schema_version,
                "files_complete": stats.files_complete,
                "files_pending": stats.files_pending,
                "segments": stats.segments.iter().map(|(m, n)| json!({"modality": m, "rows": n})).collect::<Vec<_>>(),
                "rows_loaded": table.len(),
            },
        }))
    }
}

fn signature(files: &[mmv_runtime::index::FileRecord]) -> (usize, usize) {
    let complete = files
        .iter()
        .filter(|f| f.status == FileStatus::Complete)
        .count();
    (files.len(), complete)
}

/// Where an upload waits while it is embedded: a private temporary file, removed afterwards.
pub fn temp_query_file(bytes: &[u8], suffix: &str) -> Result<tempfile::NamedTempFile, ApiError> {
    use std::io::Write;
    let mut f = tempfile::Builder::new()
        .prefix("mmv-upload-")
        .suffix(suffix)
        .tempfile()
        .map_err(|e| ApiError::Internal(format!("a temporary file for the upload: {e}")))?;
    f.write_all(bytes)
        .and_then(|()| f.flush())
        .map_err(|e| ApiError::Internal(format!("writing the upload: {e}")))?;
    Ok(f)
}

/// A query input that points at a temporary file.
pub fn upload_input(kind: crate::uploads::UploadKind, path: PathBuf) -> QueryInput {
    match kind {
        crate::uploads::UploadKind::Image(_) => QueryInput::Image(path),
        crate::uploads::UploadKind::Audio(_) => QueryInput::Audio(path),
    }
}
