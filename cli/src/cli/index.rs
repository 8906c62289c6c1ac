//! `mmv index`: add footage to a search index.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Result, bail};
use clap::Args;
use mmv_runtime::index::{FileOutcome, Index, IndexOptions, index_file};
use mmv_runtime::ingest::collect_files;
use serde_json::json;

use super::output::{bar, print_json, spinner};
use super::{DecodeArgs, ModelArgs};

#[derive(Debug, Args)]
pub struct IndexArgs {
    /// The index file (created if missing).
    #[arg(value_name = "INDEX")]
    index: PathBuf,
    /// Files and directories (searched recursively for Y4M, MJPEG, WAV, JPEG, PNG and, with
    /// ffmpeg, MP4, MKV, AVI, MOV, WebM, ...).
    #[arg(value_name = "PATH", required = true)]
    paths: Vec<PathBuf>,
    /// Clips per transaction (smaller: less work redone after a crash).
    #[arg(long, default_value_t = 16)]
    batch: u32,
    /// Do not store JPEG thumbnails.
    #[arg(long)]
    no_thumbnails: bool,
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    decode: DecodeArgs,
    /// JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(args: IndexArgs) -> Result<ExitCode> {
    let files = collect_files(&args.paths)?;
    let pb = spinner("loading the model", args.json);
    let pipeline = args.model.open(None)?;
    pb.finish_and_clear();
    let mut index = Index::open(&args.index)?;
    let options = IndexOptions {
        stride_s: args.decode.stride,
        batch_clips: args.batch.max(1),
        thumbnails: !args.no_thumbnails,
        open: args.decode.open_options(),
    };
    let pb = bar(files.len() as u64, "files", args.json);
    let mut report = Vec::new();
    let mut failed = 0usize;
    for path in &files {
        let name = path.display().to_string();
        pb.set_message(name.clone());
        let t0 = Instant::now();
        let mut clips = 0u32;
        let result = index_file(&pipeline, &mut index, path, &options, &mut |clip| {
            clips += 1;
            pb.set_message(format!("{name}: clip {} ({:.1} s)", clip.index, clip.end_s));
        });
        let seconds = t0.elapsed().as_secs_f64();
        let (line, failure) = match &result {
            Ok(FileOutcome::Indexed {
                clips,
                rows,
                resumed_from,
                duration_s,
            }) => {
                let resumed = if *resumed_from > 0 {
                    format!(", resumed at clip {resumed_from}")
                } else {
                    String::new()
                };
                let line = format!(
                    "indexed  {name}: {clips} clips, {rows} rows, {duration_s:.1} s of footage in {seconds:.1} s{resumed}"
                );
                (line, false)
            }
            Ok(FileOutcome::AlreadyIndexed { as_path }) => {
                let same = if *as_path == name
                    || std::path::absolute(path).is_ok_and(|a| a.display().to_string() == *as_path)
                {
                    String::new()
                } else {
                    format!(" (same content as {as_path})")
                };
                (format!("skipped  {name}: already indexed{same}"), false)
            }
            Err(e) => {
                failed += 1;
                (format!("FAILED   {name}: {e}"), true)
            }
        };
        // Printed around the bar (pb.println would drop it when the bar is hidden); failures
        // go to stderr, also with --json.
        if failure {
            pb.suspend(|| eprintln!("{line}"));
        } else if !args.json {
            pb.suspend(|| println!("{line}"));
        }
        report.push(match result {
            Ok(outcome) => json!({ "path": path, "result": outcome, "seconds": seconds }),
            Err(e) => json!({ "path": path, "error": e.to_string() }),
        });
        pb.inc(1);
    }
    pb.finish_and_clear();
    let stats = index.stats()?;
    if args.json {
        print_json(&json!({ "index": args.index, "files": report, "stats": stats }))?;
    } else {
        let rows: u64 = stats.segments.iter().map(|(_, n)| n).sum();
        println!(
            "{}: {} files complete, {} pending, {rows} rows",
            args.index.display(),
            stats.files_complete,
            stats.files_pending,
        );
    }
    if failed > 0 {
        bail!(
            "{failed} of {} files failed (listed above); the others are indexed",
            files.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}
