//! Ticket triggers: start a workflow once for every new ticket, every change, or every status
//! transition, from HaloITSM's webhooks, from polling, or both.
//!
//! One engine task owns the trigger's state and handles every observation in order (webhook
//! deliveries and poll cycles), so events for one ticket go out in order and exactly once:
//! a change is identified by (ticket ID, last action date, status), webhook deliveries also by
//! their delivery ID, and both sources feed the same per-ticket record. State advances only
//! after the dispatcher accepted the event, and is journalled at once (see `state`).

mod dispatch;
pub mod state;
pub mod webhook;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

pub use dispatch::Dispatcher;
use dispatch::Stopped;
use state::{Mark, Store};
use webhook::{Batch, Credentials, Inbox};

use crate::halo::ticket::{Ticket, int, parse_halo_date};
use crate::halo::{HaloClient, rows_of};
use crate::plugin::Plugin;
use crate::protocol::{PluginError, StartMessage, StepLog};
use crate::spec::{Section, StepKind};

/// Re-read this much before the poll cursor, for clock skew and late commits in HaloITSM.
pub const OVERLAP: Duration = Duration::from_secs(60);
/// Rows per poll page (HaloITSM's maximum).
const PAGE: usize = 100;

/// Which trigger runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Created,
    Updated,
    StatusChanged,
}

impl Kind {
    pub fn from_name(name: &str) -> Option<Kind> {
        match name {
            "ticket_created" => Some(Kind::Created),
            "ticket_updated" => Some(Kind::Updated),
            "ticket_status_changed" => Some(Kind::StatusChanged),
            _ => None,
        }
    }
}

/// Where a change was noticed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Webhook,
    Poll,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Source::Webhook => "webhook",
            Source::Poll => "poll",
        }
    }
}

/// Everything a running trigger needs, from its start message and the environment.
pub struct Config {
    pub kind: Kind,
    pub name: String,
    pub meta: Value,
    pub poll: bool,
    pub webhook: bool,
    pub interval: Duration,
    pub webhook_addr: SocketAddr,
    pub lookback: Option<Duration>,
    pub tickettype_id: Option<i64>,
    pub priority_id: Option<i64>,
    pub ticket_id: Option<i64>,
    pub status_changed: bool,
    pub new_status_id: Option<i64>,
    pub auth: Option<Credentials>,
    /// Directory of the state, journal and inbox files.
    pub state_dir: PathBuf,
    /// File name stem: the trigger ID from `meta.triggerId`.
    pub state_name: String,
    /// The orchestrator's "stop now" flag file.
    pub flag_file: PathBuf,
    /// Where events go (`dispatcher.url`); None in debug mode (stdout).
    pub dispatcher_url: Option<String>,
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

impl Config {
    /// Build from a parsed `trigger_start` message whose connection and input were validated
    /// against the spec (defaults applied).
    pub fn from_message(m: &StartMessage, input: &Value, connection: &Value) -> Result<Config, PluginError> {
        let name = m.name.clone().unwrap_or_default();
        let kind = Kind::from_name(&name).ok_or_else(|| {
            PluginError::client(format!("Unknown trigger \"{name}\""), "Use ticket_created, ticket_updated or ticket_status_changed.")
        })?;
        let i = |k: &str| input.get(k).and_then(Value::as_i64);
        let source = input.get("source").and_then(Value::as_str).unwrap_or("poll");
        let interval = i("interval_seconds").unwrap_or(60);
        if interval < 5 {
            return Err(bad_input(
                &name,
                format!("input `interval_seconds` must be at least 5, got {interval}"),
                "Poll every 5 seconds or less often.",
            ));
        }
        let port = i("webhook_port").unwrap_or(10002);
        let port = u16::try_from(port).ok().filter(|p| *p > 0).ok_or_else(|| {
            bad_input(&name, format!("input `webhook_port` must be a port number (1-65535), got {port}"), "Pick a free port, e.g. 10002.")
        })?;
        let bind = input.get("webhook_bind").and_then(Value::as_str).unwrap_or("0.0.0.0");
        let ip: IpAddr = bind.parse().map_err(|_| {
            bad_input(
                &name,
                format!("input `webhook_bind` must be an IP address, got `{bind}`"),
                "Use 0.0.0.0 to listen everywhere, or the address of one interface.",
            )
        })?;
        let lookback = match i("lookback_minutes") {
            Some(m) if m < 0 => {
                return Err(bad_input(
                    &name,
                    format!("input `lookback_minutes` must not be negative, got {m}"),
                    "Leave it empty to start from now.",
                ));
            }
            Some(m) => Some(Duration::from_secs(m as u64 * 60)),
            None => None,
        };
        let auth = connection.get("webhook_credentials").and_then(|c| {
            let username = c.get("username").and_then(Value::as_str)?.to_string();
            let password = c.get("password").and_then(Value::as_str)?.to_string();
            Some(Credentials { username, password })
        });
        let state_name = m
            .meta
            .get("triggerId")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty() && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .map(str::to_string)
            .unwrap_or_else(|| name.clone());
        Ok(Config {
            kind,
            name,
            meta: m.meta.clone(),
            poll: source.contains("poll"),
            webhook: source.contains("webhook"),
            interval: Duration::from_secs(interval as u64),
            webhook_addr: SocketAddr::new(ip, port),
            lookback,
            tickettype_id: i("tickettype_id"),
            priority_id: i("priority_id"),
            ticket_id: i("ticket_id"),
            status_changed: input.get("status_changed").and_then(Value::as_bool).unwrap_or(false),
            new_status_id: i("new_status_id"),
            auth,
            state_dir: cache_dir(),
            state_name,
            flag_file: flag_file(),
            dispatcher_url: m.dispatcher.get("url").and_then(Value::as_str).filter(|u| !u.is_empty()).map(str::to_string),
        })
    }
}

/// A ticket as one source saw it.
#[derive(Debug, Clone)]
struct Observation {
    id: i64,
    status: i64,
    marker: DateTime<Utc>,
    created: Option<DateTime<Utc>>,
    /// The ticket record, complete when `full`.
    ticket: Value,
    full: bool,
    /// The agent who made the change, when the source says (webhooks do).
    agent_id: Option<i64>,
    /// The source says this is a new ticket.
    new: bool,
}

impl Observation {
    fn from_ticket(t: &Value, full: bool) -> Option<Observation> {
        let id = int(t, "id").filter(|i| *i > 0)?;
        let status = int(t, "status_id")?;
        let date = |k: &str| t.get(k).and_then(Value::as_str).and_then(parse_halo_date);
        let marker = date("lastactiondate").or_else(|| date("last_update"))?;
        Some(Observation { id, status, marker, created: date("datecreated"), ticket: t.clone(), full, agent_id: None, new: false })
    }
}

/// What an observation means for the trigger's record of the ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    /// Already known (a duplicate, or older than what is known).
    Nothing,
    Created,
    /// A change; the old status when known.
    Changed {
        old: Option<i64>,
    },
}

fn decide(prev: Option<&Mark>, obs: &Observation, since: DateTime<Utc>) -> Decision {
    match prev {
        None if obs.new || obs.created.is_some_and(|c| c >= since) => Decision::Created,
        None => Decision::Changed { old: None },
        Some(p) if obs.marker < p.m => Decision::Nothing,
        Some(p) if obs.marker == p.m && obs.status == p.s => Decision::Nothing,
        Some(p) => Decision::Changed { old: Some(p.s) },
    }
}

struct Engine {
    cfg: Config,
    client: Arc<HaloClient>,
    store: Store,
    inbox: Option<Arc<Inbox>>,
    dispatcher: Dispatcher,
    log: StepLog,
    plugin: Arc<Plugin>,
    our_agent: Option<i64>,
    stop: watch::Receiver<bool>,
    dispatched: u64,
}

/// Stop reasons that end the engine.
enum Halt {
    Stopped,
    Failed(String),
}

impl From<Stopped> for Halt {
    fn from(_: Stopped) -> Self {
        Halt::Stopped
    }
}

impl From<std::io::Error> for Halt {
    fn from(e: std::io::Error) -> Self {
        Halt::Failed(format!("could not save the trigger state: {e}"))
    }
}

impl Engine {
    /// Changes at or after this moment are reported. HaloITSM dates have whole seconds, so the
    /// start is rounded down to its second: a change in the same second counts as after it.
    fn since(&self) -> DateTime<Utc> {
        use chrono::SubsecRound;
        self.store.state.since.unwrap_or_else(Utc::now).trunc_subsecs(0)
    }

    /// Handle one observation: decide, fetch what the event needs, dispatch, then record.
    async fn observe(&mut self, mut obs: Observation, source: Source) -> Result<(), Halt> {
        let prev = self.store.state.tickets.get(&obs.id).copied();
        let decision = decide(prev.as_ref(), &obs, self.since());
        let mark = Mark { s: obs.status, m: obs.marker };
        if decision == Decision::Nothing {
            return Ok(());
        }
        if prev.is_none() && obs.marker < self.since() {
            // Last changed before the trigger started (e.g. re-read in the poll overlap): only
            // remember it, so its next change is compared against this state.
            self.store.record_ticket(obs.id, mark)?;
            return Ok(());
        }
        if let Some(output) = self.event_for(decision, &mut obs, source).await? {
            self.dispatch(output).await?;
        }
        self.store.record_ticket(obs.id, mark)?;
        Ok(())
    }

    /// The event this trigger sends for a decision, if any (filters applied).
    async fn event_for(&mut self, decision: Decision, obs: &mut Observation, source: Source) -> Result<Option<Value>, Halt> {
        let (kind, ticket_filter, new_status_filter, status_changed_only) =
            (self.cfg.kind, self.cfg.ticket_id, self.cfg.new_status_id, self.cfg.status_changed);
        let (type_filter, priority_filter) = (self.cfg.tickettype_id, self.cfg.priority_id);
        let wanted = matches!(
            (kind, decision),
            (Kind::Created, Decision::Created) | (Kind::Updated | Kind::StatusChanged, Decision::Changed { .. })
        );
        if !wanted || ticket_filter.is_some_and(|t| t != obs.id) {
            return Ok(None);
        }
        if kind == Kind::StatusChanged && new_status_filter.is_some_and(|s| s != obs.status) {
            return Ok(None);
        }
        if kind == Kind::StatusChanged && matches!(decision, Decision::Changed { old: Some(o) } if o == obs.status) {
            return Ok(None);
        }
        // The history tells who made the change and, for a ticket not seen before, the
        // status it came from (never guessed).
        let needs_history = (obs.agent_id.is_none() && self.our_agent.is_some()) || matches!(decision, Decision::Changed { old: None });
        let history = if needs_history { self.history(obs.id).await } else { Vec::new() };
        let old = match decision {
            Decision::Changed { old: Some(o) } => Some(o),
            Decision::Changed { old: None } => previous_status(&history, obs.status, self.since()),
            _ => None,
        };
        let status_changed = old.map(|o| o != obs.status);
        match kind {
            Kind::Updated if status_changed_only && status_changed != Some(true) => return Ok(None),
            Kind::StatusChanged if status_changed != Some(true) => {
                if old.is_none() {
                    tracing::info!("Ticket {} changed, but its earlier status is not known; no status event is sent", obs.id);
                }
                return Ok(None);
            }
            _ => {}
        }
        if !obs.full {
            match self.ticket_patiently(obs.id).await? {
                Some(t) => {
                    obs.ticket = t;
                    obs.full = true;
                }
                None => {
                    tracing::info!("Ticket {} was deleted before its event could be sent", obs.id);
                    return Ok(None);
                }
            }
        }
        let ticket = Ticket::from_halo(&obs.ticket, |id| self.client.ticket_url(id));
        if kind == Kind::Created
            && (type_filter.is_some_and(|t| ticket.tickettype_id != Some(t))
                || priority_filter.is_some_and(|p| ticket.priority_id != Some(p)))
        {
            return Ok(None);
        }
        let actor = obs.agent_id.or_else(|| last_actor(&history));
        let by_us = matches!((actor, self.our_agent), (Some(a), Some(us)) if a == us);
        let event = match (decision, status_changed) {
            (Decision::Created, _) => "created",
            (_, Some(true)) => "status_changed",
            _ => "updated",
        };
        let changed_at = if decision == Decision::Created { obs.created.unwrap_or(obs.marker) } else { obs.marker };
        let mut out = json!({
            "ticket": ticket,
            "event": event,
            "source": source.as_str(),
            "changed_at": changed_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "changed_by_integration": by_us,
        });
        match kind {
            Kind::Updated => {
                if let Some(o) = old {
                    out["previous_status_id"] = json!(o);
                }
            }
            Kind::StatusChanged => {
                out["old_status_id"] = json!(old);
                out["new_status_id"] = json!(obs.status);
            }
            Kind::Created => {}
        }
        Ok(Some(out))
    }

    /// A ticket, waiting out HaloITSM failures (the event must not be lost); None when deleted.
    async fn ticket_patiently(&mut self, id: i64) -> Result<Option<Value>, Halt> {
        let mut delay = Duration::from_millis(500);
        loop {
            match self.client.get_ticket(id, true).await {
                Ok(t) => return Ok(t),
                Err(e) => tracing::warn!("Could not read ticket {id} ({e}); trying again in {} s", delay.as_secs_f32()),
            }
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = self.stop.changed() => return Err(Halt::Stopped),
            }
            if *self.stop.borrow() {
                return Err(Halt::Stopped);
            }
            delay = (delay * 2).min(Duration::from_secs(30));
        }
    }

    /// The ticket's actions, newest last (empty when they cannot be read).
    async fn history(&self, id: i64) -> Vec<Value> {
        match self.client.list("Actions", &[("ticket_id", id.to_string())], "actions").await {
            Ok((mut rows, _)) => {
                rows.sort_by_key(|a| int(a, "id").unwrap_or_default());
                rows
            }
            Err(e) => {
                tracing::warn!("Could not read the history of ticket {id}: {e}");
                Vec::new()
            }
        }
    }

    /// Validate and send one event; retried until accepted or stopped.
    async fn dispatch(&mut self, output: Value) -> Result<(), Halt> {
        self.plugin.check_output(StepKind::Trigger, &self.cfg.name, &output).map_err(|e| Halt::Failed(e.to_string()))?;
        let ticket_id = output["ticket"]["id"].clone();
        tracing::info!("Sending a {} event for ticket {ticket_id}", output["event"].as_str().unwrap_or("ticket"));
        let msg =
            json!({"version": "v1", "type": "trigger_event", "body": {"meta": self.cfg.meta, "output": output, "log": self.log.take()}});
        self.dispatcher.send(&msg, &mut self.stop).await?;
        self.dispatched += 1;
        Ok(())
    }

    /// Handle deliveries from the webhook inbox.
    async fn on_batch(&mut self, batch: Batch) -> Result<(), Halt> {
        for d in &batch.deliveries {
            let delivery_id = d.get("id").and_then(Value::as_str).map(str::to_string);
            if delivery_id.as_deref().is_some_and(|id| self.store.state.seen_delivery(id)) {
                tracing::debug!("Skipping a webhook delivery already handled");
                continue;
            }
            if let Some(obs) = self.observation_from_delivery(d).await? {
                self.observe(obs, Source::Webhook).await?;
            }
            if let Some(id) = delivery_id {
                self.store.record_delivery(&id)?;
            }
        }
        self.store.set_inbox_offset(batch.inbox_end)?;
        if let Some(inbox) = &self.inbox {
            if let Some(new_offset) = inbox.truncate_if_done(batch.inbox_end)? {
                self.store.set_inbox_offset(new_offset)?;
            }
        }
        Ok(())
    }

    async fn observation_from_delivery(&mut self, d: &Value) -> Result<Option<Observation>, Halt> {
        let id = d.get("object_id").and_then(Value::as_i64).or_else(|| d.get("ticket").and_then(|t| int(t, "id")));
        let Some(id) = id.filter(|i| *i > 0) else { return Ok(None) };
        let event = d.get("event").and_then(Value::as_str).unwrap_or_default().to_ascii_lowercase();
        // A payload carrying the ticket with its change marker is enough; otherwise ("event
        // only" deliveries, partial tickets) the ticket is read from HaloITSM.
        let mut obs = match d.get("ticket").and_then(|t| Observation::from_ticket(t, true)) {
            Some(o) => o,
            None => match self.ticket_patiently(id).await? {
                Some(t) => match Observation::from_ticket(&t, true) {
                    Some(o) => o,
                    None => return Ok(None),
                },
                None => {
                    tracing::info!("A webhook named ticket {id}, which no longer exists");
                    return Ok(None);
                }
            },
        };
        obs.agent_id = d.get("agent_id").and_then(Value::as_i64);
        obs.new = event.contains("new ticket") || event.contains("logged");
        Ok(Some(obs))
    }

    /// One poll: every ticket whose last action date is at or after the cursor (minus the
    /// overlap), oldest change first, paged by date so changes made meanwhile cannot shift a
    /// ticket past a page boundary.
    async fn poll(&mut self) -> Result<(), Halt> {
        let cursor = self.store.state.cursor.unwrap_or_else(|| self.since());
        let mut from = cursor - chrono::Duration::from_std(OVERLAP).unwrap_or_default();
        let mut page_no = 1u64;
        let mut last_page_first: Option<DateTime<Utc>> = None;
        loop {
            let q = vec![
                ("datesearch", "lastactiondate".to_string()),
                ("startdate", from.format("%Y-%m-%dT%H:%M:%S").to_string()),
                ("order", "lastactiondate".to_string()),
                ("pageinate", "true".to_string()),
                ("page_size", PAGE.to_string()),
                ("page_no", page_no.to_string()),
            ];
            let answer = match self.client.get("Tickets", &q).await {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!("Polling HaloITSM failed ({e}); trying again at the next interval");
                    return Ok(());
                }
            };
            let rows = match rows_of(answer, "tickets") {
                Ok((rows, _)) => rows,
                Err(got) => {
                    tracing::warn!("HaloITSM answered the poll with {got}; trying again at the next interval");
                    return Ok(());
                }
            };
            let mut observations: Vec<Observation> = rows.iter().filter_map(|r| Observation::from_ticket(r, false)).collect();
            observations.sort_by_key(|o| (o.marker, o.id));
            let full_page = rows.len() >= PAGE;
            let first = observations.first().map(|o| o.marker);
            let last = observations.last().map(|o| o.marker);
            for obs in observations {
                let marker = obs.marker;
                self.observe(obs, Source::Poll).await?;
                self.store.advance_cursor(marker)?;
            }
            if !full_page {
                return Ok(());
            }
            // Next page: from the last date seen; if a whole page shares one date, step by page.
            match (first, last) {
                (Some(f), Some(l)) if f == l && last_page_first == Some(f) => page_no += 1,
                (Some(f), Some(l)) if f == l => {
                    last_page_first = Some(f);
                    page_no = 2;
                }
                (_, Some(l)) => {
                    from = l;
                    page_no = 1;
                    last_page_first = None;
                }
                _ => return Ok(()),
            }
        }
    }
}

/// The status a ticket had before its latest change, from its history: the old status of its
/// latest status change after `since` when that led to the current status; the current status
/// when the history shows no status change since then; None when the history cannot tell.
fn previous_status(history: &[Value], current: i64, since: DateTime<Utc>) -> Option<i64> {
    if history.is_empty() {
        return None;
    }
    for a in history.iter().rev() {
        let at = a.get("datetime").and_then(Value::as_str).and_then(parse_halo_date)?;
        if at < since {
            break;
        }
        if let (Some(new), Some(old)) = (int(a, "new_status"), int(a, "old_status")) {
            if new != old && old > 0 {
                return (new == current).then_some(old);
            }
        }
    }
    Some(current)
}

/// The agent behind the latest action.
fn last_actor(history: &[Value]) -> Option<i64> {
    history.last().and_then(|a| int(a, "actionby_agent_id").or_else(|| int(a, "agent_id")))
}

/// Resolves once the stop flag is set.
async fn until_stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Resolves when the orchestrator asks the trigger to stop: SIGTERM/SIGINT or the flag file
/// (which is removed).
async fn stop_requested(flag: PathBuf) {
    let flag_seen = async {
        loop {
            if tokio::fs::try_exists(&flag).await.unwrap_or(false) {
                let _ = tokio::fs::remove_file(&flag).await;
                tracing::info!("Found the terminate flag; saving state and stopping");
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    };
    tokio::select! {
        _ = crate::server::termination_signal() => tracing::info!("Stop signal received; saving state and stopping"),
        _ = flag_seen => {}
    }
}

/// Deployment settings of a trigger run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Events go to stdout instead of the dispatcher URL.
    pub debug: bool,
    pub state_dir: PathBuf,
    pub flag_file: PathBuf,
}

impl Options {
    /// From the environment (`ICON_HALOITSM_CACHE_DIR`, `ICON_HALOITSM_FLAG_DIR`).
    pub fn from_env(debug: bool) -> Options {
        Options { debug, state_dir: cache_dir(), flag_file: flag_file() }
    }
}

/// Run a trigger from its start message until stopped (SIGTERM, SIGINT, the terminate flag, or
/// `extra_stop`). Ok after a clean stop; Err carries the output message to print when the
/// trigger could not start or had to give up.
pub async fn run(
    plugin: Arc<Plugin>,
    msg: Value,
    opts: Options,
    extra_stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), Value> {
    let debug = opts.debug;
    let secrets = StartMessage::secrets_of(&msg, plugin.spec());
    let log = StepLog::new(debug, secrets.clone());
    let started = log.scope(prepare(plugin.clone(), &msg, &opts)).await;
    let (cfg, client) = match started {
        Ok(x) => x,
        Err(e) => {
            let (_, meta) = StartMessage::salvage(&msg);
            let mut out = crate::protocol::envelope(Some("trigger_event"), &meta, log.take(), Err(e));
            crate::protocol::mask_secrets(&mut out, &secrets);
            return Err(out);
        }
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let flag = cfg.flag_file.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = stop_requested(flag) => {}
            _ = extra_stop => {}
        }
        let _ = stop_tx.send(true);
    });
    let result = log.scope(serve(plugin, cfg, client, log.clone(), stop_rx)).await;
    match result {
        Ok(()) => Ok(()),
        Err(message) => {
            tracing::error!("{message}");
            let (_, meta) = StartMessage::salvage(&msg);
            let e = PluginError::internal(format!("The trigger stopped: {message}"));
            let mut out = crate::protocol::envelope(Some("trigger_event"), &meta, log.take(), Err(e));
            crate::protocol::mask_secrets(&mut out, &secrets);
            Err(out)
        }
    }
}

async fn prepare(plugin: Arc<Plugin>, msg: &Value, opts: &Options) -> Result<(Config, Arc<HaloClient>), PluginError> {
    let debug = opts.debug;
    let m = StartMessage::parse(msg)?;
    let name = m.name.clone().unwrap_or_default();
    let step = plugin.spec().triggers.get(&name).ok_or_else(|| {
        PluginError::client(format!("Unknown trigger \"{name}\""), "Use ticket_created, ticket_updated or ticket_status_changed.")
    })?;
    let client = plugin.client(&m.connection)?;
    let mut input = m.input.clone();
    plugin.spec().validate_input(&step.input, &mut input, Section::Input).map_err(|e| {
        PluginError::client(format!("Invalid input for trigger `{name}`: {e}."), format!("Correct the input field `{}`.", e.path))
    })?;
    let mut connection = m.connection.clone();
    let _ = plugin.spec().validate_input(&plugin.spec().connection, &mut connection, Section::Connection);
    let mut cfg = Config::from_message(&m, &input, &connection)?;
    cfg.state_dir = opts.state_dir.clone();
    cfg.flag_file = opts.flag_file.clone();
    if cfg.webhook && cfg.auth.is_none() {
        tracing::warn!("The connection has no Webhook Credentials: the webhook listener accepts deliveries without authentication");
    }
    if !debug && cfg.dispatcher_url.is_none() {
        return Err(PluginError::client(
            "The trigger_start message has no dispatcher URL.",
            "Send `dispatcher.url`, or run with --debug to print events on stdout.",
        ));
    }
    cfg.meta = m.meta.clone();
    if debug {
        // Debug mode writes events to stdout, as the Python runtime does.
        cfg.dispatcher_url = None;
    }
    tracing::info!("{}/{}:{}. Step name: {name}", plugin.spec().vendor, plugin.spec().name, plugin.spec().version);
    Ok((cfg, client))
}

async fn serve(
    plugin: Arc<Plugin>,
    cfg: Config,
    client: Arc<HaloClient>,
    log: StepLog,
    mut stop: watch::Receiver<bool>,
) -> Result<(), String> {
    let dispatcher = match &cfg.dispatcher_url {
        Some(url) => Dispatcher::http(url),
        None => Dispatcher::Stdout,
    };
    let dir = cfg.state_dir.clone();
    let mut store = Store::open(&dir, &cfg.state_name).map_err(|e| format!("cannot open the trigger state in {}: {e}", dir.display()))?;
    if store.is_new() {
        let lookback = cfg.lookback.and_then(|l| chrono::Duration::from_std(l).ok()).unwrap_or_default();
        store.set_since(Utc::now() - lookback).map_err(|e| format!("cannot save the trigger state: {e}"))?;
        tracing::info!("First start: reporting changes from {}", store.state.since.map(|s| s.to_rfc3339()).unwrap_or_default());
    } else {
        tracing::info!(
            "Resuming: {} ticket(s) known, polled up to {}",
            store.state.tickets.len(),
            store.state.cursor.map(|c| c.to_rfc3339()).unwrap_or_else(|| "-".into())
        );
    }
    // Which HaloITSM agent this API application acts as, to recognise its own changes.
    let our_agent = match client.get_optional("Agent/me", &[]).await {
        Ok(Some(me)) => int(&me, "id"),
        Ok(None) | Err(_) => {
            tracing::warn!("Could not read /Agent/me; changed_by_integration will be false");
            None
        }
    };
    let inbox = match cfg.webhook {
        true => Some(Arc::new(
            Inbox::open(&dir, &cfg.state_name).map_err(|e| format!("cannot open the webhook inbox in {}: {e}", dir.display()))?,
        )),
        false => None,
    };
    let (queue_tx, mut queue_rx) = mpsc::channel::<Batch>(4096);
    let mut engine =
        Engine { cfg, client, store, inbox: inbox.clone(), dispatcher, log, plugin, our_agent, stop: stop.clone(), dispatched: 0 };
    let outcome: Result<(), Halt> = async {
        // Deliveries accepted before the last stop but not yet handled come first.
        if let Some(inbox) = &inbox {
            let pending = inbox.unprocessed(engine.store.state.inbox_offset)?;
            if !pending.is_empty() {
                tracing::info!("Replaying {} webhook batch(es) accepted before the last stop", pending.len());
            }
            for batch in pending {
                engine.on_batch(batch).await?;
            }
        }
        if let Some(inbox) = &inbox {
            let listener = webhook::bind(engine.cfg.webhook_addr)
                .await
                .map_err(|e| Halt::Failed(format!("cannot listen for webhooks on {}: {e}", engine.cfg.webhook_addr)))?;
            tracing::info!("Listening for HaloITSM webhooks on http://{}{}", engine.cfg.webhook_addr, webhook::PATH);
            let app = webhook::router(inbox.clone(), queue_tx.clone(), engine.cfg.auth.clone());
            let mut listener_stop = stop.clone();
            tokio::spawn(async move {
                let _ = axum::serve(listener, app).with_graceful_shutdown(async move { until_stopped(&mut listener_stop).await }).await;
            });
        }
        let mut ticker = tokio::time::interval(engine.cfg.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                _ = until_stopped(&mut stop) => return Err(Halt::Stopped),
                Some(batch) = queue_rx.recv() => engine.on_batch(batch).await?,
                _ = ticker.tick(), if engine.cfg.poll => engine.poll().await?,
            }
        }
    }
    .await;
    let saved = engine.store.compact();
    tracing::info!("Trigger stopped after sending {} event(s)", engine.dispatched);
    match (outcome, saved) {
        (Err(Halt::Failed(m)), _) => Err(m),
        (_, Err(e)) => Err(format!("cannot save the trigger state: {e}")),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn obs(status: i64, marker: &str, created: &str) -> Observation {
        Observation {
            id: 1,
            status,
            marker: t(marker),
            created: Some(t(created)),
            ticket: json!({}),
            full: false,
            agent_id: None,
            new: false,
        }
    }

    #[test]
    fn decisions() {
        let since = t("2026-09-01T00:00:00Z");
        // Unknown tickets: new since the start, or an older ticket that changed.
        assert_eq!(decide(None, &obs(1, "2026-09-01T01:00:00Z", "2026-09-01T01:00:00Z"), since), Decision::Created);
        assert_eq!(decide(None, &obs(2, "2026-09-01T01:00:00Z", "2026-08-01T00:00:00Z"), since), Decision::Changed { old: None });
        let mut o = obs(2, "2026-09-01T01:00:00Z", "2026-08-01T00:00:00Z");
        o.new = true;
        assert_eq!(decide(None, &o, since), Decision::Created, "the webhook says it is new");
        // Known tickets: same marker and status is a duplicate; older is stale; else a change.
        let known = Mark { s: 1, m: t("2026-09-01T01:00:00Z") };
        assert_eq!(decide(Some(&known), &obs(1, "2026-09-01T01:00:00Z", "2026-09-01T01:00:00Z"), since), Decision::Nothing);
        assert_eq!(decide(Some(&known), &obs(2, "2026-09-01T00:30:00Z", "2026-09-01T00:00:00Z"), since), Decision::Nothing);
        assert_eq!(
            decide(Some(&known), &obs(2, "2026-09-01T02:00:00Z", "2026-09-01T00:00:00Z"), since),
            Decision::Changed { old: Some(1) }
        );
        assert_eq!(
            decide(Some(&known), &obs(2, "2026-09-01T01:00:00Z", "2026-09-01T00:00:00Z"), since),
            Decision::Changed { old: Some(1) },
            "a status change within the same second"
        );
    }

    #[test]
    fn previous_status_comes_from_history_or_not_at_all() {
        let since = t("2026-09-01T00:00:00Z");
        let history = vec![
            json!({"id": 1, "old_status": 0, "new_status": 1, "datetime": "2026-08-01T00:00:00"}),
            json!({"id": 2, "old_status": 1, "new_status": 2, "datetime": "2026-09-01T01:00:00", "actionby_agent_id": 4}),
            json!({"id": 3, "old_status": 2, "new_status": 2, "datetime": "2026-09-01T02:00:00", "actionby_agent_id": 1}),
        ];
        assert_eq!(previous_status(&history, 2, since), Some(1));
        assert_eq!(previous_status(&history, 5, since), None, "the history does not lead to the current status: never invented");
        assert_eq!(previous_status(&history[..1], 1, since), Some(1), "no status change since the start: the status is unchanged");
        assert_eq!(previous_status(&[], 1, since), None, "no history, no answer");
        assert_eq!(last_actor(&history), Some(1));
        assert_eq!(last_actor(&[]), None);
    }
}
