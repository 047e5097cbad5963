//! What a running trigger is asked to do: its typed input (validated against the spec first,
//! so the spec's defaults are already in), the connection's webhook and Rapid7 settings (checked
//! once, by `ConnectionConfig` and `Mappings::of_connection`), and the environment.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::webhook::{Auth, Credentials};
use crate::halo::ConnectionConfig;
use crate::protocol::{PluginError, StartMessage};
use crate::sync::Mappings;
pub use crate::ticket_events::Kind;
use crate::ticket_events::changes;
use crate::ticket_events::event::{FilterInput, Filters};

/// Furthest a first start looks back (100 years): further overflows the minutes-to-seconds
/// conversion or the date arithmetic, and reaches before any HaloITSM date anyway.
const MAX_LOOKBACK_MINUTES: i64 = 100 * 365 * 24 * 60;

/// Where the trigger hears of changes (input `source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Listen {
    #[serde(rename = "poll")]
    Poll,
    #[serde(rename = "webhook")]
    Webhook,
    #[serde(rename = "webhook+poll")]
    WebhookAndPoll,
}

impl Listen {
    pub fn polls(self) -> bool {
        matches!(self, Listen::Poll | Listen::WebhookAndPoll)
    }

    pub fn listens(self) -> bool {
        matches!(self, Listen::Webhook | Listen::WebhookAndPoll)
    }
}

/// A trigger's input after spec validation. Inputs with a spec default are always present; the
/// others are absent when not given (or not an input of this trigger).
#[derive(Debug, Deserialize)]
struct Input {
    source: Listen,
    interval_seconds: i64,
    webhook_port: i64,
    webhook_bind: String,
    allow_unauthenticated_webhooks: bool,
    replay_dead_letters: bool,
    lookback_minutes: Option<i64>,
    /// Which events: each trigger has some of these.
    #[serde(flatten)]
    filters: FilterInput,
}

/// Everything a running trigger needs, from its start message and the environment.
pub struct Config {
    pub name: String,
    pub meta: Value,
    pub poll: bool,
    pub webhook: bool,
    pub interval: Duration,
    pub webhook_addr: SocketAddr,
    pub lookback: Option<Duration>,
    /// Which events this trigger sends.
    pub filters: Filters,
    /// What webhook deliveries must carry (nothing configured: accepted as they come).
    pub auth: Auth,
    /// Send the dead letters again on start.
    pub replay_dead_letters: bool,
    /// Directory of the state, journal and inbox files.
    pub state_dir: PathBuf,
    /// File name stem: the trigger ID from `meta.triggerId`.
    pub state_name: String,
    /// The orchestrator's "stop now" flag file.
    pub flag_file: PathBuf,
    /// Where events go (`dispatcher.url`); None in debug mode (stdout).
    pub dispatcher_url: Option<String>,
    /// The custom field holding a ticket's Rapid7 reference (connection).
    pub reference_field_id: Option<i64>,
    /// Rapid7 status mappings (connection).
    pub mappings: Mappings,
}

/// The cache directory (`ICON_HALOITSM_CACHE_DIR`, default `/workspace/cache`).
pub fn cache_dir() -> PathBuf {
    std::env::var_os("ICON_HALOITSM_CACHE_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/workspace/cache"))
}

/// The terminate flag (`ICON_HALOITSM_FLAG_DIR`, default `/workspace/tmp`).
pub fn flag_file() -> PathBuf {
    std::env::var_os("ICON_HALOITSM_FLAG_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/workspace/tmp"))
        .join("terminate_trigger.flag")
}

fn bad_input(name: &str, cause: String, assistance: &str) -> PluginError {
    PluginError::client(format!("Invalid input for trigger `{name}`: {cause}."), assistance)
}

/// The webhook listener's authentication, from the connection's checked settings.
fn auth_of(connection: &ConnectionConfig) -> Auth {
    Auth {
        basic: connection
            .webhook_credentials
            .as_ref()
            .map(|c| Credentials { username: c.username.clone(), password: c.password.expose().to_string() }),
        secret: connection.webhook_secret.as_ref().map(|s| s.expose().to_string()),
        api_key_header: connection.webhook_api_key_header.clone(),
    }
}

impl Config {
    /// Build from a parsed `trigger_start` message, its input validated against the spec
    /// (defaults applied) and its checked connection.
    pub fn from_message(m: &StartMessage, input: Value, connection: &ConnectionConfig) -> Result<Config, PluginError> {
        let name = m.name.clone().unwrap_or_default();
        let kind = Kind::from_name(&name).ok_or_else(|| crate::plugin::unknown_step(crate::spec::StepKind::Trigger, &name))?;
        let input: Input = serde_json::from_value(input)
            .map_err(|e| PluginError::internal(format!("The validated input of trigger `{name}` does not fit its input type: {e}.")))?;
        if input.interval_seconds < 5 {
            return Err(bad_input(
                &name,
                format!("input `interval_seconds` must be at least 5, got {}", input.interval_seconds),
                "Poll every 5 seconds or less often.",
            ));
        }
        // 0 takes any free port, named in the log: what a test starting several triggers needs.
        let port = u16::try_from(input.webhook_port).map_err(|_| {
            bad_input(
                &name,
                format!("input `webhook_port` must be a port number (0-65535), got {}", input.webhook_port),
                "Pick a free port, e.g. 10002.",
            )
        })?;
        let ip: IpAddr = input.webhook_bind.parse().map_err(|_| {
            bad_input(
                &name,
                format!("input `webhook_bind` must be an IP address, got `{}`", input.webhook_bind),
                "Use 0.0.0.0 to listen everywhere, or the address of one interface.",
            )
        })?;
        let lookback = match input.lookback_minutes {
            Some(m) if m < 0 => {
                return Err(bad_input(
                    &name,
                    format!("input `lookback_minutes` must not be negative, got {m}"),
                    "Leave it empty to start from now.",
                ));
            }
            Some(m) if m > MAX_LOOKBACK_MINUTES => {
                return Err(bad_input(
                    &name,
                    format!("input `lookback_minutes` must be at most {MAX_LOOKBACK_MINUTES} (100 years), got {m}"),
                    "Look back less far, or leave it empty to start from now.",
                ));
            }
            Some(m) => Some(Duration::from_secs(m as u64 * 60)),
            None => None,
        };
        let watchable: Vec<&str> = changes::FIELDS.iter().copied().chain([changes::NOTE]).collect();
        let monitored_fields = changes::monitored(input.filters.monitored_fields.as_deref(), &watchable, true)
            .map_err(|e| bad_input(&name, e, "Name fields as `changed_fields` does, e.g. status, agent, priority, custom_field_146."))?;
        let auth = auth_of(connection);
        let webhook = input.source.listens();
        if webhook && auth.is_open() && !ip.is_loopback() && !input.allow_unauthenticated_webhooks {
            return Err(bad_input(
                &name,
                format!(
                    "input `allow_unauthenticated_webhooks` is false, and without Webhook Credentials or a Webhook Secret in the connection the webhook listener would accept deliveries from anyone on {ip}"
                ),
                "Set Webhook Credentials (or a Webhook Secret) in the connection and the same in HaloITSM's webhook; or, where the port is reachable only by HaloITSM, set input `allow_unauthenticated_webhooks` to true.",
            ));
        }
        let state_name = m
            .meta
            .get("triggerId")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty() && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .map(str::to_string)
            .unwrap_or_else(|| name.clone());
        Ok(Config {
            name,
            meta: m.meta.clone(),
            poll: input.source.polls(),
            webhook,
            interval: Duration::from_secs(input.interval_seconds as u64),
            webhook_addr: SocketAddr::new(ip, port),
            lookback,
            filters: Filters::of(kind, &input.filters, monitored_fields),
            auth,
            replay_dead_letters: input.replay_dead_letters,
            state_dir: cache_dir(),
            state_name,
            flag_file: flag_file(),
            dispatcher_url: m.dispatcher.get("url").and_then(Value::as_str).filter(|u| !u.is_empty()).map(str::to_string),
            reference_field_id: connection.reference_field_id,
            mappings: Mappings::of_connection(connection)?,
        })
    }
}
