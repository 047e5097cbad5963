//! Exactly what the webhook steps ask HaloITSM: a list and one write to create, a list and no
//! write when nothing changed, one more POST to test-fire, a list and one log read to check.

use sha2::{Digest, Sha256};
use wiremock::matchers::{body_json, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::*;
use crate::common::{connection, halo_with_token};

const ID: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";
const URL: &str = "https://us.api.insight.rapid7.com/connect/v1/workflows/1b2c3d4e/events/execute";

/// The note carrying the fingerprint of Basic `halo`/`s3cret` for `URL`.
fn note() -> String {
    let digest = Sha256::digest(format!("basic\n{URL}\nhalo\ns3cret").as_bytes());
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("Managed by Rapid7 InsightConnect (Set Up Webhook). Secret fingerprint: {hex}")
}

fn basic_input() -> Value {
    json!({"url": URL, "username": "halo", "password": "s3cret"})
}

/// The webhook as HaloITSM keeps it after the first set-up (no secret shown back).
fn saved() -> Value {
    json!({"id": ID, "name": "Rapid7 InsightConnect", "url": URL, "active": true, "disabled": false, "authentication_type": 1,
           "basic_username": "halo", "note": note(), "events": [{"id": 1, "name": "New Ticket Logged"}, {"id": 41, "name": "Ticket Status Changed"}]})
}

async fn halo(list: Value) -> MockServer {
    let server = halo_with_token().await;
    Mock::given(method("GET"))
        .and(path("/api/Webhook"))
        .respond_with(ResponseTemplate::new(200).set_body_json(list))
        .expect(1)
        .mount(&server)
        .await;
    server
}

async fn run(server: &MockServer, name: &str, input: Value) -> Value {
    let srv = PluginServer::start().await;
    let (status, out) = step_output(&srv, &connection(&server.uri()), name, input).await;
    assert_eq!(status, 200, "{out}");
    out
}

#[tokio::test]
async fn a_new_webhook_is_one_list_and_one_post_of_exactly_these_fields() {
    let server = halo(json!([{"id": "11111111-2222-4333-8444-555555555555", "name": "PagerDuty"}])).await;
    let expected = json!([{"name": "Rapid7 InsightConnect", "url": URL, "active": true, "disabled": false,
        "events": [{"name": "New Ticket Logged"}, {"name": "Ticket Status Changed"}], "authentication_type": 1, "note": note(),
        "basic_username": "halo", "basic_password": "s3cret"}]);
    Mock::given(method("POST"))
        .and(path("/api/Webhook"))
        .and(body_json(expected))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([saved()])))
        .expect(1)
        .mount(&server)
        .await;
    let out = run(&server, "setup_webhook", basic_input()).await;
    assert_eq!((out["webhook_id"].clone(), out["created"].clone()), (json!(ID), json!(true)), "{out}");
    let api_requests = server.received_requests().await.unwrap().iter().filter(|r| r.url.path().starts_with("/api/")).count();
    assert_eq!(api_requests, 2);
}

#[tokio::test]
async fn a_webhook_as_it_should_be_is_one_list_and_no_write() {
    let server = halo(json!([saved()])).await;
    Mock::given(method("POST")).and(path("/api/Webhook")).respond_with(ResponseTemplate::new(200)).expect(0).mount(&server).await;
    let out = run(&server, "setup_webhook", basic_input()).await;
    assert_eq!((out["created"].clone(), out["changed"].clone(), out["warnings"].clone()), (json!(false), json!([]), json!([])), "{out}");
}

#[tokio::test]
async fn a_custom_payload_is_left_alone_and_named() {
    let mut custom = saved();
    custom["payload_type"] = json!(1);
    let server = halo(json!([custom])).await;
    Mock::given(method("POST")).and(path("/api/Webhook")).respond_with(ResponseTemplate::new(200)).expect(0).mount(&server).await;
    let out = run(&server, "setup_webhook", basic_input()).await;
    assert_eq!(out["changed"], json!([]), "{out}");
    assert!(out["warnings"][0].as_str().unwrap().contains("custom payload"), "{out}");
}

#[tokio::test]
async fn a_switched_off_webhook_is_switched_on_keeping_its_events_and_test_fired() {
    let mut off = saved();
    off["disabled"] = json!(true);
    let server = halo(json!([off])).await;
    // The update names the webhook, keeps HaloITSM's own event objects, and sends no secret.
    let update = json!([{"name": "Rapid7 InsightConnect", "url": URL, "active": true, "disabled": false,
        "events": [{"id": 1, "name": "New Ticket Logged"}, {"id": 41, "name": "Ticket Status Changed"}], "authentication_type": 1,
        "note": note(), "id": ID}]);
    Mock::given(method("POST"))
        .and(path("/api/Webhook"))
        .and(body_json(update))
        .respond_with(ResponseTemplate::new(200).set_body_json(saved()))
        .expect(1)
        .mount(&server)
        .await;
    let test_result = json!({"id": ID, "_test_result": {"responsestatus": 200, "responsebody": "{\"run\":1}", "error": false}});
    Mock::given(method("POST"))
        .and(path("/api/Webhook"))
        .and(body_json(json!([{"id": ID, "_test": true}])))
        .respond_with(ResponseTemplate::new(200).set_body_json(test_result))
        .expect(1)
        .mount(&server)
        .await;
    let mut input = basic_input();
    input["test"] = json!(true);
    let out = run(&server, "setup_webhook", input).await;
    assert_eq!(out["changed"], json!(["disabled"]), "{out}");
    assert_eq!(out["test"], json!({"delivered": true, "status": 200, "answer": "{\"run\":1}"}));
}

#[tokio::test]
async fn a_check_is_one_list_and_one_log_read_of_this_webhook_only() {
    let server = halo(json!({"record_count": 1, "webhooks": [saved()]})).await;
    let failed = json!({"id": "a0000000-0000-4000-8000-000000000001", "webhook_id": ID, "timestamp": "2026-12-06T10:00:00.1234567Z",
        "responsestatus": 502, "error": true, "entity_id": 1042, "requestbody": "{\"id\":\"d-1\",\"object_id\":1042}"});
    let other = json!({"id": "a0000000-0000-4000-8000-000000000002", "webhook_id": "99999999-0000-4000-8000-000000000009",
        "timestamp": "2026-12-06T10:00:00Z", "responsestatus": 500, "error": true});
    let fine = json!({"id": "a0000000-0000-4000-8000-000000000003", "webhook_id": ID, "timestamp": "2026-12-06T10:01:00Z", "responsestatus": 200, "error": false});
    Mock::given(method("GET"))
        .and(path("/api/WebhookEvent"))
        .and(query_param("webhook_id", ID))
        .and(query_param("count", "1000"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([fine, failed, other])))
        .expect(1)
        .mount(&server)
        .await;
    let out = run(&server, "check_webhook", json!({"since": "2026-12-06T00:00:00Z"})).await;
    assert_eq!((out["enabled"].clone(), out["switched_off"].clone()), (json!(true), json!(false)), "{out}");
    assert_eq!(
        out["failed"],
        json!([{"log_id": "a0000000-0000-4000-8000-000000000001", "delivery_id": "d-1", "timestamp": "2026-12-06T10:00:00.123456700+00:00",
                "ticket_id": 1042, "response_status": 502, "recoverable": true}]),
        "another webhook's row is not this one's: {out}"
    );
}

#[tokio::test]
async fn a_save_answered_with_nothing_is_found_by_reading_the_list_again() {
    // The spec declares no answer for POST /Webhook: a tenant may send an empty 200.
    let server = halo_with_token().await;
    Mock::given(method("GET"))
        .and(path("/api/Webhook"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/Webhook"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([saved()])))
        .mount(&server)
        .await;
    Mock::given(method("POST")).and(path("/api/Webhook")).respond_with(ResponseTemplate::new(200)).expect(1).mount(&server).await;
    let out = run(&server, "setup_webhook", basic_input()).await;
    assert_eq!((out["webhook_id"].clone(), out["created"].clone()), (json!(ID), json!(true)), "{out}");
    let lists =
        server.received_requests().await.unwrap().iter().filter(|r| r.method.as_str() == "GET" && r.url.path() == "/api/Webhook").count();
    assert_eq!(lists, 2, "the list read again once");
}
