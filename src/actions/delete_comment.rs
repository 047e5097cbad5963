//! `delete_comment`: remove a note from a ticket (`DELETE /Actions/{id}?ticket_id=`,
//! docs/halo-api.md#A5).

use serde::{Deserialize, Serialize};

use super::{Action, ActionContext};
use crate::protocol::PluginError;

pub struct DeleteComment;

const NAME: &str = "delete_comment";

#[derive(Debug, Deserialize)]
pub struct Input {
    pub ticket_id: i64,
    pub comment_id: i64,
}

#[derive(Debug, Serialize)]
pub struct Output {
    pub success: bool,
}

impl Action for DeleteComment {
    const NAME: &'static str = NAME;
    type Input = Input;
    type Output = Output;

    async fn run(ctx: ActionContext, input: Input) -> Result<Output, PluginError> {
        ctx.require_note(NAME, "deleted", input.ticket_id, input.comment_id).await?;
        ctx.client.delete(&format!("Actions/{}", input.comment_id), &[("ticket_id", input.ticket_id.to_string())]).await?;
        tracing::info!("Deleted note {} of ticket {}", input.comment_id, input.ticket_id);
        Ok(Output { success: true })
    }
}
