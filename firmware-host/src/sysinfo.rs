//! Process figures for logs and the soak benchmark, from `/proc/self/status` (Linux).

/// Resident memory now and its peak since the process started, in KiB.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Memory {
    pub rss_kib: u64,
    pub peak_rss_kib: u64,
}

/// Reads VmRSS and VmHWM; `None` where /proc is unavailable.
pub fn memory() -> Option<Memory> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| -> Option<u64> {
        status
            .lines()
            .find(|l| l.starts_with(name))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    Some(Memory {
        rss_kib: field("VmRSS:")?,
        peak_rss_kib: field("VmHWM:")?,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_this_process() {
        if let Some(m) = super::memory() {
            assert!(m.rss_kib > 0 && m.peak_rss_kib >= m.rss_kib);
        }
    }
}
