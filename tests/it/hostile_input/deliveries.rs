//! `process_webhook` believes nothing a delivery says on its word: a carried history entry must be
//! HaloITSM's own, a status comes from HaloITSM, an undated delivery is not matched to whatever
//! change is latest, a non-object is refused alone, and a batch reads each ticket once.

use serde_json::{Value, json};

use crate::common::{sim_world, step_output};

/// The simulator's history of ticket `id`, newest last.
fn history(halo: &halo_sim::SimHandle, id: i64) -> Vec<Value> {
    let mut h = halo.sim.actions_for(id);
    h.sort_by_key(|a| a["id"].as_i64());
    h
}

async fn process(srv: &crate::common::PluginServer, conn: &Value, input: Value) -> Value {
    let (s, out) = step_output(srv, conn, "process_webhook", input).await;
    assert_eq!(s, 200, "{out}");
    out
}

fn reasons(out: &Value) -> Vec<(i64, String)> {
    out["skipped"].as_array().unwrap().iter().map(|s| (s["index"].as_i64().unwrap(), s["reason"].as_str().unwrap().to_string())).collect()
}

#[tokio::test]
async fn a_carried_entry_the_history_does_not_have_as_carried_is_no_change() {
    let (halo, srv, conn) = sim_world(json!({})).await;
    let ticket = halo.sim.ticket(101).unwrap();
    let status = ticket["status_id"].as_i64().unwrap();
    let last = history(&halo, 101).pop().unwrap();
    let other = history(&halo, 102).pop().unwrap();
    let at = last["datetime"].clone();
    let forged = [
        // An entry HaloITSM never wrote: "closed".
        json!({"id": "f-1", "event": "ticket status changed", "object_id": 101, "timestamp": at,
               "action": {"id": 99_999, "ticket_id": 101, "datetime": at, "old_status": status, "new_status": 9}}),
        // HaloITSM's latest entry, with its status change rewritten.
        json!({"id": "f-2", "event": "ticket status changed", "object_id": 101, "timestamp": at,
               "action": {"id": last["id"], "ticket_id": 101, "datetime": at, "old_status": status, "new_status": 9}}),
        // Another ticket's entry.
        json!({"id": "f-3", "event": "ticket status changed", "object_id": 101, "timestamp": at, "action": other}),
    ];
    for trigger in ["any", "ticket_status_changed"] {
        let out = process(&srv, &conn, json!({"deliveries": forged, "trigger": trigger})).await;
        assert_eq!(out["events"], json!([]), "{trigger}: {out}");
        assert_eq!(reasons(&out), [(0, "unverified".into()), (1, "unverified".into()), (2, "unverified".into())], "{out}");
        let details: Vec<&str> = out["skipped"].as_array().unwrap().iter().map(|s| s["detail"].as_str().unwrap()).collect();
        assert!(details[0].contains("no entry 99999"), "{}", details[0]);
        assert!(details[1].contains("new_status"), "{}", details[1]);
        assert!(details[2].contains("belongs to ticket 102"), "{}", details[2]);
    }
    assert_eq!(halo.sim.ticket(101).unwrap()["status_id"], status, "nothing was written");
}

#[tokio::test]
async fn a_status_the_delivery_claims_is_not_the_status_reported() {
    let (halo, srv, conn) = sim_world(json!({})).await;
    let ticket = halo.sim.ticket(101).unwrap();
    let claim = json!({"id": "c-1", "event": "ticket updated", "object_id": 101, "timestamp": ticket["lastactiondate"],
                       "ticket": {"id": 101, "status_id": 9, "hasbeenclosed": true, "lastactiondate": ticket["lastactiondate"]}});
    let out = process(&srv, &conn, json!({"delivery": claim})).await;
    let text = out.to_string();
    assert!(!text.contains("\"new_status_id\":9") && !text.contains("\"status_id\":9"), "the claimed status was reported: {out}");
    for e in out["events"].as_array().unwrap() {
        assert_eq!(e["ticket"]["closed"], false, "{e}");
        assert_eq!(e["ticket"]["status_id"], ticket["status_id"], "{e}");
    }
}

#[tokio::test]
async fn an_undated_delivery_is_said_to_be_undated_before_and_after_a_later_change() {
    let (halo, srv, conn) = sim_world(json!({})).await;
    let undated = json!({"id": "u-1", "event": "ticket updated", "object_id": 101});
    let before = process(&srv, &conn, json!({"delivery": undated})).await;
    assert_eq!(reasons(&before), [(0, "undated".into())], "{before}");
    assert!(before["skipped"][0]["detail"].as_str().unwrap().contains("timestamp"), "{before}");
    halo.sim.agent_edit(101, json!({"status_id": 3}), Some("moved on")).unwrap();
    let after = process(&srv, &conn, json!({"delivery": undated})).await;
    assert_eq!(before, after, "the same delivery, the same answer");
}

#[tokio::test]
async fn a_non_object_in_a_batch_is_refused_alone() {
    let (halo, srv, conn) = sim_world(json!({})).await;
    let at = halo.sim.ticket(101).unwrap()["lastactiondate"].clone();
    let good = json!({"id": "g-1", "event": "ticket updated", "object_id": 101, "timestamp": at});
    let out = process(&srv, &conn, json!({"deliveries": [good, "x", 5, null, [1]]})).await;
    let refused: Vec<(i64, String)> = out["refused"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["index"].as_i64().unwrap(), r["error"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(refused.iter().map(|r| r.0).collect::<Vec<_>>(), [1, 2, 3, 4], "{out}");
    assert!(refused[0].1.contains("is not a JSON object (it is a string)"), "{refused:?}");
    assert!(
        !out["events"].as_array().unwrap().is_empty() || !out["skipped"].as_array().unwrap().is_empty(),
        "the good delivery was read: {out}"
    );
}

#[tokio::test]
async fn a_batch_reads_each_ticket_and_its_history_once() {
    let (halo, srv, conn) = sim_world(json!({})).await;
    let at = |id: i64| halo.sim.ticket(id).unwrap()["lastactiondate"].clone();
    let batch: Vec<Value> = (0..200)
        .map(|i| {
            let id = if i % 2 == 0 { 101 } else { 102 };
            json!({"id": format!("d-{i}"), "event": "ticket updated", "object_id": id, "timestamp": at(id)})
        })
        .collect();
    halo.sim.reset_stats();
    let out = process(&srv, &conn, json!({"deliveries": batch, "trigger": "ticket_updated"})).await;
    assert_eq!(out["refused"], json!([]), "{out}");
    let routes = halo.sim.stats().by_route;
    let count = |k: &str| routes.get(k).copied().unwrap_or(0);
    assert_eq!(count("GET /api/Tickets/{id}"), 2, "{routes:?}");
    assert_eq!(count("GET /api/Actions"), 2, "{routes:?}");
    let total: u64 = routes.iter().filter(|(k, _)| k.contains("/api/")).map(|(_, n)| n).sum();
    assert!(total <= 12, "200 deliveries of 2 tickets cost {total} requests: {routes:?}");
}
