//! Related tickets: a child created under a parent, children listed, tickets linked and
//! unlinked (docs/halo-api.md#T13) on the simulator; loops and unknown tickets refused with nothing
//! written; a tenant that drops `parent_id` reported, not trusted.

use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

use halo_sim::Profile;

use crate::common::{PluginServer, connection, halo_with_token, posted_to, sim_world_on, step_output as run};

fn ids(v: &Value) -> Vec<i64> {
    v["tickets"].as_array().into_iter().flatten().filter_map(|t| t["id"].as_i64()).collect()
}

/// A stock tenant, and one whose reads leave the relations out (as a captured create answer does):
/// links are then checked through the parent's children.
fn tenants() -> [Profile; 2] {
    [Profile::default(), Profile { omit_ticket_relations: true, ..Profile::default() }]
}

#[tokio::test]
async fn children_are_created_listed_linked_and_unlinked() {
    for profile in tenants() {
        children_flow(profile).await;
    }
}

async fn children_flow(profile: Profile) {
    let hidden = profile.omit_ticket_relations;
    let (halo, srv, conn) = sim_world_on(profile, json!({})).await;
    let parent_of = |id: i64| halo.sim.ticket(id).unwrap_or_default()["parent_id"].as_i64().unwrap_or_default();
    let create = |extra: Value| {
        let mut input = json!({"summary": "Incident", "details": "d"});
        for (k, v) in extra.as_object().into_iter().flatten() {
            input[k] = v.clone();
        }
        input
    };
    let (_, p) = run(&srv, &conn, "create_ticket", create(json!({}))).await;
    let parent = p["ticket"]["id"].as_i64().unwrap_or_default();
    let (s, c) = run(&srv, &conn, "create_ticket", create(json!({"parent_id": parent}))).await;
    assert_eq!(s, 200, "{c}");
    let child = c["ticket"]["id"].as_i64().unwrap_or_default();
    assert_eq!((parent_of(child), c["ticket"].get("parent_id").is_some()), (parent, !hidden), "{c}");
    let (s, listed) = run(&srv, &conn, "list_child_tickets", json!({"ticket_id": parent})).await;
    assert_eq!((s, ids(&listed)), (200, vec![child]), "{listed}");

    // A ticket of its own is linked under the parent too; then the parent cannot go under it.
    let (_, other) = run(&srv, &conn, "create_ticket", create(json!({}))).await;
    let other = other["ticket"]["id"].as_i64().unwrap_or_default();
    let (s, linked) = run(&srv, &conn, "link_tickets", json!({"ticket_id": other, "parent_id": parent})).await;
    assert_eq!((s, parent_of(other)), (200, parent), "{linked}");
    let (_, listed) = run(&srv, &conn, "list_child_tickets", json!({"ticket_id": parent})).await;
    assert_eq!(ids(&listed), vec![other, child], "newest first");

    let writes =
        |h: &halo_sim::SimHandle| h.sim.stats().by_route.iter().filter(|(r, _)| r.starts_with("POST")).map(|(_, n)| *n).sum::<u64>();
    let tickets = halo.sim.tickets().len();
    let before = writes(&halo);
    for (name, input, named) in [
        ("link_tickets", json!({"ticket_id": child, "parent_id": child}), "inputs `ticket_id` and `parent_id` are both"),
        ("link_tickets", json!({"ticket_id": child, "parent_id": 999_999}), "999999"),
        ("create_ticket", create(json!({"parent_id": 999_999})), "`parent_id`"),
        ("list_child_tickets", json!({"ticket_id": 999_999}), "999999"),
    ]
    .into_iter()
    // A loop is seen by walking up the parents, which a tenant hiding them does not show.
    .chain((!hidden).then(|| ("link_tickets", json!({"ticket_id": parent, "parent_id": child}), "input `parent_id` (")))
    {
        let (s, out) = run(&srv, &conn, name, input).await;
        assert_eq!(s, 400, "{name}: {out}");
        assert!(out.to_string().contains(named), "{name}: {named} not in {out}");
    }
    assert_eq!((writes(&halo), halo.sim.tickets().len()), (before, tickets), "nothing was written");

    let (s, out) = run(&srv, &conn, "unlink_ticket", json!({"ticket_id": child})).await;
    assert_eq!((s, out["ticket"].get("parent_id"), parent_of(child)), (200, None, 0), "{out}");
    let (_, listed) = run(&srv, &conn, "list_child_tickets", json!({"ticket_id": parent})).await;
    assert_eq!(ids(&listed), vec![other]);
    let before = writes(&halo);
    let (s, _) = run(&srv, &conn, "unlink_ticket", json!({"ticket_id": child})).await;
    // Where reads hide the parent the step cannot know there is none, so it writes 0 again.
    assert_eq!((s, writes(&halo)), (200, before + u64::from(hidden)), "a ticket with no parent");
}

#[tokio::test]
async fn a_tenant_that_drops_the_parent_is_reported() {
    let halo = halo_with_token().await;
    for id in [7, 8] {
        Mock::given(method("GET"))
            .and(path(format!("/api/Tickets/{id}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": id, "summary": "s", "parent_id": 0})))
            .mount(&halo)
            .await;
    }
    Mock::given(method("POST"))
        .and(path("/api/Tickets"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!([{"id": 7, "summary": "s"}])))
        .expect(1)
        .mount(&halo)
        .await;
    let srv = PluginServer::start().await;
    let conn = connection(&halo.uri());
    let (s, out) = run(&srv, &conn, "link_tickets", json!({"ticket_id": 7, "parent_id": 8})).await;
    assert_eq!(s, 500, "{out}");
    assert!(out.to_string().contains("did not keep the parent of ticket 7"), "{out}");
    let posted = posted_to(&halo, "/api/Tickets").await;
    assert_eq!(posted, vec![json!([{"parent_id": 8, "id": 7}])]);
}

#[tokio::test]
async fn rows_without_a_parent_are_children_only_when_the_parent_lists_them() {
    let halo = halo_with_token().await;
    Mock::given(method("GET"))
        .and(path("/api/Tickets/8"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 8, "summary": "s", "child_ticket_ids": "5"})))
        .mount(&halo)
        .await;
    // A tenant ignoring `parent_id`: thin rows of other tickets too.
    for (state, rows) in [("open_only", json!([{"id": 6}, {"id": 5}])), ("closed_only", json!([{"id": 4, "parent_id": 8}]))] {
        Mock::given(method("GET"))
            .and(path("/api/Tickets"))
            .and(query_param("parent_id", "8"))
            .and(query_param(state, "true"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(json!({"record_count": rows.as_array().map_or(0, Vec::len), "tickets": rows})),
            )
            .mount(&halo)
            .await;
    }
    let srv = PluginServer::start().await;
    let (s, out) = run(&srv, &connection(&halo.uri()), "list_child_tickets", json!({"ticket_id": 8})).await;
    assert_eq!((s, ids(&out)), (200, vec![5, 4]), "5 listed by the parent, 4 naming it, 6 neither: {out}");
}

#[tokio::test]
async fn what_a_create_leaves_out_is_sent_again_and_what_stays_out_names_the_new_ticket() {
    let halo = halo_with_token().await;
    Mock::given(method("GET"))
        .and(path("/api/Tickets/8"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 8, "summary": "parent", "parent_id": 0})))
        .mount(&halo)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/Asset/201"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 201})))
        .mount(&halo)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/Tickets"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 7, "summary": "s"})))
        .mount(&halo)
        .await;
    // The new ticket shows neither its parent nor its asset at first, both after the update.
    Mock::given(method("GET"))
        .and(path("/api/Tickets/7"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 7, "summary": "s", "parent_id": 0, "assets": []})))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&halo)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/Tickets/7"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 7, "summary": "s", "parent_id": 8, "assets": [{"id": 201}]})))
        .with_priority(2)
        .mount(&halo)
        .await;
    let srv = PluginServer::start().await;
    let conn = connection(&halo.uri());
    let input = json!({"summary": "s", "details": "d", "tickettype_id": 4, "parent_id": 8, "asset_ids": [201]});
    let (s, out) = run(&srv, &conn, "create_ticket", input.clone()).await;
    assert_eq!((s, out["ticket"]["parent_id"].as_i64()), (200, Some(8)), "{out}");
    let posted = posted_to(&halo, "/api/Tickets").await;
    assert_eq!(posted.len(), 2, "the create and one update: {posted:?}");
    assert_eq!(posted[1], json!([{"id": 7, "parent_id": 8, "assets": [{"id": 201}]}]));

    // A tenant that never keeps them: the step fails, naming ticket 7 so no second one is opened.
    let halo = halo_with_token().await;
    let conn = connection(&halo.uri());
    for (p, body) in [
        ("/api/Tickets/8", json!({"id": 8, "summary": "parent", "parent_id": 0})),
        ("/api/Asset/201", json!({"id": 201})),
        ("/api/Tickets/7", json!({"id": 7, "summary": "s", "parent_id": 0, "assets": []})),
    ] {
        Mock::given(method("GET")).and(path(p)).respond_with(ResponseTemplate::new(200).set_body_json(body)).mount(&halo).await;
    }
    Mock::given(method("POST"))
        .and(path("/api/Tickets"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 7, "summary": "s"})))
        .mount(&halo)
        .await;
    let (s, out) = run(&srv, &conn, "create_ticket", input).await;
    assert_eq!(s, 500, "{out}");
    let text = out.to_string();
    assert!(text.contains("Ticket 7 was created") && text.contains("did not link asset(s) 201"), "{text}");
    assert!(text.contains("Do not run the step again"), "{text}");
    assert_eq!(posted_to(&halo, "/api/Tickets").await.len(), 2, "one create, one update, no more");
}
