//! The step registry and the one path every step takes (`Plugin::handle`), plus the
//! connection → client cache.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use indexmap::IndexMap;
use serde_json::{Value, json};

use crate::actions::{self, ActionContext, Handler};
use crate::halo::{ConnectionConfig, HaloClient, RetryPolicy};
use crate::protocol::{ErrorClass, Masker, MessageType, PluginError, StartMessage, StepLog, envelope};
use crate::spec::{Section, Spec, StepKind, ValidationError, spec};

/// Run the step, or its connection test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Run,
    Test,
}

/// The answer to one start message.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The output message (already masked).
    pub message: Value,
    /// The HTTP status the REST API answers with.
    pub status: axum::http::StatusCode,
}

impl Outcome {
    pub fn is_ok(&self) -> bool {
        self.status.is_success()
    }
}

/// A step ready to run.
pub struct Prepared {
    /// The input, validated, the spec's defaults in.
    pub input: Value,
    /// The connection's shared client.
    pub client: Arc<HaloClient>,
    /// This message's connection, checked (a cached client may serve connections that differ
    /// in what it does not use, such as webhook settings).
    pub connection: ConnectionConfig,
}

/// A cached client, built once by whichever request needs it first (outside the cache lock).
type ClientSlot = tokio::sync::OnceCell<Arc<HaloClient>>;

/// Most connections a process serves at once; more are evicted least recently used first.
const MAX_CLIENTS: usize = 32;
/// Largest output an action gives (its JSON), as large as the largest body it takes: a record
/// HaloITSM answers with is capped already, and many of them together are capped here.
pub const MAX_OUTPUT_BYTES: usize = 48 * 1024 * 1024;

/// Most distinct connection texts kept checked (several texts may share one client).
const MAX_KNOWN: usize = 64;

/// A connection as start messages carry it, checked once: every later message with the same
/// connection text skips the spec check, the URL parsing and the compiling of its secrets.
pub struct KnownConnection {
    pub config: ConnectionConfig,
    /// Its client's key in the client cache.
    client_key: String,
    /// Its secrets, in every form, for masking outputs and logs.
    pub masker: Arc<Masker>,
}

/// Least recently used first, bounded.
struct Lru<T> {
    entries: Mutex<IndexMap<String, T>>,
    max: usize,
}

impl<T: Clone> Lru<T> {
    fn new(max: usize) -> Self {
        Lru { entries: Mutex::new(IndexMap::new()), max }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, IndexMap<String, T>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self, key: &str) -> Option<T> {
        let mut entries = self.lock();
        let i = entries.get_index_of(key)?;
        let last = entries.len() - 1;
        entries.move_index(i, last);
        Some(entries[last].clone())
    }

    /// The entry under `key`, made by `make` when there is none.
    fn get_or_insert_with(&self, key: String, make: impl FnOnce() -> T) -> T {
        if let Some(v) = self.get(&key) {
            return v;
        }
        let mut entries = self.lock();
        if let Some(v) = entries.get(&key) {
            return v.clone();
        }
        if entries.len() >= self.max {
            entries.shift_remove_index(0);
        }
        let v = make();
        entries.insert(key, v.clone());
        v
    }

    fn len(&self) -> usize {
        self.lock().len()
    }
}

pub struct Plugin {
    spec: &'static Spec,
    actions: HashMap<&'static str, Handler>,
    clients: Lru<Arc<ClientSlot>>,
    known: Lru<Arc<KnownConnection>>,
    debug: bool,
    retry: Option<RetryPolicy>,
}

impl Plugin {
    pub fn new(debug: bool) -> Self {
        crate::protocol::ensure_log_capture();
        let actions = actions::registry().into_iter().map(|h| (h.name, h)).collect();
        Plugin { spec: spec(), actions, clients: Lru::new(MAX_CLIENTS), known: Lru::new(MAX_KNOWN), debug, retry: None }
    }

    /// Use this retry policy for every HaloITSM client (tests use short delays).
    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = Some(retry);
        self
    }

    pub fn spec(&self) -> &'static Spec {
        self.spec
    }

    pub fn debug(&self) -> bool {
        self.debug
    }

    /// Handle one start message: validate, run, validate the output, wrap and mask it.
    pub async fn handle(&self, msg: Value, mode: Mode) -> Outcome {
        let masker = self.masker_of(&msg);
        let log = StepLog::new(self.debug, masker.clone());
        let (out_type, meta, result) = log
            .scope(async {
                let (salvaged_type, salvaged_meta) = StartMessage::salvage(&msg);
                let (out_type, meta, result) = match StartMessage::from_value(msg) {
                    Err(e) => (salvaged_type, salvaged_meta, Err(e)),
                    Ok(mut m) => {
                        let result = self.run(&mut m, mode).await;
                        (Some(m.kind.output_type()), m.meta, result)
                    }
                };
                match &result {
                    Err(e) if e.class == ErrorClass::Client => tracing::warn!("{e}"),
                    Err(e) => tracing::error!("{e}"),
                    Ok(_) => {}
                }
                (out_type, meta, result)
            })
            .await;
        let (status, output) = match result {
            Ok(Value::Null) => (axum::http::StatusCode::NO_CONTENT, Ok(json!({}))),
            Ok(v) => (axum::http::StatusCode::OK, Ok(v)),
            Err(e) => (e.http_status(), Err(e)),
        };
        let mut message = envelope(out_type, &meta, log.take(), output);
        masker.mask_value(&mut message);
        Outcome { message, status }
    }

    async fn run(&self, m: &mut StartMessage, mode: Mode) -> Result<Value, PluginError> {
        let kind = m.kind.step_kind();
        if let (Some(kind), Some(name)) = (kind, &m.name) {
            if self.spec.step(kind, name).is_none() {
                return Err(unknown_step(kind, name));
            }
        }
        if mode == Mode::Test || m.kind == MessageType::ConnectionTest {
            return self.connection_test(m).await;
        }
        match m.kind {
            MessageType::ActionStart => self.run_action(m).await,
            MessageType::TriggerStart => Err(PluginError::client(
                "Triggers are not started over the REST API.",
                "Start a trigger with `run` and a trigger_start message on standard input.",
            )),
            // Task and connection-test messages were answered above (no tasks exist).
            MessageType::TaskStart | MessageType::ConnectionTest => Err(PluginError::client("Unknown task.", "This plugin has no tasks.")),
        }
    }

    /// The first half of every step, action or trigger: the step is one of the spec's, the
    /// connection (checked once) gives the shared client, and the input, taken from the message
    /// (never copied), is validated with the spec's defaults applied.
    pub async fn prepare(&self, kind: StepKind, m: &mut StartMessage) -> Result<Prepared, PluginError> {
        let name = m.name.clone().unwrap_or_default();
        let step = self.spec.step(kind, &name).ok_or_else(|| unknown_step(kind, &name))?;
        let known = self.known_connection(&m.connection)?;
        let connection = known.config.clone();
        let client = self.client_for(&known).await?;
        let mut input = std::mem::take(&mut m.input);
        warn_unknown(&step.input, &input, &format!("{} `{name}`", kind.as_str()));
        self.spec.validate_input(&step.input, &mut input, Section::Input).map_err(|e| invalid(e, kind, &name))?;
        tracing::info!("{}/{}:{}. Step name: {}", self.spec.vendor, self.spec.name, self.spec.version, name);
        Ok(Prepared { input, client, connection })
    }

    /// Runs the action on the message's input.
    async fn run_action(&self, m: &mut StartMessage) -> Result<Value, PluginError> {
        let name = m.name.clone().unwrap_or_default();
        let handler = self
            .actions
            .get(name.as_str())
            .ok_or_else(|| PluginError::internal(format!("The action `{name}` is in the spec but has no handler.")))?;
        (handler.before_validation)(&mut m.input)?;
        let Prepared { input, client, .. } = self.prepare(StepKind::Action, m).await?;
        let output = (handler.run)(ActionContext { client }, input).await?;
        self.check_output(StepKind::Action, &name, &output)?;
        output_within_limit(&name, &output)?;
        Ok(output)
    }

    /// An output that breaks its own spec is a plugin bug (500), never the user's fault.
    pub fn check_output(&self, kind: StepKind, name: &str, output: &Value) -> Result<(), PluginError> {
        let step = self.spec.step(kind, name).ok_or_else(|| unknown_step(kind, name))?;
        self.spec.validate_output(&step.output, output).map_err(|e| {
            PluginError::internal(format!("The {} `{name}` produced output that does not match its specification: {e}.", kind.as_str()))
        })
    }

    async fn connection_test(&self, m: &StartMessage) -> Result<Value, PluginError> {
        tracing::info!("{}/{}:{}", self.spec.vendor, self.spec.name, self.spec.version);
        let client = self.client(&m.connection).await.map_err(PluginError::into_connection_test)?;
        client.test_connection().await.map_err(|e| PluginError::from(&e).into_connection_test())?;
        tracing::info!("Connected to HaloITSM at {} and read tickets successfully", client.config().resource_server);
        Ok(json!({"success": true}))
    }

    /// A connection validated against the spec (defaults applied) and its settings checked (the
    /// status mapping when its client is first built): a bad setting fails naming it, so the
    /// connection test reports it too.
    pub fn connection(&self, connection: &Value) -> Result<ConnectionConfig, PluginError> {
        warn_unknown(&self.spec.connection, connection, "the connection");
        self.checked_connection(connection)
    }

    fn checked_connection(&self, connection: &Value) -> Result<ConnectionConfig, PluginError> {
        let mut conn = connection.clone();
        self.spec.validate_input(&self.spec.connection, &mut conn, Section::Connection).map_err(|e| {
            let field = e.path.clone();
            PluginError::client(format!("{e}."), format!("Correct the connection field `{field}` and run the step again."))
        })?;
        Ok(ConnectionConfig::from_value(&conn)?)
    }

    /// A connection checked as `connection` checks it, once per distinct connection text. A
    /// connection that fails its check is not kept: it is checked (and reported) every time.
    pub fn known_connection(&self, connection: &Value) -> Result<Arc<KnownConnection>, PluginError> {
        // Unknown keys are warned about on every step, as each step's log should say so.
        warn_unknown(&self.spec.connection, connection, "the connection");
        let text = serde_json::to_string(connection).unwrap_or_default();
        if let Some(known) = self.known.get(&text) {
            return Ok(known);
        }
        let config = self.checked_connection(connection)?;
        let masker = Arc::new(Masker::new(StartMessage::secrets_of_connection(connection, self.spec)));
        let known = KnownConnection { client_key: config.cache_key(), config, masker };
        Ok(self.known.get_or_insert_with(text, || Arc::new(known)))
    }

    /// The masking of a start message's secrets: its checked connection's, or (a connection
    /// that does not pass its check) compiled for this message alone.
    fn masker_of(&self, msg: &Value) -> Arc<Masker> {
        let connection = msg.get("body").and_then(|b| b.get("connection")).unwrap_or(&Value::Null);
        let text = serde_json::to_string(connection).unwrap_or_default();
        match self.known.get(&text) {
            Some(known) => known.masker.clone(),
            None => Arc::new(Masker::new(StartMessage::secrets_of_connection(connection, self.spec))),
        }
    }

    /// The shared client of a connection.
    pub async fn client(&self, connection: &Value) -> Result<Arc<HaloClient>, PluginError> {
        self.client_for(&*self.known_connection(connection)?).await
    }

    /// The shared client of a checked connection.
    async fn client_for(&self, known: &KnownConnection) -> Result<Arc<HaloClient>, PluginError> {
        let slot = self.clients.get_or_insert_with(known.client_key.clone(), || Arc::new(ClientSlot::new()));
        let cfg = &known.config;
        // Concurrent first requests wait here (without holding a thread) for one client, and so
        // share one token. A build that fails is not kept: the next step tries again.
        let client = slot
            .get_or_try_init(|| async {
                // The status mapping is part of the cache key: checked once per distinct
                // connection, not on every step (a failed check is not kept either).
                crate::sync::Mappings::of_connection(cfg)?;
                let client = HaloClient::new(cfg.clone())?;
                Ok::<_, PluginError>(Arc::new(match &self.retry {
                    Some(p) => client.with_retry_policy(p.clone()),
                    None => client,
                }))
            })
            .await?;
        Ok(client.clone())
    }

    /// How many distinct connections have a cached client.
    pub fn cached_clients(&self) -> usize {
        self.clients.len()
    }
}

/// Keys a step or connection does not have are ignored, but never silently: a misspelt input
/// would otherwise just not take effect.
pub fn warn_unknown(schema: &crate::spec::ObjectSchema, given: &Value, of: &str) {
    let Some(obj) = given.as_object() else { return };
    let unknown: Vec<&str> = obj.keys().map(String::as_str).filter(|k| schema.field(k).is_none()).collect();
    if !unknown.is_empty() {
        let known: Vec<&str> = schema.fields.iter().map(|f| f.name.as_str()).collect();
        tracing::warn!(
            "Ignored input {} of {of}: not one of its inputs ({})",
            unknown.iter().map(|k| format!("`{}`", crate::protocol::one_line(k))).collect::<Vec<_>>().join(", "),
            known.join(", ")
        );
    }
}

/// An output larger than a step gives is refused, saying how large it would have been.
fn output_within_limit(name: &str, output: &Value) -> Result<(), PluginError> {
    let size = json_size(output);
    if size <= MAX_OUTPUT_BYTES {
        return Ok(());
    }
    Err(PluginError::plugin(
        crate::protocol::Preset::ServerError,
        format!("The output of action `{name}` would be about {size} bytes, more than the {MAX_OUTPUT_BYTES} bytes a step gives."),
        "Ask for less in one step: a smaller page or limit, fewer records, or a lower max_bytes.",
    ))
}

/// About how many bytes `v` takes as JSON (escapes aside), without writing it out.
fn json_size(v: &Value) -> usize {
    match v {
        Value::Null | Value::Bool(_) => 5,
        Value::Number(_) => 20,
        Value::String(s) => s.len() + 2,
        Value::Array(a) => 2 + a.iter().map(|v| json_size(v) + 1).sum::<usize>(),
        Value::Object(m) => 2 + m.iter().map(|(k, v)| k.len() + 4 + json_size(v)).sum::<usize>(),
    }
}

pub fn unknown_step(kind: StepKind, name: &str) -> PluginError {
    let list: Vec<&String> = match kind {
        StepKind::Action => spec().actions.keys().collect(),
        StepKind::Trigger => spec().triggers.keys().collect(),
        StepKind::Task => spec().tasks.keys().collect(),
    };
    let known = if list.is_empty() { "none".to_string() } else { list.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ") };
    PluginError::client(format!("Unknown {} \"{name}\"", kind.as_str()), format!("Use one of this plugin's {}s: {known}.", kind.as_str()))
}

fn invalid(e: ValidationError, kind: StepKind, name: &str) -> PluginError {
    PluginError::client(
        format!("Invalid {} for {} `{name}`: {e}.", e.section, kind.as_str()),
        format!("Correct the {} field `{}` and run the step again.", e.section, e.path),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_text_is_checked_once_and_each_text_on_its_own() {
        let p = Plugin::new(false);
        let conn = json!({"client_id": "id", "client_secret": {"secretKey": "s3cret-value"},
                          "authorization_server": "https://h.example.com/auth", "resource_server": "https://h.example.com/api"});
        let (a, b) = (p.known_connection(&conn).unwrap(), p.known_connection(&conn).unwrap());
        assert!(Arc::ptr_eq(&a, &b), "the second step reuses the first step's check");
        let mut other = conn.clone();
        other["timeout_seconds"] = json!(5);
        assert!(!Arc::ptr_eq(&a, &p.known_connection(&other).unwrap()));
        assert_eq!(a.masker.mask_str("x s3cret-value y").as_deref(), Some("x ******** y"));
    }

    #[test]
    fn an_output_larger_than_a_step_gives_is_refused_naming_its_size() {
        let rows: Vec<Value> = (0..7).map(|i| json!({"id": i, "details": "x".repeat(7 * 1024 * 1024)})).collect();
        let e = output_within_limit("list_tickets", &json!({"tickets": rows})).unwrap_err();
        assert!(
            e.cause.contains("`list_tickets` would be about 51380533 bytes") && e.cause.contains("more than the 50331648 bytes"),
            "{}",
            e.cause
        );
        assert!(output_within_limit("get_ticket", &json!({"ticket": {"id": 1, "details": "x".repeat(1024)}})).is_ok());
    }

    #[test]
    fn output_breaking_the_spec_is_a_500_plugin_bug() {
        let p = Plugin::new(false);
        assert!(p.check_output(StepKind::Action, "get_ticket", &json!({"ticket": {"id": 5}, "found": true})).is_ok());
        let e = p.check_output(StepKind::Action, "get_ticket", &json!({"ticket": {"id": "5"}, "found": true})).unwrap_err();
        assert_eq!(e.http_status().as_u16(), 500);
        assert!(e.cause.contains("output `ticket.id`: expected an integer"), "{}", e.cause);
        assert!(e.assistance.contains("defect in the plugin"));
        let e = p.check_output(StepKind::Action, "get_ticket", &json!({"ticket": {"agent_name": null}, "found": true})).unwrap_err();
        assert!(e.cause.contains("`ticket.agent_name`: is null"), "{}", e.cause);
    }
}
