//! The listener for HaloITSM's outbound webhooks: `POST /webhooks/haloitsm` (HTTP Basic auth,
//! checked before the body is read; JSON; at most 1 MiB and 1,000 deliveries; one delivery or a
//! batched array) and `GET /healthz`.
//!
//! The inbox file is the queue: a delivery is answered 200 only once it is appended there, and
//! the trigger's engine reads the file in order from the offset it has processed (kept in the
//! trigger state). Nothing accepted is lost to a crash, a full queue or a dispatcher outage.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;
use tokio::sync::Notify;

/// Largest delivery body accepted.
pub const BODY_LIMIT: usize = 1024 * 1024;
/// Most deliveries in one batched body.
pub const MAX_BATCH: usize = 1000;
/// The inbox refuses new deliveries (503) past this size, until the engine catches up.
pub const INBOX_LIMIT: u64 = 256 * 1024 * 1024;
/// Processed bytes after which the inbox is rewritten without them.
const COMPACT_AFTER: u64 = 8 * 1024 * 1024;
pub const PATH: &str = "/webhooks/haloitsm";

/// The append-only file of accepted deliveries (one JSON array per line).
pub struct Inbox {
    path: PathBuf,
    writer: Mutex<(File, u64)>,
    /// Woken on every append.
    pub arrived: Notify,
}

/// Why a delivery could not be stored.
#[derive(Debug)]
enum AppendError {
    Full,
    Io(std::io::Error),
}

impl Inbox {
    /// Open (or create) the inbox, cutting off a last line a crash left half-written.
    pub fn open(dir: &Path, name: &str) -> std::io::Result<Inbox> {
        let path = dir.join(format!("{name}.inbox"));
        let mut file = OpenOptions::new().create(true).read(true).append(true).open(&path)?;
        let mut len = file.metadata()?.len();
        if len > 0 {
            let mut last = [0u8; 1];
            file.seek(SeekFrom::Start(len - 1))?;
            file.read_exact(&mut last)?;
            if last[0] != b'\n' {
                let mut content = Vec::new();
                file.seek(SeekFrom::Start(0))?;
                file.read_to_end(&mut content)?;
                let keep = content.iter().rposition(|b| *b == b'\n').map_or(0, |p| p + 1);
                file.set_len(keep as u64)?;
                len = keep as u64;
            }
        }
        Ok(Inbox { path, writer: Mutex::new((file, len)), arrived: Notify::new() })
    }

    pub fn len(&self) -> u64 {
        self.writer.lock().unwrap_or_else(|p| p.into_inner()).1
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn append(&self, deliveries: &[Value]) -> Result<(), AppendError> {
        let mut line = serde_json::to_vec(deliveries).map_err(|e| AppendError::Io(std::io::Error::other(e)))?;
        line.push(b'\n');
        {
            let mut g = self.writer.lock().unwrap_or_else(|p| p.into_inner());
            if g.1 + line.len() as u64 > INBOX_LIMIT {
                return Err(AppendError::Full);
            }
            g.0.write_all(&line).map_err(AppendError::Io)?;
            g.1 += line.len() as u64;
        }
        self.arrived.notify_one();
        Ok(())
    }

    /// The complete batches after `offset`, at most `max` of them, each with the offset just
    /// past it.
    pub fn read_from(&self, offset: u64, max: usize) -> std::io::Result<Vec<(Vec<Value>, u64)>> {
        let len = self.len();
        if offset >= len {
            return Ok(Vec::new());
        }
        let mut f = File::open(&self.path)?;
        f.seek(SeekFrom::Start(offset))?;
        let mut reader = BufReader::new(f.take(len - offset));
        let mut out = Vec::new();
        let mut end = offset;
        let mut line = Vec::new();
        while out.len() < max {
            line.clear();
            let n = reader.read_until(b'\n', &mut line)?;
            if n == 0 || line.last() != Some(&b'\n') {
                break;
            }
            end += n as u64;
            match serde_json::from_slice::<Value>(&line) {
                Ok(Value::Array(deliveries)) => out.push((deliveries, end)),
                // Not written by this listener: skip it rather than stall on it.
                _ => out.push((Vec::new(), end)),
            }
        }
        Ok(out)
    }

    /// Drop the processed head of the inbox once it is large. Returns the new offset of
    /// `processed` when the file was rewritten. `before_swap` runs first (it records offset 0
    /// for the caller: if the process dies in between, replaying the processed head again is
    /// harmless, as deliveries are de-duplicated; skipping unprocessed ones would not be).
    pub fn compact(&self, processed: u64, before_swap: impl FnOnce() -> std::io::Result<()>) -> std::io::Result<Option<u64>> {
        if processed < COMPACT_AFTER {
            return Ok(None);
        }
        let mut g = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let mut tail = Vec::new();
        {
            let mut f = File::open(&self.path)?;
            f.seek(SeekFrom::Start(processed.min(g.1)))?;
            f.read_to_end(&mut tail)?;
        }
        before_swap()?;
        let tmp = self.path.with_extension("inbox.tmp");
        fs::write(&tmp, &tail)?;
        fs::rename(&tmp, &self.path)?;
        g.0 = OpenOptions::new().read(true).append(true).open(&self.path)?;
        g.1 = tail.len() as u64;
        Ok(Some(0))
    }
}

/// HTTP Basic credentials the deliveries must carry.
#[derive(Clone)]
pub struct Credentials {
    pub username: String,
    pub password: String,
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

/// Rejects requests without the right credentials before their body is read.
async fn require_auth(State(creds): State<Option<Arc<Credentials>>>, req: Request, next: Next) -> Response {
    if let Some(creds) = creds {
        if !authorised(req.headers(), &creds) {
            tracing::warn!("Rejected a webhook delivery with missing or wrong credentials");
            let mut r = answer(StatusCode::UNAUTHORIZED, json!({"error": "Missing or wrong credentials"}));
            r.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Basic realm=\"haloitsm\""));
            return r;
        }
    }
    next.run(req).await
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

async fn receive(State(inbox): State<Arc<Inbox>>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
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
            return answer(StatusCode::PAYLOAD_TOO_LARGE, json!({"error": format!("Deliveries are limited to {BODY_LIMIT} bytes")}));
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
    if deliveries.len() > MAX_BATCH {
        return answer(
            StatusCode::BAD_REQUEST,
            json!({"error": format!("At most {MAX_BATCH} deliveries per request, got {}", deliveries.len())}),
        );
    }
    for (i, d) in deliveries.iter().enumerate() {
        if let Err(problem) = check_delivery(d, i) {
            tracing::warn!("Rejected a malformed webhook delivery: {problem}");
            return answer(StatusCode::BAD_REQUEST, json!({"error": problem}));
        }
    }
    match inbox.append(&deliveries) {
        Ok(()) => answer(StatusCode::OK, json!({"status": "queued", "deliveries": deliveries.len()})),
        Err(AppendError::Full) => answer(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"error": "The trigger is behind; the change will be picked up by polling or a later delivery"}),
        ),
        Err(AppendError::Io(e)) => {
            tracing::error!("Could not store a webhook delivery: {e}");
            answer(StatusCode::INTERNAL_SERVER_ERROR, json!({"error": "The delivery could not be stored"}))
        }
    }
}

/// The webhook listener's router.
pub fn router(inbox: Arc<Inbox>, auth: Option<Credentials>) -> Router {
    let hooks = Router::new()
        .route(PATH, post(receive))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .route_layer(middleware::from_fn_with_state(auth.map(Arc::new), require_auth))
        .with_state(inbox);
    Router::new()
        .merge(hooks)
        .route("/healthz", get(|| async { answer(StatusCode::OK, json!({"status": "ok"})) }))
        .fallback(|| async { answer(StatusCode::NOT_FOUND, json!({"error": format!("Not found; webhooks go to {PATH}")})) })
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
        assert!(check_delivery(&json!({"object_id": "5"}), 0).is_err());
    }

    #[test]
    fn the_inbox_is_read_in_order_from_an_offset() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = Inbox::open(dir.path(), "t").unwrap();
        inbox.append(&[json!({"object_id": 1})]).unwrap();
        inbox.append(&[json!({"object_id": 2}), json!({"object_id": 3})]).unwrap();
        let all = inbox.read_from(0, 100).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].0.len(), 2);
        assert_eq!(all[1].1, inbox.len());
        let rest = inbox.read_from(all[0].1, 100).unwrap();
        assert_eq!(rest.len(), 1);
        assert!(inbox.read_from(inbox.len(), 100).unwrap().is_empty());
        assert_eq!(inbox.read_from(0, 1).unwrap().len(), 1, "at most `max` batches");
    }

    #[test]
    fn a_half_written_last_line_is_cut_off_on_open() {
        let dir = tempfile::tempdir().unwrap();
        {
            let inbox = Inbox::open(dir.path(), "t").unwrap();
            inbox.append(&[json!({"object_id": 1})]).unwrap();
        }
        let path = dir.path().join("t.inbox");
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"[{\"object_id\":").unwrap();
        let inbox = Inbox::open(dir.path(), "t").unwrap();
        inbox.append(&[json!({"object_id": 2})]).unwrap();
        let batches = inbox.read_from(0, 10).unwrap();
        assert_eq!(batches.iter().map(|(d, _)| d[0]["object_id"].as_i64().unwrap()).collect::<Vec<_>>(), vec![1, 2]);
    }

    #[test]
    fn compaction_keeps_only_the_unprocessed_tail() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = Inbox::open(dir.path(), "t").unwrap();
        let big = json!({"object_id": 1, "pad": "x".repeat(1024)});
        while inbox.len() < COMPACT_AFTER {
            inbox.append(std::slice::from_ref(&big)).unwrap();
        }
        let processed = inbox.len();
        inbox.append(&[json!({"object_id": 9})]).unwrap();
        let mut recorded = false;
        assert_eq!(
            inbox
                .compact(processed, || {
                    recorded = true;
                    Ok(())
                })
                .unwrap(),
            Some(0)
        );
        assert!(recorded);
        let left = inbox.read_from(0, 10).unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].0[0]["object_id"], 9);
        assert_eq!(inbox.compact(10, || Ok(())).unwrap(), None, "small heads are left alone");
    }
}
