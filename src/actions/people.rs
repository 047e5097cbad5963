//! `get_user` and `get_agent`: one record by ID, and `search_users` and `search_agents`: by name
//! or email (`crate::halo::people`); records as HaloITSM returns them (nulls dropped, with an
//! `email` field whichever name HaloITSM uses for it).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::common::{invalid_input, positive};
use super::{Action, ActionContext};
use crate::halo::people::People;
use crate::halo::ticket::strip_nulls;
use crate::protocol::PluginError;

/// A person record for output: nulls dropped, `email` filled from `emailaddress` when needed.
fn person(raw: &Value) -> Map<String, Value> {
    let mut out = match strip_nulls(raw) {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    if !out.contains_key("email") {
        if let Some(e) = out.get("emailaddress").cloned() {
            out.insert("email".into(), e);
        }
    }
    out
}

async fn fetch(
    ctx: &ActionContext,
    action: &str,
    field: &str,
    id: i64,
    path: &str,
    label: &str,
) -> Result<Option<Map<String, Value>>, PluginError> {
    positive(action, field, id)?;
    let raw = ctx.client.get_optional(&format!("{path}/{id}"), &[]).await?;
    match &raw {
        Some(_) => tracing::info!("Found {label} {id}"),
        None => tracing::info!("The {label} {id} does not exist in HaloITSM"),
    }
    Ok(raw.as_ref().map(person))
}

pub struct GetUser;

#[derive(Debug, Deserialize)]
pub struct UserInput {
    pub user_id: i64,
}

#[derive(Debug, Serialize)]
pub struct UserOutput {
    pub user: Map<String, Value>,
    pub success: bool,
}

impl Action for GetUser {
    const NAME: &'static str = "get_user";
    type Input = UserInput;
    type Output = UserOutput;

    async fn run(ctx: ActionContext, input: UserInput) -> Result<UserOutput, PluginError> {
        let user = fetch(&ctx, Self::NAME, "user_id", input.user_id, "Users", "user").await?;
        Ok(UserOutput { success: user.is_some(), user: user.unwrap_or_default() })
    }
}

pub struct GetAgent;

#[derive(Debug, Deserialize)]
pub struct AgentInput {
    pub agent_id: i64,
}

#[derive(Debug, Serialize)]
pub struct AgentOutput {
    pub agent: Map<String, Value>,
    pub success: bool,
}

impl Action for GetAgent {
    const NAME: &'static str = "get_agent";
    type Input = AgentInput;
    type Output = AgentOutput;

    async fn run(ctx: ActionContext, input: AgentInput) -> Result<AgentOutput, PluginError> {
        let agent = fetch(&ctx, Self::NAME, "agent_id", input.agent_id, "Agent", "agent").await?;
        Ok(AgentOutput { success: agent.is_some(), agent: agent.unwrap_or_default() })
    }
}

/// The most people a search returns.
const MAX_RESULTS: i64 = 1000;

fn search_input(action: &str, query: &str, max_results: i64) -> Result<(String, usize), PluginError> {
    let q = query.trim();
    if q.chars().count() < 2 {
        return Err(invalid_input(
            action,
            format_args!("input `query` must have at least 2 characters, got {q:?}"),
            "Give part of a name, or a whole email address (an address matches exactly).",
        ));
    }
    if !(1..=MAX_RESULTS).contains(&max_results) {
        return Err(invalid_input(
            action,
            format_args!("input `max_results` must be between 1 and {MAX_RESULTS}, got {max_results}"),
            "Give how many people the step may return.",
        ));
    }
    Ok((q.to_string(), max_results as usize))
}

#[derive(Debug, Deserialize)]
pub struct SearchInput {
    pub query: String,
    pub client_id: Option<i64>,
    #[serde(default)]
    pub include_inactive: bool,
    pub max_results: i64,
}

#[derive(Debug, Serialize)]
pub struct SearchUsersOutput {
    pub users: Vec<Map<String, Value>>,
    pub count: i64,
}

pub struct SearchUsers;

impl Action for SearchUsers {
    const NAME: &'static str = "search_users";
    type Input = SearchInput;
    type Output = SearchUsersOutput;

    async fn run(ctx: ActionContext, input: SearchInput) -> Result<SearchUsersOutput, PluginError> {
        let (query, limit) = search_input(Self::NAME, &input.query, input.max_results)?;
        let mut extra = Vec::new();
        if let Some(c) = super::common::positive_opt(Self::NAME, "client_id", input.client_id)? {
            extra.push(("client_id", c.to_string()));
        }
        let rows = ctx.client.search_people(People::Users, &query, &extra, input.include_inactive, limit).await?;
        let users: Vec<_> = rows.iter().map(person).collect();
        Ok(SearchUsersOutput { count: users.len() as i64, users })
    }
}

#[derive(Debug, Deserialize)]
pub struct SearchAgentsInput {
    pub query: String,
    #[serde(default)]
    pub include_inactive: bool,
    pub max_results: i64,
}

#[derive(Debug, Serialize)]
pub struct SearchAgentsOutput {
    pub agents: Vec<Map<String, Value>>,
    pub count: i64,
}

pub struct SearchAgents;

impl Action for SearchAgents {
    const NAME: &'static str = "search_agents";
    type Input = SearchAgentsInput;
    type Output = SearchAgentsOutput;

    async fn run(ctx: ActionContext, input: SearchAgentsInput) -> Result<SearchAgentsOutput, PluginError> {
        let (query, limit) = search_input(Self::NAME, &input.query, input.max_results)?;
        let rows = ctx.client.search_people(People::Agents, &query, &[], input.include_inactive, limit).await?;
        let agents: Vec<_> = rows.iter().map(person).collect();
        Ok(SearchAgentsOutput { count: agents.len() as i64, agents })
    }
}
