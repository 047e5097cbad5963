//! `update_comment` and `delete_comment`: a note changed in place and removed, on the simulator,
//! with the exact requests on a mocked HaloITSM (A2: an update is a POST with `id` and
//! `ticket_id`; A5: DELETE with `ticket_id`), and IDs that do not match changing nothing.

use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

use crate::common::{PluginServer, connection, error_cause as cause, halo_with_token, sim_world, step as run};

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
