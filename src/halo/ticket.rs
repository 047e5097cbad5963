//! HaloITSM's ticket record turned into the plugin's `ticket` type, in one place: names from
//! `*_name` fields or nested objects, sentinel dates dropped, dates as RFC 3339 UTC, unassigned
//! IDs (0) absent, a portal link, and no nulls anywhere.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The `ticket` custom type of plugin.spec.yaml. Absent values are omitted, never null.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Ticket {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tickettype_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tickettype_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category_1: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dateoccurred: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub datecreated: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub datemodified: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lastactiondate: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dateclosed: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customfields: Option<Vec<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

impl Ticket {
    /// Normalise a raw HaloITSM ticket. `url_of` builds the portal link from the ticket ID.
    pub fn from_halo(raw: &Value, url_of: impl Fn(i64) -> String) -> Ticket {
        let id = int(raw, "id").filter(|i| *i > 0);
        let dateclosed = date(raw, "dateclosed");
        Ticket {
            id,
            summary: string(raw, "summary"),
            details: string(raw, "details").or_else(|| string(raw, "details_html")),
            tickettype_id: int(raw, "tickettype_id").or_else(|| nested_int(raw, "tickettype")),
            tickettype_name: string(raw, "tickettype_name").or_else(|| nested_name(raw, "tickettype")),
            status_id: int(raw, "status_id").or_else(|| nested_int(raw, "status")),
            status_name: string(raw, "status_name").or_else(|| nested_name(raw, "status")),
            priority_id: int(raw, "priority_id").or_else(|| nested_int(raw, "priority")),
            priority_name: string(raw, "priority_name").or_else(|| nested_name(raw, "priority")),
            category_id: positive(int(raw, "categoryid_1").or_else(|| int(raw, "category_id"))),
            category_1: string(raw, "category_1"),
            agent_id: positive(int(raw, "agent_id").or_else(|| nested_int(raw, "agent"))),
            agent_name: assigned_name(raw, "agent_id", string(raw, "agent_name").or_else(|| nested_name(raw, "agent"))),
            agent_email: string(raw, "agent_email").or_else(|| nested_str(raw, "agent", "email")),
            team_id: positive(int(raw, "team_id")),
            // HaloITSM's `team` is the team NAME; some builds nest an object instead.
            team_name: assigned_name(
                raw,
                "team_id",
                string(raw, "team_name").or_else(|| string(raw, "team")).or_else(|| nested_name(raw, "team")),
            ),
            client_id: positive(int(raw, "client_id")),
            client_name: string(raw, "client_name").or_else(|| nested_name(raw, "client")),
            site_id: positive(int(raw, "site_id")),
            // T13: 0 is no parent.
            parent_id: positive(int(raw, "parent_id")),
            site_name: string(raw, "site_name").or_else(|| nested_name(raw, "site")),
            user_id: positive(int(raw, "user_id")),
            user_name: string(raw, "user_name").or_else(|| nested_name(raw, "user")),
            user_email: string(raw, "user_email").or_else(|| string(raw, "user_emailaddress")),
            dateoccurred: date(raw, "dateoccurred"),
            datecreated: date(raw, "datecreated").or_else(|| date(raw, "dateoccurred")),
            datemodified: date(raw, "last_update").or_else(|| date(raw, "datemodified")).or_else(|| date(raw, "lastactiondate")),
            lastactiondate: date(raw, "lastactiondate"),
            closed: closed_flag(raw).or_else(|| raw.get("closed").and_then(Value::as_bool)).or(dateclosed.as_ref().map(|_| true)),
            dateclosed,
            customfields: raw
                .get("customfields")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter(|v| v.is_object()).map(strip_nulls).collect()),
            url: id.map(url_of),
        }
    }

    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Object(Map::new()))
    }
}

fn positive(v: Option<i64>) -> Option<i64> {
    v.filter(|i| *i > 0)
}

/// A name only when the matching ID is assigned (HaloITSM names unassigned agents "Unassigned").
fn assigned_name(raw: &Value, id_key: &str, name: Option<String>) -> Option<String> {
    match int(raw, id_key) {
        Some(i) if i <= 0 => None,
        _ => name,
    }
}

/// HaloITSM's own `hasbeenclosed` flag, when the record has it (a full read or webhook object;
/// list rows do not: docs/halo-api.md#L3, T11).
pub fn closed_flag(raw: &Value) -> Option<bool> {
    match raw.get("hasbeenclosed")? {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_i64().map(|i| i != 0),
        Value::String(s) => s.trim().parse::<bool>().ok(),
        _ => None,
    }
}

/// An integer field, accepting numbers and numeric strings (some builds quote IDs).
pub fn int(raw: &Value, key: &str) -> Option<i64> {
    as_int(raw.get(key)?)
}

/// A priority a write asked for that the saved ticket does not have: HaloITSM replaces a priority
/// the ticket type's SLA lacks without a word (docs/halo-api.md#P3). Err names the ticket, what was
/// asked and what it kept; an answer that shows no priority is not held against the write.
pub fn check_priority_kept(saved: &Value, asked: Option<i64>) -> Result<(), super::HaloError> {
    match (asked, int(saved, "priority_id")) {
        (Some(asked), Some(kept)) if kept != asked => {
            Err(super::HaloError::PriorityNotKept { id: int(saved, "id").unwrap_or_default(), asked, kept })
        }
        _ => Ok(()),
    }
}

/// A number, or a numeric string, as an integer (`3`, `3.0` and `"3"` alike: docs/halo-api.md#K1).
pub fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15).map(|f| f as i64)),
        Value::String(s) => {
            let s = s.trim();
            s.parse().ok().or_else(|| s.parse::<f64>().ok().filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15).map(|f| f as i64))
        }
        _ => None,
    }
}

/// A non-empty string field.
pub fn string(raw: &Value, key: &str) -> Option<String> {
    match raw.get(key)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        _ => None,
    }
}

fn nested_name(raw: &Value, key: &str) -> Option<String> {
    nested_str(raw, key, "name")
}

fn nested_str(raw: &Value, key: &str, field: &str) -> Option<String> {
    match raw.get(key)?.get(field)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        _ => None,
    }
}

fn nested_int(raw: &Value, key: &str) -> Option<i64> {
    as_int(raw.get(key)?.get("id")?)
}

/// A date field as RFC 3339 UTC, or None for absent/sentinel/unparseable values.
pub fn date(raw: &Value, key: &str) -> Option<String> {
    parse_halo_date(raw.get(key)?.as_str()?).map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
}

/// Parse one of HaloITSM's date forms (zone-less UTC, with or without fraction, or RFC 3339).
/// Dates before 1901 are HaloITSM's "not set" sentinels (1899-12-30, 1900-01-01).
pub fn parse_halo_date(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    let parsed = DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .ok()
        // HaloITSM's own form (no offset); `parse` reads it without compiling a format string.
        .or_else(|| s.parse::<NaiveDateTime>().ok().map(|n| n.and_utc()))
        .or_else(|| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").ok().map(|n| n.and_utc()))?;
    use chrono::Datelike;
    (parsed.year() > 1900 && parsed.year() <= 9999).then_some(parsed)
}

/// A copy without null members (recursively), so free-form objects validate as output.
pub fn strip_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), strip_nulls(v))).collect()),
        Value::Array(a) => Value::Array(a.iter().filter(|v| !v.is_null()).map(strip_nulls).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn url(id: i64) -> String {
        format!("https://h.example.com/ticket?id={id}")
    }

    #[test]
    fn normalises_a_full_record() {
        let raw = json!({
            "id": 1042, "summary": "Phish", "details": "<p>x</p>", "tickettype_id": 4, "tickettype_name": "Security Incident",
            "status_id": 2, "status_name": "In Progress", "priority_id": 2, "priority_name": "High",
            "agent_id": 3, "agent_name": "Alex", "team": "Security Operations", "team_id": 2,
            "client_id": 1, "client_name": "Acme", "site_id": 1, "site_name": "HQ", "user_id": 7, "user_name": "Jordan",
            "categoryid_1": 10, "category_1": "Security>Phishing",
            "dateoccurred": "2026-09-01T08:00:00", "datecreated": "2026-09-01T08:00:00.1234567",
            "last_update": "2026-09-01T09:30:00", "lastactiondate": "2026-09-01T09:30:00",
            "dateclosed": "1900-01-01T00:00:00", "hasbeenclosed": false,
            "customfields": [{"id": 101, "name": "CFSecurityReference", "value": "rrn:1", "display": null}],
            "sla_id": 1, "unknown_field": "ignored"
        });
        let t = Ticket::from_halo(&raw, url);
        assert_eq!(t.id, Some(1042));
        assert_eq!(t.team_name.as_deref(), Some("Security Operations"));
        assert_eq!(t.category_id, Some(10));
        assert_eq!(t.datecreated.as_deref(), Some("2026-09-01T08:00:00.123456700Z"));
        assert_eq!(t.dateoccurred.as_deref(), Some("2026-09-01T08:00:00Z"));
        assert_eq!(t.datemodified.as_deref(), Some("2026-09-01T09:30:00Z"));
        assert_eq!(t.dateclosed, None, "sentinel dates are absent");
        assert_eq!(t.closed, Some(false));
        assert_eq!(t.customfields, Some(vec![json!({"id": 101, "name": "CFSecurityReference", "value": "rrn:1"})]));
        assert_eq!(t.url.as_deref(), Some("https://h.example.com/ticket?id=1042"));
    }

    #[test]
    fn unassigned_ticket_has_no_agent_team_or_category_and_no_nulls() {
        let raw = json!({"id": 7, "summary": "s", "agent_id": 0, "agent_name": "Unassigned", "team_id": 0, "team": "",
                          "categoryid_1": 0, "category_1": null, "user_name": null, "dateclosed": "1899-12-30T00:00:00"});
        let v = Ticket::from_halo(&raw, url).to_value();
        for k in ["agent_id", "agent_name", "team_id", "team_name", "category_id", "category_1", "user_name", "dateclosed"] {
            assert!(v.get(k).is_none(), "{k} should be absent in {v}");
        }
        assert!(!v.to_string().contains("null"));
    }

    #[test]
    fn names_from_nested_objects_and_quoted_ids() {
        let raw = json!({"id": "12", "status": {"id": 5, "name": "Closed"}, "agent": {"id": 3, "name": "Alex", "email": "a@x"}});
        let t = Ticket::from_halo(&raw, url);
        assert_eq!(t.id, Some(12));
        assert_eq!((t.status_id, t.status_name.as_deref()), (Some(5), Some("Closed")));
        assert_eq!((t.agent_id, t.agent_name.as_deref(), t.agent_email.as_deref()), (Some(3), Some("Alex"), Some("a@x")));
    }

    #[test]
    fn dates_in_every_form() {
        assert_eq!(parse_halo_date("2026-09-25T06:41:08.7895915Z").map(|d| d.timestamp()), Some(1790318468));
        assert!(parse_halo_date("2026-09-25 06:41:08").is_some());
        assert_eq!(parse_halo_date("2026-09-25T06:41:08.5").map(|d| d.timestamp_millis()), Some(1790318468500));
        assert!(parse_halo_date("1900-01-01T00:00:00").is_none());
        assert!(parse_halo_date("not a date").is_none());
        assert!(parse_halo_date("+10000-01-01T00:00:00Z").is_none(), "years RFC 3339 cannot write are dropped");
    }
}
