//! `/api/Attachment`: files uploaded as base64 JSON, listed per ticket, downloaded as bytes.
//! Every POST element creates a new attachment (there is no attachment update).

use chrono::NaiveDateTime;
use serde_json::{Map, Value, json};

use super::errors::ApiError;
use super::state::{Attachment, Store, get_i64};
use super::util::{Params, base64_decode, fmt_date, json_int, json_string};

struct Upload {
    ticket_id: i64,
    action_id: i64,
    filename: String,
    note: Option<String>,
    data: Vec<u8>,
}

fn parse(store: &Store, o: &Map<String, Value>, i: usize) -> Result<Upload, ApiError> {
    let bad = |f: &str| ApiError::element(i, f, "The value is not valid.");
    let int = |f: &str| match o.get(f) {
        None => Ok(None),
        Some(v) => json_int(v).map_err(|()| bad(f)),
    };
    let string = |f: &str| match o.get(f) {
        None => Ok(None),
        Some(v) => json_string(v).map_err(|()| bad(f)),
    };
    let ticket_id = int("ticket_id")?.filter(|&t| t > 0).ok_or_else(|| ApiError::element(i, "ticket_id", "Ticket ID is required"))?;
    let filename = string("filename")?
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::element(i, "filename", "Filename is required"))?;
    let encoded = string("data_base64")?.ok_or_else(|| ApiError::element(i, "data_base64", "File data is required"))?;
    let data = base64_decode(&encoded).ok_or_else(|| ApiError::element(i, "data_base64", "The file data is not valid base64"))?;
    if !store.tickets.contains_key(&ticket_id) {
        return Err(ApiError::bad_request(format!("Ticket {ticket_id} not found")));
    }
    let action_id = int("action_id")?.unwrap_or(0);
    if action_id != 0 && store.action_ticket.get(&action_id) != Some(&ticket_id) {
        return Err(ApiError::bad_request(format!("Action {action_id} not found on ticket {ticket_id}")));
    }
    Ok(Upload { ticket_id, action_id, filename, note: string("note")?, data })
}

/// `POST /api/Attachment`: all elements validated before any is stored.
pub(crate) fn post(store: &mut Store, objs: &[Map<String, Value>], now: NaiveDateTime) -> Result<Vec<Value>, ApiError> {
    let uploads = objs.iter().enumerate().map(|(i, o)| parse(store, o, i)).collect::<Result<Vec<_>, _>>()?;
    let mut out = Vec::with_capacity(uploads.len());
    for u in uploads {
        let id = store.next_attachment_id;
        store.next_attachment_id += 1;
        let mut meta = Map::new();
        meta.insert("id".into(), json!(id));
        meta.insert("ticket_id".into(), json!(u.ticket_id));
        meta.insert("action_id".into(), json!(u.action_id));
        meta.insert("filename".into(), json!(u.filename));
        meta.insert("filesize".into(), json!(u.data.len()));
        meta.insert("note".into(), json!(u.note.unwrap_or_default()));
        meta.insert("datecreated".into(), json!(fmt_date(now)));
        out.push(Value::Object(meta.clone()));
        store.attachments.insert(id, Attachment { meta, data: u.data });
    }
    Ok(out)
}

/// What a list row shows of an attachment: `Attachment_List`'s fields, without `ticket_id` or the
/// uploader [F1]; `isimage` from the file name.
fn row(meta: &Map<String, Value>) -> Value {
    let mut row: Map<String, Value> = ["id", "filename", "filesize", "datecreated", "note"]
        .iter()
        .filter_map(|k| meta.get(*k).map(|v| (k.to_string(), v.clone())))
        .collect();
    let name = meta.get("filename").and_then(Value::as_str).unwrap_or_default().to_ascii_lowercase();
    let image = [".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp"].iter().any(|e| name.ends_with(e));
    row.insert("isimage".into(), json!(image));
    Value::Object(row)
}

/// `GET /api/Attachment?ticket_id=N` (optionally `action_id`).
pub(crate) fn list(store: &Store, q: &Params) -> Result<Value, ApiError> {
    let ticket_id = q
        .int("ticket_id")
        .map_err(|m| ApiError::field("ticket_id", m))?
        .ok_or_else(|| ApiError::field("ticket_id", "ticket_id is required"))?;
    let action_id = q.int("action_id").map_err(|m| ApiError::field("action_id", m))?;
    let rows: Vec<Value> = store
        .attachments
        .values()
        .filter(|a| get_i64(&a.meta, "ticket_id") == ticket_id)
        .filter(|a| action_id.is_none_or(|x| get_i64(&a.meta, "action_id") == x))
        .map(|a| row(&a.meta))
        .collect();
    Ok(json!({ "record_count": rows.len(), "attachments": rows }))
}

#[cfg(test)]
mod tests {
    use super::super::seed::seeded_store;
    use super::super::tickets::body_objects;
    use super::super::util::{base64_encode, now};
    use super::*;

    #[test]
    fn upload_list_and_reject() {
        let mut s = seeded_store(true, now());
        let body = format!(
            r#"[{{"ticket_id":101,"filename":"headers.eml","data_base64":"{}","note":"raw headers"}}]"#,
            base64_encode(b"Received: from mx.example")
        );
        let out = post(&mut s, &body_objects(body.as_bytes()).unwrap_or_default(), now()).unwrap_or_default();
        let id = out.first().and_then(|a| a.get("id")).and_then(Value::as_i64).unwrap_or(0);
        assert_eq!(out.first().and_then(|a| a.get("filesize")), Some(&json!(25)));
        assert_eq!(s.attachments.get(&id).map(|a| a.data.clone()), Some(b"Received: from mx.example".to_vec()));
        let v = list(&s, &Params::parse(Some("ticket_id=101"))).unwrap_or_default();
        assert_eq!(v.get("record_count"), Some(&json!(2)), "the seeded screenshot and the upload");
        assert_eq!(v.pointer("/attachments/0/isimage"), Some(&json!(true)));
        let listed = v.pointer("/attachments/1").cloned().unwrap_or_default();
        assert_eq!((listed.get("filename"), listed.get("isimage")), (Some(&json!("headers.eml")), Some(&json!(false))));
        assert!(listed.get("ticket_id").is_none(), "rows do not carry the ticket [F1]");

        for (body, want) in [
            (
                r#"[{"ticket_id":101,"filename":"a","data_base64":"***"}]"#,
                ApiError::element(0, "data_base64", "The file data is not valid base64"),
            ),
            (r#"[{"ticket_id":999,"filename":"a","data_base64":"YQ=="}]"#, ApiError::bad_request("Ticket 999 not found")),
            (r#"[{"ticket_id":101,"data_base64":"YQ=="}]"#, ApiError::element(0, "filename", "Filename is required")),
        ] {
            let e = post(&mut s, &body_objects(body.as_bytes()).unwrap_or_default(), now()).err();
            assert_eq!(e, Some(want));
        }
        assert!(list(&s, &Params::default()).is_err());
    }
}
