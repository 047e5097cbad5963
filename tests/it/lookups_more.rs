//! `list_clients`, `list_sites`, `list_categories` and `list_outcomes` on the simulator, and the
//! shapes of docs/halo-api.md#K3–K6 on a mocked HaloITSM (wrapped or plain answers, ids as
//! doubles, names under `value` and `outcome`).

use serde_json::json;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

use crate::common::{PluginServer, connection, halo_with_token, sim_world, step_output as run};

#[tokio::test]
async fn the_lookups_on_the_simulator() {
    let (_halo, srv, conn) = sim_world(json!({})).await;
    let (s, out) = run(&srv, &conn, "list_clients", json!({})).await;
    assert_eq!(s, 200, "{out}");
    assert!(out["count"].as_i64() >= Some(2) && out["has_more"] == false, "{out}");
    let (_, one) = run(&srv, &conn, "list_clients", json!({"max_results": 1})).await;
    assert_eq!((one["count"].as_i64(), one["has_more"].as_bool()), (Some(1), Some(true)), "{one}");
    let (_, sites) = run(&srv, &conn, "list_sites", json!({"client_id": 2})).await;
    assert!(sites["sites"].as_array().is_some_and(|a| !a.is_empty() && a.iter().all(|s| s["client_id"] == 2)), "{sites}");
    let (_, cats) = run(&srv, &conn, "list_categories", json!({"level": 1})).await;
    assert!(cats["categories"].as_array().is_some_and(|a| a.iter().any(|c| c["name"] == "Security>Phishing" && c["level"] == 1)), "{cats}");
    let (_, outcomes) = run(&srv, &conn, "list_outcomes", json!({})).await;
    let names: Vec<&str> = outcomes["outcomes"].as_array().into_iter().flatten().filter_map(|o| o["name"].as_str()).collect();
    assert!(names.contains(&"Private Note") && !names.contains(&"Legacy Escalation"), "hidden ones left out: {names:?}");
    let (_, all) = run(&srv, &conn, "list_outcomes", json!({"include_hidden": true})).await;
    assert_eq!(all["count"].as_i64(), outcomes["count"].as_i64().map(|n| n + 1));
    assert!(all["outcomes"].as_array().into_iter().flatten().any(|o| o["name"] == "Resolved" && o["new_status_id"] == 9));

    for (name, input, field) in [
        ("list_clients", json!({"max_results": 0}), "`max_results`"),
        ("list_sites", json!({"client_id": -1}), "`client_id`"),
        ("list_categories", json!({"level": 5}), "`level`"),
    ] {
        let (s, out) = run(&srv, &conn, name, input).await;
        assert_eq!(s, 400, "{name}: {out}");
        assert!(out.to_string().contains(field), "{name}: {out}");
    }
}

#[tokio::test]
async fn halos_shapes_and_the_exact_queries() {
    let halo = halo_with_token().await;
    Mock::given(method("GET"))
        .and(path("/api/Client"))
        .and(query_param("search", "acme"))
        .and(query_param("includeinactive", "true"))
        .and(query_param("pageinate", "true"))
        .and(query_param("page_no", "1"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"record_count": 1, "clients": [{"id": 12.0, "name": "Acme", "inactive": true, "toplevel_id": 1}]})),
        )
        .expect(1)
        .mount(&halo)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/Site"))
        .and(query_param("client_id", "12"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"record_count": 1, "sites": [{"id": 5, "name": "HQ", "client_id": 12.0, "clientsite_name": "Acme / HQ", "inactive": false}]})))
        .expect(1)
        .mount(&halo)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/Category"))
        .and(query_param("type_id", "2"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!([{"id": 40, "value": "Malware>Ransomware", "type_id": 2, "category_name": "x"}])),
        )
        .expect(1)
        .mount(&halo)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/Outcome"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"record_count": 2, "outcomes": [
            {"id": 3, "outcome": "Private Note", "buttonname": "Private", "hidden": false, "newstatus": 0},
            {"id": 4, "outcome": "Secret", "buttonname": "S", "hidden": true}]})))
        .expect(1)
        .mount(&halo)
        .await;
    let srv = PluginServer::start().await;
    let conn = connection(&halo.uri());
    let (_, clients) = run(&srv, &conn, "list_clients", json!({"search": " acme ", "include_inactive": true})).await;
    assert_eq!(clients["clients"], json!([{"id": 12, "name": "Acme", "inactive": true}]));
    let (_, sites) = run(&srv, &conn, "list_sites", json!({"client_id": 12})).await;
    assert_eq!(sites["sites"], json!([{"id": 5, "name": "HQ", "client_id": 12, "client_name": "Acme / HQ", "inactive": false}]));
    let (_, cats) = run(&srv, &conn, "list_categories", json!({"level": 2})).await;
    assert_eq!(cats["categories"], json!([{"id": 40, "name": "Malware>Ransomware", "level": 2}]));
    let (_, outcomes) = run(&srv, &conn, "list_outcomes", json!({})).await;
    assert_eq!(
        outcomes["outcomes"],
        json!([{"id": 3, "name": "Private Note", "button_name": "Private", "hidden": false}]),
        "a hidden one the tenant sent anyway is left out"
    );
}
