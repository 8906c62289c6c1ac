//! Errors: [`ApiError`] for a request (a JSON body with a status code), [`ServerError`] for
//! starting the server.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mmv_runtime::index::IndexError;
use mmv_runtime::pipeline::PipelineError;
use serde_json::json;

/// Why a request failed. Every variant is answered as `{"error": {"status": N, "message": ...}}`
/// with its status code; none panics.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error(
        "missing or wrong access token (send it as `Authorization: Bearer TOKEN`, an \
             `X-MMV-Token` header or the `mmv_token` cookie)"
    )]
    Unauthorized,
    #[error("{0}")]
    NotFound(String),
    #[error("an upload of {got} bytes is over this server's limit of {limit} bytes")]
    TooLarge { got: u64, limit: u64 },
    #[error("{0}")]
    Unsupported(String),
    /// The query could not be read or embedded (a corrupt image, a silent sound, no known word).
    #[error("{0}")]
    Query(String),
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unsupported(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Query(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Index(IndexError::NoModel { .. }) => StatusCode::CONFLICT,
            Self::Index(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<PipelineError> for ApiError {
    fn from(e: PipelineError) -> Self {
        // Whatever the pipeline says about a query is about the request's input; a broken
        // bundle would have failed at start.
        Self::Query(e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let body = json!({"error": {"status": status.as_u16(), "message": self.to_string()}});
        (status, Json(body)).into_response()
    }
}

/// Why the server did not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(
        "refusing to listen on {addr} without an access token: a non-loopback address needs one \
         ({problem})"
    )]
    NoToken { addr: String, problem: String },
    #[error("token file {path}: {problem}")]
    TokenFile { path: String, problem: String },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("starting the server's runtime: {0}")]
    Runtime(std::io::Error),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Bundle(#[from] mmv_runtime::bundle::BundleError),
    #[error("embedding the labels: {0}")]
    Labels(PipelineError),
}
