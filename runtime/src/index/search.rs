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
//! 768 MB and one query is about 2e8 multiply-adds: tens of milliseconds on one core, which is
//! why there is no approximate index.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use rusqlite::params;
use serde::Serialize;

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

/// One embedding space: `rows x dim` values, with a flag per row saying whether it has one.
#[derive(Clone, Debug, Default)]
struct Space {
    dim: usize,
    data: Vec<f32>,
    present: Vec<bool>,
}

impl Space {
    fn push(&mut self, v: Option<Vec<f32>>) -> Result<(), String> {
        match v {
            Some(v) => {
                if self.dim == 0 {
                    self.dim = v.len();
                    // Rows seen so far lacked this space: give them zero rows.
                    self.data = vec![0.0; self.present.len() * self.dim];
                }
                if v.len() != self.dim {
                    return Err(format!("{} values, the others have {}", v.len(), self.dim));
                }
                self.data.extend_from_slice(&v);
                self.present.push(true);
            }
            None => {
                self.data.extend(std::iter::repeat_n(0.0, self.dim));
                self.present.push(false);
            }
        }
        Ok(())
    }

    fn row(&self, i: usize) -> Option<&[f32]> {
        self.present[i].then(|| &self.data[i * self.dim..(i + 1) * self.dim])
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
            self.va.present.pop();
            self.va.data.truncate(self.va.present.len() * self.va.dim);
            return Err(format!("vat: {e}"));
        }
        self.ids.push(id);
        self.modalities.push(modality);
        Ok(())
    }

    /// The `k` best rows for `query` among rows of the `modalities` given (all when empty),
    /// best first. Rows that share no space with the query are skipped.
    pub fn top_k(&self, query: &Query, k: usize, modalities: &[Modality]) -> Vec<Hit> {
        if k == 0 {
            return Vec::new();
        }
        let q_va = if query.text {
            None
        } else {
            query.va.as_deref()
        };
        let q_va = q_va.filter(|q| q.len() == self.va.dim);
        let q_vat = query.vat.as_deref().filter(|q| q.len() == self.vat.dim);
        // A min-heap of the best k: its top is the worst kept hit.
        let mut heap: BinaryHeap<MinHit> = BinaryHeap::with_capacity(k + 1);
        for i in 0..self.ids.len() {
            if !modalities.is_empty() && !modalities.contains(&self.modalities[i]) {
                continue;
            }
            let mut sum = 0.0;
            let mut spaces = 0;
            for (q, space) in [(q_va, &self.va), (q_vat, &self.vat)] {
                if let (Some(q), Some(row)) = (q, space.row(i)) {
                    sum += dot(q, row);
                    spaces += 1;
                }
            }
            if spaces == 0 {
                continue;
            }
            let score = sum / spaces as f32;
            if heap.len() < k {
                heap.push(MinHit(score, i));
            } else if heap.peek().is_some_and(|w| score > w.0) {
                heap.pop();
                heap.push(MinHit(score, i));
            }
        }
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

/// Orders hits so that `BinaryHeap` (a max-heap) keeps the lowest score on top; on equal scores
/// the later row is "lower", so earlier rows win ties.
#[derive(Clone, Copy, Debug)]
struct MinHit(f32, usize);

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
