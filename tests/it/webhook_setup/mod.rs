//! `setup_webhook` and `check_webhook`: the plugin provisions, watches and heals its own HaloITSM
//! webhook (docs/halo-api.md W17–W22). Flows run against the simulator posting to a stand-in
//! API Trigger; `requests` pins exactly what each step asks HaloITSM.

use halo_sim::{Profile, SimHandle};
use serde_json::{Value, json};

use crate::common::{PluginServer, error_cause, eventually, sim_world_on, step, step_output};
use crate::process_webhook::{API_KEY, api_trigger};

mod flows;
mod requests;

/// The inputs that point the webhook at `url` with the API Trigger's key.
fn setup_input(url: &str, key: &str) -> Value {
    json!({"url": url, "authentication": "api_key", "api_key": key, "events": ["New Ticket Logged", "Ticket Status Changed", "Ticket Updated"]})
}

/// A simulated tenant of `profile`, a plugin server and its connection.
async fn world(profile: Profile) -> (SimHandle, PluginServer, Value) {
    sim_world_on(profile, json!({})).await
}

/// Requests the simulator took on a route, e.g. `POST /api/Webhook`.
fn requests(halo: &SimHandle, route: &str) -> u64 {
    halo.sim.stats().by_route.get(route).copied().unwrap_or(0)
}

async fn setup(srv: &PluginServer, conn: &Value, input: Value) -> Value {
    let (status, out) = step_output(srv, conn, "setup_webhook", input).await;
    assert_eq!(status, 200, "{out}");
    out
}

async fn check(srv: &PluginServer, conn: &Value, input: Value) -> Value {
    let (status, out) = step_output(srv, conn, "check_webhook", input).await;
    assert_eq!(status, 200, "{out}");
    out
}
