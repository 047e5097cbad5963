//! The exact requests: N new comments cost one history read and one `POST /Actions`; bad input
//! is refused naming the field, before any request to HaloITSM.

use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{INV, idr_comment};
use crate::common::{PluginServer, connection, error_cause, halo_with_token, posted_to, step};

/// The note comment `n` of `idr_comment` becomes.
fn note(n: u32) -> String {
    format!(
        "InsightIDR comment by Ellen Example at 2026-09-01T09:{n:02}:00.000Z:\ncomment {n} <b>\n\nInsightIDR comment rrn:collaboration:us:44d88612-fea8-a8f3-6de8-2e1278abb02f:comment:{n}"
    )
}

async fn ticket_7(halo: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/api/Tickets/7"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 7, "summary": "s", "status_id": 1})))
        .mount(halo)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/Agent/me"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 1, "name": "API Agent"})))
        .mount(halo)
        .await;
}

#[tokio::test]
async fn new_comments_cost_one_read_and_one_post() {
    let halo = halo_with_token().await;
    ticket_7(&halo).await;
    let on_ticket = "InsightIDR comment by Ellen Example:\nold\n\nInsightIDR comment rrn:collaboration:us:44d88612-fea8-a8f3-6de8-2e1278abb02f:comment:1";
    Mock::given(method("GET"))
        .and(path("/api/Actions"))
        .and(query_param("ticket_id", "7"))
        .and(query_param("count", "10000"))
        .and(query_param("includehtmlnote", "true"))
        .and(query_param("excludesys", "true"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"record_count": 2, "actions": [
            {"id": 40, "ticket_id": 7, "who": "API Agent", "actionby_agent_id": 1, "actionby_application_id": "InsightConnect", "note": on_ticket, "datetime": "2026-09-01T09:30:00"},
            {"id": 41, "ticket_id": 7, "who": "Alex", "actionby_agent_id": 3, "actionby_application_id": null, "note": "Called the user", "hiddenfromuser": true, "datetime": "2026-09-01T09:40:00"},
        ]})))
        .expect(1)
        .mount(&halo)
        .await;
    let saved: Vec<Value> = (2..=4).map(|n| json!({"id": 48 + n, "ticket_id": 7, "note": note(n)})).collect();
    Mock::given(method("POST"))
        .and(path("/api/Actions"))
        .and(query_param("returnall", "true"))
        .respond_with(ResponseTemplate::new(201).set_body_json(saved))
        .expect(1)
        .mount(&halo)
        .await;

    let comments: Vec<Value> = (1..=4).map(|n| idr_comment(n, &format!("comment {n} <b>"))).collect();
    let srv = PluginServer::start().await;
    let (s, out) =
        step(&srv, &connection(&halo.uri()), "sync_comments", json!({"ticket_id": 7, "investigation_rrn": INV, "comments": comments}))
            .await;
    assert_eq!(s, 200, "{out}");
    let out = &out["body"]["output"];
    assert_eq!(out["written"]["action_ids"], json!([50, 51, 52]), "{out}");
    assert_eq!(out["written"]["count"], 3);
    assert_eq!(
        out["to_insightidr"],
        json!([{"target": INV, "body": "Called the user\n\nHaloITSM note 41 on ticket 7", "halo_action_id": 41,
        "author": "Alex", "datetime": "2026-09-01T09:40:00Z", "private": true}])
    );

    let posted = posted_to(&halo, "/api/Actions").await;
    assert_eq!(posted.len(), 1);
    let html = |n: u32| note(n).replace("<b>", "&lt;b&gt;").replace('\n', "<br>");
    let expected: Vec<Value> = (2..=4)
        .map(|n| json!({"ticket_id": 7, "note": note(n), "note_html": html(n), "hiddenfromuser": true, "sendemail": false, "outcome": "Private Note"}))
        .collect();
    assert_eq!(posted[0], Value::Array(expected));
}

#[tokio::test]
async fn bad_input_is_refused_by_its_field_and_nothing_is_written() {
    let halo = halo_with_token().await;
    ticket_7(&halo).await;
    Mock::given(method("POST")).and(path("/api/Actions")).respond_with(ResponseTemplate::new(201)).expect(0).mount(&halo).await;
    Mock::given(method("GET")).and(path("/api/Actions")).respond_with(ResponseTemplate::new(200)).expect(0).mount(&halo).await;
    let srv = PluginServer::start().await;
    let conn = connection(&halo.uri());
    let mut no_rrn = idr_comment(3, "x");
    no_rrn.as_object_mut().map(|o| o.remove("rrn"));
    let mut elsewhere = idr_comment(2, "x");
    elsewhere["target"] = json!("rrn:investigation:us:44d88612-fea8-a8f3-6de8-2e1278abb02f:investigation:OTHER");
    for (comments, rrn, named) in [
        (vec![idr_comment(1, "a"), idr_comment(2, "b"), no_rrn], INV, "`comments[2].rrn`"),
        (vec![idr_comment(1, "a"), elsewhere], INV, "`comments[1].target`"),
        (vec![json!("text")], INV, "`comments[0]`"),
        (vec![idr_comment(1, "a")], "INV-1", "`investigation_rrn`"),
    ] {
        let (s, out) = step(&srv, &conn, "sync_comments", json!({"ticket_id": 7, "investigation_rrn": rrn, "comments": comments})).await;
        assert_eq!(s, 400, "{out}");
        assert!(error_cause(&out).contains(named), "{named} not in {}", error_cause(&out));
    }
    let (s, out) = step(&srv, &conn, "sync_comments", json!({"ticket_id": 7, "investigation_rrn": INV, "since": "yesterday"})).await;
    assert_eq!(s, 400, "{out}");
}

#[tokio::test]
async fn a_note_the_answer_leaves_out_is_looked_for_before_it_is_sent_again() {
    let halo = halo_with_token().await;
    ticket_7(&halo).await;
    // The first read shows no note; the second shows note 1 (saved though the answer left it out).
    Mock::given(method("GET"))
        .and(path("/api/Actions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"record_count": 0, "actions": []})))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&halo)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/Actions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"record_count": 1, "actions": [
            {"id": 60, "ticket_id": 7, "actionby_agent_id": 1, "actionby_application_id": "InsightConnect", "note": note(1)},
        ]})))
        .expect(1)
        .mount(&halo)
        .await;
    // Only the last record answered: comment 3's, whichever request it was.
    Mock::given(method("POST"))
        .and(path("/api/Actions"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 62, "ticket_id": 7, "note": note(3)})))
        .expect(2)
        .mount(&halo)
        .await;
    let comments: Vec<Value> = [1, 2, 3].iter().map(|n| idr_comment(*n, &format!("comment {n} <b>"))).collect();
    let srv = PluginServer::start().await;
    let (s, out) =
        step(&srv, &connection(&halo.uri()), "sync_comments", json!({"ticket_id": 7, "investigation_rrn": INV, "comments": comments}))
            .await;
    assert_eq!(s, 200, "{out}");
    let out = &out["body"]["output"];
    let posted = posted_to(&halo, "/api/Actions").await;
    assert_eq!(posted.iter().map(|p| p.as_array().map_or(1, Vec::len)).collect::<Vec<_>>(), vec![3, 1], "only comment 2 is sent again");
    assert_eq!(posted[1][0]["note"], note(2));
    assert_eq!(out["written"]["action_ids"], json!([60, 62]), "{out}");
    assert_eq!(out["written"]["comment_rrns"].as_array().map(Vec::len), Some(2));
    assert_eq!((out["skipped"][0]["reason"].as_str(), out["skipped"][0]["index"].as_i64()), (Some("unconfirmed"), Some(1)), "{out}");
}
