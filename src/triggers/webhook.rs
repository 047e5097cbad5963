//! The listener for HaloITSM's outbound webhooks: `POST /webhooks/haloitsm` (authentication
//! checked before the body is read: HTTP Basic, a Bearer token or an API key header; JSON; at
//! most 1 MiB and 1,000 deliveries; one delivery or a batched array, in which a malformed
//! delivery is refused alone) and `GET /healthz`.
//!
//! The inbox file is the queue: a delivery is answered 200 only once it is appended there, and
//! the trigger's engine reads the file in order from the offset it has processed (kept in the
//! trigger state). Nothing accepted is lost to a crash, a full queue or a dispatcher outage.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{OriginalUri, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;
use tokio::sync::Notify;

use crate::front_door::body::{self, BodyRules};
use crate::memory::BodyBudget;
use crate::ticket_events::delivery::Delivery;

/// Largest delivery body accepted.
pub const BODY_LIMIT: usize = 1024 * 1024;
/// Longest a delivery's body may take to arrive.
pub const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// Bytes of delivery bodies being read at once: a flood of slow senders cannot hold more.
pub const BODIES_IN_FLIGHT: usize = 64 * BODY_LIMIT;
pub use crate::ticket_events::MAX_BATCH;
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

    /// Whether `offset` is where a stored delivery starts: the start of the file, or just after a
    /// line's end, within the file.
    pub fn starts_line(&self, offset: u64) -> std::io::Result<bool> {
        if offset == 0 {
            return Ok(true);
        }
        if offset > self.len() {
            return Ok(false);
        }
        let mut f = File::open(&self.path)?;
        f.seek(SeekFrom::Start(offset - 1))?;
        let mut b = [0u8; 1];
        f.read_exact(&mut b)?;
        Ok(b[0] == b'\n')
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
                // Not written by this listener: skip it rather than stall on it, and say so.
                _ => {
                    tracing::warn!("Skipped an unreadable line of {} bytes in the webhook inbox at offset {}", n, end - n as u64);
                    out.push((Vec::new(), end));
                }
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

/// What a delivery must carry to be accepted: any one of the configured methods. HaloITSM offers
/// Basic authentication, a Bearer token and an API key (docs/halo-api.md#W6, W7); how the last two
/// are sent is not documented, so a secret is accepted as `Authorization: Bearer <secret>` and in
/// the API key header.
#[derive(Clone, Default)]
pub struct Auth {
    pub basic: Option<Credentials>,
    pub secret: Option<String>,
    /// The header an API key arrives in (`X-API-Key` unless configured).
    pub api_key_header: Option<String>,
}

/// The API key header when none is configured.
pub const DEFAULT_API_KEY_HEADER: &str = "X-API-Key";

impl Auth {
    /// No method configured: every delivery is accepted.
    pub fn is_open(&self) -> bool {
        self.basic.is_none() && self.secret.is_none()
    }

    fn accepts(&self, headers: &HeaderMap) -> bool {
        if self.basic.as_ref().is_some_and(|c| basic_matches(headers, c)) {
            return true;
        }
        let Some(secret) = &self.secret else { return false };
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .is_some_and(|token| same(token.trim().as_bytes(), secret.as_bytes()));
        let header_name = self.api_key_header.as_deref().unwrap_or(DEFAULT_API_KEY_HEADER);
        let key = headers.get(header_name).is_some_and(|v| same(v.as_bytes(), secret.as_bytes()));
        bearer || key
    }
}

fn answer(status: StatusCode, body: Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

/// Constant time whatever the input, so the comparison reveals nothing about the secret.
fn same(given: &[u8], expected: &[u8]) -> bool {
    let same_len = given.len() == expected.len();
    let padded: Vec<u8> = if same_len { given.to_vec() } else { vec![0u8; expected.len()] };
    bool::from(padded.ct_eq(expected)) && same_len
}

fn basic_matches(headers: &HeaderMap, creds: &Credentials) -> bool {
    let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else { return false };
    let Some(encoded) = value.strip_prefix("Basic ").or_else(|| value.strip_prefix("basic ")) else { return false };
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else { return false };
    same(&decoded, format!("{}:{}", creds.username, creds.password).as_bytes())
}

/// Rejects requests without the right credentials before their body is read.
async fn require_auth(State(auth): State<Arc<Auth>>, req: Request, next: Next) -> Response {
    if !auth.is_open() && !auth.accepts(req.headers()) {
        tracing::warn!("Rejected a webhook delivery with missing or wrong credentials");
        let mut r = answer(StatusCode::UNAUTHORIZED, json!({"error": "Missing or wrong credentials"}));
        if auth.basic.is_some() {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Basic realm=\"haloitsm\""));
        }
        return r;
    }
    next.run(req).await
}

/// What the delivery route holds: the inbox, and the budget and rules for reading bodies (the
/// same as the REST API's, see `server::body`).
struct Intake {
    inbox: Arc<Inbox>,
    bodies: BodyBudget,
    rules: BodyRules,
}

async fn receive(State(intake): State<Arc<Intake>>, OriginalUri(uri): OriginalUri, method: Method, req: Request) -> Response {
    // The media type itself, parameters (charset) aside: `application/jsonx` is not JSON.
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return answer(StatusCode::UNSUPPORTED_MEDIA_TYPE, json!({"error": "Deliveries must be JSON (Content-Type: application/json)"}));
    }
    let bytes = match body::read(req, &intake.rules, &intake.bodies, &uri, &method).await {
        Ok((bytes, _room)) => bytes,
        Err(refusal) => return *refusal,
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
    // A malformed delivery is refused alone: the others of its batch are stored.
    let mut refused = Vec::new();
    let mut good = Vec::with_capacity(deliveries.len());
    for (i, d) in deliveries.into_iter().enumerate() {
        match Delivery::read(&d, i) {
            Ok(_) => good.push(d),
            Err(problem) => {
                tracing::warn!("Refused a malformed webhook delivery: {problem}");
                refused.push(json!({"index": i, "error": problem.to_string()}));
            }
        }
    }
    if good.is_empty() {
        let error = if refused.len() == 1 { refused[0]["error"].clone() } else { json!("No delivery could be read") };
        return answer(StatusCode::BAD_REQUEST, json!({"error": error, "refused": refused}));
    }
    match intake.inbox.append(&good) {
        Ok(()) if refused.is_empty() => answer(StatusCode::OK, json!({"status": "queued", "deliveries": good.len()})),
        Ok(()) => answer(StatusCode::OK, json!({"status": "queued", "deliveries": good.len(), "refused": refused})),
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
pub fn router(inbox: Arc<Inbox>, auth: Auth) -> Router {
    let intake =
        Intake { inbox, bodies: BodyBudget::new(BODIES_IN_FLIGHT), rules: BodyRules { limit: BODY_LIMIT, timeout: BODY_READ_TIMEOUT } };
    let hooks = Router::new()
        .route(PATH, post(receive))
        .route_layer(middleware::from_fn_with_state(Arc::new(auth), require_auth))
        .with_state(Arc::new(intake));
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

    fn with(name: &str, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(), value.parse().unwrap());
        h
    }

    #[test]
    fn basic_auth_matches_exactly() {
        let auth = Auth { basic: Some(Credentials { username: "halo".into(), password: "s3cret".into() }), ..Auth::default() };
        assert!(auth.accepts(&basic("halo", "s3cret")));
        assert!(!auth.accepts(&basic("halo", "s3cre")));
        assert!(!auth.accepts(&basic("halo", "s3cretx")));
        assert!(!auth.accepts(&basic("other", "s3cret")));
        assert!(!auth.accepts(&HeaderMap::new()));
        assert!(!auth.accepts(&with("authorization", "Bearer s3cret")), "a Bearer token is not Basic");
    }

    #[test]
    fn a_secret_is_accepted_as_a_bearer_token_or_an_api_key() {
        let auth = Auth { secret: Some("t0ken".into()), ..Auth::default() };
        assert!(auth.accepts(&with("authorization", "Bearer t0ken")));
        assert!(auth.accepts(&with("x-api-key", "t0ken")));
        assert!(!auth.accepts(&with("x-api-key", "t0ke")));
        assert!(!auth.accepts(&with("authorization", "Bearer t0kenx")));
        assert!(!auth.accepts(&basic("x", "t0ken")));
        let custom = Auth { api_key_header: Some("X-Halo-Key".into()), ..auth.clone() };
        assert!(custom.accepts(&with("x-halo-key", "t0ken")));
        assert!(!custom.accepts(&with("x-api-key", "t0ken")), "only the configured header");
        assert!(Auth::default().is_open() && !auth.is_open());
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
