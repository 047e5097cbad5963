//! `sync_comments`: InsightIDR comments and HaloITSM notes carried across once each, without
//! echo, on the simulator (`flows`), and the exact requests a run costs on a mocked HaloITSM
//! (`exact`).

mod exact;
mod flows;

use serde_json::{Value, json};

pub const INV: &str = "rrn:investigation:us:44d88612-fea8-a8f3-6de8-2e1278abb02f:investigation:1PBRR2S4XFKP";

/// An InsightIDR comment as the InsightIDR plugin's List Comments outputs it.
pub fn idr_comment(n: u32, body: &str) -> Value {
    json!({
        "created_time": format!("2026-09-01T09:{n:02}:00.000Z"),
        "rrn": format!("rrn:collaboration:us:44d88612-fea8-a8f3-6de8-2e1278abb02f:comment:{n}"),
        "target": INV,
        "creator": {"type": "USER", "name": "Ellen Example"},
        "body": body,
        "visibility": "PUBLIC",
    })
}
