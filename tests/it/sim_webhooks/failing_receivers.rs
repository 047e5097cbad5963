//! Receivers that are down, refuse, or never answer, and turning webhooks off.

use super::*;

#[tokio::test]
async fn a_receiver_that_is_down_or_refuses_counts_failures_and_is_not_retried() {
    let h = sim().await;
    // A port nothing listens on, held so that no other test's server can open there.
    let (_closed, dead) = crate::common::closed_port();
    h.sim.set_webhook(Some(WebhookConfig { url: format!("http://{dead}/hooks/halo"), ..WebhookConfig::default() }));
    let api = Api::new(&h).await;
    let started = Instant::now();
    for i in 0..20 {
        api.post("/Actions", &json!([{"ticket_id": 102, "note": format!("n{i}"), "outcome": "Note"}])).await;
    }
    assert!(started.elapsed() < Duration::from_secs(2), "API slowed down: {:?}", started.elapsed());
    let s = wait_stats(&h, |s| s.failed == 20).await;
    assert_eq!((s.events, s.deliveries_sent), (20, 0));

    // A receiver answering 500 is a failure too, and sees each delivery once.
    let rx = Receiver::start().await;
    rx.answer_with(500);
    h.sim.set_webhook(Some(rx.config()));
    edits(&h, 3);
    rx.wait_for(3).await;
    let s = wait_stats(&h, |s| s.failed == 23).await;
    wait_stats(&h, webhooks_idle).await;
    assert_eq!(rx.posts().len(), 3);
    assert_eq!(s.deliveries_sent, 0);

    // Recovery: the next deliveries are sent.
    rx.answer_with(0);
    edits(&h, 1);
    rx.wait_for(4).await;
    wait_stats(&h, |s| s.deliveries_sent == 1).await;
}

#[tokio::test]
async fn a_receiver_that_never_answers_does_not_slow_the_api() {
    let h = sim().await;
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind(loopback()).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let hold = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            open.push(sock);
        }
    });
    h.sim.set_webhook(Some(WebhookConfig { url: format!("http://{addr}/"), ..WebhookConfig::default() }));
    let api = Api::new(&h).await;
    let started = Instant::now();
    for i in 0..30 {
        api.post("/Actions", &json!([{"ticket_id": 101, "note": format!("n{i}"), "outcome": "Note"}])).await;
    }
    api.send(reqwest::Method::GET, "/Tickets/101", None).await;
    assert!(started.elapsed() < Duration::from_secs(2), "API slowed down: {:?}", started.elapsed());
    assert_eq!(h.sim.webhook_stats().events, 30);
    hold.abort();
}

#[tokio::test]
async fn set_webhook_none_stops_deliveries() {
    let h = sim().await;
    let rx = Receiver::start().await;
    h.sim.set_webhook(Some(rx.config()));
    edits(&h, 1);
    rx.wait_for(1).await;
    h.sim.set_webhook(None);
    assert!(h.sim.webhook().is_none());
    edits(&h, 3);
    wait_stats(&h, webhooks_idle).await;
    assert_eq!(rx.posts().len(), 1);
    assert_eq!(h.sim.webhook_stats().events, 1);

    // And it can be turned on again.
    h.sim.set_webhook(Some(rx.config()));
    edits(&h, 1);
    let d = rx.wait_for(2).await;
    assert_eq!(d[0]["webhook_id"], d[1]["webhook_id"], "the webhook id is fixed per simulator");
}
