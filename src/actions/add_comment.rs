use serde::{Deserialize, Serialize};
use serde_json::json;

use super::common::invalid_input;
use super::{Action, ActionContext};
use crate::halo::outcomes::Purpose;
use crate::halo::ticket::int;
use crate::protocol::PluginError;

pub struct AddComment;

const NAME: &str = "add_comment";

#[derive(Debug, Deserialize)]
pub struct Input {
    pub ticket_id: i64,
    pub comment: String,
    #[serde(default)]
    pub is_private: bool,
    pub outcome: String,
    #[serde(default)]
    pub send_email: bool,
}

#[derive(Debug, Serialize)]
pub struct Output {
    pub success: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment_id: Option<i64>,
}

impl Action for AddComment {
    const NAME: &'static str = NAME;
    type Input = Input;
    type Output = Output;

    async fn run(ctx: ActionContext, input: Input) -> Result<Output, PluginError> {
        if input.is_private && input.send_email {
            // HaloITSM would email the internal note to the end user.
            return Err(invalid_input(
                NAME,
                "`send_email` cannot be used with `is_private`",
                "A private note is for agents only; send it without email, or make it public to email the end user. Nothing was sent.",
            ));
        }
        ctx.require_ticket(NAME, input.ticket_id).await?;
        // The default "Note" is whatever this tenant calls a note; an outcome the user named is
        // taken as it is (docs/halo-api.md#A13).
        let purpose = match input.outcome.trim() {
            // Only spaces (a blank is dropped before, and the spec's default put in).
            "" => Purpose::PublicNote,
            o if o.eq_ignore_ascii_case("Note") => Purpose::PublicNote,
            o => Purpose::Named(o.to_string(), None),
        };
        let action = json!({
            "ticket_id": input.ticket_id,
            "note": input.comment,
            "hiddenfromuser": input.is_private,
            "sendemail": input.send_email,
        });
        let saved = ctx.client.post_action(purpose, action).await?;
        let comment_id = int(&saved, "id").filter(|i| *i > 0);
        tracing::info!(
            "Added a {} note to ticket {}{}",
            if input.is_private { "private" } else { "public" },
            input.ticket_id,
            comment_id.map(|c| format!(" (action {c})")).unwrap_or_default()
        );
        Ok(Output { success: true, comment_id })
    }
}
