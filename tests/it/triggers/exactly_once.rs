//! Each transition fires once and in order, whatever the deliveries do (lost, repeated, reordered).

use super::*;

#[tokio::test]
async fn dropped_webhooks_are_caught_by_polling_and_duplicates_fire_once() {
    let s = setup().await;
    s.webhooks(json!({"drop_ratio": 0.3, "duplicate_ratio": 0.3, "delay_ratio": 0.3, "delay_ms": 300, "seed": 7}));
    let mut t = s.start("ticket_updated", json!({"source": "webhook+poll", "interval_seconds": 5}));
    s.listening().await;
    s.started().await;
    let ids: Vec<i64> = s.halo.sim.tickets().iter().filter_map(|t| t["id"].as_i64()).collect();
    for (i, id) in ids.iter().enumerate() {
        s.halo.sim.agent_edit(*id, json!({"summary": format!("edited {i}")}), None).unwrap();
    }
    let out = s.sink.wait_for(ids.len()).await;
    s.more_polls().await;
    let out = {
        let _ = out;
        s.sink.outputs()
    };
    let keys = assert_once(&out);
    let mut got: Vec<i64> = keys.iter().map(|(id, _)| *id).collect();
    got.sort_unstable();
    assert_eq!(got, ids, "every change exactly once\n{}", s.log());
    let stats = s.halo.sim.webhook_stats();
    assert!(stats.dropped > 0 && stats.duplicated > 0, "{stats:?}");
    assert!(out.iter().any(|o| o["source"] == "poll"), "the poller delivered what webhooks dropped");
    assert_valid("ticket_updated", &out);
    assert!(stop(&mut t).await.success());
}

#[tokio::test]
async fn every_transition_arrives_once_in_order_despite_lost_reordered_and_same_second_deliveries() {
    let s = setup().await;
    s.webhooks(json!({"drop_ratio": 0.4, "delay_ratio": 0.5, "delay_ms": 400, "duplicate_ratio": 0.3, "seed": 11}));
    let mut t = s.start("ticket_status_changed", json!({"source": "webhook+poll", "interval_seconds": 5}));
    s.listening().await;
    s.started().await;
    // Two transitions within one second, then two more later.
    s.halo.sim.agent_edit(101, json!({"status_id": 6}), None).unwrap();
    s.halo.sim.agent_edit(101, json!({"status_id": 3}), None).unwrap();
    s.halo.sim.advance_clock(Duration::from_secs(1));
    s.halo.sim.agent_edit(101, json!({"summary": "note only"}), None).unwrap();
    s.halo.sim.agent_edit(101, json!({"status_id": 4}), None).unwrap();
    s.halo.sim.advance_clock(Duration::from_secs(1));
    s.halo.sim.agent_edit(101, json!({"status_id": 5}), None).unwrap();
    s.sink.wait_for(4).await;
    s.more_polls().await;
    let out = s.sink.outputs();
    let transitions: Vec<(i64, i64)> =
        out.iter().map(|o| (o["old_status_id"].as_i64().unwrap(), o["new_status_id"].as_i64().unwrap())).collect();
    assert_eq!(transitions, vec![(2, 6), (6, 3), (3, 4), (4, 5)], "{out:#?}\n{}", s.log());
    let ids: std::collections::HashSet<&str> = out.iter().map(|o| o["event_id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), out.len(), "event IDs are unique");
    assert!(stop(&mut t).await.success());
}

#[tokio::test]
async fn a_status_moved_in_the_second_of_its_creation_fires_from_either_source() {
    for source in ["poll", "webhook"] {
        let s = setup().await;
        s.webhooks(json!({}));
        let mut t = s.start("ticket_status_changed", json!({"source": source, "interval_seconds": 5}));
        if source == "webhook" {
            s.listening().await;
        } else {
            s.started().await;
        }
        // Created and moved 1 -> 2 at once: both stamped with the same whole second.
        let mut ids = Vec::new();
        for i in 0..5 {
            let id = s.create(&format!("moved at once {i}"), 4).await;
            s.halo.sim.agent_edit(id, json!({"status_id": 2}), None).unwrap();
            ids.push(id);
        }
        let out = s.sink.wait_for(5).await;
        let mut got: Vec<(i64, i64, i64)> = out
            .iter()
            .map(|o| (o["ticket"]["id"].as_i64().unwrap(), o["old_status_id"].as_i64().unwrap(), o["new_status_id"].as_i64().unwrap()))
            .collect();
        got.sort_unstable();
        assert_eq!(got, ids.iter().map(|id| (*id, 1, 2)).collect::<Vec<_>>(), "{source}: {out:#?}\n{}", s.log());
        assert!(stop(&mut t).await.success());
    }
}

#[tokio::test]
async fn changes_landing_between_reads_fire_once_with_a_snapshot_no_older_than_the_transition() {
    let s = setup().await;
    s.webhooks(json!({}));
    // HaloITSM answering in 100 ms, the status moving again as soon as the last move reached the
    // trigger: a change lands between the trigger's read of the ticket and of its history.
    s.halo.sim.set_faults(halo_sim::Faults { latency_ms: 100, ..Default::default() });
    let mut t = s.start("ticket_status_changed", json!({"source": "webhook", "ticket_id": 103}));
    s.listening().await;
    let path = [2, 3, 4, 5, 6, 2, 3];
    for (i, st) in path.into_iter().enumerate() {
        s.halo.sim.agent_edit(103, json!({"status_id": st}), None).unwrap();
        eventually("the move to reach the trigger", async || s.halo.sim.webhook_stats().deliveries_sent > i as u64).await;
    }
    let out = s.sink.wait_for(path.len()).await;
    s.worked_off().await;
    let out = {
        let _ = out;
        s.sink.outputs()
    };
    let transitions: Vec<(i64, i64)> =
        out.iter().map(|o| (o["old_status_id"].as_i64().unwrap(), o["new_status_id"].as_i64().unwrap())).collect();
    let mut want = vec![(1, 2)];
    want.extend(path.windows(2).map(|w| (w[0], w[1])));
    assert_eq!(transitions, want, "each transition once, in order: {out:#?}\n{}", s.log());
    let ids: std::collections::HashSet<&str> = out.iter().map(|o| o["event_id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), out.len(), "one identity per transition");
    // The ticket an event carries shows the transition's status or a later one, never an older.
    for (i, o) in out.iter().enumerate() {
        let shown = o["ticket"]["status_id"].as_i64().unwrap();
        let later: Vec<i64> = want[i..].iter().map(|(_, n)| *n).collect();
        assert!(later.contains(&shown), "event {i} ({:?}) carries status {shown}", want[i]);
    }
    assert!(stop(&mut t).await.success());
}
