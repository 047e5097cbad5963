//! Ticket triggers: start a workflow once for every new ticket, every change, or every status
//! transition, from HaloITSM's webhooks, from polling, or both.
//!
//! One engine task owns the trigger's state and handles every observation in order (webhook
//! deliveries and poll cycles), so events for one ticket go out in order and exactly once:
//! a change is identified by (ticket ID, last action date, status), webhook deliveries also by
//! their delivery ID, and both sources feed the same per-ticket record. State advances only
//! after the dispatcher accepted the event, and is journalled at once (see `state`).

mod config;
mod dispatch;
mod engine;
mod halt;
pub mod state;
pub mod webhook;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt};
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::ticket_events::changes::Prints;
use crate::ticket_events::delivery::Delivery;
use crate::ticket_events::plan::{self, Act, Now, Planned};
use crate::ticket_events::{Source, changes, event};
use dispatch::Delivered;
pub use dispatch::Dispatcher;
use engine::Engine;
use halt::{Halt, stop_requested, unless_stopped, until_stopped};
use state::{DeadLetter, Mark, Store};
use webhook::Inbox;

pub use config::{Config, Kind, Listen, cache_dir, flag_file};

use crate::halo::ticket::{Ticket, int};
use crate::halo::ticket_lists::State;
use crate::halo::{HaloClient, HaloError, rows_of};
use crate::plugin::Plugin;
use crate::protocol::{PluginError, StartMessage, StepLog};
use crate::spec::StepKind;

/// Re-read this much before the poll cursor, for clock skew and late commits in HaloITSM.
pub const OVERLAP: Duration = Duration::from_secs(60);
/// Rows per poll page (HaloITSM's maximum).
const PAGE: usize = 100;
/// Every this many polls (and at the first) tickets closed a while ago are listed too.
const SWEEP_EVERY: u64 = 10;

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

/// A delivery ID as stored: HaloITSM's GUIDs as they are, anything long as a hash that stays
/// the same across builds (the key must match the journal a previous build wrote).
fn delivery_key(id: &str) -> String {
    if id.len() <= 64 {
        return id.to_string();
    }
    format!("f{:016x}", crate::fnv::fnv1a(id.as_bytes()))
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

/// Deployment settings of a trigger run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Events go to stdout instead of the dispatcher URL.
    pub debug: bool,
    pub state_dir: PathBuf,
    pub flag_file: PathBuf,
    /// Poll this often whatever `interval_seconds` says (tests: a poll well under the 5 s floor).
    pub poll_every: Option<Duration>,
}

/// The test-only poll interval, in milliseconds.
pub const TEST_POLL_ENV: &str = "ICON_HALOITSM_TEST_POLL_MS";

impl Options {
    /// From the environment (`ICON_HALOITSM_CACHE_DIR`, `ICON_HALOITSM_FLAG_DIR`, and for tests
    /// `ICON_HALOITSM_TEST_POLL_MS`).
    pub fn from_env(debug: bool) -> Options {
        let poll_every = std::env::var(TEST_POLL_ENV).ok().and_then(|ms| ms.parse().ok()).filter(|ms| *ms > 0).map(Duration::from_millis);
        Options { debug, state_dir: cache_dir(), flag_file: flag_file(), poll_every }
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
    let masker = Arc::new(crate::protocol::Masker::new(StartMessage::secrets_of(&msg, plugin.spec())));
    let log = StepLog::new(debug, masker.clone());
    let started = log.scope(prepare(plugin.clone(), &msg, &opts)).await;
    let (cfg, client) = match started {
        Ok(x) => x,
        Err(e) => {
            let (_, meta) = StartMessage::salvage(&msg);
            let mut out = crate::protocol::envelope(Some("trigger_event"), &meta, log.take(), Err(e));
            masker.mask_value(&mut out);
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
        Err(e) => {
            tracing::error!("{e}");
            let (_, meta) = StartMessage::salvage(&msg);
            let mut out = crate::protocol::envelope(Some("trigger_event"), &meta, log.take(), Err(e));
            masker.mask_value(&mut out);
            Err(out)
        }
    }
}

async fn prepare(plugin: Arc<Plugin>, msg: &Value, opts: &Options) -> Result<(Config, Arc<HaloClient>), PluginError> {
    let debug = opts.debug;
    let mut m = StartMessage::parse(msg)?;
    let crate::plugin::Prepared { input, client, connection } = plugin.prepare(StepKind::Trigger, &mut m).await?;
    let mut cfg = Config::from_message(&m, input, &connection)?;
    cfg.state_dir = opts.state_dir.clone();
    cfg.flag_file = opts.flag_file.clone();
    if let Some(every) = opts.poll_every {
        cfg.interval = every;
    }
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
    Ok((cfg, client))
}

async fn serve(
    plugin: Arc<Plugin>,
    cfg: Config,
    client: Arc<HaloClient>,
    log: StepLog,
    stop: watch::Receiver<bool>,
) -> Result<(), PluginError> {
    match serve_until_stopped(plugin, cfg, client, log, stop).await {
        Ok(()) | Err(Halt::Stopped) => Ok(()),
        Err(Halt::Listen { addr, cause }) => Err(PluginError::client(
            format!("The trigger cannot listen for HaloITSM's webhooks on {addr}: {cause}."),
            match cause.kind() {
                std::io::ErrorKind::AddrInUse => {
                    "Another process (or another trigger) uses this Webhook Port: give the trigger a free Webhook Port (and the same port in HaloITSM's webhook URL), or stop what holds the port."
                }
                std::io::ErrorKind::PermissionDenied => {
                    "Ports below 1024 need privileges the plugin does not have: use a Webhook Port above 1024, such as 10002."
                }
                _ => "The Webhook Bind Address must be an address of this host (0.0.0.0 listens on all of them).",
            },
        )),
        Err(Halt::Failed(message)) => Err(PluginError::internal(format!("The trigger stopped: {message}"))),
    }
}

async fn serve_until_stopped(
    plugin: Arc<Plugin>,
    cfg: Config,
    client: Arc<HaloClient>,
    log: StepLog,
    stop: watch::Receiver<bool>,
) -> Result<(), Halt> {
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
        let listener =
            tokio::net::TcpListener::bind(cfg.webhook_addr).await.map_err(|cause| Halt::Listen { addr: cfg.webhook_addr, cause })?;
        // The address bound, not the one asked for: port 0 gets a free port, known only here.
        let addr = listener.local_addr().unwrap_or(cfg.webhook_addr);
        tracing::info!("Listening for HaloITSM webhooks on http://{addr}{}", webhook::PATH);
        let app = webhook::router(inbox.clone(), cfg.auth.clone());
        let mut listener_stop = stop.clone();
        tokio::spawn(async move {
            let stopped = async move { until_stopped(&mut listener_stop).await };
            crate::front_door::serve(listener, app, crate::front_door::DEFAULT_HEADER_READ_TIMEOUT, stopped).await;
        });
    }
    let mut engine = Engine::new(plugin, cfg, client, store, dispatcher, log, stop);
    let outcome = engine.run(inbox.as_deref()).await;
    let saved = engine.finish();
    match (outcome, saved) {
        (Ok(()) | Err(Halt::Stopped), Ok(())) => Ok(()),
        (Ok(()) | Err(Halt::Stopped), Err(e)) => Err(Halt::Failed(format!("cannot save the trigger state: {e}"))),
        (Err(halt), _) => Err(halt),
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
        assert!(k.len() <= 17 && k.starts_with('f'));
        // Fixed for good: a journal written by one build is read by the next.
        assert_eq!(delivery_key(&"y".repeat(100)), "fe9950db77b6a3e49");
    }
}
