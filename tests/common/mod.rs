//! Shared test scaffolding: a plugin server on loopback in front of a mock or simulated
//! HaloITSM, and start messages for it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use icon_haloitsm::halo::RetryPolicy;
use icon_haloitsm::plugin::Plugin;
use icon_haloitsm::server::{self, AppState, ServerOptions};
use serde_json::{Value, json};
use tokio::sync::oneshot;

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
