//! Footage into the fleet database (issue 18): a thread that runs `mmv fleet push`'s code
//! ([`mmv_fleet::push::push`]) on the daemon's own SQLite index every `interval_s`, and once
//! more when the daemon stops.
//!
//! The local index stays the source of truth: the daemon indexes with no network at all, and a
//! push that fails (database away, credentials refused) is logged and tried again at the next
//! interval from the push cursor kept in the index, so nothing is lost or sent twice. The
//! database URL comes from a file or an environment variable, never from the configuration
//! itself, and is printed only masked.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mmv_fleet::ModelIdentity;
use mmv_fleet::push::{PushEvent, PushOptions, push};
use serde::Deserialize;

/// The `[fleet]` section of the configuration.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FleetConfig {
    /// A file holding the device role's database URL (libpq form); it wins over `url_env`.
    pub url_file: Option<PathBuf>,
    /// The environment variable holding the URL when there is no `url_file`.
    pub url_env: String,
    /// This board's name in the fleet (default: the host name).
    pub device: Option<String>,
    /// Seconds between pushes.
    pub interval_s: f64,
    /// Rows per transaction.
    pub batch: usize,
    /// Send the clips' thumbnails too.
    pub thumbnails: bool,
    /// How long the push at shutdown waits for an absent database before leaving the rows
    /// for the next start.
    pub final_wait_s: f64,
}

impl Default for FleetConfig {
    fn default() -> Self {
        Self {
            url_file: None,
            url_env: "MMV_FLEET_DB".into(),
            device: None,
            interval_s: 10.0,
            batch: 256,
            thumbnails: true,
            final_wait_s: 5.0,
        }
    }
}

impl FleetConfig {
    /// The problem with the section, naming its key.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.interval_s.is_finite() && self.interval_s >= 0.1) {
            return Err(format!(
                "fleet.interval_s: {} is below 0.1 s",
                self.interval_s
            ));
        }
        if self.batch == 0 {
            return Err("fleet.batch must be at least 1".into());
        }
        if !(self.final_wait_s.is_finite() && self.final_wait_s >= 0.0) {
            return Err(format!(
                "fleet.final_wait_s: {} is negative",
                self.final_wait_s
            ));
        }
        if let Some(d) = &self.device {
            mmv_fleet::roles::check_device_name(d).map_err(|e| format!("fleet.device: {e}"))?;
        }
        if self.url_file.is_none() && self.url_env.is_empty() {
            return Err("fleet: set url_file or url_env (where the database URL is)".into());
        }
        Ok(())
    }

    /// The database URL, from the file or the environment.
    pub fn url(&self) -> Result<String, FleetPushError> {
        let url = match &self.url_file {
            Some(p) => std::fs::read_to_string(p)
                .map_err(|source| FleetPushError::UrlFile {
                    path: p.clone(),
                    source,
                })?
                .trim()
                .to_string(),
            None => std::env::var(&self.url_env).map_err(|_| FleetPushError::NoUrl {
                var: self.url_env.clone(),
            })?,
        };
        mmv_fleet::url::parse(&url).map_err(FleetPushError::Fleet)?;
        Ok(url)
    }

    /// The device name: the configured one or the host name.
    pub fn device_name(&self) -> String {
        self.device
            .clone()
            .unwrap_or_else(mmv_fleet::roles::host_name)
    }
}

/// Why the pusher could not start.
#[derive(Debug, thiserror::Error)]
pub enum FleetPushError {
    #[error("fleet.url_file {}: {source}", path.display())]
    UrlFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("[fleet]: no database URL: ${var} is not set (or set fleet.url_file)")]
    NoUrl { var: String },
    #[error("[fleet]: {0}")]
    Fleet(#[from] mmv_fleet::FleetError),
    #[error("[fleet] needs [index]: the push reads the daemon's index")]
    NoIndex,
    #[error("starting the fleet push thread: {0}")]
    Thread(std::io::Error),
}

/// What the pusher did, for the daemon's health line and tests.
#[derive(Debug, Default)]
pub struct FleetPushStats {
    pub rows_pushed: AtomicU64,
    pub pushes: AtomicU64,
    pub failures: AtomicU64,
}

/// The running pusher; [`FleetPusher::finish`] makes the last push and joins it.
pub struct FleetPusher {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    pub stats: Arc<FleetPushStats>,
}

impl FleetPusher {
    /// Starts pushing the index at `index` as `config.device` with rows of `model` matched to
    /// its manifest hash. The URL is read (and checked) now, so a missing one stops the start.
    pub fn start(
        config: &FleetConfig,
        index: PathBuf,
        model: Option<ModelIdentity>,
    ) -> Result<Self, FleetPushError> {
        let url = config.url()?;
        let device = config.device_name();
        mmv_fleet::roles::check_device_name(&device)?;
        let mut options = PushOptions::new(device.clone(), model.into_iter().collect());
        options.batch_rows = config.batch.max(1);
        options.thumbnails = config.thumbnails;
        // A push waits for an absent database at most one interval: the next one tries again.
        options.max_wait = Duration::from_secs_f64(config.interval_s);
        let interval = Duration::from_secs_f64(config.interval_s);
        let final_wait = Duration::from_secs_f64(config.final_wait_s);
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(FleetPushStats::default());
        tracing::info!(
            db = %mmv_fleet::url::mask(&url),
            device = %device,
            every_s = config.interval_s,
            "fleet push on"
        );
        let thread = {
            let (stop, stats) = (stop.clone(), stats.clone());
            std::thread::Builder::new()
                .name("fleet-push".into())
                .spawn(move || {
                    loop {
                        let stopping = stop.load(Ordering::Relaxed);
                        if stopping {
                            options.max_wait = final_wait;
                        }
                        push_once(&index, &url, &options, &stats);
                        if stopping {
                            return;
                        }
                        let until = Instant::now() + interval;
                        while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                            std::thread::sleep(Duration::from_millis(50));
                        }
                    }
                })
                .map_err(FleetPushError::Thread)?
        };
        Ok(Self {
            stop,
            thread: Some(thread),
            stats,
        })
    }

    /// Makes the last push (what the index committed up to now) and waits for it.
    pub fn finish(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for FleetPusher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn push_once(index: &std::path::Path, url: &str, options: &PushOptions, stats: &FleetPushStats) {
    let mut on_event = |e: &PushEvent<'_>| {
        if let PushEvent::Waiting {
            error, retry_in, ..
        } = e
        {
            tracing::warn!(error = %error, retry_in_s = retry_in.as_secs_f64(), "fleet database away");
        }
    };
    match push(index, url, options, &mut on_event) {
        Ok(r) => {
            stats.pushes.fetch_add(1, Ordering::Relaxed);
            stats
                .rows_pushed
                .fetch_add(r.rows_pushed, Ordering::Relaxed);
            if r.rows_pushed > 0 {
                tracing::info!(
                    rows = r.rows_pushed,
                    cursor = r.cursor,
                    local_rows = r.local_rows,
                    "fleet push"
                );
            }
            if !r.unknown_models.is_empty() {
                tracing::warn!(
                    models = ?r.unknown_models,
                    "fleet push: rows of models other than the bundle's went without a manifest hash"
                );
            }
        }
        Err(e) => {
            stats.failures.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %mmv_runtime::report::chain(&e), "fleet push failed; the rows stay in the local index for the next try");
        }
    }
}
