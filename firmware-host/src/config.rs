//! The daemon's configuration: one TOML file with the sources, the bundle, the labels, the
//! thresholds, the index and the outputs. `mmv-host --check-config FILE` loads and validates it.
//!
//! Unknown keys are errors (a misspelt key would otherwise be silently ignored), and every
//! problem found is reported at once, each naming its key.

use std::path::{Path, PathBuf};

use mmv_runtime::tag::{Label, LabelSet, TagError};
use serde::Deserialize;

use crate::capture::file_audio::RawFormat;
use crate::model::Modality;
use crate::pipeline::events::{Rule, Rules};

/// Errors loading a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{path}: {} problem(s):\n  - {}", problems.len(), problems.join("\n  - "))]
    Invalid { path: String, problems: Vec<String> },
    #[error(transparent)]
    Labels(#[from] TagError),
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub bundle: BundleConfig,
    pub camera: Option<CameraConfig>,
    pub microphone: Option<MicConfig>,
    #[serde(default)]
    pub labels: LabelsConfig,
    #[serde(default)]
    pub tagging: TaggingConfig,
    #[serde(default)]
    pub events: EventsConfig,
    pub index: Option<IndexConfig>,
    #[serde(default)]
    pub outputs: OutputsConfig,
    #[serde(default)]
    pub retry: RetryConfig,
    /// The web page and JSON API (mmv-server: search, timelines, the live view); absent: none.
    pub http: Option<HttpConfig>,
    /// Tags and events over MQTT; absent: none.
    pub mqtt: Option<crate::outputs::mqtt::MqttConfig>,
    /// The index's rows pushed to the fleet database (PostgreSQL + pgvector); absent: none.
    pub fleet: Option<crate::outputs::fleet_push::FleetConfig>,
}

/// The `[http]` section: mmv-server inside the daemon.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// `IP:PORT`; anything but loopback needs the access token.
    pub addr: String,
    /// The access token's file (created 0600 on first start when needed).
    pub token_file: PathBuf,
    /// Ask for the token on loopback too.
    pub require_token: bool,
    /// Largest upload accepted (a query image or sound), in MB.
    pub upload_limit_mb: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            addr: "127.0.0.1:8080".into(),
            token_file: PathBuf::from("mmv-host.token"),
            require_token: false,
            upload_limit_mb: 16,
        }
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BundleConfig {
    /// The bundle directory (manifest.json and the ONNX files).
    pub dir: PathBuf,
    /// "auto" (from the CPU), "fp32", "f16" or "int8".
    #[serde(default = "auto")]
    pub precision: String,
    /// Threads for each network's matrix products.
    #[serde(default = "one")]
    pub threads: usize,
}

fn auto() -> String {
    "auto".into()
}
fn one() -> usize {
    1
}

/// Camera kinds.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CameraKind {
    /// A V4L2 device (needs the `v4l` feature).
    V4l,
    /// A YUV4MPEG2 file or FIFO.
    Y4m,
    /// Concatenated JPEGs.
    Mjpeg,
    /// Raw packed YUYV.
    Yuyv,
}

/// V4L2 pixel formats asked of the camera.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum V4lFormat {
    Mjpeg,
    Yuyv,
}

/// What a source does when its data ends (end of file, FIFO writer gone).
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AtEnd {
    /// The modality is finished (replays).
    #[default]
    Stop,
    /// Start again at once (a looping test clip).
    Loop,
    /// Treat it as a lost device: reopen with backoff.
    Retry,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CameraConfig {
    pub source: CameraKind,
    /// V4L2 device node (v4l).
    #[serde(default = "video0")]
    pub device: PathBuf,
    /// File or FIFO (y4m, mjpeg, yuyv).
    pub path: Option<PathBuf>,
    /// v4l: pixel format to ask for.
    #[serde(default = "mjpeg")]
    pub format: V4lFormat,
    /// v4l: size to ask for; yuyv: the file's size.
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// v4l: rate to ask for; mjpeg/yuyv: the file's rate. Y4M files carry their own.
    pub fps: Option<f32>,
    /// Files: pace at the file's rate (and drop when behind, like a camera) instead of replaying
    /// as fast as inference goes.
    #[serde(default)]
    pub realtime: bool,
    #[serde(default)]
    pub at_end: AtEnd,
}

fn video0() -> PathBuf {
    PathBuf::from("/dev/video0")
}
fn mjpeg() -> V4lFormat {
    V4lFormat::Mjpeg
}

/// Microphone kinds.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum MicKind {
    /// ALSA through cpal (needs the `alsa` feature).
    Alsa,
    /// A WAV file.
    Wav,
    /// Raw PCM from a file or FIFO.
    Raw,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MicConfig {
    pub source: MicKind,
    /// ALSA PCM name ("default", "hw:1,0", "plughw:1,0").
    #[serde(default = "default_pcm")]
    pub device: String,
    /// File (wav, raw).
    pub path: Option<PathBuf>,
    /// alsa/raw: the rate to open at (default: the bundle's audio rate).
    pub sample_rate: Option<u32>,
    #[serde(default = "one_u16")]
    pub channels: u16,
    /// alsa/raw: "s16" or "f32".
    #[serde(default = "s16")]
    pub format: RawFormat,
    /// alsa: frames per period (a fixed size keeps latency and the file plugin predictable).
    #[serde(default = "buffer_frames")]
    pub buffer_frames: u32,
    #[serde(default)]
    pub realtime: bool,
    #[serde(default)]
    pub at_end: AtEnd,
}

fn default_pcm() -> String {
    "default".into()
}
fn one_u16() -> u16 {
    1
}
fn s16() -> RawFormat {
    RawFormat::S16
}
fn buffer_frames() -> u32 {
    1024
}

/// `[labels]`; absent or empty (no names, no file): the built-in AV-Digits labels, as
/// `mmv tag` without `--labels`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LabelsConfig {
    /// Label names.
    #[serde(default)]
    pub names: Vec<String>,
    /// A label file, as `mmv tag --labels` reads it (`NAME | PROMPT [| PROMPT ...]` or just
    /// `NAME` a line, `#` comments), added to `names`.
    pub file: Option<PathBuf>,
    /// The prompt of each label that has none of its own; `{}` is replaced by the label.
    #[serde(default = "template")]
    pub template: String,
}

fn template() -> String {
    "{}".into()
}

impl Default for LabelsConfig {
    fn default() -> Self {
        Self {
            names: Vec::new(),
            file: None,
            template: template(),
        }
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TaggingConfig {
    /// Tags kept per output.
    #[serde(default = "three")]
    pub top_k: usize,
    /// Open-set cut for every modality, as `mmv tag --threshold`: the lowest score (-1 to 1)
    /// for a label to be present, on the bundle's calibrated kind of score (`open_set.score`:
    /// the label's contrast, its cosine minus the mean over the labels, or the cosine itself).
    /// Absent: the bundle's calibrated cuts (its manifest's `open_set`); a bundle without them
    /// names its best label for every output. (Before open-set tagging this key was a softmax
    /// probability: that is now `min_probability`; an old value loads as a cut, and
    /// `--check-config` says so.)
    pub threshold: Option<f32>,
    /// An open-set calibration to tag with instead of the bundle's own (as `mmv tag
    /// --open-set`), e.g. the `open-set-calibration.json` shipped beside a bundle whose
    /// default is to always answer: its per-modality cuts, kinds of score and label Gaussians.
    /// Used for tag lines, events, the web page and search marks alike. `threshold` still
    /// replaces its cuts when both are set.
    pub open_set: Option<std::path::PathBuf>,
    /// Lowest softmax probability over the labels for a tag to be listed (0 to 1). It ranks
    /// labels but cannot say "none": the softmax always sums to one.
    #[serde(default)]
    pub min_probability: f32,
    /// Every Nth frame goes through the deflated image network; 0: never (clips only).
    #[serde(default = "one")]
    pub image_every: usize,
    /// Assemble clips for the video network (sources without a steady rate never complete one).
    #[serde(default = "yes")]
    pub clips: bool,
    /// Seconds between audio windows; default one window length (no overlap).
    pub audio_hop_s: Option<f32>,
    /// Also write outputs whose tags all fall below the threshold.
    #[serde(default)]
    pub emit_empty: bool,
}

fn three() -> usize {
    3
}
fn yes() -> bool {
    true
}

impl Default for TaggingConfig {
    fn default() -> Self {
        Self {
            top_k: 3,
            threshold: None,
            open_set: None,
            min_probability: 0.0,
            image_every: 1,
            clips: true,
            audio_hop_s: None,
            emit_empty: false,
        }
    }
}

/// `[events]`: when a label's tags become an event, per modality (`[events.image]`,
/// `[events.clip]`, `[events.audio]`): it starts when the label is present in at least `k` of the
/// last `n` windows and ends when it is present in fewer than `k` of them
/// ([`crate::pipeline::events`]). Unset values take the measured defaults: [`Rules::DEFAULT`],
/// or [`Rules::WITH_CUT`] where an open-set cut applies.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EventsConfig {
    /// Emit events.
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub image: RuleConfig,
    #[serde(default)]
    pub clip: RuleConfig,
    #[serde(default)]
    pub audio: RuleConfig,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            image: RuleConfig::default(),
            clip: RuleConfig::default(),
            audio: RuleConfig::default(),
        }
    }
}

/// One modality's `k` of `n`; an unset value takes the modality's default.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    pub k: Option<usize>,
    pub n: Option<usize>,
}

impl EventsConfig {
    /// The rules, defaults filled in (those for tagging with an open-set cut when `cut`);
    /// None when events are off.
    pub fn rules(&self, cut: bool) -> Option<Rules> {
        self.enabled.then(|| self.filled(Rules::defaults(cut)))
    }

    fn configured(&self) -> [(Modality, RuleConfig); 3] {
        [
            (Modality::Image, self.image),
            (Modality::Clip, self.clip),
            (Modality::Audio, self.audio),
        ]
    }

    fn filled(&self, defaults: Rules) -> Rules {
        let [image, clip, audio] = self.configured().map(|(m, c)| {
            let d = defaults.get(m);
            Rule {
                k: c.k.unwrap_or(d.k),
                n: c.n.unwrap_or(d.n),
            }
        });
        Rules { image, clip, audio }
    }

    /// A rule must hold with either set of defaults: whether a cut applies is known only
    /// once the bundle is loaded.
    fn problems(&self, p: &mut Vec<String>) {
        for cut in [false, true] {
            let rules = self.filled(Rules::defaults(cut));
            let which = if cut { " with an open-set cut" } else { "" };
            for (m, c) in self.configured() {
                let rule = rules.get(m);
                if let Some(problem) = rule.problem() {
                    let unset = match (c.k, c.n) {
                        (None, _) => format!(" (k is the default{which}, {})", rule.k),
                        (_, None) => format!(" (n is the default{which}, {})", rule.n),
                        _ => String::new(),
                    };
                    let line = format!("events.{}: {problem}{unset}", m.name());
                    if !p.contains(&line) {
                        p.push(line);
                    }
                }
            }
        }
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct IndexConfig {
    /// The search index file.
    pub path: PathBuf,
    /// Ignored (accepted so that older configurations still load): thumbnails are the
    /// runtime's, as `mmv index` stores them.
    pub thumbnail_width: Option<u32>,
    /// Also index audio windows (with the nearest frame's thumbnail).
    #[serde(default = "yes")]
    pub audio: bool,
    /// Rows per committed chunk: a crash loses at most this many rows of each stream.
    #[serde(default = "batch")]
    pub batch: usize,
}

fn batch() -> usize {
    16
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OutputsConfig {
    /// "-" for stdout, else a file that tag lines are appended to.
    #[serde(default = "dash")]
    pub tags: String,
    /// Event records: absent, into the tag stream; "-" for stdout, "off", or a file.
    pub events: Option<String>,
    /// "auto" (`/dev/fb0` when present), "off", or a framebuffer device path.
    #[serde(default = "auto")]
    pub framebuffer: String,
    /// Directory for overlay PNG snapshots (`overlay-latest.png`); none: no snapshots.
    pub png_dir: Option<PathBuf>,
    /// Write a snapshot every N frames.
    #[serde(default = "png_every")]
    pub png_every: u32,
}

fn dash() -> String {
    "-".into()
}
fn png_every() -> u32 {
    30
}

impl Default for OutputsConfig {
    fn default() -> Self {
        Self {
            tags: dash(),
            events: None,
            framebuffer: auto(),
            png_dir: None,
            png_every: png_every(),
        }
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// First wait after a source fails.
    #[serde(default = "initial_ms")]
    pub initial_ms: u64,
    /// Waits double up to this.
    #[serde(default = "max_ms")]
    pub max_ms: u64,
    /// A live source silent this long is treated as lost.
    #[serde(default = "stall_ms")]
    pub stall_ms: u64,
}

fn initial_ms() -> u64 {
    250
}
fn max_ms() -> u64 {
    8000
}
fn stall_ms() -> u64 {
    3000
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            initial_ms: initial_ms(),
            max_ms: max_ms(),
            stall_ms: stall_ms(),
        }
    }
}

impl Config {
    /// Reads, parses and validates `path`. Relative paths inside are taken from the file's
    /// directory, so a config and its bundle can travel together.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let mut config = Self::parse(&text, &path.display().to_string())?;
        if let Some(base) = path.parent() {
            config.resolve_paths(base);
        }
        let problems = config.problems();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid {
                path: path.display().to_string(),
                problems,
            })
        }
    }

    /// Parses TOML text (no validation, no path resolution).
    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.into(),
            message: e.to_string(),
        })
    }

    fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() && !p.as_os_str().is_empty() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.bundle.dir);
        if let Some(p) = self.camera.as_mut().and_then(|c| c.path.as_mut()) {
            fix(p);
        }
        if let Some(p) = self.microphone.as_mut().and_then(|m| m.path.as_mut()) {
            fix(p);
        }
        if let Some(p) = self.labels.file.as_mut() {
            fix(p);
        }
        if let Some(i) = self.index.as_mut() {
            fix(&mut i.path);
        }
        if let Some(d) = self.outputs.png_dir.as_mut() {
            fix(d);
        }
        if let Some(h) = self.http.as_mut() {
            fix(&mut h.token_file);
        }
        if let Some(p) = self.fleet.as_mut().and_then(|f| f.url_file.as_mut()) {
            fix(p);
        }
        if self.outputs.tags != "-" {
            let mut p = PathBuf::from(&self.outputs.tags);
            fix(&mut p);
            self.outputs.tags = p.display().to_string();
        }
        if let Some(e) = self.outputs.events.as_mut()
            && e != "-"
            && e != "off"
        {
            let mut p = PathBuf::from(&*e);
            fix(&mut p);
            *e = p.display().to_string();
        }
    }

    /// Every problem with the configuration, each naming its key; empty when it is usable.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if mmv_runtime::bundle::manifest::Precision::parse(&self.bundle.precision).is_none()
            && self.bundle.precision != "auto"
        {
            p.push(format!(
                "bundle.precision: {:?} is not auto, fp32, f16 or int8",
                self.bundle.precision
            ));
        }
        if self.bundle.threads == 0 || self.bundle.threads > 64 {
            p.push(format!(
                "bundle.threads: {} is not in 1..=64",
                self.bundle.threads
            ));
        }
        if self.camera.is_none() && self.microphone.is_none() {
            p.push("neither [camera] nor [microphone]: nothing to capture".into());
        }
        if let Some(c) = &self.camera {
            let needs_path = c.source != CameraKind::V4l;
            if needs_path && c.path.is_none() {
                p.push(format!("camera.path: required for source {:?}", c.source));
            }
            if c.source == CameraKind::V4l && !cfg!(feature = "v4l") {
                p.push("camera.source = \"v4l\": this build lacks the v4l feature".into());
            }
            if c.source == CameraKind::Yuyv && (c.width.is_none() || c.height.is_none()) {
                p.push("camera.width/height: required for raw YUYV".into());
            }
            if let (Some(w), Some(h)) = (c.width, c.height)
                && (w == 0
                    || h == 0
                    || w > 8192
                    || h > 8192
                    || (c.source == CameraKind::Yuyv && !w.is_multiple_of(2)))
            {
                p.push(format!("camera.width/height: {w}x{h} is not a usable size"));
            }
            if matches!(c.source, CameraKind::Mjpeg | CameraKind::Yuyv) && c.fps.is_none() {
                p.push(format!("camera.fps: required for {:?} files", c.source));
            }
            if let Some(fps) = c.fps
                && !(fps > 0.0 && fps <= 1000.0)
            {
                p.push(format!("camera.fps: {fps} is not in (0, 1000]"));
            }
        }
        if let Some(m) = &self.microphone {
            if m.source != MicKind::Alsa && m.path.is_none() {
                p.push(format!(
                    "microphone.path: required for source {:?}",
                    m.source
                ));
            }
            if m.source == MicKind::Alsa && !cfg!(feature = "alsa") {
                p.push("microphone.source = \"alsa\": this build lacks the alsa feature".into());
            }
            if m.source == MicKind::Raw && m.sample_rate.is_none() {
                p.push("microphone.sample_rate: required for raw PCM".into());
            }
            if let Some(r) = m.sample_rate
                && !(1000..=384_000).contains(&r)
            {
                p.push(format!(
                    "microphone.sample_rate: {r} is not in 1000..=384000"
                ));
            }
            if m.channels == 0 || m.channels > 32 {
                p.push(format!(
                    "microphone.channels: {} is not in 1..=32",
                    m.channels
                ));
            }
            if m.buffer_frames < 16 || m.buffer_frames > 65_536 {
                p.push(format!(
                    "microphone.buffer_frames: {} is not in 16..=65536",
                    m.buffer_frames
                ));
            }
        }
        if !self.labels.template.contains("{}") {
            p.push(format!(
                "labels.template: {:?} has no {{}} for the label",
                self.labels.template
            ));
        }
        let t = &self.tagging;
        if t.top_k == 0 {
            p.push("tagging.top_k: must be at least 1".into());
        }
        if let Some(c) = t.threshold
            && !(c.is_finite() && (-1.0..=1.0).contains(&c))
        {
            p.push(format!(
                "tagging.threshold: {c} is not in [-1, 1]: it is a cosine similarity cut (the \
                 softmax filter is tagging.min_probability, 0 to 1)"
            ));
        }
        if !(0.0..=1.0).contains(&t.min_probability) {
            p.push(format!(
                "tagging.min_probability: {} is not in [0, 1]",
                t.min_probability
            ));
        }
        self.events.problems(&mut p);
        if let Some(h) = t.audio_hop_s
            && !(h > 0.0 && h <= 60.0)
        {
            p.push(format!("tagging.audio_hop_s: {h} is not in (0, 60]"));
        }
        if self.outputs.tags.is_empty() {
            p.push("outputs.tags: empty (use \"-\" for stdout)".into());
        }
        if self.outputs.events.as_deref() == Some("") {
            p.push(
                "outputs.events: empty (leave it out for the tag stream, or \"-\", \"off\", a file)"
                    .into(),
            );
        }
        if self.outputs.png_every == 0 {
            p.push("outputs.png_every: must be at least 1".into());
        }
        let r = &self.retry;
        if r.initial_ms == 0 || r.max_ms < r.initial_ms {
            p.push(format!(
                "retry: need 0 < initial_ms ({}) <= max_ms ({})",
                r.initial_ms, r.max_ms
            ));
        }
        if r.stall_ms < 100 {
            p.push(format!("retry.stall_ms: {} is below 100", r.stall_ms));
        }
        if let Some(h) = &self.http
            && h.addr.parse::<std::net::SocketAddr>().is_err()
        {
            p.push(format!("http.addr: {:?} is not IP:PORT", h.addr));
        }
        if let Some(Err(e)) = self.mqtt.as_ref().map(|m| m.validate()) {
            p.push(e);
        }
        if let Some(f) = &self.fleet {
            if let Err(e) = f.validate() {
                p.push(e);
            }
            if self.index.is_none() {
                p.push("[fleet] needs [index]: the push reads the daemon's index".into());
            }
        }
        p
    }

    /// The labels: `names`, then those of `file`, without repeats. A label without prompts of
    /// its own (every name, and a file line without `|`) is read through `template`. Neither
    /// names nor a file: the built-in AV-Digits labels.
    pub fn labels(&self) -> Result<LabelSet, ConfigError> {
        if self.labels.names.is_empty() && self.labels.file.is_none() {
            return Ok(LabelSet::avdigits());
        }
        let from_file = match &self.labels.file {
            Some(file) => LabelSet::load(file)?.labels,
            None => Vec::new(),
        };
        let names = self.labels.names.iter().map(|n| Label {
            name: n.trim().to_string(),
            prompts: vec![n.trim().to_string()],
            line: 0,
        });
        let mut seen = std::collections::BTreeSet::new();
        let labels: Vec<Label> = names
            .chain(from_file)
            .filter(|l| !l.name.is_empty() && seen.insert(l.name.clone()))
            .map(|mut l| {
                if l.prompts == [l.name.as_str()] {
                    l.prompts = vec![self.labels.template.replace("{}", &l.name)];
                }
                l
            })
            .collect();
        let origin = match &self.labels.file {
            Some(f) => format!("[labels] (names and {})", f.display()),
            None => "[labels] names".into(),
        };
        if labels.is_empty() {
            return Err(TagError::Empty { origin }.into());
        }
        Ok(LabelSet { origin, labels })
    }

    /// The precision asked for; `None` means "choose from the CPU".
    pub fn precision(&self) -> Option<mmv_runtime::bundle::manifest::Precision> {
        mmv_runtime::bundle::manifest::Precision::parse(&self.bundle.precision)
    }
}

/// An annotated example, also used by the tests and the README.
pub const EXAMPLE: &str = include_str!("../mmv-host.example.toml");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fleet_needs_an_index_and_sane_values() {
        let base = "[bundle]\ndir = \"b\"\n[camera]\nsource = \"y4m\"\npath = \"c.y4m\"\n";
        let c = Config::parse(&format!("{base}[fleet]\ninterval_s = 0\n"), "t").expect("parse");
        let p = c.problems();
        assert!(
            p.iter().any(|p| p.contains("[fleet] needs [index]")),
            "{p:?}"
        );
        assert!(p.iter().any(|p| p.contains("fleet.interval_s")), "{p:?}");
        let ok = format!("{base}[index]\npath = \"i.db\"\n[fleet]\ndevice = \"cam-1\"\n");
        let c = Config::parse(&ok, "t").expect("parse");
        assert!(c.problems().is_empty(), "{:?}", c.problems());
        let f = c.fleet.expect("fleet");
        assert_eq!((f.url_env.as_str(), f.interval_s), ("MMV_FLEET_DB", 10.0));
        let e = Config::parse(&format!("{ok}url = \"postgresql://x\"\n"), "t");
        assert!(
            e.is_err(),
            "a URL in the file is refused: it belongs in url_file or the env"
        );
    }

    #[test]
    fn the_example_parses_and_validates() {
        let c = Config::parse(EXAMPLE, "example").expect("parse");
        let problems: Vec<String> = c
            .problems()
            .into_iter()
            .filter(|p| !p.contains("lacks the"))
            .collect();
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(c.tagging.top_k, 3);
        assert!(c.camera.is_some() && c.microphone.is_some());
        // The example leaves the event rules to their defaults, so that a calibrated bundle
        // gets the rules measured for a cut.
        assert_eq!(c.events.rules(false), Some(Rules::DEFAULT));
        assert_eq!(c.events.rules(true), Some(Rules::WITH_CUT));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_reported_by_name() {
        let e = Config::parse("[bundle]\ndir = \"b\"\nthreds = 2\n", "t").expect_err("typo");
        assert!(e.to_string().contains("threds"), "{e}");
        let c = Config::parse(
            r#"
            [bundle]
            dir = "b"
            precision = "f64"
            [camera]
            source = "yuyv"
            path = "x"
            width = 641
            height = 480
            [tagging]
            threshold = 2.0
            "#,
            "t",
        )
        .expect("parse");
        let p = c.problems().join("\n");
        for key in [
            "bundle.precision",
            "camera.width/height",
            "camera.fps",
            "tagging.threshold",
        ] {
            assert!(p.contains(key), "missing {key} in:\n{p}");
        }
    }

    #[test]
    fn threshold_is_a_cosine_cut_and_min_probability_the_softmax_filter() {
        let parse = |tagging: &str| {
            Config::parse(
                &format!("[bundle]\ndir = \"b\"\n[labels]\nnames = [\"a\"]\n[microphone]\nsource = \"wav\"\npath = \"x\"\n[tagging]\n{tagging}\n"),
                "t",
            )
            .expect("parse")
        };
        let c = parse("");
        assert_eq!(
            (c.tagging.threshold, c.tagging.min_probability),
            (None, 0.0)
        );
        // An old configuration's softmax threshold still loads, now as a cosine cut (reported
        // by --check-config); negative cuts are valid.
        for ok in [
            "threshold = 0.2",
            "threshold = -0.25",
            "min_probability = 0.5",
        ] {
            assert!(parse(ok).problems().is_empty(), "{ok}");
        }
        let p = parse("threshold = 1.5\nmin_probability = 2")
            .problems()
            .join("\n");
        assert!(
            p.contains("tagging.threshold: 1.5 is not in [-1, 1]"),
            "{p}"
        );
        assert!(p.contains("cosine"), "{p}");
        assert!(
            p.contains("tagging.min_probability: 2 is not in [0, 1]"),
            "{p}"
        );
    }

    #[test]
    fn event_rules_take_defaults_and_are_checked_by_name() {
        let parse = |events: &str| {
            Config::parse(
                &format!(
                    "[bundle]\ndir = \"b\"\n[labels]\nnames = [\"a\"]\n[microphone]\nsource = \"wav\"\npath = \"x\"\n{events}\n"
                ),
                "t",
            )
        };
        let c = parse("").expect("parse");
        assert_eq!(c.events.rules(false), Some(Rules::DEFAULT));
        assert_eq!(c.events.rules(true), Some(Rules::WITH_CUT));
        let c = parse("[events.clip]\nn = 4\n[events.audio]\nk = 2\nn = 5").expect("parse");
        let r = c.events.rules(false).expect("on");
        assert_eq!(
            r.clip,
            Rule {
                k: Rules::DEFAULT.clip.k,
                n: 4
            }
        );
        assert_eq!(r.audio, Rule { k: 2, n: 5 });
        assert_eq!(r.image, Rules::DEFAULT.image);
        assert!(c.problems().is_empty());
        let c = parse("[events]\nenabled = false").expect("parse");
        assert_eq!(c.events.rules(true), None);
        let c = parse(
            "[events]\nclip = { k = 3 }\nimage = { k = 0, n = 4 }\naudio = { k = 2, n = 99 }",
        )
        .expect("parse");
        let p = c.problems().join("\n");
        assert!(
            p.contains("events.clip: k = 3 is more than n = 2")
                && p.contains("(n is the default, 2)"),
            "{p}"
        );
        assert!(p.contains("events.image: k = 0"), "{p}");
        assert!(p.contains("events.audio: n = 99 is more than 64"), "{p}");
        let e = parse("[events.clip]\nm = 2").expect_err("unknown key");
        assert!(e.to_string().contains("unknown field `m`"), "{e}");
        let c = parse("[outputs]\nevents = \"\"").expect("parse");
        assert!(c.problems().join("\n").contains("outputs.events"));
    }

    #[test]
    fn without_labels_the_daemon_tags_the_built_in_digits() {
        let c = Config::parse(
            "[bundle]\ndir = \"b\"\n[microphone]\nsource = \"wav\"\npath = \"x\"\n",
            "t",
        )
        .expect("parse");
        assert!(c.problems().is_empty(), "{:?}", c.problems());
        assert_eq!(c.labels.template, "{}");
        assert_eq!(c.labels().expect("labels"), LabelSet::avdigits());
    }

    #[test]
    fn relative_paths_follow_the_config_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("host.toml");
        std::fs::write(
            &path,
            "[bundle]\ndir = \"bundle\"\n[microphone]\nsource = \"wav\"\npath = \"a.wav\"\n[labels]\nfile = \"labels.txt\"\n",
        )
        .expect("write");
        std::fs::write(
            dir.path().join("labels.txt"),
            "# digits, as `mmv tag --labels` reads them\nzero\none | the number one\n",
        )
        .expect("labels");
        let mut c = Config::load(&path).expect("load");
        assert_eq!(c.bundle.dir, dir.path().join("bundle"));
        c.labels.names = vec!["zero".into(), "two".into()];
        c.labels.template = "a {}".into();
        let labels = c.labels().expect("labels");
        let got: Vec<(&str, Vec<&str>)> = labels
            .labels
            .iter()
            .map(|l| {
                (
                    l.name.as_str(),
                    l.prompts.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("zero", vec!["a zero"]),
                ("two", vec!["a two"]),
                ("one", vec!["the number one"]),
            ]
        );
        assert_eq!(c.precision(), None);
    }
}
