//! Malformed findings fail alone, and bad inputs are a 400 before any request.

use super::*;

#[tokio::test]
async fn malformed_findings_fail_alone_and_results_keep_the_input_order() {
    let h = Halo::start().await;
    let a = finding("s3_bucket_public_access", "FAIL", "High", "a");
    let b = finding("s3_bucket_public_access", "FAIL", "High", "b");
    let mut no_status = finding("s3_bucket_public_access", "FAIL", "High", "c");
    no_status.as_object_mut().unwrap().remove("status_code");
    let mut no_severity = finding("s3_bucket_public_access", "FAIL", "High", "d");
    no_severity.as_object_mut().unwrap().remove("severity");
    no_severity.as_object_mut().unwrap().remove("severity_id");
    let compliance =
        json!({"class_name": "Compliance Finding", "status_code": "FAIL", "severity": "High", "metadata": {"event_code": "x"}});
    h.lookup(vec![]).await;
    h.create(new_ticket("s3_bucket_public_access", "High", "a", 2), &tag(&a), saved(json!({"id": 101})), 1).await;
    h.create(new_ticket("s3_bucket_public_access", "High", "b", 2), &tag(&b), saved(json!({"id": 102})), 1).await;
    let out = h.ok(json!({"findings": [a, no_status, no_severity, compliance, b]})).await;
    assert_eq!(
        outcomes(&out),
        [o("created", Some(101)), o("failed", None), o("failed", None), o("failed", None), o("created", Some(102))],
        "{out}"
    );
    assert_eq!(counts(&out), [2, 0, 0, 0, 0, 0, 3]);
    let error = |i: usize| out["results"][i]["error"].as_str().unwrap_or_else(|| panic!("no error for {i}: {out}")).to_string();
    assert!(error(1).contains("finding 1") && error(1).contains("status_code"), "{}", error(1));
    assert!(error(2).contains("finding 2") && error(2).contains("severity"), "{}", error(2));
    assert!(error(3).contains("finding 3") && error(3).contains("Detection Finding"), "{}", error(3));
    for i in [0, 4] {
        assert!(out["results"][i].get("error").is_none(), "{out}");
    }
    // Both new tickets in one request, then one duplicate check for both.
    assert_eq!(h.api_requests().await, [LOOKUP, LOOKUP_CLOSED, POST_TICKETS, SETTLE]);
    h.verify().await;
}

#[tokio::test]
async fn entries_of_a_file_that_are_not_objects_fail_alone() {
    let h = Halo::start().await;
    let a = finding("s3_bucket_public_access", "FAIL", "High", "a");
    let content = serde_json::to_vec(&json!(["not a finding", a, 42, null])).unwrap();
    h.lookup(vec![]).await;
    h.create(new_ticket("s3_bucket_public_access", "High", "a", 2), &tag(&a), saved(json!({"id": 103})), 1).await;
    let file = json!({"filename": "mixed.ocsf.json", "content": base64::engine::general_purpose::STANDARD.encode(content)});
    let out = h.ok(json!({"file": file})).await;
    assert_eq!(outcomes(&out), [o("failed", None), o("created", Some(103)), o("failed", None), o("failed", None)], "{out}");
    for i in [0, 2, 3] {
        let error = out["results"][i]["error"].as_str().unwrap_or_else(|| panic!("{out}"));
        assert!(error.contains(&format!("finding {i}")) && error.contains("not a JSON object"), "{error}");
    }
    assert_eq!(counts(&out), [1, 0, 0, 0, 0, 0, 3]);
    h.verify().await;
}

/// The `findings` input is typed `[]object` by the spec (InsightConnect enforces it too): an
/// entry that is not an object is an input error naming it. A file may hold anything; there a
/// malformed entry fails alone (see the file tests).
#[tokio::test]
async fn findings_entries_that_are_not_objects_are_an_input_error() {
    let h = Halo::start().await;
    let a = finding("s3_bucket_public_access", "FAIL", "High", "a");
    let body = h.err(json!({"findings": [a, "not a finding", 42]}), 400).await;
    assert!(body["error"].as_str().unwrap().contains("input `findings[1]`: expected an object"), "{body}");
    assert!(h.api_requests().await.is_empty());
    h.verify().await;
}

#[tokio::test]
async fn bad_inputs_are_a_400_before_any_request() {
    let h = Halo::start().await;
    let f = finding("s3_bucket_public_access", "FAIL", "High", "logs");
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    for (input, expect) in [
        (json!({}), "give `findings` or `file`"),
        (json!({"findings": []}), "give `findings` or `file`"),
        (json!({"findings": [f], "min_severity": "Urgent"}), "`min_severity`"),
        (json!({"findings": [f], "priority_map": {"Severe": 1}}), "`priority_map` has the key `Severe`"),
        (json!({"findings": [f], "priority_map": {"High": 0}}), "`priority_map.High` must be a positive"),
        (json!({"findings": [f], "priority_map": {"High": "2"}}), "`priority_map.High` must be a positive"),
        (json!({"findings": [f], "statuses": ["FAIL", "FAILED"]}), "`statuses` has `FAILED`"),
        (json!({"findings": [f], "statuses": []}), "`statuses` is empty"),
        (json!({"findings": [f], "group_by": "resource"}), "`group_by`"),
        (json!({"findings": [f], "on_pass": "delete"}), "`on_pass`"),
        (json!({"findings": [f], "tickettype_id": 0}), "tickettype_id"),
        (json!({"findings": [f], "reopen_status_id": 0}), "reopen_status_id"),
        (json!({"file": {"filename": "p.ocsf.json", "content": "%%% not base64 %%%"}}), "not valid base64"),
        (json!({"file": {"filename": "p.ocsf.json", "content": b64("this is not JSON")}}), "not valid JSON"),
        (json!({"file": {"filename": "p.ocsf.json", "content": b64("42")}}), "expected a JSON array"),
    ] {
        let body = h.err(input.clone(), 400).await;
        let error = body["error"].as_str().unwrap_or_default();
        assert!(error.contains(expect), "{input}: expected `{expect}` in {body}");
    }
    assert!(h.api_requests().await.is_empty(), "{:?}", h.api_requests().await);
    h.verify().await;
}

#[tokio::test]
async fn no_ticket_type_anywhere_is_a_400_before_any_request() {
    let h = Halo::with_connection(json!({})).await;
    let body = h.err(json!({"findings": [finding("s3_bucket_public_access", "FAIL", "High", "logs")]}), 400).await;
    let error = body["error"].as_str().unwrap();
    assert!(error.contains("no ticket type") && error.contains("Default Ticket Type ID"), "{body}");
    assert!(h.api_requests().await.is_empty());
    h.verify().await;
}

#[tokio::test]
async fn the_connections_default_ticket_type_is_used_and_the_input_wins() {
    let h = Halo::with_connection(json!({"default_ticket_type_id": 12})).await;
    let a = finding("s3_bucket_public_access", "FAIL", "High", "a");
    h.lookup_page(1, vec![], 0, None).await;
    h.no_closed(None).await;
    h.create(
        json!({"summary": summary("s3_bucket_public_access", "High", "a"), "tickettype_id": 12, "priority_id": 2}),
        &tag(&a),
        saved(json!({"id": 111})),
        1,
    )
    .await;
    let out = h.ok(json!({"findings": [a]})).await;
    assert_eq!(outcomes(&out), [o("created", Some(111))], "{out}");
    h.verify().await;

    let h = Halo::with_connection(json!({"default_ticket_type_id": 12})).await;
    let a = finding("s3_bucket_public_access", "FAIL", "High", "a");
    h.lookup(vec![]).await;
    h.create(
        json!({"summary": summary("s3_bucket_public_access", "High", "a"), "tickettype_id": 5, "priority_id": 2}),
        &tag(&a),
        saved(json!({"id": 112})),
        1,
    )
    .await;
    let out = h.ok(json!({"findings": [a], "tickettype_id": 5})).await;
    assert_eq!(outcomes(&out), [o("created", Some(112))], "{out}");
    h.verify().await;
}
