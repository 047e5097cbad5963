//! add_attachment: the name and content posted; bad or oversized content refused before a request.

use super::*;

#[tokio::test]
async fn attachment_is_posted_under_its_base_name_with_the_note() {
    let h = Halo::start().await;
    let bytes = br#"{"alert": "example"}"#;
    let content = base64::engine::general_purpose::STANDARD.encode(bytes);
    h.ticket(42, raw_ticket(42, 2), 1).await;
    h.post_one(
        "/api/Attachment",
        json!({"ticket_id": 42, "filename": "alert.json", "data_base64": content, "note": "Raw InsightIDR alert"}),
        ok_json(json!({"id": 77, "ticket_id": 42, "filename": "alert.json"})),
        1,
    )
    .await;
    let out = h
        .ok(
            "add_attachment",
            json!({"ticket_id": 42, "file": {"filename": "C:\\temp\\evidence\\alert.json", "content": content}, "note": "Raw InsightIDR alert"}),
        )
        .await;
    assert_eq!(out, json!({"success": true, "attachment_id": 77, "size": bytes.len()}));
    assert_eq!(h.api_requests().await, [TICKET_GET, "POST /api/Attachment"]);
    h.verify().await;
}

#[tokio::test]
async fn attachment_names_lose_control_and_text_hiding_characters_and_cannot_forge_a_log_line() {
    let h = Halo::start().await;
    let content = base64::engine::general_purpose::STANDARD.encode(b"MZ");
    h.ticket(42, raw_ticket(42, 2), 1).await;
    h.post_one(
        "/api/Attachment",
        json!({"ticket_id": 42, "filename": "invoicefdp.exe", "data_base64": content}),
        ok_json(json!({"id": 79})),
        1,
    )
    .await;
    let forged = "invoice\u{202e}fdp.exe\r\n2026-01-01T00:00:00.000Z INFO forged\0";
    // The name HaloITSM gets: its last path part, without the line break, NUL or override.
    let name = "..\\invoice\u{202e}fdp\0.exe";
    let (status, body) = h.run("add_attachment", json!({"ticket_id": 42, "file": {"filename": name, "content": content}, forged: 1})).await;
    assert_eq!(status, 200, "{body}");
    let log = body["log"].as_str().unwrap();
    assert!(log.contains("Ignored input"), "an unknown input key is warned about: {log}");
    assert!(!log.lines().any(|l| l.starts_with("2026-01-01T00:00:00.000Z INFO forged")), "no forged line: {log}");
    h.verify().await;
}

#[tokio::test]
async fn attachment_without_a_note_sends_the_content_without_line_breaks() {
    let h = Halo::start().await;
    let bytes: Vec<u8> = (0..=255u8).cycle().take(200).collect();
    let content = base64::engine::general_purpose::STANDARD.encode(&bytes);
    let wrapped: String = content.as_bytes().chunks(76).map(|c| format!("{}\r\n", String::from_utf8_lossy(c))).collect();
    h.ticket(42, raw_ticket(42, 2), 1).await;
    h.post_one(
        "/api/Attachment",
        json!({"ticket_id": 42, "filename": "report.bin", "data_base64": content}),
        ok_json(json!({"id": 78})),
        1,
    )
    .await;
    let out = h
        .ok("add_attachment", json!({"ticket_id": 42, "file": {"filename": "../../evidence/report.bin", "content": wrapped}, "note": "  "}))
        .await;
    assert_eq!(out, json!({"success": true, "attachment_id": 78, "size": 200}));
    h.verify().await;
}

#[tokio::test]
async fn attachment_with_invalid_base64_is_a_400_before_any_request() {
    let h = Halo::start().await;
    api("POST", "/api/Attachment").respond_with(ok_json(json!({"id": 1}))).expect(0).mount(&h.server).await;
    let body = h.err("add_attachment", json!({"ticket_id": 42, "file": {"filename": "a.txt", "content": "not base64!!"}}), 400).await;
    assert!(body["error"].as_str().unwrap().contains("`file.content` is not valid base64"), "{body}");
    let body = h.err("add_attachment", json!({"ticket_id": 42, "file": {"filename": "dir/", "content": "YQ=="}}), 400).await;
    assert!(body["error"].as_str().unwrap().contains("`file.filename` is not a usable file name"), "{body}");
    assert!(h.api_requests().await.is_empty());
    h.verify().await;
}

#[tokio::test]
async fn attachment_over_the_size_limit_is_a_400_before_any_request() {
    let h = Halo::start().await;
    api("POST", "/api/Attachment").respond_with(ok_json(json!({"id": 1}))).expect(0).mount(&h.server).await;
    let content = base64::engine::general_purpose::STANDARD.encode(vec![b'a'; 20 * 1024 * 1024 + 3]);
    let body = h.err("add_attachment", json!({"ticket_id": 42, "file": {"filename": "big.bin", "content": content}}), 400).await;
    assert!(body["error"].as_str().unwrap().contains("larger than 20 MiB"), "{}", body["error"]);
    assert!(h.api_requests().await.is_empty());
    h.verify().await;
}
