//! The plugin end to end against the stateful simulator: the path through the REST API, token
//! lifetime and revocation, rate limiting and server errors, the tenant.

use crate::common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use halo_sim::{self as sim, Faults, SimConfig, SimHandle};
use serde_json::{Value, json};

async fn simulator(config: SimConfig) -> SimHandle {
    sim::start(config, SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap()
}

fn sim_connection(h: &SimHandle) -> Value {
    let mut c = h.connection();
    c["timeout_seconds"] = 5.into();
    c
}

async fn get_ticket(srv: &PluginServer, conn: &Value, id: i64) -> (u16, Value) {
    post(&srv.url("/api/v1/actions/get_ticket"), &action("get_ticket", conn.clone(), json!({"ticket_id": id}))).await
}

#[tokio::test]
async fn every_seeded_ticket_comes_back_valid() {
    let halo = simulator(SimConfig::default()).await;
    let srv = PluginServer::start().await;
    let conn = sim_connection(&halo);
    let ids: Vec<i64> = halo.sim.tickets().iter().filter_map(|t| t["id"].as_i64()).collect();
    assert!(ids.len() >= 5);
    for id in ids {
        let (s, b) = get_ticket(&srv, &conn, id).await;
        assert_eq!(s, 200, "{b}");
        let t = &b["body"]["output"]["ticket"];
        assert_eq!(t["id"], id);
        assert!(!b.to_string().contains("null"), "{b}");
        let raw = halo.sim.ticket(id).unwrap();
        assert_eq!(t["summary"], raw["summary"]);
        assert_eq!(t["closed"], raw["hasbeenclosed"]);
    }
    assert_eq!(halo.sim.stats().token_requests, 1, "one token for all requests of one connection");
}

#[tokio::test]
async fn a_ticket_without_agent_team_or_category_is_valid_output() {
    let halo = simulator(SimConfig::default()).await;
    let srv = PluginServer::start().await;
    let unassigned =
        halo.sim.tickets().into_iter().find(|t| t["agent_id"] == 0 && t["team_id"] == 0).expect("the seed has an unassigned ticket");
    let (s, b) = get_ticket(&srv, &sim_connection(&halo), unassigned["id"].as_i64().unwrap()).await;
    assert_eq!(s, 200, "{b}");
    let t = &b["body"]["output"]["ticket"];
    assert!(t.get("agent_id").is_none() && t.get("team_id").is_none() && t.get("category_id").is_none(), "{t}");
}

#[tokio::test]
async fn a_token_halo_expired_is_replaced_and_the_step_still_answers() {
    let halo = simulator(SimConfig { token_lifetime_secs: 2, ..Default::default() }).await;
    let srv = PluginServer::start().await;
    let conn = sim_connection(&halo);
    assert_eq!(get_ticket(&srv, &conn, 101).await.0, 200);
    // HaloITSM's clock runs past the token's lifetime; the plugin's cache still trusts it.
    halo.sim.advance_clock(Duration::from_secs(3));
    assert_eq!(get_ticket(&srv, &conn, 101).await.0, 200);
    assert_eq!(halo.sim.stats().token_requests, 2);
}

#[tokio::test]
async fn a_revoked_token_is_replaced_after_one_401() {
    let halo = simulator(SimConfig::default()).await;
    let srv = PluginServer::start().await;
    let conn = sim_connection(&halo);
    assert_eq!(get_ticket(&srv, &conn, 101).await.0, 200);
    halo.sim.revoke_tokens();
    let (s, b) = get_ticket(&srv, &conn, 101).await;
    assert_eq!(s, 200, "{b}");
    assert!(b["body"]["log"].as_str().unwrap().contains("fetching a new one"), "{b}");
    assert_eq!(halo.sim.stats().token_requests, 2);
}

#[tokio::test]
async fn rate_limits_and_server_errors_on_reads_are_ridden_out() {
    let halo = simulator(SimConfig::default()).await;
    let srv = PluginServer::start().await;
    let conn = sim_connection(&halo);
    halo.sim.set_faults(Faults { rate_limit_every: 3, retry_after_secs: Some(0), server_error_every: 5, ..Default::default() });
    for _ in 0..20 {
        let (s, b) = get_ticket(&srv, &conn, 102).await;
        assert_eq!(s, 200, "{b}");
    }
    let stats = halo.sim.stats();
    assert!(stats.injected_429 > 0 && stats.injected_500 > 0, "{stats:?}");
}

#[tokio::test]
async fn tenant_is_required_when_the_instance_wants_one() {
    let halo = simulator(SimConfig { tenant: Some("acme".into()), ..Default::default() }).await;
    let srv = PluginServer::start().await;
    let test = json!({"version": "v1", "type": "connection_test", "body": {"connection": sim_connection(&halo)}});
    let (s, b) = post(&srv.url("/api/v1/connection/test"), &test).await;
    assert_eq!(s, 200, "{b}");
    let mut without = sim_connection(&halo);
    without.as_object_mut().unwrap().remove("tenant");
    let test = json!({"version": "v1", "type": "connection_test", "body": {"connection": without}});
    let (s, b) = post(&srv.url("/api/v1/connection/test"), &test).await;
    assert_eq!(s, 400, "{b}");
    assert!(b["body"]["exception"]["assistance"].as_str().unwrap().contains("Tenant"), "{b}");
}

#[tokio::test]
async fn wrong_secret_fails_the_connection_test_without_echoing_it() {
    let halo = simulator(SimConfig::default()).await;
    let srv = PluginServer::start().await;
    let mut conn = sim_connection(&halo);
    conn["client_secret"] = json!({"secretKey": "definitely-wrong-secret"});
    let test = json!({"version": "v1", "type": "connection_test", "body": {"connection": conn}});
    let (s, b) = post(&srv.url("/api/v1/connection/test"), &test).await;
    assert_eq!(s, 400, "{b}");
    assert!(b["body"]["exception"]["cause"].as_str().unwrap().contains("rejected the client credentials"), "{b}");
    assert!(!b.to_string().contains("definitely-wrong-secret"));
}
