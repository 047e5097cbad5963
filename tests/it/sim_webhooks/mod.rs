//! The simulator's Halo-style outbound webhooks, received by a small recording server on
//! 127.0.0.1: payload shape per change kind, Basic auth, event-only payloads, batching, the drop,
//! duplicate and delay faults, failing receivers, and the control routes and CLI flags.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use halo_sim::{SimConfig, SimHandle, WebhookConfig, WebhookStats, start};
use reqwest::Client;
use serde_json::{Value, json};

use crate::common::{Lazy, eventually, webhooks_idle};

mod control;
mod failing_receivers;
mod faults;
mod payloads;

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

// ---------------------------------------------------------------------------------------------
// A recording webhook receiver

#[derive(Clone, Debug)]
struct Seen {
    auth: Option<String>,
    content_type: Option<String>,
    headers: HeaderMap,
    body: Value,
}

#[derive(Clone, Default)]
struct Recorder {
    seen: Arc<Mutex<Vec<Seen>>>,
    /// Status to answer with; 0 = 200.
    status: Arc<AtomicU16>,
}

struct Receiver {
    url: String,
    rec: Recorder,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Receiver {
    async fn start() -> Receiver {
        let rec = Recorder::default();
        let app = Router::new().route("/hooks/halo", post(record)).with_state(rec.clone());
        let listener = tokio::net::TcpListener::bind(loopback()).await.expect("bind receiver");
        let addr = listener.local_addr().expect("receiver addr");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Receiver { url: format!("http://{addr}/hooks/halo"), rec, _stop: tx }
    }

    fn config(&self) -> WebhookConfig {
        WebhookConfig { url: self.url.clone(), ..WebhookConfig::default() }
    }

    fn answer_with(&self, status: u16) {
        self.rec.status.store(status, Ordering::SeqCst);
    }

    /// Every POST received so far.
    fn posts(&self) -> Vec<Seen> {
        self.rec.seen.lock().unwrap().clone()
    }

    /// Every delivery object received so far, batches flattened, in arrival order.
    fn deliveries(&self) -> Vec<Value> {
        self.posts()
            .into_iter()
            .flat_map(|s| match s.body {
                Value::Array(items) => items,
                other => vec![other],
            })
            .collect()
    }

    /// Wait until at least `n` delivery objects arrived.
    async fn wait_for(&self, n: usize) -> Vec<Value> {
        let got = || Some(self.deliveries()).filter(|d| d.len() >= n);
        eventually(Lazy(|| format!("{n} deliveries, got {:#?}", self.deliveries())), async || got()).await
    }

    /// Wait until every change `h` offered has arrived here (batches flattened): nothing is
    /// left in flight, so what has not arrived will not.
    async fn got_all_of(&self, h: &SimHandle) {
        eventually("every change offered", async || self.deliveries().len() as u64 >= h.sim.webhook_stats().events).await;
    }
}

async fn record(State(rec): State<Recorder>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let body = serde_json::from_slice(&body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    rec.seen.lock().unwrap().push(Seen {
        auth: header("authorization"),
        content_type: header("content-type"),
        headers: headers.clone(),
        body,
    });
    match rec.status.load(Ordering::SeqCst) {
        0 => StatusCode::OK,
        s => StatusCode::from_u16(s).unwrap_or(StatusCode::OK),
    }
}

// ---------------------------------------------------------------------------------------------
// Simulator helpers

async fn sim() -> SimHandle {
    start(SimConfig::default(), loopback()).await.expect("bind simulator")
}

/// A client of one simulator's API with a token (one connection pool for all its requests).
#[derive(Clone)]
struct Api {
    http: Client,
    base: String,
    token: String,
}

impl Api {
    async fn new(h: &SimHandle) -> Api {
        let http = Client::new();
        let r = http
            .post(format!("{}/token", h.auth_url()))
            .form(&[("grant_type", "client_credentials"), ("client_id", "sim-client"), ("client_secret", "sim-secret"), ("scope", "all")])
            .send()
            .await
            .expect("token request");
        let v: Value = r.json().await.expect("token json");
        let token = v["access_token"].as_str().expect("access_token").to_string();
        Api { http, base: h.api_url(), token }
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> Value {
        let mut req = self.http.request(method.clone(), format!("{}{path}", self.base)).bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(b);
        }
        let r = req.send().await.expect("API request");
        assert_eq!(r.status(), reqwest::StatusCode::OK, "{method} {path}");
        r.json().await.expect("json")
    }

    async fn post(&self, path: &str, body: &Value) -> Value {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }
}

/// Wait until the sender's counters satisfy `done`.
async fn wait_stats(h: &SimHandle, done: impl Fn(&WebhookStats) -> bool) -> WebhookStats {
    let settled = || Some(h.sim.webhook_stats()).filter(&done);
    eventually(Lazy(|| format!("webhook stats to settle: {:?}", h.sim.webhook_stats())), async || settled()).await
}

/// `n` agent edits of seeded ticket 101, each recording an action with the note `edit i`; the
/// edits assign the ticket to agents 3 and 2 in turn (the editing agent).
fn edits(h: &SimHandle, n: usize) {
    for i in 0..n {
        let agent = if i % 2 == 0 { 3 } else { 2 };
        assert!(h.sim.agent_edit(101, json!({ "agent_id": agent }), Some(&format!("edit {i}"))).is_some());
    }
}
