//! HaloITSM's webhook configuration over the API [W17–W22]: `GET`/`POST /Webhook`,
//! `GET`/`DELETE /Webhook/{id}`, a test-fire (`POST /Webhook [{id, _test: true}]`), switching a
//! failing webhook off after `auto_disable_attempts` failures in a row, and the delivery log
//! `GET /WebhookEvent`. A saved webhook that is active and not switched off becomes what the
//! simulator's sender (`webhooks.rs`) delivers to; the last one saved wins (one at a time).
//!
//! How a tenant shows all this varies or is not public, so each part is a setting
//! ([`WebhookApiVariant`]): whether the API application may manage webhooks at all, whether list
//! rows carry every field, and whether (and in which envelope) the delivery log is offered.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::webhooks::{Payload, WebhookConfig};

/// Who may use the webhook endpoints [W21].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum WebhookAccess {
    /// The API application may list, create, change and delete webhooks.
    #[default]
    Allowed,
    /// The API application lacks the permission: every webhook endpoint answers 403.
    Forbidden,
    /// The endpoints do not exist on this build: 404.
    Absent,
}

/// How `GET /WebhookEvent` answers [W20]: its envelope is not public.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryLog {
    /// A bare JSON array of rows.
    #[default]
    Bare,
    /// `{"record_count": n, "webhookevents": [...]}`, as most Halo lists answer (key name the
    /// simulator's choice).
    Keyed,
    /// No delivery log over the API: 404.
    Absent,
}

/// The tenant's webhook API, as far as it varies.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookApiVariant {
    pub access: WebhookAccess,
    pub delivery_log: DeliveryLog,
    /// `GET /Webhook` rows carry only `id`, `name`, `url` and `active`; the rest is read with
    /// `GET /Webhook/{id}` [W17].
    pub thin_list_rows: bool,
}

/// Delivery log rows kept (the oldest go first).
const LOG_ROWS: usize = 2_000;
/// How much of a receiver's answer a log row keeps.
const LOG_BODY_CHARS: usize = 1_000;
/// Fields a thin list row keeps.
const THIN_ROW: &[&str] = &["id", "name", "url", "active"];
/// Fields HaloITSM never shows back: the secret a webhook sends (not public either way; the
/// simulator takes the careful reading) [W17].
const SECRET_FIELDS: &[&str] = &["basic_password"];

/// One delivery's outcome, as the sender saw it.
pub(crate) struct Attempt<'a> {
    pub webhook_id: &'a str,
    pub request_body: &'a [u8],
    pub entity_id: i64,
    /// The receiver's HTTP status; None when it never answered.
    pub status: Option<u16>,
    pub response_body: String,
    pub at: String,
}

#[derive(Default)]
struct Inner {
    records: Vec<Map<String, Value>>,
    log: VecDeque<Value>,
    /// Failed deliveries in a row, by webhook.
    failing: HashMap<String, u32>,
}

/// The saved webhooks and their delivery log.
#[derive(Default)]
pub(crate) struct WebhookApi {
    inner: Mutex<Inner>,
}

impl WebhookApi {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every saved webhook as `GET /Webhook/{id}` shows it.
    pub(crate) fn all(&self) -> Vec<Value> {
        self.lock().records.iter().map(shown).collect()
    }

    pub(crate) fn list(&self, thin: bool) -> Value {
        let g = self.lock();
        let rows = g.records.iter().map(|r| if thin { thin_row(r) } else { shown(r) });
        Value::Array(rows.collect())
    }

    pub(crate) fn one(&self, id: &str) -> Option<Value> {
        self.lock().records.iter().find(|r| id_of(r) == Some(id)).map(shown)
    }

    /// Remove a webhook; whether there was one.
    pub(crate) fn delete(&self, id: &str) -> bool {
        let mut g = self.lock();
        let before = g.records.len();
        g.records.retain(|r| id_of(r) != Some(id));
        g.failing.remove(id);
        g.records.len() != before
    }

    /// Create (no or an unknown `id`) or change (a known `id`: the fields given replace the
    /// saved ones) one webhook; the saved record, or what is wrong with element `index`.
    pub(crate) fn save(&self, index: usize, element: &Map<String, Value>, new_id: impl FnOnce() -> String) -> Result<Value, String> {
        let mut g = self.lock();
        let known = element.get("id").and_then(Value::as_str).and_then(|id| g.records.iter().position(|r| id_of(r) == Some(id)));
        let mut record = match known {
            Some(i) => g.records[i].clone(),
            None => Map::from_iter([("id".to_string(), json!(new_id())), ("active".to_string(), json!(true))]),
        };
        for (k, v) in element {
            if k != "id" && !k.starts_with('_') {
                record.insert(k.clone(), v.clone());
            }
        }
        if record.get("url").and_then(Value::as_str).is_none_or(|u| u.trim().is_empty()) {
            return Err(format!("[{index}].url: Payload URL is required"));
        }
        // "You need at least one event per Webhook profile" [W18].
        if record.get("events").and_then(Value::as_array).is_none_or(Vec::is_empty) {
            return Err(format!("[{index}].events: at least one event is required"));
        }
        let id = id_of(&record).unwrap_or_default().to_string();
        if element.get("disabled") == Some(&json!(false)) {
            g.failing.remove(&id);
        }
        match known {
            Some(i) => g.records[i] = record.clone(),
            None => g.records.push(record.clone()),
        }
        Ok(shown(&record))
    }

    /// What the sender should deliver to: the last saved webhook that is on, or None.
    pub(crate) fn delivering(&self) -> Option<WebhookConfig> {
        self.lock().records.iter().rev().find(|r| is_on(r)).and_then(sender_config)
    }

    /// The sender's configuration for one webhook, on or not (a test-fire sends either way).
    pub(crate) fn config_of(&self, id: &str) -> Option<WebhookConfig> {
        self.lock().records.iter().find(|r| id_of(r) == Some(id)).and_then(sender_config)
    }

    /// Whether webhook `id` still delivers (it was not switched off or removed meanwhile).
    pub(crate) fn is_delivering(&self, id: &str) -> bool {
        self.lock().records.iter().any(|r| id_of(r) == Some(id) && is_on(r))
    }

    /// Log one delivery and count it toward switching the webhook off; true when this attempt
    /// switched it off [W19].
    pub(crate) fn record(&self, a: &Attempt) -> bool {
        let failed = a.status.is_none_or(|s| !(200..300).contains(&s));
        let mut g = self.lock();
        let row = json!({
            "id": super::webhooks::guid(),
            "webhook_id": a.webhook_id,
            "timestamp": a.at,
            "status": if failed { 2 } else { 1 },
            "requestbody": String::from_utf8_lossy(a.request_body),
            "responsestatus": a.status.unwrap_or(0),
            "responsebody": a.response_body.chars().take(LOG_BODY_CHARS).collect::<String>(),
            "entity_id": a.entity_id,
            "error": failed,
        });
        g.log.push_back(row);
        while g.log.len() > LOG_ROWS {
            g.log.pop_front();
        }
        let in_a_row = {
            let n = g.failing.entry(a.webhook_id.to_string()).or_default();
            *n = if failed { *n + 1 } else { 0 };
            *n
        };
        let Some(record) = g.records.iter_mut().find(|r| id_of(r) == Some(a.webhook_id)) else {
            return false;
        };
        record.insert("last_status".into(), json!(a.status.unwrap_or(0)));
        let limit = record.get("auto_disable_attempts").and_then(Value::as_u64).unwrap_or(0);
        let switch_off = failed && limit > 0 && u64::from(in_a_row) >= limit && is_on(record);
        if switch_off {
            record.insert("disabled".into(), json!(true));
            record.insert("last_auto_disable_date".into(), json!(a.at));
        }
        switch_off
    }

    /// The delivery log of `webhook_id` (every webhook's when None), newest first, at most
    /// `count` rows.
    pub(crate) fn log(&self, webhook_id: Option<&str>, count: usize) -> Vec<Value> {
        let g = self.lock();
        let mine = |r: &&Value| webhook_id.is_none_or(|id| r["webhook_id"] == json!(id));
        g.log.iter().rev().filter(mine).take(count).cloned().collect()
    }
}

fn id_of(r: &Map<String, Value>) -> Option<&str> {
    r.get("id").and_then(Value::as_str)
}

/// Active and not switched off.
fn is_on(r: &Map<String, Value>) -> bool {
    r.get("active") != Some(&json!(false)) && r.get("disabled") != Some(&json!(true))
}

fn shown(r: &Map<String, Value>) -> Value {
    let mut out = r.clone();
    for k in SECRET_FIELDS {
        out.remove(*k);
    }
    Value::Object(out)
}

fn thin_row(r: &Map<String, Value>) -> Value {
    Value::Object(THIN_ROW.iter().filter_map(|k| r.get(*k).map(|v| (k.to_string(), v.clone()))).collect())
}

/// How the sender sends for a saved webhook: Basic with `basic_username`/`basic_password`
/// (authentication type 1), or an API key in the header `authentication_header` with its value
/// in `basic_password` (type 3) [W7, W14]; the full payload; only the events named.
fn sender_config(r: &Map<String, Value>) -> Option<WebhookConfig> {
    let text = |k: &str| r.get(k).and_then(Value::as_str).map(str::to_string);
    let auth = r.get("authentication_type").and_then(Value::as_i64).unwrap_or(0);
    let events = r
        .get("events")
        .and_then(Value::as_array)
        .map(|events| events.iter().filter_map(|e| e.get("name").and_then(Value::as_str)).map(str::to_ascii_lowercase).collect::<Vec<_>>());
    let cfg = WebhookConfig {
        url: text("url")?,
        username: (auth == 1).then(|| text("basic_username")).flatten(),
        password: (auth == 1).then(|| text("basic_password")).flatten(),
        api_key: (auth == 3).then(|| text("basic_password")).flatten(),
        api_key_header: (auth == 3).then(|| text("authentication_header")).flatten(),
        payload: Payload::Full,
        api_webhook_id: text("id"),
        events,
        ..WebhookConfig::default()
    };
    cfg.validate().ok().map(|()| cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn element(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    fn attempt<'a>(id: &'a str, status: Option<u16>) -> Attempt<'a> {
        Attempt {
            webhook_id: id,
            request_body: b"{}",
            entity_id: 7,
            status,
            response_body: String::new(),
            at: "2026-12-07T00:00:00Z".into(),
        }
    }

    #[test]
    fn saving_creates_then_changes_and_never_shows_the_secret() {
        let api = WebhookApi::default();
        let new = element(json!({"name": "r7", "url": "https://r7.example/hook", "authentication_type": 1,
            "basic_username": "halo", "basic_password": "s3cret", "events": [{"name": "Ticket Status Changed"}]}));
        let saved = api.save(0, &new, || "w-1".into()).unwrap_or_default();
        assert_eq!((saved["id"].clone(), saved.get("basic_password")), (json!("w-1"), None));
        let cfg = api.delivering().unwrap_or_default();
        assert_eq!((cfg.username.as_deref(), cfg.password.as_deref()), (Some("halo"), Some("s3cret")));
        assert_eq!(cfg.events, Some(vec!["ticket status changed".to_string()]));
        api.save(0, &element(json!({"id": "w-1", "active": false})), || unreachable!()).unwrap_or_default();
        assert!(api.delivering().is_none() && api.all().len() == 1);
        assert!(api.save(0, &element(json!({"url": "https://x/"})), || "w-2".into()).is_err(), "no events");
    }

    #[test]
    fn failures_in_a_row_switch_the_webhook_off() {
        let api = WebhookApi::default();
        let new = element(json!({"url": "https://r7.example/hook", "auto_disable_attempts": 2, "events": [{"name": "x"}]}));
        api.save(0, &new, || "w".into()).unwrap_or_default();
        assert!(!api.record(&attempt("w", Some(500))));
        assert!(!api.record(&attempt("w", Some(200))), "a success starts the count again");
        assert!(!api.record(&attempt("w", None)));
        assert!(api.record(&attempt("w", Some(503))));
        assert!(!api.is_delivering("w"));
        assert_eq!(api.one("w").unwrap_or_default()["disabled"], json!(true));
        assert_eq!(api.log(Some("w"), 10).len(), 4);
        assert_eq!(api.log(Some("w"), 10)[0]["responsestatus"], json!(503));
        api.save(0, &element(json!({"id": "w", "disabled": false})), || unreachable!()).unwrap_or_default();
        assert!(api.is_delivering("w"));
    }
}
