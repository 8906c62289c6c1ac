//! `mmv tag`: zero-shot tags for every clip of footage, and for images.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;
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
    /// Lowest probability shown (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    threshold: f32,
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    decode: DecodeArgs,
    /// JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: TagArgs) -> Result<ExitCode> {
    if !(0.0..=1.0).contains(&args.threshold) {
        bail!(
            "--threshold must be between 0 and 1, got {}",
            args.threshold
        );
    }
    let labels = match &args.labels {
        Some(p) => LabelSet::load(p)?,
        None => LabelSet::avdigits(),
    };
    let pb = spinner("loading the model", args.json);
    let pipeline = args.model.open(None)?;
    let tagger = pipeline.tagger(&labels).context("embedding the labels")?;
    pb.finish_and_clear();
    let mut rows = Vec::new();
    let mut out = Vec::new();
    for path in &args.files {
        let pb = spinner(&format!("tagging {}", path.display()), args.json);
        let mut clips = pipeline.open(path, &args.decode.open_options(), args.decode.stride)?;
        while let Some(clip) = clips.next(0, false)? {
            pb.set_message(format!("{}: clip {}", path.display(), clip.index));
            let t = pipeline.tag(&tagger, &clip, args.top_k, args.threshold)?;
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
    }
    if args.json {
        print_json(&json!({ "labels": labels.origin, "clips": out }))?;
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
