//! The learning-rate schedule of the paper: linear warm-up, then half-period cosine decay.

/// Warm-up from `base / warmup` at step 0 up to `base` at step `warmup - 1`, then
/// `base * (1 + cos(pi * p)) / 2` with p going from 0 at step `warmup` to 1 at step `total`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WarmupCosine {
    pub base: f64,
    pub warmup: usize,
    pub total: usize,
}

impl WarmupCosine {
    pub fn new(base: f64, warmup: usize, total: usize) -> Self {
        Self {
            base,
            warmup,
            total,
        }
    }

    /// The learning rate for 0-based `step`; steps past the end stay at 0.
    pub fn lr(&self, step: usize) -> f64 {
        if step < self.warmup {
            return self.base * (step + 1) as f64 / self.warmup as f64;
        }
        let decay_steps = (self.total - self.warmup).max(1) as f64;
        let p = ((step - self.warmup) as f64 / decay_steps).min(1.0);
        self.base * 0.5 * (1.0 + (std::f64::consts::PI * p).cos())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_then_half_cosine() {
        let s = WarmupCosine::new(0.002, 100, 1100);
        assert!(
            (s.lr(0) - 0.002 / 100.0).abs() < 1e-12,
            "step 0: {}",
            s.lr(0)
        );
        assert!(
            (s.lr(99) - 0.002).abs() < 1e-12,
            "end of warm-up: {}",
            s.lr(99)
        );
        assert!((s.lr(100) - 0.002).abs() < 1e-12, "peak: {}", s.lr(100));
        // Half-way through the decay the cosine is at half the peak.
        assert!(
            (s.lr(600) - 0.001).abs() < 1e-12,
            "mid decay: {}",
            s.lr(600)
        );
        let last = s.lr(1099);
        assert!(last > 0.0 && last < 0.002 * 1e-4, "last step: {last}");
        assert_eq!(s.lr(5000), 0.0);
        // Monotone: up during warm-up, down after.
        assert!((1..100).all(|i| s.lr(i) > s.lr(i - 1)));
        assert!((101..1100).all(|i| s.lr(i) <= s.lr(i - 1)));
    }

    #[test]
    fn no_warmup_starts_at_the_peak() {
        let s = WarmupCosine::new(1.0, 0, 10);
        assert_eq!(s.lr(0), 1.0);
    }
}
