//! A new failure creates one ticket: its body, type, priority and team, the default priority map.

use super::*;

#[tokio::test]
async fn a_new_failure_creates_one_ticket_with_the_full_body() {
    let h = Halo::start().await;
    let mut f = finding("s3_bucket_public_access", "FAIL", "High", "logs");
    f["finding_info"]["title"] = json!("Ensure S3 buckets <b>block</b> public access & \"more\"");
    f["status_detail"] = json!("Bucket logs is public <script>alert(1)</script>");
    f["resources"][0]["name"] = json!("");
    f["cloud"]["account"]["name"] = json!("prod");
    f["remediation"]["references"] =
        json!(["https://docs.aws.amazon.com/s3/block?a=1&b=2", "aws s3api put-public-access-block --bucket logs"]);
    f["unmapped"]["compliance"] = json!({"CIS-3.0": ["2.1.4", "2.1.5"], "ISO27001-2013": ["A.8.1"]});
    f["unmapped"]["related_url"] = json!("https://prowler.example/checks/s3");
    let key = key(&f);
    assert_eq!(key, format!("prowler-aws-s3_bucket_public_access-{ACCOUNT}-eu-west-1-logs"), "a real finding ID is the key");
    let tag = tag_of(&key);
    h.lookup(vec![]).await;
    h.create(
        json!({"summary": "[Prowler] HIGH - s3_bucket_public_access - arn:aws:s3:::logs", "tickettype_id": 4, "priority_id": 2}),
        &tag,
        saved(json!({"id": 1042, "summary": "[Prowler] HIGH - s3_bucket_public_access - arn:aws:s3:::logs"})),
        1,
    )
    .await;
    let out = h.ok(json!({"findings": [f]})).await;
    assert_eq!(
        out,
        json!({"created": 1, "updated": 0, "reopened": 0, "closed": 0, "unchanged": 0, "skipped": 0, "failed": 0,
               "results": [{"index": 0, "key": key, "check_id": "s3_bucket_public_access", "resource_uid": "arn:aws:s3:::logs",
                            "severity": "High", "status": "FAIL", "ticket_id": 1042, "outcome": "created"}]})
    );
    // One request creates; one list checks for tickets opened for the key elsewhere meanwhile.
    assert_eq!(h.api_requests().await, [LOOKUP, LOOKUP_CLOSED, POST_TICKETS, SETTLE]);

    let posted = h.posted("/api/Tickets").await;
    let details = posted[0][0]["details"].as_str().unwrap();
    let row = |label: &str, value: &str| format!("<th align=\"left\">{label}</th><td>{value}</td>");
    for want in [
        "Ensure S3 buckets &lt;b&gt;block&lt;/b&gt; public access &amp; &quot;more&quot;".to_string(),
        row("Check", "s3_bucket_public_access"),
        row("Severity", "High"),
        row("Status", "FAIL - Bucket logs is public &lt;script&gt;alert(1)&lt;/script&gt;"),
        row("Provider", "aws"),
        row("Account", "123456789012 (prod)"),
        row("Region", "eu-west-1"),
        row("Resource UID", "arn:aws:s3:::logs"),
        row("Resource name", "-"),
        row("Resource type", "AwsS3Bucket"),
        row("Risk", "Anyone can read the bucket."),
        row("Remediation", "Block public access."),
        "<a href=\"https://docs.aws.amazon.com/s3/block?a=1&amp;b=2\">https://docs.aws.amazon.com/s3/block?a=1&amp;b=2</a>".to_string(),
        "<code>aws s3api put-public-access-block --bucket logs</code>".to_string(),
        "https://prowler.example/checks/s3".to_string(),
        "CIS-3.0: 2.1.4, 2.1.5".to_string(),
        "ISO27001-2013: A.8.1".to_string(),
        row("First seen", "2026-08-30 10:00:00 UTC"),
        row("Last seen", "2026-09-01 08:30:00 UTC"),
        tag.clone(),
    ] {
        assert!(details.contains(&want), "the details lack {want}:\n{details}");
    }
    assert!(!details.contains("<script>") && !details.contains("<b>block"), "unescaped input in the details:\n{details}");
    assert_eq!(tag.len(), "prowler-key:".len() + 16);
    assert!(tag["prowler-key:".len()..].chars().all(|c| c.is_ascii_hexdigit()), "{tag}");
    h.verify().await;
}

#[tokio::test]
async fn empty_values_are_dashes_in_the_details_and_the_summary() {
    let h = Halo::start().await;
    let f = json!({"class_name": "DetectionFinding", "status_code": "FAIL", "severity": "Medium",
                   "metadata": {"event_code": "iam_root_mfa"}, "finding_info": {"uid": "prowler-aws-iam_root_mfa-1"}});
    h.lookup(vec![]).await;
    h.create(
        json!({"summary": "[Prowler] MEDIUM - iam_root_mfa - -", "tickettype_id": 4, "priority_id": 3}),
        &tag(&f),
        saved(json!({"id": 77})),
        1,
    )
    .await;
    let out = h.ok(json!({"findings": [f]})).await;
    assert_eq!(outcomes(&out), [o("created", Some(77))]);
    let details = h.posted("/api/Tickets").await[0][0]["details"].as_str().unwrap().to_string();
    for label in [
        "Provider",
        "Account",
        "Region",
        "Resource UID",
        "Resource name",
        "Resource type",
        "Risk",
        "Remediation",
        "References",
        "Compliance",
        "First seen",
        "Last seen",
    ] {
        assert!(details.contains(&format!("<th align=\"left\">{label}</th><td>-</td>")), "{label} should be `-`:\n{details}");
    }
    assert!(details.contains("FAIL - -"), "an empty status detail is `-`:\n{details}");
    h.verify().await;
}

#[tokio::test]
async fn create_takes_type_priority_map_team_and_dedupe_field_from_the_inputs() {
    let h = Halo::start().await;
    let high = finding("s3_bucket_public_access", "FAIL", "High", "logs");
    let medium = finding("s3_bucket_versioning", "FAIL", "Medium", "logs");
    let critical = finding("s3_bucket_no_mfa_delete", "FAIL", "critical", "logs");
    h.lookup_page(1, vec![], 0, Some(102)).await;
    h.no_closed(Some(102)).await;
    for (f, check, sev, priority, id) in [
        (&high, "s3_bucket_public_access", "High", 7, 11),
        (&medium, "s3_bucket_versioning", "Medium", 3, 12),
        (&critical, "s3_bucket_no_mfa_delete", "Critical", 6, 13),
    ] {
        h.create(
            json!({"summary": summary(check, sev, "logs"), "tickettype_id": 9, "priority_id": priority, "team_id": 3,
                   "customfields": [{"id": 102, "value": key(f)}]}),
            &tag(f),
            saved(json!({"id": id})),
            1,
        )
        .await;
    }
    let out = h
        .ok(json!({"findings": [high, medium, critical], "tickettype_id": 9, "priority_map": {"High": 7, "critical": 6}, "team_id": 3,
                   "dedupe_field_id": 102}))
        .await;
    assert_eq!(outcomes(&out), [o("created", Some(11)), o("created", Some(12)), o("created", Some(13))], "{out}");
    assert_eq!(
        h.api_requests().await[0],
        "GET /api/Tickets?search_details=prowler-key:&order=id&include_custom_fields=102&open_only=true&pageinate=true&page_size=100&page_no=1"
    );
    // The three tickets in one request.
    assert_eq!(h.posted("/api/Tickets").await.iter().map(|b| b.as_array().unwrap().len()).collect::<Vec<_>>(), [3]);
    h.verify().await;
}

#[tokio::test]
async fn the_default_priority_map_is_critical_1_high_2_medium_3_low_4() {
    let h = Halo::start().await;
    let mut all = Vec::new();
    for (i, (sev, priority)) in [("Critical", 1), ("High", 2), ("Medium", 3), ("Low", 4)].into_iter().enumerate() {
        let check = format!("check_{}", sev.to_lowercase());
        let f = finding(&check, "FAIL", sev, "logs");
        h.create(new_ticket(&check, sev, "logs", priority), &tag(&f), saved(json!({"id": 20 + i as i64})), 1).await;
        all.push(f);
    }
    h.lookup(vec![]).await;
    let out = h.ok(json!({"findings": all})).await;
    assert_eq!(counts(&out), [4, 0, 0, 0, 0, 0, 0], "{out}");
    h.verify().await;
}
