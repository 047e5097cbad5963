//! Every branch of a solution's life on the simulator: created, unchanged, updated with a note of
//! what changed, resolved (no assets left; gone from the list) by note or close, reopened, per
//! project, under a parent ticket, dry run, and bad input that writes nothing.

use serde_json::json;

use super::*;

fn pair(a: &str, b: &str) -> (String, String) {
    (a.to_string(), b.to_string())
}

#[tokio::test]
async fn solutions_become_tickets_and_follow_every_rerun() {
    let w = world().await;
    let first = json!([
        full("ubuntu-upgrade-openssl", 14_250, &[(11, "web-1"), (12, "web-2")]),
        full("msft-kb5034441", 60_000, &[(13, "dc-1")]),
        minimal("already-fixed", 0)
    ]);
    let out = w.ok(json!({"remediations": first})).await;
    assert_eq!(
        outcomes(&out),
        [pair("ubuntu-upgrade-openssl", "created"), pair("msft-kb5034441", "created"), pair("already-fixed", "skipped")],
        "{out}"
    );
    assert_eq!((out["created"].as_i64(), out["skipped"].as_i64()), (Some(2), Some(1)));
    let (openssl, kb) = (ticket_of(&out, 0), ticket_of(&out, 1));
    let t = w.ticket(openssl);
    assert_eq!(t["summary"], "[InsightVM] Apply ubuntu-upgrade-openssl - 2 assets, 3 vulnerabilities");
    assert_eq!(
        (t["priority_id"].as_i64(), w.ticket(kb)["priority_id"].as_i64()),
        (Some(2), Some(1)),
        "risk bands: 14250 High, 60000 Critical"
    );
    let details = t["details"].as_str().unwrap_or_default();
    for want in [
        "apt-get install --only-upgrade openssl",
        "web-2",
        "10.0.0.12",
        "Ubuntu: openssl &lt;vulnerability&gt;",
        "ivm-key:",
        "ivm-project:",
        "ivm-state:",
    ] {
        assert!(details.contains(want), "details lack {want}: {details}");
    }

    // The same list again: nothing is written.
    let writes = w.writes();
    let again = w.ok(json!({"remediations": first})).await;
    assert_eq!(again["unchanged"], 2, "{again}");
    assert_eq!(w.writes(), writes);

    // One asset patched, another newly affected, same count: one update and one note naming them.
    let changed =
        json!([full("ubuntu-upgrade-openssl", 9_000, &[(12, "web-2"), (14, "web-4")]), full("msft-kb5034441", 60_000, &[(13, "dc-1")])]);
    let out = w.ok(json!({"remediations": changed})).await;
    assert_eq!(outcomes(&out)[..2], [pair("ubuntu-upgrade-openssl", "updated"), pair("msft-kb5034441", "unchanged")], "{out}");
    assert_eq!(w.writes(), writes + 2, "one update, one note");
    let note = w.notes(openssl).last().cloned().unwrap_or_default();
    assert_eq!(
        note,
        format!(
            "InsightVM: ubuntu-upgrade-openssl changed (project {PROJECT}): risk score 14250 -> 9000. No longer affected: asset 11. Newly affected: web-4 (10.0.0.14)."
        )
    );
    assert_eq!(w.ticket(openssl)["priority_id"], 3, "the new risk band");

    // The KB is gone from the list: noted as resolved once, however often the list is sent.
    let only_openssl = json!([full("ubuntu-upgrade-openssl", 9_000, &[(12, "web-2"), (14, "web-4")])]);
    let out = w.ok(json!({"remediations": only_openssl})).await;
    assert_eq!(outcomes(&out), [pair("ubuntu-upgrade-openssl", "unchanged"), pair("msft-kb5034441", "updated")], "{out}");
    assert_eq!((out["results"][1]["reason"].as_str(), out["results"][1].get("index")), (Some("gone from the list"), None));
    assert_eq!(
        w.notes(kb).last().cloned().unwrap_or_default(),
        format!("InsightVM: resolved: msft-kb5034441 is no longer among the remediations of project {PROJECT}.")
    );
    let writes = w.writes();
    let out = w.ok(json!({"remediations": only_openssl})).await;
    assert_eq!(outcomes(&out)[1], pair("msft-kb5034441", "unchanged"), "noted once");
    assert_eq!(w.writes(), writes);

    // With absent_means_fixed off, a solution missing from a cut list is left alone.
    let out = w.ok(json!({"remediations": [], "absent_means_fixed": false})).await;
    assert_eq!(outcomes(&out), Vec::<(String, String)>::new(), "{out}");

    // No assets left, closing: the ticket is closed; the solution comes back: reopened.
    let mut fixed = minimal("ubuntu-upgrade-openssl", 0);
    fixed["summary"] = json!("Apply ubuntu-upgrade-openssl");
    let out = w.ok(json!({"remediations": [fixed], "on_resolved": "close", "absent_means_fixed": false})).await;
    assert_eq!((outcomes(&out)[0].1.as_str(), out["results"][0]["reason"].as_str()), ("closed", Some("no assets left")), "{out}");
    assert_eq!(w.ticket(openssl)["status_id"], 9);
    let out = w.ok(json!({"remediations": only_openssl, "absent_means_fixed": false})).await;
    assert_eq!((outcomes(&out)[0].1.as_str(), ticket_of(&out, 0)), ("reopened", openssl), "{out}");
    assert_eq!(w.ticket(openssl)["status_id"], 1);
    assert!(w.notes(openssl).last().is_some_and(|n| n.starts_with("InsightVM: ubuntu-upgrade-openssl needs work again")));
    assert_eq!(w.halo.sim.tickets().len(), 7 + 2, "never a second ticket for a solution");
}

#[tokio::test]
async fn projects_are_kept_apart_and_can_have_a_parent_ticket() {
    let w = world().await;
    let list = json!([full("ubuntu-upgrade-openssl", 14_250, &[(11, "web-1")]), full("msft-kb5034441", 60_000, &[(13, "dc-1")])]);
    let out = w.ok(json!({"remediations": list, "parent_ticket": true})).await;
    let parent = out["parent"]["ticket_id"].as_i64().unwrap_or_default();
    assert_eq!(out["parent"]["outcome"], "created", "{out}");
    let p = w.ticket(parent);
    assert_eq!(p["summary"], format!("[InsightVM] Remediation project: {PROJECT}"));
    assert_eq!(p["priority_id"], 1, "the highest risk among its solutions");
    assert_eq!(p["child_ticket_ids"], json!([ticket_of(&out, 0), ticket_of(&out, 1)]));
    assert_eq!(w.ticket(ticket_of(&out, 0))["parent_id"], parent);

    // Another project with the same solution: its own tickets; the first project's stay open.
    let other = w.ok(json!({"remediations": [full("ubuntu-upgrade-openssl", 14_250, &[(21, "db-1")])], "project": "Databases"})).await;
    assert_eq!(outcomes(&other), [pair("ubuntu-upgrade-openssl", "created")], "{other}");
    assert_ne!(ticket_of(&other, 0), ticket_of(&out, 0));

    // The project named with other case and spaces is the same project.
    let same = w.ok(json!({"remediations": list, "project": "  production WEB servers"})).await;
    assert_eq!(same["unchanged"], 2, "{same}");

    // The first project again with one solution fixed: the parent's listing is updated.
    let out2 = w.ok(json!({"remediations": [list[0].clone()], "parent_ticket": true})).await;
    assert_eq!((out2["parent"]["outcome"].as_str(), out2["parent"]["ticket_id"].as_i64()), (Some("updated"), Some(parent)), "{out2}");
    assert_eq!(outcomes(&out2), [pair("ubuntu-upgrade-openssl", "unchanged"), pair("msft-kb5034441", "updated")]);
    assert_eq!(w.ticket(parent)["priority_id"], 2);

    // A cut list (absent_means_fixed off) that leaves the open solution out: the parent stays
    // open and says so.
    let out3 = w.ok(json!({"remediations": [], "parent_ticket": true, "absent_means_fixed": false})).await;
    assert_eq!(out3["parent"]["outcome"], "updated", "{out3}");
    assert!(w.ticket(parent)["details"].as_str().unwrap_or_default().contains("Still open, not in the last list: ubuntu-upgrade-openssl"));

    // Everything fixed, closing: the children are closed first, then the parent.
    let out4 = w.ok(json!({"remediations": [], "parent_ticket": true, "on_resolved": "close"})).await;
    assert_eq!(
        (outcomes(&out4), out4["parent"]["outcome"].as_str()),
        (vec![pair("ubuntu-upgrade-openssl", "closed"), pair("msft-kb5034441", "closed")], Some("closed")),
        "the noted one was still open, so it is closed too: {out4}"
    );
    assert!(w.ticket(parent)["status_id"] == 9 && w.ticket(ticket_of(&out, 0))["status_id"] == 9);
}

#[tokio::test]
async fn a_dry_run_predicts_and_bad_input_writes_nothing() {
    let w = world().await;
    let list = json!([full("ubuntu-upgrade-openssl", 14_250, &[(11, "web-1")])]);
    let dry = w.ok(json!({"remediations": list, "dry_run": true, "parent_ticket": true})).await;
    assert_eq!((outcomes(&dry), dry["parent"]["outcome"].as_str()), (vec![pair("ubuntu-upgrade-openssl", "created")], Some("created")));
    assert_eq!(w.writes(), 0);

    let requests = w.requests();
    for (input, field) in [
        (json!({"remediations": [list[0].clone(), {"summary": "no id", "assetCount": 1}]}), "`remediations[1].nexposeId`"),
        (json!({"remediations": [list[0].clone(), list[0].clone()]}), "`remediations[1].nexposeId`"),
        (json!({"remediations": [{"nexposeId": "x", "assets": [{"hostName": "h"}]}]}), "`remediations[0].assets[0].id`"),
        (json!({"remediations": [{"nexposeId": "x", "assetCount": "many"}]}), "`remediations[0].assetCount`"),
        (json!({"remediations": list, "project": "  "}), "`project`"),
        (json!({"remediations": list, "priority_bands": [{"min_risk_score": 10, "priority_id": 0}]}), "`priority_bands[0].priority_id`"),
        (
            json!({"remediations": list, "priority_bands": [{"min_risk_score": 10, "priority_id": 1}, {"min_risk_score": 10, "priority_id": 2}]}),
            "`priority_bands[1].min_risk_score`",
        ),
    ] {
        let (s, body) = w.send(input).await;
        assert_eq!(s, 400, "{body}");
        let cause = body["body"]["error"]["cause"].as_str().or(body["error"]["cause"].as_str()).unwrap_or_default().to_string();
        let text = if cause.is_empty() { body.to_string() } else { cause };
        assert!(text.contains(field), "{field} not named: {text}");
    }
    assert_eq!(w.requests(), requests, "nothing was read or written");
}
