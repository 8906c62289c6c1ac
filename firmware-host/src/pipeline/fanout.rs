//! One network output fanned out: tagged by the runtime's tagger, written as a tag line, and
//! inserted into the index (with a short retry when the database is busy).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mmv_runtime::bundle::Embedding;
use mmv_runtime::tag::{Tag, Tagger};

use super::{Outputs, PipelineStats};
use crate::model::Modality;
use crate::outputs::index_sink::{IndexRecord, IndexSink};
use crate::outputs::tags_jsonl::TagRecord;

/// Maps monotonic instants to Unix time, from one reading of both clocks.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    instant: Instant,
    unix: f64,
}

impl Clock {
    pub fn now() -> Self {
        Self {
            instant: Instant::now(),
            unix: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
        }
    }

    pub fn unix(&self, t: Instant) -> f64 {
        if t >= self.instant {
            self.unix + (t - self.instant).as_secs_f64()
        } else {
            self.unix - (self.instant - t).as_secs_f64()
        }
    }
}

/// One output of a network, to tag and publish.
pub struct Output<'a> {
    pub source: &'a str,
    pub modality: Modality,
    pub embedding: &'a Embedding,
    /// Stream seconds.
    pub span_s: (f64, f64),
    /// Capture instants of its start and end.
    pub span: (Instant, Instant),
    /// `Some(thumbnail)`: also an index row, with that JPEG.
    pub index: Option<Option<&'a [u8]>>,
}

/// What tagging keeps: the best `top_k` labels whose softmax probability is at least
/// `min_probability`, as `mmv tag` does (the open-set cut is the tagger's).
#[derive(Clone, Copy, Debug)]
pub struct Selection {
    pub top_k: usize,
    pub min_probability: f32,
    /// Also write tag lines without a tag.
    pub emit_empty: bool,
}

/// The tags of an embedding in the text space that the bundle's open-set cut for `modality`
/// lets through (none when no label is there); none without a text-space embedding (audio in
/// the disjoint design) or when scoring fails (logged).
pub fn tags(
    tagger: &Tagger,
    embedding: &Embedding,
    modality: Modality,
    sel: Selection,
) -> Vec<Tag> {
    let Some(z) = embedding.vat.as_deref() else {
        return Vec::new();
    };
    match tagger.scores(z) {
        Ok(scores) => tagger
            .top(&scores, cut_key(modality), sel.top_k, sel.min_probability)
            .into_iter()
            .filter(|t| t.present)
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "tagging failed");
            Vec::new()
        }
    }
}

/// The open-set calibration's name for a network's modality (clips are "video" there).
pub fn cut_key(modality: Modality) -> &'static str {
    match modality {
        Modality::Clip => "video",
        m => m.name(),
    }
}

/// Writes the tag line and the index row of `out`, with `tags`; counts into `stats`.
pub fn publish<X: IndexSink>(
    outputs: &mut Outputs<X>,
    clock: &Clock,
    sel: Selection,
    out: &Output<'_>,
    tags: &[Tag],
    stats: &mut PipelineStats,
) {
    let (start, end) = out.span;
    let latency_ms = end.elapsed().as_secs_f64() * 1e3;
    stats.last_latency_ms = latency_ms;
    if (!tags.is_empty() || sel.emit_empty)
        && let Some(w) = outputs.tags.as_mut()
    {
        let record = TagRecord {
            time: clock.unix(start),
            source: out.source,
            modality: out.modality,
            start_s: out.span_s.0,
            end_s: out.span_s.1,
            latency_ms,
            tags,
        };
        match w.write(&record) {
            Ok(()) => stats.tag_lines += 1,
            Err(e) => tracing::error!(error = %e, "tag output failed"),
        }
    }
    let (Some(thumbnail), Some(sink)) = (out.index, outputs.index.as_mut()) else {
        return;
    };
    let record = IndexRecord {
        source: out.source,
        modality: out.modality,
        start_time: clock.unix(start),
        end_time: clock.unix(end),
        start_s: out.span_s.0,
        end_s: out.span_s.1,
        embedding: out.embedding,
        tags,
        thumbnail,
    };
    // A busy database (another reader) is worth a short retry; losing the row is not.
    let mut attempt = 0;
    loop {
        match sink.insert(&record) {
            Ok(()) => {
                stats.index_rows += 1;
                break;
            }
            Err(e) if attempt < 3 => {
                attempt += 1;
                tracing::warn!(error = %e, attempt, "index insert failed; retrying");
                std::thread::sleep(Duration::from_millis(20 << attempt));
            }
            Err(e) => {
                stats.index_failures += 1;
                tracing::error!(error = %e, "index insert failed; row lost");
                break;
            }
        }
    }
}
