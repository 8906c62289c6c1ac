//! The `mmv` binary as a user runs it: help, info, tag, index, search; and index durability
//! under SIGKILL (a real child process killed mid-ingest, then rerun).

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use common::{fixture, mmv, ok};
use mmv_runtime::index::{FileStatus, Index};
use rusqlite::Connection;

fn json(out: Output) -> serde_json::Value {
    serde_json::from_str(&ok(out)).unwrap()
}

#[test]
fn every_command_has_help() {
    for cmd in ["info", "embed", "tag", "index", "search", "demo"] {
        let out = ok(mmv().args([cmd, "--help"]).output().unwrap());
        assert!(out.contains("Usage: mmv"), "{cmd}: {out}");
        assert!(out.contains("--json"), "{cmd}: {out}");
    }
    let out = ok(mmv().arg("--help").output().unwrap());
    for cmd in ["info", "embed", "tag", "index", "search", "demo"] {
        assert!(out.contains(cmd));
    }
}

#[test]
fn info_tag_index_search_and_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let bundle = d.join("bundle");
    fixture::write_bundle(&bundle);
    common::digits_y4m(&d.join("a.y4m"), &[3, 7]);
    let b = bundle.to_str().unwrap();

    let info = json(
        mmv()
            .args(["info", b, "--check", "--json"])
            .output()
            .unwrap(),
    );
    assert_eq!(info["manifest"]["name"], "test-fixture");
    assert_eq!(info["check"]["precision"], "fp32");
    let text = ok(mmv().args(["info", b]).output().unwrap());
    assert!(
        text.contains("test-fixture") && text.contains("clip.onnx"),
        "{text}"
    );

    // `mmv tag` on the fixture footage with more arguments.
    let tag = |more: &[&str]| {
        mmv()
            .args(["tag", "--bundle", b])
            .args(more)
            .arg(d.join("a.y4m"))
            .output()
            .unwrap()
    };
    let tags = json(tag(&["--json", "--top-k", "2"]));
    let clips = tags["clips"].as_array().unwrap();
    // `mmv tag` reads windows half a window apart: two windows' length of footage gives four
    // (starting at 0, 1/2, 1 and 3/2 windows; the last one half filled); `--stride` of one
    // window gives the two side by side.
    let starts: Vec<f64> = clips
        .iter()
        .map(|c| c["start_s"].as_f64().unwrap())
        .collect();
    assert_eq!(starts.len(), 4, "{starts:?}");
    let window = starts[2];
    assert!(window > 0.0);
    assert!((starts[1] - window / 2.0).abs() < 1e-9, "{starts:?}");
    assert!((starts[3] - 1.5 * window).abs() < 1e-9, "{starts:?}");
    assert_eq!(clips[0]["tags"]["video"].as_array().unwrap().len(), 2);
    let side_by_side = json(tag(&["--json", "--stride", &window.to_string()]));
    assert_eq!(side_by_side["clips"].as_array().unwrap().len(), 2);
    // Without an open-set cut the file's answer is its best label; a cut of 1.0 (no cosine
    // of a real embedding reaches it) makes every answer "none", and the table says so.
    let file = &tags["files"][0]["answers"]["video"];
    assert!(file["label"].is_string(), "{file}");
    let none = json(tag(&["--json", "--threshold", "1.0"]));
    assert!(
        none["files"][0]["answers"]["video"]["label"].is_null(),
        "{none}"
    );
    assert_eq!(none["clips"][0]["tags"]["video"][0]["present"], false);
    let table = ok(tag(&["--threshold", "1.0"]));
    assert!(table.contains("none ("), "{table}");
    let bad = tag(&["--threshold", "1.5"]);
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success() && err.contains("cosine"), "{err}");
    // A calibration file beside the bundle: its contrast cut (above any real contrast) makes
    // every answer "none"; a file that is not one is a clear error naming it.
    let set = d.join("open-set.json");
    let set_arg = set.to_str().unwrap();
    std::fs::write(
        &set,
        r#"{"thresholds": {"video": 1.9}, "score": "contrast", "method": "test",
            "labels": "avdigits", "target_negative_rate": 0.01, "made_by": "test"}"#,
    )
    .unwrap();
    let none = json(tag(&["--json", "--open-set", set_arg]));
    assert!(
        none["files"][0]["answers"]["video"]["label"].is_null(),
        "{none}"
    );
    // A typicality cut whose label Gaussians are not of the text space's width: refused,
    // naming the file, before any footage is read.
    std::fs::write(
        &set,
        r#"{"thresholds": {"video": -5.0}, "score": "contrast",
            "modality_scores": {"video": "typicality"},
            "gaussians": {"video": {"means": [[0.0, 0.0]], "precision": [[1.0, 0.0], [0.0, 1.0]], "samples": 2}},
            "method": "test", "labels": "avdigits", "target_negative_rate": 0.01, "made_by": "test"}"#,
    )
    .unwrap();
    let bad = tag(&["--open-set", set_arg]);
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        !bad.status.success()
            && err.contains("open-set.json")
            && err.contains("values per embedding")
            && !err.contains("panicked"),
        "{err}"
    );
    std::fs::write(&set, r#"{"thresholds": {"smell": 0.3}}"#).unwrap();
    let bad = tag(&["--open-set", set_arg]);
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        !bad.status.success() && err.contains("open-set.json") && !err.contains("panicked"),
        "{err}"
    );

    let labels = d.join("labels.txt");
    std::fs::write(&labels, "# two labels\nseven | the number seven\nbright\n").unwrap();
    let table = ok(mmv()
        .args(["tag", "--bundle", b, "--labels"])
        .arg(&labels)
        .arg(d.join("a.y4m"))
        .output()
        .unwrap());
    assert!(
        table.contains("seven") && table.contains("bright"),
        "{table}"
    );

    let db = d.join("i.db");
    let out = json(
        mmv()
            .args(["index", "--json", "--bundle", b])
            .arg(&db)
            .arg(d)
            .output()
            .unwrap(),
    );
    assert_eq!(out["stats"]["files_complete"], 1);
    let out = ok(mmv()
        .args(["index", "--bundle", b])
        .arg(&db)
        .arg(d)
        .output()
        .unwrap());
    assert!(out.contains("already indexed"), "{out}");

    let hits = json(
        mmv()
            .args([
                "search", "--bundle", b, "--json", "--text", "seven", "--top-k", "1",
            ])
            .arg(&db)
            .output()
            .unwrap(),
    );
    assert_eq!(hits["hits"].as_array().unwrap().len(), 1);
    assert_eq!(hits["rows_searched"], 2);
    // `--open-set`: a cosine cut above any text query's score marks the hit (not hides it).
    let marks = d.join("marks.json");
    std::fs::write(
        &marks,
        r#"{"thresholds": {"video": 0.99}, "score": "cosine", "method": "test",
            "labels": "avdigits", "target_negative_rate": 0.01, "made_by": "test"}"#,
    )
    .unwrap();
    let marked = json(
        mmv()
            .args([
                "search", "--bundle", b, "--json", "--text", "seven", "--top-k", "1",
            ])
            .arg("--open-set")
            .arg(&marks)
            .arg(&db)
            .output()
            .unwrap(),
    );
    assert_eq!(marked["hits"].as_array().unwrap().len(), 1);
    assert_eq!(marked["hits"][0]["below_cut"], true, "{marked}");
    assert!(hits["hits"][0]["below_cut"].is_null(), "{hits}");
    let thumbs = d.join("thumbs");
    ok(mmv()
        .args(["search", "--bundle", b, "--text", "seven", "--thumbnails"])
        .arg(&thumbs)
        .arg(&db)
        .output()
        .unwrap());
    assert!(thumbs.join("01.jpg").is_file());
    let info = json(mmv().args(["info", "--json"]).arg(&db).output().unwrap());
    assert_eq!(info["files_complete"], 1);

    // Errors: clear messages and a failing status, never a panic.
    let err = |args: &[&str]| {
        let out = mmv().args(args).output().unwrap();
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            stderr.starts_with("error:") || stderr.contains("error:"),
            "{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
        stderr
    };
    let missing_db = d.join("none.db");
    let e = err(&[
        "search",
        "--bundle",
        b,
        "--text",
        "seven",
        missing_db.to_str().unwrap(),
    ]);
    assert!(e.contains("no index at"), "{e}");
    let e = err(&[
        "search",
        "--bundle",
        "/nonexistent",
        "--text",
        "x",
        db.to_str().unwrap(),
    ]);
    assert!(e.contains("no model bundle at /nonexistent"), "{e}");
    let e = err(&[
        "search",
        "--bundle",
        b,
        "--text",
        "zebra",
        db.to_str().unwrap(),
    ]);
    assert!(e.contains("vocabulary"), "{e}");
    let huge = "seven ".repeat(10_000);
    let e = err(&[
        "search",
        "--bundle",
        b,
        "--text",
        &huge,
        db.to_str().unwrap(),
    ]);
    assert!(e.contains("at most 4096"), "{e}");
    let bad = d.join("bad");
    std::fs::create_dir(&bad).unwrap();
    std::fs::write(
        bad.join("cut.y4m"),
        b"YUV4MPEG2 W64 H64 F10:1\nFRAME\n\x10\x10",
    )
    .unwrap();
    let e = err(&[
        "index",
        "--bundle",
        b,
        db.to_str().unwrap(),
        bad.to_str().unwrap(),
    ]);
    assert!(e.contains("failed"), "{e}");
    let e = err(&["demo", "--bundle", "/nonexistent"]);
    assert!(e.contains("no model bundle"), "{e}");
}

/// Footage for the durability test: `n` files of `clips` clips each, all different.
fn footage(dir: &Path, n: usize, clips: usize) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).unwrap();
    (0..n)
        .map(|i| {
            let digits: Vec<u8> = (0..clips).map(|c| ((c * 7 + i * 3) % 10) as u8).collect();
            let path = dir.join(format!("f{i}.y4m"));
            common::digits_y4m(&path, &digits);
            path
        })
        .collect()
}

/// Every segment as (file sha, clip, modality, start, end, va, vat), sorted.
type Row = (String, u32, String, f64, f64, Vec<u8>, Vec<u8>);

fn rows(db: &Path) -> Vec<Row> {
    let conn = Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT f.sha256, s.clip, s.modality, s.start_s, s.end_s, s.va, s.vat \
             FROM segments s JOIN files f ON f.id = s.file_id ORDER BY 1, 2, 3",
        )
        .unwrap();
    stmt.query_map([], |r| {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
            r.get(6)?,
        ))
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

#[test]
fn sigkill_mid_ingest_then_rerun_leaves_every_file_exactly_once() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let bundle = d.join("bundle");
    fixture::write_bundle(&bundle);
    footage(&d.join("footage"), 6, 12);
    let index_cmd = |db: &Path| {
        let mut c = mmv();
        c.args(["index", "--batch", "1", "--bundle"])
            .arg(&bundle)
            .arg(db)
            .arg(d.join("footage"));
        c
    };

    // The reference: one uninterrupted run.
    let reference = d.join("reference.db");
    ok(index_cmd(&reference).output().unwrap());
    let want = rows(&reference);
    assert_eq!(want.len(), 6 * 12);

    // Kill the indexer at several points: after some clips of a file are committed (so a
    // file is pending mid-way), repeatedly, then let a last run finish.
    let db = d.join("crash.db");
    let mut kills = 0;
    let mut mid_file_kills = 0;
    for round in 0..20 {
        let mut child = index_cmd(&db)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Wait until this run has committed at least `round % 3 + 1` more clips, then kill.
        let start_rows = if db.exists() { count_rows(&db) } else { 0 };
        let target = start_rows + round % 3 + 1;
        let t0 = Instant::now();
        let mut finished = false;
        loop {
            if let Some(_status) = child.try_wait().unwrap() {
                finished = true;
                break;
            }
            if db.exists() && count_rows(&db) >= target {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "the indexer stalled"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        if finished {
            break;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        kills += 1;
        let index = Index::open_existing(&db).unwrap();
        if index
            .files()
            .unwrap()
            .iter()
            .any(|f| f.status == FileStatus::Pending && f.clips_done > 0)
        {
            mid_file_kills += 1;
        }
    }
    assert!(
        kills >= 3,
        "only {kills} kills landed before the indexer finished"
    );
    assert!(
        mid_file_kills >= 1,
        "no kill landed in the middle of a file"
    );

    // The rerun finishes the job.
    let out = ok(index_cmd(&db).output().unwrap());
    assert!(out.contains("6 files complete, 0 pending"), "{out}");

    // Consistent, every file once, every clip once, identical to the uninterrupted run.
    let conn = Connection::open(&db).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let (files, distinct): (i64, i64) = conn
        .query_row(
            "SELECT count(*), count(DISTINCT sha256) FROM files WHERE status = 'complete'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((files, distinct), (6, 6));
    assert_eq!(rows(&db), want);
    eprintln!("{kills} kills, {mid_file_kills} in the middle of a file");
}

fn count_rows(db: &Path) -> usize {
    // The indexer may be mid-transaction: WAL readers see the last commit.
    Connection::open(db)
        .and_then(|c| c.query_row("SELECT count(*) FROM segments", [], |r| r.get::<_, i64>(0)))
        .map_or(0, |n| n as usize)
}
