//! update_ticket: the fields sent, unknown tickets, and an update HaloITSM turned into a create.

use super::*;

#[tokio::test]
async fn update_sends_the_id_and_only_the_given_fields() {
    let h = Halo::start().await;
    h.ticket(42, raw_ticket(42, 2), 1).await;
    let mut saved = raw_ticket(42, 2);
    saved["priority_id"] = json!(1);
    saved["priority_name"] = json!("High");
    h.post_one("/api/Tickets", json!({"id": 42, "priority_id": 1}), ok_json(saved), 1).await;
    // Blank optional inputs (as the InsightConnect UI sends unset variables) are not fields to change.
    let out = h.ok("update_ticket", json!({"ticket_id": 42, "priority_id": 1, "summary": "", "details": null})).await;
    assert_eq!(out["success"], true);
    let t = &out["ticket"];
    assert_eq!((t["id"].as_i64(), t["priority_id"].as_i64(), t["priority_name"].as_str()), (Some(42), Some(1), Some("High")), "{t}");
    assert_eq!(t["summary"], "Suspicious login detected for jsmith");
    assert_eq!(h.api_requests().await, [TICKET_GET, "POST /api/Tickets"], "the existence check comes before the write");
    h.verify().await;
}

#[tokio::test]
async fn update_with_text_status_and_custom_fields() {
    let h = Halo::start().await;
    h.ticket(42, raw_ticket(42, 1), 1).await;
    let mut saved = raw_ticket(42, 2);
    saved["summary"] = json!("New summary");
    saved["details"] = json!("New details");
    h.post_one(
        "/api/Tickets",
        json!({"id": 42, "summary": "New summary", "details": "New details", "status_id": 2, "customfields": [{"id": 101, "value": "x"}]}),
        ok_json(saved),
        1,
    )
    .await;
    let out = h
        .ok(
            "update_ticket",
            json!({"ticket_id": 42, "summary": "New summary", "details": "New details", "status_id": 2, "customfields": [{"id": 101, "value": "x"}]}),
        )
        .await;
    assert_eq!((out["ticket"]["summary"].as_str(), out["ticket"]["status_id"].as_i64()), (Some("New summary"), Some(2)), "{out}");
    h.verify().await;
}

#[tokio::test]
async fn update_of_an_unknown_ticket_is_a_400_naming_it_and_writes_nothing() {
    let h = Halo::start().await;
    h.no_ticket(4242).await;
    api("POST", "/api/Tickets").respond_with(ok_json(json!({"id": 4242}))).expect(0).mount(&h.server).await;
    let body = h.err("update_ticket", json!({"ticket_id": 4242, "summary": "x"}), 400).await;
    assert!(body["error"].as_str().unwrap().contains("Ticket 4242 does not exist"), "{body}");
    assert_eq!(h.api_requests().await, ["GET /api/Tickets/4242?includedetails=true", PROBE]);
    h.verify().await;
}

#[tokio::test]
async fn update_without_fields_writes_nothing_and_returns_the_ticket() {
    let h = Halo::start().await;
    h.ticket(42, raw_ticket(42, 2), 1).await;
    api("POST", "/api/Tickets").respond_with(ok_json(json!({"id": 42}))).expect(0).mount(&h.server).await;
    let out = h.ok("update_ticket", json!({"ticket_id": 42, "summary": "", "customfields": []})).await;
    assert_eq!(
        out,
        json!({"ticket": {"id": 42, "summary": "Suspicious login detected for jsmith", "details": "Login from 203.0.113.9 (new country)",
                          "tickettype_id": 4, "tickettype_name": "Security Incident", "status_id": 2, "status_name": "In Progress",
                          "priority_id": 3, "priority_name": "Medium", "client_id": 1, "client_name": "Acme Corp",
                          "dateoccurred": "2026-09-01T08:00:00Z", "datecreated": "2026-09-01T08:00:00Z", "closed": false,
                          "url": h.url_of(42)},
               "success": true})
    );
    assert_eq!(h.api_requests().await, [TICKET_GET]);
    h.verify().await;
}

#[tokio::test]
async fn update_with_agent_zero_unassigns() {
    let h = Halo::start().await;
    let mut current = raw_ticket(42, 2);
    current["agent_id"] = json!(3);
    current["agent_name"] = json!("Alex Morgan");
    h.ticket(42, current, 1).await;
    h.post_one("/api/Tickets", json!({"id": 42, "agent_id": 0}), ok_json(raw_ticket(42, 2)), 1).await;
    let out = h.ok("update_ticket", json!({"ticket_id": 42, "agent_id": 0})).await;
    assert!(out["ticket"].get("agent_id").is_none() && out["ticket"].get("agent_name").is_none(), "{out}");
    h.verify().await;
}

/// Just now, in HaloITSM's date form (whole seconds, UTC, no zone).
fn halo_now(offset_secs: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(offset_secs)).format("%Y-%m-%dT%H:%M:%S").to_string()
}

/// `GET /api/Tickets/{id}` (the plain read that checks a ticket is gone) answers 404, once.
async fn gone(h: &Halo, id: i64) {
    api("GET", &format!("/api/Tickets/{id}"))
        .and(no_query())
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"Message": "Ticket not found"})))
        .expect(1)
        .named(format!("GET ticket {id} (gone)"))
        .mount(&h.server)
        .await;
    ticket_list_probe().mount(&h.server).await;
}

#[tokio::test]
async fn update_that_halo_turned_into_a_create_deletes_the_stray_ticket() {
    let h = Halo::start().await;
    // The ticket vanished between the check and the write: HaloITSM's upsert made ticket 43.
    h.ticket(42, raw_ticket(42, 2), 1).await;
    h.post_one("/api/Tickets", json!({"id": 42, "summary": "x"}), ok_json(json!({"id": 43, "summary": "x"})), 1).await;
    gone(&h, 42).await;
    // Ticket 43 is provably the one this update made: created after it was sent, with its fields.
    h.ticket(43, json!({"id": 43, "summary": "x", "datecreated": halo_now(1)}), 1).await;
    api("DELETE", "/api/Tickets/43")
        .and(query_is(&[("reason", "Created by accident while updating ticket 42, which no longer exists")]))
        .respond_with(ok_json(json!({"id": 43})))
        .expect(1)
        .named("DELETE the stray ticket")
        .mount(&h.server)
        .await;
    let body = h.err("update_ticket", json!({"ticket_id": 42, "summary": "x"}), 500).await;
    let cause = body["exception"]["cause"].as_str().unwrap();
    assert!(cause.contains("Ticket 42 was deleted while it was being updated") && cause.contains("ticket 43"), "{body}");
    assert!(cause.contains("deleted again"), "{body}");
    assert_eq!(
        h.api_requests().await,
        [
            TICKET_GET,
            "POST /api/Tickets",
            "GET /api/Tickets/42",
            PROBE,
            "GET /api/Tickets/43?includedetails=true",
            "DELETE /api/Tickets/43?reason=Created+by+accident+while+updating+ticket+42%2C+which+no+longer+exists"
        ]
    );
    h.verify().await;
}

#[tokio::test]
async fn an_answer_for_another_ticket_is_never_deleted_on_a_guess() {
    // Each case: what the reads show; none proves ticket 43 is the one this update created.
    let cases = [
        ("ticket 42 still exists", Some(raw_ticket(42, 2)), json!({"id": 43, "summary": "x", "datecreated": halo_now(1)})),
        ("ticket 43 is older than the update", None, json!({"id": 43, "summary": "x", "datecreated": "2026-01-01T00:00:00"})),
        ("ticket 43 has another summary", None, json!({"id": 43, "summary": "someone else's", "datecreated": halo_now(1)})),
        ("ticket 43 has no creation date", None, json!({"id": 43, "summary": "x"})),
    ];
    for (case, still_there, stray) in cases {
        let h = Halo::start().await;
        h.ticket(42, raw_ticket(42, 2), 1).await;
        h.post_one("/api/Tickets", json!({"id": 42, "summary": "x"}), ok_json(json!({"id": 43, "summary": "x"})), 1).await;
        match still_there {
            Some(t) => {
                api("GET", "/api/Tickets/42").and(no_query()).respond_with(ok_json(t)).expect(1).mount(&h.server).await;
                h.ticket(43, stray, 0).await;
            }
            None => {
                gone(&h, 42).await;
                h.ticket(43, stray, 1).await;
            }
        }
        api("DELETE", "/api/Tickets/43").respond_with(ok_json(json!({"id": 43}))).expect(0).named("no delete").mount(&h.server).await;
        let body = h.err("update_ticket", json!({"ticket_id": 42, "summary": "x"}), 500).await;
        let cause = body["exception"]["cause"].as_str().unwrap();
        assert!(cause.contains("left alone"), "{case}: {body}");
        assert!(body["exception"]["assistance"].as_str().unwrap().contains("ticket 43"), "{case}: {body}");
        h.verify().await;
    }
}

#[tokio::test]
async fn update_server_error_is_not_retried() {
    let h = Halo::start().await;
    h.ticket(42, raw_ticket(42, 2), 1).await;
    h.post_one("/api/Tickets", json!({"id": 42, "status_id": 2}), ResponseTemplate::new(502).set_body_string("Bad Gateway"), 1).await;
    let body = h.err("update_ticket", json!({"ticket_id": 42, "status_id": 2}), 500).await;
    assert!(body["exception"]["assistance"].as_str().unwrap().contains(MAYBE_SAVED), "{body}");
    h.verify().await;
}
