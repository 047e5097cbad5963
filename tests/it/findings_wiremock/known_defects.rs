//! Defects once found: a shared key's ticket, a dry run's noted pass, a long summary.

use super::*;

#[tokio::test]
async fn the_ticket_of_a_shared_key_describes_the_failing_finding() {
    let h = Halo::start().await;
    let name = "example_output_gcp.ocsf.json";
    let findings: Vec<Value> = serde_json::from_slice(&prowler_file(name)).unwrap();
    // Findings 2, 3 and 4 (PASS, PASS, FAIL) have the same check, project, region and resource.
    assert_eq!(key(&findings[2]), key(&findings[4]));
    h.lookup(vec![]).await;
    h.writes.expect("/api/Tickets", "two creates".into(), |_| true, saved(json!({"id": 300})), 2);
    let out = h.ok(json!({"file": file_input(name)})).await;
    assert_eq!(out["results"][4]["outcome"], "created", "{out}");
    let posted: Vec<Value> = h.posted("/api/Tickets").await.into_iter().flat_map(|b| b.as_array().unwrap().clone()).collect();
    let rdp = posted.iter().find(|p| p["summary"].as_str().unwrap().contains("compute_firewall_rdp")).unwrap();
    let details = rdp["details"].as_str().unwrap();
    assert!(
        details.contains("<td>FAIL - Firewall &lt;resource_id&gt; does exposes port 3389"),
        "the ticket describes the failure:\n{details}"
    );
    assert!(!details.contains("<td>PASS - "), "a ticket for a failure says PASS:\n{details}");
    h.verify().await;
}

#[tokio::test]
async fn a_dry_run_predicts_an_already_noted_pass_as_unchanged() {
    let h = Halo::start().await;
    let f = finding("s3_bucket_public_access", "PASS", "High", "logs");
    h.lookup(vec![tagged_ticket(21, &key(&f), &summary("s3_bucket_public_access", "High", "logs"), 2, false)]).await;
    // Reading the notes is no change, so a dry run may do it (or work it out otherwise).
    api("GET", "/api/Actions")
        .and(query_is(&[("ticket_id", "21"), ("count", "10000"), ("excludesys", "true")]))
        .respond_with(ok_json(json!({"record_count": 1, "actions": [
            {"id": 403, "ticket_id": 21, "note": format!("Prowler: PASS ({LAST_SEEN}). The check no longer fails.")}]})))
        .expect(0..=1)
        .named("actions of ticket 21")
        .mount(&h.server)
        .await;
    let real = h.ok(json!({"findings": [f.clone()]})).await;
    assert_eq!(outcomes(&real), [o("unchanged", Some(21))], "{real}");
    let h = Halo::start().await;
    h.lookup(vec![tagged_ticket(21, &key(&f), &summary("s3_bucket_public_access", "High", "logs"), 2, false)]).await;
    api("GET", "/api/Actions")
        .and(query_is(&[("ticket_id", "21"), ("count", "10000"), ("excludesys", "true")]))
        .respond_with(ok_json(json!({"record_count": 1, "actions": [
            {"id": 403, "ticket_id": 21, "note": format!("Prowler: PASS ({LAST_SEEN}). The check no longer fails.")}]})))
        .expect(0..=1)
        .named("actions of ticket 21")
        .mount(&h.server)
        .await;
    let dry = h.ok(json!({"findings": [f], "dry_run": true})).await;
    assert_eq!(outcomes(&dry), outcomes(&real), "a dry run predicts the real run: {dry}");
    h.verify().await;
}

#[tokio::test]
async fn a_long_summary_is_cut_to_250_characters_and_a_rerun_keeps_it() {
    let h = Halo::start().await;
    let bucket = "b".repeat(300);
    let f = finding("s3_bucket_public_access", "FAIL", "High", &bucket);
    let full = summary("s3_bucket_public_access", "High", &bucket);
    let cut: String = full.chars().take(249).chain(std::iter::once('…')).collect();
    assert_eq!(cut.chars().count(), 250);
    h.lookup(vec![]).await;
    h.create(json!({"summary": cut, "tickettype_id": 4, "priority_id": 2}), &tag(&f), saved(json!({"id": 700})), 1).await;
    let out = h.ok(json!({"findings": [f.clone()]})).await;
    assert_eq!(outcomes(&out), [o("created", Some(700))], "{out}");
    h.verify().await;

    let h = Halo::start().await;
    h.lookup(vec![tagged_ticket(700, &key(&f), &cut, 2, false)]).await;
    let out = h.ok(json!({"findings": [f]})).await;
    assert_eq!(outcomes(&out), [o("unchanged", Some(700))], "{out}");
    assert_eq!(h.api_requests().await, [LOOKUP, LOOKUP_CLOSED]);
    h.verify().await;
}
