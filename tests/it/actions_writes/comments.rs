//! add_comment: public or private notes, email to the end user, outcomes and failures.

use super::*;

#[tokio::test]
async fn comment_defaults_to_a_public_note_without_email() {
    let h = Halo::start().await;
    h.ticket(42, raw_ticket(42, 2), 1).await;
    h.post_one(
        "/api/Actions",
        json!({"ticket_id": 42, "outcome": "Note", "note": "Sessions revoked for jsmith", "hiddenfromuser": false, "sendemail": false}),
        ok_json(json!({"id": 5501, "ticket_id": 42, "outcome": "Note", "who": "API"})),
        1,
    )
    .await;
    let out = h.ok("add_comment", json!({"ticket_id": 42, "comment": "Sessions revoked for jsmith"})).await;
    assert_eq!(out, json!({"success": true, "comment_id": 5501}));
    assert_eq!(h.api_requests().await, [TICKET_GET, "POST /api/Actions"]);
    h.verify().await;
}

#[tokio::test]
async fn comment_private_with_an_outcome() {
    let h = Halo::start().await;
    h.ticket(42, raw_ticket(42, 2), 1).await;
    h.post_one(
        "/api/Actions",
        json!({"ticket_id": 42, "outcome": "Private Note", "note": "Internal only", "hiddenfromuser": true, "sendemail": false}),
        // Some builds answer with an array.
        ok_json(json!([{"id": 5502, "ticket_id": 42}])),
        1,
    )
    .await;
    let out =
        h.ok("add_comment", json!({"ticket_id": 42, "comment": "Internal only", "is_private": true, "outcome": "Private Note"})).await;
    assert_eq!(out, json!({"success": true, "comment_id": 5502}));
    h.verify().await;
}

#[tokio::test]
async fn comment_public_with_email_as_asked() {
    let h = Halo::start().await;
    h.ticket(42, raw_ticket(42, 2), 1).await;
    h.post_one(
        "/api/Actions",
        json!({"ticket_id": 42, "outcome": "Email User", "note": "We are on it", "hiddenfromuser": false, "sendemail": true}),
        ok_json(json!({"id": 5503})),
        1,
    )
    .await;
    let out = h.ok("add_comment", json!({"ticket_id": 42, "comment": "We are on it", "outcome": "Email User", "send_email": true})).await;
    assert_eq!(out, json!({"success": true, "comment_id": 5503}));
    h.verify().await;
}

#[tokio::test]
async fn a_private_comment_is_never_emailed_to_the_end_user() {
    let h = Halo::start().await;
    api("POST", "/api/Actions").respond_with(ok_json(json!({"id": 1}))).expect(0).named("POST /api/Actions").mount(&h.server).await;
    let body =
        h.err("add_comment", json!({"ticket_id": 42, "comment": "Internal only", "is_private": true, "send_email": true}), 400).await;
    assert!(body["error"].as_str().unwrap().contains("`send_email` cannot be used with `is_private`"), "{body}");
    assert!(h.api_requests().await.is_empty(), "nothing is sent");
    h.verify().await;
}

#[tokio::test]
async fn comment_with_a_blank_outcome_uses_note_and_works_without_an_id_in_the_answer() {
    let h = Halo::start().await;
    h.ticket(42, raw_ticket(42, 2), 1).await;
    h.post_one(
        "/api/Actions",
        json!({"ticket_id": 42, "outcome": "Note", "note": "x", "hiddenfromuser": false, "sendemail": false}),
        ok_json(json!({"ticket_id": 42})),
        1,
    )
    .await;
    let out = h.ok("add_comment", json!({"ticket_id": 42, "comment": "x", "outcome": "   "})).await;
    assert_eq!(out, json!({"success": true}));
    h.verify().await;
}

#[tokio::test]
async fn comment_on_an_unknown_ticket_is_a_400_and_writes_nothing() {
    let h = Halo::start().await;
    h.no_ticket(4242).await;
    api("POST", "/api/Actions").respond_with(ok_json(json!({"id": 1}))).expect(0).mount(&h.server).await;
    let body = h.err("add_comment", json!({"ticket_id": 4242, "comment": "x"}), 400).await;
    assert!(body["error"].as_str().unwrap().contains("Ticket 4242 does not exist"), "{body}");
    h.verify().await;
}

#[tokio::test]
async fn comment_server_error_is_not_retried() {
    let h = Halo::start().await;
    h.ticket(42, raw_ticket(42, 2), 1).await;
    h.post_one(
        "/api/Actions",
        json!({"ticket_id": 42, "outcome": "Note", "note": "x", "hiddenfromuser": false, "sendemail": false}),
        ResponseTemplate::new(503).set_body_json(json!({"Message": "Service unavailable"})),
        1,
    )
    .await;
    let body = h.err("add_comment", json!({"ticket_id": 42, "comment": "x"}), 500).await;
    assert!(body["exception"]["assistance"].as_str().unwrap().contains(MAYBE_SAVED), "{body}");
    assert_eq!(h.api_requests().await, [TICKET_GET, "POST /api/Actions"]);
    h.verify().await;
}
