//! `mmv bench` as a user runs it, on the fixture bundle: the JSON report's figures hang
//! together, the side outputs (plot, Markdown, inputs for peers) are written, the verdict
//! turns INVALID when the rules cannot be met, and bad arguments get clear errors.

mod common;

use common::{fixture, mmv, ok};

fn f(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn help_explains_the_scenarios() {
    let out = ok(mmv().args(["bench", "--help"]).output().unwrap());
    for needle in [
        "Usage: mmv bench",
        "SingleStream",
        "Offline",
        "--min-duration",
        "--min-queries",
        "600 s and 1024 queries",
        "--json",
        "--plot",
        "--threads",
    ] {
        assert!(out.contains(needle), "{needle}: {out}");
    }
    let top = ok(mmv().arg("--help").output().unwrap());
    assert!(top.contains("bench"), "{top}");
}

#[test]
fn json_report_plot_markdown_and_inputs() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let bundle = d.join("bundle");
    let manifest = fixture::write_bundle(&bundle);
    let (png, md, inputs) = (d.join("b.png"), d.join("b.md"), d.join("inputs"));
    let out = ok(mmv()
        .arg("bench")
        .arg(&bundle)
        .args([
            "--json",
            "--threads",
            "1,2",
            "--min-duration",
            "0.05",
            "--min-queries",
            "5",
            "--search-rows",
            "300",
            "--camera",
            "96x64",
            "--profile",
            "--profile-runs",
            "2",
        ])
        .arg("--plot")
        .arg(&png)
        .arg("--markdown")
        .arg(&md)
        .arg("--inputs-dir")
        .arg(&inputs)
        .output()
        .unwrap());
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["bundle"]["name"], "test-fixture");
    assert!(r["machine"]["cores"].as_u64().unwrap() >= 1);
    assert_eq!(r["threads"], serde_json::json!([1, 2]));
    assert_eq!(r["settings"]["min_duration_s"], 0.05);
    assert_eq!(r["settings"]["min_queries"], 5);

    // Four encoders at one precision and two thread counts.
    let encoders = r["encoders"].as_array().unwrap();
    assert_eq!(encoders.len(), 8, "{encoders:?}");
    for e in encoders {
        let s = &e["single_stream"];
        assert_eq!(s["verdict"]["valid"], true, "{e}");
        let n = s["queries"].as_u64().unwrap();
        assert!(n >= 5);
        assert_eq!(s["latencies_ms"].as_array().unwrap().len() as u64, n);
        assert!(f(&s["duration_s"]) >= 0.05);
        let (p50, p90, p99) = (f(&s["p50_ms"]), f(&s["p90_ms"]), f(&s["p99_ms"]));
        assert!(f(&s["min_ms"]) <= p50 && p50 <= p90 && p90 <= p99 && p99 <= f(&s["max_ms"]));
        assert!(f(&e["load_ms"]) > 0.0 && f(&e["first_ms"]) > 0.0);
        let flops = e["flops"]["total"].as_u64().unwrap();
        assert!(flops > 0, "{e}");
        assert!((f(&e["gflops_per_s"]) - flops as f64 / (p50 * 1e6)).abs() < 1e-9);
        let offline = &e["offline"];
        assert!(offline["samples"].as_u64().unwrap() >= 5);
        assert_eq!(offline["verdict"]["valid"], true);
        assert!(e["peak_rss_bytes"].as_u64().unwrap() > 1 << 20);
    }
    // The fixture's text network by hand: Gather [1,1,16,VAT] (0), ReduceMax over the 16
    // words (one per input element: 16 * VAT), Reshape (0), ReduceSumSquare (VAT), Sqrt (1),
    // Div (VAT). No multiply-adds.
    let text = encoders.iter().find(|e| e["kind"] == "text").unwrap();
    let vat = fixture::VAT as u64;
    assert_eq!(
        text["flops"]["total"].as_u64().unwrap(),
        16 * vat + vat + 1 + vat
    );
    assert_eq!(text["flops"]["linear"].as_u64().unwrap(), 0);
    assert!(text["flops"]["unknown"].as_array().unwrap().is_empty());

    let pipeline = r["pipeline"].as_array().unwrap();
    assert_eq!(pipeline.len(), 2);
    assert_eq!(pipeline[0]["single_stream"]["verdict"]["valid"], true);
    let stages = pipeline[0]["stages_p50_ms"].as_array().unwrap();
    assert!(
        stages[0][0].as_str().unwrap().contains("96x64"),
        "{stages:?}"
    );
    let search = &r["search"];
    assert_eq!(
        (search["rows"].as_u64(), search["dim"].as_u64()),
        (Some(300), Some(fixture::VAT as u64))
    );
    assert!(r["skipped"].as_array().unwrap().is_empty());
    let profiles = r["profiles"].as_array().unwrap();
    assert_eq!(profiles.len(), 4);
    assert!(f(&profiles[0]["nodes_ms"]) > 0.0);
    assert!(!profiles[0]["by_op"].as_array().unwrap().is_empty());

    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let md = std::fs::read_to_string(&md).unwrap();
    assert!(md.contains("| encoder | prec | thr | p50 ms"), "{md}");
    assert!(md.contains("Profile of clip.onnx"), "{md}");

    // The inputs for the peers: one raw file per encoder, of the manifest's shape.
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(inputs.join("inputs.json")).unwrap())
            .unwrap();
    for e in &manifest.encoders {
        let entry = &index[e.kind.name()];
        let n: usize = e.inputs[0].shape.iter().product();
        let raw = std::fs::read(inputs.join(entry["file"].as_str().unwrap())).unwrap();
        let width = if entry["dtype"] == "int64" { 8 } else { 4 };
        assert_eq!(raw.len(), n * width, "{}", e.kind.name());
        // tract's answer for that input: the graph's unit-norm embeddings.
        let out: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(inputs.join(format!("{}.out.json", e.file))).unwrap(),
        )
        .unwrap();
        let vat: Vec<f64> = out["z_vat"].as_array().unwrap().iter().map(f).collect();
        assert_eq!(vat.len(), fixture::VAT);
        let norm = vat.iter().map(|v| v * v).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "{}: |z_vat| = {norm}", e.file);
    }
}

#[test]
fn unmet_rules_are_invalid_and_tables_say_so() {
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join("bundle");
    fixture::write_bundle(&bundle);
    // 10 s and a million queries cannot fit in 0.2 s.
    let out = ok(mmv()
        .arg("bench")
        .arg(&bundle)
        .args([
            "--encoders",
            "text",
            "--no-pipeline",
            "--no-offline",
            "--search-rows",
            "0",
            "--min-duration",
            "10",
            "--min-queries",
            "1000000",
            "--max-duration",
            "0.2",
        ])
        .output()
        .unwrap());
    assert!(out.contains("INVALID"), "{out}");
    assert!(out.contains("fewer than the minimum 1000000"), "{out}");
    assert!(out.contains("shorter than the minimum 10.00 s"), "{out}");
    assert!(
        !out.contains("clip"),
        "only the text encoder was asked for: {out}"
    );
}

#[test]
fn bad_arguments_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join("bundle");
    fixture::write_bundle(&bundle);
    let err = |args: &[&str]| {
        let out = mmv().arg("bench").arg(&bundle).args(args).output().unwrap();
        assert!(!out.status.success(), "{args:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    assert!(err(&["--precision", "int8"]).contains("no int8 files"));
    assert!(err(&["--precision", "int4"]).contains("unknown precision"));
    assert!(err(&["--encoders", "smell"]).contains("unknown encoder"));
    assert!(err(&["--threads", "0"]).contains("at least 1"));
    assert!(err(&["--camera", "big"]).contains("WIDTHxHEIGHT"));
    let out = mmv()
        .args(["bench", "/nonexistent/bundle"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("no model bundle"));
}
