//! HaloITSM's rate limit as the sources describe it: a number of requests per rolling window
//! per API application, answered 429 beyond it, with or without `Retry-After`
//! (docs/halo-api.md#R1, R2, R3). The simulator has one API application, so one window.
//! A refused request does not count against the window (no source says it does).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// N requests per W milliseconds; `retry_after` sends the seconds until a slot frees.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateWindow {
    pub requests: u64,
    pub window_ms: u64,
    #[serde(default)]
    pub retry_after: bool,
}

impl std::str::FromStr for RateWindow {
    type Err = String;

    /// `100/10`: 100 requests per 10 seconds.
    fn from_str(s: &str) -> Result<Self, String> {
        let (n, w) = s.split_once('/').ok_or_else(|| format!("`{s}` is not REQUESTS/SECONDS, e.g. 100/10"))?;
        let requests: u64 = n.trim().parse().map_err(|_| format!("`{n}` is not a number of requests"))?;
        let seconds: f64 = w.trim().parse().map_err(|_| format!("`{w}` is not a number of seconds"))?;
        if requests == 0 || !seconds.is_finite() || seconds <= 0.0 {
            return Err("both numbers must be above 0".into());
        }
        Ok(RateWindow { requests, window_ms: (seconds * 1000.0).round() as u64, retry_after: false })
    }
}

/// When each request the window let through arrived, oldest first.
#[derive(Debug, Default)]
pub(crate) struct Limiter {
    admitted: Mutex<VecDeque<Instant>>,
}

impl Limiter {
    /// Let a request that arrived `now` through, or refuse it with the wait until a slot frees.
    pub(crate) fn admit(&self, w: &RateWindow, now: Instant) -> Result<(), Duration> {
        let window = Duration::from_millis(w.window_ms);
        let mut g = self.admitted.lock().unwrap_or_else(|e| e.into_inner());
        while g.front().is_some_and(|t| now.duration_since(*t) >= window) {
            g.pop_front();
        }
        if (g.len() as u64) < w.requests {
            g.push_back(now);
            return Ok(());
        }
        Err(g.front().map_or(window, |t| window.saturating_sub(now.duration_since(*t))))
    }

    pub(crate) fn reset(&self) {
        self.admitted.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rolling_window_refuses_the_extra_request_until_the_oldest_ages_out() {
        let w: RateWindow = "2/10".parse().unwrap();
        assert_eq!(w, RateWindow { requests: 2, window_ms: 10_000, retry_after: false });
        let l = Limiter::default();
        let t0 = Instant::now();
        assert!(l.admit(&w, t0).is_ok());
        assert!(l.admit(&w, t0 + Duration::from_secs(4)).is_ok());
        assert_eq!(l.admit(&w, t0 + Duration::from_secs(6)), Err(Duration::from_secs(4)));
        assert!(l.admit(&w, t0 + Duration::from_secs(10)).is_ok(), "the first aged out");
        assert!(l.admit(&w, t0 + Duration::from_secs(11)).is_err(), "refusals did not count, but 4 s and 10 s are in the window");
        assert!("x/1".parse::<RateWindow>().is_err() && "0/1".parse::<RateWindow>().is_err() && "5".parse::<RateWindow>().is_err());
    }
}
