//! criterion benches of the runtime's hot Rust paths (everything that is not inside tract):
//!
//! - `logmel/1.6s@16k`: one AV-Digits audio window (25,600 samples) through the log-mel front
//!   end with the released model's settings (512-point FFT, hop 256, 40 mels);
//! - `preprocess/WxH->32x32 grey`: one camera frame resized, cropped and normalised for the
//!   video network, from the demo canvas (64x64) and from VGA (640x480), from RGB and from
//!   grey (which skips the luma pass);
//! - `scan/...`: brute-force top-10 over an in-memory table: a text query (64-d space) and an
//!   image/audio query (128-d va + 64-d vat), 100,000 rows.
//!
//! `cargo bench -p mmv-benches` (a few seconds per bench: short warm-up and measurement, since
//! this runs on 2-core machines).

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mmv_cli::bench::Rng;
use mmv_runtime::audio::{LogMel, LogMelConfig};
use mmv_runtime::frames::{FrameSpec, preprocess_gray8, preprocess_rgb8};
use mmv_runtime::index::{EmbeddingTable, Modality, Query};

fn logmel(c: &mut Criterion) {
    // The default is the released model's setting.
    let config = LogMelConfig::default();
    let rate = config.sample_rate as f32;
    let logmel = LogMel::new(config).expect("valid config");
    let samples: Vec<f32> = (0..25_600)
        .map(|i| {
            let t = i as f32 / rate;
            0.5 * (std::f32::consts::TAU * (200.0 + 1000.0 * t) * t).sin()
        })
        .collect();
    let mut g = c.benchmark_group("logmel");
    g.throughput(Throughput::Elements(samples.len() as u64));
    g.bench_function("1.6s@16k", |b| b.iter(|| logmel.compute(&samples)));
    g.finish();
}

fn preprocess(c: &mut Criterion) {
    let spec = FrameSpec {
        height: 32,
        width: 32,
        channels: 1,
        mean: vec![0.5],
        std: vec![0.5],
    };
    let mut g = c.benchmark_group("preprocess");
    for (w, h) in [(64usize, 64usize), (640, 480)] {
        let rgb: Vec<u8> = (0..w * h * 3).map(|i| (i * 7 % 251) as u8).collect();
        g.throughput(Throughput::Elements((w * h) as u64));
        g.bench_with_input(
            BenchmarkId::new("to 32x32 grey", format!("{w}x{h}")),
            &rgb,
            |b, rgb| b.iter(|| preprocess_rgb8(rgb, w, h, &spec).expect("valid frame")),
        );
        // The same frame already grey: the difference is the RGB -> luma pass.
        let grey: Vec<u8> = rgb.iter().step_by(3).copied().collect();
        g.bench_with_input(
            BenchmarkId::new("grey8 to 32x32 grey", format!("{w}x{h}")),
            &grey,
            |b, grey| b.iter(|| preprocess_gray8(grey, w, h, &spec).expect("valid frame")),
        );
    }
    g.finish();
}

fn scan(c: &mut Criterion) {
    let rows = 100_000;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut table = EmbeddingTable::default();
    for i in 0..rows {
        table
            .push(
                i as i64,
                Modality::Video,
                Some(rng.unit(128)),
                Some(rng.unit(64)),
            )
            .expect("rows of one width");
    }
    let text = Query {
        va: None,
        vat: Some(rng.unit(64)),
        text: true,
    };
    let media = Query {
        va: Some(rng.unit(128)),
        vat: Some(rng.unit(64)),
        text: false,
    };
    let mut g = c.benchmark_group("scan");
    g.throughput(Throughput::Elements(rows as u64));
    g.bench_function("100k text top10 (64-d)", |b| {
        b.iter(|| table.top_k(&text, 10, &[]))
    });
    g.bench_function("100k media top10 (128+64-d)", |b| {
        b.iter(|| table.top_k(&media, 10, &[]))
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = logmel, preprocess, scan
}
criterion_main!(benches);
