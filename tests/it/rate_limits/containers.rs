//! Several plugin processes on one API application: concurrent upserts of one reference and
//! the same findings sent through both at once end with one open ticket per key.

use super::*;

use std::process::{Child, Command, Stdio};

use futures::future::join_all;
use icon_haloitsm::findings::tag_of;

const BIN: &str = env!("CARGO_BIN_EXE_icon_haloitsm");

/// A plugin server in its own process, killed when dropped.
struct Container {
    child: Child,
    url: String,
}

impl Container {
    async fn start() -> Container {
        let mut child = Command::new(BIN)
            .args(["http", "--port", "0", "--bind", "127.0.0.1"])
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the plugin");
        let (url, _) = common::announced_url(child.stderr.take().expect("stderr"), "serving the plugin API on ").await;
        common::eventually("the plugin to answer", async || reqwest::get(format!("{url}/api/v1/status")).await.is_ok()).await;
        Container { child, url }
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// HaloITSM answering in about 30 ms, as a hosted tenant does, and two containers.
async fn two_containers() -> (SimHandle, [Container; 2]) {
    let h = sim::start(SimConfig::default(), SocketAddr::from(([127, 0, 0, 1], 0))).await.expect("bind the simulator");
    h.sim.set_faults(Faults { latency_ms: 30, ..Faults::default() });
    (h, [Container::start().await, Container::start().await])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_upserts_through_two_containers_leave_one_open_ticket_per_reference() {
    let (h, containers) = two_containers().await;
    let conn = connection(&h, json!({}));
    let references = ["rrn:investigation:us:race-a", "rrn:investigation:us:race-b"];
    let calls = (0..16).map(|i| {
        let (url, conn, reference) = (containers[i % 2].url.clone(), conn.clone(), references[(i / 2) % 2]);
        async move {
            let input = json!({"reference": reference, "summary": "InsightIDR: race", "details": "Opened by InsightIDR", "priority_id": 2});
            run(&url, "upsert_ticket_by_reference", &conn, input).await
        }
    });
    let answers = join_all(calls).await;
    let mut closed: Vec<i64> = Vec::new();
    for (status, body) in &answers {
        assert_eq!(*status, 200, "{body}");
        closed.extend(body["output"]["duplicates_closed"].as_array().into_iter().flatten().filter_map(Value::as_i64));
    }
    for r in references {
        let open = open_with(&h, &icon_haloitsm::sync::reference_tag(r));
        assert_eq!(open.len(), 1, "one open ticket for {r}: {open:?}");
        let kept = open[0]["id"].as_i64().unwrap();
        let named: Vec<i64> = answers
            .iter()
            .filter(|(_, b)| b["output"]["ticket"]["customfields"].to_string().contains(r))
            .map(|(_, b)| b["output"]["ticket"]["id"].as_i64().unwrap())
            .collect();
        assert!(named.iter().all(|id| *id == kept), "every upsert of {r} answered the kept ticket {kept}: {named:?}");
    }
    // Every duplicate made was closed and reported by a step that saw it.
    let all_made = h.sim.tickets().iter().filter(|t| t["summary"] == "InsightIDR: race").count();
    closed.sort_unstable();
    closed.dedup();
    assert_eq!(closed.len(), all_made - references.len(), "duplicates closed: {closed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_findings_sent_through_two_containers_at_once_leave_one_open_ticket_each() {
    let (h, containers) = two_containers().await;
    let conn = connection(&h, json!({}));
    let batch = findings(4);
    let sends = (0..4).map(|i| {
        let (url, conn, batch) = (containers[i % 2].url.clone(), conn.clone(), batch.clone());
        async move { run(&url, "send_findings", &conn, json!({"findings": batch})).await }
    });
    let mut closed: Vec<i64> = Vec::new();
    for (status, body) in join_all(sends).await {
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["output"]["failed"], 0, "{body}");
        for r in body["output"]["results"].as_array().unwrap() {
            closed.extend(r["duplicates_closed"].as_array().into_iter().flatten().filter_map(Value::as_i64));
        }
    }
    for f in &batch {
        let key = f["finding_info"]["uid"].as_str().unwrap();
        let open = open_with(&h, &tag_of(key));
        assert_eq!(open.len(), 1, "one open ticket for {key}: {open:?}");
    }
    // Inside one container the second send waits for the first and finds its ticket: at most
    // one ticket per finding per container was ever made.
    let made = prowler_tickets(&h).len();
    assert!(made <= 2 * batch.len(), "{made}");
    // Both containers usually create each ticket (HaloITSM answering in 30 ms leaves time):
    // every duplicate made was closed, and reported by a step that saw it.
    closed.sort_unstable();
    closed.dedup();
    assert_eq!(closed.len(), made - batch.len(), "duplicates closed: {closed:?}");
}
