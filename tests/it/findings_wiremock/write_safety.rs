//! Write safety: an uncertain create is never sent twice, and a rejected create fails alone.

use super::*;

#[tokio::test]
async fn an_uncertain_create_found_by_its_tag_is_not_sent_again() {
    let h = Halo::start().await;
    let f = finding("s3_bucket_public_access", "FAIL", "High", "logs");
    let t = tag(&f);
    h.lookup(vec![]).await;
    h.create(
        new_ticket("s3_bucket_public_access", "High", "logs", 2),
        &t,
        ResponseTemplate::new(500).set_body_string("Timeout expired"),
        1,
    )
    .await;
    h.search_tag(
        &t,
        vec![json!({"id": 1077, "summary": summary("s3_bucket_public_access", "High", "logs"), "details": format!("<p>{t}</p>")})],
    )
    .await;
    let out = h.ok(json!({"findings": [f]})).await;
    assert_eq!(outcomes(&out), [o("created", Some(1077))], "{out}");
    assert_eq!(
        h.api_requests().await,
        [
            LOOKUP.to_string(),
            LOOKUP_CLOSED.to_string(),
            "POST /api/Tickets".to_string(),
            format!("GET /api/Tickets?search_details={t}&open_only=true&pageinate=true&page_size=100&page_no=1"),
            settle_request(&t)
        ]
    );
    h.verify().await;
}

#[tokio::test]
async fn an_uncertain_create_not_found_is_sent_exactly_once_more() {
    let h = Halo::start().await;
    let f = finding("s3_bucket_public_access", "FAIL", "High", "logs");
    let t = tag(&f);
    h.lookup(vec![]).await;
    let fields = new_ticket("s3_bucket_public_access", "High", "logs", 2);
    write_where("/api/Tickets", Record { fields: fields.clone(), text: "details", check: Text::Contains(t.clone()) })
        .respond_with(ResponseTemplate::new(502).set_body_string("Bad Gateway"))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .named("create (502)")
        .mount(&h.server)
        .await;
    h.create(fields, &t, ok_json(json!({"id": 1078})), 1).await;
    // The search matches loosely: a ticket whose details do not hold the tag is not this one.
    h.search_tag(&t, vec![json!({"id": 999, "summary": "Something else", "details": "<p>prowler-key: mentioned in passing</p>"})]).await;
    let out = h.ok(json!({"findings": [f]})).await;
    assert_eq!(outcomes(&out), [o("created", Some(1078))], "{out}");
    assert_eq!(
        h.api_requests().await,
        [
            LOOKUP.to_string(),
            LOOKUP_CLOSED.to_string(),
            "POST /api/Tickets".to_string(),
            format!("GET /api/Tickets?search_details={t}&open_only=true&pageinate=true&page_size=100&page_no=1"),
            "POST /api/Tickets".to_string(),
            settle_request(&t)
        ]
    );
    let posted = h.posted("/api/Tickets").await;
    assert_eq!(posted[0], posted[1], "the same ticket is sent again");
    h.verify().await;
}

#[tokio::test]
async fn an_uncertain_create_that_fails_twice_is_failed_after_two_posts() {
    let h = Halo::start().await;
    let f = finding("s3_bucket_public_access", "FAIL", "High", "logs");
    let t = tag(&f);
    h.lookup(vec![]).await;
    h.create(
        new_ticket("s3_bucket_public_access", "High", "logs", 2),
        &t,
        ResponseTemplate::new(503).set_body_string("Service Unavailable"),
        2,
    )
    .await;
    h.search_tag(&t, vec![]).await;
    let out = h.ok(json!({"findings": [f]})).await;
    assert_eq!(outcomes(&out), [o("failed", None)], "{out}");
    let error = out["results"][0]["error"].as_str().unwrap();
    assert!(error.contains("HTTP 503"), "{out}");
    // It may exist: the error says so, and how the next run settles it.
    assert!(error.contains("may have created the ticket anyway") && error.contains(&t) && error.contains("never created twice"), "{error}");
    h.verify().await;
}

#[tokio::test]
async fn a_create_timing_out_is_resolved_by_the_tag_search() {
    let h = Halo::with_connection(json!({"default_ticket_type_id": 4, "timeout_seconds": 1})).await;
    let f = finding("s3_bucket_public_access", "FAIL", "High", "logs");
    let t = tag(&f);
    h.lookup(vec![]).await;
    h.create(
        new_ticket("s3_bucket_public_access", "High", "logs", 2),
        &t,
        ok_json(json!({"id": 1079})).set_delay(std::time::Duration::from_secs(3)),
        1,
    )
    .await;
    h.search_tag(&t, vec![json!({"id": 1079, "details": format!("<table></table><p>{t}</p>")})]).await;
    let out = h.ok(json!({"findings": [f]})).await;
    assert_eq!(outcomes(&out), [o("created", Some(1079))], "{out}");
    assert_eq!(h.posted("/api/Tickets").await.len(), 1, "never a duplicate");
    h.verify().await;
}

#[tokio::test]
async fn a_rejected_create_fails_that_finding_and_the_others_go_on() {
    let h = Halo::start().await;
    let bad = finding("s3_bucket_public_access", "FAIL", "High", "bad");
    let good = finding("s3_bucket_public_access", "FAIL", "High", "good");
    let same = finding("s3_bucket_versioning", "FAIL", "Medium", "same");
    let manual = finding("s3_bucket_policy_review", "MANUAL", "Medium", "x");
    h.lookup(vec![tagged_ticket(91, &key(&same), &summary("s3_bucket_versioning", "Medium", "same"), 3, false)]).await;
    h.create(
        new_ticket("s3_bucket_public_access", "High", "bad", 2),
        &tag(&bad),
        ResponseTemplate::new(400)
            .set_body_json(json!({"ClassName": "HaloValidationException", "Message": "Priority 2 is not valid for ticket type 4"})),
        1,
    )
    .await;
    h.create(new_ticket("s3_bucket_public_access", "High", "good", 2), &tag(&good), ok_json(json!({"id": 92})), 1).await;
    let out = h.ok(json!({"findings": [bad, good, same, manual]})).await;
    assert_eq!(outcomes(&out), [o("failed", None), o("created", Some(92)), o("unchanged", Some(91)), o("skipped", None)], "{out}");
    let error = out["results"][0]["error"].as_str().unwrap();
    assert!(error.contains("Priority 2 is not valid for ticket type 4") && error.contains("HTTP 400"), "{error}");
    assert!(out["results"][1].get("error").is_none(), "{out}");
    let c = counts(&out);
    assert_eq!(c, [1, 0, 0, 0, 1, 1, 1]);
    assert_eq!(c.iter().sum::<i64>(), 4, "the counts add up to the findings");
    assert_eq!(h.posted("/api/Tickets").await.len(), 2, "a rejected create is not sent again");
    h.verify().await;
}
