//! What can go wrong talking to HaloITSM, and how each failure is explained to a user.

use std::time::Duration;

use serde_json::Value;

use crate::protocol::{PluginError, Preset};

/// Which server a failure happened on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    /// The authorisation server (token endpoint).
    Auth,
    /// The resource server (`/api`).
    Api,
}

impl Server {
    fn field(self) -> &'static str {
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

fn retry_after_suffix(d: &Option<Duration>) -> String {
    d.map(|d| format!("; HaloITSM asked to wait {} seconds", d.as_secs().max(1))).unwrap_or_default()
}

const MAYBE_APPLIED: &str = "The change may or may not have been saved in HaloITSM, so it was not sent again (HaloITSM would create a duplicate). Check the ticket in HaloITSM before running the step again.";

impl HaloError {
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
            HaloError::RateLimited { .. } | HaloError::Unreachable { .. } => true,
            HaloError::ServerError { write, .. } | HaloError::Timeout { write, .. } | HaloError::Transport { write, .. } => !write,
            _ => false,
        }
    }

    /// Map a reqwest failure; `url` is the configured server URL (never carries credentials).
    pub fn from_reqwest(e: &reqwest::Error, server: Server, url: &str, seconds: u64, write: bool) -> HaloError {
        let message = super::auth::describe_reqwest(e);
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

    /// The user-facing error, with a cause that says what failed and an assistance that says
    /// what to do about it.
    pub fn to_plugin_error(&self) -> PluginError {
        let cause = format!("{self}.");
        match self {
            HaloError::InvalidCredentials { .. } => PluginError::plugin(
                Preset::InvalidCredentials,
                cause,
                "Check the Client ID and Client Secret of the API application in HaloITSM (Configuration > Integrations > HaloITSM API > Applications), that the application uses Client ID and Secret (Services) authentication, and that it is active.",
            ),
            HaloError::InvalidScope { .. } => PluginError::plugin(
                Preset::Unauthorized,
                cause,
                "Use the scope `all`, or give the API application the scopes you entered in the connection's Scope field.",
            ),
            HaloError::TokenRejected { tenant_set, .. } => PluginError::plugin(
                Preset::InvalidCredentials,
                cause,
                if *tenant_set {
                    "Check the Tenant field (it must be your Halo tenant name exactly), the Authorization Server URL, and the API application's credentials."
                } else {
                    "Check the Authorization Server URL and the API application's credentials. Instances hosted by Halo usually also need the Tenant field."
                },
            ),
            HaloError::Unauthorized { .. } => PluginError::plugin(
                Preset::Unauthorized,
                cause,
                "Check that the Authorization Server and Resource Server belong to the same HaloITSM instance, and that the API application is still active.",
            ),
            HaloError::Forbidden { .. } => PluginError::plugin(
                Preset::Unauthorized,
                cause,
                "Give the API application's agent the permission this step needs (for tickets: read and edit tickets), and make sure the token scope includes it (e.g. `all`).",
            ),
            HaloError::NotFound { .. } => PluginError::plugin(
                Preset::NotFound,
                cause,
                "Check the ID you gave, and that the Resource Server URL points at your instance's API (it usually ends with /api).",
            ),
            HaloError::Validation { message, .. } => PluginError::plugin(
                Preset::BadRequest,
                cause,
                "Correct the input HaloITSM complained about (IDs must exist in your instance; the lookup actions list valid IDs) and run the step again.",
            )
            .with_data(message.clone()),
            HaloError::RateLimited { .. } => PluginError::plugin(
                Preset::RateLimit,
                cause,
                "The plugin already waited and retried. Run fewer HaloITSM steps at once, or ask your Halo administrator about the API rate limit.",
            ),
            HaloError::ServerError { write, .. } => PluginError::plugin(
                Preset::ServerError,
                cause,
                if *write { MAYBE_APPLIED } else { "HaloITSM failed while handling the request; the plugin retried reads already. Try again later, and check HaloITSM's status if it persists." },
            ),
            HaloError::Timeout { write, .. } => PluginError::plugin(
                Preset::Timeout,
                cause,
                if *write { MAYBE_APPLIED } else { "Check that HaloITSM is reachable and responsive, or raise the connection's Request Timeout." },
            ),
            HaloError::Unreachable { server, .. } => PluginError::plugin(
                Preset::ConnectionError,
                cause,
                format!(
                    "Check the {} URL in the connection, that the orchestrator can reach it (DNS, firewall, proxy), and for a self-signed certificate set SSL Verify to false.",
                    server.field()
                ),
            ),
            HaloError::Tls { server, .. } => PluginError::plugin(
                Preset::ConnectionError,
                cause,
                format!(
                    "If the {} uses a self-signed or private certificate, set SSL Verify to false in the connection (or add its CA to the container); otherwise check that the URL's host matches its certificate.",
                    server.field()
                ),
            ),
            HaloError::NoTokenEndpoint { .. } => PluginError::plugin(
                Preset::NotFound,
                cause,
                "Set Authorization Server to your instance's authorisation URL, usually https://<instance>/auth (hosted instances may use https://auth.haloservicedesk.com).",
            ),
            HaloError::Transport { write, .. } => PluginError::plugin(
                Preset::ConnectionError,
                cause,
                if *write { MAYBE_APPLIED } else { "Check the network path to HaloITSM and try again." },
            ),
            HaloError::Redirected { .. } => PluginError::plugin(
                Preset::RedirectError,
                cause,
                "Use the exact URLs of your instance in the connection: https rather than http, and the host the redirect points to.",
            ),
            HaloError::Unexpected { .. } => PluginError::plugin(
                Preset::InvalidJson,
                cause,
                "Check that the Resource Server URL points at the HaloITSM API (for example https://example.haloitsm.com/api), not at the web portal.",
            ),
            HaloError::Vanished { id, answered, deleted } => PluginError::plugin(
                Preset::NotFound,
                cause,
                if *deleted || *answered <= 0 {
                    format!("Check ticket {id} in HaloITSM (it may have been deleted or merged).")
                } else {
                    format!("Check ticket {id} in HaloITSM (it may have been deleted or merged), and ticket {answered}: delete it if this update created it.")
                },
            ),
            HaloError::NotClosed { status, setting, .. } => PluginError::plugin(
                Preset::BadRequest,
                cause,
                format!(
                    "Status {status} does not close tickets on this HaloITSM tenant. Set {setting} to a status that does (HaloITSM's built-in Closed is 9; List Statuses shows which statuses close tickets)."
                ),
            ),
            HaloError::InvalidConfig { field, .. } => PluginError::client(cause, format!("Correct the connection field `{field}`.")),
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

    #[test]
    fn writes_that_may_have_applied_say_so() {
        let e = HaloError::ServerError { status: 500, message: "boom".into(), write: true };
        assert!(e.outcome_uncertain());
        assert!(e.to_plugin_error().assistance.contains("may or may not have been saved"));
        let r = HaloError::ServerError { status: 500, message: "boom".into(), write: false };
        assert!(!r.outcome_uncertain());
        assert_eq!(r.to_plugin_error().http_status(), 500);
    }

    #[test]
    fn validation_errors_are_bad_requests() {
        let e = HaloError::Validation { status: 400, message: "summary: required".into() }.to_plugin_error();
        assert_eq!(e.http_status(), 400);
        assert_eq!(e.data, "summary: required");
    }
}
