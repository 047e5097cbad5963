//! Reruns and dedupe: an unchanged ticket is not written, and how the ticket of a key is found.

use super::*;

#[tokio::test]
async fn a_rerun_with_the_ticket_unchanged_writes_nothing() {
    let h = Halo::start().await;
    let f = finding("s3_bucket_public_access", "FAIL", "High", "logs");
    h.lookup(vec![tagged_ticket(1042, &key(&f), &summary("s3_bucket_public_access", "High", "logs"), 2, false)]).await;
    let out = h.ok(json!({"findings": [f]})).await;
    assert_eq!(counts(&out), [0, 0, 0, 0, 1, 0, 0], "{out}");
    assert_eq!(out["results"][0]["ticket_id"], 1042);
    assert_eq!(out["results"][0]["outcome"], "unchanged");
    assert_eq!(h.api_requests().await, [LOOKUP, LOOKUP_CLOSED]);
    h.verify().await;
}

#[tokio::test]
async fn the_tag_may_come_in_details_html() {
    let h = Halo::start().await;
    let f = finding("s3_bucket_public_access", "FAIL", "High", "logs");
    let mut t = tagged_ticket(1042, &key(&f), &summary("s3_bucket_public_access", "High", "logs"), 2, false);
    let details = t.as_object_mut().unwrap().remove("details").unwrap();
    t["details_html"] = details;
    h.lookup(vec![t]).await;
    let out = h.ok(json!({"findings": [f]})).await;
    assert_eq!(outcomes(&out), [o("unchanged", Some(1042))]);
    h.verify().await;
}

#[tokio::test]
async fn with_a_dedupe_field_the_key_in_the_custom_field_finds_the_ticket() {
    let h = Halo::start().await;
    let f = finding("s3_bucket_public_access", "FAIL", "High", "logs");
    let other = finding("s3_bucket_versioning", "FAIL", "High", "logs");
    let ticket = |id: i64, field: i64, f: &Value, check: &str| {
        json!({"id": id, "summary": summary(check, "High", "logs"), "details": "<p>No tag here: it was edited away.</p>", "priority_id": 2,
               "hasbeenclosed": false, "customfields": [{"id": 101, "name": "CFOther", "value": "x"},
                                                        {"id": field, "name": "CFProwlerKey", "label": "Prowler key", "value": key(f)}]})
    };
    // The first ticket holds the key in the dedupe field; the second holds the other finding's key
    // in a different field, which does not count.
    h.lookup_page(
        1,
        vec![ticket(1042, 102, &f, "s3_bucket_public_access"), ticket(1043, 103, &other, "s3_bucket_versioning")],
        2,
        Some(102),
    )
    .await;
    h.no_closed(Some(102)).await;
    // The key is only in the custom field of a row: a full read confirms it before it counts.
    api("GET", "/api/Tickets/1042")
        .and(query_is(&[("includedetails", "true")]))
        .respond_with(ok_json(ticket(1042, 102, &f, "s3_bucket_public_access")))
        .expect(1)
        .mount(&h.server)
        .await;
    h.create(
        json!({"summary": summary("s3_bucket_versioning", "High", "logs"), "tickettype_id": 4, "priority_id": 2,
               "customfields": [{"id": 102, "value": key(&other)}]}),
        &tag(&other),
        saved(json!({"id": 1044})),
        1,
    )
    .await;
    let out = h.ok(json!({"findings": [f, other], "dedupe_field_id": 102})).await;
    assert_eq!(outcomes(&out), [o("unchanged", Some(1042)), o("created", Some(1044))], "{out}");
    h.verify().await;
}

#[tokio::test]
async fn of_several_tickets_for_one_key_the_oldest_open_one_wins_as_settling_keeps_it() {
    let h = Halo::start().await;
    let a = finding("s3_bucket_public_access", "FAIL", "High", "a");
    let b = finding("s3_bucket_public_access", "FAIL", "High", "b");
    let (sa, sb) = (summary("s3_bucket_public_access", "High", "a"), summary("s3_bucket_public_access", "High", "b"));
    h.lookup(vec![
        tagged_ticket(10, &key(&a), &sa, 2, false),
        tagged_ticket(11, &key(&a), &sa, 2, true),
        tagged_ticket(12, &key(&b), &sb, 2, false),
        tagged_ticket(13, &key(&b), &sb, 2, false),
        tagged_ticket(14, &key(&b), &sb, 2, true),
    ])
    .await;
    let out = h.ok(json!({"findings": [a, b]})).await;
    // Of two open tickets the oldest, the one `converge` keeps when two were opened at once.
    assert_eq!(outcomes(&out), [o("unchanged", Some(10)), o("unchanged", Some(12))], "no reopen of a closed duplicate: {out}");
    assert_eq!(h.api_requests().await, [LOOKUP, LOOKUP_CLOSED]);
    h.verify().await;
}
