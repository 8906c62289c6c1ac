//! Tags as JSON lines: one object per output of a network, on stdout (the journal, under
//! systemd) or appended to a file. Each line is flushed, so a reader (`tail -f`, a log shipper)
//! sees it at once and a crash loses at most the line being written.
//!
//! ```json
//! {"time":1718000000.125,"source":"camera","modality":"clip","start_s":3.2,"end_s":4.0,"latency_ms":12.5,"tags":[{"label":"seven","score":0.83}]}
//! ```
//! `time`: Unix seconds when the data was captured (the start of the clip or window);
//! `start_s`/`end_s`: stream time since the source was opened.
//!
//! The same writer carries event records ([`super::events_jsonl`]) when they share the stream.

use std::io::Write;

use serde::Serialize;

use mmv_runtime::tag::Tag;

use crate::model::Modality;

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TagRecord<'a> {
    pub time: f64,
    pub source: &'a str,
    pub modality: Modality,
    pub start_s: f64,
    pub end_s: f64,
    pub latency_ms: f64,
    pub tags: &'a [Tag],
}

/// Writing a tag line failed.
#[derive(Debug, thiserror::Error)]
#[error("writing tags: {0}")]
pub struct TagsError(#[from] std::io::Error);

/// Writes [`TagRecord`]s as JSON lines.
#[derive(Debug)]
pub struct TagWriter<W> {
    out: W,
    lines: u64,
    buf: Vec<u8>,
}

impl<W: Write> TagWriter<W> {
    pub fn new(out: W) -> Self {
        Self {
            out,
            lines: 0,
            buf: Vec::with_capacity(512),
        }
    }

    pub fn write(&mut self, record: &TagRecord<'_>) -> Result<(), TagsError> {
        self.write_record(record)
    }

    /// Writes any record (an event, see [`super::events_jsonl`]) as one line.
    pub fn write_record<R: Serialize>(&mut self, record: &R) -> Result<(), TagsError> {
        self.buf.clear();
        serde_json::to_writer(&mut self.buf, record).map_err(std::io::Error::other)?;
        self.buf.push(b'\n');
        // One write per line, so concurrent appenders to the same file never interleave lines.
        self.out.write_all(&self.buf)?;
        self.out.flush()?;
        self.lines += 1;
        Ok(())
    }

    pub fn lines(&self) -> u64 {
        self.lines
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_flushed_json_object_per_line() {
        let mut w = TagWriter::new(Vec::new());
        let tags = [Tag {
            label: "seven".into(),
            score: 0.5,
            similarity: 0.3,
            contrast: 0.0,
            typicality: None,
            present: true,
        }];
        let rec = TagRecord {
            time: 1.5,
            source: "camera",
            modality: Modality::Clip,
            start_s: 0.0,
            end_s: 0.8,
            latency_ms: 3.0,
            tags: &tags,
        };
        w.write(&rec).expect("write");
        w.write(&rec).expect("write");
        let text = String::from_utf8(w.into_inner()).expect("utf8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        let v: serde_json::Value = serde_json::from_str(lines[0]).expect("json");
        assert_eq!(v["modality"], "clip");
        assert_eq!(v["tags"][0]["label"], "seven");
        assert_eq!(v["tags"][0]["score"], 0.5);
    }
}
