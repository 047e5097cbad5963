//! `reopened` on the step's status events and its `reopened_only` filter (docs/halo-api.md#S8),
//! the same as the triggers give.

use super::*;

/// Ticket 101 (In Progress) closed, reopened, then moved to another open status, each in a
/// second of its own: three deliveries.
async fn closed_reopened_moved(h: &Harness) -> Vec<Value> {
    for status in [9, 2, 3] {
        h.halo.sim.advance_clock(Duration::from_secs(1));
        h.halo.sim.agent_edit(101, json!({"status_id": status}), None).unwrap();
    }
    h.taken.deliveries(3).await
}

/// (old, new, reopened) of each event.
fn moves(events: &[Value]) -> Vec<(i64, i64, Option<bool>)> {
    events.iter().map(|e| (e["old_status_id"].as_i64().unwrap(), e["new_status_id"].as_i64().unwrap(), e["reopened"].as_bool())).collect()
}

fn status_reads(h: &Harness) -> u64 {
    h.halo.sim.stats().by_route.get("GET /api/Status").copied().unwrap_or(0)
}

#[tokio::test]
async fn a_reopen_is_reported_and_nothing_else_is_one() {
    let h = harness(json!({})).await;
    let deliveries = closed_reopened_moved(&h).await;
    let events = h.events(&deliveries, json!({"trigger": "ticket_status_changed"})).await;
    assert_eq!(moves(&events), vec![(2, 9, Some(false)), (9, 2, Some(true)), (2, 3, Some(false))], "{events:#?}");
    let reads = status_reads(&h);
    // Ticket Updated's status changes carry it too.
    let events = h.events(&deliveries, json!({"trigger": "any"})).await;
    assert_eq!(moves(&events), vec![(2, 9, Some(false)), (9, 2, Some(true)), (2, 3, Some(false))], "{events:#?}");
    assert!(events.iter().all(|e| e["event"] == "status_changed"), "{events:#?}");
    // The tenant's statuses come from the connection's cache: no request per event or step.
    assert_eq!(status_reads(&h), reads, "{:?}", h.halo.sim.stats().by_route);
}

#[tokio::test]
async fn reopened_only_keeps_only_the_reopen() {
    let h = harness(json!({})).await;
    let deliveries = closed_reopened_moved(&h).await;
    for trigger in ["ticket_status_changed", "ticket_updated", "any"] {
        let (status, out) = h.process(json!({"deliveries": deliveries, "trigger": trigger, "reopened_only": true})).await;
        assert_eq!(status, 200, "{out}");
        let events = out["events"].as_array().unwrap();
        assert_eq!(moves(events), vec![(9, 2, Some(true))], "{trigger}: {out:#}");
        let reasons: Vec<&str> = out["skipped"].as_array().unwrap().iter().map(|s| s["reason"].as_str().unwrap()).collect();
        assert_eq!(reasons, ["filtered", "filtered"], "{trigger}: {out:#}");
    }
}

#[tokio::test]
async fn a_note_is_no_status_event_and_carries_no_reopened() {
    let h = harness(json!({})).await;
    h.halo.sim.agent_edit(101, json!({}), Some("Called the user")).unwrap();
    let deliveries = h.taken.deliveries(1).await;
    let events = h.events(&deliveries, json!({"trigger": "ticket_updated"})).await;
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0]["event"], "updated");
    assert!(events[0].get("reopened").is_none(), "{events:#?}");
}
