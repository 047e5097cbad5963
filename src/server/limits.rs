//! How many steps the server admits at once, running and waiting: beyond both it refuses at
//! once, with 503 and `Retry-After`, rather than queueing without bound.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{AppState, ServerOptions};

/// Admission of steps: at most `max_running` run at once, at most `max_queued` more wait for a
/// slot (the semaphore hands slots out in arrival order), and any beyond both are refused.
/// Without it a burst of requests would start a HaloITSM call each, exhausting memory,
/// sockets and HaloITSM's rate limit together.
pub struct StepLimiter {
    running: Arc<Semaphore>,
    queue: Arc<Semaphore>,
    pub max_running: usize,
    pub max_queued: usize,
    refused: AtomicU64,
}

impl StepLimiter {
    pub fn new(opts: &ServerOptions) -> Self {
        let max_running = opts.max_concurrent_steps.clamp(1, Semaphore::MAX_PERMITS);
        let max_queued = opts.max_queued_steps.min(Semaphore::MAX_PERMITS);
        StepLimiter {
            running: Arc::new(Semaphore::new(max_running)),
            queue: Arc::new(Semaphore::new(max_queued)),
            max_running,
            max_queued,
            refused: AtomicU64::new(0),
        }
    }

    /// A running slot, after waiting in the queue if every slot is taken; None when the queue is
    /// full too. The slot is held until the step's task ends.
    pub async fn admit(&self, state: &AppState) -> Option<OwnedSemaphorePermit> {
        if let Ok(slot) = self.running.clone().try_acquire_owned() {
            return Some(slot);
        }
        let Ok(_place) = self.queue.clone().try_acquire_owned() else {
            let n = self.refused.fetch_add(1, Ordering::Relaxed) + 1;
            // Logged at 1, 2, 4, 8, ... refusals: a burst is visible without flooding the log.
            if n.is_power_of_two() {
                tracing::warn!(
                    "At capacity ({} steps running, {} waiting): refused a step; {n} refused since the server started",
                    self.max_running,
                    self.max_queued
                );
            }
            return None;
        };
        let _waiting = Gauge::new(&state.queued);
        // The semaphore is never closed, so this only waits.
        self.running.clone().acquire_owned().await.ok()
    }
}

/// Counts one while it lives (also when the future holding it is dropped).
struct Gauge<'a>(&'a AtomicUsize);

impl<'a> Gauge<'a> {
    fn new(n: &'a AtomicUsize) -> Self {
        n.fetch_add(1, Ordering::SeqCst);
        Gauge(n)
    }
}

impl Drop for Gauge<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
