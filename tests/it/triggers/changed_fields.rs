//! `ticket_updated` names what each change touched (`changed_fields`) and, with
//! `monitored_fields`, fires only for changes to the fields it watches.

use super::*;

/// Wait for the `n`th event and return it.
async fn nth(s: &Setup, n: usize) -> Value {
    let out = s.sink.wait_for(n).await;
    assert!(out.len() >= n, "{out:#?}\n{}", s.log());
    out[n - 1].clone()
}

fn fields(event: &Value) -> Vec<&str> {
    event["changed_fields"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect()
}

#[tokio::test]
async fn every_kind_of_field_is_named_when_it_changes() {
    let s = setup().await;
    let mut t = s.start("ticket_updated", json!({"source": "poll", "ticket_id": 101}));
    s.started().await;
    // The trigger's first sight of the ticket gives it the fingerprints later changes compare with.
    s.halo.sim.agent_edit(101, json!({}), Some("Looked at it")).unwrap();
    assert_eq!(fields(&nth(&s, 1).await), vec!["note"], "a note alone");
    let edits = [
        (json!({"summary": "Phish (confirmed)", "details": "Sender blocked"}), vec!["summary", "details"]),
        (json!({"category_1": "Security>Malware"}), vec!["category"]),
        (json!({"customfields": [{"id": 103, "value": "InsightIDR"}]}), vec!["custom_field_103"]),
        (json!({"priority_id": 1, "agent_id": 4}), vec!["priority", "agent"]),
        (json!({"team_id": 3}), vec!["team"]),
        (json!({"status_id": 6}), vec!["status"]),
        (json!({"impact": 1, "urgency": 1}), vec!["impact", "urgency"]),
        (json!({"tickettype_id": 1}), vec!["tickettype"]),
    ];
    for (i, (edit, expected)) in edits.into_iter().enumerate() {
        // HaloITSM's dates have whole seconds: each change in a second of its own.
        s.halo.sim.advance_clock(Duration::from_secs(1));
        s.halo.sim.agent_edit(101, edit.clone(), None).unwrap_or_else(|| panic!("the simulator refused {edit}"));
        let e = nth(&s, i + 2).await;
        assert_eq!(fields(&e), expected, "{edit}: {e:#}");
        assert_valid("ticket_updated", std::slice::from_ref(&e));
        if expected == ["status"] {
            assert_eq!((e["old_status_id"].as_i64(), e["new_status_id"].as_i64()), (Some(2), Some(6)));
        }
    }
    assert!(stop(&mut t).await.success());
}

#[tokio::test]
async fn monitored_fields_let_only_changes_to_them_through() {
    let s = setup().await;
    let mut t = s.start("ticket_updated", json!({"source": "poll", "ticket_id": 101, "monitored_fields": ["agent", "custom_field_101"]}));
    s.started().await;
    s.halo.sim.agent_edit(101, json!({}), Some("Seen")).unwrap();
    s.more_polls().await;
    for edit in [
        json!({"summary": "other"}),
        json!({"agent_id": 4}),
        json!({"priority_id": 1}),
        json!({"customfields": [{"id": 101, "value": "rrn:x"}]}),
    ] {
        s.halo.sim.advance_clock(Duration::from_secs(1));
        s.halo.sim.agent_edit(101, edit, None).unwrap();
        s.more_polls().await;
    }
    let out = s.sink.outputs();
    let seen: Vec<Vec<&str>> = out.iter().map(fields).collect();
    assert_eq!(seen, vec![vec!["agent"], vec!["custom_field_101"]], "{out:#?}");
    assert!(stop(&mut t).await.success());
}

#[tokio::test]
async fn an_unknown_monitored_field_is_refused_at_start_naming_it() {
    let s = setup().await;
    let mut t = s.start("ticket_updated", json!({"source": "poll", "monitored_fields": ["status", "colour"]}));
    let (status, out) = t.exit_output().await;
    assert!(!status.success());
    let out: Value = serde_json::from_slice(&out).unwrap();
    let error = out["body"]["error"].as_str().unwrap();
    assert!(error.contains("`monitored_fields`") && error.contains("`colour`"), "{out}");
}
