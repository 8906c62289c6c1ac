//! The bad-input corpus (issue 14): truncated, corrupt, empty, wrong-type and oversized files,
//! NaN/Inf samples, wrong sample rates, bundles with a file swapped or missing, and index files
//! of another program or a newer schema, each run through the real `mmv` binary (and `mmv-host`
//! where it reads files). Every case must exit non-zero with a message that names the file and
//! the problem, never panic, and leave an index that existed before byte-for-byte unchanged.
//!
//! The corpus is generated here (`bad_input::corpus`), so nothing large is committed; the
//! generated files are written under a temporary directory, or kept in `$MMV_BAD_INPUT_DIR`
//! when that is set (to look at them).
//!
//! The binaries are the ones Cargo built beside this test (`cargo test --workspace` builds
//! them); run alone, build them first: `cargo build -p mmv-cli -p mmv-host`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[path = "bad_input/corpus.rs"]
mod corpus;

use corpus::Tool;

fn bin(name: &str) -> PathBuf {
    mmv_e2e::workspace_binary(name)
}

fn repo() -> PathBuf {
    mmv_e2e::repo_root()
}

fn run(tool: Tool, args: &[String], cwd: &Path) -> Output {
    let program = match tool {
        Tool::Mmv => bin("mmv"),
        Tool::Host => bin("mmv-host"),
    };
    Command::new(program)
        .args(args)
        .current_dir(cwd)
        .env("MMV_LOG", "warn")
        .env_remove("MMV_BUNDLE")
        .output()
        .expect("the binary runs")
}

/// Reads every table's row count (for indexes that must be unchanged).
fn file_bytes(path: &Path) -> Option<Vec<u8>> {
    std::fs::read(path).ok()
}

#[test]
fn every_bad_input_is_a_clear_error_and_changes_nothing() {
    let keep = std::env::var_os("MMV_BAD_INPUT_DIR").map(PathBuf::from);
    let tmp = tempfile::tempdir().unwrap();
    let dir = keep.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir).unwrap();
    let bundle = repo().join("models/avdigits-fac-s3d");
    let cases = corpus::generate(&dir, &bundle, &bin("mmv"));
    assert!(cases.len() >= 40, "only {} cases", cases.len());

    let mut failures = Vec::new();
    let mut by_tool = [0usize; 2];
    for case in &cases {
        // Files that must come through unchanged, as they were before the run.
        let before: Vec<(PathBuf, Option<Vec<u8>>)> = case
            .unchanged
            .iter()
            .map(|p| (p.clone(), file_bytes(p)))
            .collect();
        let out = run(case.tool, &case.args, &dir);
        by_tool[case.tool as usize] += 1;
        let stderr = String::from_utf8_lossy(&out.stderr);
        let mut problems = Vec::new();
        if out.status.success() {
            problems.push("exited 0".to_string());
        }
        if stderr.contains("panicked") || out.status.code() == Some(101) {
            problems.push("panicked".to_string());
        }
        let lower = stderr.to_lowercase();
        for want in &case.expect {
            if !lower.contains(&want.to_lowercase()) {
                problems.push(format!("stderr does not say {want:?}"));
            }
        }
        for (path, bytes) in &before {
            if &file_bytes(path) != bytes {
                problems.push(format!("{} changed", path.display()));
            }
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{}: {}\n  args: {:?}\n  exit: {:?}\n  stderr: {}",
                case.name,
                problems.join("; "),
                case.args,
                out.status.code(),
                stderr.trim()
            ));
        }
    }
    eprintln!(
        "bad-input corpus: {} cases ({} through mmv, {} through mmv-host), {} failed",
        cases.len(),
        by_tool[0],
        by_tool[1],
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
