//! Change events: every write to a ticket is reported here. `Simulator::emit` puts them in a
//! bounded in-memory log that tests and the `/_sim/events` control route read, and offers them to
//! the outbound Halo-style webhooks (`webhooks.rs`) when those are configured.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::Serialize;
use serde_json::Value;

/// What happened to a ticket. Maps onto Halo's notification events: `Created` = "New Ticket
/// Logged", `Updated` = "Ticket Updated", `StatusChanged` = "Ticket Status Changed" (and "Ticket
/// Closed" when the new status is a closed one: see `ticket.hasbeenclosed`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Created,
    Updated,
    StatusChanged,
    /// A note or other action was added without changing status/agent/team/priority.
    ActionAdded,
    Deleted,
}

#[derive(Clone, Debug, Serialize)]
pub struct ChangeEvent {
    /// Increasing per simulator, starting at 1.
    pub seq: u64,
    pub kind: ChangeKind,
    pub ticket_id: i64,
    /// Status before the change (None for a created ticket).
    pub old_status: Option<i64>,
    /// Status after the change (None for a deleted ticket).
    pub new_status: Option<i64>,
    /// Agent who made the change (1 = the API agent).
    pub agent_id: i64,
    /// UTC, Halo style without zone.
    pub timestamp: String,
    /// The ticket as stored after the change (before deletion for `Deleted`).
    pub ticket: Value,
    /// The action recorded with the change, if any.
    pub action: Option<Value>,
    /// The ticket is closed after the change (whatever the ticket's shape shows).
    pub closed: bool,
}

/// Oldest events are dropped past this many.
pub(crate) const EVENT_LOG_CAPACITY: usize = 10_000;

#[derive(Default)]
pub(crate) struct EventLog {
    inner: Mutex<(u64, VecDeque<ChangeEvent>)>,
}

impl EventLog {
    pub(crate) fn push(&self, mut ev: ChangeEvent) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.0 += 1;
        ev.seq = g.0;
        if g.1.len() >= EVENT_LOG_CAPACITY {
            g.1.pop_front();
        }
        g.1.push_back(ev);
    }

    pub(crate) fn snapshot(&self) -> Vec<ChangeEvent> {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.1.iter().cloned().collect()
    }

    pub(crate) fn clear(&self) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.1.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev() -> ChangeEvent {
        ChangeEvent {
            seq: 0,
            kind: ChangeKind::Updated,
            ticket_id: 1,
            old_status: Some(1),
            new_status: Some(1),
            agent_id: 1,
            timestamp: String::new(),
            ticket: Value::Null,
            action: None,
            closed: false,
        }
    }

    #[test]
    fn log_is_bounded_and_numbers_events() {
        let log = EventLog::default();
        for _ in 0..EVENT_LOG_CAPACITY + 5 {
            log.push(ev());
        }
        let all = log.snapshot();
        assert_eq!(all.len(), EVENT_LOG_CAPACITY);
        assert_eq!(all.first().map(|e| e.seq), Some(6));
        assert_eq!(all.last().map(|e| e.seq), Some(EVENT_LOG_CAPACITY as u64 + 5));
        log.clear();
        log.push(ev());
        assert_eq!(log.snapshot().first().map(|e| e.seq), Some(EVENT_LOG_CAPACITY as u64 + 6));
    }
}
