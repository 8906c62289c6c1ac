//! Brute-force search: every complete row's embeddings of one model held in memory as two
//! dense matrices (va and vat), scored against a query with dot products, top-k kept in a heap.
//!
//! How a query meets a row:
//! - text lives only in the text space, so a text query scores `q.vat . row.vat`;
//! - an image or audio query scores the mean of the dot products in each space both it and the
//!   row have (va and vat for the FAC design), so audio finds video through S_va, where the two
//!   were trained to meet, and through S_vat, where both meet text.
//!
//! Embeddings are unit vectors, so scores are cosines in [-1, 1]. A million 192-value rows is
//! 768 MB and one query is about 2e8 multiply-adds. Tables of at least
//! [`QUANTISED_MIN_ROWS`] rows are scanned through int8 copies of the rows on all cores and
//! the best candidates re-ranked exactly in f32 ([`super::scan`]); smaller ones, and
//! [`EmbeddingTable::top_k_exact`], compute every exact f32 score. There is no approximate
//! index.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use rusqlite::params;
use serde::Serialize;

use super::scan::{self, Codes, ScanFilter, SpaceScan};
use super::store::from_blob;
use super::{Index, IndexError, Modality, ModelKey, SegmentInfo};
use crate::vector::dot;

/// A query embedding. `text` queries compare in the text space only.
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    pub va: Option<Vec<f32>>,
    pub vat: Option<Vec<f32>>,
    pub text: bool,
}

/// One search result.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Hit {
    pub segment_id: i64,
    pub score: f32,
}

/// Row count from which [`EmbeddingTable::top_k`] scans the int8 copies (then re-ranks in f32).
pub const QUANTISED_MIN_ROWS: usize = scan::MIN_QUANTISED_ROWS;

/// One embedding space: `rows x dim` values, with a flag per row saying whether it has one,
/// and the rows' int8 copy for the quantised scan.
#[derive(Clone, Debug, Default)]
struct Space {
    dim: usize,
    data: Vec<f32>,
    present: Vec<bool>,
    codes: Codes,
}

impl Space {
    fn push(&mut self, v: Option<Vec<f32>>) -> Result<(), String> {
        match v {
            Some(v) => {
                if self.dim == 0 {
                    self.dim = v.len();
                    // Rows seen so far lacked this space: give them zero rows.
                    self.data = vec![0.0; self.present.len() * self.dim];
                    self.codes.backfill(self.present.len(), self.dim);
                }
                if v.len() != self.dim {
                    return Err(format!("{} values, the others have {}", v.len(), self.dim));
                }
                self.data.extend_from_slice(&v);
                self.codes.push(Some(&v), self.dim);
                self.present.push(true);
            }
            None => {
                self.data.extend(std::iter::repeat_n(0.0, self.dim));
                self.codes.push(None, self.dim);
                self.present.push(false);
            }
        }
        Ok(())
    }

    fn row(&self, i: usize) -> Option<&[f32]> {
        self.present[i].then(|| &self.data[i * self.dim..(i + 1) * self.dim])
    }

    /// Drops rows from `rows` on (undoing a push).
    fn truncate(&mut self, rows: usize) {
        self.present.truncate(rows);
        self.data.truncate(rows * self.dim);
        self.codes.truncate(rows, self.dim);
    }
}

/// The searchable rows of one model.
#[derive(Clone, Debug, Default)]
pub struct EmbeddingTable {
    ids: Vec<i64>,
    modalities: Vec<Modality>,
    va: Space,
    vat: Space,
}

impl EmbeddingTable {
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The text-space embedding of a segment in the table, if it has one.
    pub fn vat_of(&self, segment_id: i64) -> Option<&[f32]> {
        let i = self.ids.iter().position(|&id| id == segment_id)?;
        self.vat.row(i)
    }

    /// Width of the (va, vat) spaces; 0 for a space no row has.
    pub fn dims(&self) -> (usize, usize) {
        (self.va.dim, self.vat.dim)
    }

    /// Appends one row (used by [`Index::load_table`], and to build tables in tests and benches).
    pub fn push(
        &mut self,
        id: i64,
        modality: Modality,
        va: Option<Vec<f32>>,
        vat: Option<Vec<f32>>,
    ) -> Result<(), String> {
        self.va.push(va).map_err(|e| format!("va: {e}"))?;
        if let Err(e) = self.vat.push(vat) {
            self.va.truncate(self.ids.len());
            return Err(format!("vat: {e}"));
        }
        self.ids.push(id);
        self.modalities.push(modality);
        Ok(())
    }

    /// The `k` best rows for `query` among rows of the `modalities` given (all when empty),
    /// best first. Rows that share no space with the query are skipped. Tables of at least
    /// [`QUANTISED_MIN_ROWS`] rows are scanned in int8 on all cores and the best candidates
    /// re-ranked in f32 (scores are exact; a row whose int8 score falls outside the
    /// candidates can be missed: recall@10 against [`Self::top_k_exact`] is tested).
    pub fn top_k(&self, query: &Query, k: usize, modalities: &[Modality]) -> Vec<Hit> {
        if k == 0 {
            return Vec::new();
        }
        if self.len() < QUANTISED_MIN_ROWS || self.va.dim.max(self.vat.dim) > scan::MAX_DOT_LEN {
            return self.top_k_exact(query, k, modalities);
        }
        let (q_va, q_vat) = self.query_spaces(query);
        let spaces: Vec<SpaceScan<'_>> = [(q_va, &self.va), (q_vat, &self.vat)]
            .into_iter()
            .filter_map(|(q, space)| {
                let q = q?;
                let mut codes = vec![0i8; q.len()];
                let query_scale = scan::quantise(q, &mut codes);
                Some(SpaceScan {
                    query: codes,
                    query_scale,
                    present: &space.present,
                    rows: &space.codes,
                    dim: space.dim,
                })
            })
            .collect();
        if spaces.is_empty() {
            return Vec::new();
        }
        let filter = ScanFilter {
            row_modalities: &self.modalities,
            wanted: modalities,
        };
        let candidates = scan::scan(&spaces, &filter, self.len(), scan::candidates(k));
        // Exact f32 scores of the candidates, the best k kept.
        let mut heap: BinaryHeap<MinHit> = BinaryHeap::with_capacity(k + 1);
        for MinHit(_, i) in candidates {
            if let Some(score) = self.exact_score(i, q_va, q_vat) {
                keep_best(&mut heap, k, MinHit(score, i));
            }
        }
        self.hits(heap)
    }

    /// [`Self::top_k`] by every exact f32 score, on one core, at any table size.
    pub fn top_k_exact(&self, query: &Query, k: usize, modalities: &[Modality]) -> Vec<Hit> {
        if k == 0 {
            return Vec::new();
        }
        let (q_va, q_vat) = self.query_spaces(query);
        // A min-heap of the best k: its top is the worst kept hit.
        let mut heap: BinaryHeap<MinHit> = BinaryHeap::with_capacity(k + 1);
        for i in 0..self.ids.len() {
            if !modalities.is_empty() && !modalities.contains(&self.modalities[i]) {
                continue;
            }
            if let Some(score) = self.exact_score(i, q_va, q_vat) {
                keep_best(&mut heap, k, MinHit(score, i));
            }
        }
        self.hits(heap)
    }

    /// The query's (va, vat) vectors that this table can score (a text query has no va).
    fn query_spaces<'q>(&self, query: &'q Query) -> (Option<&'q [f32]>, Option<&'q [f32]>) {
        let q_va = if query.text {
            None
        } else {
            query.va.as_deref()
        };
        (
            q_va.filter(|q| q.len() == self.va.dim),
            query.vat.as_deref().filter(|q| q.len() == self.vat.dim),
        )
    }

    /// Row `i`'s score: the mean dot product over the spaces both it and the query have.
    fn exact_score(&self, i: usize, q_va: Option<&[f32]>, q_vat: Option<&[f32]>) -> Option<f32> {
        let mut sum = 0.0;
        let mut spaces = 0;
        for (q, space) in [(q_va, &self.va), (q_vat, &self.vat)] {
            if let (Some(q), Some(row)) = (q, space.row(i)) {
                sum += dot(q, row);
                spaces += 1;
            }
        }
        (spaces > 0).then(|| sum / spaces as f32)
    }

    /// The kept hits, best first (earlier rows first on equal scores).
    fn hits(&self, heap: BinaryHeap<MinHit>) -> Vec<Hit> {
        let mut hits: Vec<Hit> = heap
            .into_iter()
            .map(|MinHit(score, i)| Hit {
                segment_id: self.ids[i],
                score,
            })
            .collect();
        hits.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then(a.segment_id.cmp(&b.segment_id))
        });
        hits
    }
}

/// Keeps `hit` in a min-heap of at most `k` best hits.
fn keep_best(heap: &mut BinaryHeap<MinHit>, k: usize, hit: MinHit) {
    if heap.len() < k {
        heap.push(hit);
    } else if heap.peek().is_some_and(|w| hit < *w) {
        heap.pop();
        heap.push(hit);
    }
}

/// Orders hits so that `BinaryHeap` (a max-heap) keeps the lowest score on top; on equal scores
/// the later row is "lower", so earlier rows win ties.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MinHit(pub(crate) f32, pub(crate) usize);

impl PartialEq for MinHit {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for MinHit {}
impl PartialOrd for MinHit {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for MinHit {
    fn cmp(&self, other: &Self) -> Ordering {
        other.0.total_cmp(&self.0).then(self.1.cmp(&other.1))
    }
}

impl Index {
    /// The `k` best rows of `model` for `query` (see [`EmbeddingTable::top_k`]), with their
    /// files and times. Loads the rows first; to run many queries, use [`Index::load_table`].
    pub fn search(
        &self,
        model: &ModelKey,
        query: &Query,
        k: usize,
        modalities: &[Modality],
    ) -> Result<Vec<(SegmentInfo, f32)>, IndexError> {
        let table = self.load_model_table(model)?;
        self.resolve(&table.top_k(query, k, modalities))
    }

    /// The rows of `model`; an index that has none of its rows is an error naming the models
    /// it does have.
    pub fn load_model_table(&self, model: &ModelKey) -> Result<EmbeddingTable, IndexError> {
        let Some(id) = self.find_model(model)? else {
            let available: Vec<String> = self.models()?.iter().map(ToString::to_string).collect();
            return Err(IndexError::NoModel {
                path: self.path.display().to_string(),
                model: model.to_string(),
                available: if available.is_empty() {
                    "nothing yet".into()
                } else {
                    available.join(", ")
                },
            });
        };
        self.load_table(id)
    }

    /// Hits with their segment and file details.
    pub fn resolve(&self, hits: &[Hit]) -> Result<Vec<(SegmentInfo, f32)>, IndexError> {
        hits.iter()
            .map(|h| Ok((self.segment(h.segment_id)?, h.score)))
            .collect()
    }

    /// Loads every row of complete files embedded by `model_id` into memory.
    pub fn load_table(&self, model_id: i64) -> Result<EmbeddingTable, IndexError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT s.id, s.modality, s.va, s.vat FROM segments s \
                 JOIN files f ON f.id = s.file_id \
                 WHERE f.status = 'complete' AND f.model_id = ?1 ORDER BY s.id",
            )
            .map_err(|e| self.sql(e))?;
        let mut rows = stmt.query(params![model_id]).map_err(|e| self.sql(e))?;
        let mut table = EmbeddingTable::default();
        while let Some(row) = rows.next().map_err(|e| self.sql(e))? {
            let id: i64 = row.get(0).map_err(|e| self.sql(e))?;
            let modality: String = row.get(1).map_err(|e| self.sql(e))?;
            let modality = Modality::parse(&modality)
                .ok_or_else(|| self.corrupt(format!("segment {id} has modality {modality:?}")))?;
            let blob = |col: usize| -> Result<Option<Vec<f32>>, IndexError> {
                let bytes: Option<Vec<u8>> = row.get(col).map_err(|e| self.sql(e))?;
                bytes
                    .map(|b| {
                        from_blob(&b).ok_or_else(|| {
                            self.corrupt(format!(
                                "segment {id}: an embedding of {} bytes is not f32 values",
                                b.len()
                            ))
                        })
                    })
                    .transpose()
            };
            let (va, vat) = (blob(2)?, blob(3)?);
            table
                .push(id, modality, va, vat)
                .map_err(|e| self.corrupt(format!("segment {id}: {e}")))?;
        }
        Ok(table)
    }
}

#[cfg(test)]
mod tests {
    use super::super::store::tests::{model, new_file, seg};
    use super::*;

    fn unit(v: &[f32]) -> Vec<f32> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect()
    }

    #[test]
    fn top_k_is_exact_and_ordered() {
        let mut t = EmbeddingTable::default();
        let mut rng = 12345u64;
        let mut next = || {
            rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1);
            ((rng >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        };
        let rows: Vec<(Vec<f32>, Vec<f32>)> = (0..500)
            .map(|_| {
                let va: Vec<f32> = (0..13).map(|_| next()).collect();
                let vat: Vec<f32> = (0..5).map(|_| next()).collect();
                (unit(&va), unit(&vat))
            })
            .collect();
        for (i, (va, vat)) in rows.iter().enumerate() {
            let m = if i % 2 == 0 {
                Modality::Video
            } else {
                Modality::Audio
            };
            t.push(i as i64, m, Some(va.clone()), Some(vat.clone()))
                .unwrap();
        }
        let q = Query {
            va: Some(rows[7].0.clone()),
            vat: Some(rows[7].1.clone()),
            text: false,
        };
        let hits = t.top_k(&q, 10, &[]);
        assert_eq!(hits.len(), 10);
        assert_eq!(hits[0].segment_id, 7);
        assert!((hits[0].score - 1.0).abs() < 1e-5);
        // Same as sorting every score.
        let mut all: Vec<(f32, i64)> = rows
            .iter()
            .enumerate()
            .map(|(i, (va, vat))| {
                let s = 0.5 * (dot(&q.va.clone().unwrap(), va) + dot(&q.vat.clone().unwrap(), vat));
                (s, i as i64)
            })
            .collect();
        all.sort_by(|a, b| b.0.total_cmp(&a.0));
        let want: Vec<i64> = all.iter().take(10).map(|x| x.1).collect();
        let got: Vec<i64> = hits.iter().map(|h| h.segment_id).collect();
        assert_eq!(got, want);
        // Modality filter.
        let audio = t.top_k(&q, 3, &[Modality::Audio]);
        assert!(audio.iter().all(|h| h.segment_id % 2 == 1));
        // Text queries ignore va.
        let tq = Query {
            va: Some(rows[3].0.clone()),
            vat: Some(rows[9].1.clone()),
            text: true,
        };
        assert_eq!(t.top_k(&tq, 1, &[])[0].segment_id, 9);
        assert!(t.top_k(&q, 0, &[]).is_empty());
    }

    fn random_unit(next: &mut impl FnMut() -> f32, dim: usize) -> Vec<f32> {
        unit(&(0..dim).map(|_| next()).collect::<Vec<_>>())
    }

    #[test]
    fn quantised_scan_recalls_the_exact_top_10() {
        // Above QUANTISED_MIN_ROWS: int8 scan on all cores + f32 re-ranking.
        let rows = QUANTISED_MIN_ROWS + 3_000;
        let mut rng = 987654321u64;
        let mut next = || {
            rng = rng
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((rng >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        };
        let mut t = EmbeddingTable::default();
        for i in 0..rows {
            let m = [Modality::Video, Modality::Audio, Modality::Image][i % 3];
            // Every 7th row lacks va (a text-only space), as audio rows of some designs.
            let va = (i % 7 != 0).then(|| random_unit(&mut next, 64));
            t.push(i as i64, m, va, Some(random_unit(&mut next, 256)))
                .unwrap();
        }
        let (mut found, mut wanted) = (0usize, 0usize);
        for q in 0..24 {
            let query = Query {
                va: Some(random_unit(&mut next, 64)),
                vat: Some(random_unit(&mut next, 256)),
                text: q % 2 == 0,
            };
            let filter: &[Modality] = if q % 3 == 0 { &[Modality::Audio] } else { &[] };
            let exact = t.top_k_exact(&query, 10, filter);
            let fast = t.top_k(&query, 10, filter);
            assert_eq!(fast.len(), 10);
            // Scores are exact f32 scores, best first, of rows the filter allows.
            let (q_va, q_vat) = t.query_spaces(&query);
            for h in &fast {
                assert!(filter.is_empty() || h.segment_id % 3 == 1);
                let i = h.segment_id as usize;
                assert_eq!(t.exact_score(i, q_va, q_vat), Some(h.score));
            }
            assert!(fast.windows(2).all(|p| p[0].score >= p[1].score));
            wanted += exact.len();
            found += exact.iter().filter(|e| fast.contains(e)).count();
        }
        let recall = found as f64 / wanted as f64;
        assert!(recall >= 0.99, "recall@10 {recall}");
    }

    #[test]
    fn rows_without_a_space_are_scored_on_the_others() {
        let mut t = EmbeddingTable::default();
        t.push(1, Modality::Audio, Some(vec![1.0, 0.0]), None)
            .unwrap();
        t.push(2, Modality::Video, Some(vec![0.0, 1.0]), Some(vec![1.0]))
            .unwrap();
        assert_eq!(t.dims(), (2, 1));
        // Text needs vat: row 1 cannot be found by text.
        let text = Query {
            va: None,
            vat: Some(vec![1.0]),
            text: true,
        };
        let hits = t.top_k(&text, 5, &[]);
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].segment_id, 2);
        // A mismatched row is refused and leaves the table as it was.
        assert!(t.push(3, Modality::Video, Some(vec![1.0]), None).is_err());
        assert!(
            t.push(3, Modality::Video, None, Some(vec![1.0, 2.0]))
                .is_err()
        );
        assert_eq!(t.len(), 2);
        assert_eq!(t.va.data.len(), 4);
    }

    #[test]
    fn loads_only_complete_files_of_the_model() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = Index::open(&dir.path().join("i.db")).unwrap();
        let m = index.model_id(&model()).unwrap();
        let a = index.begin_file(m, &new_file("a")).unwrap();
        index
            .commit_clips(
                a.id,
                0,
                1,
                &[seg(0, Modality::Video, &[1.0, 0.0], &[1.0])],
                Some(1.6),
            )
            .unwrap();
        let b = index.begin_file(m, &new_file("b")).unwrap();
        index
            .commit_clips(
                b.id,
                0,
                1,
                &[seg(0, Modality::Video, &[0.0, 1.0], &[1.0])],
                None,
            )
            .unwrap();
        let t = index.load_table(m).unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!(t.dims(), (2, 1));
    }
}
