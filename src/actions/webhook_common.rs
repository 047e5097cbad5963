//! What `setup_webhook` and `check_webhook` share: which webhook is this integration's, the
//! events it may subscribe to, and what a refusal of the webhook endpoints means
//! (docs/halo-api.md W17–W22).

use serde_json::Value;

use super::common::invalid_input;
use crate::halo::webhooks::webhook_id_of;
use crate::halo::{HaloClient, HaloError};
use crate::protocol::PluginError;

/// The name this integration's webhook has unless the step is told another.
pub const DEFAULT_NAME: &str = "Rapid7 InsightConnect";

/// Halo's event names a webhook can subscribe to, as Halo spells them (W5): "New Ticket Logged",
/// "Ticket Status Changed" and "Ticket Reassigned" have sources; "Ticket Updated" and
/// "Ticket Closed" are the events deliveries are seen to carry.
pub const KNOWN_EVENTS: &[&str] = &["New Ticket Logged", "Ticket Status Changed", "Ticket Reassigned", "Ticket Updated", "Ticket Closed"];

/// Events subscribed to when none are given: a new ticket and every status change, the two best
/// sourced (W5), which is what ticket-status sync needs.
pub fn default_events() -> Vec<String> {
    vec!["New Ticket Logged".into(), "Ticket Status Changed".into()]
}

pub fn default_name() -> String {
    DEFAULT_NAME.into()
}

/// The webhook's name, trimmed; refused when empty.
pub fn checked_name(action: &str, name: &str) -> Result<String, PluginError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(invalid_input(
            action,
            "input `name` must be 1 to 100 characters",
            "Name the webhook as HaloITSM should list it, e.g. Rapid7 InsightConnect.",
        ));
    }
    Ok(name.to_string())
}

/// The event names of a webhook record, in Halo's spelling where known.
pub fn event_names(record: &Value) -> Vec<String> {
    let events = record.get("events").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    events.iter().filter_map(|e| e.get("name").and_then(Value::as_str)).map(|n| canonical_event(n).unwrap_or(n).to_string()).collect()
}

/// An event name in Halo's spelling, whatever its case and spacing.
pub fn canonical_event(name: &str) -> Option<&'static str> {
    let wanted: String = name.split_whitespace().collect::<Vec<_>>().join(" ");
    KNOWN_EVENTS.iter().copied().find(|k| k.eq_ignore_ascii_case(&wanted))
}

/// This integration's webhook: the one with ID `id` when given, else the first named `name`
/// (any case). The second element counts the other webhooks of that name.
pub fn find_ours<'a>(rows: &'a [Value], name: &str, id: Option<&str>) -> (Option<&'a Value>, usize) {
    if let Some(id) = id {
        let id = id.to_ascii_lowercase();
        return (rows.iter().find(|r| webhook_id_of(r).as_deref() == Some(id.as_str())), 0);
    }
    let mut named = rows.iter().filter(|r| r.get("name").and_then(Value::as_str).is_some_and(|n| n.trim().eq_ignore_ascii_case(name)));
    let first = named.next();
    (first, named.count())
}

/// The record with every field: the list row when it has the fields `needed`, else the
/// webhook read on its own (a tenant's list rows may be thin, W17).
pub async fn full_record(client: &HaloClient, row: &Value, needed: &[&str]) -> Result<Value, HaloError> {
    if needed.iter().all(|k| row.get(*k).is_some()) {
        return Ok(row.clone());
    }
    let Some(id) = webhook_id_of(row) else { return Ok(row.clone()) };
    Ok(client.webhook(&id).await?.unwrap_or_else(|| row.clone()))
}

/// What a refusal of the webhook endpoints means for the user; other failures as they are.
pub fn refusal(action: &str, e: HaloError) -> PluginError {
    match e {
        HaloError::Forbidden { .. } => PluginError::client(
            format!("HaloITSM does not let this API application manage webhooks (HTTP 403 on /Webhook, action `{action}`)."),
            "In HaloITSM open Configuration > Integrations > HaloITSM API > View Applications, pick this application and, under \
             Permissions, grant `admin` (webhooks are configuration; HaloITSM does not publish which permission guards them), and \
             make sure the agent it logs in as may change configuration. Or create the webhook by hand (help: Webhooks, Through an API \
             Trigger). Nothing was changed.",
        ),
        HaloError::NotFound { .. } => PluginError::client(
            format!("This HaloITSM offers no webhooks over its API (HTTP 404 on /Webhook, action `{action}`)."),
            "Create the webhook by hand in HaloITSM (help: Webhooks, Through an API Trigger), and run the Ticket Updated trigger as the \
             safety net for deliveries HaloITSM misses. Nothing was changed.",
        ),
        other => other.into(),
    }
}

/// Whether a webhook record is on: active and not switched off.
pub fn is_on(record: &Value) -> bool {
    record.get("active") != Some(&Value::Bool(false)) && !switched_off(record)
}

/// Whether HaloITSM switched the webhook off (W19): `disabled`, set after failed deliveries.
pub fn switched_off(record: &Value) -> bool {
    record.get("disabled") == Some(&Value::Bool(true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_are_known_by_name_in_any_case() {
        assert_eq!(canonical_event(" ticket  status changed "), Some("Ticket Status Changed"));
        assert_eq!(canonical_event("Ticket Deleted"), None);
        let record = json!({"events": [{"id": 4, "name": "new ticket logged"}, {"name": "Custom Thing"}, {"id": 5}]});
        assert_eq!(event_names(&record), vec!["New Ticket Logged".to_string(), "Custom Thing".to_string()]);
    }

    #[test]
    fn ours_is_found_by_id_or_by_name() {
        let a = "0f8fad5b-d9cb-469f-a165-70867728950e";
        let rows = vec![json!({"id": a, "name": "Rapid7 InsightConnect"}), json!({"id": "x", "name": "rapid7 insightconnect "})];
        let (found, others) = find_ours(&rows, "Rapid7 InsightConnect", None);
        assert_eq!((found.map(|r| r["id"].clone()), others), (Some(json!(a)), 1));
        assert_eq!(find_ours(&rows, "other", Some(&a.to_uppercase())).0.map(|r| r["id"].clone()), Some(json!(a)));
        assert!(find_ours(&rows, "nobody", None).0.is_none());
    }
}
