//! The tests' fixture: `mmv demo`'s footage (digits 3, 7, 1 drawn on a 64x64 canvas, one per
//! clip) indexed by the released bundle, served on a free loopback port.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use mmv_cli::demo::{DemoOptions, DemoReport};
use mmv_runtime::bundle::{Bundle, BundleOptions};
use mmv_runtime::ingest::OpenOptions;
use mmv_runtime::pipeline::Pipeline;
use mmv_runtime::tag::LabelSet;
use mmv_server::{Catalog, Server, ServerOptions};

pub struct Fixture {
    pub server: Server,
    pub report: DemoReport,
    pub dir: tempfile::TempDir,
}

pub fn bundle_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/avdigits-fac-s3d")
}

/// A catalog over `index` with the released bundle and the digit words.
pub fn catalog(index: &std::path::Path) -> Arc<Catalog> {
    let pipeline = Pipeline::new(Bundle::open(&bundle_dir(), &BundleOptions::default()).unwrap());
    let tagger = pipeline.tagger(&LabelSet::avdigits()).unwrap();
    Arc::new(Catalog::new(index, pipeline, tagger, OpenOptions::default()).unwrap())
}

/// The demo's index, served once for all the tests of a file.
pub fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let report = mmv_cli::demo::run(&DemoOptions {
            bundle: bundle_dir(),
            work_dir: Some(dir.path().join("demo")),
            ..DemoOptions::default()
        })
        .unwrap();
        let options = ServerOptions::new("127.0.0.1:0".parse().unwrap(), dir.path().join("token"));
        let server = Server::start(&options, Some(catalog(&report.index)), None).unwrap();
        Fixture {
            server,
            report,
            dir,
        }
    })
}

pub fn url(addr: SocketAddr, path: &str) -> String {
    format!("http://{addr}{path}")
}

/// A GET's status and JSON body (errors are answers too).
pub fn get_json(addr: SocketAddr, path: &str) -> (u16, serde_json::Value) {
    answer(ureq::get(&url(addr, path)).call())
}

pub fn post_json(addr: SocketAddr, path: &str, body: &[u8]) -> (u16, serde_json::Value) {
    answer(ureq::post(&url(addr, path)).send_bytes(body))
}

pub fn answer(r: Result<ureq::Response, ureq::Error>) -> (u16, serde_json::Value) {
    let r = match r {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("no answer: {e}"),
    };
    let status = r.status();
    let text = r.into_string().unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, body)
}

/// Sends raw bytes (a request line the client libraries would clean up) and returns the
/// status code and body of the answer.
pub fn raw(addr: SocketAddr, request: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}
