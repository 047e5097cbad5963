//! Shared test scaffolding: a plugin server on loopback in front of a mock or simulated
//! HaloITSM, and start messages for it; a mocked HaloITSM ([`halo_mock`]); servers that collect
//! what is posted to them ([`sinks`]); waiting on a condition ([`eventually`]).
#![allow(dead_code)]

use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use icon_haloitsm::halo::RetryPolicy;
use icon_haloitsm::plugin::Plugin;
use icon_haloitsm::server::{self, AppState, ServerOptions};
use serde_json::{Value, json};
use tokio::sync::oneshot;

mod halo_mock;
mod sinks;

pub use halo_mock::*;
pub use sinks::*;

pub const SECRET: &str = "halo-secret-value-42";

/// A plugin REST server on 127.0.0.1 that stops when dropped (or on `stop`).
pub struct PluginServer {
    pub addr: SocketAddr,
    pub state: Arc<AppState>,
    stop: Option<oneshot::Sender<()>>,
    pub done: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl PluginServer {
    pub async fn start() -> Self {
        Self::start_with(ServerOptions::default()).await
    }

    pub async fn start_with(opts: ServerOptions) -> Self {
        let plugin = Plugin::new(false).with_retry_policy(fast_retries());
        let state = AppState::new(Arc::new(plugin));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let done = tokio::spawn(server::serve(state.clone(), listener, opts, async {
            let _ = rx.await;
        }));
        PluginServer { addr, state, stop: Some(tx), done: Some(done) }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Send the shutdown signal (as SIGTERM would).
    pub fn signal_stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

impl Drop for PluginServer {
    fn drop(&mut self) {
        self.signal_stop();
    }
}

pub fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        max_elapsed: Duration::from_secs(10),
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_secs(2),
    }
}

/// A connection pointing at a HaloITSM at `base` (`{base}/auth`, `{base}/api`).
pub fn connection(base: &str) -> Value {
    json!({
        "client_id": "cid",
        "client_secret": {"secretKey": SECRET},
        "authorization_server": format!("{base}/auth"),
        "resource_server": format!("{base}/api"),
        "timeout_seconds": 5,
    })
}

pub fn action(name: &str, connection: Value, input: Value) -> Value {
    json!({"version": "v1", "type": "action_start",
           "body": {"action": name, "meta": {"jobId": "job-1", "stepId": "step-1"}, "connection": connection, "input": input}})
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap()
}

/// POST a JSON body; returns (status, parsed body).
pub async fn post(url: &str, body: &Value) -> (u16, Value) {
    let resp = http().post(url).json(body).send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

pub async fn get(url: &str) -> (u16, Value) {
    let resp = http().get(url).send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// The URL a child process announces on `out` after `marker` (a server started on port 0 says
/// which port it bound), and everything it prints there, collected as it comes: the rest of
/// `out` keeps being read, so the child never blocks on it.
pub async fn announced_url(
    out: impl std::io::Read + Send + 'static,
    marker: &'static str,
) -> (String, std::sync::Arc<std::sync::Mutex<String>>) {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let printed = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let all = printed.clone();
    std::thread::spawn(move || {
        use std::io::BufRead;
        let mut tx = Some(tx);
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if let Some((_, rest)) = line.split_once(marker)
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(rest.split_whitespace().next().unwrap_or_default().to_string());
            }
            all.lock().unwrap().push_str(&(line + "\n"));
        }
    });
    let url =
        tokio::time::timeout(std::time::Duration::from_secs(10), rx).await.expect("the child announced its address").expect("an address");
    (url, printed)
}

/// A simulated HaloITSM on loopback, a plugin server, and a connection to the simulator with
/// Default Ticket Type ID 4 and a 5 s timeout, plus the settings in `extra`.
pub async fn sim_world(extra: Value) -> (halo_sim::SimHandle, PluginServer, Value) {
    sim_world_on(halo_sim::Profile::default(), extra).await
}

/// `sim_world` on a tenant variant.
pub async fn sim_world_on(profile: halo_sim::Profile, extra: Value) -> (halo_sim::SimHandle, PluginServer, Value) {
    let config = halo_sim::SimConfig { profile, ..halo_sim::SimConfig::default() };
    let halo = halo_sim::start(config, SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    let mut conn = json!({
        "client_id": "sim-client", "client_secret": {"secretKey": "sim-secret"},
        "authorization_server": halo.auth_url(), "resource_server": halo.api_url(),
        "default_ticket_type_id": 4, "timeout_seconds": 5,
    });
    for (k, v) in extra.as_object().into_iter().flatten() {
        conn[k] = v.clone();
    }
    (halo, PluginServer::start().await, conn)
}

/// Run one action on `srv` through the REST API: the status and the whole answer.
pub async fn step(srv: &PluginServer, conn: &Value, name: &str, input: Value) -> (u16, Value) {
    post(&srv.url(&format!("/api/v1/actions/{name}")), &action(name, conn.clone(), input)).await
}

/// `step`, answering the output when the action succeeded and the whole answer when it did not.
pub async fn step_output(srv: &PluginServer, conn: &Value, name: &str, input: Value) -> (u16, Value) {
    let (s, b) = step(srv, conn, name, input).await;
    (s, if s == 200 { b["body"]["output"].clone() } else { b })
}

/// The cause of a failed step's answer (the whole answer when it has none).
pub fn error_cause(body: &Value) -> String {
    body["body"]["exception"]["cause"]
        .as_str()
        .or(body["body"]["error"]["cause"].as_str())
        .or(body["error"]["cause"].as_str())
        .map_or_else(|| body.to_string(), str::to_string)
}

/// The `note_html` a note goes with: the note's text with HTML's five special characters as
/// entities and line breaks as `<br>` (written out here, apart from the plugin's own escaping).
pub fn note_as_html(note: &str) -> String {
    let mut out = String::new();
    for c in note.replace("\r\n", "\n").chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' => out.push_str("<br>"),
            c => out.push(c),
        }
    }
    out
}

/// An action record as the plugin posts it: with its note's `note_html` beside the note.
pub fn with_note_html(mut record: Value) -> Value {
    if let Some(note) = record.get("note").and_then(Value::as_str).map(note_as_html) {
        record["note_html"] = Value::String(note);
    }
    record
}

// ----- waiting on a condition -------------------------------------------------------------------

/// Longer than anything here takes on a loaded machine: a wait this long is a failure.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// What a condition answers: `true` or `Some(value)` once it holds.
pub trait Ready {
    type Out;
    fn ready(self) -> Option<Self::Out>;
}

impl Ready for bool {
    type Out = ();
    fn ready(self) -> Option<()> {
        self.then_some(())
    }
}

impl<T> Ready for Option<T> {
    type Out = T;
    fn ready(self) -> Option<T> {
        self
    }
}

/// Wait until `ready` holds, checking every few milliseconds; panics with `what` after
/// [`PATIENCE`]. Waits for what a test needs to have happened, never for a fixed time.
pub async fn eventually<R: Ready>(what: impl fmt::Display, mut ready: impl AsyncFnMut() -> R) -> R::Out {
    let start = Instant::now();
    loop {
        if let Some(out) = ready().await.ready() {
            return out;
        }
        assert!(start.elapsed() < PATIENCE, "waited {PATIENCE:?} for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A message made only when shown, e.g. with a log read at the moment a wait gives up.
pub struct Lazy<F>(pub F);

impl<F: Fn() -> String> fmt::Display for Lazy<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&(self.0)())
    }
}

// ----- a trigger's webhook listener ---------------------------------------------------------------

/// The simulator's webhooks have nothing in flight: every change offered was sent (each copy),
/// failed or dropped. For unbatched deliveries of the usual payloads (a batch is one POST for
/// many changes; a custom payload that cannot be made is counted nowhere).
pub fn webhooks_idle(w: &halo_sim::WebhookStats) -> bool {
    w.deliveries_sent + w.failed + w.dropped >= w.events + w.duplicated
}

/// A trigger's webhook inbox is processed to its end (the events of it sent): the offset last
/// recorded, in the journal or else the state file, is the inbox's length. `name` is the
/// trigger ID its files in `dir` are named after.
pub fn inbox_worked(dir: &std::path::Path, name: &str) -> bool {
    let file = |ext: &str| dir.join(format!("{name}.{ext}"));
    let len = std::fs::metadata(file("inbox")).map(|m| m.len()).unwrap_or(0);
    let journal = std::fs::read_to_string(file("journal")).unwrap_or_default();
    let journaled = journal
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["k"] == "o")
        .filter_map(|e| e["v"].as_u64())
        .next_back();
    let saved = || std::fs::read(file("json")).ok().and_then(|b| serde_json::from_slice::<Value>(&b).ok())?["inbox_offset"].as_u64();
    journaled.or_else(saved).unwrap_or(0) == len
}

/// A loopback address nothing listens on, reserved while the socket lives: connecting is
/// refused, and no other test can take the port meanwhile. `listen` on the socket opens it.
pub fn closed_port() -> (tokio::net::TcpSocket, SocketAddr) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
    let addr = socket.local_addr().unwrap();
    (socket, addr)
}

/// The port a trigger's webhook listener bound, from its log: started on port 0, it says which.
pub fn listener_port(log: &str) -> Option<u16> {
    let (_, rest) = log.split_once("Listening for HaloITSM webhooks on http://")?;
    let addr = rest.split('/').next()?;
    addr.parse::<SocketAddr>().ok().map(|a| a.port())
}

/// The plugin's log lines from a future run in this process (as a trigger run by
/// `triggers::run`), collected as they come: the step logs are kept as they are.
#[derive(Clone, Default)]
pub struct CapturedLog(Arc<Mutex<String>>);

impl CapturedLog {
    pub fn around<F: std::future::Future>(&self, fut: F) -> tracing::instrument::WithDispatch<F> {
        use tracing::instrument::WithSubscriber;
        use tracing_subscriber::layer::SubscriberExt;
        fut.with_subscriber(tracing_subscriber::registry().with(icon_haloitsm::protocol::StepLogLayer).with(self.clone()))
    }

    pub fn text(&self) -> String {
        self.0.lock().unwrap().clone()
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for CapturedLog {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Message<'a>(&'a mut String);
        impl tracing::field::Visit for Message<'_> {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
                if field.name() == "message" {
                    self.0.push_str(&format!("{value:?}"));
                }
            }
        }
        let mut line = format!("{} ", event.metadata().level());
        event.record(&mut Message(&mut line));
        self.0.lock().unwrap().push_str(&(line + "\n"));
    }
}
