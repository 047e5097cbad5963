//! Halo's CMDB: assets searched (text over the key fields, inventory number, client, site, type;
//! paged), read, and linked to tickets (link_assets, create/update `asset_ids`) on the simulator;
//! the exact write on a mocked HaloITSM, and a tenant that drops the link reported.

use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

use halo_sim::Profile;

use crate::common::{PluginServer, connection, halo_with_token, posted_to, sim_world_on, step_output as run};

fn ids(v: &Value, key: &str) -> Vec<i64> {
    v[key].as_array().into_iter().flatten().filter_map(|a| a["id"].as_i64()).collect()
}

fn linked(t: &Value) -> Vec<i64> {
    t["assets"].as_array().into_iter().flatten().filter_map(|a| a["id"].as_i64()).collect()
}

#[tokio::test]
async fn assets_are_found_and_linked_to_tickets() {
    // A stock tenant, and one whose ticket reads leave `assets` out (as a captured create answer
    // does): the links are then read from `GET /Asset?ticket_id=`.
    for profile in [Profile::default(), Profile { omit_ticket_relations: true, ..Profile::default() }] {
        assets_flow(profile).await;
    }
}

async fn assets_flow(profile: Profile) {
    let (halo, srv, conn) = sim_world_on(profile, json!({})).await;
    let (s, out) = run(&srv, &conn, "search_assets", json!({"query": "10.0.0.1"})).await;
    assert_eq!((s, ids(&out, "assets")), (200, vec![201, 202]), "by IP: {out}");
    let (_, out) = run(&srv, &conn, "search_assets", json!({"inventory_number": "lt-0423"})).await;
    assert_eq!(ids(&out, "assets"), vec![203]);
    let (_, out) = run(&srv, &conn, "search_assets", json!({"client_id": 2})).await;
    assert_eq!(ids(&out, "assets"), Vec::<i64>::new(), "inactive ones only when asked");
    let (_, out) = run(&srv, &conn, "search_assets", json!({"client_id": 2, "include_inactive": true})).await;
    assert_eq!(ids(&out, "assets"), vec![204]);
    let (_, p1) = run(&srv, &conn, "search_assets", json!({"assettype_id": 1, "page_size": 1})).await;
    let (_, p2) = run(&srv, &conn, "search_assets", json!({"assettype_id": 1, "page_size": 1, "page": 2})).await;
    assert_eq!(
        (ids(&p1, "assets"), p1["has_more"].as_bool(), ids(&p2, "assets"), p2["has_more"].as_bool()),
        (vec![201], Some(true), vec![202], Some(false))
    );
    let (_, got) = run(&srv, &conn, "get_asset", json!({"asset_id": 203})).await;
    assert_eq!((got["found"].as_bool(), got["asset"]["key_field"].as_str()), (Some(true), Some("FIN-LT-0423")));
    let (_, none) = run(&srv, &conn, "get_asset", json!({"asset_id": 999})).await;
    assert_eq!(none["found"], false);

    // An InsightVM host becomes a link to its CMDB record.
    let (s, c) =
        run(&srv, &conn, "create_ticket", json!({"summary": "Upgrade openssl on web-1", "details": "d", "asset_ids": [201]})).await;
    assert_eq!(s, 200, "{c}");
    let id = c["ticket"]["id"].as_i64().unwrap_or_default();
    assert_eq!(linked(&halo.sim.ticket(id).unwrap_or_default()), vec![201]);
    let (s, l) = run(&srv, &conn, "link_assets", json!({"ticket_id": id, "asset_ids": [202, 201]})).await;
    assert_eq!((s, l["asset_ids"].clone(), l["added"].clone()), (200, json!([201, 202]), json!([202])), "the first link kept: {l}");
    let (_, u) = run(&srv, &conn, "update_ticket", json!({"ticket_id": id, "asset_ids": [203]})).await;
    assert_eq!(linked(&halo.sim.ticket(id).unwrap_or_default()), vec![201, 202, 203], "{u}");
    let (_, out) = run(&srv, &conn, "search_assets", json!({"query": "SRV"})).await;
    assert_eq!(ids(&out, "assets"), vec![201, 202]);

    let writes =
        |h: &halo_sim::SimHandle| h.sim.stats().by_route.iter().filter(|(r, _)| r.starts_with("POST")).map(|(_, n)| *n).sum::<u64>();
    let (before, tickets) = (writes(&halo), halo.sim.tickets().len());
    let (s, _) = run(&srv, &conn, "link_assets", json!({"ticket_id": id, "asset_ids": [201]})).await;
    assert_eq!((s, writes(&halo)), (200, before), "linked already: no write");
    for (name, input, named) in [
        ("link_assets", json!({"ticket_id": id, "asset_ids": [201, 999]}), "`asset_ids[1]`"),
        ("link_assets", json!({"ticket_id": id, "asset_ids": []}), "`asset_ids` is empty"),
        ("create_ticket", json!({"summary": "s", "details": "d", "asset_ids": [999]}), "asset 999"),
        ("update_ticket", json!({"ticket_id": id, "summary": "changed", "asset_ids": [0]}), "`asset_ids[0]`"),
        ("search_assets", json!({}), "at least one of"),
        ("search_assets", json!({"query": "web", "page": 0}), "`page`"),
    ] {
        let (s, out) = run(&srv, &conn, name, input).await;
        assert_eq!(s, 400, "{name}: {out}");
        assert!(out.to_string().contains(named), "{name}: {named} not in {out}");
    }
    assert_eq!((writes(&halo), halo.sim.tickets().len()), (before, tickets), "nothing was written");
    assert_eq!(halo.sim.ticket(id).unwrap_or_default()["summary"], "Upgrade openssl on web-1");
}

#[tokio::test]
async fn the_write_sends_every_link_and_a_dropped_one_is_reported() {
    let halo = halo_with_token().await;
    Mock::given(method("GET"))
        .and(path("/api/Tickets/7"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": 7, "summary": "s", "assets": [{"id": 201, "inventory_number": "SRV-0001"}]})),
        )
        .mount(&halo)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/Asset/202"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 202, "inventory_number": "SRV-0002"})))
        .expect(1)
        .mount(&halo)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/Tickets"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!([{"id": 7}])))
        .expect(1)
        .mount(&halo)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/Asset"))
        .and(query_param("search", "web"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{"id": 201, "key_field": "web-1", "site_id": null}])))
        .expect(1)
        .mount(&halo)
        .await;
    let srv = PluginServer::start().await;
    let conn = connection(&halo.uri());
    let (s, out) = run(&srv, &conn, "link_assets", json!({"ticket_id": 7, "asset_ids": [202]})).await;
    assert_eq!(s, 500, "the ticket still shows only 201: {out}");
    assert!(out.to_string().contains("did not link asset(s) 202 on ticket 7"), "{out}");
    let posted = posted_to(&halo, "/api/Tickets").await;
    assert_eq!(posted, vec![json!([{"assets": [{"id": 201}, {"id": 202}], "id": 7}])], "the link it had, and the new one");
    let (s, out) = run(&srv, &conn, "search_assets", json!({"query": "web"})).await;
    assert_eq!((s, out["assets"].clone()), (200, json!([{"id": 201, "key_field": "web-1"}])), "a bare array, nulls dropped");
}

#[tokio::test]
async fn a_write_that_replaces_the_links_is_reported() {
    let halo = halo_with_token().await;
    Mock::given(method("GET"))
        .and(path("/api/Asset/202"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 202})))
        .mount(&halo)
        .await;
    // Linked to 201 before the write, only to 202 after it.
    for (assets, times) in [(json!([{"id": 201}]), Some(1)), (json!([{"id": 202}]), None)] {
        let mock = Mock::given(method("GET"))
            .and(path("/api/Tickets/7"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 7, "summary": "s", "assets": assets})));
        match times {
            Some(n) => mock.up_to_n_times(n).with_priority(1).mount(&halo).await,
            None => mock.with_priority(2).mount(&halo).await,
        }
    }
    Mock::given(method("POST"))
        .and(path("/api/Tickets"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!([{"id": 7}])))
        .expect(1)
        .mount(&halo)
        .await;
    let srv = PluginServer::start().await;
    let (s, out) = run(&srv, &connection(&halo.uri()), "link_assets", json!({"ticket_id": 7, "asset_ids": [202]})).await;
    assert_eq!(s, 500, "{out}");
    assert!(out.to_string().contains("no longer links asset(s) 201 it linked before"), "{out}");
}

#[tokio::test]
async fn without_a_record_count_the_next_page_says_whether_there_is_more() {
    let halo = halo_with_token().await;
    for (list, page_no, rows) in [
        ("Asset", "1", json!([{"id": 201}, {"id": 202}])),
        ("Asset", "2", json!([{"id": 203}])),
        ("Client", "1", json!([{"id": 1, "name": "A"}, {"id": 2, "name": "B"}])),
        ("Client", "2", json!([])),
    ] {
        Mock::given(method("GET"))
            .and(path(format!("/api/{list}")))
            .and(query_param("page_size", "2"))
            .and(query_param("page_no", page_no))
            .respond_with(ResponseTemplate::new(200).set_body_json(rows))
            .expect(1)
            .mount(&halo)
            .await;
    }
    let srv = PluginServer::start().await;
    let conn = connection(&halo.uri());
    let (_, out) = run(&srv, &conn, "search_assets", json!({"query": "srv", "page_size": 2})).await;
    assert_eq!((ids(&out, "assets"), out["has_more"].as_bool()), (vec![201, 202], Some(true)), "{out}");
    let (_, out) = run(&srv, &conn, "list_clients", json!({"max_results": 2})).await;
    assert_eq!((ids(&out, "clients"), out["has_more"].as_bool()), (vec![1, 2], Some(false)), "{out}");
}

#[tokio::test]
async fn links_added_at_once_to_one_ticket_are_all_kept() {
    let (halo, srv, conn) = sim_world_on(Profile::default(), json!({})).await;
    // Slow answers: without the lock, every step would read the links before any wrote them,
    // and each write (the whole list) would drop the others' links.
    halo.sim.set_faults(halo_sim::Faults { latency_ms: 30, ..halo_sim::Faults::default() });
    let runs = [201, 202, 203].map(|id| {
        let (srv, conn) = (&srv, &conn);
        async move { run(srv, conn, "link_assets", json!({"ticket_id": 104, "asset_ids": [id]})).await }
    });
    let done = futures::future::join_all(runs).await;
    assert!(done.iter().all(|(s, _)| *s == 200), "{done:?}");
    let mut linked: Vec<i64> =
        halo.sim.ticket(104).unwrap_or_default()["assets"].as_array().into_iter().flatten().filter_map(|a| a["id"].as_i64()).collect();
    linked.sort_unstable();
    assert_eq!(linked, [201, 202, 203]);
}
