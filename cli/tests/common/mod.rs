//! Helpers shared by the CLI's integration tests: the `mmv` binary, the runtime's fixture
//! bundle and digit footage.

#![allow(dead_code)]

// The tiny deterministic bundle of the runtime's own tests, shared rather than copied.
#[path = "../../../runtime/tests/common/fixture.rs"]
pub mod fixture;

use std::path::Path;
use std::process::{Command, Output};

use mmv_cli::demo::render_digits;
use mmv_runtime::frames::RgbFrame;
use mmv_runtime::ingest::y4m::write_y4m;

/// A Y4M file of `digits`, one clip each, at 10 fps (twice the fixture's 5 fps).
pub fn digits_y4m(path: &Path, digits: &[u8]) -> Vec<RgbFrame> {
    let frames = render_digits(digits, fixture::FRAMES * 2);
    write_y4m(path, &frames, 10).unwrap();
    frames
}

/// The `mmv` binary, with no bundle from the environment.
pub fn mmv() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mmv"));
    c.env_remove("MMV_BUNDLE");
    c
}

/// Stdout of a run that must succeed; stdout and stderr in the message otherwise.
pub fn ok(out: Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "status {}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}
