//! add_comment: public or private notes, email to the end user, outcomes and failures.
//! `update_comment` and `delete_comment`: a note changed in place and removed, on the simulator,
//! with the exact requests on a mocked HaloITSM (A2: an update is a POST with `id` and
//! `ticket_id`; A5: DELETE with `ticket_id`), and IDs that do not match changing nothing.

use super::*;

use crate::common::{error_cause as cause, step as run};
use wiremock::Mock;
use wiremock::matchers::{method, path, query_param};

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

// ----- update_comment and delete_comment --------------------------------------------------------

#[tokio::test]
async fn a_note_is_changed_in_place_then_deleted() {
    let (halo, srv, conn) = sim_world(json!({})).await;
    let (s, out) =
        run(&srv, &conn, "add_comment", json!({"ticket_id": 101, "comment": "Login from 203.0.113.9", "is_private": true})).await;
    assert_eq!(s, 200, "{out}");
    let id = out["body"]["output"]["comment_id"].as_i64().unwrap_or_default();
    let notes = |h: &halo_sim::SimHandle| h.sim.actions_for(101);
    let count = notes(&halo).len();

    let (s, out) =
        run(&srv, &conn, "update_comment", json!({"ticket_id": 101, "comment_id": id, "comment": "Login from 203.0.113.10\nconfirmed"}))
            .await;
    assert_eq!(s, 200, "{out}");
    assert_eq!(out["body"]["output"]["comment"]["text"], "Login from 203.0.113.10\nconfirmed");
    let stored = notes(&halo).into_iter().find(|a| a["id"] == id).unwrap_or_default();
    assert_eq!(
        (stored["note"].as_str(), stored["hiddenfromuser"].as_bool()),
        (Some("Login from 203.0.113.10\nconfirmed"), Some(true)),
        "still private"
    );
    assert_eq!(notes(&halo).len(), count, "changed in place, not added");

    let other_ticket_note = halo.sim.actions_for(102).first().and_then(|a| a["id"].as_i64()).unwrap_or_default();
    let writes =
        |h: &halo_sim::SimHandle| h.sim.stats().by_route.iter().filter(|(r, _)| !r.starts_with("GET")).map(|(_, n)| *n).sum::<u64>();
    let before = writes(&halo);
    for (name, input, named) in [
        ("update_comment", json!({"ticket_id": 101, "comment_id": 999_999, "comment": "x"}), "Ticket 101 has no note 999999"),
        ("update_comment", json!({"ticket_id": 101, "comment_id": other_ticket_note, "comment": "x"}), "has no note"),
        ("update_comment", json!({"ticket_id": 101, "comment_id": id, "comment": "   "}), "`comment` is empty"),
        ("update_comment", json!({"ticket_id": 101, "comment_id": 0, "comment": "x"}), "`comment_id`"),
        ("delete_comment", json!({"ticket_id": 101, "comment_id": other_ticket_note}), "has no note"),
    ] {
        let (s, out) = run(&srv, &conn, name, input).await;
        assert_eq!(s, 400, "{name}: {out}");
        assert!(cause(&out).contains(named), "{name}: {named} not in {}", cause(&out));
    }
    assert_eq!(writes(&halo), before, "nothing was written");

    let (s, out) = run(&srv, &conn, "delete_comment", json!({"ticket_id": 101, "comment_id": id})).await;
    assert_eq!((s, out["body"]["output"]["success"].as_bool()), (200, Some(true)), "{out}");
    assert!(notes(&halo).iter().all(|a| a["id"] != id));
    assert_eq!(notes(&halo).len(), count - 1);
}

#[tokio::test]
async fn the_exact_requests() {
    let halo = halo_with_token().await;
    Mock::given(method("GET"))
        .and(path("/api/Actions/55"))
        .and(query_param("ticket_id", "7"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 55, "ticket_id": 7, "outcome": "Private Note", "note": "old"})))
        .expect(2)
        .mount(&halo)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/Actions"))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!([{"id": 55, "ticket_id": 7, "outcome": "Private Note", "note": "new <b>", "hiddenfromuser": false}])),
        )
        .expect(1)
        .mount(&halo)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/api/Actions/55"))
        .and(query_param("ticket_id", "7"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&halo)
        .await;

    let srv = PluginServer::start().await;
    let conn = connection(&halo.uri());
    let (s, out) =
        run(&srv, &conn, "update_comment", json!({"ticket_id": 7, "comment_id": 55, "comment": "new <b>", "is_private": false})).await;
    assert_eq!(s, 200, "{out}");
    let (s, out) = run(&srv, &conn, "delete_comment", json!({"ticket_id": 7, "comment_id": 55})).await;
    assert_eq!(s, 200, "{out}");
    let received = halo.received_requests().await.unwrap_or_default();
    let posted: Value = received
        .iter()
        .find(|r| r.method.as_str() == "POST" && r.url.path() == "/api/Actions")
        .map(|r| serde_json::from_slice(&r.body).unwrap_or_default())
        .unwrap_or_default();
    assert_eq!(
        posted,
        json!([{"id": 55, "ticket_id": 7, "outcome": "Private Note", "note": "new <b>", "note_html": "new &lt;b&gt;", "hiddenfromuser": false}])
    );
}

#[tokio::test]
async fn only_the_note_asked_for_is_changed_and_a_new_one_is_reported() {
    let halo = halo_with_token().await;
    // 56 does not say whose it is; 57 answers as another note; 55 is right but saved as new.
    for (id, body) in [
        (56, json!({"id": 56, "note": "x"})),
        (57, json!({"id": 99, "ticket_id": 7, "note": "x"})),
        (55, json!({"id": 55, "ticket_id": 7, "outcome": "Note", "note": "old"})),
    ] {
        Mock::given(method("GET"))
            .and(path(format!("/api/Actions/{id}")))
            .and(query_param("ticket_id", "7"))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .mount(&halo)
            .await;
    }
    Mock::given(method("POST"))
        .and(path("/api/Actions"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!([{"id": 60, "ticket_id": 7, "note": "new"}])))
        .expect(1)
        .mount(&halo)
        .await;
    let srv = PluginServer::start().await;
    let conn = connection(&halo.uri());
    for id in [56, 57] {
        let (s, out) = run(&srv, &conn, "update_comment", json!({"ticket_id": 7, "comment_id": id, "comment": "new"})).await;
        assert_eq!(s, 400, "{out}");
        assert!(cause(&out).contains(&format!("no note {id} (input `comment_id`)")), "{}", cause(&out));
    }
    let (s, out) = run(&srv, &conn, "update_comment", json!({"ticket_id": 7, "comment_id": 55, "comment": "new"})).await;
    assert_eq!(s, 500, "{out}");
    assert!(cause(&out).contains("as a new note 60 of ticket 7 instead of changing note 55"), "{}", cause(&out));
}
