//! Reading a step's request body: within the size limit, the memory budget and the read
//! timeout, before the step takes a running slot (a client slow to send its body holds no slot),
//! and parsed into the start message.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::Response;
use bytes::BytesMut;
use http_body_util::BodyExt;
use serde_json::{Value, json};

use super::answers::{http_error, json_response, retry_later};
use crate::memory::{BodyBudget, Reservation};

/// How bodies are read.
pub struct BodyRules {
    /// Largest body accepted, in bytes.
    pub limit: usize,
    /// Longest a whole body may take to arrive.
    pub timeout: Duration,
}

/// Most bytes of a refused body read and thrown away so that its client, done sending, reads the
/// refusal (see `read`).
const DRAIN_LIMIT: usize = 64 * 1024 * 1024;

/// The body of `req` in memory, with its room in the budget (to keep for as long as the body, or
/// what is parsed from it, lives); or the JSON answer refusing it. A declared length over the
/// limit is refused before anything is kept, on HTTP/1 and HTTP/2 alike.
///
/// A body that declares its length waits for room in the budget (within the read timeout); one
/// that does not is refused as soon as it outgrows the room.
///
/// A body refused for its size (or for want of room) is read to its end and thrown away (up to
/// `DRAIN_LIMIT`, within the read timeout) before the answer goes out: many HTTP/2 clients (curl
/// among them) lose an answer that comes while they are still sending, though the stream ends
/// with NO_ERROR as RFC 9113 section 8.1 has it.
pub async fn read(
    req: Request,
    rules: &BodyRules,
    budget: &BodyBudget,
    uri: &Uri,
    method: &Method,
) -> Result<(Bytes, Reservation), Box<Response>> {
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    let mut body = req.into_body();
    let deadline = tokio::time::Instant::now() + rules.timeout;
    match read_body(&mut body, declared, rules, budget, deadline).await {
        Ok(read) => Ok(read),
        Err(refusal) => {
            // A body declared larger than can be drained is answered at once: its client would
            // otherwise wait for the whole read timeout to hear that it is too large.
            let drainable = declared.is_none_or(|d| d <= DRAIN_LIMIT as u64);
            if matches!(refusal, Refusal::TooLarge | Refusal::NoRoom(_)) && drainable {
                drain(&mut body, deadline).await;
            }
            Err(Box::new(refusal.answer(rules, budget, uri, method)))
        }
    }
}

/// Read and throw away the rest of a body, within `DRAIN_LIMIT` and `deadline`.
async fn drain(body: &mut Body, deadline: tokio::time::Instant) {
    let mut thrown = 0usize;
    while thrown <= DRAIN_LIMIT {
        match tokio::time::timeout_at(deadline, body.frame()).await {
            Ok(Some(Ok(frame))) => thrown += frame.data_ref().map_or(0, |d| d.len()),
            _ => return,
        }
    }
}

/// Why a body was not taken.
enum Refusal {
    TooLarge,
    NoRoom(usize),
    TimedOut(usize),
    Broken(String),
}

impl Refusal {
    fn answer(self, rules: &BodyRules, budget: &BodyBudget, uri: &Uri, method: &Method) -> Response {
        match self {
            Refusal::TooLarge => http_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("The request body is larger than this plugin accepts ({} bytes).", rules.limit),
                uri,
                method,
            ),
            Refusal::NoRoom(bytes) => retry_later(
                format!(
                    "The plugin holds as many request bodies in memory as it accepts ({} bytes; this one needs {bytes}). Nothing was done; retry the step after the Retry-After delay.",
                    budget.total_bytes
                ),
                uri,
                method,
            ),
            Refusal::TimedOut(came) => http_error(
                StatusCode::REQUEST_TIMEOUT,
                format!("The request body did not arrive within {} s ({came} bytes came). Nothing was done.", rules.timeout.as_secs_f32()),
                uri,
                method,
            ),
            Refusal::Broken(e) => http_error(StatusCode::BAD_REQUEST, format!("The request body could not be read: {e}."), uri, method),
        }
    }
}

async fn read_body(
    body: &mut Body,
    declared: Option<u64>,
    rules: &BodyRules,
    budget: &BodyBudget,
    deadline: tokio::time::Instant,
) -> Result<(Bytes, Reservation), Refusal> {
    if declared.is_some_and(|n| n > rules.limit as u64) {
        return Err(Refusal::TooLarge);
    }
    // Within the limit, so within usize.
    let declared = declared.map(|n| n as usize);
    let mut reservation = Reservation::default();
    if let Some(n) = declared {
        if !budget.cover(&mut reservation, n, Some(deadline)).await {
            return Err(Refusal::NoRoom(n));
        }
    }
    let mut buf = BytesMut::with_capacity(declared.unwrap_or(0));
    loop {
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => return Err(Refusal::TimedOut(buf.len())),
            Ok(None) => break,
            Ok(Some(Err(e))) => return Err(Refusal::Broken(e.to_string())),
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else { continue };
        let len = buf.len() + data.len();
        if len > rules.limit {
            return Err(Refusal::TooLarge);
        }
        if !budget.cover(&mut reservation, len, None).await {
            return Err(Refusal::NoRoom(len));
        }
        buf.extend_from_slice(&data);
    }
    Ok((buf.freeze(), reservation))
}

/// A start message from a body, answering one that is not JSON or is empty.
pub fn parse(bytes: Bytes, uri: &Uri, method: &Method) -> Result<Value, Box<Response>> {
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|e| Box::new(http_error(StatusCode::BAD_REQUEST, format!("The request body is not valid JSON: {e}."), uri, method)))?;
    let empty = match &value {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::String(s) => s.is_empty(),
        _ => false,
    };
    if empty {
        return Err(Box::new(json_response(StatusCode::BAD_REQUEST, &json!({"error": "Empty input provided"}))));
    }
    Ok(value)
}
