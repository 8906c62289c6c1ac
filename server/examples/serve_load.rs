//! A bounded load test of `mmv serve`'s text search on loopback: CLIENTS concurrent clients,
//! each sending REQUESTS searches one after another (keep-alive), all stopped after
//! --max-seconds; prints the latency percentiles and the throughput.
//!
//! cargo run --release -p mmv-server --example serve_load -- [INDEX] [--clients 50]
//!     [--requests 20] [--max-seconds 120] [--bundle DIR]
//!
//! Without INDEX it indexes `mmv demo`'s footage first (digits 3, 7, 1).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use mmv_runtime::bundle::{Bundle, BundleOptions};
use mmv_runtime::ingest::OpenOptions;
use mmv_runtime::pipeline::Pipeline;
use mmv_runtime::tag::LabelSet;
use mmv_server::{Catalog, Server, ServerOptions};

const QUERIES: [&str; 5] = [
    "seven",
    "someone says three",
    "the number one",
    "five",
    "a nine",
];

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let (mut index, mut clients, mut requests, mut max_s) = (None, 50usize, 20usize, 120u64);
    let mut bundle = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/avdigits-fac-s3d");
    while let Some(a) = args.next() {
        let mut value = || args.next().context("a value after the option");
        match a.as_str() {
            "--clients" => clients = value()?.parse()?,
            "--requests" => requests = value()?.parse()?,
            "--max-seconds" => max_s = value()?.parse()?,
            "--bundle" => bundle = value()?.into(),
            s if s.starts_with("--") => bail!("unknown option {s}"),
            s => index = Some(PathBuf::from(s)),
        }
    }
    let work = tempfile::tempdir()?;
    let index = match index {
        Some(i) => i,
        None => {
            let report = mmv_cli::demo::run(&mmv_cli::demo::DemoOptions {
                bundle: bundle.clone(),
                work_dir: Some(work.path().join("demo")),
                ..Default::default()
            })?;
            report.index
        }
    };
    let pipeline = Pipeline::new(Bundle::open(&bundle, &BundleOptions::default())?);
    let tagger = pipeline.tagger(&LabelSet::avdigits())?;
    let catalog = Catalog::new(&index, pipeline, tagger, OpenOptions::default())?;
    let rows = catalog.info()?["index"]["rows_loaded"].clone();
    let options = ServerOptions::new("127.0.0.1:0".parse()?, work.path().join("token"));
    let server = Server::start(&options, Some(Arc::new(catalog)), None)?;
    let base = format!("http://{}", server.addr());
    // Warm up: one of each query.
    for q in QUERIES {
        ureq::get(&format!("{base}/api/search"))
            .query("q", q)
            .call()?;
    }

    let stop = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + Duration::from_secs(max_s);
    let t0 = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|c| {
            let (base, stop) = (base.clone(), stop.clone());
            std::thread::spawn(move || -> (Vec<Duration>, usize) {
                let agent = ureq::AgentBuilder::new().build();
                let (mut lat, mut errors) = (Vec::with_capacity(requests), 0);
                for r in 0..requests {
                    if stop.load(Ordering::Relaxed) || Instant::now() >= deadline {
                        break;
                    }
                    let q = QUERIES[(c + r) % QUERIES.len()];
                    let t = Instant::now();
                    let ok = agent
                        .get(&format!("{base}/api/search"))
                        .query("q", q)
                        .call()
                        .is_ok_and(|r| r.into_string().is_ok());
                    if ok {
                        lat.push(t.elapsed());
                    } else {
                        errors += 1;
                    }
                }
                (lat, errors)
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut errors = 0;
    for t in threads {
        let (lat, e) = t.join().map_err(|_| anyhow::anyhow!("a client panicked"))?;
        all.extend(lat);
        errors += e;
    }
    stop.store(true, Ordering::Relaxed);
    let wall = t0.elapsed();
    all.sort();
    if all.is_empty() {
        bail!("no request succeeded ({errors} errors)");
    }
    let pct = |p: f64| all[((p / 100.0) * (all.len() - 1) as f64).round() as usize];
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "text search, {clients} concurrent clients x {requests} requests on loopback ({rows} rows; \
         {} cores)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "{} ok, {errors} errors in {:.1} s: {:.0} req/s; latency p50 {:.1} ms, p90 {:.1} ms, \
         p99 {:.1} ms, max {:.1} ms",
        all.len(),
        wall.as_secs_f64(),
        all.len() as f64 / wall.as_secs_f64(),
        ms(pct(50.0)),
        ms(pct(90.0)),
        ms(pct(99.0)),
        ms(*all.last().unwrap_or(&Duration::ZERO)),
    );
    server.stop();
    Ok(())
}
