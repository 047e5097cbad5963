//! `list_attachments`: a ticket's files as HaloITSM lists them (docs/halo-api.md#F1).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::positive;
use super::{Action, ActionContext};
use crate::halo::ticket::{as_int, date, int, string};
use crate::protocol::PluginError;

pub struct ListAttachments;

const NAME: &str = "list_attachments";

#[derive(Debug, Deserialize)]
pub struct Input {
    pub ticket_id: i64,
}

/// The `attachment` custom type: what a list row carries.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attachment {
    pub id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
    /// HaloITSM's `type` code, as it gives it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub r#type: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_image: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The uploader's agent ID, where HaloITSM's row has it (the documented rows do not, F1, F5).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<i64>,
}

impl Attachment {
    fn from_halo(raw: &Value) -> Option<Attachment> {
        Some(Attachment {
            id: int(raw, "id").filter(|i| *i > 0)?,
            filename: string(raw, "filename").as_deref().and_then(super::file_names::safe_file_name),
            size: raw.get("filesize").and_then(as_int),
            r#type: raw.get("type").and_then(as_int),
            is_image: raw.get("isimage").and_then(Value::as_bool),
            created: date(raw, "datecreated"),
            note: string(raw, "note").filter(|n| !n.is_empty()),
            agent_id: int(raw, "agent_id").filter(|a| *a > 0),
        })
    }
}

#[derive(Debug, Serialize)]
pub struct Output {
    pub attachments: Vec<Attachment>,
    pub count: i64,
}

impl Action for ListAttachments {
    const NAME: &'static str = NAME;
    type Input = Input;
    type Output = Output;

    async fn run(ctx: ActionContext, input: Input) -> Result<Output, PluginError> {
        let id = positive(NAME, "ticket_id", input.ticket_id)?;
        // An unknown ticket is an error, not an empty list.
        ctx.require_ticket(NAME, id).await?;
        let (rows, _) = ctx.client.list("Attachment", &[("ticket_id", id.to_string())], "attachments").await?;
        let attachments: Vec<Attachment> = rows.iter().filter_map(Attachment::from_halo).collect();
        Ok(Output { count: attachments.len() as i64, attachments })
    }
}
