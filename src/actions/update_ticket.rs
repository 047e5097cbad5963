use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::common::{custom_fields, object, positive, positive_opt};
use super::{Action, ActionContext};
use crate::halo::ticket::Ticket;
use crate::protocol::PluginError;

pub struct UpdateTicket;

const NAME: &str = "update_ticket";

#[derive(Debug, Deserialize)]
pub struct Input {
    pub ticket_id: i64,
    pub summary: Option<String>,
    pub details: Option<String>,
    pub status_id: Option<i64>,
    pub priority_id: Option<i64>,
    pub agent_id: Option<i64>,
    #[serde(default)]
    pub customfields: Vec<Value>,
    /// CMDB assets to link, beside those the ticket links already.
    #[serde(default)]
    pub asset_ids: Vec<i64>,
}

#[derive(Debug, Serialize)]
pub struct Output {
    pub ticket: Ticket,
    pub success: bool,
}

impl Action for UpdateTicket {
    const NAME: &'static str = NAME;
    type Input = Input;
    type Output = Output;

    async fn run(ctx: ActionContext, input: Input) -> Result<Output, PluginError> {
        let id = positive(NAME, "ticket_id", input.ticket_id)?;
        let opt = |field: &str, v: Option<i64>| positive_opt(NAME, field, v).map(|v| v.map(Value::from));
        let fields = custom_fields(NAME, &input.customfields)?;
        let record = object([
            ("summary", input.summary.map(Value::from)),
            ("details", input.details.as_deref().map(|d| Value::from(crate::halo::markup::text_to_html(d)))),
            ("status_id", opt("status_id", input.status_id)?),
            ("priority_id", opt("priority_id", input.priority_id)?),
            // 0 unassigns in HaloITSM; anything else must be an agent ID.
            (
                "agent_id",
                input.agent_id.map(|a| if a == 0 { Ok(json!(0)) } else { positive(NAME, "agent_id", a).map(Value::from) }).transpose()?,
            ),
            ("customfields", (!fields.is_empty()).then(|| Value::Array(fields))),
        ]);
        let lock = (!input.asset_ids.is_empty()).then(|| super::assets::links_lock(&ctx, id));
        let _held = match &lock {
            Some(l) => Some(l.lock().await),
            None => None,
        };
        let current = ctx.require_ticket(NAME, id).await?;
        let mut record = record;
        let assets = super::assets::checked_assets(&ctx, NAME, &input.asset_ids).await?;
        let before = if assets.is_empty() { Vec::new() } else { super::assets::links_of(&ctx, id, &current).await? };
        // Only assets not linked yet cause a write.
        let added: Vec<i64> = assets.iter().copied().filter(|a| !before.contains(a)).collect();
        if !added.is_empty() {
            record.insert("assets".into(), super::assets::merged(&before, &added));
        }
        if record.is_empty() {
            tracing::info!("Nothing to change on ticket {id}: no field was given");
            return Ok(Output { ticket: ctx.ticket(&current).await, success: true });
        }
        let saved = ctx.client.update_ticket(id, record).await?;
        let saved = if added.is_empty() {
            saved
        } else {
            // Asset links are checked on a full read (X4's write shape is unconfirmed).
            super::assets::confirm_linked(&ctx, NAME, id, &before, &added).await?.0
        };
        // A priority the ticket type's SLA lacks is replaced silently (docs/halo-api.md#P3).
        ctx.client.check_priority_kept(&saved, input.priority_id).await?;
        tracing::info!("Updated ticket {id}: {}", changed_keys(&saved, &current).join(", "));
        Ok(Output { ticket: ctx.ticket(&saved).await, success: true })
    }
}

/// Which of the plugin's ticket fields differ between two records (for the step log).
fn changed_keys(after: &Value, before: &Value) -> Vec<&'static str> {
    ["summary", "details", "status_id", "priority_id", "agent_id", "customfields"]
        .into_iter()
        .filter(|k| after.get(k).is_some() && after.get(k) != before.get(k))
        .collect()
}
