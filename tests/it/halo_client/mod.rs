//! The HaloITSM client against exact HTTP expectations (wiremock): the token request, token
//! reuse and single-flight refresh, 401 handling, the retry policy per method, error mapping.

use crate::common;
use icon_haloitsm::protocol::PluginError;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use icon_haloitsm::halo::{ConnectionConfig, HaloClient, HaloError, RetryPolicy};
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Match, Mock, MockServer, Request, Respond, ResponseTemplate};

use common::ticket_list_probe;

mod errors;
mod retries;
mod tokens;

const SECRET: &str = "very-secret-value-123";

fn config(server: &MockServer, extra: Value) -> ConnectionConfig {
    let mut v = json!({
        "client_id": "cid",
        "client_secret": {"secretKey": SECRET},
        "authorization_server": format!("{}/auth", server.uri()),
        "resource_server": format!("{}/api", server.uri()),
        "timeout_seconds": 2,
    });
    for (k, val) in extra.as_object().unwrap() {
        v[k] = val.clone();
    }
    ConnectionConfig::from_value(&v).unwrap()
}

fn fast() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        max_elapsed: Duration::from_secs(20),
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_secs(3),
    }
}

fn client(server: &MockServer, extra: Value) -> HaloClient {
    HaloClient::new(config(server, extra)).unwrap().with_retry_policy(fast())
}

/// Matches a form-encoded body with exactly these fields.
struct FormIs(HashMap<String, String>);

impl Match for FormIs {
    fn matches(&self, req: &Request) -> bool {
        let got: HashMap<String, String> = url::form_urlencoded::parse(&req.body).into_owned().collect();
        got == self.0
    }
}

fn form(pairs: &[(&str, &str)]) -> FormIs {
    FormIs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
}

fn token_body(token: &str) -> Value {
    json!({"access_token": token, "token_type": "Bearer", "expires_in": 3600})
}

async fn mount_token(server: &MockServer, expect: u64) {
    Mock::given(method("POST"))
        .and(path("/auth/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body("tok-1")))
        .expect(expect)
        .mount(server)
        .await;
}
