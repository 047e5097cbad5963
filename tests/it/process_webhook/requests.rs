//! Exactly what the step asks HaloITSM for one delivery: the ticket, its history, the entries the
//! change wrote in full only when the list rows leave fields out (docs/halo-api.md#A4), and never
//! a write.

use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::*;
use crate::common::{connection, halo_with_token, ticket_list_probe};

const T: i64 = 1042;

fn ticket() -> Value {
    json!({"id": T, "summary": "Phish", "status_id": 2, "hasbeenclosed": false, "agent_id": 7, "tickettype_id": 1,
           "datecreated": "2026-09-01T09:00:00", "lastactiondate": "2026-09-01T09:30:00"})
}

/// Logged at 09:00, reassigned to agent 7 at 09:30 (list rows: no `new_agent`).
fn history_rows() -> Value {
    json!({"ticket_id": T, "record_count": 2, "actions": [
        {"id": 5501, "ticket_id": T, "datetime": "2026-09-01T09:00:00", "outcome": "Ticket logged", "old_status": 1, "new_status": 1, "who_agentid": 0},
        {"id": 5502, "ticket_id": T, "datetime": "2026-09-01T09:30:00", "outcome": "Reassigned", "old_status": 2, "new_status": 2,
         "who_agentid": 3, "actionby_agent_id": 3, "actionby_application_id": null, "note": "Agent changed"}]})
}

fn full_entry() -> Value {
    json!({"id": 5502, "ticket_id": T, "datetime": "2026-09-01T09:30:00", "outcome": "Reassigned", "old_status": 2, "new_status": 2,
           "who_agentid": 3, "actionby_agent_id": 3, "actionby_application_id": null, "new_agent": 7, "note": "Agent changed"})
}

async fn halo(entry_reads: u64) -> MockServer {
    halo_read(1, entry_reads).await
}

/// HaloITSM answering for ticket 1042, expecting `reads` reads of it and its history.
async fn halo_read(reads: u64, entry_reads: u64) -> MockServer {
    let server = halo_with_token().await;
    let get = |p: &str| Mock::given(method("GET")).and(path(p.to_string()));
    get(&format!("/api/Tickets/{T}"))
        .and(query_param("includedetails", "true"))
        .respond_with(ResponseTemplate::new(200).set_body_json(ticket()))
        .expect(reads)
        .mount(&server)
        .await;
    get("/api/Actions")
        .and(query_param("ticket_id", T.to_string()))
        .respond_with(ResponseTemplate::new(200).set_body_json(history_rows()))
        .expect(reads)
        .mount(&server)
        .await;
    get("/api/Actions/5502")
        .and(query_param("ticket_id", T.to_string()))
        .respond_with(ResponseTemplate::new(200).set_body_json(full_entry()))
        .expect(entry_reads)
        .mount(&server)
        .await;
    get("/api/Agent/me")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 1, "name": "API Agent"})))
        .expect(1)
        .mount(&server)
        .await;
    get("/api/Status")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{"id": 2, "name": "In Progress", "type": 1}])))
        .mount(&server)
        .await;
    server
}

async fn run(server: &MockServer, input: Value) -> (u16, Value) {
    let srv = PluginServer::start().await;
    post_json(&srv.url("/api/v1/actions/process_webhook"), &action("process_webhook", connection(&server.uri()), input)).await
}

/// Only GETs reached HaloITSM (and the token request).
async fn read_only(server: &MockServer) {
    for r in server.received_requests().await.unwrap() {
        assert!(r.method.as_str() == "GET" || r.url.path() == "/auth/token", "{} {}", r.method, r.url);
    }
}

#[tokio::test]
async fn an_event_only_delivery_reads_the_ticket_its_history_and_the_entry_in_full() {
    let server = halo(1).await;
    let d = json!({"id": "8e25bc7b-e07e-4102-9398-5d6647e1e79d", "event": "ticket updated", "object_id": T.to_string(), "timestamp": "2026-09-01T09:30:00.5120000Z"});
    let (status, out) = run(&server, json!({"delivery": d})).await;
    assert_eq!(status, 200, "{out}");
    let e = &out["body"]["output"]["events"][0];
    assert_eq!(e["event"], "updated");
    assert_eq!(e["changed_fields"], json!(["agent"]), "the full entry names the new agent");
    assert_eq!(e["event_id"], "8e25bc7b-e07e-4102-9398-5d6647e1e79d");
    assert_eq!(e["changed_at"], "2026-09-01T09:30:00Z");
    assert_eq!(e["changed_by_integration"], false);
    read_only(&server).await;
}

#[tokio::test]
async fn a_full_payload_carries_the_entry_so_it_is_not_read_again() {
    let server = halo(0).await;
    let d = json!({"id": "53232637-7724-4a19-b126-3c7267a292aa", "event": "ticket updated", "object_id": T, "ticket": ticket(), "action": full_entry()});
    let (status, out) = run(&server, json!({"deliveries": [d]})).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["body"]["output"]["events"][0]["changed_fields"], json!(["agent"]));
    read_only(&server).await;
}

#[tokio::test]
async fn a_ticket_deleted_since_is_skipped_without_reading_its_history() {
    let server = halo_with_token().await;
    Mock::given(method("GET"))
        .and(path("/api/Tickets/1043"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"ClassName": "Halo.Exceptions.NotFoundException"})))
        .expect(1)
        .mount(&server)
        .await;
    ticket_list_probe().expect(1).mount(&server).await;
    Mock::given(method("GET")).and(path("/api/Actions")).respond_with(ResponseTemplate::new(200)).expect(0).mount(&server).await;
    Mock::given(method("GET"))
        .and(path("/api/Agent/me"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 1})))
        .mount(&server)
        .await;
    let (status, out) = run(&server, json!({"delivery": {"id": "g-1", "event": "ticket status changed", "object_id": 1043}})).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["body"]["output"]["events"], json!([]));
    assert_eq!(
        out["body"]["output"]["skipped"],
        json!([{"index": 0, "delivery_id": "g-1", "ticket_id": 1043, "reason": "deleted", "detail": "Ticket 1043 no longer exists in HaloITSM"}])
    );
    read_only(&server).await;
}

#[tokio::test]
async fn haloitsm_down_fails_the_step_so_the_workflow_can_retry() {
    let server = halo_with_token().await;
    Mock::given(method("GET")).and(path(format!("/api/Tickets/{T}"))).respond_with(ResponseTemplate::new(503)).mount(&server).await;
    Mock::given(method("GET"))
        .and(path("/api/Agent/me"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 1})))
        .mount(&server)
        .await;
    let (status, out) = run(&server, json!({"delivery": {"id": "g-2", "object_id": T}})).await;
    assert_eq!(status, 500, "{out}");
    assert!(out["body"]["error"].as_str().unwrap().contains("503"), "{out}");
    read_only(&server).await;
}

#[tokio::test]
async fn the_captured_delivery_shape_gives_its_status_change() {
    // The live capture of docs/halo-api.md#W2 and W4 (DOTMARC), as HaloITSM posted it.
    // Every delivery carries its `timestamp` (docs/halo-api.md#W2).
    let captured = json!({"id": "8e25bc7b-e07e-4102-9398-5d6647e1e79d", "webhook_id": "53232637-7724-4a19-b126-3c7267a292aa",
        "notification_id": 41, "event": "ticket status changed", "object_id": 4242, "agent_id": 3, "timestamp": "2026-09-01T10:00:00.4130000Z",
        "ticket": {"id": 4242, "status_id": 9, "team_id": 5, "agent_id": 3, "customfields": [], "hasbeenclosed": true}});
    let server = halo_with_token().await;
    let get = |p: &str| Mock::given(method("GET")).and(path(p.to_string()));
    get("/api/Tickets/4242")
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"id": 4242, "summary": "Phish", "status_id": 9, "hasbeenclosed": true,
            "datecreated": "2026-09-01T09:00:00", "lastactiondate": "2026-09-01T10:00:00"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    get("/api/Actions")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"actions": [
            {"id": 1, "datetime": "2026-09-01T09:00:00", "old_status": 1, "new_status": 1, "who_agentid": 0},
            {"id": 2, "datetime": "2026-09-01T10:00:00", "old_status": 1, "new_status": 9, "who_agentid": 3, "actionby_agent_id": 3, "note": "Closed"}]})))
        .expect(1)
        .mount(&server)
        .await;
    get("/api/Actions/2")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 2, "old_status": 1, "new_status": 9})))
        .mount(&server)
        .await;
    get("/api/Agent/me").respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 1}))).mount(&server).await;
    get("/api/Status")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{"id": 9, "name": "Closed", "type": 2}])))
        .mount(&server)
        .await;
    let (status, out) = run(&server, json!({"delivery": captured, "trigger": "ticket_status_changed"})).await;
    assert_eq!(status, 200, "{out}");
    let e = &out["body"]["output"]["events"][0];
    assert_eq!((e["old_status_id"].as_i64(), e["new_status_id"].as_i64()), (Some(1), Some(9)));
    assert_eq!(e["event_id"], "8e25bc7b-e07e-4102-9398-5d6647e1e79d");
    assert_eq!(e["ticket"]["closed"], true);
    assert_eq!(e["insightidr_status"], "CLOSED");
    read_only(&server).await;
}

#[tokio::test]
async fn without_the_history_no_previous_status_is_given_and_transitions_are_skipped_as_such() {
    let server = halo_with_token().await;
    let get = |p: &str| Mock::given(method("GET")).and(path(p.to_string()));
    get(&format!("/api/Tickets/{T}")).respond_with(ResponseTemplate::new(200).set_body_json(ticket())).mount(&server).await;
    get("/api/Actions").respond_with(ResponseTemplate::new(403).set_body_json(json!({"message": "Not allowed"}))).mount(&server).await;
    get("/api/Agent/me").respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 1}))).mount(&server).await;
    get("/api/Status")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{"id": 2, "name": "In Progress"}])))
        .mount(&server)
        .await;
    let d = json!({"id": "g-3", "event": "ticket status changed", "object_id": T, "timestamp": "2026-09-01T09:30:00.1000000Z"});
    let (status, out) = run(&server, json!({"delivery": d.clone(), "trigger": "ticket_updated"})).await;
    assert_eq!(status, 200, "{out}");
    let e = &out["body"]["output"]["events"][0];
    assert_eq!(e["event"], "updated");
    assert!(e.get("previous_status_id").is_none(), "not guessed: {e}");
    let (_, out) = run(&server, json!({"delivery": d, "trigger": "ticket_status_changed"})).await;
    assert_eq!(out["body"]["output"]["skipped"][0]["reason"], "no_history", "{out}");
    read_only(&server).await;
}

#[tokio::test]
async fn one_change_announced_twice_in_a_batch_is_given_once() {
    // Both deliveries name one ticket: it and its history are read once for the two.
    let server = halo_read(1, 0).await;
    let status_changed = json!({"id": "d-1", "event": "ticket updated", "object_id": T, "ticket": ticket(), "action": full_entry()});
    let reassigned = json!({"id": "d-2", "event": "ticket reassigned", "object_id": T, "ticket": ticket(), "action": full_entry()});
    let (status, out) = run(&server, json!({"deliveries": [status_changed, reassigned]})).await;
    assert_eq!(status, 200, "{out}");
    let o = &out["body"]["output"];
    assert_eq!(o["events"].as_array().unwrap().len(), 1, "{o}");
    assert_eq!(o["events"][0]["event_id"], "d-1");
    assert!(o["events"][0]["change_id"].as_str().unwrap().starts_with("halo:updated:1042:2026-09-01T09:30:00Z"), "{o}");
    assert_eq!((o["skipped"][0]["index"].as_i64(), o["skipped"][0]["reason"].as_str()), (Some(1), Some("duplicate")));
}
