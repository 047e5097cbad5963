//! Reliability of http mode under load and failure, on loopback: a 20,000-step soak against the
//! simulator with injected 5xx and 429, HaloITSM stalling beyond the request timeout, and more
//! concurrent requests than the server accepts.
//!
//! The stall test counts the open sockets of its own servers and runs alone among these tests
//! (it takes `EXCLUSIVE` for writing, every other test here for reading), so that their load
//! does not stretch its timings.

use crate::common;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Lazy, action, eventually};
use futures::StreamExt;
use halo_sim::{self as sim, Faults, SimConfig, SimHandle};
use icon_haloitsm::plugin::Plugin;
use icon_haloitsm::server::{self, AppState, DEFAULT_MAX_CONCURRENT_STEPS, ServerOptions};
use serde_json::{Value, json};
use tokio::sync::oneshot;

mod capacity;
mod soak;
mod stalls;

// ----- scaffolding -------------------------------------------------------------------------------

static EXCLUSIVE: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

async fn simulator() -> SimHandle {
    sim::start(SimConfig::default(), SocketAddr::from(([127, 0, 0, 1], 0))).await.expect("bind the simulator on loopback")
}

fn sim_connection(h: &SimHandle, timeout_seconds: u64) -> Value {
    let mut c = h.connection();
    c["timeout_seconds"] = timeout_seconds.into();
    c
}

/// A plugin REST server on 127.0.0.1 with a given plugin and options; stops when dropped.
struct Server {
    addr: SocketAddr,
    state: Arc<AppState>,
    stop: Option<oneshot::Sender<()>>,
}

impl Server {
    async fn start(plugin: Plugin, opts: ServerOptions) -> Server {
        let state = AppState::new(Arc::new(plugin));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the plugin server on loopback");
        let addr = listener.local_addr().expect("local address");
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(server::serve(state.clone(), listener, opts, async {
            let _ = rx.await;
        }));
        Server { addr, state, stop: Some(tx) }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// One HTTP client for a whole test, so its connection pool is reused.
fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(120)).build().expect("HTTP client")
}

/// POST a JSON body; (status, parsed body).
async fn post(http: &reqwest::Client, url: impl AsRef<str>, body: impl std::borrow::Borrow<Value>) -> (u16, Value) {
    let url = url.as_ref();
    let resp = http.post(url).json(body.borrow()).send().await.unwrap_or_else(|e| panic!("POST {url}: {e}"));
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_else(|e| panic!("POST {url} body: {e}"));
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// GET a path of the plugin server; (status, body, how long it took).
async fn timed_get(http: &reqwest::Client, url: String) -> (u16, Value, Duration) {
    let started = Instant::now();
    let resp = http.get(&url).send().await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = resp.status().as_u16();
    let body = resp.json::<Value>().await.unwrap_or_else(|e| panic!("GET {url} body: {e}"));
    (status, body, started.elapsed())
}

/// How quickly the plugin must answer a request that does not wait for the stalled HaloITSM.
const RESPONSIVE: Duration = Duration::from_millis(500);
