use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::common::{
    Assignment, custom_fields, invalid_input, new_ticket_fields, object, positive, positive_opt, requester_home, ticket_type,
};
use super::{Action, ActionContext};
use crate::halo::ticket::{Ticket, int};
use crate::protocol::PluginError;

pub struct CreateTicket;

/// A new ticket's parent and asset links, checked on a full read (T13 and X4 are unverified):
/// what the create left out is sent once more as an update, and what is still missing fails.
async fn confirm_relations(ctx: &ActionContext, id: i64, parent: Option<i64>, assets: &[i64]) -> Result<Value, PluginError> {
    let read = ctx.require_ticket(NAME, id).await?;
    let parent_kept = match parent {
        Some(p) => super::related_tickets::has_parent(ctx, id, &read, p).await?,
        None => true,
    };
    let links = if assets.is_empty() { Vec::new() } else { super::assets::links_of(ctx, id, &read).await? };
    let missing: Vec<i64> = assets.iter().copied().filter(|a| !links.contains(a)).collect();
    if parent_kept && missing.is_empty() {
        return Ok(read);
    }
    let mut fields = Map::new();
    if let Some(p) = parent.filter(|_| !parent_kept) {
        fields.insert("parent_id".into(), json!(p));
    }
    if !missing.is_empty() {
        fields.insert("assets".into(), super::assets::merged(&links, &missing));
    }
    tracing::info!("HaloITSM left {} out of new ticket {id}; sending them again", fields.keys().cloned().collect::<Vec<_>>().join(" and "));
    ctx.client.update_ticket(id, fields).await?;
    let read = if missing.is_empty() {
        ctx.require_ticket(NAME, id).await?
    } else {
        super::assets::confirm_linked(ctx, NAME, id, &links, &missing).await?.0
    };
    match parent.filter(|_| !parent_kept) {
        Some(p) if !super::related_tickets::has_parent(ctx, id, &read, p).await? => Err(PluginError::plugin(
            crate::protocol::Preset::ServerError,
            format!("HaloITSM did not keep parent ticket {p} (input `parent_id`)."),
            "This HaloITSM may not let the API set a ticket's parent.",
        )),
        _ => Ok(read),
    }
}

/// An error after the ticket exists names it, so a rerun does not open a second one.
fn created_but(id: i64, e: PluginError) -> PluginError {
    PluginError {
        cause: format!("Ticket {id} was created, but the step could not finish: {}", e.cause),
        assistance: format!(
            "Do not run the step again (it would open a second ticket): finish on ticket {id} with Link Tickets or Link Assets, or in HaloITSM. {}",
            e.assistance
        ),
        ..e
    }
}

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
    /// The requester by email, instead of `user_id`.
    pub requester_email: Option<String>,
    /// The new ticket is a child of this one.
    pub parent_id: Option<i64>,
    /// CMDB assets the new ticket links.
    #[serde(default)]
    pub asset_ids: Vec<i64>,
    #[serde(default)]
    pub customfields: Vec<Value>,
    /// HaloITSM's request source (docs/halo-api.md#T17): sent only when given; 0 (Email) and
    /// negative IDs (built-in integrations) are valid.
    pub source: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct Output {
    pub ticket: Ticket,
    pub success: bool,
}

/// The user with this email (docs/halo-api.md#K2, the row as HaloITSM lists it), or a clear
/// error naming it.
async fn requester(ctx: &ActionContext, email: &str) -> Result<Value, PluginError> {
    if !email.contains('@') {
        return Err(invalid_input(
            NAME,
            format_args!("input `requester_email` must be an email address, got {email:?}"),
            "Give the requester's whole address. Nothing was sent to HaloITSM.",
        ));
    }
    let found = ctx.client.search_people(crate::halo::people::People::Users, email, &[], false, 2).await?;
    let ids: Vec<i64> = found.iter().filter_map(|p| int(p, "id")).collect();
    match ids[..] {
        [_] => Ok(found.into_iter().next().unwrap_or_default()),
        [] => Err(PluginError::client(
            format!("No active HaloITSM user has the email address {email} (input `requester_email`)."),
            "Check the address with Search Users, or leave it out to use the connection's defaults. Nothing was sent to HaloITSM.",
        )),
        [a, b, ..] => Err(PluginError::client(
            format!(
                "More than one active HaloITSM user has the email address {email} (input `requester_email`): users {a} and {b} at least."
            ),
            "Give the requester's `user_id` instead (Search Users shows each). Nothing was sent to HaloITSM.",
        )),
    }
}

impl Action for CreateTicket {
    const NAME: &'static str = NAME;
    type Input = Input;
    type Output = Output;

    async fn run(ctx: ActionContext, input: Input) -> Result<Output, PluginError> {
        let cfg = ctx.client.config();
        let tickettype = ticket_type(
            NAME,
            input.tickettype_id,
            cfg.default_ticket_type_id,
            "Give `tickettype_id` (List Ticket Types shows the IDs), or set Default Ticket Type ID in the connection. Nothing was sent to HaloITSM.",
        )?;
        positive(NAME, "tickettype_id", tickettype)?;
        positive(NAME, "status_id", input.status_id)?;
        let fields = custom_fields(NAME, &input.customfields)?;
        let user = match (input.user_id, input.requester_email.as_deref().map(str::trim).filter(|e| !e.is_empty())) {
            (Some(_), Some(_)) => {
                return Err(invalid_input(
                    NAME,
                    "give `user_id` or `requester_email`, not both",
                    "Name the requester once. Nothing was sent to HaloITSM.",
                ));
            }
            (None, Some(email)) => {
                let row = requester(&ctx, email).await?;
                int(&row, "id").map(|id| (id, Some(row)))
            }
            (Some(id), None) => Some((positive(NAME, "user_id", id)?, None)),
            (None, None) => None,
        };
        let site = positive_opt(NAME, "site_id", input.site_id)?;
        let requester = requester_home(&ctx, user, site).await?;
        let parent = super::related_tickets::check_parent(&ctx, NAME, input.parent_id).await?;
        let assets = super::assets::checked_assets(&ctx, NAME, &input.asset_ids).await?;
        let assignment =
            Assignment { priority_id: input.priority_id, category_id: input.category_id, agent_id: input.agent_id, team_id: input.team_id };
        let mut record = object([
            ("summary", Some(json!(input.summary))),
            ("details", Some(json!(crate::halo::markup::text_to_html(&input.details)))),
            ("tickettype_id", Some(json!(tickettype))),
            ("status_id", Some(json!(input.status_id))),
        ]);
        record.extend(object(new_ticket_fields(NAME, cfg, assignment)?));
        record.extend(object([
            ("site_id", site.map(Value::from)),
            ("parent_id", parent.map(Value::from)),
            ("assets", (!assets.is_empty()).then(|| super::assets::merged(&[], &assets))),
            ("customfields", (!fields.is_empty()).then(|| Value::Array(fields))),
            ("source", input.source.map(Value::from)),
        ]));
        record.extend(requester);
        let saved = ctx.client.create_ticket(Value::Object(record)).await?;
        let Some(new_id) = int(&saved, "id").filter(|id| *id > 0) else {
            return Err(PluginError::internal(
                "HaloITSM answered the new ticket without an ID; check HaloITSM for the ticket before running the step again.",
            ));
        };
        tracing::info!("Created ticket {new_id}");
        let saved = if parent.is_some() || !assets.is_empty() {
            confirm_relations(&ctx, new_id, parent, &assets).await.map_err(|e| created_but(new_id, e))?
        } else {
            saved
        };
        // A priority the ticket type's SLA lacks is replaced silently (docs/halo-api.md#P3).
        let asked_priority = input.priority_id.or(cfg.default_priority_id);
        ctx.client.check_priority_kept(&saved, asked_priority).await.map_err(|e| created_but(new_id, e.into()))?;
        Ok(Output { ticket: ctx.ticket(&saved).await, success: true })
    }
}
