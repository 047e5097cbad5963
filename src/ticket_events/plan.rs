//! What a change to a ticket means for the triggers, decided from the trigger's record of the
//! ticket, the ticket as it is now, and its action history (HaloITSM's change log). Pure logic.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::Mark;
use crate::halo::ticket::{int, parse_halo_date};

/// The ticket as it is now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Now {
    pub id: i64,
    pub status: i64,
    pub marker: DateTime<Utc>,
    pub created: Option<DateTime<Utc>>,
}

impl Now {
    pub fn of(t: &Value) -> Option<Now> {
        let date = |k: &str| t.get(k).and_then(Value::as_str).and_then(parse_halo_date);
        Some(Now {
            id: int(t, "id").filter(|i| *i > 0)?,
            status: int(t, "status_id")?,
            marker: date("lastactiondate").or_else(|| date("last_update"))?,
            created: date("datecreated"),
        })
    }
}

/// Who made a change, as the history entry records it (docs/halo-api.md#A6, A7).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Actor {
    /// The agent (`actionby_agent_id`, else `who_agentid`); None for HaloITSM itself.
    pub agent: Option<i64>,
    /// Whether an API application made it: `actionby_application_id` set (true) or present and
    /// empty (false); None when the entry does not say.
    pub via_api: Option<bool>,
}

impl Actor {
    /// Whether this connection made the entry: by the agent it acts as (`us`), and not recorded
    /// as made outside an API application (docs/halo-api.md#A7).
    pub fn is(&self, us: Option<i64>) -> bool {
        self.agent.is_some_and(|a| us == Some(a)) && self.via_api != Some(false)
    }
}

/// One entry of a ticket's history.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Act {
    pub id: i64,
    pub at: Option<DateTime<Utc>>,
    pub old_status: Option<i64>,
    pub new_status: Option<i64>,
    pub actor: Actor,
    /// The entry records a new priority, agent or team (docs/halo-api.md#A6; list rows carry no
    /// agent or team, A4).
    pub priority: bool,
    pub agent: bool,
    pub team: bool,
    /// The entry has note text.
    pub note: bool,
}

/// The status a ticket has after its history: the new status of its last entry that records one.
pub fn status_after(history: &[Act]) -> Option<i64> {
    history.iter().filter(|a| a.new_status.is_some()).max_by_key(|a| a.id).and_then(|a| a.new_status)
}

impl Act {
    pub fn of(a: &Value) -> Option<Act> {
        let via_api = match a.get("actionby_application_id") {
            None => None,
            Some(Value::Null) => Some(false),
            Some(Value::String(s)) => Some(!s.trim().is_empty()),
            Some(Value::Number(n)) => Some(n.as_i64() != Some(0)),
            Some(_) => None,
        };
        Some(Act {
            id: int(a, "id").filter(|i| *i > 0)?,
            at: a.get("datetime").and_then(Value::as_str).and_then(parse_halo_date),
            old_status: int(a, "old_status").filter(|s| *s > 0),
            new_status: int(a, "new_status").filter(|s| *s > 0),
            actor: Actor {
                // 0 is HaloITSM itself (system actions): not an agent.
                agent: int(a, "actionby_agent_id").filter(|id| *id > 0).or_else(|| int(a, "who_agentid").filter(|id| *id > 0)),
                via_api,
            },
            // 0 or absent is "no change" (docs/halo-api.md#A10).
            priority: int(a, "new_priority").is_some_and(|p| p > 0 && int(a, "old_priority") != Some(p)),
            agent: int(a, "new_agent").is_some_and(|p| p > 0 && int(a, "old_agent") != Some(p)),
            team: match a.get("new_team") {
                Some(Value::String(t)) => !t.trim().is_empty() && a.get("old_team").and_then(Value::as_str) != Some(t.as_str()),
                Some(v) => crate::halo::ticket::as_int(v).is_some_and(|t| t > 0),
                None => false,
            },
            note: ["note", "note_html"].iter().any(|k| a.get(*k).and_then(Value::as_str).is_some_and(|n| !n.trim().is_empty())),
        })
    }

    pub fn transition(&self) -> Option<(i64, i64)> {
        match (self.old_status, self.new_status) {
            (Some(o), Some(n)) if o != n => Some((o, n)),
            _ => None,
        }
    }
}

/// An event a change may produce (each trigger picks its kind).
#[derive(Debug, Clone, PartialEq)]
pub enum Planned {
    Created {
        at: DateTime<Utc>,
        actor: Actor,
    },
    Updated {
        previous: Option<i64>,
        status_changed: bool,
        at: DateTime<Utc>,
        actor: Actor,
    },
    /// A status transition; `act` is the history entry that recorded it (None when the status
    /// changed without one). `nth` counts the same transition earlier in the same second, so
    /// that (ticket, old, new, second, nth) names it whichever path reports it.
    Transition {
        old: i64,
        new: i64,
        at: DateTime<Utc>,
        actor: Actor,
        act: Option<i64>,
        nth: u32,
    },
}

/// The plan for one observed change, and the record to keep afterwards.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub events: Vec<Planned>,
    pub record: Mark,
    /// The history entries this change added (the creation's own entries left out).
    pub fresh: Vec<Act>,
}

/// Decide. `history` is None when it could not be read: then only what the record proves is
/// reported (never a guessed previous status). `floor` is the moment before which changes are
/// not reported. `hinted_new` is a webhook saying "new ticket".
pub fn plan(prev: Option<Mark>, now: Now, history: Option<&[Act]>, floor: DateTime<Utc>, hinted_new: bool) -> Plan {
    let is_new = prev.is_none() && (hinted_new || now.created.is_some_and(|c| c >= floor));
    let mut acts: Vec<Act> = history.map(|h| h.to_vec()).unwrap_or_default();
    // HaloITSM's dates have whole seconds: the order of a ticket's history is its action IDs.
    acts.sort_by_key(|a| a.id);
    let all = acts.clone();
    let latest_act = acts.last().map(|a| a.id).max(prev.map(|p| p.last_action_id)).unwrap_or(0);
    let mut fresh: Vec<Act> = acts
        .into_iter()
        .filter(|a| match prev {
            Some(p) if p.last_action_id > 0 => a.id > p.last_action_id,
            Some(p) => a.at.is_some_and(|at| at > p.marker),
            None => a.at.is_some_and(|at| at >= floor),
        })
        .collect();
    if is_new {
        // The entries written when the ticket was logged are the creation, not changes: those of
        // the creation's second that move no status. A status moved in that second is a change
        // like any other, and so is every entry after it, even the history's first: some tenants
        // write no entry for the creation (docs/halo-api.md#A12).
        let created = now.created.unwrap_or(now.marker);
        fresh.retain(|a| a.transition().is_some() || a.at.is_some_and(|at| at > created));
    }
    let actor = fresh.last().map(|a| a.actor).unwrap_or_default();
    let mut events = Vec::new();
    if is_new {
        events.push(Planned::Created {
            at: now.created.unwrap_or(now.marker),
            actor: history.and_then(|h| h.iter().min_by_key(|a| a.id)).map(|a| a.actor).unwrap_or_default(),
        });
    }
    let transitions: Vec<(Act, (i64, i64))> = fresh.iter().filter_map(|a| a.transition().map(|t| (*a, t))).collect();
    let changed = match prev {
        _ if is_new => !fresh.is_empty(),
        None => true,
        Some(p) => !fresh.is_empty() || now.marker > p.marker || now.status != p.status_id,
    };
    if changed {
        let (previous, status_changed) = match (transitions.first(), prev, history) {
            (Some((_, (old, _))), _, _) => (Some(*old), true),
            (None, Some(p), _) => (Some(p.status_id), p.status_id != now.status),
            // The history was read and shows no status change since the floor.
            (None, None, Some(_)) => (Some(now.status), false),
            (None, None, None) => (None, false),
        };
        events.push(Planned::Updated { previous, status_changed, at: now.marker, actor });
        if transitions.is_empty() {
            if let Some(p) = prev.filter(|p| p.status_id != now.status) {
                // The status changed without a history entry (or the history was unreadable).
                events.push(Planned::Transition { old: p.status_id, new: now.status, at: now.marker, actor, act: None, nth: 0 });
            }
        }
        for (a, (old, new)) in &transitions {
            let at = a.at.unwrap_or(now.marker);
            let nth =
                all.iter().filter(|b| b.id < a.id && b.transition() == Some((*old, *new)) && b.at.unwrap_or(now.marker) == at).count();
            events.push(Planned::Transition { old: *old, new: *new, at, actor: a.actor, act: Some(a.id), nth: nth as u32 });
        }
    }
    let marker = prev.map_or(now.marker, |p| p.marker.max(now.marker));
    Plan { events, record: Mark { status_id: now.status, marker, last_action_id: latest_act }, fresh }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(&format!("2026-09-01T{s}Z")).unwrap().with_timezone(&Utc)
    }

    fn now(status: i64, marker: &str, created: &str) -> Now {
        Now { id: 7, status, marker: t(marker), created: Some(t(created)) }
    }

    fn act(id: i64, at: &str, old: i64, new: i64, actor: i64) -> Act {
        Act {
            id,
            at: Some(t(at)),
            old_status: Some(old).filter(|s| *s > 0),
            new_status: Some(new).filter(|s| *s > 0),
            actor: by(actor),
            priority: false,
            agent: false,
            team: false,
            note: false,
        }
    }

    fn by(agent: i64) -> Actor {
        Actor { agent: Some(agent), via_api: None }
    }

    fn kinds(p: &Plan) -> Vec<&'static str> {
        p.events
            .iter()
            .map(|e| match e {
                Planned::Created { .. } => "created",
                Planned::Updated { .. } => "updated",
                Planned::Transition { .. } => "transition",
            })
            .collect()
    }

    #[test]
    fn a_new_ticket_is_created_and_changes_after_its_creation_are_changes() {
        let floor = t("00:00:00");
        let history = [act(1, "01:00:00", 0, 1, 1), act(2, "01:05:00", 1, 6, 3)];
        let p = plan(None, now(6, "01:05:00", "01:00:00"), Some(&history), floor, false);
        assert_eq!(kinds(&p), vec!["created", "updated", "transition"]);
        assert_eq!(p.events[0], Planned::Created { at: t("01:00:00"), actor: by(1) });
        assert_eq!(p.events[2], Planned::Transition { old: 1, new: 6, at: t("01:05:00"), actor: by(3), act: Some(2), nth: 0 });
        assert_eq!(p.record, Mark { status_id: 6, marker: t("01:05:00"), last_action_id: 2 });
        // Just created: only the creation.
        let p = plan(None, now(1, "01:00:00", "01:00:00"), Some(&history[..1]), floor, false);
        assert_eq!(kinds(&p), vec!["created"]);
    }

    #[test]
    fn a_status_moved_in_the_second_the_ticket_was_created_is_a_change() {
        let floor = t("00:00:00");
        // Created and moved 1 -> 2 within one second: same date, ordered by ID.
        let history = [act(1, "01:00:00", 0, 1, 1), act(2, "01:00:00", 1, 2, 1), act(3, "01:00:00", 2, 2, 1)];
        let p = plan(None, now(2, "01:00:00", "01:00:00"), Some(&history), floor, true);
        assert_eq!(kinds(&p), vec!["created", "updated", "transition"]);
        assert!(matches!(p.events[2], Planned::Transition { old: 1, new: 2, act: Some(2), .. }), "{:?}", p.events);
        // Only the logging entries in that second: just the creation.
        let p = plan(None, now(1, "01:00:00", "01:00:00"), Some(&[act(1, "01:00:00", 0, 1, 1), act(2, "01:00:00", 1, 1, 1)]), floor, true);
        assert_eq!(kinds(&p), vec!["created"]);
        assert_eq!(status_after(&history), Some(2));
    }

    #[test]
    fn a_status_moved_in_the_creation_second_counts_without_a_creation_entry() {
        let floor = t("00:00:00");
        // No "ticket logged" entry: the move 1 -> 2 in the creation second is the first entry.
        let history = [act(7, "01:00:00", 1, 2, 1)];
        let p = plan(None, now(2, "01:00:00", "01:00:00"), Some(&history), floor, true);
        assert_eq!(kinds(&p), vec!["created", "updated", "transition"]);
        assert!(matches!(p.events[2], Planned::Transition { old: 1, new: 2, act: Some(7), .. }), "{:?}", p.events);
        // A first entry that moves no status is still the creation.
        let p = plan(None, now(1, "01:00:00", "01:00:00"), Some(&[act(7, "01:00:00", 0, 1, 1)]), floor, true);
        assert_eq!(kinds(&p), vec!["created"]);
        // A note five minutes later, the history's first entry, is a change.
        let p = plan(None, now(1, "01:05:00", "01:00:00"), Some(&[act(7, "01:05:00", 0, 0, 3)]), floor, true);
        assert_eq!(kinds(&p), vec!["created", "updated"]);
    }

    #[test]
    fn every_transition_since_the_record_is_reported_in_order() {
        let prev = Mark { status_id: 2, marker: t("01:00:00"), last_action_id: 10 };
        let history =
            [act(10, "01:00:00", 1, 2, 3), act(11, "01:00:05", 2, 6, 3), act(12, "01:00:05", 0, 0, 4), act(13, "01:00:05", 6, 3, 4)];
        let p = plan(Some(prev), now(3, "01:00:05", "00:00:00"), Some(&history), t("00:00:00"), false);
        assert_eq!(kinds(&p), vec!["updated", "transition", "transition"]);
        assert_eq!(p.events[0], Planned::Updated { previous: Some(2), status_changed: true, at: t("01:00:05"), actor: by(4) });
        assert!(matches!(p.events[1], Planned::Transition { old: 2, new: 6, act: Some(11), .. }));
        assert!(matches!(p.events[2], Planned::Transition { old: 6, new: 3, act: Some(13), .. }));
        assert_eq!(p.record.last_action_id, 13);
    }

    #[test]
    fn nothing_new_means_no_events() {
        let prev = Mark { status_id: 3, marker: t("01:00:05"), last_action_id: 13 };
        let history = [act(13, "01:00:05", 6, 3, 4)];
        assert!(plan(Some(prev), now(3, "01:00:05", "00:00:00"), Some(&history), t("00:00:00"), false).events.is_empty());
    }

    #[test]
    fn a_note_is_an_update_without_a_status_change() {
        let prev = Mark { status_id: 2, marker: t("01:00:00"), last_action_id: 10 };
        let p = plan(Some(prev), now(2, "02:00:00", "00:00:00"), Some(&[act(11, "02:00:00", 0, 0, 1)]), t("00:00:00"), false);
        assert_eq!(p.events, vec![Planned::Updated { previous: Some(2), status_changed: false, at: t("02:00:00"), actor: by(1) }]);
    }

    #[test]
    fn without_history_only_what_the_record_proves() {
        let prev = Mark { status_id: 2, marker: t("01:00:00"), last_action_id: 10 };
        let p = plan(Some(prev), now(5, "02:00:00", "00:00:00"), None, t("00:00:00"), false);
        assert_eq!(kinds(&p), vec!["updated", "transition"]);
        assert!(matches!(p.events[1], Planned::Transition { old: 2, new: 5, act: None, .. }));
        // A ticket never seen and no history: an update with no previous status, no transition.
        let p = plan(None, now(5, "02:00:00", "00:00:00"), None, t("01:00:00"), false);
        assert_eq!(p.events, vec![Planned::Updated { previous: None, status_changed: false, at: t("02:00:00"), actor: Actor::default() }]);
    }

    #[test]
    fn an_old_ticket_seen_for_the_first_time_uses_its_history_since_the_floor() {
        let history = [act(1, "00:00:00", 0, 1, 1), act(5, "02:00:00", 1, 4, 3)];
        let p = plan(None, now(4, "02:00:00", "00:00:00"), Some(&history), t("01:00:00"), false);
        assert_eq!(kinds(&p), vec!["updated", "transition"]);
        assert_eq!(p.events[0], Planned::Updated { previous: Some(1), status_changed: true, at: t("02:00:00"), actor: by(3) });
        // No status change since the floor: the status is known to be unchanged.
        let p = plan(
            None,
            now(1, "02:00:00", "00:00:00"),
            Some(&[act(1, "00:00:00", 0, 1, 1), act(6, "02:00:00", 0, 0, 3)]),
            t("01:00:00"),
            false,
        );
        assert_eq!(p.events, vec![Planned::Updated { previous: Some(1), status_changed: false, at: t("02:00:00"), actor: by(3) }]);
    }

    #[test]
    fn an_older_record_marker_is_kept() {
        let prev = Mark { status_id: 2, marker: t("03:00:00"), last_action_id: 10 };
        let p = plan(Some(prev), now(2, "02:00:00", "00:00:00"), Some(&[]), t("00:00:00"), false);
        assert_eq!(p.record.marker, t("03:00:00"));
    }
}
