use serde::{Deserialize, Serialize};

use super::{Action, ActionContext};
use crate::protocol::PluginError;

pub struct DeleteTicket;

const NAME: &str = "delete_ticket";

#[derive(Debug, Deserialize)]
pub struct Input {
    pub ticket_id: i64,
    pub reason: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Output {
    pub success: bool,
}

impl Action for DeleteTicket {
    const NAME: &'static str = NAME;
    type Input = Input;
    type Output = Output;

    async fn run(ctx: ActionContext, input: Input) -> Result<Output, PluginError> {
        let id = input.ticket_id;
        ctx.require_ticket(NAME, id).await?;
        let reason = input.reason.as_deref().map(str::trim).filter(|r| !r.is_empty()).unwrap_or("Deleted from InsightConnect");
        ctx.client.delete(&format!("Tickets/{id}"), &[("reason", reason.to_string())]).await?;
        tracing::info!("Deleted ticket {id} ({reason})");
        Ok(Output { success: true })
    }
}
