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

/// Hands out tok-1, tok-2, ... on successive token requests.
struct CountingTokens(AtomicUsize);

impl Respond for CountingTokens {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
        ResponseTemplate::new(200).set_body_json(token_body(&format!("tok-{n}")))
    }
}

/// Answers with the given statuses in order, then 200 with `body`.
struct Sequence {
    statuses: Vec<u16>,
    calls: AtomicUsize,
    body: Value,
}

impl Respond for Sequence {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        match self.statuses.get(n) {
            Some(429) => ResponseTemplate::new(429).insert_header("Retry-After", "0").set_body_json(json!({"Message": "slow down"})),
            Some(s) => ResponseTemplate::new(*s).set_body_json(json!({"Message": format!("status {s}")})),
            None => ResponseTemplate::new(200).set_body_json(self.body.clone()),
        }
    }
}

fn seq(statuses: &[u16], body: Value) -> Sequence {
    Sequence { statuses: statuses.to_vec(), calls: AtomicUsize::new(0), body }
}

#[tokio::test]
async fn token_request_is_exactly_the_client_credentials_form() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/auth/token"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(form(&[("grant_type", "client_credentials"), ("client_id", "cid"), ("client_secret", SECRET), ("scope", "all")]))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body("tok-1")))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server, json!({}));
    assert_eq!(&*c.token().await.unwrap(), "tok-1");
}

#[tokio::test]
async fn tenant_goes_in_the_query_and_scopes_are_space_separated() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/auth/token"))
        .and(query_param("tenant", "acme"))
        .and(form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "cid"),
            ("client_secret", SECRET),
            ("scope", "read:tickets edit:tickets"),
        ]))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body("tok-1")))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server, json!({"tenant": "acme", "scope": "read:tickets edit:tickets"}));
    c.token().await.unwrap();
}

#[tokio::test]
async fn token_is_reused_and_sent_as_bearer() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("GET"))
        .and(path("/api/Tickets/5"))
        .and(header("authorization", "Bearer tok-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 5})))
        .expect(3)
        .mount(&server)
        .await;
    let c = client(&server, json!({}));
    for _ in 0..3 {
        assert_eq!(c.get_ticket(5, false).await.unwrap().unwrap()["id"], 5);
    }
    assert_eq!(c.token_requests(), 1);
}

#[tokio::test]
async fn a_hundred_concurrent_callers_on_a_cold_cache_cause_one_token_request() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/auth/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body("tok-1")).set_delay(Duration::from_millis(200)))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/Tickets/1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 1})))
        .expect(100)
        .mount(&server)
        .await;
    let c = Arc::new(client(&server, json!({})));
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.get_ticket(1, false).await })
        })
        .collect();
    for t in tasks {
        assert!(t.await.unwrap().unwrap().is_some());
    }
    assert_eq!(c.token_requests(), 1);
}

#[tokio::test]
async fn concurrent_callers_share_a_failed_token_fetch() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/auth/token"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"error": "invalid_client"})).set_delay(Duration::from_millis(100)))
        .expect(1)
        .mount(&server)
        .await;
    let c = Arc::new(client(&server, json!({})));
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.token().await })
        })
        .collect();
    for t in tasks {
        assert!(matches!(t.await.unwrap(), Err(HaloError::InvalidCredentials { .. })));
    }
}

#[tokio::test]
async fn a_401_refreshes_the_token_and_retries_once() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).and(path("/auth/token")).respond_with(CountingTokens(AtomicUsize::new(0))).expect(2).mount(&server).await;
    Mock::given(method("GET"))
        .and(path("/api/Tickets/9"))
        .and(header("authorization", "Bearer tok-1"))
        .respond_with(ResponseTemplate::new(401))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/Tickets/9"))
        .and(header("authorization", "Bearer tok-2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 9})))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server, json!({}));
    assert_eq!(c.get_ticket(9, false).await.unwrap().unwrap()["id"], 9);
    assert_eq!(c.token_requests(), 2);
}

#[tokio::test]
async fn a_second_401_is_reported_not_looped() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).and(path("/auth/token")).respond_with(CountingTokens(AtomicUsize::new(0))).expect(2).mount(&server).await;
    Mock::given(method("GET")).and(path("/api/Tickets/9")).respond_with(ResponseTemplate::new(401)).expect(2).mount(&server).await;
    let c = client(&server, json!({}));
    assert!(matches!(c.get_ticket(9, false).await, Err(HaloError::Unauthorized { .. })));
}

#[tokio::test]
async fn reads_retry_on_5xx_and_429() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("GET"))
        .and(path("/api/Tickets/3"))
        .respond_with(seq(&[503, 429, 500], json!({"id": 3})))
        .expect(4)
        .mount(&server)
        .await;
    let c = client(&server, json!({}));
    assert_eq!(c.get_ticket(3, false).await.unwrap().unwrap()["id"], 3);
}

#[tokio::test]
async fn reads_give_up_after_the_attempt_limit() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("GET")).and(path("/api/Tickets/3")).respond_with(ResponseTemplate::new(502)).expect(4).mount(&server).await;
    let c = client(&server, json!({}));
    assert!(matches!(c.get_ticket(3, false).await, Err(HaloError::ServerError { status: 502, write: false, .. })));
}

#[tokio::test]
async fn writes_are_never_retried_after_a_5xx() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("POST"))
        .and(path("/api/Tickets"))
        .respond_with(ResponseTemplate::new(500).set_body_json(json!({"Message": "boom"})))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server, json!({}));
    let err = c.post("Tickets", &[], &json!([{"summary": "x"}])).await.unwrap_err();
    assert!(matches!(&err, HaloError::ServerError { status: 500, write: true, .. }), "{err:?}");
    assert!(err.outcome_uncertain());
}

#[tokio::test]
async fn writes_are_retried_after_a_429() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("POST")).and(path("/api/Tickets")).respond_with(seq(&[429], json!({"id": 77}))).expect(2).mount(&server).await;
    let c = client(&server, json!({}));
    assert_eq!(c.post("Tickets", &[], &json!([{"summary": "x"}])).await.unwrap()["id"], 77);
}

#[tokio::test]
async fn writes_are_never_retried_after_a_read_timeout() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("POST"))
        .and(path("/api/Tickets"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 1})).set_delay(Duration::from_secs(4)))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server, json!({"timeout_seconds": 1}));
    let err = c.post("Tickets", &[], &json!([{"summary": "x"}])).await.unwrap_err();
    assert!(matches!(err, HaloError::Timeout { write: true, .. }), "{err:?}");
}

#[tokio::test]
async fn reads_are_retried_after_a_timeout() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("GET"))
        .and(path("/api/Tickets/1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 1})).set_delay(Duration::from_secs(3)))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/Tickets/1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 1})))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server, json!({"timeout_seconds": 1}));
    assert!(c.get_ticket(1, false).await.unwrap().is_some());
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("GET"))
        .and(path("/api/Tickets/1"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/Tickets/1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 1})))
        .mount(&server)
        .await;
    let c = client(&server, json!({}));
    let started = Instant::now();
    c.get_ticket(1, false).await.unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1), "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_retry_after_beyond_the_limit_is_reported_at_once() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("GET"))
        .and(path("/api/Tickets/1"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "3600"))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server, json!({}));
    let err = c.get_ticket(1, false).await.unwrap_err();
    assert_eq!(err, HaloError::RateLimited { retry_after: Some(Duration::from_secs(3600)) });
    assert!(err.to_string().contains("wait 3600 seconds"));
}

#[tokio::test]
async fn unreachable_servers_are_reported_with_the_field_to_fix() {
    // A port nothing listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let cfg = ConnectionConfig::from_value(&json!({
        "client_id": "cid", "client_secret": {"secretKey": SECRET},
        "authorization_server": format!("http://{addr}/auth"), "resource_server": format!("http://{addr}/api"),
    }))
    .unwrap();
    let c = HaloClient::new(cfg).unwrap().with_retry_policy(fast());
    let err = c.get_ticket(1, false).await.unwrap_err();
    assert!(matches!(err, HaloError::Unreachable { server: icon_haloitsm::halo::Server::Auth, .. }), "{err:?}");
    let pe = PluginError::from(&err);
    assert!(pe.assistance.contains("Authorization Server URL"), "{}", pe.assistance);
}

#[tokio::test]
async fn api_errors_map_to_typed_errors_with_halos_message() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    let cases: Vec<(u16, Value, &str)> = vec![
        (400, json!({"[0].summary": "Summary is required"}), "summary: Summary is required"),
        (400, json!({"ClassName": "System.Exception", "Message": "Invalid status_id 99"}), "Invalid status_id 99"),
        (400, json!({"resultCode": 3, "errorMessage": "Approval code required"}), "Approval code required"),
        (400, json!({"error": "bad things"}), "bad things"),
    ];
    let c = client(&server, json!({}));
    for (i, (status, body, expected)) in cases.iter().enumerate() {
        let p = format!("/api/Case{i}");
        Mock::given(method("POST"))
            .and(path(p.clone()))
            .respond_with(ResponseTemplate::new(*status).set_body_json(body.clone()))
            .mount(&server)
            .await;
        let err = c.post(&format!("Case{i}"), &[], &json!({})).await.unwrap_err();
        assert_eq!(err, HaloError::Validation { status: *status, message: expected.to_string() });
    }
    Mock::given(method("POST"))
        .and(path("/api/Plain"))
        .respond_with(ResponseTemplate::new(400).set_body_string("Ticket type is required"))
        .mount(&server)
        .await;
    let err = c.post("Plain", &[], &json!({})).await.unwrap_err();
    assert_eq!(err, HaloError::Validation { status: 400, message: "Ticket type is required".into() });
    Mock::given(method("GET"))
        .and(path("/api/Tickets/8"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({"Message": "No access"})))
        .mount(&server)
        .await;
    let err = c.get("Tickets/8", &[]).await.unwrap_err();
    assert_eq!(err, HaloError::Forbidden { what: "Ticket 8".into(), message: "No access".into() });
    Mock::given(method("GET")).and(path("/api/Tickets/404")).respond_with(ResponseTemplate::new(404)).mount(&server).await;
    ticket_list_probe().mount(&server).await;
    assert_eq!(c.get_ticket(404, true).await.unwrap(), None);
    assert_eq!(c.get_ticket(404, true).await.unwrap(), None, "the probe is sent once per client");
    Mock::given(method("GET"))
        .and(path("/api/Tickets/77"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html><title>Login</title></html>"))
        .mount(&server)
        .await;
    let err = c.get_ticket(77, true).await.unwrap_err();
    assert!(matches!(&err, HaloError::Unexpected { status: 200, message } if message.contains("Login")), "{err:?}");
}

#[tokio::test]
async fn token_endpoint_errors_are_explained() {
    for (status, body, check) in [
        (401u16, json!({"error": "invalid_client", "error_description": "Client authentication failed"}), "creds"),
        (400, json!({"error": "invalid_client"}), "creds"),
        (400, json!({"error": "invalid_scope"}), "scope"),
        (400, json!({"error": "invalid_request", "error_description": "Unknown tenant"}), "tenant"),
        (404, Value::Null, "404"),
        (500, json!({"Message": "down"}), "500"),
    ] {
        let server = MockServer::start().await;
        let resp = if body.is_null() {
            ResponseTemplate::new(status).set_body_string("<html><title>Not Found</title></html>")
        } else {
            ResponseTemplate::new(status).set_body_json(body)
        };
        Mock::given(method("POST")).and(path("/auth/token")).respond_with(resp).mount(&server).await;
        let err = client(&server, json!({"tenant": "acme"})).token().await.unwrap_err();
        match check {
            "creds" => assert!(matches!(err, HaloError::InvalidCredentials { .. }), "{err:?}"),
            "scope" => assert!(matches!(err, HaloError::InvalidScope { .. }), "{err:?}"),
            "tenant" => {
                assert!(
                    matches!(&err, HaloError::TokenRejected { status: 400, tenant_set: true, message } if message == "Unknown tenant"),
                    "{err:?}"
                );
                assert!(PluginError::from(&err).assistance.contains("Tenant"));
            }
            "404" => assert!(matches!(err, HaloError::NoTokenEndpoint { .. }), "{err:?}"),
            _ => assert!(matches!(err, HaloError::ServerError { status: 500, .. }), "{err:?}"),
        }
        let text = format!("{err} {:?}", PluginError::from(&err));
        assert!(!text.contains(SECRET), "secret leaked: {text}");
    }
}

#[tokio::test]
async fn connection_test_needs_a_token_and_ticket_access() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("GET"))
        .and(path("/api/Tickets"))
        .and(query_param("count", "1"))
        .and(header("authorization", "Bearer tok-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"record_count": 0, "tickets": []})))
        .expect(1)
        .mount(&server)
        .await;
    client(&server, json!({})).test_connection().await.unwrap();

    let denied = MockServer::start().await;
    mount_token(&denied, 1).await;
    Mock::given(method("GET")).and(path("/api/Tickets")).respond_with(ResponseTemplate::new(403)).mount(&denied).await;
    assert!(matches!(client(&denied, json!({})).test_connection().await, Err(HaloError::Forbidden { .. })));
}

#[tokio::test]
async fn a_huge_expires_in_is_capped_not_a_crash() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/auth/token"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"access_token": "t", "token_type": "Bearer", "expires_in": u64::MAX})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server, json!({}));
    assert_eq!(&*c.token().await.unwrap(), "t");
    assert_eq!(&*c.token().await.unwrap(), "t");
}

#[tokio::test]
async fn the_token_request_is_retried_on_429_and_5xx() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/auth/token"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "0").set_body_json(json!({"error": "slow_down"})))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/auth/token"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/auth/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body("tok-1")))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server, json!({}));
    assert_eq!(&*c.token().await.unwrap(), "tok-1");
    assert_eq!(c.token_requests(), 3);
}

#[tokio::test]
async fn a_rate_limited_token_request_is_reported_as_such() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/auth/token"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "0"))
        .mount(&server)
        .await;
    let err = client(&server, json!({})).token().await.unwrap_err();
    assert!(matches!(err, HaloError::RateLimited { .. }), "{err:?}");
    assert!(!PluginError::from(&err).assistance.contains("credentials"));
}

#[tokio::test]
async fn redirects_are_reported_with_advice_not_as_bad_input() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("GET"))
        .and(path("/api/Tickets/1"))
        .respond_with(ResponseTemplate::new(302).insert_header("Location", "https://elsewhere.example.com/api/Tickets/1"))
        .mount(&server)
        .await;
    let err = client(&server, json!({})).get_ticket(1, false).await.unwrap_err();
    assert!(matches!(&err, HaloError::Redirected { status: 302, location } if location.contains("elsewhere")), "{err:?}");
    let pe = PluginError::from(&err);
    assert_eq!(pe.http_status(), 500);
    assert!(pe.assistance.contains("https"), "{}", pe.assistance);
}

/// A server that, on its first connection, sends response headers and then stalls; later
/// connections get a complete answer.
async fn stalling_then_healthy() -> (String, Arc<AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let count = connections.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else { return };
            let n = count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(k) => got.extend_from_slice(&buf[..k]),
                    }
                }
                let body = if got.starts_with(b"POST /auth/token") { token_body("tok-1").to_string() } else { r#"{"id": 1}"#.to_string() };
                if n == 1 {
                    // Headers promise a body that never comes.
                    let _ = sock
                        .write_all(
                            format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{{", body.len() + 10)
                                .as_bytes(),
                        )
                        .await;
                    tokio::time::sleep(Duration::from_secs(30)).await;
                } else {
                    let _ = sock.write_all(format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len()).as_bytes()).await;
                }
            });
        }
    });
    (format!("http://{addr}"), connections)
}

#[tokio::test]
async fn a_read_whose_body_stalls_is_retried() {
    let (base, _) = stalling_then_healthy().await;
    let cfg = ConnectionConfig::from_value(&json!({
        "client_id": "cid", "client_secret": {"secretKey": SECRET},
        "authorization_server": format!("{base}/auth"), "resource_server": format!("{base}/api"), "timeout_seconds": 1,
    }))
    .unwrap();
    let c = HaloClient::new(cfg).unwrap().with_retry_policy(fast());
    assert_eq!(c.get_ticket(1, false).await.unwrap().unwrap()["id"], 1);
}

#[tokio::test]
async fn a_write_is_retried_when_the_connection_was_refused() {
    // The API port is closed at first and opens shortly after: the POST never reached HaloITSM,
    // so sending it again is safe, and it lands exactly once.
    let auth = MockServer::start().await;
    mount_token(&auth, 1).await;
    let reserved = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = reserved.local_addr().unwrap();
    drop(reserved);
    let cfg = ConnectionConfig::from_value(&json!({
        "client_id": "cid", "client_secret": {"secretKey": SECRET},
        "authorization_server": format!("{}/auth", auth.uri()), "resource_server": format!("http://{addr}/api"), "timeout_seconds": 2,
    }))
    .unwrap();
    let policy = RetryPolicy {
        max_attempts: 5,
        max_elapsed: Duration::from_secs(10),
        base_delay: Duration::from_millis(300),
        max_delay: Duration::from_secs(2),
    };
    let c = HaloClient::new(cfg).unwrap().with_retry_policy(policy);
    c.token().await.unwrap();
    let post = tokio::spawn(async move { c.post("Tickets", &[], &json!([{"summary": "x"}])).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let listener = std::net::TcpListener::bind(addr).unwrap();
    let api = MockServer::builder().listener(listener).start().await;
    Mock::given(method("POST"))
        .and(path("/api/Tickets"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 5})))
        .expect(1)
        .mount(&api)
        .await;
    assert_eq!(post.await.unwrap().unwrap()["id"], 5);
}

#[tokio::test]
async fn a_resource_server_that_is_not_the_api_is_reported_not_read_as_no_such_ticket() {
    // A Resource Server without /api (or the portal) answers 404 to every path.
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(404).set_body_string("Not Found")).mount(&server).await;
    let c = client(&server, json!({}));
    let err = c.get_ticket(42, true).await.unwrap_err();
    assert!(
        matches!(&err, HaloError::Unexpected { status: 404, message } if message.contains("not HaloITSM's API") && message.contains("/api")),
        "{err:?}"
    );
}
