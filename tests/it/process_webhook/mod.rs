//! `process_webhook`: HaloITSM webhook bodies, as an InsightConnect API Trigger receives them,
//! turned into the triggers' events. The simulator posts its webhooks to a stand-in API Trigger
//! (the URL shape and `X-API-Key` check of docs/halo-api.md#RP1, RP2), and the recorded bodies
//! are handed to the step through the plugin's REST API.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use halo_sim::{self as sim, SimConfig, SimHandle, WebhookConfig};
use serde_json::{Value, json};

use crate::common::{Lazy, PluginServer, action, eventually, post as post_json};

mod flows;
mod requests;

pub(crate) const API_KEY: &str = "r7-org-key-0123456789";
const WORKFLOW: &str = "0b5f9d33-6c0e-4d1f-9f4b-2f6c1b7e9a10";

/// What the stand-in API Trigger took in: each body, and how many requests it refused.
#[derive(Clone, Default)]
pub(crate) struct Taken {
    bodies: Arc<Mutex<Vec<Value>>>,
    refused: Arc<Mutex<usize>>,
}

/// An InsightConnect API Trigger on 127.0.0.1: `POST /connect/v1/workflows/<id>/events/execute`
/// with `X-API-Key` (RP1, RP2); the body is kept as the workflow would see it.
pub(crate) async fn api_trigger() -> (String, Taken) {
    let taken = Taken::default();
    let app = Router::new()
        .route(
            &format!("/connect/v1/workflows/{WORKFLOW}/events/execute"),
            post(|State(t): State<Taken>, headers: HeaderMap, body: axum::Json<Value>| async move {
                if headers.get("x-api-key").and_then(|v| v.to_str().ok()) != Some(API_KEY) {
                    *t.refused.lock().unwrap() += 1;
                    return StatusCode::UNAUTHORIZED;
                }
                t.bodies.lock().unwrap().push(body.0);
                StatusCode::OK
            }),
        )
        .with_state(taken.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/connect/v1/workflows/{WORKFLOW}/events/execute", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, taken)
}

impl Taken {
    /// Wait until `n` bodies arrived.
    async fn wait_for(&self, n: usize) -> Vec<Value> {
        self.wait_until(n, |b| b.len()).await
    }

    /// Wait until `n` deliveries arrived, whatever the bodies they came in (batches are arrays);
    /// returns the deliveries.
    pub(crate) async fn deliveries(&self, n: usize) -> Vec<Value> {
        let flat = |bodies: &[Value]| -> Vec<Value> {
            bodies.iter().flat_map(|b| b.as_array().cloned().unwrap_or_else(|| vec![b.clone()])).collect()
        };
        flat(&self.wait_until(n, |b| flat(b).len()).await)
    }

    async fn wait_until(&self, n: usize, count: impl Fn(&[Value]) -> usize) -> Vec<Value> {
        let got = || Some(self.bodies.lock().unwrap().clone()).filter(|b| count(b) >= n);
        eventually(Lazy(|| format!("{n} to arrive, got {}", count(&self.bodies.lock().unwrap()))), async || got()).await
    }
}

/// The simulator, a plugin server, and the simulator's webhooks aimed at a stand-in API Trigger
/// with Halo's API Key option (`extra` adds webhook settings: payload, batching, ...).
struct Harness {
    halo: SimHandle,
    srv: PluginServer,
    taken: Taken,
}

async fn harness(extra: Value) -> Harness {
    let halo = sim::start(SimConfig::default(), SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    let (url, taken) = api_trigger().await;
    let mut cfg = json!({"url": url, "api_key": API_KEY, "api_key_header": "X-API-Key"});
    for (k, v) in extra.as_object().unwrap() {
        cfg[k] = v.clone();
    }
    halo.sim.set_webhook(Some(serde_json::from_value::<WebhookConfig>(cfg).unwrap()));
    Harness { halo, srv: PluginServer::start().await, taken }
}

impl Harness {
    /// Run the step; the HTTP status and the body's `output` (or the whole body on error).
    async fn process(&self, input: Value) -> (u16, Value) {
        let (status, body) =
            post_json(&self.srv.url("/api/v1/actions/process_webhook"), &action("process_webhook", self.halo.connection(), input)).await;
        match status {
            200 => (status, body["body"]["output"].clone()),
            _ => (status, body),
        }
    }

    /// The events of these deliveries.
    async fn events(&self, deliveries: &[Value], extra: Value) -> Vec<Value> {
        let mut input = json!({"deliveries": deliveries});
        for (k, v) in extra.as_object().unwrap() {
            input[k] = v.clone();
        }
        let (status, out) = self.process(input).await;
        assert_eq!(status, 200, "{out}");
        out["events"].as_array().unwrap().clone()
    }
}

/// (event, ticket, old status, new status) of each event.
fn summary(events: &[Value]) -> Vec<(String, i64, Option<i64>, Option<i64>)> {
    events
        .iter()
        .map(|e| {
            (
                e["event"].as_str().unwrap().to_string(),
                e["ticket"]["id"].as_i64().unwrap(),
                e["old_status_id"].as_i64(),
                e["new_status_id"].as_i64(),
            )
        })
        .collect()
}
