//! The InsightConnect plugin protocol: start and output messages, the error classes and their
//! presets, secret masking, and the per-step log capture.

use std::fmt;

use serde_json::{Map, Value, json};

use crate::spec::StepKind;

// ----- errors ---------------------------------------------------------------------------------

/// The error presets of the Python runtime (`ConnectionTestException.Preset`), with its wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    ApiKey,
    Unauthorized,
    RateLimit,
    UsernamePassword,
    NotFound,
    ServerError,
    ServiceUnavailable,
    InvalidJson,
    Unknown,
    Base64Encode,
    Base64Decode,
    Timeout,
    BadRequest,
    InvalidCredentials,
    MethodNotAllowed,
    Conflict,
    ConnectionError,
    RedirectError,
}

impl Preset {
    pub fn cause(self) -> &'static str {
        match self {
            Preset::ApiKey => "Invalid API key provided.",
            Preset::Unauthorized => "The account configured in your connection is unauthorized to access this service.",
            Preset::RateLimit => "The account configured in your plugin connection is currently rate-limited.",
            Preset::UsernamePassword => "Invalid username or password provided.",
            Preset::NotFound => "Invalid or unreachable endpoint provided.",
            Preset::ServerError => "Server error occurred",
            Preset::ServiceUnavailable => "The service is currently unavailable.",
            Preset::InvalidJson => "Received an unexpected response from the server.",
            Preset::Unknown => "Something unexpected occurred.",
            Preset::Base64Encode => "Unable to base64 encode content due to incorrect padding length.",
            Preset::Base64Decode => "Unable to base64 decode content due to incorrect padding length.",
            Preset::Timeout => "The connection timed out.",
            Preset::BadRequest => "The server is unable to process the request.",
            Preset::InvalidCredentials => "Authentication failed: invalid credentials.",
            Preset::MethodNotAllowed => "The request method is not allowed for this resource.",
            Preset::Conflict => "Request cannot be completed due to a conflict with the current state of the resource.",
            Preset::ConnectionError => "Failed to connect to the server.",
            Preset::RedirectError => "Request redirected more than the set limit for the server.",
        }
    }

    pub fn assistance(self) -> &'static str {
        match self {
            Preset::ApiKey => "Verify your API key configured in your connection is correct.",
            Preset::Unauthorized => "Verify the permissions for your account and try again.",
            Preset::RateLimit => "Adjust the time between requests if possible.",
            Preset::UsernamePassword => "Verify your username and password are correct.",
            Preset::NotFound => "Verify the URLs or endpoints in your configuration are correct.",
            Preset::ServerError => {
                "Verify your plugin connection inputs are correct and not malformed and try again. If the issue persists, please contact support."
            }
            Preset::ServiceUnavailable => "Try again later. If the issue persists, please contact support.",
            Preset::InvalidJson => "(non-JSON or no response was received).",
            Preset::Unknown => "Check the logs and if the issue persists please contact support.",
            Preset::Base64Encode | Preset::Base64Decode => {
                "This is likely a programming error, if the issue persists please contact support."
            }
            Preset::Timeout => {
                "This is likely a network error. Verify the network activity. If the issue persists, please contact support."
            }
            Preset::BadRequest => {
                "Verify your plugin input is correct and not malformed and try again. If the issue persists, please contact support."
            }
            Preset::InvalidCredentials => "Please verify the credentials for your account and try again.",
            Preset::MethodNotAllowed => "Please try a supported method for this resource.",
            Preset::Conflict => "Please check your request, and try again.",
            Preset::ConnectionError => "Please check your network connection and try again.",
            Preset::RedirectError => "Please check your request and try again.",
        }
    }
}

/// Which kind of failure this is; decides the HTTP status and the message wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The caller sent something wrong: malformed message, unknown step, invalid input (400).
    Client,
    /// A plugin exception raised while running a step (500, or 400 with the BadRequest preset).
    Plugin,
    /// A connection test failed (400).
    ConnectionTest,
    /// A bug in the plugin, e.g. output that breaks its own spec (500).
    Internal,
    /// The requested operation is not implemented (501).
    NotImplemented,
    /// The server is shutting down and takes no new work (503).
    Unavailable,
}

/// Every error a step can end with.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginError {
    pub class: ErrorClass,
    pub preset: Option<Preset>,
    pub cause: String,
    pub assistance: String,
    pub data: String,
}

impl PluginError {
    pub fn new(class: ErrorClass, cause: impl Into<String>, assistance: impl Into<String>) -> Self {
        PluginError { class, preset: None, cause: cause.into(), assistance: assistance.into(), data: String::new() }
    }

    /// A caller error (HTTP 400).
    pub fn client(cause: impl Into<String>, assistance: impl Into<String>) -> Self {
        Self::new(ErrorClass::Client, cause, assistance)
    }

    /// A plugin exception with a preset's wording.
    pub fn preset(preset: Preset) -> Self {
        PluginError {
            class: ErrorClass::Plugin,
            preset: Some(preset),
            cause: preset.cause().into(),
            assistance: preset.assistance().into(),
            data: String::new(),
        }
    }

    /// A plugin exception with a preset's classification but a precise cause and assistance.
    pub fn plugin(preset: Preset, cause: impl Into<String>, assistance: impl Into<String>) -> Self {
        PluginError {
            class: ErrorClass::Plugin,
            preset: Some(preset),
            cause: cause.into(),
            assistance: assistance.into(),
            data: String::new(),
        }
    }

    /// A bug in the plugin (HTTP 500).
    pub fn internal(cause: impl Into<String>) -> Self {
        Self::new(ErrorClass::Internal, cause, "This is a defect in the plugin, not in your input. Report it with the step log.")
    }

    pub fn with_data(mut self, data: impl Into<String>) -> Self {
        self.data = data.into();
        self
    }

    /// The same error, reported as a failed connection test.
    pub fn into_connection_test(mut self) -> Self {
        if self.class != ErrorClass::NotImplemented {
            self.class = ErrorClass::ConnectionTest;
        }
        self
    }

    /// The HTTP status the REST API answers with (PROTOCOL.md's table).
    pub fn http_status(&self) -> u16 {
        match self.class {
            ErrorClass::Client | ErrorClass::ConnectionTest => 400,
            ErrorClass::Plugin if self.preset == Some(Preset::BadRequest) => 400,
            ErrorClass::Plugin | ErrorClass::Internal => 500,
            ErrorClass::NotImplemented => 501,
            ErrorClass::Unavailable => 503,
        }
    }

    /// The `exception` block of an output message.
    pub fn exception_block(&self) -> Value {
        json!({"cause": self.cause, "assistance": self.assistance, "data": self.data})
    }
}

impl fmt::Display for PluginError {
    /// The `error` string of an output message, worded like the Python runtime's exceptions.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.class {
            ErrorClass::ConnectionTest => {
                write!(f, "Connection test failed! {} {}", self.cause, self.assistance)?;
                if !self.data.is_empty() {
                    write!(f, " Response was: {}", self.data)?;
                }
                Ok(())
            }
            ErrorClass::Plugin => {
                write!(f, "An error occurred during plugin execution! {} {}", self.cause, self.assistance)?;
                if !self.data.is_empty() {
                    write!(f, " Response was {}", self.data)?;
                }
                Ok(())
            }
            _ => f.write_str(&self.cause),
        }
    }
}

impl std::error::Error for PluginError {}

// ----- messages -------------------------------------------------------------------------------

/// The type of a start message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    ActionStart,
    TriggerStart,
    TaskStart,
    ConnectionTest,
}

impl MessageType {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "action_start" => MessageType::ActionStart,
            "trigger_start" => MessageType::TriggerStart,
            "task_start" => MessageType::TaskStart,
            "connection_test" => MessageType::ConnectionTest,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::ActionStart => "action_start",
            MessageType::TriggerStart => "trigger_start",
            MessageType::TaskStart => "task_start",
            MessageType::ConnectionTest => "connection_test",
        }
    }

    /// The type of the output message answering this start message.
    pub fn output_type(self) -> &'static str {
        match self {
            MessageType::ActionStart => "action_event",
            MessageType::TriggerStart => "trigger_event",
            MessageType::TaskStart => "task_event",
            MessageType::ConnectionTest => "connection_test",
        }
    }

    pub fn step_kind(self) -> Option<StepKind> {
        match self {
            MessageType::ActionStart => Some(StepKind::Action),
            MessageType::TriggerStart => Some(StepKind::Trigger),
            MessageType::TaskStart => Some(StepKind::Task),
            MessageType::ConnectionTest => None,
        }
    }
}

/// A parsed, structurally valid start message.
#[derive(Debug, Clone)]
pub struct StartMessage {
    pub kind: MessageType,
    /// The action/trigger/task name (absent for `connection_test`).
    pub name: Option<String>,
    pub meta: Value,
    pub connection: Value,
    pub input: Value,
    pub dispatcher: Value,
}

impl StartMessage {
    /// Check a start message the way the Python runtime does; missing `meta`/`connection`/`input`
    /// default to `{}`.
    pub fn parse(msg: &Value) -> Result<StartMessage, PluginError> {
        Self::from_value(msg.clone())
    }

    /// `parse`, taking the message: its parts are moved out, not copied (an attachment's
    /// content is most of a message).
    pub fn from_value(mut msg: Value) -> Result<StartMessage, PluginError> {
        let bad = |cause: String| {
            PluginError::client(
                cause,
                "Send a start message of the form {\"version\": \"v1\", \"type\": \"action_start\", \"body\": {\"action\": ..., \"connection\": {...}, \"input\": {...}}}.",
            )
        };
        let Value::Object(top) = &mut msg else {
            return Err(bad("Input message is not a JSON object".into()));
        };
        let type_ = match top.get("type") {
            None => return Err(bad("\"type\" missing from input message".into())),
            Some(Value::String(s)) => s.clone(),
            Some(other) => return Err(bad(format!("\"type\" must be a string, got {other}"))),
        };
        match top.get("version") {
            None => return Err(bad("\"version\" missing from input message".into())),
            Some(Value::String(v)) if v == "v1" => {}
            Some(other) => {
                let shown = other.as_str().map(str::to_string).unwrap_or_else(|| other.to_string());
                return Err(bad(format!("Unsupported version '{shown}'. Only v1 is supported")));
            }
        }
        let Some(kind) = MessageType::parse(&type_) else {
            return Err(bad(format!(
                "Unsupported message type \"{type_}\". Must be action_start, trigger_start, connection_test, or task_start"
            )));
        };
        let body = match top.get_mut("body") {
            None => return Err(bad("\"body\" missing from input message".into())),
            Some(Value::Object(b)) => b,
            Some(_) => return Err(bad("\"body\" must be a JSON object".into())),
        };
        let name = match kind.step_kind() {
            Some(step) => {
                let key = step.as_str();
                match body.get(key) {
                    None => {
                        return Err(bad(format!("Message is {} but field \"{key}\" is missing from body", kind.as_str())));
                    }
                    Some(Value::String(s)) => Some(s.clone()),
                    Some(_) => {
                        let mut k = key.to_string();
                        k[..1].make_ascii_uppercase();
                        return Err(bad(format!("{k} field must be a string")));
                    }
                }
            }
            None => None,
        };
        let mut take = |k: &str| match body.remove(k) {
            None | Some(Value::Null) => Value::Object(Map::new()),
            Some(v) => v,
        };
        let (connection, input, dispatcher) = (take("connection"), take("input"), take("dispatcher"));
        // `meta` is echoed as sent (a null stays null, like the Python runtime).
        let meta = body.remove("meta").unwrap_or_else(|| Value::Object(Map::new()));
        Ok(StartMessage { kind, name, meta, connection, input, dispatcher })
    }

    /// What can still be echoed from a message that failed to parse: its output type (when
    /// its `type` is known) and its `meta`.
    pub fn salvage(msg: &Value) -> (Option<&'static str>, Value) {
        let out_type = msg.get("type").and_then(Value::as_str).and_then(MessageType::parse).map(MessageType::output_type);
        let meta = msg.get("body").and_then(|b| b.get("meta")).cloned().unwrap_or_else(|| Value::Object(Map::new()));
        (out_type, meta)
    }

    /// Every secret of the connection a message carries, for masking.
    pub fn secrets_of(msg: &Value, spec: &crate::spec::Spec) -> Vec<String> {
        let conn = msg.get("body").and_then(|b| b.get("connection")).cloned().unwrap_or(Value::Null);
        let mut secrets = connection_secrets(&conn);
        secrets.extend(spec.sensitive_strings(&conn));
        with_encodings(&mut secrets, &conn);
        secrets
    }
}

/// Build an output message.
pub fn envelope(out_type: Option<&str>, meta: &Value, log: String, result: Result<Value, PluginError>) -> Value {
    let mut body = Map::new();
    body.insert("log".into(), Value::String(log));
    match result {
        Ok(output) => {
            body.insert("status".into(), json!("ok"));
            body.insert("meta".into(), meta.clone());
            body.insert("output".into(), output);
        }
        Err(e) => {
            body.insert("status".into(), json!("error"));
            body.insert("meta".into(), meta.clone());
            body.insert("error".into(), Value::String(e.to_string()));
            body.insert("exception".into(), e.exception_block());
        }
    }
    json!({"body": body, "version": "v1", "type": out_type})
}

// ----- masking --------------------------------------------------------------------------------

/// Keys whose string values in a connection are secrets (the Python runtime's OutputMasker).
const SECRET_KEYS: [&str; 4] = ["secretKey", "password", "key", "token"];
const MASK: &str = "********";

/// Every secret string in a connection, at any depth.
pub fn connection_secrets(connection: &Value) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        if let Value::Object(m) = v {
            for (k, v) in m {
                match v {
                    Value::Object(_) => walk(v, out),
                    Value::String(s) if !s.is_empty() && SECRET_KEYS.contains(&k.as_str()) => out.push(s.clone()),
                    _ => {}
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(connection, &mut out);
    out.sort();
    out.dedup();
    out
}

/// Add the forms a secret takes on the wire, so that an echo of a request cannot show it either:
/// form/URL-encoded, JSON-escaped, and inside HTTP Basic (`base64(user:secret)`) for the client
/// credentials and any user name and password pair.
pub fn with_encodings(secrets: &mut Vec<String>, connection: &Value) {
    use crate::halo::redact::{basic_forms, wire_forms};
    let mut more: Vec<String> = secrets.iter().flat_map(|s| wire_forms(s)).collect();
    let id = connection.get("client_id").and_then(Value::as_str);
    let secret = connection.get("client_secret").and_then(|c| c.get("secretKey")).and_then(Value::as_str);
    if let (Some(id), Some(secret)) = (id, secret) {
        more.extend(basic_forms(id, secret));
    }
    fn pairs(v: &Value, out: &mut Vec<(String, String)>) {
        if let Value::Object(m) = v {
            if let (Some(Value::String(u)), Some(Value::String(p))) = (m.get("username"), m.get("password")) {
                out.push((u.clone(), p.clone()));
            }
            m.values().for_each(|v| pairs(v, out));
        }
    }
    let mut found = Vec::new();
    pairs(connection, &mut found);
    more.extend(found.iter().filter(|(_, p)| !p.is_empty()).flat_map(|(u, p)| basic_forms(u, p)));
    secrets.extend(more.into_iter().filter(|m| m.len() >= 4));
    secrets.sort();
    secrets.dedup();
}

/// Replace every occurrence of a secret inside every string of `value` (keys untouched).
/// Like the Python runtime, a leading part of a secret that covers more than 80 % of it
/// (a truncated secret) is masked too.
pub fn mask_secrets(value: &mut Value, secrets: &[String]) {
    if secrets.is_empty() {
        return;
    }
    match value {
        Value::String(s) => {
            if let Some(masked) = mask_str(s, secrets) {
                *s = masked;
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|v| mask_secrets(v, secrets)),
        Value::Object(m) => m.values_mut().for_each(|v| mask_secrets(v, secrets)),
        _ => {}
    }
}

/// The masked text, or None when nothing needed masking.
pub fn mask_str(s: &str, secrets: &[String]) -> Option<String> {
    let mut out: Option<String> = None;
    for secret in secrets {
        let current = out.as_deref().unwrap_or(s);
        let chars: Vec<char> = secret.chars().collect();
        // Shortest prefix (in chars) that still counts as a leak: strictly more than 80 %.
        let min_len = chars.len() * 4 / 5 + 1;
        let min_prefix: String = chars[..min_len.min(chars.len())].iter().collect();
        if !current.contains(&min_prefix) {
            continue;
        }
        let mut result = String::with_capacity(current.len());
        let mut rest = current;
        while let Some(pos) = rest.find(&min_prefix) {
            result.push_str(&rest[..pos]);
            // Extend the match as far as the secret goes.
            let tail = &rest[pos..];
            let mut matched = 0;
            for (a, b) in tail.chars().zip(chars.iter()) {
                if a != *b {
                    break;
                }
                matched += a.len_utf8();
            }
            result.push_str(MASK);
            rest = &tail[matched..];
        }
        result.push_str(rest);
        out = Some(result);
    }
    out
}

// ----- per-step log capture -------------------------------------------------------------------

tokio::task_local! {
    static STEP_LOG: StepLog;
}

/// The log lines of one step, collected from `tracing` events emitted while the step runs, and
/// the secrets no log line of that step may show.
#[derive(Clone, Default)]
pub struct StepLog {
    inner: std::sync::Arc<std::sync::Mutex<String>>,
    secrets: std::sync::Arc<[String]>,
    debug: bool,
}

impl StepLog {
    pub fn new(debug: bool, secrets: Vec<String>) -> Self {
        StepLog { inner: Default::default(), secrets: secrets.into(), debug }
    }

    /// Run a future with this log collecting its events.
    pub async fn scope<F: std::future::Future>(&self, fut: F) -> F::Output {
        STEP_LOG.scope(self.clone(), fut).await
    }

    /// Everything collected so far, leaving the log empty (triggers send it with each event).
    pub fn take(&self) -> String {
        match self.inner.lock() {
            Ok(mut g) => std::mem::take(&mut *g),
            Err(p) => std::mem::take(&mut *p.into_inner()),
        }
    }

    fn push(&self, line: &str) {
        let masked = mask_str(line, &self.secrets);
        if let Ok(mut g) = self.inner.lock() {
            g.push_str(masked.as_deref().unwrap_or(line));
        }
    }
}

/// Only the plugin's own events belong in a step log (not its HTTP libraries' chatter).
const OWN_TARGET: &str = env!("CARGO_CRATE_NAME");

/// Make sure step logs are captured even when the embedding program installed no subscriber
/// (tests, benchmarks). A program that installs its own must include [`StepLogLayer`].
pub fn ensure_log_capture() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let _ = tracing_subscriber::registry().with(StepLogLayer).try_init();
}

/// A `tracing` layer that copies the plugin's events into the current step's log, if any.
pub struct StepLogLayer;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for StepLogLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: tracing_subscriber::layer::Context<'_, S>) {
        let meta = event.metadata();
        if !meta.target().starts_with(OWN_TARGET) {
            return;
        }
        let _ = STEP_LOG.try_with(|log| {
            let level = *meta.level();
            if level == tracing::Level::TRACE || (level == tracing::Level::DEBUG && !log.debug) {
                return;
            }
            let mut visitor = MessageVisitor(String::new());
            event.record(&mut visitor);
            let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ");
            log.push(&format!("{now} {level} {}\n", one_line(&visitor.0)));
        });
    }
}

/// Process logs (stderr) with the current step's secrets masked, whatever the log format.
#[derive(Clone, Copy, Default)]
pub struct MaskingStderr;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for MaskingStderr {
    type Writer = MaskedLine;

    fn make_writer(&'a self) -> MaskedLine {
        MaskedLine(Vec::new())
    }
}

/// One formatted log line, masked and written to stderr when dropped.
pub struct MaskedLine(Vec<u8>);

impl std::io::Write for MaskedLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A log message as one line: line breaks and other control characters escaped, so that text
/// from outside (a file name, HaloITSM's answer) cannot forge a log line of its own.
pub fn one_line(s: &str) -> std::borrow::Cow<'_, str> {
    // ESC stays: it starts the colour codes of a terminal's log, and breaks no line.
    let escaped = |c: char| c.is_control() && c != '\u{1b}';
    if !s.chars().any(escaped) {
        return std::borrow::Cow::Borrowed(s);
    }
    std::borrow::Cow::Owned(
        s.chars()
            .map(|c| match c {
                '\n' => "\\n".to_string(),
                '\r' => "\\r".to_string(),
                '\t' => "\\t".to_string(),
                c if escaped(c) => format!("\\u{{{:x}}}", c as u32),
                c => c.to_string(),
            })
            .collect(),
    )
}

impl Drop for MaskedLine {
    fn drop(&mut self) {
        let raw = String::from_utf8_lossy(&self.0);
        // One event, one line: only the final line break stays.
        let body = raw.strip_suffix('\n').unwrap_or(&raw);
        let text = format!("{}\n", one_line(body));
        let masked = STEP_LOG.try_with(|log| mask_str(&text, &log.secrets)).ok().flatten();
        let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), masked.as_deref().unwrap_or(&text).as_bytes());
    }
}

struct MessageVisitor(String);

impl tracing::field::Visit for MessageVisitor {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            self.0.insert_str(0, value);
        } else {
            self.0.push_str(&format!(" {}={}", field.name(), value));
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.0.insert_str(0, &format!("{value:?}"));
        } else {
            self.0.push_str(&format!(" {}={:?}", field.name(), value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_defaults_missing_parts() {
        let m = StartMessage::parse(&json!({"version": "v1", "type": "action_start", "body": {"action": "get_ticket"}})).unwrap();
        assert_eq!(m.kind, MessageType::ActionStart);
        assert_eq!(m.name.as_deref(), Some("get_ticket"));
        assert_eq!(m.meta, json!({}));
        assert_eq!(m.connection, json!({}));
        assert_eq!(m.input, json!({}));
    }

    #[test]
    fn parse_rejects_malformed_messages() {
        let cause = |v: Value| StartMessage::parse(&v).unwrap_err().cause;
        assert_eq!(cause(json!({"type": "action_start", "body": {}})), "\"version\" missing from input message");
        assert_eq!(cause(json!({"version": "v2", "type": "action_start", "body": {}})), "Unsupported version 'v2'. Only v1 is supported");
        assert_eq!(cause(json!({"version": "v1", "body": {}})), "\"type\" missing from input message");
        assert_eq!(cause(json!({"version": "v1", "type": "action_start"})), "\"body\" missing from input message");
        assert_eq!(
            cause(json!({"version": "v1", "type": "action_start", "body": {}})),
            "Message is action_start but field \"action\" is missing from body"
        );
        assert_eq!(cause(json!({"version": "v1", "type": "trigger_start", "body": {"trigger": 5}})), "Trigger field must be a string");
        assert!(cause(json!({"version": "v1", "type": "nope", "body": {}})).starts_with("Unsupported message type \"nope\""));
        assert_eq!(StartMessage::parse(&json!([1])).unwrap_err().class, ErrorClass::Client);
    }

    #[test]
    fn status_table() {
        assert_eq!(PluginError::client("x", "y").http_status(), 400);
        assert_eq!(PluginError::preset(Preset::BadRequest).http_status(), 400);
        assert_eq!(PluginError::preset(Preset::ServerError).http_status(), 500);
        assert_eq!(PluginError::preset(Preset::ServerError).into_connection_test().http_status(), 400);
        assert_eq!(PluginError::internal("bug").http_status(), 500);
        assert_eq!(PluginError::new(ErrorClass::NotImplemented, "x", "y").http_status(), 501);
    }

    #[test]
    fn error_strings_follow_the_runtime() {
        let e = PluginError::preset(Preset::Timeout).with_data("slow");
        assert_eq!(
            e.to_string(),
            format!(
                "An error occurred during plugin execution! {} {} Response was slow",
                Preset::Timeout.cause(),
                Preset::Timeout.assistance()
            )
        );
        let c = PluginError::preset(Preset::InvalidCredentials).into_connection_test();
        assert!(c.to_string().starts_with("Connection test failed! Authentication failed: invalid credentials."));
    }

    #[test]
    fn envelope_shapes() {
        let ok = envelope(Some("action_event"), &json!({"jobId": "j"}), "l\n".into(), Ok(json!({"found": true})));
        assert_eq!(
            ok,
            json!({"body": {"log": "l\n", "status": "ok", "meta": {"jobId": "j"}, "output": {"found": true}}, "version": "v1", "type": "action_event"})
        );
        let e = PluginError::client("bad", "fix it");
        let err = envelope(None, &json!({}), String::new(), Err(e));
        assert_eq!(err["type"], Value::Null);
        assert_eq!(err["body"]["status"], "error");
        assert_eq!(err["body"]["error"], "bad");
        assert_eq!(err["body"]["exception"]["assistance"], "fix it");
        assert!(err["body"].get("output").is_none());
    }

    #[test]
    fn masks_secrets_at_any_depth_and_truncated_leaks() {
        let conn = json!({"client_id": "id", "client_secret": {"secretKey": "supersecretvalue"}, "nested": {"x": {"token": "tok123456"}}, "key": ""});
        let secrets = connection_secrets(&conn);
        assert_eq!(secrets, vec!["supersecretvalue".to_string(), "tok123456".to_string()]);
        let mut out = json!({"log": "sent supersecretvalue and tok123456!", "a": ["x supersecretval y"], "n": 5, "short": "supersecret"});
        mask_secrets(&mut out, &secrets);
        assert_eq!(out["log"], "sent ******** and ********!");
        assert_eq!(out["a"][0], "x ******** y");
        assert_eq!(out["short"], "supersecret", "a prefix of 80% or less is not a leak");
        assert_eq!(out["n"], 5);
    }

    #[tokio::test]
    async fn step_log_collects_events_inside_the_scope_only() {
        use tracing_subscriber::layer::SubscriberExt;
        let subscriber = tracing_subscriber::registry().with(StepLogLayer);
        let _guard = tracing::subscriber::set_default(subscriber);
        let log = StepLog::new(false, vec!["hunter22secret".into()]);
        log.scope(async {
            tracing::info!("password is hunter22secret");
            tracing::info!(target: "hyper::client", "not ours");
            tracing::info!("inside");
            tracing::debug!("hidden");
            tracing::warn!(ticket = 5, "warned");
        })
        .await;
        tracing::info!("outside");
        let text = log.take();
        assert!(text.contains("INFO inside\n"), "{text}");
        assert!(text.contains("WARN warned ticket=5\n"), "{text}");
        assert!(text.contains("INFO password is ********\n"), "{text}");
        assert!(!text.contains("not ours"), "{text}");
        assert!(!text.contains("hidden") && !text.contains("outside"), "{text}");
        assert_eq!(log.take(), "");
    }
}
