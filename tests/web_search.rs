//! The web page over product-path media (needs MMV_DATA): `mmv-train eval-product`'s Moving-MNIST
//! clips of one test image of each digit, and the held-out voice saying each digit, indexed by
//! the released bundle and served by mmv-server. A text search in headless Chromium shows the
//! right file first; an uploaded MNIST image and an uploaded FSDD recording (other images and
//! another speaker than those indexed) find a file of their digit.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mmv_runtime::bundle::manifest::Precision;
use mmv_runtime::index::{Index, IndexOptions, index_file};
use mmv_server::{Catalog, Server, ServerOptions};
use mmv_training::data::splits::MNIST_TEST;
use mmv_training::eval::product::media::{Gray, write_png};
use mmv_training::eval::product::{Product, rows};

fn data_dir() -> PathBuf {
    // A relative MMV_DATA is taken from the workspace root, where the README's command runs.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(std::env::var_os("MMV_DATA").expect("MMV_DATA names the data folder"))
}

/// The digit a file of the index shows or says, from its name (`d<digit>_...`).
fn digit_of(name: &str) -> Option<u8> {
    name.strip_prefix('d')?
        .chars()
        .next()?
        .to_digit(10)
        .map(|d| d as u8)
}

fn search(base: &str, path: &str, body: Option<&[u8]>) -> serde_json::Value {
    let url = format!("{base}{path}");
    let r = match body {
        Some(b) => ureq::post(&url).send_bytes(b),
        None => ureq::get(&url).call(),
    }
    .unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&r.into_string().unwrap()).unwrap()
}

fn top_digit(result: &serde_json::Value) -> Option<u8> {
    result["hits"][0]["name"].as_str().and_then(digit_of)
}

#[test]
#[ignore = "needs MMV_DATA"]
fn product_clips_found_by_text_image_and_sound_in_the_page() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let bundle = root.join(mmv_runtime::pipeline::DEFAULT_BUNDLE);
    let product = Product::open(&bundle, Precision::Fp32).expect("bundle");
    let data = rows::load_data(&product, &data_dir()).expect("AV-Digits");
    let work = tempfile::tempdir().unwrap();

    // The first test image of each digit, as eval-product writes its clips.
    let m = &data.mnist;
    let mut first: BTreeMap<u8, Vec<usize>> = BTreeMap::new();
    for i in MNIST_TEST {
        first.entry(m.labels[i]).or_default().push(i);
    }
    let images: Vec<usize> = first.values().map(|v| v[0]).collect();
    let clips = rows::write_clips(
        &product,
        &data,
        &images,
        &work.path().join("clips"),
        false,
        7,
    )
    .expect("clips");
    let index_path = work.path().join("index.db");
    let mut index = Index::open(&index_path).unwrap();
    let options = IndexOptions::default();
    let files = work.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    for (path, digit) in &clips {
        let named = files.join(format!("d{digit}_clip.y4m"));
        std::fs::rename(path, &named).unwrap();
        index_file(&product.pipeline, &mut index, &named, &options, &mut |_| {}).unwrap();
    }
    for r in &data.heldout {
        let named = files.join(format!("d{}_speech.wav", r.digit));
        std::fs::copy(&r.path, &named).unwrap();
        index_file(&product.pipeline, &mut index, &named, &options, &mut |_| {}).unwrap();
    }
    drop(index);

    let pipeline = Product::open(&bundle, Precision::Fp32).unwrap().pipeline;
    let tagger = pipeline
        .tagger(&mmv_runtime::tag::LabelSet::avdigits())
        .unwrap();
    let catalog = Catalog::new(&index_path, pipeline, tagger, product.open.clone()).unwrap();
    let server = Server::start(
        &ServerOptions::new("127.0.0.1:0".parse().unwrap(), work.path().join("token")),
        Some(Arc::new(catalog)),
        None,
    )
    .unwrap();
    let base = format!("http://{}", server.addr());

    // Text: the word of each digit; "seven" must put a 7 first.
    let mut text_right = 0;
    for (d, word) in [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
    ]
    .iter()
    .enumerate()
    {
        let r = search(&base, &format!("/api/search?q={word}"), None);
        text_right += usize::from(top_digit(&r) == Some(d as u8));
        if *word == "seven" {
            assert_eq!(top_digit(&r), Some(7), "{r}");
        }
    }
    // Images: the second test image of each digit, uploaded as PNG.
    let mut image_right = 0;
    for (d, idx) in &first {
        let gray = Gray {
            width: m.cols,
            height: m.rows,
            data: m.image(idx[1]).to_vec(),
        };
        let png = work.path().join(format!("q{d}.png"));
        write_png(&png, &gray).unwrap();
        let r = search(
            &base,
            "/api/search/image",
            Some(&std::fs::read(&png).unwrap()),
        );
        image_right += usize::from(top_digit(&r) == Some(*d));
    }
    // Sounds: an FSDD take of each digit by a test speaker (george), uploaded as WAV.
    let mut sound_right = 0;
    for d in 0..10u8 {
        let wav = data
            .recordings
            .iter()
            .find(|r| r.digit == d && r.speaker == "george" && r.take == 0)
            .expect("george's take 0");
        let r = search(
            &base,
            "/api/search/audio",
            Some(&std::fs::read(&wav.path).unwrap()),
        );
        sound_right += usize::from(top_digit(&r) == Some(d));
    }
    eprintln!(
        "top-1 right of 10 digits: text {text_right}, uploaded image {image_right}, uploaded sound \
         {sound_right}"
    );
    assert!(text_right >= 8, "text {text_right}/10");
    assert!(image_right >= 7, "image {image_right}/10");
    // Sound -> clip: eval-product's R@1 is 93 % over 100 test takes on 2.2.0 (65 % on 2.1.0);
    // these 10 uploads put the right digit first 6 times (3 on 2.1.0). At least half is asserted.
    assert!(sound_right >= 5, "sound {sound_right}/10");

    // The page, in headless Chromium, shows a 7 first for "seven".
    if let Some(browser) = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
    {
        let profile = tempfile::tempdir().unwrap();
        let chromium = |action: String, url: String| {
            std::process::Command::new(&browser)
                .args([
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--virtual-time-budget=30000",
                    "--window-size=1280,900",
                    "--hide-scrollbars",
                ])
                .arg(format!("--user-data-dir={}", profile.path().display()))
                .arg(action)
                .arg(url)
                .output()
                .unwrap()
        };
        let dom = chromium("--dump-dom".into(), format!("{base}/#q=seven&file=1"));
        let dom = String::from_utf8_lossy(&dom.stdout);
        let first_card = dom
            .split("class=\"hit")
            .nth(1)
            .unwrap_or_else(|| panic!("no results in the page: {dom}"));
        assert!(first_card.contains("data-name=\"d7_"), "{first_card}");
        // The README's screenshot: MMV_WEB_SCREENSHOT=$PWD/docs/web-page.png.
        if let Some(path) = std::env::var_os("MMV_WEB_SCREENSHOT") {
            let shot = format!("--screenshot={}", Path::new(&path).display());
            assert!(
                chromium(shot, format!("{base}/#q=seven&file=1"))
                    .status
                    .success()
            );
        }
    } else {
        eprintln!("SKIPPED the page part: chromium is not installed");
    }
    server.stop();
}
