//! A closed-loop load generator: `concurrency` workers, each sending its next request when the
//! previous one answered, for a duration or a number of requests. Records every latency.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;

/// One request to send: method, URL, body, bearer token.
#[derive(Clone)]
pub struct Req {
    pub post: bool,
    pub url: Arc<str>,
    pub body: Bytes,
    pub bearer: Option<Arc<str>>,
}

impl Req {
    pub fn post_json(url: &str, body: &serde_json::Value) -> Req {
        Req { post: true, url: url.into(), body: Bytes::from(body.to_string()), bearer: None }
    }

    pub fn get(url: &str, bearer: Option<&str>) -> Req {
        Req { post: false, url: url.into(), body: Bytes::new(), bearer: bearer.map(Into::into) }
    }
}

/// When a run stops.
#[derive(Clone, Copy)]
pub enum Until {
    Elapsed(Duration),
    Count(u64),
}

#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub ok: u64,
    pub failed: u64,
    pub elapsed: Duration,
    /// Latencies of successful requests, in microseconds, sorted.
    pub micros: Vec<u32>,
    pub first_failure: Option<String>,
}

impl Stats {
    pub fn throughput(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    pub fn percentile_ms(&self, p: f64) -> f64 {
        if self.micros.is_empty() {
            return f64::NAN;
        }
        let i = ((self.micros.len() as f64 - 1.0) * p).round() as usize;
        self.micros[i] as f64 / 1000.0
    }
}

/// A client for load: one pooled connection per worker, no proxy lookups.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().pool_max_idle_per_host(1024).tcp_nodelay(true).build().expect("an HTTP client")
}

/// Drive `pick(i)` (the i-th request of the run) with `concurrency` workers. A request failed
/// when it got no answer or a status other than 2xx, or `check` said no.
pub async fn run<P, C>(http: &reqwest::Client, concurrency: usize, until: Until, pick: P, check: C) -> Stats
where
    P: Fn(u64) -> Req + Send + Sync + 'static,
    C: Fn(&[u8]) -> Result<(), String> + Send + Sync + 'static,
{
    let pick = Arc::new(pick);
    let check = Arc::new(check);
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (http, pick, check, next) = (http.clone(), pick.clone(), check.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut s = Stats { micros: Vec::with_capacity(1 << 16), ..Default::default() };
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                match until {
                    Until::Count(n) if i >= n => break,
                    Until::Elapsed(d) if start.elapsed() >= d => break,
                    _ => {}
                }
                let r = pick(i);
                let t = Instant::now();
                let mut b = if r.post {
                    http.post(&*r.url).header("content-type", "application/json").body(r.body.clone())
                } else {
                    http.get(&*r.url)
                };
                if let Some(token) = &r.bearer {
                    b = b.bearer_auth(token);
                }
                let outcome = match b.send().await {
                    Ok(resp) => {
                        let status = resp.status();
                        match resp.bytes().await {
                            Ok(body) if status.is_success() => check(&body),
                            Ok(body) => Err(format!("HTTP {status}: {}", String::from_utf8_lossy(&body[..body.len().min(300)]))),
                            Err(e) => Err(format!("reading the answer: {e}")),
                        }
                    }
                    Err(e) => Err(format!("no answer: {e}")),
                };
                match outcome {
                    Ok(()) => {
                        s.ok += 1;
                        s.micros.push(t.elapsed().as_micros().min(u32::MAX as u128) as u32);
                    }
                    Err(e) => {
                        s.failed += 1;
                        s.first_failure.get_or_insert(e);
                    }
                }
            }
            s
        }));
    }
    let mut total = Stats::default();
    for w in workers {
        let s = w.await.expect("a load worker");
        total.ok += s.ok;
        total.failed += s.failed;
        total.micros.extend(s.micros);
        if total.first_failure.is_none() {
            total.first_failure = s.first_failure;
        }
    }
    total.elapsed = start.elapsed();
    total.micros.sort_unstable();
    total
}

/// A plugin answer is a success when its body says so (`body.output` present, no `error`).
pub fn plugin_ok(body: &[u8]) -> Result<(), String> {
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    if v["body"]["output"].is_object() && v["body"]["status"] != "error" {
        Ok(())
    } else {
        Err(format!("the step failed: {}", &v.to_string()[..v.to_string().len().min(300)]))
    }
}

pub fn any_ok(_: &[u8]) -> Result<(), String> {
    Ok(())
}
