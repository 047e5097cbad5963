//! The triggers end to end: the real binary in `run` mode with a trigger_start message, the
//! simulator sending Halo-style webhooks (with drops, duplicates and delays), and a local
//! dispatcher sink. Every change must reach the sink exactly once.

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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

mod api_trigger;
mod changed_fields;
mod exactly_once;
mod polling;
mod refusals;
mod resilience;
mod webhooks;

const BIN: &str = env!("CARGO_BIN_EXE_icon_haloitsm");
const HOOK_USER: &str = "halo-hook";
const HOOK_PASS: &str = "hook-password-123";

/// What the sink records, whether it currently fails, and the ticket whose events it refuses.
type SinkState = (Arc<Mutex<Vec<Value>>>, Arc<AtomicBool>, Arc<Mutex<Option<i64>>>, Arc<(AtomicUsize, AtomicUsize)>);

/// A dispatcher that records trigger events, and can be made to fail (503, for now) or to refuse
/// one ticket's events for good (413, as for an event too large for it).
#[derive(Clone)]
struct Sink {
    url: String,
    events: Arc<Mutex<Vec<Value>>>,
    failing: Arc<AtomicBool>,
    refusing: Arc<Mutex<Option<i64>>>,
    /// Accept at most this many events, answering 503 beyond (and counting those answers).
    cap: Arc<(AtomicUsize, AtomicUsize)>,
}

async fn sink() -> Sink {
    let events: Arc<Mutex<Vec<Value>>> = Arc::default();
    let failing: Arc<AtomicBool> = Arc::default();
    let refusing: Arc<Mutex<Option<i64>>> = Arc::default();
    let cap: Arc<(AtomicUsize, AtomicUsize)> = Arc::new((AtomicUsize::new(usize::MAX), AtomicUsize::new(0)));
    let state = (events.clone(), failing.clone(), refusing.clone(), cap.clone());
    let app = Router::new()
        .route(
            "/events",
            post(|State((events, failing, refusing, cap)): State<SinkState>, body: axum::Json<Value>| async move {
                if failing.load(Ordering::SeqCst) {
                    return StatusCode::SERVICE_UNAVAILABLE;
                }
                if events.lock().unwrap().len() >= cap.0.load(Ordering::SeqCst) {
                    cap.1.fetch_add(1, Ordering::SeqCst);
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
    Sink { url, events, failing, refusing, cap }
}

impl Sink {
    /// Accept `n` events in all and turn the next away; resolves once one was turned away. The
    /// trigger sends one event at a time and records each before the next, so from then on
    /// every accepted event is on record: a kill now falls outside the instant (documented)
    /// between the orchestrator taking an event and the trigger recording it.
    async fn accept_only(&self, n: usize) {
        self.cap.0.store(n, Ordering::SeqCst);
        let start = Instant::now();
        while self.cap.1.load(Ordering::SeqCst) == 0 {
            assert!(start.elapsed() < Duration::from_secs(20), "no event beyond the first {n} was sent");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn accept_all(&self) {
        self.cap.0.store(usize::MAX, Ordering::SeqCst);
    }

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
