//! The exact requests for what live tenants do: whole histories, requesters with their site,
//! files served as links, the tenant's own outcomes, and priorities an SLA does not offer.

use super::*;
use wiremock::matchers::{body_partial_json, header_exists, method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

fn ok(v: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(v)
}

fn ticket(id: i64, status: i64) -> Value {
    json!({"id": id, "summary": "s", "status_id": status, "priority_id": 3, "tickettype_id": 1, "hasbeenclosed": status == 9,
           "lastactiondate": "2026-09-01T08:00:00", "dateoccurred": "2026-09-01T08:00:00"})
}

fn notes(ids: impl Iterator<Item = i64>) -> Vec<Value> {
    ids.map(
        |id| json!({"id": id, "ticket_id": 42, "note": format!("note {id}"), "datetime": "2026-09-01T08:00:00", "hiddenfromuser": false}),
    )
    .collect()
}

#[tokio::test]
async fn a_history_is_read_whole_even_from_a_tenant_that_answers_less_than_it_counts() {
    let (halo, srv, conn) = mocked().await;
    Mock::given(method("GET")).and(path("/api/Tickets/42")).respond_with(ok(ticket(42, 1))).mount(&halo).await;
    // Asked for 10 000, this tenant answers its newest 100 (newest first) and counts 120 (A11).
    Mock::given(method("GET"))
        .and(path("/api/Actions"))
        .and(query_param("count", "10000"))
        .respond_with(ok(json!({"record_count": 120, "actions": notes((21..=120).rev())})))
        .expect(1)
        .mount(&halo)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/Actions"))
        .and(query_param("count", "120"))
        .respond_with(ok(json!({"record_count": 120, "actions": notes((1..=120).rev())})))
        .expect(1)
        .mount(&halo)
        .await;
    let (s, out) = step_output(&srv, &conn, "list_comments", json!({"ticket_id": 42})).await;
    assert_eq!(s, 200, "{out}");
    assert_eq!(out["count"], 120, "every note, not the newest 100");
    assert_eq!(
        requests(&halo).await,
        [
            "GET /api/Tickets/42?includedetails=true",
            "GET /api/Actions?ticket_id=42&count=10000&includehtmlnote=true&excludesys=true",
            "GET /api/Actions?ticket_id=42&count=120&includehtmlnote=true&excludesys=true",
        ]
    );
    halo.verify().await;
}

#[tokio::test]
async fn a_requester_goes_with_the_users_site_and_client_as_integers() {
    let (halo, srv, conn) = mocked().await;
    // The user's site reads as a double, its client as text (K1, K2); Halo takes integers (T16).
    Mock::given(method("GET"))
        .and(path("/api/Users/5"))
        .respond_with(ok(json!({"id": 5, "name": "Sam", "site_id": 3.0, "client_id": "2"})))
        .expect(1)
        .mount(&halo)
        .await;
    Mock::given(method("POST")).and(path("/api/Tickets")).respond_with(ok(ticket(77, 1))).expect(1).mount(&halo).await;
    let (s, out) =
        step_output(&srv, &conn, "create_ticket", json!({"summary": "s", "details": "d", "tickettype_id": 1, "user_id": 5})).await;
    assert_eq!(s, 200, "{out}");
    let body = &posted_to(&halo, "/api/Tickets").await[0][0];
    assert_eq!((body["user_id"].clone(), body["site_id"].clone(), body["client_id"].clone()), (json!(5), json!(3), json!(2)), "{body}");
    assert!(body["site_id"].is_i64() && body["client_id"].is_i64());

    // By email: the user row the search found gives the site, with no second read.
    let (halo, srv, conn) = mocked().await;
    Mock::given(method("GET"))
        .and(path("/api/Users"))
        .respond_with(ok(
            json!({"record_count": 1, "users": [{"id": 6, "emailaddress": "riley@example.com", "site_id": 2.0, "client_id": 2}]}),
        ))
        .expect(1)
        .mount(&halo)
        .await;
    Mock::given(method("GET")).and(path("/api/Users/6")).respond_with(ok(json!({}))).expect(0).mount(&halo).await;
    Mock::given(method("POST")).and(path("/api/Tickets")).respond_with(ok(ticket(78, 1))).expect(1).mount(&halo).await;
    let input = json!({"summary": "s", "details": "d", "tickettype_id": 1, "requester_email": "riley@example.com"});
    let (s, out) = step_output(&srv, &conn, "create_ticket", input).await;
    assert_eq!(s, 200, "{out}");
    let body = &posted_to(&halo, "/api/Tickets").await[0][0];
    assert_eq!((body["user_id"].clone(), body["site_id"].clone()), (json!(6), json!(2)), "{body}");
    halo.verify().await;
}

#[tokio::test]
async fn a_file_served_as_a_link_is_read_from_the_link_without_the_token_and_once_more_when_expired() {
    let (halo, srv, conn) = mocked().await;
    let link = |name: &str| format!("{}/cdn/{name}?Expires=1&Signature=x", halo.uri());
    // The first link has expired by the time it is read; HaloITSM hands out a fresh one (F6).
    Mock::given(method("GET"))
        .and(path("/api/Attachment/9"))
        .respond_with(ok(json!({"id": 9, "filename": "report.pdf", "link": link("old")})))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&halo)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/Attachment/9"))
        .respond_with(ok(json!({"id": 9, "filename": "report.pdf", "link": link("new")})))
        .expect(1)
        .mount(&halo)
        .await;
    // A pre-signed link refuses a bearer token (S3ERR).
    Mock::given(path_prefix_cdn())
        .and(header_exists("authorization"))
        .respond_with(ResponseTemplate::new(400).set_body_string("<Error><Code>InvalidArgument</Code></Error>"))
        .with_priority(1)
        .expect(0)
        .mount(&halo)
        .await;
    Mock::given(method("GET"))
        .and(path("/cdn/old"))
        .respond_with(
            ResponseTemplate::new(403).set_body_string("<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"),
        )
        .expect(1)
        .mount(&halo)
        .await;
    Mock::given(method("GET"))
        .and(path("/cdn/new"))
        .respond_with(
            ResponseTemplate::new(200).insert_header("content-type", "application/pdf").set_body_bytes(b"%PDF-1.7 report".to_vec()),
        )
        .expect(1)
        .mount(&halo)
        .await;
    let (s, out) = step_output(&srv, &conn, "get_attachment", json!({"attachment_id": 9})).await;
    assert_eq!(s, 200, "{out}");
    use base64::Engine;
    let content = base64::engine::general_purpose::STANDARD.decode(out["file"]["content"].as_str().unwrap()).unwrap();
    assert_eq!((out["file"]["filename"].clone(), content), (json!("report.pdf"), b"%PDF-1.7 report".to_vec()));
    assert_eq!((out["size"].clone(), out["content_type"].clone()), (json!(15), json!("application/pdf")));
    halo.verify().await;
}

fn path_prefix_cdn() -> wiremock::matchers::PathRegexMatcher {
    wiremock::matchers::path_regex("^/cdn/")
}

#[tokio::test]
async fn an_outcome_the_tenant_lacks_is_replaced_by_its_own_by_name_and_id_then_used_directly() {
    let (halo, srv, conn) = mocked().await;
    for id in [42, 43] {
        // Open when read first, closed when read back.
        Mock::given(method("GET"))
            .and(path(format!("/api/Tickets/{id}")))
            .respond_with(ok(ticket(id, 1)))
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&halo)
            .await;
        Mock::given(method("GET")).and(path(format!("/api/Tickets/{id}"))).respond_with(ok(ticket(id, 9))).mount(&halo).await;
    }
    Mock::given(method("POST"))
        .and(path("/api/Actions"))
        .and(body_partial_json(json!([{"outcome": "Closed"}])))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"Message": "An Outcome must be entered for this Action"})))
        .expect(1)
        .mount(&halo)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/Outcome"))
        .respond_with(ok(json!([{"id": 6, "outcome": "Resolved", "newstatus": 9}, {"id": 7, "outcome": "Internal Note"}])))
        .expect(1)
        .mount(&halo)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/Actions"))
        .and(body_partial_json(json!([{"outcome": "Resolved", "outcome_id": 6, "new_status": 9}])))
        .respond_with(ok(json!({"id": 900})))
        .expect(2)
        .mount(&halo)
        .await;
    for id in [42, 43] {
        let (s, out) = step_output(&srv, &conn, "close_ticket", json!({"ticket_id": id})).await;
        assert_eq!((s, out["ticket"]["closed"].clone()), (200, json!(true)), "{out}");
    }
    // The refused outcome was tried once; the second close used the tenant's own at once.
    let outcomes: Vec<Value> = posted_to(&halo, "/api/Actions").await.iter().map(|b| b[0]["outcome"].clone()).collect();
    assert_eq!(outcomes, [json!("Closed"), json!("Resolved"), json!("Resolved")]);
    halo.verify().await;
}

#[tokio::test]
async fn an_outcome_the_agent_may_not_use_is_named_and_nothing_is_written() {
    let (halo, srv, conn) = mocked().await;
    Mock::given(method("GET")).and(path("/api/Tickets/42")).respond_with(ok(ticket(42, 1))).mount(&halo).await;
    Mock::given(method("POST"))
        .and(path("/api/Actions"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"Message": "You do not have access to this Action at the moment"})))
        .expect(1)
        .mount(&halo)
        .await;
    // A denial is named, never worked around: the tenant's outcomes are not even read.
    Mock::given(method("GET"))
        .and(path("/api/Outcome"))
        .respond_with(ok(json!([{"id": 1, "outcome": "Note"}])))
        .expect(0)
        .mount(&halo)
        .await;
    let (s, body) = step(&srv, &conn, "add_comment", json!({"ticket_id": 42, "comment": "c"})).await;
    assert_eq!(s, 400, "{body}");
    let cause = error_cause(&body);
    assert!(cause.contains("\"Note\"") && cause.contains("may not use it"), "{cause}");
    assert!(body["body"]["exception"]["assistance"].as_str().unwrap().contains("Configuration > Tickets > Actions"), "{body}");
    halo.verify().await;
}

#[tokio::test]
async fn a_priority_the_ticket_types_sla_does_not_offer_is_an_error_naming_it() {
    let (halo, srv, conn) = mocked().await;
    Mock::given(method("GET")).and(path("/api/Tickets/42")).respond_with(ok(ticket(42, 1))).mount(&halo).await;
    // HaloITSM saves the update and silently keeps another priority (P3).
    Mock::given(method("POST"))
        .and(path("/api/Tickets"))
        .respond_with(ok(json!({"id": 42, "priority_id": 1})))
        .expect(1)
        .mount(&halo)
        .await;
    let (s, body) = step(&srv, &conn, "update_ticket", json!({"ticket_id": 42, "priority_id": 2})).await;
    assert_eq!(s, 400, "{body}");
    let cause = error_cause(&body);
    assert!(cause.contains("did not keep priority 2 on ticket 42") && cause.contains("SLA"), "{cause}");
    halo.verify().await;
}

/// The status-change delivery of a move in a ticket's first second, on a history with no
/// "logged" entry (A12): the move is found in the history (the trigger planner's side of this is
/// `ticket_events::plan`'s test).
#[tokio::test]
async fn a_status_moved_in_a_new_tickets_first_second_is_reported_without_a_creation_entry() {
    let (halo, srv, conn) = mocked().await;
    // Logged at 09:00 and moved 1 -> 2 in the same second; the history has no "logged" entry (A12).
    let t = json!({"id": 1042, "summary": "Phish", "status_id": 2, "hasbeenclosed": false, "tickettype_id": 1,
                   "datecreated": "2026-09-01T09:00:00", "lastactiondate": "2026-09-01T09:00:00"});
    Mock::given(method("GET")).and(path("/api/Tickets/1042")).respond_with(ok(t.clone())).mount(&halo).await;
    let history = json!({"record_count": 1, "actions": [{"id": 7001, "ticket_id": 1042, "datetime": "2026-09-01T09:00:00",
        "outcome": "Status Changed", "old_status": 1, "new_status": 2, "who_agentid": 3, "actionby_agent_id": 3, "actionby_application_id": null}]});
    Mock::given(method("GET")).and(path("/api/Actions")).respond_with(ok(history)).mount(&halo).await;
    Mock::given(method("GET")).and(path("/api/Agent/me")).respond_with(ok(json!({"id": 1}))).mount(&halo).await;
    Mock::given(method("GET"))
        .and(path("/api/Status"))
        .respond_with(ok(json!([{"id": 1, "name": "New"}, {"id": 2, "name": "In Progress"}])))
        .mount(&halo)
        .await;
    let delivery = json!({"id": "8e25bc7b-0000-4102-9398-5d6647e1e79d", "event": "ticket status changed", "object_id": 1042,
                          "timestamp": "2026-09-01T09:00:00.5000000Z", "ticket": t});
    let (s, out) = step_output(&srv, &conn, "process_webhook", json!({"delivery": delivery, "trigger": "ticket_status_changed"})).await;
    assert_eq!(s, 200, "{out}");
    let moved = out["events"].as_array().unwrap().iter().find(|e| e["event"] == "status_changed").unwrap();
    assert_eq!((moved["old_status_id"].clone(), moved["new_status_id"].clone()), (json!(1), json!(2)), "{out}");
}

#[tokio::test]
async fn a_closing_outcome_the_agent_may_not_use_is_named_and_not_swapped() {
    let (halo, srv, conn) = mocked().await;
    Mock::given(method("GET")).and(path("/api/Tickets/42")).respond_with(ok(ticket(42, 1))).mount(&halo).await;
    // Denied (the status code is not public: here 403): no other outcome is tried.
    Mock::given(method("POST"))
        .and(path("/api/Actions"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({"Message": "You do not have access to this Action at the moment"})))
        .expect(1)
        .mount(&halo)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/Outcome"))
        .respond_with(ok(json!([{"id": 6, "outcome": "Resolved"}])))
        .expect(0)
        .mount(&halo)
        .await;
    let (s, body) = step(&srv, &conn, "close_ticket", json!({"ticket_id": 42})).await;
    assert_eq!(s, 400, "{body}");
    let cause = error_cause(&body);
    assert!(cause.contains("\"Closed\"") && cause.contains("may not use it"), "{cause}");
    halo.verify().await;
}

#[tokio::test]
async fn a_priority_is_read_back_when_the_answer_does_not_show_it() {
    let (halo, srv, conn) = mocked().await;
    // The ticket before the update, then as HaloITSM kept it: priority 1, not the 2 asked for.
    Mock::given(method("GET"))
        .and(path("/api/Tickets/42"))
        .respond_with(ok(ticket(42, 1)))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&halo)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/Tickets/42"))
        .respond_with(ok(json!({"id": 42, "priority_id": 1, "status_id": 1})))
        .expect(1)
        .mount(&halo)
        .await;
    Mock::given(method("POST")).and(path("/api/Tickets")).respond_with(ok(json!({"id": 42}))).expect(1).mount(&halo).await;
    let (s, body) = step(&srv, &conn, "update_ticket", json!({"ticket_id": 42, "priority_id": 2})).await;
    assert_eq!(s, 400, "{body}");
    assert!(error_cause(&body).contains("did not keep priority 2"), "{body}");
    halo.verify().await;
}
