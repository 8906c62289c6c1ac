//! The daemon's web page (`[http]`): while it replays a file in real time, the live view
//! answers with the latest tags, the sources' health and the overlay as PNG, and streams each
//! tag line and event record as server-sent events, the same JSON as the JSON-lines file.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use mmv_host::daemon::run_with;
use mmv_host::fake::FakeEmbedder;

mod replay;
use replay::{NAMES, free_port, level, realtime_replay};

fn get(port: u16, path: &str) -> (u16, Vec<u8>) {
    match ureq::get(&format!("http://127.0.0.1:{port}{path}")).call() {
        Ok(r) | Err(ureq::Error::Status(_, r)) => {
            let status = r.status();
            let mut body = Vec::new();
            std::io::Read::read_to_end(&mut r.into_reader(), &mut body).unwrap();
            (status, body)
        }
        Err(e) => panic!("{path}: {e}"),
    }
}

#[test]
fn the_live_view_streams_what_the_json_lines_say() {
    let dir = tempfile::tempdir().unwrap();
    let levels: Vec<u8> = (0..40).map(|i| level(if i < 20 { 1 } else { 2 })).collect();
    let port = free_port();
    let config = realtime_replay(
        dir.path(),
        &levels,
        &format!("[http]\naddr = \"127.0.0.1:{port}\""),
    );
    let daemon = std::thread::spawn(move || {
        let fake = FakeEmbedder::new(&NAMES.map(String::from));
        run_with(&config, fake, None, Arc::new(AtomicBool::new(false))).expect("daemon runs")
    });

    // The event stream, read raw.
    let until = Instant::now() + Duration::from_secs(20);
    let mut s = loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => break s,
            Err(_) if Instant::now() < until => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("the daemon's server did not start: {e}"),
        }
    };
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(b"GET /api/live/events HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut reader = BufReader::new(s);
    let mut streamed = Vec::new();
    let mut kind = String::new();
    let mut line = String::new();
    while streamed.len() < 10 {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        if let Some(k) = line.strip_prefix("event: ") {
            kind = k.trim().to_string();
        } else if let Some(d) = line.strip_prefix("data: ") {
            streamed.push((kind.clone(), d.trim().to_string()));
        }
    }
    assert_eq!(streamed.len(), 10, "{streamed:?}");
    assert!(streamed.iter().any(|(k, _)| k == "tag"));

    // While it runs: latest tags, health, the overlay.
    let (status, body) = get(port, "/api/live/tags");
    assert_eq!(status, 200);
    let latest: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(
        latest["latest"].as_object().is_some_and(|o| !o.is_empty()),
        "{latest}"
    );
    let (status, body) = get(port, "/api/live/health");
    assert_eq!(status, 200);
    let health: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(
        health["health"]["camera"]["items"].as_u64().unwrap() > 0,
        "{health}"
    );
    let (status, png) = get(port, "/api/live/overlay.png");
    assert_eq!(status, 200);
    assert!(png.starts_with(b"\x89PNG"));
    // No index configured: nothing to search, said clearly.
    let (status, body) = get(port, "/api/search?q=one");
    assert_eq!(status, 404, "{}", String::from_utf8_lossy(&body));
    let (status, body) = get(port, "/api/info");
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&body).unwrap()["live"],
        true
    );

    daemon.join().unwrap();
    // What streamed is what the JSON lines say, in the same order.
    let text = std::fs::read_to_string(dir.path().join("out.jsonl")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .position(|l| *l == streamed[0].1)
        .expect("the first streamed line is in the file");
    for (i, (kind, data)) in streamed.iter().enumerate() {
        assert_eq!(lines[at + i], data);
        assert_eq!(kind == "event", data.contains("\"event\":"), "{data}");
    }
}
