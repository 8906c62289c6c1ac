//! The loss curves of a run as a PNG: the total loss and its two parts (NCE video-audio,
//! MIL-NCE video-text) against the step, raw values faint and a moving average bold.
//!
//! Drawn with plotters into a memory buffer and encoded with `png`; the axis labels use the
//! Hack font embedded by `epaint_default_fonts`, so nothing depends on the system's fonts.

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use crate::metrics::MetricsLine;

const WIDTH: u32 = 900;
const HEIGHT: u32 = 540;

fn fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The font bytes are a valid TrueType file shipped by the crate; a failure here would
        // only lose the labels, so it is not an error.
        let _ = register_font(
            "sans-serif",
            FontStyle::Normal,
            epaint_default_fonts::HACK_REGULAR,
        );
    });
}

/// A centred moving average over `window` points.
fn smooth(values: &[(f64, f64)], window: usize) -> Vec<(f64, f64)> {
    let half = window / 2;
    (0..values.len())
        .map(|i| {
            let lo = i.saturating_sub(half);
            let hi = (i + half + 1).min(values.len());
            let mean = values[lo..hi].iter().map(|p| p.1).sum::<f64>() / (hi - lo) as f64;
            (values[i].0, mean)
        })
        .collect()
}

/// Writes the loss curves of `metrics` to `path` (PNG).
pub fn loss_curves(metrics: &[MetricsLine], title: &str, path: &Path) -> Result<(), String> {
    fonts();
    let mut rgb = vec![255u8; (WIDTH * HEIGHT * 3) as usize];
    draw(metrics, title, &mut rgb).map_err(|e| format!("plotting failed: {e}"))?;
    save_png(&rgb, path)
}

/// Writes a WIDTH x HEIGHT RGB buffer as PNG.
fn save_png(rgb: &[u8], path: &Path) -> Result<(), String> {
    let file = std::fs::File::create(path).map_err(|e| e.to_string())?;
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), WIDTH, HEIGHT);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
    writer.write_image_data(rgb).map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())
}

type Series = (&'static str, RGBColor, Vec<(f64, f64)>);

fn draw(
    metrics: &[MetricsLine],
    title: &str,
    rgb: &mut [u8],
) -> Result<(), Box<dyn std::error::Error>> {
    let part = |get: fn(&MetricsLine) -> Option<f64>| -> Vec<(f64, f64)> {
        metrics
            .iter()
            .filter_map(|m| get(m).map(|v| (m.step as f64, v)))
            .collect()
    };
    let series: Vec<Series> = vec![
        ("total loss", RGBColor(20, 20, 20), part(|m| Some(m.loss))),
        (
            "NCE(video, audio)",
            RGBColor(31, 119, 180),
            part(|m| m.nce_va),
        ),
        (
            "MIL-NCE(video, text)",
            RGBColor(214, 39, 40),
            part(|m| m.mil_nce_vt),
        ),
        (
            "MIL-NCE(audio, text)",
            RGBColor(44, 160, 44),
            part(|m| m.mil_nce_at),
        ),
    ];
    let finite = |v: f64| v.is_finite();
    let y_max = series
        .iter()
        .flat_map(|s| s.2.iter().map(|p| p.1))
        .filter(|v| finite(*v))
        .fold(0.0f64, f64::max)
        .max(1e-3)
        * 1.05;
    let x_max = metrics.iter().map(|m| m.step).max().unwrap_or(0).max(1) as f64;
    let window = (metrics.len() / 40).max(1);

    let root = BitMapBackend::with_buffer(rgb, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("{title}: training loss"), ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)?;
    chart
        .configure_mesh()
        .x_desc("step")
        .y_desc("loss")
        .label_style(("sans-serif", 14))
        .draw()?;
    for (name, color, points) in &series {
        if points.is_empty() {
            continue;
        }
        let points: Vec<(f64, f64)> = points.iter().copied().filter(|p| finite(p.1)).collect();
        chart.draw_series(LineSeries::new(points.clone(), color.mix(0.25)))?;
        let color = *color;
        chart
            .draw_series(LineSeries::new(
                smooth(&points, window),
                color.stroke_width(2),
            ))?
            .label(*name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()?;
    root.present()?;
    Ok(())
}

/// One curve of a trade-off plot, with the point where the current setting sits.
pub struct Tradeoff {
    pub name: String,
    /// (x, y) in percent, in the order the setting moves.
    pub points: Vec<(f64, f64)>,
    pub chosen: Option<(f64, f64)>,
}

/// A plot of curves in percent on both axes (e.g. in-domain answers kept against negatives
/// tagged as a cut moves), the chosen setting of each marked with a dot.
pub fn tradeoff(
    curves: &[Tradeoff],
    title: &str,
    x_desc: &str,
    y_desc: &str,
    path: &Path,
) -> Result<(), String> {
    fonts();
    let mut rgb = vec![255u8; (WIDTH * HEIGHT * 3) as usize];
    draw_tradeoff(curves, title, x_desc, y_desc, &mut rgb)
        .map_err(|e| format!("plotting failed: {e}"))?;
    save_png(&rgb, path)
}

fn draw_tradeoff(
    curves: &[Tradeoff],
    title: &str,
    x_desc: &str,
    y_desc: &str,
    rgb: &mut [u8],
) -> Result<(), Box<dyn std::error::Error>> {
    const COLORS: [RGBColor; 4] = [
        RGBColor(31, 119, 180),
        RGBColor(214, 39, 40),
        RGBColor(44, 160, 44),
        RGBColor(148, 103, 189),
    ];
    let root = BitMapBackend::with_buffer(rgb, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..100.0, 0.0..100.0)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .label_style(("sans-serif", 14))
        .draw()?;
    for (curve, color) in curves.iter().zip(COLORS.iter().cycle()) {
        let color = *color;
        chart
            .draw_series(LineSeries::new(curve.points.clone(), color.stroke_width(2)))?
            .label(curve.name.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        if let Some(p) = curve.chosen {
            chart.draw_series(std::iter::once(Circle::new(p, 6, color.filled())))?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_png() {
        let metrics: Vec<MetricsLine> = (0..200)
            .map(|s| MetricsLine {
                step: s,
                lr: 1e-3,
                loss: 5.0 / (1.0 + s as f64 * 0.05),
                nce_va: Some(2.5 / (1.0 + s as f64 * 0.03)),
                mil_nce_vt: None,
                mil_nce_at: None,
                data_s: 0.0,
                step_s: 0.1,
                steps_per_s: 10.0,
            })
            .collect();
        let path = std::env::temp_dir().join(format!("mmv-plot-{}.png", std::process::id()));
        loss_curves(&metrics, "test", &path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
        std::fs::remove_file(&path).ok();
    }
}
