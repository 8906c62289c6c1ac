//! The product-path evaluation and the open-set calibration on the released default bundle,
//! small: every row is filled from files read by the runtime, the closed-set figures beat
//! chance where the model is known to work, the calibration's cuts keep each calibration
//! negative kind at or under its target, and a calibrated copy of the bundle then abstains.

use std::path::{Path, PathBuf};

use mmv_runtime::bundle::manifest::Precision;
use mmv_training::eval::product::calibrate::{
    CalibrateOptions, NOISE_FLOORS, NOISE_GATES, calibrate, store,
};
use mmv_training::eval::product::{ProductOptions, Sections, run};

fn data_dir() -> PathBuf {
    let dir =
        PathBuf::from(std::env::var("MMV_DATA").expect("MMV_DATA names the shared data folder"));
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(dir)
}

fn released() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/avdigits-fac-s3d")
}

fn copy_bundle(to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(released()).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        // fp32 and int8 (which calibrate-tags measures too): not the f16 files.
        if name.ends_with(".onnx") && name.contains("f16") {
            continue;
        }
        std::fs::copy(&p, to.join(&name)).unwrap();
    }
}

#[test]
#[ignore = "needs MMV_DATA (and espeak-ng for the speech negatives)"]
fn product_path_rows_and_a_calibrated_bundle_that_abstains() {
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join("bundle");
    copy_bundle(&bundle);
    let data = data_dir();

    let cal = calibrate(
        &CalibrateOptions {
            bundle: bundle.clone(),
            data_dir: data.clone(),
            per_row: 10,
            negatives_per_kind: 4,
            fit_inputs: 60,
            target: 0.25,
            score: mmv_runtime::open_set::OpenSetScore::Contrast,
            seed: 0,
            command: "test".into(),
        },
        |_| {},
    )
    .unwrap();
    // The noise floor: every candidate measured, the kept one the best of them.
    assert_eq!(cal.floors.len(), NOISE_FLOORS.len());
    let best = cal.floors.iter().map(|f| f.1).fold(f64::MIN, f64::max);
    assert!(
        cal.floors.contains(&(cal.noise_floor, best)),
        "{:?}",
        cal.floors
    );
    // The noise gate likewise, on the mean of its two rows.
    assert_eq!(cal.gates.len(), NOISE_GATES.len());
    let mean = |&(_, a, b): &(f32, f64, f64)| (a + b) / 2.0;
    let best = cal.gates.iter().map(mean).fold(f64::MIN, f64::max);
    assert!(
        cal.gates
            .iter()
            .any(|g| g.0 == cal.noise_gate && mean(g) == best),
        "{:?}",
        cal.gates
    );
    // Still framing: both choices measured on the validation stills, the better one kept.
    assert_eq!(cal.framings.len(), 2, "{:?}", cal.framings);
    let best = cal.framings.iter().map(|f| f.1).fold(f64::MIN, f64::max);
    assert!(
        cal.framings
            .iter()
            .any(|(f, acc)| *f == cal.still_framing && *acc == best),
        "{:?}",
        cal.framings
    );
    store(&bundle, &cal).unwrap();
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(bundle.join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(
        manifest["audio"]["noise_floor"].as_f64().unwrap() as f32,
        cal.noise_floor
    );
    assert_eq!(
        manifest["audio"]["noise_gate"].as_f64().unwrap() as f32,
        cal.noise_gate
    );
    assert_eq!(
        manifest["video"].get("still_framing").is_some(),
        cal.still_framing.is_some()
    );
    let cal = cal.open_set;
    cal.validate().unwrap();
    assert_eq!(manifest["open_set"]["score"], "contrast");
    for m in ["audio", "image", "video", "fused"] {
        assert!(cal.threshold(m).is_some(), "no cut for {m}: {cal:?}");
    }
    // Each modality tried both kinds of score and kept the one that kept more right answers;
    // a modality scored by typicality carries its label Gaussians, one mean per digit.
    for (m, c) in &cal.calibration {
        assert_eq!(c.kept_by_score.len(), 2, "{m}: {:?}", c.kept_by_score);
        let kind = format!("{:?}", cal.score_of(m)).to_lowercase();
        let best = c.kept_by_score.values().copied().fold(f32::MIN, f32::max);
        assert_eq!(c.kept_by_score[&kind], best, "{m}: {:?}", c.kept_by_score);
        assert_eq!(c.positives_kept, best);
        if cal.score_of(m) == mmv_runtime::open_set::OpenSetScore::Typicality {
            assert_eq!(cal.gaussians[m].means.len(), 10);
            assert!(cal.gaussians[m].samples >= 10);
        }
    }
    assert_eq!(
        mmv_runtime::open_set::OpenSet::from_json(&manifest["open_set"].to_string()).unwrap(),
        cal
    );
    for (m, c) in &cal.calibration {
        for (kind, (n, share)) in &c.negatives {
            assert!(*n > 0, "{m}/{kind}");
            assert!(
                *share <= 0.25 + 1e-6,
                "{m}/{kind}: {share} tagged above the target"
            );
        }
    }

    let eval = run(
        &ProductOptions {
            bundle: bundle.clone(),
            data_dir: data,
            precision: Precision::Fp32,
            per_row: 20,
            negatives_per_kind: 3,
            work_dir: None,
            seed: 0,
            sections: Sections::ALL,
            open_set: None,
        },
        |_| {},
    )
    .unwrap();
    // The calibrated cuts are in use, and every row was measured.
    assert_eq!(eval.cuts.len(), 4, "{:?}", eval.cuts);
    assert!(eval.rows.iter().all(|r| r.n > 0));
    assert!(
        eval.rows
            .iter()
            .all(|r| r.right_kept + r.wrong_kept + r.abstained == r.n)
    );
    let row = |name: &str| eval.rows.iter().find(|r| r.name.starts_with(name)).unwrap();
    // Where the released model works (its training scale, clips): far above chance (10 %).
    assert!(
        row("digit at 1/2").accuracy() >= 60.0,
        "{:?}",
        row("digit at 1/2")
    );
    assert!(row("Moving-MNIST test clips as Y4M").accuracy() >= 60.0);
    assert_eq!(eval.search.len(), 3);
    assert!(eval.search[0].r_at_5 >= 60.0, "{:?}", eval.search[0]);
    // Open set: every kind measured, and the cut abstains on some negatives.
    assert!(eval.negatives.len() >= 12, "{:?}", eval.negatives.len());
    let tagged: usize = eval.negatives.iter().map(|r| r.tagged).sum();
    let total: usize = eval.negatives.iter().map(|r| r.n).sum();
    assert!(tagged < total, "every negative tagged despite the cuts");
}

#[test]
#[ignore = "needs MMV_DATA (and espeak-ng for the speech negatives)"]
fn open_set_embeddings_cover_every_split_with_unit_windows_and_their_answer() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("e.jsonl");
    let n = mmv_training::eval::product::embeddings::dump(
        &released(),
        &data_dir(),
        Precision::Fp32,
        3,
        &out,
        |_| {},
    )
    .unwrap();
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), n);
    let mut seen = std::collections::BTreeSet::new();
    for l in &lines {
        let split = l["split"].as_str().unwrap().to_string();
        let modality = l["modality"].as_str().unwrap().to_string();
        let windows = l["windows"].as_array().unwrap();
        let answer = l["answer"].as_u64().unwrap() as usize;
        assert!(answer < windows.len(), "{l}");
        for w in windows {
            let v: Vec<f64> = w
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect();
            let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
            assert!(
                (norm - 1.0).abs() < 1e-3,
                "a text-space embedding is unit: {norm}"
            );
        }
        // Positives carry their digit, negatives none.
        let negative = l["digit"].is_null();
        seen.insert((split, modality, negative));
    }
    for split in ["fit", "calibration", "evaluation"] {
        for modality in ["audio", "image", "video"] {
            assert!(
                seen.contains(&(split.into(), modality.into(), false)),
                "{split} {modality}"
            );
            if split != "fit" {
                assert!(
                    seen.contains(&(split.into(), modality.into(), true)),
                    "{split} {modality} negatives"
                );
            }
        }
    }
}
