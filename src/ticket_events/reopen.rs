//! Whether a status change reopens a ticket: a change from a status HaloITSM counts as closed to
//! one it does not (docs/halo-api.md#S8). Which statuses close is the tenant's status list (S7,
//! read once per connection and cached); where it says nothing, the ticket's own `hasbeenclosed`
//! (T11) speaks only for the status the ticket is in now. Anything less than certain is no reopen.

use serde_json::Value;

use crate::halo::tenant::Statuses;
use crate::halo::ticket::{closed_flag, int};

/// What is known about which statuses close a ticket, for one ticket as read.
#[derive(Debug, Clone, Copy)]
pub struct Closing<'a> {
    /// The tenant's statuses, when they could be read.
    pub statuses: Option<&'a Statuses>,
    /// The ticket's status now, and whether HaloITSM says the ticket is closed (when the read says).
    pub now: Option<(i64, bool)>,
}

impl<'a> Closing<'a> {
    pub fn of(statuses: Option<&'a Statuses>, raw: &Value) -> Closing<'a> {
        Closing { statuses, now: int(raw, "status_id").zip(closed_flag(raw)) }
    }

    /// Whether `status` closes a ticket, when that is certain.
    pub fn closes(&self, status: i64) -> Option<bool> {
        self.statuses.and_then(|s| s.closes(status)).or_else(|| self.now.and_then(|(now, closed)| (now == status).then_some(closed)))
    }

    /// Whether the change of ticket `id` from `old` to `new` reopens it; false, said in a log
    /// line, when either side's closedness is unknown and the other does not already rule a
    /// reopen out.
    pub fn reopened(&self, id: i64, old: i64, new: i64) -> bool {
        match (self.closes(old), self.closes(new)) {
            (Some(o), Some(n)) => o && !n,
            (Some(false), None) | (None, Some(true)) => false,
            (o, n) => {
                let unknown = match (o, n) {
                    (None, None) => format!("statuses {old} and {new}"),
                    (None, _) => format!("status {old}"),
                    _ => format!("status {new}"),
                };
                let why = match self.statuses {
                    None => "the tenant's statuses could not be read",
                    Some(_) => "the tenant's status list does not say which statuses close tickets",
                };
                tracing::warn!(
                    "Ticket {id} moved from status {old} to {new}: whether {unknown} closes tickets is unknown ({why}, and the ticket's hasbeenclosed speaks only for its current status), so the change is reported with reopened false"
                );
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stock() -> Statuses {
        let all = [json!({"id": 1, "name": "New"}), json!({"id": 2, "name": "In Progress"}), json!({"id": 9, "name": "Closed"})];
        Statuses::from_lists(&all, &all[..2])
    }

    #[test]
    fn a_reopen_is_closed_to_open_on_the_tenants_list() {
        let s = stock();
        let c = Closing::of(Some(&s), &json!({"status_id": 2}));
        assert!(c.reopened(7, 9, 2));
        assert!(!c.reopened(7, 2, 9));
        assert!(!c.reopened(7, 1, 2));
        assert!(!c.reopened(7, 9, 9));
    }

    #[test]
    fn without_the_list_the_ticket_speaks_only_for_its_current_status() {
        // Now open in 2: 2 is open for sure, 9 unknown, so no reopen can be told.
        let c = Closing::of(None, &json!({"status_id": 2, "hasbeenclosed": false}));
        assert_eq!(c.closes(2), Some(false));
        assert_eq!(c.closes(9), None);
        assert!(!c.reopened(7, 9, 2));
        // Now closed in 9: a change into 9 is certainly no reopen.
        let c = Closing::of(None, &json!({"status_id": 9, "hasbeenclosed": true}));
        assert!(!c.reopened(7, 2, 9));
        // A tenant that ignores `excludeclosed` says nothing either.
        let all = [json!({"id": 2}), json!({"id": 9})];
        let s = Statuses::from_lists(&all, &all);
        assert!(!Closing::of(Some(&s), &json!({"status_id": 2})).reopened(7, 9, 2));
    }
}
