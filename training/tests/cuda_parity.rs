//! CUDA against the CPU: from one initialisation (made on the CPU and copied) and the same
//! batches, a few training steps on burn's CUDA backend and on burn-flex give the same losses
//! within [`Tolerance::GPU`].
//!
//! The GPU half needs the `cuda` feature (`scripts/cuda-setup.sh` first) and a CUDA GPU:
//!   cargo test -p mmv-training --features cuda --test cuda_parity -- --include-ignored
//! The CPU half runs everywhere and tests the harness: the same run twice on the CPU agrees (so
//! the harness gives both devices identical inputs), and a run from another initialisation does
//! not (so the tolerance can fail).

mod common;

use std::sync::Mutex;

use burn::prelude::*;
use common::{tiny_config, tiny_data, tiny_words};
use mmv_training::config::{Design, VideoArch};
use mmv_training::model::Mmv;
use mmv_training::trainer::Trainer;

/// Training steps compared: enough for Adam's updates to feed back into the loss.
const STEPS: usize = 4;

/// burn-flex's random generator is process-wide: seeding and drawing the initial weights must
/// not interleave with another test's.
static INIT: Mutex<()> = Mutex::new(());

/// How close two loss curves must be, relative to the loss (`|a - b| <= tol * max(1, |a|)`).
#[derive(Clone, Copy, Debug)]
struct Tolerance {
    /// Step 0: the forward pass from identical weights on identical inputs; only the
    /// backends' f32 rounding (reduction order, fused kernels) can differ.
    first: f64,
    /// Later steps: Adam divides by the root of the squared gradients, which turns a rounding
    /// difference in a near-zero gradient into a learning-rate-sized step, so differences grow.
    later: f64,
}

impl Tolerance {
    /// CUDA against the CPU.
    const GPU: Tolerance = Tolerance {
        first: 1e-4,
        later: 1e-2,
    };
}

/// The losses of `STEPS` training steps on `device`, the model's weights drawn on the CPU from
/// `init_seed` and copied to `device`.
fn train_on(device: &Device, init_seed: u64) -> Vec<f64> {
    let config = tiny_config(Design::Fac, VideoArch::S3dg);
    let words = tiny_words(&config);
    let data = tiny_data(&config, words.vocab.clone());
    let model = {
        let _guard = INIT.lock().unwrap_or_else(|e| e.into_inner());
        let cpu = Device::flex().autodiff();
        cpu.seed(init_seed);
        Mmv::new(&config, words.table, &cpu)
    };
    let device = device.clone().autodiff();
    let mut trainer = Trainer::new(model.to_device(&device), config);
    (0..STEPS)
        .map(|step| {
            // Batches are drawn on the host from their seed, so every device sees the same.
            let classes: Vec<usize> = (0..8).map(|i| (i + step) % 10).collect();
            let batch = data.batch(&classes, 100 + step as u64, &device);
            trainer.step(&batch).loss
        })
        .collect()
}

/// The first step at which `b` is not within `tol` of `a`, with both losses.
fn first_mismatch(a: &[f64], b: &[f64], tol: Tolerance) -> Option<(usize, f64, f64)> {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).enumerate().find_map(|(step, (&x, &y))| {
        let limit = if step == 0 { tol.first } else { tol.later } * x.abs().max(1.0);
        let close = x.is_finite() && y.is_finite() && (x - y).abs() <= limit;
        (!close).then_some((step, x, y))
    })
}

fn assert_close(reference: &[f64], other: &[f64], tol: Tolerance, what: &str) {
    if let Some((step, a, b)) = first_mismatch(reference, other, tol) {
        panic!("{what}: step {step} loss {a} vs {b} ({tol:?}); curves {reference:?} vs {other:?}");
    }
}

#[test]
fn the_harness_repeats_on_the_cpu_and_tells_runs_apart() {
    let once = train_on(&Device::flex(), 3);
    let again = train_on(&Device::flex(), 3);
    assert!(once.iter().all(|l| l.is_finite()), "{once:?}");
    // The loss moves over the steps, so the later steps do compare trained weights.
    assert_ne!(once[0], once[STEPS - 1]);
    // Same device, same inputs: no tolerance needed at all.
    let exact = Tolerance {
        first: 0.0,
        later: 0.0,
    };
    assert_close(&once, &again, exact, "two CPU runs of the harness");
    // Another initialisation is caught by the tolerance the GPU comparison uses.
    let other = train_on(&Device::flex(), 4);
    assert!(
        first_mismatch(&once, &other, Tolerance::GPU).is_some(),
        "runs from different weights pass as equal: {once:?} vs {other:?}"
    );
}

#[test]
fn the_tolerance_is_relative_and_per_step() {
    let a = [2.0, 2.0];
    let tol = Tolerance::GPU;
    assert_eq!(first_mismatch(&a, &[2.0 + 1.5e-4, 2.0], tol), None);
    assert_eq!(
        first_mismatch(&a, &[2.0 + 3e-4, 2.0], tol),
        Some((0, 2.0, 2.0 + 3e-4))
    );
    assert_eq!(first_mismatch(&a, &[2.0, 2.015], tol), None);
    assert_eq!(first_mismatch(&a, &[2.0, 2.05], tol), Some((1, 2.0, 2.05)));
    assert!(first_mismatch(&a, &[f64::NAN, 2.0], tol).is_some());
}

#[cfg(feature = "cuda")]
#[test]
#[ignore = "needs a CUDA GPU"]
fn cuda_training_steps_match_the_cpu() {
    use mmv_training::backend::{DeviceChoice, device};
    let cuda = device(DeviceChoice::Cuda).unwrap_or_else(|e| panic!("{e}"));
    let cpu = train_on(&Device::flex(), 3);
    let gpu = train_on(&cuda, 3);
    eprintln!("CPU losses {cpu:?}\nGPU losses {gpu:?}");
    assert_close(&cpu, &gpu, Tolerance::GPU, "CUDA vs CPU");
}
