//! Writes a batch to a request, and what happens when HaloITSM answers a batch otherwise: fewer
//! rows than records, a 5xx, a refusal of arrays of many (docs/halo-api.md#A14).

use super::*;

/// Three new findings and their creates, answered by `respond` (which sees the request).
async fn three_new(h: &Halo) -> Vec<Value> {
    h.lookup(vec![]).await;
    (0..3).map(|i| finding("s3_bucket_public_access", "FAIL", "High", &format!("b{i}"))).collect()
}

/// Saved tickets for the records of a request body: ids from `first`, the details sent.
fn saved_rows(body: &[u8], first: i64) -> Vec<Value> {
    let sent: Vec<Value> = serde_json::from_slice(body).unwrap_or_default();
    sent.iter().enumerate().map(|(i, t)| json!({"id": first + i as i64, "summary": t["summary"], "details": t["details"]})).collect()
}

#[tokio::test]
async fn new_tickets_go_in_one_request_and_are_matched_by_their_tags_in_any_order() {
    let h = Halo::start().await;
    let fs = three_new(&h).await;
    // HaloITSM answers every saved ticket, in another order than sent.
    api("POST", "/api/Tickets")
        .and(query_is(&[("returnall", "true")]))
        .respond_with(|r: &Request| {
            let mut rows = saved_rows(&r.body, 700);
            rows.reverse();
            ok_json(json!(rows))
        })
        .with_priority(1)
        .expect(1)
        .mount(&h.server)
        .await;
    let out = h.ok(json!({"findings": fs})).await;
    assert_eq!(outcomes(&out), [o("created", Some(700)), o("created", Some(701)), o("created", Some(702))], "{out}");
    assert_eq!(h.api_requests().await, [LOOKUP, LOOKUP_CLOSED, POST_TICKETS, SETTLE]);
    h.verify().await;
}

#[tokio::test]
async fn an_answer_with_only_the_last_ticket_is_completed_by_one_look_not_by_sending_again() {
    let h = Halo::start().await;
    let fs = three_new(&h).await;
    // A tenant that answers only the last saved record (returnall not honoured).
    api("POST", "/api/Tickets")
        .respond_with(|r: &Request| ok_json(saved_rows(&r.body, 700).pop().unwrap()))
        .with_priority(1)
        .expect(1)
        .mount(&h.server)
        .await;
    let rows: Vec<Value> =
        fs.iter().enumerate().map(|(i, f)| json!({"id": 700 + i as i64, "details": format!("<p>{}</p>", tag(f))})).collect();
    h.newest(rows).await;
    let out = h.ok(json!({"findings": fs})).await;
    assert_eq!(outcomes(&out), [o("created", Some(700)), o("created", Some(701)), o("created", Some(702))], "{out}");
    assert_eq!(h.api_requests().await, [LOOKUP, LOOKUP_CLOSED, POST_TICKETS, SETTLE, SETTLE], "one create request, never two");
    h.verify().await;
}

#[tokio::test]
async fn after_a_5xx_only_the_tickets_not_found_are_sent_again_and_only_once() {
    let h = Halo::start().await;
    let fs = three_new(&h).await;
    let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Vec<Value>>::new()));
    let seen = bodies.clone();
    api("POST", "/api/Tickets")
        .respond_with(move |r: &Request| {
            let sent: Vec<Value> = serde_json::from_slice(&r.body).unwrap_or_default();
            let first = seen.lock().unwrap().is_empty();
            seen.lock().unwrap().push(sent);
            // The first batch fails after HaloITSM saved two of its three tickets.
            if first { ResponseTemplate::new(500).set_body_string("Timeout expired") } else { ok_json(json!(saved_rows(&r.body, 800))) }
        })
        .with_priority(1)
        .expect(2)
        .mount(&h.server)
        .await;
    let rows: Vec<Value> =
        fs[..2].iter().enumerate().map(|(i, f)| json!({"id": 700 + i as i64, "details": format!("<p>{}</p>", tag(f))})).collect();
    h.newest(rows).await;
    let out = h.ok(json!({"findings": fs})).await;
    assert_eq!(outcomes(&out), [o("created", Some(700)), o("created", Some(701)), o("created", Some(800))], "{out}");
    let sent = bodies.lock().unwrap().clone();
    assert_eq!(sent.iter().map(Vec::len).collect::<Vec<_>>(), [3, 1], "the batch, then the one ticket not found");
    assert!(sent[1][0]["details"].as_str().unwrap().contains(&tag(&fs[2])));
    h.verify().await;
}

#[tokio::test]
async fn a_tenant_that_refuses_arrays_of_many_is_learned_once_and_sent_one_at_a_time() {
    let h = Halo::start().await;
    let sizes = std::sync::Arc::new(std::sync::Mutex::new(Vec::<usize>::new()));
    let seen = sizes.clone();
    api("POST", "/api/Tickets")
        .respond_with(move |r: &Request| {
            let sent: Vec<Value> = serde_json::from_slice(&r.body).unwrap_or_default();
            seen.lock().unwrap().push(sent.len());
            if sent.len() > 1 {
                ResponseTemplate::new(400).set_body_json(json!({"Message": "Only one record can be saved per request"}))
            } else {
                ok_json(json!(saved_rows(&r.body, 900 + seen.lock().unwrap().len() as i64)))
            }
        })
        .with_priority(1)
        .mount(&h.server)
        .await;
    for (run, buckets) in [(1, ["a", "b", "c"]), (2, ["d", "e", "f"])] {
        api("GET", "/api/Tickets")
            .and(query_is(&[
                ("search_details", "prowler-key:"),
                ("order", "id"),
                ("open_only", "true"),
                ("pageinate", "true"),
                ("page_size", "100"),
                ("page_no", "1"),
            ]))
            .respond_with(ok_json(json!({"record_count": 0, "tickets": []})))
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&h.server)
            .await;
        api("GET", "/api/Tickets")
            .and(query_is(&[
                ("search_details", "prowler-key:"),
                ("order", "id"),
                ("closed_only", "true"),
                ("pageinate", "true"),
                ("page_size", "100"),
                ("page_no", "1"),
            ]))
            .respond_with(ok_json(json!({"record_count": 0, "tickets": []})))
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&h.server)
            .await;
        let fs: Vec<Value> = buckets.iter().map(|b| finding("s3_bucket_public_access", "FAIL", "High", b)).collect();
        let out = h.ok(json!({"findings": fs})).await;
        assert_eq!(counts(&out)[0], 3, "run {run}: {out}");
    }
    // Run 1: the batch refused, then each alone (so arrays are what it refuses). Run 2: one at a
    // time at once, on the same connection.
    assert_eq!(*sizes.lock().unwrap(), [3, 1, 1, 1, 1, 1, 1]);
}

#[tokio::test]
async fn closes_go_in_one_request_and_are_proven_with_one_list() {
    let h = Halo::start().await;
    let (a, b) = (finding("s3_bucket_public_access", "PASS", "High", "a"), finding("s3_bucket_public_access", "PASS", "High", "b"));
    h.lookup(vec![
        tagged_ticket(31, &key(&a), &summary("s3_bucket_public_access", "High", "a"), 2, false),
        tagged_ticket(33, &key(&b), &summary("s3_bucket_public_access", "High", "b"), 2, false),
    ])
    .await;
    h.note(31, "Prowler: PASS", Some(9)).await;
    h.note(33, "Prowler: PASS", Some(9)).await;
    h.closed_list(&[31, 33], &[31, 33]).await;
    let out = h.ok(json!({"findings": [a, b], "on_pass": "close"})).await;
    assert_eq!(outcomes(&out), [o("closed", Some(31)), o("closed", Some(33))], "{out}");
    assert_eq!(h.api_requests().await, [LOOKUP, LOOKUP_CLOSED, POST_ACTIONS, "GET /api/Tickets?ticketids=31,33&count=2&closed_only=true"]);
    assert_eq!(h.posted("/api/Actions").await[0].as_array().map(Vec::len), Some(2), "both closes in one request");
    h.verify().await;
}

#[tokio::test]
async fn a_note_the_answer_leaves_out_is_looked_for_in_the_history_before_it_is_sent_again() {
    let h = Halo::start().await;
    let (a, b) = (finding("s3_bucket_public_access", "FAIL", "High", "a"), finding("s3_bucket_public_access", "FAIL", "High", "b"));
    h.lookup(vec![
        tagged_ticket(41, &key(&a), &summary("s3_bucket_public_access", "High", "a"), 2, true),
        tagged_ticket(42, &key(&b), &summary("s3_bucket_public_access", "High", "b"), 2, true),
    ])
    .await;
    // The answer accounts for ticket 41's note only; 42's is in its history (it was saved).
    api("POST", "/api/Actions")
        .respond_with(ok_json(json!([{"id": 501, "ticket_id": 41}])))
        .with_priority(1)
        .expect(1)
        .mount(&h.server)
        .await;
    let reopened = format!("Prowler: FAIL again ({LAST_SEEN}); reopened.");
    h.actions_of(42, json!([{"id": 502, "ticket_id": 42, "note": reopened}])).await;
    let out = h.ok(json!({"findings": [a, b]})).await;
    assert_eq!(outcomes(&out), [o("reopened", Some(41)), o("reopened", Some(42))], "{out}");
    assert_eq!(
        h.api_requests().await,
        [LOOKUP, LOOKUP_CLOSED, POST_ACTIONS, "GET /api/Actions?ticket_id=42&count=10000&excludesys=true"],
        "the note was found: not sent again"
    );
    h.verify().await;
}
