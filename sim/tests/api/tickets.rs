//! The simulator's tickets: create, get, update, upsert, delete, close and reopen, and listing.

use super::*;

#[tokio::test]
async fn ticket_create_get_update_upsert_delete() {
    let h = sim().await;
    let api = Api::new(&h).await;
    let created = api
        .post_json(
            "/Tickets",
            &json!([{
                "summary": "Impossible travel sign-in for jordan.ellis",
                "details": "Sign-ins from London and Singapore 20 minutes apart.",
                "tickettype_id": 4, "client_id": 1, "user_id": 1, "team": "Security Operations",
                "priority_id": 2, "category_1": "Security>Suspicious Sign-in",
                "customfields": [{"id": 102, "value": "finding-abc"}]
            }]),
        )
        .await;
    let id = created["id"].as_i64().expect("id");
    assert!(id >= 1001, "new ids start above the seed: {id}");
    assert_eq!(created["status_id"], 1);
    assert_eq!(created["status_name"], "New");
    assert_eq!(created["agent_id"], 0);
    assert_eq!(created["team_id"], 2);
    assert_eq!(created["team"], "Security Operations");
    assert_eq!(created["user_name"], "Jordan Ellis");
    assert_eq!(created["site_name"], "London HQ");
    assert_eq!(created["priority_name"], "High");
    assert_eq!(created["categoryid_1"], 4);
    assert_eq!(created["dateclosed"], "1900-01-01T00:00:00");
    assert_eq!(created["hasbeenclosed"], false);
    let dc = created["datecreated"].as_str().expect("datecreated");
    assert_eq!(dc.len(), 19, "no zone, no fraction: {dc}");
    assert_eq!(created["lastactiondate"], created["datecreated"]);
    let cf = created["customfields"].as_array().and_then(|a| a.iter().find(|c| c["id"] == 102)).cloned().expect("custom field 102");
    assert_eq!(cf["name"], "CFFindingKey");
    assert_eq!(cf["value"], "finding-abc");
    assert_eq!(cf["display"], "finding-abc");

    let got = api.get_json(&format!("/Tickets/{id}?includedetails=true")).await;
    assert_eq!(got, created);
    let logged = h.sim.actions_for(id);
    assert_eq!(logged.len(), 1);
    assert_eq!(logged[0]["outcome"], "Ticket logged");

    // Partial update: only the keys sent change (a second later, in HaloITSM's whole seconds).
    h.sim.advance_clock(Duration::from_secs(1));
    let updated = api.post_json("/Tickets", &json!([{"id": id, "agent_id": 3, "status_id": 2}])).await;
    assert_eq!(updated["id"], id);
    assert_eq!(updated["agent_name"], "Ben Carter");
    assert_eq!(updated["status_name"], "In Progress");
    for unchanged in ["summary", "details", "team", "priority_id", "user_id", "customfields", "datecreated"] {
        assert_eq!(updated[unchanged], created[unchanged], "{unchanged} untouched");
    }
    assert_ne!(updated["lastactiondate"], created["lastactiondate"]);
    assert_eq!(updated["last_update"], updated["lastactiondate"]);
    let history = h.sim.actions_for(id);
    assert_eq!(history.len(), 2, "status/agent change recorded");
    assert_eq!(history[1]["old_status"], 1);
    assert_eq!(history[1]["new_status"], 2);
    assert_eq!(history[1]["new_agent"], 3);

    // Halo's upsert: an unknown id is not an error, it creates a NEW ticket with a new id.
    let upserted = api.post_json("/Tickets", &json!([{"id": 5555, "summary": "Stale id", "tickettype_id": 1}])).await;
    let new_id = upserted["id"].as_i64().expect("id");
    assert_ne!(new_id, 5555);
    assert_eq!(new_id, id + 1);
    assert!(h.sim.ticket(5555).is_none());
    // ...and an unknown id without the create fields fails like a create.
    let (status, v) = json_of(api.post("/Tickets", &json!([{"id": 5556, "status_id": 2}])).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(v, json!({"[0].summary": "Summary is required"}));

    let r = api.delete(&format!("/Tickets/{id}?reason=duplicate")).await;
    assert_eq!(json_of(r).await, (StatusCode::OK, json!({"id": id})));
    let (status, v) = json_of(api.get(&format!("/Tickets/{id}")).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(v["ClassName"].as_str().is_some_and(|c| c.contains("NotFound")));
    assert_eq!(api.delete(&format!("/Tickets/{id}")).await.status(), StatusCode::NOT_FOUND);
    let (status, v) = json_of(api.get("/Tickets/abc").await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(v["Message"].is_string());

    let kinds: Vec<ChangeKind> = h.sim.events().iter().map(|e| e.kind).collect();
    assert_eq!(kinds, vec![ChangeKind::Created, ChangeKind::StatusChanged, ChangeKind::Created, ChangeKind::Deleted]);
    h.shutdown().await;
}

#[tokio::test]
async fn post_returns_one_last_or_all_and_validates() {
    let h = sim().await;
    let api = Api::new(&h).await;
    let two = json!([
        {"summary": "First", "tickettype_id": 1},
        {"summary": "Second", "tickettype_id": 1}
    ]);
    let last = api.post_json("/Tickets", &two).await;
    assert!(last.is_object());
    assert_eq!(last["summary"], "Second");
    let all = api.post_json("/Tickets?returnall=true", &two).await;
    let all = all.as_array().expect("array with returnall");
    assert_eq!(all.len(), 2);
    assert_eq!(all[0]["summary"], "First");
    assert!(all[0]["id"].as_i64() < all[1]["id"].as_i64());
    let bare = api.post_json("/Tickets", &json!({"summary": "Bare object", "tickettype_id": 3})).await;
    assert_eq!(bare["tickettype_name"], "Service Request");

    let (status, v) = json_of(api.post("/Tickets", &json!([{"tickettype_id": 1}])).await).await;
    assert_eq!((status, v), (StatusCode::BAD_REQUEST, json!({"[0].summary": "Summary is required"})));

    // A missing ticket type is rejected in plain text.
    let r = api.post("/Tickets", &json!([{"summary": "No type"}])).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.headers()["content-type"].to_str().is_ok_and(|c| c.starts_with("text/plain")));
    assert_eq!(r.text().await.expect("text"), "Ticket type is required");

    for (field, value) in
        [("status_id", json!(7)), ("tickettype_id", json!(99)), ("priority_id", json!(9)), ("agent_id", json!(6)), ("team_id", json!(9))]
    {
        let mut body = json!({"summary": "x", "tickettype_id": 1});
        body[field] = value.clone();
        let (status, v) = json_of(api.post("/Tickets", &json!([body])).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{field}");
        assert_eq!(v, json!({"ClassName": "System.Exception", "Message": format!("Invalid {field} {value}")}));
    }
    let (status, v) = json_of(api.post("/Tickets", &json!([{"id": 101, "customfields": [{"id": 999, "value": "x"}]}])).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(v, json!({"[0].customfields[0].id": "Unknown custom field 999"}));

    // Invalid JSON, wrong content type.
    let r = api
        .http
        .post(format!("{}/Tickets", api.base))
        .bearer_auth(&api.token)
        .header("content-type", "application/json")
        .body("[{\"summary\": ")
        .send()
        .await
        .expect("send");
    assert_eq!(json_of(r).await.0, StatusCode::BAD_REQUEST);
    let r = api
        .http
        .post(format!("{}/Tickets", api.base))
        .bearer_auth(&api.token)
        .header("content-type", "text/plain")
        .body("[]")
        .send()
        .await
        .expect("send");
    assert_eq!(json_of(r).await.0, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // 3 + 2 + 1 created; the rejected requests created nothing.
    assert_eq!(h.sim.tickets().len(), 7 + 5);
    h.shutdown().await;
}

#[tokio::test]
async fn close_and_reopen_through_ticket_updates() {
    let h = sim().await;
    let api = Api::new(&h).await;
    let closed = api.post_json("/Tickets", &json!({"id": 103, "status_id": 9})).await;
    assert_eq!(closed["hasbeenclosed"], true);
    assert_ne!(closed["dateclosed"], "1900-01-01T00:00:00");
    let reopened = api.post_json("/Tickets", &json!({"id": 103, "status_id": 2})).await;
    assert_eq!(reopened["hasbeenclosed"], false);
    assert_eq!(reopened["dateclosed"], "1900-01-01T00:00:00");
    h.shutdown().await;
}

#[tokio::test]
async fn list_paging_filters_dates_order_and_custom_fields() {
    let h = sim().await;
    let api = Api::new(&h).await;
    // A plain list leaves out ticket 104, closed ten days ago (docs/halo-api.md#Q1).
    let all = api.get_json("/Tickets").await;
    assert_eq!(all["record_count"], 6);
    assert_eq!(ids(&all), vec![101, 102, 103, 105, 106, 107]);
    assert_eq!(ids(&api.get_json("/Tickets?includeclosed=0,1").await), vec![101, 102, 103, 104, 105, 106, 107]);
    // Rows are thin (L3).
    for k in ["customfields", "hasbeenclosed", "team_id", "status_name", "datecreated"] {
        assert!(all["tickets"][0].get(k).is_none(), "{k} in a list row");
    }

    let page = api.get_json("/Tickets?pageinate=true&page_size=3&page_no=2").await;
    assert_eq!(page["record_count"], 6);
    assert_eq!(ids(&page), vec![105, 106, 107]);
    let clamped = api.get_json("/Tickets?pageinate=true&page_size=500").await;
    assert_eq!(clamped["page_size"], 100);
    assert_eq!(ids(&api.get_json("/Tickets?count=2").await), vec![101, 102]);

    assert_eq!(ids(&api.get_json("/Tickets?search=emotet").await), vec![102]);
    assert_eq!(ids(&api.get_json("/Tickets?search_summary=phishing").await), vec![101]);
    assert_eq!(ids(&api.get_json("/Tickets?search_summary=phishing&closed_only=true").await), vec![104]);
    assert_eq!(ids(&api.get_json("/Tickets?agent_id=0").await), vec![103]);
    assert_eq!(ids(&api.get_json("/Tickets?status=1&status=2").await), vec![101, 102, 103]);
    assert_eq!(ids(&api.get_json("/Tickets?team=3,4").await), vec![105, 106]);
    assert_eq!(ids(&api.get_json("/Tickets?requesttype_id=5").await), vec![106]);
    assert_eq!(ids(&api.get_json("/Tickets?priority=1").await), vec![102]);
    assert_eq!(ids(&api.get_json("/Tickets?user_id=3&open_only=true").await), vec![103, 106]);
    assert_eq!(ids(&api.get_json("/Tickets?closed_only=true").await), vec![104, 107]);
    assert_eq!(ids(&api.get_json("/Tickets?site_id=2").await), vec![103, 106]);
    assert_eq!(ids(&api.get_json("/Tickets?not_a_filter=1").await).len(), 6);

    // Something changes now; a lastactiondate window starting a minute ago finds only it.
    api.post_json("/Actions", &json!([{"ticket_id": 105, "outcome": "Private Note", "note": "Owner confirmed."}])).await;
    let since = (chrono::Utc::now() - chrono::Duration::minutes(1)).format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let recent = api.get_json(&format!("/Tickets?datesearch=lastactiondate&startdate={since}")).await;
    assert_eq!(ids(&recent), vec![105]);
    let old = api.get_json("/Tickets?datesearch=dateclosed&startdate=2000-01-01T00:00:00&enddate=2999-12-31&closed_only=true").await;
    assert_eq!(ids(&old), vec![104, 107]);
    let (status, _) = json_of(api.get("/Tickets?datesearch=lastactiondate&startdate=soon").await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let newest_first = api.get_json("/Tickets?order=datecreated&orderdesc=true&count=3").await;
    assert_eq!(ids(&newest_first), vec![103, 102, 107]);
    let by_summary = api.get_json("/Tickets?order=summary").await;
    assert_eq!(ids(&by_summary).first(), Some(&107), "Account locked... sorts first");

    let only_ids = api.get_json("/Tickets?ticketidonly=true&closed_only=true").await;
    assert_eq!(only_ids["tickets"], json!([{"id": 104}, {"id": 107}]));

    let with_cf = api.get_json("/Tickets?include_custom_fields=101,103&search_summary=emotet").await;
    let cfs = with_cf["tickets"][0]["customfields"].as_array().cloned().unwrap_or_default();
    let cf_ids: Vec<i64> = cfs.iter().filter_map(|c| c["id"].as_i64()).collect();
    assert_eq!(cf_ids, vec![101, 103]);
    assert_eq!(cfs[0]["value"], "SEC-2026-0142");
    h.shutdown().await;
}
