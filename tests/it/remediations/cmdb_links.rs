//! `link_cmdb_assets`: a solution ticket links the CMDB assets its InsightVM hosts are, by name
//! (or short name), an IP telling two apart, or by IP alone; a host no single active asset
//! matches is reported, never guessed.

use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

use super::*;
use crate::common::{halo_with_token, posted_to};

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
        let unmatched = json!(["db-7 10.0.0.7 (no CMDB asset has the name)", "old-db 10.0.0.99 (no CMDB asset has the name)"]);
        assert_eq!(r["unmatched_hosts"], unmatched, "{out}");
        assert!(r.get("link_error").is_none(), "{out}");
        let id = ticket_of(&out, 0);
        assert_eq!(linked(&w.ticket(id)), [201, 202], "as stored, whatever reads show: {profile:?}");
        // web-1 and WEB-2.corp.example, db-7 and old-db: four searches, by short name; and the
        // links of a ticket whose read shows none (before the write; after it too where reads
        // never show them).
        assert_eq!(w.requests_to("GET /api/Asset"), 5 + u64::from(profile.omit_ticket_relations), "{profile:?}");

        let writes = w.writes();
        let again = w.ok(input).await;
        assert_eq!(
            (again["results"][0]["outcome"].as_str(), again["results"][0]["cmdb_asset_ids"].clone()),
            (Some("unchanged"), json!([201, 202]))
        );
        assert_eq!(w.writes(), writes, "an unchanged ticket that links its assets is not written");

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

/// A CMDB where three assets are named like `web-1` (one at 10.0.0.11), two `db-7`, one active
/// `app-3`, more than a search reads `big`; and a ticket search that finds only the new ticket
/// 500 (the lookup of tracked tickets finds none). Its creates answer ticket 500 for each record.
async fn ambiguous_cmdb(halo: &wiremock::MockServer, searched: &[&str]) {
    let rows = |rows: Value, total: usize| ResponseTemplate::new(200).set_body_json(json!({"record_count": total, "assets": rows}));
    let big: Vec<Value> = (1000..1100).map(|id| json!({"id": id, "key_field": "big"})).collect();
    for (text, found, total) in [
        (
            "web-1",
            json!([{"id": 201, "key_field": "web-1", "key_field2": "10.0.0.11"}, {"id": 301, "key_field": "WEB-1", "key_field2": "10.9.9.9"}, {"id": 302, "key_field": "web-10"}]),
            3,
        ),
        ("db-7", json!([{"id": 401, "key_field": "db-7"}, {"id": 402, "key_field": "db-7.corp.example", "key_field2": "10.0.0.8"}]), 2),
        ("app-3", json!([{"id": 501, "key_field": "app-3"}, {"id": 502, "key_field": "app-3", "inactive": true}]), 2),
        ("10.0.0.11", json!([{"id": 201, "key_field": "web-1", "key_field2": "10.0.0.11"}, {"id": 303, "key_field2": "10.0.0.110"}]), 2),
        ("big", json!(big), 150),
    ] {
        let times = u64::from(searched.contains(&text));
        Mock::given(method("GET"))
            .and(path("/api/Asset"))
            .and(query_param("search", text))
            .respond_with(rows(found, total))
            .expect(times)
            .mount(halo)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/api/Tickets"))
        .and(query_param("search_details", "ivm-key:"))
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
        .respond_with(|r: &wiremock::Request| {
            let sent: Vec<Value> = serde_json::from_slice(&r.body).unwrap_or_default();
            let saved: Vec<Value> = sent.iter().map(|t| json!({"id": 500, "details": t["details"]})).collect();
            ResponseTemplate::new(201).set_body_json(saved)
        })
        .mount(halo)
        .await;
}

#[tokio::test]
async fn a_host_two_assets_could_be_is_told_apart_by_its_ip_or_reported() {
    let halo = halo_with_token().await;
    ambiguous_cmdb(&halo, &["web-1", "db-7", "app-3", "10.0.0.11", "big"]).await;
    // No links before the write, 201 and 501 after it.
    for (assets, priority) in [(json!([]), 1), (json!([{"id": 201}, {"id": 501}]), 2)] {
        let mock = Mock::given(method("GET"))
            .and(path("/api/Tickets/500"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 500, "summary": "s", "assets": assets})));
        if priority == 1 { mock.up_to_n_times(1) } else { mock }.with_priority(priority).mount(&halo).await;
    }
    // web-1 at 10.0.0.11 is 201 (and a host known only by that IP is 201 again); two db-7 and no IP
    // to tell them apart; app-3 is 501, its namesake being inactive; `big` has more candidates
    // than a search reads; web-1 in a second solution is not searched again.
    let mut solution = full("s", 14_250, &[(11, "web-1"), (7, "db-7"), (3, "app-3"), (11, ""), (5, "big")]);
    solution["assets"][2]["ip"] = json!("");
    let second = full("t", 500, &[(11, "WEB-1.corp.example")]);
    let input = json!({"remediations": [solution, second], "project": PROJECT, "link_cmdb_assets": true});
    let (s, body) = send_to(&halo, input).await;
    assert_eq!(s, 200, "{body}");
    let r = &body["body"]["output"]["results"][0];
    assert_eq!(r["cmdb_asset_ids"], json!([201, 501]), "{r}");
    let unmatched = json!(["db-7 10.0.0.7 (CMDB assets 401, 402 all match)", "big 10.0.0.5 (more than 100 CMDB assets could match)"]);
    assert_eq!(r["unmatched_hosts"], unmatched, "{r}");
    let posted = posted_to(&halo, "/api/Tickets").await;
    let links: Vec<&Value> = posted.iter().filter(|p| p[0].get("assets").is_some()).collect();
    assert_eq!(links, [&json!([{"id": 500, "assets": [{"id": 201}, {"id": 501}]}])], "one write of both links: {posted:?}");
    assert_eq!(body["body"]["output"]["results"][1]["cmdb_asset_ids"], json!([201, 501]), "the second solution's web-1 was linked already");
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
    let input = json!({"remediations": [full("s", 14_250, &[(11, "web-1")])], "project": PROJECT, "link_cmdb_assets": true});
    let (s, body) = send_to(&halo, input).await;
    assert_eq!(s, 200, "{body}");
    let r = &body["body"]["output"]["results"][0];
    assert_eq!((r["outcome"].as_str(), r["ticket_id"].as_i64()), (Some("created"), Some(500)), "{r}");
    let why = r["link_error"].as_str().unwrap_or_default();
    assert!(why.contains("Ticket 500 stands") && why.contains("did not link asset(s) 201"), "{r}");
}

#[tokio::test]
async fn after_a_failed_search_the_run_links_no_more_and_says_why() {
    let halo = halo_with_token().await;
    ambiguous_cmdb(&halo, &[]).await;
    Mock::given(method("GET"))
        .and(path("/api/Asset"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({"Message": "The API application may not read assets"})))
        .with_priority(1)
        .expect(1)
        .mount(&halo)
        .await;
    let list = json!([full("s", 14_250, &[(11, "web-1")]), full("t", 500, &[(3, "app-3")])]);
    let input = json!({"remediations": list, "project": PROJECT, "link_cmdb_assets": true});
    let (s, body) = send_to(&halo, input).await;
    assert_eq!(s, 200, "{body}");
    let out = &body["body"]["output"];
    assert_eq!(out["created"], 2, "the tickets stand: {out}");
    for r in out["results"].as_array().into_iter().flatten() {
        let why = r["link_error"].as_str().unwrap_or_default();
        assert!(why.contains("Searching the CMDB for web-1 10.0.0.11 failed"), "the one search that failed, once: {r}");
    }
}
