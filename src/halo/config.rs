//! The plugin connection, as the HaloITSM client needs it.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::HaloError;

/// A secret string whose `Debug` output never shows the value.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(********)")
    }
}

/// `credential_secret_key` as the orchestrator sends it.
#[derive(Deserialize)]
struct SecretKey {
    #[serde(rename = "secretKey")]
    secret_key: String,
}

fn de_secret_key<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
    Ok(Secret(SecretKey::deserialize(d)?.secret_key))
}

fn de_optional_secret_key<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Secret>, D::Error> {
    Ok(Option::<SecretKey>::deserialize(d)?.map(|k| Secret(k.secret_key)).filter(|s| !s.0.is_empty()))
}

fn default_scope() -> String {
    "all".into()
}
fn default_true() -> bool {
    true
}
fn default_timeout() -> u64 {
    30
}
/// HaloITSM's built-in Closed status (docs/halo-api.md#S4).
pub const BUILT_IN_CLOSED_STATUS: i64 = 9;
fn default_closed_status() -> i64 {
    BUILT_IN_CLOSED_STATUS
}

/// The connection fields (see `connection:` in plugin.spec.yaml). Validated against the spec
/// before it is deserialized here; [`ConnectionConfig::from_value`] adds the semantic checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionConfig {
    pub client_id: String,
    #[serde(deserialize_with = "de_secret_key")]
    pub client_secret: Secret,
    pub authorization_server: String,
    pub resource_server: String,
    #[serde(default)]
    pub tenant: Option<String>,
    #[serde(default = "default_scope")]
    pub scope: String,
    #[serde(default = "default_true")]
    pub ssl_verify: bool,
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    #[serde(default)]
    pub portal_url: Option<String>,
    /// The status every closing step sets (close_ticket, send_findings, Rapid7 closing states).
    #[serde(default = "default_closed_status")]
    pub closed_status_id: i64,
    /// Custom field holding a ticket's Rapid7 reference.
    #[serde(default)]
    pub reference_field_id: Option<i64>,
    /// Replacement tables of the Rapid7 status mapping (see `crate::sync`).
    #[serde(default)]
    pub status_mapping: Option<Value>,
    #[serde(default)]
    pub default_ticket_type_id: Option<i64>,
    #[serde(default)]
    pub default_priority_id: Option<i64>,
    #[serde(default)]
    pub default_team_id: Option<i64>,
    #[serde(default)]
    pub default_agent_id: Option<i64>,
    #[serde(default)]
    pub default_category_id: Option<i64>,
    /// What HaloITSM's outbound webhooks send with Basic authentication (the triggers' listener).
    #[serde(default)]
    pub webhook_credentials: Option<WebhookCredentials>,
    /// The token or API key HaloITSM's outbound webhooks send.
    #[serde(default, deserialize_with = "de_optional_secret_key")]
    pub webhook_secret: Option<Secret>,
    /// The header an API key arrives in.
    #[serde(default)]
    pub webhook_api_key_header: Option<String>,
    /// The API application's limit when known: this many requests per `rate_limit_window_seconds`.
    #[serde(default)]
    pub rate_limit_requests: Option<i64>,
    #[serde(default = "default_rate_window")]
    pub rate_limit_window_seconds: u64,
}

/// HaloITSM's documented window is a rolling five minutes (docs/halo-api.md#R2).
fn default_rate_window() -> u64 {
    300
}

/// `credential_username_password` as the orchestrator sends it.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WebhookCredentials {
    pub username: String,
    pub password: Secret,
}

impl fmt::Debug for WebhookCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookCredentials").field("username", &self.username).field("password", &self.password).finish()
    }
}

impl ConnectionConfig {
    /// Deserialize a spec-validated connection and check what the spec cannot express:
    /// the URLs are http(s) URLs, the timeout is in range. URLs are normalised (no trailing
    /// slash; an authorisation server given with `/token` at the end is accepted).
    pub fn from_value(v: &Value) -> Result<Self, HaloError> {
        let mut cfg: ConnectionConfig = serde_json::from_value(v.clone())
            .map_err(|e| HaloError::InvalidConfig { field: "connection".into(), reason: e.to_string() })?;
        cfg.authorization_server = normalise_url("authorization_server", &cfg.authorization_server)?;
        if let Some(stripped) = cfg.authorization_server.strip_suffix("/token") {
            cfg.authorization_server = stripped.to_string();
        }
        cfg.resource_server = normalise_url("resource_server", &cfg.resource_server)?;
        if let Some(p) = &cfg.portal_url {
            cfg.portal_url = Some(normalise_url("portal_url", p)?);
        }
        cfg.tenant = cfg.tenant.map(|t| t.trim().to_string()).filter(|t| !t.is_empty());
        if cfg.scope.trim().is_empty() {
            cfg.scope = default_scope();
        }
        if cfg.closed_status_id <= 0 {
            return Err(HaloError::InvalidConfig {
                field: "closed_status_id".into(),
                reason: format!("must be a positive HaloITSM status ID, got {}", cfg.closed_status_id),
            });
        }
        if let Some(id) = cfg.reference_field_id.filter(|id| *id <= 0) {
            return Err(HaloError::InvalidConfig {
                field: "reference_field_id".into(),
                reason: format!("must be the positive ID of a HaloITSM custom field, got {id}"),
            });
        }
        // Both parts empty is how an unset credential can arrive: not set.
        cfg.webhook_credentials = cfg.webhook_credentials.filter(|c| !(c.username.trim().is_empty() && c.password.expose().is_empty()));
        if cfg.webhook_credentials.as_ref().is_some_and(|c| c.username.trim().is_empty() || c.password.expose().is_empty()) {
            return Err(HaloError::InvalidConfig {
                field: "webhook_credentials".into(),
                reason: "has an empty user name or password; give both (the same as in HaloITSM's webhook), or neither".into(),
            });
        }
        cfg.webhook_api_key_header = cfg.webhook_api_key_header.map(|h| h.trim().to_string()).filter(|h| !h.is_empty());
        if let Some(h) = &cfg.webhook_api_key_header
            && reqwest::header::HeaderName::from_bytes(h.as_bytes()).is_err()
        {
            return Err(HaloError::InvalidConfig {
                field: "webhook_api_key_header".into(),
                reason: format!("`{h}` is not an HTTP header name; use one such as X-API-Key"),
            });
        }
        // 0 is how an unset number can arrive: not set.
        cfg.rate_limit_requests = cfg.rate_limit_requests.filter(|n| *n != 0);
        if let Some(n) = cfg.rate_limit_requests.filter(|n| !(1..=1_000_000).contains(n)) {
            return Err(HaloError::InvalidConfig {
                field: "rate_limit_requests".into(),
                reason: format!("must be a number of requests from 1 to 1000000 (or empty, to learn the limit), got {n}"),
            });
        }
        if !(1..=3600).contains(&cfg.rate_limit_window_seconds) {
            return Err(HaloError::InvalidConfig {
                field: "rate_limit_window_seconds".into(),
                reason: format!("must be between 1 and 3600 seconds, got {}", cfg.rate_limit_window_seconds),
            });
        }
        if !(1..=300).contains(&cfg.timeout_seconds) {
            return Err(HaloError::InvalidConfig {
                field: "timeout_seconds".into(),
                reason: format!("must be between 1 and 300 seconds, got {}", cfg.timeout_seconds),
            });
        }
        Ok(cfg)
    }

    /// The token endpoint, with `?tenant=` when a tenant is set.
    pub fn token_url(&self) -> String {
        let base = format!("{}/token", self.authorization_server);
        match &self.tenant {
            Some(t) => {
                let mut url = reqwest::Url::parse(&base).expect("authorization_server was validated as a URL");
                url.query_pairs_mut().append_pair("tenant", t);
                url.to_string()
            }
            None => base,
        }
    }

    /// Where analysts open tickets: the portal URL, or the resource server without `/api`.
    pub fn portal_base(&self) -> String {
        if let Some(p) = &self.portal_url {
            return p.clone();
        }
        let rs = &self.resource_server;
        rs.strip_suffix("/api").unwrap_or(rs).to_string()
    }

    /// The configured rate limit, if any.
    pub fn rate_limit(&self) -> Option<super::RateLimit> {
        self.rate_limit_requests.map(|requests| super::RateLimit {
            requests: requests.clamp(1, u32::MAX.into()) as u32,
            window: std::time::Duration::from_secs(self.rate_limit_window_seconds),
        })
    }

    /// Which API application this is: HaloITSM limits requests per application, so every
    /// connection with the same one shares one budget. Never logged.
    pub fn application_key(&self) -> String {
        format!(
            "{}\u{0}{}\u{0}{}\u{0}{}",
            self.authorization_server,
            self.resource_server,
            self.tenant.as_deref().unwrap_or(""),
            self.client_id
        )
    }

    /// Which HaloITSM this is (every API application of it shares its ticket numbering).
    pub fn tenant_key(&self) -> String {
        format!("{}\u{0}{}", self.resource_server, self.tenant.as_deref().unwrap_or(""))
    }

    /// A stable identity of this connection (secret included) for the client cache. Never logged.
    /// Webhook settings are left out: the client does not use them.
    pub fn cache_key(&self) -> String {
        let client_part =
            ConnectionConfig { webhook_credentials: None, webhook_secret: None, webhook_api_key_header: None, ..self.clone() };
        serde_json::to_string(&client_part).unwrap_or_default()
    }
}

fn normalise_url(field: &str, raw: &str) -> Result<String, HaloError> {
    let trimmed = raw.trim().trim_end_matches('/');
    let bad = |reason: String| HaloError::InvalidConfig { field: field.into(), reason };
    // A value with an `@` may carry a password: describe it without echoing it.
    let shown = if trimmed.contains('@') { "the value".to_string() } else { format!("`{trimmed}`") };
    let url = reqwest::Url::parse(trimmed)
        .map_err(|e| bad(format!("{shown} is not a URL ({e}); expected e.g. https://example.haloitsm.com/api")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(bad(format!("{shown} must be an http or https URL with a host")));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not contain a user name or password; put the credentials in Client ID and Client Secret".into()));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad(format!("{shown} must not contain a query string or fragment")));
    }
    Ok(trimmed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn base() -> Value {
        json!({"client_id": "id", "client_secret": {"secretKey": "s3cret"},
               "authorization_server": "https://halo.example.com/auth/", "resource_server": "https://halo.example.com/api"})
    }

    #[test]
    fn parses_with_defaults_and_normalises() {
        let c = ConnectionConfig::from_value(&base()).unwrap();
        assert_eq!(c.authorization_server, "https://halo.example.com/auth");
        assert_eq!(c.scope, "all");
        assert!(c.ssl_verify);
        assert_eq!(c.timeout_seconds, 30);
        assert_eq!(c.closed_status_id, 9, "HaloITSM's built-in Closed");
        assert_eq!(c.token_url(), "https://halo.example.com/auth/token");
        assert_eq!(c.portal_base(), "https://halo.example.com");
        assert!(!format!("{c:?}").contains("s3cret"));
    }

    #[test]
    fn tenant_goes_on_the_token_url_and_token_suffix_is_accepted() {
        let mut v = base();
        v["tenant"] = json!("acme corp");
        v["authorization_server"] = json!("https://auth.haloservicedesk.com/token");
        let c = ConnectionConfig::from_value(&v).unwrap();
        assert_eq!(c.token_url(), "https://auth.haloservicedesk.com/token?tenant=acme+corp");
    }

    #[test]
    fn rejects_bad_urls_and_timeouts_naming_the_field() {
        let mut v = base();
        v["resource_server"] = json!("halo.example.com/api");
        assert!(matches!(ConnectionConfig::from_value(&v), Err(HaloError::InvalidConfig { field, .. }) if field == "resource_server"));
        let mut v = base();
        v["authorization_server"] = json!("ftp://x/auth");
        assert!(matches!(ConnectionConfig::from_value(&v), Err(HaloError::InvalidConfig { field, .. }) if field == "authorization_server"));
        let mut v = base();
        v["authorization_server"] = json!("https://admin:P4ssw0rd@halo.example.com/auth");
        let err = ConnectionConfig::from_value(&v).unwrap_err().to_string();
        assert!(err.contains("user name or password") && !err.contains("P4ssw0rd"), "{err}");
        let mut v = base();
        v["resource_server"] = json!("https://halo.example.com/api#frag");
        assert!(ConnectionConfig::from_value(&v).is_err());
        let mut v = base();
        v["closed_status_id"] = json!(0);
        assert!(matches!(ConnectionConfig::from_value(&v), Err(HaloError::InvalidConfig { field, .. }) if field == "closed_status_id"));
        let mut v = base();
        v["timeout_seconds"] = json!(0);
        assert!(matches!(ConnectionConfig::from_value(&v), Err(HaloError::InvalidConfig { field, .. }) if field == "timeout_seconds"));
    }

    #[test]
    fn cache_key_changes_with_the_secret() {
        let a = ConnectionConfig::from_value(&base()).unwrap();
        let mut v = base();
        v["client_secret"] = json!({"secretKey": "other"});
        let b = ConnectionConfig::from_value(&v).unwrap();
        assert_ne!(a.cache_key(), b.cache_key());
    }
}
