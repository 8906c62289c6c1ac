//! A report as a PNG: a bar chart of every case's SingleStream p50 (whiskers to p90), then a
//! latency histogram per case. Drawn with plotters into memory and saved with `image`; labels
//! use the Hack font embedded by `epaint_default_fonts`, so no system font is needed.

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use super::{BenchError, BenchReport};

const WIDTH: u32 = 1200;
/// Bar chart height: a title and axis, then a row per case.
fn bar_height(cases: usize) -> u32 {
    90 + 24 * cases as u32
}
const HIST_HEIGHT: u32 = 220;
const HIST_COLUMNS: usize = 3;

fn fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bytes are a TrueType file shipped inside the crate; failing would only lose the
        // labels, so it is not an error.
        let _ = register_font(
            "sans-serif",
            FontStyle::Normal,
            epaint_default_fonts::HACK_REGULAR,
        );
    });
}

/// (label, p50, p90, latencies) of every case in the report.
fn cases(r: &BenchReport) -> Vec<(String, f64, f64, &[f64])> {
    let mut out = Vec::new();
    for e in &r.encoders {
        let s = &e.single_stream;
        out.push((
            format!("{} {} x{}", e.kind.name(), e.precision.name(), e.threads),
            s.p50_ms,
            s.p90_ms,
            s.latencies_ms.as_slice(),
        ));
    }
    for p in &r.pipeline {
        let s = &p.single_stream;
        out.push((
            format!("pipeline {} x{}", p.precision.name(), p.threads),
            s.p50_ms,
            s.p90_ms,
            s.latencies_ms.as_slice(),
        ));
    }
    if let Some(q) = &r.search {
        let s = &q.single_stream;
        out.push((
            format!("search {}k", q.rows / 1000),
            s.p50_ms,
            s.p90_ms,
            s.latencies_ms.as_slice(),
        ));
    }
    out.retain(|c| c.1.is_finite() && !c.3.is_empty());
    out
}

/// Draws `report` into `path` (PNG).
pub fn write_png(report: &BenchReport, path: &Path) -> Result<(), BenchError> {
    fonts();
    let cases = cases(report);
    if cases.is_empty() {
        return Err(BenchError::Plot("the report has no measured case".into()));
    }
    let rows = cases.len().div_ceil(HIST_COLUMNS) as u32;
    let height = bar_height(cases.len()) + rows * HIST_HEIGHT;
    let mut rgb = vec![255u8; (WIDTH * height * 3) as usize];
    draw(report, &cases, &mut rgb, height).map_err(|e| BenchError::Plot(e.to_string()))?;
    image::save_buffer(path, &rgb, WIDTH, height, image::ExtendedColorType::Rgb8)
        .map_err(|e| BenchError::Plot(format!("{}: {e}", path.display())))
}

type Case<'a> = (String, f64, f64, &'a [f64]);

fn draw(
    report: &BenchReport,
    cases: &[Case<'_>],
    rgb: &mut [u8],
    height: u32,
) -> Result<(), Box<dyn std::error::Error>> {
    let root = BitMapBackend::with_buffer(rgb, (WIDTH, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(bar_height(cases.len()));

    // Horizontal bars on a log scale: a search query and a clip network differ by orders of
    // magnitude, and horizontal labels stay readable however many cases there are.
    let max = cases.iter().map(|c| c.2.max(c.1)).fold(0.0f64, f64::max) * 1.5;
    let floor = (cases.iter().map(|c| c.1).fold(f64::INFINITY, f64::min) / 2.0).max(1e-3);
    let n = cases.len();
    let mut chart = ChartBuilder::on(&top)
        .caption(
            format!(
                "{} {}: SingleStream p50 (bar) and p90 (tick), ms",
                report.bundle.name, report.bundle.version
            ),
            ("sans-serif", 20),
        )
        .margin(10)
        .x_label_area_size(36)
        .y_label_area_size(170)
        .build_cartesian_2d(
            (floor..max.max(floor * 10.0)).log_scale(),
            (0..n).into_segmented(),
        )?;
    let labels: Vec<String> = cases.iter().map(|c| c.0.clone()).collect();
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(n)
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => n
                .checked_sub(1 + *i)
                .and_then(|j| labels.get(j).cloned())
                .unwrap_or_default(),
            _ => String::new(),
        })
        .x_desc("ms")
        .draw()?;
    // Segments count from the bottom: the first case goes on top, as in the tables.
    chart.draw_series(cases.iter().rev().enumerate().map(|(i, c)| {
        let mut bar = Rectangle::new(
            [
                (floor, SegmentValue::Exact(i)),
                (c.1, SegmentValue::Exact(i + 1)),
            ],
            RGBColor(31, 119, 180).filled(),
        );
        bar.set_margin(3, 3, 0, 0);
        bar
    }))?;
    chart.draw_series(cases.iter().rev().enumerate().map(|(i, c)| {
        PathElement::new(
            vec![
                (c.2, SegmentValue::Exact(i)),
                (c.2, SegmentValue::Exact(i + 1)),
            ],
            BLACK.stroke_width(2),
        )
    }))?;

    let panels = bottom.split_evenly((cases.len().div_ceil(HIST_COLUMNS), HIST_COLUMNS));
    for (panel, c) in panels.iter().zip(cases) {
        // Up to p99: the rare slow query (a page fault, the machine's other work) lands in the
        // last bin instead of squeezing every other bin into one.
        let lo = c.3.iter().copied().fold(f64::INFINITY, f64::min);
        let mut sorted = c.3.to_vec();
        sorted.sort_by(f64::total_cmp);
        let hi = super::scenario::percentile(&sorted, 0.99).unwrap_or(lo);
        let bins = 20usize;
        let width = ((hi - lo) / bins as f64).max(1e-9);
        let mut counts = vec![0usize; bins];
        for &v in c.3 {
            counts[(((v - lo) / width) as usize).min(bins - 1)] += 1;
        }
        let top_count = counts.iter().copied().max().unwrap_or(1);
        let mut h = ChartBuilder::on(panel)
            .caption(
                format!("{} (n={}, to p99)", c.0, c.3.len()),
                ("sans-serif", 14),
            )
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(36)
            .build_cartesian_2d(lo..(lo + width * bins as f64), 0usize..top_count + 1)?;
        h.configure_mesh()
            .disable_mesh()
            .x_labels(4)
            .y_labels(3)
            .x_desc("ms")
            .draw()?;
        h.draw_series(counts.iter().enumerate().map(|(b, &k)| {
            let x0 = lo + b as f64 * width;
            Rectangle::new([(x0, 0), (x0 + width, k)], RGBColor(255, 127, 14).filled())
        }))?;
    }
    root.present()?;
    Ok(())
}
