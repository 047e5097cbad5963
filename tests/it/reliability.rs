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

use common::action;
use futures::StreamExt;
use halo_sim::{self as sim, Faults, SimConfig, SimHandle};
use icon_haloitsm::plugin::Plugin;
use icon_haloitsm::server::{self, AppState, DEFAULT_MAX_CONCURRENT_STEPS, ServerOptions};
use serde_json::{Value, json};
use tokio::sync::oneshot;

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

// ----- 1. soak -----------------------------------------------------------------------------------

const SOAK_STEPS: usize = 20_000;
const SOAK_IN_FLIGHT: usize = 32;

/// What one soak step is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Op {
    GetTicket,
    SearchTickets,
    ListComments,
    ListStatuses,
    ListPriorities,
    ListAgents,
    ListTeams,
    ListTicketTypes,
    CreateTicket,
    UpdateTicket,
    AddComment,
    AssignTicket,
    CloseTicket,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::GetTicket => "get_ticket",
            Op::SearchTickets => "search_tickets",
            Op::ListComments => "list_comments",
            Op::ListStatuses => "list_statuses",
            Op::ListPriorities => "list_priorities",
            Op::ListAgents => "list_agents",
            Op::ListTeams => "list_teams",
            Op::ListTicketTypes => "list_ticket_types",
            Op::CreateTicket => "create_ticket",
            Op::UpdateTicket => "update_ticket",
            Op::AddComment => "add_comment",
            Op::AssignTicket => "assign_ticket",
            Op::CloseTicket => "close_ticket",
        }
    }

    fn is_read(self) -> bool {
        !matches!(self, Op::CreateTicket | Op::UpdateTicket | Op::AddComment | Op::AssignTicket | Op::CloseTicket)
    }

    /// A workflow-like mix, mostly reads (75 of 100).
    fn pick(rng: &mut fastrand::Rng) -> Op {
        match rng.u32(0..100) {
            0..40 => Op::GetTicket,
            40..55 => Op::SearchTickets,
            55..60 => Op::ListComments,
            60..63 => Op::ListStatuses,
            63..66 => Op::ListPriorities,
            66..69 => Op::ListAgents,
            69..72 => Op::ListTeams,
            72..75 => Op::ListTicketTypes,
            75..83 => Op::CreateTicket,
            83..90 => Op::UpdateTicket,
            90..96 => Op::AddComment,
            96..98 => Op::AssignTicket,
            _ => Op::CloseTicket,
        }
    }
}

/// Tickets created before the soak, which its reads and updates spread over (as workflows work
/// on many tickets, not a handful).
const SOAK_TARGETS: usize = 200;

fn soak_input(op: Op, i: usize, targets: &[i64], rng: &mut fastrand::Rng) -> Value {
    let ticket = targets[rng.usize(..targets.len())];
    match op {
        Op::GetTicket => json!({"ticket_id": ticket}),
        Op::SearchTickets => match i % 3 {
            0 => json!({"open_only": true, "max_results": 25}),
            1 => json!({"summary_contains": "soak-create-1", "max_results": 10}),
            _ => json!({"status_id": 1, "max_results": 10}),
        },
        Op::ListComments => json!({"ticket_id": ticket}),
        Op::ListAgents => json!({"include_disabled": i % 2 == 0}),
        Op::ListStatuses | Op::ListPriorities | Op::ListTeams | Op::ListTicketTypes => json!({}),
        Op::CreateTicket => {
            json!({"summary": format!("soak-create-{i}"), "details": format!("Soak step {i}"), "tickettype_id": 4, "priority_id": 3})
        }
        Op::UpdateTicket => json!({"ticket_id": ticket, "details": format!("Updated by soak step {i}"), "priority_id": rng.i64(1..=4)}),
        Op::AddComment => json!({"ticket_id": ticket, "comment": format!("Soak note {i}."), "is_private": i % 2 == 0}),
        Op::AssignTicket => json!({"ticket_id": ticket, "agent_id": rng.i64(2..=5), "team_id": rng.i64(1..=4), "notify": false}),
        Op::CloseTicket => json!({"ticket_id": ticket, "resolution": format!("Closed by soak step {i}")}),
    }
}

/// The outcome of one soak step.
struct Done {
    op: Op,
    i: usize,
    input: Value,
    status: u16,
    body: Value,
}

/// 20,000 mixed steps through the REST API, 32 in flight, with every 97th HaloITSM request
/// answered 500 (after a write was applied: the dangerous case) and every 101st 429. Reads never
/// fail, no ticket is created twice, writes that failed say they may have been saved, and one
/// token serves the whole run.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn soak_mixed_steps_with_injected_5xx_and_429() {
    let _shared = EXCLUSIVE.read().await;
    let halo = simulator().await;
    // The production retry policy: 4 attempts within 60 s, 250 ms base backoff.
    let srv = Server::start(Plugin::new(false), ServerOptions::default()).await;
    let conn = sim_connection(&halo, 5);
    let http = client();
    let create = |n: usize| {
        action(
            "create_ticket",
            conn.clone(),
            json!({"summary": format!("soak-target-{n}"), "details": "A soak target", "tickettype_id": 1}),
        )
    };
    let created = futures::stream::iter(0..SOAK_TARGETS)
        .map(|n| post(&http, srv.url("/api/v1/actions/create_ticket"), create(n)))
        .buffer_unordered(SOAK_IN_FLIGHT)
        .collect::<Vec<_>>()
        .await;
    let mut targets: Vec<i64> = halo.sim.tickets().iter().filter_map(|t| t["id"].as_i64()).collect();
    assert!(created.iter().all(|(s, _)| *s == 200) && targets.len() == 7 + SOAK_TARGETS, "{created:?}");
    targets.sort_unstable();
    halo.sim.set_faults(Faults {
        server_error_every: 97,
        server_error_after_apply: true,
        rate_limit_every: 101,
        retry_after_secs: None,
        ..Default::default()
    });
    let seed = std::env::var("SOAK_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_u64);
    let mut rng = fastrand::Rng::with_seed(seed);
    let steps: Vec<(Op, usize, Value)> = (0..SOAK_STEPS)
        .map(|i| {
            let op = Op::pick(&mut rng);
            (op, i, soak_input(op, i, &targets, &mut rng))
        })
        .collect();
    let started = Instant::now();
    let done: Vec<Done> = futures::stream::iter(steps)
        .map(|(op, i, input)| {
            let http = http.clone();
            let url = srv.url(&format!("/api/v1/actions/{}", op.name()));
            let msg = action(op.name(), conn.clone(), input.clone());
            async move {
                let (status, body) = post(&http, &url, &msg).await;
                Done { op, i, input, status, body }
            }
        })
        .buffer_unordered(SOAK_IN_FLIGHT)
        .collect()
        .await;
    let elapsed = started.elapsed();

    let mut by_op: HashMap<Op, (usize, usize)> = HashMap::new();
    let mut created_ok: HashMap<i64, String> = HashMap::new();
    let mut creates_failed = 0usize;
    for d in &done {
        let entry = by_op.entry(d.op).or_default();
        if d.status == 200 {
            entry.0 += 1;
            assert_eq!(d.body["body"]["status"], "ok", "{}: {}", d.op.name(), d.body);
            if d.op == Op::CreateTicket {
                let id = d.body["body"]["output"]["ticket"]["id"].as_i64().expect("a created ticket has an ID");
                let summary = format!("soak-create-{}", d.i);
                assert_eq!(d.body["body"]["output"]["ticket"]["summary"], summary.as_str());
                assert!(created_ok.insert(id, summary).is_none(), "two successful creates answered ticket {id}");
            }
            continue;
        }
        entry.1 += 1;
        assert!(!d.op.is_read(), "a read failed although reads are retried: {} -> {} {}", d.op.name(), d.status, d.body);
        // A write may only fail because HaloITSM answered 500 to it, and must then say so.
        assert_eq!(d.status, 500, "{} failed unexpectedly: {}", d.op.name(), d.body);
        let exc = &d.body["body"]["exception"];
        assert!(exc["cause"].as_str().unwrap_or_default().contains("(HTTP 500)"), "{}: {}", d.op.name(), d.body);
        assert!(
            exc["assistance"].as_str().unwrap_or_default().contains("may or may not have been saved"),
            "a failed write must say it may have been saved: {}",
            d.body
        );
        if d.op == Op::CreateTicket {
            creates_failed += 1;
        }
    }
    let mut summary: Vec<_> = by_op.iter().map(|(op, (ok, failed))| format!("{} {ok}/{failed}", op.name())).collect();
    summary.sort();
    eprintln!("soak: {SOAK_STEPS} steps in {elapsed:?} (seed {seed}); ok/failed: {}", summary.join(", "));
    let stats = halo.sim.stats();
    eprintln!(
        "soak: simulator {} API requests, {} injected 500, {} injected 429",
        stats.api_requests, stats.injected_500, stats.injected_429
    );
    assert_eq!(done.len(), SOAK_STEPS);
    assert!(stats.injected_500 >= 150 && stats.injected_429 >= 150, "faults were injected: {stats:?}");
    assert!(by_op.len() == 13, "every kind of step ran: {by_op:?}");

    // No duplicates: every summary once; each create that reported success is there, and each
    // that failed with a 500 (applied before the error, and never sent again) is there once too.
    let tickets = halo.sim.tickets();
    let mut summaries = HashSet::new();
    for t in &tickets {
        let s = t["summary"].as_str().unwrap_or_default().to_string();
        assert!(summaries.insert(s.clone()), "two tickets have the summary {s:?}");
    }
    let soak_tickets = tickets.iter().filter(|t| t["summary"].as_str().is_some_and(|s| s.starts_with("soak-create-"))).count();
    for (id, summary) in &created_ok {
        let t = halo.sim.ticket(*id).unwrap_or_else(|| panic!("ticket {id} reported created is missing"));
        assert_eq!(t["summary"], summary.as_str());
    }
    assert!(creates_failed > 0, "some creates hit a 500 (else the duplicate check proves little)");
    assert_eq!(
        soak_tickets,
        created_ok.len() + creates_failed,
        "tickets in HaloITSM = creates that succeeded + creates that failed after being applied"
    );

    // Comments too: each one, saved or failed after being applied, is on its ticket once.
    let mut notes: HashMap<i64, Vec<String>> = HashMap::new();
    for d in done.iter().filter(|d| d.op == Op::AddComment) {
        let ticket = d.input["ticket_id"].as_i64().unwrap_or_default();
        let list = notes
            .entry(ticket)
            .or_insert_with(|| halo.sim.actions_for(ticket).iter().filter_map(|a| a["note"].as_str().map(str::to_string)).collect());
        let text = format!("Soak note {}.", d.i);
        let copies = list.iter().filter(|n| n.contains(&text)).count();
        assert_eq!(copies, 1, "{text:?} is on ticket {ticket} {copies} times (step answered {})", d.status);
    }

    assert_eq!(stats.token_requests, 1, "one token for the plugin's lifetime: {stats:?}");
    assert_eq!(srv.state.active_work(), 0);
}

// ----- 2. HaloITSM stalls ------------------------------------------------------------------------

/// Open file descriptors of this process (the directory handle read_dir holds counts in every
/// measurement alike).
/// Open TCP sockets with an end on one of `ports` (this test's servers), in any state but
/// listening and TIME_WAIT (which holds no descriptor). Counted from /proc/net/tcp{,6} rather
/// than from the process's descriptors, which tests running beside this one also open.
fn open_sockets(ports: &[u16]) -> usize {
    let mut n = 0;
    for table in ["/proc/self/net/tcp", "/proc/self/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for row in text.lines().skip(1) {
            let cols: Vec<&str> = row.split_whitespace().collect();
            let port = |c: &str| c.rsplit(':').next().and_then(|p| u16::from_str_radix(p, 16).ok());
            let (Some(local), Some(remote), Some(state)) =
                (cols.get(1).and_then(|c| port(c)), cols.get(2).and_then(|c| port(c)), cols.get(3))
            else {
                continue;
            };
            if !matches!(*state, "06" | "0A") && (ports.contains(&local) || ports.contains(&remote)) {
                n += 1;
            }
        }
    }
    n
}

/// Check `ready` every 10 ms until it holds; false if it did not within `limit`. For states that
/// have no event to await (a count in another component, the process's descriptors).
async fn eventually(limit: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if ready() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
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
const STALL_TIMEOUT_SECS: u64 = 1;
const STALL_LATENCY: Duration = Duration::from_secs(2);
/// Descriptors that may still be closing when a round is measured (a connection's far end).
const FD_SLACK: usize = 3;

/// HaloITSM answers after 2 s while the connection's timeout is 1 s. Reads are retried (4
/// attempts, then a timeout error); writes are sent once and say they may have been saved; the
/// server keeps answering everything else at once; and once the stalled steps are over, nothing
/// is left behind: no step in flight, and after each of two rounds the descriptors are back at
/// the baseline, so repeating the stall does not grow them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn halo_stalling_beyond_the_timeout_fails_steps_cleanly_and_leaks_nothing() {
    let _alone = EXCLUSIVE.write().await;
    let stalled = simulator().await;
    let healthy = simulator().await;
    // The production retry policy: this is what a stalled step costs in real life.
    let srv = Server::start(Plugin::new(false), ServerOptions::default()).await;
    let slow = sim_connection(&stalled, STALL_TIMEOUT_SECS);
    let fine = sim_connection(&healthy, 5);
    // Connections are closed after every answer, so the test's own side holds no pool.
    let http = reqwest::Client::builder().pool_max_idle_per_host(0).timeout(Duration::from_secs(60)).build().expect("HTTP client");
    let step = |conn: &Value, name: &str, input: Value| (srv.url(&format!("/api/v1/actions/{name}")), action(name, conn.clone(), input));

    // Tokens fetched and connection pools warm: what a plugin that has been serving looks like.
    for conn in [&slow, &fine] {
        let (url, msg) = step(conn, "get_ticket", json!({"ticket_id": 101}));
        let (s, b) = post(&http, url, msg).await;
        assert_eq!(s, 200, "{b}");
    }
    let ports = [stalled.addr.port(), healthy.addr.port(), srv.addr.port()];
    let baseline = open_sockets(&ports);

    for round in 1..=2 {
        stalled.sim.reset_stats();
        stalled.sim.set_faults(Faults { latency_ms: STALL_LATENCY.as_millis() as u64, ..Default::default() });
        let reads = 6;
        let writes = 3;
        let mut tasks = Vec::new();
        for n in 0..reads + writes + 1 {
            let (name, input) = match n {
                n if n < reads => ("get_ticket", json!({"ticket_id": 101 + n as i64 % 7})),
                n if n < reads + writes => {
                    ("create_ticket", json!({"summary": format!("stalled-{round}-{n}"), "details": "d", "tickettype_id": 1}))
                }
                // A write step whose first request, a read, stalls: nothing was written.
                _ => ("add_comment", json!({"ticket_id": 101, "comment": "never written"})),
            };
            let (url, msg) = step(&slow, name, input);
            let http = http.clone();
            tasks.push(tokio::spawn(async move {
                let started = Instant::now();
                let (s, b) = post(&http, url, msg).await;
                (name, s, b, started.elapsed())
            }));
        }
        // Every stalled step has reached HaloITSM (counted on arrival, before the latency): the
        // reads and the comment's read, and the creates.
        let arrived = || {
            let stats = stalled.sim.stats();
            let n = |route: &str| stats.by_route.get(route).copied().unwrap_or_default() as usize;
            n("GET /api/Tickets/{id}") > reads && n("POST /api/Tickets") == writes
        };
        assert!(eventually(Duration::from_secs(5), arrived).await, "stalled steps at HaloITSM: {:?}", stalled.sim.stats());

        // Meanwhile the server answers at once: status, info, and a step on a healthy HaloITSM.
        let (s, b, took) = timed_get(&http, srv.url("/api/v1/status")).await;
        assert!(s == 200 && b == json!({"status": "Ready"}) && took < RESPONSIVE, "status: {s} {b} in {took:?}");
        let (s, b, took) = timed_get(&http, srv.url("/api/v1/info")).await;
        assert!(s == 200 && b["name"] == "haloitsm" && took < RESPONSIVE, "info: {s} {b} in {took:?}");
        let (s, b, took) = timed_get(&http, srv.url("/api/v1/admin/status")).await;
        assert!(s == 200 && b["active_work"].as_u64() >= Some(reads as u64) && took < RESPONSIVE, "admin/status: {s} {b} in {took:?}");
        let started = Instant::now();
        let (url, msg) = step(&fine, "get_ticket", json!({"ticket_id": 102}));
        let (s, b) = post(&http, url, msg).await;
        let took = started.elapsed();
        assert!(s == 200 && b["body"]["output"]["found"] == true && took < RESPONSIVE, "healthy step: {s} {b} in {took:?}");
        // The stalled reads were still in flight all along (they take over 4 s).
        assert!(srv.state.active_work() >= reads, "stalled reads still in flight: {}", srv.state.active_work());

        for task in tasks {
            let (name, s, b, took) = task.await.expect("step task");
            let exc = &b["body"]["exception"];
            let cause = exc["cause"].as_str().unwrap_or_default();
            let assistance = exc["assistance"].as_str().unwrap_or_default();
            assert_eq!(s, 500, "{name}: {b}");
            assert_eq!(b["body"]["status"], "error", "{name}: {b}");
            assert!(cause.contains(&format!("did not answer within {STALL_TIMEOUT_SECS} second")), "{name} names the timeout: {b}");
            match name {
                "create_ticket" => {
                    assert!(assistance.contains("may or may not have been saved"), "{b}");
                    // Sent once: timed out after 1 s, never retried.
                    assert!(took >= Duration::from_secs(STALL_TIMEOUT_SECS) && took < Duration::from_millis(2500), "{name} took {took:?}");
                }
                _ => {
                    assert!(assistance.contains("raise the connection's Request Timeout"), "{name}: {b}");
                    // 4 attempts of 1 s, plus 0.875 to 1.75 s of backoff.
                    assert!(took >= Duration::from_secs(4) && took < Duration::from_secs(8), "{name} took {took:?}");
                }
            }
            eprintln!("stall round {round}: {name} failed after {took:?}");
        }
        let stats = stalled.sim.stats();
        assert_eq!(stats.by_route.get("GET /api/Tickets/{id}").copied(), Some(4 * (reads as u64 + 1)), "4 attempts per read: {stats:?}");
        assert_eq!(stats.by_route.get("POST /api/Tickets").copied(), Some(writes as u64), "one attempt per write: {stats:?}");
        assert!(!stats.by_route.contains_key("POST /api/Actions"), "the comment was never sent: {stats:?}");
        assert_eq!(stats.token_requests, 0, "the token survived the stall: {stats:?}");

        // Nothing in flight, and the descriptors go back to where they were once the
        // simulator's own stalled handlers (up to 2 s after the last attempt) are done.
        tokio::time::timeout(Duration::from_secs(5), srv.state.wait_idle()).await.expect("no step in flight");
        let (_, st, _) = timed_get(&http, srv.url("/api/v1/admin/status")).await;
        assert_eq!(st["active_work"], 0, "{st}");
        // A leak of one socket per stalled step would be 10 a round, on each end.
        let settled = eventually(STALL_LATENCY + Duration::from_secs(5), || open_sockets(&ports) <= baseline + FD_SLACK).await;
        let now = open_sockets(&ports);
        eprintln!("stall round {round}: {now} sockets open (baseline {baseline})");
        assert!(settled, "sockets open after round {round}: {now}, baseline {baseline}");
        stalled.sim.set_faults(Faults::default());
    }

    // And the stalled HaloITSM, recovered, is served normally with the same token.
    let (url, msg) = step(&slow, "get_ticket", json!({"ticket_id": 103}));
    let (s, b) = post(&http, url, msg).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(stalled.sim.stats().token_requests, 0);
}

// ----- 3. more steps than the server takes -------------------------------------------------------

/// A stand-in HaloITSM whose ticket reads wait behind a gate the test opens, and which records
/// how many reads it served and the most it held at once: the plugin's concurrency, measured
/// where it costs.
struct GatedHalo {
    addr: SocketAddr,
    gate: tokio::sync::watch::Sender<bool>,
    counters: Arc<GateCounters>,
    _stop: oneshot::Sender<()>,
}

#[derive(Default)]
struct GateCounters {
    reads: std::sync::atomic::AtomicUsize,
    in_flight: std::sync::atomic::AtomicUsize,
    most_in_flight: std::sync::atomic::AtomicUsize,
}

impl GatedHalo {
    async fn start() -> GatedHalo {
        use axum::routing::{get, post};
        use std::sync::atomic::Ordering::SeqCst;
        let (gate, open) = tokio::sync::watch::channel(false);
        let counters = Arc::new(GateCounters::default());
        let c = counters.clone();
        let app = axum::Router::new()
            .route("/auth/token", post(|| async { axum::Json(json!({"access_token": "tok", "token_type": "Bearer", "expires_in": 3600})) }))
            .route(
                "/api/Tickets/{id}",
                get(move |axum::extract::Path(id): axum::extract::Path<i64>| {
                    let (c, mut open) = (c.clone(), open.clone());
                    async move {
                        let now = c.in_flight.fetch_add(1, SeqCst) + 1;
                        c.most_in_flight.fetch_max(now, SeqCst);
                        let _ = open.wait_for(|o| *o).await;
                        c.reads.fetch_add(1, SeqCst);
                        c.in_flight.fetch_sub(1, SeqCst);
                        axum::Json(json!({"id": id, "summary": format!("Ticket {id}"), "status_id": 1, "status_name": "New",
                                          "dateoccurred": "2026-01-01T00:00:00", "hasbeenclosed": false}))
                    }
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let addr = listener.local_addr().expect("local address");
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        GatedHalo { addr, gate, counters, _stop: stop }
    }

    fn connection(&self) -> Value {
        let base = format!("http://{}", self.addr);
        json!({"client_id": "cid", "client_secret": {"secretKey": "gated-secret"},
               "authorization_server": format!("{base}/auth"), "resource_server": format!("{base}/api"), "timeout_seconds": 60})
    }

    fn open(&self) {
        let _ = self.gate.send(true);
    }

    fn in_flight(&self) -> usize {
        self.counters.in_flight.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Make room for about `n` open descriptors (1,000 concurrent requests hold both ends of 1,000
/// loopback connections in this process).
fn raise_fd_limit(n: u64) {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a properly initialised rlimit.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        if lim.rlim_cur < n {
            lim.rlim_cur = n.min(lim.rlim_max);
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
        }
    }
    assert!(lim.rlim_cur >= n, "this test needs {n} open files; the hard limit is {}", lim.rlim_max);
}

const BURST: usize = 1000;

/// One answer to a burst request: status, Retry-After, body.
type Answer = (u16, Option<String>, Value);

async fn post_answer(http: &reqwest::Client, url: &str, body: impl std::borrow::Borrow<Value>) -> Answer {
    let resp = http.post(url).json(body.borrow()).send().await.unwrap_or_else(|e| panic!("POST {url}: {e}"));
    let status = resp.status().as_u16();
    let retry_after = resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_string);
    let text = resp.text().await.unwrap_or_else(|e| panic!("POST {url} body: {e}"));
    (status, retry_after, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn assert_capacity_refusal((status, retry_after, body): &Answer, url: &str, limits: (usize, usize)) {
    assert_eq!(*status, 503, "{body}");
    assert_eq!(retry_after.as_deref(), Some("1"), "{body}");
    assert_eq!(body["code"], 503, "{body}");
    assert_eq!(body["name"], "Service Unavailable", "{body}");
    assert_eq!(body["method"], "POST", "{body}");
    assert!(url.ends_with(body["url"].as_str().unwrap_or("?")), "{body}");
    let text = body["description"].as_str().unwrap_or_default();
    assert!(text.contains("at capacity") && text.contains("retry the step"), "says why and what to do: {body}");
    assert!(text.contains(&format!("steps running: {}, steps waiting: {}", limits.0, limits.1)), "{body}");
}

/// A server allowed 4 running and 16 waiting steps, hit with 1,000 at once while HaloITSM holds
/// every read: 4 run, 16 wait, and the other 980 are refused at once with 503, Retry-After and a
/// JSON body that says so. The status and describing routes answer meanwhile. Once HaloITSM
/// answers, the 20 succeed, HaloITSM never saw more than 4 reads at a time, and the server is
/// idle and serves normally.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_steps_at_once_against_a_small_server() {
    let _shared = EXCLUSIVE.read().await;
    raise_fd_limit(4 * BURST as u64);
    let halo = GatedHalo::start().await;
    let opts = ServerOptions { max_concurrent_steps: 4, max_queued_steps: 16, ..Default::default() };
    let srv = Server::start(Plugin::new(false), opts).await;
    let url = srv.url("/api/v1/actions/get_ticket");
    let http = client();
    let (tx, mut answers) = tokio::sync::mpsc::unbounded_channel::<Answer>();
    for n in 0..BURST {
        let (http, url, tx) = (http.clone(), url.clone(), tx.clone());
        let msg = action("get_ticket", halo.connection(), json!({"ticket_id": 1 + n as i64}));
        tokio::spawn(async move {
            let _ = tx.send(post_answer(&http, &url, &msg).await);
        });
    }
    drop(tx);

    // With HaloITSM holding every read, only refusals can come back: all but the 20 admitted.
    for _ in 0..BURST - 20 {
        let answer = tokio::time::timeout(Duration::from_secs(60), answers.recv()).await.expect("refused, not held").expect("an answer");
        assert_capacity_refusal(&answer, &url, (4, 16));
    }
    assert_eq!(srv.state.active_work(), 4);
    assert_eq!(srv.state.queued_work(), 16);
    assert!(eventually(Duration::from_secs(5), || halo.in_flight() == 4).await, "4 reads at HaloITSM: {}", halo.in_flight());
    assert!(answers.try_recv().is_err(), "nothing else has answered");

    // Full, the server still answers everything that is not a step, and refuses one more step.
    let plain = reqwest::Client::new();
    for path in ["/api/v1/status", "/api/v1/info", "/api/v1/admin/status", "/api/v1/actions/get_ticket", "/api/v1/actions"] {
        let (s, b, took) = timed_get(&plain, srv.url(path)).await;
        assert!(s == 200 && took < RESPONSIVE, "{path}: {s} {b} in {took:?}");
    }
    let (_, st, _) = timed_get(&plain, srv.url("/api/v1/admin/status")).await;
    assert_eq!(st, json!({"shutdown_initiated": false, "shutdown_safe": false, "active_work": 4}));
    let started = Instant::now();
    let extra = post_answer(&plain, &url, &action("get_ticket", halo.connection(), json!({"ticket_id": 7}))).await;
    assert_capacity_refusal(&extra, &url, (4, 16));
    assert!(started.elapsed() < RESPONSIVE, "refused at once, not queued: {:?}", started.elapsed());
    let legacy = srv.url("/actions/get_ticket");
    let extra = post_answer(&plain, &legacy, &action("get_ticket", halo.connection(), json!({"ticket_id": 7}))).await;
    assert_capacity_refusal(&extra, &legacy, (4, 16));
    let test = json!({"version": "v1", "type": "connection_test", "body": {"connection": halo.connection()}});
    let extra = post_answer(&plain, &srv.url("/api/v1/connection/test"), &test).await;
    assert_capacity_refusal(&extra, &srv.url("/api/v1/connection/test"), (4, 16));

    // HaloITSM answers: the 4 running and the 16 waiting all succeed.
    halo.open();
    let mut ok = 0;
    while let Some((status, _, body)) = tokio::time::timeout(Duration::from_secs(60), answers.recv()).await.expect("answered") {
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["body"]["output"]["found"], true, "{body}");
        ok += 1;
    }
    assert_eq!(ok, 20, "4 running + 16 queued");
    let counters = &halo.counters;
    assert_eq!(counters.reads.load(std::sync::atomic::Ordering::SeqCst), ok, "HaloITSM saw exactly the admitted steps");
    assert_eq!(counters.most_in_flight.load(std::sync::atomic::Ordering::SeqCst), 4, "never more than 4 steps at HaloITSM at once");

    tokio::time::timeout(Duration::from_secs(5), srv.state.wait_idle()).await.expect("idle");
    assert_eq!(srv.state.queued_work(), 0);
    let (_, st, _) = timed_get(&plain, srv.url("/api/v1/admin/status")).await;
    assert_eq!(st["active_work"], 0, "{st}");
    // And it serves normally afterwards: 20 steps at once fit again.
    let again: Vec<Answer> = futures::future::join_all(
        (0..20)
            .map(|n| post_answer(&http, &url, action("get_ticket", halo.connection(), json!({"ticket_id": 500 + n}))))
            .collect::<Vec<_>>(),
    )
    .await;
    assert!(again.iter().all(|(s, _, _)| *s == 200), "{again:?}");
}

/// The default limits (256 running, 1,024 waiting) take 1,000 concurrent reads against the
/// simulator: with HaloITSM holding every read, 256 reach it and 744 wait; released, all 1,000
/// succeed, with one token.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_concurrent_reads_fit_the_default_limits() {
    let _shared = EXCLUSIVE.read().await;
    raise_fd_limit(4 * BURST as u64);
    let halo = simulator().await;
    let srv = Server::start(Plugin::new(false), ServerOptions::default()).await;
    let url = srv.url("/api/v1/actions/get_ticket");
    let conn = sim_connection(&halo, 60);
    let http = client();
    halo.sim.set_faults(Faults { hold: true, ..Default::default() });
    let burst = tokio::spawn({
        let (http, url) = (http.clone(), url.clone());
        async move {
            futures::future::join_all((0..BURST).map(|n| {
                let msg = action("get_ticket", conn.clone(), json!({"ticket_id": 101 + n as i64 % 7}));
                let (http, url) = (http.clone(), url.clone());
                async move { post_answer(&http, &url, msg).await }
            }))
            .await
        }
    });
    let (running, waiting) = (DEFAULT_MAX_CONCURRENT_STEPS, BURST - DEFAULT_MAX_CONCURRENT_STEPS);
    let reads = |sim: &SimHandle| sim.sim.stats().by_route.get("GET /api/Tickets/{id}").copied().unwrap_or_default();
    // Admitted steps reach HaloITSM a moment after they are counted as running.
    let all_in = eventually(Duration::from_secs(30), || {
        srv.state.active_work() == running && srv.state.queued_work() == waiting && reads(&halo) == running as u64
    })
    .await;
    assert!(all_in, "{} running, {} waiting, {} at HaloITSM", srv.state.active_work(), srv.state.queued_work(), reads(&halo));
    // And no more follow while the running ones are held.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(reads(&halo), running as u64, "only the running steps reached HaloITSM");

    halo.sim.set_faults(Faults::default());
    let answers = tokio::time::timeout(Duration::from_secs(60), burst).await.expect("all answered").expect("burst task");
    for (status, _, body) in &answers {
        assert_eq!(*status, 200, "{body}");
        assert_eq!(body["body"]["output"]["found"], true, "{body}");
    }
    assert_eq!(reads(&halo), BURST as u64);
    assert_eq!(halo.sim.stats().token_requests, 1);
    tokio::time::timeout(Duration::from_secs(5), srv.state.wait_idle()).await.expect("idle");
    assert_eq!(srv.state.queued_work(), 0);
}

/// The real binary: `http --max-concurrent-steps 1 --max-queued-steps 0` takes one step and
/// refuses a second while the first runs; a limit of 0 is refused with a clear error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_command_applies_its_limits() {
    let _shared = EXCLUSIVE.read().await;
    let bin = env!("CARGO_BIN_EXE_icon_haloitsm");
    let out = std::process::Command::new(bin).args(["http", "--max-concurrent-steps", "0"]).output().expect("run the binary");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("invalid value '0' for '--max-concurrent-steps <N>'") && err.contains("1..=100000"), "{err}");

    let halo = GatedHalo::start().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
    let mut child = std::process::Command::new(bin)
        .args(["http", "--bind", "127.0.0.1", "--port", &port.to_string(), "--max-concurrent-steps", "1", "--max-queued-steps", "0"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the binary");
    let base = format!("http://127.0.0.1:{port}");
    let http = client();
    let mut ready = false;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ready && Instant::now() < deadline {
        ready = http.get(format!("{base}/api/v1/status")).send().await.is_ok_and(|r| r.status() == 200);
        if !ready {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    assert!(ready, "the server did not come up");
    let url = format!("{base}/api/v1/actions/get_ticket");
    let first = tokio::spawn({
        let (http, url, msg) = (http.clone(), url.clone(), action("get_ticket", halo.connection(), json!({"ticket_id": 1})));
        async move { post_answer(&http, &url, msg).await }
    });
    assert!(eventually(Duration::from_secs(10), || halo.in_flight() == 1).await, "the first step reached HaloITSM");
    let second = post_answer(&http, &url, action("get_ticket", halo.connection(), json!({"ticket_id": 2}))).await;
    assert_capacity_refusal(&second, &url, (1, 0));
    halo.open();
    let (status, _, body) = first.await.expect("first step");
    assert_eq!(status, 200, "{body}");
    // SAFETY: signalling the child this test started, by its id.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
    let exit = tokio::task::spawn_blocking(move || child.wait()).await.expect("join").expect("wait");
    assert!(exit.success(), "{exit:?}");
}
