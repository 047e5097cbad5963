//! What a trigger refuses: bad input at start, a listener open to anyone, bad deliveries.

use super::*;

#[tokio::test]
async fn the_listener_refuses_bad_deliveries_and_keeps_running() {
    let s = setup().await;
    let mut t = s.start("ticket_created", json!({"source": "webhook"}));
    s.listening().await;
    let http = reqwest::Client::new();
    let url = s.hook_url();
    let good = json!({"id": "d-1", "event": "new ticket logged", "object_id": 101});
    let r = http.post(&url).json(&good).send().await.unwrap();
    assert_eq!(r.status(), 401, "no credentials");
    let r = http.post(&url).basic_auth(HOOK_USER, Some("wrong")).json(&good).send().await.unwrap();
    assert_eq!(r.status(), 401);
    for not_json in ["text/plain", "application/jsonxyz", "application/json-patch+json"] {
        let r = http.post(&url).basic_auth(HOOK_USER, Some(HOOK_PASS)).header("content-type", not_json).body("{}").send().await.unwrap();
        assert_eq!(r.status(), 415, "{not_json}");
    }
    let r = http
        .post(&url)
        .basic_auth(HOOK_USER, Some(HOOK_PASS))
        .header("content-type", "application/json")
        .body("{oops")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = http.post(&url).basic_auth(HOOK_USER, Some(HOOK_PASS)).json(&json!({"event": "x"})).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("no ticket ID"));
    let huge = json!({"object_id": 1, "pad": "x".repeat(2 * 1024 * 1024)});
    let r = http.post(&url).basic_auth(HOOK_USER, Some(HOOK_PASS)).json(&huge).send().await.unwrap();
    assert_eq!(r.status(), 413);
    // The refused upload leaves that connection unusable; carry on with a new one.
    let http = reqwest::Client::new();
    let r = http.get(format!("http://127.0.0.1:{}/healthz", s.port())).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // Still working: a batched array of real deliveries.
    let id = s.create("after the bad ones", 4).await;
    let batch = json!([{"id": "d-2", "event": "new ticket logged", "object_id": id, "agent_id": 1}, {"id": "d-2", "event": "new ticket logged", "object_id": id}]);
    let r = http
        .post(&url)
        .basic_auth(HOOK_USER, Some(HOOK_PASS))
        .header("content-type", "Application/JSON; charset=utf-8")
        .body(batch.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "a media type is case-insensitive, and may carry a charset");
    let out = s.sink.wait_for(1).await;
    s.worked_off().await;
    assert_eq!(s.sink.outputs().len(), 1, "{out:#?}");
    assert_eq!(out[0]["ticket"]["id"], id);
    assert!(!s.log().contains(HOOK_PASS), "the password never reaches the logs");
    assert!(stop(&mut t).await.success());
}

#[tokio::test]
async fn bad_trigger_input_is_reported_at_start() {
    let s = setup().await;
    let mut t = s.start("ticket_updated", json!({"interval_seconds": 1}));
    let out = t.exit_output().await;
    assert!(!out.0.success());
    let msg: Value = serde_json::from_slice(&out.1).unwrap();
    assert_eq!(msg["type"], "trigger_event");
    assert!(msg["body"]["error"].as_str().unwrap().contains("`interval_seconds` must be at least 5"), "{msg}");
}

#[tokio::test]
async fn a_listener_open_to_anyone_or_with_an_empty_password_does_not_start_unless_allowed() {
    async fn refused(s: &Setup, input: Value) -> String {
        let mut t = s.start("ticket_created", input);
        let (status, out) = t.exit_output().await;
        assert!(!status.success());
        let msg: Value = serde_json::from_slice(&out).unwrap();
        msg["body"]["error"].as_str().unwrap().to_string()
    }
    // No credentials and every interface: refused, naming the input that allows it.
    let open = setup_with(SimConfig::default(), json!({"webhook_credentials": null})).await;
    let error = refused(&open, json!({"source": "webhook", "webhook_bind": "0.0.0.0"})).await;
    assert!(error.contains("allow_unauthenticated_webhooks") && error.contains("accept deliveries from anyone"), "{error}");
    // Allowed explicitly, or on loopback only: it starts.
    for input in
        [json!({"source": "webhook", "webhook_bind": "0.0.0.0", "allow_unauthenticated_webhooks": true}), json!({"source": "webhook"})]
    {
        let mut t = open.start("ticket_created", input.clone());
        open.listening().await;
        // Stopped at once, HaloITSM reads in flight or not.
        let status = stop(&mut t).await;
        assert!(status.success(), "{input}: {status:?}\n{}", open.log());
    }
    // Polling alone opens no listener: nothing to refuse.
    let mut t = open.start("ticket_created", json!({"source": "poll", "webhook_bind": "0.0.0.0"}));
    open.started().await;
    assert!(stop(&mut t).await.success());
    // An empty password is no password.
    let empty = setup_with(SimConfig::default(), json!({"webhook_credentials": {"username": HOOK_USER, "password": ""}})).await;
    let error = refused(&empty, json!({"source": "webhook"})).await;
    assert!(error.contains("`webhook_credentials`") && error.contains("empty"), "{error}");
}

#[tokio::test]
async fn a_webhook_port_in_use_is_a_clear_error_not_an_internal_one() {
    let s = setup().await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let mut t = s.start("ticket_updated", json!({"source": "webhook", "webhook_port": port}));
    let (status, out) = t.exit_output().await;
    drop(taken);
    assert!(!status.success());
    let out: Value = serde_json::from_slice(&out).unwrap();
    let body = &out["body"];
    assert_eq!(body["status"], "error", "{out}");
    let error = body["error"].as_str().unwrap();
    assert!(error.contains(&format!("cannot listen for HaloITSM's webhooks on 127.0.0.1:{port}")), "{out}");
    assert!(body["exception"]["assistance"].as_str().unwrap().contains("free Webhook Port"), "{out}");
    assert!(!error.contains("internal"), "a setting to change, not a plugin bug: {out}");
}
