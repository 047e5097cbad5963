//! Which fields of a ticket changed (`changed_fields`) and whether a change touches the fields a
//! trigger watches (`monitored_fields`). Pure logic.
//!
//! Two sources, merged: a fingerprint per field of the ticket as the trigger last saw it,
//! compared with the ticket now (every field kind, but only where there is a previous
//! fingerprint), and the history entries the change added, which name status, priority, agent
//! and team changes and notes (docs/halo-api.md#A6, A10) and need no previous state.

use serde_json::Value;

use super::plan::Act;
use crate::halo::ticket::{as_int, int};

/// The ticket fields tracked, by the names `changed_fields` and `monitored_fields` use.
pub const FIELDS: [&str; 13] =
    ["summary", "details", "status", "priority", "agent", "team", "category", "tickettype", "user", "client", "site", "impact", "urgency"];
/// A change that added a history entry (a note) and touched no tracked field.
pub const NOTE: &str = "note";
/// Custom fields are named by their ID: `custom_field_146`.
pub const CUSTOM_PREFIX: &str = "custom_field_";
/// The names the history alone can tell (a stateless reader sees only these).
pub const FROM_HISTORY: [&str; 5] = ["status", "priority", "agent", "team", NOTE];

/// Field keys: the index in `FIELDS`, or this plus the custom field's ID.
const CUSTOM_KEY: u64 = 1_000;

/// A 32-bit fingerprint of each tracked field of a ticket, `(key << 32) | hash`, sorted by key.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Prints(Vec<u64>);

/// A field's value in one canonical text: empty, null, 0 and absent are all "nothing", and IDs
/// read the same whether HaloITSM sends them as numbers or strings (docs/halo-api.md#K1).
fn canonical(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => match as_int(&Value::String(s.clone())) {
            Some(0) => String::new(),
            Some(n) => n.to_string(),
            None => s.trim().to_string(),
        },
        Some(Value::Number(_)) => match v.and_then(as_int) {
            Some(0) => String::new(),
            Some(n) => n.to_string(),
            None => v.map(Value::to_string).unwrap_or_default(),
        },
        Some(Value::Bool(b)) => b.to_string(),
        Some(other) => other.to_string(),
    }
}

fn hash(text: &str) -> u64 {
    crate::fnv::fnv1a(text.as_bytes()) & 0xffff_ffff
}

/// The canonical value of a standard field.
fn value_of(t: &Value, field: &str) -> String {
    let get = |k: &str| canonical(t.get(k));
    match field {
        "summary" => get("summary"),
        "details" => match t.get("details") {
            Some(Value::String(_)) => get("details"),
            _ => get("details_html"),
        },
        "status" => get("status_id"),
        "priority" => get("priority_id"),
        "agent" => get("agent_id"),
        // Some reads name the team rather than give its ID.
        "team" => match int(t, "team_id") {
            Some(id) if id > 0 => id.to_string(),
            _ => get("team"),
        },
        "category" => (1..=4).map(|n| get(&format!("category_{n}"))).collect::<Vec<_>>().join("\u{1f}"),
        "tickettype" => get("tickettype_id"),
        "user" => get("user_id"),
        "client" => get("client_id"),
        "site" => get("site_id"),
        other => get(other),
    }
}

impl Prints {
    /// The fingerprints of a ticket as HaloITSM returns it (a full read).
    pub fn of(ticket: &Value) -> Prints {
        let mut out: Vec<u64> = FIELDS.iter().enumerate().map(|(i, f)| ((i as u64) << 32) | hash(&value_of(ticket, f))).collect();
        for cf in ticket.get("customfields").and_then(Value::as_array).into_iter().flatten() {
            let Some(id) = cf.get("id").and_then(as_int).filter(|id| *id > 0 && (*id as u64) < u32::MAX as u64 - CUSTOM_KEY) else {
                continue;
            };
            // A custom field's text is kept as it is: "0" is a value there, not "none".
            let value = match cf.get("value") {
                Some(Value::String(s)) => s.trim().to_string(),
                other => canonical(other),
            };
            out.push(((CUSTOM_KEY + id as u64) << 32) | hash(&value));
        }
        out.sort_unstable();
        out.dedup_by_key(|p| *p >> 32);
        Prints(out)
    }

    fn get(&self, key: u64) -> Option<u64> {
        self.0.binary_search_by_key(&key, |p| p >> 32).ok().map(|i| self.0[i] & 0xffff_ffff)
    }

    /// The names of the fields whose value differs between `self` (before) and `now`. A custom
    /// field present on one side only counts as changed when the other side's value is not empty.
    pub fn changed(&self, now: &Prints) -> Vec<String> {
        let empty = hash("");
        let mut keys: Vec<u64> = self.0.iter().chain(&now.0).map(|p| p >> 32).collect();
        keys.sort_unstable();
        keys.dedup();
        keys.into_iter()
            .filter(|k| self.get(*k).unwrap_or(empty) != now.get(*k).unwrap_or(empty))
            // A key this build does not know (a newer build's state) names nothing.
            .filter_map(|k| match k {
                k if k < CUSTOM_KEY => FIELDS.get(k as usize).map(|f| f.to_string()),
                k => Some(format!("{CUSTOM_PREFIX}{}", k - CUSTOM_KEY)),
            })
            .collect()
    }
}

/// The fields the given history entries changed, as far as the entries record it.
pub fn from_history(acts: &[Act]) -> Vec<String> {
    let mut out = Vec::new();
    for a in acts {
        let moved = [
            (a.old_status.zip(a.new_status).is_some_and(|(o, n)| o != n), "status"),
            (a.priority, "priority"),
            (a.agent, "agent"),
            (a.team, "team"),
        ];
        for (yes, name) in moved {
            if yes {
                out.push(name.to_string());
            }
        }
        if a.note && !moved.iter().any(|(yes, _)| *yes) {
            out.push(NOTE.to_string());
        }
    }
    out
}

/// Both lists as one, without repeats, in a fixed order: the standard fields, then custom fields
/// by ID. `note` stays only when nothing else changed: HaloITSM may write an entry with text for
/// any change, so a note is what a change that touched no field is.
pub fn merge(a: Vec<String>, b: Vec<String>) -> Vec<String> {
    let rank = |f: &String| match FIELDS.iter().position(|x| x == f) {
        Some(i) => (0, i as i64),
        None => match f.strip_prefix(CUSTOM_PREFIX).and_then(|id| id.parse::<i64>().ok()) {
            Some(id) => (1, id),
            None => (2, 0),
        },
    };
    let mut all: Vec<String> = a.into_iter().chain(b).collect();
    all.sort_by_key(rank);
    all.dedup();
    if all.len() > 1 {
        all.retain(|f| f != NOTE);
    }
    all
}

/// Check a `monitored_fields` input: each name known (`allowed` names, or any custom field when
/// `custom` is true). The error names the input and what it accepts.
pub fn monitored(given: Option<&[String]>, allowed: &[&str], custom: bool) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for raw in given.unwrap_or_default() {
        let name = raw.trim().to_ascii_lowercase();
        let is_custom = name.strip_prefix(CUSTOM_PREFIX).and_then(|id| id.parse::<i64>().ok()).is_some_and(|id| id > 0);
        if allowed.contains(&name.as_str()) || (custom && is_custom) {
            out.push(name);
            continue;
        }
        let accepted = if custom { format!("{}, or custom_field_<ID>", allowed.join(", ")) } else { allowed.join(", ") };
        return Err(format!("input `monitored_fields` names `{raw}`, which is not a field this step can watch; it accepts {accepted}"));
    }
    out.dedup();
    Ok(out)
}

/// Whether a change with these changed fields is one the trigger wants: any, when nothing is
/// monitored.
pub fn wanted(changed: &[String], monitored: &[String]) -> bool {
    monitored.is_empty() || changed.iter().any(|c| monitored.contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ticket() -> Value {
        json!({"id": 7, "summary": "Phish", "details": "Body", "status_id": 1, "priority_id": 3, "agent_id": 4, "team_id": 2,
            "category_1": "Security", "tickettype_id": 1, "user_id": 9, "client_id": 12, "site_id": 18, "impact": 2, "urgency": 2,
            "customfields": [{"id": 146, "name": "CFRapid7Reference", "value": "rrn:1"}, {"id": 150, "value": ""}]})
    }

    #[test]
    fn every_field_kind_is_named_when_it_changes() {
        let before = Prints::of(&ticket());
        let edits: [(&str, Value, &str); 14] = [
            ("summary", json!("Phish (confirmed)"), "summary"),
            ("details", json!("More"), "details"),
            ("status_id", json!(2), "status"),
            ("priority_id", json!(1), "priority"),
            ("agent_id", json!(5), "agent"),
            ("team_id", json!(3), "team"),
            ("category_1", json!("Network"), "category"),
            ("tickettype_id", json!(3), "tickettype"),
            ("user_id", json!(10), "user"),
            ("client_id", json!(13), "client"),
            ("site_id", json!(19), "site"),
            ("impact", json!(1), "impact"),
            ("urgency", json!(1), "urgency"),
            ("customfields", json!([{"id": 146, "value": "rrn:2"}, {"id": 150, "value": ""}]), "custom_field_146"),
        ];
        for (key, value, name) in edits {
            let mut t = ticket();
            t[key] = value;
            assert_eq!(before.changed(&Prints::of(&t)), vec![name.to_string()], "{key}");
        }
        assert!(before.changed(&Prints::of(&ticket())).is_empty());
    }

    #[test]
    fn ids_as_strings_and_empty_values_are_no_change() {
        let before = Prints::of(&ticket());
        let mut t = ticket();
        t["agent_id"] = json!("4");
        t["priority_id"] = json!(3.0);
        // A custom field missing from one read, empty on the other, did not change.
        t["customfields"] = json!([{"id": 146, "value": "rrn:1"}]);
        assert!(before.changed(&Prints::of(&t)).is_empty(), "{:?}", before.changed(&Prints::of(&t)));
        let unassigned = Prints::of(&json!({"agent_id": 0}));
        assert!(unassigned.changed(&Prints::of(&json!({}))).is_empty());
        let mut zero = ticket();
        zero["customfields"] = json!([{"id": 146, "value": "rrn:1"}, {"id": 150, "value": "0"}]);
        assert_eq!(before.changed(&Prints::of(&zero)), vec!["custom_field_150"], "a custom field's \"0\" is a value");
        let unknown = Prints(vec![(500 << 32) | 1]);
        assert!(unknown.changed(&Prints::default()).is_empty(), "a key of a newer build names nothing");
        let mut set = ticket();
        set["customfields"] = json!([{"id": 150, "value": "x"}]);
        assert_eq!(before.changed(&Prints::of(&set)), vec!["custom_field_146", "custom_field_150"]);
    }

    #[test]
    fn the_history_names_what_its_entries_record() {
        let base = Act {
            id: 1,
            at: None,
            old_status: Some(1),
            new_status: Some(2),
            actor: Default::default(),
            priority: false,
            agent: false,
            team: false,
            note: true,
        };
        assert_eq!(from_history(&[base]), vec!["status"]);
        let reassigned = Act { old_status: None, new_status: None, agent: true, team: true, ..base };
        assert_eq!(from_history(&[reassigned]), vec!["agent", "team"]);
        let note = Act { old_status: Some(2), new_status: Some(2), ..base };
        assert_eq!(from_history(&[note]), vec!["note"]);
        assert_eq!(
            merge(vec!["note".into(), "custom_field_9".into()], vec!["team".into(), "summary".into(), "team".into()]),
            vec!["summary", "team", "custom_field_9"]
        );
        assert_eq!(merge(vec!["note".into()], vec!["note".into()]), vec!["note"], "a note alone is a note");
    }

    #[test]
    fn monitored_fields_are_checked_and_matched() {
        let all: Vec<&str> = FIELDS.iter().copied().chain([NOTE]).collect();
        assert_eq!(monitored(Some(&["Status".into(), "custom_field_146".into()]), &all, true).unwrap(), vec!["status", "custom_field_146"]);
        let e = monitored(Some(&["colour".into()]), &all, true).unwrap_err();
        assert!(e.contains("`monitored_fields`") && e.contains("`colour`") && e.contains("custom_field_<ID>"), "{e}");
        let e = monitored(Some(&["summary".into()]), &FROM_HISTORY, false).unwrap_err();
        assert!(e.contains("`summary`") && e.contains("status, priority, agent, team, note"), "{e}");
        assert!(monitored(Some(&["custom_field_0".into()]), &all, true).is_err());
        assert!(wanted(&["status".into()], &[]));
        assert!(wanted(&["status".into(), "agent".into()], &["agent".into()]));
        assert!(!wanted(&["note".into()], &["agent".into()]));
    }
}
