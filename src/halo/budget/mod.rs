//! One request budget per HaloITSM API application in this process, shared by every step,
//! engine, page and poll that uses it. It keeps to a configured limit (`window`), learns an
//! unknown one from 429s (`learn`), and makes callers wait in line rather than each retry on
//! its own timer: after a 429 one request probes and the rest wait for it.

mod learn;
pub mod patience;
mod window;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

pub use window::RateLimit;

use super::HaloError;
use learn::{Learner, Role};
use window::{Slot, Window};

/// What the budget has seen, for tests, benchmarks and progress.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests let through.
    pub sent: u64,
    /// Of those, answered 429.
    pub throttled: u64,
    /// Pauses the 429s started.
    pub pauses: u64,
}

#[derive(Debug)]
struct State {
    window: Option<Window>,
    learner: Learner,
    /// Since when the first caller in line has been waiting.
    waiting_since: Option<Instant>,
    stats: Stats,
}

/// Whether a request may go now.
enum Admission {
    Go {
        probe: bool,
    },
    /// Wait until then, or (None) until something changes. `known`: the instant is one
    /// HaloITSM asked for or a limit set on the connection, not a probe's guess.
    Wait {
        until: Option<Instant>,
        known: bool,
    },
}

impl State {
    fn admit(&mut self, now: Instant, prober: bool) -> Admission {
        let mut probe = prober;
        if let Some(p) = &mut self.learner.pause {
            if now < p.resume_at {
                return Admission::Wait { until: Some(p.resume_at), known: p.told };
            }
            if !prober && p.prober {
                return Admission::Wait { until: None, known: false };
            }
            // The head of the line takes over from a prober that gave up.
            p.prober = true;
            probe = true;
        }
        if let Some(w) = &mut self.window
            && let Slot::FreeAt(at) = w.check(now)
        {
            return Admission::Wait { until: at, known: true };
        }
        if !probe && let Some(at) = self.learner.pace(now, false) {
            return Admission::Wait { until: Some(at), known: true };
        }
        if !probe {
            self.learner.pace(now, true);
        }
        if let Some(w) = &mut self.window {
            w.take();
        }
        self.stats.sent += 1;
        Admission::Go { probe }
    }
}

/// The budget of one API application.
#[derive(Debug)]
pub struct Budget {
    /// Callers wait in line here (tokio's mutex is fair), so the head alone watches the clock.
    line: tokio::sync::Mutex<()>,
    state: Mutex<State>,
    changed: Notify,
}

/// The right to send one request. Say how it was answered (`answered`, `throttled`); dropping
/// it unsaid (the request was given up) frees its slot.
#[must_use]
pub struct Permit<'a> {
    budget: &'a Budget,
    probe: bool,
    done: bool,
}

/// A throttled request that is to probe: dropping it unused hands the probe to the next in line.
#[must_use]
pub struct Prober<'a> {
    budget: &'a Budget,
    armed: bool,
}

/// What a throttled request does next.
pub enum Next<'a> {
    Probe(Prober<'a>),
    Queue,
}

impl Budget {
    pub fn new(limit: Option<RateLimit>) -> Budget {
        let now = Instant::now();
        Budget {
            line: tokio::sync::Mutex::new(()),
            state: Mutex::new(State {
                window: limit.map(Window::new),
                learner: Learner::new(now),
                waiting_since: None,
                stats: Stats::default(),
            }),
            changed: Notify::new(),
        }
    }

    /// The one budget of an API application (`key`) with a configured limit, made on first use.
    pub fn shared(key: &str, limit: Option<RateLimit>) -> Arc<Budget> {
        static BUDGETS: OnceLock<Mutex<HashMap<String, Weak<Budget>>>> = OnceLock::new();
        let mut all = BUDGETS.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
        all.retain(|_, b| b.strong_count() > 0);
        let key = format!("{key}\u{0}{limit:?}");
        if let Some(b) = all.get(&key).and_then(Weak::upgrade) {
            return b;
        }
        let b = Arc::new(Budget::new(limit));
        all.insert(key, Arc::downgrade(&b));
        b
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn stats(&self) -> Stats {
        self.state().stats
    }

    /// The learned pace in requests per second, if the connection is being paced.
    pub fn learned_rate(&self) -> Option<f64> {
        self.state().learner.rate
    }

    /// How long requests have been held back for the rate limit, when they are.
    pub fn waiting(&self) -> Option<Duration> {
        let s = self.state();
        let since = s.learner.pause.as_ref().map(|p| p.since).or(s.waiting_since)?;
        Some(Instant::now().saturating_duration_since(since))
    }

    /// Wait in line for the right to send, until `deadline` at most.
    pub async fn acquire(&self, deadline: Instant) -> Result<Permit<'_>, HaloError> {
        let started = Instant::now();
        let _line = tokio::time::timeout_at(deadline, self.line.lock()).await.map_err(|_| gave_up(started, None))?;
        self.admitted(deadline, started, false).await
    }

    /// Probe: a throttled request tries again when the pause allows, ahead of the line.
    pub async fn probe(&self, mut prober: Prober<'_>, deadline: Instant) -> Result<Permit<'_>, HaloError> {
        let permit = self.admitted(deadline, Instant::now(), true).await?;
        prober.armed = false;
        Ok(permit)
    }

    async fn admitted(&self, deadline: Instant, started: Instant, prober: bool) -> Result<Permit<'_>, HaloError> {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let now = Instant::now();
            let (until, known) = {
                let mut s = self.state();
                match s.admit(now, prober) {
                    Admission::Go { probe } => {
                        if !prober {
                            s.waiting_since = None;
                        }
                        return Ok(Permit { budget: self, probe, done: false });
                    }
                    Admission::Wait { until, known } => {
                        if !prober {
                            s.waiting_since.get_or_insert(started);
                        }
                        (until, known)
                    }
                }
            };
            if let Some(at) = until
                && at > deadline
            {
                return Err(gave_up(started, Some(at - now).filter(|_| known)));
            }
            if now >= deadline {
                return Err(gave_up(started, None));
            }
            tokio::select! {
                _ = tokio::time::sleep_until(until.unwrap_or(deadline).min(deadline)) => {}
                _ = &mut changed => {}
            }
        }
    }

    fn settle(&self, probe: bool, outcome: impl FnOnce(&mut State, Instant)) {
        let now = Instant::now();
        {
            let mut s = self.state();
            if let Some(w) = &mut s.window {
                w.release(now);
            }
            if probe {
                s.learner.probe_abandoned();
            }
            outcome(&mut s, now);
        }
        self.changed.notify_waiters();
    }
}

impl<'a> Permit<'a> {
    /// Answered with anything but a 429.
    pub fn answered(mut self) {
        self.done = true;
        let probe = self.probe;
        self.budget.settle(false, |s, now| {
            s.learner.answered(now, probe);
        });
    }

    /// Answered 429: pause the connection, and say whether this request probes or waits in line.
    pub fn throttled(mut self, retry_after: Option<Duration>) -> Next<'a> {
        self.done = true;
        let probe = self.probe;
        let mut role = Role::Queue;
        self.budget.settle(false, |s, now| {
            s.stats.throttled += 1;
            if s.learner.pause.is_none() {
                s.stats.pauses += 1;
                tracing::warn!(
                    "HaloITSM answered 429 (rate limit){}; every request of this connection waits while one probes",
                    retry_after.map(|d| format!(" and asked to wait {} s", d.as_secs())).unwrap_or_default()
                );
            }
            role = s.learner.throttled(now, retry_after, probe);
        });
        match role {
            Role::Prober => Next::Probe(Prober { budget: self.budget, armed: true }),
            Role::Queue => Next::Queue,
        }
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.budget.settle(self.probe, |_, _| {});
        }
    }
}

impl Drop for Prober<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.budget.state().learner.probe_abandoned();
            self.budget.changed.notify_waiters();
        }
    }
}

/// The error of a request that could not be sent before its deadline.
fn gave_up(started: Instant, retry_in: Option<Duration>) -> HaloError {
    HaloError::RateLimitWait { waited: started.elapsed(), retry_in }
}

#[cfg(test)]
mod tests;
