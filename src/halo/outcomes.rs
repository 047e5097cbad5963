//! The outcome each action is recorded with. Outcomes are the tenant's own: the private note is
//! "Private Note" on some tenants, the built-in "Internal Note" (ID 7) on others, and the API
//! application's agent may not be allowed to use one (docs/halo-api.md#A13). An action is sent
//! with the usual name first, which costs nothing where the tenant has it; when HaloITSM refuses
//! the outcome, the tenant's outcomes are read (once per connection, cached) and the action is
//! sent once more with the outcome that serves the same purpose, by name and ID. That choice is
//! kept for the connection's later actions. A refusal that no other outcome mends is reported
//! naming the outcome.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::ticket::{int, string};
use super::{HaloClient, HaloError};

/// What an action's outcome is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// A note agents see and end users do not.
    PrivateNote,
    /// A note the end user may see.
    PublicNote,
    /// Closing the ticket (the action sets the closed status itself).
    Close,
    /// Assigning an agent or team.
    Assign,
    /// An outcome a user chose by name (or an edited note kept, with its ID): no other is taken
    /// in its place.
    Named(String, Option<i64>),
}

impl Purpose {
    /// The names that serve this purpose, the usual one first.
    fn names(&self) -> Vec<String> {
        let names: &[&str] = match self {
            Purpose::PrivateNote => &["Private Note", "Internal Note"],
            Purpose::PublicNote => &["Note", "Public Note", "Add Note"],
            Purpose::Close => &["Closed", "Close", "Resolved", "Resolve"],
            Purpose::Assign => &["Assigned", "Reassigned", "Reassign", "Assign"],
            Purpose::Named(n, _) => return vec![n.trim().to_string()],
        };
        names.iter().map(|n| n.to_string()).collect()
    }

    /// What to fall back to when the tenant has none of this purpose's names.
    fn fallback(&self) -> Option<Purpose> {
        match self {
            Purpose::Close => Some(Purpose::PublicNote),
            Purpose::Assign => Some(Purpose::PrivateNote),
            _ => None,
        }
    }
}

/// An outcome as an action names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pick {
    pub name: String,
    pub id: Option<i64>,
}

impl Pick {
    fn usual(purpose: &Purpose) -> Pick {
        let id = if let Purpose::Named(_, id) = purpose { *id } else { None };
        Pick { name: purpose.names().swap_remove(0), id }
    }

    /// `"Internal Note" (ID 7)`, for messages.
    pub fn describe(&self) -> String {
        match self.id {
            Some(id) => format!("\"{}\" (ID {id})", self.name),
            None => format!("\"{}\"", self.name),
        }
    }
}

/// The tenant's outcomes and the choices made from them, per connection.
#[derive(Default)]
pub struct OutcomeCache {
    list: tokio::sync::Mutex<Option<Arc<Vec<Value>>>>,
    picks: std::sync::Mutex<HashMap<Purpose, Pick>>,
}

/// Whether a refusal (400, or 403: the status is not public) is about the action's outcome, and
/// whether the agent may not use it: Some(true) for a denial, Some(false) for an outcome the
/// tenant does not know or misses (the messages HaloITSM is seen to give, A13).
fn refusal(e: &HaloError) -> Option<(bool, String)> {
    match e {
        HaloError::Validation { message, .. } => outcome_refused(message).map(|d| (d, message.clone())),
        HaloError::Forbidden { message, .. } => outcome_refused(message).filter(|d| *d).map(|d| (d, message.clone())),
        _ => None,
    }
}

fn outcome_refused(message: &str) -> Option<bool> {
    let m = message.to_ascii_lowercase();
    if m.contains("do not have access to this action") {
        return Some(true);
    }
    m.contains("outcome").then_some(false)
}

impl HaloClient {
    /// POST one action (`ticket_id`, note and the rest already in `action`) recorded with the
    /// outcome that serves `purpose` on this tenant; the saved action.
    pub async fn post_action(&self, purpose: Purpose, mut action: Value) -> Result<Value, HaloError> {
        super::markup::with_note_html(&mut action);
        let mut pick =
            self.outcomes.picks.lock().unwrap_or_else(|p| p.into_inner()).get(&purpose).cloned().unwrap_or_else(|| Pick::usual(&purpose));
        let mut tried: Vec<Pick> = Vec::new();
        loop {
            set_outcome(&mut action, &pick);
            let (denied, message) = match self.post_one("Actions", action.clone()).await {
                Err(e) => match refusal(&e) {
                    Some(r) => r,
                    None => return Err(e),
                },
                Ok(saved) => {
                    self.remember_pick(&purpose, &pick, &tried);
                    return Ok(saved);
                }
            };
            // An outcome the agent may not use is named, never swapped for another.
            tried.push(pick.clone());
            let next = if denied { None } else { self.outcome_for(&purpose, &tried).await? };
            match next {
                Some(next) if tried.len() < 4 => pick = next,
                _ => return Err(HaloError::OutcomeRefused { outcome: pick.describe(), denied, message }),
            }
        }
    }

    /// POST many actions with the outcome that serves `purpose`, in one request where the tenant
    /// takes arrays (`batch`). Each action's result, in order: the saved action; Ok(None) when
    /// HaloITSM's answer does not account for it (it may or may not be saved: the caller looks
    /// before sending it again); an error. A batch refused for its outcome is sent again whole
    /// with the tenant's own outcome for the purpose, as `post_action` does for one.
    pub async fn post_actions(&self, purpose: Purpose, mut actions: Vec<Value>) -> Vec<Result<Option<Value>, HaloError>> {
        actions.iter_mut().for_each(super::markup::with_note_html);
        let mut pick =
            self.outcomes.picks.lock().unwrap_or_else(|p| p.into_inner()).get(&purpose).cloned().unwrap_or_else(|| Pick::usual(&purpose));
        let mut tried: Vec<Pick> = Vec::new();
        loop {
            for a in &mut actions {
                set_outcome(a, &pick);
            }
            let (denied, message) = match self.post_many_unless("Actions", actions.clone(), &|m| outcome_refused(m).is_some()).await {
                super::batch::Saved::Together(Err(e)) if refusal(&e).is_some() => refusal(&e).unwrap_or_default(),
                super::batch::Saved::Together(Ok(rows)) => {
                    self.remember_pick(&purpose, &pick, &tried);
                    return match_by_ticket(&actions, rows);
                }
                super::batch::Saved::Together(Err(e)) => return actions.iter().map(|_| Err(e.clone())).collect(),
                super::batch::Saved::Each(each) => {
                    self.remember_pick(&purpose, &pick, &tried);
                    return each.into_iter().map(|r| r.map(Some)).collect();
                }
            };
            tried.push(pick.clone());
            let next = if denied { Ok(None) } else { self.outcome_for(&purpose, &tried).await };
            match next {
                Ok(Some(next)) if tried.len() < 4 => pick = next,
                Ok(_) => {
                    let e = HaloError::OutcomeRefused { outcome: pick.describe(), denied, message };
                    return actions.iter().map(|_| Err(e.clone())).collect();
                }
                Err(e) => return actions.iter().map(|_| Err(e.clone())).collect(),
            }
        }
    }

    /// Keep the outcome that worked for `purpose`, when it was not the first tried.
    fn remember_pick(&self, purpose: &Purpose, pick: &Pick, tried: &[Pick]) {
        if !tried.is_empty() {
            tracing::info!("Actions are recorded with the outcome {} on this HaloITSM", pick.describe());
            self.outcomes.picks.lock().unwrap_or_else(|p| p.into_inner()).insert(purpose.clone(), pick.clone());
        }
    }

    /// The tenant's outcome that serves `purpose` and is not among `tried`, if it has one.
    async fn outcome_for(&self, purpose: &Purpose, tried: &[Pick]) -> Result<Option<Pick>, HaloError> {
        let list = self.outcome_list().await?;
        let visible = || list.iter().filter(|o| o.get("hidden").and_then(Value::as_bool) != Some(true));
        // A name tried without its ID may be tried with it (some tenants want the ID).
        let fresh = |p: &Pick| !tried.iter().any(|t| t.name.eq_ignore_ascii_case(&p.name) && t.id == p.id);
        let mut purpose = Some(purpose.clone());
        while let Some(p) = purpose {
            for name in p.names() {
                let found = visible()
                    .filter(|o| string(o, "outcome").is_some_and(|n| n.trim().eq_ignore_ascii_case(&name)))
                    .filter_map(|o| Some(Pick { name: string(o, "outcome")?.trim().to_string(), id: int(o, "id") }))
                    .find(|p| fresh(p));
                if found.is_some() {
                    return Ok(found);
                }
            }
            purpose = p.fallback();
        }
        Ok(None)
    }

    /// `GET /Outcome` (docs/halo-api.md#K6), read once per connection.
    async fn outcome_list(&self) -> Result<Arc<Vec<Value>>, HaloError> {
        let mut g = self.outcomes.list.lock().await;
        if let Some(list) = g.as_ref() {
            return Ok(list.clone());
        }
        let (rows, _) = self.list("Outcome", &[], "outcomes").await?;
        let list = Arc::new(rows);
        *g = Some(list.clone());
        Ok(list)
    }
}

/// The saved action of each sent one, matched by ticket (in order, where a ticket has several);
/// None where the answer has none.
fn match_by_ticket(sent: &[Value], mut rows: Vec<Value>) -> Vec<Result<Option<Value>, HaloError>> {
    sent.iter()
        .map(|a| {
            let ticket = int(a, "ticket_id");
            let i = rows.iter().position(|r| ticket.is_some() && int(r, "ticket_id") == ticket);
            Ok(i.map(|i| rows.remove(i)))
        })
        .collect()
}

fn set_outcome(action: &mut Value, pick: &Pick) {
    action["outcome"] = json!(pick.name);
    match pick.id {
        Some(id) => action["outcome_id"] = json!(id),
        None => {
            if let Some(o) = action.as_object_mut() {
                o.remove("outcome_id");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_about_outcomes_are_told_apart() {
        assert_eq!(outcome_refused("You do not have access to this Action at the moment"), Some(true));
        assert_eq!(outcome_refused("An Outcome must be entered for this Action"), Some(false));
        assert_eq!(outcome_refused("Invalid agent_id 7"), None);
        assert_eq!(Pick { name: "Internal Note".into(), id: Some(7) }.describe(), "\"Internal Note\" (ID 7)");
        assert_eq!(Pick::usual(&Purpose::PrivateNote).name, "Private Note");
        assert_eq!(Purpose::Named(" Triage ".into(), None).names(), vec!["Triage".to_string()]);
        assert_eq!(Pick::usual(&Purpose::Named("Note".into(), Some(1))).id, Some(1));
        let denied = HaloError::Forbidden { what: "x".into(), message: "You do not have access to this Action at the moment".into() };
        assert_eq!(refusal(&denied).map(|r| r.0), Some(true));
        assert!(refusal(&HaloError::Forbidden { what: "x".into(), message: "no".into() }).is_none());
    }
}
