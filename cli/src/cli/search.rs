//! `mmv search`: the best clips for a text, an image or a sound.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use mmv_runtime::bundle::manifest::EncoderKind;
use mmv_runtime::index::{Index, Modality, Query};
use mmv_runtime::pipeline::{Pipeline, QueryInput};
use serde_json::json;

use super::output::{ms, print_json, print_table, spinner, time};
use super::{DecodeArgs, ModelArgs};

/// The query flags of `mmv search`, shared with `mmv fleet search`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("query").required(true).args(["text", "image", "audio"])))]
pub(super) struct QueryArgs {
    /// Search by text ("someone says seven").
    #[arg(long, value_name = "TEXT")]
    pub(super) text: Option<String>,
    /// Search by an image (JPEG or PNG).
    #[arg(long, value_name = "FILE")]
    pub(super) image: Option<PathBuf>,
    /// Search by a sound (WAV, or any audio ffmpeg reads).
    #[arg(long, value_name = "FILE")]
    pub(super) audio: Option<PathBuf>,
    /// Results to return.
    #[arg(long, default_value_t = 10)]
    pub(super) top_k: usize,
    /// Only rows of these modalities (video, audio, image; comma-separated).
    #[arg(long, value_delimiter = ',', value_parser = parse_modality)]
    pub(super) modality: Vec<Modality>,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// The index file.
    #[arg(value_name = "INDEX")]
    index: PathBuf,
    #[command(flatten)]
    query: QueryArgs,
    /// Write each hit's thumbnail to DIR/NN.jpg.
    #[arg(long, value_name = "DIR")]
    thumbnails: Option<PathBuf>,
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    decode: DecodeArgs,
    /// An open-set calibration to mark hits with instead of the bundle's (as `mmv tag
    /// --open-set`): a hit below its cut for the hit's modality (by the hit's typicality, or a
    /// text query's cosine) is marked "below the cut", not hidden.
    #[arg(long, value_name = "FILE")]
    open_set: Option<PathBuf>,
    /// JSON instead of a table.
    #[arg(long)]
    json: bool,
}

fn parse_modality(s: &str) -> Result<Modality, String> {
    Modality::parse(s).ok_or_else(|| format!("{s:?} is not video, audio or image"))
}

impl QueryArgs {
    /// The query of `--text`, `--image` or `--audio` (exactly one), and the encoder it needs.
    pub(super) fn input(&self) -> Result<(QueryInput, EncoderKind)> {
        Ok(match (&self.text, &self.image, &self.audio) {
            (Some(t), None, None) => (QueryInput::Text(t.clone()), EncoderKind::Text),
            (None, Some(p), None) => (QueryInput::Image(p.clone()), EncoderKind::Image),
            (None, None, Some(p)) => (QueryInput::Audio(p.clone()), EncoderKind::Audio),
            _ => bail!("give exactly one of --text, --image, --audio"),
        })
    }

    /// Loads only the query's encoder and embeds the query (the spinner says which step runs);
    /// returns the pipeline, the query and how long embedding took.
    pub(super) fn embed(
        &self,
        model: &ModelArgs,
        decode: &DecodeArgs,
        pb: &indicatif::ProgressBar,
    ) -> Result<(Pipeline, Query, Duration)> {
        let (input, encoder) = self.input()?;
        pb.set_message("loading the model");
        let pipeline = model.open(Some(vec![encoder]))?;
        pb.set_message("embedding the query");
        let t0 = Instant::now();
        let query = pipeline
            .query(&input, &decode.open_options())
            .context("embedding the query")?;
        Ok((pipeline, query, t0.elapsed()))
    }
}

pub fn run(args: SearchArgs) -> Result<ExitCode> {
    args.query.input()?;
    // Open the index first: a wrong path fails before the model loads.
    let index = Index::open_existing(&args.index)?;
    let pb = spinner("loading the model", args.json);
    let (mut pipeline, query, embed_time) = args.query.embed(&args.model, &args.decode, &pb)?;
    if let Some(path) = &args.open_set {
        pipeline.bundle.manifest.open_set = Some(super::read_open_set(path)?);
    }
    pb.set_message("loading the index");
    let t1 = Instant::now();
    let table = index.load_model_table(&pipeline.model_key())?;
    let load_time = t1.elapsed();
    let t2 = Instant::now();
    let hits = table.top_k(&query, args.query.top_k, &args.query.modality);
    let search_time = t2.elapsed();
    let hits = index.resolve(&hits)?;
    pb.finish_and_clear();

    if let Some(dir) = &args.thumbnails {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for (rank, (info, _)) in hits.iter().enumerate() {
            if let Some(jpeg) = &info.thumbnail {
                let path = dir.join(format!("{:02}.jpg", rank + 1));
                std::fs::write(&path, jpeg)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
        }
    }
    // A hit below the bundle's open-set cut for its modality (its typicality, or a text
    // query's cosine) would carry no label at all: marked, not hidden.
    let below = |info: &mmv_runtime::index::SegmentInfo, score: f32| {
        pipeline.below_cut(&query, info.modality, score, table.vat_of(info.id))
    };
    if args.json {
        let results: Vec<_> = hits
            .iter()
            .enumerate()
            .map(|(rank, (info, score))| {
                json!({
                    "rank": rank + 1,
                    "score": score,
                    "below_cut": below(info, *score),
                    "segment": info,
                })
            })
            .collect();
        print_json(&json!({
            "rows_searched": table.len(),
            "embed_ms": embed_time.as_secs_f64() * 1e3,
            "load_ms": load_time.as_secs_f64() * 1e3,
            "search_ms": search_time.as_secs_f64() * 1e3,
            "hits": results,
        }))?;
    } else {
        let rows: Vec<Vec<String>> = hits
            .iter()
            .enumerate()
            .map(|(rank, (info, score))| {
                let mark = match below(info, *score) {
                    Some(true) => " (below cut)",
                    _ => "",
                };
                vec![
                    (rank + 1).to_string(),
                    format!("{score:.3}{mark}"),
                    info.modality.name().into(),
                    format!("{}-{}", time(info.start_s), time(info.end_s)),
                    info.path.clone(),
                ]
            })
            .collect();
        print_table(&["rank", "score", "modality", "time", "file"], &rows);
        println!(
            "{} rows searched in {} (query embedded in {}, index loaded in {})",
            table.len(),
            ms(search_time),
            ms(embed_time),
            ms(load_time)
        );
    }
    Ok(ExitCode::SUCCESS)
}
