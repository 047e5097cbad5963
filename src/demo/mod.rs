//! `icon_haloitsm demo`: the plugin's REST server in front of the embedded HaloITSM simulator,
//! driven through a realistic SOAR workflow the way InsightConnect drives it, with a readable
//! account of every step.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use base64::Engine;
use serde_json::{Value, json};

use crate::plugin::Plugin;
use crate::server::{self, AppState, ServerOptions};
use halo_sim as sim;

/// One step of the demo and what it showed.
struct Report {
    ok: bool,
    lines: Vec<String>,
}

struct Demo {
    http: reqwest::Client,
    plugin_url: String,
    connection: Value,
    steps: Vec<(String, Report)>,
}

impl Demo {
    /// POST a start message to the plugin; returns (HTTP status, output message).
    async fn call(&self, route: &str, msg: &Value) -> Result<(u16, Value), String> {
        let resp = self.http.post(format!("{}{route}", self.plugin_url)).json(msg).send().await.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let body = resp.json::<Value>().await.map_err(|e| e.to_string())?;
        Ok((status, body))
    }

    async fn action(&self, name: &str, input: Value) -> Result<(u16, Value), String> {
        let msg = json!({"version": "v1", "type": "action_start",
            "body": {"action": name, "meta": {"jobId": "demo-job", "stepId": format!("demo-{name}")}, "connection": self.connection, "input": input}});
        self.call(&format!("/api/v1/actions/{name}"), &msg).await
    }

    fn record(&mut self, title: &str, report: Report) {
        let mark = if report.ok { "✔" } else { "✘" };
        println!("{mark} {title}");
        for l in &report.lines {
            println!("    {l}");
        }
        self.steps.push((title.to_string(), report));
    }
}

fn ticket_lines(t: &Value) -> Vec<String> {
    let s = |k: &str| t.get(k).map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()));
    let mut out = vec![format!("#{} {}", s("id").unwrap_or_default(), s("summary").unwrap_or_default())];
    out.push(format!(
        "status: {} | priority: {} | type: {}",
        s("status_name").unwrap_or("-".into()),
        s("priority_name").unwrap_or("-".into()),
        s("tickettype_name").unwrap_or("-".into())
    ));
    out.push(format!("agent: {} | team: {}", s("agent_name").unwrap_or("unassigned".into()), s("team_name").unwrap_or("-".into())));
    if let Some(u) = s("url") {
        out.push(format!("link: {u}"));
    }
    out
}

/// A send_remediations run in one line.
fn counted(o: &Value) -> String {
    let n = |k: &str| o[k].as_i64().unwrap_or_default();
    format!(
        "{} created, {} updated, {} closed, {} unchanged, {} failed",
        n("created"),
        n("updated"),
        n("closed"),
        n("unchanged"),
        n("failed")
    )
}

/// A step that must succeed; `describe` turns its output into report lines.
fn expect_ok(result: Result<(u16, Value), String>, describe: impl Fn(&Value) -> Vec<String>) -> Report {
    match result {
        Ok((200, b)) => Report { ok: true, lines: describe(&b["body"]["output"]) },
        Ok((s, b)) => failure(s, &b),
        Err(e) => Report { ok: false, lines: vec![e] },
    }
}

fn failure(status: u16, body: &Value) -> Report {
    let err = body.pointer("/body/error").and_then(Value::as_str).unwrap_or("no error message");
    Report { ok: false, lines: vec![format!("HTTP {status}: {err}")] }
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

/// Run the demo, on a stock tenant or one that behaves as live tenants do; true when every step
/// behaved as expected.
pub async fn run(live_tenant: bool) -> bool {
    crate::protocol::ensure_log_capture();
    let started = Instant::now();
    let loopback: SocketAddr = ([127, 0, 0, 1], 0).into();
    let profile = if live_tenant { sim::Profile::live_tenant() } else { sim::Profile::default() };
    let sim_cfg = sim::SimConfig { profile, ..sim::SimConfig::default() };
    let (client_id, client_secret) = (sim_cfg.client_id.clone(), sim_cfg.client_secret.clone());
    let halo = match sim::start(sim_cfg, loopback).await {
        Ok(h) => h,
        Err(e) => {
            eprintln!("could not start the HaloITSM simulator: {e}");
            return false;
        }
    };
    let listener = match tokio::net::TcpListener::bind(loopback).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("could not start the plugin server: {e}");
            return false;
        }
    };
    let plugin_addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let plugin = Arc::new(Plugin::new(false));
    let state = AppState::new(plugin.clone());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(server::serve(state, listener, ServerOptions::default(), async {
        let _ = stop_rx.await;
    }));

    println!("HaloITSM plugin demo");
    println!("  simulated HaloITSM: {} (auth {}, api {})", halo.base_url(), halo.auth_url(), halo.api_url());
    println!("  plugin REST API:    http://{plugin_addr}");
    println!();

    let mut demo = Demo {
        http: reqwest::Client::new(),
        plugin_url: format!("http://{plugin_addr}"),
        connection: json!({
            "client_id": client_id,
            "client_secret": {"secretKey": client_secret},
            "authorization_server": halo.auth_url(),
            "resource_server": halo.api_url(),
            "default_ticket_type_id": 4,
        }),
        steps: Vec::new(),
    };

    // 1. Connection test, as InsightConnect runs it when a connection is saved.
    let msg = json!({"version": "v1", "type": "connection_test", "body": {"connection": demo.connection}});
    let report = match demo.call("/api/v1/connection/test", &msg).await {
        Ok((200, _)) => Report { ok: true, lines: vec!["token fetched and tickets readable".into()] },
        Ok((s, b)) => failure(s, &b),
        Err(e) => Report { ok: false, lines: vec![e] },
    };
    demo.record("Connection test", report);

    // 2. An InsightIDR alert becomes a ticket, its investigation reference in a custom field.
    let alert = json!({
        "summary": "InsightIDR: Suspicious Authentication - jsmith from 203.0.113.9",
        "details": "<p>InsightIDR raised <b>Suspicious Authentication</b> for jsmith@example.com: a successful login from 203.0.113.9 (first seen, new country) after 14 failures.</p>",
        "priority_id": 2,
        "customfields": [{"id": 101, "value": "rrn:investigation:us:demo-4242"}],
    });
    let mut ticket_id = None;
    let report = match demo.action("create_ticket", alert).await {
        Ok((200, b)) => {
            let t = &b["body"]["output"]["ticket"];
            ticket_id = t["id"].as_i64();
            let mut lines = ticket_lines(t);
            lines.push("investigation reference stored in custom field 101".into());
            Report { ok: ticket_id.is_some(), lines }
        }
        Ok((s, b)) => failure(s, &b),
        Err(e) => Report { ok: false, lines: vec![e] },
    };
    demo.record("Create a ticket from an InsightIDR alert", report);
    let id = ticket_id.unwrap_or(0);

    // 3. A private note for the analysts.
    let report = expect_ok(
        demo.action(
            "add_comment",
            json!({"ticket_id": id, "comment": "Sessions revoked and password reset forced for jsmith.", "is_private": true}),
        )
        .await,
        |o| vec![format!("private note {} added", o["comment_id"])],
    );
    demo.record("Add a private comment", report);

    // 4. Route it to the security team and an analyst.
    let report = expect_ok(demo.action("assign_ticket", json!({"ticket_id": id, "agent_id": 3, "team_id": 2})).await, |o| {
        vec![format!(
            "now with {} ({})",
            o["ticket"]["agent_name"].as_str().unwrap_or("-"),
            o["ticket"]["team_name"].as_str().unwrap_or("-")
        )]
    });
    demo.record("Assign to an analyst and the security team", report);

    // 5. What is open for the security team?
    let report = expect_ok(demo.action("search_tickets", json!({"team_id": 2, "open_only": true, "max_results": 10})).await, |o| {
        let mut lines = vec![format!("{} open ticket(s) for Security Operations (of {} matching)", o["count"], o["total"])];
        for t in o["tickets"].as_array().into_iter().flatten().take(3) {
            lines.push(format!("#{} {}", t["id"], t["summary"].as_str().unwrap_or_default()));
        }
        lines
    });
    demo.record("Search the team's open tickets", report);

    // 6. Close it with a resolution; the details stay as they were.
    let report = expect_ok(
        demo.action(
            "close_ticket",
            json!({"ticket_id": id, "resolution": "Confirmed account compromise; credentials reset, MFA re-enrolled, source IP blocked."}),
        )
        .await,
        |o| vec![format!("status: {} (closed: {})", o["ticket"]["status_name"].as_str().unwrap_or("-"), o["ticket"]["closed"])],
    );
    demo.record("Close with a resolution", report);

    // 7. The ticket's history, newest first.
    let report = expect_ok(demo.action("list_comments", json!({"ticket_id": id})).await, |o| {
        o["comments"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                let private = if c["private"] == json!(true) { " (private)" } else { "" };
                format!(
                    "{} {}{private}: {}",
                    c["datetime"].as_str().unwrap_or("-"),
                    c["author"].as_str().unwrap_or("-"),
                    c["text"].as_str().unwrap_or_default()
                )
            })
            .collect()
    });
    demo.record("List the ticket's comments", report);

    // 8. A trigger: an analyst changes a ticket in HaloITSM; the workflow starts from its webhook.
    let report = match trigger_fires(plugin.clone(), &halo, &demo.connection).await {
        Ok(lines) => Report { ok: true, lines },
        Err(e) => Report { ok: false, lines: vec![e] },
    };
    demo.record("Trigger: a status change in HaloITSM starts a workflow", report);

    // 9. The same, the way every orchestrator can: HaloITSM's webhook to an API Trigger.
    let report = match api_trigger_processed(&demo, &halo).await {
        Ok(lines) => Report { ok: true, lines },
        Err(e) => Report { ok: false, lines: vec![e] },
    };
    demo.record("API Trigger: a HaloITSM webhook turned into an event by Process Webhook", report);

    // 10. Bad input is refused before anything is sent to HaloITSM.
    let report = match demo.action("get_ticket", json!({"ticket_id": "INC-42"})).await {
        Ok((400, b)) => {
            Report { ok: true, lines: vec![format!("HTTP 400: {}", b.pointer("/body/error").and_then(Value::as_str).unwrap_or_default())] }
        }
        Ok((s, b)) => Report { ok: false, lines: vec![format!("expected HTTP 400, got {s}: {b}")] },
        Err(e) => Report { ok: false, lines: vec![e] },
    };
    demo.record("Get ticket with a malformed ID (rejected)", report);

    // 11. A Prowler scan becomes tickets; sending the same scan again changes nothing.
    let scan = include_bytes!("../testdata/prowler/example_output_aws.ocsf.json");
    let file = json!({"filename": "example_output_aws.ocsf.json", "content": base64::engine::general_purpose::STANDARD.encode(scan)});
    let describe = |o: &Value| {
        format!(
            "{} created, {} unchanged, {} skipped (MANUAL or below Low), {} failed",
            o["created"], o["unchanged"], o["skipped"], o["failed"]
        )
    };
    let report = expect_ok(demo.action("send_findings", json!({"file": file})).await, |o| {
        let mut lines = vec![describe(o)];
        for r in o["results"].as_array().into_iter().flatten().filter(|r| r["outcome"] == "created") {
            lines.push(format!(
                "ticket #{} for {} ({})",
                r["ticket_id"],
                r["check_id"].as_str().unwrap_or("-"),
                r["severity"].as_str().unwrap_or("-")
            ));
        }
        lines
    });
    demo.record("Send a Prowler scan (AWS example file)", report);
    let report = match demo.action("send_findings", json!({"file": file})).await {
        Ok((200, b)) if b["body"]["output"]["created"] == json!(0) => {
            Report { ok: true, lines: vec![describe(&b["body"]["output"]), "no duplicates".into()] }
        }
        Ok((s, b)) => failure(s, &b),
        Err(e) => Report { ok: false, lines: vec![e] },
    };
    demo.record("Send the same scan again", report);

    // 12. An InsightIDR investigation, as InsightIDR's plugin outputs it, becomes a ticket; the
    // same investigation moved on changes only what InsightIDR changed.
    let mut investigation = json!({"rrn": "rrn:investigation:us:demo:investigation:7QK2", "title": "Lateral movement from fin-ws-12",
        "status": "OPEN", "priority": "HIGH", "disposition": "UNDECIDED", "source": "ALERT",
        "assignee": {"name": "Priya Shah", "email": "priya.shah@halo.example"}, "created_time": "2026-09-01T09:00:00Z"});
    let send = |inv: &Value| json!({"investigation": inv, "reference_field_id": 101});
    let report = expect_ok(demo.action("send_investigation", send(&investigation)).await, |o| {
        let mut lines = vec![format!(
            "{}: ticket #{} (priority {}, agent {})",
            o["outcome"].as_str().unwrap_or("-"),
            o["ticket"]["id"],
            o["ticket"]["priority_id"],
            o["ticket"]["agent_name"].as_str().unwrap_or("-")
        )];
        lines.extend(ticket_lines(&o["ticket"]).into_iter().take(1));
        lines
    });
    demo.record("Send an InsightIDR investigation", report);
    investigation["status"] = json!("INVESTIGATING");
    investigation["priority"] = json!("CRITICAL");
    let report = expect_ok(demo.action("send_investigation", send(&investigation)).await, |o| {
        vec![format!(
            "{}: {}",
            o["outcome"].as_str().unwrap_or("-"),
            o["changes"].as_array().into_iter().flatten().filter_map(Value::as_str).collect::<Vec<_>>().join("; ")
        )]
    });
    demo.record("Send it again after InsightIDR moved on", report);

    // 13. A weekly InsightVM Top Remediations becomes one ticket per solution under a parent
    // ticket, linked to its hosts' CMDB assets; the next week one solution is fixed and its
    // ticket closed.
    let remediation = |id: &str, summary: &str, risk: i64, hosts: &[(i64, &str)]| {
        let assets: Vec<Value> = hosts
            .iter()
            .map(|(i, h)| json!({"id": i, "hostName": h, "ip": format!("10.20.0.{i}"), "os": "Ubuntu Linux 22.04", "riskScore": risk / 2}))
            .collect();
        json!({"solutionId": 900 + risk % 97, "nexposeId": id, "summary": summary, "fix": "Upgrade the package and restart its services.",
            "assetCount": hosts.len(), "vulnerabilityCount": 2, "riskScore": risk, "assets": assets, "vulnerabilities": []})
    };
    let openssl = remediation("ubuntu-upgrade-openssl", "Upgrade openssl", 14_250, &[(11, "web-1"), (12, "web-2")]);
    let kernel = remediation("ubuntu-upgrade-linux-image", "Upgrade the Linux kernel", 61_000, &[(11, "web-1")]);
    // Each solution ticket also links the CMDB records of its hosts (web-1 and web-2 by name).
    let week = |list: Value| {
        json!({"remediations": list, "project": "Production web servers", "parent_ticket": true, "on_resolved": "close",
            "link_cmdb_assets": true})
    };
    let report = expect_ok(demo.action("send_remediations", week(json!([openssl, kernel]))).await, |o| {
        let mut lines = vec![counted(o), format!("parent ticket #{} for the project", o["parent"]["ticket_id"])];
        for r in o["results"].as_array().into_iter().flatten() {
            lines.push(format!(
                "ticket #{} for {} (risk {}), CMDB assets {}",
                r["ticket_id"],
                r["nexpose_id"].as_str().unwrap_or("-"),
                r["risk_score"],
                r["cmdb_asset_ids"]
            ));
        }
        lines
    });
    demo.record("Send InsightVM's top remediations", report);
    let report = expect_ok(demo.action("send_remediations", week(json!([openssl]))).await, |o| {
        let closed = o["results"].as_array().into_iter().flatten().filter(|r| r["outcome"] == "closed");
        let mut lines = vec![counted(o)];
        lines.extend(closed.map(|r| {
            format!(
                "ticket #{} closed: {} is {}",
                r["ticket_id"],
                r["nexpose_id"].as_str().unwrap_or("-"),
                r["reason"].as_str().unwrap_or("-")
            )
        }));
        lines
    });
    demo.record("A week later: the kernel is patched", report);

    let stats = halo.sim.stats();
    let passed = demo.steps.iter().filter(|(_, r)| r.ok).count();
    let total = demo.steps.len();
    println!();
    println!(
        "{passed}/{total} steps as expected in {} ms; HaloITSM saw {} API requests and {} token request(s)",
        started.elapsed().as_millis(),
        stats.api_requests,
        stats.token_requests
    );

    let _ = stop_tx.send(());
    let _ = server.await;
    halo.shutdown().await;
    passed == total
}
