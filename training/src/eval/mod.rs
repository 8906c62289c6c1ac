//! The paper's evaluations on AV-Digits (`mmv-train eval`), on a trained run's frozen networks:
//!
//! - video linear probe: f_v of Moving-MNIST clips of the MNIST train images, tested on clips of
//!   the test images (the UCF101/HMDB51 analogue);
//! - audio linear probe on f_a: FSDD official split, speaker-disjoint split, and the held-out
//!   voice (classified by the official split's probe) (the ESC-50 analogue);
//! - zero-shot video classification (nearest digit narrations in the text space) and
//!   text-to-video retrieval R@1/5/10 and median rank (the MSRVTT/YouCook2 analogue);
//! - zero-shot audio-to-text classification: audio reaches the text space only through the
//!   design's heads (va -> vat in FAC), never trained on audio-text pairs;
//! - single-image linear probe on MNIST: the video network on the static clip of each image,
//!   and the deflated image networks (naive: S3D-G's kernels summed over time; calibrated: its
//!   BatchNorm re-learned on train images) on the image itself.
//!
//! Linear probes follow the reference code ([`linear_probe`]).

pub mod agreement;
pub mod bundle;
pub mod linear_probe;
pub mod product;
pub mod retrieval;
pub mod zero_shot;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::prelude::*;
use serde::Serialize;

use crate::backend;
use crate::checkpoint::{self, CheckpointError};
use crate::config::MmvConfig;
use crate::data::augment::Augment;
use crate::data::narrations::{DIGIT_WORDS, NARRATIONS, narration};
use crate::data::splits::{
    ClipSplit, FsddProtocol, MNIST_PROBE_VAL, MNIST_TEST, MNIST_TRAIN, Side,
};
use crate::data::{AvDigits, DataError};
use crate::deflate::{ImageNet, deflate_calibrated};
use crate::loss::l2_normalize;
use crate::model::Mmv;
use crate::run::{self, RunError};
use linear_probe::{Features, Probe, ProbeError, ProbeResult, linear_probe};
use retrieval::Retrieval;

pub const REPORT_JSON: &str = "eval.json";
pub const REPORT_MD: &str = "eval.md";

/// Clips per forward pass.
const CHUNK: usize = 50;

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Probe(#[from] ProbeError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}: no weights (neither model.safetensors nor a checkpoint)")]
    NoWeights(PathBuf),
}

/// Single-image probes of the deflated networks.
#[derive(Clone, Debug, Serialize)]
pub struct DeflatedProbes {
    /// S3D-G: kernels summed over time; TSM: the network without its shift.
    pub naive: ProbeResult,
    /// S3D-G with its BN re-learned (absent for TSM, whose deflation is exact).
    pub calibrated: Option<ProbeResult>,
    /// Mean L1 between calibrated image and static-clip features in the last epoch.
    pub calibration_l1: Option<f64>,
}

/// How to run `mmv-train eval`.
#[derive(Clone, Debug, Default)]
pub struct EvalOptions {
    pub run: PathBuf,
    /// The data folder; the run's own when absent.
    pub data_dir: Option<PathBuf>,
    /// Weights to evaluate; the run's final weights (else its latest checkpoint) when absent.
    pub weights: Option<PathBuf>,
    /// Use only the first N MNIST train images (plus the validation part) for the video and
    /// image probes; all 8,000 when absent.
    pub probe_images: Option<usize>,
    /// Seed of the evaluation clips' motion, placement and narrations.
    pub seed: u64,
    /// Epochs of BN re-learning for the calibrated deflated S3D-G; 0 skips the deflated
    /// probes (the design table does).
    pub deflation_epochs: usize,
    /// Train images the deflated S3D-G's BN is re-learned on.
    pub deflation_images: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct AudioProbes {
    pub official: ProbeResult,
    pub speaker_disjoint: ProbeResult,
    /// The official split's probe on the 10 recordings of the held-out voice.
    pub heldout_voice: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct AudioToText {
    /// FSDD official test takes (takes 0-4 of every speaker).
    pub official_test: f64,
    /// FSDD speaker-disjoint test takes (george, lucas).
    pub speaker_disjoint_test: f64,
    pub heldout_voice: f64,
}

/// Everything `mmv-train eval` measures.
#[derive(Clone, Debug, Serialize)]
pub struct EvalReport {
    pub run: String,
    pub weights: String,
    pub config_name: String,
    pub design: String,
    pub video_arch: String,
    pub video_linear_probe: ProbeResult,
    pub audio_linear_probe: AudioProbes,
    pub zero_shot_video_accuracy: f64,
    pub zero_shot_video_clips: usize,
    pub text_to_video: Retrieval,
    /// None where audio and text share no space (the disjoint design).
    pub zero_shot_audio_to_text: Option<AudioToText>,
    pub single_image_probe_static_clip: ProbeResult,
    /// The deflated networks on single images (run-level eval with deflation epochs > 0).
    pub single_image_probe_deflated: Option<DeflatedProbes>,
    pub seconds: f64,
}

/// A run's model, data and config, ready to evaluate.
pub struct Loaded {
    pub config: MmvConfig,
    pub model: Mmv,
    pub data: AvDigits,
    pub weights: PathBuf,
}

/// Loads a run's model (on the inference device) and the data it was trained on.
pub fn load_run(options: &EvalOptions) -> Result<Loaded, EvalError> {
    let meta = run::read_meta(&options.run)?;
    let config = meta.config.clone();
    let weights = match &options.weights {
        Some(w) => w.clone(),
        None => {
            let last = options.run.join(run::FINAL_WEIGHTS);
            if last.is_file() {
                last
            } else {
                run::latest_checkpoint(&options.run)?
                    .map(|d| d.join(checkpoint::WEIGHTS_FILE))
                    .ok_or_else(|| EvalError::NoWeights(options.run.clone()))?
            }
        }
    };
    let data_dir = options.data_dir.clone().unwrap_or(meta.data_dir.clone());
    let words = run::load_word_vectors(&meta.glove, &config)?;
    let data = AvDigits::load(&data_dir, &config, words.vocab.clone())?;
    let device = backend::inference_device();
    let model = checkpoint::load_weights(Mmv::new(&config, words.table, &device), &weights)?;
    Ok(Loaded {
        config,
        model,
        data,
        weights,
    })
}

/// Video features f_v and text-space embeddings of many clips, made `CHUNK` at a time.
struct VideoOut {
    f: Features,
    vt: Vec<f32>,
    vt_dim: usize,
}

fn rows(t: Tensor<2>) -> (Vec<f32>, usize) {
    let [_, d] = t.dims();
    (
        t.into_data_as::<f32>()
            .try_to_vec::<f32>()
            .expect("float tensor"),
        d,
    )
}

fn embed_videos(
    model: &Mmv,
    config: &MmvConfig,
    items: &[(usize, usize)],
    make: impl Fn(usize) -> Vec<f32>,
) -> VideoOut {
    let device = model.text.words.device();
    let v = &config.video;
    let mut out = VideoOut {
        f: Features::new(*v.widths.last().expect("validated")),
        vt: Vec::new(),
        vt_dim: 0,
    };
    for chunk in items.chunks(CHUNK) {
        let flat: Vec<f32> = chunk.iter().flat_map(|&(key, _)| make(key)).collect();
        let video = Tensor::<5>::from_data(
            TensorData::new(flat, [chunk.len(), v.channels, v.frames, v.size, v.size]),
            &device,
        );
        let f_v = model.video.forward(video);
        let spaces = model.heads.video(f_v.clone());
        let (f, d) = rows(f_v);
        for (row, &(_, label)) in f.chunks(d).zip(chunk) {
            out.f.push(row, label);
        }
        let (vt, d) = rows(spaces.vt);
        out.vt.extend(vt);
        out.vt_dim = d;
    }
    out
}

/// f_v of the deflated network on still MNIST images.
fn embed_images(
    net: &ImageNet,
    device: &Device,
    data: &AvDigits,
    [c, h, w]: [usize; 3],
    items: &[(usize, usize)],
) -> Features {
    let mut out: Option<Features> = None;
    for chunk in items.chunks(CHUNK) {
        let flat: Vec<f32> = chunk
            .iter()
            .flat_map(|&(i, _)| data.still_image(i))
            .collect();
        let images = Tensor::<4>::from_data(TensorData::new(flat, [chunk.len(), c, h, w]), device);
        let (f, d) = rows(net.forward(images));
        let out = out.get_or_insert_with(|| Features::new(d));
        for (row, &(_, label)) in f.chunks(d).zip(chunk) {
            out.push(row, label);
        }
    }
    out.unwrap_or_else(|| Features::new(0))
}

/// Audio features f_a and (where the design has one) text-space embeddings.
struct AudioOut {
    f: Features,
    vt: Option<Tensor<2>>,
}

fn embed_audios(
    model: &Mmv,
    config: &MmvConfig,
    audios: &[(Vec<f32>, usize)],
    frames: usize,
) -> AudioOut {
    let device = model.text.words.device();
    let mels = config.audio.logmel.n_mels;
    let mut f_out = Features::new(*config.audio.widths.last().expect("validated"));
    let mut vts: Vec<Tensor<2>> = Vec::new();
    for chunk in audios.chunks(CHUNK) {
        let flat: Vec<f32> = chunk.iter().flat_map(|(a, _)| a.iter().copied()).collect();
        let audio = Tensor::<4>::from_data(
            TensorData::new(flat, [chunk.len(), 1, frames, mels]),
            &device,
        );
        let f_a = model.audio.forward(audio);
        let spaces = model.heads.audio(f_a.clone());
        let (f, d) = rows(f_a);
        for (row, (_, label)) in f.chunks(d).zip(chunk) {
            f_out.push(row, *label);
        }
        if let Some(vt) = spaces.vt {
            vts.push(vt);
        }
    }
    let vt =
        (!vts.is_empty() && vts.len() == audios.chunks(CHUNK).len()).then(|| Tensor::cat(vts, 0));
    AudioOut { f: f_out, vt }
}

/// Runs every evaluation; `progress` hears what is being done.
pub fn evaluate(
    options: &EvalOptions,
    mut progress: impl FnMut(&str),
) -> Result<EvalReport, EvalError> {
    let started = Instant::now();
    progress("loading the run and the data");
    let Loaded {
        config,
        model,
        data,
        weights,
    } = load_run(options)?;
    let report = evaluate_model(&model, &config, &data, options, &mut progress)?;
    Ok(EvalReport {
        run: options.run.display().to_string(),
        weights: weights.display().to_string(),
        seconds: started.elapsed().as_secs_f64(),
        ..report
    })
}

/// The evaluations on an already loaded model (the design table reuses this).
pub fn evaluate_model(
    model: &Mmv,
    config: &MmvConfig,
    data: &AvDigits,
    options: &EvalOptions,
    progress: &mut impl FnMut(&str),
) -> Result<EvalReport, EvalError> {
    let started = Instant::now();
    let seed = options.seed;
    let label = |image: usize| data.mnist.labels[image] as usize;
    let probe_train: Vec<usize> = {
        let fit_end = options.probe_images.map_or(MNIST_PROBE_VAL.start, |n| {
            (MNIST_TRAIN.start + n).min(MNIST_PROBE_VAL.start)
        });
        (MNIST_TRAIN.start..fit_end)
            .chain(MNIST_PROBE_VAL)
            .collect()
    };
    let is_val = |i: usize| MNIST_PROBE_VAL.contains(&i);
    let moving = |split: ClipSplit| {
        move |image: usize| {
            let plan = data.plan_image(split, image, seed);
            data.render(&plan, &Augment::NONE).video
        }
    };

    progress("video: test clips");
    let test_items: Vec<(usize, usize)> = MNIST_TEST.map(|i| (i, label(i))).collect();
    let test = embed_videos(model, config, &test_items, moving(ClipSplit::Test));
    progress("video: train clips for the linear probe");
    let train_items: Vec<(usize, usize)> = probe_train.iter().map(|&i| (i, label(i))).collect();
    let train = embed_videos(model, config, &train_items, moving(ClipSplit::Train));
    let (fit, val) = split_by(&train.f, &probe_train, is_val);
    progress("video: linear probe");
    let video_linear_probe = linear_probe(&fit, &val, &test.f)?;

    progress("video: zero-shot classification and retrieval");
    let device = model.text.words.device();
    let classes = zero_shot::class_embeddings(model, |t| data.encode_text(t));
    let test_vt = Tensor::<2>::from_data(
        TensorData::new(test.vt.clone(), [test_items.len(), test.vt_dim]),
        &device,
    );
    let test_labels: Vec<usize> = test_items.iter().map(|x| x.1).collect();
    let predicted = zero_shot::classify(test_vt.clone(), classes.clone());
    let zero_shot_video_accuracy = zero_shot::accuracy(&predicted, &test_labels);
    let text_to_video = text_to_video(model, data, test_vt);

    progress("image: static clips for the single-image probe");
    let still = |image: usize| data.static_video(image);
    let still_train = embed_videos(model, config, &train_items, still);
    let still_test = embed_videos(model, config, &test_items, still);
    let (fit, val) = split_by(&still_train.f, &probe_train, is_val);
    let single_image_probe_static_clip = linear_probe(&fit, &val, &still_test.f)?;
    let single_image_probe_deflated = if options.deflation_epochs > 0 {
        progress("image: deflated networks (calibration, then probes)");
        let v = &config.video;
        let calib: Vec<Vec<f32>> = data
            .split_images(ClipSplit::Train)
            .take(options.deflation_images.max(1))
            .map(|i| data.still_image(i))
            .collect();
        let shape = [v.channels, v.size, v.size];
        let naive = ImageNet::naive(model);
        let (calibrated, calibration_l1) =
            deflate_calibrated(model, v.frames, &calib, shape, options.deflation_epochs);
        let probe = |net: &ImageNet| -> Result<ProbeResult, EvalError> {
            let train = embed_images(net, &device, data, shape, &train_items);
            let test = embed_images(net, &device, data, shape, &test_items);
            let (fit, val) = split_by(&train, &probe_train, is_val);
            Ok(linear_probe(&fit, &val, &test)?)
        };
        Some(DeflatedProbes {
            naive: probe(&naive)?,
            calibrated: match calibration_l1 {
                Some(_) => Some(probe(&calibrated)?),
                None => None,
            },
            calibration_l1,
        })
    } else {
        None
    };

    progress("audio: FSDD and the held-out voice");
    let frames = data.audio_frames();
    let fsdd: Vec<(Vec<f32>, usize)> = (0..data.recordings.len())
        .map(|i| (data.recording_audio(i), data.recordings[i].digit as usize))
        .collect();
    let heldout: Vec<(Vec<f32>, usize)> = (0..data.heldout.len())
        .map(|i| (data.heldout_audio(i), data.heldout[i].digit as usize))
        .collect();
    let fsdd_out = embed_audios(model, config, &fsdd, frames);
    let heldout_out = embed_audios(model, config, &heldout, frames);
    let recs = &data.recordings;
    let official = |i: usize| FsddProtocol::Official.side(&recs[i]);
    let disjoint = |i: usize| FsddProtocol::SpeakerDisjoint.side(&recs[i]);
    // Validation parts of train: takes 5-9 (official); one of the four train speakers
    // (speaker-disjoint, so that the choice is tested on an unseen voice too).
    let off_val = |i: usize| official(i) == Side::Train && recs[i].take < 10;
    let dis_val = |i: usize| disjoint(i) == Side::Train && recs[i].speaker == "yweweler";
    progress("audio: linear probes");
    let off_fit = fsdd_out
        .f
        .select(|i| official(i) == Side::Train && !off_val(i));
    let off_v = fsdd_out.f.select(off_val);
    let off_probe = Probe::train(&off_fit, &off_v)?;
    let off_test = fsdd_out.f.select(|i| official(i) == Side::Test);
    let official_result = ProbeResult {
        accuracy: off_probe.accuracy(&off_test),
        alpha: off_probe.alpha,
        val_accuracy: off_probe.val_accuracy,
        train: off_fit.len() + off_v.len(),
        test: off_test.len(),
    };
    let heldout_voice = off_probe.accuracy(&heldout_out.f);
    let speaker_disjoint = linear_probe(
        &fsdd_out
            .f
            .select(|i| disjoint(i) == Side::Train && !dis_val(i)),
        &fsdd_out.f.select(dis_val),
        &fsdd_out.f.select(|i| disjoint(i) == Side::Test),
    )?;

    let zero_shot_audio_to_text = match (fsdd_out.vt, heldout_out.vt) {
        (Some(fsdd_vt), Some(heldout_vt)) => {
            progress("audio: zero-shot audio to text");
            let fsdd_pred = zero_shot::classify(fsdd_vt, classes.clone());
            let heldout_pred = zero_shot::classify(heldout_vt, classes);
            let acc_where = |keep: &dyn Fn(usize) -> bool| {
                let idx: Vec<usize> = (0..recs.len()).filter(|&i| keep(i)).collect();
                let p: Vec<usize> = idx.iter().map(|&i| fsdd_pred[i]).collect();
                let l: Vec<usize> = idx.iter().map(|&i| recs[i].digit as usize).collect();
                zero_shot::accuracy(&p, &l)
            };
            Some(AudioToText {
                official_test: acc_where(&|i| official(i) == Side::Test),
                speaker_disjoint_test: acc_where(&|i| disjoint(i) == Side::Test),
                heldout_voice: zero_shot::accuracy(&heldout_pred, &heldout_out.f.y),
            })
        }
        _ => None,
    };

    Ok(EvalReport {
        run: String::new(),
        weights: String::new(),
        config_name: config.name.clone(),
        design: format!("{:?}", config.heads.design).to_lowercase(),
        video_arch: format!("{:?}", config.video.arch).to_lowercase(),
        video_linear_probe,
        audio_linear_probe: AudioProbes {
            official: official_result,
            speaker_disjoint,
            heldout_voice,
        },
        zero_shot_video_accuracy,
        zero_shot_video_clips: test_items.len(),
        text_to_video,
        zero_shot_audio_to_text,
        single_image_probe_static_clip,
        single_image_probe_deflated,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Zero-shot video classification accuracy on the test clips of the given MNIST test images
/// (a quick check for tests and the design table's progress).
pub fn zero_shot_video_accuracy(
    model: &Mmv,
    config: &MmvConfig,
    data: &AvDigits,
    images: &[usize],
    seed: u64,
) -> f64 {
    let device = model.text.words.device();
    let items: Vec<(usize, usize)> = images
        .iter()
        .map(|&i| (i, data.mnist.labels[i] as usize))
        .collect();
    let out = embed_videos(model, config, &items, |image| {
        let plan = data.plan_image(ClipSplit::Test, image, seed);
        data.render(&plan, &Augment::NONE).video
    });
    let classes = zero_shot::class_embeddings(model, |t| data.encode_text(t));
    let vt = Tensor::<2>::from_data(TensorData::new(out.vt, [items.len(), out.vt_dim]), &device);
    let labels: Vec<usize> = items.iter().map(|x| x.1).collect();
    zero_shot::accuracy(&zero_shot::classify(vt, classes), &labels)
}

/// Splits features made for `images` into (fit, validation) by `is_val(image)`.
pub(crate) fn split_by(
    f: &Features,
    images: &[usize],
    is_val: impl Fn(usize) -> bool,
) -> (Features, Features) {
    (
        f.select(|i| !is_val(images[i])),
        f.select(|i| is_val(images[i])),
    )
}

/// Retrieval of test clips by every narration of every digit.
fn text_to_video(model: &Mmv, data: &AvDigits, test_vt: Tensor<2>) -> Retrieval {
    let device = test_vt.device();
    let mut ids: Vec<i64> = Vec::new();
    let mut query_labels = Vec::new();
    for digit in 0..DIGIT_WORDS.len() {
        for template in NARRATIONS {
            ids.extend(
                data.encode_text(&narration(template, digit))
                    .into_iter()
                    .map(i64::from),
            );
            query_labels.push(digit);
        }
    }
    let q = query_labels.len();
    let width = ids.len() / q;
    let ids = Tensor::<3, Int>::from_data(TensorData::new(ids, [q, 1, width]), &device);
    let text = model.embed_text(ids);
    let d = text.dims()[2];
    let text = l2_normalize(text.reshape([q, d]));
    let scores = text.matmul(l2_normalize(test_vt).transpose());
    let gallery = scores.dims()[1];
    let (scores, _) = rows(scores);
    let gallery_labels: Vec<usize> = MNIST_TEST
        .map(|i| data.mnist.labels[i] as usize)
        .take(gallery)
        .collect();
    retrieval::retrieval(&scores, &query_labels, &gallery_labels)
}

fn pct(x: f64) -> String {
    format!("{:.1} %", 100.0 * x)
}

/// The report as a Markdown table.
pub fn markdown(r: &EvalReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Evaluation of {} ({} design, {} video)\n",
        r.config_name, r.design, r.video_arch
    );
    let _ = writeln!(s, "Weights: `{}`\n", r.weights);
    let _ = writeln!(s, "| evaluation | result |");
    let _ = writeln!(s, "| --- | --- |");
    let p = &r.video_linear_probe;
    let _ = writeln!(
        s,
        "| video linear probe, top-1 ({} train / {} test clips) | {} |",
        p.train,
        p.test,
        pct(p.accuracy)
    );
    let a = &r.audio_linear_probe;
    let _ = writeln!(
        s,
        "| audio linear probe, FSDD official split ({} / {}) | {} |",
        a.official.train,
        a.official.test,
        pct(a.official.accuracy)
    );
    let _ = writeln!(
        s,
        "| audio linear probe, FSDD speaker-disjoint split ({} / {}) | {} |",
        a.speaker_disjoint.train,
        a.speaker_disjoint.test,
        pct(a.speaker_disjoint.accuracy)
    );
    let _ = writeln!(
        s,
        "| audio linear probe, held-out voice (10 recordings, official probe) | {} |",
        pct(a.heldout_voice)
    );
    let _ = writeln!(
        s,
        "| zero-shot video classification ({} test clips) | {} |",
        r.zero_shot_video_clips,
        pct(r.zero_shot_video_accuracy)
    );
    let t = &r.text_to_video;
    let _ = writeln!(
        s,
        "| text-to-video retrieval ({} queries, {} clips): R@1 / R@5 / R@10, median rank | {} / {} / {}, {} |",
        t.queries,
        t.gallery,
        pct(t.r_at_1),
        pct(t.r_at_5),
        pct(t.r_at_10),
        t.median_rank
    );
    match &r.zero_shot_audio_to_text {
        Some(z) => {
            let _ = writeln!(
                s,
                "| zero-shot audio-to-text, FSDD official test | {} |",
                pct(z.official_test)
            );
            let _ = writeln!(
                s,
                "| zero-shot audio-to-text, FSDD speaker-disjoint test | {} |",
                pct(z.speaker_disjoint_test)
            );
            let _ = writeln!(
                s,
                "| zero-shot audio-to-text, held-out voice | {} |",
                pct(z.heldout_voice)
            );
        }
        None => {
            let _ = writeln!(
                s,
                "| zero-shot audio-to-text | n/a (audio and text share no space) |"
            );
        }
    }
    let i = &r.single_image_probe_static_clip;
    let _ = writeln!(
        s,
        "| single-image linear probe, video network on the static clip ({} / {}) | {} |",
        i.train,
        i.test,
        pct(i.accuracy)
    );
    if let Some(d) = &r.single_image_probe_deflated {
        let _ = writeln!(
            s,
            "| single-image linear probe, naive deflated network ({} / {}) | {} |",
            d.naive.train,
            d.naive.test,
            pct(d.naive.accuracy)
        );
        if let Some(c) = &d.calibrated {
            let _ = writeln!(
                s,
                "| single-image linear probe, calibrated deflated network ({} / {}) | {} |",
                c.train,
                c.test,
                pct(c.accuracy)
            );
        }
    }
    let _ = writeln!(
        s,
        "\nLinear probes: standardised features, multinomial logistic regression (linfa), L2 weight chosen on a validation part of train. Chance is 10 % everywhere. Evaluated in {:.0} s.",
        r.seconds
    );
    s
}

/// Writes `eval.json` and `eval.md` into `dir`.
pub fn write_report(dir: &Path, report: &EvalReport) -> Result<(), EvalError> {
    let json = dir.join(REPORT_JSON);
    std::fs::write(
        &json,
        serde_json::to_string_pretty(report).expect("report serialises"),
    )
    .map_err(|source| EvalError::Io { path: json, source })?;
    let md = dir.join(REPORT_MD);
    std::fs::write(&md, markdown(report)).map_err(|source| EvalError::Io { path: md, source })
}
