//! create_ticket: the ticket posted, inputs over defaults, and HaloITSM's refusals and failures.

use super::*;

fn connection_defaults() -> Value {
    json!({"default_ticket_type_id": 4, "default_priority_id": 3, "default_team_id": 2, "default_agent_id": 5, "default_category_id": 10})
}

#[tokio::test]
async fn create_posts_one_ticket_filled_from_the_connection_defaults() {
    let h = Halo::with_connection(connection_defaults()).await;
    let saved = json!({"id": 1001, "summary": "InsightIDR: Suspicious Authentication", "details": "Login from 203.0.113.9",
                       "tickettype_id": 4, "status_id": 1, "status_name": "New", "priority_id": 3, "categoryid_1": 10,
                       "category_1": "Security>Phishing", "agent_id": 5, "agent_name": "Alex Morgan", "team_id": 2,
                       "team": "Security Operations", "datecreated": "2026-09-01T08:00:00", "hasbeenclosed": false});
    h.post_one(
        "/api/Tickets",
        json!({"summary": "InsightIDR: Suspicious Authentication", "details": "Login from 203.0.113.9", "tickettype_id": 4,
               "status_id": 1, "priority_id": 3, "categoryid_1": 10, "agent_id": 5, "team_id": 2}),
        ok_json(saved),
        1,
    )
    .await;
    let out = h.ok("create_ticket", json!({"summary": "InsightIDR: Suspicious Authentication", "details": "Login from 203.0.113.9"})).await;
    assert_eq!(out["success"], true);
    assert_eq!(
        out["ticket"],
        json!({"id": 1001, "summary": "InsightIDR: Suspicious Authentication", "details": "Login from 203.0.113.9", "tickettype_id": 4,
               "status_id": 1, "status_name": "New", "priority_id": 3, "category_id": 10, "category_1": "Security>Phishing",
               "agent_id": 5, "agent_name": "Alex Morgan", "team_id": 2, "team_name": "Security Operations",
               "datecreated": "2026-09-01T08:00:00Z", "closed": false, "url": h.url_of(1001)})
    );
    assert_eq!(h.api_requests().await, ["POST /api/Tickets"], "a create needs no existence check");
    h.verify().await;
}

#[tokio::test]
async fn create_inputs_override_the_defaults_and_custom_fields_pass_through() {
    let h = Halo::with_connection(connection_defaults()).await;
    let fields = json!([{"id": 101, "value": "x"}, {"name": "CFSecurityReference", "value": "rrn:investigation:us:42"}]);
    h.post_one(
        "/api/Tickets",
        json!({"summary": "s", "details": "d", "tickettype_id": 7, "status_id": 2, "priority_id": 1, "categoryid_1": 11,
               "agent_id": 6, "team_id": 8, "site_id": 9, "user_id": 12, "customfields": fields}),
        ok_json(json!({"id": 1002, "summary": "s", "tickettype_id": 7, "priority_id": 1,
                       "customfields": [{"id": 101, "name": "CFRef", "value": "x", "display": null}]})),
        1,
    )
    .await;
    let out = h
        .ok(
            "create_ticket",
            json!({"summary": "s", "details": "d", "tickettype_id": 7, "status_id": 2, "priority_id": 1, "category_id": 11,
                   "agent_id": 6, "team_id": 8, "site_id": 9, "user_id": 12, "customfields": fields}),
        )
        .await;
    assert_eq!(out["success"], true);
    assert_eq!(out["ticket"]["id"], 1002);
    assert_eq!(out["ticket"]["customfields"], json!([{"id": 101, "name": "CFRef", "value": "x"}]), "nulls dropped from the output");
    h.verify().await;
}

#[tokio::test]
async fn create_without_a_ticket_type_anywhere_is_a_400_before_any_request() {
    let h = Halo::start().await;
    api("POST", "/api/Tickets").respond_with(ok_json(json!({"id": 1}))).expect(0).mount(&h.server).await;
    let body = h.err("create_ticket", json!({"summary": "s", "details": "d", "priority_id": 2}), 400).await;
    let error = body["error"].as_str().unwrap();
    assert!(error.contains("no ticket type was given") && error.contains("Default Ticket Type ID"), "{error}");
    assert!(body["exception"]["assistance"].as_str().unwrap().contains("tickettype_id"), "{body}");
    assert!(h.api_requests().await.is_empty());
    h.verify().await;
}

#[tokio::test]
async fn create_with_invalid_inputs_is_a_400_before_any_request() {
    let h = Halo::with_connection(connection_defaults()).await;
    api("POST", "/api/Tickets").respond_with(ok_json(json!({"id": 1}))).expect(0).mount(&h.server).await;
    for (input, expect) in [
        (json!({"customfields": [{"value": "x"}]}), "`customfields[0]` needs an `id`"),
        (
            json!({"customfields": [{"id": 101, "value": "x"}, {"id": "abc", "value": "y"}]}),
            "`customfields[1]` has an `id` that is not a positive",
        ),
        (json!({"customfields": [{"id": 101}]}), "`customfields[0]` needs a `value`"),
        (json!({"priority_id": 0}), "`priority_id` must be a positive ID"),
        (json!({"tickettype_id": -4}), "`tickettype_id` must be a positive ID"),
    ] {
        let mut full = json!({"summary": "s", "details": "d"});
        for (k, v) in input.as_object().unwrap() {
            full[k] = v.clone();
        }
        let body = h.err("create_ticket", full, 400).await;
        assert!(body["error"].as_str().unwrap().contains(expect), "{input}: {body}");
    }
    assert!(h.api_requests().await.is_empty());
    h.verify().await;
}

/// create_ticket against a HaloITSM that rejects the ticket with this answer, once; the plugin's `body`.
async fn create_rejected_with(answer: ResponseTemplate, status: u16) -> Value {
    let h = Halo::with_connection(connection_defaults()).await;
    h.post_one(
        "/api/Tickets",
        json!({"summary": "s", "details": "d", "tickettype_id": 4, "status_id": 1, "priority_id": 3, "categoryid_1": 10,
               "agent_id": 5, "team_id": 2}),
        answer,
        1,
    )
    .await;
    let body = h.err("create_ticket", json!({"summary": "s", "details": "d"}), status).await;
    assert_eq!(h.api_requests().await, ["POST /api/Tickets"], "sent once, never retried");
    h.verify().await;
    body
}

#[tokio::test]
async fn create_rejected_by_halo_is_a_400_carrying_halos_message_in_every_error_shape() {
    for (answer, message) in [
        (ResponseTemplate::new(400).set_body_json(json!({"[0].summary": "Summary is required"})), "summary: Summary is required"),
        (
            ResponseTemplate::new(400).set_body_json(json!({"ClassName": "HaloValidationException", "Message": "Invalid tickettype_id 4"})),
            "Invalid tickettype_id 4",
        ),
        (
            ResponseTemplate::new(400).set_body_json(json!({"resultCode": 1, "errorMessage": "Approval code required"})),
            "Approval code required",
        ),
        (
            ResponseTemplate::new(400).set_body_json(json!({"Message": "Status 1 is not valid for this ticket type"})),
            "Status 1 is not valid for this ticket type",
        ),
        (ResponseTemplate::new(400).set_body_string("Ticket type is required"), "Ticket type is required"),
    ] {
        let body = create_rejected_with(answer, 400).await;
        assert_eq!(body["exception"]["data"], message, "{body}");
        assert!(body["exception"]["cause"].as_str().unwrap().contains("HTTP 400"), "{body}");
        assert!(body["error"].as_str().unwrap().contains(message), "{body}");
    }
}

#[tokio::test]
async fn create_forbidden_is_a_500_with_permission_advice() {
    let body =
        create_rejected_with(ResponseTemplate::new(403).set_body_json(json!({"Message": "Agent lacks the Tickets permission"})), 500).await;
    let cause = body["exception"]["cause"].as_str().unwrap();
    assert!(cause.contains("HTTP 403") && cause.contains("Agent lacks the Tickets permission"), "{body}");
    assert!(body["exception"]["assistance"].as_str().unwrap().contains("permission"), "{body}");
}

#[tokio::test]
async fn create_server_error_is_not_retried_and_says_the_ticket_may_exist() {
    let body = create_rejected_with(ResponseTemplate::new(500).set_body_json(json!({"Message": "Timeout expired"})), 500).await;
    assert!(body["exception"]["cause"].as_str().unwrap().contains("HTTP 500"), "{body}");
    assert!(body["exception"]["assistance"].as_str().unwrap().contains(MAYBE_SAVED), "{body}");
}

#[tokio::test]
async fn create_timing_out_is_not_retried_and_says_the_ticket_may_exist() {
    let mut extra = connection_defaults();
    extra["timeout_seconds"] = json!(1);
    let h = Halo::with_connection(extra).await;
    h.post_one(
        "/api/Tickets",
        json!({"summary": "s", "details": "d", "tickettype_id": 4, "status_id": 1, "priority_id": 3, "categoryid_1": 10,
               "agent_id": 5, "team_id": 2}),
        ok_json(json!({"id": 1005})).set_delay(std::time::Duration::from_secs(3)),
        1,
    )
    .await;
    let body = h.err("create_ticket", json!({"summary": "s", "details": "d"}), 500).await;
    assert!(body["exception"]["cause"].as_str().unwrap().contains("did not answer within 1 seconds"), "{body}");
    assert!(body["exception"]["assistance"].as_str().unwrap().contains(MAYBE_SAVED), "{body}");
    assert_eq!(h.api_requests().await, ["POST /api/Tickets"]);
    h.verify().await;
}

#[tokio::test]
async fn create_rate_limited_then_accepted_creates_the_ticket_once() {
    let h = Halo::with_connection(connection_defaults()).await;
    let record = json!({"summary": "s", "details": "d", "tickettype_id": 4, "status_id": 1, "priority_id": 3, "categoryid_1": 10,
                        "agent_id": 5, "team_id": 2});
    write("/api/Tickets", record.clone())
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "0").set_body_json(json!({"Message": "Too many requests"})))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .named("POST /api/Tickets (rate limited)")
        .mount(&h.server)
        .await;
    h.post_one(
        "/api/Tickets",
        record,
        ok_json(json!({"id": 1003, "summary": "s", "tickettype_id": 4, "status_id": 1, "priority_id": 3, "hasbeenclosed": false})),
        1,
    )
    .await;
    let out = h.ok("create_ticket", json!({"summary": "s", "details": "d"})).await;
    assert_eq!(out["success"], true);
    assert_eq!(out["ticket"]["id"], 1003);
    assert_eq!(h.api_requests().await, ["POST /api/Tickets", "POST /api/Tickets"]);
    h.verify().await;
}

#[tokio::test]
async fn create_accepts_an_array_answer_and_a_ticket_without_agent_team_or_category() {
    let h = Halo::with_connection(json!({"default_ticket_type_id": 4})).await;
    h.post_one(
        "/api/Tickets",
        json!({"summary": "Bare", "details": "d", "tickettype_id": 4, "status_id": 1}),
        ok_json(json!([{"id": 1004, "summary": "Bare", "details": "d", "tickettype_id": 4, "status_id": 1, "agent_id": 0,
                        "agent_name": "Unassigned", "team_id": 0, "team": "", "categoryid_1": 0, "category_1": "", "hasbeenclosed": false}])),
        1,
    )
    .await;
    let out = h.ok("create_ticket", json!({"summary": "Bare", "details": "d"})).await;
    assert_eq!(
        out,
        json!({"ticket": {"id": 1004, "summary": "Bare", "details": "d", "tickettype_id": 4, "status_id": 1, "closed": false,
                          "url": h.url_of(1004)},
               "success": true})
    );
    h.verify().await;
}

/// The request source (docs/halo-api.md#T17) is sent as given, 0 (Email) and negative IDs (built-in
/// integrations) too, and left out when not given.
#[tokio::test]
async fn create_sends_the_request_source_only_when_given() {
    for source in [Some(0), Some(-9), Some(12), None] {
        let h = Halo::with_connection(connection_defaults()).await;
        let mut record = json!({"summary": "s", "details": "d", "tickettype_id": 4, "status_id": 1, "priority_id": 3,
                                "categoryid_1": 10, "agent_id": 5, "team_id": 2});
        let mut input = json!({"summary": "s", "details": "d"});
        if let Some(s) = source {
            record["source"] = json!(s);
            input["source"] = json!(s);
        }
        h.post_one("/api/Tickets", record, ok_json(json!({"id": 1003, "summary": "s", "priority_id": 3, "source": source})), 1).await;
        let out = h.ok("create_ticket", input).await;
        assert_eq!(out["ticket"]["id"], 1003, "source {source:?}");
        assert_eq!(h.api_requests().await, ["POST /api/Tickets"], "source {source:?}");
        h.verify().await;
    }
}
