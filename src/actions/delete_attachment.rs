//! `delete_attachment`: `DELETE /Attachment/{id}` (docs/halo-api.md#F4).

use serde::{Deserialize, Serialize};

use super::common::positive;
use super::{Action, ActionContext};
use crate::halo::HaloError;
use crate::protocol::PluginError;

pub struct DeleteAttachment;

const NAME: &str = "delete_attachment";

#[derive(Debug, Deserialize)]
pub struct Input {
    pub attachment_id: i64,
}

#[derive(Debug, Serialize)]
pub struct Output {
    pub success: bool,
}

impl Action for DeleteAttachment {
    const NAME: &'static str = NAME;
    type Input = Input;
    type Output = Output;

    async fn run(ctx: ActionContext, input: Input) -> Result<Output, PluginError> {
        let id = positive(NAME, "attachment_id", input.attachment_id)?;
        match ctx.client.delete(&format!("Attachment/{id}"), &[]).await {
            Ok(_) => Ok(Output { success: true }),
            Err(HaloError::NotFound { .. }) => Err(PluginError::client(
                format!("Attachment {id} (input `attachment_id`) was not found in HaloITSM; nothing was deleted."),
                "List Attachments shows the IDs of a ticket's files.",
            )),
            Err(e) => Err(e.into()),
        }
    }
}
