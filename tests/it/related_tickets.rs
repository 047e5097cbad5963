//! Related tickets: a child created under a parent, children listed, tickets linked and
//! unlinked (docs/halo-api.md#T13) on the simulator; loops and unknown tickets refused with nothing
//! written; a tenant that drops `parent_id` reported, not trusted.

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::common::{PluginServer, connection, halo_with_token, posted_to, sim_world, step_output as run};

fn ids(v: &Value) -> Vec<i64> {
    v["tickets"].as_array().into_iter().flatten().filter_map(|t| t["id"].as_i64()).collect()
}

#[tokio::test]
async fn children_are_created_listed_linked_and_unlinked() {
    let (halo, srv, conn) = sim_world(json!({})).await;
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
    assert_eq!(c["ticket"]["parent_id"], parent);
    let (s, listed) = run(&srv, &conn, "list_child_tickets", json!({"ticket_id": parent})).await;
    assert_eq!((s, ids(&listed)), (200, vec![child]), "{listed}");

    // A ticket of its own is linked under the parent too; then the parent cannot go under it.
    let (_, other) = run(&srv, &conn, "create_ticket", create(json!({}))).await;
    let other = other["ticket"]["id"].as_i64().unwrap_or_default();
    let (s, linked) = run(&srv, &conn, "link_tickets", json!({"ticket_id": other, "parent_id": parent})).await;
    assert_eq!((s, linked["ticket"]["parent_id"].as_i64()), (200, Some(parent)), "{linked}");
    let (_, listed) = run(&srv, &conn, "list_child_tickets", json!({"ticket_id": parent})).await;
    assert_eq!(ids(&listed), vec![other, child], "newest first");

    let writes =
        |h: &halo_sim::SimHandle| h.sim.stats().by_route.iter().filter(|(r, _)| r.starts_with("POST")).map(|(_, n)| *n).sum::<u64>();
    let tickets = halo.sim.tickets().len();
    let before = writes(&halo);
    for (name, input, named) in [
        ("link_tickets", json!({"ticket_id": parent, "parent_id": child}), "is below ticket"),
        ("link_tickets", json!({"ticket_id": child, "parent_id": child}), "its own parent"),
        ("link_tickets", json!({"ticket_id": child, "parent_id": 999_999}), "999999"),
        ("create_ticket", create(json!({"parent_id": 999_999})), "`parent_id`"),
        ("list_child_tickets", json!({"ticket_id": 999_999}), "999999"),
    ] {
        let (s, out) = run(&srv, &conn, name, input).await;
        assert_eq!(s, 400, "{name}: {out}");
        assert!(out.to_string().contains(named), "{name}: {named} not in {out}");
    }
    assert_eq!((writes(&halo), halo.sim.tickets().len()), (before, tickets), "nothing was written");

    let (s, out) = run(&srv, &conn, "unlink_ticket", json!({"ticket_id": child})).await;
    assert_eq!((s, out["ticket"].get("parent_id")), (200, None), "{out}");
    let (_, listed) = run(&srv, &conn, "list_child_tickets", json!({"ticket_id": parent})).await;
    assert_eq!(ids(&listed), vec![other]);
    let before = writes(&halo);
    let (s, _) = run(&srv, &conn, "unlink_ticket", json!({"ticket_id": child})).await;
    assert_eq!((s, writes(&halo)), (200, before), "a ticket with no parent: no write");
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
