//! Every lifecycle branch in batches, on the simulator, however the tenant answers a batch
//! (docs/halo-api.md#A14): all its records, only the last one, or a refusal of arrays of many;
//! and on the live-tenant profile. Each finding has exactly one ticket throughout.

use crate::common;

use common::*;
use halo_sim::{LiveQuirks, Profile};
use serde_json::{Value, json};

fn finding(bucket: &str, status: &str, severity: &str) -> Value {
    json!({
        "class_name": "Detection Finding", "status_code": status, "severity": severity,
        "metadata": {"event_code": "s3_bucket_public_access", "version": "1.4.0"},
        "finding_info": {"uid": format!("prowler-aws-s3_bucket_public_access-123456789012-eu-west-1-{bucket}"), "title": "Public bucket"},
        "cloud": {"provider": "aws", "region": "eu-west-1", "account": {"uid": "123456789012"}},
        "resources": [{"uid": format!("arn:aws:s3:::{bucket}"), "name": bucket, "region": "eu-west-1"}],
    })
}

fn scan(range: std::ops::Range<usize>, status: &str, severity: &str) -> Vec<Value> {
    range.map(|i| finding(&format!("bucket-{i:02}"), status, severity)).collect()
}

/// (created, updated, reopened, closed, unchanged, failed) of an output.
fn counts(out: &Value) -> [i64; 6] {
    ["created", "updated", "reopened", "closed", "unchanged", "failed"].map(|k| out[k].as_i64().unwrap_or(-1))
}

fn prowler_tickets(h: &halo_sim::SimHandle) -> usize {
    h.sim.tickets().iter().filter(|t| t["summary"].as_str().is_some_and(|s| s.starts_with("[Prowler]"))).count()
}

async fn every_branch_on(profile: Profile, name: &str) {
    let (h, srv, conn) = sim_world_on(Profile { recently_closed_days: 0, ..profile }, json!({})).await;
    let run = |input: Value| {
        let (srv, conn) = (&srv, &conn);
        async move {
            let mut input = input;
            input["batch_size"] = json!(7);
            let (s, out) = step_output(srv, conn, "send_findings", input).await;
            assert_eq!(s, 200, "[{name}] {out}");
            out
        }
    };
    let out = run(json!({"findings": scan(0..30, "FAIL", "High")})).await;
    assert_eq!(counts(&out), [30, 0, 0, 0, 0, 0], "[{name}] new: {out}");
    assert_eq!(prowler_tickets(&h), 30, "[{name}]");
    let out = run(json!({"findings": scan(0..30, "FAIL", "High")})).await;
    assert_eq!(counts(&out), [0, 0, 0, 0, 30, 0], "[{name}] unchanged: {out}");
    let out = run(json!({"findings": scan(0..10, "PASS", "High"), "on_pass": "note"})).await;
    assert_eq!(counts(&out), [0, 10, 0, 0, 0, 0], "[{name}] noted: {out}");
    let out = run(json!({"findings": scan(0..10, "PASS", "High"), "on_pass": "note"})).await;
    assert_eq!(counts(&out), [0, 0, 0, 0, 10, 0], "[{name}] noted once: {out}");
    let out = run(json!({"findings": scan(0..10, "PASS", "High"), "on_pass": "close"})).await;
    assert_eq!(counts(&out), [0, 0, 0, 10, 0, 0], "[{name}] closed: {out}");
    let out = run(json!({"findings": scan(0..10, "FAIL", "Critical")})).await;
    assert_eq!(counts(&out), [0, 0, 10, 0, 0, 0], "[{name}] reopened: {out}");
    let out = run(json!({"findings": scan(10..20, "FAIL", "Medium")})).await;
    assert_eq!(counts(&out), [0, 10, 0, 0, 0, 0], "[{name}] updated: {out}");
    assert_eq!(prowler_tickets(&h), 30, "[{name}] exactly one ticket per finding");
    let stored = h.sim.tickets();
    let critical = stored.iter().filter(|t| t["summary"].as_str().is_some_and(|s| s.starts_with("[Prowler] CRITICAL"))).count();
    assert_eq!(critical, 10, "[{name}] the reopened tickets were brought up to date");
}

#[tokio::test]
async fn every_branch_holds_whatever_a_batch_is_answered_with() {
    every_branch_on(Profile::default(), "every record answered").await;
    every_branch_on(Profile { batch_answer_last_only: true, ..Profile::default() }, "only the last record answered").await;
    every_branch_on(Profile { refuse_arrays_of_many: true, ..Profile::default() }, "arrays of many refused").await;
    every_branch_on(Profile { live: LiveQuirks::live_tenant(), ..Profile::default() }, "a live tenant").await;
}

/// 300 new findings in batches of 50 cost a handful of requests, not two each.
#[tokio::test]
async fn a_scan_of_300_new_findings_costs_a_dozen_requests() {
    let (h, srv, conn) = sim_world(json!({})).await;
    h.sim.reset_stats();
    let (s, out) = step_output(&srv, &conn, "send_findings", json!({"findings": scan(0..300, "FAIL", "High")})).await;
    assert_eq!((s, out["created"].as_i64()), (200, Some(300)), "{out}");
    let stats = h.sim.stats();
    // Two lookups, six creates of 50, and the duplicate check's pages of 100.
    assert!(stats.api_requests <= 12, "{stats:?}");
    assert_eq!(stats.by_route.get("POST /api/Tickets"), Some(&6), "{stats:?}");
}
