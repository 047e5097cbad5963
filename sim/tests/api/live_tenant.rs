//! The live-tenant behaviours (docs/halo-api.md L11, A11, T15, Q6, T16, F6, L12, A12, A13, P3,
//! AU7), each seen on the wire: what a client meets, and that the stock tenant does not do it.

use super::*;
use halo_sim::{LiveQuirks, Profile};

async fn live(quirks: LiveQuirks) -> SimHandle {
    sim_with(SimConfig { profile: Profile { live: quirks, ..Profile::default() }, ..SimConfig::default() }).await
}

fn ids(v: &Value, key: &str) -> Vec<i64> {
    v[key].as_array().map(|a| a.iter().filter_map(|r| r["id"].as_i64()).collect()).unwrap_or_default()
}

async fn create(api: &Api, details: &str) -> i64 {
    let t = api.post_json("/Tickets", &json!([{"summary": "s", "details": details, "tickettype_id": 1}])).await;
    t["id"].as_i64().expect("id")
}

#[tokio::test]
async fn free_text_search_misses_keys_that_search_details_finds() {
    let h = live(LiveQuirks { search_misses_keys: true, ..LiveQuirks::default() }).await;
    let api = Api::new(&h).await;
    let id = create(&api, "found by prowler-key:00aa11bb22cc3344 in the zanzibar details").await;
    let by_search = api.get_json("/Tickets?search=prowler-key:00aa11bb22cc3344").await;
    assert!(ids(&by_search, "tickets").is_empty(), "the broken search misses the key");
    let by_details = api.get_json("/Tickets?search_details=prowler-key:00aa11bb22cc3344").await;
    assert_eq!(ids(&by_details, "tickets"), vec![id]);
    assert_eq!(ids(&api.get_json("/Tickets?search=zanzibar").await, "tickets"), vec![id], "a plain word is still found");
}

#[tokio::test]
async fn a_history_without_count_is_cut_to_the_newest_entries_newest_first() {
    let h = live(LiveQuirks { action_list_cap: Some(3), actions_newest_first: true, ..LiveQuirks::default() }).await;
    let api = Api::new(&h).await;
    let id = create(&api, "d").await;
    for n in 0..5 {
        api.post_json("/Actions", &json!([{"ticket_id": id, "outcome": "Note", "note": format!("n{n}")}])).await;
    }
    let capped = api.get_json(&format!("/Actions?ticket_id={id}")).await;
    let got = ids(&capped, "actions");
    assert_eq!(got.len(), 3);
    assert!(got.windows(2).all(|w| w[0] > w[1]), "newest first: {got:?}");
    assert_eq!(capped["record_count"], json!(6), "the count still tells");
    let all = api.get_json(&format!("/Actions?ticket_id={id}&count=100")).await;
    assert_eq!(ids(&all, "actions").len(), 6);
}

#[tokio::test]
async fn concurrent_creates_collide_but_one_request_of_many_does_not() {
    let h = live(LiveQuirks { create_collisions: true, ..LiveQuirks::default() }).await;
    let api = Api::new(&h).await;
    let one = json!([{"summary": "a", "tickettype_id": 1}]);
    let (a, b) = tokio::join!(api.post("/Tickets", &one), api.post("/Tickets", &one));
    let mut codes = [a.status().as_u16(), b.status().as_u16()];
    codes.sort_unstable();
    assert_eq!(codes, [200, 500], "the later create collides");
    let before = h.sim.tickets().len();
    let many = json!([{"summary": "a", "tickettype_id": 1}, {"summary": "b", "tickettype_id": 1}]);
    let saved = api.post_json("/Tickets?returnall=true", &many).await;
    assert_eq!(saved.as_array().map(Vec::len), Some(2));
    assert_eq!(h.sim.tickets().len(), before + 2);
}

#[tokio::test]
async fn agent_id_is_a_visible_queue_and_unknown_date_fields_are_ignored() {
    let h = live(LiveQuirks { filters_are_hints: true, ..LiveQuirks::default() }).await;
    let api = Api::new(&h).await;
    // Agent 3 is on team 2: his queue holds team 2's tickets assigned to others too.
    let mine = api.post_json("/Tickets", &json!([{"summary": "his", "tickettype_id": 1, "agent_id": 3, "team_id": 2}])).await;
    let team = api.post_json("/Tickets", &json!([{"summary": "team", "tickettype_id": 1, "agent_id": 4, "team_id": 2}])).await;
    let queue = ids(&api.get_json("/Tickets?agent_id=3&count=100").await, "tickets");
    assert!(queue.contains(&team["id"].as_i64().unwrap()), "{queue:?}");
    let assigned = ids(&api.get_json("/Tickets?agent=3&count=100").await, "tickets");
    assert!(assigned.contains(&mine["id"].as_i64().unwrap()) && !assigned.contains(&team["id"].as_i64().unwrap()));
    let all = api.get_json("/Tickets?count=100").await["record_count"].clone();
    let ignored = api.get_json("/Tickets?count=100&datesearch=nosuchdate&startdate=2999-01-01").await;
    assert_eq!(ignored["record_count"], all, "the range is ignored, not refused");
    assert_eq!(sim().await.sim.config().profile.live, LiveQuirks::default());
}

#[tokio::test]
async fn a_user_needs_a_site_and_integers_are_strict() {
    let h = live(LiveQuirks { user_needs_site: true, ..LiveQuirks::default() }).await;
    let api = Api::new(&h).await;
    let user = api.get_json("/Users/1").await;
    assert_eq!(user["site_id"], json!(1.0), "typed double");
    let r = api.post("/Tickets", &json!([{"summary": "s", "tickettype_id": 1, "user_id": 1}])).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap_or_default().contains("valid Client/Site/User"));
    let r = api.post("/Tickets", &json!([{"summary": "s", "tickettype_id": 1, "user_id": 1, "site_id": 1.0}])).await;
    assert!(r.text().await.unwrap_or_default().contains("'1.0' is not a valid integer"));
    let ok = api.post_json("/Tickets", &json!([{"summary": "s", "tickettype_id": 1, "user_id": 1, "site_id": 1, "client_id": 1}])).await;
    assert_eq!((ok["user_id"].clone(), ok["site_id"].clone()), (json!(1), json!(1)));
}

#[tokio::test]
async fn an_attachment_is_a_short_lived_link_that_takes_no_token() {
    let h = live(LiveQuirks { attachment_links: true, ..LiveQuirks::default() }).await;
    let api = Api::new(&h).await;
    let id = create(&api, "d").await;
    let up = api.post_json("/Attachment", &json!([{"ticket_id": id, "filename": "a.txt", "data_base64": "aGVsbG8="}])).await;
    let att = up["id"].as_i64().expect("attachment id");
    let envelope = api.get_json(&format!("/Attachment/{att}")).await;
    let link = envelope["link"].as_str().expect("a link").to_string();
    assert_eq!(envelope["filename"], json!("a.txt"));
    let with_token = Client::new().get(&link).bearer_auth(&api.token).send().await.unwrap();
    assert_eq!(with_token.status(), StatusCode::BAD_REQUEST, "a pre-signed link refuses a bearer token");
    let plain = Client::new().get(&link).send().await.unwrap();
    assert_eq!(plain.status(), StatusCode::OK);
    assert_eq!(plain.bytes().await.unwrap().as_ref(), b"hello");
    h.sim.set_faults(Faults { expired_attachment_links: 1, ..Faults::default() });
    let stale = api.get_json(&format!("/Attachment/{att}")).await["link"].as_str().unwrap().to_string();
    assert_eq!(Client::new().get(&stale).send().await.unwrap().status(), StatusCode::FORBIDDEN, "expired");
}

#[tokio::test]
async fn record_count_can_count_only_the_page() {
    let h = live(LiveQuirks { per_page_record_count: true, ..LiveQuirks::default() }).await;
    let api = Api::new(&h).await;
    let page = api.get_json("/Tickets?pageinate=true&page_size=2&page_no=1").await;
    assert_eq!((ids(&page, "tickets").len(), page["record_count"].clone()), (2, json!(2)));
}

#[tokio::test]
async fn a_new_ticket_can_have_no_creation_entry() {
    let h = live(LiveQuirks { no_creation_entry: true, ..LiveQuirks::default() }).await;
    let api = Api::new(&h).await;
    let id = create(&api, "d").await;
    assert!(h.sim.actions_for(id).is_empty());
    api.post_json("/Actions", &json!([{"ticket_id": id, "outcome": "Note", "new_status": 2}])).await;
    let history = h.sim.actions_for(id);
    assert_eq!((history.len(), history[0]["old_status"].clone(), history[0]["new_status"].clone()), (1, json!(1), json!(2)));
}

#[tokio::test]
async fn outcomes_are_the_tenants_own_and_some_are_not_the_agents() {
    let h = live(LiveQuirks { tenant_outcomes: true, restricted_outcomes: vec![5], ..LiveQuirks::default() }).await;
    let api = Api::new(&h).await;
    let id = create(&api, "d").await;
    let names: Vec<Value> = api.get_json("/Outcome").await.as_array().unwrap().iter().map(|o| o["outcome"].clone()).collect();
    assert!(names.contains(&json!("Internal Note")) && !names.contains(&json!("Private Note")));
    let r = api.post("/Actions", &json!([{"ticket_id": id, "outcome": "Private Note", "note": "x"}])).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("An Outcome must be entered"));
    let saved = api.post_json("/Actions", &json!([{"ticket_id": id, "outcome_id": 7, "note": "x", "hiddenfromuser": true}])).await;
    assert_eq!((saved["outcome"].clone(), saved["outcome_id"].clone()), (json!("Internal Note"), json!(7)));
    let r = api.post("/Actions", &json!([{"ticket_id": id, "outcome": "Reassigned"}])).await;
    assert!(r.text().await.unwrap().contains("You do not have access to this Action"));
}

#[tokio::test]
async fn a_priority_the_sla_lacks_is_silently_replaced() {
    let h = live(LiveQuirks { priority_outside_sla_ignored: true, ..LiveQuirks::default() }).await;
    let api = Api::new(&h).await;
    let change = api.post_json("/Tickets", &json!([{"summary": "c", "tickettype_id": 5, "priority_id": 2}])).await;
    assert_eq!(change["priority_id"], json!(1), "the No SLA offers priority 1 only");
    let incident = api.post_json("/Tickets", &json!([{"summary": "i", "tickettype_id": 1, "priority_id": 2}])).await;
    assert_eq!(incident["priority_id"], json!(2));
}

#[tokio::test]
async fn a_client_login_cannot_read_agents_or_teams() {
    let h = live(LiveQuirks { client_login: true, ..LiveQuirks::default() }).await;
    let api = Api::new(&h).await;
    for path in ["/Team", "/Agent", "/Agent/me"] {
        assert_eq!(api.get(path).await.status(), StatusCode::FORBIDDEN, "{path}");
    }
    assert_eq!(api.get("/Tickets?count=1").await.status(), StatusCode::OK);
}
