//! The simulator's faults and stats: rate limits, errors, latency, control routes, load, bad input.

use super::*;

#[tokio::test]
async fn every_nth_request_is_rate_limited_with_or_without_retry_after() {
    let h = sim().await;
    let api = Api::new(&h).await;
    h.sim.set_faults(Faults { rate_limit_every: 3, retry_after_secs: Some(7), ..Faults::default() });
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let r = api.get("/Tickets/101").await;
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(r.headers()["retry-after"], "7");
            assert!(json_of(r).await.1.is_object());
            statuses.push(429);
        } else {
            statuses.push(r.status().as_u16());
        }
    }
    assert_eq!(statuses, vec![200, 200, 429, 200, 200, 429]);

    // Set through the control route this time, without Retry-After.
    let r = Client::new().post(format!("{}/_sim/faults", h.base_url())).json(&json!({"rate_limit_every": 2})).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(h.sim.faults().rate_limit_every, 2);
    assert_eq!(h.sim.faults().retry_after_secs, None);
    assert_eq!(api.get("/Tickets/101").await.status(), StatusCode::OK);
    let r = api.get("/Tickets/101").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(!r.headers().contains_key("retry-after"));

    let stats = h.sim.stats();
    assert_eq!(stats.injected_429, 3);
    assert_eq!(stats.api_requests, 8);
    assert_eq!(stats.by_route.get("GET /api/Tickets/{id}"), Some(&8));
    h.shutdown().await;
}

#[tokio::test]
async fn server_errors_before_and_after_the_write() {
    let h = sim().await;
    let api = Api::new(&h).await;
    let body = json!([{"summary": "Fault probe", "tickettype_id": 1}]);

    h.sim.set_faults(Faults { server_error_every: 1, ..Faults::default() });
    let (status, v) = json_of(api.post("/Tickets", &body).await).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(v, json!({"ClassName": "System.Exception", "Message": "Simulated server error"}));
    assert_eq!(h.sim.tickets().len(), 7, "500 before apply: nothing written");

    h.sim.set_faults(Faults { server_error_every: 1, server_error_after_apply: true, ..Faults::default() });
    let r = api.post("/Tickets", &body).await;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let tickets = h.sim.tickets();
    assert_eq!(tickets.len(), 8, "500 after apply: the ticket exists anyway");
    assert_eq!(tickets[7]["summary"], "Fault probe");
    let r = api.delete("/Tickets/1001").await;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(h.sim.ticket(1001).is_none(), "delete applied despite the 500");
    // Reads are never "applied": a GET just fails.
    assert_eq!(api.get("/Tickets/101").await.status(), StatusCode::INTERNAL_SERVER_ERROR);

    h.sim.set_faults(Faults::default());
    assert_eq!(api.get("/Tickets/101").await.status(), StatusCode::OK);
    let stats = h.sim.stats();
    assert_eq!(stats.injected_500, 4);
    assert_eq!(stats.by_route.get("POST /api/Tickets"), Some(&2));
    assert_eq!(stats.by_route.get("DELETE /api/Tickets/{id}"), Some(&1));
    assert_eq!(stats.by_route.get("POST /auth/token"), Some(&1));
    assert_eq!(stats.token_requests, 1);

    // Stats over the control routes; reset.
    let v: Value = Client::new().get(format!("{}/_sim/stats", h.base_url())).send().await.expect("send").json().await.expect("json");
    assert_eq!(v["injected_500"], 4);
    let r = Client::new().post(format!("{}/_sim/stats/reset", h.base_url())).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(h.sim.stats().api_requests, 0);
    assert!(h.sim.stats().by_route.is_empty());
    h.shutdown().await;
}

#[tokio::test]
async fn latency_and_token_failures() {
    let h = sim().await;
    let api = Api::new(&h).await;
    h.sim.set_faults(Faults { latency_ms: 300, ..Faults::default() });
    let t0 = Instant::now();
    assert_eq!(api.get("/Status").await.status(), StatusCode::OK);
    assert!(t0.elapsed() >= Duration::from_millis(300));
    let t0 = Instant::now();
    token(&h).await;
    assert!(t0.elapsed() < Duration::from_millis(300), "token endpoint has its own latency");

    h.sim.set_faults(Faults { fail_token: true, token_latency_ms: 100, ..Faults::default() });
    let t0 = Instant::now();
    let r = token_response(&h, &[("grant_type", "client_credentials")]).await;
    assert!(t0.elapsed() >= Duration::from_millis(100));
    let (status, v) = json_of(r).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(v["error"], "server_error");
    // Control route GET shows the current faults.
    let v: Value = Client::new().get(format!("{}/_sim/faults", h.base_url())).send().await.expect("send").json().await.expect("json");
    assert_eq!(v["fail_token"], true);
    let r = Client::new().post(format!("{}/_sim/faults", h.base_url())).body("{not json").send().await.expect("send");
    assert_eq!(json_of(r).await.0, StatusCode::BAD_REQUEST);
    h.shutdown().await;
}

#[tokio::test]
async fn control_routes_expose_tickets_and_events() {
    let h = sim().await;
    let api = Api::new(&h).await;
    api.post_json("/Actions", &json!({"ticket_id": 106, "outcome": "Note", "note": "Subnet is 10.20.0.0/24."})).await;
    let t: Value = Client::new().get(format!("{}/_sim/tickets/106", h.base_url())).send().await.expect("send").json().await.expect("json");
    assert_eq!(t["id"], 106);
    assert!(t["customfields"].is_array());
    let r = Client::new().get(format!("{}/_sim/tickets/4242", h.base_url())).send().await.expect("send");
    assert_eq!(json_of(r).await.0, StatusCode::NOT_FOUND);
    let ev: Value = Client::new().get(format!("{}/_sim/events", h.base_url())).send().await.expect("send").json().await.expect("json");
    assert_eq!(ev[0]["kind"], "action_added");
    assert_eq!(ev[0]["ticket_id"], 106);
    assert_eq!(ev[0]["action"]["note"], "Subnet is 10.20.0.0/24.");

    // An agent's edit in the "UI" is seen by the API.
    let edited = h.sim.agent_edit(106, json!({"status_id": 2}), Some("Vendor confirmed the window.")).expect("ticket 106");
    assert_eq!(edited["status_name"], "In Progress");
    let via_api = api.get_json("/Tickets/106").await;
    assert_eq!(via_api["status_id"], 2);
    let last = h.sim.actions_for(106).last().cloned().expect("action");
    assert_eq!(last["who"], "Marco Rossi");
    assert_eq!(h.sim.events().last().map(|e| e.kind), Some(ChangeKind::StatusChanged));
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_requests_do_not_deadlock() {
    let h = sim().await;
    let api = std::sync::Arc::new(Api::new(&h).await);
    let mut tasks = Vec::new();
    for i in 0..200u32 {
        let api = api.clone();
        tasks.push(tokio::spawn(async move {
            match i % 4 {
                0 => api.get("/Tickets/101").await.status(),
                1 => api.get("/Tickets?search=phishing").await.status(),
                2 => api.post("/Tickets", &json!({"summary": format!("Load {i}"), "tickettype_id": 1})).await.status(),
                _ => api.post("/Actions", &json!({"ticket_id": 102, "outcome": "Note", "note": format!("n{i}")})).await.status(),
            }
        }));
    }
    let all = tokio::time::timeout(Duration::from_secs(30), futures::future::join_all(tasks)).await.expect("no deadlock within 30 s");
    assert!(all.iter().all(|r| matches!(r, Ok(s) if *s == StatusCode::OK)));
    assert_eq!(h.sim.tickets().len(), 7 + 50);
    assert_eq!(h.sim.actions_for(102).len(), 2 + 50);
    assert_eq!(h.sim.stats().api_requests, 200);
    // Ids stay unique and increasing under concurrency.
    let ids: Vec<i64> = h.sim.tickets().iter().filter_map(|t| t["id"].as_i64()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(ids.last(), Some(&1050));
    h.shutdown().await;
}

#[tokio::test]
async fn hostile_inputs_get_json_or_text_errors_never_a_crash() {
    let h = sim().await;
    let api = Api::new(&h).await;
    let gets = [
        "/Tickets?enddate=%2B262142-12-31&datesearch=datecreated",
        "/Tickets?enddate=262143-12-31",
        "/Tickets?startdate=0001-01-01&enddate=9999-12-31T23:59:59.9999999Z",
        "/Tickets?page_no=-5&page_size=-1&pageinate=true",
        "/Tickets?page_no=99999999999999999999&pageinate=true",
        "/Tickets?pageinate=true&page_no=9223372036854775807&page_size=100",
        "/Tickets?count=-1&order=%00&orderdesc=maybe",
        "/Tickets?search=%F0%9F%94%A5%ZZ&status=,,,&agent=1,x",
        "/Tickets/-1",
        "/Tickets/99999999999999999999",
        "/Tickets/%FF%FE",
        "/Actions?ticket_id=1e9",
        "/Actions/abc?ticket_id=101",
        "/Attachment/-3",
        "/Agent/%20me%20",
        "/Users/0",
    ];
    for path in gets {
        let r = api.get(path).await;
        let status = r.status();
        assert!(!status.is_server_error(), "{path}: {status}");
        let ct = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        assert!(ct.starts_with("application/json") || ct.starts_with("text/plain"), "{path}: {ct}");
    }
    let mut deep = String::new();
    for _ in 0..5000 {
        deep.push('[');
    }
    let bodies = [
        json!([{"summary": "x", "tickettype_id": 1, "dateoccurred": "+262142-12-31T23:59:59"}]),
        json!([{"summary": "x", "tickettype_id": 1e300}]),
        json!([{"summary": ["not", "a", "string"], "tickettype_id": 1}]),
        json!([{"summary": "x", "tickettype_id": 1, "customfields": {"id": 101}}]),
        json!([{"summary": "x", "tickettype_id": 1, "customfields": [{"id": 101, "value": {"deep": 1}}]}]),
        json!([{"id": "abc"}]),
        json!([{"id": -7, "summary": "negative id creates", "tickettype_id": 1, "team": 3.5}]),
        json!([null]),
        json!("just a string"),
        json!([{"id": 101, "summary": "  "}]),
        json!([{"id": 101, "site_id": 2, "client_id": 1}]),
        json!([{"id": 101, "agent_id": -1}]),
    ];
    for body in &bodies {
        let r = api.post("/Tickets", body).await;
        assert!(r.status().is_client_error() || r.status().is_success(), "{body}: {}", r.status());
    }
    for body in [
        json!([{"ticket_id": 101, "outcome": "x", "timetaken": -1}]),
        json!([{"ticket_id": 101, "outcome": "x", "new_team": "Nobody"}]),
        json!([{"ticket_id": 101, "outcome": "x", "new_agent": 6}]),
        json!([{"ticket_id": "101", "outcome": 5, "note_html": "<unclosed"}]),
    ] {
        let r = api.post("/Actions", &body).await;
        assert!(r.status().is_client_error() || r.status().is_success(), "{body}: {}", r.status());
    }
    let r = api
        .http
        .post(format!("{}/Tickets", api.base))
        .bearer_auth(&api.token)
        .header("content-type", "application/json")
        .body(deep)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // Still serving normally afterwards.
    assert_eq!(api.get("/Tickets/101").await.status(), StatusCode::OK);
    h.shutdown().await;
}
