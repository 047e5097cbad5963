//! Typed operations on HaloITSM records over the client's one request path: a ticket read (and
//! what a 404 means), a record saved the HaloITSM way (a one-element array, answered as an object
//! or an array), a ticket update that never turns into a stray create, a close checked on the
//! ticket, and any list's rows.

use reqwest::Method;
use serde_json::Value;

use super::download::Expect;
use super::{HaloClient, HaloError, json_bytes, kind_of, rows_of, ticket};

impl HaloClient {
    /// A ticket's raw record (a full read, docs/halo-api.md#T1), or None when HaloITSM has no
    /// ticket with that ID.
    pub async fn get_ticket(&self, id: i64, include_details: bool) -> Result<Option<Value>, HaloError> {
        let query = if include_details { vec![("includedetails", "true".to_string())] } else { Vec::new() };
        match self.get(&format!("Tickets/{id}"), &query).await {
            Ok(v) if v.is_object() => Ok(Some(v)),
            Ok(v) => Err(HaloError::Unexpected { status: 200, message: format!("expected a ticket object, got {}", kind_of(&v)) }),
            Err(HaloError::NotFound { .. }) => self.api_found().await.map(|()| None),
            Err(e) => Err(e),
        }
    }

    /// After a 404: whether the Resource Server is HaloITSM's API at all. A wrong path there
    /// (`/apix`, the portal) answers 404 to everything, which must not read as "no such ticket".
    /// Asked once per client (`GET /Tickets?count=1`), when the first 404 comes.
    async fn api_found(&self) -> Result<(), HaloError> {
        let found = self
            .api_checked
            .get_or_try_init(|| async {
                match self.get("Tickets", &[("count", "1".into()), ("ticketidonly", "true".into())]).await {
                    Ok(_) => Ok(true),
                    Err(HaloError::NotFound { .. }) => Ok(false),
                    Err(e) => Err(e),
                }
            })
            .await;
        match found {
            Ok(true) | Err(_) => Ok(()),
            Ok(false) => Err(HaloError::Unexpected {
                status: 404,
                message: format!(
                    "{} answers 404 even to the ticket list, so it is not HaloITSM's API (it usually ends with /api)",
                    self.cfg.resource_server
                ),
            }),
        }
    }

    /// GET something that may not exist: None on 404.
    pub async fn get_optional(&self, path: &str, query: &[(&str, String)]) -> Result<Option<Value>, HaloError> {
        match self.get(path, query).await {
            Ok(v) if v.is_object() => Ok(Some(v)),
            Ok(v) => Err(HaloError::Unexpected { status: 200, message: format!("expected an object from /{path}, got {}", kind_of(&v)) }),
            Err(HaloError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// POST one record the HaloITSM way (a one-element array: docs/halo-api.md#T3) and return the
    /// saved record, answered as an object or a one-element array (T4).
    pub async fn post_one(&self, path: &str, record: Value) -> Result<Value, HaloError> {
        // Serialized at once and the record let go: an attachment's content is held once.
        let body = json_bytes(&Value::Array(vec![record]))?;
        let saved = self.send(Method::POST, path, &[], Some(body), Expect::Json).await?.into_json();
        match saved {
            Value::Object(_) => Ok(saved),
            // Some builds answer with an array: the saved record is its last element.
            Value::Array(mut items) if items.last().is_some_and(Value::is_object) => Ok(items.pop().unwrap_or_default()),
            other => Err(HaloError::Unexpected {
                status: 200,
                message: format!("expected the saved record from /{path}, got {}", kind_of(&other)),
            }),
        }
    }

    /// Update fields of a ticket known to exist. HaloITSM's POST is an upsert
    /// (docs/halo-api.md#T5): if the ticket was deleted meanwhile, HaloITSM creates a new one
    /// instead. Such a ticket is deleted again only when it is provably the one this very update
    /// created (see [`HaloClient::created_by_update`]); anything else is reported, never deleted.
    /// Either way the update fails with `Vanished`.
    pub async fn update_ticket(&self, id: i64, mut fields: serde_json::Map<String, Value>) -> Result<Value, HaloError> {
        fields.insert("id".into(), Value::from(id));
        // HaloITSM's dates have whole seconds: a ticket this update created is dated no earlier.
        let sent_at = chrono::SubsecRound::trunc_subsecs(chrono::Utc::now(), 0);
        let saved = self.post_one("Tickets", Value::Object(fields.clone())).await?;
        let saved_id = ticket::int(&saved, "id");
        if saved_id == Some(id) {
            return Ok(saved);
        }
        let Some(stray) = saved_id.filter(|s| *s > 0) else {
            return Err(HaloError::Vanished { id, answered: 0, deleted: false });
        };
        let deleted = match self.created_by_update(id, stray, &fields, sent_at).await {
            Ok(true) => {
                let reason = format!("Created by accident while updating ticket {id}, which no longer exists");
                match self.delete(&format!("Tickets/{stray}"), &[("reason", reason)]).await {
                    Ok(_) => true,
                    Err(e) => {
                        tracing::error!("Could not delete ticket {stray}, created by accident while updating ticket {id}: {e}");
                        false
                    }
                }
            }
            Ok(false) => {
                tracing::error!(
                    "HaloITSM answered an update of ticket {id} with ticket {stray}; it is left alone (not provably created by this update)"
                );
                false
            }
            Err(e) => {
                tracing::error!(
                    "HaloITSM answered an update of ticket {id} with ticket {stray}, which could not be checked ({e}); it is left alone"
                );
                false
            }
        };
        Err(HaloError::Vanished { id, answered: stray, deleted })
    }

    /// Whether `stray`, the ticket HaloITSM answered an update of `id` with, is provably the
    /// ticket that update created: `id` no longer exists, and `stray` was created no earlier than
    /// the update was sent and carries every field it sent (as far as a read shows them).
    async fn created_by_update(
        &self,
        id: i64,
        stray: i64,
        sent: &serde_json::Map<String, Value>,
        sent_at: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, HaloError> {
        if self.get_ticket(id, false).await?.is_some() {
            return Ok(false);
        }
        let Some(record) = self.get_ticket(stray, true).await? else { return Ok(false) };
        let created = record.get("datecreated").and_then(Value::as_str).and_then(ticket::parse_halo_date);
        if created.is_none_or(|c| c < sent_at) {
            return Ok(false);
        }
        Ok(sent.iter().filter(|(k, _)| !matches!(k.as_str(), "id" | "details" | "details_html" | "customfields")).all(|(k, v)| {
            match (record.get(k), v) {
                (None, _) => true,
                (Some(got), Value::String(want)) => got.as_str().is_some_and(|g| g.trim() == want.trim()),
                (Some(got), want) => match (ticket::as_int(got), ticket::as_int(want)) {
                    (Some(g), Some(w)) => g == w,
                    _ => got == want,
                },
            }
        }))
    }

    /// A priority a write asked for that the saved ticket does not have (a priority the ticket
    /// type's SLA lacks is replaced silently: docs/halo-api.md#P3): checked on HaloITSM's answer,
    /// or, when the answer shows no priority, on a read of the ticket.
    pub async fn check_priority_kept(&self, saved: &Value, asked: Option<i64>) -> Result<(), HaloError> {
        if asked.is_none() || ticket::int(saved, "priority_id").is_some() {
            return ticket::check_priority_kept(saved, asked);
        }
        let Some(id) = ticket::int(saved, "id") else { return Ok(()) };
        match self.get_ticket(id, false).await? {
            Some(now) => ticket::check_priority_kept(&now, asked),
            None => Ok(()),
        }
    }

    /// Re-read a ticket just moved to `status` to close it: Err(`NotClosed`) when HaloITSM does
    /// not count it as closed; Ok(None) when it cannot be read back (the change was made; it is
    /// not reported as a failure). `setting` names what the user changes to fix a wrong status.
    pub async fn confirm_closed(&self, id: i64, status: i64, setting: &'static str) -> Result<Option<Value>, HaloError> {
        match self.get_ticket(id, true).await {
            Ok(Some(t)) if self.is_closed(&t).await => Ok(Some(t)),
            Ok(Some(_)) => Err(HaloError::NotClosed { id, status, setting }),
            Ok(None) => Ok(None),
            Err(e) => {
                tracing::warn!("Ticket {id} was moved to status {status} but could not be read back to check it is closed: {e}");
                Ok(None)
            }
        }
    }

    /// A list endpoint's rows, whether HaloITSM answers with a plain array or with a
    /// `{record_count, <key>: [...]}` wrapper; also the record count when it is given.
    pub async fn list(&self, path: &str, query: &[(&str, String)], key: &str) -> Result<(Vec<Value>, Option<u64>), HaloError> {
        let v = self.get(path, query).await?;
        rows_of(v, key).map_err(|got| HaloError::Unexpected { status: 200, message: format!("expected a list from /{path}, got {got}") })
    }
}
