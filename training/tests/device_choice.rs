//! `mmv-train train --device X` on a machine (or build) where X cannot run fails before doing
//! anything else, with one line naming what is missing.

use std::process::Command;

use mmv_training::backend::{DeviceChoice, probe};

#[test]
fn an_unavailable_device_is_a_one_line_error_before_any_work() {
    for choice in [DeviceChoice::Cuda, DeviceChoice::Vulkan] {
        let Err(expected) = probe(choice) else {
            continue; // this machine can run it
        };
        let out = std::env::temp_dir().join(format!("mmv-device-{choice}-{}", std::process::id()));
        let result = Command::new(env!("CARGO_BIN_EXE_mmv-train"))
            .args([
                "train",
                "--device",
                choice.name(),
                "--data",
                "/nonexistent",
                "--out",
            ])
            .arg(&out)
            // anyhow appends a backtrace to the error line when these ask for one.
            .env("RUST_BACKTRACE", "0")
            .env("RUST_LIB_BACKTRACE", "0")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&result.stderr);
        assert!(!result.status.success(), "{choice}: {stderr}");
        // Checked first: not the missing data folder, and no run folder made.
        assert_eq!(stderr.trim_end(), format!("Error: {expected}"), "{choice}");
        assert!(!out.exists(), "{choice}: {} was created", out.display());
    }
}
