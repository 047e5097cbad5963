//! Configuring webhooks through the control routes and the simulate command's flags.

use super::*;

const BIN: &str = env!("CARGO_BIN_EXE_icon_haloitsm");

#[tokio::test]
async fn control_routes_configure_and_report() {
    let h = sim().await;
    let rx = Receiver::start().await;
    let http = Client::new();
    let url = format!("{}/_sim/webhook", h.base_url());
    let get = |u: String| {
        let http = http.clone();
        async move {
            let r = http.get(u).send().await.expect("GET");
            assert_eq!(r.status(), reqwest::StatusCode::OK);
            r.json::<Value>().await.expect("json")
        }
    };
    assert_eq!(get(url.clone()).await, Value::Null);

    let cfg = json!({"url": rx.url, "username": "halo", "password": "s3cret:x", "batch_size": 2, "batch_window_ms": 20});
    let r = http.post(&url).json(&cfg).send().await.expect("POST");
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    let shown: Value = r.json().await.expect("json");
    assert_eq!(shown["password"], json!("********"), "the password is never shown");
    assert_eq!((&shown["url"], &shown["batch_size"], &shown["username"]), (&json!(rx.url), &json!(2), &json!("halo")));
    assert_eq!(get(url.clone()).await, shown);
    assert_eq!(h.sim.webhook().and_then(|w| w.password).as_deref(), Some("s3cret:x"));

    edits(&h, 2);
    rx.wait_for(2).await;
    assert_eq!(rx.posts()[0].auth.as_deref(), Some("Basic aGFsbzpzM2NyZXQ6eA=="));
    // The receiver records a POST before answering it: wait for the sender to count the answer.
    let sent = async || Some(get(format!("{url}/stats")).await).filter(|s| s["deliveries_sent"] == json!(1));
    let stats = eventually("the delivery to be counted as sent", sent).await;
    assert_eq!(stats, json!({"events": 2, "deliveries_sent": 1, "dropped": 0, "duplicated": 0, "delayed": 0, "failed": 0}));

    for bad in [json!({"url": rx.url, "drop_ratio": 2}), json!({"url": rx.url, "dropratio": 0.5}), json!({"url": "not a url"}), json!([])] {
        let r = http.post(&url).json(&bad).send().await.expect("POST");
        assert_eq!(r.status(), reqwest::StatusCode::BAD_REQUEST, "{bad}");
        let v: Value = r.json().await.expect("json error");
        assert!(v["Message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    }
    assert_eq!(get(url.clone()).await, shown, "a rejected setting changes nothing");

    let r = http.post(&url).json(&Value::Null).send().await.expect("POST");
    assert_eq!(r.json::<Value>().await.ok(), Some(Value::Null));
    assert!(h.sim.webhook().is_none());
    edits(&h, 2);
    rx.got_all_of(&h).await;
    assert_eq!(rx.deliveries().len(), 2);
}

#[tokio::test]
async fn simulate_flags_configure_webhooks() {
    let rx = Receiver::start().await;
    // Port 0 and the announced address: a port picked beforehand can be taken by another test
    // before the child binds it.
    let mut child = Command::new(BIN)
        .args(["simulate", "--port", "0", "--webhook-url", &rx.url, "--webhook-user", "halo"])
        .args(["--webhook-password", "s3cret:x", "--webhook-batch", "3", "--webhook-event-only", "--webhook-duplicate", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn simulate");
    let (base, printed) = crate::common::announced_url(child.stdout.take().expect("stdout"), "simulator listening on ").await;
    let answer = eventually("the simulator to start", async || reqwest::get(format!("{base}/_sim/webhook")).await.ok()).await;
    let shown = answer.json::<Value>().await.expect("json");
    assert_eq!(shown["batch_size"], json!(3));
    assert_eq!(shown["batch_window_ms"], json!(50));
    assert_eq!(shown["payload"], json!("event_only"));
    assert_eq!(shown["delay_ratio"], json!(0.0));

    let tok: Value = Client::new()
        .post(format!("{base}/auth/token"))
        .form(&[("grant_type", "client_credentials"), ("client_id", "sim-client"), ("client_secret", "sim-secret")])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("token json");
    let token = tok["access_token"].as_str().expect("access_token");
    let r = Client::new()
        .post(format!("{base}/api/Tickets"))
        .bearer_auth(token)
        .json(&json!([{"summary": "From the CLI", "tickettype_id": 1}, {"summary": "Second", "tickettype_id": 1}]))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    let d = rx.wait_for(2).await;
    let posts = rx.posts();
    let _ = child.kill();
    let _ = child.wait();
    assert!(posts.iter().all(|p| p.body.is_array() && p.auth.as_deref() == Some("Basic aGFsbzpzM2NyZXQ6eA==")), "{posts:#?}");
    assert!(d.iter().all(|p| p["event"] == json!("new ticket logged") && p.get("ticket").is_none()), "{d:#?}");
    let printed = printed.lock().expect("printed").clone();
    assert!(printed.contains(&rx.url) && !printed.contains("s3cret"), "{printed}");

    // Out-of-range and orphan webhook flags are refused before anything starts.
    for args in [vec!["--webhook-url", "http://127.0.0.1:9/", "--webhook-drop", "2"], vec!["--webhook-drop", "0.5"]] {
        let out = Command::new(BIN).arg("simulate").args(["--port", "0"]).args(&args).output().expect("run");
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
}
