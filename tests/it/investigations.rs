//! `send_investigation` against the simulator: one ticket per InsightIDR investigation, from the
//! investigation object exactly as Rapid7's InsightIDR plugin outputs it (its `investigation`
//! type), changed later only where InsightIDR changed.

use halo_sim::SimHandle;
use serde_json::{Value, json};

use crate::common::{PluginServer, action, note_as_html, post, sim_world};

const RRN: &str = "rrn:investigation:us:44d88612-fea8-a8f3-6de8-2e1278abb02f:investigation:1PBRR2S4XFKP";

/// The full object, as the InsightIDR plugin's Get Investigation example gives it.
fn full() -> Value {
    json!({"assignee": {"email": "ben.carter@halo.example", "name": "Ben Carter"}, "created_time": "2026-09-01T09:00:00Z",
        "disposition": "UNDECIDED", "first_alert_time": "2026-09-01T08:58:00Z", "last_accessed": "2026-09-01T09:05:00Z",
        "latest_alert_time": "2026-09-01T09:01:00Z", "organization_id": "174e4f99-2ac7-4481-9301-4d24c34baf06", "priority": "HIGH",
        "rrn": RRN, "source": "ALERT", "status": "OPEN", "title": "Suspicious Authentication - jsmith", "responsibility": "CUSTOMER", "tags": []})
}

struct World {
    halo: SimHandle,
    srv: PluginServer,
    conn: Value,
}

async fn world() -> World {
    let (halo, srv, conn) = sim_world(json!({"reference_field_id": 101})).await;
    World { halo, srv, conn }
}

impl World {
    async fn send(&self, input: Value) -> (u16, Value) {
        let (s, b) =
            post(&self.srv.url("/api/v1/actions/send_investigation"), &action("send_investigation", self.conn.clone(), input)).await;
        (s, if s == 200 { b["body"]["output"].clone() } else { b })
    }

    fn writes(&self) -> u64 {
        self.halo.sim.stats().by_route.iter().filter(|(r, _)| r.starts_with("POST /api/")).map(|(_, n)| n).sum()
    }

    fn notes(&self, id: i64) -> Vec<String> {
        self.halo.sim.actions_for(id).iter().filter_map(|a| a["note"].as_str().map(str::to_string)).collect()
    }
}

#[tokio::test]
async fn an_investigation_becomes_one_ticket_and_follows_it() {
    let w = world().await;
    let alerts = json!([{"id": "a1", "title": "Suspicious Authentication", "alert_type": "UBA", "created_time": "2026-09-01T08:58:00Z"}]);
    let (s, out) = w.send(json!({"investigation": full(), "alerts": alerts})).await;
    assert_eq!(s, 200, "{out}");
    assert_eq!(out["outcome"], "created");
    let t = &out["ticket"];
    let id = t["id"].as_i64().unwrap();
    assert_eq!(t["summary"], "InsightIDR: Suspicious Authentication - jsmith");
    assert_eq!(
        (t["priority_id"].as_i64(), t["status_id"].as_i64(), t["agent_id"].as_i64()),
        (Some(2), Some(1), Some(3)),
        "HIGH, OPEN → New, the agent with the assignee's email"
    );
    let raw = w.halo.sim.ticket(id).unwrap();
    assert!(raw["details"].as_str().unwrap().contains("Suspicious Authentication (UBA; 2026-09-01T08:58:00Z)"), "{raw}");
    assert_eq!(raw["customfields"].as_array().unwrap().iter().find(|c| c["id"] == 101).unwrap()["value"], RRN);

    // The same investigation again: nothing is written.
    let writes = w.writes();
    let (_, again) = w.send(json!({"investigation": full()})).await;
    assert_eq!((again["outcome"].as_str(), again["ticket"]["id"].as_i64()), (Some("unchanged"), Some(id)));
    assert_eq!(w.writes(), writes);

    // An agent lowers the priority by hand; InsightIDR then moves the status only: the priority stays.
    w.halo.sim.agent_edit(id, json!({"priority_id": 4}), None).unwrap();
    let mut inv = full();
    inv["status"] = json!("INVESTIGATING");
    let (_, moved) = w.send(json!({"investigation": inv.clone()})).await;
    assert_eq!(moved["outcome"], "updated", "{moved}");
    assert_eq!(moved["changes"], json!(["status: OPEN -> INVESTIGATING"]));
    assert_eq!((moved["ticket"]["status_id"].as_i64(), moved["ticket"]["priority_id"].as_i64()), (Some(2), Some(4)));
    assert!(w.notes(id).iter().any(|n| n.starts_with(&format!("InsightIDR investigation {RRN} changed: status: OPEN -> INVESTIGATING."))));

    // Priority and assignee change: both follow; an assignee with no HaloITSM agent leaves the agent.
    inv["priority"] = json!("CRITICAL");
    inv["assignee"] = json!({"name": "Nobody", "email": "nobody@example.com"});
    let (_, more) = w.send(json!({"investigation": inv.clone()})).await;
    assert_eq!(more["changes"], json!(["priority: HIGH -> CRITICAL", "assignee: ben.carter@halo.example -> nobody@example.com"]));
    assert_eq!((more["ticket"]["priority_id"].as_i64(), more["ticket"]["agent_id"].as_i64()), (Some(1), Some(3)));

    // Closed in InsightIDR: closed in HaloITSM (checked); opened again: reopened, the same ticket.
    inv["status"] = json!("CLOSED");
    inv["disposition"] = json!("MALICIOUS");
    let (_, closed) = w.send(json!({"investigation": inv.clone()})).await;
    assert_eq!((closed["ticket"]["status_id"].as_i64(), closed["ticket"]["closed"].as_bool()), (Some(9), Some(true)), "{closed}");
    inv["status"] = json!("OPEN");
    let (_, reopened) = w.send(json!({"investigation": inv})).await;
    assert_eq!((reopened["ticket"]["id"].as_i64(), reopened["ticket"]["status_id"].as_i64()), (Some(id), Some(1)), "{reopened}");
    assert_eq!(w.halo.sim.tickets().iter().filter(|t| t["summary"].as_str().unwrap_or_default().starts_with("InsightIDR:")).count(), 1);
}

#[tokio::test]
async fn a_minimal_investigation_is_enough() {
    let w = world().await;
    let (s, out) = w.send(json!({"investigation": {"rrn": RRN}})).await;
    assert_eq!(s, 200, "{out}");
    assert_eq!(out["outcome"], "created");
    assert_eq!(out["ticket"]["summary"], format!("InsightIDR: {RRN}"));
    let (_, again) = w.send(json!({"investigation": {"rrn": RRN, "title": "Now with a title"}})).await;
    assert_eq!((again["outcome"].as_str(), again["ticket"]["summary"].as_str()), (Some("updated"), Some("InsightIDR: Now with a title")));
}

#[tokio::test]
async fn bad_investigations_are_refused_naming_the_field_and_nothing_is_written() {
    let w = world().await;
    for (inv, needle) in [
        (json!({"title": "no rrn"}), "input `investigation.rrn` is missing or empty"),
        (json!({"rrn": "  "}), "input `investigation.rrn`"),
        (json!({"rrn": RRN, "status": "DONE"}), "input `investigation.status` must be one of OPEN, INVESTIGATING, WAITING, CLOSED"),
        (json!({"rrn": RRN, "priority": "URGENT"}), "input `investigation.priority`"),
    ] {
        let (s, b) = w.send(json!({"investigation": inv})).await;
        assert_eq!(s, 400, "{b}");
        assert!(b["body"]["error"].as_str().unwrap().contains(needle), "{b}");
    }
    let (s, b) = w.send(json!({"investigation": full(), "priority_mapping": {"HIGH": "two"}})).await;
    assert_eq!(s, 400, "{b}");
    assert!(b["body"]["error"].as_str().unwrap().contains("`priority_mapping`"), "{b}");
    assert_eq!(w.writes(), 0);
}

/// Exactly what a first call sends HaloITSM to create the ticket (wiremock).
#[tokio::test]
async fn the_create_request_is_exact() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, ResponseTemplate};
    let server = crate::common::halo_with_token().await;
    let stock =
        json!([{"id": 1, "name": "New"}, {"id": 2, "name": "In Progress"}, {"id": 8, "name": "Resolved"}, {"id": 9, "name": "Closed"}]);
    Mock::given(method("GET")).and(path("/api/Status")).respond_with(ResponseTemplate::new(200).set_body_json(stock)).mount(&server).await;
    Mock::given(method("GET"))
        .and(path("/api/Agent"))
        .and(wiremock::matchers::query_param("search", "ben.carter@halo.example"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!([{"id": 3, "name": "Ben Carter", "email": "Ben.Carter@halo.example"}])),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/Tickets"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"record_count": 0, "tickets": []})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/Tickets"))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({"id": 5000, "summary": "InsightIDR: Suspicious Authentication - jsmith", "status_id": 1})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let mut conn = crate::common::connection(&server.uri());
    conn["reference_field_id"] = json!(101);
    let srv = PluginServer::start().await;
    let (s, b) = post(
        &srv.url("/api/v1/actions/send_investigation"),
        &action("send_investigation", conn, json!({"investigation": full(), "tickettype_id": 4})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let sent: Vec<Value> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.method.as_str() == "POST" && r.url.path() == "/api/Tickets")
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    let details = sent[0][0]["details"].as_str().unwrap().to_string();
    assert_eq!(
        sent,
        vec![
            json!([{"summary": "InsightIDR: Suspicious Authentication - jsmith", "tickettype_id": 4, "priority_id": 2, "status_id": 1, "agent_id": 3,
            "customfields": [{"id": 101, "value": RRN}], "details": details}])
        ]
    );
    assert!(
        // HTML, as ticket details are: line breaks as `<br>`, the address in `<…>` escaped.
        details.starts_with(&format!("InsightIDR investigation {RRN}<br>Status: OPEN<br>Priority: HIGH<br>Disposition: UNDECIDED")),
        "{details}"
    );
    assert!(details.contains("Assignee: Ben Carter &lt;ben.carter@halo.example&gt;"), "{details}");
    assert!(details.contains(&note_as_html(r#"[insightidr-sync] {"title":"Suspicious Authentication - jsmith","status":"OPEN","priority":"HIGH","disposition":"UNDECIDED","assignee":"ben.carter@halo.example"}"#)), "{details}");
    assert!(details.ends_with(&icon_haloitsm::sync::reference_tag(RRN)), "{details}");
}

#[tokio::test]
async fn a_ticket_an_analyst_reopened_stays_open_until_insightidr_moves() {
    let w = world().await;
    let mut inv = full();
    inv["status"] = json!("CLOSED");
    let (_, first) = w.send(json!({"investigation": inv.clone()})).await;
    let id = first["ticket"]["id"].as_i64().unwrap();
    assert_eq!(first["ticket"]["closed"], true, "{first}");
    w.halo.sim.agent_edit(id, json!({"status_id": 2}), Some("Reopened: more to check")).unwrap();
    inv["disposition"] = json!("MALICIOUS");
    let (s, out) = w.send(json!({"investigation": inv})).await;
    assert_eq!(s, 200, "{out}");
    assert_eq!(out["changes"], json!(["disposition: UNDECIDED -> MALICIOUS"]));
    assert_eq!(out["ticket"]["status_id"], 2, "the status was not InsightIDR's change");
}

#[tokio::test]
async fn the_hosts_of_an_investigation_become_links_to_their_cmdb_assets() {
    let w = world().await;
    let linked = |id: i64| -> Vec<i64> {
        w.halo.sim.ticket(id).unwrap_or_default()["assets"].as_array().into_iter().flatten().filter_map(|a| a["id"].as_i64()).collect()
    };
    // Seeded CMDB: 201 web-1 10.0.0.11, 202 web-2 10.0.0.12; nothing has db-7.
    let hosts = json!(["web-1.corp.example", "10.0.0.12", "db-7", "WEB-1 10.0.0.11"]);
    let (s, out) = w.send(json!({"investigation": full(), "hosts": hosts})).await;
    assert_eq!((s, out["outcome"].as_str()), (200, Some("created")), "{out}");
    assert_eq!(
        (out["cmdb_asset_ids"].clone(), out["unmatched_hosts"].clone()),
        (json!([201, 202]), json!(["db-7 (no CMDB asset has the name)"]))
    );
    let id = out["ticket"]["id"].as_i64().unwrap_or_default();
    assert_eq!(linked(id), [201, 202]);

    // Again, unchanged and with one host more: only the links are written.
    let writes = w.writes();
    let (_, again) = w.send(json!({"investigation": full(), "hosts": ["fin-lt-0423"]})).await;
    assert_eq!((again["outcome"].as_str(), again["cmdb_asset_ids"].clone()), (Some("unchanged"), json!([201, 202, 203])), "{again}");
    assert_eq!(w.writes(), writes + 1, "one write, of the links");
    let (_, none) = w.send(json!({"investigation": full()})).await;
    assert!(none.get("cmdb_asset_ids").is_none(), "no hosts, no lookup: {none}");
    assert_eq!(linked(id), [201, 202, 203]);
}

#[tokio::test]
async fn bad_hosts_are_refused_before_anything_is_sent() {
    let w = world().await;
    let many: Vec<String> = (0..101).map(|i| format!("h{i}")).collect();
    for (hosts, needle) in [
        (json!(["web-1", " "]), "input `hosts[1]` must be a hostname or an IP address, got ` `"),
        (json!([".corp"]), "input `hosts[0]` must be a hostname or an IP address"),
        (json!(many), "input `hosts` has 101 hosts, more than 100"),
    ] {
        let (s, b) = w.send(json!({"investigation": full(), "hosts": hosts})).await;
        assert_eq!(s, 400, "{b}");
        assert!(b["body"]["error"].as_str().unwrap_or_default().contains(needle), "{b}");
    }
    assert_eq!((w.writes(), w.halo.sim.stats().by_route.keys().filter(|r| r.contains("Asset")).count()), (0, 0));
}
