//! What integrations in production met on live HaloITSM tenants (docs/halo-api.md L11, L12, Q6,
//! T15, T16, A11, A12, A13, P3, F6, AU7): the exact requests the client sends where a tenant may
//! answer either way (wiremock), and the workflows on the simulator's live-tenant profile.

use crate::common;

mod flows;
mod requests;

use common::*;
use serde_json::{Value, json};

/// A plugin server in front of a mocked HaloITSM that hands out a token.
async fn mocked() -> (wiremock::MockServer, PluginServer, Value) {
    let halo = halo_with_token().await;
    let conn = connection(&halo.uri());
    (halo, PluginServer::start().await, conn)
}

/// The requests `server` received, as `METHOD /path?query`, token requests left out.
async fn requests(server: &wiremock::MockServer) -> Vec<String> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path() != "/auth/token")
        .map(|r| match r.url.query() {
            Some(q) => format!("{} {}?{}", r.method, r.url.path(), urlencoding_decode(q)),
            None => format!("{} {}", r.method, r.url.path()),
        })
        .collect()
}

fn urlencoding_decode(q: &str) -> String {
    url::form_urlencoded::parse(q.as_bytes()).map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}
