//! What several actions need, written once: input checks, the existence check that keeps an
//! update from becoming a create, custom fields, ticket output.

use std::fmt::Display;

use serde_json::{Map, Value, json};

use super::ActionContext;
use crate::halo::ticket::{Ticket, closed_flag, int, strip_nulls};
use crate::protocol::PluginError;

/// The error for an input a step cannot take, worded alike for every action: what is wrong
/// (`problem`, without its full stop) and what to do about it.
pub fn invalid_input(action: &str, problem: impl Display, assistance: impl Into<String>) -> PluginError {
    PluginError::client(format!("Invalid input for action `{action}`: {problem}."), assistance)
}

/// An input ID that must name a record: a positive integer.
pub fn positive(action: &str, field: &str, value: i64) -> Result<i64, PluginError> {
    if value > 0 {
        return Ok(value);
    }
    Err(invalid_input(
        action,
        format_args!("input `{field}` must be a positive ID, got {value}"),
        format!("Give the numeric HaloITSM ID in `{field}` (the list actions show valid IDs)."),
    ))
}

/// The ticket type of a new ticket: the one given, else the connection's Default Ticket Type ID
/// (`default`); without either the step fails, `assistance` saying what to set.
pub fn ticket_type(action: &str, given: Option<i64>, default: Option<i64>, assistance: &str) -> Result<i64, PluginError> {
    given
        .or(default)
        .ok_or_else(|| invalid_input(action, "no ticket type was given and the connection has no Default Ticket Type ID", assistance))
}

/// The agent this connection acts as, for a step that tells its own changes apart: a failure
/// that may pass fails the step (a retry's answer would differ), any other leaves it unknown,
/// `unknown_means` saying in the log what that costs.
pub async fn our_agent(ctx: &ActionContext, unknown_means: &str) -> Result<Option<i64>, PluginError> {
    match ctx.client.acting_agent().await {
        Ok(agent) => Ok(agent),
        Err(e) if e.is_transient() => Err(e.into()),
        Err(e) => {
            tracing::warn!("Could not read /Agent/me ({e}); {unknown_means}");
            Ok(None)
        }
    }
}

/// An optional ID input: absent stays absent, present must be positive.
pub fn positive_opt(action: &str, field: &str, value: Option<i64>) -> Result<Option<i64>, PluginError> {
    value.map(|v| positive(action, field, v)).transpose()
}

impl ActionContext {
    /// The raw ticket, or a clear 400 naming the ID when HaloITSM has no such ticket. Every
    /// action that changes a ticket calls this first: HaloITSM's POST is an upsert, so an update
    /// of a missing ticket would silently create a new one.
    pub async fn require_ticket(&self, action: &str, id: i64) -> Result<Value, PluginError> {
        positive(action, "ticket_id", id)?;
        match self.client.get_ticket(id, true).await? {
            Some(t) => Ok(t),
            None => Err(PluginError::client(
                format!("Ticket {id} does not exist in HaloITSM (action `{action}`)."),
                "Check the ticket ID: the ticket may have been deleted or merged. Nothing was changed.",
            )),
        }
    }

    /// The raw note (action) `comment_id` of ticket `ticket_id`, or a clear 400 naming both when
    /// HaloITSM has no such note on that ticket. Changing a note calls this first: a POST with an
    /// unknown action ID could add a new one (A2).
    pub async fn require_comment(&self, action: &str, ticket_id: i64, comment_id: i64) -> Result<Value, PluginError> {
        positive(action, "ticket_id", ticket_id)?;
        positive(action, "comment_id", comment_id)?;
        let found = self.client.get_optional(&format!("Actions/{comment_id}"), &[("ticket_id", ticket_id.to_string())]).await?;
        // Only a note that says it is this one, of this ticket, is taken: a tenant could answer
        // for the pair with another ticket's note, or with something else.
        let int = crate::halo::ticket::int;
        match found.filter(|a| int(a, "id") == Some(comment_id) && int(a, "ticket_id") == Some(ticket_id)) {
            Some(a) => Ok(a),
            None => Err(PluginError::client(
                format!("Ticket {ticket_id} has no note {comment_id} (input `comment_id`) in HaloITSM (action `{action}`)."),
                "List Comments shows the IDs of a ticket's notes. Nothing was changed.",
            )),
        }
    }

    /// `require_comment`, for a step that changes or deletes the entry: only a note (an entry with
    /// text that records no change to the ticket) may be; a system entry or a status, agent,
    /// team or priority change is the ticket's history (triggers read it) and is refused by what
    /// it is.
    pub async fn require_note(&self, action: &str, verb: &str, ticket_id: i64, comment_id: i64) -> Result<Value, PluginError> {
        let entry = self.require_comment(action, ticket_id, comment_id).await?;
        if let Some(kind) = not_a_note(&entry) {
            let outcome = crate::halo::ticket::string(&entry, "outcome")
                .map(|o| format!(" (outcome `{}`)", crate::protocol::one_line(&o)))
                .unwrap_or_default();
            return Err(PluginError::client(
                format!(
                    "Entry {comment_id} of ticket {ticket_id} (input `comment_id`) is {kind}{outcome}, not a note: only notes can be {verb} (action `{action}`)."
                ),
                "List Comments shows the ticket's notes (system entries only with include_system). Nothing was changed.",
            ));
        }
        Ok(entry)
    }

    /// A ticket as a full read shows it, as the plugin's `ticket` output; `closed` is known
    /// even when the read leaves HaloITSM's flag out (docs/halo-api.md#T11).
    pub async fn ticket(&self, raw: &Value) -> Ticket {
        let mut t = Ticket::from_halo(raw, |id| self.client.ticket_url(id));
        if closed_flag(raw).is_none() && t.status_id.is_some() {
            t.closed = Some(self.client.is_closed(raw).await);
        }
        t
    }
}

/// What a history entry is when it is not a plain note: HaloITSM's own (`who` is System), a
/// recorded change to the ticket, or an entry without text.
fn not_a_note(entry: &Value) -> Option<String> {
    let who = entry.get("who").and_then(Value::as_str).unwrap_or_default();
    if who.trim().eq_ignore_ascii_case("system") {
        return Some("a system entry".into());
    }
    let act = crate::ticket_events::plan::Act::of(entry)?;
    if let Some((old, new)) = act.transition() {
        return Some(format!("a status change (status {old} to {new})"));
    }
    for (changed, what) in [(act.agent, "an agent change"), (act.team, "a team change"), (act.priority, "a priority change")] {
        if changed {
            return Some(what.into());
        }
    }
    (!act.note).then(|| "an entry without a note".into())
}

/// Check custom field values (`[{id, value}]`, or `{name, value}`) and keep them as given, minus
/// nulls. Each needs a positive integer `id` or a non-empty `name`, and a `value` key.
pub fn custom_fields(action: &str, fields: &[Value]) -> Result<Vec<Value>, PluginError> {
    let bad = |i: usize, problem: &str| {
        invalid_input(
            action,
            format_args!("input `customfields[{i}]` {problem}"),
            "Give each custom field as an object with the field's numeric ID (or its name) and a value, for example {\"id\": 101, \"value\": \"abc\"}.",
        )
    };
    let mut out = Vec::with_capacity(fields.len());
    for (i, f) in fields.iter().enumerate() {
        let Some(obj) = f.as_object() else { return Err(bad(i, "must be an object")) };
        let id_ok = match obj.get("id") {
            None | Some(Value::Null) => false,
            Some(v) => match v.as_i64() {
                Some(id) if id > 0 => true,
                _ => return Err(bad(i, "has an `id` that is not a positive integer")),
            },
        };
        let name_ok = obj.get("name").and_then(Value::as_str).is_some_and(|n| !n.trim().is_empty());
        if !id_ok && !name_ok {
            return Err(bad(i, "needs an `id` (or a `name`)"));
        }
        if !obj.contains_key("value") {
            return Err(bad(i, "needs a `value`"));
        }
        out.push(strip_nulls(f));
    }
    Ok(out)
}

/// A JSON object from optional fields, leaving out the absent ones.
pub fn object(fields: impl IntoIterator<Item = (&'static str, Option<Value>)>) -> Map<String, Value> {
    fields.into_iter().filter_map(|(k, v)| v.map(|v| (k.to_string(), v))).collect()
}

/// Who and what a new ticket is assigned to, as a step gives it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Assignment {
    pub priority_id: Option<i64>,
    pub category_id: Option<i64>,
    pub agent_id: Option<i64>,
    pub team_id: Option<i64>,
}

/// The fields a new ticket takes from the step, else from the connection's defaults (priority,
/// category, agent, team), each a positive ID named by its input; absent where neither says.
pub fn new_ticket_fields(
    action: &str,
    cfg: &crate::halo::ConnectionConfig,
    given: Assignment,
) -> Result<[(&'static str, Option<Value>); 4], PluginError> {
    let id = |name: &str, v: Option<i64>| positive_opt(action, name, v).map(|v| v.map(Value::from));
    Ok([
        ("priority_id", id("priority_id", given.priority_id.or(cfg.default_priority_id))?),
        ("categoryid_1", id("category_id", given.category_id.or(cfg.default_category_id))?),
        ("agent_id", id("agent_id", given.agent_id.or(cfg.default_agent_id))?),
        ("team_id", id("team_id", given.team_id.or(cfg.default_team_id))?),
    ])
}

/// The requester and where it belongs: HaloITSM "requires both" a ticket's user and the user's
/// site, and takes integers only (docs/halo-api.md#T16; users' `site_id` reads as a double, K2).
/// A site the step gives wins; else the user's own site and client are sent.
pub(crate) async fn requester_home(
    ctx: &ActionContext,
    user: Option<(i64, Option<Value>)>,
    site: Option<i64>,
) -> Result<Map<String, Value>, PluginError> {
    let mut out = Map::new();
    let Some((user_id, row)) = user else { return Ok(out) };
    out.insert("user_id".into(), json!(user_id));
    if let Some(site) = site {
        out.insert("site_id".into(), json!(site));
        return Ok(out);
    }
    // A search's row may leave the site out: the user's own record says.
    let row = match row.filter(|r| int(r, "site_id").is_some_and(|s| s > 0)) {
        Some(r) => r,
        None => ctx.client.get_optional(&format!("Users/{user_id}"), &[]).await?.ok_or_else(|| {
            PluginError::client(
                format!("User {user_id} (input `user_id`) was not found in HaloITSM."),
                "Search Users shows the IDs of the requesters. Nothing was sent to HaloITSM.",
            )
        })?,
    };
    for key in ["site_id", "client_id"] {
        if let Some(v) = int(&row, key).filter(|v| *v > 0) {
            out.insert(key.into(), json!(v));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn custom_fields_need_an_id_or_name_and_a_value() {
        assert_eq!(
            custom_fields("a", &[json!({"id": 101, "value": "x", "display": null})]).unwrap(),
            vec![json!({"id": 101, "value": "x"})]
        );
        assert!(custom_fields("a", &[json!({"name": "CFRef", "value": 1})]).is_ok());
        let e = custom_fields("a", &[json!({"id": 101, "value": 1}), json!({"value": 1})]).unwrap_err();
        assert!(e.cause.contains("`customfields[1]` needs an `id`"), "{}", e.cause);
        assert!(custom_fields("a", &[json!({"id": "101", "value": 1})]).unwrap_err().cause.contains("not a positive integer"));
        assert!(custom_fields("a", &[json!({"id": 5})]).unwrap_err().cause.contains("needs a `value`"));
        assert!(custom_fields("a", &[json!(5)]).unwrap_err().cause.contains("must be an object"));
    }

    #[test]
    fn object_leaves_out_absent_fields() {
        assert_eq!(Value::Object(object([("a", Some(json!(1))), ("b", None)])), json!({"a": 1}));
    }

    #[test]
    fn ids_must_be_positive() {
        assert!(positive("a", "ticket_id", 0).unwrap_err().cause.contains("`ticket_id` must be a positive ID, got 0"));
        assert_eq!(positive_opt("a", "agent_id", None).unwrap(), None);
    }
}
