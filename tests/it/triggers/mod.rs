//! The triggers end to end: the real binary in `run` mode with a trigger_start message, the
//! simulator sending Halo-style webhooks (with drops, duplicates and delays), and a local
//! dispatcher sink. Every change must reach the sink exactly once.

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use halo_sim::{self as sim, SimConfig, SimHandle, WebhookConfig};
use icon_haloitsm::halo::{ConnectionConfig, HaloClient};
use icon_haloitsm::plugin::Plugin;
use icon_haloitsm::spec::StepKind;
use serde_json::{Value, json};

use crate::common::{Lazy, Sink, eventually, inbox_worked, listener_port, webhooks_idle};

mod api_trigger;
mod changed_fields;
mod exactly_once;
mod polling;
mod refusals;
mod reopens;
mod resilience;
mod webhooks;

const BIN: &str = env!("CARGO_BIN_EXE_icon_haloitsm");
const HOOK_USER: &str = "halo-hook";
const HOOK_PASS: &str = "hook-password-123";

/// How often a trigger under test polls.
const POLL_MS: u64 = 300;

/// What a trigger logs once its first poll is done.
const CAUGHT_UP: &str = "First poll done";

struct Setup {
    halo: SimHandle,
    sink: Sink,
    dir: tempfile::TempDir,
    /// The port the running trigger's listener bound (0 until `listening` read it in its log).
    port: AtomicU16,
    /// The simulator's webhook settings (all but the URL), pointed at each listener as it starts.
    hooks: Mutex<Option<Value>>,
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
    let (port, hooks) = (AtomicU16::new(0), Mutex::new(None));
    Setup { halo, sink: Sink::events().await, dir: tempfile::tempdir().unwrap(), port, hooks, api, conn_extra }
}

fn connection(halo: &SimHandle) -> Value {
    json!({"client_id": "sim-client", "client_secret": {"secretKey": "sim-secret"},
           "authorization_server": halo.auth_url(), "resource_server": halo.api_url(),
           "webhook_credentials": {"username": HOOK_USER, "password": HOOK_PASS}})
}

impl Setup {
    /// The running trigger's listener port, once `listening` has read it.
    fn port(&self) -> u16 {
        let port = self.port.load(Ordering::SeqCst);
        assert_ne!(port, 0, "the listener's port is known after `listening`");
        port
    }

    fn hook_url(&self) -> String {
        format!("http://127.0.0.1:{}/webhooks/haloitsm", self.port())
    }

    /// The simulator's webhooks, pointed at the trigger: at once if its listener is up, else as
    /// soon as `listening` learns its port.
    fn webhooks(&self, extra: Value) {
        *self.hooks.lock().unwrap() = Some(extra);
        if self.port.load(Ordering::SeqCst) != 0 {
            self.point_webhooks();
        }
    }

    fn point_webhooks(&self) {
        let Some(extra) = self.hooks.lock().unwrap().clone() else { return };
        let mut cfg = json!({"url": self.hook_url(), "username": HOOK_USER, "password": HOOK_PASS});
        for (k, v) in extra.as_object().unwrap() {
            cfg[k] = v.clone();
        }
        self.halo.sim.set_webhook(Some(serde_json::from_value::<WebhookConfig>(cfg).unwrap()));
    }

    /// Start the trigger; its listener takes any free port (`webhook_port` 0) unless told one.
    fn start(&self, trigger: &str, input: Value) -> Proc {
        let mut input = input;
        if input.get("webhook_port").is_none() {
            input["webhook_port"] = json!(0);
        }
        self.port.store(0, Ordering::SeqCst);
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

    /// Wait until the trigger's webhook listener answers, learning its port from the log (and
    /// pointing the simulator's webhooks there).
    async fn listening(&self) {
        let port =
            eventually(Lazy(|| format!("the listener's port in the log:\n{}", self.log())), async || listener_port(&self.log())).await;
        self.port.store(port, Ordering::SeqCst);
        self.point_webhooks();
        let health = format!("http://127.0.0.1:{port}/healthz");
        eventually(Lazy(|| format!("the listener to answer:\n{}", self.log())), async || reqwest::get(&health).await.is_ok()).await;
    }

    /// Wait until the trigger has listed HaloITSM's tickets three more times (over a full poll
    /// pass after this call, whatever a pass lists) and worked the third list (it asks for the
    /// next only then): what polling can catch has been caught.
    async fn more_polls(&self) {
        let lists = || self.halo.sim.stats().by_route.get("GET /api/Tickets").copied().unwrap_or(0);
        let before = lists();
        eventually(Lazy(|| format!("more polls:\n{}", self.log())), async || lists() > before + 3).await;
    }

    /// Wait until the trigger has caught up with HaloITSM after starting: its first poll is done.
    async fn started(&self) {
        eventually(Lazy(|| format!("the trigger to catch up:\n{}", self.log())), async || self.log().contains(CAUGHT_UP)).await;
    }

    /// Wait until every change the simulator announced has been worked: each delivery sent (or
    /// failed) and the trigger's webhook inbox processed to its end, the events of it sent. An
    /// event after this would be a late one.
    async fn worked_off(&self) {
        eventually(Lazy(|| format!("the deliveries to be worked off:\n{}", self.log())), async || {
            webhooks_idle(&self.halo.sim.webhook_stats()) && inbox_worked(self.dir.path(), "trig-1")
        })
        .await;
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

/// SIGTERM, then wait for the exit without holding up the runtime (the simulator and the sink
/// are served on it meanwhile).
async fn stop(child: &mut Child) -> std::process::ExitStatus {
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    eventually("the trigger to stop on SIGTERM", async || child.try_wait().unwrap()).await
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

impl Proc {
    /// Wait for the process to exit by itself; its status and what it printed.
    async fn exit_output(&mut self) -> (std::process::ExitStatus, Vec<u8>) {
        let s = eventually("the trigger to exit", async || self.0.try_wait().unwrap()).await;
        let mut out = Vec::new();
        std::io::Read::read_to_end(self.0.stdout.as_mut().unwrap(), &mut out).unwrap();
        (s, out)
    }
}
