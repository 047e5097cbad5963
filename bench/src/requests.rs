//! What a job costs in HaloITSM requests, which is what HaloITSM rations (about 300 per 5 minutes
//! per API application): 300 new Prowler findings, the same 300 unchanged, 300 closed when they
//! pass, and a trigger's idle poll. Counted by the simulator, which sees every request.

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::procs::{self, Proc};
use crate::{Ctx, Report};

const FINDINGS: usize = 300;
/// Polls counted for the idle poll's cost.
const POLLS: u64 = 20;

fn finding(n: usize, status: &str) -> Value {
    let resource = format!("cost-bucket-{n}");
    json!({
        "class_name": "Detection Finding", "status_code": status, "severity": "High",
        "metadata": {"event_code": "s3_bucket_public_access", "version": "1.4.0"},
        "finding_info": {"uid": format!("prowler-aws-s3_bucket_public_access-123456789012-eu-west-1-{resource}"), "title": "Public bucket"},
        "cloud": {"provider": "aws", "region": "eu-west-1", "account": {"uid": "123456789012"}},
        "resources": [{"uid": format!("arn:aws:s3:::{resource}"), "name": resource, "region": "eu-west-1"}],
    })
}

/// One `send_findings` step: its output and the HaloITSM requests it cost.
async fn cost(ctx: &Ctx, sim: &Proc, plugin: &Proc, conn: &Value, input: Value) -> (Value, u64) {
    procs::sim_reset(&ctx.http, sim).await;
    let msg = json!({"version": "v1", "type": "action_start", "body": {"action": "send_findings", "meta": {}, "input": input, "connection": conn}});
    let out: Value = match ctx.http.post(plugin.url("/api/v1/actions/send_findings")).json(&msg).send().await {
        Ok(r) => r.json().await.unwrap_or(Value::Null),
        Err(_) => Value::Null,
    };
    (out["body"]["output"].clone(), procs::halo_requests(&procs::sim_stats(&ctx.http, sim).await))
}

/// The simulator's ticket lists so far, by the closedness they asked for.
async fn lists(ctx: &Ctx, sim: &Proc, kind: &str) -> u64 {
    procs::sim_stats(&ctx.http, sim).await["ticket_lists"][kind].as_u64().unwrap_or(0)
}

/// A polling trigger left idle: requests per poll over `POLLS` polls (polled every 200 ms).
async fn idle_poll(ctx: &Ctx, sim: &Proc) -> (u64, u64, u64) {
    let dir = ctx.work.path().join("trigger-idle");
    std::fs::create_dir_all(&dir).expect("trigger state directory");
    let msg = json!({"version": "v1", "type": "trigger_start", "body": {
        "trigger": "ticket_updated", "meta": {"triggerId": "bench-idle"}, "connection": procs::connection(sim),
        "input": {"source": "poll", "interval_seconds": 5},
        "dispatcher": {"url": "http://127.0.0.1:9/dispatch", "webhook_url": ""}}});
    let mut child = Command::new(&ctx.bin)
        .arg("run")
        .env("ICON_HALOITSM_CACHE_DIR", &dir)
        .env("ICON_HALOITSM_FLAG_DIR", &dir)
        .env("ICON_HALOITSM_TEST_POLL_MS", "200")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(ctx.work.log("trigger-idle"))
        .spawn()
        .expect("the trigger starts");
    child.stdin.take().expect("stdin").write_all(msg.to_string().as_bytes()).expect("start message");
    let waited = Instant::now();
    // Its start (token, agent, first poll and sweep) left out: from the first poll on.
    while lists(ctx, sim, "plain").await < 1 {
        assert!(waited.elapsed() < Duration::from_secs(30), "the trigger never polled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    procs::sim_reset(&ctx.http, sim).await;
    while lists(ctx, sim, "plain").await < POLLS {
        assert!(waited.elapsed() < Duration::from_secs(60), "the trigger stopped polling");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stats = procs::sim_stats(&ctx.http, sim).await;
    let _ = child.kill();
    let _ = child.wait();
    let plain = stats["ticket_lists"]["plain"].as_u64().unwrap_or(0);
    (plain, stats["ticket_lists"]["closed_only"].as_u64().unwrap_or(0), procs::halo_requests(&stats))
}

pub async fn request_counts(ctx: &Ctx) -> Report {
    let mut r = Report::default();
    let sim = procs::simulator(&ctx.bin, &ctx.work, "sim-cost", &[], &ctx.http).await;
    let plugin = procs::plugin(&ctx.bin, &ctx.work, "plugin-cost", &ctx.http).await;
    let mut conn = procs::connection(&sim);
    conn["default_ticket_type_id"] = json!(4);
    let failing: Vec<Value> = (0..FINDINGS).map(|n| finding(n, "FAIL")).collect();
    let passing: Vec<Value> = (0..FINDINGS).map(|n| finding(n, "PASS")).collect();
    let (new, new_cost) = cost(ctx, &sim, &plugin, &conn, json!({"findings": failing})).await;
    let (same, same_cost) = cost(ctx, &sim, &plugin, &conn, json!({"findings": failing})).await;
    let (closed, closed_cost) = cost(ctx, &sim, &plugin, &conn, json!({"findings": passing, "on_pass": "close"})).await;
    // A simulator of its own: nothing changed there lately, so the trigger has nothing to send.
    let quiet = procs::simulator(&ctx.bin, &ctx.work, "sim-idle", &[], &ctx.http).await;
    let (polls, sweeps, poll_cost) = idle_poll(ctx, &quiet).await;
    let per_poll = (poll_cost - sweeps) as f64 / polls.max(1) as f64;
    let count = |v: &Value, k: &str| v[k].as_u64().unwrap_or(0);
    r.goal(
        &format!("{FINDINGS} new findings: HaloITSM requests"),
        "≤ 40",
        format!("{new_cost} ({} created)", count(&new, "created")),
        Some(new_cost <= 40 && count(&new, "created") == FINDINGS as u64),
    );
    r.goal(
        &format!("{FINDINGS} unchanged findings: HaloITSM requests"),
        "≤ 10",
        format!("{same_cost} ({} unchanged)", count(&same, "unchanged")),
        Some(same_cost <= 10 && count(&same, "unchanged") == FINDINGS as u64),
    );
    r.goal(
        &format!("{FINDINGS} findings closed: HaloITSM requests"),
        "≤ 40",
        format!("{closed_cost} ({} closed)", count(&closed, "closed")),
        Some(closed_cost <= 40 && count(&closed, "closed") == FINDINGS as u64),
    );
    r.goal(
        "an idle poll: HaloITSM requests",
        "1",
        format!("{per_poll:.2} (over {polls} polls; {sweeps} sweeps of closed tickets besides)"),
        Some(per_poll <= 1.0 && sweeps <= polls.div_ceil(10) + 1),
    );
    let mut d = String::new();
    let _ = writeln!(
        d,
        "## What a job costs in HaloITSM requests\n\nCounted by the simulator (no latency, no rate limit), one `send_findings` step \
         each, batches of 50 (the default). HaloITSM allows about 300 requests per 5 minutes per API application.\n\n\
         | job | HaloITSM requests | result |\n|---|---|---|\n\
         | {FINDINGS} new findings | {new_cost} | {} created |\n| the same {FINDINGS}, unchanged | {same_cost} | {} unchanged |\n\
         | {FINDINGS} findings passing, `on_pass: close` | {closed_cost} | {} closed |\n\
         | a `ticket_updated` trigger polling, nothing changed | {per_poll:.2} a poll | {sweeps} sweeps of closed tickets in {polls} polls |",
        count(&new, "created"),
        count(&same, "unchanged"),
        count(&closed, "closed"),
    );
    r.details = d;
    r
}
