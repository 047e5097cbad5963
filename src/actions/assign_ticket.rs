use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::common::{object, positive_opt};
use super::{Action, ActionContext};
use crate::halo::ticket::{Ticket, string};
use crate::protocol::PluginError;

pub struct AssignTicket;

const NAME: &str = "assign_ticket";

#[derive(Debug, Deserialize)]
pub struct Input {
    pub ticket_id: i64,
    pub agent_id: Option<i64>,
    pub team_id: Option<i64>,
    #[serde(default = "yes")]
    pub notify: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Serialize)]
pub struct Output {
    pub ticket: Ticket,
    pub success: bool,
}

impl Action for AssignTicket {
    const NAME: &'static str = NAME;
    type Input = Input;
    type Output = Output;

    async fn run(ctx: ActionContext, input: Input) -> Result<Output, PluginError> {
        let agent = positive_opt(NAME, "agent_id", input.agent_id)?;
        let team = positive_opt(NAME, "team_id", input.team_id)?;
        if agent.is_none() && team.is_none() {
            return Err(PluginError::client(
                "Invalid input for action `assign_ticket`: give `agent_id`, `team_id`, or both.",
                "List Agents and List Teams show the IDs. Nothing was changed.",
            ));
        }
        let id = input.ticket_id;
        ctx.require_ticket(NAME, id).await?;
        let mut who = Vec::new();
        let mut email_to = None;
        if let Some(a) = agent {
            let raw = ctx.client.get_optional(&format!("Agent/{a}"), &[]).await.map_err(|e| e.to_plugin_error())?;
            let Some(raw) = raw else {
                return Err(PluginError::client(
                    format!("Agent {a} does not exist in HaloITSM."),
                    "List Agents shows valid agent IDs. Nothing was changed.",
                ));
            };
            if raw.get("isdisabled").and_then(Value::as_bool) == Some(true) {
                return Err(PluginError::client(
                    format!("Agent {a} is disabled in HaloITSM."),
                    "Assign the ticket to an active agent. Nothing was changed.",
                ));
            }
            who.push(format!("agent {}", string(&raw, "name").unwrap_or_else(|| a.to_string())));
            email_to = string(&raw, "email");
            if input.notify && email_to.is_none() {
                tracing::warn!("Agent {a} has no email address in HaloITSM; no notification is sent");
            }
        }
        if let Some(t) = team {
            who.push(format!("team {t}"));
        }
        let notify = input.notify && email_to.is_some();
        let action = object([
            ("ticket_id", Some(json!(id))),
            ("outcome", Some(json!("Assigned"))),
            ("note", Some(json!(format!("Assigned to {} from InsightConnect", who.join(" and "))))),
            ("hiddenfromuser", Some(json!(true))),
            ("new_agent", agent.map(Value::from)),
            ("new_team", team.map(Value::from)),
            ("sendemail", Some(json!(notify))),
            ("emailto", email_to.filter(|_| notify).map(Value::from)),
        ]);
        ctx.client.post_one("Actions", Value::Object(action)).await.map_err(|e| e.to_plugin_error())?;
        tracing::info!("Assigned ticket {id} to {}{}", who.join(" and "), if notify { " and notified the agent" } else { "" });
        let ticket = match ctx.client.get_ticket(id, true).await {
            Ok(Some(t)) => ctx.ticket(&t),
            other => {
                if let Err(e) = other {
                    tracing::warn!("Ticket {id} was assigned but could not be read back: {e}");
                }
                Ticket { id: Some(id), agent_id: agent, team_id: team, url: Some(ctx.client.ticket_url(id)), ..Ticket::default() }
            }
        };
        Ok(Output { ticket, success: true })
    }
}
