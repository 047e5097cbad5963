//! File names from HaloITSM made safe, history entries that are not notes kept from note edits,
//! investigations that are too long or numbered, and the loser of two concurrent asset links.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

use crate::common::{PluginServer, connection, error_cause, halo_with_token, sim_world, step, step_output};

const BAD_NAMES: [&str; 6] =
    ["../../etc/cron.d/x", "/etc/passwd", "C:\\Windows\\evil.dll", "in\u{202e}gpj.exe", "a\r\nb\0.txt", "<script>x.txt"];

fn safe(name: &str) -> bool {
    !name.contains(['/', '\\', '\0', '\r', '\n', '\u{202e}', '<', '>']) && !name.is_empty() && name.chars().count() <= 255
}

#[tokio::test]
async fn file_names_from_halo_are_given_back_safe() {
    let halo = halo_with_token().await;
    let long = format!("{}.pdf", "n".repeat(100_000));
    let rows: Vec<Value> =
        BAD_NAMES.iter().chain([&long.as_str()]).enumerate().map(|(i, n)| json!({"id": 700 + i, "filename": n, "filesize": 3})).collect();
    Mock::given(method("GET"))
        .and(path("/api/Tickets/42"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 42, "summary": "s", "status_id": 2})))
        .mount(&halo)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/Attachment"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"record_count": rows.len(), "attachments": rows})))
        .mount(&halo)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/Attachment/700"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("Content-Disposition", "attachment; filename=\"../../etc/cron.d/x\"")
                .set_body_bytes(b"abc".to_vec()),
        )
        .mount(&halo)
        .await;
    let srv = PluginServer::start().await;
    let conn = connection(&halo.uri());
    let (s, out) = step_output(&srv, &conn, "list_attachments", json!({"ticket_id": 42})).await;
    assert_eq!(s, 200, "{out}");
    for a in out["attachments"].as_array().unwrap() {
        let name = a["filename"].as_str().unwrap_or_default();
        assert!(safe(name), "unsafe name given back: {name:?}");
    }
    let (s, out) = step_output(&srv, &conn, "get_attachment", json!({"attachment_id": 700})).await;
    assert_eq!(s, 200, "{out}");
    assert_eq!(out["file"]["filename"], "x");
}

#[tokio::test]
async fn only_notes_can_be_deleted_or_changed() {
    let (halo, srv, conn) = sim_world(json!({})).await;
    let (s, out) = step_output(&srv, &conn, "update_ticket", json!({"ticket_id": 101, "status_id": 3})).await;
    assert_eq!(s, 200, "{out}");
    let entries = halo.sim.actions_for(101);
    let status_change = entries.iter().rev().find(|a| a["new_status"] == 3 && a["old_status"] != 3).expect("a status change entry");
    let system = entries.iter().find(|a| a["who"] == "System").expect("a system entry");
    for (entry, kind) in [(status_change, "a status change"), (system, "a system entry")] {
        let id = entry["id"].as_i64().unwrap();
        for (name, input) in [
            ("delete_comment", json!({"ticket_id": 101, "comment_id": id})),
            ("update_comment", json!({"ticket_id": 101, "comment_id": id, "comment": "rewritten"})),
        ] {
            let (s, body) = step(&srv, &conn, name, input).await;
            assert_eq!(s, 400, "{name} {id}: {body}");
            let cause = error_cause(&body);
            assert!(cause.contains(kind) && cause.contains("not a note"), "{name}: {cause}");
        }
    }
    assert_eq!(halo.sim.actions_for(101).len(), entries.len(), "nothing was deleted");
    let (_, added) = step_output(&srv, &conn, "add_comment", json!({"ticket_id": 101, "comment": "mine"})).await;
    let note = added["comment_id"].as_i64().unwrap();
    let (s, out) = step_output(&srv, &conn, "delete_comment", json!({"ticket_id": 101, "comment_id": note})).await;
    assert_eq!(s, 200, "a note is deleted: {out}");
}

#[tokio::test]
async fn an_investigation_too_long_is_cut_and_a_numbered_priority_refused() {
    let (halo, srv, conn) = sim_world(json!({"reference_field_id": 101})).await;
    let inv = |title: String, priority: Value| {
        json!({"investigation": {"rrn": "rrn:investigation:us:1:investigation:LONG", "title": title,
        "status": "OPEN", "priority": priority, "created_time": "2026-09-01T09:00:00Z"}})
    };
    let (s, body) = step(&srv, &conn, "send_investigation", inv("t".into(), json!(3))).await;
    assert_eq!(s, 400, "{body}");
    assert!(error_cause(&body).contains("`investigation.priority`"), "{body}");
    let before = halo.sim.tickets().len();
    assert_eq!(halo.sim.tickets().len(), before);
    let (s, out) = step_output(&srv, &conn, "send_investigation", inv("T".repeat(1_000_012), json!("HIGH"))).await;
    assert_eq!(s, 200, "{}", &out.to_string()[..300]);
    let id = out["ticket"]["id"].as_i64().unwrap();
    let summary = halo.sim.ticket(id).unwrap()["summary"].as_str().unwrap().to_string();
    assert!(summary.chars().count() <= 250 && summary.ends_with('…'), "{} characters", summary.chars().count());
}

/// Ticket 42's reads: no assets, then (after this step's write) only the asset another step
/// linked at the same moment, then both.
struct Raced(Arc<AtomicUsize>);

impl Respond for Raced {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let assets = match self.0.fetch_add(1, Ordering::SeqCst) {
            0 => json!([]),
            1 => json!([{"id": 77}]),
            _ => json!([{"id": 77}, {"id": 201}]),
        };
        ResponseTemplate::new(200).set_body_json(json!({"id": 42, "summary": "s", "status_id": 2, "assets": assets}))
    }
}

#[tokio::test]
async fn the_loser_of_two_concurrent_asset_links_links_again() {
    let halo = halo_with_token().await;
    let reads = Arc::new(AtomicUsize::new(0));
    Mock::given(method("GET")).and(path("/api/Tickets/42")).respond_with(Raced(reads.clone())).mount(&halo).await;
    Mock::given(method("GET"))
        .and(path("/api/Asset/201"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 201})))
        .mount(&halo)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/Tickets"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 42})))
        .expect(2)
        .mount(&halo)
        .await;
    let srv = PluginServer::start().await;
    let (s, out) = step_output(&srv, &connection(&halo.uri()), "link_assets", json!({"ticket_id": 42, "asset_ids": [201]})).await;
    assert_eq!(s, 200, "{out}");
    assert_eq!(out["asset_ids"], json!([77, 201]), "the other step's link is kept: {out}");
    let posted = crate::common::posted_to(&halo, "/api/Tickets").await;
    assert_eq!(posted[1][0]["assets"], json!([{"id": 77}, {"id": 201}]), "the second write keeps both");
    halo.verify().await;
}
