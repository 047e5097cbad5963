//! HaloITSM's webhook configuration and delivery log over the API (docs/halo-api.md W17–W22):
//! what `setup_webhook` and `check_webhook` read and write. Every answer is checked: rows that
//! are not objects, or a log row of another webhook (filters may be hints, Q6), are left out.

use serde_json::{Value, json};

use super::{HaloClient, HaloError, rows_of};

/// Delivery log rows asked for at once: a log answers a capped page unless asked (as action
/// lists do, A11), and a day of failures fits.
pub const DELIVERY_LOG_ROWS: usize = 1_000;

/// Whether `id` has the form of a HaloITSM webhook ID (a GUID, W17): only such an ID goes into a
/// request path.
pub fn is_webhook_id(id: &str) -> bool {
    id.len() == 36 && id.chars().enumerate().all(|(i, c)| if matches!(i, 8 | 13 | 18 | 23) { c == '-' } else { c.is_ascii_hexdigit() })
}

/// A webhook's ID, when the record carries one of the right form.
pub fn webhook_id_of(record: &Value) -> Option<String> {
    record.get("id").and_then(Value::as_str).map(str::to_ascii_lowercase).filter(|id| is_webhook_id(id))
}

/// The record a `POST /Webhook` answered: an object, or the last object of an array (HNODE reads
/// either, W18); `Null` for anything else, an empty answer included.
fn record_of(answer: Value) -> Value {
    match answer {
        Value::Object(_) => answer,
        Value::Array(mut items) => items.pop().filter(Value::is_object).unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

impl HaloClient {
    /// Every webhook of the tenant (`GET /Webhook`: a bare array, W17, or a keyed list).
    pub async fn webhooks(&self) -> Result<Vec<Value>, HaloError> {
        let answer = self.get("Webhook", &[]).await?;
        let (rows, _) = rows_of(answer, "webhooks").map_err(|got| HaloError::Unexpected {
            status: 200,
            message: format!("expected a list of webhooks from /Webhook, got {got}"),
        })?;
        Ok(rows.into_iter().filter(Value::is_object).collect())
    }

    /// One webhook with every field (`GET /Webhook/{id}?includedetails=true`); None when gone.
    pub async fn webhook(&self, id: &str) -> Result<Option<Value>, HaloError> {
        if !is_webhook_id(id) {
            return Ok(None);
        }
        let found = self.get_optional(&format!("Webhook/{id}"), &[("includedetails", "true".into())]).await?;
        Ok(found.filter(|w| webhook_id_of(w).as_deref() == Some(id)))
    }

    /// Create a webhook (no `id`) or change one (`id` set): `POST /Webhook` with a one-element
    /// array (W18); the saved record as HaloITSM answers it, or `Null` when the answer holds none
    /// (the spec declares none: the caller reads the webhook back).
    pub async fn save_webhook(&self, record: Value) -> Result<Value, HaloError> {
        Ok(record_of(self.post("Webhook", &[], &Value::Array(vec![record])).await?))
    }

    /// Test-fire a webhook: `POST /Webhook [{id, _test: true}]` (W19); HaloITSM's answer (the
    /// record, with `_test_result` where the tenant gives one), or `Null`.
    pub async fn test_webhook(&self, id: &str) -> Result<Value, HaloError> {
        Ok(record_of(self.post("Webhook", &[], &json!([{"id": id, "_test": true}])).await?))
    }

    /// The delivery log of webhook `id`, newest first as far as HaloITSM orders it (W20); None
    /// when the tenant offers no log over the API (404).
    pub async fn webhook_deliveries(&self, id: &str) -> Result<Option<Vec<Value>>, HaloError> {
        let query = [("webhook_id", id.to_string()), ("count", DELIVERY_LOG_ROWS.to_string())];
        let answer = match self.get("WebhookEvent", &query).await {
            Ok(a) => a,
            Err(HaloError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let (rows, _) = rows_of(answer, "webhookevents").map_err(|got| HaloError::Unexpected {
            status: 200,
            message: format!("expected a list of webhook deliveries from /WebhookEvent, got {got}"),
        })?;
        let mine = |r: &Value| r.get("webhook_id").and_then(Value::as_str).is_none_or(|w| w.eq_ignore_ascii_case(id));
        Ok(Some(rows.into_iter().filter(|r| r.is_object() && mine(r)).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_guids_are_webhook_ids() {
        assert!(is_webhook_id("0f8fad5b-d9cb-469f-a165-70867728950e"));
        for bad in [
            "",
            "42",
            "0f8fad5b-d9cb-469f-a165-70867728950",
            "0f8fad5b/d9cb-469f-a165-70867728950e",
            "../../Tickets/1-aaaa-bbbb-cccc-dddddddddddd",
        ] {
            assert!(!is_webhook_id(bad), "{bad}");
        }
        assert_eq!(
            webhook_id_of(&json!({"id": "0F8FAD5B-D9CB-469F-A165-70867728950E"})).as_deref(),
            Some("0f8fad5b-d9cb-469f-a165-70867728950e")
        );
        assert_eq!(webhook_id_of(&json!({"id": 7})), None);
    }
}
