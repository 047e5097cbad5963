//! The simulator's actions: notes that close tickets, and their validation.

use super::*;

#[tokio::test]
async fn actions_close_tickets_and_validate() {
    let h = sim().await;
    let api = Api::new(&h).await;
    let saved = api
        .post_json(
            "/Actions",
            &json!([{
                "ticket_id": 101, "outcome": "Resolved", "note": "Sender blocked; 14 messages purged.",
                "hiddenfromuser": false, "new_status": 9, "new_agent": 4, "timetaken": 0.5
            }]),
        )
        .await;
    assert!(saved["id"].as_i64().is_some());
    assert_eq!(saved["ticket_id"], 101);
    assert_eq!(saved["who"], "API Agent");
    assert_eq!((saved["who_agentid"].clone(), saved["actionby_agent_id"].clone()), (json!(1), json!(1)));
    assert_eq!(saved["actionby_application_id"], "InsightConnect", "made through the API (docs/halo-api.md#A7)");
    assert_eq!(saved["old_status"], 2);
    assert_eq!(saved["new_status"], 9);
    assert_eq!(saved["old_agent"], 3);
    assert_eq!(saved["new_agent"], 4);
    assert_eq!(saved["note_html"], "Sender blocked; 14 messages purged.");
    assert_eq!(saved["datetime"].as_str().map(str::len), Some(19));
    let t = api.get_json("/Tickets/101").await;
    assert_eq!(t["status_id"], 9);
    assert_eq!(t["hasbeenclosed"], true);
    assert_eq!(t["agent_name"], "Priya Shah");
    assert_eq!(t["lastactiondate"], saved["datetime"]);
    assert_eq!(t["dateclosed"], saved["datetime"]);

    for (body, want) in [
        (json!([{"ticket_id": 101}]), json!({"[0].outcome": "Outcome is required"})),
        (json!([{"outcome": "Note"}]), json!({"[0].ticket_id": "Ticket ID is required"})),
        (json!([{"ticket_id": 999, "outcome": "Note"}]), json!({"ClassName": "System.Exception", "Message": "Ticket 999 not found"})),
        (json!([{"ticket_id": 101, "outcome": "Note"}, {"ticket_id": 101, "outcome": ""}]), json!({"[1].outcome": "Outcome is required"})),
    ] {
        assert_eq!(json_of(api.post("/Actions", &body).await).await, (StatusCode::BAD_REQUEST, want));
    }

    let two = api
        .post_json(
            "/Actions?returnall=true",
            &json!([
                {"ticket_id": 102, "outcome": "Private Note", "note_html": "<p>IOC: <b>45.9.148.0/24</b></p>", "hiddenfromuser": true},
                {"ticket_id": 102, "outcome": "Email User", "note": "Your laptop is being reimaged.", "sendemail": true, "emailto": "sam.patel@acmefinancial.example"}
            ]),
        )
        .await;
    assert_eq!(two.as_array().map(Vec::len), Some(2));
    assert_eq!(two[0]["note"], "IOC: 45.9.148.0/24");

    let list = api.get_json("/Actions?ticket_id=102").await;
    assert_eq!(list["record_count"], 4);
    let a = list["actions"].as_array().cloned().unwrap_or_default();
    assert!(a.windows(2).all(|w| w[0]["id"].as_i64() < w[1]["id"].as_i64()), "oldest first");
    assert!(a.iter().all(|x| x.get("note_html").is_none()));
    assert_eq!(a[0]["who"], "System");
    let public = api.get_json("/Actions?ticket_id=102&excludeprivate=true&excludesys=true&includehtmlnote=true").await;
    assert_eq!(public["record_count"], 1);
    assert_eq!(public["actions"][0]["outcome"], "Email User");
    assert!(public["actions"][0]["note_html"].is_string());
    let latest = api.get_json("/Actions?ticket_id=102&orderdesc=true&count=1").await;
    assert_eq!(latest["actions"][0]["outcome"], "Email User");
    assert_eq!(json_of(api.get("/Actions").await).await.0, StatusCode::BAD_REQUEST);

    let action_id = two[1]["id"].as_i64().expect("id");
    let one = api.get_json(&format!("/Actions/{action_id}?ticket_id=102")).await;
    assert_eq!(one["emailto"], "sam.patel@acmefinancial.example");
    assert_eq!(api.get(&format!("/Actions/{action_id}?ticket_id=101")).await.status(), StatusCode::NOT_FOUND);
    let r = api.delete(&format!("/Actions/{action_id}?ticket_id=102")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(api.get(&format!("/Actions/{action_id}?ticket_id=102")).await.status(), StatusCode::NOT_FOUND);
    h.shutdown().await;
}
