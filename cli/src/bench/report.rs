//! A [`BenchReport`] as text: aligned tables for a terminal, or Markdown for the README.

use super::BenchReport;
use super::profile::Profile;

/// A table: headers and rows of cells.
pub struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    fn new(headers: &[&str]) -> Self {
        Self {
            headers: headers.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Columns padded to their widest cell, a dashed line under the headers.
    pub fn text(&self) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let padded: Vec<String> = cells
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            format!("{}\n", padded.join("  ").trim_end())
        };
        let mut out = line(&self.headers);
        out += &line(&widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>());
        for row in &self.rows {
            out += &line(row);
        }
        out
    }

    /// A GitHub Markdown table.
    pub fn markdown(&self) -> String {
        let row = |cells: &[String]| format!("| {} |\n", cells.join(" | "));
        let mut out = row(&self.headers);
        out += &row(&vec!["---".to_string(); self.headers.len()]);
        for r in &self.rows {
            out += &row(r);
        }
        out
    }
}

fn f(v: f64, digits: usize) -> String {
    if v.is_finite() {
        format!("{v:.digits$}")
    } else {
        "-".into()
    }
}

fn mib(bytes: Option<u64>) -> String {
    bytes.map_or("-".into(), |b| {
        format!("{:.0}", b as f64 / (1024.0 * 1024.0))
    })
}

/// Milliseconds with 3 significant figures' worth of decimals.
fn ms(v: f64) -> String {
    let digits = if v < 1.0 {
        3
    } else if v < 10.0 {
        2
    } else if v < 100.0 {
        1
    } else {
        0
    };
    f(v, digits)
}

/// The encoders: one row per encoder, precision and thread count.
pub fn encoder_table(r: &BenchReport) -> Table {
    let mut t = Table::new(&[
        "encoder",
        "prec",
        "thr",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "n",
        "offline/s",
        "verdict",
        "load ms",
        "first ms",
        "RSS MiB",
        "MFLOP",
        "GFLOP/s",
        "KiB",
    ]);
    for e in &r.encoders {
        let s = &e.single_stream;
        let verdict = match &e.offline {
            Some(o) if !o.verdict.valid => "INVALID (offline)",
            _ => s.verdict.label(),
        };
        t.rows.push(vec![
            e.kind.name().into(),
            e.precision.name().into(),
            e.threads.to_string(),
            ms(s.p50_ms),
            ms(s.p90_ms),
            ms(s.p99_ms),
            s.queries.to_string(),
            e.offline.as_ref().map_or("-".into(), |o| {
                format!("{} (x{})", f(o.throughput, 1), o.workers)
            }),
            verdict.into(),
            ms(e.load_ms),
            ms(e.first_ms),
            mib(e.peak_rss_bytes),
            f(e.flops.total as f64 / 1e6, 1),
            f(e.gflops_per_s, 2),
            format!("{:.0}", e.bytes as f64 / 1024.0),
        ]);
    }
    t
}

/// The pipeline cases, with the stages measured alone.
pub fn pipeline_table(r: &BenchReport) -> Table {
    let mut t = Table::new(&[
        "pipeline",
        "thr",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "n",
        "verdict",
        "RSS MiB",
        "not-network / network (RGB; YUYV; I420)",
        "stages (p50 ms)",
    ]);
    for p in &r.pipeline {
        let s = &p.single_stream;
        t.rows.push(vec![
            p.precision.name().into(),
            p.threads.to_string(),
            ms(s.p50_ms),
            ms(s.p90_ms),
            ms(s.p99_ms),
            s.queries.to_string(),
            s.verdict.label().into(),
            mib(p.peak_rss_bytes),
            format!(
                "{:.1} %; {:.1} %; {:.1} %",
                p.overhead_ratio * 100.0,
                p.overhead_ratio_camera * 100.0,
                p.overhead_ratio_planar * 100.0
            ),
            p.stages_p50_ms
                .iter()
                .map(|(n, v)| format!("{n} {}", ms(*v)))
                .collect::<Vec<_>>()
                .join("; "),
        ]);
    }
    t
}

/// The search case.
pub fn search_table(r: &BenchReport) -> Table {
    let mut t = Table::new(&[
        "search rows",
        "dim",
        "top",
        "build ms",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "n",
        "verdict",
        "Mrows/s",
        "exact f32 p50 ms",
        "exact / int8+rerank",
        "recall@k",
        "RSS MiB",
    ]);
    if let Some(s) = &r.search {
        let q = &s.single_stream;
        t.rows.push(vec![
            s.rows.to_string(),
            s.dim.to_string(),
            s.top_k.to_string(),
            ms(s.build_ms),
            ms(q.p50_ms),
            ms(q.p90_ms),
            ms(q.p99_ms),
            q.queries.to_string(),
            q.verdict.label().into(),
            f(s.rows_per_s / 1e6, 1),
            ms(s.exact_p50_ms),
            f(s.exact_p50_ms / q.p50_ms, 2),
            f(s.recall_at_k, 3),
            mib(s.peak_rss_bytes),
        ]);
    }
    t
}

fn machine_line(r: &BenchReport) -> String {
    let m = &r.machine;
    let mut parts = vec![
        m.cpu_model.clone().unwrap_or_else(|| "unknown CPU".into()),
        format!("{} ({} cores)", m.arch, m.cores),
    ];
    if let Some(g) = &m.governor {
        parts.push(format!("governor {g}"));
    }
    if let Some(mhz) = m.max_mhz {
        parts.push(format!("max {mhz:.0} MHz"));
    }
    if let Some(b) = m.mem_total_bytes {
        parts.push(format!("{:.1} GiB RAM", b as f64 / (1u64 << 30) as f64));
    }
    if !m.features.is_empty() {
        parts.push(m.features.join(" "));
    }
    parts.push(format!(
        "native f16: {}",
        if m.native_f16 { "yes" } else { "no" }
    ));
    if !m.int8_form.is_empty() {
        parts.push(format!("int8 convolutions: {}", m.int8_form));
    }
    parts.join(", ")
}

fn settings_line(r: &BenchReport) -> String {
    let s = &r.settings;
    format!(
        "{} warm-up queries, then at least {:.1} s and {} queries (at most {:.0} s); MLPerf's own \
         minimums are 600 s and 1024 queries (SingleStream)",
        s.warmup_queries,
        s.min_duration.as_secs_f64(),
        s.min_queries,
        s.max_duration.as_secs_f64()
    )
}

/// Everything, as a terminal would show it.
pub fn text(r: &BenchReport) -> String {
    let mut out = format!(
        "bundle   {} {} ({}) at {}\nmachine  {}\nrules    {}\n\n",
        r.bundle.name,
        r.bundle.version,
        r.bundle.design,
        r.bundle.dir,
        machine_line(r),
        settings_line(r)
    );
    if !r.encoders.is_empty() {
        out += &encoder_table(r).text();
        out.push('\n');
    }
    if !r.pipeline.is_empty() {
        out += &pipeline_table(r).text();
        out.push('\n');
    }
    if r.search.is_some() {
        out += &search_table(r).text();
        out.push('\n');
    }
    for s in &r.skipped {
        out += &format!("skipped  {}: {}\n", s.what, s.why);
    }
    for e in &r.encoders {
        for (what, v) in [
            ("SingleStream", Some(&e.single_stream.verdict)),
            ("Offline", e.offline.as_ref().map(|o| &o.verdict)),
        ] {
            if let Some(v) = v.filter(|v| !v.valid) {
                out += &format!(
                    "INVALID  {} {} x{} {what}: {}\n",
                    e.kind.name(),
                    e.precision.name(),
                    e.threads,
                    v.reasons.join("; ")
                );
            }
        }
    }
    out
}

/// Everything, as Markdown (for `benches/results/`).
pub fn markdown(r: &BenchReport) -> String {
    let mut out = format!(
        "Bundle `{}` {} ({}); machine: {}.\n\nRules: {}.\n\n",
        r.bundle.name,
        r.bundle.version,
        r.bundle.design,
        machine_line(r),
        settings_line(r)
    );
    if !r.encoders.is_empty() {
        out += &encoder_table(r).markdown();
        out.push('\n');
    }
    if !r.pipeline.is_empty() {
        out += &pipeline_table(r).markdown();
        out.push('\n');
    }
    if r.search.is_some() {
        out += &search_table(r).markdown();
        out.push('\n');
    }
    for s in &r.skipped {
        out += &format!("- skipped {}: {}\n", s.what, s.why);
    }
    out
}

/// A profile as two tables: by op type, then the costliest nodes.
pub fn profile_tables(p: &Profile) -> (Table, Table) {
    let mut ops = Table::new(&["op", "nodes", "ms", "share"]);
    for o in &p.by_op {
        ops.rows.push(vec![
            o.name.clone(),
            o.nodes.to_string(),
            ms(o.ms),
            format!("{:.1} %", o.share * 100.0),
        ]);
    }
    let mut nodes = Table::new(&["node (op) -> output", "ms", "share"]);
    for o in &p.top_nodes {
        nodes.rows.push(vec![
            o.name.clone(),
            ms(o.ms),
            format!("{:.1} %", o.share * 100.0),
        ]);
    }
    (ops, nodes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_and_render_markdown() {
        let mut t = Table::new(&["a", "long header"]);
        t.rows.push(vec!["wide cell".into(), "x".into()]);
        let text = t.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "a          long header");
        assert_eq!(lines[1], "---------  -----------");
        assert_eq!(lines[2], "wide cell  x");
        assert_eq!(
            t.markdown(),
            "| a | long header |\n| --- | --- |\n| wide cell | x |\n"
        );
    }

    #[test]
    fn milliseconds_keep_three_figures() {
        assert_eq!(ms(0.01234), "0.012");
        assert_eq!(ms(1.2345), "1.23");
        assert_eq!(ms(12.345), "12.3");
        assert_eq!(ms(123.45), "123");
        assert_eq!(ms(f64::NAN), "-");
    }
}
