//! `icon_haloitsm demo`: the plugin's REST server in front of the embedded HaloITSM simulator,
//! driven through a realistic SOAR workflow the way InsightConnect drives it, with a readable
//! account of every step.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};

use crate::plugin::Plugin;
use crate::server::{self, AppState, ServerOptions};
use crate::sim;

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

fn failure(status: u16, body: &Value) -> Report {
    let err = body.pointer("/body/error").and_then(Value::as_str).unwrap_or("no error message");
    Report { ok: false, lines: vec![format!("HTTP {status}: {err}")] }
}

/// Run the demo; true when every step behaved as expected.
pub async fn run() -> bool {
    crate::protocol::ensure_log_capture();
    let started = Instant::now();
    let loopback: SocketAddr = ([127, 0, 0, 1], 0).into();
    let sim_cfg = sim::SimConfig::default();
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
    let state = AppState::new(Arc::new(Plugin::new(false)));
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

    // 2. Look up an existing ticket (the first one the simulator holds).
    let existing = halo.sim.tickets().first().and_then(|t| t.get("id").and_then(Value::as_i64)).unwrap_or(1);
    let report = match demo.action("get_ticket", json!({"ticket_id": existing})).await {
        Ok((200, b)) if b.pointer("/body/output/found") == Some(&json!(true)) => {
            Report { ok: true, lines: ticket_lines(&b["body"]["output"]["ticket"]) }
        }
        Ok((s, b)) => failure(s, &b),
        Err(e) => Report { ok: false, lines: vec![e] },
    };
    demo.record(&format!("Get ticket {existing}"), report);

    // 3. A ticket that does not exist is an answer, not an error.
    let report = match demo.action("get_ticket", json!({"ticket_id": 999_999})).await {
        Ok((200, b)) if b.pointer("/body/output/found") == Some(&json!(false)) => {
            Report { ok: true, lines: vec!["found: false, ticket: {} (the workflow can branch on it)".into()] }
        }
        Ok((s, b)) => failure(s, &b),
        Err(e) => Report { ok: false, lines: vec![e] },
    };
    demo.record("Get ticket 999999 (does not exist)", report);

    // 4. Bad input is refused before anything is sent to HaloITSM.
    let report = match demo.action("get_ticket", json!({"ticket_id": "INC-42"})).await {
        Ok((400, b)) => {
            Report { ok: true, lines: vec![format!("HTTP 400: {}", b.pointer("/body/error").and_then(Value::as_str).unwrap_or_default())] }
        }
        Ok((s, b)) => Report { ok: false, lines: vec![format!("expected HTTP 400, got {s}: {b}")] },
        Err(e) => Report { ok: false, lines: vec![e] },
    };
    demo.record("Get ticket with a malformed ID (rejected)", report);

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
