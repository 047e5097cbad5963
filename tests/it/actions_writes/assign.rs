//! assign_ticket: agents and teams, the email to the agent, and assignments HaloITSM did not apply.

use super::*;

fn assigned(agent: i64, team: i64) -> Value {
    let mut t = raw_ticket(42, 2);
    t["agent_id"] = json!(agent);
    t["agent_name"] = json!("Alex Morgan");
    t["team_id"] = json!(team);
    t["team"] = json!("Security Operations");
    t
}

async fn agent(h: &Halo, id: i64, raw: Value) {
    api("GET", &format!("/api/Agent/{id}"))
        .and(no_query())
        .respond_with(ok_json(raw))
        .expect(1)
        .named(format!("GET agent {id}"))
        .mount(&h.server)
        .await;
}

#[tokio::test]
async fn assign_needs_an_agent_or_a_team_and_sends_nothing_otherwise() {
    let h = Halo::start().await;
    api("POST", "/api/Actions").respond_with(ok_json(json!({"id": 1}))).expect(0).mount(&h.server).await;
    for input in
        [json!({"ticket_id": 42}), json!({"ticket_id": 42, "notify": false}), json!({"ticket_id": 42, "agent_id": null, "team_id": ""})]
    {
        let body = h.err("assign_ticket", input.clone(), 400).await;
        assert!(body["error"].as_str().unwrap().contains("give `agent_id`, a team (`team_id` or `team_name`), or both"), "{input}: {body}");
    }
    assert!(h.api_requests().await.is_empty(), "nothing but (at most) the token request");
    h.verify().await;
}

#[tokio::test]
async fn assign_to_agent_and_team_records_it_and_emails_the_agent() {
    let h = Halo::start().await;
    h.ticket_before_after(42, raw_ticket(42, 2), assigned(3, 2)).await;
    agent(
        &h,
        3,
        json!({"id": 3, "name": "Alex Morgan", "email": "alex.morgan@example.com", "team": "Security Operations", "isdisabled": false}),
    )
    .await;
    h.teams(json!([{"id": 2, "name": "Security Operations", "inactive": false}, {"id": 3, "name": "Network"}])).await;
    // `new_team` is the team's name, not its ID (docs/halo-api.md#A6).
    h.post_one(
        "/api/Actions",
        json!({"ticket_id": 42, "outcome": "Assigned", "note": "Assigned to agent Alex Morgan and team Security Operations from InsightConnect",
               "hiddenfromuser": true, "new_agent": 3, "new_team": "Security Operations", "sendemail": true, "emailto": "alex.morgan@example.com"}),
        ok_json(json!({"id": 9100})),
        1,
    )
    .await;
    let out = h.ok("assign_ticket", json!({"ticket_id": 42, "agent_id": 3, "team_id": 2})).await;
    assert_eq!(out["success"], true);
    let t = &out["ticket"];
    assert_eq!(
        (t["agent_id"].as_i64(), t["team_id"].as_i64(), t["team_name"].as_str()),
        (Some(3), Some(2), Some("Security Operations")),
        "{t}"
    );
    assert_eq!(
        h.api_requests().await,
        [TICKET_GET, "GET /api/Agent/3", "GET /api/Team?includedisabled=true", "POST /api/Actions", TICKET_GET]
    );
    h.verify().await;
}

#[tokio::test]
async fn assign_without_notify_sends_no_email() {
    let h = Halo::start().await;
    h.ticket_before_after(42, raw_ticket(42, 2), assigned(3, 0)).await;
    agent(&h, 3, json!({"id": 3, "name": "Alex Morgan", "email": "alex.morgan@example.com"})).await;
    h.post_one(
        "/api/Actions",
        json!({"ticket_id": 42, "outcome": "Assigned", "note": "Assigned to agent Alex Morgan from InsightConnect",
               "hiddenfromuser": true, "new_agent": 3, "sendemail": false}),
        ok_json(json!({"id": 9101})),
        1,
    )
    .await;
    let out = h.ok("assign_ticket", json!({"ticket_id": 42, "agent_id": 3, "notify": false})).await;
    assert_eq!((out["success"].as_bool(), out["ticket"]["agent_id"].as_i64()), (Some(true), Some(3)), "{out}");
    h.verify().await;
}

#[tokio::test]
async fn assign_to_an_agent_without_email_sends_no_email() {
    let h = Halo::start().await;
    h.ticket_before_after(42, raw_ticket(42, 2), assigned(7, 0)).await;
    agent(&h, 7, json!({"id": 7, "name": "Night Shift", "email": ""})).await;
    h.post_one(
        "/api/Actions",
        json!({"ticket_id": 42, "outcome": "Assigned", "note": "Assigned to agent Night Shift from InsightConnect",
               "hiddenfromuser": true, "new_agent": 7, "sendemail": false}),
        ok_json(json!({"id": 9102})),
        1,
    )
    .await;
    h.ok("assign_ticket", json!({"ticket_id": 42, "agent_id": 7})).await;
    h.verify().await;
}

#[tokio::test]
async fn assign_to_a_team_only_looks_up_no_agent() {
    let h = Halo::start().await;
    h.ticket_before_after(42, raw_ticket(42, 2), assigned(0, 2)).await;
    h.teams(json!([{"id": 2, "name": "Security Operations"}])).await;
    h.post_one(
        "/api/Actions",
        json!({"ticket_id": 42, "outcome": "Assigned", "note": "Assigned to team Security Operations from InsightConnect",
               "hiddenfromuser": true, "new_team": "Security Operations", "sendemail": false}),
        ok_json(json!({"id": 9103})),
        1,
    )
    .await;
    let out = h.ok("assign_ticket", json!({"ticket_id": 42, "team_id": 2})).await;
    assert_eq!(out["ticket"]["team_id"], 2);
    assert!(out["ticket"].get("agent_id").is_none(), "{out}");
    assert_eq!(h.api_requests().await, [TICKET_GET, "GET /api/Team?includedisabled=true", "POST /api/Actions", TICKET_GET]);
    h.verify().await;
}

#[tokio::test]
async fn assign_by_team_name_sends_the_name_halo_knows() {
    let h = Halo::start().await;
    h.ticket_before_after(42, raw_ticket(42, 2), assigned(0, 2)).await;
    h.teams(json!({"record_count": 1, "teams": [{"id": 2, "name": "Security Operations"}]})).await;
    h.post_one(
        "/api/Actions",
        json!({"ticket_id": 42, "outcome": "Assigned", "note": "Assigned to team Security Operations from InsightConnect",
               "hiddenfromuser": true, "new_team": "Security Operations", "sendemail": false}),
        ok_json(json!({"id": 9104})),
        1,
    )
    .await;
    let out = h.ok("assign_ticket", json!({"ticket_id": 42, "team_name": "  security operations "})).await;
    assert_eq!(out["ticket"]["team_name"], "Security Operations");
    h.verify().await;
}

#[tokio::test]
async fn assign_to_an_unknown_or_inactive_team_is_a_400_and_records_nothing() {
    let h = Halo::start().await;
    h.ticket(42, raw_ticket(42, 2), 4).await;
    // Teams are read once and again when a team is not found (it may have just been added).
    api("GET", "/api/Team")
        .and(query_is(&[("includedisabled", "true")]))
        .respond_with(ok_json(json!([{"id": 2, "name": "Security Operations"}, {"id": 5, "name": "Legacy Desk", "inactive": true}])))
        .expect(3)
        .mount(&h.server)
        .await;
    api("POST", "/api/Actions").respond_with(ok_json(json!({"id": 1}))).expect(0).mount(&h.server).await;
    for (input, expected) in [
        (json!({"ticket_id": 42, "team_id": 9}), "Team 9 does not exist"),
        (json!({"ticket_id": 42, "team_name": "Night Shift"}), "no team named `Night Shift`"),
        (json!({"ticket_id": 42, "team_id": 5}), "Team 5 (Legacy Desk) is inactive"),
        (json!({"ticket_id": 42, "team_id": 2, "team_name": "Legacy Desk"}), "but `team_name` names team 5"),
    ] {
        let body = h.err("assign_ticket", input.clone(), 400).await;
        assert!(body["error"].as_str().unwrap().contains(expected), "{input}: {body}");
        assert!(body["exception"]["assistance"].as_str().unwrap().contains("Nothing was changed"), "{body}");
    }
    h.verify().await;
}

#[tokio::test]
async fn an_assignment_halo_did_not_apply_fails_the_step() {
    let h = Halo::start().await;
    // HaloITSM took the action but the ticket shows no team (e.g. it did not know the name).
    h.ticket_before_after(42, raw_ticket(42, 2), raw_ticket(42, 2)).await;
    h.teams(json!([{"id": 2, "name": "Security Operations"}])).await;
    h.post_one(
        "/api/Actions",
        json!({"ticket_id": 42, "outcome": "Assigned", "note": "Assigned to team Security Operations from InsightConnect",
               "hiddenfromuser": true, "new_team": "Security Operations", "sendemail": false}),
        ok_json(json!({"id": 9105})),
        1,
    )
    .await;
    // Nothing happened to the ticket since the assignment: HaloITSM did not apply it.
    api("GET", "/api/Actions")
        .and(query_is(&[("ticket_id", "42"), ("count", "10000")]))
        .respond_with(ok_json(json!({"record_count": 2, "actions": [{"id": 9000}, {"id": 9105}]})))
        .expect(1)
        .mount(&h.server)
        .await;
    let body = h.err("assign_ticket", json!({"ticket_id": 42, "team_id": 2}), 400).await;
    let cause = body["exception"]["cause"].as_str().unwrap();
    assert!(cause.contains("did not assign ticket 42") && cause.contains("no team instead of team Security Operations"), "{body}");
    h.verify().await;
}

#[tokio::test]
async fn an_assignment_changed_again_since_is_not_a_failure() {
    let h = Halo::start().await;
    let mut moved = assigned(0, 3);
    moved["team"] = json!("Network");
    h.ticket_before_after(42, raw_ticket(42, 2), moved).await;
    h.teams(json!([{"id": 2, "name": "Security Operations"}])).await;
    h.post_one(
        "/api/Actions",
        json!({"ticket_id": 42, "outcome": "Assigned", "note": "Assigned to team Security Operations from InsightConnect",
               "hiddenfromuser": true, "new_team": "Security Operations", "sendemail": false}),
        ok_json(json!({"id": 9106})),
        1,
    )
    .await;
    // A later entry (a rule or an agent moved it on) supersedes this assignment.
    api("GET", "/api/Actions")
        .and(query_is(&[("ticket_id", "42"), ("count", "10000")]))
        .respond_with(ok_json(json!({"record_count": 2, "actions": [{"id": 9106}, {"id": 9107}]})))
        .expect(1)
        .mount(&h.server)
        .await;
    let out = h.ok("assign_ticket", json!({"ticket_id": 42, "team_id": 2})).await;
    assert_eq!(out["ticket"]["team_name"], "Network", "the ticket as it is now: {out}");
    h.verify().await;
}

#[tokio::test]
async fn assign_to_an_unknown_or_disabled_agent_is_a_400_and_records_nothing() {
    let h = Halo::start().await;
    h.ticket(42, raw_ticket(42, 2), 2).await;
    api("GET", "/api/Agent/9")
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"Message": "not found"})))
        .expect(1)
        .mount(&h.server)
        .await;
    agent(&h, 8, json!({"id": 8, "name": "Former Agent", "email": "former@example.com", "isdisabled": true})).await;
    api("POST", "/api/Actions").respond_with(ok_json(json!({"id": 1}))).expect(0).mount(&h.server).await;
    let body = h.err("assign_ticket", json!({"ticket_id": 42, "agent_id": 9}), 400).await;
    assert!(body["error"].as_str().unwrap().contains("Agent 9 does not exist"), "{body}");
    let body = h.err("assign_ticket", json!({"ticket_id": 42, "agent_id": 8}), 400).await;
    assert!(body["error"].as_str().unwrap().contains("Agent 8 is disabled"), "{body}");
    assert_eq!(h.api_requests().await, [TICKET_GET, "GET /api/Agent/9", TICKET_GET, "GET /api/Agent/8"]);
    h.verify().await;
}
