//! `mmv bench`: latency and throughput of a model bundle on the machine it runs on.
//!
//! For every encoder (clip, image, audio, text), precision and thread count it measures the
//! model's load and optimise time, its first inference, SingleStream latency percentiles and
//! Offline throughput ([`scenario`]), peak resident memory and the achieved GFLOP/s
//! ([`flops`]); then the whole pipeline on a camera-sized clip (frame preprocessing, log-mel,
//! both networks and zero-shot tagging) and a brute-force search query over an in-memory
//! index. [`machine`] says where it ran; [`report`] prints tables and Markdown; [`plot`] draws
//! the latency histograms; [`profile`] times each node of a tract plan.

pub mod flops;
pub mod machine;
pub mod plot;
pub mod profile;
pub mod report;
pub mod scenario;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tract_onnx::prelude::DatumType;

use flops::GraphFlops;
use machine::Machine;
use mmv_runtime::bundle::manifest::{DType, EncoderFile, EncoderKind, Manifest, Precision};
use mmv_runtime::bundle::{
    Bundle, BundleError, BundleOptions, Embedding, EncoderSession, sha256_file,
};
use mmv_runtime::frames::{
    FramePreprocessor, Picture, PixelFormat, RgbFrame, reference, rgb_to_yuv,
};
use mmv_runtime::index::{EmbeddingTable, Modality, Query};
use mmv_runtime::ingest::Clip;
use mmv_runtime::pipeline::{Pipeline, PipelineError};
use mmv_runtime::tag::LabelSet;
use scenario::{Offline, ScenarioSettings, SingleStream};

/// Version of the JSON report's layout.
pub const REPORT_VERSION: u32 = 1;

/// Errors of a benchmark run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error(transparent)]
    Flops(#[from] flops::FlopsError),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("plot: {0}")]
    Plot(String),
    #[error("{0}")]
    Invalid(String),
}

/// What to measure.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Precisions to run. None: every one the bundle holds, except f16 on a CPU where tract
    /// emulates it (about 400x slower on x86); naming f16 here forces it.
    pub precisions: Option<Vec<Precision>>,
    /// Thread counts for each network's matrix products.
    pub threads: Vec<usize>,
    /// Encoders to run (None: all the bundle has).
    pub encoders: Option<Vec<EncoderKind>>,
    pub settings: ScenarioSettings,
    /// Run the Offline scenario too.
    pub offline: bool,
    /// Run the whole pipeline (frames + audio -> embeddings -> tags).
    pub pipeline: bool,
    /// Camera frame size (width, height) fed to the pipeline.
    pub camera: (usize, usize),
    /// Rows of the in-memory search index (0: no search scenario).
    pub search_rows: usize,
    /// Width of the search embeddings (None: the bundle's text-space width).
    pub search_dim: Option<usize>,
    /// Write each encoder's benchmark input here (raw little-endian, see [`write_inputs`]).
    pub inputs_dir: Option<PathBuf>,
}

impl Default for BenchOptions {
    fn default() -> Self {
        Self {
            precisions: None,
            threads: vec![1],
            encoders: None,
            settings: ScenarioSettings::default(),
            offline: true,
            pipeline: true,
            camera: (640, 480),
            search_rows: 100_000,
            search_dim: None,
            inputs_dir: None,
        }
    }
}

/// The bundle a report is about.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BundleInfo {
    pub dir: String,
    pub name: String,
    pub version: String,
    pub design: String,
}

/// One encoder at one precision and thread count.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EncoderCase {
    pub kind: EncoderKind,
    pub precision: Precision,
    pub threads: usize,
    pub file: String,
    pub bytes: u64,
    /// Parse, type-check, optimise and plan (`EncoderSession::load`).
    pub load_ms: f64,
    /// The first inference after loading (allocation, page faults, lazy packing).
    pub first_ms: f64,
    pub single_stream: SingleStream,
    pub offline: Option<Offline>,
    /// Peak resident memory of the process while this case ran (reset before it when the
    /// kernel allows, see `peak_rss_reset`).
    pub peak_rss_bytes: Option<u64>,
    pub peak_rss_reset: bool,
    pub flops: GraphFlops,
    /// FLOPs / p50 latency.
    pub gflops_per_s: f64,
}

/// The pipeline at one precision and thread count.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PipelineCase {
    pub precision: Precision,
    pub threads: usize,
    /// What one query does.
    pub description: String,
    pub single_stream: SingleStream,
    /// p50 of each stage measured on its own, in milliseconds.
    pub stages_p50_ms: Vec<(String, f64)>,
    /// p50 of the two networks alone (clip on preprocessed frames, audio on its log-mel).
    #[serde(default)]
    pub networks_p50_ms: f64,
    /// What is not the networks in one query (frame preprocessing of the RGB frames, log-mel,
    /// tagging: the stages' p50s), as a fraction of the networks' p50. Target: <= 0.05.
    #[serde(default)]
    pub overhead_ratio: f64,
    /// The same with the frames arriving as YUYV from a camera (grey models read the Y plane).
    #[serde(default)]
    pub overhead_ratio_camera: f64,
    /// The same with planar I420 frames (a CSI camera's NV12 alike): the Y plane is contiguous,
    /// so a grey model reads half the bytes of YUYV.
    #[serde(default)]
    pub overhead_ratio_planar: f64,
    pub peak_rss_bytes: Option<u64>,
}

/// A brute-force top-10 query over an in-memory table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchCase {
    pub rows: usize,
    pub dim: usize,
    pub top_k: usize,
    /// Building the table from random unit vectors.
    pub build_ms: f64,
    pub single_stream: SingleStream,
    /// Rows scored per second at p50.
    pub rows_per_s: f64,
    /// p50 of the exact f32 scan on one core (`top_k_exact`) over the same table.
    #[serde(default)]
    pub exact_p50_ms: f64,
    /// Share of the exact f32 top-k that `top_k` returned, over the exact scan's queries.
    #[serde(default)]
    pub recall_at_k: f64,
    pub peak_rss_bytes: Option<u64>,
}

/// Something not measured, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    pub what: String,
    pub why: String,
}

/// A whole `mmv bench` run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    pub report_version: u32,
    pub tool: String,
    pub unix_time: u64,
    pub bundle: BundleInfo,
    pub machine: Machine,
    pub settings: ScenarioSettings,
    pub threads: Vec<usize>,
    pub encoders: Vec<EncoderCase>,
    pub pipeline: Vec<PipelineCase>,
    pub search: Option<SearchCase>,
    pub skipped: Vec<Skipped>,
}

/// One unit of work, for progress reporting.
#[derive(Clone, Debug, PartialEq)]
enum Case {
    Encoder(EncoderKind, Precision, usize),
    Pipeline(Precision, usize),
    Search,
}

impl Case {
    fn label(&self) -> String {
        match self {
            Case::Encoder(k, p, t) => format!("{} {} x{t}", k.name(), p.name()),
            Case::Pipeline(p, t) => format!("pipeline {} x{t}", p.name()),
            Case::Search => "search".into(),
        }
    }
}

/// Runs the benchmark on the bundle in `dir`. `progress(done, total, label)` is called before
/// each case (and once at the end with done == total).
pub fn run(
    dir: &Path,
    options: &BenchOptions,
    progress: &mut dyn FnMut(usize, usize, &str),
) -> Result<BenchReport, BenchError> {
    if options.threads.is_empty() || options.threads.contains(&0) {
        return Err(BenchError::Invalid(
            "thread counts must be at least 1".into(),
        ));
    }
    let machine = Machine::probe();
    let manifest = Manifest::load(dir).map_err(BundleError::from)?;
    let mut skipped = Vec::new();
    let available = manifest.precisions();
    let precisions: Vec<Precision> = match &options.precisions {
        Some(list) => {
            for p in list {
                if !available.contains(p) {
                    return Err(BenchError::Invalid(format!(
                        "the bundle has no {} files (it has: {})",
                        p.name(),
                        names(&available)
                    )));
                }
            }
            list.clone()
        }
        None => available
            .iter()
            .copied()
            .filter(|&p| {
                let keep = p != Precision::F16 || machine.native_f16;
                if !keep {
                    skipped.push(Skipped {
                        what: "f16".into(),
                        why: "this CPU has no native f16 arithmetic, so tract emulates it \
                              (about 400x slower than fp32 on x86); pass --precision f16 to \
                              measure it anyway"
                            .into(),
                    });
                }
                keep
            })
            .collect(),
    };
    let kinds: Vec<EncoderKind> = options
        .encoders
        .clone()
        .unwrap_or_else(|| EncoderKind::ALL.to_vec());

    let mut cases = Vec::new();
    for &p in &precisions {
        for &t in &options.threads {
            for &k in &kinds {
                if manifest.encoder(k, p).is_some() {
                    cases.push(Case::Encoder(k, p, t));
                } else if options.encoders.is_some() {
                    skipped.push(Skipped {
                        what: format!("{} {}", k.name(), p.name()),
                        why: "not in the bundle".into(),
                    });
                }
            }
            if options.pipeline {
                cases.push(Case::Pipeline(p, t));
            }
        }
    }
    if options.search_rows > 0 {
        cases.push(Case::Search);
    }

    // Front ends and vocabulary once (no encoder loaded): the inputs every case feeds.
    let base = Bundle::open(
        dir,
        &BundleOptions {
            precision: precisions.first().copied(),
            threads: 1,
            encoders: Some(Vec::new()),
        },
    )?;
    if let Some(inputs_dir) = &options.inputs_dir {
        write_inputs(&base, inputs_dir)?;
    }

    let mut report = BenchReport {
        report_version: REPORT_VERSION,
        tool: format!("mmv bench {}", env!("CARGO_PKG_VERSION")),
        unix_time: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        bundle: BundleInfo {
            dir: dir.display().to_string(),
            name: manifest.name.clone(),
            version: manifest.version.clone(),
            design: manifest.design.clone(),
        },
        machine,
        settings: options.settings.clone(),
        threads: options.threads.clone(),
        encoders: Vec::new(),
        pipeline: Vec::new(),
        search: None,
        skipped,
    };
    let mut flops_cache: Vec<((EncoderKind, Precision), GraphFlops)> = Vec::new();
    let total = cases.len();
    for (i, case) in cases.iter().enumerate() {
        progress(i, total, &case.label());
        match *case {
            Case::Encoder(kind, precision, threads) => {
                let spec = manifest
                    .encoder(kind, precision)
                    .ok_or_else(|| BenchError::Invalid(format!("no {}", case.label())))?;
                let flops = match flops_cache.iter().find(|(k, _)| *k == (kind, precision)) {
                    Some((_, f)) => f.clone(),
                    None => {
                        let f = flops::count_file(&dir.join(&spec.file), Some(&input_facts(spec)))?;
                        flops_cache.push(((kind, precision), f.clone()));
                        f
                    }
                };
                let input = EncoderInput::for_kind(&base, kind, spec);
                report
                    .encoders
                    .push(bench_encoder(dir, spec, threads, &input, flops, options)?);
            }
            Case::Pipeline(precision, threads) => {
                match bench_pipeline(dir, precision, threads, options)? {
                    Ok(case) => report.pipeline.push(case),
                    Err(why) => report.skipped.push(Skipped {
                        what: case.label(),
                        why,
                    }),
                }
            }
            Case::Search => {
                let dim = options.search_dim.unwrap_or_else(|| text_width(&manifest));
                report.search = Some(bench_search(options.search_rows, dim, &options.settings));
            }
        }
    }
    progress(total, total, "done");
    Ok(report)
}

fn names(list: &[Precision]) -> String {
    list.iter().map(|p| p.name()).collect::<Vec<_>>().join(", ")
}

/// The datum types and shapes of an encoder file's inputs, as the runtime fixes them.
fn input_facts(spec: &EncoderFile) -> Vec<(DatumType, Vec<usize>)> {
    spec.inputs
        .iter()
        .map(|i| {
            let dt = match i.dtype {
                DType::F32 => DatumType::F32,
                DType::F16 => DatumType::F16,
                DType::I64 => DatumType::I64,
            };
            (dt, i.shape.clone())
        })
        .collect()
}

/// Width of the text space (the text encoder's z_vat), or 64 when the bundle has no text file.
fn text_width(manifest: &Manifest) -> usize {
    manifest
        .encoders
        .iter()
        .filter(|e| e.kind == EncoderKind::Text)
        .flat_map(|e| e.outputs.iter())
        .find(|o| o.name == mmv_runtime::bundle::manifest::OUTPUT_VAT)
        .and_then(|o| o.shape.last().copied())
        .unwrap_or(64)
}

/// xorshift64*: deterministic benchmark inputs that need no extra dependency (used by
/// `mmv bench`, the criterion benches and the search example alike).
pub struct Rng(pub u64);

impl Rng {
    /// Uniform in [-1, 1).
    pub fn next_f32(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (x >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }

    /// A random unit vector of `n` values.
    pub fn unit(&mut self, n: usize) -> Vec<f32> {
        let mut v: Vec<f32> = (0..n).map(|_| self.next_f32()).collect();
        mmv_runtime::vector::normalize(&mut v);
        v
    }
}

/// One encoder's benchmark input, already in the network's layout.
#[derive(Clone, Debug, PartialEq)]
pub enum EncoderInput {
    Floats(Vec<f32>),
    Ids(Vec<i64>),
}

impl EncoderInput {
    /// Deterministic input for `kind`: a real tokenised narration for text, and for the others
    /// values in the range the front ends produce (normalised frames, a log-mel of a chirp).
    pub fn for_kind(bundle: &Bundle, kind: EncoderKind, spec: &EncoderFile) -> Self {
        let n: usize = spec.inputs[0].shape.iter().product();
        match kind {
            EncoderKind::Text => {
                let mut ids = bundle.text_ids("someone says the number seven");
                ids.resize(n, 0);
                Self::Ids(ids)
            }
            EncoderKind::Audio => {
                let samples = chirp(
                    bundle.manifest.audio.window_samples,
                    bundle.manifest.audio.logmel.sample_rate,
                );
                let mut spec_data = bundle.logmel.compute(&samples).data;
                spec_data.resize(n, 0.0);
                Self::Floats(spec_data)
            }
            EncoderKind::Clip | EncoderKind::Image => {
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ kind as u64);
                Self::Floats((0..n).map(|_| rng.next_f32()).collect())
            }
        }
    }

    fn run(&self, session: &EncoderSession) -> Result<(), BundleError> {
        self.embed(session).map(drop)
    }

    fn embed(&self, session: &EncoderSession) -> Result<Embedding, BundleError> {
        match self {
            Self::Floats(x) => session.run_f32(x),
            Self::Ids(x) => session.run_i64(x),
        }
    }
}

/// A chirp from 200 Hz to 4 kHz at half scale.
fn chirp(n: usize, rate: u32) -> Vec<f32> {
    let duration = n as f32 / rate as f32;
    (0..n)
        .map(|i| {
            let t = i as f32 / rate as f32;
            let f = 200.0 + (4000.0 - 200.0) * t / duration / 2.0;
            0.5 * (std::f32::consts::TAU * f * t).sin()
        })
        .collect()
}

/// Writes each encoder's benchmark input to `dir`: `KIND.bin` (little-endian f32, or i64 for
/// text) and `inputs.json` (`{"KIND": {"file", "dtype", "shape"}}`), for the onnxruntime peer
/// (`benches/ort_vs_tract.py`) to feed the very same values. Each encoder case then adds
/// tract's outputs for that input as `FILE.out.json` (`{"z_va": [...], "z_vat": [...]}`).
pub fn write_inputs(bundle: &Bundle, dir: &Path) -> Result<(), BenchError> {
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| BenchError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut index = serde_json::Map::new();
    for kind in EncoderKind::ALL {
        let Some(spec) = bundle.manifest.encoders.iter().find(|e| e.kind == kind) else {
            continue;
        };
        let file = format!("{}.bin", kind.name());
        let (bytes, dtype): (Vec<u8>, &str) = match EncoderInput::for_kind(bundle, kind, spec) {
            EncoderInput::Floats(v) => {
                (v.iter().flat_map(|x| x.to_le_bytes()).collect(), "float32")
            }
            EncoderInput::Ids(v) => (v.iter().flat_map(|x| x.to_le_bytes()).collect(), "int64"),
        };
        let path = dir.join(&file);
        std::fs::write(&path, bytes).map_err(io(&path))?;
        index.insert(
            kind.name().into(),
            serde_json::json!({"file": file, "dtype": dtype, "shape": spec.inputs[0].shape}),
        );
    }
    let path = dir.join("inputs.json");
    let text =
        serde_json::to_string_pretty(&index).map_err(|e| BenchError::Invalid(e.to_string()))?;
    std::fs::write(&path, text).map_err(io(&path))
}

fn bench_encoder(
    dir: &Path,
    spec: &EncoderFile,
    threads: usize,
    input: &EncoderInput,
    flops: GraphFlops,
    options: &BenchOptions,
) -> Result<EncoderCase, BenchError> {
    let expected = &spec.sha256;
    let path = dir.join(&spec.file);
    let actual = sha256_file(&path).map_err(|source| BenchError::Io {
        path: path.display().to_string(),
        source,
    })?;
    if !actual.eq_ignore_ascii_case(expected) {
        return Err(BundleError::Checksum {
            file: path.display().to_string(),
            expected: expected.clone(),
            actual,
        }
        .into());
    }
    let reset = machine::reset_peak_rss();
    let t = Instant::now();
    let session = EncoderSession::load(dir, spec, threads)?;
    let load_ms = ms(t.elapsed());
    let t = Instant::now();
    let first = input.embed(&session)?;
    let first_ms = ms(t.elapsed());
    if let Some(dir) = &options.inputs_dir {
        // tract's answer to the input written for the peers, so they can check they agree.
        let path = dir.join(format!("{}.out.json", spec.file));
        let text = serde_json::json!({"z_va": first.va, "z_vat": first.vat}).to_string();
        std::fs::write(&path, text).map_err(|source| BenchError::Io {
            path: path.display().to_string(),
            source,
        })?;
    }
    let single_stream = scenario::single_stream(&options.settings, || input.run(&session))?;
    let offline = if options.offline {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Some(scenario::offline(
            &options.settings,
            (cores / threads).max(1),
            || input.run(&session),
        )?)
    } else {
        None
    };
    let gflops_per_s = flops.total as f64 / (single_stream.p50_ms * 1e6);
    Ok(EncoderCase {
        kind: spec.kind,
        precision: spec.precision,
        threads,
        file: spec.file.clone(),
        bytes: spec.bytes,
        load_ms,
        first_ms,
        single_stream,
        offline,
        peak_rss_bytes: machine::peak_rss_bytes(),
        peak_rss_reset: reset,
        flops,
        gflops_per_s,
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// A deterministic camera frame: a gradient with a bright square, `width` x `height` RGB.
pub fn camera_frame(width: usize, height: usize, phase: usize) -> RgbFrame {
    let mut data = vec![0u8; width * height * 3];
    for y in 0..height {
        for x in 0..width {
            let i = (y * width + x) * 3;
            let inside = (x + phase) % width < width / 4 && y > height / 3 && y < height / 2;
            let v = if inside {
                250
            } else {
                ((x + y + phase) % 200) as u8
            };
            data[i..i + 3].copy_from_slice(&[v, v / 2, 255 - v]);
        }
    }
    RgbFrame {
        width,
        height,
        data,
    }
}

/// A camera's YUYV of an RGB frame (limited-range BT.601; chroma of each pixel pair's first).
pub fn to_yuyv(frame: &RgbFrame) -> Vec<u8> {
    let mut out = Vec::with_capacity(frame.width * frame.height * 2);
    for pair in frame.data.chunks_exact(6) {
        let a = rgb_to_yuv([pair[0], pair[1], pair[2]]);
        let b = rgb_to_yuv([pair[3], pair[4], pair[5]]);
        out.extend_from_slice(&[a[0], a[1], b[0], a[2]]);
    }
    out
}

/// Planar I420 of an RGB frame (limited-range BT.601; each 2x2 block's chroma from its
/// top-left pixel): only its Y plane matters to a grey model.
pub fn to_i420(frame: &RgbFrame) -> Vec<u8> {
    let (w, h) = (frame.width, frame.height);
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let mut y = Vec::with_capacity(w * h + 2 * cw * ch);
    let mut u = Vec::with_capacity(cw * ch);
    let mut v = Vec::with_capacity(cw * ch);
    for (row, px) in frame.data.chunks_exact(w * 3).enumerate() {
        for (col, p) in px.chunks_exact(3).enumerate() {
            let yuv = rgb_to_yuv([p[0], p[1], p[2]]);
            y.push(yuv[0]);
            if row % 2 == 0 && col % 2 == 0 {
                u.push(yuv[1]);
                v.push(yuv[2]);
            }
        }
    }
    y.extend(u);
    y.extend(v);
    y
}

/// The pipeline case; Ok(Err(why)) when this bundle cannot run it (say, no text encoder).
fn bench_pipeline(
    dir: &Path,
    precision: Precision,
    threads: usize,
    options: &BenchOptions,
) -> Result<Result<PipelineCase, String>, BenchError> {
    machine::reset_peak_rss();
    let bundle = Bundle::open(
        dir,
        &BundleOptions {
            precision: Some(precision),
            threads,
            encoders: None,
        },
    )?;
    let kinds = bundle.kinds();
    for need in [EncoderKind::Clip, EncoderKind::Audio, EncoderKind::Text] {
        if !kinds.contains(&need) {
            return Ok(Err(format!(
                "the bundle has no {} encoder at {}",
                need.name(),
                precision.name()
            )));
        }
    }
    let pipeline = Pipeline::new(bundle);
    let tagger = match pipeline.tagger(&LabelSet::avdigits()) {
        Ok(t) => t,
        Err(e) => return Ok(Err(format!("the AV-Digits labels do not embed: {e}"))),
    };
    let m = &pipeline.bundle.manifest;
    let (w, h) = options.camera;
    let rgb_frames: Vec<RgbFrame> = (0..m.video.frames)
        .map(|i| camera_frame(w, h, i * 7))
        .collect();
    let frames: Vec<Arc<Picture>> = rgb_frames
        .iter()
        .map(|f| Arc::new(Picture::Rgb(f.clone())))
        .collect();
    let clip = Clip {
        index: 0,
        start_s: 0.0,
        end_s: m.video.frames as f64 / f64::from(m.video.fps),
        frames,
        audio: Some(chirp(m.audio.window_samples, m.audio.logmel.sample_rate)),
    };
    let query = || -> Result<(), BenchError> {
        let e = pipeline.embed_clip(&clip, false)?;
        pipeline.tag(&tagger, &e, 3, 0.0)?;
        Ok(())
    };
    let single_stream = scenario::single_stream(&options.settings, query)?;
    let peak_rss_bytes = machine::peak_rss_bytes();

    // Each stage alone, a few times, for where the time goes.
    let stage_settings = ScenarioSettings {
        warmup_queries: 1,
        min_queries: 10,
        min_duration: Duration::ZERO,
        max_duration: Duration::from_secs(10),
    };
    let mut stages = Vec::new();
    let frame_error = |source| PipelineError::Frame {
        what: "frame".into(),
        source,
    };
    let s = scenario::single_stream(&stage_settings, || -> Result<(), BenchError> {
        for f in &clip.frames {
            pipeline.preprocess(f)?;
        }
        Ok(())
    })?;
    let preprocess_rgb = s.p50_ms;
    stages.push((
        format!("preprocess {} RGB frames {w}x{h}", m.video.frames),
        s.p50_ms,
    ));
    // The sensor's path: camera frames into reused buffers (a grey model reads the Y plane:
    // interleaved in YUYV, contiguous in I420 and NV12).
    let spec = &m.video.frame;
    let mut front = FramePreprocessor::new();
    let mut chw = vec![Vec::new(); rgb_frames.len()];
    let mut camera_stage =
        |format: PixelFormat, convert: fn(&RgbFrame) -> Vec<u8>| -> Result<f64, BenchError> {
            let frames: Vec<Vec<u8>> = rgb_frames.iter().map(convert).collect();
            let s = scenario::single_stream(&stage_settings, || -> Result<(), BenchError> {
                for (data, out) in frames.iter().zip(&mut chw) {
                    front
                        .camera(format, data, w, h, spec, out)
                        .map_err(frame_error)?;
                }
                Ok(())
            })?;
            stages.push((
                format!(
                    "preprocess {} {} frames {w}x{h}",
                    m.video.frames,
                    format.name()
                ),
                s.p50_ms,
            ));
            Ok(s.p50_ms)
        };
    let preprocess_camera = camera_stage(PixelFormat::Yuyv, to_yuyv)?;
    let preprocess_planar = camera_stage(PixelFormat::I420, to_i420)?;
    let s = scenario::single_stream(&stage_settings, || -> Result<(), BenchError> {
        for f in &rgb_frames {
            reference::preprocess_rgb8(&f.data, f.width, f.height, spec).map_err(frame_error)?;
        }
        Ok(())
    })?;
    stages.push(("(before: f32 reference preprocessing)".into(), s.p50_ms));
    let audio = clip.audio.clone().unwrap_or_default();
    let s = scenario::single_stream(&stage_settings, || -> Result<(), BenchError> {
        std::hint::black_box(pipeline.bundle.logmel.compute(&audio));
        Ok(())
    })?;
    let logmel_ms = s.p50_ms;
    stages.push(("log-mel".into(), s.p50_ms));
    let e = pipeline.embed_clip(&clip, false)?;
    let s = scenario::single_stream(&stage_settings, || -> Result<(), BenchError> {
        std::hint::black_box(pipeline.tag(&tagger, &e, 3, 0.0)?);
        Ok(())
    })?;
    let tagging_ms = s.p50_ms;
    stages.push(("tagging".into(), s.p50_ms));
    // The networks alone, on inputs prepared outside the timing.
    let logmel = pipeline.bundle.logmel.compute(&audio);
    let s = scenario::single_stream(&stage_settings, || -> Result<(), BenchError> {
        std::hint::black_box(pipeline.embed_preprocessed(&chw)?);
        std::hint::black_box(pipeline.bundle.embed_logmel(&logmel.data)?);
        Ok(())
    })?;
    let networks_p50_ms = s.p50_ms;
    stages.push(("networks (clip + audio)".into(), s.p50_ms));
    let overhead_ratio = (preprocess_rgb + logmel_ms + tagging_ms) / networks_p50_ms;
    let overhead_ratio_camera = (preprocess_camera + logmel_ms + tagging_ms) / networks_p50_ms;
    let overhead_ratio_planar = (preprocess_planar + logmel_ms + tagging_ms) / networks_p50_ms;

    Ok(Ok(PipelineCase {
        precision,
        threads,
        description: format!(
            "{} RGB frames {w}x{h} + {} audio samples -> preprocess, clip and audio networks, \
             log-mel, video/audio/fused tags over {} labels",
            m.video.frames,
            m.audio.window_samples,
            tagger.labels.len()
        ),
        single_stream,
        stages_p50_ms: stages,
        networks_p50_ms,
        overhead_ratio,
        overhead_ratio_camera,
        overhead_ratio_planar,
        peak_rss_bytes,
    }))
}

/// Brute-force top-10 text queries over `rows` random unit vectors of width `dim`.
pub fn bench_search(rows: usize, dim: usize, settings: &ScenarioSettings) -> SearchCase {
    machine::reset_peak_rss();
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let t = Instant::now();
    let mut table = EmbeddingTable::default();
    for i in 0..rows {
        // Rows hold only the text space: a text query reads exactly rows x dim values.
        table
            .push(i as i64, Modality::Video, None, Some(rng.unit(dim)))
            .unwrap_or_else(|e| unreachable!("rows of one width: {e}"));
    }
    let build_ms = ms(t.elapsed());
    let top_k = 10;
    let single_stream = scenario::single_stream::<()>(settings, || {
        let q = Query {
            va: None,
            vat: Some(rng.unit(dim)),
            text: true,
        };
        std::hint::black_box(table.top_k(&q, top_k, &[]));
        Ok(())
    })
    .unwrap_or_else(|()| unreachable!("the query cannot fail"));
    // The exact f32 scan over the same table: its p50 over a few queries, and the recall of
    // `top_k` against it on those queries.
    let (mut found, mut wanted) = (0usize, 0usize);
    let mut exact_ms = Vec::new();
    for _ in 0..if rows == 0 { 0 } else { 10 } {
        let q = Query {
            va: None,
            vat: Some(rng.unit(dim)),
            text: true,
        };
        let t = Instant::now();
        let want = std::hint::black_box(table.top_k_exact(&q, top_k, &[]));
        exact_ms.push(ms(t.elapsed()));
        let got = table.top_k(&q, top_k, &[]);
        wanted += want.len();
        found += want.iter().filter(|h| got.contains(h)).count();
    }
    exact_ms.sort_by(f64::total_cmp);
    SearchCase {
        rows,
        dim,
        top_k,
        build_ms,
        rows_per_s: rows as f64 / (single_stream.p50_ms / 1e3),
        single_stream,
        exact_p50_ms: exact_ms
            .get(exact_ms.len().saturating_sub(1) / 2)
            .copied()
            .unwrap_or(0.0),
        recall_at_k: if wanted == 0 {
            1.0
        } else {
            found as f64 / wanted as f64
        },
        peak_rss_bytes: machine::peak_rss_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_case_finds_rows_and_rates() {
        let settings = ScenarioSettings {
            warmup_queries: 1,
            min_queries: 5,
            min_duration: Duration::ZERO,
            max_duration: Duration::from_secs(10),
        };
        let s = bench_search(2000, 32, &settings);
        assert_eq!((s.rows, s.dim, s.top_k), (2000, 32, 10));
        assert!(s.single_stream.queries >= 5);
        assert!(s.single_stream.verdict.valid);
        assert!((s.rows_per_s - 2000.0 / (s.single_stream.p50_ms / 1e3)).abs() < 1e-3);
    }

    #[test]
    fn i420_frames_give_a_grey_model_what_yuyv_gives() {
        // The same Y values planar or interleaved: the grey front end reads only them.
        let frame = camera_frame(64, 48, 3);
        let i420 = to_i420(&frame);
        assert_eq!(i420.len(), 64 * 48 + 2 * 32 * 24);
        let spec = mmv_runtime::frames::FrameSpec::unnormalized(32, 32, 1);
        let mut front = FramePreprocessor::new();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        front
            .camera(PixelFormat::I420, &i420, 64, 48, &spec, &mut a)
            .expect("I420");
        front
            .camera(PixelFormat::Yuyv, &to_yuyv(&frame), 64, 48, &spec, &mut b)
            .expect("YUYV");
        assert_eq!(a.len(), 32 * 32);
        let worst = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        assert!(worst < 1e-6, "I420 and YUYV differ by {worst}");
        assert!(a.iter().any(|&v| v > 0.1), "not a black frame");
    }

    #[test]
    fn camera_frames_are_sized_and_differ_by_phase() {
        let a = camera_frame(64, 48, 0);
        let b = camera_frame(64, 48, 7);
        assert_eq!(a.data.len(), 64 * 48 * 3);
        assert_ne!(a.data, b.data);
    }

    #[test]
    fn chirp_is_bounded_and_not_silent() {
        let c = chirp(16_000, 16_000);
        let peak = c.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(peak > 0.4 && peak <= 0.5, "{peak}");
    }
}
