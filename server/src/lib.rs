//! mmv-server: the web page and JSON API of mmv-edge, for `mmv serve INDEX` on a desktop and
//! for the board daemon (`mmv-host` with an `[http]` section).
//!
//! - [`api`]: the routes (search by text, by an uploaded image or sound, "more like this";
//!   files, per-file tag timelines, thumbnails; model and index info; the daemon's live tags,
//!   health, overlay and event stream);
//! - [`catalog`]: the index and model behind the search routes;
//! - [`fleet`]: or the fleet database (PostgreSQL + pgvector) behind them (`mmv fleet serve`);
//! - [`auth`]: loopback by default, a token for anything else;
//! - [`uploads`]: upload limits and content sniffing;
//! - [`live`]: the daemon's live state, fed by the daemon;
//! - [`page`]: the embedded page (HTML, JS, CSS; no CDN).
//!
//! The server runs on a tokio runtime of its own, on threads of its own, so a synchronous
//! program (the CLI, the daemon) starts it with [`Server::start`] and carries on.

pub mod api;
pub mod auth;
pub mod catalog;
pub mod error;
pub mod fleet;
pub mod live;
pub mod page;
pub mod uploads;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::sync::{Semaphore, oneshot};

pub use api::AppState;
pub use catalog::Catalog;
pub use error::{ApiError, ServerError};
pub use fleet::FleetCatalog;
pub use live::Live;

/// The default address: loopback only.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8080";

/// How to serve.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    pub addr: SocketAddr,
    /// Where the access token lives (read, or created 0600 on first start).
    pub token_file: PathBuf,
    /// Ask for the token on loopback too.
    pub require_token: bool,
    /// The largest upload accepted, in bytes.
    pub upload_limit: u64,
    /// Threads of the server's runtime (async I/O; model work runs on blocking threads).
    pub threads: usize,
}

impl ServerOptions {
    pub fn new(addr: SocketAddr, token_file: PathBuf) -> Self {
        Self {
            addr,
            token_file,
            require_token: false,
            upload_limit: uploads::DEFAULT_UPLOAD_LIMIT,
            threads: 2,
        }
    }
}

/// A running server.
pub struct Server {
    addr: SocketAddr,
    token: bool,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Checks the address and token, binds, and serves on a thread of its own.
    pub fn start(
        options: &ServerOptions,
        catalog: Option<Arc<Catalog>>,
        live: Option<Arc<Live>>,
    ) -> Result<Self, ServerError> {
        Self::start_with(options, catalog, None, live)
    }

    /// As [`Server::start`], searching the fleet database instead of an index.
    pub fn start_fleet(
        options: &ServerOptions,
        fleet: Arc<FleetCatalog>,
    ) -> Result<Self, ServerError> {
        Self::start_with(options, None, Some(fleet), None)
    }

    fn start_with(
        options: &ServerOptions,
        catalog: Option<Arc<Catalog>>,
        fleet: Option<Arc<FleetCatalog>>,
        live: Option<Arc<Live>>,
    ) -> Result<Self, ServerError> {
        let auth = auth::prepare(options.addr, &options.token_file, options.require_token)?;
        let token = auth.required();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(options.threads.max(1))
            .thread_name("mmv-server")
            .enable_io()
            .enable_time()
            .build()
            .map_err(ServerError::Runtime)?;
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(options.addr))
            .map_err(|source| ServerError::Bind {
                addr: options.addr.to_string(),
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| ServerError::Bind {
            addr: options.addr.to_string(),
            source,
        })?;
        let slots = std::thread::available_parallelism().map_or(2, |n| n.get());
        let (closing_tx, closing) = tokio::sync::watch::channel(false);
        let state = AppState {
            closing,
            catalog,
            fleet,
            live,
            upload_limit: options.upload_limit,
            model_slots: Arc::new(Semaphore::new(slots)),
        };
        let app = api::router(state, auth);
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("mmv-server".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let served = axum::serve(listener, app)
                        .with_graceful_shutdown(async move {
                            let _ = stop_rx.await;
                            let _ = closing_tx.send(true);
                        })
                        .await;
                    if let Err(e) = served {
                        tracing::error!(error = %e, "the server stopped");
                    }
                });
                // Requests still embedding are not waited for.
                runtime.shutdown_background();
            })
            .map_err(ServerError::Runtime)?;
        tracing::info!(%addr, token, "serving");
        Ok(Self {
            addr,
            token,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// The address it listens on (the real port when asked for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether requests need the token.
    pub fn needs_token(&self) -> bool {
        self.token
    }

    /// Blocks until the server stops (it does not stop on its own: for `mmv serve`).
    pub fn wait(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// Stops serving and waits for the server's thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}
