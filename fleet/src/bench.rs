//! `mmv fleet bench`: a simulated fleet in a real database.
//!
//! `devices x clips` rows of the real embedding widths (va and vat of the released bundle,
//! 128 and 64) are pushed through the same statement `mmv fleet push` uses, into the table with
//! its HNSW indexes in place, by a few concurrent pushers (one connection each, as boards
//! would). Embeddings are drawn around random cluster centres (scenes that recur), unit length,
//! so that the nearest neighbours are not all ties as in uniform noise. Then text-style queries
//! (the vat space) are timed at 1 and N concurrent clients, through HNSW and by exact scan, and
//! HNSW's top-10 is compared with the exact top-10 (recall@10).
//!
//! The bench is resumable: rows already in the database (per device, by local id) are not
//! pushed again, so a larger run continues a smaller one.

use std::time::{Duration, Instant};

use mmv_runtime::index::Query;
use pgvector::Vector;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::push::{CentralRow, insert_rows};
use crate::search::{self, Filter, Mode};
use crate::{FleetError, ModelIdentity, roles, schema, url};

/// What to simulate and measure.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    pub devices: usize,
    pub clips: usize,
    pub va_dim: usize,
    pub vat_dim: usize,
    /// Rows per push transaction.
    pub batch_rows: usize,
    /// Concurrent pushers.
    pub pushers: usize,
    /// Queries per (mode, clients) cell for HNSW; exact scans run `exact_queries`.
    pub queries: usize,
    pub exact_queries: usize,
    /// Concurrency levels of the search clients.
    pub clients: Vec<usize>,
    pub k: usize,
    /// Cluster centres the embeddings are drawn around.
    pub clusters: usize,
    pub seed: u64,
    /// Skip the push (measure search on what is there).
    pub no_push: bool,
    /// HNSW beam width for the searches (`None`: the product's default).
    pub ef_search: Option<usize>,
    /// Queries HNSW's top-k is compared with the exact scan on (0: `exact_queries`).
    pub recall_queries: usize,
}

impl Default for BenchOptions {
    fn default() -> Self {
        Self {
            devices: 100,
            clips: 10_000,
            va_dim: 128,
            vat_dim: 64,
            batch_rows: 500,
            pushers: 2,
            queries: 400,
            exact_queries: 32,
            clients: vec![1, 16],
            k: 10,
            clusters: 20_000,
            seed: 2020,
            no_push: false,
            ef_search: None,
            recall_queries: 0,
        }
    }
}

/// Search latency of one (mode, clients) cell.
#[derive(Clone, Debug, Serialize)]
pub struct LatencyCell {
    pub mode: Mode,
    pub clients: usize,
    pub queries: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub mean_ms: f64,
    pub queries_per_s: f64,
    /// Every latency, in ms (for the plot).
    #[serde(skip)]
    pub latencies_ms: Vec<f64>,
}

/// The figures.
#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    pub rows: u64,
    pub devices: usize,
    pub rows_pushed: u64,
    pub push_s: f64,
    pub push_rows_per_s: f64,
    /// Throughput over the last tenth of the rows pushed (the index at its largest).
    pub push_tail_rows_per_s: f64,
    /// (rows in the table, rows/s) after each tenth of the push.
    pub push_curve: Vec<(u64, f64)>,
    pub table_mb: f64,
    pub hnsw_mb: f64,
    pub latency: Vec<LatencyCell>,
    pub recall_at_k: f64,
    pub recall_queries: usize,
    pub k: usize,
    /// The HNSW beam width the searches ran with.
    pub ef_search: usize,
    /// The build parameters of the query space's index, as the catalog has them (an index keeps
    /// those it was built with), e.g. "m=16, ef_construction=40".
    pub hnsw_options: String,
    pub va_dim: usize,
    pub vat_dim: usize,
    pub pushers: usize,
    pub server_version: String,
    /// The server's `shared_buffers` (HNSW search is fast while its pages stay in memory).
    pub shared_buffers: String,
    /// The server's `huge_pages` setting: with 4 kB pages every backend pays TLB misses and
    /// page faults on each index page it visits (on PostgreSQL 16 `try` does not say whether
    /// the kernel gave any).
    pub huge_pages: String,
}

impl BenchReport {
    /// Boards at one row a second that one such database keeps up with (sustained push rate).
    pub fn boards(&self) -> u64 {
        self.push_tail_rows_per_s.max(0.0).floor() as u64
    }
}

/// The model identity the simulated rows carry (never a real bundle's).
pub fn bench_model() -> ModelIdentity {
    ModelIdentity {
        name: "fleet-bench".into(),
        version: "0".into(),
        design: "fac".into(),
        manifest_sha256: "0".repeat(64),
    }
}

fn gaussian(rng: &mut StdRng) -> f32 {
    // Box-Muller.
    let u1: f32 = rng.random_range(f32::EPSILON..1.0);
    let u2: f32 = rng.random_range(0.0..1.0);
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

fn unit(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter_mut().for_each(|x| *x /= n);
}

/// Cluster centres and draws around them.
struct Space {
    dim: usize,
    centres: Vec<Vec<f32>>,
}

impl Space {
    fn new(dim: usize, clusters: usize, rng: &mut StdRng) -> Self {
        let centres = (0..clusters.max(1))
            .map(|_| {
                let mut c: Vec<f32> = (0..dim).map(|_| gaussian(rng)).collect();
                unit(&mut c);
                c
            })
            .collect();
        Self { dim, centres }
    }

    /// A unit vector near centre `c`: cosine to it about 0.8.
    fn draw(&self, c: usize, rng: &mut StdRng) -> Vec<f32> {
        let noise = 0.75 / (self.dim as f32).sqrt();
        let mut v: Vec<f32> = self.centres[c % self.centres.len()]
            .iter()
            .map(|&x| x + noise * gaussian(rng))
            .collect();
        unit(&mut v);
        v
    }
}

fn device_name(d: usize) -> String {
    format!("bench-{d:04}")
}

/// Runs the bench against the database at `admin_url` (its owner: the bench registers devices
/// and creates indexes). `progress` gets one line per step.
pub fn run(
    admin_url: &str,
    options: &BenchOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<BenchReport, FleetError> {
    let mut admin = url::connect(admin_url)?;
    schema::migrate(&mut admin)?;
    schema::ensure_hnsw(&mut admin, "va", options.va_dim)?;
    schema::ensure_hnsw(&mut admin, "vat", options.vat_dim)?;
    // Server settings the figures depend on, named in the report.
    let mut show = |name: &str| -> Result<String, FleetError> {
        admin
            .query_one(&format!("SHOW {name}"), &[])
            .map(|r| r.get(0))
            .map_err(FleetError::sql(format!("reading {name}")))
    };
    let (server_version, shared_buffers, huge_pages) = (
        show("server_version")?,
        show("shared_buffers")?,
        show("huge_pages")?,
    );
    let model = bench_model();
    let mut rng = StdRng::seed_from_u64(options.seed);
    let va = Space::new(options.va_dim, options.clusters, &mut rng);
    let vat = Space::new(options.vat_dim, options.clusters, &mut rng);

    // What each device already has.
    let mut have = vec![0i64; options.devices];
    for (d, h) in have.iter_mut().enumerate() {
        let name = device_name(d);
        admin
            .execute(
                "INSERT INTO fleet_devices (device, role) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&name, &roles::device_role(&name)],
            )
            .map_err(FleetError::sql("registering bench devices"))?;
        *h = admin
            .query_one(
                "SELECT coalesce(max(local_id), 0) FROM fleet_segments WHERE device = $1",
                &[&name],
            )
            .map(|r| r.get(0))
            .map_err(FleetError::sql("reading bench rows"))?;
    }
    admin
        .execute(
            "INSERT INTO fleet_models (name, version, design, manifest_sha256) \
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            &[
                &model.name,
                &model.version,
                &model.design,
                &model.manifest_sha256,
            ],
        )
        .map_err(FleetError::sql("recording the bench model"))?;
    let todo: u64 = have
        .iter()
        .map(|&h| (options.clips as i64 - h).max(0) as u64)
        .sum();
    let before = count_rows(&mut admin, &model)?;

    // Push: the devices dealt round-robin to the pushers; each pusher sends one batch of each
    // of its devices in turn (boards push concurrently, not one after another).
    let mut push_curve = Vec::new();
    let mut push_s = 0.0;
    let mut tail_rate = 0.0;
    if !options.no_push && todo > 0 {
        progress(&format!(
            "pushing {todo} rows ({} devices x {} clips, {} already there) with {} pushers",
            options.devices, options.clips, before, options.pushers
        ));
        let pushers = options.pushers.max(1);
        let done = std::sync::atomic::AtomicU64::new(0);
        let started = Instant::now();
        let marks = std::sync::Mutex::new(Vec::<(u64, f64)>::new());
        let tenth = (todo / 10).max(1);
        std::thread::scope(|scope| -> Result<(), FleetError> {
            let mut handles = Vec::new();
            for p in 0..pushers {
                let (va, vat, have, model) = (&va, &vat, &have, &model);
                let (done, marks) = (&done, &marks);
                handles.push(scope.spawn(move || -> Result<(), FleetError> {
                    let mut client = url::connect(admin_url)?;
                    let mut rng = StdRng::seed_from_u64(options.seed ^ (p as u64 + 1) << 32);
                    let mine: Vec<usize> = (p..options.devices).step_by(pushers).collect();
                    let mut next: Vec<i64> = mine.iter().map(|&d| have[d] + 1).collect();
                    loop {
                        let mut any = false;
                        for (slot, &d) in mine.iter().enumerate() {
                            let from = next[slot];
                            let to =
                                (from + options.batch_rows as i64 - 1).min(options.clips as i64);
                            if from > to {
                                continue;
                            }
                            any = true;
                            let rows: Vec<CentralRow> = (from..=to)
                                .map(|id| {
                                    let c = rng.random_range(0..options.clusters.max(1));
                                    CentralRow {
                                        local_id: id,
                                        model: model.clone(),
                                        path: format!("/var/lib/mmv/footage/{:05}.mp4", id / 100),
                                        file_sha256: format!("{:064x}", id / 100),
                                        clip: (id % 100) as i32,
                                        modality: "video".into(),
                                        start_s: (id % 100) as f64 * 1.6,
                                        end_s: (id % 100 + 1) as f64 * 1.6,
                                        indexed_at: Some(1.76e9 + id as f64),
                                        va: Some(Vector::from(va.draw(c, &mut rng))),
                                        vat: Some(Vector::from(vat.draw(c, &mut rng))),
                                        thumbnail: None,
                                    }
                                })
                                .collect();
                            let mut tx = client
                                .transaction()
                                .map_err(FleetError::sql("bench push"))?;
                            insert_rows(&mut tx, &device_name(d), &rows)?;
                            tx.commit().map_err(FleetError::sql("bench push"))?;
                            next[slot] = to + 1;
                            let n = rows.len() as u64;
                            let total = done.fetch_add(n, std::sync::atomic::Ordering::Relaxed) + n;
                            if total / tenth != (total - n) / tenth {
                                marks
                                    .lock()
                                    .expect("no panics while held")
                                    .push((total, started.elapsed().as_secs_f64()));
                            }
                        }
                        if !any {
                            return Ok(());
                        }
                    }
                }));
            }
            for h in handles {
                h.join().expect("pusher panicked")?;
            }
            Ok(())
        })?;
        push_s = started.elapsed().as_secs_f64();
        let mut marks = marks.into_inner().expect("no panics while held");
        marks.sort_by_key(|m| m.0);
        let mut prev = (0u64, 0.0f64);
        for &(n, t) in &marks {
            let rate = (n - prev.0) as f64 / (t - prev.1).max(1e-9);
            push_curve.push((before + n, rate));
            progress(&format!(
                "  {} rows in the table, {rate:.0} rows/s",
                before + n
            ));
            prev = (n, t);
        }
        tail_rate = push_curve.last().map_or(0.0, |c| c.1);
    }
    let rows = count_rows(&mut admin, &model)?;
    let rows_pushed = rows - before;
    let (table_mb, hnsw_mb) = sizes(&mut admin)?;
    admin
        .batch_execute("ANALYZE fleet_segments")
        .map_err(FleetError::sql("analyzing"))?;

    // Queries: text-style (vat space), drawn like the rows.
    let n_queries = options
        .queries
        .max(options.exact_queries)
        .max(options.recall_queries)
        .max(1);
    let queries: Vec<Query> = (0..n_queries)
        .map(|_| {
            let c = rng.random_range(0..options.clusters.max(1));
            Query {
                va: None,
                vat: Some(vat.draw(c, &mut rng)),
                text: true,
            }
        })
        .collect();
    let filter = Filter {
        ef_search: options.ef_search,
        ..Filter::default()
    };
    let mut latency = Vec::new();
    for &clients in &options.clients {
        for mode in [Mode::Hnsw, Mode::Exact] {
            let n = match mode {
                Mode::Hnsw => options.queries,
                Mode::Exact => options.exact_queries,
            }
            .max(clients);
            progress(&format!(
                "searching: {mode:?}, {clients} clients, {n} queries"
            ));
            let cell = time_queries(
                admin_url,
                &model,
                &queries[..n.min(queries.len())],
                n,
                clients,
                options.k,
                &filter,
                mode,
            )?;
            progress(&format!(
                "  p50 {:.1} ms, p99 {:.1} ms, {:.0} queries/s",
                cell.p50_ms, cell.p99_ms, cell.queries_per_s
            ));
            latency.push(cell);
        }
    }

    // Recall@k of HNSW against the exact scan.
    let recall_queries = match options.recall_queries {
        0 => options.exact_queries,
        n => n,
    }
    .clamp(1, queries.len());
    progress(&format!("recall@{}: {recall_queries} queries", options.k));
    let mut found = 0usize;
    let mut wanted = 0usize;
    for q in &queries[..recall_queries] {
        let key = |h: &search::FleetHit| (h.device.clone(), h.local_id);
        let exact: Vec<_> = search::top_k(&mut admin, &model, q, options.k, &filter, Mode::Exact)?
            .iter()
            .map(key)
            .collect();
        let hnsw: Vec<_> = search::top_k(&mut admin, &model, q, options.k, &filter, Mode::Hnsw)?
            .iter()
            .map(key)
            .collect();
        wanted += exact.len();
        found += exact.iter().filter(|e| hnsw.contains(e)).count();
    }
    Ok(BenchReport {
        rows,
        devices: options.devices,
        rows_pushed,
        push_s,
        push_rows_per_s: if push_s > 0.0 {
            rows_pushed as f64 / push_s
        } else {
            0.0
        },
        push_tail_rows_per_s: tail_rate,
        push_curve,
        table_mb,
        hnsw_mb,
        latency,
        recall_at_k: found as f64 / wanted.max(1) as f64,
        recall_queries,
        k: options.k,
        ef_search: options
            .ef_search
            .unwrap_or(search::DEFAULT_EF_SEARCH)
            .max(options.k * 4),
        hnsw_options: hnsw_options(&mut admin, options.vat_dim)?,
        va_dim: options.va_dim,
        vat_dim: options.vat_dim,
        pushers: options.pushers.max(1),
        server_version,
        shared_buffers,
        huge_pages,
    })
}

fn count_rows(client: &mut postgres::Client, model: &ModelIdentity) -> Result<u64, FleetError> {
    client
        .query_one(
            "SELECT count(*) FROM fleet_segments WHERE model_name = $1 AND model_version = $2",
            &[&model.name, &model.version],
        )
        .map(|r| r.get::<_, i64>(0) as u64)
        .map_err(FleetError::sql("counting bench rows"))
}

/// (table with its TOAST, HNSW indexes) in MB.
fn sizes(client: &mut postgres::Client) -> Result<(f64, f64), FleetError> {
    let r = client
        .query_one(
            "SELECT pg_table_size('fleet_segments')::float8, \
             coalesce((SELECT sum(pg_relation_size(indexrelid))::float8 FROM pg_index i \
              JOIN pg_class c ON c.oid = i.indexrelid \
              WHERE i.indrelid = 'fleet_segments'::regclass AND c.relname LIKE '%hnsw'), 0)",
            &[],
        )
        .map_err(FleetError::sql("reading sizes"))?;
    let mb = 1024.0 * 1024.0;
    Ok((r.get::<_, f64>(0) / mb, r.get::<_, f64>(1) / mb))
}

fn hnsw_options(client: &mut postgres::Client, vat_dim: usize) -> Result<String, FleetError> {
    let r = client
        .query_opt(
            "SELECT coalesce(array_to_string(reloptions, ', '), '') FROM pg_class WHERE relname = $1",
            &[&format!("fleet_segments_vat_{vat_dim}_hnsw")],
        )
        .map_err(FleetError::sql("reading the HNSW index's options"))?;
    Ok(r.map(|r| r.get(0)).unwrap_or_default())
}

/// `total` queries (cycling through `queries`) by `clients` concurrent connections.
#[allow(clippy::too_many_arguments)]
fn time_queries(
    db_url: &str,
    model: &ModelIdentity,
    queries: &[Query],
    total: usize,
    clients: usize,
    k: usize,
    filter: &Filter,
    mode: Mode,
) -> Result<LatencyCell, FleetError> {
    let started = Instant::now();
    let per: Vec<Vec<f64>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..clients)
            .map(|c| {
                scope.spawn(move || -> Result<Vec<f64>, FleetError> {
                    let mut client = url::connect(db_url)?;
                    // One warm-up query per connection (plans, the index's first pages).
                    search::top_k(
                        &mut client,
                        model,
                        &queries[c % queries.len()],
                        k,
                        filter,
                        mode,
                    )?;
                    let mut out = Vec::new();
                    for i in (c..total).step_by(clients) {
                        let t = Instant::now();
                        search::top_k(
                            &mut client,
                            model,
                            &queries[i % queries.len()],
                            k,
                            filter,
                            mode,
                        )?;
                        out.push(t.elapsed().as_secs_f64() * 1e3);
                    }
                    Ok(out)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("client panicked"))
            .collect::<Result<Vec<_>, _>>()
    })?;
    let wall = started.elapsed();
    let mut all: Vec<f64> = per.into_iter().flatten().collect();
    all.sort_by(f64::total_cmp);
    let pct = |p: f64| all[((all.len() as f64 - 1.0) * p).round() as usize];
    Ok(LatencyCell {
        mode,
        clients,
        queries: all.len(),
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        mean_ms: all.iter().sum::<f64>() / all.len() as f64,
        queries_per_s: all.len() as f64 / wall.max(Duration::from_millis(1)).as_secs_f64(),
        latencies_ms: all,
    })
}

/// The report as a markdown table (what goes into the README).
pub fn markdown(r: &BenchReport, machine: &str) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "{} rows ({} devices; va {} + vat {} floats each), PostgreSQL {} (shared_buffers {}, \
         huge_pages {}), \
         {machine}; table {:.0} MB, HNSW indexes {:.0} MB ({}), searched with ef_search = {}{}.\n\n",
        r.rows,
        r.devices,
        r.va_dim,
        r.vat_dim,
        r.server_version,
        r.shared_buffers,
        r.huge_pages,
        r.table_mb,
        r.hnsw_mb,
        r.hnsw_options,
        r.ef_search,
        if r.rows_pushed > 0 {
            format!("; {} concurrent pushers", r.pushers)
        } else {
            String::new()
        }
    ));
    s.push_str("| measure | HNSW | exact scan |\n| --- | --- | --- |\n");
    for clients in r
        .latency
        .iter()
        .map(|c| c.clients)
        .collect::<std::collections::BTreeSet<_>>()
    {
        let cell = |m: Mode| {
            r.latency
                .iter()
                .find(|c| c.clients == clients && c.mode == m)
        };
        let fmt = |c: Option<&LatencyCell>| {
            c.map_or("-".to_string(), |c| {
                format!(
                    "{:.1} / {:.1} ms ({:.0} q/s, n={})",
                    c.p50_ms, c.p99_ms, c.queries_per_s, c.queries
                )
            })
        };
        s.push_str(&format!(
            "| search p50 / p99, {clients} client{} | {} | {} |\n",
            if clients == 1 { "" } else { "s" },
            fmt(cell(Mode::Hnsw)),
            fmt(cell(Mode::Exact))
        ));
    }
    s.push_str(&format!(
        "| recall@{} against the exact scan ({} queries) | {:.3} | 1 |\n",
        r.k, r.recall_queries, r.recall_at_k
    ));
    if r.rows_pushed > 0 {
        s.push_str(&format!(
            "| push, whole run ({} rows in {:.0} s) | {:.0} rows/s | |\n\
             | push, last tenth (table at its largest) | {:.0} rows/s = {} boards at 1 row/s | |\n",
            r.rows_pushed,
            r.push_s,
            r.push_rows_per_s,
            r.push_tail_rows_per_s,
            r.boards()
        ));
    }
    s
}
