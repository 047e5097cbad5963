//! The REST API against clients that misbehave: slow to send headers or bodies, bodies beyond
//! the memory budget, requests hyper cannot parse, oversized HTTP/2 bodies. Every case is bounded
//! in time by small server timeouts, and checked by what the server answers (status, JSON), never
//! by how long it took.

use crate::common;

use std::time::Duration;

use common::*;
use icon_haloitsm::server::ServerOptions;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A HaloITSM that knows ticket 42.
async fn halo() -> MockServer {
    let server = halo_with_token().await;
    Mock::given(method("GET"))
        .and(path("/api/Tickets/42"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 42, "summary": "Suspicious login", "status_id": 2})))
        .mount(&server)
        .await;
    server
}

fn get_ticket(halo: &MockServer) -> Value {
    action("get_ticket", connection(&halo.uri()), json!({"ticket_id": 42}))
}

/// A raw HTTP/1.1 exchange: send `bytes`, read one answer.
async fn raw(srv: &PluginServer, bytes: &[u8]) -> String {
    let mut conn = TcpStream::connect(srv.addr).await.unwrap();
    conn.write_all(bytes).await.unwrap();
    read_answer(&mut conn).await
}

/// Read one answer: its head and as much body as its content-length says (or up to the close).
async fn read_answer(conn: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        // A reset after the answer (the server closed with request bytes unread) ends it too.
        let n = tokio::time::timeout(Duration::from_secs(20), conn.read(&mut buf)).await.expect("answered").unwrap_or_default();
        out.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&out).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len =
                head.lines().find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length: ").and_then(|v| v.parse::<usize>().ok()));
            if len.is_some_and(|len| body.len() >= len) {
                return text;
            }
        }
        if n == 0 {
            return text;
        }
    }
}

/// The status and JSON body of a raw HTTP/1.1 answer, checking it says it is JSON.
fn json_answer(answer: &str) -> (u16, Value) {
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no complete answer: {answer:?}"));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status: {head}"));
    assert!(head.to_ascii_lowercase().contains("content-type: application/json"), "not JSON: {head}");
    (status, serde_json::from_str(body).unwrap_or_else(|e| panic!("body is not JSON ({e}): {body:?}")))
}

/// The head of a step request whose body is `len` bytes long.
fn step_head(len: usize) -> String {
    format!("POST /api/v1/actions/get_ticket HTTP/1.1\r\nhost: plugin\r\ncontent-type: application/json\r\ncontent-length: {len}\r\n\r\n")
}

#[tokio::test]
async fn clients_slow_to_send_their_bodies_hold_no_step_slot_and_are_answered_408() {
    let halo = halo().await;
    let srv = PluginServer::start_with(ServerOptions {
        max_concurrent_steps: 2,
        max_queued_steps: 2,
        body_read_timeout: Duration::from_secs(2),
        ..Default::default()
    })
    .await;
    // Far more clients than slots and queue places send their headers and 10 bytes, then stall.
    let mut stalled = Vec::new();
    for _ in 0..40 {
        let mut conn = TcpStream::connect(srv.addr).await.unwrap();
        conn.write_all(format!("{}{{\"version\"", step_head(500)).as_bytes()).await.unwrap();
        stalled.push(conn);
    }
    // A real step still runs.
    let (status, body) = post(&srv.url("/api/v1/actions/get_ticket"), &get_ticket(&halo)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["body"]["output"]["ticket"]["id"], 42);
    // Each stalled client is told its body did not arrive in time.
    for mut conn in stalled {
        let (status, body) = json_answer(&read_answer(&mut conn).await);
        assert_eq!(status, 408, "{body}");
        assert!(body["description"].as_str().unwrap().contains("did not arrive within"), "{body}");
    }
    assert_eq!(srv.state.active_work(), 0);
}

#[tokio::test]
async fn a_client_slow_to_send_its_headers_is_disconnected() {
    let srv = PluginServer::start_with(ServerOptions { header_read_timeout: Duration::from_millis(500), ..Default::default() }).await;
    let mut conn = TcpStream::connect(srv.addr).await.unwrap();
    conn.write_all(b"POST /api/v1/actions/get_ticket HTTP/1.1\r\nhost: plugin\r\n").await.unwrap();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(20), conn.read(&mut buf)).await.expect("the server hung up on the slow client");
    assert!(matches!(read, Ok(0) | Err(_)), "closed without an answer: {read:?}");
    // Others are still served.
    let (status, _) = get(&srv.url("/api/v1/status")).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_body_beyond_the_memory_budget_waits_for_room_and_one_of_unknown_length_is_refused() {
    let halo = halo().await;
    let msg = get_ticket(&halo).to_string();
    let srv = PluginServer::start_with(ServerOptions {
        body_limit: 64 * 1024,
        max_body_bytes_in_flight: 100 * 1024,
        body_read_timeout: Duration::from_secs(30),
        ..Default::default()
    })
    .await;
    // A client declaring 60 KiB holds that much of the 100 KiB budget while it sends.
    let big = format!("{}{}", msg, " ".repeat(60 * 1024 - msg.len()));
    let mut holder = TcpStream::connect(srv.addr).await.unwrap();
    holder.write_all(format!("{}{}", step_head(big.len()), &big[..10]).as_bytes()).await.unwrap();
    // A body that declares no length cannot wait midway: refused once it outgrows the room,
    // which it does as soon as the holder's headers are read.
    let chunked = format!("{:x}\r\n{big}\r\n0\r\n\r\n", big.len());
    let request = format!(
        "POST /api/v1/actions/get_ticket HTTP/1.1\r\nhost: plugin\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n{chunked}"
    );
    let answer = eventually("the holder's body to take its room", async || {
        let answer = raw(&srv, request.as_bytes()).await;
        answer.starts_with("HTTP/1.1 503").then_some(answer)
    })
    .await;
    let (status, body) = json_answer(&answer);
    assert_eq!(status, 503, "{body}");
    assert!(answer.to_ascii_lowercase().contains("retry-after: 1"), "{answer}");
    assert!(body["description"].as_str().unwrap().contains("request bodies in memory"), "{body}");
    // A second 60 KiB body of declared length does not fit: it waits, unread.
    let url = srv.url("/api/v1/actions/get_ticket");
    let waiting = tokio::spawn({
        let (url, big) = (url.clone(), big.clone());
        async move { http().post(url).header("content-type", "application/json").body(big).send().await.unwrap().status() }
    });
    // A small one still fits.
    let (status, _) = post(&url, &get_ticket(&halo)).await;
    assert_eq!(status, 200);
    assert!(!waiting.is_finished(), "the second body still waits for room");
    // The first body comes in and its step is done: its room goes to the waiting one.
    holder.write_all(&big.as_bytes()[10..]).await.unwrap();
    let answer = read_answer(&mut holder).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(waiting.await.unwrap(), 200);
}

#[tokio::test]
async fn requests_hyper_cannot_parse_are_answered_in_json() {
    let srv = PluginServer::start().await;
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("a malformed request line", b"GARBAGE\r\n\r\n".to_vec(), 400),
        ("a malformed header", b"GET /api/v1/status HTTP/1.1\r\nhost plugin\r\n\r\n".to_vec(), 400),
        (
            "too many headers",
            format!(
                "GET /api/v1/status HTTP/1.1\r\nhost: plugin\r\n{}\r\n",
                (0..200).map(|i| format!("x-h{i}: v\r\n")).collect::<String>()
            )
            .into_bytes(),
            431,
        ),
        (
            "a header too large",
            format!("GET /api/v1/status HTTP/1.1\r\nhost: plugin\r\nx-big: {}\r\n\r\n", "a".repeat(600 * 1024)).into_bytes(),
            431,
        ),
    ];
    for (case, bytes, want) in cases {
        let answer = raw(&srv, &bytes).await;
        let (status, body) = json_answer(&answer);
        assert_eq!(status, want, "{case}: {answer}");
        assert_eq!(body["code"], want, "{case}: {body}");
        assert!(body["description"].as_str().is_some_and(|d| !d.is_empty()), "{case}: {body}");
    }
}

#[tokio::test]
async fn an_oversized_body_is_a_json_413_over_http1_and_http2() {
    let srv = PluginServer::start_with(ServerOptions { body_limit: 16 * 1024, ..Default::default() }).await;
    let h2 = reqwest::Client::builder().http2_prior_knowledge().build().unwrap();
    for (proto, client) in [("HTTP/1.1", http()), ("HTTP/2", h2)] {
        let resp = client
            .post(srv.url("/api/v1/actions/get_ticket"))
            .header("content-type", "application/json")
            .body(vec![b' '; 64 * 1024])
            .send()
            .await
            .unwrap_or_else(|e| panic!("{proto}: no answer: {e}"));
        assert_eq!(resp.status(), 413, "{proto}");
        assert_eq!(resp.headers()["content-type"], "application/json", "{proto}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["code"], 413, "{proto}: {body}");
    }
}

#[tokio::test]
async fn a_chunked_body_is_held_to_the_limit_as_it_arrives() {
    let srv = PluginServer::start_with(ServerOptions { body_limit: 16 * 1024, ..Default::default() }).await;
    let chunk = format!("{:x}\r\n{}\r\n", 8 * 1024, " ".repeat(8 * 1024));
    let request = format!(
        "POST /api/v1/actions/get_ticket HTTP/1.1\r\nhost: plugin\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n{}0\r\n\r\n",
        chunk.repeat(3)
    );
    let (status, body) = json_answer(&raw(&srv, request.as_bytes()).await);
    assert_eq!(status, 413, "{body}");
}

#[tokio::test]
async fn an_oversized_streamed_body_without_a_length_is_a_json_413_over_http2() {
    let srv = PluginServer::start_with(ServerOptions { body_limit: 16 * 1024, ..Default::default() }).await;
    let h2 = reqwest::Client::builder().http2_prior_knowledge().build().unwrap();
    let chunks = futures::stream::iter((0..128).map(|_| Ok::<_, std::io::Error>(vec![b' '; 8 * 1024])));
    let resp = h2
        .post(srv.url("/api/v1/actions/get_ticket"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .expect("an answer, not a reset stream");
    assert_eq!(resp.status(), 413);
    assert_eq!(resp.headers()["content-type"], "application/json");
}

#[tokio::test]
async fn an_http2_client_still_sending_an_oversized_body_gets_the_413() {
    // Many HTTP/2 clients (curl among them) lose an answer that comes while they still send,
    // though the stream ends with NO_ERROR: the server takes in the rest, throws it away, answers.
    let srv = PluginServer::start_with(ServerOptions { body_limit: 16 * 1024, ..Default::default() }).await;
    let tcp = TcpStream::connect(srv.addr).await.unwrap();
    let (mut client, conn) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(conn);
    const SIZE: usize = 4 * 1024 * 1024;
    let request = http::Request::post(srv.url("/api/v1/actions/get_ticket"))
        .header("content-type", "application/json")
        .header("content-length", SIZE.to_string())
        .body(())
        .unwrap();
    let (answer, mut upload) = client.send_request(request, false).unwrap();
    let mut sent = 0;
    while sent < SIZE {
        upload.reserve_capacity(SIZE - sent);
        let room = std::future::poll_fn(|cx| upload.poll_capacity(cx)).await.unwrap().expect("the upload was cut off");
        let n = room.min(SIZE - sent);
        upload.send_data(bytes::Bytes::from(vec![b' '; n]), sent + n == SIZE).expect("the upload was cut off");
        sent += n;
    }
    let answer = answer.await.expect("the answer arrives");
    assert_eq!(answer.status(), 413);
    let mut body = answer.into_body();
    let mut bytes = Vec::new();
    while let Some(chunk) = body.data().await {
        bytes.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(serde_json::from_slice::<Value>(&bytes).unwrap()["code"], 413);
}
