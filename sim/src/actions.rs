//! `/api/Actions`: notes, emails and status changes recorded against a ticket.
//!
//! `new_status`, `new_agent` and `new_priority` of 0 (or absent) mean "no change": Halo's action
//! model has them as plain integers defaulting to 0, so 0 cannot mean "unassign" [A6]. Unassign
//! with `POST /api/Tickets [{"id": N, "agent_id": 0}]` instead. `new_team` is a team name.

use chrono::NaiveDateTime;
use serde_json::{Map, Value, json};

use super::errors::ApiError;
use super::events::ChangeKind;
use super::state::{Actor, ChangeSummary, SYSTEM_WHO, Store, TicketChanges, apply_changes, get_i64};
use super::tickets::{element_id, sort_rows};
use super::util::{Params, html_to_text, json_bool, json_int, json_string, text_to_html};

/// Free-form action fields copied as given (after type checks).
const BOOL_FIELDS: &[&str] = &["hiddenfromuser", "sendemail", "important"];

enum Plan {
    Create { ticket_id: i64, action: Map<String, Value>, changes: Box<TicketChanges> },
    Update { ticket_id: i64, id: i64, action: Map<String, Value> },
}

/// The stored fields of an action as given in a request (note/note_html completed).
fn action_fields(o: &Map<String, Value>, i: usize) -> Result<Map<String, Value>, ApiError> {
    let bad = |f: &str| ApiError::element(i, f, "The value is not valid.");
    let mut a = Map::new();
    if let Some(v) = o.get("outcome") {
        if let Some(s) = json_string(v).map_err(|()| bad("outcome"))? {
            a.insert("outcome".into(), json!(s));
        }
    }
    for f in BOOL_FIELDS {
        if let Some(v) = o.get(*f)
            && let Some(b) = json_bool(v).map_err(|()| bad(f))?
        {
            a.insert((*f).into(), json!(b));
        }
    }
    if let Some(v) = o.get("outcome_id")
        && let Some(n) = json_int(v).map_err(|()| bad("outcome_id"))?
    {
        a.insert("outcome_id".into(), json!(n));
    }
    if let Some(v) = o.get("timetaken") {
        let n = match v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse::<f64>().ok(),
            Value::Null => Some(0.0),
            _ => None,
        }
        .filter(|n| n.is_finite() && *n >= 0.0)
        .ok_or_else(|| bad("timetaken"))?;
        a.insert("timetaken".into(), json!(n));
    }
    if let Some(v) = o.get("emailto")
        && let Some(s) = json_string(v).map_err(|()| bad("emailto"))?
    {
        a.insert("emailto".into(), json!(s));
    }
    let note = match o.get("note") {
        Some(v) => json_string(v).map_err(|()| bad("note"))?,
        None => None,
    };
    let html = match o.get("note_html") {
        Some(v) => json_string(v).map_err(|()| bad("note_html"))?,
        None => None,
    };
    match (note, html) {
        (Some(n), Some(h)) => {
            a.insert("note".into(), json!(n));
            a.insert("note_html".into(), json!(h));
        }
        (Some(n), None) => {
            a.insert("note_html".into(), json!(text_to_html(&n)));
            a.insert("note".into(), json!(n));
        }
        (None, Some(h)) => {
            a.insert("note".into(), json!(html_to_text(&h)));
            a.insert("note_html".into(), json!(h));
        }
        (None, None) => {}
    }
    Ok(a)
}

/// The outcome an action is recorded with, as a tenant with its own outcomes takes it: by
/// `outcome_id`, else by name, and refused when the tenant has no such outcome or the API agent
/// may not use it [A13].
fn tenant_outcome(store: &Store, action: &mut Map<String, Value>) -> Result<(), ApiError> {
    let live = &store.profile.live;
    let table = super::lookups::outcome_table(live);
    let by_id = action.get("outcome_id").and_then(Value::as_i64).filter(|id| *id > 0);
    let name = action.get("outcome").and_then(Value::as_str).map(|n| n.trim().to_lowercase()).unwrap_or_default();
    let found = match by_id {
        Some(id) => table.iter().find(|o| o.0 == id),
        None => table.iter().find(|o| o.1.to_lowercase() == name),
    };
    if let Some(o) = found
        && live.restricted_outcomes.contains(&o.0)
    {
        return Err(ApiError::bad_request("You do not have access to this Action at the moment"));
    }
    if !live.tenant_outcomes {
        return Ok(());
    }
    let Some(o) = found else { return Err(ApiError::bad_request("An Outcome must be entered for this Action")) };
    action.insert("outcome".into(), json!(o.1));
    action.insert("outcome_id".into(), json!(o.0));
    Ok(())
}

/// The ticket changes an action asks for (`new_*`), validated like a ticket update.
fn action_changes(store: &Store, o: &Map<String, Value>, i: usize) -> Result<TicketChanges, ApiError> {
    let lk = &store.lookups;
    let int = |f: &str| -> Result<Option<i64>, ApiError> {
        match o.get(f) {
            None => Ok(None),
            Some(v) => json_int(v).map(|n| n.filter(|&n| n != 0)).map_err(|()| ApiError::element(i, f, "The value is not valid.")),
        }
    };
    let mut ch = TicketChanges {
        status_id: int("new_status")?,
        agent_id: int("new_agent")?,
        priority_id: int("new_priority")?,
        ..TicketChanges::default()
    };
    if let Some(v) = ch.status_id
        && lk.status(v).is_none()
    {
        return Err(ApiError::invalid_value("new_status", v));
    }
    if let Some(v) = ch.agent_id
        && lk.agent(v).is_none_or(|a| a.disabled)
    {
        return Err(ApiError::invalid_value("new_agent", v));
    }
    if let Some(v) = ch.priority_id
        && lk.priority(v).is_none()
    {
        return Err(ApiError::invalid_value("new_priority", v));
    }
    // `new_team` is a string, the team's NAME [A6]: a number arrives as its digits (the JSON
    // binder turns it into text) and names no team. What Halo does with a name it does not know
    // is not documented; here the ticket is left on no team, the harshest plausible reading, so
    // a client must check the team it meant to set.
    ch.team_id = match o.get("new_team") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let name = match v {
                Value::String(s) => s.trim().to_string(),
                Value::Number(n) => n.to_string(),
                _ => return Err(ApiError::element(i, "new_team", "The value is not valid.")),
            };
            match name.as_str() {
                "" => None,
                _ => Some(lk.team_by_name(&name).filter(|t| !t.inactive).map_or(0, |t| t.id)),
            }
        }
    };
    Ok(ch)
}

/// `POST /api/Actions`. Validates every element first, then applies them in order.
pub(crate) fn post(store: &mut Store, objs: &[Map<String, Value>], actor: &Actor, now: NaiveDateTime) -> Result<Vec<Value>, ApiError> {
    let mut plans = Vec::with_capacity(objs.len());
    for (i, o) in objs.iter().enumerate() {
        let ticket_id = match o.get("ticket_id") {
            None => None,
            Some(v) => json_int(v).map_err(|()| ApiError::element(i, "ticket_id", "The value is not valid."))?,
        }
        .filter(|&t| t > 0)
        .ok_or_else(|| ApiError::element(i, "ticket_id", "Ticket ID is required"))?;
        let mut action = action_fields(o, i)?;
        let outcome_ok = action.get("outcome").and_then(Value::as_str).is_some_and(|s| !s.trim().is_empty())
            || (store.profile.live.tenant_outcomes && action.get("outcome_id").and_then(Value::as_i64).is_some_and(|id| id > 0));
        if !outcome_ok {
            return Err(ApiError::element(i, "outcome", "Outcome is required"));
        }
        tenant_outcome(store, &mut action)?;
        if !store.tickets.contains_key(&ticket_id) {
            return Err(ApiError::bad_request(format!("Ticket {ticket_id} not found")));
        }
        let existing = element_id(o, i)?.filter(|id| store.action_ticket.get(id) == Some(&ticket_id));
        plans.push(match existing {
            Some(id) => Plan::Update { ticket_id, id, action },
            None => Plan::Create { ticket_id, action, changes: Box::new(action_changes(store, o, i)?) },
        });
    }
    let mut out = Vec::with_capacity(plans.len());
    for plan in plans {
        match plan {
            Plan::Create { ticket_id, action, changes } => {
                if let Some(v) = create(store, ticket_id, action, &changes, actor, now) {
                    out.push(v);
                }
            }
            Plan::Update { ticket_id, id, action } => {
                if let Some(v) = update(store, ticket_id, id, action, actor) {
                    out.push(v);
                }
            }
        }
    }
    Ok(out)
}

fn create(
    store: &mut Store,
    ticket_id: i64,
    action: Map<String, Value>,
    changes: &TicketChanges,
    actor: &Actor,
    now: NaiveDateTime,
) -> Option<Value> {
    let t = store.tickets.get_mut(&ticket_id)?;
    // Applying (even no changes) bumps lastactiondate and last_update.
    let sum: ChangeSummary = apply_changes(&store.lookups, t, changes, now, false);
    let v = store.record_action(ticket_id, action, Some((&sum, actor)), now);
    let kind = if sum.status_changed() {
        ChangeKind::StatusChanged
    } else if sum.agent_changed() || sum.team_changed() || sum.priority_changed() {
        ChangeKind::Updated
    } else {
        ChangeKind::ActionAdded
    };
    store.queue_event(kind, ticket_id, Some(sum.old_status), Some(sum.new_status), actor, Some(v.clone()));
    Some(v)
}

/// An action posted with the id of an existing action edits its text and flags only.
fn update(store: &mut Store, ticket_id: i64, id: i64, action: Map<String, Value>, actor: &Actor) -> Option<Value> {
    let list = store.actions.get_mut(&ticket_id)?;
    let a = list.iter_mut().find(|a| get_i64(a, "id") == id)?;
    for (k, v) in action {
        a.insert(k, v);
    }
    let v = Value::Object(a.clone());
    let status = store.tickets.get(&ticket_id).map(|t| get_i64(t, "status_id"));
    store.queue_event(ChangeKind::Updated, ticket_id, status, status, actor, Some(v.clone()));
    Some(v)
}

fn required_ticket_id(q: &Params) -> Result<i64, ApiError> {
    q.int("ticket_id").map_err(|m| ApiError::field("ticket_id", m))?.ok_or_else(|| ApiError::field("ticket_id", "ticket_id is required"))
}

fn is_system(a: &Map<String, Value>) -> bool {
    a.get("who").and_then(Value::as_str) == Some(SYSTEM_WHO)
}

/// `GET /api/Actions?ticket_id=N`: oldest first (a live tenant: newest first, at most its cap
/// without `count`) unless `order`/`orderdesc` say otherwise. An unknown ticket gives an empty
/// list.
pub(crate) fn list(store: &Store, q: &Params) -> Result<Value, ApiError> {
    let ticket_id = required_ticket_id(q)?;
    let exclude_private = q.flag("excludeprivate");
    let exclude_sys = q.flag("excludesys");
    let html = q.flag("includehtmlnote");
    let mut rows: Vec<&Map<String, Value>> = store.actions.get(&ticket_id).map(|v| v.iter().collect()).unwrap_or_default();
    rows.retain(|a| {
        let private = a.get("hiddenfromuser").and_then(Value::as_bool) == Some(true);
        let dropped = (exclude_private && private) || (exclude_sys && is_system(a));
        !dropped
    });
    let live = &store.profile.live;
    if live.actions_newest_first && q.get_nonblank("order").is_none() && !q.flag("orderdesc") {
        // A live tenant lists the newest entry first [A11].
        rows.reverse();
    } else {
        sort_rows(&mut rows, q);
    }
    let total = rows.len();
    let count = q
        .int("count")
        .map_err(|m| ApiError::field("count", m))?
        .and_then(|c| usize::try_from(c).ok())
        .filter(|&c| c > 0)
        // Without `count` a live tenant answers only its newest entries [A11].
        .unwrap_or(live.action_list_cap.unwrap_or(usize::MAX));
    let out: Vec<Value> = rows
        .into_iter()
        .take(count)
        .map(|a| {
            let mut a = a.clone();
            if !html {
                a.remove("note_html");
            }
            // List rows leave out the new agent and team; a full read has them [A4].
            a.remove("new_agent");
            a.remove("new_team");
            Value::Object(a)
        })
        .collect();
    let total = if live.per_page_record_count { out.len() } else { total };
    Ok(json!({ "record_count": total, "actions": out }))
}

/// `GET /api/Actions/{id}?ticket_id=N` (full record, `note_html` included).
pub(crate) fn get(store: &Store, id: i64, q: &Params) -> Result<Value, ApiError> {
    let ticket_id = required_ticket_id(q)?;
    store
        .actions
        .get(&ticket_id)
        .and_then(|l| l.iter().find(|a| get_i64(a, "id") == id))
        .map(|a| Value::Object(a.clone()))
        .ok_or_else(|| ApiError::not_found(format!("Action {id} not found")))
}

/// `DELETE /api/Actions/{id}?ticket_id=N`.
pub(crate) fn delete(store: &mut Store, id: i64, q: &Params) -> Result<Value, ApiError> {
    let ticket_id = required_ticket_id(q)?;
    let list = store.actions.get_mut(&ticket_id).ok_or_else(|| ApiError::not_found(format!("Action {id} not found")))?;
    let before = list.len();
    list.retain(|a| get_i64(a, "id") != id);
    if list.len() == before {
        return Err(ApiError::not_found(format!("Action {id} not found")));
    }
    store.action_ticket.remove(&id);
    Ok(json!({ "id": id, "ticket_id": ticket_id }))
}

#[cfg(test)]
mod tests {
    use super::super::seed::seeded_store;
    use super::super::tickets::body_objects;
    use super::super::util::{SENTINEL_DATE, now};
    use super::*;

    fn objs(s: &str) -> Vec<Map<String, Value>> {
        body_objects(s.as_bytes()).unwrap_or_default()
    }

    #[test]
    fn required_fields_and_unknown_ticket() {
        let mut s = seeded_store(true, now());
        let actor = s.api_actor();
        let e = post(&mut s, &objs(r#"[{"ticket_id":101}]"#), &actor, now()).err();
        assert_eq!(e, Some(ApiError::element(0, "outcome", "Outcome is required")));
        let e = post(&mut s, &objs(r#"[{"outcome":"Note"}]"#), &actor, now()).err();
        assert_eq!(e, Some(ApiError::element(0, "ticket_id", "Ticket ID is required")));
        let e = post(&mut s, &objs(r#"[{"ticket_id":999,"outcome":"Note"}]"#), &actor, now()).err();
        assert_eq!(e, Some(ApiError::bad_request("Ticket 999 not found")));
        let e = post(&mut s, &objs(r#"[{"ticket_id":101,"outcome":"x","new_status":77}]"#), &actor, now()).err();
        assert_eq!(e, Some(ApiError::bad_request("Invalid new_status 77")));
    }

    #[test]
    fn new_status_closes_and_records_history() {
        let n = now();
        let mut s = seeded_store(true, n);
        let actor = s.api_actor();
        let out = post(
            &mut s,
            &objs(
                r#"{"ticket_id":102,"outcome":"Resolved","note":"Reimaged <host>","new_status":9,
                    "new_team":"Service Desk","hiddenfromuser":true}"#,
            ),
            &actor,
            n,
        )
        .unwrap_or_default();
        let a = out.first().cloned().unwrap_or_default();
        assert_eq!(a.get("old_status"), Some(&json!(1)));
        assert_eq!(a.get("new_status"), Some(&json!(9)));
        assert_eq!(a.get("who"), Some(&json!("API Agent")));
        assert_eq!((a.get("who_agentid"), a.get("actionby_agent_id")), (Some(&json!(1)), Some(&json!(1))));
        assert_eq!(a.get("actionby_application_id"), Some(&json!("InsightConnect")), "made through the API");
        assert!(a.get("agent_id").is_none(), "not an Actions field");
        assert_eq!(a.get("note_html"), Some(&json!("Reimaged &lt;host&gt;")));
        assert_eq!(a.get("new_team"), Some(&json!("Service Desk")));
        let t = s.tickets.get(&102).cloned().unwrap_or_default();
        assert_eq!(t.get("hasbeenclosed"), Some(&json!(true)));
        assert_ne!(t.get("dateclosed"), Some(&json!(SENTINEL_DATE)));
        assert_eq!(t.get("team_id"), Some(&json!(1)));

        let v = list(&s, &Params::parse(Some("ticket_id=102"))).unwrap_or_default();
        assert_eq!(v.get("record_count"), Some(&json!(3)));
        assert!(v.pointer("/actions/0/note_html").is_none());
        let v = list(&s, &Params::parse(Some("ticket_id=102&excludeprivate=true&excludesys=true"))).unwrap_or_default();
        assert_eq!(v.get("record_count"), Some(&json!(0)));
        let v = list(&s, &Params::parse(Some("ticket_id=102&includehtmlnote=true&orderdesc=true&count=1"))).unwrap_or_default();
        assert_eq!(v.pointer("/actions/0/outcome"), Some(&json!("Resolved")));
        assert!(v.pointer("/actions/0/note_html").is_some());
        assert!(list(&s, &Params::default()).is_err());
    }

    #[test]
    fn new_team_is_a_team_name() {
        let n = now();
        let mut s = seeded_store(true, n);
        let actor = s.api_actor();
        let team_of = |s: &Store| s.tickets.get(&101).map(|t| (get_i64(t, "team_id"), t.get("team").cloned()));
        post(&mut s, &objs(r#"[{"ticket_id":101,"outcome":"Assigned","new_team":"network"}]"#), &actor, n).unwrap_or_default();
        assert_eq!(team_of(&s), Some((3, Some(json!("Network")))));
        // A number names no team: the ticket ends up on none.
        post(&mut s, &objs(r#"[{"ticket_id":101,"outcome":"Assigned","new_team":2}]"#), &actor, n).unwrap_or_default();
        assert_eq!(team_of(&s), Some((0, None)));
        post(&mut s, &objs(r#"[{"ticket_id":101,"outcome":"Assigned","new_team":"Security Operations"}]"#), &actor, n).unwrap_or_default();
        post(&mut s, &objs(r#"[{"ticket_id":101,"outcome":"Assigned","new_team":"Legacy Desk"}]"#), &actor, n).unwrap_or_default();
        assert_eq!(team_of(&s), Some((0, None)), "an inactive team cannot take work");
        let ui = s.actor(3);
        let a = post(&mut s, &objs(r#"[{"ticket_id":101,"outcome":"Note","note":"x"}]"#), &ui, n).unwrap_or_default();
        assert_eq!(a[0].get("actionby_application_id"), Some(&Value::Null), "made in the UI");
    }

    #[test]
    fn get_update_and_delete_by_id() {
        let n = now();
        let mut s = seeded_store(true, n);
        let actor = s.api_actor();
        let out =
            post(&mut s, &objs(r#"{"ticket_id":103,"outcome":"Note","note_html":"<p>a &amp; b</p>"}"#), &actor, n).unwrap_or_default();
        let id = out.first().and_then(|a| a.get("id")).and_then(Value::as_i64).unwrap_or(0);
        let q = Params::parse(Some("ticket_id=103"));
        let a = get(&s, id, &q).unwrap_or_default();
        assert_eq!(a.get("note"), Some(&json!("a & b")));
        let body = format!(r#"{{"id":{id},"ticket_id":103,"outcome":"Note","note":"edited"}}"#);
        post(&mut s, &objs(&body), &actor, n).unwrap_or_default();
        assert_eq!(get(&s, id, &q).ok().and_then(|a| a.get("note").cloned()), Some(json!("edited")));
        assert!(get(&s, id, &Params::parse(Some("ticket_id=101"))).is_err());
        assert_eq!(delete(&mut s, id, &q), Ok(json!({"id": id, "ticket_id": 103})));
        assert!(delete(&mut s, id, &q).is_err());
        assert!(get(&s, id, &q).is_err());
    }
}
