//! The simulator's token endpoint and the API's checks of tenants and tokens.

use super::*;

#[tokio::test]
async fn token_success_and_failures() {
    let h = sim().await;
    let r = token_response(&h, &[("grant_type", "client_credentials"), ("client_id", "sim-client"), ("client_secret", "sim-secret")]).await;
    let (status, v) = json_of(r).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["expires_in"], 3600);
    assert_eq!(v["scope"], "all", "scope defaults to all");
    assert!(v["access_token"].as_str().is_some_and(|t| t.len() >= 32));

    // Client credentials in an HTTP Basic header (what OAuth libraries send by default).
    let r = Client::new()
        .post(format!("{}/token", h.auth_url()))
        .basic_auth("sim-client", Some("sim-secret"))
        .form(&[("grant_type", "client_credentials"), ("scope", "read:tickets edit:tickets")])
        .send()
        .await
        .expect("send");
    let (status, v) = json_of(r).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["scope"], "read:tickets edit:tickets");

    type Form = Vec<(&'static str, &'static str)>;
    let cases: Vec<(Form, StatusCode, &str)> = vec![
        (
            vec![("grant_type", "client_credentials"), ("client_id", "sim-client"), ("client_secret", "wrong")],
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            vec![("grant_type", "client_credentials"), ("client_id", "other"), ("client_secret", "sim-secret")],
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            vec![("grant_type", "password"), ("client_id", "sim-client"), ("client_secret", "sim-secret")],
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        ),
        (vec![("client_id", "sim-client"), ("client_secret", "sim-secret")], StatusCode::BAD_REQUEST, "invalid_request"),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", "sim-client"),
                ("client_secret", "sim-secret"),
                ("scope", "everything"),
            ],
            StatusCode::BAD_REQUEST,
            "invalid_scope",
        ),
    ];
    for (form, want_status, want_error) in cases {
        let (status, v) = json_of(token_response(&h, &form).await).await;
        assert_eq!(status, want_status, "{form:?}");
        assert_eq!(v["error"], want_error, "{form:?}");
    }

    // A JSON body is not a form.
    let r = Client::new()
        .post(format!("{}/token", h.auth_url()))
        .json(&json!({"grant_type": "client_credentials", "client_id": "sim-client", "client_secret": "sim-secret"}))
        .send()
        .await
        .expect("send");
    let (status, v) = json_of(r).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"], "invalid_request");

    // GET on the token endpoint: JSON 405, not an empty or HTML body.
    let r = Client::new().get(format!("{}/token", h.auth_url())).send().await.expect("send");
    assert_eq!(json_of(r).await.0, StatusCode::METHOD_NOT_ALLOWED);

    // The 405 never reached the token handler, so it is not a token request.
    assert_eq!(h.sim.stats().token_requests, 8);
    h.shutdown().await;
}

#[tokio::test]
async fn tenant_must_be_in_the_token_url() {
    let h = sim_with(SimConfig { tenant: Some("acme".into()), ..SimConfig::default() }).await;
    let form = [("grant_type", "client_credentials"), ("client_id", "sim-client"), ("client_secret", "sim-secret")];
    for url in [format!("{}/token", h.auth_url()), format!("{}/token?tenant=other", h.auth_url())] {
        let r = Client::new().post(url).form(&form).send().await.expect("send");
        let (status, v) = json_of(r).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(v, json!({"error": "invalid_request", "error_description": "Unknown tenant"}));
    }
    let r = Client::new().post(format!("{}/token?tenant=acme", h.auth_url())).form(&form).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    h.shutdown().await;
}

#[tokio::test]
async fn api_rejects_missing_unknown_revoked_and_expired_tokens() {
    let h = sim_with(SimConfig { token_lifetime_secs: 1, ..SimConfig::default() }).await;
    let url = format!("{}/Tickets/101", h.api_url());
    let r = Client::new().get(&url).send().await.expect("send");
    assert!(r.headers().contains_key("www-authenticate"));
    assert_eq!(json_of(r).await, (StatusCode::UNAUTHORIZED, json!({"error": "invalid_token"})));
    let r = Client::new().get(&url).bearer_auth("made-up").send().await.expect("send");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let api = Api::new(&h).await;
    assert_eq!(api.get("/Tickets/101").await.status(), StatusCode::OK);
    // Past the token's one second by the simulator's clock.
    h.sim.advance_clock(Duration::from_secs(2));
    let (status, v) = json_of(api.get("/Tickets/101").await).await;
    assert_eq!((status, v), (StatusCode::UNAUTHORIZED, json!({"error": "invalid_token"})), "expired");

    // Revocation, through the method and through the control route.
    let h2 = sim().await;
    let api = Api::new(&h2).await;
    assert_eq!(api.get("/Status").await.status(), StatusCode::OK);
    h2.sim.revoke_tokens();
    assert_eq!(api.get("/Status").await.status(), StatusCode::UNAUTHORIZED);
    let api = Api::new(&h2).await;
    let r = Client::new().post(format!("{}/_sim/revoke_tokens", h2.base_url())).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(api.get("/Status").await.status(), StatusCode::UNAUTHORIZED);
    // Unauthenticated requests are counted too.
    assert_eq!(h2.sim.stats().api_requests, 3);
    h.shutdown().await;
    h2.shutdown().await;
}
