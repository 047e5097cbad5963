//! Ticket triggers: start a workflow once for every new ticket, every change, or every status
//! transition, from HaloITSM's webhooks, from polling, or both.
//!
//! One engine task owns the trigger's state and handles every observation in order (webhook
//! deliveries and poll cycles), so events for one ticket go out in order and exactly once:
//! a change is identified by (ticket ID, last action date, status), webhook deliveries also by
//! their delivery ID, and both sources feed the same per-ticket record. State advances only
//! after the dispatcher accepted the event, and is journalled at once (see `state`).

pub mod delivery;
mod dispatch;
mod plan;
pub mod state;
pub mod webhook;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt};
use serde_json::{Value, json};
use tokio::sync::watch;

use delivery::Delivery;
pub use dispatch::Dispatcher;
use dispatch::{Delivered, Stopped};
use plan::{Act, Now, Planned};
use state::{DeadLetter, Mark, Store};
use webhook::{Auth, Credentials, Inbox};

use crate::halo::ticket::{Ticket, int};
use crate::halo::ticket_lists::State;
use crate::halo::{HaloClient, HaloError, rows_of};
use crate::plugin::Plugin;
use crate::protocol::{PluginError, StartMessage, StepLog};
use crate::spec::{Section, StepKind};

/// Re-read this much before the poll cursor, for clock skew and late commits in HaloITSM.
pub const OVERLAP: Duration = Duration::from_secs(60);
/// Rows per poll page (HaloITSM's maximum).
const PAGE: usize = 100;
/// Furthest a first start looks back (100 years): further overflows the minutes-to-seconds
/// conversion or the date arithmetic, and reaches before any HaloITSM date anyway.
const MAX_LOOKBACK_MINUTES: i64 = 100 * 365 * 24 * 60;

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
    pub mappings: crate::sync::Mappings,
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
        let basic = connection.get("webhook_credentials").and_then(|c| {
            let username = c.get("username").and_then(Value::as_str)?.to_string();
            let password = c.get("password").and_then(Value::as_str)?.to_string();
            Some(Credentials { username, password })
        });
        if basic.as_ref().is_some_and(|c| c.username.trim().is_empty() || c.password.is_empty()) {
            return Err(PluginError::client(
                "The connection setting `webhook_credentials` (Webhook Credentials) has an empty user name or password.",
                "Give both a user name and a long random password, the same as in HaloITSM's webhook, or leave the setting empty.",
            ));
        }
        let secret = connection
            .get("webhook_secret")
            .and_then(|s| s.get("secretKey"))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        let api_key_header = connection.get("webhook_api_key_header").and_then(Value::as_str).map(str::trim).filter(|h| !h.is_empty());
        if let Some(h) = api_key_header
            && axum::http::HeaderName::from_bytes(h.as_bytes()).is_err()
        {
            return Err(PluginError::client(
                format!("The connection setting `webhook_api_key_header` (Webhook API Key Header) `{h}` is not an HTTP header name."),
                "Use a header name such as X-API-Key.",
            ));
        }
        let auth = Auth { basic, secret, api_key_header: api_key_header.map(str::to_string) };
        let webhook = source.contains("webhook");
        let allow_open = input.get("allow_unauthenticated_webhooks").and_then(Value::as_bool).unwrap_or(false);
        if webhook && auth.is_open() && !ip.is_loopback() && !allow_open {
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
            kind,
            name,
            meta: m.meta.clone(),
            poll: source.contains("poll"),
            webhook,
            interval: Duration::from_secs(interval as u64),
            webhook_addr: SocketAddr::new(ip, port),
            lookback,
            tickettype_id: i("tickettype_id"),
            priority_id: i("priority_id"),
            ticket_id: i("ticket_id"),
            status_changed: input.get("status_changed").and_then(Value::as_bool).unwrap_or(false),
            new_status_id: i("new_status_id"),
            auth,
            replay_dead_letters: input.get("replay_dead_letters").and_then(Value::as_bool).unwrap_or(false),
            state_dir: cache_dir(),
            state_name,
            flag_file: flag_file(),
            dispatcher_url: m.dispatcher.get("url").and_then(Value::as_str).filter(|u| !u.is_empty()).map(str::to_string),
            reference_field_id: connection.get("reference_field_id").and_then(Value::as_i64),
            mappings: crate::sync::Mappings::with(&[connection.get("status_mapping")]).map_err(|e| {
                PluginError::client(
                    format!("The connection's Status Mapping is invalid: {e}."),
                    "Fix the Status Mapping; see the help for its shape.",
                )
            })?,
        })
    }
}

/// A ticket as a source reported it: enough to skip duplicates cheaply before asking HaloITSM.
#[derive(Debug, Clone)]
struct Sighting {
    id: i64,
    /// Status and change marker, when the source gave them.
    seen: Option<(i64, DateTime<Utc>)>,
    /// The source says this is a new ticket.
    new: bool,
    /// The agent the source names (webhooks), used only when the history cannot tell.
    agent_id: Option<i64>,
}

impl Sighting {
    fn of(t: &Value) -> Option<Sighting> {
        let now = Now::of(t)?;
        Some(Sighting { id: now.id, seen: Some((now.status, now.marker)), new: false, agent_id: None })
    }

    /// What a webhook delivery says about its ticket; None when it names no ticket.
    fn of_delivery(d: &Value) -> Option<Sighting> {
        let d = Delivery::read(d, 0).ok()?;
        let mut s = d.ticket.as_ref().and_then(Sighting::of).filter(|s| s.id == d.ticket_id).unwrap_or(Sighting {
            id: d.ticket_id,
            seen: None,
            new: false,
            agent_id: None,
        });
        s.new = d.is_new_ticket();
        s.agent_id = d.agent_id;
        Some(s)
    }
}

/// The key under which a delivery's handling is recorded, from HaloITSM's delivery ID.
fn delivery_id(d: &Value) -> Option<String> {
    Delivery::read(d, 0).ok()?.id.as_deref().map(delivery_key)
}

/// How the engine reads a webhook delivery: the ticket it names and whether it says the ticket
/// is new; None when it names no ticket. Public for the fuzz targets (`fuzz/`).
#[doc(hidden)]
pub fn read_delivery(d: &Value) -> Option<(i64, bool)> {
    Sighting::of_delivery(d).map(|s| (s.id, s.new))
}

/// The result of asking HaloITSM for something the event needs.
enum Fetched<T> {
    Got(T),
    /// The ticket no longer exists.
    Gone,
    /// HaloITSM refuses for good (permission, bad request): skipped, and logged.
    Refused,
}

/// What a sighting calls for.
enum Worth {
    /// Ask HaloITSM.
    Read,
    /// Nothing new.
    Known,
    /// Changed before the floor: to be remembered, not reported.
    BeforeFloor(Mark),
}

struct Engine {
    cfg: Config,
    client: Arc<HaloClient>,
    store: Store,
    dispatcher: Dispatcher,
    log: StepLog,
    plugin: Arc<Plugin>,
    our_agent: Option<i64>,
    agent_checked: Option<std::time::Instant>,
    stop: watch::Receiver<bool>,
    dispatched: u64,
    /// Tickets and histories read ahead for the sightings being handled (see `read_ahead`).
    read: HashMap<i64, (Value, Vec<Act>)>,
}

/// Tickets read from HaloITSM at once while a batch of sightings is handled.
const READ_AHEAD: usize = 16;
/// Reads of a ticket whose history shows a newer status than the ticket did.
const REREADS: usize = 2;

/// Whether a ticket shows the status its history ends with (a history that records no status
/// says nothing against it).
fn consistent(ticket: &Value, history: &[Act]) -> bool {
    plan::status_after(history).is_none_or(|s| int(ticket, "status_id") == Some(s))
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
    /// moment is rounded down to its second: a change in the same second counts as after it.
    fn floor(&self) -> DateTime<Utc> {
        use chrono::SubsecRound;
        self.store.floor().unwrap_or_else(Utc::now).trunc_subsecs(0)
    }

    /// Which agent this API application acts as (to recognise its own changes); asked again at
    /// most every 30 seconds while unknown.
    async fn our_agent(&mut self) -> Result<Option<i64>, Halt> {
        if self.our_agent.is_none() && self.agent_checked.is_none_or(|t| t.elapsed() >= Duration::from_secs(30)) {
            self.agent_checked = Some(std::time::Instant::now());
            match unless_stopped(&self.stop, self.client.get_optional("Agent/me", &[])).await? {
                Ok(Some(me)) => self.our_agent = int(&me, "id"),
                Ok(None) | Err(_) => {
                    tracing::warn!("Could not read /Agent/me; changes by this integration cannot be recognised until it can")
                }
            }
        }
        Ok(self.our_agent)
    }

    /// Wait out HaloITSM failures that may pass (the event must not be lost): retried with
    /// backoff until they succeed or the trigger stops. Permanent refusals are returned.
    async fn patiently<T, F, Fut>(&mut self, what: &str, mut call: F) -> Result<Result<T, HaloError>, Halt>
    where
        F: FnMut(Arc<HaloClient>) -> Fut,
        Fut: std::future::Future<Output = Result<T, HaloError>>,
    {
        let mut backoff = crate::halo::Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
        loop {
            let delay = backoff.next_delay();
            match unless_stopped(&self.stop, call(self.client.clone())).await? {
                Ok(v) => return Ok(Ok(v)),
                Err(e)
                    if e.is_transient()
                        || matches!(
                            e,
                            HaloError::InvalidCredentials { .. } | HaloError::Unauthorized { .. } | HaloError::TokenRejected { .. }
                        ) =>
                {
                    tracing::warn!("Could not read {what} ({e}); trying again in {:.1} s", delay.as_secs_f32());
                }
                Err(e) => return Ok(Err(e)),
            }
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = until_stopped(&mut self.stop) => return Err(Halt::Stopped),
            }
        }
    }

    async fn ticket(&mut self, id: i64) -> Result<Fetched<Value>, Halt> {
        match self.patiently(&format!("ticket {id}"), |c| async move { c.get_ticket(id, true).await }).await? {
            Ok(Some(t)) => Ok(Fetched::Got(t)),
            Ok(None) => Ok(Fetched::Gone),
            Err(e) => {
                tracing::error!("Skipping a change to ticket {id}: HaloITSM refuses to show it ({e})");
                Ok(Fetched::Refused)
            }
        }
    }

    /// The ticket's history; None when HaloITSM refuses it for good (then only what the record
    /// proves is reported).
    async fn history(&mut self, id: i64) -> Result<Option<Vec<Act>>, Halt> {
        let q = [("ticket_id", id.to_string())];
        match self
            .patiently(&format!("the history of ticket {id}"), |c| {
                let q = q.clone();
                async move { c.list("Actions", &q, "actions").await }
            })
            .await?
        {
            Ok((rows, _)) => Ok(Some(rows.iter().filter_map(Act::of).collect())),
            Err(e) => {
                tracing::warn!("HaloITSM refuses the history of ticket {id} ({e}); reporting only what the trigger itself saw");
                Ok(None)
            }
        }
    }

    /// The ticket read again after its history showed a change the first read had not: the
    /// snapshot an event carries is never older than the transition it reports. Read at most
    /// `REREADS` times while changes keep landing; the last read is newer than the history either
    /// way. None when the ticket is gone or refused meanwhile.
    async fn reread_after(&mut self, id: i64, history: &[Act]) -> Result<Option<(Value, Now)>, Halt> {
        let mut last = None;
        for _ in 0..REREADS {
            let raw = match self.ticket(id).await? {
                Fetched::Got(t) => t,
                Fetched::Gone | Fetched::Refused => return Ok(None),
            };
            let Some(now) = Now::of(&raw) else { return Ok(None) };
            let done = consistent(&raw, history);
            last = Some((raw, now));
            if done {
                break;
            }
        }
        Ok(last)
    }

    /// Whether a sighting needs HaloITSM to be asked, judged from what the source said alone.
    fn worth_reading(&self, s: &Sighting) -> Worth {
        let Some((status, marker)) = s.seen else { return Worth::Read };
        match self.store.state.tickets.get(&s.id) {
            Some(p) if marker < p.m || (marker == p.m && status == p.s) => Worth::Known,
            None if !s.new && marker < self.floor() => Worth::BeforeFloor(Mark { s: status, m: marker, a: 0 }),
            _ => Worth::Read,
        }
    }

    /// Read the tickets (then each one's history) that a batch of sightings will need,
    /// `READ_AHEAD` at a time, so that handling the batch in order waits on no round trip.
    /// What cannot be read here is simply read again, patiently, when its turn comes; what is
    /// read is used once, by the ticket's next sighting in this batch, and then forgotten.
    async fn read_ahead(&mut self, sightings: &[Sighting]) -> Result<(), Halt> {
        let mut ids: Vec<i64> = sightings.iter().filter(|s| matches!(self.worth_reading(s), Worth::Read)).map(|s| s.id).collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.len() < 2 {
            return Ok(());
        }
        let client = self.client.clone();
        let reads = stream::iter(ids)
            .map(|id| {
                let c = client.clone();
                async move {
                    // As `observe` reads them: the ticket, its history, and the ticket again when
                    // the history has moved on meanwhile, so the snapshot is never older.
                    let mut ticket = c.get_ticket(id, true).await.ok().flatten()?;
                    let (rows, _) = c.list("Actions", &[("ticket_id", id.to_string())], "actions").await.ok()?;
                    let history: Vec<Act> = rows.iter().filter_map(Act::of).collect();
                    if !consistent(&ticket, &history) {
                        ticket = c.get_ticket(id, true).await.ok().flatten()?;
                    }
                    Some((id, (ticket, history)))
                }
            })
            .buffer_unordered(READ_AHEAD)
            .filter_map(std::future::ready)
            .collect::<Vec<_>>();
        let mut stop = self.stop.clone();
        tokio::select! {
            read = reads => self.read.extend(read),
            _ = until_stopped(&mut stop) => return Err(Halt::Stopped),
        }
        Ok(())
    }

    /// Handle one sighting of a ticket: skip what is already known, otherwise read the ticket
    /// and its history, send the events this trigger wants (each once), then record.
    async fn observe(&mut self, s: Sighting, source: Source) -> Result<(), Halt> {
        let prev = self.store.state.tickets.get(&s.id).copied();
        let floor = self.floor();
        match self.worth_reading(&s) {
            Worth::Read => {}
            Worth::Known => return Ok(()),
            Worth::BeforeFloor(mark) => {
                // Last changed before the trigger's floor (e.g. re-read in the poll overlap):
                // remembered, not reported.
                self.store.record_ticket(s.id, mark)?;
                return Ok(());
            }
        }
        let (raw, history) = match self.read.remove(&s.id) {
            Some((raw, history)) => (raw, Some(Some(history))),
            None => match self.ticket(s.id).await? {
                Fetched::Got(t) => (t, None),
                Fetched::Gone => {
                    tracing::info!("Ticket {} no longer exists; nothing to report", s.id);
                    return Ok(());
                }
                Fetched::Refused => return Ok(()),
            },
        };
        let Some(now) = Now::of(&raw) else {
            tracing::warn!("Ticket {} has no status or last action date; it is skipped", s.id);
            return Ok(());
        };
        if let Some(p) = prev {
            if now.marker <= p.m && now.status == p.s {
                return Ok(());
            }
        } else if !s.new && now.marker < floor {
            self.store.record_ticket(s.id, Mark { s: now.status, m: now.marker, a: 0 })?;
            return Ok(());
        }
        let history = match history {
            Some(h) => h,
            None => self.history(s.id).await?,
        };
        let (raw, now) = match &history {
            Some(h) if !consistent(&raw, h) => match self.reread_after(s.id, h).await? {
                Some(fresh) => fresh,
                None => return Ok(()),
            },
            _ => (raw, now),
        };
        let plan = plan::plan(prev, now, history.as_deref(), floor, s.new);
        let mut ticket = Ticket::from_halo(&raw, |id| self.client.ticket_url(id));
        let flags = unless_stopped(&self.stop, crate::sync::Flags::read(&self.client, &raw)).await?;
        ticket.closed = Some(flags.closed);
        let rapid7 = unless_stopped(&self.stop, self.rapid7_statuses(now.status, flags)).await?;
        let us = self.our_agent().await?;
        let mut progress = prev.unwrap_or(Mark { s: now.status, m: floor, a: 0 });
        for planned in &plan.events {
            if let Some(output) = self.event(planned, &ticket, &raw, now, source, s.agent_id, us, &rapid7) {
                self.dispatch(output).await?;
            }
            // A transition sent is recorded at once: a kill between two transitions of one
            // change must not send the first again.
            if let Planned::Transition { new, act: Some(act), .. } = planned {
                progress = Mark { s: *new, m: progress.m, a: *act };
                self.store.record_ticket(s.id, progress)?;
            }
        }
        self.store.record_ticket(s.id, plan.record)?;
        if !self.cfg.poll {
            // Without polling, the webhook's changes are the cursor a restart catches up from.
            self.store.advance_cursor(now.marker)?;
        }
        Ok(())
    }

    /// The ticket's status as InsightIDR and InsightVM see it, through the connection's
    /// mappings (names resolved on the tenant's statuses, when they can be read).
    async fn rapid7_statuses(&self, status: i64, flags: crate::sync::Flags) -> Vec<(&'static str, String)> {
        let tenant = match self.client.statuses(false).await {
            Ok(t) => t,
            Err(e) => {
                tracing::debug!("Could not read the tenant's statuses ({e}); mapping by status ID only");
                Arc::default()
            }
        };
        [("insightidr_status", crate::sync::Product::InsightIdr), ("insightvm_status", crate::sync::Product::InsightVm)]
            .into_iter()
            .filter_map(|(key, product)| self.cfg.mappings.to_rapid7(product, status, flags, &tenant).ok().map(|s| (key, s)))
            .collect()
    }

    /// The output for a planned event, when this trigger wants it (filters applied).
    #[allow(clippy::too_many_arguments)]
    fn event(
        &self,
        planned: &Planned,
        ticket: &Ticket,
        raw: &Value,
        now: Now,
        source: Source,
        hinted_agent: Option<i64>,
        us: Option<i64>,
        rapid7: &[(&'static str, String)],
    ) -> Option<Value> {
        let cfg = &self.cfg;
        if cfg.ticket_id.is_some_and(|t| t != now.id) {
            return None;
        }
        // This connection's own change: made by the agent it acts as and not recorded as made
        // outside an API application (docs/halo-api.md#A7). The webhook's agent stands in only
        // when the history names none.
        let by_us = |actor: plan::Actor| match actor.agent {
            Some(a) => actor.via_api != Some(false) && us == Some(a),
            // A system entry (ticket logged) names nobody: the webhook's agent is all there is.
            None => hinted_agent.is_some() && hinted_agent == us,
        };
        let at = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let (event, changed_at, actor, extra, key) = match (cfg.kind, planned) {
            (Kind::Created, Planned::Created { at: when, actor }) => {
                if cfg.tickettype_id.is_some_and(|t| ticket.tickettype_id != Some(t))
                    || cfg.priority_id.is_some_and(|p| ticket.priority_id != Some(p))
                {
                    return None;
                }
                ("created", *when, *actor, json!({}), format!("created:{}", now.id))
            }
            (Kind::Updated, Planned::Updated { previous, status_changed, at: when, actor }) => {
                if cfg.status_changed && !status_changed {
                    return None;
                }
                let extra = previous.map_or(json!({}), |p| json!({"previous_status_id": p}));
                let event = if *status_changed { "status_changed" } else { "updated" };
                (event, *when, *actor, extra, format!("updated:{}:{}:{}", now.id, at(*when), now.status))
            }
            (Kind::StatusChanged, Planned::Transition { old, new, at: when, actor, nth, .. }) => {
                if cfg.new_status_id.is_some_and(|s| s != *new) {
                    return None;
                }
                // One identity for a transition, whether the history or the ticket reported it.
                let key = match nth {
                    0 => format!("status:{}:{old}-{new}@{}", now.id, at(*when)),
                    n => format!("status:{}:{old}-{new}@{}#{n}", now.id, at(*when)),
                };
                ("status_changed", *when, *actor, json!({"old_status_id": old, "new_status_id": new}), key)
            }
            _ => return None,
        };
        let mut out = json!({
            "ticket": ticket,
            "event": event,
            "source": source.as_str(),
            "changed_at": at(changed_at),
            "changed_by_integration": by_us(actor),
            "event_id": format!("{}:{key}", cfg.state_name),
        });
        if let (Some(o), Value::Object(e)) = (out.as_object_mut(), extra) {
            o.extend(e);
        }
        // What a two-way sync workflow needs to update the Rapid7 side in one step.
        if let Some(reference) = cfg.reference_field_id.and_then(|f| crate::sync::custom_field(raw, f)) {
            out["reference"] = json!(reference);
        }
        for (key, status) in rapid7 {
            out[*key] = json!(status);
        }
        Some(out)
    }

    /// Validate and send one event: retried until accepted or stopped; an event the dispatcher
    /// refuses for good is set aside as a dead letter and the trigger goes on.
    async fn dispatch(&mut self, output: Value) -> Result<(), Halt> {
        self.plugin.check_output(StepKind::Trigger, &self.cfg.name, &output).map_err(|e| Halt::Failed(e.to_string()))?;
        tracing::info!("Sending a {} event for ticket {}", output["event"].as_str().unwrap_or("ticket"), output["ticket"]["id"]);
        let event_id = output["event_id"].as_str().unwrap_or_default().to_string();
        let msg =
            json!({"version": "v1", "type": "trigger_event", "body": {"meta": self.cfg.meta, "output": output, "log": self.log.take()}});
        match self.dispatcher.send(&msg, &mut self.stop).await? {
            Delivered::Accepted => self.dispatched += 1,
            Delivered::Refused { status, reason } => {
                tracing::error!(
                    "The dispatcher refused event {event_id} for good (HTTP {status}{}); it is set aside in {} and the trigger goes on. Start the trigger with Replay Dead Letters to send it again",
                    if reason.is_empty() { String::new() } else { format!(": {reason}") },
                    self.store.dead_letter_path().display()
                );
                self.store.dead_letter(DeadLetter { event_id, at: Utc::now(), status, reason }, &msg)?;
            }
        }
        Ok(())
    }

    /// Send the events set aside earlier, oldest first; those accepted leave the list.
    async fn replay_dead_letters(&mut self) -> Result<(), Halt> {
        let letters = self.store.dead_messages()?;
        if letters.is_empty() {
            tracing::info!("Replay Dead Letters: there are none");
            return Ok(());
        }
        tracing::info!("Replaying {} dead letter(s)", letters.len());
        for (event_id, msg) in letters {
            match self.dispatcher.send(&msg, &mut self.stop).await? {
                Delivered::Accepted => {
                    tracing::info!("The dispatcher accepted dead letter {event_id}");
                    self.store.revive(&event_id)?;
                }
                Delivered::Refused { status, .. } => {
                    tracing::error!("The dispatcher refused dead letter {event_id} again (HTTP {status}); it stays set aside");
                }
            }
        }
        Ok(())
    }

    /// Whether the delivery with this key was handled already (one without an ID never was).
    fn handled(&self, delivery_id: Option<&str>) -> bool {
        delivery_id.is_some_and(|id| self.store.state.seen_delivery(id))
    }

    /// Process what the inbox holds beyond the recorded offset, a group of stored POSTs at a
    /// time. Deliveries that carry no ticket (event-only payloads) are merged per ticket within a
    /// group: the ticket is read once after all of them arrived, which covers every change they
    /// announce, however many there are.
    async fn drain_inbox(&mut self, inbox: &Inbox) -> Result<(), Halt> {
        self.check_inbox(inbox).await?;
        loop {
            let batches = inbox.read_from(self.store.state.inbox_offset, 64)?;
            let Some(end) = batches.last().map(|(_, end)| *end) else { break };
            let deliveries: Vec<&Value> =
                batches.iter().flat_map(|(d, _)| d).filter(|d| !self.handled(delivery_id(d).as_deref())).collect();
            let mut sightings: Vec<Sighting> = Vec::new();
            let mut event_only: HashMap<i64, usize> = HashMap::new();
            for s in deliveries.iter().filter_map(|d| Sighting::of_delivery(d)) {
                match (s.seen, event_only.get(&s.id)) {
                    (None, Some(&i)) => {
                        let merged = &mut sightings[i];
                        merged.new |= s.new;
                        merged.agent_id = s.agent_id.or(merged.agent_id);
                    }
                    (None, None) => {
                        event_only.insert(s.id, sightings.len());
                        sightings.push(s);
                    }
                    (Some(_), _) => sightings.push(s),
                }
            }
            self.read_ahead(&sightings).await?;
            for s in sightings {
                self.observe(s, Source::Webhook).await?;
            }
            for id in deliveries.iter().filter_map(|d| delivery_id(d)) {
                self.store.record_delivery(&id)?;
            }
            self.store.set_inbox_offset(end)?;
            self.read.clear();
        }
        let processed = self.store.state.inbox_offset;
        let store = &mut self.store;
        if inbox.compact(processed, || store.set_inbox_offset(0))?.is_some() {
            tracing::debug!("Compacted the webhook inbox");
        }
        Ok(())
    }

    /// An inbox shorter than the offset recorded as processed, or whose recorded offset is not
    /// the start of a line, was truncated, replaced or lost: new deliveries would wait (or be
    /// skipped) unseen. It is read again from the start (deliveries already handled are known by
    /// their IDs, changes by the record) and HaloITSM is polled for whatever was in the lost part.
    async fn check_inbox(&mut self, inbox: &Inbox) -> Result<(), Halt> {
        let offset = self.store.state.inbox_offset;
        if offset == 0 || inbox.starts_line(offset)? {
            return Ok(());
        }
        tracing::error!(
            "The webhook inbox holds {} bytes but {offset} were recorded as processed, or that point is not the start of a delivery: the file was truncated, replaced or lost. Reading it again from the start and polling HaloITSM for anything missed",
            inbox.len()
        );
        self.store.set_inbox_offset(0)?;
        self.poll().await
    }

    /// One poll: every ticket whose last action date is at or after the cursor (minus the
    /// overlap), oldest change first, paged by date so that changes made meanwhile cannot
    /// shift a ticket past a page boundary. Open and closed tickets are listed apart: a plain
    /// list leaves out tickets closed a while ago, whose notes are changes too
    /// (docs/halo-api.md#Q1, Q2). The cursor moves at the end of a complete cycle.
    async fn poll(&mut self) -> Result<(), Halt> {
        let start = self.store.state.cursor.unwrap_or_else(|| self.floor());
        let from = start - chrono::Duration::from_std(OVERLAP).unwrap_or_default();
        let (mut newest, mut crowded) = (None, None);
        for state in [State::Open, State::Closed] {
            let Some(seen) = self.poll_state(state, from).await? else { return Ok(()) };
            newest = newest.max(seen.newest);
            crowded = match (crowded, seen.crowded) {
                (Some(a), Some(b)) => Some(std::cmp::min(a, b)),
                (a, b) => a.or(b),
            };
        }
        let to = match (newest, crowded) {
            (Some(n), Some(c)) => Some(n.min(c)),
            (n, _) => n,
        };
        if let Some(to) = to {
            self.store.advance_cursor(to)?;
        }
        Ok(())
    }

    /// Poll the tickets in one state changed since `from`; None when HaloITSM could not be read
    /// (the cursor stays).
    async fn poll_state(&mut self, state: State, mut from: DateTime<Utc>) -> Result<Option<PollSeen>, Halt> {
        let mut page_no = 1u64;
        let mut newest: Option<DateTime<Utc>> = None;
        // A date shared by a whole page is read page by page; the cursor must not pass it.
        let mut crowded: Option<DateTime<Utc>> = None;
        loop {
            let q = vec![
                ("datesearch", "lastactiondate".to_string()),
                ("startdate", from.format("%Y-%m-%dT%H:%M:%S").to_string()),
                ("order", "lastactiondate".to_string()),
                ("pageinate", "true".to_string()),
                ("page_size", PAGE.to_string()),
                ("page_no", page_no.to_string()),
                state.filter(),
            ];
            let answer = match unless_stopped(&self.stop, self.client.get("Tickets", &q)).await? {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!("Polling HaloITSM failed ({e}); trying again at the next interval");
                    return Ok(None);
                }
            };
            let rows = match rows_of(answer, "tickets") {
                Ok((rows, _)) => rows,
                Err(got) => {
                    tracing::warn!("HaloITSM answered the poll with {got}; trying again at the next interval");
                    return Ok(None);
                }
            };
            let full_page = rows.len() >= PAGE;
            let mut sightings: Vec<Sighting> = rows.iter().filter_map(Sighting::of).collect();
            sightings.sort_by_key(|s| s.seen.map(|(_, m)| (m, s.id)));
            let first = sightings.first().and_then(|s| s.seen.map(|x| x.1));
            let last = sightings.last().and_then(|s| s.seen.map(|x| x.1));
            self.read_ahead(&sightings).await?;
            for s in sightings {
                self.observe(s, Source::Poll).await?;
            }
            self.read.clear();
            newest = newest.max(last);
            if !full_page {
                break;
            }
            match (first, last) {
                (Some(f), Some(l)) if f == l => {
                    crowded = Some(crowded.map_or(f, |c| c.min(f)));
                    page_no += 1;
                }
                (_, Some(l)) => {
                    from = l;
                    page_no = 1;
                }
                _ => break,
            }
        }
        Ok(Some(PollSeen { newest, crowded }))
    }
}

/// What one poll pass saw: the newest change, and the earliest date that filled whole pages
/// (the cursor must not pass it).
struct PollSeen {
    newest: Option<DateTime<Utc>>,
    crowded: Option<DateTime<Utc>>,
}

/// A delivery ID as stored: HaloITSM's GUIDs as they are, anything long as a hash.
fn delivery_key(id: &str) -> String {
    if id.len() <= 64 {
        return id.to_string();
    }
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    id.hash(&mut h);
    format!("h{:016x}", h.finish())
}

/// Resolves once the stop flag is set.
async fn until_stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// `call`'s answer, or `Halt::Stopped` as soon as the trigger is asked to stop: a HaloITSM read
/// in flight (a slow or hung HaloITSM) never holds up a stop. Only reads go through here, so
/// abandoning one loses nothing.
async fn unless_stopped<T>(stop: &watch::Receiver<bool>, call: impl std::future::Future<Output = T>) -> Result<T, Halt> {
    let mut stop = stop.clone();
    tokio::select! {
        v = call => Ok(v),
        _ = until_stopped(&mut stop) => Err(Halt::Stopped),
    }
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
        _ = crate::front_door::termination_signal() => tracing::info!("Stop signal received; saving state and stopping"),
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
    crate::plugin::warn_unknown(&step.input, &m.input, &format!("trigger `{name}`"));
    plugin.spec().validate_input(&step.input, &mut input, Section::Input).map_err(|e| {
        PluginError::client(format!("Invalid input for trigger `{name}`: {e}."), format!("Correct the input field `{}`.", e.path))
    })?;
    let mut connection = m.connection.clone();
    let _ = plugin.spec().validate_input(&plugin.spec().connection, &mut connection, Section::Connection);
    let mut cfg = Config::from_message(&m, &input, &connection)?;
    cfg.state_dir = opts.state_dir.clone();
    cfg.flag_file = opts.flag_file.clone();
    if cfg.webhook && cfg.auth.is_open() {
        tracing::warn!(
            "The connection has no Webhook Credentials or Webhook Secret: the webhook listener accepts deliveries without authentication"
        );
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
    if store.opened.bad_lines > 0 {
        tracing::warn!(
            "The trigger journal in {} had {} unreadable line(s), skipped: what they recorded is lost, so changes since may be reported again (with the event IDs they had)",
            dir.display(),
            store.opened.bad_lines
        );
    }
    if store.is_new() {
        let lookback = cfg.lookback.and_then(|l| chrono::Duration::from_std(l).ok()).unwrap_or_default();
        store.set_since(Utc::now() - lookback).map_err(|e| format!("cannot save the trigger state: {e}"))?;
        let since = store.state.since.map(|s| s.to_rfc3339()).unwrap_or_default();
        // Loud: a lost state file looks exactly like a first start, and re-reports the window.
        tracing::warn!(
            "No state for this trigger in {} ({}.json): starting as on a first start, reporting changes from {since}. If this trigger ran before, its state was lost or deleted: changes since {since} may be reported again, with the event IDs they had",
            dir.display(),
            cfg.state_name
        );
    } else {
        tracing::info!(
            "Resuming: {} ticket(s) known, changes seen up to {}",
            store.state.tickets.len(),
            store.state.cursor.map(|c| c.to_rfc3339()).unwrap_or_else(|| "-".into())
        );
    }
    let inbox = match cfg.webhook {
        true => Some(Arc::new(
            Inbox::open(&dir, &cfg.state_name).map_err(|e| format!("cannot open the webhook inbox in {}: {e}", dir.display()))?,
        )),
        false => None,
    };
    // The listener comes up first, so deliveries are stored even while older ones are replayed
    // or the dispatcher is down.
    if let Some(inbox) = &inbox {
        let listener = tokio::net::TcpListener::bind(cfg.webhook_addr)
            .await
            .map_err(|e| format!("cannot listen for webhooks on {}: {e}", cfg.webhook_addr))?;
        tracing::info!("Listening for HaloITSM webhooks on http://{}{}", cfg.webhook_addr, webhook::PATH);
        let app = webhook::router(inbox.clone(), cfg.auth.clone());
        let mut listener_stop = stop.clone();
        tokio::spawn(async move {
            let stopped = async move { until_stopped(&mut listener_stop).await };
            crate::front_door::serve(listener, app, crate::front_door::DEFAULT_HEADER_READ_TIMEOUT, stopped).await;
        });
    }
    let mut engine = Engine {
        cfg,
        client,
        store,
        dispatcher,
        log,
        plugin,
        our_agent: None,
        agent_checked: None,
        stop: stop.clone(),
        dispatched: 0,
        read: HashMap::new(),
    };
    let outcome: Result<(), Halt> = async {
        if engine.cfg.replay_dead_letters {
            engine.replay_dead_letters().await?;
        } else if !engine.store.state.dead_letters.is_empty() {
            tracing::warn!(
                "{} event(s) the dispatcher refused are set aside in {}; start the trigger with Replay Dead Letters to send them again",
                engine.store.state.dead_letters.len(),
                engine.store.dead_letter_path().display()
            );
        }
        // Catch up on what changed while the trigger was not running, whatever the source.
        engine.poll().await?;
        let mut ticker = tokio::time::interval(engine.cfg.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            if let Some(inbox) = &inbox {
                engine.drain_inbox(inbox).await?;
            }
            let arrived = async {
                match &inbox {
                    Some(i) => i.arrived.notified().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                _ = until_stopped(&mut stop) => return Err(Halt::Stopped),
                _ = arrived => {}
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

    #[test]
    fn long_delivery_ids_are_stored_as_hashes() {
        let guid = "8e25bc7b-1d2e-4f50-9a61-0b2f4e6d8c10";
        assert_eq!(delivery_key(guid), guid);
        let long = "x".repeat(10_000);
        let k = delivery_key(&long);
        assert!(k.len() <= 17 && k.starts_with('h'));
        assert_eq!(k, delivery_key(&long));
    }
}
