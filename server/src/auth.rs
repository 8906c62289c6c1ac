//! Who may talk to the server.
//!
//! - On a loopback address (127.0.0.1, ::1) no token is needed unless asked for.
//! - On any other address a token is required: read from the token file, or generated on first
//!   start (32 random bytes from the operating system, hex) and written there with mode 0600. A
//!   token file that others can read, or that cannot be written, stops the server from
//!   starting: it never listens beyond loopback unprotected.
//! - A request carries the token as `Authorization: Bearer TOKEN`, an `X-MMV-Token: TOKEN`
//!   header, or the `mmv_token` cookie. Opening `/?token=TOKEN` in a browser sets that cookie
//!   (HttpOnly, SameSite=Strict) and redirects to `/`, so the token leaves the address bar.
//! - Tokens are compared in constant time ([`subtle`]).

use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use crate::error::{ApiError, ServerError};

/// The cookie that carries the token.
pub const COOKIE: &str = "mmv_token";
/// Bytes of randomness in a generated token.
const TOKEN_BYTES: usize = 32;
/// The shortest token accepted from a file.
const MIN_TOKEN_CHARS: usize = 16;

/// The token the server checks, if any.
#[derive(Clone, Debug, Default)]
pub struct Auth {
    token: Option<String>,
}

impl Auth {
    /// No token: only for loopback addresses.
    pub fn open() -> Self {
        Self { token: None }
    }

    pub fn with_token(token: String) -> Self {
        Self { token: Some(token) }
    }

    pub fn required(&self) -> bool {
        self.token.is_some()
    }

    /// Whether `given` is the token (constant time in the token's content).
    pub fn accepts(&self, given: &str) -> bool {
        match &self.token {
            None => true,
            Some(t) => bool::from(t.as_bytes().ct_eq(given.as_bytes())),
        }
    }

    /// The token a request carries, from its headers.
    fn presented(headers: &HeaderMap) -> Option<&str> {
        if let Some(v) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            && let Some(t) = v.strip_prefix("Bearer ")
        {
            return Some(t.trim());
        }
        if let Some(v) = headers.get("x-mmv-token").and_then(|v| v.to_str().ok()) {
            return Some(v.trim());
        }
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| *k == COOKIE)
            .map(|(_, v)| v)
    }
}

/// The [`Auth`] for listening on `addr`: a token (read or made at `token_file`) when the
/// address is not loopback or `require` is set; none otherwise.
pub fn prepare(addr: SocketAddr, token_file: &Path, require: bool) -> Result<Auth, ServerError> {
    if addr.ip().is_loopback() && !require {
        return Ok(Auth::open());
    }
    load_or_create(token_file)
        .map(Auth::with_token)
        .map_err(|problem| ServerError::NoToken {
            addr: addr.to_string(),
            problem: format!("token file {}: {problem}", token_file.display()),
        })
}

/// Reads the token at `path`, or creates it (0600) if there is no file.
pub fn load_or_create(path: &Path) -> Result<String, String> {
    match std::fs::metadata(path) {
        Ok(meta) => {
            let mode = meta.permissions().mode();
            if mode & 0o077 != 0 {
                return Err(format!(
                    "its mode is {:o}: others may read it (chmod 600 it, or delete it for a new \
                     token)",
                    mode & 0o777
                ));
            }
            let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
            let token = text.trim().to_string();
            if token.len() < MIN_TOKEN_CHARS || token.chars().any(|c| !c.is_ascii_graphic()) {
                return Err(format!(
                    "it should hold one token of at least {MIN_TOKEN_CHARS} printable characters"
                ));
            }
            Ok(token)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut bytes = [0u8; TOKEN_BYTES];
            getrandom::fill(&mut bytes).map_err(|e| format!("no randomness: {e}"))?;
            let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
            }
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| format!("cannot create it: {e}"))?;
            writeln!(f, "{token}").map_err(|e| e.to_string())?;
            tracing::info!(path = %path.display(), "access token generated");
            Ok(token)
        }
        Err(e) => Err(e.to_string()),
    }
}

/// Middleware: a request without the right token gets 401; `/?token=T` with the right token
/// sets the cookie and redirects to `/`.
pub async fn check(State(auth): State<Auth>, request: Request, next: Next) -> Response {
    if !auth.required() {
        return next.run(request).await;
    }
    if let Some(t) = Auth::presented(request.headers())
        && auth.accepts(t)
    {
        return next.run(request).await;
    }
    if request.uri().path() == "/"
        && let Some(t) = request
            .uri()
            .query()
            .into_iter()
            .flat_map(|q| q.split('&'))
            .find_map(|kv| kv.strip_prefix("token="))
        && auth.accepts(t)
    {
        let cookie = format!("{COOKIE}={t}; HttpOnly; SameSite=Strict; Path=/");
        return (
            StatusCode::SEE_OTHER,
            [(header::SET_COOKIE, cookie), (header::LOCATION, "/".into())],
        )
            .into_response();
    }
    ApiError::Unauthorized.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_needs_no_token_other_addresses_make_one_0600() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sub/token");
        let auth = prepare("127.0.0.1:0".parse().unwrap(), &file, false).unwrap();
        assert!(!auth.required());
        assert!(!file.exists());

        let auth = prepare("0.0.0.0:0".parse().unwrap(), &file, false).unwrap();
        assert!(auth.required());
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let token = std::fs::read_to_string(&file).unwrap().trim().to_string();
        assert_eq!(token.len(), 2 * TOKEN_BYTES);
        assert!(auth.accepts(&token));
        assert!(!auth.accepts(&token[1..]));
        assert!(!auth.accepts(""));
        // The second start reads the same token.
        let again = prepare("0.0.0.0:0".parse().unwrap(), &file, false).unwrap();
        assert!(again.accepts(&token));

        // A token file others can read stops the start.
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = prepare("[::]:0".parse().unwrap(), &file, false).unwrap_err();
        assert!(err.to_string().contains("others may read it"), "{err}");
        // So does one that cannot be created.
        let err = prepare(
            "0.0.0.0:0".parse().unwrap(),
            Path::new("/proc/no/such/token"),
            false,
        )
        .unwrap_err();
        assert!(matches!(err, ServerError::NoToken { .. }), "{err}");
    }

    #[test]
    fn token_is_read_from_header_bearer_or_cookie() {
        let mut h = HeaderMap::new();
        assert_eq!(Auth::presented(&h), None);
        h.insert(header::COOKIE, "a=b; mmv_token=xyz; c=d".parse().unwrap());
        assert_eq!(Auth::presented(&h), Some("xyz"));
        h.insert("x-mmv-token", "hdr".parse().unwrap());
        assert_eq!(Auth::presented(&h), Some("hdr"));
        h.insert(header::AUTHORIZATION, "Bearer bear".parse().unwrap());
        assert_eq!(Auth::presented(&h), Some("bear"));
    }
}
