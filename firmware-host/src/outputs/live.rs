//! The tag stream's lines, copied as they are written to where else they go: MQTT
//! ([`super::mqtt`]) and the web page's live view (mmv-server's [`Live`]); and the overlay,
//! kept as a PNG for the page.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mmv_server::Live;

use super::mqtt::MqttPublisher;
use crate::overlay::{Display, DisplayError, RgbCanvas};

/// Something that takes whole JSON lines of the tag stream.
pub trait LineSink: Send + Sync {
    fn line(&self, line: &str);
}

impl LineSink for MqttPublisher {
    fn line(&self, line: &str) {
        self.publish_line(line);
    }
}

impl LineSink for Live {
    fn line(&self, line: &str) {
        self.publish_line(line);
    }
}

/// A writer that passes everything to `inner` and each complete line to the sinks.
pub struct LineTee<W> {
    inner: W,
    sinks: Vec<Arc<dyn LineSink>>,
    partial: Vec<u8>,
}

impl<W: Write> LineTee<W> {
    pub fn new(inner: W, sinks: Vec<Arc<dyn LineSink>>) -> Self {
        Self {
            inner,
            sinks,
            partial: Vec::new(),
        }
    }
}

impl<W: Write> Write for LineTee<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.partial.extend_from_slice(&buf[..n]);
        while let Some(end) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            if let Ok(text) = std::str::from_utf8(&line[..end]) {
                for s in &self.sinks {
                    s.line(text);
                }
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The overlay for the page: each frame shown, at most every `every`, encoded as PNG into the
/// live state.
pub struct LiveOverlay {
    live: Arc<Live>,
    every: Duration,
    last: Option<Instant>,
}

impl LiveOverlay {
    pub fn new(live: Arc<Live>, every: Duration) -> Self {
        Self {
            live,
            every,
            last: None,
        }
    }
}

impl Display for LiveOverlay {
    fn describe(&self) -> String {
        "the web page's live view".into()
    }

    fn show(&mut self, canvas: &RgbCanvas) -> Result<(), DisplayError> {
        if self.last.is_some_and(|t| t.elapsed() < self.every) {
            return Ok(());
        }
        self.last = Some(Instant::now());
        let png = crate::overlay::png::encode(canvas).map_err(|problem| DisplayError::Png {
            target: self.describe(),
            problem,
        })?;
        self.live.set_overlay_png(png);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Lines(Mutex<Vec<String>>);
    impl LineSink for Lines {
        fn line(&self, line: &str) {
            self.0.lock().unwrap().push(line.to_string());
        }
    }

    #[test]
    fn whole_lines_reach_the_sinks_and_the_inner_writer_gets_every_byte() {
        let sink = Arc::new(Lines::default());
        let mut tee = LineTee::new(Vec::new(), vec![sink.clone() as Arc<dyn LineSink>]);
        tee.write_all(b"{\"a\":1}\n{\"b\"").unwrap();
        assert_eq!(sink.0.lock().unwrap().len(), 1);
        tee.write_all(b":2}\n").unwrap();
        assert_eq!(*sink.0.lock().unwrap(), ["{\"a\":1}", "{\"b\":2}"]);
        assert_eq!(tee.inner, b"{\"a\":1}\n{\"b\":2}\n");
    }
}

/// What the `[http]` and `[mqtt]` sections start: the MQTT publisher, the live state and the
/// web server (with search over the daemon's index when it has one).
#[derive(Default)]
pub struct Outlets {
    pub mqtt: Option<Arc<MqttPublisher>>,
    pub live: Option<Arc<Live>>,
    pub server: Option<mmv_server::Server>,
}

impl Outlets {
    pub fn start(config: &crate::config::Config) -> Result<Self, String> {
        let mut out = Self::default();
        if let Some(m) = &config.mqtt {
            out.mqtt = Some(Arc::new(MqttPublisher::start(m.clone())?));
        }
        if let Some(h) = &config.http {
            let live = Live::new();
            let catalog = match &config.index {
                Some(index) => match search_catalog(config, &index.path) {
                    Ok(c) => Some(Arc::new(c)),
                    Err(e) => {
                        tracing::warn!(error = %e, "the web page will not search the index");
                        None
                    }
                },
                None => None,
            };
            let addr = h
                .addr
                .parse()
                .map_err(|_| format!("http.addr: {:?} is not IP:PORT", h.addr))?;
            let mut options = mmv_server::ServerOptions::new(addr, h.token_file.clone());
            options.require_token = h.require_token;
            options.upload_limit = h.upload_limit_mb.saturating_mul(1 << 20);
            let server = mmv_server::Server::start(&options, catalog, Some(live.clone()))
                .map_err(|e| e.to_string())?;
            tracing::info!(url = %format!("http://{}/", server.addr()), token = server.needs_token(), "web page");
            out.server = Some(server);
            out.live = Some(live);
        }
        Ok(out)
    }

    fn sinks(&self) -> Vec<Arc<dyn LineSink>> {
        let mut s: Vec<Arc<dyn LineSink>> = Vec::new();
        if let Some(m) = &self.mqtt {
            s.push(m.clone());
        }
        if let Some(l) = &self.live {
            s.push(l.clone());
        }
        s
    }

    /// The writer, with its lines copied to MQTT and the live view too.
    pub fn tee(
        &self,
        w: crate::outputs::tags_jsonl::TagWriter<Box<dyn Write + Send>>,
    ) -> crate::outputs::tags_jsonl::TagWriter<Box<dyn Write + Send>> {
        let sinks = self.sinks();
        if sinks.is_empty() {
            return w;
        }
        crate::outputs::tags_jsonl::TagWriter::new(Box::new(LineTee::new(w.into_inner(), sinks)))
    }

    /// The live view's overlay display, with a web page.
    pub fn overlay(&self) -> Option<Box<dyn Display + Send>> {
        self.live.as_ref().map(|l| {
            Box::new(LiveOverlay::new(l.clone(), Duration::from_millis(500)))
                as Box<dyn Display + Send>
        })
    }

    /// The sources' health (and the MQTT link's) for the page.
    pub fn watch(&self, health: &crate::pipeline::Health) {
        let Some(live) = &self.live else {
            return;
        };
        let (camera, mic) = (health.camera.clone(), health.mic.clone());
        let mqtt = self.mqtt.as_ref().map(|m| m.stats());
        live.set_health(move || {
            use std::sync::atomic::Ordering::Relaxed;
            let source = |h: &Option<Arc<crate::supervisor::SourceHealth>>| {
                h.as_ref().map(|h| {
                    serde_json::json!({
                        "up": h.is_up(),
                        "finished": h.is_finished(),
                        "opens": h.opens(),
                        "failures": h.failures(),
                        "items": h.items(),
                        "bad_frames": h.bad_frames(),
                        "last_error": h.last_error(),
                    })
                })
            };
            serde_json::json!({
                "camera": source(&camera),
                "microphone": source(&mic),
                "mqtt": mqtt.as_ref().map(|m| serde_json::json!({
                    "connected": m.connected.load(Relaxed),
                    "acked": m.acked.load(Relaxed),
                    "dropped": m.dropped.load(Relaxed),
                    "connects": m.connects.load(Relaxed),
                })),
            })
        });
    }
}

/// Search over the daemon's own index, with a second copy of the model for queries.
fn search_catalog(
    config: &crate::config::Config,
    index: &std::path::Path,
) -> Result<mmv_server::Catalog, String> {
    let pipeline = crate::daemon::open_bundle(config).map_err(|e| e.to_string())?;
    let labels = config.labels().map_err(|e| e.to_string())?;
    let tagger = pipeline.tagger(&labels).map_err(|e| e.to_string())?;
    mmv_server::Catalog::open_growing(
        index,
        pipeline,
        tagger,
        mmv_runtime::ingest::OpenOptions::default(),
    )
    .map_err(|e| e.to_string())
}
