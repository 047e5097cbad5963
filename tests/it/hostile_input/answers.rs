//! What HaloITSM (or a proxy in front of it) answers is bounded and masked: a redirect that
//! carries the token, an answer far larger than any record, an error page of megabytes; and a
//! request body declared too large is refused at once.

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::{ECHOED_TOKEN, PluginServer, action, error_cause, leaked, odd_connection, post};

/// A HaloITSM that hands out `ECHOED_TOKEN`, then answers every API request with `answer`.
async fn halo_answering(answer: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/auth/token"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"access_token": ECHOED_TOKEN, "token_type": "Bearer", "expires_in": 3600})),
        )
        .mount(&server)
        .await;
    Mock::given(path_regex("^/api/")).respond_with(answer).mount(&server).await;
    server
}

#[tokio::test]
async fn a_redirect_that_carries_the_token_leaks_it_nowhere() {
    let location = format!("https://proxy.example/login?next=%2Fapi%2FTickets%2F42&access_token={ECHOED_TOKEN}&raw={ECHOED_TOKEN}");
    let halo = halo_answering(ResponseTemplate::new(302).insert_header("Location", location.as_str())).await;
    let srv = PluginServer::start().await;
    let (status, body) =
        post(&srv.url("/api/v1/actions/get_ticket"), &action("get_ticket", odd_connection(&halo.uri()), json!({"ticket_id": 42}))).await;
    assert_ne!(status, 200, "{body}");
    let text = body.to_string();
    assert!(leaked(&text).is_empty(), "leaked {:?} in {text}", leaked(&text));
    assert!(error_cause(&body).contains("redirected"), "{body}");
    assert!(text.contains("proxy.example"), "the redirect's host is still named: {text}");
}

#[tokio::test]
async fn an_answer_far_larger_than_any_record_fails_naming_its_size() {
    let huge = format!("{{\"id\": 42, \"details\": \"{}\"}}", "x".repeat(33 * 1024 * 1024));
    let halo = halo_answering(ResponseTemplate::new(200).set_body_raw(huge.into_bytes(), "application/json")).await;
    let srv = PluginServer::start().await;
    let (status, body) =
        post(&srv.url("/api/v1/actions/get_ticket"), &action("get_ticket", odd_connection(&halo.uri()), json!({"ticket_id": 42}))).await;
    assert_eq!(status, 500, "{}", &body.to_string()[..body.to_string().len().min(500)]);
    let cause = error_cause(&body);
    assert!(cause.contains("larger than the 33554432 bytes") && cause.contains("GET Tickets/42"), "{cause}");
    assert!(body.to_string().len() < 10_000, "the answer is not passed on");
}

#[tokio::test]
async fn an_error_page_of_megabytes_is_read_only_as_far_as_its_message() {
    let page = format!("{{\"Message\": \"{}\"}}", "e".repeat(5 * 1024 * 1024));
    let halo = halo_answering(ResponseTemplate::new(400).set_body_raw(page.into_bytes(), "application/json")).await;
    let srv = PluginServer::start().await;
    let (status, body) =
        post(&srv.url("/api/v1/actions/get_ticket"), &action("get_ticket", odd_connection(&halo.uri()), json!({"ticket_id": 42}))).await;
    assert_eq!(status, 400);
    assert!(body.to_string().len() < 200 * 1024, "{} bytes of error came back", body.to_string().len());
}

#[tokio::test]
async fn a_body_declared_far_too_large_is_refused_at_once() {
    let srv = PluginServer::start().await;
    let addr = srv.url("").trim_start_matches("http://").trim_end_matches('/').to_string();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /api/v1/actions/get_ticket HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{{\"version\"",
        10u64 * 1024 * 1024 * 1024
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    // Nothing more is sent: the answer must come without the rest of the body (or its timeout).
    let mut answer = vec![0u8; 4096];
    let n = conn.read(&mut answer).await.unwrap();
    let text = String::from_utf8_lossy(&answer[..n]);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
}
