//! Webhook faults: drops, duplicates, delays, and order kept per ticket.

use super::*;

#[tokio::test]
async fn drop_ratio_one_sends_nothing() {
    let h = sim().await;
    let rx = Receiver::start().await;
    h.sim.set_webhook(Some(WebhookConfig { drop_ratio: 1.0, ..rx.config() }));
    edits(&h, 5);
    let s = wait_stats(&h, |s| s.dropped == 5).await;
    wait_stats(&h, webhooks_idle).await;
    assert!(rx.posts().is_empty());
    assert_eq!((s.events, s.deliveries_sent, s.failed), (5, 0, 0));
}

#[tokio::test]
async fn seeded_drop_ratio_drops_about_that_share_repeatably() {
    async fn run(seed: u64) -> (u64, Vec<String>) {
        let h = sim().await;
        let rx = Receiver::start().await;
        h.sim.set_webhook(Some(WebhookConfig { drop_ratio: 0.3, seed: Some(seed), ..rx.config() }));
        edits(&h, 200);
        let s = wait_stats(&h, |s| s.dropped + s.deliveries_sent == 200).await;
        assert_eq!((s.events, s.failed), (200, 0));
        let d = rx.wait_for((200 - s.dropped) as usize).await;
        assert_eq!(d.len() as u64, 200 - s.dropped);
        let ids: HashSet<&str> = d.iter().filter_map(|p| p["id"].as_str()).collect();
        assert_eq!(ids.len(), d.len(), "delivery ids are unique");
        // Which changes got through, by their note.
        let mut notes: Vec<String> = d.iter().map(|p| p["action"]["note"].as_str().unwrap_or("").to_string()).collect();
        notes.sort();
        (s.dropped, notes)
    }
    let (dropped, notes) = run(7).await;
    assert!((35..=85).contains(&dropped), "dropped {dropped} of 200 at 0.3");
    // The same seed drops the same changes.
    assert_eq!(run(7).await, (dropped, notes));
}

#[tokio::test]
async fn duplicate_ratio_one_sends_every_delivery_twice_with_the_same_id() {
    let h = sim().await;
    let rx = Receiver::start().await;
    h.sim.set_webhook(Some(WebhookConfig { duplicate_ratio: 1.0, ..rx.config() }));
    edits(&h, 5);
    let d = rx.wait_for(10).await;
    let mut by_id: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for p in d {
        by_id.entry(p["id"].as_str().unwrap_or("").to_string()).or_default().push(p);
    }
    assert_eq!(by_id.len(), 5);
    assert!(by_id.values().all(|copies| copies.len() == 2 && copies[0] == copies[1]), "{by_id:#?}");
    let s = wait_stats(&h, |s| s.deliveries_sent == 10).await;
    assert_eq!((s.events, s.duplicated), (5, 5));
}

#[tokio::test]
async fn delay_reorders_but_delivers_everything() {
    let h = sim().await;
    let rx = Receiver::start().await;
    h.sim.set_webhook(Some(WebhookConfig { delay_ratio: 0.5, delay_ms: 300, seed: Some(3), ..rx.config() }));
    edits(&h, 40);
    let d = rx.wait_for(40).await;
    let s = wait_stats(&h, |s| s.deliveries_sent == 40).await;
    assert!((8..=32).contains(&s.delayed), "{s:?}");
    let order: Vec<i64> = d.iter().filter_map(|p| p["action"]["id"].as_i64()).collect();
    let mut sorted = order.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), 40, "every change delivered once");
    assert_ne!(order, sorted, "some deliveries were reordered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_changes_keep_their_order_per_ticket() {
    let h = sim().await;
    let rx = Receiver::start().await;
    h.sim.set_webhook(Some(rx.config()));
    let api = Api::new(&h).await;
    let mut tasks = Vec::new();
    for ticket in [101, 102, 103, 104] {
        for worker in 0..2 {
            let api = api.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..15 {
                    api.post("/Actions", &json!([{"ticket_id": ticket, "note": format!("w{worker} n{i}"), "outcome": "Note"}])).await;
                }
            }));
        }
    }
    for t in tasks {
        t.await.expect("writer");
    }
    let d = rx.wait_for(120).await;
    for ticket in [101, 102, 103, 104] {
        let ids: Vec<i64> = d.iter().filter(|p| p["object_id"] == json!(ticket)).filter_map(|p| p["action"]["id"].as_i64()).collect();
        assert_eq!(ids.len(), 30);
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "ticket {ticket} out of order: {ids:?}");
    }
}
