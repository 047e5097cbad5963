//! Write safety: an uncertain create is never sent twice, and a rejected create fails alone.

use super::*;

#[tokio::test]
async fn an_uncertain_create_found_by_its_tag_is_not_sent_again() {
    let h = Halo::start().await;
    let f = finding("s3_bucket_public_access", "FAIL", "High", "logs");
    let t = tag(&f);
    h.lookup(vec![]).await;
    h.create(new_ticket("s3_bucket_public_access", "High", "logs", 2), &t, failed_with(500, json!("Timeout expired")), 1).await;
    h.newest(vec![json!({"id": 1077, "summary": summary("s3_bucket_public_access", "High", "logs"), "details": format!("<p>{t}</p>")})])
        .await;
    let out = h.ok(json!({"findings": [f]})).await;
    assert_eq!(outcomes(&out), [o("created", Some(1077))], "{out}");
    // Looked for among the newest tagged tickets, found, not sent again; then the duplicate check.
    assert_eq!(h.api_requests().await, [LOOKUP, LOOKUP_CLOSED, POST_TICKETS, SETTLE, SETTLE]);
    h.verify().await;
}

#[tokio::test]
async fn an_uncertain_create_not_found_is_sent_exactly_once_more() {
    let h = Halo::start().await;
    let f = finding("s3_bucket_public_access", "FAIL", "High", "logs");
    let t = tag(&f);
    h.lookup(vec![]).await;
    let fields = new_ticket("s3_bucket_public_access", "High", "logs", 2);
    h.create(fields.clone(), &t, failed_with(502, json!("Bad Gateway")), 1).await;
    h.create(fields, &t, saved(json!({"id": 1078})), 1).await;
    // The search matches loosely: a ticket whose details do not hold the tag is not this one.
    h.newest(vec![json!({"id": 999, "summary": "Something else", "details": "<p>prowler-key: mentioned in passing</p>"})]).await;
    let out = h.ok(json!({"findings": [f]})).await;
    assert_eq!(outcomes(&out), [o("created", Some(1078))], "{out}");
    assert_eq!(h.api_requests().await, [LOOKUP, LOOKUP_CLOSED, POST_TICKETS, SETTLE, POST_TICKETS, SETTLE]);
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
    h.create(new_ticket("s3_bucket_public_access", "High", "logs", 2), &t, failed_with(503, json!("Service Unavailable")), 2).await;
    h.newest(vec![]).await;
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
        Answer::SavedAfter(json!({"id": 1079}), std::time::Duration::from_secs(3)),
        1,
    )
    .await;
    h.newest(vec![json!({"id": 1079, "details": format!("<table></table><p>{t}</p>")})]).await;
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
        failed_with(400, json!({"ClassName": "HaloValidationException", "Message": "Priority 2 is not valid for ticket type 4"})),
        // Refused in the batch, then alone.
        2,
    )
    .await;
    h.create(new_ticket("s3_bucket_public_access", "High", "good", 2), &tag(&good), saved(json!({"id": 92})), 1).await;
    let out = h.ok(json!({"findings": [bad, good, same, manual]})).await;
    assert_eq!(outcomes(&out), [o("failed", None), o("created", Some(92)), o("unchanged", Some(91)), o("skipped", None)], "{out}");
    let error = out["results"][0]["error"].as_str().unwrap();
    assert!(error.contains("Priority 2 is not valid for ticket type 4") && error.contains("HTTP 400"), "{error}");
    assert!(out["results"][1].get("error").is_none(), "{out}");
    let c = counts(&out);
    assert_eq!(c, [1, 0, 0, 0, 1, 1, 1]);
    assert_eq!(c.iter().sum::<i64>(), 4, "the counts add up to the findings");
    // HaloITSM refuses a batch whole: each record then goes alone, once, and the good one is made.
    let sizes: Vec<usize> = h.posted("/api/Tickets").await.iter().map(|b| b.as_array().unwrap().len()).collect();
    assert_eq!(sizes, [2, 1, 1], "refused together, then each alone once");
    h.verify().await;
}
