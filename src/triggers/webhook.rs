//! The listener for HaloITSM's outbound webhooks: `POST /webhooks/haloitsm` (HTTP Basic auth,
//! JSON, at most 1 MiB, one delivery or a batched array) and `GET /healthz`. A delivery is
//! answered 200 only once it is appended to the trigger's inbox file, so a crash right after
//! loses nothing: the inbox is replayed on the next start.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;
use tokio::sync::mpsc;

/// Largest delivery accepted.
pub const BODY_LIMIT: usize = 1024 * 1024;
pub const PATH: &str = "/webhooks/haloitsm";

/// Deliveries appended to the inbox, and where the inbox ends after them.
#[derive(Debug)]
pub struct Batch {
    pub deliveries: Vec<Value>,
    pub inbox_end: u64,
}

/// The append-only file of accepted deliveries (one JSON array per line).
pub struct Inbox {
    path: PathBuf,
    file: Mutex<(File, u64)>,
}

impl Inbox {
    pub fn open(dir: &Path, name: &str) -> std::io::Result<Inbox> {
        let path = dir.join(format!("{name}.inbox"));
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let len = file.metadata()?.len();
        Ok(Inbox { path, file: Mutex::new((file, len)) })
    }

    /// Append one batch; returns the inbox length after it.
    fn append(&self, deliveries: &[Value]) -> std::io::Result<u64> {
        let mut line = serde_json::to_vec(deliveries).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let mut g = self.file.lock().unwrap_or_else(|p| p.into_inner());
        g.0.write_all(&line)?;
        g.1 += line.len() as u64;
        Ok(g.1)
    }

    /// Batches after `offset` (those accepted but not yet processed when the trigger stopped).
    pub fn unprocessed(&self, offset: u64) -> std::io::Result<Vec<Batch>> {
        let mut f = File::open(&self.path)?;
        let len = f.metadata()?.len();
        if offset >= len {
            return Ok(Vec::new());
        }
        f.seek(SeekFrom::Start(offset))?;
        let mut out = Vec::new();
        let mut end = offset;
        for line in BufReader::new(f).lines() {
            let Ok(line) = line else { break };
            end += line.len() as u64 + 1;
            // A line cut short by a kill was never answered 200: skip it.
            if let Ok(Value::Array(deliveries)) = serde_json::from_str::<Value>(&line) {
                out.push(Batch { deliveries, inbox_end: end.min(len) });
            }
        }
        Ok(out)
    }

    /// Empty the inbox when everything in it was processed; returns the new processed offset.
    pub fn truncate_if_done(&self, processed: u64) -> std::io::Result<Option<u64>> {
        let mut g = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if g.1 != processed || processed < 1024 * 1024 {
            return Ok(None);
        }
        g.0.set_len(0)?;
        g.1 = 0;
        Ok(Some(0))
    }
}

/// HTTP Basic credentials the deliveries must carry.
#[derive(Clone)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

struct Listener {
    inbox: Arc<Inbox>,
    queue: mpsc::Sender<Batch>,
    auth: Option<Credentials>,
}

fn answer(status: StatusCode, body: Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn authorised(headers: &HeaderMap, creds: &Credentials) -> bool {
    let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else { return false };
    let Some(encoded) = value.strip_prefix("Basic ").or_else(|| value.strip_prefix("basic ")) else { return false };
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else { return false };
    let expected = format!("{}:{}", creds.username, creds.password);
    // Constant time whatever the input, so the comparison reveals nothing about the password.
    let same_len = decoded.len() == expected.len();
    let padded: Vec<u8> = if same_len { decoded } else { vec![0u8; expected.len()] };
    bool::from(padded.ct_eq(expected.as_bytes())) && same_len
}

/// Check a delivery's shape; the error names what is wrong (never echoing the payload).
pub fn check_delivery(d: &Value, index: usize) -> Result<(), String> {
    let Some(obj) = d.as_object() else { return Err(format!("delivery {index} is not a JSON object")) };
    let ticket_id =
        obj.get("object_id").and_then(Value::as_i64).or_else(|| obj.get("ticket").and_then(|t| t.get("id")).and_then(Value::as_i64));
    match ticket_id {
        Some(id) if id > 0 => Ok(()),
        _ => Err(format!("delivery {index} has no ticket ID (`object_id` or `ticket.id`)")),
    }
}

async fn receive(State(l): State<Arc<Listener>>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    if let Some(creds) = &l.auth {
        if !authorised(&headers, creds) {
            tracing::warn!("Rejected a webhook delivery with missing or wrong credentials");
            let mut r = answer(StatusCode::UNAUTHORIZED, json!({"error": "Missing or wrong credentials"}));
            r.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Basic realm=\"haloitsm\""));
            return r;
        }
    }
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.to_ascii_lowercase().starts_with("application/json"));
    if !is_json {
        return answer(StatusCode::UNSUPPORTED_MEDIA_TYPE, json!({"error": "Deliveries must be JSON (Content-Type: application/json)"}));
    }
    let bytes = match body {
        Ok(b) => b,
        Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return answer(StatusCode::PAYLOAD_TOO_LARGE, json!({"error": format!("Deliveries are limited to {} bytes", BODY_LIMIT)}));
        }
        Err(r) => return answer(r.status(), json!({"error": r.body_text()})),
    };
    let payload: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!("Rejected a webhook delivery that is not valid JSON ({} bytes): {e}", bytes.len());
            return answer(StatusCode::BAD_REQUEST, json!({"error": format!("The body is not valid JSON: {e}")}));
        }
    };
    let deliveries = match payload {
        Value::Array(items) => items,
        obj @ Value::Object(_) => vec![obj],
        _ => return answer(StatusCode::BAD_REQUEST, json!({"error": "Expected a delivery object or an array of them"})),
    };
    if deliveries.is_empty() {
        return answer(StatusCode::BAD_REQUEST, json!({"error": "The delivery array is empty"}));
    }
    for (i, d) in deliveries.iter().enumerate() {
        if let Err(problem) = check_delivery(d, i) {
            tracing::warn!("Rejected a malformed webhook delivery: {problem}");
            return answer(StatusCode::BAD_REQUEST, json!({"error": problem}));
        }
    }
    let count = deliveries.len();
    let permit = match l.queue.try_reserve() {
        Ok(p) => p,
        Err(_) => {
            return answer(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"error": "The trigger is busy; the change will be picked up by polling or a later delivery"}),
            );
        }
    };
    let inbox_end = match l.inbox.append(&deliveries) {
        Ok(end) => end,
        Err(e) => {
            tracing::error!("Could not store a webhook delivery: {e}");
            return answer(StatusCode::INTERNAL_SERVER_ERROR, json!({"error": "The delivery could not be stored"}));
        }
    };
    permit.send(Batch { deliveries, inbox_end });
    answer(StatusCode::OK, json!({"status": "queued", "deliveries": count}))
}

/// The webhook listener's router.
pub fn router(inbox: Arc<Inbox>, queue: mpsc::Sender<Batch>, auth: Option<Credentials>) -> Router {
    let state = Arc::new(Listener { inbox, queue, auth });
    Router::new()
        .route(PATH, post(receive))
        .route("/healthz", get(|| async { answer(StatusCode::OK, json!({"status": "ok"})) }))
        .fallback(|| async { answer(StatusCode::NOT_FOUND, json!({"error": format!("Not found; webhooks go to {PATH}")})) })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// Bind the listener; serving starts when the returned future is polled.
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user: &str, pass: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        let v = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        h.insert(header::AUTHORIZATION, format!("Basic {v}").parse().unwrap());
        h
    }

    #[test]
    fn basic_auth_matches_exactly() {
        let c = Credentials { username: "halo".into(), password: "s3cret".into() };
        assert!(authorised(&basic("halo", "s3cret"), &c));
        assert!(!authorised(&basic("halo", "s3cre"), &c));
        assert!(!authorised(&basic("halo", "s3cretx"), &c));
        assert!(!authorised(&basic("other", "s3cret"), &c));
        assert!(!authorised(&HeaderMap::new(), &c));
    }

    #[test]
    fn deliveries_need_a_ticket_id() {
        assert!(check_delivery(&json!({"object_id": 5}), 0).is_ok());
        assert!(check_delivery(&json!({"ticket": {"id": 5}}), 0).is_ok());
        assert_eq!(check_delivery(&json!({"event": "x"}), 2).unwrap_err(), "delivery 2 has no ticket ID (`object_id` or `ticket.id`)");
        assert!(check_delivery(&json!("x"), 0).is_err());
    }

    #[test]
    fn the_inbox_replays_what_was_not_processed() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = Inbox::open(dir.path(), "t").unwrap();
        let first = inbox.append(&[json!({"object_id": 1})]).unwrap();
        let second = inbox.append(&[json!({"object_id": 2}), json!({"object_id": 3})]).unwrap();
        let all = inbox.unprocessed(0).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].inbox_end, first);
        assert_eq!(all[1].inbox_end, second);
        let rest = inbox.unprocessed(first).unwrap();
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].deliveries.len(), 2);
        assert!(inbox.unprocessed(second).unwrap().is_empty());
        // Reopened (a restart): the length is known again.
        let again = Inbox::open(dir.path(), "t").unwrap();
        assert_eq!(again.append(&[json!({"object_id": 4})]).unwrap(), second + 18);
    }
}
