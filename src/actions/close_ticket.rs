use serde::{Deserialize, Serialize};
use serde_json::json;

use super::common::positive;
use super::{Action, ActionContext};
use crate::halo::ticket::Ticket;
use crate::protocol::PluginError;

pub struct CloseTicket;

const NAME: &str = "close_ticket";

#[derive(Debug, Deserialize)]
pub struct Input {
    pub ticket_id: i64,
    pub resolution: Option<String>,
    #[serde(default = "closed")]
    pub closed_status_id: i64,
}

fn closed() -> i64 {
    5
}

#[derive(Debug, Serialize)]
pub struct Output {
    pub ticket: Ticket,
    pub success: bool,
}

impl Action for CloseTicket {
    const NAME: &'static str = NAME;
    type Input = Input;
    type Output = Output;

    async fn run(ctx: ActionContext, input: Input) -> Result<Output, PluginError> {
        let status = positive(NAME, "closed_status_id", input.closed_status_id)?;
        let current = ctx.require_ticket(NAME, input.ticket_id).await?;
        let id = input.ticket_id;
        let ticket = ctx.ticket(&current);
        if ticket.status_id == Some(status) || ticket.closed == Some(true) {
            // Running the step twice (or on a ticket HaloITSM already counts as closed) must not
            // add a second resolution note or move the ticket between closed statuses.
            tracing::info!("Ticket {id} is already closed (status {}); nothing was written", ticket.status_id.unwrap_or_default());
            return Ok(Output { ticket, success: true });
        }
        // One action sets the status and records the resolution, so the history shows both
        // together and the ticket's details stay as they are.
        let note = input.resolution.as_deref().map(str::trim).filter(|r| !r.is_empty()).unwrap_or("Closed from InsightConnect");
        let action = json!({"ticket_id": id, "outcome": "Closed", "note": note, "new_status": status, "hiddenfromuser": false});
        ctx.client.post_one("Actions", action).await.map_err(|e| e.to_plugin_error())?;
        tracing::info!("Closed ticket {id} with status {status}");
        let ticket = match ctx.client.get_ticket(id, true).await {
            Ok(Some(t)) => ctx.ticket(&t),
            // The close was saved; a failed re-read must not turn it into an error.
            other => {
                if let Err(e) = other {
                    tracing::warn!("Ticket {id} was closed but could not be read back: {e}");
                }
                let mut t = ctx.ticket(&current);
                t.status_id = Some(status);
                t.status_name = None;
                t
            }
        };
        Ok(Output { ticket, success: true })
    }
}
