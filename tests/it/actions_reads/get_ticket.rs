//! get_ticket: details, the closed flag, the portal link and unknown IDs.

use super::*;

#[tokio::test]
async fn get_ticket_without_the_closed_flag_asks_the_tenant_which_statuses_close() {
    let e = env().await;
    // A full read may leave `hasbeenclosed` out when it is false (docs/halo-api.md#T11): whether
    // the ticket is closed then comes from the tenant's statuses, read once and cached.
    e.mount(api("GET", "Tickets/5", ExactQuery::new(&[("includedetails", "true")])).respond_with(ok_json(row(5))).expect(1..=2)).await;
    let mut closed = row(6);
    closed["status_id"] = json!(9);
    e.mount(api("GET", "Tickets/6", ExactQuery::new(&[("includedetails", "true")])).respond_with(ok_json(closed)).expect(0..=1)).await;
    e.mount(
        api("GET", "Status", ExactQuery::new(&[("excludeclosed", "true")]))
            .respond_with(ok_json(json!([{"id": 1, "name": "New"}])))
            .expect(1),
    )
    .await;
    e.mount(
        api("GET", "Status", ExactQuery::new(&[]))
            .respond_with(ok_json(json!([{"id": 1, "name": "New"}, {"id": 9, "name": "Closed"}])))
            .expect(1),
    )
    .await;
    for _ in 0..2 {
        assert_eq!(e.ok("get_ticket", json!({"ticket_id": 5})).await["ticket"]["closed"], false);
    }
    assert_eq!(e.ok("get_ticket", json!({"ticket_id": 6})).await["ticket"]["closed"], true);
    let status_reads = e.halo.received_requests().await.unwrap().iter().filter(|r| r.url.path() == "/api/Status").count();
    assert_eq!(status_reads, 2, "one read of each status list for all three steps");
}

fn full_ticket() -> Value {
    json!({
        "id": 1042, "summary": "Suspicious login detected for jsmith", "details": "<p>Multiple failed logins</p>",
        "tickettype_id": 4, "tickettype_name": "Security Incident", "status_id": 2, "status_name": "In Progress",
        "priority_id": 2, "priority_name": "High", "sla_id": 1, "agent_id": 3, "agent_name": "Alex Morgan",
        "team": "Security Operations", "team_id": 2, "client_id": 1, "client_name": "Acme Corp", "site_id": 1, "site_name": "Head Office",
        "user_id": 7, "user_name": "Jordan Smith", "user_email": "jordan.smith@example.com", "categoryid_1": 10, "category_1": "Security>Phishing",
        "dateoccurred": "2026-09-01T08:00:00", "datecreated": "2026-09-01T08:00:05", "last_update": "2026-09-01T09:30:00",
        "lastactiondate": "1899-12-30T00:00:00", "dateclosed": "1900-01-01T00:00:00", "respondbydate": "1900-01-01T00:00:00",
        "hasbeenclosed": false, "impact": null,
        "customfields": [{"id": 101, "name": "CFSecurityReference", "label": "Reference", "value": "rrn:investigation:us:1234", "display": null}]
    })
}

#[tokio::test]
async fn get_ticket_asks_for_details_and_normalises_the_ticket() {
    let e = env().await;
    e.mount(api("GET", "Tickets/1042", ExactQuery::new(&[("includedetails", "true")])).respond_with(ok_json(full_ticket())).expect(1))
        .await;
    let out = e.ok("get_ticket", json!({"ticket_id": 1042})).await;
    assert_eq!(out["found"], true);
    assert_eq!(
        out["ticket"],
        json!({
            "id": 1042, "summary": "Suspicious login detected for jsmith", "details": "<p>Multiple failed logins</p>",
            "tickettype_id": 4, "tickettype_name": "Security Incident", "status_id": 2, "status_name": "In Progress",
            "priority_id": 2, "priority_name": "High", "category_id": 10, "category_1": "Security>Phishing",
            "agent_id": 3, "agent_name": "Alex Morgan", "team_id": 2, "team_name": "Security Operations",
            "client_id": 1, "client_name": "Acme Corp", "site_id": 1, "site_name": "Head Office",
            "user_id": 7, "user_name": "Jordan Smith", "user_email": "jordan.smith@example.com",
            "dateoccurred": "2026-09-01T08:00:00Z", "datecreated": "2026-09-01T08:00:05Z", "datemodified": "2026-09-01T09:30:00Z",
            "closed": false,
            "customfields": [{"id": 101, "name": "CFSecurityReference", "label": "Reference", "value": "rrn:investigation:us:1234"}],
            "url": e.url_of(1042)
        })
    );
}

#[tokio::test]
async fn get_ticket_without_details_sends_no_query() {
    let e = env().await;
    e.mount(api("GET", "Tickets/1042", ExactQuery::new(&[])).respond_with(ok_json(read(1042))).expect(1)).await;
    let out = e.ok("get_ticket", json!({"ticket_id": 1042, "include_details": false})).await;
    assert_eq!(out["found"], true);
    assert_eq!(out["ticket"]["id"], 1042);
    assert!(out["ticket"].get("agent_name").is_none() && out["ticket"].get("team_name").is_none(), "unassigned: {out}");
}

#[tokio::test]
async fn get_ticket_links_to_the_portal_url_when_one_is_set() {
    let e = env().await;
    e.mount(api("GET", "Tickets/5", ExactQuery::new(&[("includedetails", "true")])).respond_with(ok_json(read(5))).expect(1)).await;
    let mut conn = e.conn();
    conn["portal_url"] = json!("https://portal.example.com");
    let (status, body) = post(&e.srv.url("/api/v1/actions/get_ticket"), &action("get_ticket", conn, json!({"ticket_id": 5}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["body"]["output"]["ticket"]["url"], "https://portal.example.com/ticket?id=5");
}

#[tokio::test]
async fn get_ticket_unknown_id_is_found_false_with_an_empty_ticket() {
    let e = env().await;
    e.mount(ticket_list_probe()).await;
    e.mount(
        api("GET", "Tickets/404", ExactQuery::new(&[("includedetails", "true")]))
            .respond_with(ResponseTemplate::new(404).set_body_json(json!({"Message": "Ticket not found"})))
            .expect(1),
    )
    .await;
    let out = e.ok("get_ticket", json!({"ticket_id": 404})).await;
    assert_eq!(out, json!({"ticket": {}, "found": false}));
}
