//! Load-generation scenarios in the manner of MLPerf Inference's loadgen.
//!
//! - **SingleStream**: one query at a time, the next issued as soon as the previous one
//!   answers; the metric is the latency distribution (p50, p90, p99; MLPerf reports p90).
//! - **Offline**: every sample is available at once and the system processes them as fast as
//!   it can; the metric is throughput (samples per second). Our models run at batch 1 (fixed
//!   shapes, see `bundle::session`), so Offline keeps several workers busy in parallel instead
//!   of batching.
//!
//! Both scenarios first run untimed warm-up queries, then run until *both* a minimum duration
//! and a minimum query count are reached, as loadgen does. A run cut short by the maximum
//! duration (our own safety valve, for a model that is far slower than expected, such as f16
//! emulated on x86) is INVALID, with the unmet rule named: a number from it cannot be compared
//! with a valid one.
//!
//! MLPerf's own defaults (SingleStream: 600 s and 1024 queries; Offline: 600 s and 24576
//! samples) are far beyond what a quick check on a 2-core machine affords, so the defaults here
//! are small and the verdict says which rules a run met.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// MLPerf Inference's SingleStream minimum duration.
pub const MLPERF_MIN_DURATION: Duration = Duration::from_secs(600);
/// MLPerf Inference's SingleStream minimum query count.
pub const MLPERF_SINGLE_STREAM_MIN_QUERIES: usize = 1024;
/// MLPerf Inference's Offline minimum sample count.
pub const MLPERF_OFFLINE_MIN_SAMPLES: usize = 24_576;

/// How long and how much to run a scenario. Durations are seconds in JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScenarioSettings {
    /// Untimed queries before measuring (first-inference costs, caches, page faults).
    pub warmup_queries: usize,
    /// Run at least this long...
    #[serde(with = "seconds", rename = "min_duration_s")]
    pub min_duration: Duration,
    /// ...and at least this many queries.
    pub min_queries: usize,
    /// Stop here even if the minimums are not met (the run is then INVALID).
    #[serde(with = "seconds", rename = "max_duration_s")]
    pub max_duration: Duration,
}

/// A [`Duration`] as a number of seconds (serde's own form is `{secs, nanos}`).
mod seconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
    }
}

impl Default for ScenarioSettings {
    fn default() -> Self {
        Self {
            warmup_queries: 2,
            min_duration: Duration::from_secs(2),
            min_queries: 20,
            max_duration: Duration::from_secs(60),
        }
    }
}

/// Whether a run met the rules; when not, which rules it missed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub valid: bool,
    pub reasons: Vec<String>,
}

impl Verdict {
    pub fn label(&self) -> &'static str {
        if self.valid { "VALID" } else { "INVALID" }
    }
}

/// The verdict for a run of `queries` queries over `duration` under `settings`.
pub fn verdict(settings: &ScenarioSettings, queries: usize, duration: Duration) -> Verdict {
    let mut reasons = Vec::new();
    if queries < settings.min_queries {
        reasons.push(format!(
            "{queries} queries, fewer than the minimum {}",
            settings.min_queries
        ));
    }
    if duration < settings.min_duration {
        reasons.push(format!(
            "ran {:.2} s, shorter than the minimum {:.2} s",
            duration.as_secs_f64(),
            settings.min_duration.as_secs_f64()
        ));
    }
    if queries == 0 {
        reasons.push("no query completed".into());
    }
    Verdict {
        valid: reasons.is_empty(),
        reasons,
    }
}

/// The nearest-rank percentile (`p` in [0, 1]) of values sorted ascending: the smallest value
/// with at least a fraction `p` of all values at or below it. None when empty.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// The result of one SingleStream run. Latencies in milliseconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SingleStream {
    pub queries: usize,
    pub duration_s: f64,
    pub mean_ms: f64,
    pub min_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Queries per second while measuring (one stream: 1000 / mean).
    pub qps: f64,
    pub verdict: Verdict,
    /// Every measured latency, in issue order (for histograms).
    pub latencies_ms: Vec<f64>,
}

impl SingleStream {
    /// Summarises measured latencies (in issue order) of a run that lasted `duration`.
    pub fn from_latencies(
        settings: &ScenarioSettings,
        latencies_ms: Vec<f64>,
        duration: Duration,
    ) -> Self {
        let mut sorted = latencies_ms.clone();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let pct = |p| percentile(&sorted, p).unwrap_or(f64::NAN);
        let mean = if n == 0 {
            f64::NAN
        } else {
            sorted.iter().sum::<f64>() / n as f64
        };
        Self {
            queries: n,
            duration_s: duration.as_secs_f64(),
            mean_ms: mean,
            min_ms: sorted.first().copied().unwrap_or(f64::NAN),
            p50_ms: pct(0.5),
            p90_ms: pct(0.9),
            p99_ms: pct(0.99),
            max_ms: sorted.last().copied().unwrap_or(f64::NAN),
            qps: if duration.is_zero() {
                0.0
            } else {
                n as f64 / duration.as_secs_f64()
            },
            verdict: verdict(settings, n, duration),
            latencies_ms,
        }
    }
}

/// The result of one Offline run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Offline {
    /// Parallel workers, each running one query at a time.
    pub workers: usize,
    pub samples: usize,
    pub duration_s: f64,
    /// Samples per second.
    pub throughput: f64,
    pub verdict: Verdict,
}

/// Runs `query` SingleStream: warm-up, then one query at a time until both minimums are met
/// (or the maximum duration passes). Stops at the first error.
pub fn single_stream<E>(
    settings: &ScenarioSettings,
    mut query: impl FnMut() -> Result<(), E>,
) -> Result<SingleStream, E> {
    for _ in 0..settings.warmup_queries {
        query()?;
    }
    let mut latencies = Vec::new();
    let start = Instant::now();
    loop {
        let elapsed = start.elapsed();
        let met = latencies.len() >= settings.min_queries && elapsed >= settings.min_duration;
        if met || elapsed >= settings.max_duration {
            break;
        }
        let t = Instant::now();
        query()?;
        latencies.push(t.elapsed().as_secs_f64() * 1e3);
    }
    Ok(SingleStream::from_latencies(
        settings,
        latencies,
        start.elapsed(),
    ))
}

/// Runs `query` Offline on `workers` threads at once (each warmed up first), until together
/// they have answered the minimum number of samples and the minimum duration has passed (or
/// the maximum duration has). Stops at the first error.
pub fn offline<E: Send>(
    settings: &ScenarioSettings,
    workers: usize,
    query: impl Fn() -> Result<(), E> + Sync,
) -> Result<Offline, E> {
    let workers = workers.max(1);
    for _ in 0..settings.warmup_queries {
        query()?;
    }
    let done = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let error: Mutex<Option<E>> = Mutex::new(None);
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    if let Err(e) = query() {
                        stop.store(true, Ordering::Relaxed);
                        if let Ok(mut slot) = error.lock() {
                            slot.get_or_insert(e);
                        }
                        return;
                    }
                    let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                    let elapsed = start.elapsed();
                    let met = n >= settings.min_queries && elapsed >= settings.min_duration;
                    if met || elapsed >= settings.max_duration {
                        stop.store(true, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let duration = start.elapsed();
    if let Some(e) = error.into_inner().ok().flatten() {
        return Err(e);
    }
    let samples = done.into_inner();
    Ok(Offline {
        workers,
        samples,
        duration_s: duration.as_secs_f64(),
        throughput: samples as f64 / duration.as_secs_f64().max(f64::MIN_POSITIVE),
        verdict: verdict(settings, samples, duration),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_seconds_in_json() {
        let s = ScenarioSettings {
            min_duration: Duration::from_millis(1500),
            ..ScenarioSettings::default()
        };
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["min_duration_s"], 1.5);
        assert_eq!(v["max_duration_s"], 60.0);
        let back: ScenarioSettings = serde_json::from_value(v).unwrap();
        assert_eq!(back, s);
        let bad = serde_json::json!({"warmup_queries": 1, "min_duration_s": -1.0,
            "min_queries": 1, "max_duration_s": 1.0});
        assert!(serde_json::from_value::<ScenarioSettings>(bad).is_err());
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), Some(50.0));
        assert_eq!(percentile(&v, 0.9), Some(90.0));
        assert_eq!(percentile(&v, 0.99), Some(99.0));
        assert_eq!(percentile(&v, 1.0), Some(100.0));
        assert_eq!(percentile(&v, 0.0), Some(1.0));
        // 10 values: p50 is the 5th, p90 the 9th, p99 rounds up to the 10th.
        let v: Vec<f64> = (1..=10).map(|i| f64::from(i) * 10.0).collect();
        assert_eq!(percentile(&v, 0.5), Some(50.0));
        assert_eq!(percentile(&v, 0.9), Some(90.0));
        assert_eq!(percentile(&v, 0.99), Some(100.0));
        assert_eq!(percentile(&[7.0], 0.99), Some(7.0));
        assert_eq!(percentile(&[], 0.5), None);
    }

    #[test]
    fn summary_of_unsorted_latencies() {
        let settings = ScenarioSettings {
            min_queries: 4,
            min_duration: Duration::from_millis(10),
            ..ScenarioSettings::default()
        };
        let s = SingleStream::from_latencies(
            &settings,
            vec![4.0, 1.0, 3.0, 2.0],
            Duration::from_millis(20),
        );
        assert_eq!(
            (s.min_ms, s.p50_ms, s.p90_ms, s.max_ms),
            (1.0, 2.0, 4.0, 4.0)
        );
        assert_eq!(s.mean_ms, 2.5);
        assert_eq!(s.qps, 200.0);
        assert!(s.verdict.valid, "{:?}", s.verdict);
        assert_eq!(s.latencies_ms, vec![4.0, 1.0, 3.0, 2.0]);
    }

    #[test]
    fn verdict_needs_both_minimums() {
        let settings = ScenarioSettings {
            min_queries: 10,
            min_duration: Duration::from_secs(1),
            ..ScenarioSettings::default()
        };
        assert!(verdict(&settings, 10, Duration::from_secs(1)).valid);
        let few = verdict(&settings, 9, Duration::from_secs(5));
        assert!(!few.valid);
        assert_eq!(few.reasons.len(), 1);
        assert!(few.reasons[0].contains("fewer than the minimum 10"));
        let short = verdict(&settings, 100, Duration::from_millis(999));
        assert!(!short.valid);
        assert!(short.reasons[0].contains("shorter than the minimum"));
        assert_eq!(verdict(&settings, 0, Duration::ZERO).reasons.len(), 3);
        assert_eq!(short.label(), "INVALID");
    }

    #[test]
    fn single_stream_runs_until_both_minimums() {
        let settings = ScenarioSettings {
            warmup_queries: 3,
            min_queries: 5,
            min_duration: Duration::from_millis(60),
            max_duration: Duration::from_secs(30),
        };
        let mut calls = 0;
        let s = single_stream::<()>(&settings, || {
            calls += 1;
            std::thread::sleep(Duration::from_millis(2));
            Ok(())
        })
        .unwrap();
        assert!(s.verdict.valid, "{:?}", s.verdict);
        assert!(s.duration_s >= 0.06);
        // 2 ms queries for 60 ms: well beyond the 5-query minimum, so time decided.
        assert!(s.queries >= 10, "{}", s.queries);
        assert_eq!(calls, s.queries + 3, "warm-up queries are not measured");
        assert!(s.p50_ms >= 2.0 && s.p99_ms >= s.p50_ms);
    }

    #[test]
    fn single_stream_cut_by_max_duration_is_invalid() {
        let settings = ScenarioSettings {
            warmup_queries: 0,
            min_queries: 1000,
            min_duration: Duration::from_millis(10),
            max_duration: Duration::from_millis(30),
        };
        let s = single_stream::<()>(&settings, || {
            std::thread::sleep(Duration::from_millis(5));
            Ok(())
        })
        .unwrap();
        assert!(!s.verdict.valid);
        assert!(s.queries < 1000);
        assert!(s.verdict.reasons[0].contains("fewer than the minimum 1000"));
    }

    #[test]
    fn errors_stop_the_run() {
        let settings = ScenarioSettings::default();
        let mut n = 0;
        let r = single_stream(&settings, || {
            n += 1;
            if n == 4 { Err("boom") } else { Ok(()) }
        });
        assert_eq!(r.unwrap_err(), "boom");
        let r = offline(&settings, 2, || Err::<(), _>("bad"));
        assert_eq!(r.unwrap_err(), "bad");
    }

    #[test]
    fn offline_counts_samples_of_all_workers() {
        let settings = ScenarioSettings {
            warmup_queries: 1,
            min_queries: 40,
            min_duration: Duration::from_millis(20),
            max_duration: Duration::from_secs(30),
        };
        let calls = AtomicUsize::new(0);
        let o = offline::<()>(&settings, 4, || {
            calls.fetch_add(1, Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(1));
            Ok(())
        })
        .unwrap();
        assert_eq!(o.workers, 4);
        assert!(o.verdict.valid, "{:?}", o.verdict);
        assert!(o.samples >= 40);
        // Every finished query counts, whichever worker ran it (plus the one warm-up).
        assert_eq!(calls.into_inner(), o.samples + 1);
        assert!((o.throughput - o.samples as f64 / o.duration_s).abs() < 1e-6);
    }
}
