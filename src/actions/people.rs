//! `get_user` and `get_agent`: one record by ID, as HaloITSM returns it (nulls dropped, with an
//! `email` field whichever name HaloITSM uses for it).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::common::positive;
use super::{Action, ActionContext};
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
