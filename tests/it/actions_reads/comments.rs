//! list_comments: wrapped and bare lists, private notes, system actions, unknown tickets, sorting.

use super::*;

/// The existence check list_comments makes before reading the actions.
async fn ticket_exists(e: &Env, id: i64) {
    e.mount(api("GET", &format!("Tickets/{id}"), ExactQuery::new(&[("includedetails", "true")])).respond_with(ok_json(row(id))).expect(1))
        .await;
}

fn actions_query(id: i64, extra: &[(&str, &str)]) -> ExactQuery {
    let id = id.to_string();
    let mut q = vec![("ticket_id", id.as_str()), ("count", "10000"), ("includehtmlnote", "true")];
    q.extend_from_slice(extra);
    ExactQuery::new(&q)
}

fn notes() -> Vec<Value> {
    vec![
        json!({"id": 501, "ticket_id": 42, "who": "Alex Morgan", "datetime": "2026-09-01T09:00:00", "outcome": "Note",
               "note": "Checked the sign-in logs", "note_html": "<p>ignored when note is set</p>", "hiddenfromuser": false,
               "new_status": 0, "old_status": 1}),
        json!({"id": 503, "ticket_id": 42, "who": "Alex Morgan", "datetime": "2026-09-01T11:15:00.1234567", "outcome": "Private Note",
               "note": "", "note_html": "<p>Blocked <b>evil.example</b></p><p>Done &amp; dusted&nbsp;</p>", "hiddenfromuser": true,
               "new_status": 2, "old_status": 1, "emailto": null}),
        json!({"id": 502, "ticket_id": 42, "who": "Jordan Smith", "datetime": "2026-09-01T10:00:00", "outcome": "User Update",
               "note": "It was me on holiday", "hiddenfromuser": false, "new_status": 2, "old_status": 2}),
        // Same second as 502: the higher action ID is the newer one.
        json!({"id": 504, "ticket_id": 42, "who": "Alex Morgan", "datetime": "2026-09-01T10:00:00", "outcome": "Private Note",
               "note": "Called the user", "hiddenfromuser": true}),
    ]
}

fn note(id: i64) -> Value {
    match id {
        501 => json!({"id": 501, "ticket_id": 42, "author": "Alex Morgan", "datetime": "2026-09-01T09:00:00Z", "outcome": "Note",
                      "text": "Checked the sign-in logs", "private": false}),
        502 => json!({"id": 502, "ticket_id": 42, "author": "Jordan Smith", "datetime": "2026-09-01T10:00:00Z", "outcome": "User Update",
                      "text": "It was me on holiday", "private": false}),
        503 => json!({"id": 503, "ticket_id": 42, "author": "Alex Morgan", "datetime": "2026-09-01T11:15:00.123456700Z",
                      "outcome": "Private Note", "text": "Blocked evil.example\nDone & dusted", "private": true, "new_status_id": 2}),
        504 => json!({"id": 504, "ticket_id": 42, "author": "Alex Morgan", "datetime": "2026-09-01T10:00:00Z", "outcome": "Private Note",
                      "text": "Called the user", "private": true}),
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn list_comments_reads_the_wrapped_list_newest_first_as_plain_text() {
    let e = env().await;
    ticket_exists(&e, 42).await;
    e.mount(
        api("GET", "Actions", actions_query(42, &[("excludesys", "true")]))
            .respond_with(ok_json(json!({"record_count": 4, "actions": notes()})))
            .expect(1),
    )
    .await;
    let out = e.ok("list_comments", json!({"ticket_id": 42})).await;
    assert_eq!(out, json!({"comments": [note(503), note(504), note(502), note(501)], "count": 4}));
}

#[tokio::test]
async fn list_comments_reads_a_bare_array_and_never_shows_private_notes_when_asked_not_to() {
    let e = env().await;
    ticket_exists(&e, 42).await;
    // HaloITSM was asked to leave private notes out but sends them anyway: they are still dropped.
    e.mount(
        api("GET", "Actions", actions_query(42, &[("excludeprivate", "true"), ("excludesys", "true")]))
            .respond_with(ok_json(json!(notes())))
            .expect(1),
    )
    .await;
    let out = e.ok("list_comments", json!({"ticket_id": 42, "include_private": false})).await;
    assert_eq!(out, json!({"comments": [note(502), note(501)], "count": 2}));
}

#[tokio::test]
async fn list_comments_with_system_actions_does_not_exclude_them() {
    let e = env().await;
    ticket_exists(&e, 42).await;
    let logged = json!({"id": 500, "ticket_id": 42, "who": "System", "datetime": "2026-09-01T08:00:00", "outcome": "Ticket Logged",
                        "note": "Ticket logged via API", "hiddenfromuser": false, "new_status": 1});
    e.mount(api("GET", "Actions", actions_query(42, &[])).respond_with(ok_json(json!({"record_count": 1, "actions": [logged]}))).expect(1))
        .await;
    let out = e.ok("list_comments", json!({"ticket_id": 42, "include_system": true})).await;
    assert_eq!(out["count"], 1);
    assert_eq!(out["comments"][0]["outcome"], "Ticket Logged");
    assert_eq!(out["comments"][0]["new_status_id"], 1);
}

#[tokio::test]
async fn list_comments_on_an_unknown_ticket_is_a_400_naming_it() {
    let e = env().await;
    e.mount(ticket_list_probe()).await;
    e.mount(
        api("GET", "Tickets/77", ExactQuery::new(&[("includedetails", "true")]))
            .respond_with(ResponseTemplate::new(404).set_body_json(json!({"Message": "not found"})))
            .expect(1),
    )
    .await;
    e.mount(Mock::given(method("GET")).and(path("/api/Actions")).respond_with(ok_json(json!([]))).expect(0)).await;
    let err = e.fails("list_comments", json!({"ticket_id": 77}), 400).await;
    assert!(err["error"].as_str().unwrap().contains("77"), "{err}");
}

#[tokio::test]
async fn list_comments_sorts_by_the_time_it_shows() {
    let e = env().await;
    ticket_exists(&e, 42).await;
    let rows = json!([
        {"id": 601, "ticket_id": 42, "who": "Alex Morgan", "datetime": "2026-09-01T09:00:00", "outcome": "Note", "note": "older"},
        {"id": 600, "ticket_id": 42, "who": "Alex Morgan", "actiondatecreated": "2026-09-02T09:00:00", "outcome": "Note", "note": "newer"},
    ]);
    e.mount(api("GET", "Actions", actions_query(42, &[("excludesys", "true")])).respond_with(ok_json(rows)).expect(1)).await;
    let out = e.ok("list_comments", json!({"ticket_id": 42})).await;
    let shown: Vec<(&str, &str)> =
        out["comments"].as_array().unwrap().iter().map(|c| (c["datetime"].as_str().unwrap(), c["text"].as_str().unwrap())).collect();
    assert_eq!(shown, vec![("2026-09-02T09:00:00Z", "newer"), ("2026-09-01T09:00:00Z", "older")], "newest first");
}
