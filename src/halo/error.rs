//! What can go wrong talking to HaloITSM (how a user is told: `crate::halo_failures`).

use std::time::Duration;

use serde_json::Value;

/// Which server a failure happened on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    /// The authorisation server (token endpoint).
    Auth,
    /// The resource server (`/api`).
    Api,
}

impl Server {
    /// The connection field that names this server.
    pub fn field(self) -> &'static str {
        match self {
            Server::Auth => "Authorization Server",
            Server::Api => "Resource Server",
        }
    }
}

/// A typed HaloITSM failure. Messages never carry a token or secret.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HaloError {
    #[error("HaloITSM rejected the client credentials ({code}{})", opt_suffix(description))]
    InvalidCredentials { code: String, description: Option<String> },
    #[error("HaloITSM refused the requested scope ({scope})")]
    InvalidScope { scope: String, description: Option<String> },
    #[error("HaloITSM's token endpoint rejected the request (HTTP {status}): {message}")]
    TokenRejected { status: u16, message: String, tenant_set: bool },
    #[error("HaloITSM rejected the access token (HTTP 401) even after a fresh token was fetched: {message}")]
    Unauthorized { message: String },
    #[error("HaloITSM denied access to {what} (HTTP 403): {message}")]
    Forbidden { what: String, message: String },
    #[error("{what} was not found in HaloITSM (HTTP 404)")]
    NotFound { what: String, message: String },
    #[error("HaloITSM rejected the request (HTTP {status}): {message}")]
    Validation { status: u16, message: String },
    #[error("HaloITSM is rate limiting this API application (HTTP 429){}", retry_after_suffix(retry_after))]
    RateLimited { retry_after: Option<Duration> },
    #[error(
        "HaloITSM's rate limit was reached (HTTP 429) and the request could not be sent in the time it may wait{}{}",
        waited_suffix(waited),
        retry_in_suffix(retry_in)
    )]
    RateLimitWait { waited: Duration, retry_in: Option<Duration> },
    #[error("HaloITSM answered with a server error (HTTP {status}): {message}")]
    ServerError { status: u16, message: String, write: bool },
    #[error("HaloITSM did not answer within {seconds} seconds ({})", server.field())]
    Timeout { server: Server, seconds: u64, write: bool },
    #[error("Could not connect to the HaloITSM {} at {url}: {message}", server.field())]
    Unreachable { server: Server, url: String, message: String },
    #[error("The TLS certificate of the HaloITSM {} was not accepted: {message}", server.field())]
    Tls { server: Server, message: String },
    #[error("There is no HaloITSM token endpoint at {url}/token (HTTP 404)")]
    NoTokenEndpoint { url: String },
    #[error("The connection to HaloITSM failed while the request was in flight: {message}")]
    Transport { message: String, write: bool },
    #[error("HaloITSM redirected the request (HTTP {status} to {location})")]
    Redirected { status: u16, location: String },
    #[error("HaloITSM sent an unexpected response (HTTP {status}): {message}")]
    Unexpected { status: u16, message: String },
    #[error("Ticket {id} was deleted while it was being updated; HaloITSM's answer was for ticket {answered}{}", stray_fate(*answered, *deleted))]
    Vanished { id: i64, answered: i64, deleted: bool },
    #[error("HaloITSM did not close ticket {id}: after moving it to status {status} it does not count the ticket as closed")]
    NotClosed { id: i64, status: i64, setting: &'static str },
    #[error(
        "HaloITSM did not keep priority {asked} on ticket {id}: the ticket has priority {kept}, so the SLA of its ticket type offers no priority {asked} (everything else was written)"
    )]
    PriorityNotKept { id: i64, asked: i64, kept: i64 },
    #[error("HaloITSM refused the outcome {outcome} for the action{}: {message}", if *denied { " (the API application's agent may not use it)" } else { "" })]
    OutcomeRefused { outcome: String, denied: bool, message: String },
    #[error("The file is larger than the {max} bytes this step returns{}", size.map(|s| format!(" ({s} bytes)")).unwrap_or_default())]
    TooLarge { size: Option<u64>, max: u64 },
    #[error("HaloITSM's answer to {what} is larger than the {max} bytes an answer may be{}: far larger than any record", size.map(|s| format!(" ({s} bytes)")).unwrap_or_default())]
    AnswerTooLarge { what: String, size: Option<u64>, max: u64 },
    #[error("The plugin holds as many files from HaloITSM in memory as it may ({held} bytes) and has no room for {what} now")]
    Busy { what: String, held: u64 },
    #[error("{problem}")]
    Setup { problem: String, fix: String },
    #[error("The connection setting `{field}` is invalid: {reason}")]
    InvalidConfig { field: String, reason: String },
}

fn stray_fate(answered: i64, deleted: bool) -> &'static str {
    match (answered > 0, deleted) {
        (false, _) => "",
        (true, true) => ", a ticket this update created by accident, which was deleted again",
        (true, false) => ", which was left alone: it could not be proven to be a ticket this update created",
    }
}

fn opt_suffix(d: &Option<String>) -> String {
    d.as_deref().map(|d| format!(": {d}")).unwrap_or_default()
}

fn waited_suffix(d: &Duration) -> String {
    if d.as_secs() >= 1 { format!(" (it waited {} seconds)", d.as_secs()) } else { String::new() }
}

fn retry_in_suffix(d: &Option<Duration>) -> String {
    match d {
        Some(d) => format!("; HaloITSM will take requests again in about {} seconds", d.as_millis().div_ceil(1000).max(1)),
        None => "; HaloITSM did not say when it takes requests again (try again in a few minutes)".into(),
    }
}

fn retry_after_suffix(d: &Option<Duration>) -> String {
    d.map(|d| format!("; HaloITSM asked to wait {} seconds", d.as_secs().max(1))).unwrap_or_default()
}

impl HaloError {
    /// The same error with every text in it that came from outside (HaloITSM's messages, a
    /// redirect's address, a URL, an error code) passed through `redact`: a server or proxy that
    /// echoes the request can put the token or the secret into any of them.
    pub fn redacted(self, secrets: &[&str]) -> HaloError {
        let r = |s: String| super::redact::redact(&s, secrets);
        let ro = |s: Option<String>| s.map(r);
        use HaloError::*;
        match self {
            InvalidCredentials { code, description } => InvalidCredentials { code: r(code), description: ro(description) },
            InvalidScope { scope, description } => InvalidScope { scope: r(scope), description: ro(description) },
            TokenRejected { status, message, tenant_set } => TokenRejected { status, message: r(message), tenant_set },
            Unauthorized { message } => Unauthorized { message: r(message) },
            Forbidden { what, message } => Forbidden { what: r(what), message: r(message) },
            NotFound { what, message } => NotFound { what: r(what), message: r(message) },
            Validation { status, message } => Validation { status, message: r(message) },
            ServerError { status, message, write } => ServerError { status, message: r(message), write },
            Unreachable { server, url, message } => Unreachable { server, url: r(url), message: r(message) },
            Tls { server, message } => Tls { server, message: r(message) },
            NoTokenEndpoint { url } => NoTokenEndpoint { url: r(url) },
            Transport { message, write } => Transport { message: r(message), write },
            Redirected { status, location } => Redirected { status, location: r(location) },
            Unexpected { status, message } => Unexpected { status, message: r(message) },
            OutcomeRefused { outcome, denied, message } => OutcomeRefused { outcome: r(outcome), denied, message: r(message) },
            Setup { problem, fix } => Setup { problem: r(problem), fix: r(fix) },
            InvalidConfig { field, reason } => InvalidConfig { field, reason: r(reason) },
            e @ (RateLimited { .. }
            | RateLimitWait { .. }
            | Timeout { .. }
            | Vanished { .. }
            | NotClosed { .. }
            | PriorityNotKept { .. }
            | TooLarge { .. }
            | AnswerTooLarge { .. }
            | Busy { .. }) => e,
        }
    }

    /// True when a write may have been applied although it failed (a retry could duplicate it).
    pub fn outcome_uncertain(&self) -> bool {
        matches!(
            self,
            HaloError::ServerError { write: true, .. } | HaloError::Timeout { write: true, .. } | HaloError::Transport { write: true, .. }
        )
    }

    /// Worth trying again as it is (the token request and reads): rate limits, server errors,
    /// timeouts and network failures, but not certificate or configuration problems.
    pub fn is_transient(&self) -> bool {
        match self {
            HaloError::RateLimited { .. } | HaloError::RateLimitWait { .. } | HaloError::Unreachable { .. } | HaloError::Busy { .. } => {
                true
            }
            HaloError::ServerError { write, .. } | HaloError::Timeout { write, .. } | HaloError::Transport { write, .. } => !write,
            _ => false,
        }
    }

    /// Map a reqwest failure; `url` is the configured server URL (never carries credentials).
    pub fn from_reqwest(e: &reqwest::Error, server: Server, url: &str, seconds: u64, write: bool) -> HaloError {
        let message = describe_reqwest(e);
        let lower = message.to_ascii_lowercase();
        if lower.contains("certificate") || lower.contains("tls handshake") || lower.contains("unknownissuer") {
            HaloError::Tls { server, message }
        } else if e.is_connect() {
            HaloError::Unreachable { server, url: url.to_string(), message }
        } else if e.is_timeout() {
            HaloError::Timeout { server, seconds, write }
        } else {
            HaloError::Transport { message, write }
        }
    }
}

/// A transport error described without its URL (the caller adds the one that matters).
pub fn describe_reqwest(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut parts = Vec::new();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.contains(&text) {
            parts.push(text);
        }
        source = s.source();
    }
    if parts.is_empty() {
        parts.push(e.without_url_ref().to_string());
    }
    parts.join(": ")
}

trait WithoutUrlRef {
    fn without_url_ref(&self) -> String;
}

impl WithoutUrlRef for reqwest::Error {
    fn without_url_ref(&self) -> String {
        if self.is_timeout() {
            "timed out".into()
        } else if self.is_connect() {
            "connection failed".into()
        } else {
            "request failed".into()
        }
    }
}

/// The useful text of one of HaloITSM's many error body shapes (docs/halo-api.md#E2), at most
/// 500 characters.
pub fn extract_message(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "no details given".into();
    }
    let msg = match serde_json::from_str::<Value>(text) {
        Ok(v) => message_from_json(&v).unwrap_or_else(|| text.to_string()),
        Err(_) if text.starts_with('<') => html_title(text).map(|t| format!("an HTML page ({t})")).unwrap_or_else(|| "an HTML page".into()),
        Err(_) => text.to_string(),
    };
    truncate(&msg, 500)
}

fn message_from_json(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().filter_map(message_from_json).collect();
            (!parts.is_empty()).then(|| parts.join("; "))
        }
        Value::Object(m) => {
            for key in ["error_description", "errorMessage", "Message", "message", "error", "title", "detail"] {
                if let Some(found) = m.get(key) {
                    if let Some(s) = found.as_str().filter(|s| !s.is_empty()) {
                        // {"error": "invalid_client", "error_description": "..."} is handled by the
                        // order above; an "error" code alone is still useful.
                        return Some(s.to_string());
                    }
                    if let Some(s) = message_from_json(found) {
                        return Some(s);
                    }
                }
            }
            // Field-keyed validation errors: {"[0].summary": "Summary is required"}.
            let parts: Vec<String> = m
                .iter()
                .filter_map(|(k, v)| {
                    let text = match v {
                        Value::String(s) => s.clone(),
                        Value::Array(a) => a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "),
                        _ => return None,
                    };
                    let field = k.rsplit('.').next().unwrap_or(k).trim_start_matches('$');
                    Some(format!("{field}: {text}"))
                })
                .collect();
            (!parts.is_empty()).then(|| parts.join("; "))
        }
        _ => None,
    }
}

fn html_title(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let start = lower.find("<title>")? + "<title>".len();
    let end = lower[start..].find("</title>")? + start;
    Some(text[start..end].trim().to_string())
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_every_known_error_shape() {
        assert_eq!(extract_message(br#"{"error":"invalid_client","error_description":"Bad secret"}"#), "Bad secret");
        assert_eq!(extract_message(br#"{"error":"invalid_client"}"#), "invalid_client");
        assert_eq!(extract_message(br#"{"Message":"Ticket 5 not found"}"#), "Ticket 5 not found");
        assert_eq!(extract_message(br#"{"ClassName":"System.Exception","Message":"Invalid status_id 99"}"#), "Invalid status_id 99");
        assert_eq!(extract_message(br#"{"resultCode":1,"errorMessage":"Approval required"}"#), "Approval required");
        assert_eq!(
            extract_message(br#"{"[0].summary":"Summary is required","[0].tickettype_id":"Unknown"}"#),
            "summary: Summary is required; tickettype_id: Unknown"
        );
        assert_eq!(extract_message(b"Ticket type is required"), "Ticket type is required");
        assert_eq!(extract_message(br#""quoted text""#), "quoted text");
        assert_eq!(extract_message(b"<html><head><title>404 Not Found</title></head></html>"), "an HTML page (404 Not Found)");
        assert_eq!(extract_message(b"   "), "no details given");
        assert_eq!(extract_message("x".repeat(600).as_bytes()).chars().count(), 501);
    }
}
