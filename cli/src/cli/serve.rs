//! `mmv serve`: the web page and JSON API over a search index (crate mmv-server).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;
use mmv_runtime::tag::LabelSet;
use mmv_server::{Catalog, Server, ServerOptions};

use super::{DecodeArgs, ModelArgs};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The index file.
    #[arg(value_name = "INDEX")]
    index: PathBuf,
    /// Address to listen on. Anything but loopback needs the access token.
    #[arg(long, value_name = "IP:PORT", default_value = mmv_server::DEFAULT_ADDR)]
    addr: SocketAddr,
    /// The access token's file: read, or created with mode 0600 on first start
    /// (default: INDEX.token).
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Ask for the token on loopback too.
    #[arg(long)]
    require_token: bool,
    /// Largest upload accepted (an image or a sound to search with), in MB.
    #[arg(long, value_name = "MB", default_value_t = 16)]
    upload_limit_mb: u64,
    /// Label file of the timelines' tags (default: the ten AV-Digits digit words).
    #[arg(long, value_name = "FILE")]
    labels: Option<PathBuf>,
    /// An open-set calibration for the timelines' tags and the hits' marks instead of the
    /// bundle's (as `mmv tag --open-set`), e.g. the one shipped beside the default bundle.
    #[arg(long, value_name = "FILE")]
    open_set: Option<PathBuf>,
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    decode: DecodeArgs,
}

pub fn run(args: ServeArgs) -> Result<ExitCode> {
    let labels = match &args.labels {
        Some(p) => LabelSet::load(p)?,
        None => LabelSet::avdigits(),
    };
    // The index first: a wrong path fails before the model loads.
    mmv_runtime::index::Index::open_existing(&args.index)?;
    let mut pipeline = args.model.open(None)?;
    // In the manifest's place, so that the tagger and the search marks both use it.
    if let Some(path) = &args.open_set {
        pipeline.bundle.manifest.open_set = Some(super::read_open_set(path)?);
    }
    let tagger = pipeline.tagger(&labels).context("embedding the labels")?;
    let catalog = Catalog::new(&args.index, pipeline, tagger, args.decode.open_options())?;
    let mut token_file = args.index.clone().into_os_string();
    token_file.push(".token");
    let mut options = ServerOptions::new(
        args.addr,
        args.token_file.clone().unwrap_or_else(|| token_file.into()),
    );
    options.require_token = args.require_token;
    options.upload_limit = args.upload_limit_mb.saturating_mul(1 << 20);
    let server = Server::start(&options, Some(Arc::new(catalog)), None)?;
    let url = format!("http://{}/", server.addr());
    if server.needs_token() {
        println!(
            "serving {} on {url} (token in {}: open {url}?token=TOKEN once, or send \
             `Authorization: Bearer TOKEN`)",
            args.index.display(),
            options.token_file.display()
        );
    } else {
        println!("serving {} on {url}", args.index.display());
    }
    server.wait();
    Ok(ExitCode::SUCCESS)
}
