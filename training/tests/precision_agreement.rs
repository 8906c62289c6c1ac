//! `compare-precisions` on the released bundle: a precision against itself agrees exactly, and
//! int8 against fp32 stays close (cosine) with most zero-shot answers unchanged.

use std::path::{Path, PathBuf};

use mmv_runtime::bundle::manifest::Precision;
use mmv_training::eval::agreement::{AgreementOptions, compare, markdown};

/// `MMV_DATA`, a relative path taken from the workspace root.
fn data_dir() -> PathBuf {
    let dir =
        PathBuf::from(std::env::var("MMV_DATA").expect("MMV_DATA names the shared data folder"));
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(dir)
}

fn options(other: Precision) -> AgreementOptions {
    AgreementOptions {
        bundle: Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/avdigits-fac-s3d"),
        data_dir: data_dir(),
        reference: Precision::Fp32,
        other,
        clips: 12,
        images: 20,
        audio: 6,
        threads: 1,
        seed: 0,
    }
}

#[test]
#[ignore = "needs MMV_DATA"]
fn a_precision_agrees_with_itself_and_int8_stays_close() {
    let same = compare(&options(Precision::Fp32), |_| {}).unwrap();
    assert_eq!(same.len(), 4);
    for row in &same {
        assert!(row.samples > 0, "{}: no samples", row.encoder);
        assert_eq!(row.same_top1, row.samples, "{}", row.encoder);
        assert!(
            row.min_cosine > 0.99999,
            "{}: {}",
            row.encoder,
            row.min_cosine
        );
        assert_eq!(row.reference_accuracy, row.other_accuracy);
    }

    let int8 = compare(&options(Precision::Int8), |_| {}).unwrap();
    let table = markdown("released", "fp32", "int8", &int8);
    eprintln!("{table}");
    for row in &int8 {
        assert!(row.min_cosine > 0.9, "{}: {}", row.encoder, row.min_cosine);
        assert!(row.mean_cosine < 1.0, "{}: int8 is not fp32", row.encoder);
        assert!(
            row.same_top1 * 10 >= row.samples * 8,
            "{}: {} of {} answers agree",
            row.encoder,
            row.same_top1,
            row.samples
        );
    }
    let clips = &int8[1];
    assert_eq!(clips.samples, 12);
    assert!(table.contains("| clip (zero-shot video) | 12 |"));
}
