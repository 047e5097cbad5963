use serde::{Deserialize, Serialize};

use super::common::invalid_input;
use super::{Action, ActionContext};
use crate::halo::ticket::Ticket;
use crate::protocol::PluginError;

pub struct GetTicket;

#[derive(Debug, Deserialize)]
pub struct Input {
    pub ticket_id: i64,
    pub include_details: bool,
}

#[derive(Debug, Serialize)]
pub struct Output {
    pub ticket: Ticket,
    pub found: bool,
}

impl Action for GetTicket {
    const NAME: &'static str = "get_ticket";
    type Input = Input;
    type Output = Output;

    async fn run(ctx: ActionContext, input: Input) -> Result<Output, PluginError> {
        if input.ticket_id <= 0 {
            return Err(invalid_input(
                Self::NAME,
                format_args!("input `ticket_id` must be a positive ticket ID, got {}", input.ticket_id),
                "Give the numeric ID of a HaloITSM ticket.",
            ));
        }
        match ctx.client.get_ticket(input.ticket_id, input.include_details).await? {
            Some(raw) => {
                let ticket = ctx.ticket(&raw).await;
                tracing::info!("Found ticket {}", input.ticket_id);
                Ok(Output { ticket, found: true })
            }
            None => {
                tracing::info!("Ticket {} does not exist in HaloITSM", input.ticket_id);
                Ok(Output { ticket: Ticket::default(), found: false })
            }
        }
    }
}
