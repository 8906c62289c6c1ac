//! Workspace-level end-to-end tests live in `tests/*.rs`.

use std::path::{Path, PathBuf};

/// A binary of this workspace (`mmv`, `mmv-host`), from the directory Cargo built this test
/// into. `cargo test --workspace` builds them; a test run alone needs
/// `cargo build -p mmv-cli -p mmv-host` first, and says so.
pub fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test knows its path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("tests run from target/<profile>/deps");
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is not built: run `cargo build -p mmv-cli -p mmv-host` (or `cargo test --workspace`)",
        path.display()
    );
    path
}

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the repository")
        .to_path_buf()
}
