//! `mmv fleet`: many boards' indexes in one PostgreSQL + pgvector database (crate mmv-fleet).
//!
//! `init`, `add-device` and `add-reader` run as the database's owner; `push` as a device's
//! role; `search` as any role that may read. Database URLs come from flags or environment
//! variables and are only ever printed with the password masked.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use mmv_fleet::bench::{BenchOptions, BenchReport};
use mmv_fleet::push::{PushEvent, PushOptions};
use mmv_fleet::search::{Filter, Mode};
use mmv_fleet::{ModelIdentity, roles, schema, url};
use serde_json::json;

use super::output::{ms, print_json, print_table, spinner, time};
use super::search::QueryArgs;
use super::{DecodeArgs, ModelArgs, default_bundle};

#[derive(Debug, Args)]
pub struct FleetArgs {
    #[command(subcommand)]
    command: FleetCommand,
}

// Parsed once per run: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum FleetCommand {
    /// Create or migrate the fleet schema, its group roles and HNSW indexes (as the owner).
    Init(InitArgs),
    /// Register a device with its own login role (as the owner).
    AddDevice(AddRoleArgs),
    /// Create a read-only login role for searching (as the owner).
    AddReader(AddRoleArgs),
    /// Copy the new rows of a local index to the fleet database (resumable).
    Push(PushArgs),
    /// Search every device's rows by text, image or sound.
    Search(FleetSearchArgs),
    /// The web page (`mmv serve`'s) over the fleet database: search every device's rows.
    Serve(FleetServeArgs),
    /// Simulate a fleet: push throughput, search latency and recall (as the owner).
    Bench(BenchArgs),
}

/// pgvector's HNSW beam for searches.
#[derive(Debug, Clone, Args)]
struct Beam {
    /// HNSW beam width (pgvector's hnsw.ef_search): wider finds more of the true nearest rows
    /// and takes longer; never less than 4 x the rows asked for.
    #[arg(long, value_name = "N", default_value_t = mmv_fleet::search::DEFAULT_EF_SEARCH)]
    ef_search: usize,
}

/// The owner's database URL.
#[derive(Debug, Clone, Args)]
struct AdminDb {
    /// The owner's database URL (libpq form; default: $MMV_FLEET_ADMIN_DB).
    #[arg(long = "admin-db", value_name = "URL")]
    admin_db: Option<String>,
}

impl AdminDb {
    fn url(&self) -> Result<String> {
        from_flag_or_env(&self.admin_db, "MMV_FLEET_ADMIN_DB", "--admin-db")
    }
}

/// A role's database URL.
#[derive(Debug, Clone, Args)]
struct Db {
    /// The database URL (libpq form, e.g. postgresql://USER@HOST/DB?sslmode=require; default:
    /// $MMV_FLEET_DB). Put the password in the URL, in $MMV_FLEET_DB, or in the URL's
    /// password= parameter; it is never printed.
    #[arg(long, value_name = "URL")]
    db: Option<String>,
}

impl Db {
    fn url(&self) -> Result<String> {
        from_flag_or_env(&self.db, "MMV_FLEET_DB", "--db")
    }
}

fn from_flag_or_env(flag: &Option<String>, var: &str, name: &str) -> Result<String> {
    match flag {
        Some(u) => Ok(u.clone()),
        None => {
            std::env::var(var).with_context(|| format!("no database: pass {name} URL or set {var}"))
        }
    }
}

#[derive(Debug, Args)]
struct InitArgs {
    #[command(flatten)]
    admin: AdminDb,
    /// Embedding widths to give HNSW indexes in both spaces (default: those of --bundle's
    /// networks, per space).
    #[arg(long, value_delimiter = ',')]
    dims: Vec<usize>,
    /// The bundle whose embedding widths get HNSW indexes.
    #[arg(long, value_name = "DIR", default_value_os_t = default_bundle())]
    bundle: PathBuf,
}

#[derive(Debug, Args)]
struct AddRoleArgs {
    /// The device's name (add-device) or the role's name (add-reader).
    #[arg(value_name = "NAME")]
    name: String,
    #[command(flatten)]
    admin: AdminDb,
    /// Read the new role's password from this environment variable (default: a random one,
    /// printed once).
    #[arg(long, value_name = "VAR")]
    password_env: Option<String>,
}

#[derive(Debug, Args)]
struct PushArgs {
    /// The local index file.
    #[arg(value_name = "INDEX")]
    index: PathBuf,
    #[command(flatten)]
    db: Db,
    /// This board's name in the fleet (default: the host name).
    #[arg(long, value_name = "NAME")]
    device: Option<String>,
    /// Bundles whose rows the index holds (their manifest hashes go with the rows).
    #[arg(long, value_name = "DIR")]
    bundle: Vec<PathBuf>,
    /// Rows per transaction.
    #[arg(long, default_value_t = 256)]
    batch: usize,
    /// Give up when the database has been away this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 600.0)]
    max_wait: f64,
    /// Do not send thumbnails.
    #[arg(long)]
    no_thumbnails: bool,
    /// JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct FleetSearchArgs {
    #[command(flatten)]
    db: Db,
    #[command(flatten)]
    query: QueryArgs,
    /// Only these devices (comma-separated; default: all).
    #[arg(long, value_delimiter = ',', value_name = "NAME")]
    device: Vec<String>,
    /// Only rows indexed at or after this time (e.g. 2026-12-01 or "2026-12-06 14:00+00").
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Only rows indexed before this time.
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    /// Scan every row exactly instead of asking the HNSW index.
    #[arg(long)]
    exact: bool,
    #[command(flatten)]
    beam: Beam,
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    decode: DecodeArgs,
    /// JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct FleetServeArgs {
    #[command(flatten)]
    db: Db,
    /// Address to listen on. Anything but loopback needs the access token.
    #[arg(long, value_name = "IP:PORT", default_value = mmv_server::DEFAULT_ADDR)]
    addr: std::net::SocketAddr,
    /// The access token's file: read, or created with mode 0600 on first start.
    #[arg(long, value_name = "FILE", default_value = "mmv-fleet-serve.token")]
    token_file: PathBuf,
    /// Ask for the token on loopback too.
    #[arg(long)]
    require_token: bool,
    /// Largest upload accepted (an image or a sound to search with), in MB.
    #[arg(long, value_name = "MB", default_value_t = 16)]
    upload_limit_mb: u64,
    #[command(flatten)]
    beam: Beam,
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    decode: DecodeArgs,
}

#[derive(Debug, Args)]
struct BenchArgs {
    #[command(flatten)]
    admin: AdminDb,
    /// Simulated devices.
    #[arg(long, default_value_t = 100)]
    devices: usize,
    /// Rows per device.
    #[arg(long, default_value_t = 10_000)]
    clips: usize,
    /// Concurrent pushers.
    #[arg(long, default_value_t = 2)]
    pushers: usize,
    /// Rows per push transaction.
    #[arg(long, default_value_t = 500)]
    batch: usize,
    /// HNSW queries per cell.
    #[arg(long, default_value_t = 400)]
    queries: usize,
    /// Exact-scan queries per cell (and queries for recall).
    #[arg(long, default_value_t = 32)]
    exact_queries: usize,
    /// Concurrency levels of the search clients (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1,16")]
    clients: Vec<usize>,
    /// Measure search only, on the rows already there.
    #[arg(long)]
    no_push: bool,
    #[command(flatten)]
    beam: Beam,
    /// Queries for recall@10 (each also scanned exactly; default: --exact-queries).
    #[arg(long, value_name = "N", default_value_t = 0)]
    recall_queries: usize,
    /// Write fleet-bench.md, fleet-bench.json and fleet-bench.png here.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

pub fn run(args: FleetArgs) -> Result<ExitCode> {
    match args.command {
        FleetCommand::Init(a) => init(a),
        FleetCommand::AddDevice(a) => add_role(a, true),
        FleetCommand::AddReader(a) => add_role(a, false),
        FleetCommand::Push(a) => push(a),
        FleetCommand::Search(a) => search(a),
        FleetCommand::Serve(a) => serve(a),
        FleetCommand::Bench(a) => bench(a),
    }
}

fn init(args: InitArgs) -> Result<ExitCode> {
    let admin = args.admin.url()?;
    let spaces: Vec<(String, usize)> = if args.dims.is_empty() {
        ModelIdentity::bundle_spaces(&args.bundle)?
    } else {
        args.dims
            .iter()
            .flat_map(|&d| schema::SPACES.iter().map(move |s| (s.to_string(), d)))
            .collect()
    };
    let mut client = url::connect(&admin)?;
    let found = schema::migrate(&mut client)?;
    println!(
        "fleet schema at {}: version {found} -> {}",
        url::mask(&admin),
        schema::current_version()
    );
    for (space, dim) in &spaces {
        schema::ensure_hnsw(&mut client, space, *dim)?;
    }
    let have: Vec<String> = schema::hnsw_indexes(&mut client)?
        .iter()
        .map(|(s, d)| format!("{s}({d})"))
        .collect();
    println!("HNSW indexes (inner product): {}", have.join(", "));
    Ok(ExitCode::SUCCESS)
}

fn add_role(args: AddRoleArgs, device: bool) -> Result<ExitCode> {
    let admin = args.admin.url()?;
    let (password, generated) = match &args.password_env {
        Some(var) => (
            std::env::var(var).with_context(|| format!("${var} is not set"))?,
            false,
        ),
        None => (roles::random_password(), true),
    };
    let mut client = url::connect(&admin)?;
    schema::check_version(&mut client)?;
    let role = if device {
        roles::add_device(&mut client, &args.name, &password)?
    } else {
        roles::add_reader(&mut client, &args.name, &password)?;
        args.name.clone()
    };
    println!(
        "{} {:?}: role {role}",
        if device { "device" } else { "reader" },
        args.name
    );
    if generated {
        // The one place a password is printed: the one just made, for its owner to keep.
        println!("password (shown once, keep it): {password}");
    }
    Ok(ExitCode::SUCCESS)
}

fn push(args: PushArgs) -> Result<ExitCode> {
    let db = args.db.url()?;
    let bundles = if args.bundle.is_empty() {
        vec![default_bundle()]
    } else {
        args.bundle.clone()
    };
    let mut models = Vec::new();
    for b in &bundles {
        match ModelIdentity::of_bundle(b) {
            Ok(m) => models.push(m),
            // Only the default was asked for implicitly: without it, rows go with no hash.
            Err(e) if args.bundle.is_empty() => eprintln!("note: {e}"),
            Err(e) => return Err(e.into()),
        }
    }
    let mut options =
        PushOptions::new(args.device.clone().unwrap_or_else(roles::host_name), models);
    options.batch_rows = args.batch.max(1);
    options.max_wait = Duration::from_secs_f64(args.max_wait.max(0.0));
    options.thumbnails = !args.no_thumbnails;
    let masked = url::mask(&db);
    let json = args.json;
    let report = mmv_fleet::push::push(&args.index, &db, &options, &mut |event| match event {
        PushEvent::Batch { rows, cursor } => {
            if !json {
                eprintln!("pushed {rows} rows (cursor {cursor})");
            }
        }
        PushEvent::Waiting {
            error,
            retry_in,
            away_for,
        } => eprintln!(
            "database {masked} away for {:.1} s ({error}); retrying in {:.1} s",
            away_for.as_secs_f64(),
            retry_in.as_secs_f64()
        ),
    })?;
    if json {
        print_json(&report)?;
    } else {
        println!(
            "device {}: {} rows pushed in {} batches ({} reconnects) to {masked}; cursor {}, \
             {} rows in the local index; {:.1} s",
            report.device,
            report.rows_pushed,
            report.batches,
            report.reconnects,
            report.cursor,
            report.local_rows,
            report.elapsed_s
        );
        if !report.unknown_models.is_empty() {
            println!(
                "note: rows of {} went with no manifest hash (pass their --bundle to label them)",
                report.unknown_models.join(", ")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn serve(args: FleetServeArgs) -> Result<ExitCode> {
    let db = args.db.url()?;
    let masked = url::mask(&db);
    // The bundle's identity and the database first: a wrong URL fails before the model loads.
    ModelIdentity::of_bundle(&args.model.bundle)?;
    url::connect(&db)?;
    let pipeline = args.model.open(None)?;
    let fleet = mmv_server::FleetCatalog::connect(
        db,
        &args.model.bundle,
        pipeline,
        args.decode.open_options(),
        Some(args.beam.ef_search),
    )?;
    let mut options = mmv_server::ServerOptions::new(args.addr, args.token_file.clone());
    options.require_token = args.require_token;
    options.upload_limit = args.upload_limit_mb.saturating_mul(1 << 20);
    let server = mmv_server::Server::start_fleet(&options, std::sync::Arc::new(fleet))?;
    let page = format!("http://{}/", server.addr());
    if server.needs_token() {
        println!(
            "serving the fleet database {masked} on {page} (token in {}: open {page}?token=TOKEN \
             once, or send `Authorization: Bearer TOKEN`)",
            options.token_file.display()
        );
    } else {
        println!("serving the fleet database {masked} on {page}");
    }
    server.wait();
    Ok(ExitCode::SUCCESS)
}

fn search(args: FleetSearchArgs) -> Result<ExitCode> {
    let db = args.db.url()?;
    args.query.input()?;
    let model = ModelIdentity::of_bundle(&args.model.bundle)?;
    // Connect first: a wrong URL fails before the model loads.
    let mut client = url::connect(&db)?;
    schema::check_version(&mut client)?;
    let pb = spinner("loading the model", args.json);
    let (_, query, embed_time) = args.query.embed(&args.model, &args.decode, &pb)?;
    pb.set_message("searching the fleet");
    let filter = Filter {
        devices: args.device.clone(),
        modalities: args.query.modality.clone(),
        since: args.since.clone(),
        until: args.until.clone(),
        ef_search: Some(args.beam.ef_search),
    };
    let mode = if args.exact { Mode::Exact } else { Mode::Hnsw };
    let t1 = Instant::now();
    let outcome =
        mmv_fleet::search::search(&mut client, &model, &query, args.query.top_k, &filter, mode)?;
    let search_time = t1.elapsed();
    pb.finish_and_clear();
    if args.json {
        let hits: Vec<_> = outcome
            .hits
            .iter()
            .enumerate()
            .map(|(rank, h)| {
                json!({
                    "rank": rank + 1,
                    "score": h.score,
                    "device": h.device,
                    "path": h.path,
                    "file_sha256": h.file_sha256,
                    "clip": h.clip,
                    "modality": h.modality,
                    "start_s": h.start_s,
                    "end_s": h.end_s,
                    "indexed_at": h.indexed_at,
                    "local_id": h.local_id,
                })
            })
            .collect();
        print_json(&json!({
            "model": outcome.model,
            "mode": outcome.mode,
            "other_models": outcome.other_models,
            "embed_ms": embed_time.as_secs_f64() * 1e3,
            "search_ms": search_time.as_secs_f64() * 1e3,
            "hits": hits,
        }))?;
    } else {
        let rows: Vec<Vec<String>> = outcome
            .hits
            .iter()
            .enumerate()
            .map(|(rank, h)| {
                vec![
                    (rank + 1).to_string(),
                    format!("{:.3}", h.score),
                    h.device.clone(),
                    h.modality.clone(),
                    format!("{}-{}", time(h.start_s), time(h.end_s)),
                    h.indexed_at.clone().unwrap_or_default(),
                    h.path.clone(),
                ]
            })
            .collect();
        print_table(
            &[
                "rank", "score", "device", "modality", "time", "indexed", "file",
            ],
            &rows,
        );
        println!(
            "model {}; {} search in {} (query embedded in {})",
            outcome.model,
            if args.exact { "exact" } else { "HNSW" },
            ms(search_time),
            ms(embed_time)
        );
        if !outcome.other_models.is_empty() {
            let names: Vec<String> = outcome
                .other_models
                .iter()
                .map(ToString::to_string)
                .collect();
            println!(
                "note: the database also holds rows of {}: not compared with this model's",
                names.join(", ")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn bench(args: BenchArgs) -> Result<ExitCode> {
    let admin = args.admin.url()?;
    let options = BenchOptions {
        devices: args.devices.max(1),
        clips: args.clips.max(1),
        pushers: args.pushers.max(1),
        batch_rows: args.batch.max(1),
        queries: args.queries.max(1),
        exact_queries: args.exact_queries.max(1),
        clients: args.clients.clone(),
        no_push: args.no_push,
        ef_search: Some(args.beam.ef_search),
        recall_queries: args.recall_queries,
        ..BenchOptions::default()
    };
    eprintln!("fleet bench on {}", url::mask(&admin));
    let report = mmv_fleet::bench::run(&admin, &options, &mut |line| eprintln!("{line}"))?;
    let machine = format!(
        "{} CPU cores (shared)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let table = mmv_fleet::bench::markdown(&report, &machine);
    println!("{table}");
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        std::fs::write(dir.join("fleet-bench.md"), &table)?;
        std::fs::write(
            dir.join("fleet-bench.json"),
            serde_json::to_string_pretty(&report)?,
        )?;
        let png = dir.join("fleet-bench.png");
        plot(&report, &png)?;
        println!("wrote {}", dir.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Two panels: search latency (p50 bar, p99 tick) per mode and clients, log scale; push
/// throughput as the table grew.
fn plot(r: &BenchReport, path: &Path) -> Result<()> {
    use plotters::prelude::*;
    use plotters::style::{FontStyle, register_font};
    let _ = register_font(
        "sans-serif",
        FontStyle::Normal,
        epaint_default_fonts::HACK_REGULAR,
    );
    let (w, h) = (1200u32, 420u32);
    let mut rgb = vec![255u8; (w * h * 3) as usize];
    let draw = |rgb: &mut [u8]| -> std::result::Result<(), Box<dyn std::error::Error>> {
        let root = BitMapBackend::with_buffer(rgb, (w, h)).into_drawing_area();
        root.fill(&WHITE)?;
        let (left, right) = root.split_horizontally(600);
        let cells = &r.latency;
        let n = cells.len().max(1);
        let max = cells.iter().map(|c| c.p99_ms).fold(1.0f64, f64::max) * 2.0;
        let min = cells
            .iter()
            .map(|c| c.p50_ms)
            .fold(f64::INFINITY, f64::min)
            .min(max / 10.0)
            / 2.0;
        let labels: Vec<String> = cells
            .iter()
            .map(|c| format!("{:?} x{}", c.mode, c.clients))
            .collect();
        let mut chart = ChartBuilder::on(&left)
            .caption(
                format!("fleet search, {} rows: p50 (bar), p99 (tick), ms", r.rows),
                ("sans-serif", 18),
            )
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(110)
            .build_cartesian_2d((min.max(1e-3)..max).log_scale(), (0..n).into_segmented())?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n)
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .x_desc("ms")
            .draw()?;
        chart.draw_series(cells.iter().enumerate().map(|(i, c)| {
            let color = if c.mode == Mode::Hnsw {
                RGBColor(31, 119, 180)
            } else {
                RGBColor(200, 120, 40)
            };
            let mut bar = Rectangle::new(
                [
                    (min.max(1e-3), SegmentValue::Exact(i)),
                    (c.p50_ms, SegmentValue::Exact(i + 1)),
                ],
                color.filled(),
            );
            bar.set_margin(4, 4, 0, 0);
            bar
        }))?;
        chart.draw_series(cells.iter().enumerate().map(|(i, c)| {
            PathElement::new(
                vec![
                    (c.p99_ms, SegmentValue::Exact(i)),
                    (c.p99_ms, SegmentValue::Exact(i + 1)),
                ],
                BLACK.stroke_width(2),
            )
        }))?;
        let curve = &r.push_curve;
        let xmax = curve.iter().map(|c| c.0).max().unwrap_or(r.rows).max(1) as f64;
        let ymax = curve.iter().map(|c| c.1).fold(1.0f64, f64::max) * 1.2;
        let mut push = ChartBuilder::on(&right)
            .caption(
                "push into the HNSW-indexed table, rows/s",
                ("sans-serif", 18),
            )
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..xmax * 1.05, 0.0..ymax)?;
        push.configure_mesh()
            .x_desc("rows in the table")
            .y_desc("rows/s")
            .draw()?;
        push.draw_series(LineSeries::new(
            curve.iter().map(|&(n, v)| (n as f64, v)),
            RGBColor(31, 119, 180).stroke_width(2),
        ))?;
        push.draw_series(
            curve
                .iter()
                .map(|&(n, v)| Circle::new((n as f64, v), 3, RGBColor(31, 119, 180).filled())),
        )?;
        root.present()?;
        Ok(())
    };
    draw(&mut rgb).map_err(|e| anyhow::anyhow!("plotting: {e}"))?;
    if !r.latency.iter().any(|c| c.p50_ms.is_finite()) {
        bail!("nothing measured to plot");
    }
    image::save_buffer(path, &rgb, w, h, image::ExtendedColorType::Rgb8)
        .with_context(|| format!("writing {}", path.display()))
}
