//! The demo's comment step: an InsightIDR investigation's comments and a ticket's notes, one
//! each way, with no echo when the sync runs again.

use serde_json::{Value, json};

use super::{Demo, Report};
use halo_sim as sim;

const RRN: &str = "rrn:investigation:us:44d88612-fea8-a8f3-6de8-2e1278abb02f:investigation:1PBRR2S4XFKP";
/// The ticket the investigation's comments go to (seeded in the simulator).
const TICKET: i64 = 105;

/// Sync an analyst's InsightIDR comment to the ticket, then a HaloITSM note back; the third run,
/// fed the comment InsightIDR now holds for that note, writes and outputs nothing.
pub(super) async fn both_ways(demo: &mut Demo, halo: &sim::SimHandle) {
    let report = match synced(demo, halo).await {
        Ok(lines) => Report { ok: true, lines },
        Err(e) => Report { ok: false, lines: vec![e] },
    };
    demo.record("Comments: one from InsightIDR to HaloITSM, one back, no echo", report);
}

async fn sync(demo: &Demo, comments: &[Value]) -> Result<Value, String> {
    let (status, b) = demo.action("sync_comments", json!({"ticket_id": TICKET, "investigation_rrn": RRN, "comments": comments})).await?;
    if status != 200 {
        return Err(format!("sync_comments: HTTP {status}: {}", b.pointer("/body/error").and_then(Value::as_str).unwrap_or_default()));
    }
    Ok(b["body"]["output"].clone())
}

async fn synced(demo: &Demo, halo: &sim::SimHandle) -> Result<Vec<String>, String> {
    let from_idr = json!({"rrn": "rrn:collaboration:us:44d88612:comment:7QK2", "target": RRN, "body": "Blocked 203.0.113.9 at the firewall.",
        "creator": {"type": "USER", "name": "Ellen Example"}, "created_time": "2026-12-01T09:05:00Z", "visibility": "PUBLIC"});
    let first = sync(demo, std::slice::from_ref(&from_idr)).await?;
    let mut lines = vec![format!("InsightIDR comment by Ellen Example → HaloITSM note(s) {}", first["written"]["action_ids"])];
    halo.sim
        .agent_edit(TICKET, json!({}), Some("Called the user: she did not sign in from 203.0.113.9."))
        .ok_or("the ticket is not in the simulator")?;
    let second = sync(demo, std::slice::from_ref(&from_idr)).await?;
    let back = second["to_insightidr"].as_array().cloned().unwrap_or_default();
    let [note] = back.as_slice() else {
        return Err(format!("expected one HaloITSM note for InsightIDR, got {}", back.len()));
    };
    lines.push(format!(
        "an analyst's HaloITSM note → InsightIDR comment ready for Create Comment ({} written to HaloITSM this run)",
        second["written"]["count"]
    ));
    // What InsightIDR's List Comments shows once Create Comment made it.
    let mirrored = json!({"rrn": "rrn:collaboration:us:44d88612:comment:7QK3", "target": RRN, "body": note["body"],
        "creator": {"type": "API_KEY", "name": "InsightConnect"}, "created_time": "2026-12-01T09:20:00Z"});
    let third = sync(demo, &[from_idr, mirrored]).await?;
    if third["written"]["count"] != json!(0) || third["to_insightidr"] != json!([]) {
        return Err(format!("the third run was not idle: {third}"));
    }
    lines.push("run again with both comments: nothing written, nothing to send (no echo)".into());
    Ok(lines)
}
