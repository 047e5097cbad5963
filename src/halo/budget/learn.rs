//! What the client learns of a limit it is not told (docs/halo-api.md#R2, R3: HaloITSM's window
//! is not documented and `Retry-After` may be missing).
//!
//! - Unpaced until the first 429.
//! - A 429 pauses the whole connection. One request, the prober, tries again: after
//!   `Retry-After` when HaloITSM sends it, else after `FIRST_PROBE` and then after a tenth of
//!   the pause so far (at most `MAX_PROBE`). Everything else waits for the prober.
//! - When a probe is answered, the pause ends and requests are paced at what HaloITSM let
//!   through: the answers since the previous pause ended, divided by the time from then to
//!   now, times `DECREASE`. For a sliding window that is its rate; for a fixed one, about it.
//!   When requests were paced already and got through at close to the pace (`PACE_BOUND`),
//!   the pace falls by `DECREASE`; a pacing rate never falls by more than `MAX_DECREASE` at once.
//! - Each answer raises the rate by `GROWTH_PER_ANSWER` (5% every 100 answers), so it climbs
//!   back while requests succeed, until the next 429 sets it again.

use std::time::Duration;

use tokio::time::Instant;

pub(super) const FIRST_PROBE: Duration = Duration::from_millis(500);
pub(super) const MAX_PROBE: Duration = Duration::from_secs(30);
/// Later probes wait this share of the pause so far.
const PROBE_SHARE: f64 = 0.1;
pub(super) const DECREASE: f64 = 0.95;
pub(super) const MAX_DECREASE: f64 = 0.5;
pub(super) const GROWTH_PER_ANSWER: f64 = 1.0005;
/// How far the pacer may catch up after waking late.
const CATCH_UP: Duration = Duration::from_millis(20);
/// A run that let through at least this share of the pace was held by the pace itself.
const PACE_BOUND: f64 = 0.8;
/// The slowest pace: one request every 10 seconds.
pub(super) const MIN_RATE: f64 = 0.1;
/// A learned rate that climbs past this many requests per second stops pacing.
pub(super) const UNPACED_ABOVE: f64 = 1000.0;

#[derive(Debug)]
pub(super) struct Pause {
    pub since: Instant,
    pub resume_at: Instant,
    /// A prober is out: only its answer ends the pause.
    pub prober: bool,
    /// `resume_at` is what HaloITSM asked for (`Retry-After`), not a probe of ours.
    pub told: bool,
}

#[derive(Debug)]
pub(super) struct Learner {
    /// Requests per second; None: not paced.
    pub rate: Option<f64>,
    next_slot: Instant,
    run_start: Option<Instant>,
    run_answers: u64,
    pub pause: Option<Pause>,
}

/// What a throttled request does next.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Role {
    /// Probe again at the pause's `resume_at`.
    Prober,
    /// Wait in line for the pause to end.
    Queue,
}

impl Learner {
    pub(super) fn new(now: Instant) -> Learner {
        Learner { rate: None, next_slot: now, run_start: None, run_answers: 0, pause: None }
    }

    /// When the pacer lets the next request go: None for now (its slot is then booked).
    pub(super) fn pace(&mut self, now: Instant, book: bool) -> Option<Instant> {
        let Some(rate) = self.rate else {
            if book {
                self.run_start.get_or_insert(now);
            }
            return None;
        };
        if now < self.next_slot {
            return Some(self.next_slot);
        }
        if book {
            self.run_start.get_or_insert(now);
            let gap = Duration::from_secs_f64(1.0 / rate);
            // Behind schedule by less than CATCH_UP (or one gap): keep to it, so a timer that
            // wakes late (tokio's tick is a millisecond) costs no requests; further behind, an
            // idle spell: start again from now, with no burst saved up.
            let behind = now - self.next_slot;
            self.next_slot = if behind < gap.max(CATCH_UP) { self.next_slot + gap } else { now + gap };
        }
        None
    }

    /// A request was answered with anything but a 429. A probe's answer ends the pause.
    pub(super) fn answered(&mut self, now: Instant, probe: bool) -> bool {
        if probe && self.pause.is_some() {
            self.resume(now);
            return true;
        }
        self.run_answers += 1;
        if self.pause.is_none()
            && let Some(rate) = self.rate
        {
            let grown = rate * GROWTH_PER_ANSWER;
            self.rate = (grown <= UNPACED_ABOVE).then_some(grown);
        }
        false
    }

    /// A request was answered 429.
    pub(super) fn throttled(&mut self, now: Instant, retry_after: Option<Duration>, probe: bool) -> Role {
        match &mut self.pause {
            None => {
                let wait = retry_after.unwrap_or(FIRST_PROBE);
                self.pause = Some(Pause { since: now, resume_at: now + wait, prober: true, told: retry_after.is_some() });
                Role::Prober
            }
            Some(p) if probe || !p.prober => {
                let wait = retry_after.unwrap_or_else(|| (now - p.since).mul_f64(PROBE_SHARE).clamp(FIRST_PROBE, MAX_PROBE));
                p.resume_at = now + wait;
                p.prober = true;
                p.told = retry_after.is_some();
                Role::Prober
            }
            Some(p) => {
                if let Some(wait) = retry_after
                    && now + wait > p.resume_at
                {
                    p.resume_at = now + wait;
                    p.told = true;
                }
                Role::Queue
            }
        }
    }

    /// The prober gave up (its step's wait ran out): the next request in line probes.
    pub(super) fn probe_abandoned(&mut self) {
        if let Some(p) = &mut self.pause {
            p.prober = false;
        }
    }

    fn resume(&mut self, now: Instant) {
        let since = self.run_start.unwrap_or(now);
        let seconds = (now - since).as_secs_f64().max(0.001);
        let let_through = (self.run_answers + 1) as f64 / seconds;
        let mut rate = let_through * DECREASE;
        if let Some(before) = self.rate {
            // Paced close to the pace: the pace was too fast, by a little. Well under it: the
            // limit is lower (another container joined), but falls by half at most.
            rate = if let_through >= before * PACE_BOUND { before * DECREASE } else { rate.max(before * MAX_DECREASE) };
        }
        let rate = rate.clamp(MIN_RATE, UNPACED_ABOVE);
        tracing::info!(
            "HaloITSM's rate limit: the pause ended after {:.1} s; pacing this connection at {:.0} requests a minute",
            self.pause.as_ref().map_or(0.0, |p| (now - p.since).as_secs_f64()),
            rate * 60.0
        );
        self.rate = Some(rate);
        self.pause = None;
        self.run_start = Some(now);
        self.run_answers = 0;
        self.next_slot = now + Duration::from_secs_f64(1.0 / rate);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn a_burst_then_a_pause_is_paced_at_what_the_window_let_through() {
        let t0 = Instant::now();
        let mut l = Learner::new(t0);
        assert_eq!(l.pace(t0, true), None, "unpaced until a 429");
        for _ in 0..99 {
            l.answered(t0, false);
        }
        assert_eq!(l.throttled(t0, None, false), Role::Prober);
        assert_eq!(l.throttled(t0, None, false), Role::Queue, "one prober at a time");
        assert!(!l.answered(t0 + S, false), "an answer to a request sent before the pause does not end it");
        // The window (100 per 10 s) frees its first slot 10 s after the burst.
        assert_eq!(l.throttled(t0 + S * 10 - S / 2, None, true), Role::Prober);
        let probe_wait = l.pause.as_ref().map(|p| p.resume_at - (t0 + S * 10 - S / 2)).unwrap_or_default();
        assert!(probe_wait >= FIRST_PROBE && probe_wait <= S, "a tenth of the pause so far: {probe_wait:?}");
        assert!(l.answered(t0 + S * 10, true), "the probe's answer ends the pause");
        let rate = l.rate.unwrap_or_default();
        assert!((9.0..10.0).contains(&rate), "about 100 per 10 s, a little under: {rate}");
    }

    #[test]
    fn retry_after_sets_the_pause_and_the_rate_climbs_back() {
        let t0 = Instant::now();
        let mut l = Learner::new(t0);
        l.pace(t0, true);
        assert_eq!(l.throttled(t0, Some(S * 7), false), Role::Prober);
        assert_eq!(l.pause.as_ref().map(|p| p.resume_at), Some(t0 + S * 7));
        assert_eq!(l.throttled(t0, Some(S * 9), false), Role::Queue);
        assert_eq!(l.pause.as_ref().map(|p| p.resume_at), Some(t0 + S * 9), "the longest wait HaloITSM asked for counts");
        l.answered(t0 + S * 9, true);
        let before = l.rate.unwrap_or_default();
        for _ in 0..100 {
            l.answered(t0 + S * 10, false);
        }
        let after = l.rate.unwrap_or_default();
        assert!(after > before * 1.04 && after < before * 1.06, "5% per 100 answers: {before} -> {after}");
    }

    #[test]
    fn a_paced_rate_falls_by_at_most_half_and_a_lost_prober_is_replaced() {
        let t0 = Instant::now();
        let mut l = Learner::new(t0);
        l.rate = Some(10.0);
        l.pace(t0, true);
        l.throttled(t0 + S * 100, None, false);
        l.probe_abandoned();
        assert_eq!(l.throttled(t0 + S * 100, None, false), Role::Prober, "the next throttled request probes");
        l.answered(t0 + S * 101, true);
        assert_eq!(l.rate, Some(5.0), "no answers in 100 s would say 0.01/s; the fall is capped at half");
    }

    #[test]
    fn the_pacer_spaces_requests_and_saves_no_burst() {
        let t0 = Instant::now();
        let mut l = Learner::new(t0);
        l.rate = Some(4.0);
        assert_eq!(l.pace(t0, true), None);
        assert_eq!(l.pace(t0, true), Some(t0 + S / 4));
        assert_eq!(l.pace(t0 + S / 4, true), None);
        assert_eq!(l.pace(t0 + S * 60, true), None);
        assert_eq!(l.pace(t0 + S * 60, true), Some(t0 + S * 60 + S / 4), "an idle minute saved up nothing");
    }
}
