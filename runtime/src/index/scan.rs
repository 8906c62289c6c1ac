//! The quantised scan behind [`super::EmbeddingTable::top_k`] on large tables.
//!
//! Each embedding space keeps, beside its f32 rows, an int8 copy built in memory as rows are
//! pushed (at index load; nothing is stored in the index file): every row is scaled by its own
//! largest magnitude to -127..=127 and the scale kept, so `row ≈ codes * scale`. A query is
//! quantised the same way, each row is scored by an integer dot product (i8 x i8 summed in
//! i32, a chunked loop the compiler turns into `vpmaddwd`; compiled a second time with AVX2
//! and picked at run time on x86-64) times the two scales, the rows are split across all
//! cores (`std::thread::scope`), each core keeps its best candidates, and the candidates are
//! re-ranked with the exact f32 dot products. A 256-value row is read as 256 bytes instead
//! of 1 KiB, so a scan that is memory-bound runs about four times faster; the candidate count
//! is wide enough that the exact top-k is almost always among the candidates (recall@10
//! against the exact f32 scan is a test, and a figure of `mmv bench`).

use std::collections::BinaryHeap;

use super::Modality;
use super::search::MinHit;

/// Tables with fewer rows are scanned exactly in f32, on one core (a few hundred microseconds).
pub(crate) const MIN_QUANTISED_ROWS: usize = 16_384;

/// Rows per core below which a scan stays on one core (spawning costs tens of microseconds).
const MIN_ROWS_PER_THREAD: usize = 32_768;

/// Candidates kept for the exact re-ranking, for a top-`k` query.
pub(crate) fn candidates(k: usize) -> usize {
    (k * 10).max(64)
}

/// The int8 copy of one space: `rows x dim` codes and a scale per row (0 for absent rows).
#[derive(Clone, Debug, Default)]
pub(crate) struct Codes {
    pub(crate) codes: Vec<i8>,
    pub(crate) scales: Vec<f32>,
}

impl Codes {
    /// Appends a row (`dim` values, or None: zeros with scale 0).
    pub(crate) fn push(&mut self, row: Option<&[f32]>, dim: usize) {
        let start = self.codes.len();
        self.codes.resize(start + dim, 0);
        let scale = match row {
            Some(v) => quantise(v, &mut self.codes[start..]),
            None => 0.0,
        };
        self.scales.push(scale);
    }

    /// Zero rows for `rows` rows pushed before this space had a width.
    pub(crate) fn backfill(&mut self, rows: usize, dim: usize) {
        self.codes = vec![0; rows * dim];
        self.scales = vec![0.0; rows];
    }

    pub(crate) fn truncate(&mut self, rows: usize, dim: usize) {
        self.codes.truncate(rows * dim);
        self.scales.truncate(rows);
    }
}

/// Symmetric per-vector int8 quantisation: writes `round(v / scale)` and returns the scale
/// (`max |v| / 127`; 0 for a zero vector).
pub(crate) fn quantise(v: &[f32], out: &mut [i8]) -> f32 {
    let max = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    if !(max > 0.0 && max.is_finite()) {
        out.iter_mut().for_each(|c| *c = 0);
        return 0.0;
    }
    let inv = 127.0 / max;
    for (c, x) in out.iter_mut().zip(v) {
        *c = (x * inv).round().clamp(-127.0, 127.0) as i8;
    }
    max / 127.0
}

/// One space of a query against the table: the query's codes and scale, the rows' codes.
pub(crate) struct SpaceScan<'a> {
    pub(crate) query: Vec<i8>,
    pub(crate) query_scale: f32,
    pub(crate) present: &'a [bool],
    pub(crate) rows: &'a Codes,
    pub(crate) dim: usize,
}

/// What the scan needs besides the spaces: the rows' modalities and the filter.
pub(crate) struct ScanFilter<'a> {
    pub(crate) row_modalities: &'a [Modality],
    pub(crate) wanted: &'a [Modality],
}

/// The best `keep` rows by approximate score over all rows, on all cores; unordered.
pub(crate) fn scan(
    spaces: &[SpaceScan<'_>],
    filter: &ScanFilter<'_>,
    rows: usize,
    keep: usize,
) -> Vec<MinHit> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = cores.min(rows / MIN_ROWS_PER_THREAD).max(1);
    if threads == 1 {
        return scan_range(spaces, filter, 0..rows, keep);
    }
    let per = rows.div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = (1..threads)
            .map(|t| {
                let range = t * per..((t + 1) * per).min(rows);
                s.spawn(move || scan_range(spaces, filter, range, keep))
            })
            .collect();
        let mut all = scan_range(spaces, filter, 0..per.min(rows), keep);
        for h in handles {
            // A scan thread only does arithmetic on checked slices: it cannot panic.
            all.extend(h.join().unwrap_or_default());
        }
        all
    })
}

fn scan_range(
    spaces: &[SpaceScan<'_>],
    filter: &ScanFilter<'_>,
    range: std::ops::Range<usize>,
    keep: usize,
) -> Vec<MinHit> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above).
        return unsafe { scan_range_avx2(spaces, filter, range, keep) };
    }
    scan_range_generic(spaces, filter, range, keep)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn scan_range_avx2(
    spaces: &[SpaceScan<'_>],
    filter: &ScanFilter<'_>,
    range: std::ops::Range<usize>,
    keep: usize,
) -> Vec<MinHit> {
    scan_range_generic(spaces, filter, range, keep)
}

#[inline(always)]
fn scan_range_generic(
    spaces: &[SpaceScan<'_>],
    filter: &ScanFilter<'_>,
    range: std::ops::Range<usize>,
    keep: usize,
) -> Vec<MinHit> {
    let mut heap: BinaryHeap<MinHit> = BinaryHeap::with_capacity(keep + 1);
    for i in range {
        if !filter.wanted.is_empty() && !filter.wanted.contains(&filter.row_modalities[i]) {
            continue;
        }
        let mut sum = 0.0f32;
        let mut n = 0u32;
        for s in spaces {
            if s.present[i] {
                let row = &s.rows.codes[i * s.dim..(i + 1) * s.dim];
                sum += dot_i8(&s.query, row) as f32 * (s.query_scale * s.rows.scales[i]);
                n += 1;
            }
        }
        if n == 0 {
            continue;
        }
        let score = sum / n as f32;
        if heap.len() < keep {
            heap.push(MinHit(score, i));
        } else if heap.peek().is_some_and(|w| score > w.0) {
            heap.pop();
            heap.push(MinHit(score, i));
        }
    }
    heap.into_vec()
}

/// The longest vectors [`dot_i8`] takes: each product is at most 128 * 128 = 2^14 in
/// magnitude (-128 included, though [`quantise`] writes only -127..=127), so the i32 sum of
/// this many cannot overflow, in any lane or in total. Spaces of wider rows are scanned exactly.
pub(crate) const MAX_DOT_LEN: usize = i32::MAX as usize / (128 * 128);

/// Integer dot product of two int8 vectors (extra values of the longer one ignored), with
/// sixteen independent i32 lanes so it vectorises. Exact for up to [`MAX_DOT_LEN`] values:
/// products are widened to i32 before they are summed (no i8 or i16 intermediate).
#[inline(always)]
pub(crate) fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    debug_assert!(a.len().min(b.len()) <= MAX_DOT_LEN);
    let mut acc = [0i32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: i32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| i32::from(*x) * i32::from(*y))
        .sum();
    for (x, y) in ca.zip(cb) {
        for j in 0..16 {
            acc[j] += i32::from(x[j]) * i32::from(y[j]);
        }
    }
    acc.iter().sum::<i32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantised_vectors_reconstruct_within_half_a_step() {
        let v: Vec<f32> = (0..37).map(|i| ((i as f32) * 0.7).sin() * 0.3).collect();
        let mut codes = vec![0i8; v.len()];
        let scale = quantise(&v, &mut codes);
        for (c, x) in codes.iter().zip(&v) {
            assert!((f32::from(*c) * scale - x).abs() <= scale * 0.5 + 1e-7);
        }
        assert!(codes.iter().any(|&c| c.abs() == 127));
        let mut zero = vec![5i8; 4];
        assert_eq!(quantise(&[0.0; 4], &mut zero), 0.0);
        assert_eq!(zero, vec![0; 4]);
    }

    #[test]
    fn dot_i8_is_the_integer_sum_at_every_length() {
        for n in [0usize, 1, 15, 16, 17, 64, 100, 256] {
            // Codes over the whole i8 range, -128 included.
            let a: Vec<i8> = (0..n).map(|i| ((i * 37) % 256) as u8 as i8).collect();
            let b: Vec<i8> = (0..n)
                .map(|i| (127 - ((i * 11) % 256) as i32) as i8)
                .collect();
            let plain: i32 = a
                .iter()
                .zip(&b)
                .map(|(x, y)| i32::from(*x) * i32::from(*y))
                .sum();
            assert_eq!(dot_i8(&a, &b), plain, "n = {n}");
        }
        let extreme = vec![-128i8; 256];
        assert_eq!(dot_i8(&extreme, &extreme), 256 * 16384);
        // The longest vectors allowed, at the extreme, stay within i32.
        let extreme = vec![-128i8; MAX_DOT_LEN];
        assert_eq!(
            i64::from(dot_i8(&extreme, &extreme)),
            MAX_DOT_LEN as i64 * 16384
        );
        let other = vec![127i8; MAX_DOT_LEN];
        assert_eq!(
            i64::from(dot_i8(&extreme, &other)),
            MAX_DOT_LEN as i64 * -16256
        );
    }
}
