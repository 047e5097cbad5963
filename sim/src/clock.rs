//! The simulator's clock: every date it writes (tickets, actions, events, webhook timestamps) and
//! every expiry it checks (tokens, attachment links) comes from here. It runs with the wall
//! clock, moved by whatever a test asked for: HaloITSM's dates have whole seconds, and a test that
//! needs two changes in different seconds moves the clock instead of waiting one out.
//!
//! Pacing is not the clock's: latency, held requests, the rolling rate window and webhook delays
//! and batching windows are real time, as they are for the client waiting on them.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDateTime, Utc};

#[derive(Debug, Default)]
pub(crate) struct Clock {
    /// How far this clock is ahead of the wall clock (behind when negative), in milliseconds.
    ahead_ms: AtomicI64,
}

impl Clock {
    fn ahead(&self) -> i64 {
        self.ahead_ms.load(Ordering::SeqCst)
    }

    /// Now, to the millisecond (webhook timestamps carry fractions).
    pub(crate) fn utc(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::milliseconds(self.ahead())
    }

    /// Now in whole seconds, as HaloITSM writes its dates.
    pub(crate) fn now(&self) -> NaiveDateTime {
        crate::util::whole_seconds(self.utc())
    }

    /// A monotonic instant moved as the dates are, for expiries.
    pub(crate) fn instant(&self) -> Instant {
        let now = Instant::now();
        let by = Duration::from_millis(self.ahead().unsigned_abs());
        match self.ahead() >= 0 {
            true => now.checked_add(by),
            false => now.checked_sub(by),
        }
        .unwrap_or(now)
    }

    /// Move the clock by `ms` milliseconds (back when negative).
    pub(crate) fn shift(&self, ms: i64) {
        self.ahead_ms.fetch_add(ms, Ordering::SeqCst);
    }
}

/// A duration as a clock shift, saturating (no test moves a clock for 292 million years).
pub(crate) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_expiries_move_together() {
        let c = Clock::default();
        let (date, instant) = (c.utc(), Instant::now());
        c.shift(millis(Duration::from_secs(90)));
        assert!(c.utc() - date >= chrono::Duration::seconds(90));
        assert!(c.instant() >= instant + Duration::from_secs(90));
        c.shift(-millis(Duration::from_secs(120)));
        assert!(c.utc() < date);
        assert!(c.instant() < instant + Duration::from_secs(1));
        assert_eq!(c.now().and_utc().timestamp_subsec_nanos(), 0, "whole seconds");
    }
}
