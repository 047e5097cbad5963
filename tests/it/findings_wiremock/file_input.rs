//! The file input: Prowler files work like the findings input, alone or with it, one lookup.

use super::*;

/// Mount the lookup and the two creates that the AWS example file needs.
async fn expect_aws_file(h: &Halo, findings: &[Value]) {
    h.lookup(vec![]).await;
    let key0 = "prowler:accessanalyzer_enabled:<account_uid>:<region>:<resource_uid>";
    assert_eq!(key(&findings[0]), key0, "placeholder finding IDs are not keys");
    h.create(
        json!({"summary": "[Prowler] LOW - accessanalyzer_enabled - <resource_uid>", "tickettype_id": 4, "priority_id": 4}),
        &tag_of(key0),
        saved(json!({"id": 201})),
        1,
    )
    .await;
    h.create(
        json!({"summary": "[Prowler] MEDIUM - account_maintain_different_contact_details_to_security_billing_and_operations - arn:aws:iam::<account_uid>:root",
               "tickettype_id": 4, "priority_id": 3}),
        &tag(&findings[2]),
        saved(json!({"id": 202})),
        1,
    )
    .await;
}

#[tokio::test]
async fn a_file_input_works_like_the_findings_input() {
    let name = "example_output_aws.ocsf.json";
    let findings: Vec<Value> = serde_json::from_slice(&prowler_file(name)).unwrap();
    let expected = [o("created", Some(201)), o("skipped", None), o("created", Some(202)), o("skipped", None), o("skipped", None)];

    let by_file = Halo::start().await;
    expect_aws_file(&by_file, &findings).await;
    let out_file = by_file.ok(json!({"file": file_input(name)})).await;
    assert_eq!(outcomes(&out_file), expected, "{out_file}");
    assert_eq!(counts(&out_file), [2, 0, 0, 0, 0, 3, 0]);
    by_file.verify().await;

    let by_findings = Halo::start().await;
    expect_aws_file(&by_findings, &findings).await;
    let out_findings = by_findings.ok(json!({"findings": findings})).await;
    assert_eq!(out_file, out_findings, "the same output either way");
    let mut sent_file = by_file.posted("/api/Tickets").await;
    let mut sent_findings = by_findings.posted("/api/Tickets").await;
    sent_file.sort_by_key(Value::to_string);
    sent_findings.sort_by_key(Value::to_string);
    assert_eq!(sent_file, sent_findings, "the same tickets either way");
    by_findings.verify().await;
}

#[tokio::test]
async fn findings_and_a_file_together_are_one_batch_findings_first() {
    let h = Halo::start().await;
    let name = "example_output_aws.ocsf.json";
    let from_file: Vec<Value> = serde_json::from_slice(&prowler_file(name)).unwrap();
    let extra = finding("s3_bucket_public_access", "FAIL", "High", "logs");
    expect_aws_file(&h, &from_file).await;
    h.create(new_ticket("s3_bucket_public_access", "High", "logs", 2), &tag(&extra), saved(json!({"id": 203})), 1).await;
    let out = h.ok(json!({"findings": [extra], "file": file_input(name)})).await;
    assert_eq!(
        outcomes(&out),
        [
            o("created", Some(203)),
            o("created", Some(201)),
            o("skipped", None),
            o("created", Some(202)),
            o("skipped", None),
            o("skipped", None)
        ],
        "{out}"
    );
    assert_eq!(h.api_requests().await.iter().filter(|r| is_lookup(r)).count(), 2, "one lookup each of open and closed tickets");
    h.verify().await;
}

#[tokio::test]
async fn every_shared_prowler_file_goes_through_with_one_lookup() {
    for name in [
        "example_output_aws.ocsf.json",
        "example_output_azure.ocsf.json",
        "example_output_gcp.ocsf.json",
        "example_output_kubernetes.ocsf.json",
    ] {
        let h = Halo::start().await;
        h.lookup(vec![]).await;
        h.writes.allow("/api/Tickets", saved(json!({"id": 300})));
        let findings: Vec<Value> = serde_json::from_slice(&prowler_file(name)).unwrap();
        let out = h.ok(json!({"file": file_input(name), "dry_run": false})).await;
        let c = counts(&out);
        assert_eq!(c.iter().sum::<i64>(), findings.len() as i64, "{name}: {out}");
        assert_eq!(c[6], 0, "{name}: no finding of a shared file fails: {out}");
        let reqs = h.api_requests().await;
        assert_eq!(reqs.iter().filter(|r| is_lookup(r)).count(), 2, "{name}: one lookup each of open and closed: {reqs:?}");
        h.verify().await;
    }
}
