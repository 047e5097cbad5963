//! The simulator's Halo-style outbound webhooks, received by a small recording server on
//! 127.0.0.1: payload shape per change kind, Basic auth, event-only payloads, batching, the drop,
//! duplicate and delay faults, failing receivers, and the control routes and CLI flags.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use halo_sim::{SimConfig, SimHandle, WebhookConfig, WebhookStats, start};
use reqwest::Client;
use serde_json::{Value, json};

use crate::common::{Lazy, Sink, eventually, webhooks_idle};

mod control;
mod failing_receivers;
mod faults;
mod payloads;

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

// ---------------------------------------------------------------------------------------------
// A recording webhook receiver

/// The common sink at `/hooks/halo`, counting every POST it took in, however it answered.
struct Receiver(Sink);

impl std::ops::Deref for Receiver {
    type Target = Sink;
    fn deref(&self) -> &Sink {
        &self.0
    }
}

impl Receiver {
    async fn start() -> Receiver {
        Receiver(Sink::start("/hooks/halo").await)
    }

    fn config(&self) -> WebhookConfig {
        WebhookConfig { url: self.url.clone(), ..WebhookConfig::default() }
    }

    /// Every delivery object received so far, however answered, batches flattened, in arrival
    /// order.
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
