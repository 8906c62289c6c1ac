//! A camera file replayed in real time by the daemon with the fake model: what the web page
//! and MQTT tests run.

use std::net::TcpListener;
use std::path::Path;

use mmv_host::config::Config;
use mmv_runtime::frames::RgbFrame;
use mmv_runtime::ingest::y4m::write_y4m;

/// The fake model's labels: a grey level `(i + 0.5) / 4` reads as `NAMES[i]`.
pub const NAMES: [&str; 4] = ["zero", "one", "two", "three"];

/// The grey level that the fake model reads as `NAMES[i]`.
pub fn level(i: usize) -> u8 {
    (((i as f32 + 0.5) / NAMES.len() as f32) * 255.0).round() as u8
}

/// Writes `cam.y4m` in `dir` (32x24 grey frames of `levels`, 10 fps) and a configuration that
/// replays it in real time, tags to `out.jsonl`, with `extra` TOML; loads it.
pub fn realtime_replay(dir: &Path, levels: &[u8], extra: &str) -> Config {
    let frames: Vec<RgbFrame> = levels
        .iter()
        .map(|&v| RgbFrame {
            width: 32,
            height: 24,
            data: vec![v; 32 * 24 * 3],
        })
        .collect();
    write_y4m(&dir.join("cam.y4m"), &frames, 10).unwrap();
    let text = format!(
        r#"
[bundle]
dir = "no-bundle-needed"
[camera]
source = "y4m"
path = "cam.y4m"
realtime = true
at_end = "stop"
[labels]
names = {NAMES:?}
[tagging]
top_k = 1
[outputs]
tags = "out.jsonl"
framebuffer = "off"
{extra}
"#
    );
    let path = dir.join("mmv-host.toml");
    std::fs::write(&path, text).unwrap();
    Config::load(&path).expect("config loads")
}

/// A loopback port free a moment ago.
#[allow(dead_code)] // the web page and MQTT tests use it, the fleet test does not
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
