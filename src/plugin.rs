//! The step registry and the one path every step takes (`Plugin::handle`), plus the
//! connection → client cache.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use indexmap::IndexMap;
use serde_json::{Value, json};

use crate::actions::{self, ActionContext, Handler};
use crate::halo::{ConnectionConfig, HaloClient, RetryPolicy};
use crate::protocol::{ErrorClass, MessageType, PluginError, StartMessage, StepLog, envelope, mask_secrets};
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
    pub status: u16,
}

impl Outcome {
    pub fn is_ok(&self) -> bool {
        self.status < 300
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

pub struct Plugin {
    spec: &'static Spec,
    actions: HashMap<&'static str, Handler>,
    clients: Mutex<IndexMap<String, Arc<ClientSlot>>>,
    debug: bool,
    retry: Option<RetryPolicy>,
}

impl Plugin {
    pub fn new(debug: bool) -> Self {
        crate::protocol::ensure_log_capture();
        let actions = actions::registry().into_iter().map(|h| (h.name, h)).collect();
        Plugin { spec: spec(), actions, clients: Mutex::new(IndexMap::new()), debug, retry: None }
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
        let secrets = StartMessage::secrets_of(&msg, self.spec);
        let log = StepLog::new(self.debug, secrets.clone());
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
            Ok(Value::Null) => (204, Ok(json!({}))),
            Ok(v) => (200, Ok(v)),
            Err(e) => (e.http_status(), Err(e)),
        };
        let mut message = envelope(out_type, &meta, log.take(), output);
        mask_secrets(&mut message, &secrets);
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
        let connection = self.connection(&m.connection)?;
        let client = self.client_for(connection.clone()).await?;
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
        let Prepared { input, client, .. } = self.prepare(StepKind::Action, m).await?;
        let output = (handler.run)(ActionContext { client }, input).await?;
        self.check_output(StepKind::Action, &name, &output)?;
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
        let mut conn = connection.clone();
        warn_unknown(&self.spec.connection, connection, "the connection");
        self.spec.validate_input(&self.spec.connection, &mut conn, Section::Connection).map_err(|e| {
            let field = e.path.clone();
            PluginError::client(format!("{e}."), format!("Correct the connection field `{field}` and run the step again."))
        })?;
        Ok(ConnectionConfig::from_value(&conn)?)
    }

    /// The shared client of a connection.
    pub async fn client(&self, connection: &Value) -> Result<Arc<HaloClient>, PluginError> {
        self.client_for(self.connection(connection)?).await
    }

    /// The shared client of a checked connection.
    async fn client_for(&self, cfg: ConnectionConfig) -> Result<Arc<HaloClient>, PluginError> {
        let key = cfg.cache_key();
        let slot = {
            let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
            match clients.get_index_of(&key) {
                Some(i) => {
                    let last = clients.len() - 1;
                    clients.move_index(i, last);
                    clients[last].clone()
                }
                None => {
                    if clients.len() >= MAX_CLIENTS {
                        clients.shift_remove_index(0);
                    }
                    let slot = Arc::new(ClientSlot::new());
                    clients.insert(key, slot.clone());
                    slot
                }
            }
        };
        // Concurrent first requests wait here (without holding a thread) for one client, and so
        // share one token. A build that fails is not kept: the next step tries again.
        let client = slot
            .get_or_try_init(|| async {
                // The status mapping is part of the cache key: checked once per distinct
                // connection, not on every step (a failed check is not kept either).
                crate::sync::Mappings::of_connection(&cfg)?;
                let client = HaloClient::new(cfg)?;
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
        self.clients.lock().map(|c| c.len()).unwrap_or(0)
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
    fn output_breaking_the_spec_is_a_500_plugin_bug() {
        let p = Plugin::new(false);
        assert!(p.check_output(StepKind::Action, "get_ticket", &json!({"ticket": {"id": 5}, "found": true})).is_ok());
        let e = p.check_output(StepKind::Action, "get_ticket", &json!({"ticket": {"id": "5"}, "found": true})).unwrap_err();
        assert_eq!(e.http_status(), 500);
        assert!(e.cause.contains("output `ticket.id`: expected an integer"), "{}", e.cause);
        assert!(e.assistance.contains("defect in the plugin"));
        let e = p.check_output(StepKind::Action, "get_ticket", &json!({"ticket": {"agent_name": null}, "found": true})).unwrap_err();
        assert!(e.cause.contains("`ticket.agent_name`: is null"), "{}", e.cause);
    }
}
