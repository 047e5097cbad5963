//! The exact requests of a run, on a mocked HaloITSM: one lookup pass (open, then closed), the
//! create with its whole body, the settle read, and the note of a solution gone from the list.

use icon_haloitsm::remediations::{SOURCE, key_of, project_tag};
use serde_json::json;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::*;
use crate::common::{PluginServer, action, connection, halo_with_token, post};

const LOOKUP: &str = "GET /api/Tickets?search_details=ivm-key:&order=id&open_only=true&pageinate=true&page_size=100&page_no=1";
const LOOKUP_CLOSED: &str = "GET /api/Tickets?search_details=ivm-key:&order=id&closed_only=true&pageinate=true&page_size=100&page_no=1";

async fn requests_of(server: &MockServer) -> Vec<String> {
    let mut out: Vec<String> = server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path() != "/auth/token")
        .map(|r| {
            let q: Vec<String> = r.url.query_pairs().map(|(k, v)| format!("{k}={v}")).collect();
            format!("{} {}{}", r.method, r.url.path(), if q.is_empty() { String::new() } else { format!("?{}", q.join("&")) })
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn a_run_creates_with_the_whole_body_and_notes_what_is_gone() {
    let halo = halo_with_token().await;
    let new_tag = SOURCE.tag_of(&key_of(PROJECT, "ubuntu-upgrade-openssl"));
    let gone_tag = SOURCE.tag_of(&key_of(PROJECT, "msft-kb5034441"));
    let gone_row = json!({"id": 77, "summary": "[InsightVM] Apply msft-kb5034441 - 1 asset, 3 vulnerabilities",
        "details": format!("<p>x</p><p>{gone_tag} {} ivm-state:s=msft-kb5034441;a=1;v=3;r=60000;h=00;ids=13</p>", project_tag(PROJECT))});
    // Another project's ticket for a solution this list lacks: not this project's business.
    let other_row = json!({"id": 78, "summary": "other", "details": format!("<p>{} {}</p>", SOURCE.tag_of(&key_of("Databases", "x")), project_tag("Databases"))});
    Mock::given(method("GET"))
        .and(path("/api/Tickets"))
        .and(query_param("search_details", "ivm-key:"))
        .and(query_param("open_only", "true"))
        .and(|r: &wiremock::Request| !r.url.query_pairs().any(|(k, _)| k == "orderdesc"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"record_count": 2, "tickets": [gone_row, other_row]})))
        .expect(1)
        .mount(&halo)
        .await;
    // The duplicate check after the creates: the newest open tagged tickets.
    Mock::given(method("GET"))
        .and(path("/api/Tickets"))
        .and(query_param("search_details", "ivm-key:"))
        .and(query_param("orderdesc", "true"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"record_count": 1, "tickets": [{"id": 500}]})))
        .expect(1)
        .mount(&halo)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/Tickets"))
        .and(query_param("search_details", "ivm-key:"))
        .and(query_param("closed_only", "true"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"record_count": 0, "tickets": []})))
        .expect(1)
        .mount(&halo)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/Tickets"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!([{"id": 500}])))
        .expect(1)
        .mount(&halo)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/Actions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"record_count": 0, "actions": []})))
        .expect(1)
        .mount(&halo)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/Actions"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!([{"id": 9, "ticket_id": 77}])))
        .expect(1)
        .mount(&halo)
        .await;

    let srv = PluginServer::start().await;
    let mut conn = connection(&halo.uri());
    conn["default_ticket_type_id"] = json!(4);
    let input = json!({"remediations": [full("ubuntu-upgrade-openssl", 14_250, &[(11, "web-1")])], "project": PROJECT, "team_id": 2});
    let (s, body) = post(&srv.url("/api/v1/actions/send_remediations"), &action("send_remediations", conn, input)).await;
    assert_eq!(s, 200, "{body}");
    let out = &body["body"]["output"];
    assert_eq!(
        outcomes(out),
        [("ubuntu-upgrade-openssl".to_string(), "created".to_string()), ("msft-kb5034441".to_string(), "updated".to_string())]
    );
    assert_eq!(out["results"][1]["ticket_id"], 77);

    let settle = "GET /api/Tickets?search_details=ivm-key:&order=id&orderdesc=true&open_only=true&pageinate=true&page_size=100&page_no=1";
    let mut want = vec![
        LOOKUP.to_string(),
        LOOKUP_CLOSED.to_string(),
        "POST /api/Tickets?returnall=true".into(),
        settle.into(),
        "GET /api/Actions?ticket_id=77&count=10000&excludesys=true".into(),
        "POST /api/Actions?returnall=true".into(),
    ];
    want.sort();
    assert_eq!(requests_of(&halo).await, want);

    let received = halo.received_requests().await.unwrap_or_default();
    let body_of = |p: &str| {
        received
            .iter()
            .find(|r| r.method.as_str() == "POST" && r.url.path() == p)
            .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap_or_default())
            .unwrap_or_default()
    };
    let created = &body_of("/api/Tickets")[0];
    assert_eq!(
        (
            created["summary"].as_str(),
            created["tickettype_id"].as_i64(),
            created["priority_id"].as_i64(),
            created["team_id"].as_i64(),
            created.get("parent_id")
        ),
        (Some("[InsightVM] Apply ubuntu-upgrade-openssl - 1 asset, 3 vulnerabilities"), Some(4), Some(2), Some(2), None)
    );
    let details = created["details"].as_str().unwrap_or_default();
    assert!(
        details.contains(&new_tag)
            && details.contains(&project_tag(PROJECT))
            && details.contains("ivm-state:s=ubuntu-upgrade-openssl;a=1;v=3;r=14250;"),
        "{details}"
    );
    let note = &body_of("/api/Actions")[0];
    assert_eq!((note["ticket_id"].as_i64(), note["hiddenfromuser"].as_bool(), note.get("new_status")), (Some(77), Some(true), None));
    assert_eq!(note["note"], format!("InsightVM: resolved: msft-kb5034441 is no longer among the remediations of project {PROJECT}."));
}

#[tokio::test]
async fn a_parent_that_cannot_be_created_stops_its_children() {
    let halo = halo_with_token().await;
    Mock::given(method("GET"))
        .and(path("/api/Tickets"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"record_count": 0, "tickets": []})))
        .mount(&halo)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/Tickets"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"Message": "Ticket type 4 is not allowed"})))
        .expect(1)
        .mount(&halo)
        .await;
    let srv = PluginServer::start().await;
    let mut conn = connection(&halo.uri());
    conn["default_ticket_type_id"] = json!(4);
    let list = json!([full("a", 100, &[(1, "h")]), full("b", 100, &[(2, "i")])]);
    let (s, body) = post(
        &srv.url("/api/v1/actions/send_remediations"),
        &action("send_remediations", conn, json!({"remediations": list, "project": PROJECT, "parent_ticket": true})),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let out = &body["body"]["output"];
    assert_eq!(
        (out["parent"]["outcome"].as_str(), out["failed"].as_i64(), out["created"].as_i64()),
        (Some("failed"), Some(2), Some(0)),
        "{out}"
    );
    assert!(
        out["results"][0]["error"].as_str().is_some_and(|e| e.contains("parent ticket could not be written") && e.contains("not allowed")),
        "{out}"
    );
}
