//! Memory under large request bodies: bursts of 8 and of 24 concurrent steps of 47 MiB, and of
//! 20 MiB attachments, each burst on a fresh plugin process, with HaloITSM answering in one second
//! so that the steps overlap (each holds its body while it waits); the plugin's peak resident
//! memory (VmHWM) and how every step was answered. The peak must stay within a few copies of the
//! body budget, and not grow with the number of steps.

use std::fmt::Write as _;

use base64::Engine;
use serde_json::json;

use crate::procs::{self, Proc};
use crate::{Ctx, Report};

const BURSTS: [usize; 2] = [8, 24];
/// The plugin's default body budget, MiB.
const BUDGET_MIB: f64 = 192.0;
/// The memory the plugin may reach: three copies of its body budget (the raw bodies, what is
/// parsed from them, the requests made of them), however many steps arrive.
const GOAL_MIB: f64 = 3.0 * BUDGET_MIB;

/// Send `count` copies of `body` (a file) to the plugin's `action` at once; the answers'
/// statuses (0: no answer). Sent by curl, as most callers of a REST API send a file: how the
/// bytes arrive decides how the server buffers them, and an in-process client sending from
/// memory did not reproduce the peaks that curl callers saw.
async fn burst(plugin: &Proc, action: &str, body: &std::path::Path, count: usize) -> Vec<u16> {
    let url = plugin.url(&format!("/api/v1/actions/{action}"));
    let sends: Vec<_> = (0..count)
        .map(|_| {
            let mut curl = tokio::process::Command::new("curl");
            curl.args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Content-Type: application/json", "--data-binary"])
                .arg(format!("@{}", body.display()))
                .arg(&url);
            tokio::spawn(async move { curl.output().await })
        })
        .collect();
    let mut statuses = Vec::new();
    for s in sends {
        let out = s.await.ok().and_then(Result::ok);
        statuses.push(out.and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok()).unwrap_or(0));
    }
    statuses.sort_unstable();
    statuses
}

fn start_message(action: &str, conn: &serde_json::Value, input: serde_json::Value) -> bytes::Bytes {
    bytes::Bytes::from(
        json!({"version": "v1", "type": "action_start", "body": {"action": action, "meta": {}, "input": input, "connection": conn}})
            .to_string(),
    )
}

pub async fn large_bodies(ctx: &Ctx) -> Report {
    let mut r = Report::default();
    let sim = procs::simulator(&ctx.bin, &ctx.work, "sim-large", &[], &ctx.http).await;
    procs::sim_faults(&ctx.http, &sim, json!({"latency_ms": 1000})).await;
    let conn = procs::connection(&sim);
    let file = base64::engine::general_purpose::STANDARD.encode(vec![0x5au8; 20 * 1024 * 1024]);
    let cases = [
        (
            "get_ticket",
            "steps of 47 MiB",
            start_message("get_ticket", &conn, json!({"ticket_id": 101, "padding": " ".repeat(47 * 1024 * 1024)})),
        ),
        (
            "add_attachment",
            "attachments of 20 MiB",
            start_message("add_attachment", &conn, json!({"ticket_id": 101, "file": {"filename": "evidence.bin", "content": file}})),
        ),
    ];
    let mut details = format!(
        "## Memory under large bodies\n\nBursts of steps sent at once by curl to a fresh plugin process (default limits: 48 MiB per \
         body, {BUDGET_MIB:.0} MiB of bodies in memory at once; a body that does not fit waits unread), the simulator answering in 1 s. \
         Peak is the process's VmHWM. Before the body budget (commit bb71721) bursts of 8 peaked at 1,038 MiB (steps of 47 MiB) \
         and 1,587 MiB (attachments of 20 MiB), growing with every step added.\n\n\
         | burst | body MiB | answered 200 | peak resident MiB |\n|---|---|---|---|\n"
    );
    let mut worst: f64 = 0.0;
    let mut all_ok = true;
    for (action, what, body) in cases {
        let file = ctx.work.path().join(format!("body-{action}.json"));
        std::fs::write(&file, &body).expect("a scratch file for the body");
        for count in BURSTS {
            let plugin = procs::plugin(&ctx.bin, &ctx.work, &format!("plugin-large-{action}-{count}"), &ctx.http).await;
            let statuses = burst(&plugin, action, &file, count).await;
            let peak = plugin.memory().peak_kib as f64 / 1024.0;
            worst = worst.max(peak);
            let ok = statuses.iter().filter(|s| **s == 200).count();
            all_ok &= ok == count;
            let _ = writeln!(details, "| {count} {what} | {:.1} | {ok} of {count} | {peak:.0} |", body.len() as f64 / 1048576.0);
        }
    }
    r.goal(
        "peak memory, 8 or 24 concurrent 47 MiB steps or 20 MiB attachments",
        &format!("≤ {GOAL_MIB:.0} MiB (3× the body budget), every step answered 200"),
        format!("{worst:.0} MiB at most{}", if all_ok { "" } else { "; some steps were not answered 200" }),
        Some(worst <= GOAL_MIB && all_ok),
    );
    r.details = details;
    r
}
