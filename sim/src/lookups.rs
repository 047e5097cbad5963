//! Lookup endpoints: `/api/Status`, `/api/Priority`, `/api/TicketType`, `/api/Agent`, `/api/Team`,
//! `/api/Users`, `/api/Client`, `/api/Site`. Shapes follow docs/halo-api.md: some are plain
//! arrays, some are `{record_count, <key>: [...]}` wrappers.

use serde_json::{Value, json};

use super::errors::ApiError;
use super::live::LiveQuirks;
use super::state::{API_AGENT_ID, AgentDef, Lookups, STATUS_KIND_CLOSED, UserDef};
use super::util::Params;

/// `GET /api/Status`: plain array in workflow order [S1, S7]. `excludeclosed=true` leaves out the
/// statuses that close tickets; `type` says nothing about that (0 for every status, as in a live
/// sample [S3]). `tickettype_id` is accepted and ignored (every type uses every status here).
pub(crate) fn statuses(lk: &Lookups, q: &Params) -> Value {
    let exclude_closed = q.flag("excludeclosed");
    let mut list: Vec<_> = lk.statuses.iter().filter(|s| !(exclude_closed && s.kind == STATUS_KIND_CLOSED)).collect();
    list.sort_by_key(|s| s.sequence);
    Value::Array(
        list.into_iter()
            .map(|s| {
                json!({"id": s.id, "name": s.name, "shortname": s.shortname, "type": 0,
                       "sequence": s.sequence, "colour": s.colour})
            })
            .collect(),
    )
}

/// `GET /api/Priority`: plain array, one row per SLA and priority [P1]; `id` is the row's GUID,
/// the number tickets use is `priorityid`. `slaid` filters.
pub(crate) fn priorities(lk: &Lookups, q: &Params) -> Result<Value, ApiError> {
    let sla = q.int("slaid").map_err(|m| ApiError::field("slaid", m))?;
    Ok(Value::Array(
        lk.priorities
            .iter()
            .filter(|p| sla.is_none_or(|s| p.slaid == s))
            .map(|p| json!({"id": p.guid, "priorityid": p.id, "slaid": p.slaid, "name": p.name, "ishidden": p.hidden}))
            .collect(),
    ))
}

pub(crate) fn ticket_types(lk: &Lookups) -> Value {
    Value::Array(lk.ticket_types.iter().map(|t| json!({"id": t.id, "name": t.name})).collect())
}

fn agent_json(lk: &Lookups, a: &AgentDef) -> Value {
    let team = lk.team(a.team_id).map(|t| t.name.clone()).unwrap_or_default();
    json!({"id": a.id, "name": a.name, "email": a.email, "team": team, "isdisabled": a.disabled})
}

/// Which of enabled and disabled records a list asks for: enabled unless `includeenabled=false`,
/// disabled only with `includedisabled=true` [G3, G6].
fn wanted(q: &Params, disabled: bool) -> bool {
    if disabled { q.flag("includedisabled") } else { q.get("includeenabled").is_none_or(super::util::truthy) }
}

/// `GET /api/Agent`: plain array (with `pageinate=true` the `{record_count, agents}` wrapper).
/// Disabled agents only when asked for [G3, G6]; `team_id` and `search` (name or email, G5) filter.
pub(crate) fn agents(lk: &Lookups, q: &Params) -> Result<Value, ApiError> {
    let team = q.int("team_id").map_err(|m| ApiError::field("team_id", m))?;
    let search = q.get_nonblank("search");
    let rows: Vec<Value> = lk
        .agents
        .iter()
        .filter(|a| wanted(q, a.disabled))
        .filter(|a| team.is_none_or(|t| a.team_id == t))
        .filter(|a| text_match(&[&a.name, &a.email], search))
        .map(|a| agent_json(lk, a))
        .collect();
    Ok(if q.flag("pageinate") { json!({"record_count": rows.len(), "agents": rows}) } else { Value::Array(rows) })
}

/// `GET /api/Agent/{id}` and `/api/Agent/me` (the API application's agent). A disabled agent is
/// still found by its ID.
pub(crate) fn agent(lk: &Lookups, id: &str) -> Result<Value, ApiError> {
    let id = if id.eq_ignore_ascii_case("me") {
        API_AGENT_ID
    } else {
        id.parse::<i64>().map_err(|_| ApiError::bad_request(format!("Invalid agent id '{id}'")))?
    };
    lk.agent(id).map(|a| agent_json(lk, a)).ok_or_else(|| ApiError::not_found(format!("Agent {id} not found")))
}

/// `GET /api/Team`: plain array; inactive teams only with `includedisabled=true` [G3, G6].
pub(crate) fn teams(lk: &Lookups, q: &Params) -> Value {
    Value::Array(
        lk.teams.iter().filter(|t| wanted(q, t.inactive)).map(|t| json!({"id": t.id, "name": t.name, "inactive": t.inactive})).collect(),
    )
}

/// A user row; `site_id` typed double as the spec has it (`1.0`) where `doubles` [K2, T16].
fn user_json(lk: &Lookups, u: &UserDef, doubles: bool) -> Value {
    let client = lk.client(u.client_id).map(|c| c.name.clone()).unwrap_or_default();
    let site = lk.site(u.site_id).map(|s| s.name.clone()).unwrap_or_default();
    let site_id = if doubles { json!(u.site_id as f64) } else { json!(u.site_id) };
    json!({"id": u.id, "name": u.name, "emailaddress": u.email, "client_id": u.client_id,
           "client_name": client, "site_id": site_id, "site_name": site})
}

fn text_match(hay: &[&str], needle: Option<&str>) -> bool {
    needle.is_none_or(|n| {
        let n = n.to_lowercase();
        hay.iter().any(|h| h.to_lowercase().contains(&n))
    })
}

/// `GET /api/Users` → `{record_count, users}`; filters `client_id`, `site_id`, `search`.
pub(crate) fn users(lk: &Lookups, q: &Params, doubles: bool) -> Result<Value, ApiError> {
    let client = q.int("client_id").map_err(|m| ApiError::field("client_id", m))?;
    let site = q.int("site_id").map_err(|m| ApiError::field("site_id", m))?;
    let search = q.get_nonblank("search");
    let rows: Vec<Value> = lk
        .users
        .iter()
        .filter(|u| client.is_none_or(|c| u.client_id == c))
        .filter(|u| site.is_none_or(|s| u.site_id == s))
        .filter(|u| text_match(&[&u.name, &u.email], search))
        .map(|u| user_json(lk, u, doubles))
        .collect();
    Ok(json!({"record_count": rows.len(), "users": rows}))
}

pub(crate) fn user(lk: &Lookups, id: i64, doubles: bool) -> Result<Value, ApiError> {
    lk.user(id).map(|u| user_json(lk, u, doubles)).ok_or_else(|| ApiError::not_found(format!("User {id} not found")))
}

/// `GET /api/Client` → `{record_count, clients}`; filter `search`.
pub(crate) fn clients(lk: &Lookups, q: &Params) -> Value {
    let search = q.get_nonblank("search");
    let rows: Vec<Value> =
        lk.clients.iter().filter(|c| text_match(&[&c.name], search)).map(|c| json!({"id": c.id, "name": c.name})).collect();
    json!({"record_count": rows.len(), "clients": rows})
}

pub(crate) fn client(lk: &Lookups, id: i64) -> Result<Value, ApiError> {
    lk.client(id).map(|c| json!({"id": c.id, "name": c.name})).ok_or_else(|| ApiError::not_found(format!("Client {id} not found")))
}

/// `GET /api/Site` → `{record_count, sites}`; filter `client_id`.
pub(crate) fn sites(lk: &Lookups, q: &Params) -> Result<Value, ApiError> {
    let client = q.int("client_id").map_err(|m| ApiError::field("client_id", m))?;
    let rows: Vec<Value> = lk
        .sites
        .iter()
        .filter(|s| client.is_none_or(|c| s.client_id == c))
        .map(|s| {
            let cname = lk.client(s.client_id).map(|c| c.name.clone()).unwrap_or_default();
            json!({"id": s.id, "name": s.name, "client_id": s.client_id, "client_name": cname})
        })
        .collect();
    Ok(json!({"record_count": rows.len(), "sites": rows}))
}

/// `GET /api/Category` → a plain array (the spec gives no answer schema; the client reads arrays and
/// wrappers alike). The text is `value`, the level `type_id` [K5]; filter `type_id`. Every seeded
/// category is a category 1.
pub(crate) fn categories(lk: &Lookups, q: &Params) -> Result<Value, ApiError> {
    let level = q.int("type_id").map_err(|m| ApiError::field("type_id", m))?;
    let rows: Vec<Value> = lk
        .categories
        .iter()
        .filter(|_| level.is_none_or(|l| l == 1))
        .map(|c| json!({"id": c.id, "value": c.name, "type_id": 1, "category_name": c.name}))
        .collect();
    Ok(Value::Array(rows))
}

/// The seeded outcomes: the ones the plugin and the seed history use, and a hidden one.
/// (id, outcome, button name, hidden, new status): the outcomes the seeded history uses.
pub(crate) type OutcomeDef = (i64, &'static str, &'static str, bool, i64);

const OUTCOMES: &[OutcomeDef] = &[
    (1, "Note", "Add Note", false, 0),
    (2, "Private Note", "Private Note", false, 0),
    (3, "Email User", "Email User", false, 0),
    (4, "Status Changed", "Change Status", false, 0),
    (5, "Reassigned", "Reassign", false, 0),
    (6, "Resolved", "Resolve", false, 9),
    (7, "Legacy Escalation", "Escalate", true, 0),
];

/// A live tenant's own outcomes: the private note is the built-in "Internal Note", ID 7 [A13].
const TENANT_OUTCOMES: &[OutcomeDef] = &[
    (1, "Note", "Add Note", false, 0),
    (3, "Email User", "Email User", false, 0),
    (4, "Status Changed", "Change Status", false, 0),
    (5, "Reassigned", "Reassign", false, 0),
    (6, "Resolved", "Resolve", false, 9),
    (7, "Internal Note", "Internal Note", false, 0),
    (8, "Legacy Escalation", "Escalate", true, 0),
];

/// The tenant's outcomes.
pub(crate) fn outcome_table(live: &LiveQuirks) -> &'static [OutcomeDef] {
    if live.tenant_outcomes { TENANT_OUTCOMES } else { OUTCOMES }
}

/// `GET /api/Outcome` → a plain array; the name is `outcome`, with `buttonname`, `hidden`,
/// `newstatus` [K6]. Hidden outcomes only with `showhidden=true`.
pub(crate) fn outcomes(q: &Params, live: &LiveQuirks) -> Value {
    let show_hidden = q.flag("showhidden");
    let rows: Vec<Value> = outcome_table(live)
        .iter()
        .filter(|(_, _, _, hidden, _)| show_hidden || !hidden)
        .map(|(id, name, button, hidden, status)| json!({"id": id, "outcome": name, "buttonname": button, "hidden": hidden, "newstatus": status, "systemid": 0}))
        .collect();
    Value::Array(rows)
}

#[cfg(test)]
mod tests {
    use super::super::profile::Profile;
    use super::super::seed;
    use super::*;

    #[test]
    fn shapes() {
        let lk = seed::lookups(&Profile::default());
        let st = statuses(&lk, &Params::parse(Some("excludeclosed=true")));
        let ids: Vec<i64> = st.as_array().map(|a| a.iter().filter_map(|s| s.get("id")?.as_i64()).collect()).unwrap_or_default();
        assert_eq!(ids, vec![1, 2, 3, 4, 5, 6, 8], "workflow order, closed excluded");
        assert!(statuses(&lk, &Params::default()).as_array().is_some_and(|a| a.iter().all(|s| s["type"] == json!(0))));
        let p = priorities(&lk, &Params::default()).unwrap_or_default();
        assert!(p.pointer("/0/id").and_then(Value::as_str).is_some_and(|g| g.len() == 36));
        assert_eq!(p.pointer("/0/priorityid"), Some(&json!(1)));
        assert_eq!(p.as_array().map(Vec::len), Some(8), "one row per SLA and priority");
        assert_eq!(priorities(&lk, &Params::parse(Some("slaid=2"))).ok().and_then(|p| p.as_array().map(Vec::len)), Some(4));
        assert!(agents(&lk, &Params::default()).is_ok_and(|v| v.is_array()));
        let paged = agents(&lk, &Params::parse(Some("pageinate=true"))).unwrap_or_default();
        assert_eq!(paged.get("record_count"), Some(&json!(5)), "the disabled agent is left out");
        let all = agents(&lk, &Params::parse(Some("pageinate=true&includedisabled=true"))).unwrap_or_default();
        assert_eq!(all.get("record_count"), Some(&json!(6)));
        let only_disabled = agents(&lk, &Params::parse(Some("includedisabled=true&includeenabled=false"))).unwrap_or_default();
        assert_eq!(only_disabled.pointer("/0/id"), Some(&json!(6)));
        assert_eq!(teams(&lk, &Params::default()).as_array().map(Vec::len), Some(4), "the inactive team is left out");
        assert_eq!(teams(&lk, &Params::parse(Some("includedisabled=true"))).as_array().map(Vec::len), Some(5));
        assert_eq!(agent(&lk, "me").ok().and_then(|a| a.get("id").cloned()), Some(json!(1)));
        assert_eq!(agent(&lk, "6").ok().and_then(|a| a.get("isdisabled").cloned()), Some(json!(true)));
        assert!(agent(&lk, "x").is_err() && agent(&lk, "99").is_err());
        let u = users(&lk, &Params::parse(Some("client_id=1")), false).unwrap_or_default();
        assert_eq!(u.get("record_count"), Some(&json!(2)));
        assert!(user(&lk, 42, false).is_err());
        assert_eq!(sites(&lk, &Params::parse(Some("client_id=2"))).ok().and_then(|s| s.get("record_count").cloned()), Some(json!(1)));
        assert_eq!(clients(&lk, &Params::parse(Some("search=north"))).get("record_count"), Some(&json!(1)));
    }
}
