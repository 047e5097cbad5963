//! `get_attachment`: one file's bytes as base64, with its name and type (docs/halo-api.md#F2:
//! HaloITSM serves the raw file, or a short-lived link to it, F6), refused clearly above a size
//! limit.

use base64::Engine;
use serde::{Deserialize, Serialize};

use super::common::{invalid_input, positive};
use super::{Action, ActionContext};
use crate::halo::HaloError;
use crate::protocol::PluginError;

pub struct GetAttachment;

const NAME: &str = "get_attachment";
/// The most a step returns: base64 makes it a third larger inside the step's JSON output.
pub const MAX_BYTES: i64 = 20 * 1024 * 1024;

#[derive(Debug, Deserialize)]
pub struct Input {
    pub attachment_id: i64,
    pub max_bytes: i64,
}

/// An InsightConnect `file`: name and base64 content.
#[derive(Debug, Serialize)]
pub struct File {
    pub filename: String,
    pub content: String,
}

#[derive(Debug, Serialize)]
pub struct Output {
    pub file: File,
    pub size: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
}

impl Action for GetAttachment {
    const NAME: &'static str = NAME;
    type Input = Input;
    type Output = Output;

    async fn run(ctx: ActionContext, input: Input) -> Result<Output, PluginError> {
        let id = positive(NAME, "attachment_id", input.attachment_id)?;
        if !(1..=MAX_BYTES).contains(&input.max_bytes) {
            return Err(invalid_input(
                NAME,
                format_args!("input `max_bytes` must be between 1 and {MAX_BYTES}, got {}", input.max_bytes),
                "Give the largest file size, in bytes, the workflow should take (20 MiB at most).",
            ));
        }
        let file = ctx.client.download_file(&format!("Attachment/{id}"), input.max_bytes as usize).await.map_err(|e| match e {
            HaloError::NotFound { .. } => PluginError::client(
                format!("Attachment {id} (input `attachment_id`) was not found in HaloITSM."),
                "List Attachments shows the IDs of a ticket's files.",
            ),
            other => other.into(),
        })?;
        let size = file.bytes.len() as i64;
        Ok(Output {
            file: File {
                // HaloITSM's name made safe to write to a disk or show (never a path or markup).
                filename: file
                    .filename
                    .as_deref()
                    .and_then(super::file_names::safe_file_name)
                    .unwrap_or_else(|| format!("attachment-{id}")),
                content: base64::engine::general_purpose::STANDARD.encode(&file.bytes),
            },
            size,
            content_type: file.content_type,
        })
    }
}
