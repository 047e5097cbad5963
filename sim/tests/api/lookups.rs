//! The shapes of the simulator's lookups.

use super::*;

#[tokio::test]
async fn lookup_shapes() {
    let h = sim().await;
    let api = Api::new(&h).await;
    let statuses = api.get_json("/Status").await;
    let names: Vec<&str> = statuses.as_array().map(|a| a.iter().filter_map(|s| s["name"].as_str()).collect()).unwrap_or_default();
    assert_eq!(names, ["New", "In Progress", "Pending", "On Hold", "Waiting on Client", "Waiting on Third Party", "Resolved", "Closed"]);
    // `type` does not say which statuses close tickets (docs/halo-api.md#S3); `excludeclosed` does.
    assert!(statuses.as_array().into_iter().flatten().all(|s| s["type"] == 0));
    for s in statuses.as_array().into_iter().flatten() {
        for k in ["id", "name", "shortname", "type", "sequence", "colour"] {
            assert!(s.get(k).is_some(), "status {k}");
        }
    }
    let open = api.get_json("/Status?excludeclosed=true&tickettype_id=1").await;
    let open: Vec<i64> = open.as_array().into_iter().flatten().filter_map(|s| s["id"].as_i64()).collect();
    assert_eq!(open, vec![1, 2, 3, 4, 5, 6, 8], "only Closed (9) closes tickets on a stock tenant (S4)");

    let p = api.get_json("/Priority").await;
    assert_eq!(p[0]["priorityid"], 1);
    assert_eq!(p[0]["name"], "Critical");
    assert!(p[0]["id"].as_str().is_some_and(|g| g.len() == 36 && g.matches('-').count() == 4));
    assert_eq!(p[0]["slaid"], 1);

    let types = api.get_json("/TicketType").await;
    assert_eq!(types[3], json!({"id": 4, "name": "Security Incident"}));

    let agents = api.get_json("/Agent?includedisabled=true").await;
    assert_eq!(api.get_json("/Agent").await.as_array().map(Vec::len), Some(5), "disabled agents only when asked for (G3)");
    let disabled: Vec<i64> = agents
        .as_array()
        .map(|a| a.iter().filter(|x| x["isdisabled"] == true).filter_map(|x| x["id"].as_i64()).collect())
        .unwrap_or_default();
    assert_eq!(disabled, vec![6]);
    assert_eq!(agents[2]["team"], "Security Operations");
    let me = api.get_json("/Agent/me").await;
    assert_eq!((me["id"].clone(), me["name"].clone()), (json!(1), json!("API Agent")));
    assert_eq!(api.get_json("/Agent/3").await["email"], "ben.carter@halo.example");
    assert_eq!(api.get("/Agent/77").await.status(), StatusCode::NOT_FOUND);

    let teams = api.get_json("/Team").await;
    assert_eq!(teams[1], json!({"id": 2, "name": "Security Operations", "inactive": false}));
    assert_eq!(teams.as_array().map(Vec::len), Some(4), "inactive teams only when asked for (G6)");
    assert_eq!(api.get_json("/Team?includedisabled=true").await[4], json!({"id": 5, "name": "Legacy Desk", "inactive": true}));

    let users = api.get_json("/Users").await;
    assert_eq!(users["record_count"], 3);
    assert_eq!(users["users"][2]["emailaddress"], "riley.chen@northwind.example");
    assert_eq!(api.get_json("/Users/1").await["client_id"], 1);
    assert_eq!(json_of(api.get("/Users/42").await).await.0, StatusCode::NOT_FOUND);
    let clients = api.get_json("/Client").await;
    assert_eq!(clients["record_count"], 2);
    assert_eq!(clients["clients"][1]["name"], "Northwind Logistics");
    let sites = api.get_json("/Site").await;
    assert_eq!(sites["sites"][0], json!({"id": 1, "name": "London HQ", "client_id": 1, "client_name": "Acme Financial Services"}));

    // Unknown routes and methods answer JSON.
    assert_eq!(json_of(api.get("/Nope").await).await.0, StatusCode::NOT_FOUND);
    assert_eq!(json_of(api.delete("/Status").await).await.0, StatusCode::METHOD_NOT_ALLOWED);
    let r = Client::new().get(format!("{}/nowhere", h.base_url())).send().await.expect("send");
    assert_eq!(json_of(r).await.0, StatusCode::NOT_FOUND);
    h.shutdown().await;
}
