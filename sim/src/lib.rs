//! An in-memory, stateful HaloITSM API simulator.
//!
//! It imitates the real HaloITSM as the public sources in the repository's `docs/halo-api.md`
//! describe it (the IDs in brackets, such as [T5], are that file's facts), not the plugin's
//! client: it is a crate of its own and shares no code with the client, so the two cannot share
//! a bug. Where tenants differ or sources disagree, the [`Profile`] picks a variant; the default
//! is a stock tenant. It serves:
//! - `POST /auth/token` (OAuth2 client credentials, form or HTTP Basic),
//! - `/api/*` (Bearer token): Tickets, Actions, Attachment and the lookups,
//! - `/_sim/*` control routes (unauthenticated, not Halo): stats, faults, token revocation,
//!   raw tickets, change events and outbound webhooks, for the `simulate` command and benchmark
//!   harnesses.
//!
//! Every `/api/*` request goes through one pipeline (see `faults.rs`): count it in the stats,
//! wait while requests are held, add the configured latency, check the Bearer token (401), then
//! the every-Nth 429 and 500 faults, then the handler. State sits behind one `RwLock`, never held
//! across an `.await`.
//!
//! Ticket changes are reported through `Simulator::emit` (see `events.rs`) into the event log and,
//! when configured, to Halo-style outbound webhooks (see `webhooks.rs`).
//!
//! Choices where the sources leave room (a client must not depend on the lenient ones):
//! - Query parameter names are case-insensitive (ASP.NET binding); `key[]=` counts as `key=`.
//!   Paths are case-sensitive and have no trailing slash.
//! - `GET /api/Tickets` without `pageinate=true` returns at most `count` rows, or 100 without
//!   `count`; `page_size` defaults to 50 and is clamped to 100 [L2]. `startdate`/`enddate`
//!   without `datesearch` filter on `dateoccurred`; a bare `enddate` date includes that whole
//!   day; an unknown `datesearch` field or an unparsable date or integer is a 400.
//! - `POST` bodies must be `application/json` (else 415); `returnall=true` always answers an
//!   array, even for one element. A batch is validated as a whole before anything is written.
//! - An unknown `id` in `POST /api/Tickets` creates a new ticket (Halo's upsert [T5]).
//! - Action `new_status`, `new_agent`, `new_priority` of 0 mean "no change". `GET`/`DELETE
//!   /api/Actions/{id}` need `ticket_id` [A5]. Action ids are global.
//! - A disabled agent cannot be assigned (400 "Invalid agent_id N").

mod actions;
mod assets;
mod attachments;
mod auth;
mod cdn;
pub mod cli;
mod clock;
mod custom_payload;
mod errors;
mod events;
mod faults;
mod live;
pub mod live_args;
mod lookups;
mod profile;
mod rate_window;
mod routes;
mod seed;
mod state;
mod tickets;
mod util;
mod webhook_api;
mod webhook_payload;
mod webhook_routes;
mod webhooks;

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use events::{ChangeEvent, ChangeKind};
pub use live::LiveQuirks;
pub use profile::{ListRows, Profile, StatusSet};
pub use rate_window::RateWindow;
pub use webhook_api::{DeliveryLog, WebhookAccess, WebhookApiVariant};
pub use webhooks::{Payload, WebhookConfig, WebhookStats};

use state::Store;

/// How the simulator behaves towards clients.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub client_id: String,
    pub client_secret: String,
    /// When `Some`, the token URL must carry `?tenant=<that>` (else 400 `invalid_request`).
    pub tenant: Option<String>,
    /// Lifetime of issued tokens, returned as `expires_in`.
    pub token_lifetime_secs: u64,
    /// Load the realistic seed data set (lookups are always loaded).
    pub seed: bool,
    /// The tenant: a stock one by default, or a variant (see [`Profile`]).
    pub profile: Profile,
    /// The API application's name, recorded on the actions it makes (`actionby_application_id`).
    pub application_name: String,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            client_id: "sim-client".into(),
            client_secret: "sim-secret".into(),
            tenant: None,
            token_lifetime_secs: 3600,
            seed: true,
            profile: Profile::default(),
            application_name: seed::DEFAULT_APPLICATION.to_string(),
        }
    }
}

/// Faults injected into responses. "Every Nth" counts authenticated `/api/*` requests since the
/// faults were last set (so a test that sets faults knows exactly which request fails).
///
/// Missing keys take their defaults; unknown keys are rejected so a typo in a harness's fault
/// settings fails loudly instead of silently injecting nothing.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Added to every `/api/*` response (401s included), not to the token endpoint.
    pub latency_ms: u64,
    /// Added to every token endpoint response.
    pub token_latency_ms: u64,
    /// 0 = off; every Nth `/api/*` request answers 429.
    pub rate_limit_every: u64,
    /// `Retry-After` header on those 429s (`None` = header absent).
    pub retry_after_secs: Option<u64>,
    /// 0 = off; every Nth `/api/*` request answers 500
    /// `{"ClassName":"System.Exception","Message":"Simulated server error"}`.
    pub server_error_every: u64,
    /// When true, an injected 500 on a POST/DELETE happens AFTER the write was applied.
    pub server_error_after_apply: bool,
    /// The token endpoint answers 500.
    pub fail_token: bool,
    /// `/api/*` requests wait (after being counted, before anything else) until faults without
    /// `hold` are set: a test can fill a client's every connection and release them at once.
    pub hold: bool,
    /// HaloITSM's rolling-window limit (docs/halo-api.md#R2): beyond it, 429.
    pub rate_window: Option<RateWindow>,
    /// On a tenant that serves attachments as links [F6]: this many of the next links are
    /// handed out already expired (as a link read a few minutes late would be).
    pub expired_attachment_links: u64,
}

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct SimStats {
    pub token_requests: u64,
    pub api_requests: u64,
    /// Key `"METHOD /templated/path"`, e.g. `"GET /api/Tickets/{id}"`; unmatched `/api` paths
    /// count under `"METHOD /api/{unknown}"`. The token endpoint counts as `"POST /auth/token"`.
    pub by_route: BTreeMap<String, u64>,
    pub injected_429: u64,
    /// 429s the rolling window answered.
    pub window_429: u64,
    pub injected_500: u64,
    /// Creates that collided with another under way (a live tenant's 500s, docs/halo-api.md#T15).
    pub create_collisions: u64,
    /// `GET /api/Tickets` lists by the closedness they asked for: `open_only`, `closed_only` or
    /// `plain` (neither), so a harness can tell what a poll costs [Q1, Q2].
    pub ticket_lists: BTreeMap<String, u64>,
}

/// The simulator: shared state behind `Arc`. Build with [`Simulator::new`], serve
/// [`Simulator::router`] or use [`start`].
pub struct Simulator {
    config: SimConfig,
    store: RwLock<Store>,
    /// Issued token -> expiry.
    tokens: RwLock<HashMap<String, Instant>>,
    faults: Mutex<Faults>,
    /// True while `hold` is set; held requests wait for it to turn false.
    held: tokio::sync::watch::Sender<bool>,
    /// Authenticated `/api/*` requests since faults were last set (drives every-Nth faults).
    fault_counter: AtomicU64,
    rate_window: rate_window::Limiter,
    stats: Mutex<SimStats>,
    events: events::EventLog,
    /// Held from the end of a store write until its events are emitted, so concurrent writers
    /// report their changes in the order they made them.
    emit_order: Mutex<()>,
    webhooks: webhooks::Webhooks,
    /// Webhooks saved over the API and their delivery log [W17–W22].
    webhook_api: Arc<webhook_api::WebhookApi>,
    /// Held by a create on a tenant whose creates collide [T15].
    creating: live::CreateSlot,
    /// Attachment links handed out on a tenant that serves files as links [F6].
    links: cdn::Links,
    /// HaloITSM's time: every date written and expiry checked.
    clock: clock::Clock,
}

impl Simulator {
    pub fn new(config: SimConfig) -> Arc<Simulator> {
        let clock = clock::Clock::default();
        let webhook_api = Arc::new(webhook_api::WebhookApi::default());
        let store = seed::seeded(&config.profile, &config.application_name, config.seed, clock.now());
        Arc::new(Simulator {
            config,
            store: RwLock::new(store),
            tokens: RwLock::new(HashMap::new()),
            faults: Mutex::new(Faults::default()),
            held: tokio::sync::watch::Sender::new(false),
            fault_counter: AtomicU64::new(0),
            rate_window: rate_window::Limiter::default(),
            stats: Mutex::new(SimStats::default()),
            events: events::EventLog::default(),
            emit_order: Mutex::new(()),
            webhooks: webhooks::Webhooks::new(Some(webhook_api.clone())),
            webhook_api,
            creating: live::CreateSlot::default(),
            links: cdn::Links::default(),
            clock,
        })
    }

    /// All routes: `/auth/token`, `/api/*` and the `/_sim/*` control routes.
    pub fn router(self: &Arc<Self>) -> axum::Router {
        routes::router(self.clone())
    }

    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// Replace the faults; restarts the every-Nth counting, and releases held requests unless
    /// `hold` stays set.
    pub fn set_faults(&self, f: Faults) {
        let mut g = self.faults.lock().unwrap_or_else(|e| e.into_inner());
        self.held.send_replace(f.hold);
        *g = f;
        self.fault_counter.store(0, std::sync::atomic::Ordering::SeqCst);
        self.rate_window.reset();
    }

    /// Resolves once `hold` is off (at once if it is).
    pub(crate) async fn wait_unheld(&self) {
        let mut held = self.held.subscribe();
        let _ = held.wait_for(|h| !*h).await;
    }

    pub fn faults(&self) -> Faults {
        self.faults.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Every issued token becomes invalid (-> 401 on `/api/*`).
    pub fn revoke_tokens(&self) {
        self.tokens.write().unwrap_or_else(|e| e.into_inner()).clear();
    }

    pub fn stats(&self) -> SimStats {
        self.stats.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn reset_stats(&self) {
        *self.stats.lock().unwrap_or_else(|e| e.into_inner()) = SimStats::default();
    }

    /// The raw stored ticket.
    pub fn ticket(&self, id: i64) -> Option<Value> {
        self.read().tickets.get(&id).cloned().map(Value::Object)
    }

    /// All stored tickets, ordered by id.
    pub fn tickets(&self) -> Vec<Value> {
        self.read().tickets.values().cloned().map(Value::Object).collect()
    }

    /// All actions of a ticket, oldest first (`note_html` included).
    pub fn actions_for(&self, ticket_id: i64) -> Vec<Value> {
        self.read().actions.get(&ticket_id).map(|l| l.iter().cloned().map(Value::Object).collect()).unwrap_or_default()
    }

    /// Apply a change as if an agent did it in Halo's UI (for trigger tests): merges the given
    /// fields into the ticket (same field rules as `POST /api/Tickets`), records an action (with
    /// `note` as its text, if given), bumps `lastactiondate`. Returns the updated ticket; `None`
    /// if the ticket does not exist or a field is invalid (nothing is changed then).
    pub fn agent_edit(&self, id: i64, fields: Value, note: Option<&str>) -> Option<Value> {
        self.write(|s| tickets::agent_edit(s, id, &fields, note, None, self.clock.now()))
    }

    /// Like [`Simulator::agent_edit`], by this agent in Halo's UI, whoever it is: the API
    /// application's own agent too (an agent an API application acts as can also sign in).
    pub fn agent_edit_by(&self, agent_id: i64, id: i64, fields: Value, note: Option<&str>) -> Option<Value> {
        self.write(|s| tickets::agent_edit(s, id, &fields, note, Some(agent_id), self.clock.now()))
    }

    /// Move the clock forward: later changes are dated `by` later, and tokens and attachment links
    /// expire sooner. Two changes a second apart in HaloITSM's whole-second dates, without
    /// waiting a second.
    pub fn advance_clock(&self, by: Duration) {
        self.clock.shift(clock::millis(by));
    }

    /// Move the clock back: a change dated before a moment the plugin takes from its own clock
    /// (a trigger's start), without waiting for the wall clock to pass a second.
    pub fn rewind_clock(&self, by: Duration) {
        self.clock.shift(-clock::millis(by));
    }

    /// Change events recorded so far (bounded; oldest dropped first).
    pub fn events(&self) -> Vec<ChangeEvent> {
        self.events.snapshot()
    }

    pub fn clear_events(&self) {
        self.events.clear();
    }

    /// Send Halo-style webhooks for every ticket change from now on (`None` = stop sending).
    /// Call it inside a tokio runtime: the first call starts the background sender there.
    /// Changes already queued are still delivered with the settings they were queued under.
    pub fn set_webhook(&self, cfg: Option<WebhookConfig>) {
        self.webhooks.set(cfg);
    }

    pub fn webhook(&self) -> Option<WebhookConfig> {
        self.webhooks.get()
    }

    pub fn webhook_stats(&self) -> WebhookStats {
        self.webhooks.stats()
    }

    /// Report a ticket change. Called for every change, after the state lock is released, in
    /// the order the changes were made: to the event log and the webhook queue (which never waits).
    pub(crate) fn emit(&self, mut event: ChangeEvent) {
        tracing::debug!(ticket_id = event.ticket_id, kind = ?event.kind, "sim ticket change");
        let at = self.clock.utc();
        event.timestamp = util::fmt_date(util::whole_seconds(at));
        self.webhooks.offer(&event, at);
        self.events.push(event);
    }

    pub(crate) fn count_ticket_list(&self, kind: &str) {
        *self.stats.lock().unwrap_or_else(|e| e.into_inner()).ticket_lists.entry(kind.to_string()).or_default() += 1;
    }

    pub(crate) fn count_collision(&self) {
        self.stats.lock().unwrap_or_else(|e| e.into_inner()).create_collisions += 1;
    }

    pub(crate) fn read(&self) -> RwLockReadGuard<'_, Store> {
        self.store.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Run a write against the store, then emit the events it produced (outside the lock).
    pub(crate) fn write<R>(&self, f: impl FnOnce(&mut Store) -> R) -> R {
        let (r, events, _order) = {
            let mut g = self.store.write().unwrap_or_else(|e| e.into_inner());
            let r = f(&mut g);
            let events = std::mem::take(&mut g.pending);
            // Taken before the store lock is released: the next writer emits after this one.
            let order = (!events.is_empty()).then(|| self.emit_order.lock().unwrap_or_else(|e| e.into_inner()));
            (r, events, order)
        };
        for e in events {
            self.emit(e);
        }
        r
    }

    /// A ticket as `GET /api/Tickets/{id}` answers it, serialised: the hot path of that route.
    pub(crate) fn full_ticket_bytes(&self, id: i64) -> Option<Vec<u8>> {
        let g = self.read();
        let t = g.tickets.get(&id)?;
        if g.profile.reshapes_full_reads() {
            return serde_json::to_vec(&g.profile.full(t)).ok();
        }
        serde_json::to_vec(t).ok()
    }
}

/// A running simulator bound to a local address.
pub struct SimHandle {
    pub addr: SocketAddr,
    pub sim: Arc<Simulator>,
    shutdown: Option<oneshot::Sender<()>>,
    join: Option<JoinHandle<()>>,
}

impl SimHandle {
    /// `http://127.0.0.1:PORT` (an unspecified bind address is shown as loopback).
    pub fn base_url(&self) -> String {
        let mut a = self.addr;
        if a.ip().is_unspecified() {
            a.set_ip(Ipv4Addr::LOCALHOST.into());
        }
        format!("http://{a}")
    }

    pub fn auth_url(&self) -> String {
        format!("{}/auth", self.base_url())
    }

    pub fn api_url(&self) -> String {
        format!("{}/api", self.base_url())
    }

    /// The plugin connection that reaches this simulator: its API application's credentials,
    /// its tenant when it has one, and its URLs. Callers add settings such as a timeout.
    pub fn connection(&self) -> serde_json::Value {
        let cfg = self.sim.config();
        let mut c = serde_json::json!({
            "client_id": cfg.client_id, "client_secret": {"secretKey": cfg.client_secret},
            "authorization_server": self.auth_url(), "resource_server": self.api_url(),
        });
        if let Some(tenant) = &cfg.tenant {
            c["tenant"] = tenant.clone().into();
        }
        c
    }

    /// Stop accepting, let in-flight requests finish (at most 5 s), then return.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(mut join) = self.join.take()
            && tokio::time::timeout(Duration::from_secs(5), &mut join).await.is_err()
        {
            join.abort();
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Bind (port 0 = pick a free one) and serve in a spawned tokio task.
pub async fn start(config: SimConfig, addr: SocketAddr) -> std::io::Result<SimHandle> {
    let sim = Simulator::new(config);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let (tx, rx) = oneshot::channel::<()>();
    let app = sim.router();
    let join = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
        if let Err(e) = served {
            tracing::warn!(error = %e, "simulator server stopped with an error");
        }
    });
    Ok(SimHandle { addr, sim, shutdown: Some(tx), join: Some(join) })
}

/// Start the simulator with `faults` (and outbound webhooks, if given), print where it listens and
/// the credentials, and serve until Ctrl-C or SIGTERM.
pub async fn run_cli(run: cli::Simulate) -> std::io::Result<()> {
    let cli::Simulate { config, addr, faults, webhook } = run;
    let handle = start(config, addr).await?;
    handle.sim.set_faults(faults);
    handle.sim.set_webhook(webhook);
    println!("{}", banner(&handle));
    wait_for_signal().await;
    println!("HaloITSM simulator stopping");
    handle.shutdown().await;
    Ok(())
}

fn banner(h: &SimHandle) -> String {
    let c = h.sim.config();
    let token_url = match &c.tenant {
        Some(t) => format!("{}/token?tenant={t}", h.auth_url()),
        None => format!("{}/token", h.auth_url()),
    };
    let f = h.sim.faults();
    let faults = serde_json::to_string(&f).unwrap_or_default();
    let webhook = match h.sim.webhook() {
        Some(w) => serde_json::to_string(&w.masked()).unwrap_or_default(),
        None => "(none)".to_string(),
    };
    let base = h.base_url();
    format!(
        "HaloITSM simulator listening on {base}\n\
         \x20 Base URL:       {base}\n\
         \x20 Auth URL:       {auth}\n\
         \x20 Token URL:      {token_url}\n\
         \x20 API URL:        {api}\n\
         \x20 Client ID:      {id}\n\
         \x20 Client secret:  {secret}\n\
         \x20 Tenant:         {tenant}\n\
         \x20 Token lifetime: {life} s\n\
         \x20 Seed data:      {seed}\n\
         \x20 Faults:         {faults}\n\
         \x20 Webhook:        {webhook}\n\
         \x20 Control:        {base}/_sim/stats, {base}/_sim/faults, {base}/_sim/revoke_tokens, {base}/_sim/webhook\n\
         Press Ctrl-C to stop.",
        auth = h.auth_url(),
        api = h.api_url(),
        id = c.client_id,
        // A secret someone chose is theirs to keep: only the public default is shown.
        secret = if c.client_secret == SimConfig::default().client_secret {
            format!("{} (the default)", c.client_secret)
        } else {
            "******** (as given with --client-secret)".to_string()
        },
        tenant = c.tenant.as_deref().unwrap_or("(none)"),
        life = c.token_lifetime_secs,
        seed = if c.seed { "yes" } else { "no" },
    )
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_contract() {
        let c = SimConfig::default();
        assert_eq!(c.client_id, "sim-client");
        assert_eq!(c.client_secret, "sim-secret");
        assert_eq!(c.token_lifetime_secs, 3600);
        assert!(c.seed && c.tenant.is_none());
        let f: Faults = serde_json::from_str(r#"{"rate_limit_every": 3}"#).unwrap_or_default();
        assert_eq!(f.rate_limit_every, 3);
        assert_eq!(f.retry_after_secs, None);
        assert!(serde_json::from_str::<Faults>(r#"{"rate_limit_evry": 3}"#).is_err());
    }

    #[test]
    fn agent_edit_emits_events_outside_the_lock() {
        let sim = Simulator::new(SimConfig::default());
        let t = sim.agent_edit(103, serde_json::json!({"agent_id": 3, "team_id": 2}), None);
        assert_eq!(t.and_then(|t| t.get("agent_name").cloned()), Some("Ben Carter".into()));
        let ev = sim.events();
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].kind, ChangeKind::Updated);
        assert_eq!(ev[0].agent_id, 3);
        assert_eq!(sim.actions_for(103).len(), 2);
        assert!(sim.ticket(9999).is_none());
        assert_eq!(sim.tickets().len(), 7);
        let empty = Simulator::new(SimConfig { seed: false, ..SimConfig::default() });
        assert!(empty.tickets().is_empty());
    }

    #[tokio::test]
    async fn held_requests_wait_until_released() {
        let h = start(SimConfig::default(), SocketAddr::from(([127, 0, 0, 1], 0))).await.expect("bind loopback");
        h.sim.set_faults(Faults { hold: true, ..Faults::default() });
        let url = format!("{}/Tickets/101", h.api_url());
        let mut held = tokio::spawn(async move { reqwest::get(url).await.map(|r| r.status().as_u16()) });
        let arrived = async {
            while h.sim.stats().api_requests == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(5), arrived).await.expect("the request arrived");
        assert!(tokio::time::timeout(Duration::from_millis(100), &mut held).await.is_err(), "held while hold is set");
        h.sim.set_faults(Faults::default());
        let status = tokio::time::timeout(Duration::from_secs(5), held).await.expect("released").expect("join").expect("answered");
        assert_eq!(status, 401, "then handled as usual (no token here)");
        h.shutdown().await;
    }

    #[tokio::test]
    async fn handle_urls_and_shutdown() {
        let h = start(SimConfig::default(), SocketAddr::from(([127, 0, 0, 1], 0))).await.expect("bind loopback");
        assert!(h.base_url().starts_with("http://127.0.0.1:"));
        assert_eq!(h.auth_url(), format!("{}/auth", h.base_url()));
        assert_eq!(h.api_url(), format!("{}/api", h.base_url()));
        assert!(banner(&h).contains("sim-secret (the default)"));
        h.shutdown().await;
        let chosen = SimConfig { client_secret: "my-own-s3cret".into(), ..SimConfig::default() };
        let h = start(chosen, SocketAddr::from(([127, 0, 0, 1], 0))).await.expect("bind loopback");
        assert!(!banner(&h).contains("my-own-s3cret"), "a chosen secret is never printed");
        h.shutdown().await;
    }
}
