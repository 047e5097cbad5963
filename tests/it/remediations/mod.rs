//! `send_remediations`: InsightVM's Top Remediations output, exactly as Rapid7's InsightVM plugin
//! gives it (types `remediation`, `remediation_asset`, `remediation_vulnerability`), to one
//! ticket per solution of a project, through every step of its life.

mod cmdb_links;
mod flows;
mod requests;

use halo_sim::SimHandle;
use serde_json::{Value, json};

use crate::common::{PluginServer, action, post, sim_world_on};

pub const PROJECT: &str = "Production web servers";

fn asset(id: i64, host: &str) -> Value {
    json!({"id": id, "hostName": host, "ip": format!("10.0.0.{id}"), "mac": "00:50:56:00:00:01", "os": "Ubuntu Linux 22.04",
        "riskScore": 7125.4, "criticalityTag": "High"})
}

/// A full remediation, every field of the plugin's types filled, as the action builds it.
pub fn full(nexpose_id: &str, risk: i64, assets: &[(i64, &str)]) -> Value {
    json!({"solutionId": 1042, "nexposeId": nexpose_id, "summary": format!("Apply {nexpose_id}"),
        "fix": "Run:\napt-get install --only-upgrade openssl\n\nThen restart the services.",
        "assetCount": assets.len(), "vulnerabilityCount": 3, "riskScore": risk,
        "assets": assets.iter().map(|(id, h)| asset(*id, h)).collect::<Vec<_>>(),
        "vulnerabilities": [{"id": "ubuntu-cve-2024-5535", "title": "Ubuntu: openssl <vulnerability>", "description": "A flaw",
            "cvssScore": "9.1", "severity": 9, "riskScore": 4750}]})
}

/// A minimal remediation: only what the plugin's `remediation` type requires, empty lists.
pub fn minimal(nexpose_id: &str, asset_count: i64) -> Value {
    json!({"solutionId": 7, "nexposeId": nexpose_id, "summary": "Minimal", "assetCount": asset_count, "vulnerabilityCount": 1,
        "riskScore": 500, "assets": [], "vulnerabilities": []})
}

pub struct World {
    pub halo: SimHandle,
    srv: PluginServer,
    conn: Value,
}

pub async fn world() -> World {
    world_on(halo_sim::Profile::default()).await
}

/// `world` on a tenant variant.
pub async fn world_on(profile: halo_sim::Profile) -> World {
    let (halo, srv, conn) = sim_world_on(profile, json!({})).await;
    World { halo, srv, conn }
}

impl World {
    /// Run the step with `input` (and the project unless given).
    pub async fn send(&self, mut input: Value) -> (u16, Value) {
        if input.get("project").is_none() {
            input["project"] = json!(PROJECT);
        }
        let (s, b) = post(&self.srv.url("/api/v1/actions/send_remediations"), &action("send_remediations", self.conn.clone(), input)).await;
        (s, if s == 200 { b["body"]["output"].clone() } else { b })
    }

    pub async fn ok(&self, input: Value) -> Value {
        let (s, out) = self.send(input).await;
        assert_eq!(s, 200, "{out}");
        out
    }

    pub fn writes(&self) -> u64 {
        self.halo.sim.stats().by_route.iter().filter(|(r, _)| r.starts_with("POST /api/")).map(|(_, n)| n).sum()
    }

    /// Requests so far to routes starting with `route`, e.g. `GET /api/Asset`.
    pub fn requests_to(&self, route: &str) -> u64 {
        self.halo.sim.stats().by_route.iter().filter(|(r, _)| r.starts_with(route)).map(|(_, n)| n).sum()
    }

    pub fn requests(&self) -> u64 {
        self.halo.sim.stats().by_route.iter().filter(|(r, _)| r.contains("/api/")).map(|(_, n)| n).sum()
    }

    pub fn notes(&self, id: i64) -> Vec<String> {
        self.halo.sim.actions_for(id).iter().filter_map(|a| a["note"].as_str().map(str::to_string)).collect()
    }

    pub fn ticket(&self, id: i64) -> Value {
        self.halo.sim.ticket(id).unwrap_or_default()
    }
}

/// The step run once against a mocked HaloITSM, with Default Ticket Type ID 4: its status and
/// whole answer.
pub async fn send_to(halo: &wiremock::MockServer, input: Value) -> (u16, Value) {
    let srv = PluginServer::start().await;
    let mut conn = crate::common::connection(&halo.uri());
    conn["default_ticket_type_id"] = json!(4);
    post(&srv.url("/api/v1/actions/send_remediations"), &action("send_remediations", conn, input)).await
}

/// The outcomes of a run's results, in order.
pub fn outcomes(out: &Value) -> Vec<(String, String)> {
    out["results"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| (r["nexpose_id"].as_str().unwrap_or("").to_string(), r["outcome"].as_str().unwrap_or("").to_string()))
        .collect()
}

pub fn ticket_of(out: &Value, i: usize) -> i64 {
    out["results"][i]["ticket_id"].as_i64().unwrap_or_default()
}
