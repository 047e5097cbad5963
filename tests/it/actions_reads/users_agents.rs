//! get_user and get_agent: their output, unknown IDs, retries and bad IDs.

use super::*;

#[tokio::test]
async fn get_user_drops_nulls_and_fills_email_from_emailaddress() {
    let e = env().await;
    e.mount(
        api("GET", "Users/7", ExactQuery::new(&[]))
            .respond_with(ok_json(json!({"id": 7, "name": "Jordan Smith", "emailaddress": "jordan.smith@example.com", "client_id": 1,
                                        "site_id": 2, "phonenumber": null, "customfields": [{"id": 1, "value": null}],
                                        "site": {"id": 2, "name": null}})))
            .expect(1),
    )
    .await;
    let out = e.ok("get_user", json!({"user_id": 7})).await;
    assert_eq!(
        out,
        json!({"user": {"id": 7, "name": "Jordan Smith", "emailaddress": "jordan.smith@example.com", "email": "jordan.smith@example.com",
                        "client_id": 1, "site_id": 2, "customfields": [{"id": 1}], "site": {"id": 2}},
               "success": true})
    );
}

#[tokio::test]
async fn get_agent_keeps_its_own_email() {
    let e = env().await;
    e.mount(
        api("GET", "Agent/3", ExactQuery::new(&[]))
            .respond_with(ok_json(json!({"id": 3, "name": "Alex Morgan", "email": "alex.morgan@example.com",
                                        "emailaddress": "alex@old.example.com", "team": "Security Operations", "isdisabled": false,
                                        "signature": null})))
            .expect(1),
    )
    .await;
    let out = e.ok("get_agent", json!({"agent_id": 3})).await;
    assert_eq!(
        out,
        json!({"agent": {"id": 3, "name": "Alex Morgan", "email": "alex.morgan@example.com", "emailaddress": "alex@old.example.com",
                         "team": "Security Operations", "isdisabled": false},
               "success": true})
    );
}

#[tokio::test]
async fn get_agent_fills_email_from_emailaddress() {
    let e = env().await;
    e.mount(
        api("GET", "Agent/4", ExactQuery::new(&[]))
            .respond_with(ok_json(json!({"id": 4, "name": "Sam Lee", "email": null, "emailaddress": "sam.lee@example.com"})))
            .expect(1),
    )
    .await;
    let out = e.ok("get_agent", json!({"agent_id": 4})).await;
    assert_eq!(out["agent"]["email"], "sam.lee@example.com");
    assert_eq!(out["success"], true);
}

#[tokio::test]
async fn get_user_and_agent_unknown_ids_are_success_false_and_empty() {
    for (name, endpoint, input, key) in
        [("get_user", "Users/99", json!({"user_id": 99}), "user"), ("get_agent", "Agent/98", json!({"agent_id": 98}), "agent")]
    {
        let e = env().await;
        let missing = ResponseTemplate::new(404).set_body_json(json!({"Message": "not found"}));
        e.mount(api("GET", endpoint, ExactQuery::new(&[])).respond_with(missing).expect(1)).await;
        assert_eq!(e.ok(name, input).await, json!({key: {}, "success": false}), "{name}");
    }
}

#[tokio::test]
async fn get_user_and_agent_server_errors_are_retried_then_a_500() {
    let attempts = u64::from(fast_retries().max_attempts);
    for (name, endpoint, input) in [("get_user", "Users/7", json!({"user_id": 7})), ("get_agent", "Agent/3", json!({"agent_id": 3}))] {
        let e = env().await;
        let broken = ResponseTemplate::new(500).set_body_json(json!({"Message": "database unavailable"}));
        // Reads are retried: every attempt the retry policy allows reaches HaloITSM, then the step fails.
        e.mount(api("GET", endpoint, ExactQuery::new(&[])).respond_with(broken).expect(attempts)).await;
        let err = e.fails(name, input, 500).await;
        let cause = err["exception"]["cause"].as_str().unwrap();
        assert!(cause.contains("500") && cause.contains("database unavailable"), "{name}: {err}");
    }
}

#[tokio::test]
async fn get_user_and_agent_reject_non_positive_ids_without_a_request() {
    let e = env().await;
    let err = e.fails("get_user", json!({"user_id": 0}), 400).await;
    assert!(err["error"].as_str().unwrap().contains("user_id"), "{err}");
    let err = e.fails("get_agent", json!({"agent_id": -1}), 400).await;
    assert!(err["error"].as_str().unwrap().contains("agent_id"), "{err}");
}
