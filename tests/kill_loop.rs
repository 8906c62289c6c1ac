//! Crash and power loss (issue 14): `mmv index` and `mmv-host` (with the real bundle, on file
//! sources) are killed with SIGKILL at random points, again and again, within a bounded time.
//! Just before each kill the rows already committed are read by a second connection (SQLite
//! WAL: a reader sees exactly the committed transactions); after it the index must pass
//! `PRAGMA integrity_check` and still hold every one of those rows, unchanged. Prints kills,
//! rows checked and rows lost (which must be 0).
//!
//! `cli/tests/cli.rs` (`sigkill_mid_ingest_then_rerun_...`) checks the other half for `mmv index`:
//! that a rerun after kills finishes with every file exactly once, as an uninterrupted run.
//!
//! `MMV_KILL_LOOP_KILLS` (default 50) kills per binary, within `MMV_KILL_LOOP_SECONDS` (default
//! 150) each.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mmv_e2e::{repo_root, workspace_binary};
use rand::{Rng, SeedableRng};
use rusqlite::{Connection, OpenFlags};

/// Committed rows: a key naming the row (file, clip, modality) -> its embedding bytes.
type Rows = BTreeMap<(String, i64, String), Vec<u8>>;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The committed rows, as a separate reader sees them (empty before the file has a schema).
/// `key` picks the column naming a file: its content hash (`mmv index`) or its path (the
/// daemon's live chunks).
fn committed(db: &Path, key: &str) -> Rows {
    let Ok(conn) = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY) else {
        return Rows::new();
    };
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    // The two blobs are read apart: SQLite's `||` would turn them into text.
    let sql = format!(
        "SELECT f.{key}, s.clip, s.modality, s.va, s.vat \
         FROM segments s JOIN files f ON f.id = s.file_id"
    );
    let Ok(mut stmt) = conn.prepare(&sql) else {
        return Rows::new();
    };
    let row = |r: &rusqlite::Row| -> rusqlite::Result<((String, i64, String), Vec<u8>)> {
        let va: Option<Vec<u8>> = r.get(3)?;
        let vat: Option<Vec<u8>> = r.get(4)?;
        let bytes = [va.unwrap_or_default(), vat.unwrap_or_default()].concat();
        Ok(((r.get(0)?, r.get(1)?, r.get(2)?), bytes))
    };
    stmt.query_map([], row)
        .and_then(|rows| rows.collect())
        .expect("the committed rows read back")
}

fn integrity(db: &Path) -> String {
    let conn = Connection::open(db).unwrap();
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap()
}

struct Tally {
    kills: usize,
    /// Kills that landed after at least one row was committed.
    kills_with_rows: usize,
    rows_checked: usize,
    rows_lost: usize,
    restarts: usize,
}

impl Tally {
    /// Nothing lost, and enough kills landed (at least 10 of them after a commit) for that to
    /// mean something.
    fn assert_enough_and_nothing_lost(&self) {
        assert_eq!(self.rows_lost, 0);
        assert!(self.kills >= 20, "only {} kills landed", self.kills);
        assert!(
            self.kills_with_rows >= 10,
            "only {} kills after a commit",
            self.kills_with_rows
        );
    }
}

/// Starts `spawn()` again and again, kills it at a random point, checks the index.
fn kill_loop(
    what: &str,
    db: &Path,
    key: &str,
    max_delay_ms: u64,
    mut spawn: impl FnMut() -> Child,
    mut done: impl FnMut(&Path) -> bool,
) -> Tally {
    let kills_wanted = env_or("MMV_KILL_LOOP_KILLS", 50) as usize;
    let budget = Duration::from_secs(env_or("MMV_KILL_LOOP_SECONDS", 150));
    let mut rng = rand::rngs::StdRng::seed_from_u64(14);
    let mut t = Tally {
        kills: 0,
        kills_with_rows: 0,
        rows_checked: 0,
        rows_lost: 0,
        restarts: 0,
    };
    let t0 = Instant::now();
    while t.kills < kills_wanted && t0.elapsed() < budget {
        if done(db) {
            // The job is finished: start it over on a new file, so that kills keep landing
            // in the middle of work.
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
            }
            t.restarts += 1;
        }
        let baseline = committed(db, key).len();
        let mut child = spawn();
        // A quarter of the kills land anywhere in the first `max_delay_ms` (start-up, schema
        // creation, the first batch); the rest wait until the run has committed something new
        // (however long loading the bundle takes on a busy machine) and land a little after,
        // in the middle of the next batch.
        let delay = if rng.random_bool(0.25) {
            Duration::from_millis(rng.random_range(0..max_delay_ms))
        } else {
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(60)
                && child.try_wait().unwrap().is_none()
                && committed(db, key).len() <= baseline
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            start.elapsed() + Duration::from_millis(rng.random_range(0..400))
        };
        let start = Instant::now();
        while start.elapsed() < delay {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        // What is committed now must survive the kill.
        let before = committed(db, key);
        if child.try_wait().unwrap().is_some() {
            continue; // it finished (or failed) before the kill: not a kill
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        t.kills += 1;
        if !before.is_empty() {
            t.kills_with_rows += 1;
        }
        if !db.exists() {
            continue;
        }
        assert_eq!(
            integrity(db),
            "ok",
            "{what}: integrity after kill {}",
            t.kills
        );
        let after = committed(db, key);
        t.rows_checked += before.len();
        let lost: Vec<_> = before
            .iter()
            .filter(|(k, v)| after.get(*k) != Some(*v))
            .map(|(k, _)| k.clone())
            .collect();
        t.rows_lost += lost.len();
        assert!(
            lost.is_empty(),
            "{what}: kill {} lost rows {lost:?}",
            t.kills
        );
    }
    eprintln!(
        "{what}: {} kills ({} with rows committed) in {:.0} s, {} restarts on a new file; \
         {} committed rows checked after the kills, {} lost",
        t.kills,
        t.kills_with_rows,
        t0.elapsed().as_secs_f64(),
        t.restarts,
        t.rows_checked,
        t.rows_lost
    );
    t
}

fn tone_wav(path: &Path, seconds: f32, hz: f32) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..(16_000.0 * seconds) as usize {
        let x = (i as f32 * hz * std::f32::consts::TAU / 16_000.0).sin();
        w.write_sample((x * 8000.0) as i16).unwrap();
    }
    w.finalize().unwrap();
}

/// Frames of a grey level that changes with the frame and with `seed` (so files differ).
fn grey_y4m(path: &Path, frames: usize, seed: usize) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(f, "YUV4MPEG2 W64 H48 F10:1 Ip A1:1 C420jpeg").unwrap();
    for i in 0..frames {
        f.write_all(b"FRAME\n").unwrap();
        let level = ((i * 7 + seed * 31) % 200 + 20) as u8;
        f.write_all(&vec![level; 64 * 48]).unwrap();
        f.write_all(&vec![128; 2 * 32 * 24]).unwrap();
    }
}

#[test]
fn sigkill_mmv_index_at_random_points_never_loses_a_committed_row() {
    let tmp = tempfile::tempdir().unwrap();
    let footage = tmp.path().join("footage");
    std::fs::create_dir_all(&footage).unwrap();
    for i in 0..24 {
        tone_wav(
            &footage.join(format!("tone{i:02}.wav")),
            6.0,
            200.0 + 40.0 * i as f32,
        );
    }
    for i in 0..6 {
        grey_y4m(&footage.join(format!("clip{i}.y4m")), 80, i);
    }
    let db = tmp.path().join("index.db");
    let bundle = repo_root().join("models/avdigits-fac-s3d");
    let mmv = workspace_binary("mmv");
    let t = kill_loop(
        "mmv index",
        &db,
        "sha256",
        2500,
        || {
            Command::new(&mmv)
                .args(["index", "--batch", "1", "--no-thumbnails", "--bundle"])
                .arg(&bundle)
                .arg(&db)
                .arg(&footage)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        },
        |db| {
            Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)
                .and_then(|c| {
                    c.query_row(
                        "SELECT count(*) = 30 FROM files WHERE status = 'complete'",
                        [],
                        |r| r.get::<_, bool>(0),
                    )
                })
                .unwrap_or(false)
        },
    );
    t.assert_enough_and_nothing_lost();
}

#[test]
fn sigkill_mmv_host_at_random_points_never_loses_a_committed_row() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    grey_y4m(&d.join("camera.y4m"), 100, 0);
    tone_wav(&d.join("mic.wav"), 10.0, 440.0);
    let db = d.join("live.db");
    let bundle = repo_root().join("models/avdigits-fac-s3d");
    let config = d.join("mmv-host.toml");
    std::fs::write(
        &config,
        format!(
            "[bundle]\ndir = {bundle:?}\nprecision = \"fp32\"\n\n\
             [camera]\nsource = \"y4m\"\npath = \"camera.y4m\"\nat_end = \"loop\"\n\n\
             [microphone]\nsource = \"wav\"\npath = \"mic.wav\"\nat_end = \"loop\"\n\n\
             [index]\npath = \"live.db\"\nbatch = 2\n\n\
             [outputs]\ntags = \"tags.jsonl\"\nframebuffer = \"off\"\n",
            bundle = bundle.display().to_string()
        ),
    )
    .unwrap();
    let host = workspace_binary("mmv-host");
    let mut rounds = 0;
    let t = kill_loop(
        "mmv-host",
        &db,
        "path",
        2500,
        || {
            Command::new(&host)
                .arg("--config")
                .arg(&config)
                .current_dir(d)
                .env("MMV_LOG", "error")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        },
        // The daemon loops its sources forever; a new file every 10 kills keeps it small.
        move |_: &Path| {
            rounds += 1;
            rounds % 10 == 0
        },
    );
    t.assert_enough_and_nothing_lost();
}
