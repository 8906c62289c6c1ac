//! `mmv embed`: embeddings of footage (per clip), images, and texts.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;
use mmv_runtime::bundle::Embedding;
use serde_json::{Value, json};

use super::output::{print_json, print_table, spinner, time};
use super::{DecodeArgs, ModelArgs};

#[derive(Debug, Args)]
pub struct EmbedArgs {
    /// Footage, audio or image files.
    #[arg(value_name = "FILE")]
    files: Vec<PathBuf>,
    /// A text to embed (repeatable).
    #[arg(long, value_name = "TEXT")]
    text: Vec<String>,
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    decode: DecodeArgs,
    /// JSON with every value instead of a summary table.
    #[arg(long)]
    json: bool,
}

fn embedding_json(e: &Embedding) -> Value {
    json!({ "va": e.va, "vat": e.vat })
}

/// The first values of a vector, for the table.
fn head(v: &Option<Vec<f32>>) -> String {
    match v {
        Some(v) => {
            let shown: Vec<String> = v.iter().take(4).map(|x| format!("{x:+.3}")).collect();
            format!(
                "[{}{}] ({})",
                shown.join(" "),
                if v.len() > 4 { " ..." } else { "" },
                v.len()
            )
        }
        None => "-".into(),
    }
}

pub fn run(args: EmbedArgs) -> Result<ExitCode> {
    if args.files.is_empty() && args.text.is_empty() {
        bail!("nothing to embed: give files, or --text TEXT");
    }
    let pb = spinner("loading the model", args.json);
    let pipeline = args.model.open(None)?;
    pb.finish_and_clear();
    let mut texts = Vec::new();
    let mut rows = Vec::new();
    for t in &args.text {
        let vat = pipeline
            .embed_text(t)
            .with_context(|| format!("embedding the text {t:?}"))?;
        rows.push(vec![
            format!("text {t:?}"),
            "-".into(),
            "text".into(),
            "-".into(),
            head(&Some(vat.clone())),
        ]);
        texts.push(json!({ "text": t, "vat": vat }));
    }
    let mut files = Vec::new();
    for path in &args.files {
        let pb = spinner(&format!("embedding {}", path.display()), args.json);
        let mut clips = pipeline.open(path, &args.decode.open_options(), args.decode.stride)?;
        let mut out = Vec::new();
        while let Some(clip) = clips.next(0, false)? {
            pb.set_message(format!("{}: clip {}", path.display(), clip.index));
            for (m, e) in clip.modalities() {
                rows.push(vec![
                    path.display().to_string(),
                    format!("{} {}-{}", clip.index, time(clip.start_s), time(clip.end_s)),
                    m.name().into(),
                    head(&e.va),
                    head(&e.vat),
                ]);
            }
            out.push(json!({
                "clip": clip.index,
                "start_s": clip.start_s,
                "end_s": clip.end_s,
                "video": clip.video.as_ref().map(embedding_json),
                "audio": clip.audio.as_ref().map(embedding_json),
                "image": clip.image.as_ref().map(embedding_json),
            }));
        }
        pb.finish_and_clear();
        files.push(json!({ "path": path, "clips": out }));
    }
    if args.json {
        print_json(&json!({ "model": pipeline.model_key(), "texts": texts, "files": files }))?;
    } else {
        print_table(&["input", "clip", "modality", "va", "vat"], &rows);
    }
    Ok(ExitCode::SUCCESS)
}
