//! How failures are reported: unreachable servers, API and token errors, redirects, a wrong API.

use super::*;

#[tokio::test]
async fn unreachable_servers_are_reported_with_the_field_to_fix() {
    // A port nothing listens on (held, so nothing can start listening there meanwhile).
    let (_closed, addr) = crate::common::closed_port();
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
    // The agent the application acts as, and the teams (docs/halo-api.md#AU7).
    Mock::given(method("GET"))
        .and(path("/api/Agent/me"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 1, "name": "API Agent"})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/Team"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{"id": 1, "name": "Service Desk"}])))
        .expect(1)
        .mount(&server)
        .await;
    client(&server, json!({})).test_connection().await.unwrap();

    let denied = MockServer::start().await;
    mount_token(&denied, 1).await;
    Mock::given(method("GET")).and(path("/api/Tickets")).respond_with(ResponseTemplate::new(403)).mount(&denied).await;
    let err = client(&denied, json!({})).test_connection().await.unwrap_err();
    assert!(matches!(&err, HaloError::Setup { fix, .. } if fix.contains("read:tickets")), "{err:?}");
}

/// A refused read in the connection test names the API application setting to change: an
/// application that does not act as an agent, or logs in as a Client, which cannot read teams.
#[tokio::test]
async fn the_connection_test_names_the_application_setting_a_refusal_means() {
    for (me, team, expect) in
        [(403, 200, "Login Type to Agent and choose the Agent to log in as"), (200, 403, "logs in as a Client, which cannot read teams")]
    {
        let server = MockServer::start().await;
        mount_token(&server, 1).await;
        Mock::given(method("GET"))
            .and(path("/api/Tickets"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"tickets": []})))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/api/Agent/me"))
            .respond_with(ResponseTemplate::new(me).set_body_json(json!({"id": 1})))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/api/Team"))
            .respond_with(ResponseTemplate::new(team).set_body_json(json!([])))
            .mount(&server)
            .await;
        let err = client(&server, json!({})).test_connection().await.unwrap_err();
        let pe = PluginError::from(&err);
        assert!(pe.assistance.contains(expect), "{me}/{team}: {pe:?}");
    }
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
