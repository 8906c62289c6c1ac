//! The JSON API (see the README's table) and the router that serves it with the page.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::Stream;
use mmv_runtime::index::Modality;
use mmv_runtime::pipeline::QueryInput;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{Semaphore, broadcast, watch};

use crate::auth::{self, Auth};
use crate::catalog::{Catalog, SearchResult, Searcher, temp_query_file, upload_input};
use crate::error::ApiError;
use crate::fleet::FleetCatalog;
use crate::live::Live;
use crate::page;
use crate::uploads::{self, UploadKind};

/// Results a search returns unless asked otherwise, and at most.
pub const DEFAULT_TOP_K: usize = 24;
pub const MAX_TOP_K: usize = 200;
/// The longest text query.
const MAX_QUERY_CHARS: usize = 500;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub catalog: Option<Arc<Catalog>>,
    /// The fleet database instead of a local index (`mmv fleet serve`).
    pub fleet: Option<Arc<FleetCatalog>>,
    pub live: Option<Arc<Live>>,
    pub upload_limit: u64,
    /// Model work in flight at once (one per core): more would only queue inside the CPU.
    pub model_slots: Arc<Semaphore>,
    /// Turns true when the server is asked to stop: endless responses (the live event stream)
    /// end then, or the graceful shutdown would wait for them forever.
    pub closing: watch::Receiver<bool>,
}

impl AppState {
    fn catalog(&self) -> Result<Arc<Catalog>, ApiError> {
        self.catalog.clone().ok_or_else(|| {
            ApiError::NotFound(if self.fleet.is_some() {
                "this server searches the fleet database: files, timelines and \"similar\" need \
                 a device's own index (`mmv serve INDEX`)"
                    .into()
            } else {
                "this server has no index to search".into()
            })
        })
    }

    /// Where searches go: the fleet database when there is one, else the index.
    fn searcher(&self) -> Result<Arc<dyn Searcher>, ApiError> {
        match &self.fleet {
            Some(f) => Ok(f.clone()),
            None => Ok(self.catalog()?),
        }
    }

    fn live(&self) -> Result<Arc<Live>, ApiError> {
        self.live.clone().ok_or_else(|| {
            ApiError::NotFound("this server has no live view (it is not the daemon)".into())
        })
    }

    /// Runs blocking work (the model, SQLite) on the blocking threads, one per model slot; a
    /// panic there is a 500, never a dropped connection.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let _slot = self
            .model_slots
            .acquire()
            .await
            .map_err(|_| ApiError::Unavailable("the server is stopping".into()))?;
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| ApiError::Internal(format!("the request's work failed: {e}")))?
    }
}

/// The router: the page, the API, and a JSON 404 for everything else, behind the token check.
pub fn router(state: AppState, auth: Auth) -> Router {
    Router::new()
        .route("/", get(page::index))
        .route("/app.js", get(page::app_js))
        .route("/style.css", get(page::style_css))
        .route("/api/info", get(info))
        .route("/api/search", get(search_text))
        .route("/api/search/upload", post(search_upload))
        .route("/api/search/image", post(search_upload))
        .route("/api/search/audio", post(search_upload))
        .route("/api/similar/{segment}", get(search_similar))
        .route("/api/files", get(files))
        .route("/api/files/{file}", get(timeline))
        .route("/api/clips/{segment}/thumbnail.jpg", get(thumbnail))
        .route(
            "/api/fleet/{device}/{local_id}/thumbnail.jpg",
            get(fleet_thumbnail),
        )
        .route("/api/live/tags", get(live_tags))
        .route("/api/live/health", get(live_health))
        .route("/api/live/overlay.png", get(live_overlay))
        .route("/api/live/events", get(live_events))
        .fallback(not_found)
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(auth, auth::check))
}

async fn not_found(request: Request) -> ApiError {
    ApiError::NotFound(format!("nothing at {}", request.uri().path()))
}

/// An id from the path: digits only (a name, `..` or an encoded path is a 400).
fn parse_id(text: &str, what: &str) -> Result<i64, ApiError> {
    text.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| {
            ApiError::BadRequest(format!("{what} ids are positive integers, not {text:?}"))
        })
}

#[derive(Debug, Deserialize)]
struct SearchParams {
    q: Option<String>,
    k: Option<usize>,
    /// Comma-separated: video, audio, image.
    modality: Option<String>,
}

impl SearchParams {
    fn k(&self) -> usize {
        self.k.unwrap_or(DEFAULT_TOP_K).clamp(1, MAX_TOP_K)
    }

    fn modalities(&self) -> Result<Vec<Modality>, ApiError> {
        self.modality
            .iter()
            .flat_map(|m| m.split(','))
            .filter(|m| !m.is_empty())
            .map(|m| {
                Modality::parse(m.trim()).ok_or_else(|| {
                    ApiError::BadRequest(format!("modality {m:?} is not video, audio or image"))
                })
            })
            .collect()
    }
}

fn params(
    q: Result<Query<SearchParams>, axum::extract::rejection::QueryRejection>,
) -> Result<SearchParams, ApiError> {
    q.map(|Query(p)| p)
        .map_err(|e| ApiError::BadRequest(format!("query string: {}", e.body_text())))
}

async fn info(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    let mut out = match (&s.fleet, &s.catalog) {
        (Some(f), _) => {
            let f = f.clone();
            s.blocking(move || f.info()).await?
        }
        (None, Some(c)) => {
            let c = c.clone();
            s.blocking(move || c.info()).await?
        }
        (None, None) => json!({"index": null}),
    };
    out["live"] = json!(s.live.is_some());
    out["upload_limit"] = json!(s.upload_limit);
    out["server"] = json!({"name": "mmv-server", "version": env!("CARGO_PKG_VERSION")});
    Ok(Json(out))
}

async fn search_text(
    State(s): State<AppState>,
    q: Result<Query<SearchParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<SearchResult>, ApiError> {
    let p = params(q)?;
    let text = p.q.clone().unwrap_or_default().trim().to_string();
    if text.is_empty() {
        return Err(ApiError::BadRequest(
            "give the text to search for as ?q=TEXT".into(),
        ));
    }
    if text.chars().count() > MAX_QUERY_CHARS {
        return Err(ApiError::BadRequest(format!(
            "a text query has at most {MAX_QUERY_CHARS} characters"
        )));
    }
    let (k, modalities) = (p.k(), p.modalities()?);
    let c = s.searcher()?;
    let described = json!({"kind": "text", "text": text});
    let result = s
        .blocking(move || c.search(&QueryInput::Text(text), described, k, &modalities))
        .await?;
    Ok(Json(result))
}

async fn search_upload(
    State(s): State<AppState>,
    q: Result<Query<SearchParams>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    request: Request,
) -> Result<Json<SearchResult>, ApiError> {
    let p = params(q)?;
    let path = request.uri().path().to_string();
    let c = s.searcher()?;
    let bytes = uploads::read_body(&headers, request.into_body(), s.upload_limit).await?;
    let kind = uploads::sniff(&bytes).ok_or_else(|| {
        ApiError::Unsupported(
            "the upload is neither an image (PNG, JPEG) nor a sound (WAV, FLAC, Ogg, MP3)".into(),
        )
    })?;
    let wanted = path.rsplit('/').next().unwrap_or("upload");
    if wanted != "upload" && wanted != kind.name() {
        return Err(ApiError::Unsupported(format!(
            "/api/search/{wanted} takes {wanted} files; this upload is {}",
            kind.name()
        )));
    }
    let (k, modalities) = (p.k(), p.modalities()?);
    let described = json!({"kind": kind.name(), "bytes": bytes.len()});
    let result = s
        .blocking(move || {
            let file = temp_query_file(&bytes, kind.suffix())?;
            let input = upload_input(kind, file.path().to_path_buf());
            c.search(&input, described, k, &modalities)
        })
        .await?;
    Ok(Json(result))
}

/// "More like this": a clip's thumbnail as an image query.
async fn search_similar(
    State(s): State<AppState>,
    Path(segment): Path<String>,
    q: Result<Query<SearchParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<SearchResult>, ApiError> {
    let id = parse_id(&segment, "clip")?;
    let p = params(q)?;
    let (k, modalities) = (p.k(), p.modalities()?);
    let c = s.catalog()?;
    let result = s
        .blocking(move || {
            let jpeg = c.thumbnail(id)?;
            let file = temp_query_file(&jpeg, UploadKind::Image(".jpg").suffix())?;
            let described = json!({"kind": "similar", "segment_id": id});
            c.search(
                &QueryInput::Image(file.path().to_path_buf()),
                described,
                k,
                &modalities,
            )
        })
        .await?;
    Ok(Json(result))
}

async fn files(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    let c = s.catalog()?;
    Ok(Json(s.blocking(move || c.files()).await?))
}

async fn timeline(
    State(s): State<AppState>,
    Path(file): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&file, "file")?;
    let c = s.catalog()?;
    Ok(Json(s.blocking(move || c.timeline(id)).await?))
}

async fn thumbnail(
    State(s): State<AppState>,
    Path(segment): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&segment, "clip")?;
    let c = s.catalog()?;
    let jpeg = s.blocking(move || c.thumbnail(id)).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/jpeg"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        jpeg,
    )
        .into_response())
}

async fn fleet_thumbnail(
    State(s): State<AppState>,
    Path((device, local_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = parse_id(&local_id, "clip")?;
    let f = s
        .fleet
        .clone()
        .ok_or_else(|| ApiError::NotFound("this server does not search a fleet database".into()))?;
    let jpeg = s.blocking(move || f.thumbnail(&device, id)).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/jpeg"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        jpeg,
    )
        .into_response())
}

async fn live_tags(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"latest": s.live()?.latest()})))
}

async fn live_health(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"health": s.live()?.health()})))
}

async fn live_overlay(State(s): State<AppState>) -> Result<Response, ApiError> {
    let png = s
        .live()?
        .overlay_png()
        .ok_or_else(|| ApiError::NotFound("no overlay drawn yet".into()))?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Body::from(png.as_ref().clone()),
    )
        .into_response())
}

/// Every tag line and event record as it is written, as server-sent events: `tag` events for
/// tag lines, `event` events for event records, `lagged` when a slow page missed some.
async fn live_events(
    State(s): State<AppState>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let rx = s.live()?.subscribe();
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        let event = match rx.recv().await {
            Ok(line) => {
                let name = if line.contains("\"event\":") {
                    "event"
                } else {
                    "tag"
                };
                Event::default().event(name).data(line.as_ref())
            }
            Err(broadcast::error::RecvError::Lagged(n)) => {
                Event::default().event("lagged").data(n.to_string())
            }
            Err(broadcast::error::RecvError::Closed) => return None,
        };
        Some((Ok(event), rx))
    });
    let mut closing = s.closing.clone();
    let closed = async move {
        let _ = closing.wait_for(|c| *c).await;
    };
    let stream = futures_util::StreamExt::take_until(stream, closed);
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
