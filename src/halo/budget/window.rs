//! A configured limit, `requests` per `window`, kept as a sliding window of slots. A slot is
//! taken when a request is sent and becomes free one window after its answer came back: HaloITSM
//! counts a request when it arrives, which is no later than its answer, so however long a
//! request travels, no window on HaloITSM's side ever sees more than `requests` of ours.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// A rate limit: at most `requests` in any `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RateLimit {
    pub requests: u32,
    pub window: Duration,
}

impl RateLimit {
    /// Requests per second the limit allows on average.
    pub fn per_second(&self) -> f64 {
        f64::from(self.requests) / self.window.as_secs_f64()
    }
}

#[derive(Debug)]
pub(super) struct Window {
    limit: RateLimit,
    in_flight: usize,
    /// When the answers of the requests in the last window came back, oldest first.
    answered: VecDeque<Instant>,
}

/// Whether a slot could be taken now.
pub(super) enum Slot {
    Free,
    /// Free at this instant, or (None) when a request in flight answers.
    FreeAt(Option<Instant>),
}

impl Window {
    pub(super) fn new(limit: RateLimit) -> Window {
        Window { limit, in_flight: 0, answered: VecDeque::new() }
    }

    /// Whether a slot is free now (it is not taken: see `take`).
    pub(super) fn check(&mut self, now: Instant) -> Slot {
        while self.answered.front().is_some_and(|t| *t + self.limit.window <= now) {
            self.answered.pop_front();
        }
        if self.in_flight + self.answered.len() < self.limit.requests as usize {
            return Slot::Free;
        }
        Slot::FreeAt(self.answered.front().map(|t| *t + self.limit.window))
    }

    /// Take the slot `check` found free.
    pub(super) fn take(&mut self) {
        self.in_flight += 1;
    }

    /// A request that held a slot was answered (or given up on) at `now`.
    pub(super) fn release(&mut self, now: Instant) {
        self.in_flight = self.in_flight.saturating_sub(1);
        self.answered.push_back(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_frees_one_window_after_its_answer() {
        let t0 = Instant::now();
        let mut w = Window::new(RateLimit { requests: 2, window: Duration::from_secs(10) });
        for _ in 0..2 {
            assert!(matches!(w.check(t0), Slot::Free));
            w.take();
        }
        assert!(matches!(w.check(t0), Slot::FreeAt(None)), "both slots are in flight");
        w.release(t0 + Duration::from_secs(1));
        match w.check(t0 + Duration::from_secs(2)) {
            Slot::FreeAt(Some(at)) => assert_eq!(at, t0 + Duration::from_secs(11)),
            _ => panic!("the slot is free only a window after the answer"),
        }
        assert!(matches!(w.check(t0 + Duration::from_secs(11)), Slot::Free));
    }
}
