//! A single request keeps a short, bounded wait and says when to retry.

use super::*;

use std::time::Duration;

use icon_haloitsm::halo::{ConnectionConfig, HaloClient, HaloError, RetryPolicy};
use icon_haloitsm::protocol::PluginError;

#[tokio::test]
async fn a_single_request_waits_briefly_then_says_the_limit_was_reached() {
    // One request a minute and no Retry-After: the second request cannot go in time.
    let h = limited(1, 60_000, false, 0).await;
    let policy = RetryPolicy { max_elapsed: Duration::from_secs(2), ..RetryPolicy::default() };
    let client = HaloClient::new(ConnectionConfig::from_value(&h.connection()).unwrap()).unwrap().with_retry_policy(policy);
    client.get_ticket(101, false).await.expect("the window's one request");
    let err = client.get_ticket(101, false).await.expect_err("the window is full");
    // HaloITSM did not say when it takes requests again, so neither does the error.
    assert!(matches!(err, HaloError::RateLimitWait { retry_in: None, .. }), "{err:?}");
    assert!(err.to_string().contains("rate limit") && err.to_string().contains("try again"), "{err}");
    let pe = PluginError::from(&err);
    assert!(pe.assistance.contains("Rate Limit"), "the assistance names the setting that paces requests: {}", pe.assistance);
    let stats = h.sim.stats();
    // The 429, then probes at 0.5 s intervals within the 2 s the request may wait.
    assert!((2..=6).contains(&stats.window_429), "a few probes, no hammering: {stats:?}");
}

#[tokio::test]
async fn a_retry_after_within_the_wait_is_waited_out_by_one_request() {
    let h = limited(1, 1000, true, 0).await;
    let client = HaloClient::new(ConnectionConfig::from_value(&h.connection()).unwrap()).unwrap();
    client.get_ticket(101, false).await.expect("the window's one request");
    client.get_ticket(101, false).await.expect("HaloITSM asked for a second's wait, which the request may take");
    assert_eq!(h.sim.stats().window_429, 1, "the wait HaloITSM asked for was kept: {:?}", h.sim.stats());
}
