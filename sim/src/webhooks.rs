//! Halo-style outbound webhooks: every ticket change the simulator reports (except deletions) is
//! POSTed as JSON to a configured URL, the way Halo's "Integrations > Webhooks" does it, with
//! fault injection (dropped, duplicated and delayed deliveries) for testing receivers.
//!
//! `Simulator::emit` hands each change to [`Webhooks::offer`], which only does a `try_send` on a
//! bounded channel: request handling never waits for a receiver. One background task (spawned
//! lazily by `set_webhook`) turns changes into payloads, gathers batches, takes the fault
//! decisions and hands deliveries to a few sending lanes; a ticket always maps to the same lane and
//! a lane sends one delivery at a time, so deliveries for one ticket keep their order unless the
//! delay fault moves one. Like Halo, a failed delivery (receiver down, timeout, non-2xx) is counted
//! and logged, never retried.
//!
//! The configuration in force when a change happens decides how it is delivered: changes queued
//! before `set_webhook(None)` are still sent, changes made afterwards are not.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tokio::time::Instant;

use super::events::{ChangeEvent, ChangeKind};
use super::webhook_api::{Attempt, WebhookApi};
use super::webhook_payload::wanted_by;
pub(crate) use super::webhook_payload::{guid, payload};

/// What a delivery carries besides the common fields, as Halo's payload options offer [W3].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Payload {
    /// The whole ticket (and the action, when there is one).
    #[default]
    Full,
    /// The fields of the captured delivery's ticket [W4].
    Small,
    /// No ticket or action: the receiver reads the ticket itself.
    EventOnly,
    /// The `custom_payload` template instead of the envelope [W13].
    Custom,
}

/// Where and how webhook deliveries are sent. Missing keys take their defaults; unknown keys are
/// rejected so a typo in a harness's settings fails loudly.
///
/// Halo offers no authentication, HTTP Basic, a Bearer token or an API key [W6, W7]; how the last
/// two are sent is not documented: here the token goes in `Authorization: Bearer`, the key in
/// the header `api_key_header`. Any combination may be set (each is sent).
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookConfig {
    /// Where deliveries are POSTed (`application/json`).
    pub url: String,
    /// HTTP Basic auth when both `username` and `password` are set.
    pub username: Option<String>,
    pub password: Option<String>,
    /// `Authorization: Bearer <token>` (instead of Basic).
    pub bearer_token: Option<String>,
    /// An API key sent in the header `api_key_header` (default `X-API-Key`).
    pub api_key: Option<String>,
    pub api_key_header: Option<String>,
    /// 0 or 1: one JSON object per delivery; N > 1: JSON arrays of up to N events.
    pub batch_size: usize,
    /// How long to gather a batch before sending it; 0 sends whatever is already queued.
    pub batch_window_ms: u64,
    pub payload: Payload,
    /// The template of a `Custom` payload (see `custom_payload::render`).
    pub custom_payload: Option<String>,
    /// Numbers (IDs) as strings, as some payload settings send them [W10].
    pub ids_as_strings: bool,
    /// Share (0..=1) of deliveries silently never sent.
    pub drop_ratio: f64,
    /// Share of deliveries sent twice (same delivery `id`).
    pub duplicate_ratio: f64,
    /// Share of deliveries delayed by a random 0..=`delay_ms` (which may reorder them).
    pub delay_ratio: f64,
    pub delay_ms: u64,
    /// Deterministic fault choices when set.
    pub seed: Option<u64>,
    /// Only these events (Halo's names, any case) are delivered; every event when None [W5].
    pub events: Option<Vec<String>>,
    /// The webhook saved over the API that these settings come from (`webhook_api.rs`): its ID
    /// goes in each delivery's `webhook_id`, and each delivery is logged for it.
    #[serde(skip)]
    pub api_webhook_id: Option<String>,
}

/// Largest accepted `batch_size`, `batch_window_ms` and `delay_ms`: beyond them a harness has a typo.
const MAX_BATCH_SIZE: usize = 10_000;
const MAX_WAIT_MS: u64 = 600_000;

impl WebhookConfig {
    /// Check the settings a sender cannot work with: the URL must be absolute http(s), ratios
    /// within 0..=1, sizes and waits within sane bounds.
    pub fn validate(&self) -> Result<(), String> {
        let url = reqwest::Url::parse(self.url.trim()).map_err(|e| format!("Invalid webhook url: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("Invalid webhook url: scheme '{}' is not http or https", url.scheme()));
        }
        for (name, r) in [("drop_ratio", self.drop_ratio), ("duplicate_ratio", self.duplicate_ratio), ("delay_ratio", self.delay_ratio)] {
            if !(0.0..=1.0).contains(&r) {
                return Err(format!("Invalid {name} {r}: must be between 0 and 1"));
            }
        }
        if self.batch_size > MAX_BATCH_SIZE {
            return Err(format!("Invalid batch_size {}: at most {MAX_BATCH_SIZE}", self.batch_size));
        }
        for (name, ms) in [("batch_window_ms", self.batch_window_ms), ("delay_ms", self.delay_ms)] {
            if ms > MAX_WAIT_MS {
                return Err(format!("Invalid {name} {ms}: at most {MAX_WAIT_MS}"));
            }
        }
        if self.payload == Payload::Custom {
            let template = self.custom_payload.as_deref().ok_or("payload custom needs custom_payload, the template")?;
            super::custom_payload::render(template, &json!({"id": 1, "status_id": 1}))
                .map_err(|e| format!("Invalid custom_payload: {e}"))?;
        }
        if self.bearer_token.is_some() && self.username.is_some() {
            return Err("Set either username/password (Basic) or bearer_token, not both: both use the Authorization header".into());
        }
        if let Some(h) = &self.api_key_header
            && reqwest::header::HeaderName::from_bytes(h.trim().as_bytes()).is_err()
        {
            return Err(format!("Invalid api_key_header '{h}': not an HTTP header name"));
        }
        Ok(())
    }

    /// The settings with the secrets hidden, for control routes and banners.
    pub(crate) fn masked(&self) -> WebhookConfig {
        let hide = |s: &Option<String>| s.as_ref().map(|_| "********".to_string());
        WebhookConfig {
            password: hide(&self.password),
            bearer_token: hide(&self.bearer_token),
            api_key: hide(&self.api_key),
            ..self.clone()
        }
    }
}

/// Counters since the simulator started. A delivery is one POST (a batch counts once).
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct WebhookStats {
    /// Changes offered while a webhook was configured.
    pub events: u64,
    /// POSTs the receiver answered with 2xx (each copy of a duplicated delivery counts).
    pub deliveries_sent: u64,
    /// Deliveries the drop fault discarded.
    pub dropped: u64,
    /// Deliveries the duplicate fault sent a second time.
    pub duplicated: u64,
    /// Deliveries the delay fault held back.
    pub delayed: u64,
    /// POSTs that failed (connection error, timeout, non-2xx), and changes that could not be
    /// queued (queue full, no runtime). Never retried.
    pub failed: u64,
}

// ---------------------------------------------------------------------------------------------
// The simulator's side: configuration, queueing, counters

/// Changes waiting for the background task; past this, new changes count as failed.
const QUEUE_CAPACITY: usize = 50_000;
/// Deliveries waiting per lane before the background task waits for the lane.
const LANE_CAPACITY: usize = 1_024;
/// Sending lanes: deliveries of one ticket always use the same lane; batches use lane 0.
const LANES: usize = 4;
const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// A change on its way to the background task, with the configuration in force when it happened.
struct Queued {
    cfg: Arc<WebhookConfig>,
    event: ChangeEvent,
    at: DateTime<Utc>,
}

struct Shared {
    webhook_id: String,
    /// Where deliveries of webhooks saved over the API are logged and counted.
    api: Option<Arc<WebhookApi>>,
    stats: Mutex<WebhookStats>,
    /// The last POST failed: log the next success, and only the first failure of a run.
    failing: AtomicBool,
}

impl Shared {
    fn count(&self, f: impl FnOnce(&mut WebhookStats)) {
        f(&mut self.stats.lock().unwrap_or_else(|e| e.into_inner()));
    }
}

#[derive(Default)]
struct State {
    cfg: Option<Arc<WebhookConfig>>,
    tx: Option<mpsc::Sender<Queued>>,
}

/// The simulator's webhook sender.
pub(crate) struct Webhooks {
    shared: Arc<Shared>,
    state: Mutex<State>,
}

impl Default for Webhooks {
    fn default() -> Self {
        Webhooks::new(None)
    }
}

impl Webhooks {
    /// A sender that logs the deliveries of webhooks saved over the API in `api`.
    pub(crate) fn new(api: Option<Arc<WebhookApi>>) -> Webhooks {
        Webhooks {
            shared: Arc::new(Shared { webhook_id: guid(), api, stats: Mutex::default(), failing: AtomicBool::new(false) }),
            state: Mutex::default(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Replace the configuration (`None` stops sending). Starts the background task on the
    /// current tokio runtime if none is running; without a runtime, changes count as failed.
    pub(crate) fn set(&self, cfg: Option<WebhookConfig>) {
        let mut g = self.state();
        g.cfg = cfg.map(Arc::new);
        if g.cfg.is_some() && g.tx.as_ref().is_none_or(mpsc::Sender::is_closed) {
            g.tx = match tokio::runtime::Handle::try_current() {
                Ok(rt) => {
                    let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
                    let shared = self.shared.clone();
                    rt.spawn(async move { Dispatcher::new(shared).run(rx).await });
                    Some(tx)
                }
                Err(_) => {
                    tracing::warn!("simulator webhooks configured outside a tokio runtime: nothing will be sent");
                    None
                }
            };
        }
    }

    pub(crate) fn get(&self) -> Option<WebhookConfig> {
        self.state().cfg.as_deref().cloned()
    }

    pub(crate) fn stats(&self) -> WebhookStats {
        self.shared.stats.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Queue a change made `at` for delivery if a webhook is configured. Never waits.
    pub(crate) fn offer(&self, event: &ChangeEvent, at: DateTime<Utc>) {
        if event.kind == ChangeKind::Deleted {
            return;
        }
        let g = self.state();
        let Some(cfg) = g.cfg.clone() else {
            return;
        };
        // A webhook HaloITSM switched off sends nothing more.
        if let (Some(id), Some(api)) = (&cfg.api_webhook_id, &self.shared.api)
            && !api.is_delivering(id)
        {
            return;
        }
        let full = match &g.tx {
            Some(tx) => match tx.try_send(Queued { cfg, event: event.clone(), at }) {
                Ok(()) => None,
                Err(TrySendError::Full(_)) => Some(true),
                Err(TrySendError::Closed(_)) => Some(false),
            },
            None => Some(false),
        };
        drop(g);
        if full == Some(true) {
            tracing::warn!(ticket_id = event.ticket_id, "simulator webhook queue full: change not delivered");
        }
        let failed = full.is_some();
        self.shared.count(|s| {
            s.events += 1;
            if failed {
                s.failed += 1;
            }
        });
    }
}

// ---------------------------------------------------------------------------------------------
// The background task

/// One POST body (an object, or an array when batching) and how many times to send it.
struct Delivery {
    cfg: Arc<WebhookConfig>,
    /// The ticket a single delivery is about (0 for a batch), for the delivery log.
    entity_id: i64,
    body: Bytes,
    copies: u8,
}

struct Dispatcher {
    shared: Arc<Shared>,
    client: reqwest::Client,
    lanes: Vec<mpsc::Sender<Delivery>>,
    /// Fault decisions: one generator per configuration, seeded when the configuration says so.
    rng: Option<(Arc<WebhookConfig>, fastrand::Rng)>,
    batch: Vec<Value>,
    batch_cfg: Option<Arc<WebhookConfig>>,
    deadline: Option<Instant>,
}

impl Dispatcher {
    fn new(shared: Arc<Shared>) -> Dispatcher {
        let client = reqwest::Client::builder()
            .timeout(SEND_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        let lanes = (0..LANES)
            .map(|_| {
                let (tx, rx) = mpsc::channel(LANE_CAPACITY);
                tokio::spawn(lane(rx, client.clone(), shared.clone()));
                tx
            })
            .collect();
        Dispatcher { shared, client, lanes, rng: None, batch: Vec::new(), batch_cfg: None, deadline: None }
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Queued>) {
        loop {
            let next = match self.deadline {
                Some(deadline) => tokio::select! {
                    biased;
                    q = rx.recv() => q,
                    () = tokio::time::sleep_until(deadline) => {
                        self.flush().await;
                        continue;
                    }
                },
                None => rx.recv().await,
            };
            let Some(q) = next else {
                self.flush().await;
                return;
            };
            self.accept(q).await;
        }
    }

    async fn accept(&mut self, q: Queued) {
        let Queued { cfg, event, at } = q;
        let ticket_id = event.ticket_id;
        if let Some(wanted) = &cfg.events
            && !wanted_by(&event, wanted)
        {
            return;
        }
        let webhook_id = cfg.api_webhook_id.clone().unwrap_or_else(|| self.shared.webhook_id.clone());
        let Some(obj) = payload(event, &webhook_id, &cfg, at) else {
            return;
        };
        let same_cfg = self.batch_cfg.as_ref().is_some_and(|c| Arc::ptr_eq(c, &cfg));
        if !same_cfg {
            self.flush().await;
        }
        if cfg.batch_size <= 1 {
            let lane = usize::try_from(ticket_id.rem_euclid(LANES as i64)).unwrap_or(0);
            self.deliver(cfg, &obj, lane, ticket_id).await;
            return;
        }
        self.batch.push(obj);
        if self.batch.len() >= cfg.batch_size {
            self.batch_cfg = Some(cfg);
            self.flush().await;
        } else {
            if self.deadline.is_none() {
                self.deadline = Some(Instant::now() + Duration::from_millis(cfg.batch_window_ms));
            }
            self.batch_cfg = Some(cfg);
        }
    }

    async fn flush(&mut self) {
        self.deadline = None;
        let Some(cfg) = self.batch_cfg.take() else {
            return;
        };
        if self.batch.is_empty() {
            return;
        }
        let batch = Value::Array(std::mem::take(&mut self.batch));
        self.deliver(cfg, &batch, 0, 0).await;
    }

    fn rng_for(&mut self, cfg: &Arc<WebhookConfig>) -> &mut fastrand::Rng {
        let stale = self.rng.as_ref().is_none_or(|(c, _)| !Arc::ptr_eq(c, cfg));
        if stale {
            let rng = cfg.seed.map_or_else(fastrand::Rng::new, fastrand::Rng::with_seed);
            self.rng = Some((cfg.clone(), rng));
        }
        match &mut self.rng {
            Some((_, rng)) => rng,
            None => unreachable!("set just above"),
        }
    }

    /// Take the fault decisions for one delivery, then send it on `lane` (or after its delay).
    async fn deliver(&mut self, cfg: Arc<WebhookConfig>, body: &Value, lane: usize, entity_id: i64) {
        let rng = self.rng_for(&cfg);
        if cfg.drop_ratio > 0.0 && rng.f64() < cfg.drop_ratio {
            self.shared.count(|s| s.dropped += 1);
            return;
        }
        let duplicate = cfg.duplicate_ratio > 0.0 && rng.f64() < cfg.duplicate_ratio;
        let delay = (cfg.delay_ratio > 0.0 && rng.f64() < cfg.delay_ratio).then(|| rng.u64(0..=cfg.delay_ms));
        self.shared.count(|s| {
            s.duplicated += u64::from(duplicate);
            s.delayed += u64::from(delay.is_some());
        });
        let body = match serde_json::to_vec(body) {
            Ok(b) => Bytes::from(b),
            Err(_) => {
                self.shared.count(|s| s.failed += 1);
                return;
            }
        };
        let d = Delivery { cfg, entity_id, body, copies: if duplicate { 2 } else { 1 } };
        if let Some(ms) = delay {
            let (client, shared) = (self.client.clone(), self.shared.clone());
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                send(&client, &shared, &d).await;
            });
            return;
        }
        if let Some(tx) = self.lanes.get(lane)
            && let Err(e) = tx.send(d).await
        {
            // The lane is gone only when the runtime is shutting down.
            self.shared.count(|s| s.failed += u64::from(e.0.copies));
        }
    }
}

async fn lane(mut rx: mpsc::Receiver<Delivery>, client: reqwest::Client, shared: Arc<Shared>) {
    while let Some(d) = rx.recv().await {
        send(&client, &shared, &d).await;
    }
}

/// The POST of one delivery, with the webhook's authentication.
fn request(client: &reqwest::Client, cfg: &WebhookConfig, body: Bytes) -> reqwest::RequestBuilder {
    let mut req = client.post(cfg.url.trim()).header(reqwest::header::CONTENT_TYPE, "application/json").body(body);
    if let (Some(user), Some(pass)) = (&cfg.username, &cfg.password) {
        req = req.basic_auth(user, Some(pass));
    }
    if let Some(token) = &cfg.bearer_token {
        req = req.bearer_auth(token);
    }
    if let Some(key) = &cfg.api_key {
        req = req.header(cfg.api_key_header.as_deref().map_or("X-API-Key", str::trim), key);
    }
    req
}

/// Send one POST: the receiver's status and answer, or (None) why it never answered.
async fn post(client: &reqwest::Client, cfg: &WebhookConfig, body: Bytes) -> Result<(u16, String), String> {
    // The URL may carry a secret path: report the outcome, never the URL.
    match request(client, cfg, body).send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            Ok((status, r.text().await.unwrap_or_default()))
        }
        Err(e) => Err(if e.is_timeout() { "timed out".to_string() } else { e.without_url().to_string() }),
    }
}

/// A test-fire [W19]: `body` sent once to the webhook now, logged like any delivery; the
/// receiver's status (None when it never answered) and answer.
pub(crate) async fn fire_once(api: &WebhookApi, cfg: &WebhookConfig, body: Bytes, at: String) -> (Option<u16>, String) {
    let client = reqwest::Client::builder()
        .timeout(SEND_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_else(|_| reqwest::Client::new());
    let (status, answer) = match post(&client, cfg, body.clone()).await {
        Ok((status, answer)) => (Some(status), answer),
        Err(why) => (None, why),
    };
    if let Some(id) = &cfg.api_webhook_id {
        api.record(&Attempt { webhook_id: id, request_body: &body, entity_id: 0, status, response_body: answer.clone(), at });
    }
    (status, answer)
}

/// POST a delivery (each copy), counting the outcome and logging it for a webhook saved over
/// the API. Never retried.
async fn send(client: &reqwest::Client, shared: &Shared, d: &Delivery) {
    for _ in 0..d.copies {
        let api = d.cfg.api_webhook_id.as_deref().zip(shared.api.as_deref());
        if let Some((id, api)) = api
            && !api.is_delivering(id)
        {
            return;
        }
        let sent = post(client, &d.cfg, d.body.clone()).await;
        if let Some((id, api)) = api {
            let (status, response_body) = match &sent {
                Ok((status, answer)) => (Some(*status), answer.clone()),
                Err(why) => (None, why.clone()),
            };
            let at = super::webhook_payload::halo_timestamp(chrono::Utc::now());
            let attempt = Attempt { webhook_id: id, request_body: &d.body, entity_id: d.entity_id, status, response_body, at };
            if api.record(&attempt) {
                tracing::warn!("simulator switched webhook {id} off after failed deliveries in a row (auto_disable_attempts)");
            }
        }
        let failure = match sent {
            Ok((status, _)) if (200..300).contains(&status) => None,
            Ok((status, _)) => Some(format!("receiver answered HTTP {status}")),
            Err(why) => Some(why),
        };
        match failure {
            None => {
                shared.count(|s| s.deliveries_sent += 1);
                if shared.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!("simulator webhook deliveries succeed again");
                }
            }
            Some(why) => {
                shared.count(|s| s.failed += 1);
                if !shared.failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(error = %why, "simulator webhook delivery failed (not retried; further failures are counted in /_sim/webhook/stats)");
                } else {
                    tracing::debug!(error = %why, "simulator webhook delivery failed");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::webhook_payload::test_event as ev;

    #[test]
    fn config_validation_and_masking() {
        let ok = WebhookConfig { url: "http://127.0.0.1:9/hook".into(), password: Some("s3cret".into()), ..WebhookConfig::default() };
        assert_eq!(ok.validate(), Ok(()));
        assert_eq!(ok.masked().password.as_deref(), Some("********"));
        assert!(WebhookConfig::default().validate().is_err());
        assert!(WebhookConfig { url: "ftp://x/".into(), ..WebhookConfig::default() }.validate().is_err());
        assert!(WebhookConfig { drop_ratio: 1.5, ..ok.clone() }.validate().is_err());
        assert!(WebhookConfig { delay_ratio: f64::NAN, ..ok.clone() }.validate().is_err());
        assert!(WebhookConfig { batch_size: MAX_BATCH_SIZE + 1, ..ok.clone() }.validate().is_err());
        assert!(serde_json::from_str::<WebhookConfig>(r#"{"url": "http://x/", "drop": 1}"#).is_err());
        let bearer = WebhookConfig { bearer_token: Some("t0k".into()), api_key: Some("k3y".into()), ..ok.clone() };
        assert_eq!(bearer.masked().bearer_token.as_deref(), Some("********"));
        assert_eq!(bearer.masked().api_key.as_deref(), Some("********"));
        assert!(WebhookConfig { username: Some("u".into()), ..bearer.clone() }.validate().is_err());
        assert!(WebhookConfig { api_key_header: Some("bad header".into()), ..ok.clone() }.validate().is_err());
    }

    #[test]
    fn without_a_runtime_changes_count_as_failed() {
        let w = Webhooks::default();
        w.offer(&ev(ChangeKind::Created, false), Utc::now());
        assert_eq!(w.stats().events, 0);
        w.set(Some(WebhookConfig { url: "http://127.0.0.1:9/".into(), ..WebhookConfig::default() }));
        w.offer(&ev(ChangeKind::Created, false), Utc::now());
        w.offer(&ev(ChangeKind::Deleted, false), Utc::now());
        let s = w.stats();
        assert_eq!((s.events, s.failed), (1, 1));
        w.set(None);
        assert!(w.get().is_none());
    }
}
