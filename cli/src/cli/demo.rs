//! `mmv demo`: render, tag, index and search, with the latency of each step.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Args;
use mmv_cli::demo::{DemoOptions, run as run_demo};

use super::output::{ms, print_json, print_table, spinner, tags, time};

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Model bundle directory (or set MMV_BUNDLE).
    #[arg(long, value_name = "DIR", default_value_os_t = super::default_bundle())]
    bundle: PathBuf,
    /// Digits to show, one per clip.
    #[arg(long, default_value = "371")]
    digits: String,
    /// The text to search for.
    #[arg(long, default_value = "seven")]
    query: String,
    /// Keep the rendered footage and the index in DIR (default: a temporary directory).
    #[arg(long, value_name = "DIR")]
    keep: Option<PathBuf>,
    /// JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(args: DemoArgs) -> Result<ExitCode> {
    let digits: Vec<u8> = args
        .digits
        .chars()
        .map(|c| c.to_digit(10).map(|d| d as u8))
        .collect::<Option<_>>()
        .unwrap_or_default();
    if digits.is_empty() {
        bail!("--digits takes digits 0-9, like 371");
    }
    let pb = spinner(
        "loading the model, rendering, tagging, indexing, searching",
        args.json,
    );
    let report = run_demo(&DemoOptions {
        bundle: args.bundle.clone(),
        digits,
        query: args.query.clone(),
        work_dir: args.keep.clone(),
    })?;
    pb.finish_and_clear();
    if args.json {
        print_json(&report)?;
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "model {} ({}), footage rendered: handwritten-style digits {} moving on a 64x64 canvas, \
         each spoken once on the soundtrack (FSDD recordings, speaker jackson)",
        report.model, report.precision, args.digits
    );
    println!();
    println!("1. tags (zero-shot, the ten digit words):");
    let rows: Vec<Vec<String>> = report
        .clips
        .iter()
        .map(|c| {
            vec![
                c.clip.to_string(),
                format!("{}-{}", time(c.start_s), time(c.end_s)),
                c.shown.to_string(),
                tags(c.tags.video.as_ref()),
                tags(c.audio_tags.as_ref()),
            ]
        })
        .collect();
    print_table(
        &["clip", "time", "drawn+said", "video tags", "audio tags"],
        &rows,
    );
    println!();
    println!(
        "2. search the index (footage and soundtrack) for the text {:?}:",
        report.query
    );
    print_hits(&report.hits);
    if report.sound_query.is_some() {
        println!();
        println!(
            "3. search it by sound: the word {:?} spoken (a WAV file as the query):",
            report.query
        );
        print_hits(&report.sound_hits);
    }
    println!();
    println!(
        "{}. latencies (this machine):",
        if report.sound_query.is_some() { 4 } else { 3 }
    );
    let l = &report.latencies;
    let rows = vec![
        vec![
            "open bundle (verify, build networks)".into(),
            ms(l.load_bundle),
        ],
        vec!["render footage".into(), ms(l.render)],
        vec!["embed 10 labels".into(), ms(l.labels)],
        vec![
            "embed one clip (decode, preprocess, video net)".into(),
            ms(l.embed_clip),
        ],
        vec!["tag one clip".into(), ms(l.tag_clip)],
        vec![
            "index the file (SQLite, thumbnails)".into(),
            ms(l.index_file),
        ],
        vec!["embed the text query".into(), ms(l.query_embed)],
        vec![
            "embed the spoken query (WAV, log-mel, audio net)".into(),
            ms(l.sound_query_embed),
        ],
        vec!["load the index".into(), ms(l.index_load)],
        vec!["search".into(), ms(l.search)],
    ];
    print_table(&["step", "time"], &rows);
    if report.kept {
        println!();
        println!(
            "footage {}, soundtrack {} and index {} kept; try `mmv search {} --text \"one\"`",
            report.footage.display(),
            report.soundtrack.display(),
            report.index.display(),
            report.index.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Search hits as a table: rank, score, modality, file and time.
fn print_hits(hits: &[(mmv_runtime::index::SegmentInfo, f32)]) {
    let rows: Vec<Vec<String>> = hits
        .iter()
        .enumerate()
        .map(|(rank, (info, score))| {
            vec![
                (rank + 1).to_string(),
                format!("{score:.3}"),
                info.modality.name().into(),
                std::path::Path::new(&info.path)
                    .file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
                format!("{}-{}", time(info.start_s), time(info.end_s)),
            ]
        })
        .collect();
    print_table(&["rank", "score", "modality", "file", "time"], &rows);
}
