//! What one `sync_comments` run means, decided from its input and the ticket's history alone:
//! the plugin keeps no state, so each side's copy names what it mirrors in a marker line (the
//! note's or the comment's last line), and the next run reads the markers both sides hold.
//!
//! - A HaloITSM note written from an InsightIDR comment ends `InsightIDR comment <rrn>`.
//! - An InsightIDR comment made from a HaloITSM note ends `HaloITSM note <action id> on ticket <id>`.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::actions::list_comments::Comment;
use crate::halo::ticket::{int, parse_halo_date, string};
use crate::ticket_events::plan::Act;

const IDR_MARK: &str = "InsightIDR comment ";
const HALO_MARK: &str = "HaloITSM note ";

/// One InsightIDR comment (Rapid7's InsightIDR plugin's `comment` type), checked.
#[derive(Debug, Clone, PartialEq)]
pub struct IdrComment {
    /// Its position in the input.
    pub index: usize,
    pub rrn: String,
    pub body: String,
    pub author: Option<String>,
    pub created: Option<String>,
    /// The file names (else RRNs) of its attachments.
    pub attachments: Vec<String>,
}

/// A refused comment: the input field (`comments[2].rrn`) and what is wrong with it.
#[derive(Debug, Clone, PartialEq)]
pub struct Refused {
    pub field: String,
    pub problem: String,
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)
}

/// Every comment checked before anything is written: each must be an object with an `rrn`, and
/// a `target` (when it has one) that is the investigation synced.
pub fn check(comments: &[Value], target: &str) -> Result<Vec<IdrComment>, Refused> {
    let refuse = |field: String, problem: &str| Refused { field, problem: problem.to_string() };
    let mut out = Vec::with_capacity(comments.len());
    for (i, c) in comments.iter().enumerate() {
        if !c.is_object() {
            return Err(refuse(format!("comments[{i}]"), "is not an object"));
        }
        let Some(rrn) = text(c, "rrn") else {
            return Err(refuse(format!("comments[{i}].rrn"), "is missing: a comment is known by its RRN"));
        };
        match c.get("target") {
            None | Some(Value::Null) => {}
            Some(Value::String(t)) if t.trim() == target => {}
            Some(_) => {
                return Err(refuse(format!("comments[{i}].target"), "is not the investigation given in `investigation_rrn`"));
            }
        }
        let body = match c.get("body") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(b)) => b.replace("\r\n", "\n").trim().to_string(),
            Some(_) => return Err(refuse(format!("comments[{i}].body"), "is not text")),
        };
        let attachments = c
            .get("attachments")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|a| text(a, "file_name").or_else(|| text(a, "rrn")))
            .collect();
        out.push(IdrComment {
            index: i,
            rrn,
            body,
            author: c.get("creator").and_then(|cr| text(cr, "name")),
            created: text(c, "created_time"),
            attachments,
        });
    }
    Ok(out)
}

/// The last line with text, trimmed.
fn last_line(text: &str) -> Option<&str> {
    text.lines().map(str::trim).rev().find(|l| !l.is_empty())
}

/// The RRN a HaloITSM note names as the InsightIDR comment it mirrors.
pub fn idr_marker(note: &str) -> Option<&str> {
    let rrn = last_line(note)?.strip_prefix(IDR_MARK)?.trim();
    (rrn.starts_with("rrn:") && !rrn.contains(char::is_whitespace)).then_some(rrn)
}

/// The HaloITSM note (action ID, ticket ID) an InsightIDR comment names as the one it mirrors.
pub fn halo_marker(body: &str) -> Option<(i64, i64)> {
    let rest = last_line(body)?.strip_prefix(HALO_MARK)?;
    let (action, ticket) = rest.split_once(" on ticket ")?;
    Some((action.trim().parse().ok()?, ticket.trim().parse().ok()?))
}

/// The note an InsightIDR comment becomes: who wrote it and when, its text, its attachments'
/// names, and the marker line.
pub fn note_text(c: &IdrComment) -> String {
    let mut head = String::from("InsightIDR comment");
    if let Some(a) = &c.author {
        head.push_str(&format!(" by {a}"));
    }
    if let Some(t) = &c.created {
        head.push_str(&format!(" at {t}"));
    }
    let mut out = format!("{head}:\n{}", if c.body.is_empty() { "(no text)" } else { &c.body });
    if !c.attachments.is_empty() {
        out.push_str(&format!("\nAttachments in InsightIDR: {}", c.attachments.join(", ")));
    }
    out.push_str(&format!("\n\n{IDR_MARK}{}", c.rrn));
    out
}

/// The InsightIDR comment body a HaloITSM note becomes: its text and the marker line.
pub fn comment_body(text: &str, action_id: i64, ticket_id: i64) -> String {
    format!("{}\n\n{HALO_MARK}{action_id} on ticket {ticket_id}", text.trim())
}

/// A HaloITSM note ready for the InsightIDR plugin's Create Comment step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewComment {
    pub target: String,
    pub body: String,
    pub halo_action_id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub datetime: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private: Option<bool>,
}

/// Something the run did not carry across, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Skipped {
    /// `to_halo` (an InsightIDR comment) or `to_insightidr` (a HaloITSM note).
    pub direction: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rrn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub halo_action_id: Option<i64>,
    pub reason: &'static str,
    pub detail: String,
}

/// What the ticket's history says and what the run is to do.
#[derive(Debug, Default)]
pub struct Plan {
    /// Comments to write as notes, oldest first.
    pub to_halo: Vec<IdrComment>,
    pub to_insightidr: Vec<NewComment>,
    pub skipped: Vec<Skipped>,
}

/// Who the run is: the ticket, the investigation, and the agent this connection acts as.
pub struct Sides<'a> {
    pub ticket_id: i64,
    pub target: &'a str,
    pub us: Option<i64>,
    pub since: Option<DateTime<Utc>>,
}

/// A person's entry: an agent's (not HaloITSM itself, agent 0) or an end user's.
fn by_a_person(row: &Value, act: &Act) -> bool {
    let system = string(row, "who").is_some_and(|w| w.eq_ignore_ascii_case("system"));
    !system && (act.actor.agent.is_some() || int(row, "actionby_user_id").is_some_and(|u| u > 0))
}

/// The notes already written from InsightIDR comments: RRN → the note's action ID.
pub fn mirrored_rrns(rows: &[Value]) -> HashMap<String, i64> {
    let mut out = HashMap::new();
    for row in rows {
        let c = Comment::from_halo(row);
        if let (Some(id), Some(rrn)) = (c.id, c.text.as_deref().and_then(idr_marker)) {
            out.entry(rrn.to_string()).or_insert(id);
        }
    }
    out
}

/// The run's plan from the checked comments and the ticket's history (`rows`, oldest first).
pub fn plan(sides: &Sides, comments: Vec<IdrComment>, rows: &[Value]) -> Plan {
    let mut p = Plan::default();
    let on_ticket = mirrored_rrns(rows);
    // HaloITSM notes some InsightIDR comment already mirrors.
    let mut in_idr: HashSet<i64> = HashSet::new();
    let mut seen: HashSet<String> = HashSet::new();
    for c in comments {
        let skip = |reason, detail: String| Skipped {
            direction: "to_halo",
            index: Some(c.index as i64),
            rrn: Some(c.rrn.clone()),
            halo_action_id: None,
            reason,
            detail,
        };
        if let Some((action, ticket)) = halo_marker(&c.body) {
            if ticket == sides.ticket_id {
                in_idr.insert(action);
            }
            p.skipped.push(skip("from_halo", format!("It mirrors HaloITSM note {action} of ticket {ticket}")));
        } else if let Some(id) = on_ticket.get(&c.rrn) {
            p.skipped.push(skip("already_on_ticket", format!("Note {id} of ticket {} already carries it", sides.ticket_id)));
        } else if !seen.insert(c.rrn.clone()) {
            p.skipped.push(skip("duplicate", "An earlier comment of the input has the same RRN".to_string()));
        } else {
            p.to_halo.push(c);
        }
    }
    // Oldest first, so the notes read in the order the comments were made.
    p.to_halo.sort_by_key(|c| c.created.as_deref().and_then(|t| DateTime::parse_from_rfc3339(t).ok()).map(|t| t.to_utc()));
    for row in rows {
        let Some(act) = Act::of(row) else { continue };
        let note = Comment::from_halo(row);
        let Some(text) = note.text.as_deref().filter(|t| !t.trim().is_empty()) else { continue };
        if act.transition().is_some()
            || !by_a_person(row, &act)
            || act.actor.is(sides.us)
            || idr_marker(text).is_some()
            || halo_marker(text).is_some()
        {
            continue;
        }
        let at = note.datetime.as_deref().and_then(parse_halo_date);
        if sides.since.is_some_and(|since| at.is_none_or(|at| at < since)) {
            continue;
        }
        if in_idr.contains(&act.id) {
            p.skipped.push(Skipped {
                direction: "to_insightidr",
                index: None,
                rrn: None,
                halo_action_id: Some(act.id),
                reason: "already_in_insightidr",
                detail: format!("An InsightIDR comment of the input already mirrors note {}", act.id),
            });
            continue;
        }
        p.to_insightidr.push(NewComment {
            target: sides.target.to_string(),
            body: comment_body(text, act.id, sides.ticket_id),
            halo_action_id: act.id,
            author: note.author,
            datetime: note.datetime,
            private: note.private,
        });
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const INV: &str = "rrn:investigation:us:1:investigation:A";

    fn comment(rrn: &str, body: &str) -> Value {
        json!({"rrn": rrn, "target": INV, "body": body, "creator": {"name": "Ellen", "type": "USER"}, "created_time": "2026-09-01T09:00:00Z"})
    }

    #[test]
    fn markers_are_read_back_from_what_they_write() {
        let c = check(&[comment("rrn:c:1", "Blocked <b>x</b>")], INV).unwrap_or_default();
        let note = note_text(&c[0]);
        assert_eq!(idr_marker(&note), Some("rrn:c:1"));
        assert!(note.starts_with("InsightIDR comment by Ellen at 2026-09-01T09:00:00Z:\nBlocked <b>x</b>"));
        assert_eq!(halo_marker(&comment_body("hello\n", 57, 101)), Some((57, 101)));
        assert_eq!(halo_marker("HaloITSM note x on ticket 1"), None);
        assert_eq!(idr_marker("InsightIDR comment rrn:c:1\nmore"), None, "only the last line");
        assert_eq!(idr_marker("InsightIDR comment not-an-rrn"), None);
    }

    #[test]
    fn a_bad_comment_is_named_by_its_field() {
        let no_rrn = [comment("rrn:c:1", "a"), json!({"body": "b", "target": INV})];
        assert_eq!(check(&no_rrn, INV).map_err(|r| r.field), Err("comments[1].rrn".to_string()));
        let other = [json!({"rrn": "rrn:c:2", "target": "rrn:investigation:other"})];
        assert_eq!(check(&other, INV).map_err(|r| r.field), Err("comments[0].target".to_string()));
        assert_eq!(check(&[json!(3)], INV).map_err(|r| r.field), Err("comments[0]".to_string()));
        assert!(check(&[json!({"rrn": "rrn:c:3"})], INV).is_ok(), "a comment without target is taken");
    }

    #[test]
    fn each_side_is_carried_once_without_echo() {
        let sides = Sides { ticket_id: 101, target: INV, us: Some(1), since: None };
        let row = |id: i64, agent: i64, app: Value, note: &str| json!({"id": id, "ticket_id": 101, "who": "x", "actionby_agent_id": agent, "actionby_application_id": app, "note": note, "datetime": "2026-09-01T10:00:00"});
        let rows = vec![
            json!({"id": 1, "who": "System", "actionby_agent_id": 0, "note": "Ticket logged"}),
            row(2, 1, json!("InsightConnect"), "InsightIDR comment by Ellen:\nold\n\nInsightIDR comment rrn:c:1"),
            row(3, 3, Value::Null, "Called the user"),
            row(4, 1, json!("InsightConnect"), "added by a workflow"),
            row(5, 1, Value::Null, "the integration's agent, in the UI"),
            row(6, 3, Value::Null, "already mirrored"),
        ];
        let comments = check(
            &[comment("rrn:c:1", "old"), comment("rrn:c:2", "new"), comment("rrn:c:3", &comment_body("already mirrored", 6, 101))],
            INV,
        )
        .unwrap_or_default();
        let p = plan(&sides, comments, &rows);
        assert_eq!(p.to_halo.iter().map(|c| c.rrn.as_str()).collect::<Vec<_>>(), vec!["rrn:c:2"]);
        assert_eq!(p.to_insightidr.iter().map(|c| c.halo_action_id).collect::<Vec<_>>(), vec![3, 5]);
        assert_eq!(p.to_insightidr[0].body, "Called the user\n\nHaloITSM note 3 on ticket 101");
        let reasons: Vec<&str> = p.skipped.iter().map(|s| s.reason).collect();
        assert_eq!(reasons, vec!["already_on_ticket", "from_halo", "already_in_insightidr"]);
        let later = Sides { since: parse_halo_date("2026-09-02T00:00:00"), ..sides };
        assert!(plan(&later, Vec::new(), &rows).to_insightidr.is_empty(), "notes before `since` stay");
    }
}
