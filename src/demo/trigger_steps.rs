//! The demo's trigger steps: a change in HaloITSM starts a workflow, through the trigger's own
//! listener and through an API Trigger and Process Webhook.

use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};

use super::{Demo, Report};
use crate::plugin::Plugin;
use halo_sim as sim;

/// A trigger: an analyst changes a ticket in HaloITSM; the workflow starts from its webhook.
pub(super) async fn status_change_trigger(demo: &mut Demo, plugin: Arc<Plugin>, halo: &sim::SimHandle) {
    let report = match trigger_fires(plugin.clone(), halo, &demo.connection).await {
        Ok(lines) => Report { ok: true, lines },
        Err(e) => Report { ok: false, lines: vec![e] },
    };
    demo.record("Trigger: a status change in HaloITSM starts a workflow", report);
}

/// The same, the way every orchestrator can: HaloITSM's webhook to an API Trigger.
pub(super) async fn api_trigger(demo: &mut Demo, halo: &sim::SimHandle) {
    let report = match api_trigger_processed(demo, halo).await {
        Ok(lines) => Report { ok: true, lines },
        Err(e) => Report { ok: false, lines: vec![e] },
    };
    demo.record("API Trigger: a HaloITSM webhook turned into an event by Process Webhook", report);
}

/// Start the `ticket_status_changed` trigger on webhooks, change a ticket the way an analyst
/// would in HaloITSM, and wait for the event at a local dispatcher.
async fn trigger_fires(plugin: Arc<Plugin>, halo: &sim::SimHandle, connection: &Value) -> Result<Vec<String>, String> {
    use axum::routing::post;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Value>(16);
    let sink = axum::Router::new().route(
        "/events",
        post(move |body: axum::Json<Value>| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(body.0).await;
                "ok"
            }
        }),
    );
    let sink_listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.map_err(|e| e.to_string())?;
    let sink_url = format!("http://{}/events", sink_listener.local_addr().map_err(|e| e.to_string())?);
    let sink_task = tokio::spawn(async move { axum::serve(sink_listener, sink).await });
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port();
    let dir = std::env::temp_dir().join(format!("icon_haloitsm-demo-{}-{port}", std::process::id()));
    let (user, password) = ("halo-webhook", "demo-webhook-password");
    let mut conn = connection.clone();
    conn["webhook_credentials"] = json!({"username": user, "password": password});
    let msg = json!({"version": "v1", "type": "trigger_start", "body": {
        "trigger": "ticket_status_changed", "meta": {"triggerId": "demo-trigger"}, "connection": conn,
        "input": {"source": "webhook", "webhook_port": port, "webhook_bind": "127.0.0.1"},
        "dispatcher": {"url": sink_url, "webhook_url": ""}}});
    let opts =
        crate::triggers::Options { debug: false, state_dir: dir.clone(), flag_file: dir.join("terminate_trigger.flag"), poll_every: None };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let trigger = tokio::spawn(crate::triggers::run(plugin, msg, opts, async {
        let _ = stop_rx.await;
    }));
    halo.sim.set_webhook(Some(sim::WebhookConfig {
        url: format!("http://127.0.0.1:{port}/webhooks/haloitsm"),
        username: Some(user.into()),
        password: Some(password.into()),
        ..Default::default()
    }));
    let health = format!("http://127.0.0.1:{port}/healthz");
    let started = Instant::now();
    while reqwest::get(&health).await.is_err() {
        if started.elapsed().as_secs() > 10 {
            return Err("the trigger's webhook listener did not start".into());
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    halo.sim.agent_edit(102, json!({"status_id": 2}), Some("Picked up by the SOC")).ok_or("ticket 102 is not in the simulator")?;
    // A change made in the second the trigger started counts too (HaloITSM's dates have whole
    // seconds): the demo's own close of the ticket before may come first.
    let for_102 = async {
        while let Some(e) = rx.recv().await {
            if e["body"]["output"]["ticket"]["id"] == 102 {
                return Some(e);
            }
        }
        None
    };
    let event = tokio::time::timeout(std::time::Duration::from_secs(10), for_102).await.map_err(|_| "no event within 10 s".to_string())?;
    let _ = stop_tx.send(());
    let _ = trigger.await;
    halo.sim.set_webhook(None);
    sink_task.abort();
    let _ = std::fs::remove_dir_all(&dir);
    let out = event.map(|e| e["body"]["output"].clone()).ok_or("the dispatcher closed")?;
    Ok(vec![
        "an analyst moved ticket 102 to In Progress in HaloITSM".into(),
        format!(
            "ticket_status_changed fired: #{} status {} -> {} (via {}, changed by this integration: {})",
            out["ticket"]["id"],
            out["old_status_id"],
            out["new_status_id"],
            out["source"].as_str().unwrap_or("-"),
            out["changed_by_integration"]
        ),
    ])
}

/// HaloITSM's webhook through an InsightConnect API Trigger (a local stand-in that checks the
/// `X-API-Key`, docs/halo-api.md#RP1), the body handed to `process_webhook` as a workflow's first
/// step would hand it, twice: a repeat gives the same events and IDs.
async fn api_trigger_processed(demo: &Demo, halo: &sim::SimHandle) -> Result<Vec<String>, String> {
    use axum::routing::post;
    const KEY: &str = "demo-organization-api-key";
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Value>(16);
    let api_trigger = axum::Router::new().route(
        "/connect/v1/workflows/{id}/events/execute",
        post(move |headers: axum::http::HeaderMap, body: axum::Json<Value>| {
            let tx = tx.clone();
            async move {
                if headers.get("x-api-key").and_then(|v| v.to_str().ok()) != Some(KEY) {
                    return axum::http::StatusCode::UNAUTHORIZED;
                }
                let _ = tx.send(body.0).await;
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.map_err(|e| e.to_string())?;
    let url = format!("http://{}/connect/v1/workflows/demo-workflow/events/execute", listener.local_addr().map_err(|e| e.to_string())?);
    let task = tokio::spawn(async move { axum::serve(listener, api_trigger).await });
    halo.sim.set_webhook(Some(sim::WebhookConfig { url, api_key: Some(KEY.into()), ..Default::default() }));
    halo.sim.agent_edit(103, json!({"agent_id": 4}), None).ok_or("ticket 103 is not in the simulator")?;
    let delivery =
        tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv()).await.map_err(|_| "no delivery within 10 s".to_string())?;
    halo.sim.set_webhook(None);
    task.abort();
    let delivery = delivery.ok_or("the API Trigger closed")?;
    let mut lines = vec![format!(
        "an analyst reassigned ticket 103; HaloITSM posted \"{}\" (delivery {}) to the API Trigger",
        delivery["event"].as_str().unwrap_or("-"),
        delivery["id"].as_str().unwrap_or("-")
    )];
    let mut ids = Vec::new();
    for _ in 0..2 {
        let (status, b) = demo.action("process_webhook", json!({"delivery": delivery})).await?;
        if status != 200 {
            return Err(format!(
                "process_webhook: HTTP {status}: {}",
                b.pointer("/body/error").and_then(Value::as_str).unwrap_or_default()
            ));
        }
        let e = &b["body"]["output"]["events"][0];
        ids.push(e["event_id"].clone());
        if ids.len() == 1 {
            lines.push(format!(
                "process_webhook: {} event for #{}, changed fields {}, changed by this integration: {}",
                e["event"].as_str().unwrap_or("-"),
                e["ticket"]["id"],
                e["changed_fields"],
                e["changed_by_integration"]
            ));
        }
    }
    if ids[0].is_null() || ids[0] != ids[1] {
        return Err(format!("a repeat gave another event ID: {} then {}", ids[0], ids[1]));
    }
    lines.push(format!("processed again: the same event, the same event ID {}", ids[0]));
    Ok(lines)
}
