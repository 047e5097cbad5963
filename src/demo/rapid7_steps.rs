//! The demo's Rapid7 steps: a Prowler scan, an InsightIDR investigation and InsightVM's top
//! remediations become tickets, and a second run changes only what changed.

use base64::Engine;
use serde_json::{Value, json};

use super::{Demo, Report, counted, expect_ok, failure, ticket_lines};

/// A Prowler scan becomes tickets; sending the same scan again changes nothing.
pub(super) async fn prowler_scan(demo: &mut Demo) {
    let scan = include_bytes!("../../testdata/prowler/example_output_aws.ocsf.json");
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
}

/// An InsightIDR investigation, as InsightIDR's plugin outputs it, becomes a ticket; the
/// same investigation moved on changes only what InsightIDR changed.
pub(super) async fn investigation(demo: &mut Demo) {
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
}

/// A weekly InsightVM Top Remediations becomes one ticket per solution under a parent
/// ticket, linked to its hosts' CMDB assets; the next week one solution is fixed and its
/// ticket closed.
pub(super) async fn remediations(demo: &mut Demo) {
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
}
