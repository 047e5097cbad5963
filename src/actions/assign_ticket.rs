use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::common::{invalid_input, object, positive_opt};
use super::{Action, ActionContext};
use crate::halo::outcomes::Purpose;
use crate::halo::tenant::TeamInfo;
use crate::halo::ticket::{Ticket, int, string};
use crate::protocol::PluginError;

pub struct AssignTicket;

const NAME: &str = "assign_ticket";

#[derive(Debug, Deserialize)]
pub struct Input {
    pub ticket_id: i64,
    pub agent_id: Option<i64>,
    pub team_id: Option<i64>,
    pub team_name: Option<String>,
    pub notify: bool,
}

#[derive(Debug, Serialize)]
pub struct Output {
    pub ticket: Ticket,
    pub success: bool,
}

fn nothing_changed(cause: String, assistance: &str) -> PluginError {
    PluginError::client(cause, format!("{assistance} Nothing was changed."))
}

/// The team to assign, by ID or by name (both must then name the same team); it must exist and be
/// active.
async fn team_of(ctx: &ActionContext, id: Option<i64>, name: Option<&str>) -> Result<Option<TeamInfo>, PluginError> {
    let by_id = match id {
        Some(id) => Some(
            ctx.client
                .team(id)
                .await?
                .ok_or_else(|| nothing_changed(format!("Team {id} does not exist in HaloITSM."), "List Teams shows valid team IDs."))?,
        ),
        None => None,
    };
    let by_name = match name {
        Some(name) => {
            let find = |teams: &[TeamInfo]| teams.iter().find(|t| t.name.trim().eq_ignore_ascii_case(name.trim())).cloned();
            let teams = ctx.client.teams(false).await?;
            Some(match find(&teams) {
                Some(t) => t,
                None => find(&ctx.client.teams(true).await?).ok_or_else(|| {
                    nothing_changed(format!("HaloITSM has no team named `{name}`."), "List Teams shows the teams' names.")
                })?,
            })
        }
        None => None,
    };
    let team = match (by_id, by_name) {
        (Some(a), Some(b)) if a.id != b.id => {
            return Err(invalid_input(
                NAME,
                format_args!("`team_id` {} is team `{}`, but `team_name` names team {} (`{}`)", a.id, a.name, b.id, b.name),
                "Give the team once, by ID or by name. Nothing was changed.",
            ));
        }
        (a, b) => match a.or(b) {
            Some(t) => t,
            None => return Ok(None),
        },
    };
    if team.inactive {
        return Err(nothing_changed(
            format!("Team {} ({}) is inactive in HaloITSM.", team.id, team.name),
            "Assign the ticket to an active team.",
        ));
    }
    Ok(Some(team))
}

impl Action for AssignTicket {
    const NAME: &'static str = NAME;
    type Input = Input;
    type Output = Output;

    async fn run(ctx: ActionContext, input: Input) -> Result<Output, PluginError> {
        let agent = positive_opt(NAME, "agent_id", input.agent_id)?;
        let team_id = positive_opt(NAME, "team_id", input.team_id)?;
        let team_name = input.team_name.as_deref().map(str::trim).filter(|n| !n.is_empty());
        if agent.is_none() && team_id.is_none() && team_name.is_none() {
            return Err(invalid_input(
                NAME,
                "give `agent_id`, a team (`team_id` or `team_name`), or both",
                "List Agents and List Teams show the IDs. Nothing was changed.",
            ));
        }
        let id = input.ticket_id;
        ctx.require_ticket(NAME, id).await?;
        let mut who = Vec::new();
        let mut email_to = None;
        if let Some(a) = agent {
            let raw = ctx.client.get_optional(&format!("Agent/{a}"), &[]).await?;
            let Some(raw) = raw else {
                return Err(nothing_changed(format!("Agent {a} does not exist in HaloITSM."), "List Agents shows valid agent IDs."));
            };
            if raw.get("isdisabled").and_then(Value::as_bool) == Some(true) {
                return Err(nothing_changed(format!("Agent {a} is disabled in HaloITSM."), "Assign the ticket to an active agent."));
            }
            who.push(format!("agent {}", string(&raw, "name").unwrap_or_else(|| a.to_string())));
            email_to = string(&raw, "email");
            if input.notify && email_to.is_none() {
                tracing::warn!("Agent {a} has no email address in HaloITSM; no notification is sent");
            }
        }
        let team = team_of(&ctx, team_id, team_name).await?;
        if let Some(t) = &team {
            who.push(format!("team {}", t.name));
        }
        let notify = input.notify && email_to.is_some();
        // `new_team` takes the team's name, not its ID (docs/halo-api.md#A6).
        let action = object([
            ("ticket_id", Some(json!(id))),
            ("note", Some(json!(format!("Assigned to {} from InsightConnect", who.join(" and "))))),
            ("hiddenfromuser", Some(json!(true))),
            ("new_agent", agent.map(Value::from)),
            ("new_team", team.as_ref().map(|t| Value::from(t.name.clone()))),
            ("sendemail", Some(json!(notify))),
            ("emailto", email_to.filter(|_| notify).map(Value::from)),
        ]);
        let saved = ctx.client.post_action(Purpose::Assign, Value::Object(action)).await?;
        let ticket = match ctx.client.get_ticket(id, true).await {
            Ok(Some(t)) => {
                if let Err(e) = check_assigned(id, &t, agent, team.as_ref()) {
                    // Someone (or a rule) may have changed the ticket again since: then the
                    // assignment was applied and superseded, which is not this step's failure.
                    if !changed_since(&ctx, id, int(&saved, "id")).await {
                        return Err(e);
                    }
                    tracing::warn!("Ticket {id} was changed again after this assignment; it now shows another agent or team");
                }
                ctx.ticket(&t).await
            }
            other => {
                if let Err(e) = other {
                    tracing::warn!("Ticket {id} was assigned but could not be read back to check it: {e}");
                }
                Ticket {
                    id: Some(id),
                    agent_id: agent,
                    team_id: team.as_ref().map(|t| t.id),
                    team_name: team.as_ref().map(|t| t.name.clone()),
                    url: Some(ctx.client.ticket_url(id)),
                    ..Ticket::default()
                }
            }
        };
        tracing::info!("Assigned ticket {id} to {}{}", who.join(" and "), if notify { " and notified the agent" } else { "" });
        Ok(Output { ticket, success: true })
    }
}

/// Whether the ticket's history has an entry newer than the action `ours`.
async fn changed_since(ctx: &ActionContext, id: i64, ours: Option<i64>) -> bool {
    let Some(ours) = ours else { return false };
    match ctx.client.history(id, &[]).await {
        Ok(rows) => rows.iter().filter_map(|a| int(a, "id")).any(|a| a > ours),
        Err(_) => false,
    }
}

/// The ticket read back shows the agent and team asked for; otherwise HaloITSM did not apply
/// the assignment and the step must not report success.
fn check_assigned(id: i64, t: &Value, agent: Option<i64>, team: Option<&TeamInfo>) -> Result<(), PluginError> {
    let mut wrong = Vec::new();
    if let Some(a) = agent
        && int(t, "agent_id") != Some(a)
    {
        wrong.push(format!("agent {} instead of {a}", int(t, "agent_id").unwrap_or_default()));
    }
    if let Some(team) = team {
        let by_name = string(t, "team").is_some_and(|n| n.trim().eq_ignore_ascii_case(team.name.trim()));
        let by_id = int(t, "team_id").filter(|i| *i > 0);
        if !(by_name || by_id == Some(team.id)) {
            let shown = string(t, "team").or(by_id.map(|i| i.to_string())).unwrap_or_else(|| "no team".into());
            wrong.push(format!("{shown} instead of team {}", team.name));
        }
    }
    if wrong.is_empty() {
        return Ok(());
    }
    Err(PluginError::plugin(
        crate::protocol::Preset::BadRequest,
        format!("HaloITSM did not assign ticket {id} as asked: it shows {}.", wrong.join(" and ")),
        "Check the ticket in HaloITSM: the agent may not be a member of the team, or a rule may have reassigned it.",
    ))
}
