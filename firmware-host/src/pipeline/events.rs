//! Events that do not chatter: a label's tag lines turned into one start event when it holds and
//! one end event when it stops, per source and modality.
//!
//! A window (a frame through the image network, a clip, an audio window) shows a label when its
//! tag line lists it as present (the open-set cut, `top_k`, `min_probability`); without a cut
//! (a bundle that is not calibrated), only its best label. With the rule
//! `k` of `n` of the modality:
//!
//! - an event **starts** when the label is present in at least `k` of the last `n` windows;
//!   it starts at the first of those windows where the label is present;
//! - it **ends** when the label is present in fewer than `k` of the last `n` windows, at the end
//!   of the last window where it was present. So a run of at most `n - k` windows without the
//!   label does not split an event, and a label that flickers in fewer than `k` of any `n`
//!   windows never starts one;
//! - it also ends when its stream does: the source's clean end (`stream_end`), a new opening
//!   of the source (stream time runs backwards: `restart`), a source that is down (`source_lost`)
//!   or the daemon stopping (`stopped`).
//!
//! Labels are independent: two labels may hold at once (with `top_k` > 1), and interleave.
//! A window without an embedding (a silent audio window) is a window without labels; a network
//! call that failed is no window at all.

use std::collections::{BTreeMap, VecDeque};

use mmv_runtime::tag::Tag;

use crate::model::Modality;
use crate::outputs::events_jsonl::{EndReason, EventRecord, Phase};

/// The longest history a rule may ask for.
pub const MAX_N: usize = 64;

/// `k` of `n`: the label must be present in at least `k` of the last `n` windows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    pub k: usize,
    pub n: usize,
}

impl Rule {
    /// Why the rule is unusable, if it is.
    pub fn problem(&self) -> Option<String> {
        if self.k == 0 {
            Some(format!(
                "k = 0: k is at least 1 (k = {}, n = {})",
                self.k, self.n
            ))
        } else if self.k > self.n {
            Some(format!(
                "k = {} is more than n = {}: a label cannot be present in more of the last n \
                 windows than n",
                self.k, self.n
            ))
        } else if self.n > MAX_N {
            Some(format!("n = {} is more than {MAX_N}", self.n))
        } else {
            None
        }
    }
}

/// The rule of each modality.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rules {
    pub image: Rule,
    pub clip: Rule,
    pub audio: Rule,
}

impl Rules {
    /// The defaults, measured on replays of AV-Digits-like footage through the daemon
    /// (`examples/event_rules.rs`; firmware-host/README.md, "Events"). Image windows are
    /// frames: 20 of 30 is 2 s of 3 at 10 fps.
    pub const DEFAULT: Self = Self {
        image: Rule { k: 20, n: 30 },
        clip: Rule { k: 2, n: 2 },
        audio: Rule { k: 1, n: 3 },
    };

    /// The defaults where an open-set cut already keeps out what is no label (a calibrated
    /// bundle, `tagging.open_set` or `tagging.threshold`): there a window above the cut is
    /// rarely wrong, and the rules above, measured without a cut, mostly cost missed digits.
    /// Measured with the same replays under the calibrations of 3.1.0 and 3.3.0 (20 min, 145
    /// digits): image 2 of 20 misses 36 / 32 digits against 20 of 30's 40 / 35, clips 1 of 2
    /// 18 / 13 against 2 of 2's 47 / 42, with at most one false event (audio: 1 of 3 either
    /// way); 60 min of footage without digits starts no image or clip event under either.
    pub const WITH_CUT: Self = Self {
        image: Rule { k: 2, n: 20 },
        clip: Rule { k: 1, n: 2 },
        audio: Rule { k: 1, n: 3 },
    };

    /// The defaults for tagging with (`cut`) or without an open-set cut.
    pub fn defaults(cut: bool) -> Self {
        if cut { Self::WITH_CUT } else { Self::DEFAULT }
    }

    pub fn get(&self, m: Modality) -> Rule {
        match m {
            Modality::Image => self.image,
            Modality::Clip => self.clip,
            Modality::Audio => self.audio,
        }
    }
}

impl Default for Rules {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// One window as the events see it.
#[derive(Clone, Copy, Debug)]
pub struct Window<'a> {
    /// Stream seconds.
    pub start_s: f64,
    pub end_s: f64,
    /// Unix seconds at capture.
    pub start_time: f64,
    pub end_time: f64,
    /// The tags of its tag line; those marked present count.
    pub tags: &'a [Tag],
}

/// A present label of one window.
#[derive(Clone, Debug)]
struct Seen {
    label: String,
    similarity: f32,
    score: f32,
}

/// One window of the history.
#[derive(Clone, Debug)]
struct Past {
    start_s: f64,
    start_time: f64,
    labels: Vec<Seen>,
}

impl Past {
    fn get(&self, label: &str) -> Option<&Seen> {
        self.labels.iter().find(|s| s.label == label)
    }
}

/// An event in progress.
#[derive(Clone, Debug)]
struct Open {
    id: u64,
    start_s: f64,
    start_time: f64,
    /// The end of the last window where the label was present.
    end_s: f64,
    end_time: f64,
    windows: u32,
    similarity: f32,
    score: f32,
}

/// One source's modality.
#[derive(Debug)]
struct Stream {
    rule: Rule,
    history: VecDeque<Past>,
    open: BTreeMap<String, Open>,
    last_start_s: f64,
}

impl Stream {
    /// Ends every event in progress and forgets the history.
    fn end_all(
        &mut self,
        source: &str,
        modality: Modality,
        reason: EndReason,
        out: &mut Vec<EventRecord>,
    ) {
        for (label, o) in std::mem::take(&mut self.open) {
            out.push(record(
                Phase::End,
                source,
                modality,
                label,
                &o,
                Some(reason),
            ));
        }
        self.history.clear();
    }
}

/// The events of every source and modality.
#[derive(Debug)]
pub struct Events {
    rules: Rules,
    streams: BTreeMap<(String, Modality), Stream>,
    next_id: u64,
}

impl Events {
    pub fn new(rules: Rules) -> Self {
        Self {
            rules,
            streams: BTreeMap::new(),
            next_id: 0,
        }
    }

    pub fn rules(&self) -> Rules {
        self.rules
    }

    /// Labels with an event in progress, per source and modality.
    pub fn open(&self) -> Vec<(&str, Modality, &str)> {
        self.streams
            .iter()
            .flat_map(|((s, m), st)| st.open.keys().map(move |l| (s.as_str(), *m, l.as_str())))
            .collect()
    }

    /// Takes the next window of `source`'s `modality`; appends the events it starts and ends
    /// (ends first) to `out`.
    pub fn observe(
        &mut self,
        source: &str,
        modality: Modality,
        w: &Window<'_>,
        out: &mut Vec<EventRecord>,
    ) {
        let rule = self.rules.get(modality);
        let key = (source.to_string(), modality);
        let stream = self.streams.entry(key).or_insert_with(|| Stream {
            rule,
            history: VecDeque::with_capacity(rule.n + 1),
            open: BTreeMap::new(),
            last_start_s: f64::NEG_INFINITY,
        });
        // A new opening of the source starts its stream time afresh.
        if w.start_s < stream.last_start_s {
            stream.end_all(source, modality, EndReason::Restart, out);
        }
        stream.last_start_s = w.start_s;
        stream.history.push_back(Past {
            start_s: w.start_s,
            start_time: w.start_time,
            labels: w
                .tags
                .iter()
                .filter(|t| t.present)
                .map(|t| Seen {
                    label: t.label.clone(),
                    similarity: t.similarity,
                    score: t.score,
                })
                .collect(),
        });
        while stream.history.len() > stream.rule.n {
            stream.history.pop_front();
        }
        let count =
            |h: &VecDeque<Past>, label: &str| h.iter().filter(|p| p.get(label).is_some()).count();
        let Some(now) = stream.history.back() else {
            return;
        };

        // Events in progress: extended, or ended.
        let mut ended = Vec::new();
        for (label, o) in &mut stream.open {
            if let Some(s) = now.get(label) {
                o.end_s = w.end_s;
                o.end_time = w.end_time;
                o.windows += 1;
                o.similarity = o.similarity.max(s.similarity);
                o.score = o.score.max(s.score);
            } else if count(&stream.history, label) < stream.rule.k {
                ended.push(label.clone());
            }
        }
        for label in ended {
            if let Some(o) = stream.open.remove(&label) {
                out.push(record(
                    Phase::End,
                    source,
                    modality,
                    label,
                    &o,
                    Some(EndReason::Absent),
                ));
            }
        }

        // Labels of this window that now hold.
        let starting: Vec<String> = now
            .labels
            .iter()
            .map(|s| s.label.clone())
            .filter(|l| !stream.open.contains_key(l))
            .filter(|l| count(&stream.history, l) >= stream.rule.k)
            .collect();
        for label in starting {
            let seen: Vec<(&Past, &Seen)> = stream
                .history
                .iter()
                .filter_map(|p| p.get(&label).map(|s| (p, s)))
                .collect();
            let Some(&(first, _)) = seen.first() else {
                continue;
            };
            let o = Open {
                id: self.next_id,
                start_s: first.start_s,
                start_time: first.start_time,
                end_s: w.end_s,
                end_time: w.end_time,
                windows: seen.len() as u32,
                similarity: seen
                    .iter()
                    .map(|(_, s)| s.similarity)
                    .fold(f32::MIN, f32::max),
                score: seen.iter().map(|(_, s)| s.score).fold(f32::MIN, f32::max),
            };
            self.next_id += 1;
            out.push(record(
                Phase::Start,
                source,
                modality,
                label.clone(),
                &o,
                None,
            ));
            stream.open.insert(label, o);
        }
    }

    /// Ends every event of `source` (all its modalities) and forgets its history: the stream
    /// ended, or the source is down.
    pub fn end_source(&mut self, source: &str, reason: EndReason, out: &mut Vec<EventRecord>) {
        for ((s, m), stream) in &mut self.streams {
            if s == source {
                stream.end_all(s, *m, reason, out);
                stream.last_start_s = f64::NEG_INFINITY;
            }
        }
    }

    /// Ends every event (the daemon is stopping).
    pub fn finish(&mut self, reason: EndReason, out: &mut Vec<EventRecord>) {
        let sources: Vec<String> = self.streams.keys().map(|(s, _)| s.clone()).collect();
        for s in sources {
            self.end_source(&s, reason, out);
        }
    }

    /// Whether `source` has an event in progress.
    pub fn has_open(&self, source: &str) -> bool {
        self.streams
            .iter()
            .any(|((s, _), st)| s == source && !st.open.is_empty())
    }
}

fn record(
    phase: Phase,
    source: &str,
    modality: Modality,
    label: String,
    o: &Open,
    reason: Option<EndReason>,
) -> EventRecord {
    let end = phase == Phase::End;
    EventRecord {
        event: phase,
        id: o.id,
        label,
        source: source.to_string(),
        modality,
        start_time: o.start_time,
        start_s: o.start_s,
        end_time: end.then_some(o.end_time),
        end_s: end.then_some(o.end_s),
        windows: o.windows,
        similarity: o.similarity,
        score: o.score,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds windows of 1 s (window `i` spans `[i, i + 1)`), each showing the labels of one
    /// string character (`.` none, a letter that label), and returns the events.
    fn run(rule: Rule, windows: &[&str]) -> Vec<EventRecord> {
        let mut ev = Events::new(Rules {
            image: rule,
            clip: rule,
            audio: rule,
        });
        let mut out = Vec::new();
        for (i, labels) in windows.iter().enumerate() {
            let tags: Vec<Tag> = labels
                .chars()
                .filter(|c| *c != '.')
                .map(|c| Tag {
                    label: c.to_string(),
                    score: 0.5,
                    similarity: 0.4 + i as f32 / 100.0,
                    contrast: 0.0,
                    typicality: None,
                    present: true,
                })
                .collect();
            let t = i as f64;
            let w = Window {
                start_s: t,
                end_s: t + 1.0,
                start_time: 1000.0 + t,
                end_time: 1001.0 + t,
                tags: &tags,
            };
            ev.observe("camera", Modality::Clip, &w, &mut out);
        }
        ev.finish(EndReason::Stopped, &mut out);
        out
    }

    /// (phase, label, start_s, end_s) of each event.
    fn spans(events: &[EventRecord]) -> Vec<(Phase, String, f64, Option<f64>)> {
        events
            .iter()
            .map(|e| (e.event, e.label.clone(), e.start_s, e.end_s))
            .collect()
    }

    fn split(s: &str) -> Vec<&str> {
        s.split(' ').collect()
    }

    #[test]
    fn chattering_input_gives_one_event() {
        // "a" present in 2 of every 3 windows from window 2 to 12, with stray "b"s.
        let w = split(". . a a b a a . a a b a a . . . .");
        let ev = run(Rule { k: 2, n: 3 }, &w);
        assert_eq!(
            spans(&ev),
            vec![
                (Phase::Start, "a".into(), 2.0, None),
                (Phase::End, "a".into(), 2.0, Some(13.0)),
            ]
        );
        assert_eq!(ev[0].id, ev[1].id);
        assert_eq!(ev[1].reason, Some(EndReason::Absent));
        assert_eq!(ev[1].windows, 8);
        // The start and end carry Unix times too; the start has no end.
        assert_eq!((ev[0].start_time, ev[0].end_time), (1002.0, None));
        assert_eq!(ev[1].end_time, Some(1013.0));
        // The same input without hysteresis (1 of 1) chatters.
        let chatter = run(Rule { k: 1, n: 1 }, &w);
        assert_eq!(chatter.iter().filter(|e| e.label == "a").count(), 2 * 4);
    }

    #[test]
    fn a_gap_of_up_to_n_minus_k_windows_does_not_split_an_event() {
        let rule = Rule { k: 3, n: 6 };
        // A gap of 3 = n - k windows: one event.
        let ev = run(rule, &split("a a a . . . a a a . . . . . ."));
        assert_eq!(
            spans(&ev),
            vec![
                (Phase::Start, "a".into(), 0.0, None),
                (Phase::End, "a".into(), 0.0, Some(9.0)),
            ]
        );
        // A gap of 4: two events.
        let ev = run(rule, &split("a a a . . . . a a a . . . . . ."));
        assert_eq!(
            spans(&ev),
            vec![
                (Phase::Start, "a".into(), 0.0, None),
                (Phase::End, "a".into(), 0.0, Some(3.0)),
                (Phase::Start, "a".into(), 7.0, None),
                (Phase::End, "a".into(), 7.0, Some(10.0)),
            ]
        );
    }

    #[test]
    fn end_events_carry_the_end_of_the_last_present_window() {
        // k = 2 of n = 4: "a" ends once it is in fewer than 2 of the last 4 windows (window 8),
        // at the end of window 5, its last.
        let ev = run(Rule { k: 2, n: 4 }, &split(". a a a a a . . . . ."));
        assert_eq!(ev.len(), 2);
        assert_eq!(ev[0].start_s, 1.0);
        assert_eq!((ev[1].end_s, ev[1].end_time), (Some(6.0), Some(1006.0)));
        assert_eq!(ev[1].windows, 5);
        // Best similarity over the event's windows (window 5: 0.45).
        assert!(
            (ev[1].similarity - 0.45).abs() < 1e-6,
            "{}",
            ev[1].similarity
        );
        // Cut short by the stream's end: ended then, with the reason.
        let ev = run(Rule { k: 2, n: 4 }, &split(". a a a"));
        assert_eq!(ev[1].end_s, Some(4.0));
        assert_eq!(ev[1].reason, Some(EndReason::Stopped));
    }

    #[test]
    fn two_labels_interleaved_are_two_events() {
        // "a" and "b" alternate, each in 1 of 2 windows, then both are shown at once: with
        // k = 2 of n = 4 each holds on its own.
        let ev = run(
            Rule { k: 2, n: 4 },
            &split("a b a b a b ab ab . . . . . b b b . . . ."),
        );
        assert_eq!(
            spans(&ev),
            vec![
                (Phase::Start, "a".into(), 0.0, None),
                (Phase::Start, "b".into(), 1.0, None),
                (Phase::End, "a".into(), 0.0, Some(8.0)),
                (Phase::End, "b".into(), 1.0, Some(8.0)),
                (Phase::Start, "b".into(), 13.0, None),
                (Phase::End, "b".into(), 13.0, Some(16.0)),
            ]
        );
        let ids: Vec<u64> = ev.iter().map(|e| e.id).collect();
        assert_eq!(ids, vec![0, 1, 0, 1, 2, 2]);
    }

    #[test]
    fn a_label_in_fewer_than_k_windows_never_starts_and_absent_tags_do_not_count() {
        let ev = run(Rule { k: 3, n: 5 }, &split("a . a . . a . b b . a"));
        assert!(ev.is_empty(), "{ev:?}");
        // Tags marked absent (below the open-set cut) are not the label.
        let mut events = Events::new(Rules::DEFAULT);
        let mut out = Vec::new();
        let tags = [Tag {
            label: "a".into(),
            score: 0.9,
            similarity: 0.1,
            contrast: 0.0,
            typicality: None,
            present: false,
        }];
        for i in 0..10 {
            let t = f64::from(i);
            let w = Window {
                start_s: t,
                end_s: t + 1.0,
                start_time: t,
                end_time: t + 1.0,
                tags: &tags,
            };
            events.observe("microphone", Modality::Audio, &w, &mut out);
        }
        assert!(out.is_empty());
    }

    #[test]
    fn restarts_and_sources_end_their_events() {
        let mut ev = Events::new(Rules {
            image: Rule { k: 1, n: 1 },
            clip: Rule { k: 1, n: 1 },
            audio: Rule { k: 1, n: 1 },
        });
        let mut out = Vec::new();
        let a = [Tag {
            label: "a".into(),
            score: 1.0,
            similarity: 1.0,
            contrast: 0.0,
            typicality: None,
            present: true,
        }];
        let w = |t: f64| Window {
            start_s: t,
            end_s: t + 0.5,
            start_time: t,
            end_time: t + 0.5,
            tags: &a,
        };
        ev.observe("camera", Modality::Image, &w(5.0), &mut out);
        ev.observe("microphone", Modality::Audio, &w(5.0), &mut out);
        // The camera reopened: its stream time starts again.
        ev.observe("camera", Modality::Image, &w(0.0), &mut out);
        let phases: Vec<(Phase, &str, Option<EndReason>)> = out
            .iter()
            .map(|e| (e.event, e.source.as_str(), e.reason))
            .collect();
        assert_eq!(
            phases,
            vec![
                (Phase::Start, "camera", None),
                (Phase::Start, "microphone", None),
                (Phase::End, "camera", Some(EndReason::Restart)),
                (Phase::Start, "camera", None),
            ]
        );
        out.clear();
        assert!(ev.has_open("microphone"));
        ev.end_source("microphone", EndReason::SourceLost, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].reason, Some(EndReason::SourceLost));
        assert!(!ev.has_open("microphone") && ev.has_open("camera"));
        assert_eq!(ev.open(), vec![("camera", Modality::Image, "a")]);
    }

    #[test]
    fn rules_are_validated() {
        assert!(Rule { k: 2, n: 3 }.problem().is_none());
        assert!(
            Rule { k: 0, n: 3 }
                .problem()
                .expect("k = 0")
                .contains("at least 1")
        );
        assert!(
            Rule { k: 4, n: 3 }
                .problem()
                .expect("k > n")
                .contains("more than n")
        );
        assert!(Rule { k: 1, n: 65 }.problem().is_some());
        for m in [Modality::Image, Modality::Clip, Modality::Audio] {
            assert!(Rules::DEFAULT.get(m).problem().is_none());
        }
    }
}
