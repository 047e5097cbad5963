//! Polling on its own: where it starts, the lookback, old closed tickets, changes between polls.

use super::*;

#[tokio::test]
async fn polling_sees_changes_to_tickets_closed_long_ago() {
    // A plain list leaves out tickets closed a while ago (docs/halo-api.md#Q1); here every
    // closed ticket is "a while ago". A note on one is still a change.
    let config = SimConfig { profile: halo_sim::Profile { recently_closed_days: 0, ..Default::default() }, ..SimConfig::default() };
    let s = setup_with(config, json!({})).await;
    let mut t = s.start("ticket_updated", json!({"source": "poll", "interval_seconds": 5}));
    s.started().await;
    s.halo.sim.agent_edit(104, json!({}), Some("Customer asked for the report")).unwrap();
    let out = s.sink.wait_for(1).await;
    assert_eq!(out.len(), 1, "{out:#?}\n{}", s.log());
    assert_eq!((out[0]["ticket"]["id"].as_i64(), out[0]["ticket"]["closed"].as_bool()), (Some(104), Some(true)));
    assert_eq!(out[0]["insightidr_status"], "CLOSED");
    assert!(stop(&mut t).await.success());
}

#[tokio::test]
async fn polling_alone_starts_from_now_and_the_flag_file_stops_it() {
    let s = setup().await;
    // HaloITSM dates have whole seconds: a change in the start's own second counts as after it.
    // Dated a second back, this one is in an earlier second than any start from now on.
    s.halo.sim.rewind_clock(Duration::from_secs(1));
    s.halo.sim.agent_edit(104, json!({"summary": "changed before the trigger started"}), None).unwrap();
    s.halo.sim.advance_clock(Duration::from_secs(1));
    let mut t = s.start("ticket_updated", json!({"source": "poll", "interval_seconds": 5}));
    s.started().await;
    s.halo.sim.agent_edit(105, json!({"summary": "changed after"}), None).unwrap();
    let out = s.sink.wait_for(1).await;
    s.more_polls().await;
    let out = {
        let _ = out;
        s.sink.outputs()
    };
    assert_eq!(out.len(), 1, "{out:#?}\n{}", s.log());
    assert_eq!(out[0]["ticket"]["id"], 105);
    assert_eq!(out[0]["source"], "poll");
    std::fs::write(s.dir.path().join("terminate_trigger.flag"), b"").unwrap();
    let status = eventually("the flag file to stop the trigger", async || t.try_wait().unwrap()).await;
    assert!(status.success());
    assert!(!s.dir.path().join("terminate_trigger.flag").exists(), "the flag is consumed");
    let state: Value = serde_json::from_slice(&std::fs::read(s.dir.path().join("trig-1.json")).unwrap()).unwrap();
    assert!(state["tickets"]["105"].is_object(), "{state}");
}

#[tokio::test]
async fn lookback_reports_recent_changes_on_first_start() {
    let s = setup().await;
    s.halo.sim.agent_edit(104, json!({"status_id": 2}), None).unwrap();
    let mut t = s.start("ticket_status_changed", json!({"source": "poll", "interval_seconds": 5, "lookback_minutes": 10}));
    let out = s.sink.wait_for(1).await;
    assert_eq!(out.len(), 1, "{out:#?}\n{}", s.log());
    assert_eq!(
        (out[0]["old_status_id"].as_i64(), out[0]["new_status_id"].as_i64()),
        (Some(9), Some(2)),
        "the old status from the ticket's history"
    );
    assert!(stop(&mut t).await.success());
}

#[tokio::test]
async fn a_ticket_created_and_changed_between_polls_reports_both() {
    let s = setup().await;
    let mut t = s.start("ticket_status_changed", json!({"source": "poll", "interval_seconds": 5}));
    s.started().await;
    let id = s.create("created and moved before the next poll", 4).await;
    s.halo.sim.advance_clock(Duration::from_secs(1));
    s.halo.sim.agent_edit(id, json!({"status_id": 6}), None).unwrap();
    let out = s.sink.wait_for(1).await;
    s.more_polls().await;
    let out = {
        let _ = out;
        s.sink.outputs()
    };
    assert_eq!(out.len(), 1, "{out:#?}\n{}", s.log());
    assert_eq!(
        (out[0]["ticket"]["id"].as_i64(), out[0]["old_status_id"].as_i64(), out[0]["new_status_id"].as_i64()),
        (Some(id), Some(1), Some(6))
    );
    assert!(stop(&mut t).await.success());
}

/// An idle poll costs one list request: open tickets and those closed lately come in one plain
/// list (docs/halo-api.md#Q1); tickets closed a while ago are swept apart at the first poll and
/// every tenth after it.
#[tokio::test]
async fn an_idle_poll_costs_one_list_request() {
    let s = setup().await;
    let mut t = s.start("ticket_updated", json!({"source": "poll", "interval_seconds": 5}));
    s.started().await;
    // Polls come every 300 ms under test: wait for twelve, however long the machine takes.
    let lists = |kind: &str| s.halo.sim.stats().ticket_lists.get(kind).copied().unwrap_or_default();
    eventually(Lazy(|| format!("twelve polls: {:?}", s.halo.sim.stats())), async || lists("plain") >= 12).await;
    let (plain, closed, open) = (lists("plain"), lists("closed_only"), lists("open_only"));
    assert_eq!(open, 0, "no list of open tickets apart");
    assert!(
        (1..=plain.div_ceil(10) + 1).contains(&closed),
        "closed tickets swept at the first poll and every tenth: {plain} plain, {closed} closed"
    );
    assert!(s.sink.outputs().is_empty(), "nothing changed, nothing reported");
    assert!(stop(&mut t).await.success());
}
