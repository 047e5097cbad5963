//! A mocked HaloITSM (wiremock): its token endpoint, the matchers and answers the tests describe
//! its API with, what it received, and servers that echo what they were sent.

use serde_json::{Value, json};
use wiremock::matchers::{any, header, method, path};
use wiremock::{Match, Mock, MockBuilder, MockServer, Request, Respond, ResponseTemplate};

use super::connection;

/// HaloITSM's answer to a token request: `token`, for an hour.
pub fn token_body(token: &str) -> Value {
    json!({"access_token": token, "token_type": "Bearer", "expires_in": 3600})
}

/// HaloITSM's token endpoint, `POST /auth/token`, handing out `token`.
pub fn token_mock(token: &str) -> Mock {
    Mock::given(method("POST")).and(path("/auth/token")).respond_with(ok_json(token_body(token)))
}

/// A mocked HaloITSM whose token endpoint hands out the token `tok`.
pub async fn halo_with_token() -> MockServer {
    let server = MockServer::start().await;
    token_mock("tok").mount(&server).await;
    server
}

/// A mocked HaloITSM for tests that describe every request: the token endpoint hands out `tok`,
/// and any request no mock describes is answered 418 with the request echoed ([`Unexpected`])
/// and fails verification.
pub async fn strict_halo() -> MockServer {
    let server = MockServer::start().await;
    token_mock("tok").named("token").mount(&server).await;
    Mock::given(any())
        .respond_with(Unexpected)
        .with_priority(u8::MAX)
        .expect(0)
        .named("a request no mock of the test describes")
        .mount(&server)
        .await;
    server
}

/// The answer to any request no test mock describes: 418 with the request echoed, so the
/// plugin's error (printed by the failing assertion) shows what was sent.
pub struct Unexpected;

impl Respond for Unexpected {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        ResponseTemplate::new(418).set_body_string(format!(
            "unexpected request {} {} {}",
            request.method,
            request.url,
            String::from_utf8_lossy(&request.body)
        ))
    }
}

/// The query string, as a multiset of decoded pairs, is exactly this (no more, no less).
pub struct QueryIs(Vec<(String, String)>);

impl QueryIs {
    pub fn new(pairs: &[(&str, &str)]) -> Self {
        Self::owned(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    pub fn owned(mut pairs: Vec<(String, String)>) -> Self {
        pairs.sort();
        QueryIs(pairs)
    }
}

impl Match for QueryIs {
    fn matches(&self, request: &Request) -> bool {
        let mut got: Vec<(String, String)> = request.url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        got.sort();
        got == self.0
    }
}

pub fn query_is(pairs: &[(&str, &str)]) -> QueryIs {
    QueryIs::new(pairs)
}

pub fn no_query() -> QueryIs {
    QueryIs(Vec::new())
}

/// An authenticated API request (the token `tok`) to this method and path.
pub fn api(m: &str, p: &str) -> MockBuilder {
    Mock::given(method(m)).and(path(p.to_string())).and(header("authorization", "Bearer tok"))
}

pub fn ok_json(v: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(v)
}

/// The API requests `server` received, in order, as "METHOD /path?query" with the query as sent
/// (token requests left out).
pub async fn api_requests(server: &MockServer) -> Vec<String> {
    let line = |r: &Request| match r.url.query() {
        Some(q) => format!("{} {}?{q}", r.method, r.url.path()),
        None => format!("{} {}", r.method, r.url.path()),
    };
    server.received_requests().await.unwrap_or_default().iter().filter(|r| r.url.path() != "/auth/token").map(line).collect()
}

/// The API requests `server` received, in order, as "METHOD /path?k=v&k=v" with the query
/// decoded (token requests left out).
pub async fn api_requests_decoded(server: &MockServer) -> Vec<String> {
    let line = |r: &Request| {
        let q: Vec<String> = r.url.query_pairs().map(|(k, v)| format!("{k}={v}")).collect();
        if q.is_empty() { format!("{} {}", r.method, r.url.path()) } else { format!("{} {}?{}", r.method, r.url.path(), q.join("&")) }
    };
    server.received_requests().await.unwrap_or_default().iter().filter(|r| r.url.path() != "/auth/token").map(line).collect()
}

/// Check every mock's expectation now (wiremock also does on drop), listing what HaloITSM
/// received when one fails.
pub async fn verify_listing(server: &MockServer) {
    for r in server.received_requests().await.unwrap_or_default() {
        eprintln!("HaloITSM received: {} {} {}", r.method, r.url, String::from_utf8_lossy(&r.body));
    }
    server.verify().await;
}

/// The JSON bodies `server` received as `POST path`, in order.
pub async fn posted_to(server: &MockServer, path: &str) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.method.as_str() == "POST" && r.url.path() == path)
        .map(|r| serde_json::from_slice(&r.body).unwrap_or_default())
        .collect()
}

/// The reads a connection test makes beyond the ticket list (docs/halo-api.md#AU7): the agent the
/// API application acts as, and the teams.
pub async fn mount_agent_and_teams(server: &MockServer) {
    Mock::given(method("GET")).and(path("/api/Agent/me")).respond_with(ok_json(json!({"id": 1, "name": "API Agent"}))).mount(server).await;
    Mock::given(method("GET")).and(path("/api/Team")).respond_with(ok_json(json!([{"id": 1, "name": "Service Desk"}]))).mount(server).await;
}

/// HaloITSM's ticket list answering the one probe the client sends after its first 404
/// (`GET /Tickets?count=1&ticketidonly=true`), proving the Resource Server is the API: once per
/// client, so a test expects it exactly once.
pub fn ticket_list_probe() -> Mock {
    use wiremock::matchers::query_param;
    Mock::given(method("GET"))
        .and(path("/api/Tickets"))
        .and(query_param("count", "1"))
        .and(query_param("ticketidonly", "true"))
        .respond_with(ok_json(json!({"record_count": 1, "tickets": [{"id": 1}]})))
        .named("the ticket-list probe after a 404")
        .expect(1)
}

// ----- an upstream that echoes requests -----------------------------------------------------------

/// A secret with characters that every encoding changes: form-encoding, JSON, base64 in Basic.
pub const ODD_SECRET: &str = "s3cr&t/p@ss w+rd=\"x\"";
pub const ECHOED_TOKEN: &str = "tok-echoed-6b1f9a2c";

/// Answers `status` with the whole request (method, path, every header, the body) in the body, as
/// a misbehaving server or proxy in front of HaloITSM might.
pub struct Echo(pub u16);

impl Respond for Echo {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let headers: Vec<String> = req.headers.iter().map(|(k, v)| format!("{k}: {}", v.to_str().unwrap_or(""))).collect();
        let text = format!("{} {} | {} | {}", req.method, req.url, headers.join(" | "), String::from_utf8_lossy(&req.body));
        ResponseTemplate::new(self.0).set_body_json(json!({"error": "invalid_client", "error_description": text, "Message": text}))
    }
}

/// Every form the odd secret or the token could take in text, none of which may be printed.
pub fn leaked(text: &str) -> Vec<String> {
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let encoded: String = url::form_urlencoded::byte_serialize(ODD_SECRET.as_bytes()).collect();
    let json_escaped = serde_json::to_string(ODD_SECRET).unwrap().trim_matches('"').to_string();
    [
        ODD_SECRET.to_string(),
        encoded.clone(),
        json_escaped,
        b64(&format!("cid:{ODD_SECRET}")),
        b64(&format!("cid:{encoded}")),
        ECHOED_TOKEN.into(),
    ]
    .into_iter()
    .filter(|f| text.contains(f.as_str()))
    .collect()
}

/// A HaloITSM whose token endpoint echoes the token request (the secret in its form body).
pub async fn echoing_token_endpoint() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST")).and(path("/auth/token")).respond_with(Echo(401)).mount(&server).await;
    server
}

/// A HaloITSM that hands out a token and then echoes every API request (the token in its
/// Authorization header) in a 500.
pub async fn echoing_api() -> MockServer {
    let server = MockServer::start().await;
    token_mock(ECHOED_TOKEN).mount(&server).await;
    Mock::given(wiremock::matchers::path_regex("^/api/")).respond_with(Echo(500)).mount(&server).await;
    server
}

pub fn odd_connection(base: &str) -> Value {
    let mut c = connection(base);
    c["client_secret"] = json!({"secretKey": ODD_SECRET});
    c
}
