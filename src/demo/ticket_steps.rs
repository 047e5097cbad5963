//! The ticket steps of the demo, one function each, as an analyst's workflow runs them.

use serde_json::{Value, json};

use super::{Demo, Report, expect_ok, failure, ticket_lines};

/// Connection test, as InsightConnect runs it when a connection is saved.
pub(super) async fn connection_test(demo: &mut Demo) {
    let msg = json!({"version": "v1", "type": "connection_test", "body": {"connection": demo.connection}});
    let report = match demo.call("/api/v1/connection/test", &msg).await {
        Ok((200, _)) => Report { ok: true, lines: vec!["token fetched and tickets readable".into()] },
        Ok((s, b)) => failure(s, &b),
        Err(e) => Report { ok: false, lines: vec![e] },
    };
    demo.record("Connection test", report);
}

/// An InsightIDR alert becomes a ticket, its investigation reference in a custom field; the
/// ticket's ID (0 when it failed).
pub(super) async fn ticket_from_alert(demo: &mut Demo) -> i64 {
    let alert = json!({
        "summary": "InsightIDR: Suspicious Authentication - jsmith from 203.0.113.9",
        "details": "InsightIDR raised Suspicious Authentication for jsmith@example.com: a successful login from 203.0.113.9 (first seen, new country) after 14 failures.",
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
    ticket_id.unwrap_or(0)
}

/// A private note for the analysts.
pub(super) async fn private_comment(demo: &mut Demo, id: i64) {
    let report = expect_ok(
        demo.action(
            "add_comment",
            json!({"ticket_id": id, "comment": "Sessions revoked and password reset forced for jsmith.", "is_private": true}),
        )
        .await,
        |o| vec![format!("private note {} added", o["comment_id"])],
    );
    demo.record("Add a private comment", report);
}

/// Route it to the security team and an analyst.
pub(super) async fn assign(demo: &mut Demo, id: i64) {
    let report = expect_ok(demo.action("assign_ticket", json!({"ticket_id": id, "agent_id": 3, "team_id": 2})).await, |o| {
        vec![format!(
            "now with {} ({})",
            o["ticket"]["agent_name"].as_str().unwrap_or("-"),
            o["ticket"]["team_name"].as_str().unwrap_or("-")
        )]
    });
    demo.record("Assign to an analyst and the security team", report);
}

/// What is open for the security team?
pub(super) async fn search_open(demo: &mut Demo) {
    let report = expect_ok(demo.action("search_tickets", json!({"team_id": 2, "open_only": true, "max_results": 10})).await, |o| {
        let mut lines = vec![format!("{} open ticket(s) for Security Operations (of {} matching)", o["count"], o["total"])];
        for t in o["tickets"].as_array().into_iter().flatten().take(3) {
            lines.push(format!("#{} {}", t["id"], t["summary"].as_str().unwrap_or_default()));
        }
        lines
    });
    demo.record("Search the team's open tickets", report);
}

/// Close it with a resolution; the details stay as they were.
pub(super) async fn close(demo: &mut Demo, id: i64) {
    let report = expect_ok(
        demo.action(
            "close_ticket",
            json!({"ticket_id": id, "resolution": "Confirmed account compromise; credentials reset, MFA re-enrolled, source IP blocked."}),
        )
        .await,
        |o| vec![format!("status: {} (closed: {})", o["ticket"]["status_name"].as_str().unwrap_or("-"), o["ticket"]["closed"])],
    );
    demo.record("Close with a resolution", report);
}

/// The ticket's history, newest first.
pub(super) async fn history(demo: &mut Demo, id: i64) {
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
}

/// Bad input is refused before anything is sent to HaloITSM.
pub(super) async fn malformed_id(demo: &mut Demo) {
    let report = match demo.action("get_ticket", json!({"ticket_id": "INC-42"})).await {
        Ok((400, b)) => {
            Report { ok: true, lines: vec![format!("HTTP 400: {}", b.pointer("/body/error").and_then(Value::as_str).unwrap_or_default())] }
        }
        Ok((s, b)) => Report { ok: false, lines: vec![format!("expected HTTP 400, got {s}: {b}")] },
        Err(e) => Report { ok: false, lines: vec![e] },
    };
    demo.record("Get ticket with a malformed ID (rejected)", report);
}
