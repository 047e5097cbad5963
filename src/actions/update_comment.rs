//! `update_comment`: change a note's text (and whether it is private) in place. HaloITSM updates an
//! action when it is posted again with its `id` and `ticket_id` (docs/halo-api.md#A2).

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::common::invalid_input;
use super::list_comments::Comment;
use super::{Action, ActionContext};
use crate::halo::outcomes::Purpose;
use crate::halo::ticket::{int, string};
use crate::protocol::PluginError;

pub struct UpdateComment;

const NAME: &str = "update_comment";

#[derive(Debug, Deserialize)]
pub struct Input {
    pub ticket_id: i64,
    pub comment_id: i64,
    pub comment: String,
    pub is_private: Option<bool>,
}

#[derive(Debug, Serialize)]
pub struct Output {
    pub success: bool,
    pub comment: Comment,
}

impl Action for UpdateComment {
    const NAME: &'static str = NAME;
    type Input = Input;
    type Output = Output;

    async fn run(ctx: ActionContext, input: Input) -> Result<Output, PluginError> {
        if input.comment.trim().is_empty() {
            return Err(invalid_input(
                NAME,
                "input `comment` is empty",
                "Give the note's new text; Delete Comment removes a note. Nothing was changed.",
            ));
        }
        let old = ctx.require_note(NAME, "changed", input.ticket_id, input.comment_id).await?;
        // The client sends the escaped `note_html` beside the note, as for every note; the
        // outcome is sent back as it was (A1: actions need one).
        let mut action = json!({"id": input.comment_id, "ticket_id": input.ticket_id, "note": input.comment});
        if let Some(p) = input.is_private {
            action["hiddenfromuser"] = json!(p);
        }
        // The note keeps its outcome (by name and ID); a note without one is a plain note.
        let purpose = match string(&old, "outcome") {
            Some(name) => Purpose::Named(name, int(&old, "outcome_id").filter(|id| *id > 0)),
            None => Purpose::PublicNote,
        };
        let saved = ctx.client.post_action(purpose, action).await?;
        // HaloITSM takes an unknown action ID as a new note (A2): an answer with another ID means
        // a note was added instead of changed, and the workflow must know.
        if let Some(other) = int(&saved, "id").filter(|id| *id != input.comment_id) {
            return Err(PluginError::plugin(
                crate::protocol::Preset::ServerError,
                format!(
                    "HaloITSM saved the text as a new note {other} of ticket {} instead of changing note {}.",
                    input.ticket_id, input.comment_id
                ),
                format!(
                    "Check ticket {} in HaloITSM and delete note {other} if it is a copy; note {} may not have changed.",
                    input.ticket_id, input.comment_id
                ),
            ));
        }
        let mut comment = Comment::from_halo(&saved);
        comment.ticket_id = comment.ticket_id.or(Some(input.ticket_id));
        tracing::info!("Updated note {} of ticket {}", input.comment_id, input.ticket_id);
        Ok(Output { success: true, comment })
    }
}
