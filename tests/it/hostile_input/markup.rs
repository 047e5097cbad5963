//! Every writing step, fed markup, entities and text-hiding characters: what lands in HaloITSM's
//! HTML fields (ticket `details`, an action's `note_html`) shows them as text.

use serde_json::{Value, json};

use crate::common::{sim_world, step_output};

const HOSTILE: &str = "<script>alert(1)</script> <img src=x onerror=alert(2)> &amp; &#60;b&#62; invoice\u{202e}fdp.exe \u{1}end";

/// Raw markup or hiding characters in `html`, if any.
fn unsafe_in(html: &str) -> Option<&'static str> {
    let lower = html.to_ascii_lowercase();
    ["<script", "<img", "\u{202e}", "\u{1}"].into_iter().find(|bad| lower.contains(bad))
}

fn investigation(title: &str) -> Value {
    json!({"rrn": "rrn:investigation:us:1:investigation:HOSTILE", "title": title, "status": "OPEN", "priority": "HIGH",
           "disposition": "UNDECIDED", "source": HOSTILE, "created_time": "2026-09-01T09:00:00Z",
           "assignee": {"name": HOSTILE, "email": "x@example.com"}})
}

fn remediation(id: &str) -> Value {
    json!({"solutionId": 9, "nexposeId": id, "summary": HOSTILE, "fix": HOSTILE, "assetCount": 1, "vulnerabilityCount": 1,
           "riskScore": 900, "assets": [], "vulnerabilities": []})
}

#[tokio::test]
async fn no_writing_step_lets_markup_into_an_html_field() {
    let (halo, srv, conn) = sim_world(json!({"reference_field_id": 101})).await;
    let ok = |what: &str, s: u16, out: &Value| assert_eq!(s, 200, "{what}: {out}");
    let (s, out) = step_output(&srv, &conn, "create_ticket", json!({"summary": "Hostile", "details": HOSTILE})).await;
    ok("create_ticket", s, &out);
    let id = out["ticket"]["id"].as_i64().unwrap();
    let (s, out) = step_output(&srv, &conn, "update_ticket", json!({"ticket_id": id, "details": format!("again {HOSTILE}")})).await;
    ok("update_ticket", s, &out);
    let (s, out) = step_output(&srv, &conn, "add_comment", json!({"ticket_id": id, "comment": HOSTILE})).await;
    ok("add_comment", s, &out);
    let note = out["comment_id"].as_i64().unwrap();
    let (s, out) = step_output(&srv, &conn, "update_comment", json!({"ticket_id": id, "comment_id": note, "comment": HOSTILE})).await;
    ok("update_comment", s, &out);
    let (s, out) = step_output(&srv, &conn, "close_ticket", json!({"ticket_id": id, "resolution": HOSTILE})).await;
    ok("close_ticket", s, &out);
    let upsert = json!({"reference": HOSTILE, "summary": "Hostile reference", "details": HOSTILE, "note": HOSTILE});
    let (s, out) = step_output(&srv, &conn, "upsert_ticket_by_reference", upsert.clone()).await;
    ok("upsert (create)", s, &out);
    let mut changed = upsert.clone();
    changed["note"] = json!(format!("changed {HOSTILE}"));
    let (s, out) = step_output(&srv, &conn, "upsert_ticket_by_reference", changed).await;
    ok("upsert (update)", s, &out);
    let (s, out) = step_output(&srv, &conn, "send_investigation", json!({"investigation": investigation(HOSTILE), "alerts": [{"title": HOSTILE, "alert_type": HOSTILE, "created_time": "2026-09-01T08:58:00Z"}]})).await;
    ok("send_investigation (create)", s, &out);
    let (s, out) =
        step_output(&srv, &conn, "send_investigation", json!({"investigation": investigation(&format!("renamed {HOSTILE}"))})).await;
    ok("send_investigation (change note)", s, &out);
    let (s, out) = step_output(
        &srv,
        &conn,
        "send_remediations",
        json!({"project": HOSTILE, "remediations": [remediation("<b>sol</b>")], "parent_ticket": true}),
    )
    .await;
    ok("send_remediations (create)", s, &out);
    let (s, out) = step_output(
        &srv,
        &conn,
        "send_remediations",
        json!({"project": HOSTILE, "remediations": [], "absent_means_fixed": true, "parent_ticket": true}),
    )
    .await;
    ok("send_remediations (resolved)", s, &out);

    let tickets = halo.sim.tickets();
    assert!(tickets.len() >= 4, "{} tickets", tickets.len());
    let mut notes = 0;
    for t in &tickets {
        let tid = t["id"].as_i64().unwrap();
        let details = t["details"].as_str().unwrap_or_default();
        assert_eq!(unsafe_in(details), None, "ticket {tid}'s details: {details}");
        for a in halo.sim.actions_for(tid) {
            let Some(text) = a["note"].as_str().filter(|n| !n.is_empty()) else { continue };
            // System entries are the simulator's own; every note the plugin wrote goes with its HTML.
            if a["who"] == "System" {
                continue;
            }
            let html = a["note_html"].as_str().unwrap_or_else(|| panic!("ticket {tid}: a note without note_html: {a}"));
            assert_eq!(unsafe_in(html), None, "ticket {tid}'s note_html: {html}");
            notes += usize::from(text.contains("<script>") || text.contains("sol"));
        }
    }
    assert!(notes >= 4, "the hostile notes were written ({notes})");
}
