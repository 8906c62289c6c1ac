//! Text-to-video retrieval metrics: recall at K and the median rank.
//!
//! On AV-Digits many clips show the same digit, so a retrieved clip counts as correct when it
//! shows the digit the query names (MSRVTT has one right video per caption; here there are a
//! tenth of the gallery). R@K is the share of queries with a correct clip among the top K, and
//! the rank of a query is the position of its first correct clip.

/// Retrieval results over a set of queries.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Retrieval {
    pub r_at_1: f64,
    pub r_at_5: f64,
    pub r_at_10: f64,
    pub median_rank: f64,
    pub queries: usize,
    pub gallery: usize,
}

/// `scores`: [queries, gallery] row-major similarities; labels of each query and gallery item.
pub fn retrieval(scores: &[f32], query_labels: &[usize], gallery_labels: &[usize]) -> Retrieval {
    let (q, n) = (query_labels.len(), gallery_labels.len());
    let mut ranks: Vec<usize> = Vec::with_capacity(q);
    for (i, &label) in query_labels.iter().enumerate() {
        let row = &scores[i * n..(i + 1) * n];
        // The best score among correct items; its rank is 1 + the number of wrong items that
        // score strictly higher (ties resolve in the query's favour).
        let best = (0..n)
            .filter(|&j| gallery_labels[j] == label)
            .map(|j| row[j])
            .fold(f32::NEG_INFINITY, f32::max);
        let rank = if best == f32::NEG_INFINITY {
            n + 1
        } else {
            1 + (0..n)
                .filter(|&j| gallery_labels[j] != label && row[j] > best)
                .count()
        };
        ranks.push(rank);
    }
    let recall = |k: usize| ranks.iter().filter(|&&r| r <= k).count() as f64 / q.max(1) as f64;
    let mut sorted = ranks.clone();
    sorted.sort_unstable();
    let median_rank = match sorted.len() {
        0 => 0.0,
        len if len % 2 == 1 => sorted[len / 2] as f64,
        len => (sorted[len / 2 - 1] + sorted[len / 2]) as f64 / 2.0,
    };
    Retrieval {
        r_at_1: recall(1),
        r_at_5: recall(5),
        r_at_10: recall(10),
        median_rank,
        queries: q,
        gallery: n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_count_wrong_items_above_the_best_right_one() {
        // Two queries over four items; labels 0, 1, 0, 1.
        let gallery = [0, 1, 0, 1];
        let scores = [
            0.1, 0.9, 0.8,
            0.2, // query label 0: best right item 0.8, one wrong above -> rank 2
            0.0, 0.5, 0.1, 0.2, // query label 1: right item on top -> rank 1
        ];
        let r = retrieval(&scores, &[0, 1], &gallery);
        assert_eq!(r.r_at_1, 0.5);
        assert_eq!(r.r_at_5, 1.0);
        assert_eq!(r.median_rank, 1.5);
        assert_eq!((r.queries, r.gallery), (2, 4));
    }
}
