use serde::{Deserialize, Serialize};
use serde_json::json;

use super::common::positive;
use super::{Action, ActionContext};
use crate::halo::outcomes::Purpose;
use crate::halo::ticket::Ticket;
use crate::protocol::PluginError;

pub struct CloseTicket;

const NAME: &str = "close_ticket";

#[derive(Debug, Deserialize)]
pub struct Input {
    pub ticket_id: i64,
    pub resolution: Option<String>,
    /// None: the connection's Closed Status ID.
    pub closed_status_id: Option<i64>,
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
        let (status, setting) = match input.closed_status_id {
            Some(s) => (positive(NAME, "closed_status_id", s)?, "the step's `closed_status_id`"),
            None => (ctx.client.config().closed_status_id, "the connection's Closed Status ID"),
        };
        let current = ctx.require_ticket(NAME, input.ticket_id).await?;
        let id = input.ticket_id;
        if ctx.client.is_closed(&current).await {
            // Running the step twice (or on a ticket HaloITSM already counts as closed) must not
            // add a second resolution note or move the ticket between closed statuses.
            tracing::info!("Ticket {id} is already closed; nothing was written");
            return Ok(Output { ticket: ctx.ticket(&current).await, success: true });
        }
        // One action sets the status and records the resolution, so the history shows both
        // together and the ticket's details stay as they are.
        let note = input.resolution.as_deref().map(str::trim).filter(|r| !r.is_empty()).unwrap_or("Closed from InsightConnect");
        let action = json!({"ticket_id": id, "note": note, "new_status": status, "hiddenfromuser": false});
        ctx.client.post_action(Purpose::Close, action).await?;
        // Status IDs are the tenant's own: a status that does not close tickets is an error the
        // user must see, not a success (docs/halo-api.md#S4, S6).
        let ticket = match ctx.client.confirm_closed(id, status, setting).await? {
            Some(t) => ctx.ticket(&t).await,
            None => Ticket { status_id: Some(status), status_name: None, closed: None, ..ctx.ticket(&current).await },
        };
        tracing::info!("Closed ticket {id} with status {status}");
        Ok(Output { ticket, success: true })
    }
}
