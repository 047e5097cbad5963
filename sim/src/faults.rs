//! The `/api/*` request pipeline: stats, hold, latency, Bearer check, rate window, injected 429/500, handler.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::json;

use super::Simulator;
use super::errors::{EXCEPTION_CLASS, json_response};

/// Stats key for `/api` paths no route matched.
pub(crate) const UNKNOWN_API_ROUTE: &str = "/api/{unknown}";

impl Simulator {
    /// Count one request: `api` requests and token requests are counted apart; both by route.
    pub(crate) fn count_request(&self, method: &str, route: &str, api: bool) {
        let mut g = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        if api {
            g.api_requests += 1;
        } else {
            g.token_requests += 1;
        }
        let key = format!("{method} {route}");
        match g.by_route.get_mut(&key) {
            Some(n) => *n += 1,
            None => {
                g.by_route.insert(key, 1);
            }
        }
    }

    fn count_window_429(&self) {
        self.stats.lock().unwrap_or_else(|e| e.into_inner()).window_429 += 1;
    }

    fn count_injected(&self, status: StatusCode) {
        let mut g = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        if status == StatusCode::TOO_MANY_REQUESTS {
            g.injected_429 += 1;
        } else {
            g.injected_500 += 1;
        }
    }
}

fn unauthorized() -> Response {
    let mut r = json_response(StatusCode::UNAUTHORIZED, &json!({"error": "invalid_token"}));
    r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer error=\"invalid_token\""));
    r
}

fn rate_limited(retry_after: Option<u64>) -> Response {
    let mut r = json_response(StatusCode::TOO_MANY_REQUESTS, &json!({"Message": "API rate limit exceeded. Please slow down."}));
    if let Some(secs) = retry_after {
        r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    r
}

fn server_error() -> Response {
    json_response(StatusCode::INTERNAL_SERVER_ERROR, &json!({"ClassName": EXCEPTION_CLASS, "Message": "Simulated server error"}))
}

/// Middleware for every `/api/*` route (and the `/api` fallback): count, latency, auth, faults.
/// The every-Nth counter only counts requests that passed the Bearer check.
pub(crate) async fn api_pipeline(State(sim): State<Arc<Simulator>>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map_or(UNKNOWN_API_ROUTE, MatchedPath::as_str);
    sim.count_request(req.method().as_str(), route, true);
    if sim.faults().hold {
        sim.wait_unheld().await;
    }
    let f = sim.faults();
    if f.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(f.latency_ms)).await;
    }
    if !sim.bearer_ok(req.headers()) {
        return unauthorized();
    }
    if let Some(w) = &f.rate_window
        && let Err(wait) = sim.rate_window.admit(w, std::time::Instant::now())
    {
        sim.count_window_429();
        // Whole seconds, rounded up: a client that waits that long finds the slot free.
        return rate_limited(w.retry_after.then(|| wait.as_millis().div_ceil(1000).max(1) as u64));
    }
    let n = sim.fault_counter.fetch_add(1, Ordering::SeqCst) + 1;
    if f.rate_limit_every > 0 && n % f.rate_limit_every == 0 {
        sim.count_injected(StatusCode::TOO_MANY_REQUESTS);
        return rate_limited(f.retry_after_secs);
    }
    if f.server_error_every > 0 && n % f.server_error_every == 0 {
        sim.count_injected(StatusCode::INTERNAL_SERVER_ERROR);
        let writes = req.method() == Method::POST || req.method() == Method::DELETE;
        if f.server_error_after_apply && writes {
            // The dangerous case: the write happened, the client is told it failed.
            let _applied = next.run(req).await;
        }
        return server_error();
    }
    next.run(req).await
}
