//! Replays every committed fuzz input (fuzz/seeds/<target>/ and fuzz/regressions/<target>/)
//! through the fuzz targets' own functions (fuzz/src/targets.rs) on the stable toolchain, so
//! `cargo test --workspace` keeps every crash the fuzzers ever found fixed. The fuzzing itself
//! (nightly, cargo-fuzz) is `scripts/fuzz.sh`.

use std::path::{Path, PathBuf};

#[allow(dead_code)]
#[path = "../fuzz/src/targets.rs"]
mod targets;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_committed_seed_and_regression_input_passes_its_target() {
    let mut failures = Vec::new();
    let (mut seeds, mut regressions) = (0, 0);
    for (name, target) in targets::TARGETS {
        let seed_files = inputs(&fuzz_dir().join("seeds").join(name));
        assert!(!seed_files.is_empty(), "target {name} has no seeds");
        let regression_files = inputs(&fuzz_dir().join("regressions").join(name));
        seeds += seed_files.len();
        regressions += regression_files.len();
        for file in seed_files.iter().chain(&regression_files) {
            let data = std::fs::read(file).unwrap();
            if std::panic::catch_unwind(|| target(&data)).is_err() {
                failures.push(file.display().to_string());
            }
        }
    }
    eprintln!(
        "{} targets: {seeds} seeds and {regressions} regression inputs replayed",
        targets::TARGETS.len()
    );
    assert!(failures.is_empty(), "inputs that fail: {failures:#?}");
}

/// The targets' table matches the fuzz crate's manifest, so no target is left unreplayed.
#[test]
fn every_fuzz_target_is_replayed() {
    let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
    let bins: Vec<&str> = manifest
        .lines()
        .filter_map(|l| l.strip_prefix("name = \""))
        .filter_map(|l| l.strip_suffix('"'))
        .filter(|n| *n != "mmv-fuzz")
        .collect();
    let replayed: Vec<&str> = targets::TARGETS.iter().map(|(n, _)| *n).collect();
    assert_eq!(bins, replayed);
}
