//! Under HaloITSM's rate limit: 1,000 distinct Prowler findings through `send_findings` against
//! the simulator allowing HaloITSM's 300 requests per rolling 5 minutes without `Retry-After`,
//! once with the limit unknown (learned from 429s) and once with it set on the connection; then
//! 50 concurrent http-mode `send_findings` steps on one connection under the same window. Every
//! finding must get exactly one ticket, inside the first window.

use std::fmt::Write as _;
use std::time::Instant;

use serde_json::{Value, json};

use crate::procs::{self, Proc};
use crate::{Ctx, Report};

const REQUESTS: u64 = 300;
const WINDOW_S: u64 = 300;

fn finding(n: usize) -> Value {
    let resource = format!("bench-bucket-{n}");
    json!({
        "class_name": "Detection Finding", "status_code": "FAIL", "status": "New", "status_id": 1, "severity": "High",
        "status_detail": format!("public access on {resource}"),
        "metadata": {"event_code": "s3_bucket_public_access", "version": "1.4.0"},
        "finding_info": {"uid": format!("prowler-aws-s3_bucket_public_access-123456789012-eu-west-1-{resource}"), "title": "Public bucket"},
        "cloud": {"provider": "aws", "region": "eu-west-1", "account": {"uid": "123456789012", "name": "prod"}},
        "resources": [{"uid": format!("arn:aws:s3:::{resource}"), "name": resource, "type": "AwsS3Bucket", "region": "eu-west-1"}],
    })
}

async fn limited_sim(ctx: &Ctx, name: &str) -> Proc {
    let sim = procs::simulator(&ctx.bin, &ctx.work, name, &[], &ctx.http).await;
    procs::sim_faults(&ctx.http, &sim, json!({"rate_window": {"requests": REQUESTS, "window_ms": WINDOW_S * 1000}})).await;
    sim
}

async fn step(ctx: &Ctx, plugin: &Proc, action: &str, conn: &Value, input: Value) -> (u16, Value) {
    let msg = json!({"version": "v1", "type": "action_start", "body": {"action": action, "meta": {}, "input": input, "connection": conn}});
    // The load client has no timeout: a batch under the limit takes minutes, which is the point.
    match ctx.http.post(plugin.url(&format!("/api/v1/actions/{action}"))).json(&msg).send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            (status, r.json().await.unwrap_or(Value::Null))
        }
        Err(_) => (0, Value::Null),
    }
}

struct Run {
    seconds: f64,
    needed: u64,
    throttled: u64,
    created: u64,
    tickets: u64,
}

async fn findings_run(ctx: &Ctx, label: &str, count: usize, configured: bool) -> Run {
    let sim = limited_sim(ctx, &format!("sim-rate-{label}")).await;
    let plugin = procs::plugin(&ctx.bin, &ctx.work, &format!("plugin-rate-{label}"), &ctx.http).await;
    let mut conn = procs::connection(&sim);
    conn["default_ticket_type_id"] = json!(4);
    if configured {
        conn["rate_limit_requests"] = json!(REQUESTS);
        conn["rate_limit_window_seconds"] = json!(WINDOW_S);
    }
    let started = Instant::now();
    let (status, body) = step(ctx, &plugin, "send_findings", &conn, json!({"findings": (0..count).map(finding).collect::<Vec<_>>()})).await;
    let seconds = started.elapsed().as_secs_f64();
    let stats = procs::sim_stats(&ctx.http, &sim).await;
    let throttled = stats["window_429"].as_u64().unwrap_or(0);
    let api = stats["api_requests"].as_u64().unwrap_or(0);
    let tickets: Value = match ctx.http.get(sim.url("/_sim/tickets")).send().await {
        Ok(r) => r.json().await.unwrap_or(Value::Null),
        Err(_) => Value::Null,
    };
    let prowler =
        tickets.as_array().map_or(0, |t| t.iter().filter(|t| t["summary"].as_str().is_some_and(|s| s.starts_with("[Prowler]"))).count());
    let created = if status == 200 { body["body"]["output"]["created"].as_u64().unwrap_or(0) } else { 0 };
    Run { seconds, needed: api - throttled, throttled, created, tickets: prowler as u64 }
}

pub async fn rate_limit(ctx: &Ctx) -> Report {
    let mut r = Report::default();
    let count = if ctx.quick { 200 } else { 1000 };
    let mut details = format!(
        "## Under HaloITSM's rate limit\n\n{count} distinct FAIL findings in one `send_findings` step (batches of 50), the simulator \
         allowing {REQUESTS} requests per {WINDOW_S} s on a rolling window, HaloITSM's limit, without `Retry-After`.\n\n\
         | limit | seconds | requests let through | 429s | share 429 | tickets |\n|---|---|---|---|---|---|\n"
    );
    for (label, configured) in [("unknown", false), ("configured", true)] {
        let run = findings_run(ctx, label, count, configured).await;
        let share = run.throttled as f64 / (run.needed + run.throttled).max(1) as f64;
        let _ = writeln!(
            details,
            "| {label} | {:.1} | {} | {} | {:.1}% | {} |",
            run.seconds,
            run.needed,
            run.throttled,
            share * 100.0,
            run.tickets
        );
        let exact = run.created == count as u64 && run.tickets == count as u64;
        r.goal(
            &format!("{count} findings, limit {label}: tickets"),
            "every finding, exactly one ticket each",
            format!("{} created, {} tickets", run.created, run.tickets),
            Some(exact),
        );
        let inside = run.seconds < WINDOW_S as f64 && run.needed <= REQUESTS;
        r.goal(
            &format!("{count} findings, limit {label}: wall time"),
            "inside the first window",
            format!("{:.1} s, {} requests", run.seconds, run.needed),
            Some(inside),
        );
        let (goal, met) = if configured { ("no 429", run.throttled == 0) } else { ("≤ 5% of requests answered 429", share <= 0.05) };
        r.goal(&format!("{count} findings, limit {label}: 429s"), goal, format!("{} ({:.1}%)", run.throttled, share * 100.0), Some(met));
    }
    // 50 concurrent steps on one connection, limit unknown: each sends two findings of its
    // own (about 4 requests), some 200 requests in all.
    let sim = limited_sim(ctx, "sim-rate-steps").await;
    let plugin = procs::plugin(&ctx.bin, &ctx.work, "plugin-rate-steps", &ctx.http).await;
    let mut conn = procs::connection(&sim);
    conn["default_ticket_type_id"] = json!(4);
    let mut steps = tokio::task::JoinSet::new();
    for i in 0..50 {
        let (http, url) = (ctx.http.clone(), plugin.url("/api/v1/actions/send_findings"));
        let msg = json!({"version": "v1", "type": "action_start", "body": {"action": "send_findings", "meta": {},
                         "input": {"findings": [finding(10_000 + 2 * i), finding(10_001 + 2 * i)]}, "connection": conn}});
        steps.spawn(async move {
            let r = http.post(url).json(&msg).send().await.ok()?;
            let ok = r.status().as_u16() == 200;
            let body: Value = r.json().await.ok()?;
            Some(ok && body["body"]["output"]["created"] == json!(2))
        });
    }
    let ok = steps.join_all().await.into_iter().filter(|s| *s == Some(true)).count();
    let stats = procs::sim_stats(&ctx.http, &sim).await;
    let _ = writeln!(
        details,
        "\n50 concurrent `send_findings` steps of two findings each on one connection under the same window (limit unknown, {} requests let through): {ok} created both tickets and answered 200; HaloITSM answered {} requests 429.",
        stats["api_requests"].as_u64().unwrap_or(0) - stats["window_429"].as_u64().unwrap_or(0),
        stats["window_429"]
    );
    r.goal("50 concurrent steps on one connection under the window", "all succeed", format!("{ok} of 50"), Some(ok == 50));
    r.details = details;
    r
}
