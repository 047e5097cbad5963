//! The everyday workflows on a stock HaloITSM tenant as the public sources show it (closed
//! status 9, thin list rows, old closed tickets only when asked for, new_team by name), in every
//! variant the sources leave open (list rows, an omitted `hasbeenclosed`, bare POST bodies
//! refused), and on a tenant with its own statuses. Each check is one a new user makes on day
//! one: the ticket is closed, on the team, reopened, found, listed, as HaloITSM itself says.

use crate::common;

use std::net::SocketAddr;

use common::*;
use halo_sim::{self as sim, ListRows, Profile, SimConfig, SimHandle, StatusSet};
use serde_json::{Value, json};

const FIELD: i64 = 101;

struct World {
    halo: SimHandle,
    srv: PluginServer,
    conn: Value,
    name: String,
}

async fn world(profile: Profile, extra: Value) -> World {
    let name = format!("{profile:?}");
    let halo = sim::start(SimConfig { profile, ..SimConfig::default() }, SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    let mut conn = halo.connection();
    conn["default_ticket_type_id"] = json!(4);
    conn["reference_field_id"] = json!(FIELD);
    conn["timeout_seconds"] = json!(5);
    for (k, v) in extra.as_object().unwrap() {
        conn[k] = v.clone();
    }
    World { halo, srv: PluginServer::start().await, conn, name }
}

impl World {
    async fn run(&self, step: &str, input: Value) -> (u16, Value) {
        post(&self.srv.url(&format!("/api/v1/actions/{step}")), &action(step, self.conn.clone(), input)).await
    }

    async fn ok(&self, step: &str, input: Value) -> Value {
        let (s, b) = self.run(step, input.clone()).await;
        assert_eq!(s, 200, "[{}] {step}({input}) -> {b}", self.name);
        b["body"]["output"].clone()
    }

    async fn err(&self, step: &str, input: Value, status: u16) -> Value {
        let (s, b) = self.run(step, input.clone()).await;
        assert_eq!(s, status, "[{}] {step}({input}) -> {b}", self.name);
        b["body"].clone()
    }

    /// The ticket as HaloITSM stores it.
    fn stored(&self, id: i64) -> Value {
        self.halo.sim.ticket(id).unwrap()
    }

    fn closed(&self, id: i64) -> bool {
        self.stored(id)["hasbeenclosed"] == json!(true)
    }
}

fn finding(status: &str, bucket: &str) -> Value {
    json!({
        "class_name": "Detection Finding", "status_code": status, "severity": "High",
        "metadata": {"event_code": "s3_bucket_public_access", "version": "1.4.0"},
        "finding_info": {"uid": format!("prowler-aws-s3_bucket_public_access-123456789012-eu-west-1-{bucket}"), "title": "Public bucket"},
        "cloud": {"provider": "aws", "region": "eu-west-1", "account": {"uid": "123456789012"}},
        "resources": [{"uid": format!("arn:aws:s3:::{bucket}"), "name": bucket, "region": "eu-west-1"}],
    })
}

/// Tenants that differ only where the sources do. Closed tickets count as closed "long ago" at
/// once (a plain list leaves them out), the harshest case for a client.
fn variants() -> Vec<Profile> {
    let stock = Profile { recently_closed_days: 0, ..Profile::default() };
    vec![
        stock.clone(),
        Profile { list_rows: ListRows::Schema, ..stock.clone() },
        Profile { omit_false_hasbeenclosed: true, ..stock.clone() },
        Profile { refuse_bare_objects: true, ..stock.clone() },
        Profile { omit_ticket_relations: true, ..stock.clone() },
        // Every behaviour integrations in production met on live tenants (docs/halo-api.md L11,
        // L12, Q6, T15, T16, A11, A12, A13, P3, F6).
        Profile { live: halo_sim::LiveQuirks::live_tenant(), ..stock },
    ]
}

#[tokio::test]
async fn the_day_one_workflows_are_right_on_every_variant_of_a_stock_tenant() {
    for profile in variants() {
        let w = world(profile, json!({})).await;

        // close_ticket closes: status 9, and HaloITSM counts the ticket closed.
        let id = w.ok("create_ticket", json!({"summary": "Suspicious login", "details": "d"})).await["ticket"]["id"].as_i64().unwrap();
        let closed = w.ok("close_ticket", json!({"ticket_id": id})).await;
        assert_eq!((w.stored(id)["status_id"].clone(), w.closed(id)), (json!(9), true), "[{}]", w.name);
        assert_eq!(closed["ticket"]["closed"], true, "[{}] {closed}", w.name);

        // assign_ticket with a team puts the ticket on that team.
        w.ok("assign_ticket", json!({"ticket_id": 103, "team_id": 2})).await;
        assert_eq!(w.stored(103)["team"], "Security Operations", "[{}]", w.name);

        // A finding whose ticket an agent closed in HaloITSM is reopened when it fails again.
        let first = w.ok("send_findings", json!({"findings": [finding("FAIL", "logs")]})).await;
        let ticket = first["results"][0]["ticket_id"].as_i64().unwrap();
        w.halo.sim.agent_edit(ticket, json!({"status_id": 9}), Some("Fixed, closing")).unwrap();
        let again = w.ok("send_findings", json!({"findings": [finding("FAIL", "logs")]})).await;
        assert_eq!((again["reopened"].as_i64(), again["created"].as_i64()), (Some(1), Some(0)), "[{}] {again}", w.name);
        assert!(!w.closed(ticket), "[{}]", w.name);

        // A passing finding closes its open ticket, and leaves an already closed one alone.
        let pass = w.ok("send_findings", json!({"findings": [finding("PASS", "logs")], "on_pass": "close"})).await;
        assert_eq!(pass["closed"], 1, "[{}] {pass}", w.name);
        assert!(w.closed(ticket), "[{}]", w.name);
        let writes = w.halo.sim.actions_for(ticket).len();
        let pass = w.ok("send_findings", json!({"findings": [finding("PASS", "logs")], "on_pass": "close"})).await;
        assert_eq!((pass["closed"].as_i64(), pass["unchanged"].as_i64()), (Some(0), Some(1)), "[{}] {pass}", w.name);
        assert_eq!(w.halo.sim.actions_for(ticket).len(), writes, "[{}] nothing written", w.name);

        // find_ticket_by_reference with open_only never returns a closed ticket.
        let up = w.ok("upsert_ticket_by_reference", json!({"reference": "inv-1", "summary": "s", "details": "d"})).await;
        let held = up["ticket"]["id"].as_i64().unwrap();
        w.halo.sim.agent_edit(held, json!({"status_id": 9}), None).unwrap();
        let open = w.ok("find_ticket_by_reference", json!({"reference": "inv-1", "open_only": true})).await;
        assert_eq!(open["found"], false, "[{}] {open}", w.name);
        let any = w.ok("find_ticket_by_reference", json!({"reference": "inv-1"})).await;
        assert_eq!((any["found"].as_bool(), any["ticket"]["id"].as_i64()), (Some(true), Some(held)), "[{}] closed long ago, found", w.name);
        // ... and an upsert then opens a new one rather than writing to the closed one.
        let second = w.ok("upsert_ticket_by_reference", json!({"reference": "inv-1", "summary": "s", "details": "d"})).await;
        assert_eq!(second["created"], true, "[{}] {second}", w.name);

        // list_agents with include_disabled shows the disabled agent.
        let agents = w.ok("list_agents", json!({"include_disabled": true})).await;
        assert!(agents["agents"].as_array().unwrap().iter().any(|a| a["id"] == 6 && a["disabled"] == true), "[{}] {agents}", w.name);

        // InsightIDR CLOSED closes the ticket in HaloITSM.
        let idr = w.ok("create_ticket", json!({"summary": "Investigation", "details": "d"})).await["ticket"]["id"].as_i64().unwrap();
        w.ok("set_status_from_rapid7", json!({"ticket_id": idr, "product": "insightidr", "status": "CLOSED"})).await;
        assert!(w.closed(idr), "[{}]", w.name);

        // Search finds tickets closed long ago too, and says which are closed.
        let found = w.ok("search_tickets", json!({"query": "Suspicious login"})).await;
        assert_eq!((found["count"].as_i64(), found["tickets"][0]["closed"].as_bool()), (Some(1), Some(true)), "[{}] {found}", w.name);
    }
}

#[tokio::test]
async fn a_tenant_with_its_own_closed_status_is_told_what_to_set() {
    let w = world(Profile { statuses: StatusSet::Customised, ..Profile::default() }, json!({})).await;
    // The connection test names the setting: this tenant has no status 9.
    let (s, b) = post(&w.srv.url("/api/v1/connection/test"), &action("get_ticket", w.conn.clone(), json!({}))).await;
    assert_eq!(s, 400, "{b}");
    let text = b.to_string();
    assert!(text.contains("closed_status_id") && text.contains("HaloITSM has no status 9") && text.contains("21 (Completed)"), "{b}");
    // Closing with the default fails clearly, writes nothing, and leaves the ticket open.
    let before = w.halo.sim.actions_for(101).len();
    let body = w.err("close_ticket", json!({"ticket_id": 101}), 400).await;
    assert!(body["error"].as_str().unwrap().contains("new_status 9"), "{body}");
    assert_eq!(w.halo.sim.actions_for(101).len(), before);

    // With the tenant's closed status set, every closing step closes.
    let w = world(Profile { statuses: StatusSet::Customised, ..Profile::default() }, json!({"closed_status_id": 21})).await;
    let (s, b) = post(&w.srv.url("/api/v1/connection/test"), &action("get_ticket", w.conn.clone(), json!({}))).await;
    assert_eq!(s, 200, "{b}");
    w.ok("close_ticket", json!({"ticket_id": 101})).await;
    assert_eq!((w.stored(101)["status_id"].clone(), w.closed(101)), (json!(21), true));
    // InsightIDR CLOSED names HaloITSM's "Closed", which this tenant lacks: the closed status.
    w.ok("set_status_from_rapid7", json!({"ticket_id": 102, "product": "insightidr", "status": "CLOSED"})).await;
    assert_eq!(w.stored(102)["status_id"], 21);
    // A state that does not close has no such fallback: the error says which table to fix.
    let body = w.err("set_status_from_rapid7", json!({"ticket_id": 103, "product": "insightidr", "status": "INVESTIGATING"}), 400).await;
    let e = body["error"].as_str().unwrap();
    assert!(e.contains("no status named `In Progress`") && e.contains("insightidr_to_halo"), "{e}");
    // list_statuses says which statuses close, as HaloITSM says.
    let st = w.ok("list_statuses", json!({})).await;
    let closing: Vec<i64> =
        st["statuses"].as_array().unwrap().iter().filter(|s| s["closed"] == true).map(|s| s["id"].as_i64().unwrap()).collect();
    assert_eq!(closing, vec![21, 22]);
}

#[tokio::test]
async fn a_status_that_does_not_close_is_reported_not_taken_for_a_close() {
    // On a stock tenant 5 is "Waiting on Client": a close to it is an error naming it.
    let w = world(Profile::default(), json!({"closed_status_id": 5})).await;
    let (s, b) = post(&w.srv.url("/api/v1/connection/test"), &action("get_ticket", w.conn.clone(), json!({}))).await;
    assert_eq!(s, 400, "the connection test catches it first: {b}");
    assert!(b.to_string().contains("status 5 (Waiting on Client) does not close tickets"), "{b}");
    let body = w.err("close_ticket", json!({"ticket_id": 101}), 400).await;
    let text = format!("{} {}", body["exception"]["cause"], body["exception"]["assistance"]);
    assert!(text.contains("did not close ticket 101") && text.contains("Closed Status ID"), "{text}");
    assert!(!w.closed(101));
}
