//! The HaloITSM client: one per distinct connection, holding one HTTP connection pool and one
//! token cache. Its one request path (sending, retries, answers) is `transport`; the typed
//! operations built on it are in the modules below.

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
pub use transport::RetryPolicy;
use transport::{json_bytes, parse_retry_after};
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
mod transport;
pub mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
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
}
