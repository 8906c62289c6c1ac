//! Choosing a bundle precision from the CPU this process runs on.
//!
//! tract runs f16 with native kernels only on ARM CPUs with half-precision arithmetic
//! (`asimdhp`, Rust's `fp16` target feature: Jetson Xavier and Orin have it, Nano and TX2 do
//! not). Elsewhere f16 is emulated and was measured about 400x slower than fp32 on x86. int8
//! files are QDQ graphs that tract 0.23 executes in f32, so they save size, not time: never
//! chosen automatically.

use super::manifest::Precision;

/// The precision to run, and why, for a bundle holding `available`.
pub fn choose(available: &[Precision]) -> (Precision, String) {
    let native_f16 = cpu_has_native_f16();
    if native_f16 && available.contains(&Precision::F16) {
        return (
            Precision::F16,
            "CPU has native f16 arithmetic (asimdhp): f16 kernels".into(),
        );
    }
    let why = if native_f16 {
        "CPU has native f16 but the bundle has no f16 files: fp32"
    } else if cfg!(target_arch = "aarch64") {
        "CPU lacks asimdhp (no native f16 in tract): fp32"
    } else {
        "not an ARM CPU with asimdhp, so tract would emulate f16: fp32"
    };
    if available.contains(&Precision::Fp32) {
        (Precision::Fp32, why.into())
    } else {
        let first = available.first().copied().unwrap_or(Precision::Fp32);
        (
            first,
            format!("the bundle has no fp32 files: {}", first.name()),
        )
    }
}

/// True on aarch64 CPUs with FEAT_FP16 (`asimdhp` in /proc/cpuinfo).
pub fn cpu_has_native_f16() -> bool {
    #[cfg(target_arch = "aarch64")]
    {
        std::arch::is_aarch64_feature_detected!("fp16")
    }
    #[cfg(not(target_arch = "aarch64"))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_fp32_without_native_f16_and_never_int8_when_fp32_exists() {
        let all = [Precision::Fp32, Precision::F16, Precision::Int8];
        let (p, why) = choose(&all);
        if cpu_has_native_f16() {
            assert_eq!(p, Precision::F16);
        } else {
            assert_eq!(p, Precision::Fp32, "{why}");
        }
        assert_eq!(choose(&[Precision::Int8]).0, Precision::Int8);
        assert!(!why.is_empty());
    }
}
