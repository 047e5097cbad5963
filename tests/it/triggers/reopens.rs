//! `reopened` on status events (docs/halo-api.md#S8): a change out of a status HaloITSM counts as
//! closed into one it does not, told from the tenant's cached status list, and `reopened_only`.

use super::*;

/// Ticket `id` moved through `statuses`, each in a second of its own (the history's dates have
/// whole seconds).
fn walk(s: &Setup, id: i64, statuses: &[i64]) {
    for status in statuses {
        s.halo.sim.advance_clock(Duration::from_secs(1));
        s.halo.sim.agent_edit(id, json!({"status_id": status}), None).unwrap();
    }
}

/// (old, new, reopened) of each event.
fn moves(out: &[Value]) -> Vec<(i64, i64, bool)> {
    out.iter()
        .map(|o| (o["old_status_id"].as_i64().unwrap(), o["new_status_id"].as_i64().unwrap(), o["reopened"].as_bool().unwrap()))
        .collect()
}

fn status_reads(s: &Setup) -> u64 {
    s.halo.sim.stats().by_route.get("GET /api/Status").copied().unwrap_or(0)
}

#[tokio::test]
async fn polling_tells_a_reopen_from_other_status_changes() {
    let s = setup().await;
    let mut t = s.start("ticket_status_changed", json!({"source": "poll", "interval_seconds": 5}));
    s.started().await;
    let id = s.create("closed, reopened, moved on", 4).await;
    // Closed, reopened, then open to open.
    walk(&s, id, &[9, 2, 3]);
    let out = s.sink.wait_for(3).await;
    s.more_polls().await;
    let out = {
        let _ = out;
        s.sink.outputs()
    };
    assert_valid("ticket_status_changed", &out);
    assert_eq!(moves(&out), vec![(1, 9, false), (9, 2, true), (2, 3, false)], "{out:#?}\n{}", s.log());
    // The tenant's statuses are read once for the connection (both lists of S7), not per event.
    assert!(status_reads(&s) <= 2, "{:?}", s.halo.sim.stats().by_route);
    assert!(stop(&mut t).await.success());
}

#[tokio::test]
async fn reopened_only_lets_only_reopens_through() {
    let s = setup().await;
    let mut t = s.start("ticket_status_changed", json!({"source": "poll", "interval_seconds": 5, "reopened_only": true}));
    s.started().await;
    let id = s.create("closed and reopened", 4).await;
    walk(&s, id, &[9, 2, 3]);
    let out = s.sink.wait_for(1).await;
    s.more_polls().await;
    let out = {
        let _ = out;
        s.sink.outputs()
    };
    assert_eq!(moves(&out), vec![(9, 2, true)], "{out:#?}\n{}", s.log());
    assert!(stop(&mut t).await.success());
}

#[tokio::test]
async fn closed_to_closed_is_no_reopen() {
    // A tenant with two statuses that close tickets: 21 Completed and 22 Cancelled [S6].
    let profile = halo_sim::Profile { statuses: halo_sim::StatusSet::Customised, ..Default::default() };
    let s = setup_with(SimConfig { profile, ..SimConfig::default() }, json!({"closed_status_id": 21})).await;
    let mut t = s.start("ticket_updated", json!({"source": "poll", "interval_seconds": 5, "status_changed": true}));
    s.started().await;
    let id = s.create("completed, then cancelled, then reopened", 4).await;
    walk(&s, id, &[21]);
    s.sink.wait_for(1).await;
    walk(&s, id, &[22]);
    s.sink.wait_for(2).await;
    walk(&s, id, &[2]);
    let out = s.sink.wait_for(3).await;
    assert_valid("ticket_updated", &out);
    assert_eq!(moves(&out), vec![(1, 21, false), (21, 22, false), (22, 2, true)], "{out:#?}\n{}", s.log());
    assert!(stop(&mut t).await.success());
}
