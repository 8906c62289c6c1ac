//! Tags and events over MQTT (rumqttc), Frigate-style:
//!
//! - `mmv/<device>/tags`: every tag line, as the JSON object of the tag stream;
//! - `mmv/<device>/events`: every event record (start and end, [`super::events_jsonl`]);
//! - `mmv/<device>/status`: `{"state":"online",...}` on each connect, `offline` as the last will
//!   and on a clean stop; retained, so a new subscriber learns the device's state at once.
//!
//! All at QoS 1. The JSON lines go on as before; MQTT carries the same lines beside them.
//!
//! Delivery: lines wait in a bounded queue ([`MqttConfig::queue`], the oldest dropped and
//! counted when it is full). One message is in flight at a time and leaves the queue only when
//! the broker acknowledges it (PUBACK), so while the broker is away (down, restarting,
//! unreachable) the queue holds everything and nothing in it is lost: after reconnecting
//! (backoff from [`MqttConfig::retry_initial_ms`] doubling to [`MqttConfig::retry_max_ms`]) the
//! publisher sends from the first unacknowledged line on, in order. A line whose PUBACK was lost
//! with the connection is sent again (QoS 1 is at-least-once). The inference thread only ever
//! appends to the queue: the network never blocks it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Outgoing, Packet, QoS};
use serde::Deserialize;
use tokio::sync::Notify;

/// The `[mqtt]` section of the configuration.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MqttConfig {
    /// The broker's host name or address.
    pub host: String,
    pub port: u16,
    /// The device's name in the topics (`mmv/<device>/...`); letters, digits, `-` and `_`.
    pub device: String,
    /// The first topic level.
    pub prefix: String,
    /// MQTT client id (default: `mmv-<device>`).
    pub client_id: Option<String>,
    /// Lines held while the broker is away; the oldest are dropped beyond it.
    pub queue: usize,
    pub keep_alive_s: u64,
    pub retry_initial_ms: u64,
    pub retry_max_ms: u64,
    /// How long a stopping daemon waits for the queue to drain.
    pub drain_ms: u64,
}

impl Default for MqttConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 1883,
            device: "mmv".into(),
            prefix: "mmv".into(),
            client_id: None,
            queue: 10_000,
            keep_alive_s: 5,
            retry_initial_ms: 200,
            retry_max_ms: 10_000,
            drain_ms: 3_000,
        }
    }
}

impl MqttConfig {
    /// A problem with the section, if any.
    pub fn validate(&self) -> Result<(), String> {
        let name_ok = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        if !name_ok(&self.device) {
            return Err(format!(
                "mqtt.device {:?}: use letters, digits, '-' and '_' (it is a topic level)",
                self.device
            ));
        }
        if !name_ok(&self.prefix) {
            return Err(format!(
                "mqtt.prefix {:?}: use letters, digits, '-' and '_'",
                self.prefix
            ));
        }
        if self.queue == 0 {
            return Err("mqtt.queue must be at least 1".into());
        }
        if self.host.is_empty() || self.port == 0 {
            return Err("mqtt.host and mqtt.port name the broker".into());
        }
        if self.retry_initial_ms == 0 || self.retry_max_ms < self.retry_initial_ms {
            return Err("mqtt.retry_initial_ms must be > 0 and <= mqtt.retry_max_ms".into());
        }
        Ok(())
    }

    pub fn topic(&self, leaf: &str) -> String {
        format!("{}/{}/{leaf}", self.prefix, self.device)
    }
}

/// Counters, for logs and the health view.
#[derive(Debug, Default)]
pub struct MqttStats {
    /// Messages acknowledged by the broker.
    pub acked: AtomicU64,
    /// Lines dropped because the queue was full.
    pub dropped: AtomicU64,
    /// Connections made (reconnects = connects - 1).
    pub connects: AtomicU64,
    pub connected: AtomicBool,
}

#[derive(Clone, Debug)]
struct Message {
    topic: String,
    payload: Arc<str>,
    retain: bool,
}

struct Shared {
    queue: Mutex<VecDeque<Message>>,
    notify: Notify,
    stopping: AtomicBool,
    stats: Arc<MqttStats>,
}

/// Publishes the daemon's lines to a broker from a thread of its own.
pub struct MqttPublisher {
    config: MqttConfig,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl MqttPublisher {
    /// Starts the publisher (it connects in the background; a broker that is not there yet is
    /// retried).
    pub fn start(config: MqttConfig) -> Result<Self, String> {
        config.validate()?;
        let shared = Arc::new(Shared {
            queue: Mutex::new(VecDeque::new()),
            notify: Notify::new(),
            stopping: AtomicBool::new(false),
            stats: Arc::new(MqttStats::default()),
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("mqtt runtime: {e}"))?;
        let (c, s) = (config.clone(), shared.clone());
        let thread = std::thread::Builder::new()
            .name("mqtt".into())
            .spawn(move || runtime.block_on(run(c, s)))
            .map_err(|e| format!("mqtt thread: {e}"))?;
        tracing::info!(broker = %format!("{}:{}", config.host, config.port), topics = %config.topic("#"), "mqtt publisher started");
        Ok(Self {
            config,
            shared,
            thread: Some(thread),
        })
    }

    pub fn stats(&self) -> Arc<MqttStats> {
        self.shared.stats.clone()
    }

    /// Lines waiting (not yet acknowledged).
    pub fn queued(&self) -> usize {
        self.shared.queue.lock().map_or(0, |q| q.len())
    }

    /// Queues one line of the tag stream: to `.../events` if it is an event record (it has an
    /// `event` key), to `.../tags` otherwise.
    pub fn publish_line(&self, line: &str) {
        let line = line.trim_end();
        if line.is_empty() {
            return;
        }
        let leaf = if is_event(line) { "events" } else { "tags" };
        self.push(Message {
            topic: self.config.topic(leaf),
            payload: Arc::from(line),
            retain: false,
        });
    }

    fn push(&self, m: Message) {
        if let Ok(mut q) = self.shared.queue.lock() {
            if q.len() >= self.config.queue {
                q.pop_front();
                self.shared.stats.dropped.fetch_add(1, Ordering::Relaxed);
            }
            q.push_back(m);
        }
        self.shared.notify.notify_one();
    }

    /// Sends what is queued (for at most `drain_ms`), says `offline`, and disconnects.
    pub fn finish(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.shared.stopping.store(true, Ordering::Relaxed);
        self.shared.notify.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let left = self.queued();
        if left > 0 {
            tracing::warn!(left, "mqtt: lines not delivered at stop");
        }
    }
}

impl Drop for MqttPublisher {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether a JSON line is an event record (tag lines have no `event` key).
fn is_event(line: &str) -> bool {
    serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(line)
        .is_ok_and(|o| o.contains_key("event"))
}

fn status(config: &MqttConfig, state: &str) -> Message {
    let payload = serde_json::json!({
        "state": state,
        "device": config.device,
        "time": std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64()),
    });
    Message {
        topic: config.topic("status"),
        payload: Arc::from(payload.to_string()),
        retain: true,
    }
}

async fn run(config: MqttConfig, shared: Arc<Shared>) {
    let client_id = config
        .client_id
        .clone()
        .unwrap_or_else(|| format!("mmv-{}", config.device));
    let mut options = MqttOptions::new(client_id, config.host.clone(), config.port);
    options.set_keep_alive(Duration::from_secs(config.keep_alive_s.max(1)));
    // A fresh session each time: what is unacknowledged is resent from our queue, not by the
    // client library as well (which would deliver it twice).
    options.set_clean_session(true);
    let will = status(&config, "offline");
    options.set_last_will(LastWill::new(
        will.topic.clone(),
        will.payload.as_bytes().to_vec(),
        QoS::AtLeastOnce,
        true,
    ));
    let (client, mut eventloop) = AsyncClient::new(options, 16);
    let stats = shared.stats.clone();
    let initial = Duration::from_millis(config.retry_initial_ms);
    let mut backoff = initial;
    let mut connected = false;
    // The message in flight: sent, awaiting its PUBACK (its packet id once the library says).
    let mut inflight: Option<Option<u16>> = None;
    let mut drain_deadline: Option<Instant> = None;
    loop {
        let stopping = shared.stopping.load(Ordering::Relaxed);
        if stopping && drain_deadline.is_none() {
            drain_deadline = Some(Instant::now() + Duration::from_millis(config.drain_ms));
        }
        let empty = shared.queue.lock().map_or(true, |q| q.is_empty());
        let out_of_time = drain_deadline.is_some_and(|d| Instant::now() >= d);
        if stopping && ((empty && inflight.is_none()) || out_of_time) {
            if connected {
                let m = status(&config, "offline");
                let _ = client
                    .publish(
                        m.topic,
                        QoS::AtLeastOnce,
                        true,
                        m.payload.as_bytes().to_vec(),
                    )
                    .await;
                let _ = client.disconnect().await;
                // Let the library send both (its poll ends with the disconnect).
                let until = Instant::now() + Duration::from_millis(500);
                while Instant::now() < until {
                    match tokio::time::timeout(Duration::from_millis(100), eventloop.poll()).await {
                        Ok(Ok(Event::Outgoing(Outgoing::Disconnect))) | Ok(Err(_)) => break,
                        _ => {}
                    }
                }
            }
            break;
        }
        if connected && inflight.is_none() {
            let next = shared.queue.lock().ok().and_then(|q| q.front().cloned());
            if let Some(m) = next {
                match client.try_publish(
                    m.topic,
                    QoS::AtLeastOnce,
                    m.retain,
                    m.payload.as_bytes().to_vec(),
                ) {
                    Ok(()) => inflight = Some(None),
                    Err(e) => tracing::warn!(error = %e, "mqtt: publish not queued"),
                }
            }
        }
        tokio::select! {
            event = eventloop.poll() => match event {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    connected = true;
                    backoff = initial;
                    inflight = None;
                    stats.connected.store(true, Ordering::Relaxed);
                    let n = stats.connects.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(reconnect = n > 0, "mqtt: connected");
                    // Online first, then what waited.
                    if let Ok(mut q) = shared.queue.lock() {
                        q.push_front(status(&config, "online"));
                    }
                }
                Ok(Event::Outgoing(Outgoing::Publish(pkid))) => {
                    if let Some(slot @ None) = inflight.as_mut() {
                        *slot = Some(pkid);
                    }
                }
                Ok(Event::Incoming(Packet::PubAck(ack))) => {
                    if inflight == Some(Some(ack.pkid)) {
                        inflight = None;
                        if let Ok(mut q) = shared.queue.lock() {
                            q.pop_front();
                        }
                        stats.acked.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    if connected {
                        tracing::warn!(error = %e, "mqtt: connection lost; reconnecting");
                    } else {
                        tracing::debug!(error = %e, retry_in_ms = backoff.as_millis() as u64, "mqtt: broker unreachable");
                    }
                    connected = false;
                    stats.connected.store(false, Ordering::Relaxed);
                    inflight = None;
                    // What the library kept to resend is in our queue still.
                    eventloop.pending.clear();
                    if drain_deadline.is_some() {
                        // Stopping with no broker: do not wait for one.
                        if let Some(d) = drain_deadline.as_mut() {
                            *d = (*d).min(Instant::now() + backoff);
                        }
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_millis(config.retry_max_ms));
                }
            },
            () = shared.notify.notified(), if connected && inflight.is_none() => {}
            () = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
    stats.connected.store(false, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_checks_and_topics() {
        let c = MqttConfig {
            device: "cam-1".into(),
            ..MqttConfig::default()
        };
        c.validate().unwrap();
        assert_eq!(c.topic("tags"), "mmv/cam-1/tags");
        let bad = MqttConfig {
            device: "a/b".into(),
            ..MqttConfig::default()
        };
        assert!(bad.validate().unwrap_err().contains("topic level"));
        let bad = MqttConfig {
            queue: 0,
            ..MqttConfig::default()
        };
        assert!(bad.validate().is_err());
    }

    #[test]
    fn events_and_tags_are_told_apart() {
        assert!(is_event(r#"{"event":"start","id":1}"#));
        assert!(!is_event(r#"{"time":1.0,"tags":[]}"#));
        assert!(!is_event("not json"));
    }

    #[test]
    fn the_queue_is_bounded_and_drops_the_oldest_while_no_broker_answers() {
        // Port 9 (discard) on loopback: nothing listens, so nothing leaves the queue.
        let p = MqttPublisher::start(MqttConfig {
            port: 9,
            queue: 3,
            drain_ms: 0,
            ..MqttConfig::default()
        })
        .unwrap();
        for i in 0..5 {
            p.publish_line(&format!("{{\"n\":{i}}}"));
        }
        assert_eq!(p.queued(), 3);
        assert_eq!(p.stats().dropped.load(Ordering::Relaxed), 2);
        let q: Vec<String> = p
            .shared
            .queue
            .lock()
            .unwrap()
            .iter()
            .map(|m| m.payload.to_string())
            .collect();
        assert_eq!(q, ["{\"n\":2}", "{\"n\":3}", "{\"n\":4}"]);
        p.finish();
    }
}
