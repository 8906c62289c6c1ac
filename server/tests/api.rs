//! The JSON API on `mmv demo`'s indexed footage: searches, uploads, files and timelines,
//! thumbnails, and the answers to bad requests (traversal, oversize, junk).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{fixture, get_json, post_json, raw};

#[test]
fn text_search_puts_the_seven_clip_first_as_mmv_search_does() {
    let f = fixture();
    let addr = f.server.addr();
    // The same index and query as the demo's own search: the same first hit and score.
    let (status, all) = get_json(addr, "/api/search?q=seven");
    assert_eq!(status, 200, "{all}");
    assert_eq!(all["hits"][0]["segment_id"], f.report.hits[0].0.id);
    let rows = all["rows_searched"].as_u64().unwrap();
    assert_eq!(all["hits"].as_array().unwrap().len() as u64, rows.min(24));
    // The demo's footage draws 3, 7, 1 one per clip: the 7 is clip 1.
    let (status, body) = get_json(addr, "/api/search?q=seven&modality=video");
    assert_eq!(status, 200, "{body}");
    let hits = body["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 3, "{body}");
    assert_eq!(hits[0]["clip"], 1, "{body}");
    let scores: Vec<f64> = hits.iter().map(|h| h["score"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    let first = all["hits"][0]["score"].as_f64().unwrap();
    assert!((first - f64::from(f.report.hits[0].1)).abs() < 1e-4);
    assert_eq!(hits[0]["modality"], "video");
    assert_eq!(hits[0]["name"], "digits.y4m");
    assert_eq!(
        hits[0]["thumbnail"],
        format!("/api/clips/{}/thumbnail.jpg", hits[0]["segment_id"])
    );
    assert!(hits[0]["file_id"].as_i64().is_some());
    // below_cut: a bool for a calibrated bundle, null for one without cuts.
    assert!(hits[0]["below_cut"].is_boolean() || hits[0]["below_cut"].is_null());
    assert_eq!(body["rows_searched"].as_u64(), Some(rows));
    // Filters keep their modality only; k limits.
    let (_, audio) = get_json(addr, "/api/search?q=seven&modality=audio,image");
    let audio = audio["hits"].as_array().unwrap();
    assert_eq!(audio.len() as u64, rows - 3);
    assert!(audio.iter().all(|h| h["modality"] == "audio"));
    let (_, one) = get_json(addr, "/api/search?q=three&k=1&modality=video");
    assert_eq!(one["hits"].as_array().unwrap().len(), 1);
    assert_eq!(one["hits"][0]["clip"], 0, "{one}");
}

#[test]
fn an_uploaded_image_finds_its_clip_and_wrong_uploads_are_refused() {
    let f = fixture();
    let addr = f.server.addr();
    // The 3 clip's thumbnail, uploaded as a query image: the 3 clip comes first.
    let (_, three) = get_json(addr, "/api/search?q=three&k=1&modality=video");
    let seg = three["hits"][0]["segment_id"].as_i64().unwrap();
    let jpeg = ureq::get(&common::url(
        addr,
        &format!("/api/clips/{seg}/thumbnail.jpg"),
    ))
    .call()
    .unwrap();
    assert_eq!(jpeg.header("content-type"), Some("image/jpeg"));
    let mut bytes = Vec::new();
    jpeg.into_reader().read_to_end(&mut bytes).unwrap();
    assert_eq!(&bytes[..3], &[0xFF, 0xD8, 0xFF]);
    for route in ["/api/search/upload", "/api/search/image"] {
        let (status, body) = post_json(addr, route, &bytes);
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["query"]["kind"], "image");
        assert_eq!(body["hits"][0]["segment_id"], seg, "{body}");
        // An image query's score is not the tagging cosine: no cut mark.
        assert!(body["hits"][0]["below_cut"].is_null());
    }
    // "More like this" runs the same query from the stored thumbnail.
    let (status, like) = get_json(addr, &format!("/api/similar/{seg}"));
    assert_eq!(status, 200, "{like}");
    assert_eq!(like["hits"][0]["segment_id"], seg);

    // An image sent to the audio route, junk, an empty body, a corrupt PNG.
    let (status, body) = post_json(addr, "/api/search/audio", &bytes);
    assert_eq!(status, 415, "{body}");
    let (status, body) = post_json(addr, "/api/search/upload", b"#!/bin/sh\nrm -rf /\n");
    assert_eq!(status, 415, "{body}");
    assert_eq!(body["error"]["status"], 415);
    let (status, _) = post_json(addr, "/api/search/upload", b"");
    assert_eq!(status, 400);
    let (status, body) = post_json(addr, "/api/search/upload", b"\x89PNG\r\n\x1a\nnot really");
    assert_eq!(status, 422, "{body}");
    // A WAV with no samples is refused with the reason, not a crash.
    let mut wav = b"RIFF\x24\0\0\0WAVEfmt \x10\0\0\0\x01\0\x01\0\x80\x3e\0\0\0\x7d\0\0\x02\0\x10\0data\0\0\0\0".to_vec();
    let (status, body) = post_json(addr, "/api/search/audio", &wav);
    assert!(status == 422, "{status} {body}");
    wav.truncate(20);
    let (status, _) = post_json(addr, "/api/search/audio", &wav);
    assert_eq!(status, 422);
}

#[test]
fn files_and_a_timeline_of_tags() {
    let f = fixture();
    let addr = f.server.addr();
    let (status, files) = get_json(addr, "/api/files");
    assert_eq!(status, 200);
    let files = files["files"].as_array().unwrap();
    let video = files
        .iter()
        .find(|f| f["name"] == "digits.y4m")
        .expect("the demo's footage is listed");
    assert_eq!(video["status"], "complete");
    assert_eq!(video["clips"], 3);
    let id = video["id"].as_i64().unwrap();
    let (status, t) = get_json(addr, &format!("/api/files/{id}"));
    assert_eq!(status, 200, "{t}");
    let clips = t["clips"].as_array().unwrap();
    assert_eq!(clips.len(), f.report.clips.len());
    for (c, demo) in clips.iter().zip(&f.report.clips) {
        assert_eq!(c["clip"], demo.clip);
        assert!((c["start_s"].as_f64().unwrap() - demo.start_s).abs() < 1e-6);
        // The stored embedding tags as the demo tagged the clip when it saw it.
        let best = &demo.tags.video.as_ref().unwrap()[0];
        assert_eq!(c["tags"][0]["label"], best.label.as_str(), "{c}");
        assert!(
            (c["tags"][0]["similarity"].as_f64().unwrap() - f64::from(best.similarity)).abs()
                < 1e-4
        );
    }
    assert_eq!(clips[1]["tags"][0]["label"], "seven");
    let (status, _) = get_json(addr, "/api/files/999999");
    assert_eq!(status, 404);
    let (status, info) = get_json(addr, "/api/info");
    assert_eq!(status, 200);
    assert_eq!(info["model"]["name"], f.report.model.name.as_str());
    assert!(info["index"]["rows_loaded"].as_u64().unwrap() >= 3);
    assert_eq!(
        info["index"]["files_complete"].as_u64().unwrap(),
        files.len() as u64
    );
    assert_eq!(info["labels"].as_array().unwrap().len(), 10);
    assert_eq!(info["live"], false);
}

#[test]
fn traversal_and_junk_paths_get_json_400_or_404() {
    let addr = fixture().server.addr();
    for (path, want) in [
        ("/api/clips/..%2F..%2Fetc%2Fpasswd/thumbnail.jpg", 400),
        ("/api/clips/%2Fetc%2Fpasswd/thumbnail.jpg", 400),
        ("/api/files/..", 400),
        ("/api/files/-1", 400),
        ("/api/files/%2e%2e%2f%2e%2e%2fetc%2fpasswd", 400),
        ("/api/similar/1%00", 400),
        ("/../../etc/passwd", 404),
        ("/%2e%2e/%2e%2e/etc/passwd", 404),
        ("/api/../../../etc/passwd", 404),
        ("/etc/passwd", 404),
        ("/app.js/../../Cargo.toml", 404),
        ("//etc/passwd", 404),
        ("/api/clips/999999/thumbnail.jpg", 404),
    ] {
        let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let (status, body) = raw(addr, req.as_bytes());
        assert_eq!(status, want, "{path}: {body}");
        assert!(!body.contains("root:"), "{path}");
        let v: serde_json::Value =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"));
        assert_eq!(v["error"]["status"], want, "{path}");
    }
    // An absolute-form request target.
    let (status, _) = raw(
        addr,
        b"GET http://x/../../etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(status == 400 || status == 404, "{status}");
}

#[test]
fn bad_queries_get_clear_json_errors() {
    let addr = fixture().server.addr();
    for (path, want) in [
        ("/api/search", 400),
        ("/api/search?q=", 400),
        ("/api/search?q=seven&k=abc", 400),
        ("/api/search?q=seven&modality=smell", 400),
        ("/api/search?q=xyzzy%20qwertyuiop", 422),
    ] {
        let (status, body) = get_json(addr, path);
        assert_eq!(status, want, "{path}: {body}");
        assert!(!body["error"]["message"].as_str().unwrap().is_empty());
    }
    let long = "seven%20".repeat(600);
    let (status, _) = get_json(addr, &format!("/api/search?q={long}"));
    assert_eq!(status, 400);
}

#[test]
fn a_100_mb_upload_is_refused_with_413() {
    let addr = fixture().server.addr();
    // Declared: refused before the body is read.
    let head = "POST /api/search/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 104857600\r\n\
                Content-Type: image/png\r\nConnection: close\r\n\r\n";
    let (status, body) = raw(addr, head.as_bytes());
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("104857600"), "{body}");

    // Streamed (chunked, no length): cut off at the limit while being read.
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    s.write_all(
        b"POST /api/search/upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\
          Connection: close\r\n\r\n",
    )
    .unwrap();
    let chunk = vec![0x89u8; 1 << 20];
    let mut writer = s.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        for _ in 0..100 {
            let ok = writer
                .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .and_then(|()| writer.write_all(&chunk))
                .and_then(|()| writer.write_all(b"\r\n"));
            if ok.is_err() {
                return; // the server closed the connection after answering
            }
        }
        let _ = writer.write_all(b"0\r\n\r\n");
    });
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    let _ = sender.join();
}

#[test]
fn concurrent_searches_all_answer() {
    let addr = fixture().server.addr();
    let threads: Vec<_> = (0..16)
        .map(|i| {
            std::thread::spawn(move || {
                let q = ["seven", "three", "one", "a five"][i % 4];
                let q = q.replace(' ', "%20");
                get_json(addr, &format!("/api/search?q={q}&modality=video"))
            })
        })
        .collect();
    for t in threads {
        let (status, body) = t.join().unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["hits"].as_array().unwrap().len(), 3);
    }
}
