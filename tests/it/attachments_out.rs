//! Attachments out: `list_attachments`, `get_attachment` and `delete_attachment` on the simulator
//! (a file attached, listed, downloaded whole, refused over the size limit, deleted) and their
//! exact requests on a mocked HaloITSM (the raw file answer of docs/halo-api.md#F2, list rows of F1).

use base64::Engine;
use serde_json::json;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

use crate::common::{PluginServer, connection, error_cause as cause, halo_with_token, sim_world, step as run};

#[tokio::test]
async fn a_file_goes_in_comes_out_whole_and_is_deleted() {
    let (halo, srv, conn) = sim_world(json!({})).await;
    let bytes: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
    let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
    let (s, out) =
        run(&srv, &conn, "add_attachment", json!({"ticket_id": 101, "file": {"filename": "capture.pcap", "content": b64}, "note": "pcap"}))
            .await;
    assert_eq!(s, 200, "{out}");
    let id = out["body"]["output"]["attachment_id"].as_i64().unwrap_or_default();

    let (s, out) = run(&srv, &conn, "list_attachments", json!({"ticket_id": 101})).await;
    assert_eq!(s, 200, "{out}");
    let listed = &out["body"]["output"];
    assert_eq!(listed["count"], 2, "the seeded screenshot and the new file");
    assert_eq!(
        (listed["attachments"][0]["filename"].as_str(), listed["attachments"][0]["is_image"].as_bool()),
        (Some("phishing-page.png"), Some(true))
    );
    let new = &listed["attachments"][1];
    assert_eq!((new["id"].as_i64(), new["filename"].as_str(), new["size"].as_i64()), (Some(id), Some("capture.pcap"), Some(5000)));
    assert_eq!((new["note"].as_str(), new["is_image"].as_bool()), (Some("pcap"), Some(false)));

    let (s, out) = run(&srv, &conn, "get_attachment", json!({"attachment_id": id})).await;
    assert_eq!(s, 200, "{out}");
    let got = &out["body"]["output"];
    assert_eq!((got["file"]["filename"].as_str(), got["size"].as_i64()), (Some("capture.pcap"), Some(5000)));
    assert_eq!(got["file"]["content"].as_str(), Some(b64.as_str()), "the same bytes");

    let (s, out) = run(&srv, &conn, "get_attachment", json!({"attachment_id": id, "max_bytes": 4096})).await;
    assert_eq!(s, 400, "{out}");
    assert!(cause(&out).contains("larger than the 4096 bytes") && cause(&out).contains("5000 bytes"), "{}", cause(&out));

    let writes =
        |h: &halo_sim::SimHandle| h.sim.stats().by_route.iter().filter(|(r, _)| !r.starts_with("GET")).map(|(_, n)| *n).sum::<u64>();
    let before = writes(&halo);
    for (name, input, named) in [
        ("list_attachments", json!({"ticket_id": 999}), "999"),
        ("get_attachment", json!({"attachment_id": 0}), "`attachment_id`"),
        ("get_attachment", json!({"attachment_id": id, "max_bytes": 0}), "`max_bytes`"),
        ("get_attachment", json!({"attachment_id": 424242}), "Attachment 424242 (input `attachment_id`) was not found"),
        ("delete_attachment", json!({"attachment_id": 424242}), "Attachment 424242 (input `attachment_id`) was not found"),
    ] {
        let (s, out) = run(&srv, &conn, name, input).await;
        assert_eq!(s, 400, "{name}: {out}");
        assert!(cause(&out).contains(named), "{name}: {named} not in {}", cause(&out));
    }
    assert_eq!(writes(&halo), before + 1, "only the refused delete of an unknown ID reached HaloITSM");

    let (s, out) = run(&srv, &conn, "delete_attachment", json!({"attachment_id": id})).await;
    assert_eq!((s, out["body"]["output"]["success"].as_bool()), (200, Some(true)), "{out}");
    let (_, out) = run(&srv, &conn, "list_attachments", json!({"ticket_id": 101})).await;
    assert_eq!(out["body"]["output"]["count"], 1, "only the screenshot is left");
}

#[tokio::test]
async fn the_exact_requests_and_halos_own_answers() {
    let halo = halo_with_token().await;
    Mock::given(method("GET"))
        .and(path("/api/Attachment/77"))
        .and(header("accept", "*/*"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/pdf")
                .insert_header("content-disposition", "attachment; filename=\"r.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf")
                .set_body_bytes(b"%PDF-1.7".to_vec()),
        )
        .expect(1)
        .mount(&halo)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/Attachment/78"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(vec![0u8; 2048]))
        .expect(1)
        .mount(&halo)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/Tickets/5"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 5, "summary": "s"})))
        .mount(&halo)
        .await;
    // A row as the spec's Attachment_List has it: no ticket or uploader (F1).
    Mock::given(method("GET"))
        .and(path("/api/Attachment"))
        .and(query_param("ticket_id", "5"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"record_count": 1, "attachments": [
            {"id": 77, "filename": "r.pdf", "filesize": 8.0, "type": "0", "datecreated": "2026-09-01T09:00:00.123Z", "note": "", "isimage": false}]})))
        .expect(1)
        .mount(&halo)
        .await;
    Mock::given(method("DELETE")).and(path("/api/Attachment/77")).respond_with(ResponseTemplate::new(200)).expect(1).mount(&halo).await;

    let srv = PluginServer::start().await;
    let conn = connection(&halo.uri());
    let (s, out) = run(&srv, &conn, "get_attachment", json!({"attachment_id": 77})).await;
    assert_eq!(s, 200, "{out}");
    let got = &out["body"]["output"];
    assert_eq!(
        (got["file"]["filename"].as_str(), got["file"]["content"].as_str(), got["content_type"].as_str()),
        (Some("résumé.pdf"), Some("JVBERi0xLjc="), Some("application/pdf"))
    );
    let (s, out) = run(&srv, &conn, "get_attachment", json!({"attachment_id": 78, "max_bytes": 1024})).await;
    assert_eq!(s, 400, "{out}");
    assert!(cause(&out).contains("(2048 bytes)"), "the announced length is named: {}", cause(&out));

    let (s, out) = run(&srv, &conn, "list_attachments", json!({"ticket_id": 5})).await;
    assert_eq!(s, 200, "{out}");
    assert_eq!(
        out["body"]["output"]["attachments"],
        json!([{"id": 77, "filename": "r.pdf", "size": 8, "type": 0, "is_image": false, "created": "2026-09-01T09:00:00.123Z"}])
    );
    let (s, out) = run(&srv, &conn, "delete_attachment", json!({"attachment_id": 77})).await;
    assert_eq!((s, out["body"]["output"]["success"].as_bool()), (200, Some(true)), "{out}");
}
