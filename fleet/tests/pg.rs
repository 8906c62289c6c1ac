//! The fleet layer against a real PostgreSQL + pgvector (see `mmv_fleet::testing`): schema
//! migrations, row-level security between devices, push (idempotent, resumable, pending files
//! held back) and search (HNSW agrees with the exact scan, filters, other models).
//!
//! Each test skips, saying why, where no PostgreSQL can be started; CI installs one.

use std::path::Path;

use mmv_fleet::push::{LocalIndex, PushOptions, central_rows, push, target_of};
use mmv_fleet::search::{Filter, Mode, top_k};
use mmv_fleet::testing::PgServer;
use mmv_fleet::{ModelIdentity, roles, schema, url};
use mmv_runtime::index::{Index, Modality, ModelKey, NewFile, NewSegment, Query};

fn server() -> Option<PgServer> {
    PgServer::for_test()
}

fn model() -> ModelIdentity {
    ModelIdentity {
        name: "test-model".into(),
        version: "1.0.0".into(),
        design: "fac".into(),
        manifest_sha256: "ab".repeat(32),
    }
}

fn unit(seed: u64, dim: usize) -> Vec<f32> {
    mmv_fleet::testing::unit_vector(seed, dim)
}

/// A local index with `files` complete files of `clips` video rows each (va 16, vat 8), and
/// optionally one pending file after them.
fn make_index(path: &Path, seed: u64, files: usize, clips: u32, pending: bool) {
    let mut index = Index::open(path).unwrap();
    let m = model();
    let id = index
        .model_id(&ModelKey {
            name: m.name,
            version: m.version,
            design: m.design,
        })
        .unwrap();
    for f in 0..files + usize::from(pending) {
        let rec = index
            .begin_file(
                id,
                &NewFile {
                    sha256: format!("{seed:032x}{f:032x}"),
                    path: format!("/footage/{seed}/{f}.y4m"),
                    bytes: 1000,
                    kind: "y4m".into(),
                    window_s: 1.6,
                    stride_s: 1.6,
                },
            )
            .unwrap();
        let segs: Vec<NewSegment> = (0..clips)
            .map(|c| {
                let k = seed * 1_000_000 + f as u64 * 1000 + c as u64;
                NewSegment {
                    clip: c,
                    modality: if c % 3 == 2 {
                        Modality::Audio
                    } else {
                        Modality::Video
                    },
                    start_s: c as f64 * 1.6,
                    end_s: (c + 1) as f64 * 1.6,
                    va: Some(unit(k, 16)),
                    vat: (c % 3 != 2).then(|| unit(k + 7, 8)),
                    thumbnail: Some(vec![0xFF, 0xD8, c as u8]),
                }
            })
            .collect();
        let complete = (f < files).then_some(clips as f64 * 1.6);
        index
            .commit_clips(rec.id, 0, clips, &segs, complete)
            .unwrap();
    }
}

fn setup(server: &PgServer) -> postgres::Client {
    let mut admin = url::connect(&server.admin_url()).unwrap();
    assert_eq!(schema::migrate(&mut admin).unwrap(), 0);
    // Idempotent.
    assert_eq!(
        schema::migrate(&mut admin).unwrap(),
        schema::current_version()
    );
    schema::ensure_hnsw(&mut admin, "va", 16).unwrap();
    schema::ensure_hnsw(&mut admin, "vat", 8).unwrap();
    schema::ensure_hnsw(&mut admin, "vat", 8).unwrap();
    assert_eq!(
        schema::hnsw_indexes(&mut admin).unwrap(),
        vec![("va".to_string(), 16), ("vat".to_string(), 8)]
    );
    admin
}

#[test]
fn device_roles_cannot_touch_each_others_rows() {
    let Some(server) = server() else { return };
    let mut admin = setup(&server);
    roles::add_device(&mut admin, "cam-a", "pw-a-123").unwrap();
    roles::add_device(&mut admin, "cam-b", "pw-b-456").unwrap();
    roles::add_reader(&mut admin, "viewer", "pw-r-789").unwrap();
    // A second add changes the password only.
    roles::add_device(&mut admin, "cam-a", "pw-a-123").unwrap();
    assert_eq!(
        roles::devices(&mut admin).unwrap(),
        vec![
            ("cam-a".to_string(), "mmv_dev_cam_a".to_string()),
            ("cam-b".to_string(), "mmv_dev_cam_b".to_string())
        ]
    );
    let dir = tempfile::tempdir().unwrap();
    for (name, pw, seed) in [("cam-a", "pw-a-123", 1), ("cam-b", "pw-b-456", 2)] {
        let path = dir.path().join(format!("{name}.db"));
        make_index(&path, seed, 1, 5, false);
        let url = server.url(&roles::device_role(name), pw);
        let r = push(
            &path,
            &url,
            &PushOptions::new(name, vec![model()]),
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(r.rows_pushed, 5);
    }

    // A wrong password is refused, and the message does not repeat it.
    let err = url::connect(&server.url("mmv_dev_cam_a", "wrong-pw-xyz"))
        .err()
        .expect("a wrong password connects")
        .to_string();
    assert!(!err.contains("wrong-pw-xyz"), "{err}");
    assert!(err.contains("***"), "{err}");

    let mut a = url::connect(&server.url("mmv_dev_cam_a", "pw-a-123")).unwrap();
    // cam-a cannot see cam-b's rows, so an update of them changes nothing...
    let n = a
        .execute(
            "UPDATE fleet_segments SET path = 'hijacked' WHERE device = 'cam-b'",
            &[],
        )
        .unwrap();
    assert_eq!(n, 0);
    // ...cannot move its own rows to cam-b...
    let err = a
        .execute(
            "UPDATE fleet_segments SET device = 'cam-b', local_id = local_id + 1000 \
             WHERE device = 'cam-a'",
            &[],
        )
        .unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("42501"), "{err}");
    // ...cannot insert rows as cam-b (through the push code path too)...
    let forged = dir.path().join("forged.db");
    make_index(&forged, 3, 1, 5, false);
    let url_a = server.url("mmv_dev_cam_a", "pw-a-123");
    let err = push(
        &forged,
        &url_a,
        &PushOptions::new("cam-b", vec![model()]),
        &mut |_| {},
    )
    .expect_err("cam-a pushed as cam-b");
    assert!(
        err.to_string()
            .contains("may not write rows of device \"cam-b\""),
        "{err}"
    );
    // ...and cannot delete anything, its own rows included.
    let err = a
        .execute("DELETE FROM fleet_segments WHERE device = 'cam-a'", &[])
        .unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("42501"), "{err}");
    // It may update its own rows.
    let n = a
        .execute(
            "UPDATE fleet_segments SET path = path WHERE device = 'cam-a'",
            &[],
        )
        .unwrap();
    assert_eq!(n, 5);
    // cam-b's rows are untouched.
    let untouched: i64 = admin
        .query_one(
            "SELECT count(*) FROM fleet_segments WHERE device = 'cam-b' AND path LIKE '/footage/2/%'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(untouched, 5);

    // The reader sees everything and writes nothing.
    let mut r = url::connect(&server.url("viewer", "pw-r-789")).unwrap();
    let all: i64 = r
        .query_one("SELECT count(*) FROM fleet_segments", &[])
        .unwrap()
        .get(0);
    assert_eq!(all, 10);
    let err = r
        .execute("UPDATE fleet_segments SET path = 'x'", &[])
        .unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("42501"), "{err}");
    // Neither may migrate the schema.
    assert!(schema::migrate(&mut r).is_err());
    assert!(schema::migrate(&mut a).is_err());
}

#[test]
fn push_is_idempotent_resumable_and_holds_back_pending_files() {
    let Some(server) = server() else { return };
    let mut admin = setup(&server);
    roles::add_device(&mut admin, "cam-a", "pw-a").unwrap();
    let url = server.url("mmv_dev_cam_a", "pw-a");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.db");
    make_index(&path, 1, 3, 10, true);
    let mut options = PushOptions::new("cam-a", vec![model()]);
    options.batch_rows = 7;
    let mut batches = 0;
    let r = push(&path, &url, &options, &mut |e| {
        if let mmv_fleet::push::PushEvent::Batch { .. } = e {
            batches += 1
        }
    })
    .unwrap();
    // 30 rows of complete files in batches of 7; the pending file's 10 rows wait.
    assert_eq!((r.rows_pushed, r.batches, batches), (30, 5, 5));
    assert_eq!(r.local_rows, 30);
    assert_eq!(central_rows(&mut admin, "cam-a").unwrap(), 30);
    // Again: nothing new.
    let r = push(&path, &url, &options, &mut |_| {}).unwrap();
    assert_eq!(r.rows_pushed, 0);
    // A cursor set back (as if the process died after the commit and before the local
    // update): the rows go again and the key absorbs them.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute("UPDATE fleet_push_cursor SET last_local_id = 4", [])
        .unwrap();
    drop(conn);
    let r = push(&path, &url, &options, &mut |_| {}).unwrap();
    assert_eq!(r.rows_pushed, 26);
    assert_eq!(central_rows(&mut admin, "cam-a").unwrap(), 30);
    let local = LocalIndex::open(&path).unwrap();
    assert_eq!(
        local.cursor(&target_of(&url).unwrap(), "cam-a").unwrap(),
        30
    );
    // Rows carry the model, file, times, thumbnail and time of indexing.
    let row = admin
        .query_one(
            "SELECT model_name, manifest_sha256, path, clip, modality, start_s, end_s, \
             thumbnail, indexed_at IS NOT NULL, vector_dims(va), vector_dims(vat) \
             FROM fleet_segments WHERE device = 'cam-a' AND local_id = 2",
            &[],
        )
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "test-model");
    assert_eq!(row.get::<_, String>(1), "ab".repeat(32));
    assert_eq!(row.get::<_, String>(2), "/footage/1/0.y4m");
    assert_eq!(row.get::<_, i32>(3), 1);
    assert_eq!(row.get::<_, String>(4), "video");
    assert_eq!(row.get::<_, f64>(5), 1.6);
    assert_eq!(row.get::<_, Vec<u8>>(7), vec![0xFF, 0xD8, 1]);
    assert!(row.get::<_, bool>(8));
    assert_eq!(row.get::<_, i32>(9), 16);
    assert_eq!(row.get::<_, i32>(10), 8);

    // Search: HNSW and exact agree with the local index's own top-k, for a text-style query
    // (vat only) and an image-style one (both spaces); filters apply.
    let index = Index::open_existing(&path).unwrap();
    let m = model();
    let key = ModelKey {
        name: m.name.clone(),
        version: m.version.clone(),
        design: m.design.clone(),
    };
    let table = index.load_model_table(&key).unwrap();
    for (q, mods) in [
        (
            Query {
                va: None,
                vat: Some(unit(99, 8)),
                text: true,
            },
            vec![],
        ),
        (
            Query {
                va: Some(unit(98, 16)),
                vat: Some(unit(97, 8)),
                text: false,
            },
            vec![],
        ),
        (
            Query {
                va: Some(unit(96, 16)),
                vat: Some(unit(95, 8)),
                text: false,
            },
            vec![Modality::Audio],
        ),
    ] {
        let local: Vec<i64> = table
            .top_k(&q, 5, &mods)
            .iter()
            .map(|h| h.segment_id)
            .collect();
        let filter = Filter {
            modalities: mods.clone(),
            ..Filter::default()
        };
        for mode in [Mode::Hnsw, Mode::Exact] {
            let hits = top_k(&mut admin, &m, &q, 5, &filter, mode).unwrap();
            let ids: Vec<i64> = hits.iter().map(|h| h.local_id).collect();
            assert_eq!(ids, local, "{mode:?} {q:?}");
            let scores: Vec<f32> = table.top_k(&q, 5, &mods).iter().map(|h| h.score).collect();
            for (h, s) in hits.iter().zip(scores) {
                assert!((h.score - s).abs() < 1e-4, "{} vs {s}", h.score);
                assert_eq!(h.device, "cam-a");
            }
        }
    }
    let q = Query {
        va: None,
        vat: Some(unit(99, 8)),
        text: true,
    };
    // Another device, a time range in the future, another model: nothing.
    let mut hits =
        |f: Filter, m: &ModelIdentity| top_k(&mut admin, m, &q, 5, &f, Mode::Hnsw).unwrap().len();
    let other_device = Filter {
        devices: vec!["cam-z".into()],
        ..Filter::default()
    };
    assert_eq!(hits(other_device, &m), 0);
    let future = Filter {
        since: Some("2999-01-01".into()),
        ..Filter::default()
    };
    assert_eq!(hits(future, &m), 0);
    let mut other = m.clone();
    other.manifest_sha256 = "cd".repeat(32);
    assert_eq!(hits(Filter::default(), &other), 0);
    let all = Filter {
        since: Some("2000-01-01".into()),
        until: Some("2999-01-01".into()),
        devices: vec!["cam-a".into()],
        modalities: vec![Modality::Video],
        // Narrower than the 4 x k candidates a search needs: widened to them.
        ef_search: Some(1),
    };
    assert_eq!(hits(all, &m), 5);
    assert_eq!(
        mmv_fleet::search::other_models(&mut admin, &other).unwrap(),
        vec![m.clone()]
    );
    // What `mmv fleet serve` shows: the model's rows and devices, a row's thumbnail, and
    // nothing of a row for another model.
    let rows = admin
        .query_one(
            "SELECT count(*), count(DISTINCT device) FROM fleet_segments WHERE model_name = 'test-model'",
            &[],
        )
        .unwrap();
    assert_eq!(
        mmv_fleet::search::model_counts(&mut admin, &m).unwrap(),
        (rows.get::<_, i64>(0), rows.get::<_, i64>(1))
    );
    assert_eq!(
        mmv_fleet::search::thumbnail(&mut admin, &m, "cam-a", 2).unwrap(),
        Some(vec![0xFF, 0xD8, 1])
    );
    assert_eq!(
        mmv_fleet::search::thumbnail(&mut admin, &other, "cam-a", 2).unwrap(),
        None
    );
}
