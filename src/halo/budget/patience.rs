//! How long a request may wait for the rate limit. A step doing bulk work (many findings, many
//! pages, a trigger's polling) runs inside `within`, which sets one deadline for all its
//! requests; any other request waits at most its retry policy's `max_elapsed`, so a workflow's
//! single-request step never hangs for minutes.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

tokio::task_local! {
    static DEADLINE: Instant;
}

/// What bulk steps wait in all for HaloITSM's rate limit unless told otherwise.
pub const BULK_DEADLINE: Duration = Duration::from_secs(3600);

/// Run `f` with every request in it waiting for the rate limit until `deadline` at most.
pub async fn within<F: Future>(deadline: Instant, f: F) -> F::Output {
    DEADLINE.scope(deadline, f).await
}

/// `within` a deadline `wait` from now.
pub async fn for_at_most<F: Future>(wait: Duration, f: F) -> F::Output {
    within(Instant::now() + wait, f).await
}

/// The bulk deadline in force, if any.
pub fn deadline() -> Option<Instant> {
    DEADLINE.try_with(|d| *d).ok()
}
