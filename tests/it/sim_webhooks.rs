//! The simulator's Halo-style outbound webhooks, received by a small recording server on
//! 127.0.0.1: payload shape per change kind, Basic auth, event-only payloads, batching, the drop,
//! duplicate and delay faults, failing receivers, and the control routes and CLI flags.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use halo_sim::{SimConfig, SimHandle, WebhookConfig, WebhookStats, start};
use reqwest::Client;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_icon_haloitsm");
/// Longest any test waits for deliveries to arrive.
const WAIT: Duration = Duration::from_secs(10);

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

// ---------------------------------------------------------------------------------------------
// A recording webhook receiver

#[derive(Clone, Debug)]
struct Seen {
    auth: Option<String>,
    content_type: Option<String>,
    headers: HeaderMap,
    body: Value,
}

#[derive(Clone, Default)]
struct Recorder {
    seen: Arc<Mutex<Vec<Seen>>>,
    /// Status to answer with; 0 = 200.
    status: Arc<AtomicU16>,
}

struct Receiver {
    url: String,
    rec: Recorder,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Receiver {
    async fn start() -> Receiver {
        let rec = Recorder::default();
        let app = Router::new().route("/hooks/halo", post(record)).with_state(rec.clone());
        let listener = tokio::net::TcpListener::bind(loopback()).await.expect("bind receiver");
        let addr = listener.local_addr().expect("receiver addr");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Receiver { url: format!("http://{addr}/hooks/halo"), rec, _stop: tx }
    }

    fn config(&self) -> WebhookConfig {
        WebhookConfig { url: self.url.clone(), ..WebhookConfig::default() }
    }

    fn answer_with(&self, status: u16) {
        self.rec.status.store(status, Ordering::SeqCst);
    }

    /// Every POST received so far.
    fn posts(&self) -> Vec<Seen> {
        self.rec.seen.lock().unwrap().clone()
    }

    /// Every delivery object received so far, batches flattened, in arrival order.
    fn deliveries(&self) -> Vec<Value> {
        self.posts()
            .into_iter()
            .flat_map(|s| match s.body {
                Value::Array(items) => items,
                other => vec![other],
            })
            .collect()
    }

    /// Wait until at least `n` delivery objects arrived (panics after `WAIT`).
    async fn wait_for(&self, n: usize) -> Vec<Value> {
        let started = Instant::now();
        loop {
            let d = self.deliveries();
            if d.len() >= n {
                return d;
            }
            assert!(started.elapsed() < WAIT, "only {} of {n} deliveries arrived: {d:#?}", d.len());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

async fn record(State(rec): State<Recorder>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let body = serde_json::from_slice(&body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    rec.seen.lock().unwrap().push(Seen {
        auth: header("authorization"),
        content_type: header("content-type"),
        headers: headers.clone(),
        body,
    });
    match rec.status.load(Ordering::SeqCst) {
        0 => StatusCode::OK,
        s => StatusCode::from_u16(s).unwrap_or(StatusCode::OK),
    }
}

// ---------------------------------------------------------------------------------------------
// Simulator helpers

async fn sim() -> SimHandle {
    start(SimConfig::default(), loopback()).await.expect("bind simulator")
}

/// A client of one simulator's API with a token (one connection pool for all its requests).
#[derive(Clone)]
struct Api {
    http: Client,
    base: String,
    token: String,
}

impl Api {
    async fn new(h: &SimHandle) -> Api {
        let http = Client::new();
        let r = http
            .post(format!("{}/token", h.auth_url()))
            .form(&[("grant_type", "client_credentials"), ("client_id", "sim-client"), ("client_secret", "sim-secret"), ("scope", "all")])
            .send()
            .await
            .expect("token request");
        let v: Value = r.json().await.expect("token json");
        let token = v["access_token"].as_str().expect("access_token").to_string();
        Api { http, base: h.api_url(), token }
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> Value {
        let mut req = self.http.request(method.clone(), format!("{}{path}", self.base)).bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(b);
        }
        let r = req.send().await.expect("API request");
        assert_eq!(r.status(), reqwest::StatusCode::OK, "{method} {path}");
        r.json().await.expect("json")
    }

    async fn post(&self, path: &str, body: &Value) -> Value {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }
}

/// Wait until the sender's counters satisfy `done` (panics after `WAIT`).
async fn wait_stats(h: &SimHandle, done: impl Fn(&WebhookStats) -> bool) -> WebhookStats {
    let started = Instant::now();
    loop {
        let s = h.sim.webhook_stats();
        if done(&s) {
            return s;
        }
        assert!(started.elapsed() < WAIT, "webhook stats never settled: {s:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// `n` agent edits of seeded ticket 101, each recording an action with the note `edit i`; the
/// edits assign the ticket to agents 3 and 2 in turn (the editing agent).
fn edits(h: &SimHandle, n: usize) {
    for i in 0..n {
        let agent = if i % 2 == 0 { 3 } else { 2 };
        assert!(h.sim.agent_edit(101, json!({ "agent_id": agent }), Some(&format!("edit {i}"))).is_some());
    }
}

fn is_guid(s: &str) -> bool {
    let lens: Vec<usize> = s.split('-').map(str::len).collect();
    lens == [8, 4, 4, 4, 12] && s.chars().all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c))
}

// ---------------------------------------------------------------------------------------------
// Payloads

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
    tokio::time::sleep(Duration::from_millis(200)).await;
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

// ---------------------------------------------------------------------------------------------
// Faults

#[tokio::test]
async fn drop_ratio_one_sends_nothing() {
    let h = sim().await;
    let rx = Receiver::start().await;
    h.sim.set_webhook(Some(WebhookConfig { drop_ratio: 1.0, ..rx.config() }));
    edits(&h, 5);
    let s = wait_stats(&h, |s| s.dropped == 5).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(rx.posts().is_empty());
    assert_eq!((s.events, s.deliveries_sent, s.failed), (5, 0, 0));
}

#[tokio::test]
async fn seeded_drop_ratio_drops_about_that_share_repeatably() {
    async fn run(seed: u64) -> (u64, Vec<String>) {
        let h = sim().await;
        let rx = Receiver::start().await;
        h.sim.set_webhook(Some(WebhookConfig { drop_ratio: 0.3, seed: Some(seed), ..rx.config() }));
        edits(&h, 200);
        let s = wait_stats(&h, |s| s.dropped + s.deliveries_sent == 200).await;
        assert_eq!((s.events, s.failed), (200, 0));
        let d = rx.wait_for((200 - s.dropped) as usize).await;
        assert_eq!(d.len() as u64, 200 - s.dropped);
        let ids: HashSet<&str> = d.iter().filter_map(|p| p["id"].as_str()).collect();
        assert_eq!(ids.len(), d.len(), "delivery ids are unique");
        // Which changes got through, by their note.
        let mut notes: Vec<String> = d.iter().map(|p| p["action"]["note"].as_str().unwrap_or("").to_string()).collect();
        notes.sort();
        (s.dropped, notes)
    }
    let (dropped, notes) = run(7).await;
    assert!((35..=85).contains(&dropped), "dropped {dropped} of 200 at 0.3");
    // The same seed drops the same changes.
    assert_eq!(run(7).await, (dropped, notes));
}

#[tokio::test]
async fn duplicate_ratio_one_sends_every_delivery_twice_with_the_same_id() {
    let h = sim().await;
    let rx = Receiver::start().await;
    h.sim.set_webhook(Some(WebhookConfig { duplicate_ratio: 1.0, ..rx.config() }));
    edits(&h, 5);
    let d = rx.wait_for(10).await;
    let mut by_id: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for p in d {
        by_id.entry(p["id"].as_str().unwrap_or("").to_string()).or_default().push(p);
    }
    assert_eq!(by_id.len(), 5);
    assert!(by_id.values().all(|copies| copies.len() == 2 && copies[0] == copies[1]), "{by_id:#?}");
    let s = wait_stats(&h, |s| s.deliveries_sent == 10).await;
    assert_eq!((s.events, s.duplicated), (5, 5));
}

#[tokio::test]
async fn delay_reorders_but_delivers_everything() {
    let h = sim().await;
    let rx = Receiver::start().await;
    h.sim.set_webhook(Some(WebhookConfig { delay_ratio: 0.5, delay_ms: 300, seed: Some(3), ..rx.config() }));
    edits(&h, 40);
    let d = rx.wait_for(40).await;
    let s = wait_stats(&h, |s| s.deliveries_sent == 40).await;
    assert!((8..=32).contains(&s.delayed), "{s:?}");
    let order: Vec<i64> = d.iter().filter_map(|p| p["action"]["id"].as_i64()).collect();
    let mut sorted = order.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), 40, "every change delivered once");
    assert_ne!(order, sorted, "some deliveries were reordered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_changes_keep_their_order_per_ticket() {
    let h = sim().await;
    let rx = Receiver::start().await;
    h.sim.set_webhook(Some(rx.config()));
    let api = Api::new(&h).await;
    let mut tasks = Vec::new();
    for ticket in [101, 102, 103, 104] {
        for worker in 0..2 {
            let api = api.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..15 {
                    api.post("/Actions", &json!([{"ticket_id": ticket, "note": format!("w{worker} n{i}"), "outcome": "Note"}])).await;
                }
            }));
        }
    }
    for t in tasks {
        t.await.expect("writer");
    }
    let d = rx.wait_for(120).await;
    for ticket in [101, 102, 103, 104] {
        let ids: Vec<i64> = d.iter().filter(|p| p["object_id"] == json!(ticket)).filter_map(|p| p["action"]["id"].as_i64()).collect();
        assert_eq!(ids.len(), 30);
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "ticket {ticket} out of order: {ids:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Failing receivers

#[tokio::test]
async fn a_receiver_that_is_down_or_refuses_counts_failures_and_is_not_retried() {
    let h = sim().await;
    let dead = {
        let l = std::net::TcpListener::bind(loopback()).expect("bind");
        l.local_addr().expect("addr")
    };
    h.sim.set_webhook(Some(WebhookConfig { url: format!("http://{dead}/hooks/halo"), ..WebhookConfig::default() }));
    let api = Api::new(&h).await;
    let started = Instant::now();
    for i in 0..20 {
        api.post("/Actions", &json!([{"ticket_id": 102, "note": format!("n{i}"), "outcome": "Note"}])).await;
    }
    assert!(started.elapsed() < Duration::from_secs(2), "API slowed down: {:?}", started.elapsed());
    let s = wait_stats(&h, |s| s.failed == 20).await;
    assert_eq!((s.events, s.deliveries_sent), (20, 0));

    // A receiver answering 500 is a failure too, and sees each delivery once.
    let rx = Receiver::start().await;
    rx.answer_with(500);
    h.sim.set_webhook(Some(rx.config()));
    edits(&h, 3);
    rx.wait_for(3).await;
    let s = wait_stats(&h, |s| s.failed == 23).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(rx.posts().len(), 3);
    assert_eq!(s.deliveries_sent, 0);

    // Recovery: the next deliveries are sent.
    rx.answer_with(0);
    edits(&h, 1);
    rx.wait_for(4).await;
    wait_stats(&h, |s| s.deliveries_sent == 1).await;
}

#[tokio::test]
async fn a_receiver_that_never_answers_does_not_slow_the_api() {
    let h = sim().await;
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind(loopback()).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let hold = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            open.push(sock);
        }
    });
    h.sim.set_webhook(Some(WebhookConfig { url: format!("http://{addr}/"), ..WebhookConfig::default() }));
    let api = Api::new(&h).await;
    let started = Instant::now();
    for i in 0..30 {
        api.post("/Actions", &json!([{"ticket_id": 101, "note": format!("n{i}"), "outcome": "Note"}])).await;
    }
    api.send(reqwest::Method::GET, "/Tickets/101", None).await;
    assert!(started.elapsed() < Duration::from_secs(2), "API slowed down: {:?}", started.elapsed());
    assert_eq!(h.sim.webhook_stats().events, 30);
    hold.abort();
}

#[tokio::test]
async fn set_webhook_none_stops_deliveries() {
    let h = sim().await;
    let rx = Receiver::start().await;
    h.sim.set_webhook(Some(rx.config()));
    edits(&h, 1);
    rx.wait_for(1).await;
    h.sim.set_webhook(None);
    assert!(h.sim.webhook().is_none());
    edits(&h, 3);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.posts().len(), 1);
    assert_eq!(h.sim.webhook_stats().events, 1);

    // And it can be turned on again.
    h.sim.set_webhook(Some(rx.config()));
    edits(&h, 1);
    let d = rx.wait_for(2).await;
    assert_eq!(d[0]["webhook_id"], d[1]["webhook_id"], "the webhook id is fixed per simulator");
}

// ---------------------------------------------------------------------------------------------
// Control routes and the command line

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
    let started = Instant::now();
    let stats = loop {
        let s = get(format!("{url}/stats")).await;
        if s["deliveries_sent"] == json!(1) || started.elapsed() > WAIT {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
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
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(rx.deliveries().len(), 2);
}

#[tokio::test]
async fn simulate_flags_configure_webhooks() {
    let rx = Receiver::start().await;
    let port = {
        let l = std::net::TcpListener::bind(loopback()).expect("bind");
        l.local_addr().expect("addr").port()
    };
    let mut child = Command::new(BIN)
        .args(["simulate", "--port", &port.to_string(), "--webhook-url", &rx.url, "--webhook-user", "halo"])
        .args(["--webhook-password", "s3cret:x", "--webhook-batch", "3", "--webhook-event-only", "--webhook-duplicate", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn simulate");
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    let shown = loop {
        if let Ok(r) = reqwest::get(format!("{base}/_sim/webhook")).await {
            break r.json::<Value>().await.expect("json");
        }
        assert!(started.elapsed() < WAIT, "simulator did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
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
    let output = child.wait_with_output().expect("wait");
    assert!(posts.iter().all(|p| p.body.is_array() && p.auth.as_deref() == Some("Basic aGFsbzpzM2NyZXQ6eA==")), "{posts:#?}");
    assert!(d.iter().all(|p| p["event"] == json!("new ticket logged") && p.get("ticket").is_none()), "{d:#?}");
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(printed.contains(&rx.url) && !printed.contains("s3cret"), "{printed}");

    // Out-of-range and orphan webhook flags are refused before anything starts.
    for args in [vec!["--webhook-url", "http://127.0.0.1:9/", "--webhook-drop", "2"], vec!["--webhook-drop", "0.5"]] {
        let out = Command::new(BIN).arg("simulate").args(["--port", "0"]).args(&args).output().expect("run");
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
}
