//! Search latency at scale: fills an index with N random unit-vector rows (AV-Digits widths,
//! va 128 and vat 64, by default), then times loading the rows and brute-force top-10 queries.
//!
//! `cargo run --release -p mmv-cli --example search_bench -- [ROWS] [VA] [VAT] [INDEX]`
//! (the index file defaults to a temporary one, removed afterwards).

use std::time::Instant;

use mmv_cli::bench::Rng;
use mmv_runtime::index::{Index, Modality, ModelKey, NewFile, NewSegment, Query};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: usize| -> usize {
        args.get(i).and_then(|s| s.parse().ok()).unwrap_or(default)
    };
    let (rows, va, vat) = (arg(0, 1_000_000), arg(1, 128), arg(2, 64));
    let temp = tempfile::tempdir()?;
    let path = args
        .get(3)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| temp.path().join("bench.db"));

    let mut index = Index::open(&path)?;
    let model = index.model_id(&ModelKey {
        name: "bench".into(),
        version: "1".into(),
        design: "fac".into(),
    })?;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let t = Instant::now();
    // One file per 10,000 clips, committed in batches of 1,000 (as `mmv index` would).
    let per_file = 10_000;
    let mut written = 0;
    let mut file_no = 0;
    while written < rows {
        let n = per_file.min(rows - written);
        let rec = index.begin_file(
            model,
            &NewFile {
                sha256: format!("{file_no:064x}"),
                path: format!("/footage/{file_no}.mp4"),
                bytes: 0,
                kind: "ffmpeg".into(),
                window_s: 1.6,
                stride_s: 1.6,
            },
        )?;
        let mut done = 0u32;
        while (done as usize) < n {
            let batch = 1_000.min(n - done as usize) as u32;
            let segs: Vec<NewSegment> = (done..done + batch)
                .map(|clip| NewSegment {
                    clip,
                    modality: if clip % 2 == 0 {
                        Modality::Video
                    } else {
                        Modality::Audio
                    },
                    start_s: f64::from(clip) * 1.6,
                    end_s: f64::from(clip + 1) * 1.6,
                    va: Some(rng.unit(va)),
                    vat: Some(rng.unit(vat)),
                    thumbnail: None,
                })
                .collect();
            let last = (done + batch) as usize == n;
            index.commit_clips(rec.id, done, done + batch, &segs, last.then_some(1.0))?;
            done += batch;
        }
        written += n;
        file_no += 1;
    }
    let fill = t.elapsed();
    let bytes = std::fs::metadata(&path)?.len();

    let t = Instant::now();
    let table = index.load_table(model)?;
    let load = t.elapsed();

    let queries = 20;
    let mut text_ms = Vec::new();
    let mut media_ms = Vec::new();
    for _ in 0..queries {
        let q = Query {
            va: None,
            vat: Some(rng.unit(vat)),
            text: true,
        };
        let t = Instant::now();
        let hits = table.top_k(&q, 10, &[]);
        text_ms.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(hits.len(), 10.min(rows));
        let q = Query {
            va: Some(rng.unit(va)),
            vat: Some(rng.unit(vat)),
            text: false,
        };
        let t = Instant::now();
        table.top_k(&q, 10, &[]);
        media_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!("rows                       {rows} (va {va}, vat {vat})");
    println!(
        "fill index                 {:.1} s ({:.0} MB on disk)",
        fill.as_secs_f64(),
        bytes as f64 / 1e6
    );
    println!("load rows into memory      {:.2} s", load.as_secs_f64());
    println!(
        "text query, top 10         {:.1} ms (median of {queries})",
        median(&mut text_ms)
    );
    println!(
        "image/audio query, top 10  {:.1} ms (median of {queries})",
        median(&mut media_ms)
    );
    Ok(())
}
