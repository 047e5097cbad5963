//! The one request path to HaloITSM: every API call is sent, retried and answered here. Requests
//! retry only when that is safe: reads on 429, 5xx, timeouts and connection failures; writes only
//! when HaloITSM cannot have applied them (429, or the connection was never established), because
//! HaloITSM's POST is an upsert and a blind retry can create a duplicate ticket. Answers are read
//! within bounds (`download`) and every error built from one is redacted (`HaloError::redacted`).

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::download::{self, Answer, Expect};
use super::{Backoff, HaloClient, HaloError, Server, budget, extract_message, redact};

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

impl HaloClient {
    /// `request` with the body already serialized: what is sent (and resent) is these bytes, so
    /// the caller need not keep the value it was made of.
    pub(super) async fn send(
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

    pub(super) fn transport_error(&self, e: &reqwest::Error, write: bool) -> HaloError {
        HaloError::from_reqwest(e, Server::Api, &self.cfg.resource_server, self.cfg.timeout_seconds, write)
    }
}

/// A request body as JSON bytes.
pub(super) fn json_bytes(body: &Value) -> Result<bytes::Bytes, HaloError> {
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
/// "Tickets/42" → "Ticket 42"; "Agent/3" → "Agent 3"; anything else → "the API path /x".
pub(super) fn describe_path(path: &str) -> String {
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
pub(super) fn parse_retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
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
