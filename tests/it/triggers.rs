//! The triggers end to end: the real binary in `run` mode with a trigger_start message, the
//! simulator sending Halo-style webhooks (with drops, duplicates and delays), and a local
//! dispatcher sink. Every change must reach the sink exactly once.

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use halo_sim::{self as sim, SimConfig, SimHandle, WebhookConfig};
use icon_haloitsm::halo::{ConnectionConfig, HaloClient};
use icon_haloitsm::plugin::Plugin;
use icon_haloitsm::spec::StepKind;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_icon_haloitsm");
const HOOK_USER: &str = "halo-hook";
const HOOK_PASS: &str = "hook-password-123";

/// What the sink records, whether it currently fails, and the ticket whose events it refuses.
type SinkState = (Arc<Mutex<Vec<Value>>>, Arc<AtomicBool>, Arc<Mutex<Option<i64>>>);

/// A dispatcher that records trigger events, and can be made to fail (503, for now) or to refuse
/// one ticket's events for good (413, as for an event too large for it).
#[derive(Clone)]
struct Sink {
    url: String,
    events: Arc<Mutex<Vec<Value>>>,
    failing: Arc<AtomicBool>,
    refusing: Arc<Mutex<Option<i64>>>,
}

async fn sink() -> Sink {
    let events: Arc<Mutex<Vec<Value>>> = Arc::default();
    let failing: Arc<AtomicBool> = Arc::default();
    let refusing: Arc<Mutex<Option<i64>>> = Arc::default();
    let state = (events.clone(), failing.clone(), refusing.clone());
    let app = Router::new()
        .route(
            "/events",
            post(|State((events, failing, refusing)): State<SinkState>, body: axum::Json<Value>| async move {
                if failing.load(Ordering::SeqCst) {
                    return StatusCode::SERVICE_UNAVAILABLE;
                }
                if *refusing.lock().unwrap() == body.0["body"]["output"]["ticket"]["id"].as_i64() {
                    return StatusCode::PAYLOAD_TOO_LARGE;
                }
                events.lock().unwrap().push(body.0);
                StatusCode::OK
            }),
        )
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/events", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Sink { url, events, failing, refusing }
}

impl Sink {
    fn outputs(&self) -> Vec<Value> {
        self.events.lock().unwrap().iter().map(|e| e["body"]["output"].clone()).collect()
    }

    /// Wait until at least `n` events arrived (or the timeout passed); returns the outputs.
    async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Value> {
        let start = Instant::now();
        while self.events.lock().unwrap().len() < n && start.elapsed() < timeout {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.outputs()
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// How often a trigger under test polls.
const POLL_MS: u64 = 300;

struct Setup {
    halo: SimHandle,
    sink: Sink,
    dir: tempfile::TempDir,
    port: u16,
    api: HaloClient,
    /// Connection settings the trigger gets besides the usual ones.
    conn_extra: Value,
}

async fn setup() -> Setup {
    setup_with(SimConfig::default(), json!({})).await
}

async fn setup_with(config: SimConfig, conn_extra: Value) -> Setup {
    let halo = sim::start(config, SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    let api = HaloClient::new(ConnectionConfig::from_value(&connection(&halo)).unwrap()).unwrap();
    Setup { halo, sink: sink().await, dir: tempfile::tempdir().unwrap(), port: free_port(), api, conn_extra }
}

fn connection(halo: &SimHandle) -> Value {
    json!({"client_id": "sim-client", "client_secret": {"secretKey": "sim-secret"},
           "authorization_server": halo.auth_url(), "resource_server": halo.api_url(),
           "webhook_credentials": {"username": HOOK_USER, "password": HOOK_PASS}})
}

impl Setup {
    fn hook_url(&self) -> String {
        format!("http://127.0.0.1:{}/webhooks/haloitsm", self.port)
    }

    /// The simulator's webhooks, pointed at the trigger.
    fn webhooks(&self, extra: Value) {
        let mut cfg = json!({"url": self.hook_url(), "username": HOOK_USER, "password": HOOK_PASS});
        for (k, v) in extra.as_object().unwrap() {
            cfg[k] = v.clone();
        }
        self.halo.sim.set_webhook(Some(serde_json::from_value::<WebhookConfig>(cfg).unwrap()));
    }

    fn start(&self, trigger: &str, input: Value) -> Proc {
        let mut input = input;
        input["webhook_port"] = json!(self.port);
        if input.get("webhook_bind").is_none() {
            input["webhook_bind"] = json!("127.0.0.1");
        }
        let mut conn = connection(&self.halo);
        for (k, v) in self.conn_extra.as_object().unwrap() {
            conn[k] = v.clone();
        }
        let msg = json!({"version": "v1", "type": "trigger_start", "body": {
            "trigger": trigger, "meta": {"triggerId": "trig-1", "workflowId": "wf"},
            "connection": conn, "input": input,
            "dispatcher": {"url": self.sink.url, "webhook_url": ""}}});
        let log = std::fs::File::create(self.dir.path().join("trigger.log")).unwrap();
        let mut child = Command::new(BIN)
            .arg("run")
            .env("ICON_HALOITSM_CACHE_DIR", self.dir.path())
            .env("ICON_HALOITSM_FLAG_DIR", self.dir.path())
            // Polls every 300 ms (the 5 s floor is for users): a test waits for a poll, not for 5 s.
            .env(icon_haloitsm::triggers::TEST_POLL_ENV, POLL_MS.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(msg.to_string().as_bytes()).unwrap();
        Proc(child)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("trigger.log")).unwrap_or_default()
    }

    /// Wait until the trigger's webhook listener answers.
    async fn listening(&self) {
        let start = Instant::now();
        while reqwest::get(format!("http://127.0.0.1:{}/healthz", self.port)).await.is_err() {
            assert!(start.elapsed() < Duration::from_secs(10), "the listener did not start:\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Wait until the trigger has listed HaloITSM's tickets three more times (over a full poll
    /// pass after this call, whatever a pass lists): what polling can catch has been caught.
    async fn more_polls(&self) {
        let lists = || self.halo.sim.stats().by_route.get("GET /api/Tickets").copied().unwrap_or(0);
        let (before, start) = (lists(), Instant::now());
        while lists() < before + 3 {
            assert!(start.elapsed() < Duration::from_secs(20), "the trigger stopped polling:\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(POLL_MS)).await;
    }

    /// Wait until the trigger's first poll has happened (its state file exists).
    async fn started(&self) {
        let start = Instant::now();
        while !self.dir.path().join("trig-1.json").exists() {
            assert!(start.elapsed() < Duration::from_secs(10), "the trigger did not start:\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    /// Create a ticket through the API (as this plugin's API application would).
    async fn create(&self, summary: &str, tickettype: i64) -> i64 {
        let t = self.api.post_one("Tickets", json!({"summary": summary, "details": "d", "tickettype_id": tickettype})).await.unwrap();
        t["id"].as_i64().unwrap()
    }
}

/// A trigger process, killed if a test ends (or panics) without stopping it.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

impl std::ops::Deref for Proc {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Proc {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

fn stop(child: &mut Child) -> std::process::ExitStatus {
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let start = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "the trigger did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every event is valid output of its trigger.
fn assert_valid(trigger: &str, outputs: &[Value]) {
    let plugin = Plugin::new(false);
    for o in outputs {
        plugin.check_output(StepKind::Trigger, trigger, o).unwrap_or_else(|e| panic!("{e}: {o}"));
    }
}

/// (ticket id, changed_at) of each event, asserting none repeats.
fn assert_once(outputs: &[Value]) -> Vec<(i64, String)> {
    let mut seen = HashMap::new();
    for o in outputs {
        let key = (o["ticket"]["id"].as_i64().unwrap(), format!("{}/{}", o["changed_at"], o["new_status_id"]));
        *seen.entry(key).or_insert(0) += 1;
    }
    let dupes: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(dupes.is_empty(), "repeated events: {dupes:?}");
    seen.into_keys().collect()
}

#[tokio::test]
async fn ticket_created_fires_once_per_new_ticket_from_webhooks_with_filters() {
    let s = setup().await;
    s.webhooks(json!({}));
    let mut t = s.start("ticket_created", json!({"source": "webhook", "tickettype_id": 4}));
    s.listening().await;
    let a = s.create("Phish reported by finance", 4).await;
    let _other_type = s.create("Printer jam", 1).await;
    let b = s.create("EDR: credential dumping", 4).await;
    s.halo.sim.agent_edit(101, json!({"priority_id": 1}), Some("bump")).unwrap();
    let out = s.sink.wait_for(2, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let out2 = s.sink.outputs();
    assert_eq!(out.len(), out2.len(), "no late extra events");
    // HaloITSM (and the simulator) send deliveries for different tickets independently, so
    // they may arrive, and fire, in either order.
    let mut ids: Vec<i64> = out2.iter().map(|o| o["ticket"]["id"].as_i64().unwrap()).collect();
    ids.sort_unstable();
    assert_eq!(ids, vec![a, b], "{out2:#?}\n{}", s.log());
    assert_valid("ticket_created", &out2);
    for o in &out2 {
        assert_eq!(o["event"], "created");
        assert_eq!(o["source"], "webhook");
        assert_eq!(o["changed_by_integration"], true, "created through the API application");
        assert_eq!(o["ticket"]["tickettype_id"], 4);
    }
    assert!(stop(&mut t).success());
    let ev = s.sink.events.lock().unwrap()[0].clone();
    assert_eq!(ev["type"], "trigger_event");
    assert_eq!(ev["body"]["meta"]["workflowId"], "wf");
}

#[tokio::test]
async fn status_changes_fire_once_per_transition_with_old_and_new_status() {
    let s = setup().await;
    s.webhooks(json!({}));
    let mut t = s.start("ticket_status_changed", json!({"source": "webhook"}));
    s.listening().await;
    s.halo.sim.agent_edit(101, json!({"status_id": 6}), None).unwrap();
    s.sink.wait_for(1, Duration::from_secs(10)).await;
    s.halo.sim.agent_edit(101, json!({"summary": "no status change"}), None).unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    s.halo.sim.agent_edit(101, json!({"status_id": 4}), Some("resolved")).unwrap();
    let out = s.sink.wait_for(2, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let out = {
        let _ = out;
        s.sink.outputs()
    };
    assert_eq!(out.len(), 2, "{out:#?}\n{}", s.log());
    assert_valid("ticket_status_changed", &out);
    assert_eq!((out[0]["old_status_id"].as_i64(), out[0]["new_status_id"].as_i64()), (Some(2), Some(6)));
    assert_eq!((out[1]["old_status_id"].as_i64(), out[1]["new_status_id"].as_i64()), (Some(6), Some(4)));
    assert_eq!(out[1]["ticket"]["status_id"], 4);
    assert_eq!(out[1]["changed_by_integration"], false, "an agent made the change");
    assert_eq!(out[1]["event"], "status_changed");
    assert!(stop(&mut t).success());
}

#[tokio::test]
async fn ticket_updated_reports_every_change_and_the_previous_status() {
    let s = setup().await;
    s.webhooks(json!({"payload": "event_only"}));
    let mut t = s.start("ticket_updated", json!({"source": "webhook", "ticket_id": 102}));
    s.listening().await;
    s.halo.sim.agent_edit(103, json!({"summary": "other ticket"}), None).unwrap();
    s.halo.sim.agent_edit(102, json!({"summary": "Emotet loader - contained"}), None).unwrap();
    s.sink.wait_for(1, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    s.halo.sim.agent_edit(102, json!({"status_id": 2}), None).unwrap();
    let _ = s.sink.wait_for(2, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let out = s.sink.outputs();
    assert_eq!(out.len(), 2, "{out:#?}\n{}", s.log());
    assert_valid("ticket_updated", &out);
    assert_eq!(out[0]["event"], "updated");
    assert_eq!(out[0]["previous_status_id"], 1);
    assert_eq!(out[0]["ticket"]["summary"], "Emotet loader - contained", "event-only deliveries: the ticket was read from HaloITSM");
    assert_eq!(out[1]["event"], "status_changed");
    assert_eq!(out[1]["previous_status_id"], 1);
    assert_eq!(out[1]["ticket"]["status_id"], 2);
    assert!(stop(&mut t).success());
}

#[tokio::test]
async fn dropped_webhooks_are_caught_by_polling_and_duplicates_fire_once() {
    let s = setup().await;
    s.webhooks(json!({"drop_ratio": 0.3, "duplicate_ratio": 0.3, "delay_ratio": 0.3, "delay_ms": 300, "seed": 7}));
    let mut t = s.start("ticket_updated", json!({"source": "webhook+poll", "interval_seconds": 5}));
    s.listening().await;
    s.started().await;
    let ids: Vec<i64> = s.halo.sim.tickets().iter().filter_map(|t| t["id"].as_i64()).collect();
    for (i, id) in ids.iter().enumerate() {
        s.halo.sim.agent_edit(*id, json!({"summary": format!("edited {i}")}), None).unwrap();
    }
    let out = s.sink.wait_for(ids.len(), Duration::from_secs(20)).await;
    s.more_polls().await;
    let out = {
        let _ = out;
        s.sink.outputs()
    };
    let keys = assert_once(&out);
    let mut got: Vec<i64> = keys.iter().map(|(id, _)| *id).collect();
    got.sort_unstable();
    assert_eq!(got, ids, "every change exactly once\n{}", s.log());
    let stats = s.halo.sim.webhook_stats();
    assert!(stats.dropped > 0 && stats.duplicated > 0, "{stats:?}");
    assert!(out.iter().any(|o| o["source"] == "poll"), "the poller delivered what webhooks dropped");
    assert_valid("ticket_updated", &out);
    assert!(stop(&mut t).success());
}

#[tokio::test]
async fn killed_and_restarted_it_loses_nothing_and_repeats_nothing() {
    let s = setup().await;
    s.webhooks(json!({}));
    let mut t = s.start("ticket_updated", json!({"source": "webhook+poll", "interval_seconds": 5}));
    s.listening().await;
    s.started().await;
    let ids: Vec<i64> = s.halo.sim.tickets().iter().filter_map(|t| t["id"].as_i64()).collect();
    for id in &ids[..4] {
        s.halo.sim.agent_edit(*id, json!({"summary": "before the kill"}), None).unwrap();
    }
    s.sink.wait_for(2, Duration::from_secs(10)).await;
    t.kill().unwrap(); // SIGKILL: no chance to save anything
    t.wait().unwrap();
    for id in &ids[4..] {
        s.halo.sim.agent_edit(*id, json!({"summary": "while it was down"}), None).unwrap();
    }
    let mut t = s.start("ticket_updated", json!({"source": "webhook+poll", "interval_seconds": 5}));
    s.listening().await;
    let out = s.sink.wait_for(ids.len(), Duration::from_secs(20)).await;
    s.more_polls().await;
    let out = {
        let _ = out;
        s.sink.outputs()
    };
    let keys = assert_once(&out);
    let mut got: Vec<i64> = keys.iter().map(|(id, _)| *id).collect();
    got.sort_unstable();
    assert_eq!(got, ids, "{out:#?}\n{}", s.log());
    assert!(stop(&mut t).success());
}

#[tokio::test]
async fn a_dispatcher_outage_is_ridden_out() {
    let s = setup().await;
    s.webhooks(json!({}));
    s.sink.failing.store(true, Ordering::SeqCst);
    let mut t = s.start("ticket_created", json!({"source": "webhook"}));
    s.listening().await;
    let a = s.create("first", 4).await;
    let b = s.create("second", 4).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(s.sink.outputs().is_empty());
    s.sink.failing.store(false, Ordering::SeqCst);
    let out = s.sink.wait_for(2, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut ids: Vec<i64> = s.sink.outputs().iter().map(|o| o["ticket"]["id"].as_i64().unwrap()).collect();
    ids.sort_unstable();
    assert_eq!(ids, vec![a, b], "each once\n{out:#?}\n{}", s.log());
    assert!(s.log().contains("did not accept the event"), "the outage is logged");
    assert!(stop(&mut t).success());
}

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
    let r = http.get(format!("http://127.0.0.1:{}/healthz", s.port)).send().await.unwrap();
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
    let out = s.sink.wait_for(1, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(s.sink.outputs().len(), 1, "{out:#?}");
    assert_eq!(out[0]["ticket"]["id"], id);
    assert!(!s.log().contains(HOOK_PASS), "the password never reaches the logs");
    assert!(stop(&mut t).success());
}

#[tokio::test]
async fn bearer_or_api_key_deliveries_with_string_ids_and_a_malformed_one_in_a_batch() {
    // Halo's Bearer token and API key options (docs/halo-api.md#W7), IDs sent as strings (W10),
    // small payloads (W3).
    let s =
        setup_with(SimConfig::default(), json!({"webhook_secret": {"secretKey": "hook-t0ken"}, "webhook_api_key_header": "X-Halo-Key"}))
            .await;
    s.webhooks(json!({"username": null, "password": null, "bearer_token": "hook-t0ken", "payload": "small", "ids_as_strings": true}));
    let mut t = s.start("ticket_updated", json!({"source": "webhook"}));
    s.listening().await;
    s.halo.sim.agent_edit(102, json!({"summary": "Emotet loader - contained"}), None).unwrap();
    let out = s.sink.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(out.len(), 1, "{out:#?}\n{}", s.log());
    assert_eq!(out[0]["ticket"]["id"], 102);
    assert_eq!(out[0]["ticket"]["summary"], "Emotet loader - contained");

    let http = reqwest::Client::new();
    let url = s.hook_url();
    let key = |r: reqwest::RequestBuilder| r.header("X-Halo-Key", "hook-t0ken");
    let r = http.post(&url).header("X-API-Key", "hook-t0ken").json(&json!({"object_id": 101})).send().await.unwrap();
    assert_eq!(r.status(), 401, "only the configured header carries the key");
    let r = http.post(&url).bearer_auth("wrong").json(&json!({"object_id": 101})).send().await.unwrap();
    assert_eq!(r.status(), 401);
    // One malformed delivery does not reject the others of its batch; the answer names it.
    s.halo.sim.agent_edit(105, json!({"summary": "bucket fixed"}), None).unwrap();
    let batch = json!([{"id": "d-9", "event": "ticket updated", "object_id": "105"}, {"event": "x"}]);
    let r = key(http.post(&url)).json(&batch).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["deliveries"], 1, "{answer}");
    assert_eq!(answer["refused"][0]["index"], 1, "{answer}");
    let out = s.sink.wait_for(2, Duration::from_secs(10)).await;
    assert!(out.iter().any(|o| o["ticket"]["id"] == 105), "{out:#?}");
    assert!(!s.log().contains("hook-t0ken"), "the secret never reaches the logs");
    assert!(stop(&mut t).success());
}

#[tokio::test]
async fn a_change_in_the_ui_by_the_integrations_agent_is_not_the_integrations() {
    // An API application acts as an agent, who may also work in HaloITSM's UI: only the
    // history's `actionby_application_id` tells the two apart (docs/halo-api.md#A7).
    let s = setup().await;
    s.webhooks(json!({}));
    let mut t = s.start("ticket_updated", json!({"source": "webhook"}));
    s.listening().await;
    s.api.post_one("Actions", json!({"ticket_id": 106, "outcome": "Private Note", "note": "from the integration"})).await.unwrap();
    s.sink.wait_for(1, Duration::from_secs(10)).await;
    s.halo.sim.agent_edit_by(1, 107, json!({"summary": "edited in the UI by the API agent"}), None).unwrap();
    let out = s.sink.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(out.len(), 2, "{out:#?}\n{}", s.log());
    let by_ticket = |id: i64| out.iter().find(|o| o["ticket"]["id"] == id).unwrap()["changed_by_integration"].clone();
    assert_eq!(by_ticket(106), json!(true), "made through the API application");
    assert_eq!(by_ticket(107), json!(false), "made in the UI, though by the same agent");
    assert!(stop(&mut t).success());
}

#[tokio::test]
async fn polling_sees_changes_to_tickets_closed_long_ago() {
    // A plain list leaves out tickets closed a while ago (docs/halo-api.md#Q1); here every
    // closed ticket is "a while ago". A note on one is still a change.
    let config = SimConfig { profile: halo_sim::Profile { recently_closed_days: 0, ..Default::default() }, ..SimConfig::default() };
    let s = setup_with(config, json!({})).await;
    let mut t = s.start("ticket_updated", json!({"source": "poll", "interval_seconds": 5}));
    s.started().await;
    s.halo.sim.agent_edit(104, json!({}), Some("Customer asked for the report")).unwrap();
    let out = s.sink.wait_for(1, Duration::from_secs(15)).await;
    assert_eq!(out.len(), 1, "{out:#?}\n{}", s.log());
    assert_eq!((out[0]["ticket"]["id"].as_i64(), out[0]["ticket"]["closed"].as_bool()), (Some(104), Some(true)));
    assert_eq!(out[0]["insightidr_status"], "CLOSED");
    assert!(stop(&mut t).success());
}

#[tokio::test]
async fn polling_alone_starts_from_now_and_the_flag_file_stops_it() {
    let s = setup().await;
    s.halo.sim.agent_edit(104, json!({"summary": "changed before the trigger started"}), None).unwrap();
    // HaloITSM dates have whole seconds: a change in the start's own second counts as after it.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut t = s.start("ticket_updated", json!({"source": "poll", "interval_seconds": 5}));
    s.started().await;
    s.halo.sim.agent_edit(105, json!({"summary": "changed after"}), None).unwrap();
    let out = s.sink.wait_for(1, Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let out = {
        let _ = out;
        s.sink.outputs()
    };
    assert_eq!(out.len(), 1, "{out:#?}\n{}", s.log());
    assert_eq!(out[0]["ticket"]["id"], 105);
    assert_eq!(out[0]["source"], "poll");
    std::fs::write(s.dir.path().join("terminate_trigger.flag"), b"").unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(st) = t.try_wait().unwrap() {
            break st;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "the flag file did not stop the trigger");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success());
    assert!(!s.dir.path().join("terminate_trigger.flag").exists(), "the flag is consumed");
    let state: Value = serde_json::from_slice(&std::fs::read(s.dir.path().join("trig-1.json")).unwrap()).unwrap();
    assert!(state["tickets"]["105"].is_object(), "{state}");
}

#[tokio::test]
async fn lookback_reports_recent_changes_on_first_start() {
    let s = setup().await;
    s.halo.sim.agent_edit(104, json!({"status_id": 2}), None).unwrap();
    let mut t = s.start("ticket_status_changed", json!({"source": "poll", "interval_seconds": 5, "lookback_minutes": 10}));
    let out = s.sink.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(out.len(), 1, "{out:#?}\n{}", s.log());
    assert_eq!(
        (out[0]["old_status_id"].as_i64(), out[0]["new_status_id"].as_i64()),
        (Some(9), Some(2)),
        "the old status from the ticket's history"
    );
    assert!(stop(&mut t).success());
}

#[tokio::test]
async fn bad_trigger_input_is_reported_at_start() {
    let s = setup().await;
    let mut t = s.start("ticket_updated", json!({"interval_seconds": 1}));
    let out = t.wait_with_output_timeout();
    assert!(!out.0.success());
    let msg: Value = serde_json::from_slice(&out.1).unwrap();
    assert_eq!(msg["type"], "trigger_event");
    assert!(msg["body"]["error"].as_str().unwrap().contains("`interval_seconds` must be at least 5"), "{msg}");
}

#[tokio::test]
async fn a_listener_open_to_anyone_or_with_an_empty_password_does_not_start_unless_allowed() {
    let refused = |s: &Setup, input: Value| {
        let mut t = s.start("ticket_created", input);
        let (status, out) = t.wait_with_output_timeout();
        assert!(!status.success());
        let msg: Value = serde_json::from_slice(&out).unwrap();
        msg["body"]["error"].as_str().unwrap().to_string()
    };
    // No credentials and every interface: refused, naming the input that allows it.
    let open = setup_with(SimConfig::default(), json!({"webhook_credentials": null})).await;
    let error = refused(&open, json!({"source": "webhook", "webhook_bind": "0.0.0.0"}));
    assert!(error.contains("allow_unauthenticated_webhooks") && error.contains("accept deliveries from anyone"), "{error}");
    // Allowed explicitly, or on loopback only: it starts.
    for input in
        [json!({"source": "webhook", "webhook_bind": "0.0.0.0", "allow_unauthenticated_webhooks": true}), json!({"source": "webhook"})]
    {
        let mut t = open.start("ticket_created", input.clone());
        open.listening().await;
        // Stopped at once, HaloITSM reads in flight or not (this test's simulator cannot answer
        // while `stop` waits).
        let status = stop(&mut t);
        assert!(status.success(), "{input}: {status:?}\n{}", open.log());
    }
    // Polling alone opens no listener: nothing to refuse.
    let mut t = open.start("ticket_created", json!({"source": "poll", "webhook_bind": "0.0.0.0"}));
    open.started().await;
    assert!(stop(&mut t).success());
    // An empty password is no password.
    let empty = setup_with(SimConfig::default(), json!({"webhook_credentials": {"username": HOOK_USER, "password": ""}})).await;
    let error = refused(&empty, json!({"source": "webhook"}));
    assert!(error.contains("`webhook_credentials`") && error.contains("empty"), "{error}");
}

trait WaitTimeout {
    fn wait_with_output_timeout(&mut self) -> (std::process::ExitStatus, Vec<u8>);
}

impl WaitTimeout for Proc {
    fn wait_with_output_timeout(&mut self) -> (std::process::ExitStatus, Vec<u8>) {
        let start = Instant::now();
        loop {
            if let Some(s) = self.try_wait().unwrap() {
                let mut out = Vec::new();
                std::io::Read::read_to_end(self.0.stdout.as_mut().unwrap(), &mut out).unwrap();
                return (s, out);
            }
            assert!(start.elapsed() < Duration::from_secs(10), "did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[tokio::test]
async fn a_ticket_created_and_changed_between_polls_reports_both() {
    let s = setup().await;
    let mut t = s.start("ticket_status_changed", json!({"source": "poll", "interval_seconds": 5}));
    s.started().await;
    let id = s.create("created and moved before the next poll", 4).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    s.halo.sim.agent_edit(id, json!({"status_id": 6}), None).unwrap();
    let out = s.sink.wait_for(1, Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let out = {
        let _ = out;
        s.sink.outputs()
    };
    assert_eq!(out.len(), 1, "{out:#?}\n{}", s.log());
    assert_eq!(
        (out[0]["ticket"]["id"].as_i64(), out[0]["old_status_id"].as_i64(), out[0]["new_status_id"].as_i64()),
        (Some(id), Some(1), Some(6))
    );
    assert!(stop(&mut t).success());
}

#[tokio::test]
async fn every_transition_arrives_once_in_order_despite_lost_reordered_and_same_second_deliveries() {
    let s = setup().await;
    s.webhooks(json!({"drop_ratio": 0.4, "delay_ratio": 0.5, "delay_ms": 400, "duplicate_ratio": 0.3, "seed": 11}));
    let mut t = s.start("ticket_status_changed", json!({"source": "webhook+poll", "interval_seconds": 5}));
    s.listening().await;
    s.started().await;
    // Two transitions within one second, then two more later.
    s.halo.sim.agent_edit(101, json!({"status_id": 6}), None).unwrap();
    s.halo.sim.agent_edit(101, json!({"status_id": 3}), None).unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    s.halo.sim.agent_edit(101, json!({"summary": "note only"}), None).unwrap();
    s.halo.sim.agent_edit(101, json!({"status_id": 4}), None).unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    s.halo.sim.agent_edit(101, json!({"status_id": 5}), None).unwrap();
    s.sink.wait_for(4, Duration::from_secs(20)).await;
    s.more_polls().await;
    let out = s.sink.outputs();
    let transitions: Vec<(i64, i64)> =
        out.iter().map(|o| (o["old_status_id"].as_i64().unwrap(), o["new_status_id"].as_i64().unwrap())).collect();
    assert_eq!(transitions, vec![(2, 6), (6, 3), (3, 4), (4, 5)], "{out:#?}\n{}", s.log());
    let ids: std::collections::HashSet<&str> = out.iter().map(|o| o["event_id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), out.len(), "event IDs are unique");
    assert!(stop(&mut t).success());
}

#[tokio::test]
async fn a_status_moved_in_the_second_of_its_creation_fires_from_either_source() {
    for source in ["poll", "webhook"] {
        let s = setup().await;
        s.webhooks(json!({}));
        let mut t = s.start("ticket_status_changed", json!({"source": source, "interval_seconds": 5}));
        if source == "webhook" {
            s.listening().await;
        } else {
            s.started().await;
        }
        // Created and moved 1 -> 2 at once: both stamped with the same whole second.
        let mut ids = Vec::new();
        for i in 0..5 {
            let id = s.create(&format!("moved at once {i}"), 4).await;
            s.halo.sim.agent_edit(id, json!({"status_id": 2}), None).unwrap();
            ids.push(id);
        }
        let out = s.sink.wait_for(5, Duration::from_secs(20)).await;
        let mut got: Vec<(i64, i64, i64)> = out
            .iter()
            .map(|o| (o["ticket"]["id"].as_i64().unwrap(), o["old_status_id"].as_i64().unwrap(), o["new_status_id"].as_i64().unwrap()))
            .collect();
        got.sort_unstable();
        assert_eq!(got, ids.iter().map(|id| (*id, 1, 2)).collect::<Vec<_>>(), "{source}: {out:#?}\n{}", s.log());
        assert!(stop(&mut t).success());
    }
}

#[tokio::test]
async fn changes_landing_between_reads_fire_once_with_a_snapshot_no_older_than_the_transition() {
    let s = setup().await;
    s.webhooks(json!({}));
    // HaloITSM answering in 100 ms, the status moving every 40 ms: a change lands between the
    // trigger's read of the ticket and of its history.
    s.halo.sim.set_faults(halo_sim::Faults { latency_ms: 100, ..Default::default() });
    let mut t = s.start("ticket_status_changed", json!({"source": "webhook", "ticket_id": 103}));
    s.listening().await;
    let path = [2, 3, 4, 5, 6, 2, 3];
    for st in path {
        s.halo.sim.agent_edit(103, json!({"status_id": st}), None).unwrap();
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    let out = s.sink.wait_for(path.len(), Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let out = {
        let _ = out;
        s.sink.outputs()
    };
    let transitions: Vec<(i64, i64)> =
        out.iter().map(|o| (o["old_status_id"].as_i64().unwrap(), o["new_status_id"].as_i64().unwrap())).collect();
    let mut want = vec![(1, 2)];
    want.extend(path.windows(2).map(|w| (w[0], w[1])));
    assert_eq!(transitions, want, "each transition once, in order: {out:#?}\n{}", s.log());
    let ids: std::collections::HashSet<&str> = out.iter().map(|o| o["event_id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), out.len(), "one identity per transition");
    // The ticket an event carries shows the transition's status or a later one, never an older.
    for (i, o) in out.iter().enumerate() {
        let shown = o["ticket"]["status_id"].as_i64().unwrap();
        let later: Vec<i64> = want[i..].iter().map(|(_, n)| *n).collect();
        assert!(later.contains(&shown), "event {i} ({:?}) carries status {shown}", want[i]);
    }
    assert!(stop(&mut t).success());
}

#[tokio::test]
async fn a_flaky_halo_delays_events_but_loses_none() {
    let s = setup().await;
    s.webhooks(json!({}));
    let mut t = s.start("ticket_updated", json!({"source": "webhook+poll", "interval_seconds": 5}));
    s.listening().await;
    s.started().await;
    s.halo.sim.set_faults(halo_sim::Faults { server_error_every: 3, rate_limit_every: 5, retry_after_secs: Some(0), ..Default::default() });
    let ids: Vec<i64> = s.halo.sim.tickets().iter().filter_map(|t| t["id"].as_i64()).collect();
    for id in &ids {
        s.halo.sim.agent_edit(*id, json!({"summary": "edited while HaloITSM is flaky"}), None).unwrap();
    }
    s.sink.wait_for(ids.len(), Duration::from_secs(30)).await;
    s.more_polls().await;
    let out = s.sink.outputs();
    let keys = assert_once(&out);
    let mut got: Vec<i64> = keys.iter().map(|(id, _)| *id).collect();
    got.sort_unstable();
    assert_eq!(got, ids, "{}", s.log());
    assert!(out.iter().all(|o| o["previous_status_id"].is_i64()), "the history was read despite the failures");
    assert!(s.halo.sim.stats().injected_500 > 0);
    assert!(stop(&mut t).success());
}

#[tokio::test]
async fn deliveries_accepted_during_an_outage_survive_a_kill() {
    let s = setup().await;
    s.webhooks(json!({}));
    s.sink.failing.store(true, Ordering::SeqCst);
    let mut t = s.start("ticket_created", json!({"source": "webhook"}));
    s.listening().await;
    let a = s.create("accepted while the dispatcher is down", 4).await;
    let b = s.create("also accepted", 4).await;
    let start = Instant::now();
    while s.halo.sim.webhook_stats().deliveries_sent < 2 {
        assert!(start.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    t.kill().unwrap();
    t.wait().unwrap();
    // Restarted while the dispatcher is still down: the listener must come up anyway.
    let mut t = s.start("ticket_created", json!({"source": "webhook"}));
    s.listening().await;
    let c = s.create("accepted after the restart", 4).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    s.sink.failing.store(false, Ordering::SeqCst);
    s.sink.wait_for(3, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut ids: Vec<i64> = s.sink.outputs().iter().map(|o| o["ticket"]["id"].as_i64().unwrap()).collect();
    ids.sort_unstable();
    assert_eq!(ids, vec![a, b, c], "{}", s.log());
    assert!(stop(&mut t).success());
}

#[tokio::test]
async fn webhook_only_catches_up_on_changes_made_while_stopped() {
    let s = setup().await;
    s.webhooks(json!({}));
    let mut t = s.start("ticket_updated", json!({"source": "webhook"}));
    s.listening().await;
    s.halo.sim.agent_edit(103, json!({"summary": "while running"}), None).unwrap();
    s.sink.wait_for(1, Duration::from_secs(10)).await;
    assert!(stop(&mut t).success());
    s.halo.sim.agent_edit(104, json!({"summary": "while stopped"}), None).unwrap();
    let mut t = s.start("ticket_updated", json!({"source": "webhook"}));
    let out = s.sink.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(out.iter().map(|o| o["ticket"]["id"].as_i64().unwrap()).collect::<Vec<_>>(), vec![103, 104], "{}", s.log());
    assert!(stop(&mut t).success());
}

#[tokio::test]
async fn filters_on_priority_status_change_and_new_status() {
    let s = setup().await;
    s.webhooks(json!({}));
    let mut created = s.start("ticket_created", json!({"source": "webhook", "priority_id": 1}));
    s.listening().await;
    let hi = s.api.post_one("Tickets", json!({"summary": "critical", "details": "d", "tickettype_id": 4, "priority_id": 1})).await.unwrap();
    s.create("medium", 4).await;
    let out = s.sink.wait_for(1, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(s.sink.outputs().len(), 1, "{out:#?}");
    assert_eq!(out[0]["ticket"]["id"], hi["id"]);
    assert!(stop(&mut created).success());

    let s = setup().await;
    s.webhooks(json!({}));
    let mut updated = s.start("ticket_updated", json!({"source": "webhook", "status_changed": true}));
    s.listening().await;
    s.halo.sim.agent_edit(102, json!({"summary": "no status change"}), None).unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    s.halo.sim.agent_edit(102, json!({"status_id": 2}), None).unwrap();
    let out = s.sink.wait_for(1, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(s.sink.outputs().len(), 1, "{out:#?}");
    assert_eq!(out[0]["event"], "status_changed");
    assert!(stop(&mut updated).success());

    let s = setup().await;
    s.webhooks(json!({}));
    let mut status = s.start("ticket_status_changed", json!({"source": "webhook", "new_status_id": 5, "ticket_id": 101}));
    s.listening().await;
    s.halo.sim.agent_edit(102, json!({"status_id": 5}), None).unwrap();
    s.halo.sim.agent_edit(101, json!({"status_id": 6}), None).unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    s.halo.sim.agent_edit(101, json!({"status_id": 5}), None).unwrap();
    let out = s.sink.wait_for(1, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(s.sink.outputs().len(), 1, "{out:#?}");
    assert_eq!((out[0]["ticket"]["id"].as_i64(), out[0]["new_status_id"].as_i64()), (Some(101), Some(5)));
    assert!(!s.log().contains("sim-secret"), "the client secret never reaches the log");
    assert!(!s.sink.events.lock().unwrap().iter().any(|e| e.to_string().contains("sim-secret")));
    assert!(stop(&mut status).success());
}

#[tokio::test]
async fn a_delivery_for_a_missing_ticket_is_skipped_and_later_changes_flow() {
    let s = setup().await;
    let mut t = s.start("ticket_updated", json!({"source": "webhook"}));
    s.listening().await;
    let http = reqwest::Client::new();
    let bogus = json!({"id": "gone-1", "event": "ticket updated", "object_id": 999_999});
    let r = http.post(s.hook_url()).basic_auth(HOOK_USER, Some(HOOK_PASS)).json(&bogus).send().await.unwrap();
    assert_eq!(r.status(), 200);
    s.webhooks(json!({}));
    s.halo.sim.agent_edit(105, json!({"summary": "real change"}), None).unwrap();
    let out = s.sink.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(out.len(), 1, "{}", s.log());
    assert_eq!(out[0]["ticket"]["id"], 105);
    let big: Vec<Value> = (0..1001).map(|i| json!({"object_id": i + 1})).collect();
    let r = http.post(s.hook_url()).basic_auth(HOOK_USER, Some(HOOK_PASS)).json(&big).send().await.unwrap();
    assert_eq!(r.status(), 400, "batches are capped");
    assert!(stop(&mut t).success());
}

#[tokio::test]
async fn an_event_the_dispatcher_refuses_for_good_is_set_aside_and_replayed_on_request() {
    let s = setup().await;
    s.webhooks(json!({}));
    let mut t = s.start("ticket_created", json!({"source": "webhook"}));
    s.listening().await;
    let refused = s.create("refused by the dispatcher", 4).await;
    *s.sink.refusing.lock().unwrap() = Some(refused);
    let later = [s.create("after it 1", 4).await, s.create("after it 2", 4).await, s.create("after it 3", 4).await];
    let out = s.sink.wait_for(3, Duration::from_secs(20)).await;
    let got: Vec<i64> = out.iter().map(|o| o["ticket"]["id"].as_i64().unwrap()).collect();
    assert_eq!(got, later, "the trigger goes on past the refused event:\n{}", s.log());
    let log = s.log();
    let line = log.lines().find(|l| l.contains("refused event")).unwrap_or_else(|| panic!("the refusal is logged:\n{log}"));
    assert!(line.contains("HTTP 413") && line.contains("trig-1:"), "{line}");
    let dead = s.dir.path().join("trig-1.dead.jsonl");
    assert!(dead.exists());
    assert!(stop(&mut t).success());

    // Started again without replay: it says what is set aside, and sends nothing of it.
    *s.sink.refusing.lock().unwrap() = None;
    let mut t = s.start("ticket_created", json!({"source": "webhook"}));
    s.listening().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(s.log().contains("1 event(s) the dispatcher refused are set aside"), "{}", s.log());
    assert_eq!(s.sink.outputs().len(), 3);
    assert!(stop(&mut t).success());

    // With replay: the event arrives, under the event ID it was refused with, and leaves the list.
    let mut t = s.start("ticket_created", json!({"source": "webhook", "replay_dead_letters": true}));
    let out = s.sink.wait_for(4, Duration::from_secs(20)).await;
    assert_eq!(out.len(), 4, "{}", s.log());
    assert_eq!(out[3]["ticket"]["id"], refused);
    let event_id = out[3]["event_id"].as_str().unwrap();
    assert!(line.contains(event_id), "replayed as {event_id}, refused as: {line}");
    assert!(!dead.exists(), "no dead letter left");
    assert!(stop(&mut t).success());
}

#[tokio::test]
async fn a_lost_or_truncated_inbox_is_detected_logged_and_deliveries_still_flow() {
    for damage in ["truncated", "deleted"] {
        let s = setup().await;
        s.webhooks(json!({}));
        let mut t = s.start("ticket_created", json!({"source": "webhook"}));
        s.listening().await;
        let first = s.create("before the damage", 4).await;
        assert_eq!(s.sink.wait_for(1, Duration::from_secs(10)).await.len(), 1, "{}", s.log());
        assert!(stop(&mut t).success());
        let inbox = s.dir.path().join("trig-1.inbox");
        match damage {
            "truncated" => std::fs::OpenOptions::new().write(true).open(&inbox).unwrap().set_len(3).unwrap(),
            _ => std::fs::remove_file(&inbox).unwrap(),
        }
        let mut t = s.start("ticket_created", json!({"source": "webhook"}));
        s.listening().await;
        let second = s.create("after the damage", 4).await;
        let out = s.sink.wait_for(2, Duration::from_secs(10)).await;
        let got: Vec<i64> = out.iter().map(|o| o["ticket"]["id"].as_i64().unwrap()).collect();
        assert_eq!(got, [first, second], "{damage}: a delivery after the damage is processed, none repeats:\n{}", s.log());
        assert!(s.log().contains("the file was truncated, replaced or lost"), "{damage}: it is logged:\n{}", s.log());
        assert!(stop(&mut t).success());
    }
}

#[tokio::test]
async fn a_lost_state_file_and_unreadable_journal_lines_are_logged_loudly() {
    let s = setup().await;
    let mut t = s.start("ticket_updated", json!({"source": "poll", "interval_seconds": 5}));
    s.started().await;
    assert!(stop(&mut t).success());
    std::fs::remove_file(s.dir.path().join("trig-1.json")).unwrap();
    std::fs::write(s.dir.path().join("trig-1.journal"), "not a journal line\n{\"k\":\"d\",\"v\":\"delivery-1\"}\n").unwrap();
    let mut t = s.start("ticket_updated", json!({"source": "poll", "interval_seconds": 5}));
    s.started().await;
    let log = s.log();
    let warned = |needle: &str| log.lines().any(|l| l.contains("WARN") && l.contains(needle));
    assert!(warned("No state for this trigger"), "{log}");
    assert!(warned("1 unreadable line(s)"), "{log}");
    assert!(stop(&mut t).success());
}

#[tokio::test]
async fn event_only_deliveries_for_one_ticket_cost_one_read_per_batch() {
    // HaloITSM's "event only" payload (docs/halo-api.md#W3) names the ticket and nothing else:
    // every delivery asks the trigger to read it.
    let s = setup().await;
    let mut t = s.start("ticket_updated", json!({"source": "webhook"}));
    s.listening().await;
    let http = reqwest::Client::new();
    s.halo.sim.reset_stats();
    const POSTS: usize = 20;
    for p in 0..POSTS {
        let batch: Vec<Value> =
            (0..100).map(|i| json!({"id": format!("d-{p}-{i}"), "event": "ticket updated", "object_id": 103})).collect();
        let r = http.post(s.hook_url()).basic_auth(HOOK_USER, Some(HOOK_PASS)).json(&batch).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    // The inbox is worked in order: once a change announced after them fires, they are done.
    s.halo.sim.agent_edit(102, json!({"summary": "announced last"}), None).unwrap();
    let r = http
        .post(s.hook_url())
        .basic_auth(HOOK_USER, Some(HOOK_PASS))
        .json(&json!({"id": "d-last", "event": "ticket updated", "object_id": 102}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let out = s.sink.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(out.len(), 1, "{out:#?}\n{}", s.log());
    assert_eq!(out[0]["ticket"]["id"], 102, "ticket 103 did not change");
    let reads = s.halo.sim.stats().by_route.get("GET /api/Tickets/{id}").copied().unwrap_or(0);
    // At most one read (and one re-read) per ticket per batch of stored POSTs, not one per delivery.
    assert!(reads <= 2 * (POSTS as u64 + 1), "{reads} ticket reads for {} deliveries", POSTS * 100);
    assert!(stop(&mut t).success());
}

#[tokio::test]
async fn a_stop_is_not_held_up_by_a_halo_that_does_not_answer() {
    let s = setup().await;
    let mut t = s.start("ticket_updated", json!({"source": "poll", "interval_seconds": 5}));
    s.started().await;
    // Every HaloITSM request from now on hangs; the next poll is one of them.
    s.halo.sim.set_faults(halo_sim::Faults { hold: true, ..Default::default() });
    let before = s.halo.sim.stats().api_requests;
    let start = Instant::now();
    while s.halo.sim.stats().api_requests == before {
        assert!(start.elapsed() < Duration::from_secs(20), "no poll came:\n{}", s.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = tokio::task::spawn_blocking(move || {
        let status = stop(&mut t);
        (status, t)
    })
    .await
    .unwrap()
    .0;
    assert!(status.success(), "{}", s.log());
    assert!(s.log().contains("Trigger stopped"), "it saved its state and said so:\n{}", s.log());
}
