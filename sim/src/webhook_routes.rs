//! The webhook endpoints of the simulated API [W17–W22]; what they keep is `webhook_api.rs`.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::errors::{ApiError, EXCEPTION_CLASS, json_response};
use super::webhook_api::{DeliveryLog, WebhookAccess};
use super::{Simulator, util::Params, webhook_payload, webhooks};

type Sim = State<Arc<Simulator>>;

/// Delivery log rows a `GET /WebhookEvent` answers without `count` (the simulator's choice: a
/// client that wants more must ask).
const DEFAULT_LOG_ROWS: usize = 50;

/// What a harness sees of the webhooks saved over the API, and how it changes one.
impl Simulator {
    /// The webhooks saved over the API, as `GET /Webhook/{id}` shows them.
    pub fn api_webhooks(&self) -> Vec<Value> {
        self.webhook_api.all()
    }

    /// Change a webhook saved over the API as `POST /Webhook [{id, ...fields}]` would (a harness
    /// setting `auto_disable_attempts`, say); the record, or why not.
    pub fn edit_api_webhook(&self, id: &str, fields: Value) -> Result<Value, String> {
        let mut element = fields.as_object().cloned().ok_or("fields must be an object")?;
        element.insert("id".into(), json!(id));
        if self.webhook_api.one(id).is_none() {
            return Err(format!("no webhook {id}"));
        }
        let saved = self.webhook_api.save(0, &element, String::new)?;
        self.set_webhook(self.webhook_api.delivering());
        Ok(saved)
    }

    /// The delivery log of the webhooks saved over the API, newest first.
    pub fn webhook_log(&self) -> Vec<Value> {
        self.webhook_api.log(None, usize::MAX)
    }
}

pub(crate) fn routes() -> Router<Arc<Simulator>> {
    Router::new()
        .route("/Webhook", get(list).post(save))
        .route("/Webhook/{id}", get(one).delete(delete))
        .route("/WebhookEvent", get(delivery_log))
}

/// Whether the API application may use the webhook endpoints on this tenant [W21].
fn allowed(sim: &Simulator) -> Result<(), ApiError> {
    match sim.read().profile.webhook_api.access {
        WebhookAccess::Allowed => Ok(()),
        WebhookAccess::Forbidden => {
            Err(ApiError::Exception(StatusCode::FORBIDDEN, EXCEPTION_CLASS, "You do not have permission to access this resource".into()))
        }
        WebhookAccess::Absent => Err(ApiError::not_found("No HTTP resource was found that matches the request URI")),
    }
}

fn answer(r: Result<Value, ApiError>) -> Response {
    match r {
        Ok(v) => json_response(StatusCode::OK, &v),
        Err(e) => e.into_response(),
    }
}

fn webhook_id(p: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    let Path(id) = p.map_err(|_| ApiError::bad_request("Invalid webhook id"))?;
    // Webhook IDs are GUIDs, not integers [W17].
    let id = id.trim().to_ascii_lowercase();
    let guid = id.len() == 36 && id.chars().all(|c| c == '-' || c.is_ascii_hexdigit());
    if !guid {
        return Err(ApiError::bad_request(format!("The value '{id}' is not valid.")));
    }
    Ok(id)
}

async fn list(State(sim): Sim) -> Response {
    answer(allowed(&sim).map(|()| sim.webhook_api.list(sim.read().profile.webhook_api.thin_list_rows)))
}

async fn one(State(sim): Sim, p: Result<Path<String>, PathRejection>) -> Response {
    let found = allowed(&sim).and_then(|()| webhook_id(p));
    answer(found.and_then(|id| sim.webhook_api.one(&id).ok_or_else(|| ApiError::not_found(format!("Webhook {id} not found")))))
}

async fn delete(State(sim): Sim, p: Result<Path<String>, PathRejection>) -> Response {
    let id = match allowed(&sim).and_then(|()| webhook_id(p)) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    if !sim.webhook_api.delete(&id) {
        return ApiError::not_found(format!("Webhook {id} not found")).into_response();
    }
    sim.set_webhook(sim.webhook_api.delivering());
    StatusCode::OK.into_response()
}

/// `POST /Webhook`: an array of webhooks to create or change, or `[{id, _test: true}]` to
/// test-fire one [W19]. One element answers its record; several answer an array.
async fn save(State(sim): Sim, body: Result<Bytes, BytesRejection>) -> Response {
    if let Err(e) = allowed(&sim) {
        return e.into_response();
    }
    let Ok(body) = body else { return ApiError::bad_request("Could not read the request body").into_response() };
    let elements = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Array(a)) => a,
        Ok(Value::Object(o)) => vec![Value::Object(o)],
        _ => return ApiError::bad_request("The request body is not a JSON array of webhooks").into_response(),
    };
    let mut saved = Vec::with_capacity(elements.len());
    for (i, e) in elements.iter().enumerate() {
        let Some(obj) = e.as_object() else {
            return ApiError::element(i, "id", "Each webhook must be an object").into_response();
        };
        if obj.get("_test") == Some(&json!(true)) {
            match test_fire(&sim, i, obj).await {
                Ok(v) => saved.push(v),
                Err(e) => return e.into_response(),
            }
            continue;
        }
        match sim.webhook_api.save(i, obj, webhooks::guid) {
            Ok(v) => saved.push(v),
            Err(message) => {
                let (key, message) = message.split_once(": ").unwrap_or(("[0]", &message));
                return ApiError::field(key, message).into_response();
            }
        }
    }
    sim.set_webhook(sim.webhook_api.delivering());
    let out = if saved.len() == 1 { saved.swap_remove(0) } else { Value::Array(saved) };
    json_response(StatusCode::OK, &out)
}

/// Send one test delivery to a saved webhook now and answer its record with `_test_result`, the
/// delivery as logged. What Halo's test delivery carries is not public: here an event-only
/// envelope for no ticket (`object_id` 0) [W19].
async fn test_fire(sim: &Simulator, index: usize, obj: &serde_json::Map<String, Value>) -> Result<Value, ApiError> {
    let id = obj.get("id").and_then(Value::as_str).unwrap_or_default().to_ascii_lowercase();
    let cfg = sim.webhook_api.config_of(&id).ok_or_else(|| ApiError::element(index, "id", format!("Webhook '{id}' not found")))?;
    let at = sim.clock.utc();
    let envelope = json!({
        "id": webhooks::guid(),
        "webhook_id": id,
        "event": "webhook test",
        "message": "Test webhook",
        "object_id": 0,
        "timestamp": webhook_payload::halo_timestamp(at),
    });
    let body = Bytes::from(serde_json::to_vec(&envelope).unwrap_or_default());
    let (status, answer) = webhooks::fire_once(&sim.webhook_api, &cfg, body, webhook_payload::halo_timestamp(at)).await;
    let mut record = sim.webhook_api.one(&id).unwrap_or_else(|| json!({"id": id}));
    record["_test_result"] = json!({
        "webhook_id": id,
        "timestamp": webhook_payload::halo_timestamp(at),
        "responsestatus": status.unwrap_or(0),
        "responsebody": answer.chars().take(1_000).collect::<String>(),
        "error": status.is_none_or(|s| !(200..300).contains(&s)),
    });
    Ok(record)
}

/// `GET /WebhookEvent?webhook_id=&count=`: the delivery log, newest first, in the tenant's
/// envelope, or 404 where the tenant offers none [W20].
async fn delivery_log(State(sim): Sim, RawQuery(q): RawQuery) -> Response {
    if let Err(e) = allowed(&sim) {
        return e.into_response();
    }
    let q = Params::parse(q.as_deref());
    let webhook_id = q.get("webhook_id").map(|s| s.trim().to_ascii_lowercase());
    let count = q.get("count").and_then(|c| c.trim().parse::<usize>().ok()).unwrap_or(DEFAULT_LOG_ROWS);
    let rows = sim.webhook_api.log(webhook_id.as_deref(), count);
    match sim.read().profile.webhook_api.delivery_log {
        DeliveryLog::Bare => json_response(StatusCode::OK, &Value::Array(rows)),
        DeliveryLog::Keyed => json_response(StatusCode::OK, &json!({"record_count": rows.len(), "webhookevents": rows})),
        DeliveryLog::Absent => ApiError::not_found("No HTTP resource was found that matches the request URI").into_response(),
    }
}
