//! The webhook set up, run twice, test-fired, switched off by HaloITSM, its missed deliveries
//! recovered, and the tenants that offer less.

use super::*;
use halo_sim::{DeliveryLog, WebhookAccess, WebhookApiVariant};

#[tokio::test]
async fn set_up_twice_is_one_webhook_unchanged_the_second_time_and_it_delivers() {
    let (halo, srv, conn) = world(Profile::default()).await;
    let (url, taken) = api_trigger().await;
    let first = setup(&srv, &conn, setup_input(&url, API_KEY)).await;
    assert_eq!((first["created"].clone(), first["changed"].clone()), (json!(true), json!([])), "{first}");
    assert!(first["webhook"].get("basic_password").is_none(), "the key is never shown back: {first}");
    assert!(!first.to_string().contains(API_KEY), "{first}");
    let second = setup(&srv, &conn, setup_input(&url, API_KEY)).await;
    assert_eq!((second["created"].clone(), second["changed"].clone()), (json!(false), json!([])), "{second}");
    assert_eq!(second["webhook_id"], first["webhook_id"]);
    assert_eq!(halo.sim.api_webhooks().len(), 1);
    assert_eq!(requests(&halo, "POST /api/Webhook"), 1, "the second run wrote nothing");

    // HaloITSM now posts changes to the API Trigger, with its key, and they are events.
    halo.sim.agent_edit(101, json!({"status_id": 6}), None).unwrap();
    let deliveries = taken.deliveries(1).await;
    assert_eq!(deliveries[0]["webhook_id"], first["webhook_id"], "{deliveries:?}");
    let (status, out) = step_output(&srv, &conn, "process_webhook", json!({"delivery": deliveries[0]})).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["events"][0]["event"], "status_changed", "{out}");
}

#[tokio::test]
async fn thin_list_rows_are_read_in_full_and_the_set_up_stays_idempotent() {
    let profile = Profile { webhook_api: WebhookApiVariant { thin_list_rows: true, ..Default::default() }, ..Profile::default() };
    let (halo, srv, conn) = world(profile).await;
    let (url, _trigger) = api_trigger().await;
    setup(&srv, &conn, setup_input(&url, API_KEY)).await;
    let again = setup(&srv, &conn, setup_input(&url, API_KEY)).await;
    assert_eq!(again["changed"], json!([]), "{again}");
    assert_eq!(requests(&halo, "POST /api/Webhook"), 1);
    assert_eq!(requests(&halo, "GET /api/Webhook/{id}"), 1, "the thin row of the second run was read in full once");
}

#[tokio::test]
async fn a_test_fire_reaches_the_trigger_and_a_wrong_key_is_reported() {
    let (halo, srv, conn) = world(Profile::default()).await;
    let (url, taken) = api_trigger().await;
    let out = setup(&srv, &conn, json!({"url": url, "authentication": "api_key", "api_key": API_KEY, "test": true})).await;
    assert_eq!(out["test"]["delivered"], true, "{out}");
    assert_eq!(out["test"]["status"], 200);
    assert_eq!(taken.deliveries(1).await[0]["event"], "webhook test");

    let wrong = setup(&srv, &conn, json!({"url": url, "authentication": "api_key", "api_key": "not-the-key", "test": true})).await;
    assert_eq!(wrong["changed"], json!(["secret"]), "{wrong}");
    assert_eq!((wrong["test"]["delivered"].clone(), wrong["test"]["status"].clone()), (json!(false), json!(401)), "{wrong}");
    assert!(wrong["warnings"].to_string().contains("test delivery failed"), "{wrong}");
    assert_eq!(halo.sim.webhook_log().len(), 2, "both test deliveries are in HaloITSM's log");
}

#[tokio::test]
async fn a_webhook_switched_off_is_reported_its_missed_deliveries_recovered_and_set_up_heals_it() {
    let (halo, srv, conn) = world(Profile::default()).await;
    let (url, taken) = api_trigger().await;
    // The API Trigger's key was rotated in InsightConnect: every delivery is refused.
    let out = setup(&srv, &conn, setup_input(&url, "an-old-key")).await;
    let id = out["webhook_id"].as_str().unwrap().to_string();
    halo.sim.edit_api_webhook(&id, json!({"auto_disable_attempts": 2})).unwrap();
    halo.sim.agent_edit(101, json!({"status_id": 6}), None).unwrap();
    halo.sim.advance_clock(std::time::Duration::from_secs(1));
    halo.sim.agent_edit(102, json!({"agent_id": 4}), None).unwrap();
    eventually("HaloITSM to switch the webhook off", async || halo.sim.api_webhooks()[0]["disabled"] == json!(true)).await;
    halo.sim.advance_clock(std::time::Duration::from_secs(1));
    halo.sim.agent_edit(103, json!({"status_id": 6}), None).unwrap();

    let state = check(&srv, &conn, json!({"since": "2000-01-01T00:00:00Z"})).await;
    assert_eq!(
        (state["enabled"].clone(), state["switched_off"].clone(), state["delivery_log"].clone()),
        (json!(false), json!(true), json!(true)),
        "{state}"
    );
    assert_eq!(state["failed"].as_array().map(Vec::len), Some(2), "{state}");
    assert!(state["advice"].as_str().unwrap().contains("switched the webhook off"), "{state}");
    assert!(state.get("recovered").is_none());

    // Recovered: the events process_webhook gives for the very deliveries that failed.
    let logged: Vec<Value> =
        halo.sim.webhook_log().iter().map(|r| serde_json::from_str(r["requestbody"].as_str().unwrap()).unwrap()).collect();
    let (status, direct) = step_output(&srv, &conn, "process_webhook", json!({"deliveries": logged})).await;
    assert_eq!(status, 200, "{direct}");
    let recovered = check(&srv, &conn, json!({"since": "2000-01-01T00:00:00Z", "recover": true})).await;
    let ids = |events: &Value| {
        let mut ids: Vec<String> = events.as_array().unwrap().iter().map(|e| e["event_id"].as_str().unwrap().to_string()).collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&recovered["recovered"]["events"]).len(), 2, "{recovered}");
    assert_eq!(ids(&recovered["recovered"]["events"]), ids(&direct["events"]));
    let again = check(&srv, &conn, json!({"since": "2000-01-01T00:00:00Z", "recover": true})).await;
    assert_eq!(ids(&again["recovered"]["events"]), ids(&recovered["recovered"]["events"]), "a second recovery gives the same event IDs");

    // Set up with the new key: switched on again, and the next change arrives.
    let healed = setup(&srv, &conn, setup_input(&url, API_KEY)).await;
    let changed: Vec<&str> = healed["changed"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert_eq!(changed, vec!["disabled", "secret"], "{healed}");
    assert_eq!(check(&srv, &conn, json!({})).await["enabled"], true);
    halo.sim.advance_clock(std::time::Duration::from_secs(1));
    halo.sim.agent_edit(104, json!({"status_id": 6}), None).unwrap();
    assert_eq!(taken.deliveries(1).await[0]["object_id"], 104, "only the change after the heal was delivered");
}

#[tokio::test]
async fn without_a_delivery_log_the_step_says_so_and_points_to_polling() {
    for log in [DeliveryLog::Absent, DeliveryLog::Keyed] {
        let profile = Profile { webhook_api: WebhookApiVariant { delivery_log: log, ..Default::default() }, ..Profile::default() };
        let (_halo, srv, conn) = world(profile).await;
        let (url, _trigger) = api_trigger().await;
        setup(&srv, &conn, json!({"url": url, "authentication": "api_key", "api_key": API_KEY, "test": true})).await;
        let out = check(&srv, &conn, json!({"since": "2000-01-01T00:00:00Z"})).await;
        assert_eq!(out["enabled"], true);
        match log {
            DeliveryLog::Absent => {
                assert_eq!(out["delivery_log"], false, "{out}");
                assert!(out["advice"].as_str().unwrap().contains("Ticket Updated trigger"), "{out}");
            }
            _ => assert_eq!((out["delivery_log"].clone(), out["failed"].clone()), (json!(true), json!([])), "{out}"),
        }
    }
}

#[tokio::test]
async fn an_application_that_may_not_manage_webhooks_is_told_which_permission_and_nothing_is_written() {
    for access in [WebhookAccess::Forbidden, WebhookAccess::Absent] {
        let profile = Profile { webhook_api: WebhookApiVariant { access, ..Default::default() }, ..Profile::default() };
        let (halo, srv, conn) = world(profile).await;
        let (url, _trigger) = api_trigger().await;
        let (status, body) = step(&srv, &conn, "setup_webhook", setup_input(&url, API_KEY)).await;
        assert_eq!(status, 400, "{body}");
        let said = format!("{} {}", error_cause(&body), body["body"]["exception"]["assistance"]);
        match access {
            WebhookAccess::Forbidden => assert!(said.contains("HTTP 403") && said.contains("`admin`"), "{said}"),
            _ => assert!(said.contains("HTTP 404") && said.contains("by hand"), "{said}"),
        }
        assert_eq!(requests(&halo, "POST /api/Webhook"), 0);
    }
}

#[tokio::test]
async fn bad_input_is_refused_naming_the_field_and_nothing_is_asked() {
    let (halo, srv, conn) = world(Profile::default()).await;
    let cases = [
        (json!({"url": "http://r7.example.com/hook", "authentication": "none"}), "`url`"),
        (json!({"url": "https://r7.example.com/hook", "authentication": "none", "events": ["Ticket Exploded"]}), "`events[0]`"),
        (json!({"url": "https://r7.example.com/hook", "authentication": "basic", "username": "halo"}), "`password`"),
        (json!({"url": "https://r7.example.com/hook", "authentication": "api_key"}), "`api_key`"),
    ];
    for (input, field) in cases {
        let (status, body) = step(&srv, &conn, "setup_webhook", input.clone()).await;
        assert_eq!(status, 400, "{input}: {body}");
        assert!(error_cause(&body).contains(field), "{input}: {}", error_cause(&body));
    }
    let (status, body) = step(&srv, &conn, "check_webhook", json!({"since": "last week"})).await;
    assert!(status == 400 && error_cause(&body).contains("`since`"), "{body}");
    let (status, body) = step(&srv, &conn, "check_webhook", json!({"webhook_id": "42"})).await;
    assert!(status == 400 && error_cause(&body).contains("`webhook_id`"), "{body}");
    assert!(halo.sim.stats().by_route.keys().all(|r| !r.contains("Webhook")), "{:?}", halo.sim.stats().by_route);
}
