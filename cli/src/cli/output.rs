//! Presentation: aligned text tables, JSON, and progress bars that stay off when the output
//! is JSON or stderr is not a terminal.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use mmv_runtime::tag::Tag;
use serde::Serialize;

/// Prints rows under headers, columns padded to their widest cell.
pub fn print_table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(headers.to_vec());
    line(
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect(),
    );
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// Pretty JSON on stdout.
pub fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Whether progress stays off: JSON output, or stderr is not a terminal. Off a terminal
/// indicatif would draw nothing, but its steady tick would still start a thread (and under
/// qemu-user 7.2 with glibc 2.36, aarch64 on x86, starting a thread hangs).
fn quiet(json: bool) -> bool {
    json || !std::io::stderr().is_terminal()
}

/// A bar over `len` steps; hidden for JSON output and off a terminal.
pub fn bar(len: u64, unit: &str, json: bool) -> ProgressBar {
    if quiet(json) {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    let template =
        format!("{{spinner}} [{{elapsed_precise}}] {{bar:30}} {{pos}}/{{len}} {unit} {{msg}}");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        pb.set_style(style);
    }
    pb.enable_steady_tick(Duration::from_millis(200));
    pb
}

/// A spinner for work of unknown length.
pub fn spinner(message: &str, json: bool) -> ProgressBar {
    if quiet(json) {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new_spinner();
    pb.set_message(message.to_string());
    pb.enable_steady_tick(Duration::from_millis(200));
    pb
}

/// `seven 0.91, one 0.05` (probabilities), `none (seven 0.91, ...)` when the best label is
/// below the open-set cut, or `-`.
pub fn tags(tags: Option<&Vec<Tag>>) -> String {
    match tags {
        Some(t) if !t.is_empty() => {
            let list = t
                .iter()
                .map(|t| format!("{} {:.2}", t.label, t.score))
                .collect::<Vec<_>>()
                .join(", ");
            if t[0].present {
                list
            } else {
                format!("none ({list})")
            }
        }
        Some(_) => "(below --min-probability)".into(),
        None => "-".into(),
    }
}

/// Seconds as `m:ss.s`.
pub fn time(s: f64) -> String {
    let m = (s / 60.0).floor();
    format!("{}:{:04.1}", m as u64, s - m * 60.0)
}

pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}
