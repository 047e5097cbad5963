//! One keyed engine run per key at a time in this process (an upsert of one reference, the
//! ticket of one finding), so two steps running at once cannot both create its ticket. Across
//! processes, `converge` settles what this cannot prevent.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

/// Creations remembered at most (the oldest are forgotten first).
const REMEMBERED: usize = 10_000;

/// The lock of `key`, made on first use and forgotten once nobody holds or waits for it.
pub fn lock_of(key: &str) -> Arc<tokio::sync::Mutex<()>> {
    static LOCKS: OnceLock<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>> = OnceLock::new();
    let mut locks = LOCKS.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
    locks.retain(|_, l| Arc::strong_count(l) > 1);
    locks.entry(key.to_string()).or_default().clone()
}

fn created() -> std::sync::MutexGuard<'static, HashMap<String, (Instant, i64)>> {
    static CREATED: OnceLock<Mutex<HashMap<String, (Instant, i64)>>> = OnceLock::new();
    CREATED.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner())
}

/// Remember that this process created ticket `id` for `key` (call it holding the key's lock).
pub fn remember_created(key: &str, id: i64) {
    let mut g = created();
    if g.len() >= REMEMBERED
        && let Some(oldest) = g.iter().min_by_key(|(_, (at, _))| *at).map(|(k, _)| k.clone())
    {
        g.remove(&oldest);
    }
    g.insert(key.to_string(), (Instant::now(), id));
}

/// The ticket this process created for `key` after `since`: a step that looked the key up
/// before then and found nothing must not create a second.
pub fn created_since(key: &str, since: Instant) -> Option<i64> {
    created().get(key).filter(|(at, _)| *at >= since).map(|(_, id)| *id)
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn one_holder_per_key() {
        let a = super::lock_of("k");
        let held = a.lock().await;
        assert!(super::lock_of("k").try_lock().is_err(), "the same key waits");
        assert!(super::lock_of("other").try_lock().is_ok(), "another key does not");
        drop(held);
        assert!(super::lock_of("k").try_lock().is_ok());
    }

    #[test]
    fn a_creation_counts_only_for_lookups_made_before_it() {
        let before = std::time::Instant::now();
        super::remember_created("made", 7);
        let after = std::time::Instant::now();
        assert_eq!(super::created_since("made", before), Some(7));
        assert_eq!(super::created_since("made", after), None, "a later lookup saw the ticket itself");
        assert_eq!(super::created_since("never", before), None);
    }
}
