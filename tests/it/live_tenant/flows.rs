//! Workflows on the simulator's live-tenant profile: what a new user runs on day one holds where
//! HaloITSM behaves as integrations in production found it to.

use super::*;
use halo_sim::{LiveQuirks, Profile};

async fn live(quirks: LiveQuirks) -> (halo_sim::SimHandle, PluginServer, Value) {
    sim_world_on(Profile { live: quirks, recently_closed_days: 0, ..Profile::default() }, json!({"reference_field_id": 101})).await
}

fn finding(n: usize) -> Value {
    let bucket = format!("bucket-{n}");
    json!({
        "class_name": "Detection Finding", "status_code": "FAIL", "severity": "High",
        "metadata": {"event_code": "s3_bucket_public_access", "version": "1.4.0"},
        "finding_info": {"uid": format!("prowler-aws-s3_bucket_public_access-123456789012-eu-west-1-{bucket}"), "title": "Public bucket"},
        "cloud": {"provider": "aws", "region": "eu-west-1", "account": {"uid": "123456789012"}},
        "resources": [{"uid": format!("arn:aws:s3:::{bucket}"), "name": bucket, "region": "eu-west-1"}],
    })
}

/// Free-text search misses the keys, creates collide, and rerunning finds every ticket again:
/// one ticket per finding, and no create ever collides (they go one at a time).
#[tokio::test]
async fn findings_keep_one_ticket_each_where_search_misses_keys_and_creates_collide() {
    let (halo, srv, conn) = live(LiveQuirks { search_misses_keys: true, create_collisions: true, ..LiveQuirks::default() }).await;
    let findings: Vec<Value> = (0..12).map(finding).collect();
    let (s, first) = step_output(&srv, &conn, "send_findings", json!({"findings": findings})).await;
    assert_eq!((s, first["created"].as_i64(), first["failed"].as_i64()), (200, Some(12), Some(0)), "{first}");
    assert_eq!(halo.sim.stats().create_collisions, 0, "creates one at a time");
    let (_, again) = step_output(&srv, &conn, "send_findings", json!({"findings": findings})).await;
    assert_eq!((again["created"].as_i64(), again["unchanged"].as_i64()), (Some(0), Some(12)), "{again}");
    let tickets = halo.sim.tickets().iter().filter(|t| t["summary"].as_str().is_some_and(|s| s.contains("bucket-"))).count();
    assert_eq!(tickets, 12);
}

/// A reference is found again on a tenant whose search misses keys: no second ticket.
#[tokio::test]
async fn a_reference_keeps_one_ticket_where_search_misses_keys() {
    let (halo, srv, conn) = live(LiveQuirks { search_misses_keys: true, ..LiveQuirks::default() }).await;
    let input = json!({"reference": "rrn:investigation:us:0042", "summary": "s", "details": "d"});
    let (_, first) = step_output(&srv, &conn, "upsert_ticket_by_reference", input.clone()).await;
    let (_, second) = step_output(&srv, &conn, "upsert_ticket_by_reference", input).await;
    assert_eq!((first["created"].clone(), second["created"].clone()), (json!(true), json!(false)), "{second}");
    assert_eq!(first["ticket"]["id"], second["ticket"]["id"]);
    // Closed, it is found only by its tag (the scan by custom field reads open tickets).
    let id = first["ticket"]["id"].as_i64().unwrap();
    halo.sim.agent_edit(id, json!({"status_id": 9}), None).unwrap();
    let found = step_output(&srv, &conn, "find_ticket_by_reference", json!({"reference": "rrn:investigation:us:0042"})).await.1;
    assert_eq!((found["found"].clone(), found["ticket"]["id"].clone()), (json!(true), json!(id)), "{found}");
    assert_eq!(halo.sim.tickets().iter().filter(|t| t["summary"] == "s").count(), 1);
}

/// Every note of a long history, on a tenant that answers 52 newest first unless asked for more.
#[tokio::test]
async fn every_note_of_a_long_history_is_listed() {
    let (halo, srv, conn) = live(LiveQuirks { action_list_cap: Some(52), actions_newest_first: true, ..LiveQuirks::default() }).await;
    let id =
        step_output(&srv, &conn, "create_ticket", json!({"summary": "long", "details": "d"})).await.1["ticket"]["id"].as_i64().unwrap();
    for n in 0..60 {
        halo.sim.agent_edit(id, json!({}), Some(&format!("note {n}"))).unwrap();
    }
    let (s, out) = step_output(&srv, &conn, "list_comments", json!({"ticket_id": id})).await;
    assert_eq!((s, out["count"].as_i64()), (200, Some(60)), "{out}");
    assert_eq!(out["comments"][0]["text"], "note 59", "newest first");
}

/// `agent_id` answers a visible queue on this tenant: the search keeps the agent's own tickets.
#[tokio::test]
async fn a_search_by_agent_keeps_only_that_agents_tickets() {
    let (halo, srv, conn) = live(LiveQuirks { filters_are_hints: true, ..LiveQuirks::default() }).await;
    for (summary, agent) in [("mine", 3), ("teammate's", 4)] {
        let id =
            step_output(&srv, &conn, "create_ticket", json!({"summary": summary, "details": "d", "team_id": 2})).await.1["ticket"]["id"]
                .as_i64()
                .unwrap();
        halo.sim.agent_edit(id, json!({"agent_id": agent, "team_id": 2}), None).unwrap();
    }
    let (_, out) = step_output(&srv, &conn, "search_tickets", json!({"agent_id": 3, "max_results": 100})).await;
    assert!(out["tickets"].as_array().unwrap().iter().all(|t| t["agent_id"] == 3), "{out}");
    assert!(out["tickets"].as_array().unwrap().iter().any(|t| t["summary"] == "mine"), "{out}");
}

/// A requester by email on a tenant that needs the user's site and takes integers only.
#[tokio::test]
async fn a_ticket_with_a_requester_carries_the_users_site() {
    let (halo, srv, conn) = live(LiveQuirks { user_needs_site: true, ..LiveQuirks::default() }).await;
    let input = json!({"summary": "phish", "details": "d", "requester_email": "sam.patel@acmefinancial.example"});
    let (s, out) = step_output(&srv, &conn, "create_ticket", input).await;
    assert_eq!(s, 200, "{out}");
    let stored = halo.sim.ticket(out["ticket"]["id"].as_i64().unwrap()).unwrap();
    assert_eq!((stored["user_id"].clone(), stored["site_id"].clone()), (json!(2), json!(1)));
}

/// A file served as a short-lived link, read late once.
#[tokio::test]
async fn an_attachment_served_as_a_link_is_returned_whole() {
    let (halo, srv, conn) = live(LiveQuirks { attachment_links: true, ..LiveQuirks::default() }).await;
    use base64::Engine;
    let data = base64::engine::general_purpose::STANDARD.encode(b"Received: from mx.example");
    let (s, added) =
        step_output(&srv, &conn, "add_attachment", json!({"ticket_id": 101, "file": {"filename": "headers.eml", "content": data}})).await;
    assert_eq!(s, 200, "{added}");
    let listed = step_output(&srv, &conn, "list_attachments", json!({"ticket_id": 101})).await.1;
    let id = listed["attachments"].as_array().unwrap().iter().find(|a| a["filename"] == "headers.eml").unwrap()["id"].as_i64().unwrap();
    halo.sim.set_faults(halo_sim::Faults { expired_attachment_links: 1, ..halo_sim::Faults::default() });
    let (s, out) = step_output(&srv, &conn, "get_attachment", json!({"attachment_id": id})).await;
    assert_eq!(s, 200, "{out}");
    assert_eq!((out["file"]["filename"].clone(), out["file"]["content"].clone()), (json!("headers.eml"), json!(data)));
}

/// Notes, closes and assignments on a tenant whose private note is "Internal Note".
#[tokio::test]
async fn notes_closes_and_assignments_use_the_tenants_own_outcomes() {
    let (halo, srv, conn) = live(LiveQuirks { tenant_outcomes: true, ..LiveQuirks::default() }).await;
    let (s, _) = step_output(&srv, &conn, "add_comment", json!({"ticket_id": 103, "comment": "checked", "is_private": true})).await;
    assert_eq!(s, 200);
    let (s, out) = step_output(&srv, &conn, "assign_ticket", json!({"ticket_id": 103, "team_id": 2})).await;
    assert_eq!(s, 200, "{out}");
    let (s, out) = step_output(&srv, &conn, "close_ticket", json!({"ticket_id": 103})).await;
    assert_eq!((s, out["ticket"]["closed"].clone()), (200, json!(true)), "{out}");
    let outcomes: Vec<Value> = halo.sim.actions_for(103).iter().map(|a| a["outcome"].clone()).collect();
    assert!(outcomes.contains(&json!("Resolved")) && outcomes.contains(&json!("Reassigned")), "{outcomes:?}");
    // A private note of the plugin's own: the tenant's "Internal Note".
    let input = json!({"reference": "inv-7", "summary": "s", "details": "d"});
    let id = step_output(&srv, &conn, "upsert_ticket_by_reference", input.clone()).await.1["ticket"]["id"].as_i64().unwrap();
    step_output(&srv, &conn, "upsert_ticket_by_reference", json!({"reference": "inv-7", "summary": "s", "details": "d2"})).await;
    let notes: Vec<Value> = halo.sim.actions_for(id).iter().map(|a| json!([a["outcome"], a["outcome_id"]])).collect();
    assert!(notes.contains(&json!(["Internal Note", 7])), "{notes:?}");
}

/// A Change ticket's SLA offers priority 1 only: asking for 2 is an error naming the ticket.
#[tokio::test]
async fn a_priority_the_sla_lacks_is_reported_with_the_created_ticket() {
    let (_halo, srv, conn) = live(LiveQuirks { priority_outside_sla_ignored: true, ..LiveQuirks::default() }).await;
    let (s, body) = step(&srv, &conn, "create_ticket", json!({"summary": "c", "details": "d", "tickettype_id": 5, "priority_id": 2})).await;
    assert_eq!(s, 400, "{body}");
    let cause = error_cause(&body);
    assert!(cause.contains("was created") && cause.contains("did not keep priority 2"), "{cause}");
    // Findings of a ticket type whose SLA lacks their priority say so beside the ticket.
    let (_, out) = step_output(&srv, &conn, "send_findings", json!({"findings": [finding(1)], "tickettype_id": 5})).await;
    assert_eq!(out["created"], 1, "{out}");
    assert!(out["results"][0]["warning"].as_str().is_some_and(|w| w.contains("did not keep priority")), "{out}");
}

/// An API application that logs in as a Client: the connection test names the setting.
#[tokio::test]
async fn a_client_login_is_named_by_the_connection_test() {
    let (_halo, srv, conn) = live(LiveQuirks { client_login: true, ..LiveQuirks::default() }).await;
    let (s, b) = post(&srv.url("/api/v1/connection/test"), &action("get_ticket", conn, json!({}))).await;
    assert_eq!(s, 400, "{b}");
    assert!(b.to_string().contains("Login Type to Agent"), "{b}");
}
