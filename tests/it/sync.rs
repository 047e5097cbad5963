//! Rapid7 two-way sync: tickets keyed by a reference, statuses mapped both ways, and the round
//! trip (InsightIDR ⇄ HaloITSM through the triggers) that must not bounce.

use crate::common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use common::*;
use halo_sim::{self as sim, SimHandle, WebhookConfig};
use icon_haloitsm::plugin::Plugin;
use icon_haloitsm::triggers;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const FIELD: i64 = 101;

struct World {
    halo: SimHandle,
    srv: PluginServer,
    conn: Value,
}

async fn world() -> World {
    let (halo, srv, conn) =
        sim_world(json!({"reference_field_id": FIELD, "webhook_credentials": {"username": "hook", "password": "hook-pass"}})).await;
    World { halo, srv, conn }
}

impl World {
    async fn run(&self, name: &str, input: Value) -> (u16, Value) {
        post(&self.srv.url(&format!("/api/v1/actions/{name}")), &action(name, self.conn.clone(), input)).await
    }

    async fn ok(&self, name: &str, input: Value) -> Value {
        let (s, b) = self.run(name, input.clone()).await;
        assert_eq!(s, 200, "{name}({input}) -> {b}");
        b["body"]["output"].clone()
    }

    async fn err(&self, name: &str, input: Value) -> String {
        let (s, b) = self.run(name, input.clone()).await;
        assert_eq!(s, 400, "{name}({input}) -> {b}");
        b["body"]["error"].as_str().unwrap_or_default().to_string()
    }

    fn with_reference(&self, reference: &str) -> Vec<Value> {
        self.halo
            .sim
            .tickets()
            .into_iter()
            .filter(|t| t["customfields"].as_array().is_some_and(|c| c.iter().any(|f| f["id"] == FIELD && f["value"] == reference)))
            .collect()
    }
}

fn upsert(reference: &str, summary: &str, details: &str) -> Value {
    json!({"reference": reference, "summary": summary, "details": details, "priority_id": 2})
}

#[tokio::test]
async fn upsert_creates_once_then_updates_with_a_note() {
    let w = world().await;
    let r = "rrn:investigation:us:inv-1";
    let first = w.ok("upsert_ticket_by_reference", upsert(r, "InsightIDR: Suspicious Authentication", "Opened by InsightIDR")).await;
    assert_eq!(first["created"], true);
    let id = first["ticket"]["id"].as_i64().unwrap();
    assert_eq!(w.with_reference(r).len(), 1);
    let second =
        w.ok("upsert_ticket_by_reference", upsert(r, "InsightIDR: Suspicious Authentication (escalated)", "Escalated to tier 2")).await;
    assert_eq!((second["created"].as_bool(), second["ticket"]["id"].as_i64()), (Some(false), Some(id)));
    assert_eq!(second["ticket"]["summary"], "InsightIDR: Suspicious Authentication (escalated)");
    let notes: Vec<String> = w.halo.sim.actions_for(id).iter().filter_map(|a| a["note"].as_str().map(str::to_string)).collect();
    assert!(notes.iter().any(|n| n == &format!("Update from {r}: Escalated to tier 2")), "{notes:?}");
    // The same call again: no second ticket, no second identical note.
    w.ok("upsert_ticket_by_reference", upsert(r, "InsightIDR: Suspicious Authentication (escalated)", "Escalated to tier 2")).await;
    assert_eq!(w.with_reference(r).len(), 1);
    let same = w.halo.sim.actions_for(id).iter().filter(|a| a["note"] == format!("Update from {r}: Escalated to tier 2")).count();
    assert_eq!(same, 1);
    // Once the ticket is closed, the reference opens a new one.
    w.ok("close_ticket", json!({"ticket_id": id})).await;
    let reopened = w.ok("upsert_ticket_by_reference", upsert(r, "InsightIDR: again", "It came back")).await;
    assert_eq!(reopened["created"], true);
    assert_ne!(reopened["ticket"]["id"].as_i64(), Some(id));
}

#[tokio::test]
async fn concurrent_upserts_of_one_reference_make_one_ticket() {
    let w = Arc::new(world().await);
    let mut tasks = Vec::new();
    for i in 0..8 {
        let w = w.clone();
        tasks.push(tokio::spawn(async move {
            w.ok("upsert_ticket_by_reference", upsert("ivm-project-77", "InsightVM: patch OpenSSL", &format!("run {i}"))).await
        }));
    }
    let created = futures::future::join_all(tasks).await.into_iter().filter(|r| r.as_ref().unwrap()["created"] == true).count();
    assert_eq!(created, 1);
    assert_eq!(w.with_reference("ivm-project-77").len(), 1);
}

#[tokio::test]
async fn find_by_reference_including_tickets_given_a_reference_by_hand() {
    let w = world().await;
    assert_eq!(w.ok("find_ticket_by_reference", json!({"reference": "nothing-here"})).await, json!({"found": false, "ticket": {}}));
    // Seed ticket 105 carries custom field 101 from the start (no tag in its details).
    let seeded = w.halo.sim.ticket(105).unwrap();
    let reference =
        seeded["customfields"].as_array().unwrap().iter().find(|c| c["id"] == FIELD).unwrap()["value"].as_str().unwrap().to_string();
    let out = w.ok("find_ticket_by_reference", json!({"reference": reference})).await;
    assert_eq!((out["found"].as_bool(), out["ticket"]["id"].as_i64()), (Some(true), Some(105)));
    let e = w.err("find_ticket_by_reference", json!({"reference": "  "})).await;
    assert!(e.contains("`reference` is empty"), "{e}");
}

#[tokio::test]
async fn set_status_maps_writes_once_and_is_idempotent() {
    let w = world().await;
    let r = "rrn:investigation:us:inv-9";
    let id = w.ok("upsert_ticket_by_reference", upsert(r, "s", "d")).await["ticket"]["id"].as_i64().unwrap();
    let out = w
        .ok(
            "set_status_from_rapid7",
            json!({"reference": r, "product": "insightidr", "status": "INVESTIGATING", "note": "Analyst picked it up"}),
        )
        .await;
    assert_eq!(
        (out["changed"].as_bool(), out["halo_status_id"].as_i64(), out["ticket"]["status_id"].as_i64()),
        (Some(true), Some(2), Some(2))
    );
    let note = w.halo.sim.actions_for(id).into_iter().rev().find(|a| a["new_status"] == 2).unwrap();
    assert_eq!(note["note"], "Status set from InsightIDR investigation status INVESTIGATING: Analyst picked it up");
    let before = w.halo.sim.actions_for(id).len();
    let again = w.ok("set_status_from_rapid7", json!({"ticket_id": id, "product": "insightidr", "status": "investigating"})).await;
    assert_eq!(again["changed"], false);
    assert_eq!(w.halo.sim.actions_for(id).len(), before, "nothing written: this is what stops a sync loop");
    // Resolved (8 on a stock tenant, found by its name) already means CLOSED for InsightIDR: no
    // move to Closed (9).
    let resolved = w.ok("set_status_from_rapid7", json!({"ticket_id": id, "product": "insightvm", "status": "Remediated"})).await;
    assert_eq!(resolved["halo_status_id"], 8);
    let closed = w.ok("set_status_from_rapid7", json!({"ticket_id": id, "product": "insightidr", "status": "CLOSED"})).await;
    assert_eq!((closed["changed"].as_bool(), closed["ticket"]["status_id"].as_i64()), (Some(false), Some(8)));
    let e = w.err("set_status_from_rapid7", json!({"ticket_id": id, "product": "insightidr", "status": "PAUSED"})).await;
    assert!(e.contains("accepted: CLOSED, INVESTIGATING, OPEN, WAITING"), "{e}");
    let e = w.err("set_status_from_rapid7", json!({"product": "insightidr", "status": "OPEN"})).await;
    assert!(e.contains("give `ticket_id` or `reference`"), "{e}");
    let e = w.err("set_status_from_rapid7", json!({"reference": "unknown-ref", "product": "insightidr", "status": "OPEN"})).await;
    assert!(e.contains("No HaloITSM ticket holds the reference unknown-ref"), "{e}");
    let custom = w.ok("set_status_from_rapid7", json!({"ticket_id": id, "product": "insightidr", "status": "WAITING", "status_mapping": {"insightidr_to_halo": {"WAITING": 6}}})).await;
    assert_eq!(custom["ticket"]["status_id"], 6, "the per-step mapping wins");
}

#[tokio::test]
async fn map_status_both_ways_and_errors() {
    let w = world().await;
    assert_eq!(
        w.ok("map_status", json!({"product": "insightvm", "status": "Will Not Fix"})).await,
        json!({"halo_status_id": 9, "rapid7_status": "Will Not Fix"}),
        "the default table names HaloITSM's Closed, which is 9 on a stock tenant"
    );
    let out = w.ok("map_status", json!({"product": "insightidr", "direction": "from_halo", "halo_status_id": 8, "closed": true})).await;
    assert_eq!(out["rapid7_status"], "CLOSED");
    let out = w.ok("map_status", json!({"product": "insightidr", "direction": "from_halo", "halo_status_id": 6, "on_hold": true})).await;
    assert_eq!(out["rapid7_status"], "WAITING");
    let e = w.err("map_status", json!({"product": "insightvm", "direction": "from_halo", "halo_status_id": 3})).await;
    assert!(e.contains("the `halo_to_insightvm` table maps: status named `New` → Not Started"), "{e}");
    let e = w.err("map_status", json!({"product": "insightidr"})).await;
    assert!(e.contains("direction to_halo needs `status`"), "{e}");
    let e = w.err("map_status", json!({"product": "insightidr", "status": "OPEN", "status_mapping": {"nope": {}}})).await;
    assert!(e.contains("status mapping"), "{e}");
    // The tenant's statuses are read once (both lists) for the names in the tables, then cached.
    assert_eq!(w.halo.sim.stats().by_route.get("GET /api/Status"), Some(&2));
    assert_eq!(w.halo.sim.stats().api_requests, 2, "map_status reads nothing else");
}

#[tokio::test]
async fn the_connection_mapping_replaces_defaults() {
    let w = world().await;
    let mut conn = w.conn.clone();
    conn["status_mapping"] = json!({"insightidr_to_halo": {"OPEN": 1, "INVESTIGATING": 6, "WAITING": 3, "CLOSED": 8}});
    let (s, b) = post(
        &w.srv.url("/api/v1/actions/map_status"),
        &action("map_status", conn.clone(), json!({"product": "insightidr", "status": "CLOSED"})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["body"]["output"]["halo_status_id"], 8);
    conn["status_mapping"] = json!({"insightidr_to_halo": {"OPEN": -1}});
    let (s, b) = post(
        &w.srv.url("/api/v1/actions/map_status"),
        &action("map_status", conn.clone(), json!({"product": "insightidr", "status": "OPEN"})),
    )
    .await;
    assert_eq!(s, 400);
    assert!(b["body"]["error"].as_str().unwrap().contains("`insightidr_to_halo.OPEN` must be a positive"), "{b}");
    // A name the tenant does not have: the error names it and the table to fix.
    conn["status_mapping"] = json!({"insightidr_to_halo": {"OPEN": "Triage"}});
    let (s, b) =
        post(&w.srv.url("/api/v1/actions/map_status"), &action("map_status", conn, json!({"product": "insightidr", "status": "OPEN"})))
            .await;
    assert_eq!(s, 400);
    let e = b["body"]["error"].as_str().unwrap();
    assert!(e.contains("no status named `Triage`") && e.contains("`insightidr_to_halo` table"), "{b}");
}

#[tokio::test]
async fn an_uncertain_upsert_create_is_found_not_repeated() {
    let w = world().await;
    // Requests: the tag search (1), the open-ticket scan (2), then the create (3), saved but 500.
    w.halo.sim.set_faults(sim::Faults { server_error_every: 3, server_error_after_apply: true, ..Default::default() });
    let out = w.ok("upsert_ticket_by_reference", upsert("inv-uncertain", "s", "d")).await;
    w.halo.sim.set_faults(sim::Faults::default());
    assert_eq!(out["created"], true);
    assert_eq!(w.with_reference("inv-uncertain").len(), 1, "never a duplicate");
}

#[tokio::test]
async fn the_lookup_sends_one_search_with_the_tag_and_the_field() {
    let halo = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/auth/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"access_token": "t", "token_type": "Bearer", "expires_in": 3600})))
        .mount(&halo)
        .await;
    let tag = icon_haloitsm::sync::reference_tag("inv-5");
    Mock::given(method("GET"))
        .and(path("/api/Tickets"))
        .and(wiremock::matchers::query_param("search_details", tag.as_str()))
        .and(wiremock::matchers::query_param("include_custom_fields", "101"))
        .and(wiremock::matchers::query_param("open_only", "true"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"record_count": 1, "tickets": [{"id": 7, "details": format!("x {tag}")}]})),
        )
        .expect(1)
        .mount(&halo)
        .await;
    // The candidate is confirmed by a full read: it holds the reference and is open.
    Mock::given(method("GET"))
        .and(path("/api/Tickets/7"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": 7, "summary": "s", "status_id": 2, "details": format!("x {tag}"), "hasbeenclosed": false})),
        )
        .expect(1)
        .mount(&halo)
        .await;
    let srv = PluginServer::start().await;
    let mut conn = connection(&halo.uri());
    conn["reference_field_id"] = json!(FIELD);
    let (s, b) = post(
        &srv.url("/api/v1/actions/find_ticket_by_reference"),
        &action("find_ticket_by_reference", conn, json!({"reference": "inv-5"})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["body"]["output"]["ticket"]["id"], 7);
}

// ----- the round trip ---------------------------------------------------------------------------

/// A stand-in for InsightIDR: investigation statuses, counting real changes.
#[derive(Default)]
struct Idr {
    status: HashMap<String, String>,
    changes: usize,
}

impl Idr {
    fn set(&mut self, id: &str, status: &str) {
        if self.status.get(id).map(String::as_str) != Some(status) {
            self.status.insert(id.to_string(), status.to_string());
            self.changes += 1;
        }
    }
}

#[tokio::test]
async fn a_change_on_each_side_reaches_the_other_once_and_does_not_bounce() {
    let w = world().await;
    let idr = Arc::new(Mutex::new(Idr::default()));
    let inv = "rrn:investigation:us:round-trip";
    idr.lock().unwrap().set(inv, "OPEN");

    // InsightIDR → HaloITSM: the investigation becomes a ticket.
    let ticket =
        w.ok("upsert_ticket_by_reference", upsert(inv, "InsightIDR: Lateral Movement", "Opened by InsightIDR")).await["ticket"].clone();
    let id = ticket["id"].as_i64().unwrap();

    // The trigger workflow: HaloITSM status changes → InsightIDR.
    let events = Sink::events().await;
    let sink = events.url.clone();
    let dir = tempfile::tempdir().unwrap();
    let msg = json!({"version": "v1", "type": "trigger_start", "body": {
        "trigger": "ticket_status_changed", "meta": {"triggerId": "sync"}, "connection": w.conn,
        "input": {"source": "webhook", "webhook_port": 0, "webhook_bind": "127.0.0.1"}, "dispatcher": {"url": sink}}});
    let opts =
        triggers::Options { debug: false, state_dir: dir.path().to_path_buf(), flag_file: dir.path().join("stop.flag"), poll_every: None };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let log = CapturedLog::default();
    let trigger = tokio::spawn(log.around(triggers::run(Arc::new(Plugin::new(false)), msg, opts, async {
        let _ = stopped.await;
    })));
    let port = eventually(Lazy(|| format!("the listener's port in the log:\n{}", log.text())), async || listener_port(&log.text())).await;
    w.halo.sim.set_webhook(Some(WebhookConfig {
        url: format!("http://127.0.0.1:{port}/webhooks/haloitsm"),
        username: Some("hook".into()),
        password: Some("hook-pass".into()),
        ..Default::default()
    }));
    eventually("the listener to answer", async || reqwest::get(format!("http://127.0.0.1:{port}/healthz")).await.is_ok()).await;
    // What the two workflows do with each event: Halo → IDR (skipping the plugin's own echoes),
    // and IDR → Halo for every IDR change. Settled: `n` events, and every change HaloITSM
    // announced worked off by the trigger (what would bounce has bounced).
    let settle = async |n: usize| {
        events.wait_for(n).await;
        eventually("the deliveries to be worked off", async || {
            webhooks_idle(&w.halo.sim.webhook_stats()) && inbox_worked(dir.path(), "sync")
        })
        .await;
        events.outputs()
    };

    // HaloITSM → InsightIDR: an analyst starts working the ticket.
    w.halo.sim.agent_edit(id, json!({"status_id": 2}), None).unwrap();
    let seen = settle(1).await;
    assert_eq!(seen.len(), 1, "{seen:#?}");
    let e = &seen[0];
    assert_eq!(
        (e["reference"].as_str(), e["insightidr_status"].as_str(), e["changed_by_integration"].as_bool()),
        (Some(inv), Some("INVESTIGATING"), Some(false))
    );
    idr.lock().unwrap().set(inv, e["insightidr_status"].as_str().unwrap());
    // InsightIDR's own change notification comes back: the plugin must not write again.
    let back = w.ok("set_status_from_rapid7", json!({"reference": inv, "product": "insightidr", "status": "INVESTIGATING"})).await;
    assert_eq!(back["changed"], false);

    // InsightIDR → HaloITSM: the investigation is closed.
    idr.lock().unwrap().set(inv, "CLOSED");
    let set = w.ok("set_status_from_rapid7", json!({"reference": inv, "product": "insightidr", "status": "CLOSED"})).await;
    assert_eq!(set["changed"], true);
    let seen = settle(2).await;
    assert_eq!(seen.len(), 2, "{seen:#?}");
    let echo = &seen[1];
    assert_eq!((echo["new_status_id"].as_i64(), echo["insightidr_status"].as_str()), (Some(9), Some("CLOSED")), "HaloITSM's Closed");
    assert_eq!(echo["changed_by_integration"], true, "the workflow can skip its own echo");
    // Even a workflow that does not skip it changes nothing: IDR is already CLOSED.
    idr.lock().unwrap().set(inv, echo["insightidr_status"].as_str().unwrap());

    let final_events = settle(2).await;
    assert_eq!(final_events.len(), 2, "no further events: nothing bounced");
    {
        let idr = idr.lock().unwrap();
        assert_eq!(idr.status[inv], "CLOSED");
        assert_eq!(idr.changes, 3, "OPEN, then INVESTIGATING from HaloITSM, then CLOSED by the analyst: each once");
    }
    assert_eq!(w.halo.sim.ticket(id).unwrap()["status_id"], 9);
    assert_eq!(w.halo.sim.ticket(id).unwrap()["hasbeenclosed"], true, "closed in HaloITSM, not only renamed");
    let _ = stop.send(());
    let _ = trigger.await;
}
