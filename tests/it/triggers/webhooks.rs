//! The events each trigger fires from webhook deliveries: payloads, auth, filters, reads per batch.

use super::*;

#[tokio::test]
async fn ticket_created_fires_once_per_new_ticket_from_webhooks_with_filters() {
    let s = setup().await;
    s.webhooks(json!({}));
    let mut t = s.start("ticket_created", json!({"source": "webhook", "tickettype_id": 4}));
    s.listening().await;
    let a = s.create("Phish reported by finance", 4).await;
    let _other_type = s.create("Printer jam", 1).await;
    let b = s.create("EDR: credential dumping", 4).await;
    s.halo.sim.agent_edit(101, json!({"priority_id": 1}), Some("bump")).unwrap();
    let out = s.sink.wait_for(2).await;
    s.worked_off().await;
    let out2 = s.sink.outputs();
    assert_eq!(out.len(), out2.len(), "no late extra events");
    // HaloITSM (and the simulator) send deliveries for different tickets independently, so
    // they may arrive, and fire, in either order.
    let mut ids: Vec<i64> = out2.iter().map(|o| o["ticket"]["id"].as_i64().unwrap()).collect();
    ids.sort_unstable();
    assert_eq!(ids, vec![a, b], "{out2:#?}\n{}", s.log());
    assert_valid("ticket_created", &out2);
    for o in &out2 {
        assert_eq!(o["event"], "created");
        assert_eq!(o["source"], "webhook");
        assert_eq!(o["changed_by_integration"], true, "created through the API application");
        assert_eq!(o["ticket"]["tickettype_id"], 4);
    }
    assert!(stop(&mut t).await.success());
    let ev = s.sink.bodies()[0].clone();
    assert_eq!(ev["type"], "trigger_event");
    assert_eq!(ev["body"]["meta"]["workflowId"], "wf");
}

#[tokio::test]
async fn status_changes_fire_once_per_transition_with_old_and_new_status() {
    let s = setup().await;
    s.webhooks(json!({}));
    let mut t = s.start("ticket_status_changed", json!({"source": "webhook"}));
    s.listening().await;
    s.halo.sim.agent_edit(101, json!({"status_id": 6}), None).unwrap();
    s.sink.wait_for(1).await;
    s.halo.sim.agent_edit(101, json!({"summary": "no status change"}), None).unwrap();
    s.halo.sim.advance_clock(Duration::from_secs(1));
    s.halo.sim.agent_edit(101, json!({"status_id": 4}), Some("resolved")).unwrap();
    let out = s.sink.wait_for(2).await;
    s.worked_off().await;
    let out = {
        let _ = out;
        s.sink.outputs()
    };
    assert_eq!(out.len(), 2, "{out:#?}\n{}", s.log());
    assert_valid("ticket_status_changed", &out);
    assert_eq!((out[0]["old_status_id"].as_i64(), out[0]["new_status_id"].as_i64()), (Some(2), Some(6)));
    assert_eq!((out[1]["old_status_id"].as_i64(), out[1]["new_status_id"].as_i64()), (Some(6), Some(4)));
    assert_eq!(out[1]["ticket"]["status_id"], 4);
    assert_eq!(out[1]["changed_by_integration"], false, "an agent made the change");
    assert_eq!(out[1]["event"], "status_changed");
    assert!(stop(&mut t).await.success());
}

#[tokio::test]
async fn ticket_updated_reports_every_change_and_the_previous_status() {
    let s = setup().await;
    s.webhooks(json!({"payload": "event_only"}));
    let mut t = s.start("ticket_updated", json!({"source": "webhook", "ticket_id": 102}));
    s.listening().await;
    s.halo.sim.agent_edit(103, json!({"summary": "other ticket"}), None).unwrap();
    s.halo.sim.agent_edit(102, json!({"summary": "Emotet loader - contained"}), None).unwrap();
    s.sink.wait_for(1).await;
    s.halo.sim.advance_clock(Duration::from_secs(1));
    s.halo.sim.agent_edit(102, json!({"status_id": 2}), None).unwrap();
    let _ = s.sink.wait_for(2).await;
    s.worked_off().await;
    let out = s.sink.outputs();
    assert_eq!(out.len(), 2, "{out:#?}\n{}", s.log());
    assert_valid("ticket_updated", &out);
    assert_eq!(out[0]["event"], "updated");
    assert_eq!(out[0]["previous_status_id"], 1);
    assert_eq!(out[0]["ticket"]["summary"], "Emotet loader - contained", "event-only deliveries: the ticket was read from HaloITSM");
    assert_eq!(out[1]["event"], "status_changed");
    assert_eq!(out[1]["previous_status_id"], 1);
    assert_eq!(out[1]["ticket"]["status_id"], 2);
    assert!(stop(&mut t).await.success());
}

#[tokio::test]
async fn bearer_or_api_key_deliveries_with_string_ids_and_a_malformed_one_in_a_batch() {
    // Halo's Bearer token and API key options (docs/halo-api.md#W7), IDs sent as strings (W10),
    // small payloads (W3).
    let s =
        setup_with(SimConfig::default(), json!({"webhook_secret": {"secretKey": "hook-t0ken"}, "webhook_api_key_header": "X-Halo-Key"}))
            .await;
    s.webhooks(json!({"username": null, "password": null, "bearer_token": "hook-t0ken", "payload": "small", "ids_as_strings": true}));
    let mut t = s.start("ticket_updated", json!({"source": "webhook"}));
    s.listening().await;
    s.halo.sim.agent_edit(102, json!({"summary": "Emotet loader - contained"}), None).unwrap();
    let out = s.sink.wait_for(1).await;
    assert_eq!(out.len(), 1, "{out:#?}\n{}", s.log());
    assert_eq!(out[0]["ticket"]["id"], 102);
    assert_eq!(out[0]["ticket"]["summary"], "Emotet loader - contained");

    let http = reqwest::Client::new();
    let url = s.hook_url();
    let key = |r: reqwest::RequestBuilder| r.header("X-Halo-Key", "hook-t0ken");
    let r = http.post(&url).header("X-API-Key", "hook-t0ken").json(&json!({"object_id": 101})).send().await.unwrap();
    assert_eq!(r.status(), 401, "only the configured header carries the key");
    let r = http.post(&url).bearer_auth("wrong").json(&json!({"object_id": 101})).send().await.unwrap();
    assert_eq!(r.status(), 401);
    // One malformed delivery does not reject the others of its batch; the answer names it.
    s.halo.sim.agent_edit(105, json!({"summary": "bucket fixed"}), None).unwrap();
    let batch = json!([{"id": "d-9", "event": "ticket updated", "object_id": "105"}, {"event": "x"}]);
    let r = key(http.post(&url)).json(&batch).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["deliveries"], 1, "{answer}");
    assert_eq!(answer["refused"][0]["index"], 1, "{answer}");
    let out = s.sink.wait_for(2).await;
    assert!(out.iter().any(|o| o["ticket"]["id"] == 105), "{out:#?}");
    assert!(!s.log().contains("hook-t0ken"), "the secret never reaches the logs");
    assert!(stop(&mut t).await.success());
}

#[tokio::test]
async fn a_change_in_the_ui_by_the_integrations_agent_is_not_the_integrations() {
    // An API application acts as an agent, who may also work in HaloITSM's UI: only the
    // history's `actionby_application_id` tells the two apart (docs/halo-api.md#A7).
    let s = setup().await;
    s.webhooks(json!({}));
    let mut t = s.start("ticket_updated", json!({"source": "webhook"}));
    s.listening().await;
    s.api.post_one("Actions", json!({"ticket_id": 106, "outcome": "Private Note", "note": "from the integration"})).await.unwrap();
    s.sink.wait_for(1).await;
    s.halo.sim.agent_edit_by(1, 107, json!({"summary": "edited in the UI by the API agent"}), None).unwrap();
    let out = s.sink.wait_for(2).await;
    assert_eq!(out.len(), 2, "{out:#?}\n{}", s.log());
    let by_ticket = |id: i64| out.iter().find(|o| o["ticket"]["id"] == id).unwrap()["changed_by_integration"].clone();
    assert_eq!(by_ticket(106), json!(true), "made through the API application");
    assert_eq!(by_ticket(107), json!(false), "made in the UI, though by the same agent");
    assert!(stop(&mut t).await.success());
}

#[tokio::test]
async fn filters_on_priority_status_change_and_new_status() {
    let s = setup().await;
    s.webhooks(json!({}));
    let mut created = s.start("ticket_created", json!({"source": "webhook", "priority_id": 1}));
    s.listening().await;
    let hi = s.api.post_one("Tickets", json!({"summary": "critical", "details": "d", "tickettype_id": 4, "priority_id": 1})).await.unwrap();
    s.create("medium", 4).await;
    let out = s.sink.wait_for(1).await;
    s.worked_off().await;
    assert_eq!(s.sink.outputs().len(), 1, "{out:#?}");
    assert_eq!(out[0]["ticket"]["id"], hi["id"]);
    assert!(stop(&mut created).await.success());

    let s = setup().await;
    s.webhooks(json!({}));
    let mut updated = s.start("ticket_updated", json!({"source": "webhook", "status_changed": true}));
    s.listening().await;
    s.halo.sim.agent_edit(102, json!({"summary": "no status change"}), None).unwrap();
    s.halo.sim.advance_clock(Duration::from_secs(1));
    s.halo.sim.agent_edit(102, json!({"status_id": 2}), None).unwrap();
    let out = s.sink.wait_for(1).await;
    s.worked_off().await;
    assert_eq!(s.sink.outputs().len(), 1, "{out:#?}");
    assert_eq!(out[0]["event"], "status_changed");
    assert!(stop(&mut updated).await.success());

    let s = setup().await;
    s.webhooks(json!({}));
    let mut status = s.start("ticket_status_changed", json!({"source": "webhook", "new_status_id": 5, "ticket_id": 101}));
    s.listening().await;
    s.halo.sim.agent_edit(102, json!({"status_id": 5}), None).unwrap();
    s.halo.sim.agent_edit(101, json!({"status_id": 6}), None).unwrap();
    s.halo.sim.advance_clock(Duration::from_secs(1));
    s.halo.sim.agent_edit(101, json!({"status_id": 5}), None).unwrap();
    let out = s.sink.wait_for(1).await;
    s.worked_off().await;
    assert_eq!(s.sink.outputs().len(), 1, "{out:#?}");
    assert_eq!((out[0]["ticket"]["id"].as_i64(), out[0]["new_status_id"].as_i64()), (Some(101), Some(5)));
    assert!(!s.log().contains("sim-secret"), "the client secret never reaches the log");
    assert!(!s.sink.bodies().iter().any(|e| e.to_string().contains("sim-secret")));
    assert!(stop(&mut status).await.success());
}

#[tokio::test]
async fn event_only_deliveries_for_one_ticket_cost_one_read_per_batch() {
    // HaloITSM's "event only" payload (docs/halo-api.md#W3) names the ticket and nothing else:
    // every delivery asks the trigger to read it.
    let s = setup().await;
    let mut t = s.start("ticket_updated", json!({"source": "webhook"}));
    s.listening().await;
    let http = reqwest::Client::new();
    s.halo.sim.reset_stats();
    const POSTS: usize = 20;
    for p in 0..POSTS {
        let batch: Vec<Value> =
            (0..100).map(|i| json!({"id": format!("d-{p}-{i}"), "event": "ticket updated", "object_id": 103})).collect();
        let r = http.post(s.hook_url()).basic_auth(HOOK_USER, Some(HOOK_PASS)).json(&batch).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    // The inbox is worked in order: once a change announced after them fires, they are done.
    s.halo.sim.agent_edit(102, json!({"summary": "announced last"}), None).unwrap();
    let r = http
        .post(s.hook_url())
        .basic_auth(HOOK_USER, Some(HOOK_PASS))
        .json(&json!({"id": "d-last", "event": "ticket updated", "object_id": 102}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let out = s.sink.wait_for(1).await;
    assert_eq!(out.len(), 1, "{out:#?}\n{}", s.log());
    assert_eq!(out[0]["ticket"]["id"], 102, "ticket 103 did not change");
    let reads = s.halo.sim.stats().by_route.get("GET /api/Tickets/{id}").copied().unwrap_or(0);
    // At most one read (and one re-read) per ticket per batch of stored POSTs, not one per delivery.
    assert!(reads <= 2 * (POSTS as u64 + 1), "{reads} ticket reads for {} deliveries", POSTS * 100);
    assert!(stop(&mut t).await.success());
}
