//! One budget for every step of a connection in http mode.

use super::*;

use futures::future::join_all;

/// 50 concurrent steps on one connection under 20 requests a second.
async fn fifty_steps(conn: &Value) -> Vec<(u16, Value)> {
    let srv = plugin().await;
    let url = srv.url("");
    join_all((0..50).map(|i| {
        let (url, conn) = (url.clone(), conn.clone());
        async move { run(&url, "get_ticket", &conn, json!({"ticket_id": 101 + (i % 5)})).await }
    }))
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_steps_share_the_learned_budget_and_all_succeed() {
    let h = limited(20, 1000, false, 0).await;
    let answers = fifty_steps(&connection(&h, json!({}))).await;
    for (status, body) in &answers {
        assert_eq!(*status, 200, "{body}");
    }
    let stats = h.sim.stats();
    // The first burst finds the window with up to 50 in flight; after it one request probes at a
    // time, so 429s stay near that burst instead of growing with retries.
    assert!(stats.window_429 <= 45, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_steps_keep_to_a_configured_limit_together() {
    let h = limited(20, 1000, false, 0).await;
    let conn = connection(&h, json!({"rate_limit_requests": 20, "rate_limit_window_seconds": 1}));
    let answers = fifty_steps(&conn).await;
    for (status, body) in &answers {
        assert_eq!(*status, 200, "{body}");
    }
    assert_eq!(h.sim.stats().window_429, 0, "one budget for all 50: {:?}", h.sim.stats());
}
