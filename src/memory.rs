//! A memory budget for bytes held at once (request bodies, files read from HaloITSM): a flood of
//! large or slow bodies cannot grow memory without bound. A body that declares its length waits
//! for room (its bytes stay in the network's buffers meanwhile), within its read timeout; one
//! that declares none cannot wait midway (two such could wait for each other) and is refused
//! when it outgrows the room.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

#[cfg(test)]
use std::time::Duration;

/// The bytes of every body being read, waiting for a slot or held by its running step, together.
/// A body reserves its declared length before a byte of it is read (as it grows, when it declares
/// none). Room is not handed out in arrival order: a small body goes ahead of a large one waiting
/// for more room than there is, rather than queue behind it. Counted in KiB.
pub struct BodyBudget {
    room: Arc<Room>,
    pub total_bytes: usize,
    refused: AtomicU64,
    /// What the budget holds, for its log line.
    what: &'static str,
}

struct Room {
    free_kib: Mutex<usize>,
    /// Woken whenever a reservation gives its room back.
    freed: Notify,
}

/// Room reserved in the budget for one body; given back when dropped.
#[derive(Default)]
pub struct Reservation {
    room: Option<Arc<Room>>,
    kib: usize,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Some(room) = self.room.take() {
            *room.free_kib.lock().unwrap_or_else(|p| p.into_inner()) += self.kib;
            room.freed.notify_waiters();
        }
    }
}

const KIB: usize = 1024;

impl BodyBudget {
    pub fn new(total_bytes: usize) -> Self {
        Self::holding("Request bodies", total_bytes)
    }

    /// A budget for `what` (named in its log line), of `total_bytes`.
    pub fn holding(what: &'static str, total_bytes: usize) -> Self {
        let kib = total_bytes.div_ceil(KIB).max(1);
        BodyBudget {
            room: Arc::new(Room { free_kib: Mutex::new(kib), freed: Notify::new() }),
            total_bytes,
            refused: AtomicU64::new(0),
            what,
        }
    }

    /// Take `kib` more if there is that much free now.
    fn take(&self, kib: usize) -> bool {
        let mut free = self.room.free_kib.lock().unwrap_or_else(|p| p.into_inner());
        if *free < kib {
            return false;
        }
        *free -= kib;
        true
    }

    /// Grow `reservation` to cover `bytes` in all, waiting for room until `deadline` (`None`:
    /// not at all); false, with nothing more reserved, when there is none by then.
    pub async fn cover(&self, reservation: &mut Reservation, bytes: usize, deadline: Option<tokio::time::Instant>) -> bool {
        let needed = bytes.div_ceil(KIB);
        if needed <= reservation.kib {
            return true;
        }
        let more = needed - reservation.kib;
        loop {
            // Listening before looking, so room freed in between is not missed.
            let freed = self.room.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if self.take(more) {
                reservation.room = Some(self.room.clone());
                reservation.kib = needed;
                return true;
            }
            let Some(deadline) = deadline else { break };
            if tokio::time::timeout_at(deadline, freed).await.is_err() {
                break;
            }
        }
        let n = self.refused.fetch_add(1, Ordering::Relaxed) + 1;
        // Logged at 1, 2, 4, 8, ... refusals: a burst is visible without flooding the log.
        if n.is_power_of_two() {
            tracing::warn!(
                "{} in memory are at the budget ({} bytes): refused one of {bytes} bytes; {n} refused since the start",
                self.what,
                self.total_bytes
            );
        }
        false
    }

    /// Bytes of the budget not reserved now.
    pub fn available_bytes(&self) -> usize {
        *self.room.free_kib.lock().unwrap_or_else(|p| p.into_inner()) * KIB
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_body_reserves_its_bytes_until_dropped_and_one_that_does_not_fit_waits_or_is_refused() {
        let budget = BodyBudget::new(10 * KIB);
        let now = tokio::time::Instant::now;
        let mut a = Reservation::default();
        assert!(budget.cover(&mut a, 6 * KIB, None).await);
        assert!(budget.cover(&mut a, 6 * KIB + 1, None).await, "grows by what it lacks");
        assert_eq!(budget.available_bytes(), 3 * KIB);
        let mut b = Reservation::default();
        assert!(!budget.cover(&mut b, 4 * KIB, None).await, "no room now");
        assert!(!budget.cover(&mut b, 4 * KIB, Some(now() + Duration::from_secs(5))).await, "nor within the wait");
        assert_eq!(budget.available_bytes(), 3 * KIB, "a refusal takes nothing");
        // Room made while it waits: it gets it.
        let freed = async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            drop(a);
        };
        let (_, got) = tokio::join!(freed, budget.cover(&mut b, 10 * KIB, Some(now() + Duration::from_secs(5))));
        assert!(got);
        drop(b);
        // A small body goes ahead of a large one that waits for more than there is.
        let mut held = Reservation::default();
        assert!(budget.cover(&mut held, 5 * KIB, None).await);
        let mut large = Reservation::default();
        let mut small = Reservation::default();
        let (large_got, small_got) = tokio::join!(budget.cover(&mut large, 8 * KIB, Some(now() + Duration::from_secs(5))), async {
            tokio::task::yield_now().await;
            budget.cover(&mut small, KIB, None).await
        });
        assert!(!large_got && small_got);
    }
}
