//! What one webhook delivery announces, decided without any trigger state, for the
//! `process_webhook` step: the history entry the change wrote, and the ticket's state just
//! before and just after it, all from HaloITSM's history. The same delivery gives the same answer
//! whenever it is processed, however the ticket changed since: later entries are left out.
//!
//! The change is found, in this order, by the history entry a full payload carries (`action`,
//! docs/halo-api.md#W15), by the payload ticket's last action date, or by the delivery's
//! `timestamp` (W2, an entry at most a minute older, W16). Nothing a delivery says is believed on
//! its word: a carried entry must be in the ticket's history as read from HaloITSM, with the same
//! ID and the same fields, or the delivery is reported as unverified; a delivery with no date at
//! all (other than a new ticket's) is reported as undated rather than matched to whatever entry is
//! latest when it is read. Entries of the same second are one change (HaloITSM writes a change's
//! entries together); dates are compared by the second (they may carry fractions, T14).

use chrono::{DateTime, SubsecRound, Utc};

use super::Mark;
use super::delivery::Delivery;
use super::plan::{Act, Now, status_after};
use crate::halo::ticket::{int, parse_halo_date};

/// Longest HaloITSM is taken to need between a change and queueing its delivery (an assumption:
/// no source gives it, docs/halo-api.md#W16).
const QUEUED_WITHIN: chrono::Duration = chrono::Duration::seconds(60);

/// A change as `plan::plan` takes it: the record "before", the ticket "after", and the history up
/// to the change.
#[derive(Debug, Clone, PartialEq)]
pub struct Announced {
    pub prev: Option<Mark>,
    pub now: Now,
    /// The history up to and including the change; None when it could not be read.
    pub history: Option<Vec<Act>>,
    /// The entries the change wrote (empty when it wrote none).
    pub covered: Vec<Act>,
    pub new: bool,
    /// Why the delivery cannot be taken as a change, when it cannot.
    pub doubt: Option<Doubt>,
}

/// A delivery that announces no change this step can stand behind.
#[derive(Debug, Clone, PartialEq)]
pub enum Doubt {
    /// It carries a history entry HaloITSM's history does not have (or has otherwise).
    Unverified(String),
    /// It carries neither an entry nor a date, so which change it announces is unknown.
    Undated,
}

/// Whether the entry a delivery carries is the one HaloITSM's history has under its ID: the same
/// ticket (when it names one) and, field by field, what the history row shows.
pub fn verify_carried(carried: &serde_json::Value, ticket_id: i64, rows: &[serde_json::Value]) -> Result<(), String> {
    let id = int(carried, "id").unwrap_or_default();
    if let Some(other) = int(carried, "ticket_id").filter(|t| *t != ticket_id) {
        return Err(format!("the delivery's history entry {id} belongs to ticket {other}, not ticket {ticket_id}"));
    }
    let Some(row) = rows.iter().find(|r| int(r, "id") == Some(id)) else {
        return Err(format!("ticket {ticket_id}'s history in HaloITSM has no entry {id}, the entry the delivery carries"));
    };
    for field in ["old_status", "new_status", "datetime", "who", "outcome"] {
        let (said, read) = (carried.get(field), row.get(field));
        let same = match (said, read) {
            (Some(a), Some(b)) => a == b || (int_of(a).is_some() && int_of(a) == int_of(b)) || same_date(a, b),
            _ => true,
        };
        if !same {
            return Err(format!("the delivery's history entry {id} says {field} {}, HaloITSM's history says {}", shown(said), shown(read)));
        }
    }
    Ok(())
}

fn int_of(v: &serde_json::Value) -> Option<i64> {
    crate::halo::ticket::as_int(v)
}

fn same_date(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    let d = |v: &serde_json::Value| v.as_str().and_then(parse_halo_date).map(|t| t.trunc_subsecs(0));
    d(a).is_some() && d(a) == d(b)
}

fn shown(v: Option<&serde_json::Value>) -> String {
    // As JSON: control characters come escaped.
    v.map_or_else(|| "nothing".into(), |v| v.to_string().chars().take(80).collect())
}

/// Decide. `history` as read (any order); `current` is the ticket as it is now.
/// `carried_ok`: the entry the delivery carries (if any) passed `verify_carried`.
pub fn announced(d: &Delivery, history: Option<&[Act]>, current: Now, carried_ok: Result<(), String>) -> Announced {
    let payload_marker = d.ticket.as_ref().and_then(|t| t.get("lastactiondate")).and_then(|v| v.as_str()).and_then(parse_halo_date);
    let Some(history) = history else {
        let marker = payload_marker.or(d.at).unwrap_or(current.marker);
        // The status is HaloITSM's, never the delivery's claim; without a history there is no
        // previous status either.
        let now = Now { marker, ..current };
        let prev = (!d.is_new_ticket()).then_some(Mark {
            status_id: now.status,
            marker: marker - chrono::Duration::seconds(1),
            last_action_id: 0,
        });
        return Announced { prev, now, history: None, covered: Vec::new(), new: d.is_new_ticket(), doubt: None };
    };
    let doubted = |doubt: Doubt| Announced {
        prev: None,
        now: current,
        history: Some(history.to_vec()),
        covered: Vec::new(),
        new: false,
        doubt: Some(doubt),
    };
    if d.action.is_some() {
        if let Err(why) = carried_ok {
            return doubted(Doubt::Unverified(why));
        }
    } else if payload_marker.is_none() && d.at.is_none() && !d.is_new_ticket() {
        return doubted(Doubt::Undated);
    }
    // Dates compared by the second: some carry fractions, some do not (T14).
    let sec = |t: DateTime<Utc>| t.trunc_subsecs(0);
    let payload_marker = payload_marker.map(sec);
    let mut acts: Vec<Act> = history.iter().map(|a| Act { at: a.at.map(sec), ..*a }).collect();
    acts.sort_by_key(|a| a.id);
    // The carried entry (verified: in the history, as the history has it) names the change.
    let action_id = d.action.as_ref().and_then(|a| int(a, "id"));
    let bound: Option<DateTime<Utc>> = payload_marker.or(d.at.map(sec));
    // The last entry written by the time of the change.
    let upto = match (action_id.and_then(|id| acts.iter().position(|a| a.id == id)), bound) {
        (Some(i), _) => Some(i),
        (None, Some(t)) => acts.iter().rposition(|a| a.at.is_some_and(|at| at <= t)),
        // Only a new ticket's delivery gets here undated: its change is the ticket's first entry.
        (None, None) => (!acts.is_empty()).then_some(0),
    };
    let known: Vec<Act> = upto.map_or_else(Vec::new, |i| acts[..=i].to_vec());
    let last_at = known.last().and_then(|a| a.at);
    // A change later than its entry's second (say a summary edit) wrote no entry of its own. With
    // only the delivery's timestamp to go by, an entry more than `QUEUED_WITHIN` older than the
    // delivery is an earlier change's.
    let wrote_none = action_id.is_none()
        && match (payload_marker, d.at.map(sec), last_at) {
            (Some(m), _, Some(at)) => m > at,
            (None, Some(t), Some(at)) => t - at > QUEUED_WITHIN,
            _ => false,
        };
    let covered: Vec<Act> = match known.last() {
        Some(last) if !wrote_none => match last.at {
            Some(at) => known[known.iter().rposition(|a| a.at != Some(at)).map_or(0, |i| i + 1)..].to_vec(),
            None => vec![*last],
        },
        _ => Vec::new(),
    };
    let before = &known[..known.len() - covered.len()];
    let marker = match covered.last().and_then(|a| a.at) {
        Some(at) => at,
        None => payload_marker.or(d.at.map(sec)).unwrap_or(current.marker),
    };
    // From the history, else HaloITSM's ticket: never the delivery's word.
    let status = status_after(&known).unwrap_or(current.status);
    let now = Now { status, marker, ..current };
    let new = d.is_new_ticket();
    let prev = (!new).then(|| {
        // The change's own entry says best what the status was before it.
        let first_old = covered.iter().find_map(|a| a.old_status);
        Mark {
            status_id: first_old.or(status_after(before)).unwrap_or(status),
            marker: before.last().and_then(|a| a.at).filter(|at| *at < marker).unwrap_or(marker - chrono::Duration::seconds(1)),
            last_action_id: before.last().map_or(0, |a| a.id),
        }
    });
    Announced { prev, now, history: Some(known), covered, new, doubt: None }
}

#[cfg(test)]
mod tests {
    use super::super::plan::{Actor, Planned, plan};
    use super::*;
    use serde_json::json;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(&format!("2026-09-01T{s}Z")).unwrap().with_timezone(&Utc)
    }

    fn act(id: i64, at: &str, old: i64, new: i64) -> Act {
        Act {
            id,
            at: Some(t(at)),
            old_status: Some(old).filter(|s| *s > 0),
            new_status: Some(new).filter(|s| *s > 0),
            actor: Actor { agent: Some(3), via_api: Some(false) },
            priority: false,
            agent: false,
            team: false,
            note: true,
        }
    }

    /// Logged at 10:00 in status 1, moved to 2 at 10:05, to 3 at 10:10 (the ticket now).
    fn history() -> Vec<Act> {
        vec![act(1, "10:00:00", 0, 1), act(2, "10:05:00", 1, 2), act(3, "10:10:00", 2, 3)]
    }

    fn current() -> Now {
        Now { id: 7, status: 3, marker: t("10:10:00"), created: Some(t("10:00:00")) }
    }

    fn ann(d: &Delivery, h: Option<&[Act]>, now: Now) -> Announced {
        announced(d, h, now, Ok(()))
    }

    fn delivery(v: serde_json::Value) -> Delivery {
        Delivery::read(&v, 0).unwrap()
    }

    fn transitions(a: &Announced) -> Vec<(i64, i64)> {
        plan(a.prev, a.now, a.history.as_deref(), DateTime::<Utc>::MIN_UTC, a.new)
            .events
            .iter()
            .filter_map(|e| match e {
                Planned::Transition { old, new, .. } => Some((*old, *new)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn the_change_is_found_by_action_by_payload_date_and_by_timestamp() {
        let h = history();
        // The full payload's action names the entry.
        let by_action = ann(&delivery(json!({"object_id": 7, "action": {"id": 2}})), Some(&h), current());
        assert_eq!(transitions(&by_action), vec![(1, 2)]);
        assert_eq!(by_action.now.status, 2, "the state right after the change, not now");
        // The payload ticket's last action date.
        let by_date =
            ann(&delivery(json!({"object_id": 7, "ticket": {"id": 7, "lastactiondate": "2026-09-01T10:05:00"}})), Some(&h), current());
        assert_eq!(transitions(&by_date), vec![(1, 2)]);
        // The delivery's timestamp (event only), a moment after the change.
        let by_stamp = ann(&delivery(json!({"object_id": "7", "timestamp": "2026-09-01T10:05:01.5000000Z"})), Some(&h), current());
        assert_eq!(transitions(&by_stamp), vec![(1, 2)]);
        // Nothing to go by: no guess at the latest entry, which a later change would move.
        assert_eq!(ann(&delivery(json!({"object_id": 7})), Some(&h), current()).doubt, Some(Doubt::Undated));
    }

    #[test]
    fn the_same_delivery_gives_the_same_change_after_later_ones() {
        let d = delivery(json!({"object_id": 7, "timestamp": "2026-09-01T10:05:00.9000000Z"}));
        let early = ann(&d, Some(&history()[..2]), Now { status: 2, marker: t("10:05:00"), ..current() });
        let late = ann(&d, Some(&history()), current());
        assert_eq!(early, late);
    }

    #[test]
    fn entries_of_one_second_are_one_change_and_a_change_without_an_entry_moves_nothing() {
        let mut h = history();
        h.push(act(4, "10:10:00", 3, 4));
        let a = ann(&delivery(json!({"object_id": 7, "timestamp": "2026-09-01T10:10:00.4Z"})), Some(&h), Now { status: 4, ..current() });
        assert_eq!(a.covered.iter().map(|a| a.id).collect::<Vec<_>>(), vec![3, 4]);
        assert_eq!(transitions(&a), vec![(2, 3), (3, 4)]);
        // A summary edit at 10:20 wrote no entry: an update, no transition, the status as it was.
        let edit = ann(
            &delivery(json!({"object_id": 7, "ticket": {"id": 7, "status_id": 3, "lastactiondate": "2026-09-01T10:20:00"}})),
            Some(&history()),
            current(),
        );
        assert!(edit.covered.is_empty());
        assert!(transitions(&edit).is_empty());
        assert_eq!(edit.now.marker, t("10:20:00"));
        let p = plan(edit.prev, edit.now, edit.history.as_deref(), DateTime::<Utc>::MIN_UTC, false);
        assert!(matches!(p.events.as_slice(), [Planned::Updated { status_changed: false, previous: Some(3), .. }]), "{:?}", p.events);
    }

    #[test]
    fn a_timestamp_long_after_the_last_entry_is_a_change_without_one() {
        // A summary edit at 10:20, announced by an event-only delivery: not the 10:10 status change.
        let d = delivery(json!({"object_id": 7, "timestamp": "2026-09-01T10:20:00.3000000Z"}));
        let a = ann(&d, Some(&history()), current());
        assert!(a.covered.is_empty());
        assert!(transitions(&a).is_empty());
        assert_eq!(a.now.marker, t("10:20:00"));
    }

    #[test]
    fn a_carried_entry_is_believed_only_as_the_history_has_it() {
        let rows = vec![
            json!({"id": 2, "ticket_id": 7, "datetime": "2026-09-01T10:05:00", "old_status": 1, "new_status": 2}),
            json!({"id": 3, "ticket_id": 7, "datetime": "2026-09-01T10:10:00.25", "old_status": 2, "new_status": 3}),
        ];
        assert_eq!(
            verify_carried(&json!({"id": 3, "ticket_id": 7, "datetime": "2026-09-01T10:10:00Z", "new_status": "3"}), 7, &rows),
            Ok(())
        );
        let forged = verify_carried(&json!({"id": 3, "new_status": 9}), 7, &rows).unwrap_err();
        assert!(forged.contains("says new_status 9, HaloITSM's history says 3"), "{forged}");
        assert!(verify_carried(&json!({"id": 4}), 7, &rows).unwrap_err().contains("has no entry 4"));
        assert!(verify_carried(&json!({"id": 3, "ticket_id": 8}), 7, &rows).unwrap_err().contains("belongs to ticket 8"));
        // A delivery whose entry failed the check announces nothing.
        let d = delivery(json!({"object_id": 7, "action": {"id": 4, "old_status": 3, "new_status": 9}}));
        let a = announced(&d, Some(&history()), current(), Err("no entry 4".into()));
        assert_eq!(a.doubt, Some(Doubt::Unverified("no entry 4".into())));
        assert!(a.covered.is_empty() && a.prev.is_none());
    }

    #[test]
    fn fractions_of_a_second_do_not_split_a_change() {
        let mut h = history();
        h[1].at = Some(t("10:05:00") + chrono::Duration::milliseconds(200));
        let d = delivery(json!({"object_id": 7, "ticket": {"id": 7, "lastactiondate": "2026-09-01T10:05:00.217"}}));
        assert_eq!(transitions(&ann(&d, Some(&h), current())), vec![(1, 2)]);
    }

    #[test]
    fn without_a_history_no_status_is_guessed() {
        let a =
            ann(&delivery(json!({"object_id": 7, "event": "ticket status changed", "ticket": {"id": 7, "status_id": 3}})), None, current());
        assert!(transitions(&a).is_empty());
        let p = plan(a.prev, a.now, None, DateTime::<Utc>::MIN_UTC, false);
        assert!(matches!(p.events.as_slice(), [Planned::Updated { status_changed: false, .. }]), "{:?}", p.events);
    }

    #[test]
    fn a_new_ticket_delivery_is_its_creation() {
        let a = ann(&delivery(json!({"object_id": 7, "event": "New Ticket Logged", "action": {"id": 1}})), Some(&history()), current());
        let p = plan(a.prev, a.now, a.history.as_deref(), DateTime::<Utc>::MIN_UTC, a.new);
        assert!(matches!(p.events.as_slice(), [Planned::Created { .. }]), "{:?}", p.events);
    }
}
