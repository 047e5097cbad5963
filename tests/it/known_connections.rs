//! A connection is checked once per distinct text and reused by later steps: what a step owes its
//! user (the warning about an unknown key, the masking of its own secrets, the error of a bad
//! setting) must still hold on every step, not only the first.

use crate::common;

use common::*;
use icon_haloitsm::plugin::{Mode, Plugin};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A HaloITSM whose ticket 42 shows `shown` in its summary (a server that echoes what it got).
async fn echoing(shown: &str) -> MockServer {
    let halo = halo_with_token().await;
    Mock::given(method("GET"))
        .and(path("/api/Tickets/42"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 42, "summary": format!("echo {shown}"), "tickettype_id": 1})))
        .mount(&halo)
        .await;
    halo
}

async fn run(plugin: &Plugin, conn: &Value) -> Value {
    plugin.handle(action("get_ticket", conn.clone(), json!({"ticket_id": 42})), Mode::Run).await.message
}

#[tokio::test]
async fn every_step_on_a_known_connection_still_warns_about_unknown_keys_and_masks_its_secret() {
    let halo = echoing(SECRET).await;
    let plugin = Plugin::new(false).with_retry_policy(fast_retries());
    let mut conn = connection(&halo.uri());
    conn["client_secert"] = json!("typo");
    for step in 1..=3 {
        let out = run(&plugin, &conn).await;
        assert_eq!(out["body"]["status"], "ok", "step {step}: {out}");
        assert_eq!(out["body"]["output"]["ticket"]["summary"], "echo ********", "step {step}");
        let log = out["body"]["log"].as_str().unwrap();
        assert!(log.contains("Ignored input `client_secert` of the connection"), "step {step}: {log}");
    }
    assert_eq!(plugin.cached_clients(), 1);
}

#[tokio::test]
async fn a_changed_secret_is_a_new_connection_masked_with_its_own_secret() {
    let other = "a-different-client-secret";
    let halo = echoing(other).await;
    let plugin = Plugin::new(false).with_retry_policy(fast_retries());
    let first = connection(&halo.uri());
    assert_eq!(run(&plugin, &first).await["body"]["status"], "ok");
    let mut second = first.clone();
    second["client_secret"] = json!({"secretKey": other});
    let out = run(&plugin, &second).await;
    assert_eq!(out["body"]["output"]["ticket"]["summary"], "echo ********", "{out}");
    assert!(!out.to_string().contains(other));
    assert_eq!(plugin.cached_clients(), 2);
}

#[tokio::test]
async fn a_connection_that_fails_its_check_fails_on_every_step_and_changes_nothing() {
    let halo = echoing("nothing").await;
    let plugin = Plugin::new(false).with_retry_policy(fast_retries());
    let mut bad = connection(&halo.uri());
    bad["resource_server"] = json!("not a url");
    for step in 1..=2 {
        let out = run(&plugin, &bad).await;
        assert_eq!(out["body"]["status"], "error", "step {step}: {out}");
        assert!(out["body"]["exception"]["cause"].as_str().unwrap().contains("resource_server"), "step {step}: {out}");
    }
    assert_eq!(plugin.cached_clients(), 0);
    assert!(halo.received_requests().await.unwrap().is_empty(), "a bad connection reaches nothing");
    assert_eq!(run(&plugin, &connection(&halo.uri())).await["body"]["status"], "ok", "the corrected connection works at once");
}
