//! Tags and events over MQTT against a real broker (Debian `mosquitto`, started by the test on
//! a free port): the daemon replays a file in real time with `[mqtt]` set, the broker is
//! stopped mid-stream and started again, and a subscriber still receives every tag line and
//! event record of the replay, in the order of the JSON-lines file. Skips, saying so, when
//! mosquitto is not installed.

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mmv_host::daemon::run_with;
use mmv_host::fake::FakeEmbedder;
use rumqttc::{Client, Event, MqttOptions, Packet, QoS};

mod replay;
use replay::{NAMES, free_port, level, realtime_replay};

fn mosquitto() -> Option<PathBuf> {
    [
        "/usr/sbin/mosquitto",
        "/usr/bin/mosquitto",
        "/usr/local/sbin/mosquitto",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.is_file())
}

struct Broker {
    bin: PathBuf,
    conf: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl Broker {
    /// A broker on a free loopback port that keeps sessions and queued messages across a
    /// restart (persistence on, saved at SIGTERM).
    fn new(bin: PathBuf, dir: &Path) -> Self {
        let port = free_port();
        let conf = dir.join("mosquitto.conf");
        let mut f = std::fs::File::create(&conf).unwrap();
        writeln!(
            f,
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n\
             persistence_location {}/\nuser root\nmax_queued_messages 100000",
            dir.display()
        )
        .unwrap();
        let mut b = Self {
            bin,
            conf,
            port,
            child: None,
        };
        b.start();
        b
    }

    fn start(&mut self) {
        let child = Command::new(&self.bin)
            .arg("-c")
            .arg(&self.conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting mosquitto");
        self.child = Some(child);
        let until = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < until,
                "mosquitto did not open port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM (the broker saves its state) and wait for it to exit.
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let _ = c.wait();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A subscriber with a persistent session: what the broker queued for it while it was away
/// (the broker restarting) arrives when it is back.
fn subscribe(port: u16, id: &str, topic: &str) -> Arc<Mutex<Vec<(String, String)>>> {
    let got = Arc::new(Mutex::new(Vec::new()));
    let mut options = MqttOptions::new(id, "127.0.0.1", port);
    options.set_clean_session(false);
    options.set_keep_alive(Duration::from_secs(5));
    options.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut connection) = Client::new(options, 100);
    let topic = topic.to_string();
    let sink = got.clone();
    std::thread::spawn(move || {
        for event in connection.iter() {
            match event {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    let _ = client.try_subscribe(topic.clone(), QoS::AtLeastOnce);
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let text = String::from_utf8_lossy(&p.payload).into_owned();
                    sink.lock().unwrap().push((p.topic.clone(), text));
                }
                Ok(_) => {}
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    });
    got
}

fn wait_for(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let until = Instant::now() + timeout;
    while !ok() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Removes the re-sends of at-least-once delivery: a line seen before is dropped.
fn first_copies(lines: &[String]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    lines
        .iter()
        .filter(|l| seen.insert((*l).clone()))
        .cloned()
        .collect()
}

#[test]
fn every_tag_of_a_replay_arrives_in_order_across_a_broker_restart() {
    let Some(bin) = mosquitto() else {
        eprintln!("SKIPPED: mosquitto is not installed (Debian: apt-get install mosquitto)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Broker::new(bin, dir.path());

    // 8 s of footage at 10 fps, replayed in real time: the digits 0..3 two seconds each.
    let levels: Vec<u8> = (0..80).map(|i| level(i / 20)).collect();
    let config = realtime_replay(
        dir.path(),
        &levels,
        &format!(
            "[mqtt]\nport = {}\ndevice = \"test-cam\"\nretry_initial_ms = 50\n\
             retry_max_ms = 400\ndrain_ms = 20000",
            broker.port
        ),
    );

    let got = subscribe(broker.port, "test-subscriber", "mmv/test-cam/#");
    // Subscribed before the daemon says anything.
    std::thread::sleep(Duration::from_millis(500));

    let daemon = std::thread::spawn(move || {
        let fake = FakeEmbedder::new(&NAMES.map(String::from));
        run_with(&config, fake, None, Arc::new(AtomicBool::new(false))).expect("daemon runs")
    });
    // Let some lines through, then take the broker away for two seconds of the replay.
    wait_for("the first tags", Duration::from_secs(20), || {
        got.lock()
            .unwrap()
            .iter()
            .filter(|(t, _)| t.ends_with("/tags"))
            .count()
            >= 10
    });
    assert!(
        got.lock()
            .unwrap()
            .iter()
            .any(|(t, p)| t == "mmv/test-cam/status" && p.contains("online")),
        "the daemon says it is online first"
    );
    broker.stop();
    let during = got.lock().unwrap().len();
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(got.lock().unwrap().len(), during, "no broker, no messages");
    broker.start();
    let stats = daemon.join().unwrap();
    assert_eq!(stats.frames, 80);

    // The JSON lines are still written, and MQTT carried each of them.
    let text = std::fs::read_to_string(dir.path().join("out.jsonl")).unwrap();
    let (events, tags): (Vec<String>, Vec<String>) = text
        .lines()
        .map(String::from)
        .partition(|l| l.contains("\"event\":"));
    assert!(tags.len() >= 80, "{} tag lines", tags.len());
    assert!(events.len() >= 4, "{} event records", events.len());
    let received = |leaf: &str| -> Vec<String> {
        let got = got.lock().unwrap();
        got.iter()
            .filter(|(t, _)| t == &format!("mmv/test-cam/{leaf}"))
            .map(|(_, p)| p.clone())
            .collect()
    };
    wait_for("every line", Duration::from_secs(30), || {
        first_copies(&received("tags")).len() >= tags.len()
            && first_copies(&received("events")).len() >= events.len()
    });
    assert_eq!(
        first_copies(&received("tags")),
        tags,
        "tags in order, none lost"
    );
    assert_eq!(
        first_copies(&received("events")),
        events,
        "events in order, none lost"
    );
    // At-least-once: the one line in flight when the broker went may come twice, no more.
    assert!(received("tags").len() + received("events").len() <= tags.len() + events.len() + 2);

    // The daemon said goodbye: a new subscriber sees the retained status "offline".
    let late = subscribe(broker.port, "late-subscriber", "mmv/test-cam/status");
    wait_for("the retained status", Duration::from_secs(10), || {
        !late.lock().unwrap().is_empty()
    });
    let status: serde_json::Value = serde_json::from_str(&late.lock().unwrap()[0].1).unwrap();
    assert_eq!(status["state"], "offline");
    assert_eq!(status["device"], "test-cam");
}
