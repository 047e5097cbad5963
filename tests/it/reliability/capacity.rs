//! 3. More steps than the server takes: capacity refusals and the default limits.

use super::*;

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
    eventually(Lazy(|| format!("4 reads at HaloITSM: {}", halo.in_flight())), async || halo.in_flight() == 4).await;
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
    let state = || format!("{} running, {} waiting, {} at HaloITSM", srv.state.active_work(), srv.state.queued_work(), reads(&halo));
    eventually(Lazy(state), async || {
        srv.state.active_work() == running && srv.state.queued_work() == waiting && reads(&halo) == running as u64
    })
    .await;
    // The others are counted as waiting for a slot, so none of them can reach HaloITSM.
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
    // Port 0: the server binds a free port itself and says which.
    let mut child = std::process::Command::new(bin)
        .args(["http", "--bind", "127.0.0.1", "--port", "0", "--max-concurrent-steps", "1", "--max-queued-steps", "0"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start the binary");
    let (base, _) = common::announced_url(child.stderr.take().expect("stderr"), "serving the plugin API on ").await;
    let http = client();
    let status = format!("{base}/api/v1/status");
    eventually("the server to come up", async || http.get(&status).send().await.is_ok_and(|r| r.status() == 200)).await;
    let url = format!("{base}/api/v1/actions/get_ticket");
    let first = tokio::spawn({
        let (http, url, msg) = (http.clone(), url.clone(), action("get_ticket", halo.connection(), json!({"ticket_id": 1})));
        async move { post_answer(&http, &url, msg).await }
    });
    eventually("the first step to reach HaloITSM", async || halo.in_flight() == 1).await;
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
