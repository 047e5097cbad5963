//! The lookups workflow builders use to find IDs: statuses, ticket types, priorities, agents,
//! teams. HaloITSM may answer with a plain array or a `{record_count, <key>: [...]}` wrapper
//! (docs/halo-api.md#S1, G1, G7).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::positive_opt;
use super::{Action, ActionContext};
use crate::halo::tenant::Statuses;
use crate::halo::ticket::{int, string};
use crate::protocol::PluginError;

/// A boolean HaloITSM may give as `true` or `1`.
pub(super) fn flag(raw: &Value, key: &str) -> Option<bool> {
    match raw.get(key)? {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_i64().map(|i| i != 0),
        _ => None,
    }
}

async fn rows(ctx: &ActionContext, path: &str, query: &[(&str, String)], key: &str) -> Result<Vec<Value>, PluginError> {
    ctx.client.list(path, query, key).await.map(|(rows, _)| rows).map_err(PluginError::from)
}

// ----- statuses -------------------------------------------------------------------------------

#[derive(Debug, Serialize)]
pub struct Status {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed: Option<bool>,
}

pub struct ListStatuses;

#[derive(Debug, Deserialize)]
pub struct StatusInput {
    pub tickettype_id: Option<i64>,
    #[serde(default)]
    pub exclude_closed: bool,
}

#[derive(Debug, Serialize)]
pub struct StatusOutput {
    pub statuses: Vec<Status>,
    pub count: i64,
}

impl Action for ListStatuses {
    const NAME: &'static str = "list_statuses";
    type Input = StatusInput;
    type Output = StatusOutput;

    async fn run(ctx: ActionContext, input: StatusInput) -> Result<StatusOutput, PluginError> {
        let mut base = Vec::new();
        if let Some(t) = positive_opt(Self::NAME, "tickettype_id", input.tickettype_id)? {
            base.push(("tickettype_id", t.to_string()));
        }
        let mut open_q = base.clone();
        open_q.push(("excludeclosed", "true".to_string()));
        let open = rows(&ctx, "Status", &open_q, "statuses").await?;
        let all = rows(&ctx, "Status", &base, "statuses").await?;
        // Which statuses close a ticket is HaloITSM's own answer, where it gives one (never
        // from the undocumented `type`: docs/halo-api.md#S3, S7).
        let known = Statuses::from_lists(&all, &open);
        let statuses: Vec<Status> = all
            .iter()
            .filter(|s| !input.exclude_closed || known.closes(int(s, "id").unwrap_or_default()) != Some(true))
            .map(|s| {
                let id = int(s, "id");
                Status { id, name: string(s, "name"), kind: int(s, "type"), closed: id.and_then(|i| known.closes(i)) }
            })
            .collect();
        tracing::info!("{} status(es)", statuses.len());
        Ok(StatusOutput { count: statuses.len() as i64, statuses })
    }
}

// ----- ticket types ---------------------------------------------------------------------------

#[derive(Debug, Serialize)]
pub struct TicketType {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

pub struct ListTicketTypes;

#[derive(Debug, Deserialize)]
pub struct NoInput {}

#[derive(Debug, Serialize)]
pub struct TicketTypeOutput {
    pub ticket_types: Vec<TicketType>,
    pub count: i64,
}

impl Action for ListTicketTypes {
    const NAME: &'static str = "list_ticket_types";
    type Input = NoInput;
    type Output = TicketTypeOutput;

    async fn run(ctx: ActionContext, _: NoInput) -> Result<TicketTypeOutput, PluginError> {
        let types: Vec<TicketType> = rows(&ctx, "TicketType", &[], "tickettypes")
            .await?
            .iter()
            .map(|t| TicketType { id: int(t, "id"), name: string(t, "name") })
            .collect();
        Ok(TicketTypeOutput { count: types.len() as i64, ticket_types: types })
    }
}

// ----- priorities -----------------------------------------------------------------------------

#[derive(Debug, Serialize)]
pub struct Priority {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sla_id: Option<i64>,
}

pub struct ListPriorities;

#[derive(Debug, Serialize)]
pub struct PriorityOutput {
    pub priorities: Vec<Priority>,
    pub count: i64,
}

impl Action for ListPriorities {
    const NAME: &'static str = "list_priorities";
    type Input = NoInput;
    type Output = PriorityOutput;

    async fn run(ctx: ActionContext, _: NoInput) -> Result<PriorityOutput, PluginError> {
        let rows = rows(&ctx, "Priority", &[], "priorities").await?;
        let priorities = distinct_priorities(&rows);
        Ok(PriorityOutput { count: priorities.len() as i64, priorities })
    }
}

/// One priority per `priorityid`: HaloITSM answers one row per SLA and priority, each with a GUID
/// `id` (docs/halo-api.md#P1). The name is a visible row's, the SLA is given only when the
/// priority has one.
fn distinct_priorities(rows: &[Value]) -> Vec<Priority> {
    let mut out: Vec<(Priority, bool, usize)> = Vec::new();
    for p in rows {
        // A row without `priorityid` (an older build) numbers the priority in `id`; a row with
        // neither is listed as it is.
        let Some(id) = int(p, "priorityid").or_else(|| int(p, "id")) else {
            out.push((Priority { id: None, name: string(p, "name"), sla_id: int(p, "slaid") }, false, 1));
            continue;
        };
        let hidden = flag(p, "ishidden") == Some(true);
        match out.iter_mut().find(|(q, _, _)| q.id == Some(id)) {
            Some((q, q_hidden, slas)) => {
                *slas += 1;
                q.sla_id = None;
                if *q_hidden && !hidden {
                    q.name = string(p, "name");
                    *q_hidden = false;
                }
            }
            None => out.push((Priority { id: Some(id), name: string(p, "name"), sla_id: int(p, "slaid") }, hidden, 1)),
        }
    }
    out.into_iter().map(|(p, _, _)| p).collect()
}

// ----- agents -----------------------------------------------------------------------------------

#[derive(Debug, Serialize)]
pub struct Agent {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
}

pub struct ListAgents;

#[derive(Debug, Deserialize)]
pub struct AgentInput {
    #[serde(default)]
    pub include_disabled: bool,
}

#[derive(Debug, Serialize)]
pub struct AgentOutput {
    pub agents: Vec<Agent>,
    pub count: i64,
}

impl Action for ListAgents {
    const NAME: &'static str = "list_agents";
    type Input = AgentInput;
    type Output = AgentOutput;

    async fn run(ctx: ActionContext, input: AgentInput) -> Result<AgentOutput, PluginError> {
        // HaloITSM lists disabled agents only when asked (docs/halo-api.md#G3).
        let query: Vec<(&str, String)> = if input.include_disabled { vec![("includedisabled", "true".into())] } else { Vec::new() };
        let agents: Vec<Agent> = rows(&ctx, "Agent", &query, "agents")
            .await?
            .iter()
            .map(|a| Agent {
                id: int(a, "id"),
                name: string(a, "name"),
                email: string(a, "email"),
                team: string(a, "team"),
                disabled: flag(a, "isdisabled"),
            })
            .filter(|a| input.include_disabled || a.disabled != Some(true))
            .collect();
        Ok(AgentOutput { count: agents.len() as i64, agents })
    }
}

// ----- teams ------------------------------------------------------------------------------------

#[derive(Debug, Serialize)]
pub struct Team {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inactive: Option<bool>,
}

pub struct ListTeams;

#[derive(Debug, Deserialize)]
pub struct TeamInput {
    #[serde(default)]
    pub include_inactive: bool,
}

#[derive(Debug, Serialize)]
pub struct TeamOutput {
    pub teams: Vec<Team>,
    pub count: i64,
}

impl Action for ListTeams {
    const NAME: &'static str = "list_teams";
    type Input = TeamInput;
    type Output = TeamOutput;

    async fn run(ctx: ActionContext, input: TeamInput) -> Result<TeamOutput, PluginError> {
        // HaloITSM lists inactive teams only when asked (docs/halo-api.md#G6).
        let query: Vec<(&str, String)> = if input.include_inactive { vec![("includedisabled", "true".into())] } else { Vec::new() };
        let teams: Vec<Team> = rows(&ctx, "Team", &query, "teams")
            .await?
            .iter()
            .map(|t| Team { id: int(t, "id"), name: string(t, "name"), inactive: flag(t, "inactive") })
            .filter(|t| input.include_inactive || t.inactive != Some(true))
            .collect();
        Ok(TeamOutput { count: teams.len() as i64, teams })
    }
}
