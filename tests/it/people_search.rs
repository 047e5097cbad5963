//! `search_users`, `search_agents` and `create_ticket`'s `requester_email`: people found by name or
//! email on the simulator, and on a mocked HaloITSM that ignores `search` (every match is checked
//! by the client, so the answer is the same).

use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

use crate::common::{PluginServer, connection, halo_with_token, sim_world, step_output as run};

fn ids(v: &Value, key: &str) -> Vec<i64> {
    v[key].as_array().into_iter().flatten().filter_map(|p| p["id"].as_i64()).collect()
}

#[tokio::test]
async fn people_by_name_or_email_and_a_requester_by_email() {
    let (halo, srv, conn) = sim_world(json!({})).await;
    let (s, out) = run(&srv, &conn, "search_users", json!({"query": "SAM.patel@acmefinancial.example"})).await;
    assert_eq!((s, ids(&out, "users")), (200, vec![2]), "{out}");
    assert_eq!(out["users"][0]["email"], "sam.patel@acmefinancial.example");
    let (_, out) = run(&srv, &conn, "search_users", json!({"query": "acmefinancial"})).await;
    assert_eq!(ids(&out, "users"), vec![1, 2]);
    let (_, out) = run(&srv, &conn, "search_users", json!({"query": "acmefinancial", "client_id": 2})).await;
    assert_eq!(ids(&out, "users"), Vec::<i64>::new());
    let (_, out) = run(&srv, &conn, "search_agents", json!({"query": "dana"})).await;
    assert_eq!(ids(&out, "agents"), Vec::<i64>::new(), "a disabled agent only when asked");
    let (_, out) = run(&srv, &conn, "search_agents", json!({"query": "dana", "include_inactive": true})).await;
    assert_eq!(ids(&out, "agents"), vec![6]);
    let (s, out) = run(&srv, &conn, "search_agents", json!({"query": " x "})).await;
    assert_eq!(s, 400, "{out}");
    assert!(out.to_string().contains("`query`"), "{out}");

    let (s, out) = run(
        &srv,
        &conn,
        "create_ticket",
        json!({"summary": "Phish reported", "details": "d", "requester_email": "Riley.Chen@northwind.example"}),
    )
    .await;
    assert_eq!(s, 200, "{out}");
    let id = out["ticket"]["id"].as_i64().unwrap_or_default();
    assert_eq!(halo.sim.ticket(id).unwrap_or_default()["user_id"], 3);
    let before = halo.sim.tickets().len();
    for (input, named) in [
        (json!({"summary": "s", "details": "d", "requester_email": "nobody@northwind.example"}), "nobody@northwind.example"),
        (json!({"summary": "s", "details": "d", "requester_email": "riley"}), "`requester_email`"),
        (json!({"summary": "s", "details": "d", "requester_email": "riley.chen@northwind.example", "user_id": 3}), "not both"),
    ] {
        let (s, out) = run(&srv, &conn, "create_ticket", input).await;
        assert_eq!(s, 400, "{out}");
        assert!(out.to_string().contains(named), "{named}: {out}");
    }
    assert_eq!(halo.sim.tickets().len(), before, "nothing was created");
}

#[tokio::test]
async fn a_tenant_that_ignores_search_gives_the_same_answer() {
    let halo = halo_with_token().await;
    let everyone = json!({"record_count": 3, "users": [
        {"id": 1, "name": "Jo Smith", "emailaddress": "jsmith@example.com"},
        {"id": 2, "name": "Jo Smithers", "emailaddress": "smith@example.com"},
        {"id": 3, "name": "Old", "emailaddress": "old@example.com", "inactive": true}]});
    Mock::given(method("GET"))
        .and(path("/api/Users"))
        .and(query_param("search", "smith@example.com"))
        .and(query_param("pageinate", "true"))
        .respond_with(ResponseTemplate::new(200).set_body_json(everyone))
        .expect(1)
        .mount(&halo)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/Agent"))
        .and(query_param("search", "carter"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": 3, "name": "Ben Carter", "email": "ben@example.com"}, {"id": 4, "name": "Priya Shah", "email": "p@example.com"}])))
        .expect(1)
        .mount(&halo)
        .await;
    let srv = PluginServer::start().await;
    let conn = connection(&halo.uri());
    let (_, out) = run(&srv, &conn, "search_users", json!({"query": "smith@example.com"})).await;
    assert_eq!(ids(&out, "users"), vec![2], "an address matches exactly: {out}");
    let (_, out) = run(&srv, &conn, "search_agents", json!({"query": "carter"})).await;
    assert_eq!(ids(&out, "agents"), vec![3], "{out}");
}

#[tokio::test]
async fn a_shared_address_is_refused_and_a_search_reads_no_further_than_it_must() {
    let halo = halo_with_token().await;
    Mock::given(method("GET"))
        .and(path("/api/Users"))
        .and(query_param("search", "desk@example.com"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"record_count": 2, "users": [
            {"id": 4, "name": "Front desk", "emailaddress": "desk@example.com"},
            {"id": 5, "name": "Desk (night)", "emailaddress": "DESK@example.com"}]})))
        .mount(&halo)
        .await;
    // One match wanted: page 1 holds it, so page 2 is never asked for.
    for (page_no, times) in [("1", 1), ("2", 0)] {
        Mock::given(method("GET"))
            .and(path("/api/Users"))
            .and(query_param("search", "smith"))
            .and(query_param("page_no", page_no))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"record_count": 2, "users": [
                {"id": 1, "name": "Jo Smith", "emailaddress": "jsmith@example.com"}]})))
            .expect(times)
            .mount(&halo)
            .await;
    }
    Mock::given(method("POST")).and(path("/api/Tickets")).respond_with(ResponseTemplate::new(201)).expect(0).mount(&halo).await;
    let srv = PluginServer::start().await;
    let conn = connection(&halo.uri());
    let (s, out) = run(
        &srv,
        &conn,
        "create_ticket",
        json!({"summary": "s", "details": "d", "tickettype_id": 4, "requester_email": "desk@example.com"}),
    )
    .await;
    assert_eq!(s, 400, "{out}");
    assert!(out.to_string().contains("More than one active HaloITSM user") && out.to_string().contains("users 4 and 5"), "{out}");
    let (_, out) = run(&srv, &conn, "search_users", json!({"query": "smith", "max_results": 1})).await;
    assert_eq!(ids(&out, "users"), vec![1], "{out}");
}
