//! Adversity: kills, outages, dead letters, lost inbox and state files, prompt stops.

use super::*;

#[tokio::test]
async fn killed_and_restarted_it_loses_nothing_and_repeats_nothing() {
    let s = setup().await;
    s.webhooks(json!({}));
    let mut t = s.start("ticket_updated", json!({"source": "webhook+poll", "interval_seconds": 5}));
    s.listening().await;
    s.started().await;
    let ids: Vec<i64> = s.halo.sim.tickets().iter().filter_map(|t| t["id"].as_i64()).collect();
    for id in &ids[..4] {
        s.halo.sim.agent_edit(*id, json!({"summary": "before the kill"}), None).unwrap();
    }
    s.sink.accept_only(2).await;
    t.kill().unwrap(); // SIGKILL: no chance to save anything
    t.wait().unwrap();
    s.sink.accept_all();
    for id in &ids[4..] {
        s.halo.sim.agent_edit(*id, json!({"summary": "while it was down"}), None).unwrap();
    }
    let mut t = s.start("ticket_updated", json!({"source": "webhook+poll", "interval_seconds": 5}));
    s.listening().await;
    let out = s.sink.wait_for(ids.len()).await;
    s.more_polls().await;
    let out = {
        let _ = out;
        s.sink.outputs()
    };
    let keys = assert_once(&out);
    let mut got: Vec<i64> = keys.iter().map(|(id, _)| *id).collect();
    got.sort_unstable();
    assert_eq!(got, ids, "{out:#?}\n{}", s.log());
    assert!(stop(&mut t).await.success());
}

#[tokio::test]
async fn a_dispatcher_outage_is_ridden_out() {
    let s = setup().await;
    s.webhooks(json!({}));
    s.sink.answer_with(503);
    let mut t = s.start("ticket_created", json!({"source": "webhook"}));
    s.listening().await;
    let a = s.create("first", 4).await;
    let b = s.create("second", 4).await;
    // The trigger meets the outage, and keeps trying.
    eventually(Lazy(|| format!("the outage to be met:\n{}", s.log())), async || s.log().contains("did not accept the event")).await;
    assert!(s.sink.outputs().is_empty());
    s.sink.answer_with(0);
    let out = s.sink.wait_for(2).await;
    s.worked_off().await;
    let mut ids: Vec<i64> = s.sink.outputs().iter().map(|o| o["ticket"]["id"].as_i64().unwrap()).collect();
    ids.sort_unstable();
    assert_eq!(ids, vec![a, b], "each once\n{out:#?}\n{}", s.log());
    assert!(s.log().contains("did not accept the event"), "the outage is logged");
    assert!(stop(&mut t).await.success());
}

#[tokio::test]
async fn a_flaky_halo_delays_events_but_loses_none() {
    let s = setup().await;
    s.webhooks(json!({}));
    let mut t = s.start("ticket_updated", json!({"source": "webhook+poll", "interval_seconds": 5}));
    s.listening().await;
    s.started().await;
    s.halo.sim.set_faults(halo_sim::Faults { server_error_every: 3, rate_limit_every: 5, retry_after_secs: Some(0), ..Default::default() });
    let ids: Vec<i64> = s.halo.sim.tickets().iter().filter_map(|t| t["id"].as_i64()).collect();
    for id in &ids {
        s.halo.sim.agent_edit(*id, json!({"summary": "edited while HaloITSM is flaky"}), None).unwrap();
    }
    s.sink.wait_for(ids.len()).await;
    s.more_polls().await;
    let out = s.sink.outputs();
    let keys = assert_once(&out);
    let mut got: Vec<i64> = keys.iter().map(|(id, _)| *id).collect();
    got.sort_unstable();
    assert_eq!(got, ids, "{}", s.log());
    assert!(out.iter().all(|o| o["previous_status_id"].is_i64()), "the history was read despite the failures");
    assert!(s.halo.sim.stats().injected_500 > 0);
    assert!(stop(&mut t).await.success());
}

#[tokio::test]
async fn deliveries_accepted_during_an_outage_survive_a_kill() {
    let s = setup().await;
    s.webhooks(json!({}));
    s.sink.answer_with(503);
    let mut t = s.start("ticket_created", json!({"source": "webhook"}));
    s.listening().await;
    let a = s.create("accepted while the dispatcher is down", 4).await;
    let b = s.create("also accepted", 4).await;
    eventually("both deliveries accepted", async || s.halo.sim.webhook_stats().deliveries_sent >= 2).await;
    t.kill().unwrap();
    t.wait().unwrap();
    // Restarted while the dispatcher is still down: the listener must come up anyway.
    let mut t = s.start("ticket_created", json!({"source": "webhook"}));
    s.listening().await;
    let c = s.create("accepted after the restart", 4).await;
    eventually("its delivery accepted", async || s.halo.sim.webhook_stats().deliveries_sent >= 3).await;
    s.sink.answer_with(0);
    s.sink.wait_for(3).await;
    s.worked_off().await;
    let mut ids: Vec<i64> = s.sink.outputs().iter().map(|o| o["ticket"]["id"].as_i64().unwrap()).collect();
    ids.sort_unstable();
    assert_eq!(ids, vec![a, b, c], "{}", s.log());
    assert!(stop(&mut t).await.success());
}

#[tokio::test]
async fn webhook_only_catches_up_on_changes_made_while_stopped() {
    let s = setup().await;
    s.webhooks(json!({}));
    let mut t = s.start("ticket_updated", json!({"source": "webhook"}));
    s.listening().await;
    s.halo.sim.agent_edit(103, json!({"summary": "while running"}), None).unwrap();
    s.sink.wait_for(1).await;
    assert!(stop(&mut t).await.success());
    s.halo.sim.agent_edit(104, json!({"summary": "while stopped"}), None).unwrap();
    let mut t = s.start("ticket_updated", json!({"source": "webhook"}));
    let out = s.sink.wait_for(2).await;
    assert_eq!(out.iter().map(|o| o["ticket"]["id"].as_i64().unwrap()).collect::<Vec<_>>(), vec![103, 104], "{}", s.log());
    assert!(stop(&mut t).await.success());
}

#[tokio::test]
async fn a_delivery_for_a_missing_ticket_is_skipped_and_later_changes_flow() {
    let s = setup().await;
    let mut t = s.start("ticket_updated", json!({"source": "webhook"}));
    s.listening().await;
    let http = reqwest::Client::new();
    let bogus = json!({"id": "gone-1", "event": "ticket updated", "object_id": 999_999});
    let r = http.post(s.hook_url()).basic_auth(HOOK_USER, Some(HOOK_PASS)).json(&bogus).send().await.unwrap();
    assert_eq!(r.status(), 200);
    s.webhooks(json!({}));
    s.halo.sim.agent_edit(105, json!({"summary": "real change"}), None).unwrap();
    let out = s.sink.wait_for(1).await;
    assert_eq!(out.len(), 1, "{}", s.log());
    assert_eq!(out[0]["ticket"]["id"], 105);
    let big: Vec<Value> = (0..1001).map(|i| json!({"object_id": i + 1})).collect();
    let r = http.post(s.hook_url()).basic_auth(HOOK_USER, Some(HOOK_PASS)).json(&big).send().await.unwrap();
    assert_eq!(r.status(), 400, "batches are capped");
    assert!(stop(&mut t).await.success());
}

#[tokio::test]
async fn an_event_the_dispatcher_refuses_for_good_is_set_aside_and_replayed_on_request() {
    let s = setup().await;
    s.webhooks(json!({}));
    let mut t = s.start("ticket_created", json!({"source": "webhook"}));
    s.listening().await;
    let refused = s.create("refused by the dispatcher", 4).await;
    s.sink.refuse_ticket(Some(refused));
    let later = [s.create("after it 1", 4).await, s.create("after it 2", 4).await, s.create("after it 3", 4).await];
    let out = s.sink.wait_for(3).await;
    let got: Vec<i64> = out.iter().map(|o| o["ticket"]["id"].as_i64().unwrap()).collect();
    assert_eq!(got, later, "the trigger goes on past the refused event:\n{}", s.log());
    let log = s.log();
    let line = log.lines().find(|l| l.contains("refused event")).unwrap_or_else(|| panic!("the refusal is logged:\n{log}"));
    assert!(line.contains("HTTP 413") && line.contains("trig-1:"), "{line}");
    let dead = s.dir.path().join("trig-1.dead.jsonl");
    assert!(dead.exists());
    assert!(stop(&mut t).await.success());

    // Started again without replay: it says what is set aside, and sends nothing of it.
    s.sink.refuse_ticket(None);
    let mut t = s.start("ticket_created", json!({"source": "webhook"}));
    s.listening().await;
    s.started().await;
    s.worked_off().await;
    assert!(s.log().contains("1 event(s) the dispatcher refused are set aside"), "{}", s.log());
    assert_eq!(s.sink.outputs().len(), 3);
    assert!(stop(&mut t).await.success());

    // With replay: the event arrives, under the event ID it was refused with, and leaves the list.
    let mut t = s.start("ticket_created", json!({"source": "webhook", "replay_dead_letters": true}));
    let out = s.sink.wait_for(4).await;
    // The replay is over (the sink has the event a moment before the trigger knows it took it).
    s.started().await;
    assert_eq!(out.len(), 4, "{}", s.log());
    assert_eq!(out[3]["ticket"]["id"], refused);
    let event_id = out[3]["event_id"].as_str().unwrap();
    assert!(line.contains(event_id), "replayed as {event_id}, refused as: {line}");
    assert!(!dead.exists(), "no dead letter left");
    assert!(stop(&mut t).await.success());
}

#[tokio::test]
async fn a_lost_or_truncated_inbox_is_detected_logged_and_deliveries_still_flow() {
    for damage in ["truncated", "deleted"] {
        let s = setup().await;
        s.webhooks(json!({}));
        let mut t = s.start("ticket_created", json!({"source": "webhook"}));
        s.listening().await;
        let first = s.create("before the damage", 4).await;
        assert_eq!(s.sink.wait_for(1).await.len(), 1, "{}", s.log());
        assert!(stop(&mut t).await.success());
        let inbox = s.dir.path().join("trig-1.inbox");
        match damage {
            "truncated" => std::fs::OpenOptions::new().write(true).open(&inbox).unwrap().set_len(3).unwrap(),
            _ => std::fs::remove_file(&inbox).unwrap(),
        }
        let mut t = s.start("ticket_created", json!({"source": "webhook"}));
        s.listening().await;
        let second = s.create("after the damage", 4).await;
        let out = s.sink.wait_for(2).await;
        let got: Vec<i64> = out.iter().map(|o| o["ticket"]["id"].as_i64().unwrap()).collect();
        assert_eq!(got, [first, second], "{damage}: a delivery after the damage is processed, none repeats:\n{}", s.log());
        // The first poll may send the event before the inbox is read and its damage noticed.
        let noticed = async || s.log().contains("the file was truncated, replaced or lost");
        eventually(Lazy(|| format!("{damage}: it is logged:\n{}", s.log())), noticed).await;
        assert!(stop(&mut t).await.success());
    }
}

#[tokio::test]
async fn a_lost_state_file_and_unreadable_journal_lines_are_logged_loudly() {
    let s = setup().await;
    let mut t = s.start("ticket_updated", json!({"source": "poll", "interval_seconds": 5}));
    s.started().await;
    assert!(stop(&mut t).await.success());
    std::fs::remove_file(s.dir.path().join("trig-1.json")).unwrap();
    std::fs::write(s.dir.path().join("trig-1.journal"), "not a journal line\n{\"k\":\"d\",\"v\":\"delivery-1\"}\n").unwrap();
    let mut t = s.start("ticket_updated", json!({"source": "poll", "interval_seconds": 5}));
    s.started().await;
    let log = s.log();
    let warned = |needle: &str| log.lines().any(|l| l.contains("WARN") && l.contains(needle));
    assert!(warned("No state for this trigger"), "{log}");
    assert!(warned("1 unreadable line(s)"), "{log}");
    assert!(stop(&mut t).await.success());
}

#[tokio::test]
async fn a_stop_is_not_held_up_by_a_halo_that_does_not_answer() {
    let s = setup().await;
    let mut t = s.start("ticket_updated", json!({"source": "poll", "interval_seconds": 5}));
    s.started().await;
    // Every HaloITSM request from now on hangs; the next poll is one of them.
    s.halo.sim.set_faults(halo_sim::Faults { hold: true, ..Default::default() });
    let before = s.halo.sim.stats().api_requests;
    eventually(Lazy(|| format!("a poll:\n{}", s.log())), async || s.halo.sim.stats().api_requests > before).await;
    let status = stop(&mut t).await;
    assert!(status.success(), "{}", s.log());
    assert!(s.log().contains("Trigger stopped"), "it saved its state and said so:\n{}", s.log());
}
