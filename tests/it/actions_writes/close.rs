//! close_ticket: status and resolution in one action, which closed status, and closes that fail.

use super::*;

#[tokio::test]
async fn close_records_status_and_resolution_in_one_action_and_leaves_the_details() {
    let h = Halo::start().await;
    h.ticket_before_after(42, raw_ticket(42, 2), raw_ticket(42, 9)).await;
    // HaloITSM's built-in Closed is 9 (docs/halo-api.md#S4).
    h.post_one(
        "/api/Actions",
        json!({"ticket_id": 42, "outcome": "Closed", "note": "False positive - corporate VPN", "new_status": 9, "hiddenfromuser": false}),
        ok_json(json!({"id": 9001, "ticket_id": 42, "new_status": 9})),
        1,
    )
    .await;
    api("POST", "/api/Tickets").respond_with(ok_json(json!({"id": 42}))).expect(0).mount(&h.server).await;
    let out = h.ok("close_ticket", json!({"ticket_id": 42, "resolution": "  False positive - corporate VPN  "})).await;
    assert_eq!(out["success"], true);
    let t = &out["ticket"];
    assert_eq!((t["status_id"].as_i64(), t["status_name"].as_str(), t["closed"].as_bool()), (Some(9), Some("Closed"), Some(true)), "{t}");
    assert_eq!(t["details"], "Login from 203.0.113.9 (new country)");
    assert_eq!(t["dateclosed"], "2026-09-02T17:00:00Z");
    assert_eq!(h.api_requests().await, [TICKET_GET, "POST /api/Actions", TICKET_GET], "check, one action, re-read");
    h.verify().await;
}

#[tokio::test]
async fn close_honours_closed_status_id_and_notes_a_default_resolution() {
    let h = Halo::start().await;
    h.ticket_before_after(42, raw_ticket(42, 2), raw_ticket(42, 4)).await;
    h.post_one(
        "/api/Actions",
        json!({"ticket_id": 42, "outcome": "Closed", "note": "Closed from InsightConnect", "new_status": 4, "hiddenfromuser": false}),
        ok_json(json!({"id": 9002})),
        1,
    )
    .await;
    let out = h.ok("close_ticket", json!({"ticket_id": 42, "closed_status_id": 4})).await;
    assert_eq!((out["success"].as_bool(), out["ticket"]["status_id"].as_i64()), (Some(true), Some(4)), "{out}");
    h.verify().await;
}

#[tokio::test]
async fn close_uses_the_connections_closed_status() {
    let h = Halo::with_connection(json!({"closed_status_id": 21})).await;
    h.ticket_before_after(42, raw_ticket(42, 2), json!({"id": 42, "status_id": 21, "status_name": "Completed", "hasbeenclosed": true}))
        .await;
    h.post_one(
        "/api/Actions",
        json!({"ticket_id": 42, "outcome": "Closed", "note": "Closed from InsightConnect", "new_status": 21, "hiddenfromuser": false}),
        ok_json(json!({"id": 9003})),
        1,
    )
    .await;
    let out = h.ok("close_ticket", json!({"ticket_id": 42})).await;
    assert_eq!((out["ticket"]["status_id"].as_i64(), out["ticket"]["closed"].as_bool()), (Some(21), Some(true)), "{out}");
    h.verify().await;
}

#[tokio::test]
async fn a_close_that_does_not_close_fails_naming_the_status_and_the_setting() {
    // Statuses are the tenant's: on a stock tenant 5 is not a closed status.
    for (conn, input, setting) in [
        (json!({"closed_status_id": 5}), json!({"ticket_id": 42}), "connection's Closed Status ID"),
        (json!({}), json!({"ticket_id": 42, "closed_status_id": 5}), "step's `closed_status_id`"),
    ] {
        let h = Halo::with_connection(conn).await;
        h.ticket_before_after(
            42,
            raw_ticket(42, 2),
            json!({"id": 42, "status_id": 5, "status_name": "Waiting on Client", "hasbeenclosed": false}),
        )
        .await;
        h.post_one(
            "/api/Actions",
            json!({"ticket_id": 42, "outcome": "Closed", "note": "Closed from InsightConnect", "new_status": 5, "hiddenfromuser": false}),
            ok_json(json!({"id": 9004})),
            1,
        )
        .await;
        let body = h.err("close_ticket", input.clone(), 400).await;
        let text = format!("{} {}", body["exception"]["cause"], body["exception"]["assistance"]);
        assert!(text.contains("did not close ticket 42") && text.contains("status 5") && text.contains(setting), "{input}: {body}");
        assert!(text.contains("built-in Closed is 9"), "{body}");
        h.verify().await;
    }
}

#[tokio::test]
async fn closing_a_ticket_already_in_that_status_writes_nothing() {
    let h = Halo::start().await;
    h.ticket(42, raw_ticket(42, 5), 1).await;
    api("POST", "/api/Actions").respond_with(ok_json(json!({"id": 1}))).expect(0).mount(&h.server).await;
    let out = h.ok("close_ticket", json!({"ticket_id": 42, "resolution": "again"})).await;
    assert_eq!((out["success"].as_bool(), out["ticket"]["status_id"].as_i64()), (Some(true), Some(5)), "{out}");
    assert_eq!(h.api_requests().await, [TICKET_GET]);
    h.verify().await;
}

/// The issue and the action's description: "closing a closed ticket changes nothing" and
/// "Closing an already-closed ticket succeeds without a duplicate note". Only "already in
/// `closed_status_id`" is recognised: a ticket HaloITSM already counts as closed
/// (`hasbeenclosed`) in another closed status, e.g. Resolved, gets a second "Closed" action
/// with a note and a status change.
#[tokio::test]
async fn closing_a_ticket_closed_in_another_closed_status_writes_nothing() {
    let h = Halo::start().await;
    h.ticket(42, raw_ticket(42, 4), 1).await;
    api("POST", "/api/Actions").respond_with(ok_json(json!({"id": 1}))).expect(0).named("POST /api/Actions").mount(&h.server).await;
    let out = h.ok("close_ticket", json!({"ticket_id": 42, "resolution": "Closed by the workflow"})).await;
    assert_eq!((out["success"].as_bool(), out["ticket"]["closed"].as_bool()), (Some(true), Some(true)), "{out}");
    assert_eq!(h.api_requests().await, [TICKET_GET], "nothing is written to a closed ticket");
    h.verify().await;
}

#[tokio::test]
async fn closing_an_unknown_ticket_is_a_400_and_writes_nothing() {
    let h = Halo::start().await;
    h.no_ticket(4242).await;
    let body = h.err("close_ticket", json!({"ticket_id": 4242, "resolution": "done"}), 400).await;
    assert!(body["error"].as_str().unwrap().contains("Ticket 4242 does not exist"), "{body}");
    assert_eq!(h.api_requests().await, ["GET /api/Tickets/4242?includedetails=true", PROBE]);
    h.verify().await;
}
