//! The HaloITSM client: one per distinct connection, holding one HTTP connection pool and one
//! token cache. Requests retry only when that is safe: reads on 429, 5xx, timeouts and
//! connection failures; writes only when HaloITSM cannot have applied them (429, or the
//! connection was never established), because HaloITSM's POST is an upsert and a blind retry
//! can create a duplicate ticket.

mod auth;
mod backoff;
pub mod batch;
pub mod budget;
mod config;
mod connection_test;
mod creates;
pub mod download;
mod error;
use download::{Answer, Expect};
mod history;
mod linked_files;
pub mod markup;
mod notes;
pub mod outcomes;
pub mod paging;
pub mod people;
mod records;
pub mod redact;
pub mod tenant;
pub mod ticket;
pub mod ticket_lists;

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::Value;

pub use auth::TokenCache;
pub use backoff::Backoff;
pub use budget::{Budget, RateLimit};
pub use config::{BUILT_IN_CLOSED_STATUS, ConnectionConfig, Secret};
pub use error::{HaloError, Server, extract_message};

/// A transport failure described without its URL.
pub fn describe_transport(e: &reqwest::Error) -> String {
    error::describe_reqwest(e)
}

/// How requests are retried.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in total, the first included.
    pub max_attempts: u32,
    /// No retry starts once this much time has passed since the first attempt.
    pub max_elapsed: Duration,
    /// First backoff delay; doubled on each retry, with jitter.
    pub base_delay: Duration,
    /// Largest single delay, including one asked for by `Retry-After`.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            max_elapsed: Duration::from_secs(60),
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(20),
        }
    }
}

impl RetryPolicy {
    /// The backoff before retry number `retry` (1-based).
    fn backoff(&self, retry: u32) -> Duration {
        Backoff::delay(self.base_delay, self.max_delay, retry)
    }
}

impl RetryPolicy {
    /// The wait before the next attempt, or None when the policy says to give up: attempts
    /// exhausted, a `Retry-After` longer than `max_delay`, or the time budget spent.
    pub fn next_delay(&self, attempt: u32, started: Instant, retry_after: Option<Duration>) -> Option<Duration> {
        if attempt >= self.max_attempts {
            return None;
        }
        let delay = match retry_after {
            Some(d) if d > self.max_delay => return None,
            Some(d) => d,
            None => self.backoff(attempt),
        };
        (started.elapsed() + delay <= self.max_elapsed).then_some(delay)
    }
}

/// The outcome of one attempt that may be retried.
struct Retryable {
    error: HaloError,
    retry_after: Option<Duration>,
}

/// A HaloITSM API client for one connection.
pub struct HaloClient {
    http: reqwest::Client,
    cfg: Arc<ConnectionConfig>,
    /// The Resource Server, parsed once: each request's address is joined onto it.
    api_base: reqwest::Url,
    tokens: TokenCache,
    retry: RetryPolicy,
    tenant: tenant::TenantCache,
    /// Whether the Resource Server answered the ticket list (see `api_found`).
    api_checked: tokio::sync::OnceCell<bool>,
    /// Shared with every client of the same API application in this process.
    budget: Arc<Budget>,
    /// Creates on the same HaloITSM in this process go one at a time (`creates`).
    creates: creates::CreateGate,
    /// The tenant's outcomes, and which one each kind of action is recorded with (`outcomes`).
    outcomes: outcomes::OutcomeCache,
    /// Whether the tenant takes arrays of many records in one request (`batch`).
    arrays: batch::ArraysTaken,
}

impl HaloClient {
    pub fn new(cfg: ConnectionConfig) -> Result<Self, HaloError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(cfg.timeout_seconds))
            .connect_timeout(Duration::from_secs(cfg.timeout_seconds.min(10)))
            .danger_accept_invalid_certs(!cfg.ssl_verify)
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("icon_haloitsm/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| HaloError::InvalidConfig { field: "ssl_verify".into(), reason: format!("could not set up TLS: {e}") })?;
        let api_base = reqwest::Url::parse(&format!("{}/", cfg.resource_server))
            .map_err(|e| HaloError::InvalidConfig { field: "resource_server".into(), reason: format!("is not a URL ({e})") })?;
        let budget = Budget::shared(&cfg.application_key(), cfg.rate_limit());
        let creates = creates::gate_of(&cfg.tenant_key());
        Ok(HaloClient {
            http,
            api_base,
            budget,
            creates,
            outcomes: outcomes::OutcomeCache::default(),
            arrays: batch::ArraysTaken::default(),
            cfg: Arc::new(cfg),
            tokens: TokenCache::new(),
            retry: RetryPolicy::default(),
            tenant: tenant::TenantCache::default(),
            api_checked: tokio::sync::OnceCell::new(),
        })
    }

    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn config(&self) -> &ConnectionConfig {
        &self.cfg
    }

    /// The request budget this client draws on.
    pub fn budget(&self) -> &Arc<Budget> {
        &self.budget
    }

    /// How many token requests this client has sent.
    pub fn token_requests(&self) -> u64 {
        self.tokens.fetches()
    }

    /// A valid access token (fetched once and shared).
    pub async fn token(&self) -> Result<Arc<str>, HaloError> {
        self.tokens.get(&self.http, &self.cfg, &self.retry).await
    }

    /// The agent-portal link of a ticket.
    pub fn ticket_url(&self, id: i64) -> String {
        format!("{}/ticket?id={id}", self.cfg.portal_base())
    }

    fn api_url(&self, path: &str) -> Result<reqwest::Url, HaloError> {
        self.api_base.join(path.trim_start_matches('/')).map_err(|e| HaloError::InvalidConfig {
            field: "resource_server".into(),
            reason: format!("cannot address `{path}` under it ({e})"),
        })
    }

    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, HaloError> {
        self.request(Method::GET, path, query, None).await
    }

    pub async fn post(&self, path: &str, query: &[(&str, String)], body: &Value) -> Result<Value, HaloError> {
        self.request(Method::POST, path, query, Some(body)).await
    }

    pub async fn delete(&self, path: &str, query: &[(&str, String)]) -> Result<Value, HaloError> {
        self.request(Method::DELETE, path, query, None).await
    }

    /// One API call with the retry policy applied. `what` names the resource in 404/403 errors.
    pub async fn request(&self, method: Method, path: &str, query: &[(&str, String)], body: Option<&Value>) -> Result<Value, HaloError> {
        let body_bytes = body.map(json_bytes).transpose()?;
        self.send(method, path, query, body_bytes, Expect::Json).await.map(Answer::into_json)
    }

    /// `request` with the body already serialized: what is sent (and resent) is these bytes, so
    /// the caller need not keep the value it was made of.
    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body_bytes: Option<bytes::Bytes>,
        expect: Expect,
    ) -> Result<Answer, HaloError> {
        let url = self.api_url(path)?;
        let write = method != Method::GET;
        let started = Instant::now();
        // Bulk steps set one deadline for all their requests; any other waits as a retry would.
        let deadline = budget::patience::deadline().unwrap_or_else(|| tokio::time::Instant::now() + self.retry.max_elapsed);
        let mut attempt: u32 = 0;
        let mut refreshed_token = false;
        let mut prober = None;
        loop {
            attempt += 1;
            let token = self.token().await?;
            let permit = match prober.take() {
                Some(p) => self.budget.probe(p, deadline).await?,
                None => self.budget.acquire(deadline).await?,
            };
            let mut req =
                self.http.request(method.clone(), url.clone()).bearer_auth(&*token).header(reqwest::header::ACCEPT, expect.accept());
            if !query.is_empty() {
                req = req.query(query);
            }
            if let Some(b) = &body_bytes {
                req = req.header(reqwest::header::CONTENT_TYPE, "application/json").body(b.clone());
            }
            let retryable = match req.send().await {
                // HaloITSM applied nothing: the request waits its turn again, writes included, and
                // this costs no attempt (the deadline bounds it).
                Ok(resp) if resp.status() == StatusCode::TOO_MANY_REQUESTS => {
                    if let budget::Next::Probe(p) = permit.throttled(parse_retry_after(resp.headers())) {
                        prober = Some(p);
                    }
                    attempt -= 1;
                    continue;
                }
                Ok(resp) => {
                    permit.answered();
                    let status = resp.status();
                    if let (true, Expect::File { max }) = (status.is_success(), expect) {
                        match download::read(resp, max).await {
                            Ok(file) => return Ok(Answer::File(file)),
                            Err(download::Failed::Refused(e)) => return Err(e),
                            // The file was cut off: a read can simply be asked again.
                            Err(download::Failed::Cut(e)) => Retryable { error: self.transport_error(&e, write), retry_after: None },
                        }
                    } else if status.is_success() {
                        let mut resp = resp;
                        match download::read_capped(&mut resp, download::MAX_JSON_ANSWER, None).await {
                            Ok(bytes) => return parse_json(status, &bytes).map(Answer::Json),
                            Err(download::Capped::Over(size)) => {
                                let max = download::MAX_JSON_ANSWER as u64;
                                return Err(HaloError::AnswerTooLarge { what: format!("{method} {path}"), size, max });
                            }
                            Err(download::Capped::NoRoom(size)) => return Err(download::busy(size)),
                            // The answer was cut off: a read can simply be asked again.
                            Err(download::Capped::Cut(e)) if !write => {
                                Retryable { error: self.transport_error(&e, write), retry_after: None }
                            }
                            Err(download::Capped::Cut(e)) => return Err(self.transport_error(&e, write)),
                        }
                    } else {
                        match self.failed_status(resp, path, write, &token, &mut refreshed_token).await? {
                            Some(r) => r,
                            None => {
                                // A fresh token was fetched after a 401: try again at once.
                                attempt -= 1;
                                continue;
                            }
                        }
                    }
                }
                Err(e) => {
                    drop(permit);
                    let error = self.transport_error(&e, write);
                    if matches!(error, HaloError::Tls { .. }) {
                        return Err(error);
                    }
                    // A connection that was never established carried nothing: safe for writes too.
                    if e.is_connect() || !write {
                        Retryable { error, retry_after: None }
                    } else {
                        return Err(error);
                    }
                }
            };
            let Some(delay) = self.retry.next_delay(attempt, started, retryable.retry_after) else {
                return Err(retryable.error);
            };
            tracing::warn!(
                "{} {} failed ({}); retrying in {} ms (attempt {} of {})",
                method,
                path,
                retryable.error,
                delay.as_millis(),
                attempt + 1,
                self.retry.max_attempts
            );
            tokio::time::sleep(delay).await;
        }
    }

    /// Classify a non-2xx answer: an error to report, a retry to make, or (None) a 401 after
    /// which the token was dropped and the request should be sent again once.
    async fn failed_status(
        &self,
        resp: reqwest::Response,
        path: &str,
        write: bool,
        token: &str,
        refreshed_token: &mut bool,
    ) -> Result<Option<Retryable>, HaloError> {
        let status = resp.status().as_u16();
        let retry_after = parse_retry_after(resp.headers());
        let location = resp.headers().get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok()).map(str::to_string);
        let bytes = download::error_body(resp).await;
        // A server or proxy that echoes the request would hand back the token or the secret.
        let secrets = redact::connection_secrets(&self.cfg);
        let mut refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
        refs.push(token);
        let message = extract_message(&bytes);
        let outcome = match status {
            401 if !*refreshed_token => {
                tracing::info!("HaloITSM rejected the access token; fetching a new one and trying again");
                *refreshed_token = true;
                self.tokens.invalidate(token);
                Ok(None)
            }
            401 => Err(HaloError::Unauthorized { message }),
            403 => Err(HaloError::Forbidden { what: describe_path(path), message }),
            404 => Err(HaloError::NotFound { what: describe_path(path), message }),
            // Answered before this is reached (`send`); kept so no 429 is ever a validation error.
            429 => Err(HaloError::RateLimited { retry_after }),
            300..=399 => Err(HaloError::Redirected { status, location: location.unwrap_or_else(|| "nowhere".into()) }),
            s if s >= 500 && !write => Ok(Some(Retryable { error: HaloError::ServerError { status: s, message, write }, retry_after })),
            s if s >= 500 => Err(HaloError::ServerError { status: s, message, write }),
            s => Err(HaloError::Validation { status: s, message }),
        };
        // Every field of the error, not only the message: a redirect's address can carry the token.
        match outcome {
            Err(e) => Err(e.redacted(&refs)),
            Ok(Some(r)) => Ok(Some(Retryable { error: r.error.redacted(&refs), ..r })),
            Ok(None) => Ok(None),
        }
    }

    fn transport_error(&self, e: &reqwest::Error, write: bool) -> HaloError {
        HaloError::from_reqwest(e, Server::Api, &self.cfg.resource_server, self.cfg.timeout_seconds, write)
    }
}

/// A request body as JSON bytes.
fn json_bytes(body: &Value) -> Result<bytes::Bytes, HaloError> {
    serde_json::to_vec(body).map(bytes::Bytes::from).map_err(|e| HaloError::Unexpected { status: 0, message: e.to_string() })
}

fn parse_json(status: StatusCode, bytes: &[u8]) -> Result<Value, HaloError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(bytes).map_err(|_| HaloError::Unexpected {
        status: status.as_u16(),
        message: format!("the body is not JSON: {}", redact::redact(&extract_message(bytes), &[])),
    })
}

/// Rows and record count of a list answer (plain array, or wrapper with the rows under `key` or,
/// failing that, under its only array field: docs/halo-api.md#L1, S1, G1, G7). Err names what
/// came instead.
pub fn rows_of(v: Value, key: &str) -> Result<(Vec<Value>, Option<u64>), &'static str> {
    match v {
        Value::Array(rows) => Ok((rows, None)),
        Value::Object(mut m) => {
            let count = m.get("record_count").and_then(Value::as_u64);
            if let Some(Value::Array(rows)) = m.remove(key) {
                return Ok((rows, count));
            }
            let mut arrays = m.into_iter().filter_map(|(_, v)| if let Value::Array(a) = v { Some(a) } else { None });
            match (arrays.next(), arrays.next()) {
                (Some(rows), None) => Ok((rows, count)),
                _ => Err("an object without a list"),
            }
        }
        other => Err(kind_of(&other)),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// "Tickets/42" → "Ticket 42"; "Agent/3" → "Agent 3"; anything else → "the API path /x".
fn describe_path(path: &str) -> String {
    let mut parts = path.trim_matches('/').split('/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(kind), Some(id), None) if id.chars().all(|c| c.is_ascii_digit()) => {
            let singular = kind.strip_suffix('s').unwrap_or(kind);
            format!("{singular} {id}")
        }
        _ => format!("the API path /{}", path.trim_matches('/')),
    }
}

/// `Retry-After` in seconds or as an HTTP date (HaloITSM may not send it: docs/halo-api.md#R3).
fn parse_retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let secs = (when.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_milliseconds().max(0);
    Some(Duration::from_millis(secs as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_answers_in_every_shape() {
        use serde_json::json;
        assert_eq!(rows_of(json!([{"id": 1}]), "users").unwrap(), (vec![json!({"id": 1})], None));
        assert_eq!(rows_of(json!({"record_count": 9, "users": [{"id": 1}]}), "users").unwrap(), (vec![json!({"id": 1})], Some(9)));
        assert_eq!(rows_of(json!({"record_count": 1, "items": [{"id": 2}]}), "users").unwrap().0, vec![json!({"id": 2})]);
        assert!(rows_of(json!({"a": [], "b": []}), "users").is_err());
        assert!(rows_of(json!("x"), "users").is_err());
    }

    #[test]
    fn describes_paths_for_errors() {
        assert_eq!(describe_path("Tickets/42"), "Ticket 42");
        assert_eq!(describe_path("/Agent/3"), "Agent 3");
        assert_eq!(describe_path("Tickets"), "the API path /Tickets");
    }

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        let p = RetryPolicy { base_delay: Duration::from_millis(100), max_delay: Duration::from_millis(350), ..Default::default() };
        for _ in 0..50 {
            let d1 = p.backoff(1);
            assert!(d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100), "{d1:?}");
            let d3 = p.backoff(3);
            assert!(d3 >= Duration::from_millis(175) && d3 <= Duration::from_millis(350), "{d3:?}");
        }
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(reqwest::header::RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(parse_retry_after(&h), Some(Duration::from_secs(7)));
        let future = (chrono::Utc::now() + chrono::Duration::seconds(30)).to_rfc2822();
        h.insert(reqwest::header::RETRY_AFTER, future.parse().unwrap());
        let d = parse_retry_after(&h).unwrap();
        assert!(d > Duration::from_secs(25) && d <= Duration::from_secs(30), "{d:?}");
        h.insert(reqwest::header::RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(parse_retry_after(&h), None);
    }
}
