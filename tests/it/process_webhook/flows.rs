//! The step against the simulator's deliveries: every payload option, batches, repeats, deleted
//! tickets, malformed deliveries, filters and bad input.

use super::*;

/// A status change, a reassignment and a note on ticket 101, each in a second of its own
/// (HaloITSM's history has whole seconds), then a new ticket: four deliveries.
async fn four_changes(h: &Harness) -> (i64, Vec<Value>) {
    h.halo.sim.agent_edit(101, json!({"status_id": 6}), None).unwrap();
    h.halo.sim.advance_clock(Duration::from_secs(1));
    h.halo.sim.agent_edit(101, json!({"agent_id": 4}), None).unwrap();
    h.halo.sim.advance_clock(Duration::from_secs(1));
    h.halo.sim.agent_edit(101, json!({}), Some("Called the user")).unwrap();
    let (status, created) = post_json(
        &h.srv.url("/api/v1/actions/create_ticket"),
        &action(
            "create_ticket",
            h.halo.connection(),
            json!({"summary": "EDR: credential dumping", "details": "Seen on host fin-ws-12", "tickettype_id": 4}),
        ),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let id = created["body"]["output"]["ticket"]["id"].as_i64().unwrap();
    (id, h.taken.deliveries(4).await)
}

fn fields(e: &Value) -> Vec<&str> {
    e["changed_fields"].as_array().map(|a| a.iter().map(|f| f.as_str().unwrap()).collect()).unwrap_or_default()
}

#[tokio::test]
async fn every_payload_option_gives_the_same_events() {
    // Each option on a simulator of its own, all at once (each waits out HaloITSM's seconds).
    let options = [
        ("full", json!({})),
        ("small", json!({"payload": "small"})),
        ("event only", json!({"payload": "event_only"})),
        ("ids as strings", json!({"ids_as_strings": true})),
        ("batched", json!({"batch_size": 10, "batch_window_ms": 4000})),
    ];
    futures::future::join_all(options.into_iter().map(|(name, extra)| the_same_events_with(name, extra))).await;
}

async fn the_same_events_with(name: &str, extra: Value) {
    let h = harness(extra).await;
    let (created, deliveries) = four_changes(&h).await;
    let events = h.events(&deliveries, json!({})).await;
    // Deliveries for different tickets may arrive in either order; one ticket's keep theirs.
    let mut got = summary(&events);
    got.sort_by_key(|(_, id, _, _)| *id);
    assert_eq!(
        got,
        vec![
            ("status_changed".into(), 101, Some(2), Some(6)),
            ("updated".into(), 101, None, None),
            ("updated".into(), 101, None, None),
            ("created".into(), created, None, None)
        ],
        "{name}: {events:#?}"
    );
    let on_101: Vec<&Value> = events.iter().filter(|e| e["ticket"]["id"] == 101).collect();
    assert_eq!(on_101.iter().map(|e| fields(e)).collect::<Vec<_>>(), vec![vec!["status"], vec!["agent"], vec!["note"]], "{name}");
    assert_eq!(on_101[0]["previous_status_id"], 2);
    for e in &events {
        assert_eq!(e["source"], "webhook");
        assert!(e["changed_at"].as_str().is_some_and(|c| c.ends_with('Z')), "{e}");
    }
    let ids: Vec<&str> = events.iter().map(|e| e["event_id"].as_str().unwrap()).collect();
    let delivery_ids: Vec<String> = deliveries.iter().map(|d| d["id"].as_str().unwrap().to_string()).collect();
    for id in &ids {
        assert!(delivery_ids.iter().any(|d| d == id), "{name}: event_id {id} is a delivery's ID");
    }
    let created_event = events.iter().find(|e| e["event"] == "created").unwrap();
    assert_eq!(created_event["changed_by_integration"], true, "{name}: created through this connection's API application");
    assert_eq!(on_101[0]["changed_by_integration"], false, "{name}: an agent in the UI");
    assert_eq!(h.halo.sim.stats().by_route.get("POST /api/Tickets").copied().unwrap_or(0), 1, "{name}: only the test's own create wrote");
    assert_eq!(h.taken.refused(), 0, "{name}: every delivery carried the API key");
}

#[tokio::test]
async fn a_custom_payload_with_only_the_ticket_is_read_by_its_last_action_date() {
    let h = harness(json!({"payload": "custom", "custom_payload": r#"{"ticket": <<ticket>>}"#})).await;
    h.halo.sim.agent_edit(101, json!({"status_id": 6}), None).unwrap();
    let body = h.taken.wait_for(1).await.remove(0);
    assert_eq!(body.as_object().unwrap().keys().collect::<Vec<_>>(), vec!["ticket"]);
    h.halo.sim.advance_clock(Duration::from_secs(1));
    h.halo.sim.agent_edit(101, json!({"status_id": 4}), None).unwrap();
    let (status, out) = h.process(json!({"delivery": body, "trigger": "ticket_status_changed"})).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(
        summary(out["events"].as_array().unwrap()),
        vec![("status_changed".into(), 101, Some(2), Some(6))],
        "the change the body shows, not the later one"
    );
    assert!(out["events"][0]["event_id"].as_str().unwrap().starts_with("halo:status:101:2-6@"), "no delivery ID: one made from the change");
}

#[tokio::test]
async fn repeats_give_the_same_events_and_ids_after_later_changes() {
    let h = harness(json!({"payload": "event_only"})).await;
    let (_, bodies) = four_changes(&h).await;
    let first = h.events(&bodies, json!({})).await;
    h.halo.sim.advance_clock(Duration::from_secs(1));
    h.halo.sim.agent_edit(101, json!({"status_id": 4}), Some("Resolved")).unwrap();
    let again = h.events(&bodies, json!({})).await;
    let identity = |es: &[Value]| -> Vec<Value> {
        es.iter()
            .map(|e| {
                json!([e["event_id"], e["event"], e["changed_at"], e["old_status_id"], e["changed_fields"], e["changed_by_integration"]])
            })
            .collect()
    };
    assert_eq!(identity(&first), identity(&again));
    assert_eq!(again[0]["ticket"]["status_id"], 4, "the ticket itself is as it is now");
}

#[tokio::test]
async fn a_batch_with_a_malformed_delivery_and_a_deleted_ticket() {
    let h = harness(json!({"ids_as_strings": true})).await;
    h.halo.sim.agent_edit(101, json!({"status_id": 6}), None).unwrap();
    h.halo.sim.agent_edit(102, json!({"priority_id": 1}), None).unwrap();
    let bodies = h.taken.wait_for(2).await;
    let (status, deleted) =
        post_json(&h.srv.url("/api/v1/actions/delete_ticket"), &action("delete_ticket", h.halo.connection(), json!({"ticket_id": 102})))
            .await;
    assert_eq!(status, 200, "{deleted}");
    let on = |id: &str| bodies.iter().find(|b| b["object_id"] == id).unwrap().clone();
    let batch = vec![on("101"), json!({"event": "ticket updated", "object_id": "abc"}), on("102")];
    let (status, out) = h.process(json!({"deliveries": batch})).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(summary(out["events"].as_array().unwrap()), vec![("status_changed".into(), 101, Some(2), Some(6))]);
    assert_eq!(out["refused"], json!([{"index": 1, "error": "delivery 1 has no ticket ID (`object_id` or `ticket.id`)"}]));
    assert_eq!(out["skipped"][0]["index"], 2);
    assert_eq!(out["skipped"][0]["reason"], "deleted");
    assert_eq!(out["skipped"][0]["ticket_id"], 102);
}

#[tokio::test]
async fn filters_pick_the_events_as_the_triggers_do() {
    let h = harness(json!({})).await;
    let (created, bodies) = four_changes(&h).await;
    let status_only = h.events(&bodies, json!({"trigger": "ticket_status_changed", "new_status_id": 6})).await;
    assert_eq!(summary(&status_only), vec![("status_changed".into(), 101, Some(2), Some(6))]);
    let none = h.events(&bodies, json!({"trigger": "ticket_status_changed", "new_status_id": 9})).await;
    assert!(none.is_empty());
    let agent = h.events(&bodies, json!({"trigger": "ticket_updated", "monitored_fields": ["agent"]})).await;
    assert_eq!(agent.iter().map(fields).collect::<Vec<_>>(), vec![vec!["agent"]]);
    let new = h.events(&bodies, json!({"trigger": "ticket_created", "tickettype_id": 4})).await;
    assert_eq!(summary(&new), vec![("created".into(), created, None, None)]);
    let (_, out) = h.process(json!({"deliveries": bodies, "ticket_id": created})).await;
    assert_eq!(out["events"].as_array().unwrap().len(), 1);
    assert_eq!(out["skipped"].as_array().unwrap().iter().filter(|s| s["reason"] == "filtered").count(), 3);
}

#[tokio::test]
async fn bad_input_names_the_field_and_reads_or_writes_nothing() {
    let h = harness(json!({})).await;
    let d = json!({"id": "8e25bc7b-e07e-4102-9398-5d6647e1e79d", "event": "ticket updated", "object_id": 101});
    for (input, needle) in [
        (json!({}), "input `delivery` or input `deliveries` is required"),
        (json!({"delivery": d, "deliveries": [d]}), "not both"),
        (json!({"deliveries": []}), "input `deliveries` is empty"),
        (json!({"delivery": {"event": "ticket updated"}}), "input `delivery`: the delivery has no ticket ID"),
        (json!({"deliveries": [{"object_id": 0}, {"event": "x"}]}), "none of the 2 deliveries can be read"),
        (json!({"delivery": d, "trigger": ""}), "input `trigger` is empty"),
        (json!({"delivery": d, "trigger": "  "}), "input `trigger` is empty"),
        (json!({"delivery": d, "monitored_fields": ["summary"]}), "`summary`"),
        (json!({"delivery": d, "trigger": "ticket_closed"}), "input `trigger`"),
        (json!({"delivery": d, "ticket_id": -4}), "input `ticket_id`"),
    ] {
        h.halo.sim.reset_stats();
        let (status, body) = h.process(input.clone()).await;
        assert_eq!(status, 400, "{input}: {body}");
        let error = body["body"]["error"].as_str().unwrap_or_default();
        assert!(error.contains(needle), "{input}: {error}");
        assert!(
            h.halo.sim.stats().by_route.keys().all(|r| !r.contains("/api/")),
            "{input}: HaloITSM was asked: {:?}",
            h.halo.sim.stats().by_route
        );
    }
    let too_many: Vec<Value> = (0..1001).map(|_| d.clone()).collect();
    let (status, body) = h.process(json!({"deliveries": too_many})).await;
    assert_eq!(status, 400);
    assert!(body["body"]["error"].as_str().unwrap().contains("at most 1000"), "{body}");
}
