//! `process_webhook`: HaloITSM webhook bodies, as an InsightConnect API Trigger receives them,
//! turned into the triggers' events. The simulator posts its webhooks to a stand-in API Trigger
//! (the URL shape and `X-API-Key` check of docs/halo-api.md#RP1, RP2), and the recorded bodies
//! are handed to the step through the plugin's REST API.

use std::net::SocketAddr;
use std::time::Duration;

use halo_sim::{self as sim, SimConfig, SimHandle, WebhookConfig};
use serde_json::{Value, json};

use crate::common::{PluginServer, Sink, action, post as post_json};

mod flows;
mod reopens;
mod requests;

pub(crate) const API_KEY: &str = "r7-org-key-0123456789";
const WORKFLOW: &str = "0b5f9d33-6c0e-4d1f-9f4b-2f6c1b7e9a10";

/// What the stand-in API Trigger took in: each body, and how many requests it refused.
#[derive(Clone)]
pub(crate) struct Taken(Sink);

/// An InsightConnect API Trigger on 127.0.0.1: `POST /connect/v1/workflows/<id>/events/execute`
/// with `X-API-Key` (RP1, RP2); the body is kept as the workflow would see it.
pub(crate) async fn api_trigger() -> (String, Taken) {
    let sink = Sink::start(&format!("/connect/v1/workflows/{WORKFLOW}/events/execute")).await;
    sink.require_api_key("x-api-key", API_KEY);
    (sink.url.clone(), Taken(sink))
}

impl Taken {
    /// Wait until `n` bodies arrived.
    async fn wait_for(&self, n: usize) -> Vec<Value> {
        self.0.wait_bodies(n).await
    }

    /// Wait until `n` deliveries arrived, whatever the bodies they came in (batches are arrays);
    /// returns the deliveries.
    pub(crate) async fn deliveries(&self, n: usize) -> Vec<Value> {
        self.0.wait_deliveries(n).await
    }

    /// How many requests came without the API key.
    fn refused(&self) -> usize {
        self.0.refused()
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
