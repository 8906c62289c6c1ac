//! Wiring a configuration into running threads: the bundle (logging the precision chosen and
//! why), the tagger, the outputs, one supervised capture thread per source, and the inference
//! loop on the calling thread. [`run_with`] takes any [`Embedder`] and index, so tests and the
//! soak benchmark run the daemon exactly as deployed, without a model file.

use std::fs::OpenOptions;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mmv_runtime::bundle::manifest::Manifest;
use mmv_runtime::bundle::precision::{choose, cpu_has_native_f16};
use mmv_runtime::bundle::{Bundle, BundleError, BundleOptions};

use crate::capture::file_audio::{RawPcmSource, WavSource};
use crate::capture::file_frames::{MjpegSource, RawYuyvSource, Y4mSource};
use crate::capture::{AudioSource, CaptureError, FrameSource, audio_channel, frame_channel};
use crate::config::{CameraConfig, CameraKind, Config, ConfigError, MicConfig, MicKind};
use crate::model::{BundleEmbedder, Embedder, PromptTagger, TaggerError};
use crate::outputs::index_sink::{IndexRecord, IndexSink};
use crate::outputs::sqlite_index::SqliteIndex;
use crate::outputs::tags_jsonl::TagWriter;
use crate::overlay::framebuffer::Framebuffer;
use crate::overlay::png::PngSnapshots;
use crate::overlay::{Display, DisplayError};
use crate::pipeline::{Health, Outputs, Pipeline, PipelineOptions, PipelineStats};
use crate::supervisor::{Policy, SourceHealth, run_camera, run_microphone};
use mmv_runtime::index::ModelKey;

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error("labels: {0}")]
    Tagger(#[from] TaggerError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Manifest(#[from] mmv_runtime::bundle::manifest::ManifestError),
    #[error(transparent)]
    Display(#[from] DisplayError),
    #[error("tag output {path}: {source}")]
    TagOutput {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("starting thread {name}: {source}")]
    Thread {
        name: String,
        #[source]
        source: std::io::Error,
    },
}

/// An index error of any sink, so sinks of different types fit one slot.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct IndexError(pub Box<dyn std::error::Error + Send + Sync>);

/// Any index sink (the runtime's SQLite index, the spool).
pub type DynIndex = Box<dyn IndexSink<Error = IndexError> + Send>;

/// Adapts a sink to [`DynIndex`].
pub struct Boxed<S>(pub S);

impl<S: IndexSink> IndexSink for Boxed<S> {
    type Error = IndexError;
    fn insert(&mut self, r: &IndexRecord<'_>) -> Result<(), IndexError> {
        self.0.insert(r).map_err(|e| IndexError(Box::new(e)))
    }
    fn flush(&mut self) -> Result<(), IndexError> {
        self.0.flush().map_err(|e| IndexError(Box::new(e)))
    }
}

/// Opens the bundle, logging which precision was chosen and why.
pub fn open_bundle(config: &Config) -> Result<Bundle, DaemonError> {
    let options = BundleOptions {
        precision: config.precision(),
        threads: config.bundle.threads,
        encoders: None,
    };
    if options.precision.is_none()
        && let Ok(manifest) = Manifest::load(&config.bundle.dir)
    {
        let (p, why) = choose(&manifest.precisions());
        tracing::info!(precision = p.name(), reason = %why, native_f16 = cpu_has_native_f16(), "precision from the CPU");
    }
    let bundle = Bundle::open(&config.bundle.dir, &options)?;
    tracing::info!(
        bundle = %config.bundle.dir.display(),
        name = %bundle.manifest.name,
        version = %bundle.manifest.version,
        precision = bundle.precision.name(),
        reason = %bundle.precision_reason,
        encoders = ?bundle.kinds().iter().map(|k| k.name()).collect::<Vec<_>>(),
        "bundle opened"
    );
    Ok(bundle)
}

/// The index for a configuration: the runtime's SQLite index at `index.path` (the file
/// `mmv search` reads), rows of the bundle's model, committed in chunks of `index.batch` rows.
pub fn default_index(config: &Config) -> Result<Option<DynIndex>, DaemonError> {
    let Some(index) = &config.index else {
        return Ok(None);
    };
    let m = Manifest::load(&config.bundle.dir)?;
    let model = ModelKey {
        name: m.name,
        version: m.version,
        design: m.design,
    };
    let sink =
        SqliteIndex::open(&index.path, &model, index.batch).map_err(|e| IndexError(Box::new(e)))?;
    tracing::info!(index = %index.path.display(), model = %model, "SQLite index open");
    Ok(Some(Box::new(Boxed(sink))))
}

/// Runs the daemon from a configuration with the real bundle, until `stop`.
pub fn run(config: &Config, stop: Arc<AtomicBool>) -> Result<PipelineStats, DaemonError> {
    let embedder = BundleEmbedder::new(open_bundle(config)?);
    let index = default_index(config)?;
    run_with(config, embedder, index, stop)
}

fn tags_output(config: &Config) -> Result<TagWriter<Box<dyn std::io::Write + Send>>, DaemonError> {
    let out: Box<dyn std::io::Write + Send> = if config.outputs.tags == "-" {
        Box::new(std::io::stdout())
    } else {
        let path = Path::new(&config.outputs.tags);
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            let _ = std::fs::create_dir_all(dir);
        }
        Box::new(
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|source| DaemonError::TagOutput {
                    path: config.outputs.tags.clone(),
                    source,
                })?,
        )
    };
    Ok(TagWriter::new(out))
}

fn displays(config: &Config) -> Result<Vec<Box<dyn Display + Send>>, DaemonError> {
    let mut out: Vec<Box<dyn Display + Send>> = Vec::new();
    let fb = match config.outputs.framebuffer.as_str() {
        "off" => None,
        "auto" => Some(("/dev/fb0", true)),
        path => Some((path, false)),
    };
    if let Some((path, optional)) = fb {
        let path = Path::new(path);
        if path.exists() || !optional {
            match Framebuffer::open(path) {
                Ok(fb) => {
                    tracing::info!(display = %fb.describe(), "overlay on the framebuffer");
                    out.push(Box::new(fb));
                }
                Err(e) if optional => {
                    tracing::warn!(error = %e, "framebuffer present but unusable")
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    if let Some(dir) = &config.outputs.png_dir {
        let snaps = PngSnapshots::new(dir, config.outputs.png_every)?;
        tracing::info!(display = %snaps.describe(), "overlay snapshots");
        out.push(Box::new(snaps));
    }
    Ok(out)
}

fn policy(config: &Config, at_end: crate::config::AtEnd, realtime: bool, live: bool) -> Policy {
    Policy::new(
        Duration::from_millis(config.retry.initial_ms),
        Duration::from_millis(config.retry.max_ms),
        at_end,
        // Replays as fast as inference goes must not lose data; live and paced sources drop.
        !live && !realtime,
    )
}

/// Opens the configured camera (one attempt; the supervisor repeats it).
pub fn open_camera(c: &CameraConfig) -> Result<Box<dyn FrameSource + Send>, CaptureError> {
    let path = || c.path.clone().unwrap_or_default();
    Ok(match c.source {
        CameraKind::Y4m => Box::new(Y4mSource::open(&path(), c.realtime)?),
        CameraKind::Mjpeg => Box::new(MjpegSource::open(
            &path(),
            c.fps.unwrap_or(0.0),
            c.realtime,
        )?),
        CameraKind::Yuyv => Box::new(RawYuyvSource::open(
            &path(),
            c.width.unwrap_or(0),
            c.height.unwrap_or(0),
            c.fps.unwrap_or(0.0),
            c.realtime,
        )?),
        #[cfg(feature = "v4l")]
        CameraKind::V4l => Box::new(crate::capture::v4l_camera::V4lCamera::open(
            &c.device,
            c.format,
            c.width.unwrap_or(640),
            c.height.unwrap_or(480),
            c.fps.unwrap_or(15.0),
        )?),
        #[cfg(not(feature = "v4l"))]
        CameraKind::V4l => {
            return Err(CaptureError::unsupported(
                "v4l",
                "this build lacks the v4l feature",
            ));
        }
    })
}

/// Opens the configured microphone; `model_rate` is used when no rate is configured.
pub fn open_microphone(
    m: &MicConfig,
    model_rate: u32,
    stall: Duration,
) -> Result<Box<dyn AudioSource + Send>, CaptureError> {
    let rate = m.sample_rate.unwrap_or(model_rate);
    let path = || m.path.clone().unwrap_or_default();
    Ok(match m.source {
        MicKind::Wav => Box::new(WavSource::new(&path(), m.realtime)?),
        MicKind::Raw => Box::new(RawPcmSource::new(
            &path(),
            rate,
            m.channels,
            m.format,
            m.realtime,
        )?),
        #[cfg(feature = "alsa")]
        MicKind::Alsa => Box::new(crate::capture::cpal_mic::CpalMic::new(
            &m.device,
            rate,
            m.channels,
            m.format,
            m.buffer_frames,
            stall,
        )),
        #[cfg(not(feature = "alsa"))]
        MicKind::Alsa => {
            let _ = (rate, stall);
            return Err(CaptureError::unsupported(
                "alsa",
                "this build lacks the alsa feature",
            ));
        }
    })
}

/// Runs the daemon with any embedder and index until `stop`, or until every source has ended
/// (`at_end = "stop"`) and its data is processed. Returns the pipeline's counters.
pub fn run_with<E: Embedder>(
    config: &Config,
    mut embedder: E,
    index: Option<DynIndex>,
    stop: Arc<AtomicBool>,
) -> Result<PipelineStats, DaemonError> {
    let labels = config.label_names()?;
    let tagger = PromptTagger::new(&mut embedder, &labels, &config.labels.template)?;
    tracing::info!(labels = labels.len(), template = %config.labels.template, "labels embedded");
    let spec = embedder.spec().clone();
    let outputs = Outputs {
        tags: Some(tags_output(config)?),
        index,
        displays: displays(config)?,
    };
    let opts = PipelineOptions {
        image_every: config.tagging.image_every,
        clips: config.tagging.clips,
        top_k: config.tagging.top_k,
        threshold: config.tagging.threshold,
        emit_empty: config.tagging.emit_empty,
        audio_hop_s: config.tagging.audio_hop_s,
        index_audio: config.index.as_ref().is_some_and(|i| i.audio),
        thumbnail_width: config.index.as_ref().map_or(160, |i| i.thumbnail_width),
    };
    let mut health = Health::default();
    let mut threads: Vec<JoinHandle<()>> = Vec::new();

    let frames_rx = match config.camera.clone() {
        Some(cam) => {
            let (mut tx, rx) = frame_channel();
            let h = Arc::new(SourceHealth::default());
            health.camera = Some(h.clone());
            let pol = policy(
                config,
                cam.at_end,
                cam.realtime,
                cam.source == CameraKind::V4l,
            );
            let stop = stop.clone();
            let t = std::thread::Builder::new()
                .name("camera".into())
                .spawn(move || run_camera("camera", || open_camera(&cam), &mut tx, &pol, &stop, &h))
                .map_err(|source| DaemonError::Thread {
                    name: "camera".into(),
                    source,
                })?;
            threads.push(t);
            Some(rx)
        }
        None => None,
    };
    let audio_rx = match config.microphone.clone() {
        Some(mic) => {
            let (tx, rx) = audio_channel();
            let h = Arc::new(SourceHealth::default());
            health.mic = Some(h.clone());
            let pol = policy(
                config,
                mic.at_end,
                mic.realtime,
                mic.source == MicKind::Alsa,
            );
            let stall = Duration::from_millis(config.retry.stall_ms);
            let rate = spec.audio_rate;
            let stop = stop.clone();
            let t = std::thread::Builder::new()
                .name("microphone".into())
                .spawn(move || {
                    run_microphone(
                        "microphone",
                        || open_microphone(&mic, rate, stall),
                        &tx,
                        &pol,
                        &stop,
                        &h,
                    )
                })
                .map_err(|source| DaemonError::Thread {
                    name: "microphone".into(),
                    source,
                })?;
            threads.push(t);
            Some(rx)
        }
        None => None,
    };

    let mut pipeline = Pipeline::new(embedder, tagger, outputs, opts, health);
    pipeline.run(frames_rx.as_ref(), audio_rx.as_ref(), &stop);
    let stats = pipeline.stats().clone();
    // Capture threads see `stop` within a read; one blocked opening a FIFO that has no writer
    // never returns, so wait a little and leave it to the process exit.
    stop.store(true, Ordering::Relaxed);
    let deadline = Instant::now() + Duration::from_secs(2);
    for t in threads {
        while !t.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        if t.is_finished() {
            let _ = t.join();
        }
    }
    Ok(stats)
}

/// What `--check-config` prints: one line per finding. Errors end the check.
pub fn check_config(path: &Path) -> Result<Vec<String>, DaemonError> {
    let config = Config::load(path)?;
    let mut lines = vec![format!("{}: configuration is valid", path.display())];
    match Manifest::load(&config.bundle.dir) {
        Ok(m) => {
            let (p, why) = match config.precision() {
                Some(p) => (p, "chosen in the configuration".to_string()),
                None => choose(&m.precisions()),
            };
            lines.push(format!(
                "bundle {}: {} {} ({} design), precision {} ({why})",
                config.bundle.dir.display(),
                m.name,
                m.version,
                m.design,
                p.name()
            ));
        }
        Err(e) => return Err(DaemonError::Bundle(BundleError::Manifest(e))),
    }
    let labels = config.label_names()?;
    lines.push(format!(
        "{} labels, prompt {:?}",
        labels.len(),
        config.labels.template
    ));
    if let Some(c) = &config.camera {
        let where_ = match c.source {
            CameraKind::V4l => c.device.clone(),
            _ => c.path.clone().unwrap_or_default(),
        };
        let present = where_.exists();
        lines.push(format!(
            "camera: {:?} {}{}",
            c.source,
            where_.display(),
            if present {
                ""
            } else {
                " (not present now; will retry)"
            }
        ));
    }
    if let Some(m) = &config.microphone {
        lines.push(format!(
            "microphone: {:?} {}",
            m.source,
            match m.source {
                MicKind::Alsa => m.device.clone(),
                _ => m.path.clone().unwrap_or_default().display().to_string(),
            }
        ));
    }
    if let Some(i) = &config.index {
        lines.push(format!("index: {}", i.path.display()));
    }
    lines.push(format!("tags: {}", config.outputs.tags));
    Ok(lines)
}
