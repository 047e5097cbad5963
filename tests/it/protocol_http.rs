//! Protocol conformance of http mode: envelopes, status codes, masking, validation, meta echo,
//! log capture, shutdown, unknown routes, malformed and oversized bodies, the client cache.

use crate::common;

use std::time::Duration;

use common::*;
use icon_haloitsm::server::ServerOptions;
use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn halo() -> MockServer {
    halo_with_token().await
}

fn ticket_42() -> Value {
    json!({"id": 42, "summary": "Suspicious login", "details": "Seen from 203.0.113.9", "tickettype_id": 4, "tickettype_name": "Security Incident",
           "status_id": 2, "status_name": "In Progress", "agent_id": 0, "agent_name": "Unassigned", "team": "", "team_id": 0,
           "dateoccurred": "2026-09-01T08:00:00", "dateclosed": "1900-01-01T00:00:00", "hasbeenclosed": false})
}

#[tokio::test]
async fn get_ticket_envelope_meta_echo_and_log() {
    let halo = halo().await;
    Mock::given(method("GET"))
        .and(path("/api/Tickets/42"))
        .and(query_param("includedetails", "true"))
        .respond_with(ResponseTemplate::new(200).set_body_json(ticket_42()))
        .expect(1)
        .mount(&halo)
        .await;
    let srv = PluginServer::start().await;
    let (status, body) =
        post(&srv.url("/api/v1/actions/get_ticket"), &action("get_ticket", connection(&halo.uri()), json!({"ticket_id": 42}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["type"], "action_event");
    assert_eq!(body["version"], "v1");
    assert_eq!(body["body"]["status"], "ok");
    assert_eq!(body["body"]["meta"], json!({"jobId": "job-1", "stepId": "step-1"}));
    assert_eq!(body["body"]["output"]["found"], true);
    let t = &body["body"]["output"]["ticket"];
    assert_eq!(t["id"], 42);
    assert_eq!(t["status_name"], "In Progress");
    assert_eq!(t["dateoccurred"], "2026-09-01T08:00:00Z");
    assert_eq!(t["url"], format!("{}/ticket?id=42", halo.uri()));
    assert!(t.get("agent_id").is_none() && t.get("dateclosed").is_none(), "unassigned/sentinel values are omitted: {t}");
    let log = body["body"]["log"].as_str().unwrap();
    assert!(log.contains("Step name: get_ticket"), "{log}");
    assert!(log.contains("Found ticket 42"), "{log}");
}

#[tokio::test]
async fn legacy_route_and_unknown_ticket() {
    let halo = halo().await;
    Mock::given(method("GET"))
        .and(path("/api/Tickets/7"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"Message": "not found"})))
        .mount(&halo)
        .await;
    ticket_list_probe().mount(&halo).await;
    let srv = PluginServer::start().await;
    let (status, body) = post(
        &srv.url("/actions/get_ticket"),
        &action("get_ticket", connection(&halo.uri()), json!({"ticket_id": 7, "include_details": false})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["body"]["output"], json!({"ticket": {}, "found": false}));
}

#[tokio::test]
async fn invalid_input_is_a_400_naming_the_field_and_sends_nothing() {
    let halo = halo().await;
    Mock::given(method("GET"))
        .and(path("/api/Tickets/42"))
        .respond_with(ResponseTemplate::new(200).set_body_json(ticket_42()))
        .expect(0)
        .mount(&halo)
        .await;
    let srv = PluginServer::start().await;
    let url = srv.url("/api/v1/actions/get_ticket");
    for (input, expect) in [
        (json!({"ticket_id": "abc"}), "input `ticket_id`: expected an integer, got the string \"abc\""),
        (json!({}), "input `ticket_id`: is required"),
        (json!({"ticket_id": 42, "include_details": "yes"}), "input `include_details`: expected a boolean"),
        (json!({"ticket_id": -3}), "`ticket_id` must be a positive ticket ID"),
    ] {
        let (status, body) = post(&url, &action("get_ticket", connection(&halo.uri()), input.clone())).await;
        assert_eq!(status, 400, "{input} -> {body}");
        assert_eq!(body["body"]["status"], "error");
        assert!(body["body"]["error"].as_str().unwrap().contains(expect), "{input}: {}", body["body"]["error"]);
        assert!(body["body"]["exception"]["assistance"].as_str().unwrap().len() > 10);
        assert!(body["body"].get("output").is_none());
    }
}

#[tokio::test]
async fn invalid_connection_is_a_400_naming_the_field() {
    let srv = PluginServer::start().await;
    let mut conn = connection("http://127.0.0.1:9");
    conn["resource_server"] = json!("not a url");
    let (status, body) = post(&srv.url("/api/v1/actions/get_ticket"), &action("get_ticket", conn, json!({"ticket_id": 1}))).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["body"]["error"].as_str().unwrap().contains("resource_server"), "{body}");
    let mut conn = connection("http://127.0.0.1:9");
    conn.as_object_mut().unwrap().remove("client_id");
    let (status, body) = post(&srv.url("/api/v1/actions/get_ticket"), &action("get_ticket", conn, json!({"ticket_id": 1}))).await;
    assert_eq!(status, 400);
    assert!(body["body"]["error"].as_str().unwrap().contains("connection `client_id`"), "{body}");
}

#[tokio::test]
async fn upstream_failures_carry_cause_and_assistance_and_the_right_status() {
    let halo = halo().await;
    Mock::given(method("GET"))
        .and(path("/api/Tickets/1"))
        .respond_with(ResponseTemplate::new(503).set_body_json(json!({"Message": "maintenance"})))
        .mount(&halo)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/Tickets/2"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({"Message": "no access"})))
        .mount(&halo)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/Tickets/3"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"ClassName": "X", "Message": "bad id"})))
        .mount(&halo)
        .await;
    let srv = PluginServer::start().await;
    let run = |id: i64| {
        post_owned(srv.url("/api/v1/actions/get_ticket"), action("get_ticket", connection(&halo.uri()), json!({"ticket_id": id})))
    };
    let (s, b) = run(1).await;
    assert_eq!(s, 500, "{b}");
    assert!(b["body"]["exception"]["cause"].as_str().unwrap().contains("HTTP 503"));
    assert!(b["body"]["error"].as_str().unwrap().starts_with("An error occurred during plugin execution!"));
    let (s, b) = run(2).await;
    assert_eq!(s, 500, "{b}");
    assert!(b["body"]["exception"]["assistance"].as_str().unwrap().contains("permission"));
    let (s, b) = run(3).await;
    assert_eq!(s, 400, "a HaloITSM validation error is the caller's: {b}");
    assert_eq!(b["body"]["exception"]["data"], "bad id");
}

async fn post_owned(url: String, body: Value) -> (u16, Value) {
    post(&url, &body).await
}

#[tokio::test]
async fn secrets_are_masked_in_output_and_log() {
    let halo = halo().await;
    let mut t = ticket_42();
    t["summary"] = json!(format!("someone pasted {SECRET} here"));
    Mock::given(method("GET")).and(path("/api/Tickets/42")).respond_with(ResponseTemplate::new(200).set_body_json(t)).mount(&halo).await;
    let srv = PluginServer::start().await;
    let (status, body) =
        post(&srv.url("/api/v1/actions/get_ticket"), &action("get_ticket", connection(&halo.uri()), json!({"ticket_id": 42}))).await;
    assert_eq!(status, 200);
    let text = body.to_string();
    assert!(!text.contains(SECRET), "{text}");
    assert_eq!(body["body"]["output"]["ticket"]["summary"], "someone pasted ******** here");
}

#[tokio::test]
async fn route_name_must_match_body_name() {
    let srv = PluginServer::start().await;
    let (status, body) = post(&srv.url("/api/v1/actions/get_user"), &action("get_ticket", connection("http://x"), json!({}))).await;
    assert_eq!(status, 400);
    assert_eq!(body["description"], "Action name (get_ticket) in input body is not matching with name (get_user) in route");
    assert_eq!(body["code"], 400);
    assert_eq!(body["method"], "POST");
}

#[tokio::test]
async fn unknown_action_and_unknown_message_type() {
    let srv = PluginServer::start().await;
    let (status, body) = post(&srv.url("/api/v1/actions/nope"), &action("nope", connection("http://x"), json!({}))).await;
    assert_eq!(status, 400);
    assert!(body["body"]["error"].as_str().unwrap().starts_with("Unknown action \"nope\""), "{body}");
    let mut msg = action("get_ticket", connection("http://x"), json!({}));
    msg["version"] = json!("v2");
    let (status, body) = post(&srv.url("/api/v1/actions/get_ticket"), &msg).await;
    assert_eq!(status, 400);
    assert_eq!(body["body"]["error"], "Unsupported version 'v2'. Only v1 is supported");
}

#[tokio::test]
async fn malformed_empty_and_oversized_bodies_get_json_errors() {
    let srv = PluginServer::start_with(ServerOptions { body_limit: 1024, ..Default::default() }).await;
    let url = srv.url("/api/v1/actions/get_ticket");
    let resp = http().post(&url).header("content-type", "application/json").body("{not json").send().await.unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["name"], "Bad Request");
    assert!(body["description"].as_str().unwrap().contains("not valid JSON"));
    let (status, body) = post(&url, &json!({})).await;
    assert_eq!((status, body), (400, json!({"error": "Empty input provided"})));
    let big = action("get_ticket", connection("http://x"), json!({"ticket_id": 1, "pad": "x".repeat(4096)}));
    let resp = http().post(&url).json(&big).send().await.unwrap();
    assert_eq!(resp.status(), 413);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], 413);
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let srv = PluginServer::start().await;
    let resp = http().get(srv.url("/nowhere")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], 404);
    assert_eq!(body["method"], "GET");
    assert!(body["url"].as_str().unwrap().ends_with("/nowhere"));
    let resp = http().post(srv.url("/")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    let resp = http().delete(srv.url("/api/v1/actions/get_ticket")).send().await.unwrap();
    assert_eq!(resp.status(), 405);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], 405);
    let (status, body) = post(&srv.url("/api/v1/connection/other"), &json!({"a": 1})).await;
    assert_eq!(status, 404);
    assert_eq!(body["name"], "Not Found");
}

#[tokio::test]
async fn describing_routes() {
    let srv = PluginServer::start().await;
    let (s, info) = get(&srv.url("/api/v1/info")).await;
    assert_eq!(s, 200);
    assert_eq!(info["name"], "haloitsm");
    assert_eq!(info["plugin_spec_version"], "v2");
    assert_eq!(info["enable_cache"], true);
    for k in ["description", "version", "vendor", "title", "support", "tags", "number_of_workers", "threads", "sdk_version"] {
        assert!(info.get(k).is_some(), "{k} missing from {info}");
    }
    let (_, actions) = get(&srv.url("/api/v1/actions")).await;
    assert!(actions.as_array().unwrap().contains(&json!("get_ticket")));
    let (s, triggers) = get(&srv.url("/api/v1/triggers")).await;
    assert_eq!(s, 200);
    assert!(triggers.is_array());
    let (s, details) = get(&srv.url("/api/v1/actions/get_ticket")).await;
    assert_eq!(s, 200);
    assert_eq!(details["title"], "Get Ticket");
    assert_eq!(details["input"]["ticket_id"]["type"], "integer");
    let (s, err) = get(&srv.url("/api/v1/actions/nope")).await;
    assert_eq!((s, err), (400, json!({"error": "Action nope does not exist"})));
    let (s, err) = get(&srv.url("/api/v1/triggers/nope")).await;
    assert_eq!((s, err), (400, json!({"error": "Trigger nope does not exist"})));
    let (_, defs) = get(&srv.url("/api/v1/definitions/actions")).await;
    let gt = defs["actionsDefinitions"].as_array().unwrap().iter().find(|d| d["identifier"] == "get_ticket").unwrap().clone();
    assert_eq!(gt["inputJsonSchema"]["required"], json!(["ticket_id"]));
    assert_eq!(gt["inputJsonSchema"]["properties"]["include_details"]["default"], true);
    let (_, spec) = get(&srv.url("/api/v1/spec")).await;
    assert_eq!(spec["name"], "haloitsm");
    let yaml = http().get(srv.url("/api/v1/spec?format=yaml")).send().await.unwrap().text().await.unwrap();
    assert!(yaml.starts_with("plugin_spec_version: v2"));
    let (s, _) = get(&srv.url("/api/v1/spec?format=xml")).await;
    assert_eq!(s, 422);
    let (s, api) = get(&srv.url("/api/v1/api")).await;
    assert_eq!(s, 200);
    assert_eq!(api["info"]["title"], "InsightConnect Plugin Runtime API");
    let (_, status) = get(&srv.url("/api/v1/status")).await;
    assert_eq!(status, json!({"status": "Ready"}));
    let (_, conn) = get(&srv.url("/api/v1/connection")).await;
    assert_eq!(conn["properties"]["client_secret"]["$ref"], "#/definitions/credential_secret_key");
    assert_eq!(conn["required"], json!(["client_id", "client_secret", "authorization_server", "resource_server"]));
}

#[tokio::test]
async fn connection_tests_on_every_route() {
    let halo = halo().await;
    Mock::given(method("GET"))
        .and(path("/api/Tickets"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"record_count": 0, "tickets": []})))
        .mount(&halo)
        .await;
    mount_agent_and_teams(&halo).await;
    let srv = PluginServer::start().await;
    let msg = json!({"version": "v1", "type": "connection_test", "body": {"connection": connection(&halo.uri())}});
    for route in ["/api/v1/connection/test", "/api/v1/connection/test_task"] {
        let (s, b) = post(&srv.url(route), &msg).await;
        assert_eq!(s, 200, "{route}: {b}");
        assert_eq!(b["type"], "connection_test");
        assert_eq!(b["body"]["output"], json!({"success": true}));
    }
    let (s, b) = post(&srv.url("/api/v1/actions/get_ticket/test"), &action("get_ticket", connection(&halo.uri()), json!({}))).await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = post(&srv.url("/actions/get_ticket/test"), &action("get_ticket", connection(&halo.uri()), json!({}))).await;
    assert_eq!(s, 200, "{b}");
}

#[tokio::test]
async fn a_failed_connection_test_is_a_400_with_the_part_to_fix() {
    let halo = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/auth/token"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"error": "invalid_client", "error_description": "bad secret"})))
        .mount(&halo)
        .await;
    let srv = PluginServer::start().await;
    let msg = json!({"version": "v1", "type": "connection_test", "body": {"connection": connection(&halo.uri())}});
    let (s, b) = post(&srv.url("/api/v1/connection/test"), &msg).await;
    assert_eq!(s, 400, "{b}");
    assert!(b["body"]["error"].as_str().unwrap().starts_with("Connection test failed!"));
    assert!(b["body"]["exception"]["cause"].as_str().unwrap().contains("client credentials"));
    assert!(b["body"]["exception"]["assistance"].as_str().unwrap().contains("Client Secret"));
    assert!(!b.to_string().contains(SECRET));
}

#[tokio::test]
async fn one_client_and_one_token_per_connection_across_requests() {
    let halo = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/auth/token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"access_token": "tok", "token_type": "Bearer", "expires_in": 3600}))
                .set_delay(Duration::from_millis(100)),
        )
        .expect(2)
        .mount(&halo)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/Tickets/42"))
        .respond_with(ResponseTemplate::new(200).set_body_json(ticket_42()))
        .mount(&halo)
        .await;
    let srv = PluginServer::start().await;
    let url = srv.url("/api/v1/actions/get_ticket");
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (url, msg) = (url.clone(), action("get_ticket", connection(&halo.uri()), json!({"ticket_id": 42})));
        tasks.push(tokio::spawn(async move { post(&url, &msg).await.0 }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    // A different secret is a different connection: its own client and token.
    let mut other = connection(&halo.uri());
    other["client_secret"] = json!({"secretKey": "another"});
    assert_eq!(post(&url, &action("get_ticket", other, json!({"ticket_id": 42}))).await.0, 200);
    assert_eq!(srv.state.plugin.cached_clients(), 2);
}

#[tokio::test]
async fn admin_shutdown_refuses_new_work_and_lets_in_flight_work_finish() {
    let halo = halo().await;
    Mock::given(method("GET"))
        .and(path("/api/Tickets/42"))
        .respond_with(ResponseTemplate::new(200).set_body_json(ticket_42()).set_delay(Duration::from_millis(800)))
        .mount(&halo)
        .await;
    let srv = PluginServer::start().await;
    let url = srv.url("/api/v1/actions/get_ticket");
    let msg = action("get_ticket", connection(&halo.uri()), json!({"ticket_id": 42}));
    let slow = tokio::spawn({
        let (url, msg) = (url.clone(), msg.clone());
        async move { post(&url, &msg).await }
    });
    eventually("the step to be under way", async || srv.state.active_work() == 1).await;
    let (_, st) = get(&srv.url("/api/v1/admin/status")).await;
    assert_eq!(st, json!({"shutdown_initiated": false, "shutdown_safe": false, "active_work": 1}));
    let (s, b) = post(&srv.url("/api/v1/admin/shutdown"), &json!({})).await;
    assert_eq!((s, b), (200, json!({"message": "Shutdown request accepted."})));
    let (s, b) = post(&url, &msg).await;
    assert_eq!((s, b), (503, json!({"error": "Shutdown in progress. No new work can be accepted."})));
    let (_, st) = get(&srv.url("/api/v1/admin/status")).await;
    assert_eq!(st, json!({"shutdown_initiated": true, "shutdown_safe": false, "active_work": 1}));
    let (s, b) = slow.await.unwrap();
    assert_eq!(s, 200, "{b}");
    let (_, st) = get(&srv.url("/api/v1/admin/status")).await;
    assert_eq!(st, json!({"shutdown_initiated": true, "shutdown_safe": true, "active_work": 0}));
}

#[tokio::test]
async fn a_termination_signal_drains_in_flight_steps_then_stops() {
    let halo = halo().await;
    Mock::given(method("GET"))
        .and(path("/api/Tickets/42"))
        .respond_with(ResponseTemplate::new(200).set_body_json(ticket_42()).set_delay(Duration::from_millis(700)))
        .mount(&halo)
        .await;
    let mut srv = PluginServer::start().await;
    let url = srv.url("/api/v1/actions/get_ticket");
    let msg = action("get_ticket", connection(&halo.uri()), json!({"ticket_id": 42}));
    let slow = tokio::spawn({
        let (url, msg) = (url.clone(), msg.clone());
        async move { post(&url, &msg).await }
    });
    eventually("the step to be under way", async || srv.state.active_work() == 1).await;
    srv.signal_stop();
    let (s, _) = slow.await.unwrap();
    assert_eq!(s, 200, "the in-flight step finished");
    let done = srv.done.take().unwrap();
    tokio::time::timeout(Duration::from_secs(5), done).await.expect("server stopped").unwrap().unwrap();
    assert!(http().post(&url).json(&msg).send().await.is_err(), "no new connections after shutdown");
}

#[tokio::test]
async fn a_secret_echoed_by_halo_is_masked_in_error_exception_and_log() {
    let halo = halo().await;
    Mock::given(method("GET"))
        .and(path("/api/Tickets/5"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"Message": format!("client_secret {SECRET} is not allowed here")})))
        .mount(&halo)
        .await;
    let srv = PluginServer::start().await;
    let (status, body) =
        post(&srv.url("/api/v1/actions/get_ticket"), &action("get_ticket", connection(&halo.uri()), json!({"ticket_id": 5}))).await;
    assert_eq!(status, 400, "{body}");
    let b = &body["body"];
    for text in [&b["error"], &b["exception"]["data"], &b["log"]] {
        let t = text.as_str().unwrap();
        assert!(t.contains("client_secret ******** is not allowed"), "{t}");
    }
    assert!(!body.to_string().contains(SECRET));
    assert!(b["log"].as_str().unwrap().contains("ERROR"), "the error is part of the step log: {}", b["log"]);
}

#[tokio::test]
async fn a_secret_sent_as_a_bare_string_is_never_echoed() {
    let srv = PluginServer::start().await;
    let mut conn = connection("http://127.0.0.1:9");
    conn["client_secret"] = json!(SECRET);
    let (status, body) = post(&srv.url("/api/v1/actions/get_ticket"), &action("get_ticket", conn, json!({"ticket_id": 1}))).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["body"]["error"].as_str().unwrap().contains("connection `client_secret`: expected a secret key object"), "{body}");
    assert!(!body.to_string().contains(SECRET), "{body}");
}

#[tokio::test]
async fn an_id_beyond_64_bits_is_a_400_not_a_plugin_bug() {
    let srv = PluginServer::start().await;
    let msg = action("get_ticket", connection("http://127.0.0.1:9"), json!({"ticket_id": 18446744073709551615u64}));
    let (status, body) = post(&srv.url("/api/v1/actions/get_ticket"), &msg).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["body"]["error"].as_str().unwrap().contains("too large"), "{body}");
}

#[tokio::test]
async fn malformed_paths_and_queries_answer_json_with_the_full_url() {
    let srv = PluginServer::start().await;
    let resp = http().get(srv.url("/api/v1/actions/%FF")).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let body: Value = resp.json().await.unwrap();
    assert!(body["url"].as_str().unwrap().starts_with("/api/v1/actions/"), "{body}");
    let resp = http().get(srv.url("/api/v1/spec?format=a&format=b")).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let (s, body) = post(&srv.url("/api/v1/actions/get_ticket"), &action("other", connection("http://x"), json!({}))).await;
    assert_eq!(s, 400);
    assert_eq!(body["url"], "/api/v1/actions/get_ticket");
    let (_, info) = get(&srv.url("/api/v1/info")).await;
    assert_eq!(info["sdk_version"], icon_haloitsm::spec::spec().doc["sdk"]["version"]);
}

#[tokio::test]
async fn a_rejected_message_still_echoes_its_meta_and_type() {
    let srv = PluginServer::start().await;
    let msg = json!({"version": "v2", "type": "action_start", "body": {"action": "get_ticket", "meta": {"jobId": "J"}}});
    let (status, body) = post(&srv.url("/api/v1/actions/get_ticket"), &msg).await;
    assert_eq!(status, 400);
    assert_eq!(body["type"], "action_event");
    assert_eq!(body["body"]["meta"], json!({"jobId": "J"}));
    let msg = json!({"version": "v1", "type": "action_start", "body": {"action": "get_ticket", "meta": null, "connection": connection("http://127.0.0.1:9"), "input": {}}});
    let (_, body) = post(&srv.url("/api/v1/actions/get_ticket"), &msg).await;
    assert_eq!(body["body"]["meta"], Value::Null, "a null meta is echoed as null");
}

#[tokio::test]
async fn an_upstream_echoing_the_request_never_puts_the_token_or_secret_in_an_answer() {
    let srv = PluginServer::start().await;
    for halo in [echoing_token_endpoint().await, echoing_api().await] {
        for (name, input) in [("get_ticket", json!({"ticket_id": 5})), ("add_comment", json!({"ticket_id": 5, "comment": "x"}))] {
            let (status, body) =
                post(&srv.url(&format!("/api/v1/actions/{name}")), &action(name, odd_connection(&halo.uri()), input)).await;
            assert!(status >= 400, "{body}");
            let text = body.to_string();
            assert!(text.contains("********"), "the echo is shown, masked: {text}");
            assert_eq!(leaked(&text), Vec::<String>::new(), "{text}");
        }
        // The connection test too.
        let msg = json!({"version": "v1", "type": "action_start", "body": {"action": "get_ticket", "meta": {},
                         "connection": odd_connection(&halo.uri()), "input": {}}});
        let (_, body) = post(&srv.url("/api/v1/actions/get_ticket/test"), &msg).await;
        assert_eq!(leaked(&body.to_string()), Vec::<String>::new(), "{body}");
    }
}
