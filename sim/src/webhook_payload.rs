//! What a webhook delivery carries: the envelope Halo posts for one change [W2], in the payload
//! the webhook asks for [W3], and the GUIDs and timestamps in Halo's forms.

use chrono::{DateTime, Timelike, Utc};
use serde_json::{Map, Value, json};

use super::events::{ChangeEvent, ChangeKind};
use super::webhooks::{Payload, WebhookConfig};

/// Halo's notification event names and the ids this simulator gives them.
const EVENT_NEW_TICKET: (&str, i64, &str) = ("new ticket logged", 1, "A new ticket has been logged");
const EVENT_CLOSED: (&str, i64, &str) = ("ticket closed", 2, "The ticket has been closed");
const EVENT_UPDATED: (&str, i64, &str) = ("ticket updated", 3, "The ticket has been updated");
const EVENT_STATUS_CHANGED: (&str, i64, &str) = ("ticket status changed", 41, "The status has been changed");

/// Halo's event for a change; None for a deletion (Halo sends no webhook for it) [W5, W12].
fn event_of(ev: &ChangeEvent) -> Option<(&'static str, i64, &'static str)> {
    Some(match ev.kind {
        ChangeKind::Created => EVENT_NEW_TICKET,
        ChangeKind::StatusChanged if ev.closed => EVENT_CLOSED,
        ChangeKind::StatusChanged => EVENT_STATUS_CHANGED,
        ChangeKind::Updated | ChangeKind::ActionAdded => EVENT_UPDATED,
        ChangeKind::Deleted => return None,
    })
}

/// Whether a webhook subscribed to `wanted` (Halo's event names, any case) is sent this change.
/// A close is a status change too: "Ticket Status Changed" is sent it (the simulator's reading).
pub(crate) fn wanted_by(ev: &ChangeEvent, wanted: &[String]) -> bool {
    let Some((name, _, _)) = event_of(ev) else { return false };
    let names: &[&str] = if name == EVENT_CLOSED.0 { &[EVENT_CLOSED.0, EVENT_STATUS_CHANGED.0] } else { &[name] };
    wanted.iter().any(|w| names.iter().any(|n| w.trim().eq_ignore_ascii_case(n)))
}

/// A random GUID in the usual 8-4-4-4-12 lower-case hex form (version 4, RFC 4122 variant).
pub(crate) fn guid() -> String {
    let mut x = fastrand::u128(..);
    x = (x & !(0xf << 76)) | (0x4 << 76);
    x = (x & !(0x3 << 62)) | (0x2 << 62);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        x >> 96,
        (x >> 80) & 0xffff,
        (x >> 64) & 0xffff,
        (x >> 48) & 0xffff,
        x & 0xffff_ffff_ffff
    )
}

/// UTC with seven fraction digits and `Z`, as Halo stamps its webhook deliveries.
pub(crate) fn halo_timestamp(at: DateTime<Utc>) -> String {
    format!("{}.{:07}Z", at.format("%Y-%m-%dT%H:%M:%S"), (at.nanosecond() % 1_000_000_000) / 100)
}

/// The delivery object for one change [W2]; `None` for changes Halo sends no webhook for
/// (deletion). `ev.ticket` is the ticket as a full read shows it.
pub(crate) fn payload(ev: ChangeEvent, webhook_id: &str, cfg: &WebhookConfig, at: DateTime<Utc>) -> Option<Value> {
    if cfg.payload == Payload::Custom {
        return super::custom_payload::render(cfg.custom_payload.as_deref().unwrap_or("{}"), &ev.ticket).ok();
    }
    let (event, notification_id, message) = event_of(&ev)?;
    let mut m = Map::new();
    m.insert("id".into(), json!(guid()));
    m.insert("webhook_id".into(), json!(webhook_id));
    m.insert("notification_id".into(), json!(notification_id));
    m.insert("escmsg_id".into(), json!(guid()));
    m.insert("event".into(), json!(event));
    m.insert("message".into(), json!(format!("{message} for Ticket ID: {:07}.", ev.ticket_id)));
    m.insert("object_id".into(), json!(ev.ticket_id));
    m.insert("agent_id".into(), json!(ev.agent_id));
    m.insert("timestamp".into(), json!(halo_timestamp(at)));
    match cfg.payload {
        Payload::EventOnly | Payload::Custom => {}
        Payload::Small => {
            m.insert("ticket".into(), super::profile::small_object(&ev.ticket));
        }
        Payload::Full => {
            m.insert("ticket".into(), ev.ticket);
            if let Some(a) = ev.action {
                m.insert("action".into(), a);
            }
        }
    }
    let mut v = Value::Object(m);
    if cfg.ids_as_strings {
        numbers_to_strings(&mut v);
    }
    Some(v)
}

/// Every number in a value as a string (`4242` → `"4242"`).
fn numbers_to_strings(v: &mut Value) {
    match v {
        Value::Number(n) => *v = Value::String(n.to_string()),
        Value::Array(a) => a.iter_mut().for_each(numbers_to_strings),
        Value::Object(o) => o.values_mut().for_each(numbers_to_strings),
        _ => {}
    }
}

/// A change of ticket 1042 (closed or not) with an action, for the webhook tests.
#[cfg(test)]
pub(crate) fn test_event(kind: ChangeKind, closed: bool) -> ChangeEvent {
    ChangeEvent {
        seq: 0,
        kind,
        ticket_id: 1042,
        old_status: Some(1),
        new_status: Some(if closed { 9 } else { 2 }),
        agent_id: 3,
        timestamp: String::new(),
        ticket: json!({"id": 1042, "hasbeenclosed": closed, "summary": "s", "details": "d", "status_id": 2}),
        action: Some(json!({"id": 7})),
        closed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::test_event as ev;

    #[test]
    fn guids_have_the_usual_shape() {
        let g = guid();
        let parts: Vec<_> = g.split('-').map(str::len).collect();
        assert_eq!(parts, vec![8, 4, 4, 4, 12], "{g}");
        assert!(g.chars().all(|c| c == '-' || c.is_ascii_hexdigit() && !c.is_ascii_uppercase()), "{g}");
        assert_eq!(&g[14..15], "4");
        assert!(matches!(&g[19..20], "8" | "9" | "a" | "b"), "{g}");
        assert_ne!(guid(), guid());
    }

    #[test]
    fn timestamps_are_utc_with_seven_fraction_digits() {
        let at = DateTime::parse_from_rfc3339("2026-09-25T06:41:08.789591512Z").map(|d| d.with_timezone(&Utc));
        assert_eq!(at.map(halo_timestamp).ok().as_deref(), Some("2026-09-25T06:41:08.7895915Z"));
    }

    #[test]
    fn payloads_map_kinds_to_halo_events() {
        let at = Utc::now();
        let full = WebhookConfig::default();
        let name = |kind, closed| payload(ev(kind, closed), "w", &full, at).map(|p| p["event"].clone());
        assert_eq!(name(ChangeKind::Created, false), Some(json!("new ticket logged")));
        assert_eq!(name(ChangeKind::Updated, false), Some(json!("ticket updated")));
        assert_eq!(name(ChangeKind::ActionAdded, false), Some(json!("ticket updated")));
        assert_eq!(name(ChangeKind::StatusChanged, false), Some(json!("ticket status changed")));
        assert_eq!(name(ChangeKind::StatusChanged, true), Some(json!("ticket closed")));
        assert_eq!(name(ChangeKind::Deleted, false), None);

        let p = payload(ev(ChangeKind::StatusChanged, false), "w", &full, at).unwrap_or_default();
        assert_eq!(p["message"], json!("The status has been changed for Ticket ID: 0001042."));
        assert_eq!((p["object_id"].as_i64(), p["agent_id"].as_i64(), p["notification_id"].as_i64()), (Some(1042), Some(3), Some(41)));
        assert_eq!(p["webhook_id"], json!("w"));
        assert_eq!(p["ticket"]["id"], json!(1042));
        assert_eq!(p["action"]["id"], json!(7));
        let event_only = WebhookConfig { payload: Payload::EventOnly, ..WebhookConfig::default() };
        let only = payload(ev(ChangeKind::Updated, false), "w", &event_only, at).unwrap_or_default();
        assert!(only.get("ticket").is_none() && only.get("action").is_none() && only.get("object_id").is_some());
        let small = WebhookConfig { payload: Payload::Small, ..WebhookConfig::default() };
        let p = payload(ev(ChangeKind::Updated, false), "w", &small, at).unwrap_or_default();
        assert!(p["ticket"].get("details").is_none() && p["ticket"]["status_id"] == json!(2) && p.get("action").is_none());
        let custom = WebhookConfig {
            payload: Payload::Custom,
            custom_payload: Some(r#"{"ticket": <<ticket>>}"#.into()),
            ..WebhookConfig::default()
        };
        let p = payload(ev(ChangeKind::Updated, false), "w", &custom, at).unwrap_or_default();
        assert_eq!(p.as_object().map(|o| o.keys().collect::<Vec<_>>()), Some(vec![&"ticket".to_string()]));
        assert_eq!(p["ticket"]["id"], json!(1042));
        assert!(WebhookConfig { url: "http://x/".into(), payload: Payload::Custom, ..WebhookConfig::default() }.validate().is_err());
        let strings = WebhookConfig { ids_as_strings: true, ..WebhookConfig::default() };
        let p = payload(ev(ChangeKind::Updated, false), "w", &strings, at).unwrap_or_default();
        assert_eq!((p["object_id"].clone(), p["ticket"]["id"].clone()), (json!("1042"), json!("1042")));
    }
}
