//! Wiring a configuration into running threads: the bundle through the runtime's pipeline
//! (logging the precision chosen and why), the tagger, the outputs, one supervised capture
//! thread per source, and the inference loop on the calling thread. [`run_with`] takes any
//! [`Embedder`] and index, so tests and the soak benchmark run the daemon exactly as deployed,
//! without a model file.

use std::fs::OpenOptions;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mmv_runtime::bundle::{Bundle, BundleError, BundleOptions};
use mmv_runtime::frames::PixelFormat;
use mmv_runtime::index::ModelKey;
use mmv_runtime::ingest::mjpeg::MjpegReader;
use mmv_runtime::ingest::raw::{RawReader, RawVideo};
use mmv_runtime::ingest::y4m::Y4mReader;
use mmv_runtime::open_set::MODALITIES;
use mmv_runtime::pipeline::{Pipeline, PipelineError};
use mmv_runtime::tag::Tagger;

use crate::capture::file_audio::{RawPcmSource, WavSource};
use crate::capture::paced::Paced;
use crate::capture::{
    AudioSource, CaptureError, FrameSource, IngestError, audio_channel, frame_channel,
};
use crate::config::{CameraConfig, CameraKind, Config, ConfigError, MicConfig, MicKind};
use crate::model::{BundleEmbedder, Embedder};
use crate::outputs::fleet_push::FleetPusher;
use crate::outputs::index_sink::{IndexRecord, IndexSink};
use crate::outputs::live::Outlets;
use crate::outputs::sqlite_index::SqliteIndex;
use crate::outputs::tags_jsonl::TagWriter;
use crate::overlay::framebuffer::Framebuffer;
use crate::overlay::png::PngSnapshots;
use crate::overlay::{Display, DisplayError};
use crate::pipeline::events::Rules;
use crate::pipeline::{
    EventOutput, Health, Outputs, Pipeline as Loop, PipelineOptions, PipelineStats,
};
use crate::supervisor::{Policy, SourceHealth, run_camera, run_microphone};

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error(transparent)]
    Model(#[from] PipelineError),
    #[error("labels: {0}")]
    Labels(Box<dyn std::error::Error + Send + Sync>),
    #[error(transparent)]
    Index(#[from] IndexError),
    /// `tagging.open_set` names a file that is not an open-set calibration.
    #[error("tagging.open_set {path}: {problem}")]
    OpenSet { path: String, problem: String },
    #[error(transparent)]
    Display(#[from] DisplayError),
    /// The `[http]` or `[mqtt]` section could not start.
    #[error("{0}")]
    Outlet(String),
    #[error("tag output {path}: {source}")]
    TagOutput {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The `[fleet]` push could not start (no URL, an unreadable URL file).
    #[error(transparent)]
    Fleet(#[from] crate::outputs::fleet_push::FleetPushError),
    /// A file source that cannot be read at start-up (see [`probe_file_sources`]).
    #[error("{0}")]
    Source(#[from] CaptureError),
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

/// Opens the bundle (the runtime checks it and chooses the precision), logging the choice.
pub fn open_bundle(config: &Config) -> Result<Pipeline, DaemonError> {
    let options = BundleOptions {
        precision: config.precision(),
        threads: config.bundle.threads,
        encoders: None,
    };
    let mut bundle = Bundle::open(&config.bundle.dir, &options)?;
    use_open_set_file(&mut bundle, config)?;
    tracing::info!(
        bundle = %config.bundle.dir.display(),
        name = %bundle.manifest.name,
        version = %bundle.manifest.version,
        precision = bundle.precision.name(),
        reason = %bundle.precision_reason,
        encoders = ?bundle.kinds().iter().map(|k| k.name()).collect::<Vec<_>>(),
        "bundle opened"
    );
    Ok(Pipeline::new(bundle))
}

/// With `tagging.open_set`: that calibration replaces the bundle's own, so that every part
/// of the daemon that tags (tag lines, events, the web page, search marks) uses it.
fn use_open_set_file(bundle: &mut Bundle, config: &Config) -> Result<(), DaemonError> {
    let Some(path) = &config.tagging.open_set else {
        return Ok(());
    };
    let set =
        mmv_runtime::open_set::OpenSet::load(path).map_err(|problem| DaemonError::OpenSet {
            path: path.display().to_string(),
            problem,
        })?;
    bundle.manifest.open_set = Some(set);
    Ok(())
}

/// The index for a configuration: the runtime's SQLite index at `index.path` (the file
/// `mmv search` reads), rows of `model`, committed in chunks of `index.batch` rows.
pub fn default_index(config: &Config, model: &ModelKey) -> Result<Option<DynIndex>, DaemonError> {
    let Some(index) = &config.index else {
        return Ok(None);
    };
    let sink =
        SqliteIndex::open(&index.path, model, index.batch).map_err(|e| IndexError(Box::new(e)))?;
    tracing::info!(index = %index.path.display(), model = %model, "SQLite index open");
    Ok(Some(Box::new(Boxed(sink))))
}

/// Runs the daemon from a configuration with the real bundle, until `stop`.
pub fn run(config: &Config, stop: Arc<AtomicBool>) -> Result<PipelineStats, DaemonError> {
    probe_file_sources(config)?;
    let pipeline = open_bundle(config)?;
    let index = default_index(config, &pipeline.model_key())?;
    run_with(config, BundleEmbedder::new(pipeline)?, index, stop)
}

/// A JSON-lines stream: "-" for stdout, else a file appended to.
fn json_lines(dest: &str) -> Result<TagWriter<Box<dyn std::io::Write + Send>>, DaemonError> {
    let out: Box<dyn std::io::Write + Send> = if dest == "-" {
        Box::new(std::io::stdout())
    } else {
        let path = Path::new(dest);
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
                    path: dest.to_string(),
                    source,
                })?,
        )
    };
    Ok(TagWriter::new(out))
}

/// Where event records go: the tag stream unless `outputs.events` names another.
fn events_output(config: &Config) -> Result<EventOutput, DaemonError> {
    Ok(match config.outputs.events.as_deref() {
        _ if !config.events.enabled => EventOutput::Off,
        Some("off") => EventOutput::Off,
        None => EventOutput::WithTags,
        Some(dest) if dest == config.outputs.tags => EventOutput::WithTags,
        Some(dest) => EventOutput::Own(json_lines(dest)?),
    })
}

/// The open-set cut of each modality: `tagging.threshold` for all when set (as
/// `mmv tag --threshold`), else the bundle's calibrated cuts, which the tagger already has.
pub fn apply_threshold(tagger: Tagger, config: &Config) -> Tagger {
    match config.tagging.threshold {
        Some(t) => tagger.with_uniform_cut(t),
        None => tagger,
    }
}

/// In words: the open-set cut of each modality the daemon tags (`cut`: by the open-set
/// calibration's name, "video" for clips).
fn describe_cuts(
    cut: impl Fn(&str) -> Option<f32>,
    threshold_kind: mmv_runtime::open_set::OpenSetScore,
    config: &Config,
) -> String {
    let cuts: Vec<String> = ["image", "video", "audio"]
        .iter()
        .map(|m| match cut(m) {
            Some(c) => format!("{m} {c:.3}"),
            None => format!("{m} none"),
        })
        .collect();
    match config.tagging.threshold {
        Some(t) => format!(
            "tagging.threshold = {t}: one {} cut for every modality, overriding the bundle's \
             calibrated cuts (in configurations written before open-set tagging, \
             tagging.threshold was a softmax probability: that is now tagging.min_probability)",
            format!("{threshold_kind:?}").to_lowercase()
        ),
        None if cuts.iter().all(|c| c.ends_with("none")) => "open-set cuts: none (the bundle is \
             not calibrated, see mmv-train calibrate-tags): every output names its best label"
            .into(),
        None => format!(
            "open-set cuts ({}): {}",
            match &config.tagging.open_set {
                Some(p) => format!("calibrated, from tagging.open_set {}", p.display()),
                None => "the bundle's calibrated cuts".into(),
            },
            cuts.join(", ")
        ),
    }
}

fn describe_rules(rules: Option<Rules>, config: &Config) -> String {
    let Some(r) = rules else {
        return "events: off".into();
    };
    let dest = match config.outputs.events.as_deref() {
        None => "written with the tag lines".to_string(),
        Some("off") => "not written".to_string(),
        Some(d) if d == config.outputs.tags => "written with the tag lines".to_string(),
        Some(d) => format!("written to {d}"),
    };
    format!(
        "events: a label starts an event when present in k of the last n windows, ends when in \
         fewer: image {} of {}, clip {} of {}, audio {} of {}; {dest}",
        r.image.k, r.image.n, r.clip.k, r.clip.n, r.audio.k, r.audio.n
    )
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

/// Opens each source that reads a regular file once, before the daemon starts, and reads its
/// first frame or its samples: a missing, empty or malformed file will not get better by
/// waiting, so it is an error at start-up (naming the file) rather than a retry loop. Devices
/// and FIFOs are left to the supervisor, which retries them: they come and go.
pub fn probe_file_sources(config: &Config) -> Result<(), CaptureError> {
    // A path that exists and is not a regular file (a FIFO, a device node) is live.
    let live = |path: &Option<std::path::PathBuf>| {
        path.as_ref()
            .and_then(|p| std::fs::metadata(p).ok())
            .is_some_and(|m| !m.is_file())
    };
    if let Some(cam) = &config.camera
        && matches!(
            cam.source,
            CameraKind::Y4m | CameraKind::Mjpeg | CameraKind::Yuyv
        )
        && !live(&cam.path)
    {
        let mut source = open_camera(&CameraConfig {
            realtime: false,
            ..cam.clone()
        })?;
        match source.next_frame(true) {
            // A bad frame is skipped while running, so it is no reason to refuse to start.
            Ok(_) | Err(IngestError::Frame { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if let Some(mic) = &config.microphone
        && matches!(mic.source, MicKind::Wav | MicKind::Raw)
        && !live(&mic.path)
    {
        // Opening a WAV reads the whole file, with its checks; raw PCM has no header, so only
        // its presence is checked. (The rate only matters to raw PCM without one of its own.)
        open_microphone(mic, 16_000, Duration::from_secs(1))?;
        if let Some(path) = &mic.path {
            std::fs::File::open(path).map_err(|error| CaptureError::Io {
                source_name: path.display().to_string(),
                error,
            })?;
        }
    }
    Ok(())
}

/// Opens the configured camera (one attempt; the supervisor repeats it). Files are read by the
/// runtime's readers, paced by the daemon.
pub fn open_camera(c: &CameraConfig) -> Result<Box<dyn FrameSource + Send>, CaptureError> {
    let path = c.path.clone().unwrap_or_default();
    let fps = f64::from(c.fps.unwrap_or(0.0));

    Ok(match c.source {
        CameraKind::Y4m => Box::new(Paced::new(Y4mReader::open(&path)?, c.realtime)),
        CameraKind::Mjpeg => Box::new(Paced::new(MjpegReader::open(&path, fps)?, c.realtime)),
        CameraKind::Yuyv => {
            let video = RawVideo {
                format: PixelFormat::Yuyv,
                width: c.width.unwrap_or(0) as usize,
                height: c.height.unwrap_or(0) as usize,
                fps,
            };
            Box::new(Paced::new(RawReader::open(&path, video)?, c.realtime))
        }
        #[cfg(feature = "v4l")]
        CameraKind::V4l => {
            let cam = crate::capture::v4l_camera::V4lCamera::open(
                &c.device,
                c.format,
                c.width.unwrap_or(640),
                c.height.unwrap_or(480),
                c.fps.unwrap_or(15.0),
            )?;
            tracing::info!(camera = %cam.describe(), "V4L2 camera");
            Box::new(cam)
        }
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

/// `[fleet]`: the pusher of the index's rows, with the bundle's identity (its manifest hash) when
/// the bundle directory has a manifest.
fn start_fleet_push(config: &Config) -> Result<Option<FleetPusher>, DaemonError> {
    let Some(fleet) = &config.fleet else {
        return Ok(None);
    };
    let index = config
        .index
        .as_ref()
        .ok_or(crate::outputs::fleet_push::FleetPushError::NoIndex)?;
    let model = match mmv_fleet::ModelIdentity::of_bundle(&config.bundle.dir) {
        Ok(m) => Some(m),
        Err(e) => {
            tracing::warn!(error = %e, "fleet push: no bundle identity; rows go without a manifest hash");
            None
        }
    };
    Ok(Some(FleetPusher::start(fleet, index.path.clone(), model)?))
}

/// Runs the daemon with any embedder and index until `stop`, or until every source has ended
/// (`at_end = "stop"`) and its data is processed. Returns the pipeline's counters.
pub fn run_with<E: Embedder>(
    config: &Config,
    mut embedder: E,
    index: Option<DynIndex>,
    stop: Arc<AtomicBool>,
) -> Result<PipelineStats, DaemonError> {
    let labels = config.labels()?;
    let tagger = embedder
        .tagger(&labels)
        .map_err(|e| DaemonError::Labels(Box::new(e)))?;
    let tagger = apply_threshold(tagger, config);
    tracing::info!(labels = labels.labels.len(), origin = %labels.origin, "labels embedded");
    // With `tagging.threshold` every modality's cut is on one kind of score.
    tracing::info!(
        "{}",
        describe_cuts(|m| tagger.cut(m), tagger.score_kind("video"), config)
    );
    // Windows under an open-set cut take the event rules measured for that case.
    let cut = MODALITIES.iter().any(|m| tagger.cut(m).is_some());
    tracing::info!("{}", describe_rules(config.events.rules(cut), config));
    let spec = embedder.spec().clone();
    // [mqtt] and [http]: the tag stream's lines copied to the broker and the web page.
    let outlets = Outlets::start(config).map_err(DaemonError::Outlet)?;
    let mut displays = displays(config)?;
    displays.extend(outlets.overlay());
    let fleet = start_fleet_push(config)?;
    let outputs = Outputs {
        tags: Some(outlets.tee(json_lines(&config.outputs.tags)?)),
        events: match events_output(config)? {
            EventOutput::Own(w) => EventOutput::Own(outlets.tee(w)),
            other => other,
        },
        index,
        displays,
    };
    let opts = PipelineOptions {
        image_every: config.tagging.image_every,
        clips: config.tagging.clips,
        top_k: config.tagging.top_k,
        min_probability: config.tagging.min_probability,
        emit_empty: config.tagging.emit_empty,
        audio_hop_s: config.tagging.audio_hop_s,
        index_audio: config.index.as_ref().is_some_and(|i| i.audio),
        events: config.events.rules(cut),
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
            let rate = spec.geometry.sample_rate;
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

    outlets.watch(&health);
    let mut pipeline = Loop::new(embedder, tagger, outputs, opts, health);
    pipeline.run(frames_rx.as_ref(), audio_rx.as_ref(), &stop);
    let stats = pipeline.stats().clone();
    // The writers hold the publisher too: dropping them all drains its queue.
    drop(pipeline);
    drop(outlets);
    // After the index's last chunk is committed: the final push sends it.
    if let Some(f) = fleet {
        f.finish();
    }
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

/// What `--check-config` prints: one line per finding. Errors end the check. The bundle is
/// opened by the runtime without building its networks (manifest, vocabulary, precision).
pub fn check_config(path: &Path) -> Result<Vec<String>, DaemonError> {
    let config = Config::load(path)?;
    let mut lines = vec![format!("{}: configuration is valid", path.display())];
    let options = BundleOptions {
        precision: config.precision(),
        threads: 1,
        encoders: Some(Vec::new()),
    };
    let mut bundle = Bundle::open(&config.bundle.dir, &options)?;
    use_open_set_file(&mut bundle, &config)?;
    let m = &bundle.manifest;
    let why = match config.precision() {
        Some(_) => "chosen in the configuration",
        None => bundle.precision_reason.as_str(),
    };
    lines.push(format!(
        "bundle {}: {} {} ({} design), precision {} ({why})",
        config.bundle.dir.display(),
        m.name,
        m.version,
        m.design,
        bundle.precision.name()
    ));
    let labels = config.labels()?;
    lines.push(format!(
        "{} labels ({}), prompt template {:?}",
        labels.labels.len(),
        labels.origin,
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
        if i.thumbnail_width.is_some() {
            lines.push(
                "index.thumbnail_width is ignored: thumbnails are the runtime's, as `mmv index` \
                 stores them"
                    .into(),
            );
        }
    }
    if let Some(f) = &config.fleet {
        // The URL is checked (read and parsed) but only its masked form is shown.
        let db = match f.url() {
            Ok(u) => mmv_fleet::url::mask(&u),
            Err(e) => return Err(e.into()),
        };
        lines.push(format!(
            "fleet: push to {db} as device {:?} every {} s",
            f.device_name(),
            f.interval_s
        ));
    }
    lines.push(format!("tags: {}", config.outputs.tags));
    let open_set = m.open_set.as_ref();
    let bundle_cut = |m: &str| open_set.and_then(|o| o.threshold(m));
    let threshold_kind = open_set.map_or(Default::default(), |o| o.user_cut_kind());
    lines.push(describe_cuts(
        |m| config.tagging.threshold.or(bundle_cut(m)),
        threshold_kind,
        &config,
    ));
    if config.tagging.min_probability > 0.0 {
        lines.push(format!(
            "tagging.min_probability = {}: tags below this softmax probability are not listed",
            config.tagging.min_probability
        ));
    }
    let cut = MODALITIES
        .iter()
        .any(|m| config.tagging.threshold.or(bundle_cut(m)).is_some());
    lines.push(describe_rules(config.events.rules(cut), &config));
    Ok(lines)
}
