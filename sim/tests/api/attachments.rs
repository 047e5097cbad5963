//! The simulator's attachments: upload, list and download.

use super::*;

fn b64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let mut n = 0u32;
        for (i, &b) in chunk.iter().enumerate() {
            n |= u32::from(b) << (16 - 8 * i);
        }
        for i in 0..4 {
            out.push(if i <= chunk.len() { char::from(A[(n >> (18 - 6 * i) & 63) as usize]) } else { '=' });
        }
    }
    out
}

#[tokio::test]
async fn attachments_upload_list_download() {
    let h = sim().await;
    let api = Api::new(&h).await;
    let content = b"From: payroll@payro11-update.example\r\nSubject: Payroll update required\r\n";
    let saved = api
        .post_json(
            "/Attachment",
            &json!([{"ticket_id": 101, "filename": "original-message.eml", "data_base64": b64(content), "note": "As reported"}]),
        )
        .await;
    let id = saved["id"].as_i64().expect("id");
    assert_eq!(saved["ticket_id"], 101);
    assert_eq!(saved["filename"], "original-message.eml");
    assert_eq!(saved["filesize"], content.len());
    assert!(saved.get("data_base64").is_none());

    let list = api.get_json("/Attachment?ticket_id=101").await;
    assert_eq!(list["record_count"], 2, "the seeded screenshot and the upload");
    assert_eq!(list["attachments"][1]["id"], id);
    assert_eq!(api.get_json("/Attachment?ticket_id=102").await["record_count"], 1, "seeded");

    let r = api.get(&format!("/Attachment/{id}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/octet-stream");
    assert_eq!(r.bytes().await.expect("bytes").as_ref(), content);
    assert_eq!(json_of(api.get("/Attachment/999").await).await.0, StatusCode::NOT_FOUND);

    let (status, v) =
        json_of(api.post("/Attachment", &json!([{"ticket_id": 101, "filename": "x", "data_base64": "@@not base64@@"}])).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(v.get("[0].data_base64").is_some());
    let (status, v) = json_of(api.post("/Attachment", &json!([{"ticket_id": 4242, "filename": "x", "data_base64": "eA=="}])).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(v["Message"], "Ticket 4242 not found");
    h.shutdown().await;
}
