//! The programs under test, as child processes on loopback, and what /proc says about them.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free loopback port")
}

/// A child process, killed when dropped.
pub struct Proc {
    pub child: Child,
    pub port: u16,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    /// Resident memory now and at its peak, in KiB.
    pub fn memory(&self) -> Memory {
        memory(self.pid())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Memory {
    pub rss_kib: u64,
    pub peak_kib: u64,
}

pub fn memory(pid: u32) -> Memory {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status.lines().find(|l| l.starts_with(name)).and_then(|l| l.split_whitespace().nth(1)).and_then(|n| n.parse().ok()).unwrap_or(0)
    };
    Memory { rss_kib: field("VmRSS:"), peak_kib: field("VmHWM:") }
}

/// Logs of the children go to files here (a pipe nobody reads would block them).
pub struct Workdir(PathBuf);

impl Workdir {
    pub fn new() -> Workdir {
        let dir = std::env::temp_dir().join(format!("icon_haloitsm-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        Workdir(dir)
    }

    pub fn log(&self, name: &str) -> std::fs::File {
        std::fs::File::create(self.0.join(format!("{name}.log"))).expect("a log file")
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Wait until `GET url` answers 200.
pub async fn ready(http: &reqwest::Client, url: &str, within: Duration) {
    let start = Instant::now();
    loop {
        if let Ok(r) = http.get(url).timeout(Duration::from_secs(1)).send().await
            && r.status().is_success()
        {
            return;
        }
        assert!(start.elapsed() < within, "{url} did not become ready within {within:?}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// The HaloITSM simulator (`icon_haloitsm simulate`).
pub async fn simulator(bin: &Path, work: &Workdir, name: &str, args: &[&str], http: &reqwest::Client) -> Proc {
    let port = free_port();
    let child = Command::new(bin)
        .args(["simulate", "--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .stdout(work.log(&format!("{name}.out")))
        .stderr(work.log(name))
        .spawn()
        .expect("the simulator starts");
    let p = Proc { child, port };
    ready(http, &p.url("/_sim/stats"), Duration::from_secs(10)).await;
    p
}

/// The plugin's REST API (`icon_haloitsm http`).
pub fn spawn_plugin(bin: &Path, work: &Workdir, name: &str) -> Proc {
    let port = free_port();
    let child = Command::new(bin)
        .args(["http", "--bind", "127.0.0.1", "--port", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(work.log(&format!("{name}.out")))
        .stderr(work.log(name))
        .spawn()
        .expect("the plugin starts");
    Proc { child, port }
}

pub async fn plugin(bin: &Path, work: &Workdir, name: &str, http: &reqwest::Client) -> Proc {
    let p = spawn_plugin(bin, work, name);
    ready(http, &p.url("/api/v1/status"), Duration::from_secs(10)).await;
    p
}

/// A connection to a simulator.
pub fn connection(sim: &Proc) -> Value {
    json!({
        "client_id": "sim-client",
        "client_secret": {"secretKey": "sim-secret"},
        "authorization_server": sim.url("/auth"),
        "resource_server": sim.url("/api"),
        "timeout_seconds": 30,
    })
}

/// The simulator's request counters.
pub async fn sim_stats(http: &reqwest::Client, sim: &Proc) -> Value {
    http.get(sim.url("/_sim/stats")).send().await.expect("sim stats").json().await.expect("sim stats JSON")
}

pub async fn sim_reset(http: &reqwest::Client, sim: &Proc) {
    http.post(sim.url("/_sim/stats/reset")).send().await.expect("sim stats reset");
}

pub async fn sim_faults(http: &reqwest::Client, sim: &Proc, faults: Value) {
    let r = http.post(sim.url("/_sim/faults")).json(&faults).send().await.expect("sim faults");
    assert!(r.status().is_success(), "the simulator refused faults {faults}: {}", r.text().await.unwrap_or_default());
}

/// Total requests HaloITSM saw: token and API.
pub fn halo_requests(stats: &Value) -> u64 {
    stats["token_requests"].as_u64().unwrap_or(0) + stats["api_requests"].as_u64().unwrap_or(0)
}
