//! `link_cmdb_assets`: a solution ticket links the CMDB assets its InsightVM hosts are, by name
//! (or short name), an IP telling two apart, or by IP alone; a host no single active asset
//! matches is reported, never guessed.

use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

use super::*;
use crate::common::{PluginServer, connection, halo_with_token, posted_to};

fn linked(ticket: &Value) -> Vec<i64> {
    ticket["assets"].as_array().into_iter().flatten().filter_map(|a| a["id"].as_i64()).collect()
}

#[tokio::test]
async fn solution_tickets_link_the_assets_their_hosts_are_on_every_tenant() {
    for profile in [halo_sim::Profile::default(), halo_sim::Profile { omit_ticket_relations: true, ..halo_sim::Profile::default() }] {
        let w = world_on(profile.clone()).await;
        // Seeded CMDB: 201 web-1 10.0.0.11, 202 web-2 10.0.0.12, 203 FIN-LT-0423, 204 old-db (inactive).
        let hosts = [(11, "web-1"), (12, "WEB-2.corp.example"), (7, "db-7"), (99, "old-db")];
        let input = json!({"remediations": [full("ubuntu-upgrade-openssl", 14_250, &hosts)], "link_cmdb_assets": true});

        let dry = w.ok(json!({"remediations": input["remediations"], "link_cmdb_assets": true, "dry_run": true})).await;
        assert_eq!((dry["created"].as_i64(), w.requests_to("GET /api/Asset")), (Some(1), 0), "a dry run looks nothing up: {dry}");

        let out = w.ok(input.clone()).await;
        let r = &out["results"][0];
        assert_eq!(r["outcome"], "created", "{out}");
        assert_eq!(r["cmdb_asset_ids"], json!([201, 202]), "by name, and by short name in any case: {out}");
        assert_eq!(r["unmatched_hosts"], json!(["db-7 10.0.0.7 (no CMDB asset)", "old-db 10.0.0.99 (no CMDB asset)"]), "{out}");
        assert!(r.get("link_error").is_none(), "{out}");
        let id = ticket_of(&out, 0);
        assert_eq!(linked(&w.ticket(id)), [201, 202], "as stored, whatever reads show: {profile:?}");

        let searches = w.requests_to("GET /api/Asset");
        let again = w.ok(input).await;
        assert_eq!(again["results"][0]["outcome"], "unchanged");
        assert_eq!(w.requests_to("GET /api/Asset"), searches, "an unchanged ticket is not looked at");

        let more = [(11, "web-1"), (12, "WEB-2.corp.example"), (23, "fin-lt-0423")];
        let changed = w.ok(json!({"remediations": [full("ubuntu-upgrade-openssl", 14_250, &more)], "link_cmdb_assets": true})).await;
        assert_eq!(changed["results"][0]["outcome"], "updated", "{changed}");
        assert_eq!(changed["results"][0]["cmdb_asset_ids"], json!([201, 202, 203]), "links are added, none taken away: {changed}");
    }
}

#[tokio::test]
async fn without_the_option_nothing_is_linked_or_looked_up() {
    let w = world().await;
    let out = w.ok(json!({"remediations": [full("ubuntu-upgrade-openssl", 14_250, &[(11, "web-1")])]})).await;
    assert!(out["results"][0].get("cmdb_asset_ids").is_none(), "{out}");
    assert_eq!((linked(&w.ticket(ticket_of(&out, 0))), w.requests_to("GET /api/Asset")), (vec![], 0));
}

/// A CMDB where two assets are named `web-1` (one at 10.0.0.11) and two share 10.0.0.7, and a
/// ticket search that finds only the new ticket 500 (the lookup of tracked tickets finds none).
async fn ambiguous_cmdb(halo: &wiremock::MockServer, searched: &[&str]) {
    let rows = |rows: Value| {
        ResponseTemplate::new(200).set_body_json(json!({"record_count": rows.as_array().map_or(0, Vec::len), "assets": rows}))
    };
    for (text, found) in [
        (
            "web-1",
            json!([{"id": 201, "key_field": "web-1", "key_field2": "10.0.0.11"}, {"id": 301, "key_field": "WEB-1", "key_field2": "10.9.9.9"}, {"id": 302, "key_field": "web-10"}]),
        ),
        ("db-7", json!([])),
        (
            "10.0.0.7",
            json!([{"id": 401, "key_field2": "10.0.0.7"}, {"id": 402, "key_field3": "10.0.0.7"}, {"id": 403, "key_field2": "10.0.0.70"}]),
        ),
        ("app-3", json!([{"id": 501, "key_field": "app-3"}, {"id": 502, "key_field": "app-3", "inactive": true}])),
        ("10.0.0.11", json!([{"id": 201, "key_field": "web-1", "key_field2": "10.0.0.11"}])),
    ] {
        let times = u64::from(searched.contains(&text));
        Mock::given(method("GET"))
            .and(path("/api/Asset"))
            .and(query_param("search", text))
            .respond_with(rows(found))
            .expect(times)
            .mount(halo)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/api/Tickets"))
        .and(query_param("search", "ivm-key:"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"record_count": 0, "tickets": []})))
        .with_priority(1)
        .mount(halo)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/Tickets"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"record_count": 1, "tickets": [{"id": 500}]})))
        .with_priority(2)
        .mount(halo)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/Tickets"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!([{"id": 500}])))
        .mount(halo)
        .await;
}

#[tokio::test]
async fn a_host_two_assets_could_be_is_told_apart_by_its_ip_or_reported() {
    let halo = halo_with_token().await;
    ambiguous_cmdb(&halo, &["web-1", "db-7", "10.0.0.7", "app-3", "10.0.0.11"]).await;
    // No links before the write, 201 and 501 after it.
    for (assets, priority) in [(json!([]), 1), (json!([{"id": 201}, {"id": 501}]), 2)] {
        let mock = Mock::given(method("GET"))
            .and(path("/api/Tickets/500"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 500, "summary": "s", "assets": assets})));
        if priority == 1 { mock.up_to_n_times(1) } else { mock }.with_priority(priority).mount(&halo).await;
    }
    let srv = PluginServer::start().await;
    let mut conn = connection(&halo.uri());
    conn["default_ticket_type_id"] = json!(4);
    // web-1 at 10.0.0.11 is 201; db-7 has no name match and its IP two assets share; app-3 is
    // 501, its namesake being inactive; a host known only by its IP is looked up by it (201 again).
    let mut solution = full("s", 14_250, &[(11, "web-1"), (7, "db-7"), (3, "app-3"), (11, "")]);
    solution["assets"][2]["ip"] = json!("");
    let input = json!({"remediations": [solution], "project": PROJECT, "link_cmdb_assets": true});
    let (s, body) = post(&srv.url("/api/v1/actions/send_remediations"), &action("send_remediations", conn, input)).await;
    assert_eq!(s, 200, "{body}");
    let r = &body["body"]["output"]["results"][0];
    assert_eq!(r["cmdb_asset_ids"], json!([201, 501]), "{r}");
    assert_eq!(r["unmatched_hosts"], json!(["db-7 10.0.0.7 (CMDB assets 401, 402)"]), "{r}");
    let posted = posted_to(&halo, "/api/Tickets").await;
    assert_eq!(posted.last(), Some(&json!([{"id": 500, "assets": [{"id": 201}, {"id": 501}]}])), "one write of both links: {posted:?}");
}

#[tokio::test]
async fn a_link_that_fails_leaves_the_ticket_and_says_why() {
    let halo = halo_with_token().await;
    ambiguous_cmdb(&halo, &["web-1"]).await;
    Mock::given(method("GET"))
        .and(path("/api/Tickets/500"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 500, "summary": "s", "assets": []})))
        .mount(&halo)
        .await;
    let srv = PluginServer::start().await;
    let mut conn = connection(&halo.uri());
    conn["default_ticket_type_id"] = json!(4);
    let input = json!({"remediations": [full("s", 14_250, &[(11, "web-1")])], "project": PROJECT, "link_cmdb_assets": true});
    let (s, body) = post(&srv.url("/api/v1/actions/send_remediations"), &action("send_remediations", conn, input)).await;
    assert_eq!(s, 200, "{body}");
    let r = &body["body"]["output"]["results"][0];
    assert_eq!((r["outcome"].as_str(), r["ticket_id"].as_i64()), (Some("created"), Some(500)), "{r}");
    let why = r["link_error"].as_str().unwrap_or_default();
    assert!(why.contains("ticket 500 was written") && why.contains("did not link asset(s) 201"), "{r}");
}
