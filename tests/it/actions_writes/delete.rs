//! delete_ticket: the reason sent, failures, and unknown tickets.

use super::*;

async fn delete_mock(h: &Halo, reason: &str, answer: ResponseTemplate) {
    api("DELETE", "/api/Tickets/42")
        .and(query_is(&[("reason", reason)]))
        .respond_with(answer)
        .expect(1)
        .named(format!("DELETE ticket 42 ({reason})"))
        .mount(&h.server)
        .await;
}

#[tokio::test]
async fn delete_sends_the_reason() {
    let h = Halo::start().await;
    h.ticket(42, raw_ticket(42, 2), 1).await;
    delete_mock(&h, "Duplicate of ticket 41", ok_json(json!({"id": 42}))).await;
    let out = h.ok("delete_ticket", json!({"ticket_id": 42, "reason": "Duplicate of ticket 41"})).await;
    assert_eq!(out, json!({"success": true}));
    assert_eq!(h.api_requests().await, [TICKET_GET, "DELETE /api/Tickets/42?reason=Duplicate+of+ticket+41"]);
    h.verify().await;
}

#[tokio::test]
async fn delete_without_a_reason_gives_a_default_one() {
    for input in [json!({"ticket_id": 42}), json!({"ticket_id": 42, "reason": "   "})] {
        let h = Halo::start().await;
        h.ticket(42, raw_ticket(42, 2), 1).await;
        delete_mock(&h, "Deleted from InsightConnect", ok_json(json!({"id": 42}))).await;
        assert_eq!(h.ok("delete_ticket", input).await, json!({"success": true}));
        h.verify().await;
    }
}

#[tokio::test]
async fn delete_server_error_is_not_retried() {
    let h = Halo::start().await;
    h.ticket(42, raw_ticket(42, 2), 1).await;
    delete_mock(&h, "Deleted from InsightConnect", ResponseTemplate::new(500).set_body_json(json!({"Message": "Deadlock"}))).await;
    let body = h.err("delete_ticket", json!({"ticket_id": 42}), 500).await;
    assert!(body["exception"]["cause"].as_str().unwrap().contains("HTTP 500"), "{body}");
    assert!(body["exception"]["assistance"].as_str().unwrap().contains(MAYBE_SAVED), "{body}");
    assert_eq!(h.api_requests().await, [TICKET_GET, "DELETE /api/Tickets/42?reason=Deleted+from+InsightConnect"]);
    h.verify().await;
}

#[tokio::test]
async fn deleting_an_unknown_ticket_is_a_400_and_deletes_nothing() {
    let h = Halo::start().await;
    h.no_ticket(4242).await;
    api("DELETE", "/api/Tickets/4242").respond_with(ok_json(json!({"id": 4242}))).expect(0).mount(&h.server).await;
    let body = h.err("delete_ticket", json!({"ticket_id": 4242}), 400).await;
    assert!(body["error"].as_str().unwrap().contains("Ticket 4242 does not exist"), "{body}");
    h.verify().await;
}
