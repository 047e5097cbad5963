//! The one backoff every retry loop uses (HaloITSM requests, the trigger's patient reads, the
//! dispatcher): exponential with "equal jitter", capped. Jitter keeps many callers that failed
//! together from retrying together.

use std::time::Duration;

/// Delays of successive retries: the n-th (from 1) lies between half and all of
/// min(base · 2^(n-1), cap).
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    retries: u32,
}

impl Backoff {
    pub fn new(base: Duration, cap: Duration) -> Backoff {
        Backoff { base, cap, retries: 0 }
    }

    /// The delay before the next retry.
    pub fn next_delay(&mut self) -> Duration {
        self.retries = self.retries.saturating_add(1);
        Backoff::delay(self.base, self.cap, self.retries)
    }

    /// The delay before retry number `retry` (from 1).
    pub fn delay(base: Duration, cap: Duration, retry: u32) -> Duration {
        let exp = base.saturating_mul(1u32 << retry.saturating_sub(1).min(16)).min(cap);
        let half = exp / 2;
        half + half.mul_f64(fastrand::f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_with_jitter_and_is_capped() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(350));
        let d1 = b.next_delay();
        assert!(d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100), "{d1:?}");
        b.next_delay();
        let d3 = b.next_delay();
        assert!(d3 >= Duration::from_millis(175) && d3 <= Duration::from_millis(350), "{d3:?}");
        for _ in 0..40 {
            assert!(b.next_delay() <= Duration::from_millis(350));
        }
    }
}
