//! The token: the client-credentials request, reuse and sharing, refresh on 401, its own retries.

use super::*;

/// Hands out tok-1, tok-2, ... on successive token requests.
struct CountingTokens(AtomicUsize);

impl Respond for CountingTokens {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
        ResponseTemplate::new(200).set_body_json(token_body(&format!("tok-{n}")))
    }
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
