//! A dry run only looks up and reports what would happen.

use super::*;

#[tokio::test]
async fn a_dry_run_only_looks_up_and_reports_what_would_happen() {
    let h = Halo::start().await;
    let new = finding("s3_bucket_public_access", "FAIL", "High", "new");
    let reopen = finding("s3_bucket_public_access", "FAIL", "High", "reopen");
    let update = finding("s3_bucket_public_access", "FAIL", "Critical", "update");
    let same = finding("s3_bucket_public_access", "FAIL", "High", "same");
    let close = finding("s3_bucket_public_access", "PASS", "High", "close");
    let manual = finding("s3_bucket_policy_review", "MANUAL", "High", "manual");
    let s = |b: &str, sev: &str| summary("s3_bucket_public_access", sev, b);
    h.lookup(vec![
        tagged_ticket(1, &key(&reopen), &s("reopen", "High"), 2, true),
        tagged_ticket(2, &key(&update), &s("update", "High"), 2, false),
        tagged_ticket(3, &key(&same), &s("same", "High"), 2, false),
        tagged_ticket(4, &key(&close), &s("close", "High"), 2, false),
    ])
    .await;
    let out = h.ok(json!({"findings": [new, reopen, update, same, close, manual], "on_pass": "close", "dry_run": true})).await;
    assert_eq!(
        outcomes(&out),
        [
            o("created", None),
            o("reopened", Some(1)),
            o("updated", Some(2)),
            o("unchanged", Some(3)),
            o("closed", Some(4)),
            o("skipped", None)
        ],
        "{out}"
    );
    assert_eq!(counts(&out), [1, 1, 1, 1, 1, 1, 0]);
    assert_eq!(h.api_requests().await, [LOOKUP, LOOKUP_CLOSED], "nothing but the lookup");
    h.verify().await;
}
