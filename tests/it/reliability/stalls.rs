//! 2. HaloITSM stalls beyond the timeout: steps fail cleanly and nothing leaks.

use super::*;

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
        // reads and the comment's read, and the first create (the others wait their turn).
        let arrived = || {
            let stats = stalled.sim.stats();
            let n = |route: &str| stats.by_route.get(route).copied().unwrap_or_default() as usize;
            n("GET /api/Tickets/{id}") > reads && n("POST /api/Tickets") >= 1
        };
        eventually(Lazy(|| format!("stalled steps at HaloITSM: {:?}", stalled.sim.stats())), async || arrived()).await;

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
                    // Sent once each, one create at a time on a tenant (docs/halo-api.md#T15):
                    // each timed out after 1 s, never retried, the last after the others.
                    let last = Duration::from_secs(STALL_TIMEOUT_SECS * writes as u64) + Duration::from_millis(1500);
                    assert!(took >= Duration::from_secs(STALL_TIMEOUT_SECS) && took < last, "{name} took {took:?}");
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
        let released = eventually("the sockets to be released", async || open_sockets(&ports) <= baseline + FD_SLACK);
        let settled = tokio::time::timeout(STALL_LATENCY + Duration::from_secs(5), released).await.is_ok();
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
