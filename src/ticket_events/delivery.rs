//! How a HaloITSM webhook delivery is read, in one place for the listener (which refuses what it
//! cannot read) and the engine (which acts on it). A delivery names its ticket in `object_id`;
//! the ticket object (small or full payload) sits under `ticket`; IDs may be numbers, `3.0` or
//! strings (docs/halo-api.md#W2, W3, W10).

use serde_json::Value;

use chrono::{DateTime, Utc};

use crate::halo::ticket::{as_int, int, parse_halo_date};

/// The member a non-object item of a batch is replaced by before the input is checked against
/// the spec (`process_webhook`), so that the item is refused alone, by its place in the batch.
pub const NOT_AN_OBJECT: &str = "__not_a_json_object";

/// What one delivery says.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// HaloITSM's ID of the delivery (a GUID), when it has one.
    pub id: Option<String>,
    pub ticket_id: i64,
    /// The ticket object, when the payload carries one for this ticket.
    pub ticket: Option<Value>,
    /// The event's name, lower case (`"new ticket logged"`, `"ticket status changed"`, ...).
    pub event: String,
    /// The agent the delivery names.
    pub agent_id: Option<i64>,
    /// When HaloITSM queued the delivery (`timestamp`, docs/halo-api.md#W2).
    pub at: Option<DateTime<Utc>>,
    /// The history entry the delivery carries (`action`, full payloads only, W1).
    pub action: Option<Value>,
}

/// Why a delivery cannot be read, at its place in a batch; it never echoes the payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("delivery {index} {why}")]
pub struct Unreadable {
    pub index: usize,
    pub why: Why,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Why {
    #[error("is not a JSON object")]
    NotAnObject,
    /// A step's input marked it (`NOT_AN_OBJECT`) with what it was instead.
    #[error("is not a JSON object (it is {0})")]
    NotAnObjectBut(String),
    #[error("has no ticket ID (`object_id` or `ticket.id`)")]
    NoTicketId,
}

impl Delivery {
    /// Read a delivery; the error says what is missing. `index` is its place in a batch.
    pub fn read(d: &Value, index: usize) -> Result<Delivery, Unreadable> {
        let unreadable = |why| Unreadable { index, why };
        let Some(obj) = d.as_object() else { return Err(unreadable(Why::NotAnObject)) };
        if let Some(kind) = obj.get(NOT_AN_OBJECT).and_then(Value::as_str) {
            return Err(unreadable(Why::NotAnObjectBut(kind.to_string())));
        }
        let ticket = obj.get("ticket").or_else(|| obj.get("object")).filter(|t| t.is_object());
        let ticket_id = obj.get("object_id").and_then(as_int).or_else(|| ticket.and_then(|t| int(t, "id"))).filter(|id| *id > 0);
        let Some(ticket_id) = ticket_id else {
            return Err(unreadable(Why::NoTicketId));
        };
        let id = match obj.get("id") {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        Ok(Delivery {
            id,
            ticket_id,
            ticket: ticket.filter(|t| int(t, "id").is_none_or(|i| i == ticket_id)).cloned(),
            event: obj.get("event").and_then(Value::as_str).unwrap_or_default().trim().to_ascii_lowercase(),
            agent_id: obj.get("agent_id").and_then(as_int).filter(|a| *a > 0),
            at: obj.get("timestamp").and_then(Value::as_str).and_then(parse_halo_date),
            action: obj.get("action").filter(|a| a.is_object() && int(a, "id").is_some_and(|id| id > 0)).cloned(),
        })
    }

    /// The delivery says the ticket is new ("New Ticket Logged").
    pub fn is_new_ticket(&self) -> bool {
        self.event.contains("new ticket") || self.event.contains("logged")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_the_captured_shape_and_its_variants() {
        let captured = json!({"id": "8e25bc7b-e07e-4102-9398-5d6647e1e79d", "webhook_id": "53232637-7724-4a19-b126-3c7267a292aa",
            "notification_id": 41, "event": "ticket status changed", "object_id": 4242, "agent_id": 3,
            "ticket": {"id": 4242, "status_id": 9, "hasbeenclosed": true}});
        let d = Delivery::read(&captured, 0).unwrap();
        assert_eq!((d.ticket_id, d.id.as_deref(), d.agent_id), (4242, Some("8e25bc7b-e07e-4102-9398-5d6647e1e79d"), Some(3)));
        assert_eq!(d.ticket.as_ref().and_then(|t| int(t, "status_id")), Some(9));
        assert!(!d.is_new_ticket());
        assert_eq!(d.at, None);
        let stamped = json!({"object_id": 1, "timestamp": "2026-09-01T10:00:05.1234567Z", "action": {"id": 77, "ticket_id": 1}});
        let d = Delivery::read(&stamped, 0).unwrap();
        assert_eq!(d.at.map(|t| t.to_rfc3339()), Some("2026-09-01T10:00:05.123456700+00:00".into()));
        assert_eq!(d.action.as_ref().and_then(|a| int(a, "id")), Some(77));
        let strings = json!({"id": 7, "object_id": "4242", "agent_id": "3.0", "event": "New Ticket Logged", "ticket": {"id": "4242"}});
        let d = Delivery::read(&strings, 0).unwrap();
        assert_eq!((d.ticket_id, d.id.as_deref(), d.agent_id, d.is_new_ticket()), (4242, Some("7"), Some(3), true));
        assert_eq!(Delivery::read(&json!({"ticket": {"id": 5}}), 0).map(|d| d.ticket_id), Ok(5));
        assert_eq!(Delivery::read(&json!({"object": {"id": 5}}), 0).map(|d| d.ticket_id), Ok(5));
        // A ticket object for another ticket than the one named is not this ticket's.
        assert_eq!(Delivery::read(&json!({"object_id": 5, "ticket": {"id": 6}}), 0).map(|d| d.ticket), Ok(None));
        assert_eq!(
            Delivery::read(&json!({"event": "x"}), 2).unwrap_err().to_string(),
            "delivery 2 has no ticket ID (`object_id` or `ticket.id`)"
        );
        assert!(Delivery::read(&json!("x"), 0).is_err());
        assert!(Delivery::read(&json!({"object_id": "abc"}), 0).is_err());
        assert!(Delivery::read(&json!({"object_id": -1}), 0).is_err());
    }
}
