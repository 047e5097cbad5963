//! HaloITSM's rate limit (docs/halo-api.md#R1–R3) against the simulator's rolling window: bulk
//! work that waits instead of failing, one budget for every step of a connection, a limit
//! learned from 429s or kept from the connection, a bounded wait for single requests, and
//! several plugin processes on one API application converging on one ticket per key.
//! Assertions count requests, 429s and tickets, never milliseconds.

use crate::common;

use std::net::SocketAddr;

use common::{PluginServer, action, post};
use halo_sim::{self as sim, Faults, RateWindow, SimConfig, SimHandle};
use serde_json::{Value, json};

mod bulk;
mod containers;
mod interactive;
mod shared;

/// A simulator allowing `requests` per `window_ms`, with or without `Retry-After`.
async fn limited(requests: u64, window_ms: u64, retry_after: bool, latency_ms: u64) -> SimHandle {
    let h = sim::start(SimConfig::default(), SocketAddr::from(([127, 0, 0, 1], 0))).await.expect("bind the simulator on loopback");
    h.sim.set_faults(Faults { latency_ms, rate_window: Some(RateWindow { requests, window_ms, retry_after }), ..Faults::default() });
    h
}

fn connection(h: &SimHandle, extra: Value) -> Value {
    let mut c = h.connection();
    c["default_ticket_type_id"] = json!(4);
    c["reference_field_id"] = json!(101);
    for (k, v) in extra.as_object().expect("an object") {
        c[k] = v.clone();
    }
    c
}

/// A distinct failing Prowler finding.
fn finding(n: usize) -> Value {
    let resource = format!("bucket-{n}");
    json!({
        "class_name": "Detection Finding", "status_code": "FAIL", "status": "New", "status_id": 1, "severity": "High",
        "status_detail": format!("public access on {resource}"),
        "metadata": {"event_code": "s3_bucket_public_access", "version": "1.4.0"},
        "finding_info": {"uid": format!("prowler-aws-s3_bucket_public_access-123456789012-eu-west-1-{resource}"), "title": "Public bucket"},
        "cloud": {"provider": "aws", "region": "eu-west-1", "account": {"uid": "123456789012", "name": "prod"}},
        "resources": [{"uid": format!("arn:aws:s3:::{resource}"), "name": resource, "type": "AwsS3Bucket", "region": "eu-west-1"}],
    })
}

fn findings(n: usize) -> Vec<Value> {
    (0..n).map(finding).collect()
}

/// Run a step on a plugin server: (HTTP status, the answer's `body`).
async fn run(srv_url: &str, name: &str, conn: &Value, input: Value) -> (u16, Value) {
    let (status, answer) = post(&format!("{srv_url}/api/v1/actions/{name}"), &action(name, conn.clone(), input)).await;
    (status, answer["body"].clone())
}

/// Open tickets of the simulator whose details carry `tag`.
fn open_with(h: &SimHandle, tag: &str) -> Vec<Value> {
    h.sim
        .tickets()
        .into_iter()
        .filter(|t| t["details"].as_str().is_some_and(|d| d.contains(tag)) && t["hasbeenclosed"] != json!(true))
        .collect()
}

/// The Prowler tickets the simulator holds, open or not.
fn prowler_tickets(h: &SimHandle) -> Vec<Value> {
    h.sim.tickets().into_iter().filter(|t| t["summary"].as_str().unwrap_or_default().starts_with("[Prowler]")).collect()
}

async fn plugin() -> PluginServer {
    PluginServer::start().await
}
