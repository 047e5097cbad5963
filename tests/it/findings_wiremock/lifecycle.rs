//! A ticket's lifecycle: reopen, note, close on pass, what gets skipped, and severity changes.

use super::*;

#[tokio::test]
async fn a_failure_whose_ticket_is_closed_reopens_it_with_a_note() {
    let h = Halo::start().await;
    let f = finding("s3_bucket_public_access", "FAIL", "High", "logs");
    h.lookup(vec![tagged_ticket(1042, &key(&f), &summary("s3_bucket_public_access", "High", "logs"), 2, true)]).await;
    h.note(1042, "Prowler: FAIL again", Some(1)).await;
    let out = h.ok(json!({"findings": [f]})).await;
    assert_eq!(outcomes(&out), [o("reopened", Some(1042))], "{out}");
    assert_eq!(counts(&out), [0, 0, 1, 0, 0, 0, 0]);
    assert_eq!(
        h.posted("/api/Actions").await,
        [json!([with_note_html(
            json!({"ticket_id": 1042, "outcome": "Private Note", "note": format!("Prowler: FAIL again ({LAST_SEEN}); reopened."),
                 "hiddenfromuser": true, "new_status": 1})
        )])]
    );
    assert_eq!(h.api_requests().await, [LOOKUP, LOOKUP_CLOSED, POST_ACTIONS]);
    h.verify().await;
}

#[tokio::test]
async fn reopen_uses_the_reopen_status_id_input() {
    let h = Halo::start().await;
    let f = finding("s3_bucket_public_access", "FAIL", "High", "logs");
    h.lookup(vec![tagged_ticket(1042, &key(&f), &summary("s3_bucket_public_access", "High", "logs"), 2, true)]).await;
    h.note(1042, "Prowler: FAIL again", Some(2)).await;
    let out = h.ok(json!({"findings": [f], "reopen_status_id": 2})).await;
    assert_eq!(outcomes(&out), [o("reopened", Some(1042))], "{out}");
    h.verify().await;
}

#[tokio::test]
async fn a_pass_with_an_open_ticket_is_noted_unless_the_newest_prowler_note_says_pass() {
    let h = Halo::start().await;
    let a = finding("s3_bucket_public_access", "PASS", "High", "a");
    let b = finding("s3_bucket_public_access", "PASS", "High", "b");
    let (sa, sb) = (summary("s3_bucket_public_access", "High", "a"), summary("s3_bucket_public_access", "High", "b"));
    h.lookup(vec![tagged_ticket(21, &key(&a), &sa, 2, false), tagged_ticket(22, &key(&b), &sb, 2, false)]).await;
    // Ticket 21: an older PASS note, then the finding failed again: the newest Prowler note is a FAIL.
    h.actions_of(
        21,
        json!([{"id": 301, "ticket_id": 21, "note": "Prowler: PASS (last seen 2026-08-01 08:30 UTC). The check no longer fails."},
               {"id": 305, "ticket_id": 21, "note": "Agent: looked at it"},
               {"id": 303, "ticket_id": 21, "note": "Prowler: FAIL again (last seen 2026-08-15 08:30 UTC); reopened."}]),
    )
    .await;
    // Ticket 22: the newest Prowler note already says PASS (an agent wrote after it).
    h.actions_of(
        22,
        json!([{"id": 403, "ticket_id": 22, "note": "Prowler: PASS (last seen 2026-08-20 08:30 UTC). The check no longer fails."},
               {"id": 401, "ticket_id": 22, "note": "Prowler: FAIL again (last seen 2026-08-15 08:30 UTC); reopened."},
               {"id": 404, "ticket_id": 22, "note": "Customer: thanks"}]),
    )
    .await;
    h.record(
        "/api/Actions",
        json!({"ticket_id": 21, "outcome": "Private Note", "note": format!("Prowler: PASS ({LAST_SEEN}). The check no longer fails."),
               "hiddenfromuser": true}),
        saved(json!({"id": 306, "ticket_id": 21})),
    )
    .await;
    let out = h.ok(json!({"findings": [a, b]})).await;
    assert_eq!(outcomes(&out), [o("updated", Some(21)), o("unchanged", Some(22))], "{out}");
    assert_eq!(counts(&out), [0, 1, 0, 0, 1, 0, 0]);
    assert_eq!(
        h.api_requests_sorted().await,
        [
            "GET /api/Actions?ticket_id=21&count=10000&excludesys=true",
            "GET /api/Actions?ticket_id=22&count=10000&excludesys=true",
            LOOKUP_CLOSED,
            LOOKUP,
            POST_ACTIONS
        ]
    );
    h.verify().await;
}

#[tokio::test]
async fn a_pass_with_on_pass_close_closes_the_open_ticket() {
    let h = Halo::start().await;
    let a = finding("s3_bucket_public_access", "PASS", "High", "a");
    let closed = finding("s3_bucket_public_access", "PASS", "High", "closed");
    h.lookup(vec![
        tagged_ticket(31, &key(&a), &summary("s3_bucket_public_access", "High", "a"), 2, false),
        tagged_ticket(32, &key(&closed), &summary("s3_bucket_public_access", "High", "closed"), 2, true),
    ])
    .await;
    h.note(31, "Prowler: PASS", Some(9)).await;
    h.closed_list(&[31], &[31]).await;
    let out = h.ok(json!({"findings": [a, closed], "on_pass": "close"})).await;
    assert_eq!(outcomes(&out), [o("closed", Some(31)), o("unchanged", Some(32))], "an already closed ticket is left alone: {out}");
    assert_eq!(counts(&out), [0, 0, 0, 1, 1, 0, 0]);
    assert_eq!(
        h.posted("/api/Actions").await,
        [json!([with_note_html(
            json!({"ticket_id": 31, "outcome": "Private Note", "note": format!("Prowler: PASS ({LAST_SEEN}); closed."), "hiddenfromuser": true,
                 "new_status": 9})
        )])]
    );
    h.verify().await;
}

#[tokio::test]
async fn on_pass_close_uses_the_closed_status_id_input() {
    let h = Halo::start().await;
    let a = finding("s3_bucket_public_access", "PASS", "High", "a");
    h.lookup(vec![tagged_ticket(31, &key(&a), &summary("s3_bucket_public_access", "High", "a"), 2, false)]).await;
    h.note(31, "Prowler: PASS", Some(8)).await;
    h.closed_list(&[31], &[31]).await;
    let out = h.ok(json!({"findings": [a], "on_pass": "close", "closed_status_id": 8})).await;
    assert_eq!(outcomes(&out), [o("closed", Some(31))], "{out}");
    h.verify().await;
}

#[tokio::test]
async fn a_close_that_does_not_close_fails_that_finding_naming_the_status_and_the_setting() {
    let h = Halo::with_connection(json!({"default_ticket_type_id": 4, "closed_status_id": 5})).await;
    let a = finding("s3_bucket_public_access", "PASS", "High", "a");
    h.lookup(vec![tagged_ticket(31, &key(&a), &summary("s3_bucket_public_access", "High", "a"), 2, false)]).await;
    h.note(31, "Prowler: PASS", Some(5)).await;
    // HaloITSM moved the ticket to status 5 but does not count it closed: not listed, and a
    // full read says so.
    h.closed_list(&[31], &[]).await;
    api("GET", "/api/Tickets/31")
        .and(query_is(&[("includedetails", "true")]))
        .respond_with(ok_json(json!({"id": 31, "status_id": 5, "hasbeenclosed": false})))
        .expect(1)
        .mount(&h.server)
        .await;
    let out = h.ok(json!({"findings": [a], "on_pass": "close"})).await;
    assert_eq!(outcomes(&out), [o("failed", Some(31))], "{out}");
    let error = out["results"][0]["error"].as_str().unwrap_or_default();
    assert!(error.contains("did not close ticket 31") && error.contains("status 5"), "{error}");
    h.verify().await;
}

#[tokio::test]
async fn a_pass_with_on_pass_ignore_or_without_a_ticket_writes_nothing() {
    let h = Halo::start().await;
    let open = finding("s3_bucket_public_access", "PASS", "High", "open");
    let none = finding("s3_bucket_public_access", "PASS", "High", "none");
    h.lookup(vec![tagged_ticket(41, &key(&open), &summary("s3_bucket_public_access", "High", "open"), 2, false)]).await;
    let out = h.ok(json!({"findings": [open, none], "on_pass": "ignore"})).await;
    assert_eq!(outcomes(&out), [o("unchanged", Some(41)), o("skipped", None)], "{out}");
    assert_eq!(counts(&out), [0, 0, 0, 0, 1, 1, 0]);
    assert_eq!(h.api_requests().await, [LOOKUP, LOOKUP_CLOSED]);
    h.verify().await;
}

#[tokio::test]
async fn a_pass_without_a_ticket_is_skipped_whatever_on_pass_says() {
    for on_pass in ["note", "close"] {
        let h = Halo::start().await;
        let f = finding("s3_bucket_public_access", "PASS", "High", "logs");
        h.lookup(vec![]).await;
        let out = h.ok(json!({"findings": [f], "on_pass": on_pass})).await;
        assert_eq!(outcomes(&out), [o("skipped", None)], "{on_pass}: {out}");
        assert_eq!(h.api_requests().await, [LOOKUP, LOOKUP_CLOSED], "{on_pass}");
        h.verify().await;
    }
}

#[tokio::test]
async fn low_severity_manual_muted_and_unwanted_statuses_are_skipped_without_a_write() {
    let h = Halo::start().await;
    let low = finding("s3_bucket_versioning", "FAIL", "Low", "logs");
    let manual = finding("s3_bucket_policy_review", "MANUAL", "Critical", "logs");
    let muted = finding("s3_bucket_logging", "MUTED", "High", "logs");
    let info = finding("s3_bucket_tags", "FAIL", "Informational", "logs");
    let tracked = finding("s3_bucket_public_access", "FAIL", "High", "logs");
    h.lookup(vec![
        // An open ticket for the low finding stays as it is.
        tagged_ticket(51, &key(&low), &summary("s3_bucket_versioning", "Critical", "logs"), 1, false),
        tagged_ticket(52, &key(&tracked), &summary("s3_bucket_public_access", "High", "logs"), 2, false),
    ])
    .await;
    let out = h.ok(json!({"findings": [low, manual, muted, info, tracked], "min_severity": "Medium"})).await;
    assert_eq!(
        outcomes(&out),
        [o("skipped", Some(51)), o("skipped", None), o("skipped", None), o("skipped", None), o("unchanged", Some(52))],
        "{out}"
    );
    assert_eq!(counts(&out), [0, 0, 0, 0, 1, 4, 0]);
    assert_eq!(h.api_requests().await, [LOOKUP, LOOKUP_CLOSED]);
    h.verify().await;
}

#[tokio::test]
async fn informational_findings_count_with_min_severity_informational() {
    let h = Halo::start().await;
    let info = finding("s3_bucket_tags", "FAIL", "Informational", "logs");
    h.lookup(vec![]).await;
    h.create(new_ticket("s3_bucket_tags", "Informational", "logs", 4), &tag(&info), saved(json!({"id": 61})), 1).await;
    let out = h.ok(json!({"findings": [info], "min_severity": "Informational"})).await;
    assert_eq!(outcomes(&out), [o("created", Some(61))], "{out}");
    h.verify().await;
}

#[tokio::test]
async fn the_statuses_input_chooses_what_gets_a_ticket() {
    let h = Halo::start().await;
    let fail = finding("s3_bucket_public_access", "FAIL", "High", "logs");
    let manual = finding("s3_bucket_policy_review", "MANUAL", "Medium", "logs");
    h.lookup(vec![]).await;
    h.create(new_ticket("s3_bucket_policy_review", "Medium", "logs", 3), &tag(&manual), saved(json!({"id": 71})), 1).await;
    let out = h.ok(json!({"findings": [fail, manual], "statuses": ["manual"]})).await;
    assert_eq!(outcomes(&out), [o("skipped", None), o("created", Some(71))], "{out}");
    assert_eq!(h.api_requests().await, [LOOKUP, LOOKUP_CLOSED, POST_TICKETS, SETTLE]);
    h.verify().await;
}

#[tokio::test]
async fn a_severity_change_updates_summary_and_priority() {
    let h = Halo::start().await;
    let f = finding("s3_bucket_public_access", "FAIL", "Critical", "logs");
    h.lookup(vec![tagged_ticket(81, &key(&f), &summary("s3_bucket_public_access", "Medium", "logs"), 3, false)]).await;
    h.record(
        "/api/Tickets",
        json!({"summary": summary("s3_bucket_public_access", "Critical", "logs"), "priority_id": 1, "id": 81}),
        saved(json!({"id": 81, "summary": summary("s3_bucket_public_access", "Critical", "logs"), "priority_id": 1})),
    )
    .await;
    let out = h.ok(json!({"findings": [f]})).await;
    assert_eq!(outcomes(&out), [o("updated", Some(81))], "{out}");
    assert_eq!(counts(&out), [0, 1, 0, 0, 0, 0, 0]);
    assert_eq!(h.api_requests().await, [LOOKUP, LOOKUP_CLOSED, POST_TICKETS]);
    h.verify().await;
}

/// The priority follows the severity only when the severity changes: a ticket whose summary
/// (and so severity) is unchanged keeps the priority it has, e.g. one an agent set by hand.
#[tokio::test]
async fn an_unchanged_summary_keeps_the_tickets_priority() {
    let h = Halo::start().await;
    let f = finding("s3_bucket_public_access", "FAIL", "High", "logs");
    let s = summary("s3_bucket_public_access", "High", "logs");
    // An agent raised the priority to 1 by hand; the map says 6 for High.
    h.lookup(vec![tagged_ticket(82, &key(&f), &s, 1, false)]).await;
    let out = h.ok(json!({"findings": [f], "priority_map": {"High": 6}})).await;
    assert_eq!(outcomes(&out), [o("unchanged", Some(82))], "{out}");
    assert_eq!(h.api_requests().await, [LOOKUP, LOOKUP_CLOSED], "no update");
    h.verify().await;
}
