//! The webhooks the simulator sends: each change kind, auth schemes, payload shapes and batching.

use super::*;

fn is_guid(s: &str) -> bool {
    let lens: Vec<usize> = s.split('-').map(str::len).collect();
    lens == [8, 4, 4, 4, 12] && s.chars().all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c))
}

#[tokio::test]
async fn each_change_kind_is_delivered_with_halo_fields() {
    let h = sim().await;
    let rx = Receiver::start().await;
    h.sim.set_webhook(Some(rx.config()));
    let api = Api::new(&h).await;

    let created = api.post("/Tickets", &json!([{"summary": "Webhook test", "tickettype_id": 1}])).await;
    let id = created["id"].as_i64().expect("new id");
    api.post("/Tickets", &json!([{"id": id, "agent_id": 3}])).await;
    api.post("/Tickets", &json!([{"id": id, "status_id": 2}])).await;
    api.post("/Actions", &json!([{"ticket_id": id, "note": "Looking into it", "outcome": "Note"}])).await;
    api.post("/Tickets", &json!([{"id": id, "status_id": 9}])).await;
    assert!(h.sim.agent_edit(id, json!({"status_id": 2}), Some("Reopened by Ben")).is_some());
    api.send(reqwest::Method::DELETE, &format!("/Tickets/{id}"), None).await;

    let d = rx.wait_for(6).await;
    rx.got_all_of(&h).await;
    assert_eq!(rx.deliveries().len(), 6, "a deletion sends nothing: {:#?}", rx.deliveries());
    let names: Vec<&str> = d.iter().map(|p| p["event"].as_str().unwrap_or("")).collect();
    assert_eq!(
        names,
        ["new ticket logged", "ticket updated", "ticket status changed", "ticket updated", "ticket closed", "ticket status changed"]
    );

    let webhook_id = d[0]["webhook_id"].as_str().expect("webhook_id");
    assert!(is_guid(webhook_id), "{webhook_id}");
    let mut ids = HashSet::new();
    for p in &d {
        let keys: Vec<&str> = p.as_object().expect("object").keys().map(String::as_str).collect();
        for k in ["id", "webhook_id", "notification_id", "escmsg_id", "event", "message", "object_id", "agent_id", "timestamp", "ticket"] {
            assert!(keys.contains(&k), "{k} missing in {p}");
        }
        let guid = p["id"].as_str().expect("id");
        assert!(is_guid(guid) && ids.insert(guid.to_string()), "{guid}");
        assert!(p["escmsg_id"].as_str().is_some_and(is_guid), "{p}");
        assert_eq!(p["webhook_id"], json!(webhook_id));
        assert_eq!(p["object_id"], json!(id));
        assert_eq!(p["ticket"]["id"], json!(id));
        assert!(p["notification_id"].is_i64(), "{p}");
        assert_eq!(p["message"].as_str().map(|m| m.ends_with(&format!("Ticket ID: {id:07}."))), Some(true), "{p}");
        let ts = p["timestamp"].as_str().expect("timestamp");
        assert!(ts.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(ts).is_ok(), "{ts}");
        // Every change here records an action.
        assert!(p["action"]["id"].is_i64(), "{p}");
    }
    // The API agent made the API changes; the last one was Ben (agent 3) in the UI.
    let agents: Vec<i64> = d.iter().filter_map(|p| p["agent_id"].as_i64()).collect();
    assert_eq!(agents, [1, 1, 1, 1, 1, 3]);
    // The ticket is the stored ticket after each change.
    assert_eq!(d[1]["ticket"]["agent_id"], json!(3));
    assert_eq!(d[2]["ticket"]["status_id"], json!(2));
    assert_eq!(d[4]["ticket"]["status_id"], json!(9));
    assert_eq!(d[4]["ticket"]["hasbeenclosed"], json!(true));
    assert_eq!(d[5]["ticket"]["hasbeenclosed"], json!(false));
    assert_eq!(d[3]["action"]["note"], json!("Looking into it"));
    assert_eq!(d[2]["message"], json!(format!("The status has been changed for Ticket ID: {id:07}.")));
    // Each kind has its own notification id; the two status changes share theirs.
    assert_eq!(d[2]["notification_id"], d[5]["notification_id"]);
    assert_eq!(d[1]["notification_id"], d[3]["notification_id"]);
    let kinds: HashSet<i64> = d.iter().filter_map(|p| p["notification_id"].as_i64()).collect();
    assert_eq!(kinds.len(), 4);

    let posts = rx.posts();
    assert!(posts.iter().all(|s| s.auth.is_none() && s.content_type.as_deref() == Some("application/json")), "{posts:#?}");
    let s = wait_stats(&h, |s| s.deliveries_sent == 6).await;
    assert_eq!((s.events, s.failed, s.dropped), (6, 0, 0));
    // The event log is unchanged: it still records the deletion too.
    assert_eq!(h.sim.events().len(), 7);
}

#[tokio::test]
async fn basic_auth_and_event_only_payloads() {
    let h = sim().await;
    let rx = Receiver::start().await;
    let cfg = WebhookConfig {
        username: Some("halo".into()),
        password: Some("s3cret:x".into()),
        payload: halo_sim::Payload::EventOnly,
        ..rx.config()
    };
    h.sim.set_webhook(Some(cfg));
    edits(&h, 2);
    let d = rx.wait_for(2).await;
    for p in &d {
        assert!(p.get("ticket").is_none() && p.get("action").is_none(), "{p}");
        assert_eq!(p["object_id"], json!(101));
        assert_eq!(p["event"], json!("ticket updated"));
    }
    // The agents who made the UI edits (each assigned the ticket to themselves).
    assert_eq!((&d[0]["agent_id"], &d[1]["agent_id"]), (&json!(3), &json!(2)));
    let auths: Vec<Option<String>> = rx.posts().into_iter().map(|s| s.auth).collect();
    assert_eq!(auths, vec![Some("Basic aGFsbzpzM2NyZXQ6eA==".to_string()); 2]);

    // A user without a password sends no credentials.
    h.sim.set_webhook(Some(WebhookConfig { username: Some("halo".into()), ..rx.config() }));
    edits(&h, 1);
    let d = rx.wait_for(3).await;
    assert_eq!(rx.posts()[2].auth, None);
    assert!(d[2]["ticket"].is_object());
}

#[tokio::test]
async fn bearer_and_api_key_auth_small_payloads_and_ids_as_strings() {
    // Halo's other authentication options and payload choices (docs/halo-api.md#W3, W7, W10).
    let h = sim().await;
    let rx = Receiver::start().await;
    let cfg = WebhookConfig {
        bearer_token: Some("t0ken".into()),
        api_key: Some("k3y".into()),
        api_key_header: Some("X-Halo-Key".into()),
        payload: halo_sim::Payload::Small,
        ids_as_strings: true,
        ..rx.config()
    };
    h.sim.set_webhook(Some(cfg));
    edits(&h, 1);
    let d = rx.wait_for(1).await;
    let seen = &rx.posts()[0];
    assert_eq!(seen.auth.as_deref(), Some("Bearer t0ken"));
    assert_eq!(seen.headers.get("x-halo-key").and_then(|v| v.to_str().ok()), Some("k3y"));
    let p = &d[0];
    assert_eq!((p["object_id"].clone(), p["ticket"]["id"].clone()), (json!("101"), json!("101")));
    // The small object carries the captured delivery's fields only (W4).
    let keys: HashSet<&str> = p["ticket"].as_object().unwrap().keys().map(String::as_str).collect();
    assert!(keys.contains("status_id") && keys.contains("hasbeenclosed") && !keys.contains("details"), "{keys:?}");
    assert!(p.get("action").is_none(), "{p}");
    // The control route never shows the secrets.
    let shown: Value = Client::new().get(format!("{}/_sim/webhook", h.base_url())).send().await.unwrap().json().await.unwrap();
    assert_eq!((shown["bearer_token"].clone(), shown["api_key"].clone()), (json!("********"), json!("********")), "{shown}");
}

#[tokio::test]
async fn batching_sends_arrays_of_at_most_the_batch_size() {
    let h = sim().await;
    let rx = Receiver::start().await;
    h.sim.set_webhook(Some(WebhookConfig { batch_size: 5, batch_window_ms: 200, ..rx.config() }));
    edits(&h, 12);
    let d = rx.wait_for(12).await;
    let posts = rx.posts();
    let sizes: Vec<usize> = posts.iter().map(|s| s.body.as_array().map_or(0, Vec::len)).collect();
    assert_eq!(sizes, [5, 5, 2], "{posts:#?}");
    let notes: Vec<String> = d.iter().map(|p| p["action"]["note"].as_str().unwrap_or("").to_string()).collect();
    let want: Vec<String> = (0..12).map(|i| format!("edit {i}")).collect();
    assert_eq!(notes, want);
    // The receiver records a POST before answering it: wait for the sender to count the answer.
    let s = wait_stats(&h, |s| s.deliveries_sent == 3).await;
    assert_eq!(s.events, 12);

    // A lone change waits for the window, then goes out as an array of one.
    let started = Instant::now();
    edits(&h, 1);
    rx.wait_for(13).await;
    assert!(started.elapsed() >= Duration::from_millis(150), "{:?}", started.elapsed());
    assert_eq!(rx.posts()[3].body.as_array().map(Vec::len), Some(1));
}
