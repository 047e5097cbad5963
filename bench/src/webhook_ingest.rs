//! Webhook ingest: how many HaloITSM deliveries a trigger's listener takes in per second, each
//! becoming exactly one event at the dispatcher.

use std::fmt::Write as _;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::load::{self, Req, Until};
use crate::procs::{self, Proc};
use crate::scenarios::{CONCURRENCY, token};
use crate::{Ctx, Report};

/// A dispatcher that counts trigger events, and a capture of the simulator's webhooks.
#[derive(Default)]
struct Sinks {
    events: AtomicU64,
    captured: std::sync::Mutex<Vec<bytes::Bytes>>,
}

async fn serve_sinks(sinks: Arc<Sinks>) -> u16 {
    use axum::routing::post;
    let app = axum::Router::new()
        .route(
            "/dispatch",
            post({
                let s = sinks.clone();
                move || async move {
                    s.events.fetch_add(1, Ordering::Relaxed);
                    "ok"
                }
            }),
        )
        .route(
            "/capture",
            post({
                let s = sinks.clone();
                move |body: bytes::Bytes| async move {
                    s.captured.lock().expect("capture lock").push(body);
                    "ok"
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a sink port");
    let port = listener.local_addr().expect("sink address").port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

const HOOK_USER: &str = "halo-webhook";
const HOOK_PASS: &str = "bench-webhook-password";

pub async fn webhook_ingest(ctx: &Ctx) -> Report {
    let mut r = Report::default();
    let n: u64 = if ctx.quick { 2_000 } else { 10_000 };
    let mut rates = Vec::new();
    let mut detail_rows = String::new();
    for round in 0..ctx.repeat {
        // Each run on a fresh simulator: the same work every time.
        let sim = procs::simulator(&ctx.bin, &ctx.work, &format!("sim-webhook-{round}"), &[], &ctx.http).await;
        let bearer = token(ctx, &sim).await;
        let sinks = Arc::new(Sinks::default());
        let sink_port = serve_sinks(sinks.clone()).await;
        let dir = ctx.work.path().join(format!("trigger-{round}"));
        std::fs::create_dir_all(&dir).expect("trigger state directory");
        let hook_port = procs::free_port();
        let mut conn = procs::connection(&sim);
        conn["webhook_credentials"] = json!({"username": HOOK_USER, "password": HOOK_PASS});
        let msg = json!({"version": "v1", "type": "trigger_start", "body": {
            "trigger": "ticket_created", "meta": {"triggerId": format!("bench-{round}")},
            "connection": conn,
            "input": {"source": "webhook", "webhook_port": hook_port, "webhook_bind": "127.0.0.1"},
            "dispatcher": {"url": format!("http://127.0.0.1:{sink_port}/dispatch"), "webhook_url": ""}}});
        let mut child = Command::new(&ctx.bin)
            .arg("run")
            .env("ICON_HALOITSM_CACHE_DIR", &dir)
            .env("ICON_HALOITSM_FLAG_DIR", &dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(ctx.work.log(&format!("trigger-{round}")))
            .spawn()
            .expect("the trigger starts");
        child.stdin.take().expect("stdin").write_all(msg.to_string().as_bytes()).expect("start message");
        let trigger = Proc { child, port: hook_port };
        procs::ready(&ctx.http, &trigger.url("/healthz"), Duration::from_secs(10)).await;

        // N new tickets, their webhooks captured (not yet delivered).
        let hook = json!({"url": format!("http://127.0.0.1:{sink_port}/capture"), "username": HOOK_USER, "password": HOOK_PASS});
        ctx.http.post(sim.url("/_sim/webhook")).json(&hook).send().await.expect("sim webhook settings");
        let create = Req {
            bearer: Some(bearer.as_str().into()),
            ..Req::post_json(&sim.url("/api/Tickets"), &json!([{"summary": "Webhook benchmark", "details": "d", "tickettype_id": 1}]))
        };
        let made = load::run(&ctx.http, CONCURRENCY, Until::Count(n), move |_| create.clone(), load::any_ok).await;
        assert_eq!(made.ok, n, "the simulator created the tickets: {:?}", made.first_failure);
        let t = Instant::now();
        while (sinks.captured.lock().expect("capture lock").len() as u64) < n {
            assert!(t.elapsed() < Duration::from_secs(60), "the simulator's webhooks did not all arrive");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        ctx.http.post(sim.url("/_sim/webhook")).body("").send().await.expect("sim webhook off");
        let deliveries: Arc<Vec<bytes::Bytes>> = Arc::new(std::mem::take(&mut *sinks.captured.lock().expect("capture lock")));

        // Replay them to the trigger as fast as it takes them; time until all events are dispatched.
        let url: Arc<str> = trigger.url("/webhooks/haloitsm").into();
        let start = Instant::now();
        let next = Arc::new(AtomicU64::new(0));
        let mut posters = Vec::new();
        for _ in 0..CONCURRENCY {
            let (http, url, d, next) = (ctx.http.clone(), url.clone(), deliveries.clone(), next.clone());
            posters.push(tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                    let Some(body) = d.get(i) else { break };
                    let resp = http
                        .post(&*url)
                        .basic_auth(HOOK_USER, Some(HOOK_PASS))
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .await;
                    assert!(resp.map(|r| r.status().is_success()).unwrap_or(false), "the trigger refused a delivery");
                }
            }));
        }
        for p in posters {
            p.await.expect("a webhook poster");
        }
        let accepted = start.elapsed();
        while sinks.events.load(Ordering::Relaxed) < n {
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "only {} of {n} events reached the dispatcher",
                sinks.events.load(Ordering::Relaxed)
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let all = start.elapsed();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let extra = sinks.events.load(Ordering::Relaxed) - n;
        let mem = trigger.memory();
        rates.push(n as f64 / all.as_secs_f64());
        let _ = writeln!(
            detail_rows,
            "| {} | {:.2} | {:.0} | {:.2} | {:.0} | {extra} | {:.1} |",
            round + 1,
            accepted.as_secs_f64(),
            n as f64 / accepted.as_secs_f64(),
            all.as_secs_f64(),
            n as f64 / all.as_secs_f64(),
            mem.peak_kib as f64 / 1024.0
        );
        drop(trigger);
    }
    rates.sort_by(f64::total_cmp);
    let median = rates[rates.len() / 2];
    r.goal(
        "webhook ingest to a local dispatcher",
        "≥ 5,000 events/s",
        format!("{median:.0} events/s ({:.0}–{:.0})", rates[0], rates[rates.len() - 1]),
        Some(median >= 5_000.0),
    );
    r.details = format!(
        "## Webhook ingest\n\n`ticket_created` with `source: webhook` in `run` mode. {n} \"New Ticket Logged\" deliveries, \
         recorded from the simulator's own webhooks, are POSTed to the trigger {CONCURRENCY} at a time; each becomes one event \
         after the trigger read the ticket and its history from the simulator. Timed from the first delivery to the last event \
         accepted by a local dispatcher.\n\n| run | deliveries accepted, s | per s | all events dispatched, s | events/s | duplicates | trigger peak MiB |\n\
         |---|---|---|---|---|---|---|\n{detail_rows}"
    );
    r
}
