//! Grouping by check: one ticket per provider, account and check, through reruns and reopens.

use super::*;

/// The key of a finding with `group_by: check`.
fn check_key(f: &Value) -> String {
    key_of(&ocsf::parse(f).unwrap(), GroupBy::Check)
}

#[tokio::test]
async fn group_by_check_makes_one_ticket_per_provider_account_and_check() {
    let h = Halo::start().await;
    let a = finding("s3_bucket_public_access", "FAIL", "Medium", "alpha");
    let b = finding("s3_bucket_public_access", "FAIL", "High", "beta");
    let c = finding("s3_bucket_public_access", "FAIL", "Medium", "gamma");
    let other_check = finding("s3_bucket_versioning", "FAIL", "Low", "alpha");
    let mut other_account = finding("s3_bucket_public_access", "FAIL", "Medium", "delta");
    other_account["cloud"]["account"]["uid"] = json!("210987654321");
    let group_key = check_key(&a);
    assert_eq!(group_key, format!("prowler-check:aws:{ACCOUNT}:s3_bucket_public_access"));
    assert_eq!(check_key(&b), group_key);
    assert_ne!(check_key(&other_account), group_key);
    h.lookup(vec![]).await;
    h.create(
        json!({"summary": "[Prowler] HIGH - s3_bucket_public_access - 3 resources", "tickettype_id": 4, "priority_id": 2}),
        &tag_of(&group_key),
        saved(json!({"id": 501})),
        1,
    )
    .await;
    h.create(
        json!({"summary": "[Prowler] LOW - s3_bucket_versioning - 1 resource", "tickettype_id": 4, "priority_id": 4}),
        &tag_of(&check_key(&other_check)),
        saved(json!({"id": 502})),
        1,
    )
    .await;
    h.create(
        json!({"summary": "[Prowler] MEDIUM - s3_bucket_public_access - 1 resource", "tickettype_id": 4, "priority_id": 3}),
        &tag_of(&check_key(&other_account)),
        saved(json!({"id": 503})),
        1,
    )
    .await;
    let out = h.ok(json!({"findings": [a, b, other_check, c, other_account], "group_by": "check"})).await;
    assert_eq!(
        outcomes(&out),
        [o("created", Some(501)), o("created", Some(501)), o("created", Some(502)), o("created", Some(501)), o("created", Some(503))],
        "{out}"
    );
    assert_eq!(out["results"][3]["key"], json!(group_key));
    assert_eq!(out["results"][3]["resource_uid"], "arn:aws:s3:::gamma");
    // The three tickets in one request.
    let posted = h.posted("/api/Tickets").await;
    assert_eq!(posted.iter().map(|b| b.as_array().unwrap().len()).collect::<Vec<_>>(), [3]);
    let grouped = posted[0].as_array().unwrap().iter().find(|p| p["summary"].as_str().unwrap().ends_with("3 resources")).unwrap();
    let details = grouped["details"].as_str().unwrap();
    for bucket in ["alpha", "beta", "gamma"] {
        let row = format!(
            "<tr><td>arn:aws:s3:::{bucket}</td><td>{bucket}</td><td>eu-west-1</td><td>FAIL</td><td>S3 Bucket {bucket} is public.</td></tr>"
        );
        assert_eq!(details.matches(&row).count(), 1, "one row for {bucket}:\n{details}");
    }
    assert!(!details.contains("delta"), "another account's resource is not in this ticket:\n{details}");
    assert_eq!(details.matches("<tr><td>").count(), 3, "{details}");
    h.verify().await;
}

#[tokio::test]
async fn group_by_check_rerun_unchanged_and_reopen() {
    let h = Halo::start().await;
    let a = finding("s3_bucket_public_access", "FAIL", "High", "alpha");
    let b = finding("s3_bucket_public_access", "FAIL", "High", "beta");
    let v = finding("s3_bucket_versioning", "FAIL", "Low", "alpha");
    h.lookup(vec![
        tagged_ticket(601, &check_key(&a), "[Prowler] HIGH - s3_bucket_public_access - 2 resources", 2, false),
        tagged_ticket(602, &check_key(&v), "[Prowler] LOW - s3_bucket_versioning - 1 resource", 4, true),
    ])
    .await;
    h.note(602, "Prowler: FAIL again", Some(1)).await;
    let out = h.ok(json!({"findings": [a, b, v], "group_by": "check"})).await;
    assert_eq!(outcomes(&out), [o("unchanged", Some(601)), o("unchanged", Some(601)), o("reopened", Some(602))], "{out}");
    assert_eq!(h.api_requests().await, [LOOKUP, LOOKUP_CLOSED, POST_ACTIONS]);
    h.verify().await;
}
