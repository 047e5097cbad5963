//! Bulk work under a rolling window: it slows down, it does not fail, and it writes each
//! ticket once.

use super::*;

/// 40 findings sent one ticket to a request (`batch_size` 1) need about 43 requests (two
/// lookups, the creates, a duplicate check) against 20 a second: the client must pace itself to
/// the window. (In batches of 50 they need four.)
const FINDINGS: usize = 40;

fn assert_every_finding_has_one_ticket(h: &SimHandle, out: &Value) {
    assert_eq!(out["created"], FINDINGS, "{out}");
    assert_eq!(out["failed"], 0, "{out}");
    let tickets = prowler_tickets(h);
    assert_eq!(tickets.len(), FINDINGS, "exactly one ticket per finding, none written twice");
    let mut ids: Vec<i64> = out["results"].as_array().unwrap().iter().map(|r| r["ticket_id"].as_i64().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), FINDINGS, "each result names its own ticket");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_limit_without_retry_after_is_learned_and_nothing_fails() {
    let h = limited(20, 1000, false, 0).await;
    let srv = plugin().await;
    let input = json!({"findings": findings(FINDINGS), "batch_size": 1});
    let (status, body) = run(&srv.url(""), "send_findings", &connection(&h, json!({})), input).await;
    assert_eq!(status, 200, "{body}");
    assert_every_finding_has_one_ticket(&h, &body["output"]);
    let stats = h.sim.stats();
    // The first second meets the window; then one request probes at a time and the learned
    // pace keeps the rest in the window.
    assert!(stats.window_429 > 0, "the window was met: {stats:?}");
    assert!(stats.window_429 <= 25, "429s stay few once the limit is learned: {stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_limit_is_kept_so_haloitsm_never_answers_429() {
    let h = limited(20, 1000, false, 0).await;
    let srv = plugin().await;
    let conn = connection(&h, json!({"rate_limit_requests": 20, "rate_limit_window_seconds": 1}));
    let (status, body) = run(&srv.url(""), "send_findings", &conn, json!({"findings": findings(FINDINGS), "batch_size": 1})).await;
    assert_eq!(status, 200, "{body}");
    assert_every_finding_has_one_ticket(&h, &body["output"]);
    assert_eq!(h.sim.stats().window_429, 0, "{:?}", h.sim.stats());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_its_deadline_a_batch_fails_saying_when_to_retry_and_writes_nothing() {
    // One request a minute, with Retry-After: the lookup's second page can never come in time.
    let h = limited(1, 60_000, true, 0).await;
    let srv = plugin().await;
    let input = json!({"findings": findings(3), "deadline_seconds": 2});
    let (status, body) = run(&srv.url(""), "send_findings", &connection(&h, json!({})), input).await;
    assert_eq!(status, 500, "an upstream failure, not bad input: {body}");
    let cause = body["error"].as_str().unwrap_or_default();
    assert!(cause.contains("rate limit") && cause.contains("again in about"), "{body}");
    let stats = h.sim.stats();
    assert_eq!(stats.by_route.get("POST /api/Tickets"), None, "nothing was written: {stats:?}");
    assert_eq!(stats.window_429, 1, "a wait longer than the deadline is not tried at all: {stats:?}");
}

#[tokio::test]
async fn the_deadline_input_is_checked() {
    let h = limited(100, 1000, false, 0).await;
    let srv = plugin().await;
    let (status, body) =
        run(&srv.url(""), "send_findings", &connection(&h, json!({})), json!({"findings": findings(1), "deadline_seconds": 0})).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap_or_default().contains("`deadline_seconds` must be between 1 and 86400"), "{body}");
    assert_eq!(h.sim.stats().api_requests, 0, "nothing was sent");
}
