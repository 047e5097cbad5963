//! The demo's webhook steps: the plugin sets up its own HaloITSM webhook to an API Trigger,
//! test-fires it, and catches up on a delivery the API Trigger missed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Demo, Report};
use halo_sim as sim;

const KEY: &str = "demo-organization-api-key";
/// How long the demo waits for the simulator to deliver (or fail to).
const PATIENCE: Duration = Duration::from_secs(10);

/// Set Up Webhook twice (the second changes nothing), then Check Webhook recovering a delivery
/// made while the API Trigger was down.
pub(super) async fn own_webhook(demo: &mut Demo, halo: &sim::SimHandle) {
    let report = match provisioned_and_recovered(demo, halo).await {
        Ok(lines) => Report { ok: true, lines },
        Err(e) => Report { ok: false, lines: vec![e] },
    };
    demo.record("No hand set-up: the plugin sets up its webhook and recovers a missed delivery", report);
}

/// A stand-in API Trigger that checks the key and can be taken down; its URL and the switch.
async fn api_trigger() -> Result<(String, Arc<AtomicBool>, tokio::task::JoinHandle<()>), String> {
    use axum::http::StatusCode;
    let down = Arc::new(AtomicBool::new(false));
    let is_down = down.clone();
    let app = axum::Router::new().route(
        "/connect/v1/workflows/{id}/events/execute",
        axum::routing::post(move |headers: axum::http::HeaderMap| {
            let down = is_down.load(Ordering::SeqCst);
            async move {
                match (down, headers.get("x-api-key").and_then(|v| v.to_str().ok()) == Some(KEY)) {
                    (true, _) => StatusCode::SERVICE_UNAVAILABLE,
                    (false, false) => StatusCode::UNAUTHORIZED,
                    (false, true) => StatusCode::OK,
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.map_err(|e| e.to_string())?;
    let url = format!("http://{}/connect/v1/workflows/demo-sync/events/execute", listener.local_addr().map_err(|e| e.to_string())?);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((url, down, task))
}

async fn step(demo: &Demo, name: &str, input: Value) -> Result<Value, String> {
    let (status, b) = demo.action(name, input).await?;
    if status != 200 {
        return Err(format!("{name}: HTTP {status}: {}", b.pointer("/body/error").and_then(Value::as_str).unwrap_or_default()));
    }
    Ok(b["body"]["output"].clone())
}

async fn provisioned_and_recovered(demo: &Demo, halo: &sim::SimHandle) -> Result<Vec<String>, String> {
    let (url, down, task) = api_trigger().await?;
    let since = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let input = json!({"url": url, "authentication": "api_key", "api_key": KEY, "test": true,
        "events": ["New Ticket Logged", "Ticket Status Changed", "Ticket Updated"]});
    let first = step(demo, "setup_webhook", input.clone()).await?;
    let mut lines = vec![format!(
        "setup_webhook: webhook {} created: {}; test delivery reached the API Trigger: {} (HTTP {})",
        first["webhook_id"].as_str().unwrap_or("-"),
        first["created"],
        first["test"]["delivered"],
        first["test"]["status"]
    )];
    let mut again = input;
    again["test"] = json!(false);
    let second = step(demo, "setup_webhook", again).await?;
    lines.push(format!("setup_webhook again: created {}, changed {} (nothing to do)", second["created"], second["changed"]));

    // The API Trigger is down while an analyst reassigns a ticket: HaloITSM logs a failure.
    down.store(true, Ordering::SeqCst);
    let failures = || halo.sim.webhook_log().iter().filter(|r| r["error"] == json!(true)).count();
    halo.sim.agent_edit(104, json!({"agent_id": 4}), None).ok_or("ticket 104 is not in the simulator")?;
    let started = Instant::now();
    while failures() < 1 {
        if started.elapsed() > PATIENCE {
            return Err("HaloITSM logged no failed delivery".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    down.store(false, Ordering::SeqCst);
    let checked = step(demo, "check_webhook", json!({"since": since, "recover": true})).await?;
    // The stand-in goes away with the demo step: switch the webhook off so nothing posts to it.
    if let Some(id) = first["webhook_id"].as_str() {
        let _ = halo.sim.edit_api_webhook(id, json!({"active": false}));
    }
    task.abort();
    let failed = checked["failed"].as_array().map(Vec::len).unwrap_or(0);
    let events = checked["recovered"]["events"].as_array().cloned().unwrap_or_default();
    lines.push(format!(
        "the API Trigger was down while ticket 104 was reassigned; check_webhook: {failed} failed delivery, enabled {}",
        checked["enabled"]
    ));
    let Some(e) = events.first() else {
        return Err(format!("check_webhook recovered no event: {}", checked["advice"]));
    };
    lines.push(format!(
        "recovered: {} event for #{} (changed fields {}), event ID {}: the one Process Webhook gives",
        e["event"].as_str().unwrap_or("-"),
        e["ticket"]["id"],
        e["changed_fields"],
        e["event_id"].as_str().unwrap_or("-")
    ));
    Ok(lines)
}
