//! `eval-product`'s outputs beside the bundle: `eval-product.md` (the tables the README
//! quotes), `eval-product.json` (every figure) and `open-set.png` (in-domain answers kept
//! against negatives tagged as the cut moves, the bundle's cut marked).

use mmv_runtime::open_set::OpenSetScore;
use std::fmt::Write as _;
use std::path::Path;

use super::{ProductError, ProductEval, pct};
use crate::plot::{Tradeoff, tradeoff};

fn write(path: &Path, text: &str) -> Result<(), ProductError> {
    std::fs::write(path, text).map_err(|e| ProductError::Write {
        path: path.to_path_buf(),
        problem: e.to_string(),
    })
}

/// The markdown tables, one column per precision (the first is the reference).
pub fn markdown(evals: &[ProductEval], command: &str) -> String {
    let mut s = String::new();
    let Some(first) = evals.first() else {
        return s;
    };
    let precisions: Vec<&str> = evals.iter().map(|e| e.precision.as_str()).collect();
    let _ = writeln!(
        s,
        "# Product-path evaluation: {} {}\n\nWritten by `{command}`. Every input is a plain file \
         read by the runtime (`Pipeline`, as `mmv tag` / `mmv search`), in windows half a window \
         apart (`mmv tag`'s default stride) unless a row says otherwise; a file's answer is the best \
         label of the window where it stands out most (the highest contrast: cosine minus the \
         mean over the labels). Cells: top-1 right over the ten digit words (closed set), \
         then, with the bundle's open-set cut, right / wrong / abstained.\n",
        first.bundle, first.version
    );
    if first.cuts.is_empty() {
        let _ = writeln!(
            s,
            "The bundle has no open-set calibration: nothing is abstained.\n"
        );
    } else {
        let cuts: Vec<String> = first
            .cuts
            .iter()
            .map(|(m, c)| {
                let kind = first.cut_scores.get(m).copied().unwrap_or_default();
                format!("{m} {c:.3} on the {}", score_name(kind))
            })
            .collect();
        let _ = writeln!(s, "Cuts: {}.\n", cuts.join("; "));
    }
    let _ = writeln!(s, "| group | input | n | {} |", precisions.join(" | "));
    let _ = writeln!(
        s,
        "| --- | --- | ---: |{}",
        " --- |".repeat(precisions.len())
    );
    for (i, row) in first.rows.iter().enumerate() {
        let cells: Vec<String> = evals
            .iter()
            .map(|e| {
                let r = &e.rows[i];
                let mut cell = format!("{:.1} %", r.accuracy());
                if !e.cuts.is_empty() {
                    let _ = write!(
                        cell,
                        " ({:.1} / {:.1} / {:.1})",
                        pct(r.right_kept, r.n),
                        pct(r.wrong_kept, r.n),
                        pct(r.abstained, r.n)
                    );
                }
                cell
            })
            .collect();
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} |",
            row.group,
            row.name,
            row.n,
            cells.join(" | ")
        );
    }
    let _ = writeln!(
        s,
        "\nSearch over an index of the Y4M clips (`mmv index` + `mmv search` path), R@1 / R@5 (a hit is right when its clip shows the query's digit):\n"
    );
    let _ = writeln!(s, "| query | n | {} |", precisions.join(" | "));
    let _ = writeln!(s, "| --- | ---: |{}", " --- |".repeat(precisions.len()));
    for (i, row) in first.search.iter().enumerate() {
        let cells: Vec<String> = evals
            .iter()
            .map(|e| format!("{:.1} / {:.1} %", e.search[i].r_at_1, e.search[i].r_at_5))
            .collect();
        let _ = writeln!(
            s,
            "| {} | {} | {} |",
            row.name,
            row.queries,
            cells.join(" | ")
        );
    }
    let _ = writeln!(
        s,
        "\nOpen set: share of label-free negatives tagged with a digit (evaluation set: other \
         seeds, letters, font, words and footage halves than the calibration's):\n"
    );
    let _ = writeln!(
        s,
        "| negative kind | modality | n | {} |",
        precisions.join(" | ")
    );
    let _ = writeln!(
        s,
        "| --- | --- | ---: |{}",
        " --- |".repeat(precisions.len())
    );
    for (i, row) in first.negatives.iter().enumerate() {
        let cells: Vec<String> = evals
            .iter()
            .map(|e| format!("{:.1} %", e.negatives[i].share()))
            .collect();
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} |",
            row.kind,
            row.modality,
            row.n,
            cells.join(" | ")
        );
    }
    let secs: Vec<String> = evals
        .iter()
        .map(|e| format!("{} {:.0} s", e.precision, e.seconds))
        .collect();
    let _ = writeln!(s, "\nTime: {}.", secs.join(", "));
    s
}

/// For one modality: (negatives tagged %, in-domain right-and-kept %) as the cut sweeps from
/// the lowest score to above the highest.
pub fn sweep(eval: &ProductEval, modality: &str) -> Option<Tradeoff> {
    let pos: Vec<(f32, bool)> = eval
        .rows
        .iter()
        .filter(|r| r.modality == modality)
        .flat_map(|r| r.scores.iter().copied())
        .collect();
    let neg: Vec<f32> = eval
        .negatives
        .iter()
        .filter(|r| r.modality == modality)
        .flat_map(|r| r.scores.iter().copied())
        .collect();
    let neg_n: usize = eval
        .negatives
        .iter()
        .filter(|r| r.modality == modality)
        .map(|r| r.n)
        .sum();
    if pos.is_empty() || neg_n == 0 {
        return None;
    }
    let at = |cut: f32| -> (f64, f64) {
        let tagged = neg.iter().filter(|&&s| s >= cut).count();
        let kept = pos.iter().filter(|(s, right)| *right && *s >= cut).count();
        (pct(tagged, neg_n), pct(kept, pos.len()))
    };
    let mut cuts: Vec<f32> = pos
        .iter()
        .map(|p| p.0)
        .chain(neg.iter().copied())
        .filter(|s| s.is_finite())
        .collect();
    cuts.sort_by(f32::total_cmp);
    cuts.dedup();
    let step = (cuts.len() / 200).max(1);
    let mut points: Vec<(f64, f64)> = cuts.iter().step_by(step).map(|&c| at(c)).collect();
    points.push(at(f32::INFINITY));
    Some(Tradeoff {
        name: format!("{modality} ({})", eval.precision),
        points,
        chosen: eval.cuts.get(modality).map(|&c| at(c)),
    })
}

/// Writes the markdown, JSON and plot into `dir`.
pub fn write_all(evals: &[ProductEval], dir: &Path, command: &str) -> Result<(), ProductError> {
    write(&dir.join("eval-product.md"), &markdown(evals, command))?;
    let json = serde_json::to_string_pretty(evals).expect("figures serialise");
    write(&dir.join("eval-product.json"), &json)?;
    if let Some(first) = evals.first() {
        let curves: Vec<Tradeoff> = ["audio", "image", "video"]
            .iter()
            .filter_map(|m| sweep(first, m))
            .collect();
        if !curves.is_empty() {
            let path = dir.join("open-set.png");
            tradeoff(
                &curves,
                &format!(
                    "{} {}: open-set cut ({})",
                    first.bundle, first.version, first.precision
                ),
                "negatives tagged (%)",
                "in-domain answers right and kept (%)",
                &path,
            )
            .map_err(|problem| ProductError::Write { path, problem })?;
        }
    }
    Ok(())
}

/// What a kind of open-set score is, in words.
fn score_name(kind: OpenSetScore) -> &'static str {
    match kind {
        OpenSetScore::Cosine => "best label's cosine",
        OpenSetScore::Contrast => {
            "best label's contrast (its cosine minus the mean cosine over the labels)"
        }
        OpenSetScore::Typicality => {
            "typicality (minus the smallest squared Mahalanobis distance to a digit's training embeddings, per dimension)"
        }
    }
}
