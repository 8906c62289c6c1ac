//! Event records: a label that holds over several windows of a source's modality, as one
//! `start` record when it begins to hold and one `end` record when it stops
//! ([`crate::pipeline::events`] has the rule). One JSON object a line, written by a
//! [`TagWriter`](super::tags_jsonl::TagWriter) into the tag stream (`outputs.events` absent) or
//! a stream of their own. Self-contained, so another transport (MQTT, a web page's event
//! stream) can carry the same objects as they are:
//!
//! ```json
//! {"event":"start","id":7,"label":"seven","source":"camera","modality":"clip","start_time":1718000003.2,"start_s":3.2,"windows":2,"similarity":0.41,"score":0.83}
//! {"event":"end","id":7,"label":"seven","source":"camera","modality":"clip","start_time":1718000003.2,"start_s":3.2,"end_time":1718000009.6,"end_s":9.6,"windows":4,"similarity":0.44,"score":0.86,"reason":"absent"}
//! ```
//!
//! - `event`: `start` or `end`; `id` pairs them (unique within one run of the daemon);
//! - `start_time`/`end_time`: Unix seconds at capture of the first window where the label was
//!   present and of the end of the last one; `start_s`/`end_s` the same in stream seconds (as on
//!   tag lines). Start records have no end;
//! - `windows`: windows where the label was present so far; `similarity`, `score`: the best
//!   cosine similarity and softmax probability over them;
//! - `reason` (end records): `absent` (the rule), `stream_end`, `restart`, `source_lost`,
//!   `stopped`.
//!
//! Tag lines have no `event` key, so a reader of the shared stream tells them apart by it.

use serde::Serialize;

use crate::model::Modality;

/// Which end of an event a record is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Start,
    End,
}

/// Why an event ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The label is present in fewer than k of the last n windows.
    Absent,
    /// The source's stream ended cleanly (end of a file).
    StreamEnd,
    /// The source was opened again (its stream time started afresh).
    Restart,
    /// The source is down (unplugged, a driver error); it is being reopened.
    SourceLost,
    /// The daemon is stopping.
    Stopped,
}

/// One event record.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct EventRecord {
    pub event: Phase,
    pub id: u64,
    pub label: String,
    pub source: String,
    pub modality: Modality,
    pub start_time: f64,
    pub start_s: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_s: Option<f64>,
    pub windows: u32,
    pub similarity: f32,
    pub score: f32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<EndReason>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outputs::tags_jsonl::TagWriter;

    #[test]
    fn start_and_end_records_as_json_lines() {
        let mut start = EventRecord {
            event: Phase::Start,
            id: 7,
            label: "seven".into(),
            source: "camera".into(),
            modality: Modality::Clip,
            start_time: 1_718_000_003.25,
            start_s: 3.25,
            end_time: None,
            end_s: None,
            windows: 2,
            similarity: 0.5,
            score: 0.75,
            reason: None,
        };
        let end = EventRecord {
            event: Phase::End,
            end_time: Some(1_718_000_009.5),
            end_s: Some(9.5),
            reason: Some(EndReason::StreamEnd),
            ..start.clone()
        };
        let mut w = TagWriter::new(Vec::new());
        w.write_record(&start).expect("write");
        w.write_record(&end).expect("write");
        let text = String::from_utf8(w.into_inner()).expect("utf8");
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["event"], "start");
        assert_eq!(lines[0]["modality"], "clip");
        assert_eq!(lines[0]["start_s"], 3.25);
        assert!(lines[0].get("end_s").is_none() && lines[0].get("reason").is_none());
        assert_eq!(lines[1]["event"], "end");
        assert_eq!(lines[1]["id"], 7);
        assert_eq!(lines[1]["end_time"], 1_718_000_009.5);
        assert_eq!(lines[1]["reason"], "stream_end");
        start.windows = 3;
        assert_ne!(start, end);
    }
}
