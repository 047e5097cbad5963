//! Prowler findings through their whole life against the stateful simulator: create, rerun
//! unchanged, pass (note or close), fail again (reopen); every shared Prowler file; a timeout
//! after HaloITSM saved the ticket; a 1,000-finding batch; the `send-findings` command.

use crate::common;

use std::process::Command;

use base64::Engine;
use common::*;
use halo_sim::{Faults, SimHandle};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_icon_haloitsm");

struct World {
    halo: SimHandle,
    srv: PluginServer,
    conn: Value,
}

async fn world() -> World {
    let (halo, srv, conn) = sim_world(json!({})).await;
    World { halo, srv, conn }
}

impl World {
    async fn send(&self, input: Value) -> Value {
        let (s, b) = post(&self.srv.url("/api/v1/actions/send_findings"), &action("send_findings", self.conn.clone(), input)).await;
        assert_eq!(s, 200, "{b}");
        b["body"]["output"].clone()
    }

    fn prowler_tickets(&self) -> Vec<Value> {
        self.halo.sim.tickets().into_iter().filter(|t| t["summary"].as_str().unwrap_or_default().starts_with("[Prowler]")).collect()
    }
}

fn finding(check: &str, resource: &str, status: &str, severity: &str) -> Value {
    json!({
        "class_name": "Detection Finding", "status_code": status, "status": "New", "status_id": 1, "severity": severity,
        "status_detail": format!("{check} on {resource}"),
        "metadata": {"event_code": check, "version": "1.4.0"},
        "finding_info": {"uid": format!("prowler-aws-{check}-123456789012-eu-west-1-{resource}"), "title": format!("Check {check}"),
                          "created_time": 1_790_000_000, "created_time_dt": "2026-09-21T12:26:40"},
        "cloud": {"provider": "aws", "region": "eu-west-1", "account": {"uid": "123456789012", "name": "prod"}},
        "resources": [{"uid": format!("arn:aws:s3:::{resource}"), "name": resource, "type": "AwsS3Bucket", "region": "eu-west-1"}],
        "risk_details": "Data exposure", "remediation": {"desc": "Block public access", "references": ["https://docs.aws.amazon.com/s3"]},
        "unmapped": {"compliance": {"CIS-3.0": ["2.1.4"]}, "categories": []},
        "time": 1_790_000_000,
    })
}

fn counts(o: &Value) -> [i64; 7] {
    ["created", "updated", "reopened", "closed", "unchanged", "skipped", "failed"].map(|k| o[k].as_i64().unwrap())
}

#[tokio::test]
async fn a_finding_through_its_whole_life() {
    let w = world().await;
    let fail = || json!({"findings": [finding("s3_bucket_public_access", "logs", "FAIL", "High")]});
    let first = w.send(fail()).await;
    assert_eq!(counts(&first), [1, 0, 0, 0, 0, 0, 0], "{first}");
    let id = first["results"][0]["ticket_id"].as_i64().unwrap();
    let t = w.halo.sim.ticket(id).unwrap();
    assert_eq!(t["summary"], "[Prowler] HIGH - s3_bucket_public_access - arn:aws:s3:::logs");
    assert_eq!(t["priority_id"], 2);
    assert_eq!(t["tickettype_id"], 4);

    // The same file again: nothing new, nothing written.
    w.halo.sim.reset_stats();
    let again = w.send(fail()).await;
    assert_eq!(counts(&again), [0, 0, 0, 0, 1, 0, 0]);
    let stats = w.halo.sim.stats();
    assert_eq!(stats.by_route.keys().filter(|k| !k.starts_with("GET")).count(), 0, "no writes: {stats:?}");
    assert_eq!(w.prowler_tickets().len(), 1);

    // It passes: a note (once, however often the file is sent).
    let pass = || json!({"findings": [finding("s3_bucket_public_access", "logs", "PASS", "High")]});
    assert_eq!(counts(&w.send(pass()).await), [0, 1, 0, 0, 0, 0, 0]);
    assert_eq!(counts(&w.send(pass()).await), [0, 0, 0, 0, 1, 0, 0], "no second PASS note");
    assert_eq!(
        w.halo.sim.actions_for(id).iter().filter(|a| a["note"].as_str().unwrap_or_default().starts_with("Prowler: PASS")).count(),
        1
    );

    // Closed on pass.
    let closed = w.send(json!({"findings": [finding("s3_bucket_public_access", "logs", "PASS", "High")], "on_pass": "close"})).await;
    assert_eq!(counts(&closed), [0, 0, 0, 1, 0, 0, 0]);
    assert_eq!(w.halo.sim.ticket(id).unwrap()["hasbeenclosed"], true);

    // It fails again: the same ticket is reopened, with a note.
    let reopened = w.send(fail()).await;
    assert_eq!(counts(&reopened), [0, 0, 1, 0, 0, 0, 0]);
    assert_eq!(reopened["results"][0]["ticket_id"], id);
    let t = w.halo.sim.ticket(id).unwrap();
    assert_eq!((t["status_id"].as_i64(), t["hasbeenclosed"].as_bool()), (Some(1), Some(false)));
    assert_eq!(w.prowler_tickets().len(), 1, "never a second ticket");

    // Severity raised: the summary and priority follow.
    let raised = w.send(json!({"findings": [finding("s3_bucket_public_access", "logs", "FAIL", "Critical")]})).await;
    assert_eq!(counts(&raised), [0, 1, 0, 0, 0, 0, 0]);
    assert_eq!(w.halo.sim.ticket(id).unwrap()["priority_id"], 1);
}

#[tokio::test]
async fn every_shared_prowler_file_goes_through_and_reruns_change_nothing() {
    let w = world().await;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/prowler");
    for name in ["aws", "azure", "gcp", "kubernetes"] {
        let bytes = std::fs::read(dir.join(format!("example_output_{name}.ocsf.json"))).unwrap();
        let file = json!({"filename": format!("{name}.ocsf.json"), "content": base64::engine::general_purpose::STANDARD.encode(&bytes)});
        let first = w.send(json!({"file": file})).await;
        let n = serde_json::from_slice::<Value>(&bytes).unwrap().as_array().unwrap().len() as i64;
        assert_eq!(counts(&first).iter().sum::<i64>(), n, "{name}: every finding has an outcome: {first}");
        assert_eq!(first["failed"], 0, "{name}: {first}");
        assert!(first["created"].as_i64().unwrap() > 0, "{name}");
        let again = w.send(json!({"file": file})).await;
        assert_eq!(again["created"], 0, "{name}: {again}");
        assert_eq!(again["unchanged"].as_i64().unwrap() + again["skipped"].as_i64().unwrap(), n, "{name}");
    }
}

#[tokio::test]
async fn malformed_findings_are_reported_and_the_rest_go_on() {
    let w = world().await;
    // A file may hold anything; the `findings` input is typed []object by the spec.
    let file = json!([
        finding("iam_root_mfa", "root", "FAIL", "Critical"),
        {"status_code": "FAIL", "metadata": {"event_code": "no_severity"}},
        "not an object",
        finding("iam_password_policy", "acct", "FAIL", "Medium"),
    ]);
    let content = base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(&file).unwrap());
    let out = w.send(json!({"file": {"filename": "scan.ocsf.json", "content": content}})).await;
    assert_eq!(counts(&out), [2, 0, 0, 0, 0, 0, 2], "{out}");
    let results = out["results"].as_array().unwrap();
    assert_eq!(results.iter().map(|r| r["index"].as_i64().unwrap()).collect::<Vec<_>>(), vec![0, 1, 2, 3]);
    assert!(results[1]["error"].as_str().unwrap().contains("severity"), "{out}");
    assert!(results[2]["error"].as_str().unwrap().contains("not a JSON object"), "{out}");
}

#[tokio::test]
async fn a_create_that_failed_after_halo_saved_it_is_found_not_repeated() {
    let w = world().await;
    let msg = action("send_findings", w.conn.clone(), json!({"findings": [finding("ec2_open_ssh", "sg-1", "FAIL", "High")]}));
    // The lookup is the first API request and goes through; the create, the second, is saved
    // by HaloITSM but answered with a 500.
    w.halo.sim.set_faults(Faults { server_error_every: 2, server_error_after_apply: true, ..Default::default() });
    let (s, b) = post(&w.srv.url("/api/v1/actions/send_findings"), &msg).await;
    assert_eq!(s, 200, "{b}");
    let o = &b["body"]["output"];
    w.halo.sim.set_faults(Faults::default());
    assert_eq!(counts(o), [1, 0, 0, 0, 0, 0, 0], "{b}");
    assert_eq!(w.prowler_tickets().len(), 1, "exactly one ticket despite the failed answer");
    assert!(b["body"]["log"].as_str().unwrap().contains("created after all"), "{}", b["body"]["log"]);
}

#[tokio::test]
async fn a_thousand_findings_with_the_expected_counts_and_a_cheap_rerun() {
    let w = world().await;
    let mut findings = Vec::new();
    for i in 0..1000 {
        let (status, sev) = match i % 10 {
            0 => ("PASS", "High"),
            1 => ("MANUAL", "Medium"),
            2 => ("FAIL", "Informational"),
            _ => ("FAIL", ["Low", "Medium", "High", "Critical"][i % 4]),
        };
        findings.push(finding(&format!("check_{}", i % 37), &format!("res-{i}"), status, sev));
    }
    let out = w.send(json!({"findings": findings})).await;
    // 700 FAIL at Low or above; 100 PASS, 100 MANUAL, 100 Informational FAIL skipped.
    assert_eq!(counts(&out), [700, 0, 0, 0, 0, 300, 0], "{}", json!(counts(&out)));
    assert_eq!(w.prowler_tickets().len(), 700);
    w.halo.sim.reset_stats();
    let again = w.send(json!({"findings": findings})).await;
    assert_eq!(counts(&again), [0, 0, 0, 0, 700, 300, 0]);
    let stats = w.halo.sim.stats();
    assert!(stats.api_requests <= 15, "an unchanged rerun reads the tickets in pages: {stats:?}");
}

#[tokio::test]
async fn group_by_check_and_dedupe_field_and_dry_run() {
    let w = world().await;
    let findings = json!([
        finding("s3_public", "a", "FAIL", "Medium"),
        finding("s3_public", "b", "FAIL", "High"),
        finding("s3_public", "c", "PASS", "Medium")
    ]);
    let dry = w.send(json!({"findings": findings, "group_by": "check", "dry_run": true})).await;
    assert_eq!(dry["created"], 3, "one ticket would track the three findings: {dry}");
    assert!(w.prowler_tickets().is_empty(), "a dry run changes nothing");
    let out = w.send(json!({"findings": findings, "group_by": "check", "dedupe_field_id": 102})).await;
    let ids: std::collections::HashSet<i64> = out["results"].as_array().unwrap().iter().map(|r| r["ticket_id"].as_i64().unwrap()).collect();
    assert_eq!(ids.len(), 1, "{out}");
    let t = w.halo.sim.ticket(*ids.iter().next().unwrap()).unwrap();
    assert_eq!(t["summary"], "[Prowler] HIGH - s3_public - 2 resources", "the failing resources; the passing one is listed in the table");
    assert!(
        t["customfields"].as_array().unwrap().iter().any(|c| c["id"] == 102 && c["value"] == "prowler-check:aws:123456789012:s3_public"),
        "{t}"
    );
    let again = w.send(json!({"findings": findings, "group_by": "check", "dedupe_field_id": 102})).await;
    assert_eq!(again["unchanged"], 3, "{again}");
}

#[tokio::test]
async fn the_send_findings_command_reports_and_exits_by_outcome() {
    let w = world().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("scan.ocsf.json");
    std::fs::write(&file, serde_json::to_vec(&json!([finding("rds_public", "db1", "FAIL", "Critical"), "broken"])).unwrap()).unwrap();
    let (auth, api, f) = (w.halo.auth_url(), w.halo.api_url(), file.clone());
    let out = tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .arg("send-findings")
            .arg(&f)
            .args(["--tickettype-id", "4"])
            .env("HALO_CLIENT_ID", "sim-client")
            .env("HALO_CLIENT_SECRET", "sim-secret")
            .env("HALO_AUTH_SERVER", auth)
            .env("HALO_RESOURCE_SERVER", api)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(1), "a failed finding makes the exit status 1:\n{text}");
    assert!(text.contains("created         1") && text.contains("failed          1"), "{text}");
    assert!(text.contains("rds_public / arn:aws:s3:::db1"), "{text}");
    let ok_file = dir.path().join("ok.ocsf.json");
    std::fs::write(&ok_file, serde_json::to_vec(&json!([finding("rds_public", "db1", "FAIL", "Critical")])).unwrap()).unwrap();
    let (auth, api) = (w.halo.auth_url(), w.halo.api_url());
    let out = tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .arg("send-findings")
            .arg(&ok_file)
            .args([
                "--tickettype-id",
                "4",
                "--json",
                "--client-id",
                "sim-client",
                "--client-secret",
                "sim-secret",
                "--auth-server",
                &auth,
                "--resource-server",
                &api,
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["unchanged"], 1, "{report}");
    let bad = tokio::task::spawn_blocking(|| {
        Command::new(BIN)
            .args([
                "send-findings",
                "/nonexistent.json",
                "--client-id",
                "a",
                "--client-secret",
                "b",
                "--auth-server",
                "http://x",
                "--resource-server",
                "http://x",
                "--tickettype-id",
                "4",
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("cannot read"));
}

#[tokio::test]
async fn check_connection_lists_the_ids_to_use() {
    let w = world().await;
    let (auth, api) = (w.halo.auth_url(), w.halo.api_url());
    let out = tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args([
                "check-connection",
                "--client-id",
                "sim-client",
                "--client-secret",
                "sim-secret",
                "--auth-server",
                &auth,
                "--resource-server",
                &api,
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("Connection OK")
            && text.contains("Security Incident")
            && text.contains("In Progress")
            && text.contains("Security Operations"),
        "{text}"
    );
    assert!(text.contains("9  Closed  (closes tickets)") && !text.contains("Resolved  (closes"), "as HaloITSM says: {text}");
    for lookup in ["Clients:", "Categories:", "1  Security>Phishing", "Outcomes (for notes):", "2  Private Note"] {
        assert!(text.contains(lookup), "{lookup} missing: {text}");
    }
    assert!(text.contains("Closed status 9 closes tickets"), "{text}");
    // A Closed Status ID that does not close tickets on this tenant is reported, exit status 1.
    let (auth, api) = (w.halo.auth_url(), w.halo.api_url());
    let out = tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args(["check-connection", "--client-id", "sim-client", "--client-secret", "sim-secret", "--auth-server", &auth])
            .args(["--resource-server", &api, "--closed-status-id", "5"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("Closed status WRONG: status 5 (Waiting on Client) does not close tickets"), "{text}");
    assert!(text.contains("statuses that close tickets: 9 (Closed)"), "{text}");
    let (auth, api) = (w.halo.auth_url(), w.halo.api_url());
    let out = tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args([
                "check-connection",
                "--client-id",
                "sim-client",
                "--client-secret",
                "wrong",
                "--auth-server",
                &auth,
                "--resource-server",
                &api,
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Connection FAILED"));
}
