//! Related tickets through HaloITSM's parent and child fields (docs/halo-api.md#T13):
//! `list_child_tickets` (`GET /Tickets?parent_id=`, open and closed), `link_tickets` (a ticket
//! becomes a child of another) and `unlink_ticket` (it stands alone again). Whether HaloITSM keeps
//! a `parent_id` it is sent is unverified, so every change is read back and checked, through the
//! parent's children when a read leaves `parent_id` out.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::common::{invalid_input, positive};
use super::{Action, ActionContext};
use crate::halo::ticket::{Ticket, int};
use crate::protocol::PluginError;

/// How far up a chain of parents a link is checked for a loop.
const MAX_DEPTH: usize = 20;

#[derive(Debug, Deserialize)]
pub struct ChildrenInput {
    pub ticket_id: i64,
    pub max_results: i64,
}

#[derive(Debug, Serialize)]
pub struct ChildrenOutput {
    pub tickets: Vec<Ticket>,
    pub count: i64,
}

pub struct ListChildTickets;

impl Action for ListChildTickets {
    const NAME: &'static str = "list_child_tickets";
    type Input = ChildrenInput;
    type Output = ChildrenOutput;

    async fn run(ctx: ActionContext, input: ChildrenInput) -> Result<ChildrenOutput, PluginError> {
        if !(1..=super::search_tickets::MAX_RESULTS).contains(&input.max_results) {
            return Err(invalid_input(
                Self::NAME,
                format_args!("input `max_results` must be between 1 and 10000, got {}", input.max_results),
                "Give how many child tickets the step may return.",
            ));
        }
        let parent = ctx.require_ticket(Self::NAME, input.ticket_id).await?;
        let q = [("parent_id", input.ticket_id.to_string()), ("order", "id".to_string()), ("orderdesc", "true".to_string())];
        let mut rows = ctx.client.tickets_open_and_closed(&q, input.max_results as usize).await?.rows;
        // A tenant that ignored the filter would list everyone. Rows naming this parent are
        // taken; rows leaving the field out (thin rows, L3) only when the parent's own record
        // lists them as children, or trusting the filter when it does not say.
        let children = child_ids(&parent);
        rows.retain(|r| match int(&r.row, "parent_id") {
            Some(p) => p == input.ticket_id,
            None => children.as_ref().is_none_or(|c| int(&r.row, "id").is_some_and(|id| c.contains(&id))),
        });
        rows.sort_by_key(|r| std::cmp::Reverse(int(&r.row, "id").unwrap_or_default()));
        let tickets: Vec<Ticket> = rows
            .iter()
            .take(input.max_results as usize)
            .map(|r| Ticket { closed: Some(r.state.closed()), ..Ticket::from_halo(&r.row, |id| ctx.client.ticket_url(id)) })
            .collect();
        Ok(ChildrenOutput { count: tickets.len() as i64, tickets })
    }
}

#[derive(Debug, Deserialize)]
pub struct LinkInput {
    pub ticket_id: i64,
    pub parent_id: i64,
}

#[derive(Debug, Serialize)]
pub struct LinkOutput {
    pub success: bool,
    pub ticket: Ticket,
}

/// The children a ticket's full record lists in `child_ticket_ids` (an array, or IDs separated by
/// commas), or None when the record leaves the field out (T13).
fn child_ids(raw: &Value) -> Option<Vec<i64>> {
    match raw.get("child_ticket_ids")? {
        Value::Array(a) => Some(a.iter().filter_map(|v| v.as_i64().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))).collect()),
        Value::String(s) => Some(s.split(',').filter_map(|x| x.trim().parse().ok()).collect()),
        _ => None,
    }
}

/// Whether ticket `id` (`raw`, a full read) has `parent` as its parent. A read that leaves
/// `parent_id` out (a captured create answer does, T13) is checked against the parent's
/// children instead: its `child_ticket_ids`, else `GET /Tickets?parent_id=`.
pub async fn has_parent(ctx: &ActionContext, id: i64, raw: &Value, parent: i64) -> Result<bool, PluginError> {
    if let Some(p) = int(raw, "parent_id") {
        return Ok(p == parent);
    }
    if let Some(children) = ctx.client.get_ticket(parent, true).await?.as_ref().and_then(child_ids) {
        return Ok(children.contains(&id));
    }
    let q = [("parent_id", parent.to_string())];
    let rows = ctx.client.tickets_open_and_closed(&q, super::search_tickets::MAX_RESULTS as usize).await?.rows;
    Ok(rows.iter().any(|r| int(&r.row, "id") == Some(id) && int(&r.row, "parent_id").is_none_or(|p| p == parent)))
}

/// Set the ticket's parent (0: none) and check HaloITSM kept it. Taking a parent away cannot be
/// checked when reads leave `parent_id` out; it is then taken as done.
async fn set_parent(ctx: &ActionContext, action: &str, id: i64, parent: i64) -> Result<LinkOutput, PluginError> {
    let mut fields = Map::new();
    fields.insert("parent_id".into(), json!(parent));
    ctx.client.update_ticket(id, fields).await?;
    let raw = ctx.require_ticket(action, id).await?;
    let kept = match int(&raw, "parent_id") {
        Some(p) => p.max(0) == parent,
        None if parent > 0 => has_parent(ctx, id, &raw, parent).await?,
        None => true,
    };
    if !kept {
        let shows =
            int(&raw, "parent_id").map_or_else(|| format!("ticket {parent} does not list it as a child"), |p| format!("it now shows {p}"));
        return Err(PluginError::plugin(
            crate::protocol::Preset::ServerError,
            format!("HaloITSM did not keep the parent of ticket {id}: it was sent parent_id {parent}, and {shows}."),
            "This HaloITSM may not let the API change a ticket's parent; link the tickets in HaloITSM instead.",
        ));
    }
    Ok(LinkOutput { success: true, ticket: ctx.ticket(&raw).await })
}

pub struct LinkTickets;

impl Action for LinkTickets {
    const NAME: &'static str = "link_tickets";
    type Input = LinkInput;
    type Output = LinkOutput;

    async fn run(ctx: ActionContext, input: LinkInput) -> Result<LinkOutput, PluginError> {
        let (id, parent) = (input.ticket_id, positive(Self::NAME, "parent_id", input.parent_id)?);
        if id == parent {
            return Err(invalid_input(
                Self::NAME,
                format_args!("inputs `ticket_id` and `parent_id` are both {id}; a ticket cannot be its own parent"),
                "Give the ticket to link and a different parent ticket. Nothing was changed.",
            ));
        }
        ctx.require_ticket(Self::NAME, id).await?;
        // The parent must exist and must not be below the ticket: that would make a loop.
        let mut above = ctx.require_ticket(Self::NAME, parent).await?;
        for _ in 0..MAX_DEPTH {
            match int(&above, "parent_id").filter(|p| *p > 0) {
                Some(p) if p == id => {
                    return Err(invalid_input(
                        Self::NAME,
                        format_args!("input `parent_id` ({parent}) is below ticket {id} (input `ticket_id`), so it cannot be its parent"),
                        format!("Unlink ticket {parent} first, or pick another parent. Nothing was changed."),
                    ));
                }
                Some(p) => match ctx.client.get_ticket(p, false).await? {
                    Some(t) => above = t,
                    None => break,
                },
                None => break,
            }
        }
        set_parent(&ctx, Self::NAME, id, parent).await
    }
}

#[derive(Debug, Deserialize)]
pub struct UnlinkInput {
    pub ticket_id: i64,
}

pub struct UnlinkTicket;

impl Action for UnlinkTicket {
    const NAME: &'static str = "unlink_ticket";
    type Input = UnlinkInput;
    type Output = LinkOutput;

    async fn run(ctx: ActionContext, input: UnlinkInput) -> Result<LinkOutput, PluginError> {
        let raw = ctx.require_ticket(Self::NAME, input.ticket_id).await?;
        // A read that leaves `parent_id` out says nothing: the parent is taken away anyway.
        if int(&raw, "parent_id").is_some_and(|p| p <= 0) {
            // Nothing to undo: no write.
            return Ok(LinkOutput { success: true, ticket: ctx.ticket(&raw).await });
        }
        set_parent(&ctx, Self::NAME, input.ticket_id, 0).await
    }
}

/// The check on a new ticket's parent: it must exist (HaloITSM would refuse, or worse, ignore it).
pub async fn check_parent(ctx: &ActionContext, action: &str, parent: Option<i64>) -> Result<Option<i64>, PluginError> {
    match parent {
        None => Ok(None),
        Some(p) => {
            positive(action, "parent_id", p)?;
            match ctx.client.get_ticket(p, false).await? {
                Some(_) => Ok(Some(p)),
                None => Err(invalid_input(
                    action,
                    format_args!("input `parent_id` names ticket {p}, which does not exist in HaloITSM"),
                    "Give the ID of an existing ticket as the parent. Nothing was sent to HaloITSM.",
                )),
            }
        }
    }
}
