//! Every connection setting is checked once, when the connection is: a bad one fails the
//! connection test naming it (before anything is sent to HaloITSM), and fails an action and a
//! trigger start with that same message.

use crate::common;

use std::sync::Arc;

use common::connection;
use icon_haloitsm::plugin::{Mode, Plugin};
use icon_haloitsm::triggers;
use serde_json::{Value, json};
use wiremock::MockServer;

fn with(setting: &str, value: Value, base: &str) -> Value {
    let mut c = connection(base);
    c[setting] = value;
    c
}

fn error_of(message: &Value) -> String {
    message["body"]["error"].as_str().unwrap_or_default().to_string()
}

/// Each bad setting, and what its error must say.
fn bad_settings() -> Vec<(&'static str, Value, &'static str)> {
    vec![
        ("status_mapping", json!({"insightidr_to_halo": 5}), "`status_mapping`"),
        ("status_mapping", json!({"no_such_table": {}}), "`status_mapping`"),
        ("webhook_credentials", json!({"username": "halo-webhook", "password": ""}), "`webhook_credentials`"),
        ("webhook_api_key_header", json!("X API Key"), "`webhook_api_key_header`"),
        ("reference_field_id", json!(0), "`reference_field_id`"),
    ]
}

#[tokio::test]
async fn a_bad_setting_fails_the_connection_test_by_name_and_sends_nothing() {
    let halo = MockServer::start().await;
    let plugin = Plugin::new(false);
    for (setting, value, named) in bad_settings() {
        let msg = json!({"version": "v1", "type": "connection_test", "body": {"connection": with(setting, value.clone(), &halo.uri()), "input": {}}});
        let out = plugin.handle(msg, Mode::Test).await;
        assert_eq!(out.status, 400, "{setting} = {value}: {}", out.message);
        let error = error_of(&out.message);
        assert!(error.contains(named), "{setting} = {value}: {error}");
    }
    assert!(halo.received_requests().await.unwrap_or_default().is_empty(), "nothing was sent to HaloITSM");
}

#[tokio::test]
async fn an_action_and_a_trigger_report_a_bad_setting_as_the_connection_test_does() {
    let halo = MockServer::start().await;
    let plugin = Arc::new(Plugin::new(false));
    for (setting, value, _) in bad_settings() {
        let conn = with(setting, value.clone(), &halo.uri());
        let test =
            plugin.handle(json!({"version": "v1", "type": "connection_test", "body": {"connection": conn.clone()}}), Mode::Test).await;
        let action = plugin
            .handle(
                json!({"version": "v1", "type": "action_start", "body": {"action": "get_ticket", "connection": conn.clone(), "input": {"ticket_id": 1}}}),
                Mode::Run,
            )
            .await;
        assert_eq!(action.status, 400, "{}", action.message);
        let dir = tempfile::tempdir().unwrap();
        let opts =
            triggers::Options { debug: true, state_dir: dir.path().into(), flag_file: dir.path().join("stop.flag"), poll_every: None };
        let start = json!({"version": "v1", "type": "trigger_start", "body": {"trigger": "ticket_created", "connection": conn,
            "input": {"source": "webhook", "webhook_bind": "127.0.0.1", "webhook_port": 1}}});
        let trigger = triggers::run(plugin.clone(), start, opts, std::future::ready(())).await.expect_err("the trigger does not start");
        // The connection test's cause is wrapped in "Connection test failed!"; the setting's own
        // sentence is the same everywhere.
        let cause = error_of(&action.message);
        assert!(error_of(&test.message).contains(&cause), "{setting}: test {} vs action {cause}", test.message);
        assert_eq!(error_of(&trigger), cause, "{setting}");
    }
    assert!(halo.received_requests().await.unwrap_or_default().is_empty(), "nothing was sent to HaloITSM");
}

#[tokio::test]
async fn credentials_left_empty_count_as_not_set() {
    let halo = MockServer::start().await;
    let conn = with("webhook_credentials", json!({"username": "", "password": ""}), &halo.uri());
    let cfg = Plugin::new(false).connection(&conn).expect("empty webhook credentials are accepted");
    assert!(cfg.webhook_credentials.is_none());
}
