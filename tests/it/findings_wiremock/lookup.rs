//! The bulk lookup of tagged tickets: one per file, every page and no more, a failing lookup.

use super::*;

fn lookup_request(page_no: u64) -> String {
    format!("GET /api/Tickets?search_details=prowler-key:&order=id&open_only=true&pageinate=true&page_size=100&page_no={page_no}")
}

#[tokio::test]
async fn one_lookup_request_serves_a_whole_file_of_findings() {
    let h = Halo::start().await;
    h.lookup(vec![]).await;
    let findings: Vec<Value> = serde_json::from_slice(&prowler_file("example_output_azure.ocsf.json")).unwrap();
    assert_eq!(findings.len(), 5);
    for (i, f) in findings.iter().enumerate() {
        let p = ocsf::parse(f).unwrap();
        let fields = json!({"summary": format!("[Prowler] {} - {} - {}", p.severity.as_str().to_uppercase(), p.check_id, p.resource_uid),
                            "tickettype_id": 4, "priority_id": match p.severity.as_str() { "High" => 2, "Medium" => 3, _ => 4 }});
        h.create(fields, &tag(f), saved(json!({"id": 2000 + i as i64})), 1).await;
    }
    let out = h.ok(json!({"findings": findings})).await;
    assert_eq!(counts(&out), [5, 0, 0, 0, 0, 0, 0], "{out}");
    let reqs = h.api_requests().await;
    assert_eq!(reqs[0], LOOKUP, "the lookup comes first");
    assert_eq!(
        reqs.iter().filter(|r| is_lookup(r)).count(),
        2,
        "one lookup (of open and of closed tickets) for the whole file, no search per finding: {reqs:?}"
    );
    assert_eq!(reqs, [LOOKUP, LOOKUP_CLOSED, POST_TICKETS, SETTLE], "two lookups, the five creates in one request, one duplicate check");
    h.verify().await;
}

#[tokio::test]
async fn the_lookup_reads_every_page_of_250_tagged_tickets_and_no_more() {
    let h = Halo::start().await;
    let f = finding("s3_bucket_public_access", "FAIL", "High", "logs");
    // 250 tagged tickets; the one of this finding is on page 3.
    let mut rows: Vec<Value> = (0..250)
        .map(|i| {
            tagged_ticket(
                5000 + i,
                &format!("prowler-aws-other_check-{ACCOUNT}-eu-west-1-b{i}"),
                "[Prowler] LOW - other_check - x",
                4,
                false,
            )
        })
        .collect();
    rows[240] = tagged_ticket(5240, &key(&f), &summary("s3_bucket_public_access", "High", "logs"), 2, false);
    let page3: Vec<Value> = rows.split_off(200);
    let page2: Vec<Value> = rows.split_off(100);
    h.lookup_page(1, rows, 250, None).await;
    h.lookup_page(2, page2, 250, None).await;
    h.lookup_page(3, page3, 250, None).await;
    h.no_closed(None).await;
    let out = h.ok(json!({"findings": [f]})).await;
    assert_eq!(outcomes(&out), [o("unchanged", Some(5240))], "found on page 3, so nothing was created: {out}");
    assert_eq!(h.api_requests().await, [lookup_request(1), lookup_request(2), lookup_request(3), LOOKUP_CLOSED.to_string()]);
    h.verify().await;
}

#[tokio::test]
async fn the_lookup_stops_when_the_record_count_is_reached() {
    let h = Halo::start().await;
    let f = finding("s3_bucket_public_access", "FAIL", "High", "logs");
    let mut rows: Vec<Value> = (0..200)
        .map(|i| {
            tagged_ticket(
                5000 + i,
                &format!("prowler-aws-other_check-{ACCOUNT}-eu-west-1-b{i}"),
                "[Prowler] LOW - other_check - x",
                4,
                false,
            )
        })
        .collect();
    let page2 = rows.split_off(100);
    h.lookup_page(1, rows, 200, None).await;
    h.lookup_page(2, page2, 200, None).await;
    h.no_closed(None).await;
    h.create(new_ticket("s3_bucket_public_access", "High", "logs", 2), &tag(&f), saved(json!({"id": 6001})), 1).await;
    let out = h.ok(json!({"findings": [f]})).await;
    assert_eq!(outcomes(&out), [o("created", Some(6001))], "{out}");
    assert_eq!(
        h.api_requests().await,
        [lookup_request(1), lookup_request(2), LOOKUP_CLOSED.to_string(), POST_TICKETS.to_string(), SETTLE.to_string()],
        "no page 3"
    );
    h.verify().await;
}

#[tokio::test]
async fn a_rerun_of_150_unchanged_findings_costs_one_list_request_per_page() {
    let h = Halo::start().await;
    let findings: Vec<Value> = (0..150).map(|i| finding("s3_bucket_public_access", "FAIL", "High", &format!("b{i:03}"))).collect();
    let mut rows: Vec<Value> = findings
        .iter()
        .enumerate()
        .map(|(i, f)| tagged_ticket(3000 + i as i64, &key(f), &summary("s3_bucket_public_access", "High", &format!("b{i:03}")), 2, false))
        .collect();
    let page2 = rows.split_off(100);
    h.lookup_page(1, rows, 150, None).await;
    h.lookup_page(2, page2, 150, None).await;
    h.no_closed(None).await;
    let out = h.ok(json!({"findings": findings})).await;
    assert_eq!(counts(&out), [0, 0, 0, 0, 150, 0, 0], "{out}");
    let got = outcomes(&out);
    for (i, (outcome, ticket)) in got.iter().enumerate() {
        assert_eq!((outcome.as_str(), *ticket), ("unchanged", Some(3000 + i as i64)));
    }
    assert_eq!(
        h.api_requests().await,
        [lookup_request(1), lookup_request(2), LOOKUP_CLOSED.to_string()],
        "no write, no per-finding search"
    );
    h.verify().await;
}

#[tokio::test]
async fn a_failing_lookup_fails_the_step_before_any_write() {
    let h = Halo::start().await;
    api("GET", "/api/Tickets")
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({"Message": "Agent lacks the Tickets permission"})))
        .expect(1)
        .named("lookup (forbidden)")
        .mount(&h.server)
        .await;
    let body = h.err(json!({"findings": [finding("s3_bucket_public_access", "FAIL", "High", "logs")]}), 500).await;
    let text = body.to_string();
    assert!(text.contains("HTTP 403") && text.contains("Agent lacks the Tickets permission"), "{body}");
    assert_eq!(h.api_requests().await, [LOOKUP], "nothing after the failed lookup");
    h.verify().await;
}
