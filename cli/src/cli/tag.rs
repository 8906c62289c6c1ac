//! `mmv tag`: zero-shot tags for every clip of footage, and for images.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;
use mmv_runtime::pipeline::FileSummary;
use mmv_runtime::tag::LabelSet;
use serde_json::json;

use super::output::{print_json, print_table, spinner, tags, time};
use super::{DecodeArgs, ModelArgs};

#[derive(Debug, Args)]
pub struct TagArgs {
    /// Footage, audio or image files.
    #[arg(value_name = "FILE", required = true)]
    files: Vec<PathBuf>,
    /// Label file: `NAME | PROMPT [| PROMPT ...]` a line, `#` comments (default: the ten
    /// AV-Digits digit words).
    #[arg(long, value_name = "FILE")]
    labels: Option<PathBuf>,
    /// Labels shown per clip and modality.
    #[arg(long, default_value_t = 3)]
    top_k: usize,
    /// Open-set cut: the lowest score (from -1 to 1) for a label to count as present; below it
    /// the answer is "none". The score is the one the bundle was calibrated on (`mmv info`,
    /// its manifest's `open_set.score`): the label's contrast (its cosine similarity with the
    /// input minus the mean cosine over all labels: how far it stands out) or, for bundles
    /// calibrated on it and uncalibrated ones, the cosine similarity itself (where a
    /// calibration scores a modality by typicality, a number you give applies to the contrast).
    /// Default: the bundle's calibrated cut per modality (written by `mmv-train
    /// calibrate-tags`); a bundle without one always names its best label.
    #[arg(long, value_name = "SCORE", allow_negative_numbers = true)]
    threshold: Option<f32>,
    /// An open-set calibration to tag with instead of the bundle's: its per-modality cuts, kinds
    /// of score (cosine, contrast, or typicality: how close the input lies to a label's training
    /// inputs, from the label Gaussians it carries), e.g.
    /// `models/avdigits-fac-tsm-robust/open-set-calibration.json`, shipped beside a bundle whose
    /// default is to always answer. `--threshold` then replaces its cuts.
    #[arg(long, value_name = "FILE")]
    open_set: Option<PathBuf>,
    /// Lowest softmax probability over the labels for a tag to be listed (0 to 1). The softmax
    /// always sums to one over the labels, so it ranks labels but cannot say "none".
    #[arg(long, default_value_t = 0.0, value_name = "P")]
    min_probability: f32,
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    decode: DecodeArgs,
    /// JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: TagArgs) -> Result<ExitCode> {
    if !(0.0..=1.0).contains(&args.min_probability) {
        bail!(
            "--min-probability must be between 0 and 1, got {}",
            args.min_probability
        );
    }
    if let Some(t) = args.threshold
        && !(t.is_finite() && (-1.0..=1.0).contains(&t))
    {
        bail!("--threshold is a cosine similarity or contrast between -1 and 1, got {t}");
    }
    let labels = match &args.labels {
        Some(p) => LabelSet::load(p)?,
        None => LabelSet::avdigits(),
    };
    let pb = spinner("loading the model", args.json);
    let pipeline = args.model.open(None)?;
    let mut tagger = pipeline.tagger(&labels).context("embedding the labels")?;
    if let Some(path) = &args.open_set {
        let set = super::read_open_set(path)?;
        tagger = tagger
            .with_open_set(&set)
            .with_context(|| format!("applying the open-set calibration {}", path.display()))?;
    }
    if let Some(t) = args.threshold {
        tagger = tagger.with_uniform_cut(t);
    }
    pb.finish_and_clear();
    let mut rows = Vec::new();
    let mut out = Vec::new();
    let mut files = Vec::new();
    for path in &args.files {
        let mut summary = FileSummary::default();
        let pb = spinner(&format!("tagging {}", path.display()), args.json);
        let mut clips =
            pipeline.open_for_tagging(path, &args.decode.open_options(), args.decode.stride)?;
        while let Some(clip) = clips.next(0, false)? {
            pb.set_message(format!("{}: clip {}", path.display(), clip.index));
            let t = pipeline.tag(&tagger, &clip, args.top_k, args.min_probability)?;
            summary.add(&t);
            rows.push(vec![
                path.display().to_string(),
                clip.index.to_string(),
                format!("{}-{}", time(clip.start_s), time(clip.end_s)),
                tags(t.video.as_ref().or(t.image.as_ref())),
                tags(t.audio.as_ref()),
                tags(t.fused.as_ref()),
            ]);
            out.push(json!({
                "path": path,
                "clip": clip.index,
                "start_s": clip.start_s,
                "end_s": clip.end_s,
                "tags": t,
            }));
        }
        pb.finish_and_clear();
        // The cosine, and the typicality where the cut is on it: what decided "none".
        let score = |t: &mmv_runtime::tag::Tag| match t.typicality {
            Some(x) => format!("cos {:.2}, typicality {x:.2}", t.similarity),
            None => format!("cos {:.2}", t.similarity),
        };
        let answer = |m: &str| match (summary.best.get(m), summary.answer(m)) {
            (_, Some(t)) => format!("{} ({})", t.label, score(t)),
            (Some(b), None) => format!("none (best {} {})", b.label, score(b)),
            (None, None) => "-".into(),
        };
        rows.push(vec![
            path.display().to_string(),
            "file".into(),
            "(best window)".into(),
            answer(if summary.best.contains_key("video") {
                "video"
            } else {
                "image"
            }),
            answer("audio"),
            answer("fused"),
        ]);
        let answers: serde_json::Map<String, serde_json::Value> = summary
            .best
            .iter()
            .map(|(m, t)| {
                let v = if t.present {
                    json!(t.label)
                } else {
                    json!(null)
                };
                (m.to_string(), json!({ "label": v, "best": t }))
            })
            .collect();
        files.push(json!({ "path": path, "answers": answers }));
    }
    if args.json {
        print_json(&json!({ "labels": labels.origin, "clips": out, "files": files }))?;
    } else {
        print_table(
            &[
                "file",
                "clip",
                "time",
                "video / image",
                "audio",
                "audio+video",
            ],
            &rows,
        );
    }
    Ok(ExitCode::SUCCESS)
}
