//! The authorisation server: `POST /auth/token` (OAuth2 client credentials) and the Bearer
//! check every `/api/*` request goes through.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::Simulator;
use super::errors::{ApiError, json_response};
use super::util::{Params, base64_decode, parse_pairs, url_decode};

/// Length of issued tokens (random alphanumerics: opaque, like Halo's).
const TOKEN_LEN: usize = 48;

fn oauth(status: StatusCode, error: &'static str, description: &str) -> ApiError {
    ApiError::OAuth(status, error, Some(description.to_string()))
}

/// Client credentials from an `Authorization: Basic` header (each part form-decoded, as
/// RFC 6749 section 2.3.1 asks clients to encode them).
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = v.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(base64_decode(rest.trim())?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((url_decode(id), url_decode(secret)))
}

/// A scope list is valid when every entry is `all`, `admin` or `read:x` / `edit:x`.
fn valid_scope(scope: &str) -> bool {
    scope.split_whitespace().all(|s| {
        s == "all"
            || s == "admin"
            || s.split_once(':').is_some_and(|(verb, what)| {
                matches!(verb, "read" | "edit") && !what.is_empty() && what.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
            })
    })
}

/// Constant-time-ish comparison, so timing does not hint at the secret.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub(crate) async fn token(
    State(sim): State<Arc<Simulator>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    sim.count_request("POST", "/auth/token", false);
    let faults = sim.faults();
    if faults.token_latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.token_latency_ms)).await;
    }
    if faults.fail_token {
        return json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &json!({"error": "server_error", "error_description": "Simulated token endpoint failure"}),
        );
    }
    match issue(&sim, query.as_deref(), &headers, body) {
        Ok(r) => r,
        Err(e) => {
            let basic = basic_credentials(&headers).is_some();
            let mut r = e.clone().into_response();
            if basic && e.status() == StatusCode::UNAUTHORIZED {
                r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"halo\""));
            }
            r
        }
    }
}

fn issue(sim: &Simulator, query: Option<&str>, headers: &HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<Response, ApiError> {
    let cfg = sim.config();
    let bad_request = |d: &str| oauth(StatusCode::BAD_REQUEST, "invalid_request", d);
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(bad_request("The token request must be form-encoded (application/x-www-form-urlencoded)"));
    }
    let body = body.map_err(|_| bad_request("The request body could not be read"))?;
    let text = std::str::from_utf8(&body).map_err(|_| bad_request("The body is not UTF-8"))?;
    let form = Params::from_pairs(parse_pairs(text));

    if let Some(tenant) = &cfg.tenant {
        let given = Params::parse(query).get("tenant").map(str::to_string);
        if given.as_deref() != Some(tenant.as_str()) {
            return Err(bad_request("Unknown tenant"));
        }
    }
    match form.get("grant_type") {
        None => return Err(bad_request("grant_type is required")),
        Some("client_credentials") => {}
        Some(_) => {
            return Err(ApiError::OAuth(StatusCode::BAD_REQUEST, "unsupported_grant_type", None));
        }
    }
    let (id, secret) = match basic_credentials(headers) {
        Some(c) => c,
        None => (form.get("client_id").unwrap_or("").to_string(), form.get("client_secret").unwrap_or("").to_string()),
    };
    if id.is_empty() {
        return Err(oauth(StatusCode::UNAUTHORIZED, "invalid_client", "Client authentication failed: no client_id"));
    }
    if !(same(&id, &cfg.client_id) && same(&secret, &cfg.client_secret)) {
        return Err(oauth(StatusCode::UNAUTHORIZED, "invalid_client", "Client authentication failed: unknown client or wrong secret"));
    }
    let scope = form.get("scope").map(str::trim).filter(|s| !s.is_empty()).unwrap_or("all");
    if !valid_scope(scope) {
        return Err(oauth(StatusCode::BAD_REQUEST, "invalid_scope", "The requested scope is invalid"));
    }
    let token = sim.issue_token();
    let mut r = json_response(
        StatusCode::OK,
        &json!({
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": cfg.token_lifetime_secs,
            "scope": scope,
        }),
    );
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

impl Simulator {
    pub(crate) fn issue_token(&self) -> String {
        let token: String = std::iter::repeat_with(fastrand::alphanumeric).take(TOKEN_LEN).collect();
        let now = self.clock.instant();
        // A lifetime too large for the clock means "never expires" (about a century).
        let expiry = now
            .checked_add(Duration::from_secs(self.config.token_lifetime_secs))
            .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 86_400)))
            .unwrap_or(now);
        let mut g = self.tokens.write().unwrap_or_else(|e| e.into_inner());
        if g.len() > 1024 {
            g.retain(|_, exp| *exp > now);
        }
        g.insert(token.clone(), expiry);
        token
    }

    /// True when the request carries a known, unexpired, unrevoked Bearer token.
    pub(crate) fn bearer_ok(&self, headers: &HeaderMap) -> bool {
        let Some(v) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
            return false;
        };
        let Some((scheme, token)) = v.trim().split_once(' ') else {
            return false;
        };
        if !scheme.eq_ignore_ascii_case("bearer") {
            return false;
        }
        let g = self.tokens.read().unwrap_or_else(|e| e.into_inner());
        g.get(token.trim()).is_some_and(|exp| *exp > self.clock.instant())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes() {
        assert!(valid_scope("all"));
        assert!(valid_scope("read:tickets edit:tickets"));
        assert!(!valid_scope("everything"));
        assert!(!valid_scope("read:"));
        assert!(!valid_scope("write:tickets"));
    }

    #[test]
    fn basic_header_is_decoded() {
        let mut h = HeaderMap::new();
        // "sim%2Dclient:s%3Acret" -> id "sim-client", secret "s:cret"
        let enc = super::super::util::base64_encode(b"sim%2Dclient:s%3Acret");
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(&format!("Basic {enc}")).unwrap_or(HeaderValue::from_static("")));
        assert_eq!(basic_credentials(&h), Some(("sim-client".into(), "s:cret".into())));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic !!!"));
        assert_eq!(basic_credentials(&h), None);
    }

    #[test]
    fn tokens_expire_and_revoke() {
        let sim = Simulator::new(super::super::SimConfig { token_lifetime_secs: 0, ..super::super::SimConfig::default() });
        let t = sim.issue_token();
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(&format!("Bearer {t}")).unwrap_or(HeaderValue::from_static("")));
        assert!(!sim.bearer_ok(&h), "zero lifetime expires at once");
        let sim = Simulator::new(super::super::SimConfig::default());
        let t = sim.issue_token();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(&format!("bearer {t}")).unwrap_or(HeaderValue::from_static("")));
        assert!(sim.bearer_ok(&h));
        sim.revoke_tokens();
        assert!(!sim.bearer_ok(&h));
        assert!(!sim.bearer_ok(&HeaderMap::new()));
    }
}
