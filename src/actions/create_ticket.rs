use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::common::{custom_fields, object, positive, positive_opt};
use super::{Action, ActionContext};
use crate::halo::ticket::Ticket;
use crate::protocol::PluginError;

pub struct CreateTicket;

const NAME: &str = "create_ticket";

#[derive(Debug, Deserialize)]
pub struct Input {
    pub summary: String,
    pub details: String,
    pub tickettype_id: Option<i64>,
    pub priority_id: Option<i64>,
    pub status_id: i64,
    pub category_id: Option<i64>,
    pub agent_id: Option<i64>,
    pub team_id: Option<i64>,
    pub site_id: Option<i64>,
    pub user_id: Option<i64>,
    #[serde(default)]
    pub customfields: Vec<Value>,
}

#[derive(Debug, Serialize)]
pub struct Output {
    pub ticket: Ticket,
    pub success: bool,
}

impl Action for CreateTicket {
    const NAME: &'static str = NAME;
    type Input = Input;
    type Output = Output;

    async fn run(ctx: ActionContext, input: Input) -> Result<Output, PluginError> {
        let cfg = ctx.client.config();
        let tickettype = input.tickettype_id.or(cfg.default_ticket_type_id).ok_or_else(|| {
            PluginError::client(
                "Invalid input for action `create_ticket`: no ticket type was given and the connection has no Default Ticket Type ID.",
                "Give `tickettype_id` (List Ticket Types shows the IDs), or set Default Ticket Type ID in the connection. Nothing was sent to HaloITSM.",
            )
        })?;
        positive(NAME, "tickettype_id", tickettype)?;
        positive(NAME, "status_id", input.status_id)?;
        let id = |field: &str, v: Option<i64>| positive_opt(NAME, field, v).map(|v| v.map(Value::from));
        let fields = custom_fields(NAME, &input.customfields)?;
        let record = object([
            ("summary", Some(json!(input.summary))),
            ("details", Some(json!(input.details))),
            ("tickettype_id", Some(json!(tickettype))),
            ("status_id", Some(json!(input.status_id))),
            ("priority_id", id("priority_id", input.priority_id.or(cfg.default_priority_id))?),
            ("categoryid_1", id("category_id", input.category_id.or(cfg.default_category_id))?),
            ("agent_id", id("agent_id", input.agent_id.or(cfg.default_agent_id))?),
            ("team_id", id("team_id", input.team_id.or(cfg.default_team_id))?),
            ("site_id", id("site_id", input.site_id)?),
            ("user_id", id("user_id", input.user_id)?),
            ("customfields", (!fields.is_empty()).then(|| Value::Array(fields))),
        ]);
        let saved = ctx.client.post_one("Tickets", Value::Object(record)).await?;
        let ticket = ctx.ticket(&saved).await;
        let Some(new_id) = ticket.id else {
            return Err(PluginError::internal(
                "HaloITSM answered the new ticket without an ID; check HaloITSM for the ticket before running the step again.",
            ));
        };
        tracing::info!("Created ticket {new_id}");
        Ok(Output { ticket, success: true })
    }
}
