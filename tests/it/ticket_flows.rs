//! The ticket actions as a workflow runs them, against the stateful simulator: an incident
//! from creation to closure, partial updates, the upsert trap, lookups, attachments, deletion,
//! and every action's `sample` message accepted by `run`.

use crate::common;

use base64::Engine;
use common::*;
use halo_sim::{Faults, SimHandle};
use serde_json::{Value, json};

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
    async fn run(&self, name: &str, input: Value) -> (u16, Value) {
        post(&self.srv.url(&format!("/api/v1/actions/{name}")), &action(name, self.conn.clone(), input)).await
    }

    /// Run an action that must succeed; returns its output.
    async fn ok(&self, name: &str, input: Value) -> Value {
        let (s, b) = self.run(name, input.clone()).await;
        assert_eq!(s, 200, "{name}({input}) -> {b}");
        b["body"]["output"].clone()
    }

    async fn err(&self, name: &str, input: Value, status: u16) -> String {
        let (s, b) = self.run(name, input.clone()).await;
        assert_eq!(s, status, "{name}({input}) -> {b}");
        b["body"]["error"].as_str().unwrap_or_default().to_string()
    }

    fn ticket_count(&self) -> usize {
        self.halo.sim.tickets().len()
    }
}

#[tokio::test]
async fn an_incident_from_alert_to_closure() {
    let w = world().await;
    let created = w
        .ok(
            "create_ticket",
            json!({"summary": "InsightIDR: Suspicious Authentication - jsmith", "details": "Login from 203.0.113.9 (new country)",
                   "priority_id": 2, "customfields": [{"id": 101, "value": "rrn:investigation:us:42"}]}),
        )
        .await;
    assert_eq!(created["success"], true);
    let t = &created["ticket"];
    let id = t["id"].as_i64().unwrap();
    assert_eq!(t["tickettype_id"], 4, "the connection's default ticket type filled the gap");
    assert_eq!(t["status_id"], 1);
    assert_eq!(t["priority_name"], "High");
    let raw = w.halo.sim.ticket(id).unwrap();
    assert!(raw["customfields"].as_array().unwrap().iter().any(|c| c["id"] == 101 && c["value"] == "rrn:investigation:us:42"), "{raw}");

    let c = w.ok("add_comment", json!({"ticket_id": id, "comment": "Sessions revoked for jsmith", "is_private": true})).await;
    assert_eq!(c["success"], true);
    let comment_id = c["comment_id"].as_i64().unwrap();
    let note = w.halo.sim.actions_for(id).into_iter().find(|a| a["id"] == comment_id).unwrap();
    assert_eq!(note["hiddenfromuser"], true);
    assert_eq!(note["sendemail"], false);

    let a = w.ok("assign_ticket", json!({"ticket_id": id, "agent_id": 3, "team_id": 2})).await;
    assert_eq!((a["ticket"]["agent_id"].as_i64(), a["ticket"]["team_id"].as_i64()), (Some(3), Some(2)));
    assert_eq!(a["ticket"]["team_name"], "Security Operations");

    let found = w.ok("search_tickets", json!({"summary_contains": "Suspicious Authentication", "team_id": 2, "open_only": true})).await;
    assert_eq!(found["count"], 1, "{found}");
    assert_eq!(found["tickets"][0]["id"], id);

    let closed =
        w.ok("close_ticket", json!({"ticket_id": id, "resolution": "Confirmed compromise; password reset and MFA re-enrolled"})).await;
    assert_eq!(closed["ticket"]["status_id"], 9, "HaloITSM's built-in Closed");
    assert_eq!(closed["ticket"]["closed"], true);
    assert_eq!(closed["ticket"]["details"], "Login from 203.0.113.9 (new country)", "closing leaves the details alone");
    let notes_before = w.halo.sim.actions_for(id).len();
    let again =
        w.ok("close_ticket", json!({"ticket_id": id, "resolution": "Confirmed compromise; password reset and MFA re-enrolled"})).await;
    assert_eq!(again["success"], true);
    assert_eq!(w.halo.sim.actions_for(id).len(), notes_before, "closing a closed ticket adds no note");

    let listed = w.ok("list_comments", json!({"ticket_id": id})).await;
    let comments = listed["comments"].as_array().unwrap();
    assert_eq!(listed["count"], comments.len() as i64);
    assert_eq!(comments[0]["text"], "Confirmed compromise; password reset and MFA re-enrolled", "newest first: {listed}");
    assert_eq!(comments[0]["new_status_id"], 9);
    assert!(comments.iter().any(|c| c["text"] == "Sessions revoked for jsmith" && c["private"] == true));
    let public = w.ok("list_comments", json!({"ticket_id": id, "include_private": false})).await;
    assert!(public["comments"].as_array().unwrap().iter().all(|c| c["private"] != true), "{public}");

    let open = w.ok("search_tickets", json!({"summary_contains": "Suspicious Authentication", "open_only": true})).await;
    assert_eq!(open["count"], 0);
}

#[tokio::test]
async fn create_needs_a_ticket_type_and_sends_nothing_without_one() {
    let w = world().await;
    let mut conn = w.conn.clone();
    conn.as_object_mut().unwrap().remove("default_ticket_type_id");
    let before = w.ticket_count();
    let (s, b) =
        post(&w.srv.url("/api/v1/actions/create_ticket"), &action("create_ticket", conn, json!({"summary": "s", "details": "d"}))).await;
    assert_eq!(s, 400, "{b}");
    assert!(b["body"]["error"].as_str().unwrap().contains("no ticket type"), "{b}");
    assert_eq!(w.ticket_count(), before);
    assert_eq!(w.halo.sim.stats().by_route.get("POST /api/Tickets"), None);
}

#[tokio::test]
async fn create_without_agent_team_or_category_is_valid_output() {
    let w = world().await;
    let out = w.ok("create_ticket", json!({"summary": "Bare ticket", "details": "nothing else"})).await;
    let t = &out["ticket"];
    assert!(t.get("agent_id").is_none() && t.get("team_id").is_none() && t.get("category_id").is_none(), "{t}");
}

#[tokio::test]
async fn create_with_every_field() {
    let w = world().await;
    let out = w
        .ok(
            "create_ticket",
            json!({"summary": "All fields", "details": "d", "tickettype_id": 1, "priority_id": 1, "status_id": 2, "category_id": 2,
                                     "agent_id": 4, "team_id": 3, "site_id": 1, "user_id": 2}),
        )
        .await;
    let t = &out["ticket"];
    for (k, v) in [
        ("tickettype_id", 1),
        ("priority_id", 1),
        ("status_id", 2),
        ("category_id", 2),
        ("agent_id", 4),
        ("team_id", 3),
        ("site_id", 1),
        ("user_id", 2),
    ] {
        assert_eq!(t[k], v, "{k} in {t}");
    }
    assert_eq!(t["category_1"], "Security>Malware");
}

#[tokio::test]
async fn update_changes_only_what_is_given() {
    let w = world().await;
    let before = w.halo.sim.ticket(101).unwrap();
    let out = w.ok("update_ticket", json!({"ticket_id": 101, "priority_id": 1})).await;
    let after = w.halo.sim.ticket(101).unwrap();
    assert_eq!(after["priority_id"], 1);
    for k in ["summary", "details", "status_id", "agent_id", "team_id", "tickettype_id"] {
        assert_eq!(after[k], before[k], "{k} must not change");
    }
    assert_eq!(out["ticket"]["priority_id"], 1);
    assert_eq!(out["ticket"]["summary"], before["summary"]);
    // Empty optional inputs (as the UI sends them) change nothing either.
    w.ok("update_ticket", json!({"ticket_id": 101, "summary": "", "details": null})).await;
    assert_eq!(w.halo.sim.ticket(101).unwrap()["summary"], before["summary"]);
}

#[tokio::test]
async fn updating_an_unknown_ticket_is_a_400_and_creates_nothing() {
    let w = world().await;
    let before = w.ticket_count();
    let e = w.err("update_ticket", json!({"ticket_id": 424242, "summary": "x"}), 400).await;
    assert!(e.contains("Ticket 424242 does not exist"), "{e}");
    assert_eq!(w.ticket_count(), before, "HaloITSM's upsert must never be triggered");
    for (name, input) in [
        ("close_ticket", json!({"ticket_id": 424242})),
        ("add_comment", json!({"ticket_id": 424242, "comment": "x"})),
        ("assign_ticket", json!({"ticket_id": 424242, "agent_id": 3})),
        ("list_comments", json!({"ticket_id": 424242})),
        ("delete_ticket", json!({"ticket_id": 424242})),
        ("add_attachment", json!({"ticket_id": 424242, "file": {"filename": "a.txt", "content": "YQ=="}})),
    ] {
        let e = w.err(name, input, 400).await;
        assert!(e.contains("Ticket 424242 does not exist"), "{name}: {e}");
    }
    assert_eq!(w.ticket_count(), before);
}

#[tokio::test]
async fn assign_needs_an_agent_or_team_and_a_real_agent() {
    let w = world().await;
    let e = w.err("assign_ticket", json!({"ticket_id": 101}), 400).await;
    assert!(e.contains("give `agent_id`, a team (`team_id` or `team_name`), or both"), "{e}");
    let e = w.err("assign_ticket", json!({"ticket_id": 101, "agent_id": 999}), 400).await;
    assert!(e.contains("Agent 999 does not exist"), "{e}");
    let e = w.err("assign_ticket", json!({"ticket_id": 101, "agent_id": 6}), 400).await;
    assert!(e.contains("disabled"), "{e}");
    // Team only; notify has nobody to email.
    let out = w.ok("assign_ticket", json!({"ticket_id": 103, "team_id": 4})).await;
    assert_eq!(out["ticket"]["team_id"], 4);
    assert_eq!(w.halo.sim.ticket(103).unwrap()["team"], "Cloud Platform", "on the team in HaloITSM, by its name");
    let out = w.ok("assign_ticket", json!({"ticket_id": 103, "team_name": "network"})).await;
    assert_eq!(out["ticket"]["team_name"], "Network");
    let e = w.err("assign_ticket", json!({"ticket_id": 103, "team_id": 5}), 400).await;
    assert!(e.contains("inactive"), "{e}");
    let last = w.halo.sim.actions_for(103).pop().unwrap();
    assert_eq!(last["sendemail"], false);
    // An agent with notify: HaloITSM is asked to email them.
    w.ok("assign_ticket", json!({"ticket_id": 103, "agent_id": 2, "notify": true})).await;
    let last = w.halo.sim.actions_for(103).pop().unwrap();
    assert_eq!(last["sendemail"], true, "{last}");
    assert!(last["emailto"].as_str().unwrap().contains('@'), "{last}");
    w.ok("assign_ticket", json!({"ticket_id": 103, "agent_id": 3, "notify": false})).await;
    assert_eq!(w.halo.sim.actions_for(103).pop().unwrap()["sendemail"], false);
}

#[tokio::test]
async fn search_pages_through_large_results_without_duplicates() {
    let w = world().await;
    for i in 0..230 {
        w.ok("create_ticket", json!({"summary": format!("Bulk finding {i}"), "details": "d"})).await;
    }
    let out = w.ok("search_tickets", json!({"summary_contains": "Bulk finding", "max_results": 10000})).await;
    assert_eq!(out["count"], 230);
    assert_eq!(out["total"], 230);
    let ids: Vec<i64> = out["tickets"].as_array().unwrap().iter().map(|t| t["id"].as_i64().unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(ids, sorted, "newest first");
    sorted.dedup();
    assert_eq!(sorted.len(), 230);
    let limited = w.ok("search_tickets", json!({"summary_contains": "Bulk finding", "max_results": 150})).await;
    assert_eq!(limited["count"], 150);
    assert_eq!(limited["total"], 230);
    let lim_ids: Vec<i64> = limited["tickets"].as_array().unwrap().iter().map(|t| t["id"].as_i64().unwrap()).collect();
    assert_eq!(lim_ids, ids[..150].to_vec(), "the first 150 of the same order");
    assert_eq!(limited["has_more"], true);
    assert_eq!(out["has_more"], false);
    let pages = w.halo.sim.stats().by_route.get("GET /api/Tickets").copied().unwrap_or(0);
    // Open and closed tickets are listed apart: 230 open results take 3 pages of 100 and one
    // (empty) page of closed ones; 150 take 2 and 1.
    assert!(pages <= (3 + 1) + (2 + 1), "{pages}");

    // Walking pages of 100: the same tickets in the same order, has_more until the last.
    let mut walked = Vec::new();
    for page in 1..=3 {
        let p = w.ok("search_tickets", json!({"summary_contains": "Bulk finding", "page": page, "page_size": 100})).await;
        assert_eq!(p["has_more"], page < 3, "page {page}: {}", p["count"]);
        walked.extend(p["tickets"].as_array().unwrap().iter().map(|t| t["id"].as_i64().unwrap()));
    }
    assert_eq!(walked, ids, "pages add up to the whole list");
    let beyond = w.ok("search_tickets", json!({"summary_contains": "Bulk finding", "page": 4, "page_size": 100})).await;
    assert_eq!((beyond["count"].as_i64(), beyond["has_more"].as_bool()), (Some(0), Some(false)));
    let e = w.err("search_tickets", json!({"page": 101, "page_size": 100}), 400).await;
    assert!(e.contains("`page`") && e.contains("10000"), "{e}");
}

#[tokio::test]
async fn search_filters_by_date_status_agent_priority_and_text() {
    let w = world().await;
    let all = w.ok("search_tickets", json!({"max_results": 100})).await;
    assert!(all["count"].as_i64().unwrap() >= 7);
    let by_status = w.ok("search_tickets", json!({"status_id": 1})).await;
    assert!(by_status["tickets"].as_array().unwrap().iter().all(|t| t["status_id"] == 1));
    let by_agent = w.ok("search_tickets", json!({"agent_id": 3})).await;
    assert!(by_agent["count"].as_i64().unwrap() >= 1 && by_agent["tickets"].as_array().unwrap().iter().all(|t| t["agent_id"] == 3));
    let by_priority = w.ok("search_tickets", json!({"priority_id": 1})).await;
    assert!(by_priority["tickets"].as_array().unwrap().iter().all(|t| t["priority_id"] == 1));
    let text = w.ok("search_tickets", json!({"query": "Emotet"})).await;
    assert_eq!(text["count"], 1, "{text}");
    let future = w.ok("search_tickets", json!({"created_after": "2099-01-01T00:00:00Z"})).await;
    assert_eq!(future["count"], 0);
    let past =
        w.ok("search_tickets", json!({"created_before": "2099-01-01T00:00:00+02:00", "created_after": "2000-01-01T00:00:00Z"})).await;
    assert_eq!(past["count"], all["count"]);
    let e = w.err("search_tickets", json!({"created_after": "2026-09-02T00:00:00Z", "created_before": "2026-09-01T00:00:00Z"}), 400).await;
    assert!(e.contains("later than"), "{e}");
    let e = w.err("search_tickets", json!({"max_results": 0}), 400).await;
    assert!(e.contains("between 1 and 10000"), "{e}");
}

#[tokio::test]
async fn people_and_lookups() {
    let w = world().await;
    let u = w.ok("get_user", json!({"user_id": 1})).await;
    assert_eq!(u["success"], true);
    assert!(u["user"]["email"].as_str().unwrap().contains('@'), "{u}");
    assert_eq!(w.ok("get_user", json!({"user_id": 999})).await, json!({"user": {}, "success": false}));
    let a = w.ok("get_agent", json!({"agent_id": 3})).await;
    assert_eq!(a["agent"]["name"], "Ben Carter");
    assert_eq!(w.ok("get_agent", json!({"agent_id": 999})).await, json!({"agent": {}, "success": false}));

    let st = w.ok("list_statuses", json!({})).await;
    let closed: Vec<i64> =
        st["statuses"].as_array().unwrap().iter().filter(|s| s["closed"] == true).map(|s| s["id"].as_i64().unwrap()).collect();
    assert_eq!(closed, vec![9], "only Closed closes a ticket on a stock tenant: {st}");
    let open = w.ok("list_statuses", json!({"exclude_closed": true})).await;
    assert!(open["statuses"].as_array().unwrap().iter().all(|s| s["closed"] == false));
    let types = w.ok("list_ticket_types", json!({})).await;
    assert!(types["ticket_types"].as_array().unwrap().contains(&json!({"id": 4, "name": "Security Incident"})));
    let pr = w.ok("list_priorities", json!({})).await;
    assert!(pr["priorities"].as_array().unwrap().iter().any(|p| p["id"] == 2 && p["name"] == "High"), "numeric IDs, not GUIDs: {pr}");
    let agents = w.ok("list_agents", json!({})).await;
    assert!(agents["agents"].as_array().unwrap().iter().all(|a| a["disabled"] != true));
    let all_agents = w.ok("list_agents", json!({"include_disabled": true})).await;
    assert_eq!(all_agents["count"].as_i64().unwrap(), agents["count"].as_i64().unwrap() + 1);
    let teams = w.ok("list_teams", json!({})).await;
    assert!(teams["teams"].as_array().unwrap().iter().any(|t| t["name"] == "Security Operations"));
}

#[tokio::test]
async fn attachments_and_deletion() {
    let w = world().await;
    let content = base64::engine::general_purpose::STANDARD.encode(br#"{"alert": "example"}"#);
    let out = w
        .ok(
            "add_attachment",
            json!({"ticket_id": 101, "file": {"filename": "evidence/alert.json", "content": content}, "note": "Raw alert"}),
        )
        .await;
    assert_eq!(out["success"], true);
    assert_eq!(out["size"], 20);
    assert!(out["attachment_id"].as_i64().is_some());
    let e = w.err("add_attachment", json!({"ticket_id": 101, "file": {"filename": "a.txt", "content": "not base64!!"}}), 400).await;
    assert!(e.contains("`file.content` is not valid base64"), "{e}");
    let big = base64::engine::general_purpose::STANDARD.encode(vec![0u8; 21 * 1024 * 1024]);
    let e = w.err("add_attachment", json!({"ticket_id": 101, "file": {"filename": "big.bin", "content": big}}), 400).await;
    assert!(e.contains("larger than 20 MiB"), "{e}");

    let before = w.ticket_count();
    w.ok("delete_ticket", json!({"ticket_id": 106, "reason": "Duplicate"})).await;
    assert_eq!(w.ticket_count(), before - 1);
    assert!(w.halo.sim.ticket(106).is_none());
    let e = w.err("delete_ticket", json!({"ticket_id": 106}), 400).await;
    assert!(e.contains("does not exist"), "{e}");
}

#[tokio::test]
async fn a_write_that_fails_after_halo_applied_it_is_not_repeated() {
    let w = world().await;
    w.halo.sim.set_faults(Faults { server_error_every: 1, server_error_after_apply: true, ..Default::default() });
    let before = w.ticket_count();
    let (s, b) = w.run("create_ticket", json!({"summary": "Once only", "details": "d"})).await;
    assert_eq!(s, 500, "{b}");
    assert!(b["body"]["exception"]["assistance"].as_str().unwrap().contains("may or may not have been saved"), "{b}");
    w.halo.sim.set_faults(Faults::default());
    assert_eq!(w.ticket_count(), before + 1, "exactly one ticket: the write was not retried");
}

#[tokio::test]
async fn every_sample_message_runs_against_the_simulator() {
    let w = world().await;
    for name in icon_haloitsm::spec::spec().actions.keys() {
        let mut msg = icon_haloitsm::cli::sample(name).unwrap();
        msg["body"]["connection"] = w.conn.clone();
        // Sample IDs point at records of a real instance; aim them at the simulator's.
        let input = msg["body"]["input"].as_object_mut().unwrap();
        for (k, v) in input.iter_mut() {
            *v = match k.as_str() {
                "ticket_id" => json!(if name == "delete_ticket" { 107 } else { 101 }),
                "agent_id" => json!(3),
                "team_id" => json!(2),
                "team_name" => json!("Security Operations"),
                "user_id" => json!(1),
                "site_id" => json!(1),
                "status_id" => json!(2),
                "closed_status_id" => json!(9),
                "tickettype_id" => json!(4),
                "priority_id" => json!(2),
                "category_id" => json!(1),
                "max_results" => json!(10),
                "parent_id" => json!(102),
                "attachment_id" => json!(if name == "delete_attachment" { 2 } else { 1 }),
                // Ticket 101's seeded notes: a private note, and the email to the user.
                "comment_id" => json!(if name == "delete_comment" { 4 } else { 2 }),
                _ => v.clone(),
            };
        }
        if name == "process_webhook" {
            // One body or a batch, never both (the sample fills every input).
            input.remove("deliveries");
        }
        if name == "create_ticket" {
            // The requester by ID or by email, never both.
            input.remove("requester_email");
        }
        let (s, b) = post(&w.srv.url(&format!("/api/v1/actions/{name}")), &msg).await;
        assert_eq!(s, 200, "{name}: {b}");
    }
}
