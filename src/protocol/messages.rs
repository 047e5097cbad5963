//! Start messages in, output messages out.

use serde_json::{Map, Value, json};

use super::*;

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
    /// The message type a message declares, read as `parse` reads it.
    pub fn type_of(msg: &Value) -> Option<MessageType> {
        msg.get("type").and_then(Value::as_str).and_then(MessageType::parse)
    }

    pub fn salvage(msg: &Value) -> (Option<&'static str>, Value) {
        let out_type = Self::type_of(msg).map(MessageType::output_type);
        let meta = msg.get("body").and_then(|b| b.get("meta")).cloned().unwrap_or_else(|| Value::Object(Map::new()));
        (out_type, meta)
    }

    /// Every secret of the connection a message carries, for masking.
    pub fn secrets_of(msg: &Value, spec: &crate::spec::Spec) -> Vec<String> {
        let conn = msg.get("body").and_then(|b| b.get("connection")).unwrap_or(&Value::Null);
        Self::secrets_of_connection(conn, spec)
    }

    /// Every secret of a connection, in every form it takes on the wire.
    pub fn secrets_of_connection(conn: &Value, spec: &crate::spec::Spec) -> Vec<String> {
        let mut secrets = connection_secrets(conn);
        secrets.extend(spec.sensitive_strings(conn));
        with_encodings(&mut secrets, conn);
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
    // Built by moving the body in: `json!` would copy the whole output through serde.
    let mut message = Map::new();
    message.insert("body".into(), Value::Object(body));
    message.insert("version".into(), json!("v1"));
    message.insert("type".into(), out_type.map_or(Value::Null, |t| Value::String(t.into())));
    Value::Object(message)
}
