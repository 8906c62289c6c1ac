//! The page in headless Chromium (Debian `chromium`): loaded from the server, it runs a text
//! search, a "more like this" image search and a file's timeline (views named in the URL's
//! hash, which the page runs on load), and the results it shows are checked in its DOM. Skips,
//! saying so, when Chromium is not installed.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{fixture, get_json};

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| {
            std::env::var_os("PATH")
                .into_iter()
                .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
                .map(move |d| d.join(name))
        })
        .find(|p| p.is_file())
}

/// The DOM after the page has run, its network requests included (virtual time waits for them).
fn dump_dom(browser: &PathBuf, url: &str, profile: &std::path::Path) -> String {
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--virtual-time-budget=30000",
            "--run-all-compositor-stages-before-draw",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(url)
        .output()
        .expect("running chromium");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The `data-KEY="..."` values of the elements with class `class`, in document order.
fn attrs(dom: &str, class: &str, key: &str) -> Vec<String> {
    let mut out = Vec::new();
    for piece in dom.split('<').filter(|p| {
        p.contains(&format!("class=\"{class}\"")) || p.contains(&format!("class=\"{class} "))
    }) {
        let needle = format!("data-{key}=\"");
        if let Some(i) = piece.find(&needle) {
            let rest = &piece[i + needle.len()..];
            out.push(rest[..rest.find('"').unwrap()].to_string());
        }
    }
    out
}

#[test]
fn the_page_searches_and_shows_results_and_a_timeline() {
    let Some(browser) = chromium() else {
        eprintln!("SKIPPED: chromium is not installed (Debian: apt-get install chromium)");
        return;
    };
    let f = fixture();
    let addr = f.server.addr();
    let profile = tempfile::tempdir().unwrap();

    // A text search typed into the URL, as the search box puts it there.
    let dom = dump_dom(&browser, &format!("http://{addr}/#q=seven"), profile.path());
    assert!(dom.contains("id=\"results\""), "{dom}");
    assert!(
        dom.contains("data-state=\"done\""),
        "the search did not finish: {dom}"
    );
    let segments = attrs(&dom, "hit", "segment");
    let (_, api) = get_json(addr, "/api/search?q=seven");
    let want: Vec<String> = api["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["segment_id"].to_string())
        .collect();
    assert_eq!(segments, want, "the page shows the API's order");
    assert_eq!(segments[0], f.report.hits[0].0.id.to_string());
    assert!(dom.contains("digits.y4m"));
    assert!(
        dom.contains("0:01.6–0:03.2"),
        "the 7 clip's time range: {dom}"
    );
    assert!(dom.contains(&format!("src=\"/api/clips/{}/thumbnail.jpg\"", segments[0])));
    // The header names the model, from /api/info.
    assert!(dom.contains(&f.report.model.name), "{dom}");

    // "More like this" on the 3 clip: an image query from its thumbnail.
    let (_, three) = get_json(addr, "/api/search?q=three&k=1&modality=video");
    let seg = three["hits"][0]["segment_id"].to_string();
    let dom = dump_dom(
        &browser,
        &format!("http://{addr}/#like={seg}"),
        profile.path(),
    );
    assert!(dom.contains("data-state=\"done\""), "{dom}");
    assert_eq!(attrs(&dom, "hit", "segment").first(), Some(&seg), "{dom}");

    // The file's timeline: one track of video clips labelled with their best tags.
    let file_id = api["hits"][0]["file_id"].as_i64().unwrap();
    let dom = dump_dom(
        &browser,
        &format!("http://{addr}/#file={file_id}"),
        profile.path(),
    );
    let labels = attrs(&dom, "seg", "label");
    assert_eq!(labels.len(), 3, "{dom}");
    assert_eq!(labels[1], "seven", "{dom}");
    assert!(dom.contains("Timeline: digits.y4m"), "{dom}");

    // A screenshot of the search and the timeline, when asked for (MMV_WEB_SCREENSHOT=FILE.png).
    if let Some(shot) = std::env::var_os("MMV_WEB_SCREENSHOT") {
        let out = Command::new(&browser)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
            ])
            .args(["--virtual-time-budget=30000", "--window-size=1100,820"])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(format!("--screenshot={}", PathBuf::from(shot).display()))
            .arg(format!("http://{addr}/#q=seven&file={file_id}"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
