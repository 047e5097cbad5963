//! The measurements, one function per goal group.

use std::fmt::Write as _;
use std::future::Future;
use std::io::{Read, Write};
use std::path::Path;
use std::pin::Pin;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::load::{self, Req, Stats, Until};
use crate::procs::{self, Proc};
use crate::{Ctx, Report};

pub type Scenario = for<'a> fn(&'a Ctx) -> Pin<Box<dyn Future<Output = Report> + 'a>>;

pub const ALL: &[(&str, Scenario)] = &[
    ("actions over HTTP, 16 concurrent", |c| Box::pin(http_actions(c))),
    ("one action in run mode", |c| Box::pin(run_mode(c))),
    ("start to ready", |c| Box::pin(start_to_ready(c))),
    ("memory over 100,000 actions", |c| Box::pin(memory(c))),
    ("token requests under a cold burst", |c| Box::pin(token_burst(c))),
    ("webhook ingest", |c| Box::pin(crate::webhook_ingest::webhook_ingest(c))),
    ("Prowler findings", |c| Box::pin(prowler(c))),
    ("what a job costs in HaloITSM requests", |c| Box::pin(crate::requests::request_counts(c))),
    ("memory under large bodies", |c| Box::pin(crate::large_bodies::large_bodies(c))),
    ("under HaloITSM's rate limit", |c| Box::pin(crate::rate_limit::rate_limit(c))),
];

pub const CONCURRENCY: usize = 16;
const SEEDED: [i64; 5] = [101, 102, 103, 104, 105];

fn start_message(action: &str, conn: &Value, input: Value) -> Value {
    json!({"version": "v1", "type": "action_start", "body": {"action": action, "meta": {}, "input": input, "connection": conn}})
}

fn action_url(p: &Proc, action: &str) -> String {
    p.url(&format!("/api/v1/actions/{action}"))
}

/// A bearer token from the simulator, for requests straight to it.
pub async fn token(ctx: &Ctx, sim: &Proc) -> String {
    let v: Value = ctx
        .http
        .post(sim.url("/auth/token"))
        .form(&[("grant_type", "client_credentials"), ("client_id", "sim-client"), ("client_secret", "sim-secret"), ("scope", "all")])
        .send()
        .await
        .expect("a token")
        .json()
        .await
        .expect("a token answer");
    v["access_token"].as_str().expect("access_token").to_string()
}

/// Median, min and max throughput of runs, and latency percentiles over all their requests.
struct Summary {
    median: f64,
    min: f64,
    max: f64,
    p50: f64,
    p99: f64,
    ok: u64,
    failed: u64,
    first_failure: Option<String>,
}

fn summarise(runs: &[Stats]) -> Summary {
    let mut t: Vec<f64> = runs.iter().map(Stats::throughput).collect();
    t.sort_by(f64::total_cmp);
    let mut all = Stats::default();
    for r in runs {
        all.micros.extend_from_slice(&r.micros);
        all.ok += r.ok;
        all.failed += r.failed;
        if all.first_failure.is_none() {
            all.first_failure.clone_from(&r.first_failure);
        }
    }
    all.micros.sort_unstable();
    Summary {
        median: t[t.len() / 2],
        min: t[0],
        max: t[t.len() - 1],
        p50: all.percentile_ms(0.5),
        p99: all.percentile_ms(0.99),
        ok: all.ok,
        failed: all.failed,
        first_failure: all.first_failure,
    }
}

fn row(name: &str, s: &Summary, extra: &str) -> String {
    format!("| {name} | {:.0} ({:.0}–{:.0}) | {:.2} | {:.2} | {} | {}{} |", s.median, s.min, s.max, s.p50, s.p99, s.ok, s.failed, extra)
}

fn failures(s: &Summary) -> String {
    match &s.first_failure {
        Some(f) => format!(" (first failure: {f})"),
        None => String::new(),
    }
}

/// `repeat` runs of a load, each followed by the simulator's count of HaloITSM requests it caused.
async fn runs<P>(ctx: &Ctx, sim: &Proc, pick: P, check: fn(&[u8]) -> Result<(), String>) -> (Vec<Stats>, f64)
where
    P: Fn(u64) -> Req + Send + Sync + Clone + 'static,
{
    let mut out = Vec::new();
    let (mut halo, mut done) = (0u64, 0u64);
    for _ in 0..ctx.repeat {
        procs::sim_reset(&ctx.http, sim).await;
        let s = load::run(&ctx.http, CONCURRENCY, Until::Elapsed(ctx.run_for), pick.clone(), check).await;
        halo += procs::halo_requests(&procs::sim_stats(&ctx.http, sim).await);
        done += s.ok + s.failed;
        out.push(s);
    }
    (out, halo as f64 / done.max(1) as f64)
}

async fn http_actions(ctx: &Ctx) -> Report {
    let mut r = Report::default();
    let sim = procs::simulator(&ctx.bin, &ctx.work, "sim-http", &[], &ctx.http).await;
    let bearer = token(ctx, &sim).await;

    // The ceiling: the simulator alone, asked what get_ticket asks it.
    let urls: Arc<Vec<String>> = Arc::new(SEEDED.iter().map(|id| sim.url(&format!("/api/Tickets/{id}?includedetails=true"))).collect());
    let b = bearer.clone();
    let ceiling_pick = move |i: u64| Req::get(&urls[i as usize % urls.len()], Some(&b));
    let (ceiling, _) = runs(ctx, &sim, ceiling_pick, load::any_ok).await;
    let ceiling = summarise(&ceiling);

    let plugin = procs::plugin(&ctx.bin, &ctx.work, "plugin-http", &ctx.http).await;
    let conn = procs::connection(&sim);
    let url = action_url(&plugin, "get_ticket");
    let gets: Arc<Vec<Req>> =
        Arc::new(SEEDED.iter().map(|id| Req::post_json(&url, &start_message("get_ticket", &conn, json!({"ticket_id": id})))).collect());
    let get_pick = move |i: u64| gets[i as usize % gets.len()].clone();
    // Warm-up: token, connections.
    load::run(&ctx.http, CONCURRENCY, Until::Elapsed(Duration::from_millis(500)), get_pick.clone(), load::plugin_ok).await;
    let (get_runs, get_halo) = runs(ctx, &sim, get_pick, load::plugin_ok).await;
    let get = summarise(&get_runs);

    let create = Req::post_json(
        &action_url(&plugin, "create_ticket"),
        &start_message(
            "create_ticket",
            &conn,
            json!({"summary": "Benchmark ticket", "details": "Created by the benchmark", "tickettype_id": 1}),
        ),
    );
    let (create_runs, create_halo) = runs(ctx, &sim, move |_| create.clone(), load::plugin_ok).await;
    let create = summarise(&create_runs);
    let mem = plugin.memory();

    // Shares of the ceiling compare runs on one machine; a bare number would measure the machine.
    let share = get.median / ceiling.median;
    r.goal(
        "`get_ticket` over HTTP, 16 concurrent",
        "≥ 0.30 of the simulator's own ceiling, p99 ≤ 5 ms",
        format!("{:.0} actions/s = {share:.2} of {:.0}, p99 {:.2} ms{}", get.median, ceiling.median, get.p99, failures(&get)),
        Some(share >= 0.30 && get.p99 <= 5.0 && get.failed == 0),
    );
    // Creates on one HaloITSM go one at a time (live tenants give concurrent creates one ID), so
    // their rate is one over a create's round trip, not a share of the CPU.
    r.goal(
        "`create_ticket` over HTTP, 16 concurrent",
        "≥ 2,000 actions/s",
        format!("{:.0} actions/s, p99 {:.2} ms{}", create.median, create.p99, failures(&create)),
        Some(create.median >= 2_000.0 && create.failed == 0),
    );
    let mut d = String::new();
    let _ = writeln!(d, "## Actions over HTTP, {CONCURRENCY} concurrent\n");
    let _ = writeln!(
        d,
        "| load | per second, median (min–max) | p50 ms | p99 ms | ok | failed | HaloITSM requests per action | share of the ceiling |"
    );
    let _ = writeln!(d, "|---|---|---|---|---|---|---|---|");
    let _ = writeln!(d, "{}", row("simulator alone: `GET /api/Tickets/{id}` (the ceiling)", &ceiling, " | 1 | 100% |"));
    let _ = writeln!(
        d,
        "{}",
        row("`get_ticket` through the plugin", &get, &format!(" | {get_halo:.2} | {:.0}% |", 100.0 * get.median / ceiling.median))
    );
    let _ = writeln!(d, "{}", row("`create_ticket` through the plugin", &create, &format!(" | {create_halo:.2} | |")));
    let _ = writeln!(
        d,
        "\nPlugin memory after these runs: {:.1} MiB resident, peak {:.1} MiB.",
        mem.rss_kib as f64 / 1024.0,
        mem.peak_kib as f64 / 1024.0
    );
    r.details = d;
    r
}

fn run_once(bin: &Path, msg: &[u8]) -> (Duration, bool) {
    let t = Instant::now();
    let mut child =
        Command::new(bin).arg("run").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("run starts");
    child.stdin.take().expect("stdin").write_all(msg).expect("the start message is written");
    let mut out = Vec::new();
    child.stdout.take().expect("stdout").read_to_end(&mut out).expect("the output is read");
    let ok = child.wait().map(|s| s.success()).unwrap_or(false) && load::plugin_ok(&out).is_ok();
    (t.elapsed(), ok)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Timings sorted, with their median.
fn sorted_with_median(mut times: Vec<Duration>) -> (Vec<Duration>, Duration) {
    times.sort();
    let median = percentile(&times, 0.5);
    (times, median)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn run_mode(ctx: &Ctx) -> Report {
    let mut r = Report::default();
    let sim = procs::simulator(&ctx.bin, &ctx.work, "sim-run", &[], &ctx.http).await;
    let msg = start_message("get_ticket", &procs::connection(&sim), json!({"ticket_id": 101})).to_string().into_bytes();
    let n = if ctx.quick { 10 } else { 50 };
    let bin = ctx.bin.clone();
    let (times, failed) = tokio::task::spawn_blocking(move || {
        run_once(&bin, &msg); // warm the page cache
        let mut times = Vec::new();
        let mut failed = 0;
        for _ in 0..n {
            let (t, ok) = run_once(&bin, &msg);
            times.push(t);
            failed += usize::from(!ok);
        }
        (times, failed)
    })
    .await
    .expect("run mode");
    let (times, median) = sorted_with_median(times);
    r.goal(
        "one action in `run` mode (process start to exit)",
        "≤ 20 ms median",
        format!("{:.1} ms median{}", ms(median), if failed > 0 { format!(", {failed} failed") } else { String::new() }),
        Some(ms(median) <= 20.0 && failed == 0),
    );
    r.details = format!(
        "## One action in `run` mode\n\n`icon_haloitsm run` with a `get_ticket` start message on stdin, against the simulator: \
         process start, token request, the read, output, exit. {n} runs: median {:.1} ms, p90 {:.1} ms, min {:.1} ms, max {:.1} ms.\n",
        ms(median),
        ms(percentile(&times, 0.9)),
        ms(times[0]),
        ms(times[times.len() - 1])
    );
    r
}

/// Time from spawning `http` to `/api/v1/status` answering 200, polled every 100 µs.
fn time_to_ready(bin: &Path, work: &procs::Workdir) -> Duration {
    let t = Instant::now();
    let p = procs::spawn_plugin(bin, work, "plugin-start");
    loop {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", p.port)) {
            let _ = s.write_all(b"GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
            let mut head = [0u8; 12];
            if s.read_exact(&mut head).is_ok() && &head[9..12] == b"200" {
                return t.elapsed();
            }
        }
        assert!(t.elapsed() < Duration::from_secs(10), "the plugin did not become ready");
        std::thread::sleep(Duration::from_micros(100));
    }
}

async fn start_to_ready(ctx: &Ctx) -> Report {
    let mut r = Report::default();
    let n = if ctx.quick { 5 } else { 20 };
    let bin = ctx.bin.clone();
    let work = ctx.work.clone();
    let times =
        tokio::task::spawn_blocking(move || (0..=n).map(|_| time_to_ready(&bin, &work)).skip(1).collect()).await.expect("start to ready");
    let (times, median) = sorted_with_median(times);
    r.goal(
        "start to `/api/v1/status` ready",
        "≤ 20 ms",
        format!("{:.1} ms median, {:.1} ms max", ms(median), ms(times[times.len() - 1])),
        Some(ms(median) <= 20.0),
    );
    r.details = format!(
        "## Start to ready\n\nSpawning `icon_haloitsm http` until `GET /api/v1/status` answers 200 (polled every 100 µs), {n} starts: \
         median {:.1} ms, min {:.1} ms, max {:.1} ms.\n",
        ms(median),
        ms(times[0]),
        ms(times[times.len() - 1])
    );
    r
}

async fn memory(ctx: &Ctx) -> Report {
    let mut r = Report::default();
    let sim = procs::simulator(&ctx.bin, &ctx.work, "sim-memory", &[], &ctx.http).await;
    let plugin = procs::plugin(&ctx.bin, &ctx.work, "plugin-memory", &ctx.http).await;
    let conn = procs::connection(&sim);
    let at_start = plugin.memory();
    // A workflow-like mix: mostly reads, some writes.
    let mix: Arc<Vec<Req>> = Arc::new(
        [
            ("get_ticket", json!({"ticket_id": 101})),
            ("get_ticket", json!({"ticket_id": 102})),
            ("get_ticket", json!({"ticket_id": 103})),
            ("get_ticket", json!({"ticket_id": 104})),
            ("get_ticket", json!({"ticket_id": 105})),
            ("get_ticket", json!({"ticket_id": 101, "include_details": false})),
            ("search_tickets", json!({"summary_contains": "phishing", "max_results": 10})),
            ("create_ticket", json!({"summary": "Memory benchmark", "details": "A ticket", "tickettype_id": 1})),
            ("add_comment", json!({"ticket_id": 103, "comment": "Benchmark note"})),
            ("list_statuses", json!({})),
        ]
        .into_iter()
        .map(|(a, input)| Req::post_json(&action_url(&plugin, a), &start_message(a, &conn, input)))
        .collect(),
    );
    let total: u64 = if ctx.quick { 20_000 } else { 100_000 };
    let chunk = total / 10;
    let mut samples = Vec::new();
    let mut failed = 0;
    let mut first_failure = None;
    for _ in 0..10 {
        let m = mix.clone();
        let s = load::run(&ctx.http, CONCURRENCY, Until::Count(chunk), move |i| m[i as usize % m.len()].clone(), load::plugin_ok).await;
        failed += s.failed;
        first_failure = first_failure.or(s.first_failure);
        samples.push(plugin.memory());
    }
    let end = samples[samples.len() - 1];
    let warm = samples[1];
    let growth = end.rss_kib as f64 - warm.rss_kib as f64;
    let flat = growth.abs() <= 1024.0;
    r.goal(
        "resident memory after 100,000 actions",
        "≤ 20 MB, flat after warm-up",
        format!(
            "{:.1} MiB after {total} (peak {:.1} MiB); {:+.2} MiB from action {} to {total}{}",
            end.rss_kib as f64 / 1024.0,
            end.peak_kib as f64 / 1024.0,
            growth / 1024.0,
            2 * chunk,
            if failed > 0 { format!("; {failed} failed: {}", first_failure.unwrap_or_default()) } else { String::new() }
        ),
        Some(end.rss_kib as f64 <= 20.0 * 1_000_000.0 / 1024.0 && flat && failed == 0),
    );
    let mut d = format!(
        "## Memory over {total} actions\n\nA fresh plugin process, {CONCURRENCY} concurrent, a mix of 60% `get_ticket`, 10% each `search_tickets`, \
         `create_ticket`, `add_comment` and `list_statuses`. Resident memory at start: {:.1} MiB. \"Flat\" means within 1 MiB from \
         the second sample on.\n\n| actions | resident MiB | peak MiB |\n|---|---|---|\n",
        at_start.rss_kib as f64 / 1024.0
    );
    for (i, m) in samples.iter().enumerate() {
        let _ = writeln!(d, "| {} | {:.1} | {:.1} |", (i as u64 + 1) * chunk, m.rss_kib as f64 / 1024.0, m.peak_kib as f64 / 1024.0);
    }
    r.details = d;
    r
}

async fn token_burst(ctx: &Ctx) -> Report {
    let mut r = Report::default();
    let sim = procs::simulator(&ctx.bin, &ctx.work, "sim-burst", &[], &ctx.http).await;
    // A slow token endpoint widens the window in which the 100 requests race for a token.
    procs::sim_faults(&ctx.http, &sim, json!({"token_latency_ms": 100})).await;
    let plugin = procs::plugin(&ctx.bin, &ctx.work, "plugin-burst", &ctx.http).await;
    procs::sim_reset(&ctx.http, &sim).await;
    let req = Req::post_json(
        &action_url(&plugin, "get_ticket"),
        &start_message("get_ticket", &procs::connection(&sim), json!({"ticket_id": 101})),
    );
    let s = load::run(&ctx.http, 100, Until::Count(100), move |_| req.clone(), load::plugin_ok).await;
    let tokens = procs::sim_stats(&ctx.http, &sim).await["token_requests"].as_u64().unwrap_or(u64::MAX);
    r.goal(
        "token requests under a 100-way cold burst",
        "exactly 1",
        format!("{tokens} ({} of 100 actions succeeded)", s.ok),
        Some(tokens == 1 && s.ok == 100),
    );
    r.details = format!(
        "## Token requests under a cold burst\n\n100 concurrent `get_ticket` on a fresh plugin process, with the simulator's token \
         endpoint slowed to 100 ms: {tokens} token request(s), {} actions succeeded, p99 {:.1} ms.\n",
        s.ok,
        s.percentile_ms(0.99)
    );
    r
}

/// 1,000 failing findings with distinct IDs and resources, from Prowler's AWS example.
fn findings_file(dir: &Path) -> std::path::PathBuf {
    let example = include_bytes!("../../testdata/prowler/example_output_aws.ocsf.json");
    let all: Vec<Value> = serde_json::from_slice(example).expect("the Prowler example parses");
    let template = all.iter().find(|f| f["status_code"] == "FAIL").expect("a failing finding").clone();
    let findings: Vec<Value> = (0..1000)
        .map(|i| {
            let mut f = template.clone();
            f["finding_info"]["uid"] = json!(format!("prowler-aws-bench_check-123456789012-eu-west-1-resource-{i:04}"));
            f["metadata"]["event_code"] = json!(format!("bench_check_{}", i % 25));
            f["cloud"]["account"]["uid"] = json!("123456789012");
            f["cloud"]["region"] = json!("eu-west-1");
            f["resources"][0]["uid"] = json!(format!("arn:aws:s3:::bench-bucket-{i:04}"));
            f["resources"][0]["region"] = json!("eu-west-1");
            f["severity"] = json!(["Low", "Medium", "High", "Critical"][i % 4]);
            f
        })
        .collect();
    let path = dir.join("findings-1000.ocsf.json");
    std::fs::write(&path, serde_json::to_vec(&findings).expect("findings JSON")).expect("the findings file");
    path
}

fn send_findings(bin: &Path, sim: &Proc, file: &Path) -> (Duration, bool, String) {
    let t = Instant::now();
    let out = Command::new(bin)
        .args(["send-findings", "--tickettype-id", "4", "--json"])
        .arg(file)
        .env("HALO_CLIENT_ID", "sim-client")
        .env("HALO_CLIENT_SECRET", "sim-secret")
        .env("HALO_AUTH_SERVER", sim.url("/auth"))
        .env("HALO_RESOURCE_SERVER", sim.url("/api"))
        .stdin(Stdio::null())
        .output()
        .expect("send-findings runs");
    let took = t.elapsed();
    let summary = String::from_utf8_lossy(&out.stdout).to_string();
    (took, out.status.success(), summary)
}

/// The outcome counts of `send-findings --json`.
fn counts(json_out: &str) -> String {
    let v: Value = serde_json::from_str(json_out).unwrap_or(Value::Null);
    let parts: Vec<String> = ["created", "updated", "reopened", "closed", "unchanged", "skipped", "failed"]
        .iter()
        .filter_map(|k| v[*k].as_u64().filter(|n| *n > 0).map(|n| format!("{n} {k}")))
        .collect();
    if parts.is_empty() { json_out.chars().take(200).collect::<String>().replace('\n', " ") } else { parts.join(", ") }
}

async fn prowler(ctx: &Ctx) -> Report {
    let mut r = Report::default();
    let sim = procs::simulator(&ctx.bin, &ctx.work, "sim-prowler", &["--latency-ms", "20"], &ctx.http).await;
    let file = findings_file(ctx.work.path());
    let bin = ctx.bin.clone();
    procs::sim_reset(&ctx.http, &sim).await;
    let f = file.clone();
    let (first, sim) = tokio::task::spawn_blocking(move || (send_findings(&bin, &sim, &f), sim)).await.expect("send-findings");
    let first_requests = procs::halo_requests(&procs::sim_stats(&ctx.http, &sim).await);
    procs::sim_reset(&ctx.http, &sim).await;
    let bin = ctx.bin.clone();
    let (again, sim) = tokio::task::spawn_blocking(move || (send_findings(&bin, &sim, &file), sim)).await.expect("send-findings again");
    let rerun_requests = procs::halo_requests(&procs::sim_stats(&ctx.http, &sim).await);
    r.goal(
        "1,000 Prowler findings, simulator with 20 ms latency",
        "≤ 10 s; unchanged rerun ≤ 15 Halo requests",
        format!("{:.2} s; rerun {rerun_requests} requests ({:.2} s)", first.0.as_secs_f64(), again.0.as_secs_f64()),
        Some(first.1 && again.1 && first.0 <= Duration::from_secs(10) && rerun_requests <= 15),
    );
    r.details = format!(
        "## Prowler findings\n\n`icon_haloitsm send-findings` on 1,000 failing findings (distinct resources, 25 checks), against a \
         simulator that adds 20 ms to every API request. Requests include the token request.\n\n\
         | run | seconds | HaloITSM requests | outcome |\n|---|---|---|---|\n\
         | first | {:.2} | {first_requests} | {} |\n| unchanged rerun | {:.2} | {rerun_requests} | {} |\n",
        first.0.as_secs_f64(),
        counts(&first.2),
        again.0.as_secs_f64(),
        counts(&again.2),
    );
    r
}

/// The compressed `.plg` (`make export`), when given.
pub fn image_size(plg: Option<&Path>) -> Report {
    let mut r = Report::default();
    println!("== container image");
    match plg.map(|p| (p, std::fs::metadata(p))) {
        Some((p, Ok(m))) => {
            let mb = m.len() as f64 / 1_000_000.0;
            r.goal("container image (compressed .plg)", "≤ 15 MB", format!("{mb:.1} MB"), Some(mb <= 15.0));
            r.details = format!(
                "## Container image\n\n`{}`: {} bytes ({mb:.1} MB), a gzipped `docker save` archive of the static binary, CA certificates and the spec.\n",
                p.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default(),
                m.len()
            );
        }
        Some((p, Err(e))) => r.goal("container image (compressed .plg)", "≤ 15 MB", format!("{} unreadable: {e}", p.display()), None),
        None => r.goal("container image (compressed .plg)", "≤ 15 MB", "no --plg given (make bench passes the export)".into(), None),
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_take_the_median_run_and_percentiles_of_all_requests() {
        let run =
            |ok: u64, secs: u64, micros: Vec<u32>| Stats { ok, failed: 0, elapsed: Duration::from_secs(secs), micros, first_failure: None };
        let s = summarise(&[run(100, 1, vec![1000; 100]), run(300, 1, vec![3000; 300]), run(200, 1, vec![2000; 100])]);
        assert_eq!((s.median, s.min, s.max), (200.0, 100.0, 300.0));
        assert_eq!(s.p50, 3.0, "over all 500 latencies, not the median run's");
        assert_eq!(s.ok, 600);
    }

    #[test]
    fn the_findings_file_holds_1000_distinct_failing_findings() {
        let dir = std::env::temp_dir().join(format!("bench-findings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = findings_file(&dir);
        let all: Vec<Value> = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(all.len(), 1000);
        assert!(all.iter().all(|f| f["status_code"] == "FAIL"));
        let uids: std::collections::HashSet<&str> = all.iter().map(|f| f["finding_info"]["uid"].as_str().unwrap()).collect();
        assert_eq!(uids.len(), 1000);
    }

    #[test]
    fn send_findings_counts_are_summarised() {
        assert_eq!(counts(r#"{"created": 3, "unchanged": 0, "failed": 1, "results": []}"#), "3 created, 1 failed");
    }
}
