//! The daemon's live state for the page: the latest tags of each source and modality, the
//! sources' health, the overlay image, and a broadcast of every tag line and event record (the
//! same JSON objects the daemon writes as JSON lines) for server-sent events.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::broadcast;

/// Lines kept for a slow page before it skips ahead (it is told how many it missed).
const BROADCAST_CAPACITY: usize = 256;

type HealthFn = Box<dyn Fn() -> Value + Send + Sync>;

/// Shared between the daemon (which feeds it) and the server (which reads it).
pub struct Live {
    lines: broadcast::Sender<Arc<str>>,
    latest: Mutex<BTreeMap<String, Value>>,
    overlay: Mutex<Option<Arc<Vec<u8>>>>,
    health: Mutex<Option<HealthFn>>,
}

impl Default for Live {
    fn default() -> Self {
        Self {
            lines: broadcast::channel(BROADCAST_CAPACITY).0,
            latest: Mutex::default(),
            overlay: Mutex::default(),
            health: Mutex::default(),
        }
    }
}

impl Live {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Takes one JSON line of the daemon's tag stream (a tag line, or an event record with its
    /// `event` key): tag lines update the latest tags of their source and modality; every line
    /// goes to the page's event stream. A line that is not a JSON object is ignored.
    pub fn publish_line(&self, line: &str) {
        let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(line) else {
            return;
        };
        if !obj.contains_key("event") {
            let key = format!(
                "{}/{}",
                obj.get("source").and_then(Value::as_str).unwrap_or("?"),
                obj.get("modality").and_then(Value::as_str).unwrap_or("?")
            );
            if let Ok(mut latest) = self.latest.lock() {
                latest.insert(key, Value::Object(obj));
            }
        }
        // No receiver (no page open) is not an error.
        let _ = self.lines.send(Arc::from(line.trim_end()));
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<str>> {
        self.lines.subscribe()
    }

    /// The latest tag line of each `source/modality`.
    pub fn latest(&self) -> Value {
        self.latest
            .lock()
            .map(|l| Value::Object(l.clone().into_iter().collect()))
            .unwrap_or(Value::Null)
    }

    /// The overlay as a PNG, as the display shows it.
    pub fn set_overlay_png(&self, png: Vec<u8>) {
        if let Ok(mut o) = self.overlay.lock() {
            *o = Some(Arc::new(png));
        }
    }

    pub fn overlay_png(&self) -> Option<Arc<Vec<u8>>> {
        self.overlay.lock().ok().and_then(|o| o.clone())
    }

    /// How the sources' health is read (the daemon's supervisor counters).
    pub fn set_health(&self, f: impl Fn() -> Value + Send + Sync + 'static) {
        if let Ok(mut h) = self.health.lock() {
            *h = Some(Box::new(f));
        }
    }

    pub fn health(&self) -> Value {
        self.health
            .lock()
            .ok()
            .and_then(|h| h.as_ref().map(|f| f()))
            .unwrap_or(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_lines_update_latest_events_do_not_and_both_are_broadcast() {
        let live = Live::new();
        let mut rx = live.subscribe();
        live.publish_line(
            r#"{"time":1,"source":"camera","modality":"clip","tags":[{"label":"seven"}]}"#,
        );
        live.publish_line(
            r#"{"event":"start","id":1,"label":"seven","source":"camera","modality":"clip"}"#,
        );
        live.publish_line("not json");
        let latest = live.latest();
        assert_eq!(latest["camera/clip"]["tags"][0]["label"], "seven");
        assert_eq!(latest.as_object().unwrap().len(), 1);
        assert!(rx.try_recv().unwrap().contains("\"time\":1"));
        assert!(rx.try_recv().unwrap().contains("\"event\":\"start\""));
        assert!(rx.try_recv().is_err());
    }
}
