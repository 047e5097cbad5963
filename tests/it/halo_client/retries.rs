//! Retries: reads on 5xx, 429 and timeouts, writes only when nothing was sent, and Retry-After.

use super::*;

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
    match &err {
        HaloError::RateLimitWait { retry_in: Some(d), .. } => assert!(d.as_secs() >= 3599, "{d:?}"),
        other => panic!("not a rate-limit wait: {other:?}"),
    }
    assert!(err.to_string().contains("again in about 3600 seconds"), "{err}");
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
    let (closed, addr) = crate::common::closed_port();
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
    let log = crate::common::CapturedLog::default();
    let post = tokio::spawn(log.around(async move { c.post("Tickets", &[], &json!([{"summary": "x"}])).await }));
    // Refused once (the client says it will try again), then the port opens.
    crate::common::eventually("a refused attempt", async || log.text().contains("retrying in")).await;
    let listener = closed.listen(1024).unwrap().into_std().unwrap();
    let api = MockServer::builder().listener(listener).start().await;
    Mock::given(method("POST"))
        .and(path("/api/Tickets"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 5})))
        .expect(1)
        .mount(&api)
        .await;
    assert_eq!(post.await.unwrap().unwrap()["id"], 5);
}
