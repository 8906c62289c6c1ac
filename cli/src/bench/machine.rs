//! The machine a benchmark ran on, read from `/proc` and `/sys` (Linux; elsewhere the fields
//! stay empty): CPU model, cores, frequency governor, memory, and this process's peak resident
//! memory, which can be reset between measurements.

use serde::{Deserialize, Serialize};

/// What a reader needs to compare two reports.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// CPU model name (x86 `model name`; on ARM boards the device-tree model when there is no
    /// CPU name).
    pub cpu_model: Option<String>,
    pub arch: String,
    /// Logical CPUs this process may run on.
    pub cores: usize,
    /// cpufreq governor of CPU 0 (`performance`, `schedutil`, ...), if readable.
    pub governor: Option<String>,
    /// Current and maximum frequency of CPU 0, in MHz, if readable.
    pub cur_mhz: Option<f64>,
    pub max_mhz: Option<f64>,
    pub mem_total_bytes: Option<u64>,
    pub kernel: Option<String>,
    /// CPU features that decide tract's kernels (SIMD widths, fp16, dot products).
    pub features: Vec<String>,
    /// Whether tract has native f16 kernels here (see `bundle::precision`).
    pub native_f16: bool,
    /// How int8 convolutions run here (`Int8Form::here`: direct, integer or as written).
    #[serde(default)]
    pub int8_form: String,
}

/// Features worth reporting for tract: its x86 kernels are AVX2/FMA or AVX-512, its ARM
/// kernels use NEON with fp16 (asimdhp) and dot products (asimddp) where present.
const FEATURES: [&str; 9] = [
    "avx",
    "avx2",
    "fma",
    "avx512f",
    "avx512_vnni",
    "f16c",
    "asimd",
    "asimdhp",
    "asimddp",
];

impl Machine {
    pub fn probe() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let field = |key: &str| -> Option<String> {
            cpuinfo.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                (k.trim() == key).then(|| v.trim().to_string())
            })
        };
        let cpu_model = field("model name")
            .or_else(|| field("Hardware"))
            .or_else(|| {
                std::fs::read_to_string("/proc/device-tree/model")
                    .ok()
                    .map(|s| s.trim_matches(char::from(0)).trim().to_string())
            })
            .filter(|s| !s.is_empty());
        let flags = field("flags")
            .or_else(|| field("Features"))
            .unwrap_or_default();
        let flags: Vec<&str> = flags.split_whitespace().collect();
        let cpufreq = "/sys/devices/system/cpu/cpu0/cpufreq";
        let read = |p: &str| {
            std::fs::read_to_string(p)
                .ok()
                .map(|s| s.trim().to_string())
        };
        let khz = |p: &str| read(p).and_then(|s| s.parse::<f64>().ok()).map(|k| k / 1e3);
        let mem_total_bytes = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| status_kib(&m, "MemTotal:"))
            .map(|k| k * 1024);
        Self {
            cpu_model,
            arch: std::env::consts::ARCH.into(),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            governor: read(&format!("{cpufreq}/scaling_governor")),
            cur_mhz: khz(&format!("{cpufreq}/scaling_cur_freq")),
            max_mhz: khz(&format!("{cpufreq}/cpuinfo_max_freq")),
            mem_total_bytes,
            kernel: read("/proc/sys/kernel/osrelease"),
            features: FEATURES
                .iter()
                .filter(|f| flags.contains(f))
                .map(|f| f.to_string())
                .collect(),
            native_f16: mmv_runtime::bundle::precision::cpu_has_native_f16(),
            int8_form: format!("{:?}", mmv_runtime::bundle::session::Int8Form::here()),
        }
    }
}

/// A `Key:   1234 kB` line of /proc/self/status or /proc/meminfo, in KiB.
fn status_kib(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// This process's peak resident memory (VmHWM), in bytes.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status_kib(&status, "VmHWM:").map(|k| k * 1024)
}

/// This process's resident memory now (VmRSS), in bytes.
pub fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status_kib(&status, "VmRSS:").map(|k| k * 1024)
}

/// Resets the peak to the current resident memory (`5` to /proc/self/clear_refs, Linux 4.0+),
/// so that each measurement's peak is its own, not the largest of the run so far. False when
/// the kernel refuses.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_lines() {
        let s = "Name:\tmmv\nVmHWM:\t  123456 kB\nVmRSS:\t    2048 kB\n";
        assert_eq!(status_kib(s, "VmHWM:"), Some(123_456));
        assert_eq!(status_kib(s, "VmRSS:"), Some(2048));
        assert_eq!(status_kib(s, "VmSwap:"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn peak_rss_follows_an_allocation_and_resets() {
        let m = Machine::probe();
        assert!(m.cores >= 1);
        assert!(m.mem_total_bytes.unwrap() > 0);
        let before = peak_rss_bytes().unwrap();
        // Touch 64 MiB so it is resident, then free it: the peak must remember it.
        let mut big = vec![1u8; 64 << 20];
        big[12345] = 2;
        std::hint::black_box(&big);
        let during = peak_rss_bytes().unwrap();
        assert!(during >= before.max(64 << 20), "{before} -> {during}");
        drop(big);
        if reset_peak_rss() {
            let after = peak_rss_bytes().unwrap();
            assert!(
                after + (32 << 20) < during,
                "peak not reset: {during} -> {after}"
            );
        }
    }
}
