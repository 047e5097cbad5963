//! OAuth2 client-credentials tokens, cached per connection with single-flight refresh.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{AuthType, ClientId, ClientSecret, RequestTokenError, Scope, TokenResponse, TokenUrl};

use super::error::{HaloError, Server, extract_message};
use super::{ConnectionConfig, RetryPolicy};

/// Lifetime assumed when the token response has no `expires_in`.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

#[derive(Clone)]
struct Cached {
    value: Arc<str>,
    refresh_at: Instant,
}

/// The token of one connection. Concurrent callers on a cold or expired cache cause exactly one
/// token request; the others wait for it and share its result (success or failure).
pub struct TokenCache {
    current: RwLock<Option<Cached>>,
    refresh: tokio::sync::Mutex<()>,
    /// The last failed fetch, shared with callers that were already waiting for it.
    last_failure: Mutex<Option<(Instant, HaloError)>>,
    fetches: AtomicU64,
}

impl Default for TokenCache {
    fn default() -> Self {
        Self::new()
    }
}

impl TokenCache {
    pub fn new() -> Self {
        TokenCache {
            current: RwLock::new(None),
            refresh: tokio::sync::Mutex::new(()),
            last_failure: Mutex::new(None),
            fetches: AtomicU64::new(0),
        }
    }

    /// How many token requests this cache has sent.
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    fn valid(&self) -> Option<Arc<str>> {
        let guard = self.current.read().unwrap_or_else(|p| p.into_inner());
        guard.as_ref().filter(|c| Instant::now() < c.refresh_at).map(|c| c.value.clone())
    }

    /// Forget `token` if it is still the current one (HaloITSM rejected it with a 401).
    pub fn invalidate(&self, token: &str) {
        let mut guard = self.current.write().unwrap_or_else(|p| p.into_inner());
        if guard.as_ref().is_some_and(|c| &*c.value == token) {
            *guard = None;
        }
    }

    /// A valid token, fetching one if needed (retried like a read: on 429, 5xx, timeouts and
    /// connection failures).
    pub async fn get(&self, http: &reqwest::Client, cfg: &ConnectionConfig, retry: &RetryPolicy) -> Result<Arc<str>, HaloError> {
        if let Some(t) = self.valid() {
            return Ok(t);
        }
        let waiting_since = Instant::now();
        let _flight = self.refresh.lock().await;
        if let Some(t) = self.valid() {
            return Ok(t);
        }
        if let Some((at, err)) = self.last_failure.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            if *at >= waiting_since {
                return Err(err.clone());
            }
        }
        match self.fetch_with_retries(http, cfg, retry).await {
            Ok((value, lifetime)) => {
                let lifetime = lifetime.min(MAX_LIFETIME);
                let refresh_at = Instant::now() + lifetime.saturating_sub(refresh_margin(lifetime));
                *self.current.write().unwrap_or_else(|p| p.into_inner()) = Some(Cached { value: value.clone(), refresh_at });
                tracing::debug!(lifetime_secs = lifetime.as_secs(), "fetched a HaloITSM access token");
                Ok(value)
            }
            Err(e) => {
                *self.last_failure.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), e.clone()));
                Err(e)
            }
        }
    }
}

impl TokenCache {
    async fn fetch_with_retries(
        &self,
        http: &reqwest::Client,
        cfg: &ConnectionConfig,
        retry: &RetryPolicy,
    ) -> Result<(Arc<str>, Duration), HaloError> {
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.fetches.fetch_add(1, Ordering::Relaxed);
            let err = match fetch(http, cfg).await {
                Ok(t) => return Ok(t),
                Err(e) => e,
            };
            if !err.is_transient() {
                return Err(err);
            }
            let retry_after = match &err {
                HaloError::RateLimited { retry_after } => *retry_after,
                _ => None,
            };
            let Some(delay) = retry.next_delay(attempt, started, retry_after) else { return Err(err) };
            tracing::warn!(
                "Token request failed ({err}); retrying in {} ms (attempt {} of {})",
                delay.as_millis(),
                attempt + 1,
                retry.max_attempts
            );
            tokio::time::sleep(delay).await;
        }
    }
}

/// Longest token lifetime trusted (a bogus `expires_in` must not overflow the clock).
const MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// Refresh a little before expiry: 60 s, or a tenth of a short lifetime.
fn refresh_margin(lifetime: Duration) -> Duration {
    (lifetime / 10).min(Duration::from_secs(60))
}

/// What the token endpoint answered, captured by the HTTP function handed to `oauth2`.
#[derive(Default)]
struct Seen {
    status: u16,
    body: Vec<u8>,
    retry_after: Option<Duration>,
}

async fn fetch(http: &reqwest::Client, cfg: &ConnectionConfig) -> Result<(Arc<str>, Duration), HaloError> {
    let token_url = cfg.token_url();
    let client = BasicClient::new(ClientId::new(cfg.client_id.clone()))
        .set_client_secret(ClientSecret::new(cfg.client_secret.expose().to_string()))
        .set_auth_type(AuthType::RequestBody)
        .set_token_uri(
            TokenUrl::new(token_url.clone())
                .map_err(|e| HaloError::InvalidConfig { field: "authorization_server".into(), reason: e.to_string() })?,
        );

    let seen = Arc::new(Mutex::new(Seen::default()));
    let transport_error: Arc<Mutex<Option<HaloError>>> = Arc::default();
    let timeout_secs = cfg.timeout_seconds;
    let send = {
        let seen = seen.clone();
        let transport_error = transport_error.clone();
        let url_for_errors = cfg.authorization_server.clone();
        move |req: oauth2::HttpRequest| {
            let http = http.clone();
            let seen = seen.clone();
            let transport_error = transport_error.clone();
            let url_for_errors = url_for_errors.clone();
            async move {
                let result = execute(&http, req).await;
                match result {
                    Ok(resp) => {
                        let mut s = seen.lock().unwrap_or_else(|p| p.into_inner());
                        s.status = resp.status().as_u16();
                        s.retry_after = super::parse_retry_after(resp.headers());
                        s.body = resp.body().clone();
                        Ok(resp)
                    }
                    Err(e) => {
                        let mapped = HaloError::from_reqwest(&e, Server::Auth, &url_for_errors, timeout_secs, false);
                        *transport_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(mapped);
                        Err(e)
                    }
                }
            }
        }
    };

    let scopes = cfg.scope.split_whitespace().map(|s| Scope::new(s.to_string()));
    let result = client.exchange_client_credentials().add_scopes(scopes).request_async(&send).await;
    match result {
        Ok(token) => {
            let lifetime = token.expires_in().filter(|d| !d.is_zero()).unwrap_or(DEFAULT_LIFETIME);
            Ok((Arc::from(token.access_token().secret().as_str()), lifetime))
        }
        Err(err) => {
            if let Some(e) = transport_error.lock().unwrap_or_else(|p| p.into_inner()).take() {
                return Err(e);
            }
            let seen = seen.lock().unwrap_or_else(|p| p.into_inner());
            let status = seen.status;
            // An endpoint that echoes the form would show the secret: never pass it on.
            let secrets = super::redact::connection_secrets(cfg);
            let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
            let message = extract_message(&seen.body);
            let failure = match err {
                _ if status == 429 => HaloError::RateLimited { retry_after: seen.retry_after },
                _ if status >= 500 => HaloError::ServerError { status, message, write: false },
                _ if (300..400).contains(&status) => HaloError::Redirected { status, location: "another address".into() },
                RequestTokenError::ServerResponse(resp) => match resp.error() {
                    BasicErrorResponseType::InvalidClient | BasicErrorResponseType::UnauthorizedClient => {
                        HaloError::InvalidCredentials { code: resp.error().to_string(), description: resp.error_description().cloned() }
                    }
                    BasicErrorResponseType::InvalidScope => {
                        HaloError::InvalidScope { scope: cfg.scope.clone(), description: resp.error_description().cloned() }
                    }
                    _ => HaloError::TokenRejected { status, message, tenant_set: cfg.tenant.is_some() },
                },
                _ if status == 404 => HaloError::NoTokenEndpoint { url: cfg.authorization_server.clone() },
                _ if status == 200 => HaloError::Unexpected { status, message: "the token response has no usable access_token".into() },
                _ => HaloError::TokenRejected { status, message, tenant_set: cfg.tenant.is_some() },
            };
            Err(failure.redacted(&refs))
        }
    }
}

/// Send an `oauth2` request with our reqwest client (its TLS settings and timeout apply).
async fn execute(http: &reqwest::Client, req: oauth2::HttpRequest) -> Result<oauth2::HttpResponse, reqwest::Error> {
    let (parts, body) = req.into_parts();
    let resp = http.request(parts.method, parts.uri.to_string()).headers(parts.headers).body(body).send().await?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await?;
    let mut out = oauth2::http::Response::new(bytes.to_vec());
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    Ok(out)
}
