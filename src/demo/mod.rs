//! `icon_haloitsm demo`: the plugin's REST server in front of the embedded HaloITSM simulator,
//! driven through a realistic SOAR workflow the way InsightConnect drives it, with a readable
//! account of every step.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};

use crate::plugin::Plugin;
use crate::server::{self, AppState, ServerOptions};
use halo_sim as sim;

mod comment_steps;
mod rapid7_steps;
mod ticket_steps;
mod trigger_steps;
mod webhook_steps;

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

    ticket_steps::connection_test(&mut demo).await;
    let id = ticket_steps::ticket_from_alert(&mut demo).await;
    ticket_steps::private_comment(&mut demo, id).await;
    ticket_steps::assign(&mut demo, id).await;
    ticket_steps::search_open(&mut demo).await;
    ticket_steps::close(&mut demo, id).await;
    ticket_steps::history(&mut demo, id).await;
    trigger_steps::status_change_trigger(&mut demo, plugin.clone(), &halo).await;
    trigger_steps::api_trigger(&mut demo, &halo).await;
    webhook_steps::own_webhook(&mut demo, &halo).await;
    ticket_steps::malformed_id(&mut demo).await;
    rapid7_steps::prowler_scan(&mut demo).await;
    rapid7_steps::investigation(&mut demo).await;
    comment_steps::both_ways(&mut demo, &halo).await;
    rapid7_steps::remediations(&mut demo).await;

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
