//! On the simulator: a rerun writes nothing and outputs nothing new; a person's note comes out
//! once and, fed back as the InsightIDR comment made from it, is not written back.

use serde_json::{Value, json};

use super::{INV, idr_comment};
use crate::common::{eventually, sim_world, step_output as run};

fn ids(out: &Value, list: &str) -> Vec<i64> {
    out[list].as_array().into_iter().flatten().filter_map(|c| c["halo_action_id"].as_i64()).collect()
}

#[tokio::test]
async fn each_side_crosses_once_and_nothing_echoes() {
    let (halo, srv, conn) = sim_world(json!({})).await;
    let (s, t) = run(&srv, &conn, "create_ticket", json!({"summary": "InsightIDR: Suspicious Authentication", "details": "d"})).await;
    assert_eq!(s, 200, "{t}");
    let id = t["ticket"]["id"].as_i64().unwrap_or_default();
    // A person's note in HaloITSM, and one this connection adds through its API application.
    let person = halo.sim.agent_edit_by(3, id, json!({}), Some("Called the user: the sign-in was theirs"));
    assert!(person.is_some());
    let (s, _) = run(&srv, &conn, "add_comment", json!({"ticket_id": id, "comment": "Added by a workflow", "is_private": true})).await;
    assert_eq!(s, 200);
    let person_note = eventually("the person's note", async || {
        halo.sim.actions_for(id).iter().find(|a| a["note"] == "Called the user: the sign-in was theirs").and_then(|a| a["id"].as_i64())
    })
    .await;

    let comments = vec![idr_comment(1, "Sessions revoked <script>alert(1)</script>"), idr_comment(2, "Waiting on the user")];
    let input = |comments: &[Value]| json!({"ticket_id": id, "investigation_rrn": INV, "comments": comments});
    let (s, first) = run(&srv, &conn, "sync_comments", input(&comments)).await;
    assert_eq!(s, 200, "{first}");
    assert_eq!(first["written"]["count"], 2, "{first}");
    assert_eq!(ids(&first, "to_insightidr"), vec![person_note], "only the person's note goes out: {first}");
    let out = &first["to_insightidr"][0];
    assert_eq!(out["target"], INV);
    assert_eq!(out["body"], format!("Called the user: the sign-in was theirs\n\nHaloITSM note {person_note} on ticket {id}"));

    let notes = halo.sim.actions_for(id);
    let written: Vec<&Value> = notes.iter().filter(|a| a["note"].as_str().is_some_and(|n| n.contains("InsightIDR comment rrn:"))).collect();
    assert_eq!(written.len(), 2);
    let first_note = written[0]["note"].as_str().unwrap_or_default();
    assert!(
        first_note.ends_with("\n\nInsightIDR comment rrn:collaboration:us:44d88612-fea8-a8f3-6de8-2e1278abb02f:comment:1"),
        "{first_note}"
    );
    let html = written[0]["note_html"].as_str().unwrap_or_default();
    assert!(html.contains("&lt;script&gt;") && !html.contains("<script>"), "escaped: {html}");
    assert!(html.ends_with("<br><br>InsightIDR comment rrn:collaboration:us:44d88612-fea8-a8f3-6de8-2e1278abb02f:comment:1"), "{html}");
    assert_eq!(written[0]["hiddenfromuser"], true, "hidden from the end user by default");
    let count = notes.len();

    // The workflow made the InsightIDR comment from the note; the next list shows it.
    let mut mirrored = idr_comment(3, out["body"].as_str().unwrap_or_default());
    mirrored["creator"] = json!({"type": "API_KEY", "name": "InsightConnect"});
    let fed_back = [comments.clone(), vec![mirrored]].concat();
    for round in 0..2 {
        let (s, again) = run(&srv, &conn, "sync_comments", input(&fed_back)).await;
        assert_eq!(s, 200, "{again}");
        assert_eq!(
            (again["written"]["count"].as_i64(), again["to_insightidr"].as_array().map(Vec::len)),
            (Some(0), Some(0)),
            "{round}: {again}"
        );
        let reasons: Vec<&str> = again["skipped"].as_array().into_iter().flatten().filter_map(|s| s["reason"].as_str()).collect();
        assert_eq!(reasons, vec!["already_on_ticket", "already_on_ticket", "from_halo", "already_in_insightidr"], "{again}");
        assert_eq!(halo.sim.actions_for(id).len(), count, "nothing written");
    }

    // A later note comes out alone, and `since` leaves the earlier ones out.
    halo.sim.advance_clock(std::time::Duration::from_secs(60));
    halo.sim.agent_edit_by(3, id, json!({}), Some("User confirmed"));
    let (_, later) = run(&srv, &conn, "sync_comments", input(&fed_back)).await;
    assert_eq!(later["to_insightidr"].as_array().map(Vec::len), Some(1), "{later}");
    assert!(later["to_insightidr"][0]["body"].as_str().is_some_and(|b| b.starts_with("User confirmed\n\nHaloITSM note ")));
}
