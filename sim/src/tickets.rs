//! `/api/Tickets`: list/search, get, create-or-update (Halo's upsert POST) and delete.

use std::cmp::Ordering;

use chrono::{Duration, NaiveDateTime};
use serde_json::{Map, Value, json};

use super::errors::ApiError;
use super::events::ChangeKind;
use super::live;
use super::profile::Profile;
use super::state::{Actor, DEFAULT_UI_AGENT_ID, Lookups, Store, get_i64};
use super::util::{Params, json_int, parse_date, stored_date};

/// Rows returned by an unpaged list without `count` (Halo can return thousands; the simulator
/// caps it so a forgotten paging parameter shows up in tests as a short list).
pub(crate) const UNPAGED_DEFAULT_ROWS: usize = 100;
pub(crate) const DEFAULT_PAGE_SIZE: usize = 50;
pub(crate) const MAX_PAGE_SIZE: usize = 100;

/// Date fields `datesearch` accepts.
const DATE_FIELDS: &[&str] = &["dateoccurred", "datecreated", "lastactiondate", "last_update", "dateclosed", "respondbydate", "fixbydate"];

struct DateRange {
    field: String,
    start: Option<NaiveDateTime>,
    end: Option<NaiveDateTime>,
}

/// Every filter `GET /api/Tickets` understands, parsed once per request.
#[derive(Default)]
struct TicketFilter {
    search: Option<String>,
    /// The tenant's free-text search cannot find this term [L11].
    search_broken: bool,
    search_summary: Option<String>,
    search_details: Option<String>,
    /// (ticket field, accepted values): an exact filter is a one-value list.
    ints: Vec<(&'static str, Vec<i64>)>,
    /// (category number, accepted values): numbers match `categoryid_N`, text `category_N`.
    categories: Vec<(usize, Vec<String>)>,
    date: Option<DateRange>,
    /// `agent_id` read as a visible queue: (agent, the agent's team) [Q6].
    queue_of: Option<(i64, i64)>,
    closedness: Closedness,
    /// Tickets closed before this moment are left out (None: no such limit).
    closed_since: Option<NaiveDateTime>,
}

/// Which tickets a list returns by whether they are closed [Q1, Q2].
#[derive(Default, Clone, Copy, PartialEq, Eq, Debug)]
enum Closedness {
    #[default]
    Both,
    Open,
    Closed,
}

fn param_error(key: &str, message: String) -> ApiError {
    ApiError::field(key, message)
}

impl TicketFilter {
    fn parse(q: &Params, now: NaiveDateTime, profile: &Profile, lk: &Lookups) -> Result<TicketFilter, ApiError> {
        let hints = profile.live.filters_are_hints;
        let mut f = TicketFilter {
            search: q.get_nonblank("search").map(str::to_lowercase),
            search_broken: profile.live.search_misses_keys && q.get_nonblank("search").is_some_and(|s| !live::search_finds(s.trim())),
            search_summary: q.get_nonblank("search_summary").map(str::to_lowercase),
            search_details: q.get_nonblank("search_details").map(str::to_lowercase),
            ..TicketFilter::default()
        };
        // `open_only` and `closed_only` [Q2]; `includeclosed` is "(array of int) 1 = Closed,
        // 0 = Not Closed" [Q3]. A list that asks for none of them hides tickets closed longer
        // ago than "recently" [Q1].
        let include: Vec<&str> = q.list("includeclosed");
        let (want_open, want_closed) = (include.contains(&"0"), include.contains(&"1"));
        f.closedness = match (q.flag("open_only"), q.flag("closed_only")) {
            (true, false) => Closedness::Open,
            (false, true) => Closedness::Closed,
            (true, true) => return Err(param_error("open_only", "open_only and closed_only cannot both be set".into())),
            (false, false) if want_closed && !want_open => Closedness::Closed,
            (false, false) if want_open && !want_closed => Closedness::Open,
            (false, false) if want_open && want_closed => Closedness::Both,
            (false, false) => {
                f.closed_since = Some(now - Duration::days(profile.recently_closed_days));
                Closedness::Both
            }
        };
        // On a live tenant `agent_id` is the agent's visible queue: his own tickets and his
        // team's [Q6]. `agent` (a list) filters by the assigned agent.
        if hints && let Some(agent) = q.int("agent_id").map_err(|m| param_error("agent_id", m))? {
            f.queue_of = Some((agent, lk.agent(agent).map_or(0, |a| a.team_id)));
        }
        for (param, field) in [
            ("status_id", "status_id"),
            ("agent_id", "agent_id"),
            ("client_id", "client_id"),
            ("site_id", "site_id"),
            ("user_id", "user_id"),
            ("requesttype_id", "tickettype_id"),
            ("parent_id", "parent_id"),
        ] {
            if let Some(v) = q.int(param).map_err(|m| param_error(param, m))?
                && !(param == "agent_id" && f.queue_of.is_some())
            {
                f.ints.push((field, vec![v]));
            }
        }
        for (param, field) in [
            ("status", "status_id"),
            ("agent", "agent_id"),
            ("team", "team_id"),
            ("priority", "priority_id"),
            ("requesttype", "tickettype_id"),
        ] {
            if let Some(v) = q.int_list(param).map_err(|m| param_error(param, m))? {
                f.ints.push((field, v));
            }
        }
        for n in 1..=4 {
            let vals: Vec<String> = q.list(&format!("category_{n}")).into_iter().map(str::to_lowercase).collect();
            if !vals.is_empty() {
                f.categories.push((n, vals));
            }
        }
        let start = Self::date_param(q, "startdate", false)?;
        let end = Self::date_param(q, "enddate", true)?;
        let field = q.get_nonblank("datesearch").map(str::to_ascii_lowercase);
        if let Some(field) = &field
            && !DATE_FIELDS.contains(&field.as_str())
        {
            if hints {
                // A field a live tenant does not know is ignored, range and all [Q6].
                return Ok(f);
            }
            return Err(param_error("datesearch", format!("Unknown datesearch field '{field}'")));
        }
        if start.is_some() || end.is_some() {
            // Without datesearch the range applies to dateoccurred, Halo's default date column.
            f.date = Some(DateRange { field: field.unwrap_or_else(|| "dateoccurred".into()), start, end });
        }
        Ok(f)
    }

    /// A date bound; a bare date as `enddate` means the end of that day (inclusive).
    fn date_param(q: &Params, key: &str, end_of_day: bool) -> Result<Option<NaiveDateTime>, ApiError> {
        let Some(raw) = q.get_nonblank(key) else {
            return Ok(None);
        };
        let p = parse_date(raw).ok_or_else(|| param_error(key, format!("The value '{raw}' is not a valid date.")))?;
        Ok(Some(if p.date_only && end_of_day { p.at.checked_add_signed(Duration::seconds(86_399)).unwrap_or(p.at) } else { p.at }))
    }

    fn matches(&self, t: &Map<String, Value>) -> bool {
        let text = |k: &str| t.get(k).and_then(Value::as_str).unwrap_or("");
        if let Some(s) = &self.search {
            if self.search_broken {
                return false;
            }
            let hit = text("summary").to_lowercase().contains(s)
                || text("details").to_lowercase().contains(s)
                || get_i64(t, "id").to_string().contains(s.as_str());
            if !hit {
                return false;
            }
        }
        if let Some(s) = &self.search_summary
            && !text("summary").to_lowercase().contains(s)
        {
            return false;
        }
        if let Some(s) = &self.search_details
            && !text("details").to_lowercase().contains(s)
        {
            return false;
        }
        for (field, vals) in &self.ints {
            if !vals.contains(&get_i64(t, field)) {
                return false;
            }
        }
        if let Some((agent, team)) = self.queue_of
            && get_i64(t, "agent_id") != agent
            && (team == 0 || get_i64(t, "team_id") != team)
        {
            return false;
        }
        for (n, vals) in &self.categories {
            let id = get_i64(t, &format!("categoryid_{n}")).to_string();
            let name = text(&format!("category_{n}")).to_lowercase();
            if !vals.iter().any(|v| *v == id || (!name.is_empty() && *v == name)) {
                return false;
            }
        }
        let closed = t.get("hasbeenclosed").and_then(Value::as_bool).unwrap_or(false);
        match self.closedness {
            Closedness::Open if closed => return false,
            Closedness::Closed if !closed => return false,
            _ => {}
        }
        if closed
            && let Some(since) = self.closed_since
            && stored_date(t.get("dateclosed")).is_some_and(|d| d < since)
        {
            return false;
        }
        if let Some(r) = &self.date {
            // Unset (sentinel) dates never fall inside a range.
            let Some(d) = stored_date(t.get(&r.field)) else {
                return false;
            };
            if r.start.is_some_and(|s| d < s) || r.end.is_some_and(|e| d > e) {
                return false;
            }
        }
        true
    }
}

/// Compare two JSON values for ordering: numbers numerically, strings case-insensitively
/// (Halo dates sort correctly as text), missing values last.
pub(crate) fn cmp_values(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    fn rank(v: Option<&Value>) -> u8 {
        match v {
            Some(Value::Number(_)) => 0,
            Some(Value::String(_)) => 1,
            Some(Value::Bool(_)) => 2,
            Some(Value::Null) | None => 4,
            Some(_) => 3,
        }
    }
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => {
            let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
            x.partial_cmp(&y).unwrap_or(Ordering::Equal)
        }
        (Some(Value::String(x)), Some(Value::String(y))) => {
            x.bytes().map(|c| c.to_ascii_lowercase()).cmp(y.bytes().map(|c| c.to_ascii_lowercase()))
        }
        (Some(Value::Bool(x)), Some(Value::Bool(y))) => x.cmp(y),
        _ => rank(a).cmp(&rank(b)),
    }
}

/// Sort rows by `order` (default `id`) with `orderdesc`; ties by id ascending.
pub(crate) fn sort_rows(rows: &mut [&Map<String, Value>], q: &Params) {
    let field = q.get_nonblank("order").map(str::to_ascii_lowercase);
    let desc = q.flag("orderdesc");
    if field.is_none() && !desc {
        return; // already id ascending
    }
    let field = field.unwrap_or_else(|| "id".into());
    rows.sort_by(|a, b| {
        let o = cmp_values(a.get(&field), b.get(&field));
        let o = if desc { o.reverse() } else { o };
        o.then_with(|| get_i64(a, "id").cmp(&get_i64(b, "id")))
    });
}

/// Which slice of the matches to return.
pub(crate) struct Window {
    pub skip: usize,
    pub take: usize,
    /// (page_no, page_size) when paging, echoed in the response.
    pub paging: Option<(usize, usize)>,
}

/// Paging (`pageinate=true`, `page_size` clamped to 100, `page_no` 1-based) or, without
/// paging, `count` rows (default `UNPAGED_DEFAULT_ROWS`).
pub(crate) fn page_window(q: &Params, total: usize) -> Result<Window, ApiError> {
    let nonneg = |key: &str| -> Result<Option<usize>, ApiError> {
        Ok(q.int(key).map_err(|m| param_error(key, m))?.map(|v| usize::try_from(v).unwrap_or(0)))
    };
    if q.flag("pageinate") {
        let size = nonneg("page_size")?.filter(|&s| s > 0).unwrap_or(DEFAULT_PAGE_SIZE).min(MAX_PAGE_SIZE);
        let page = nonneg("page_no")?.filter(|&p| p > 0).unwrap_or(1);
        let skip = (page - 1).saturating_mul(size).min(total);
        Ok(Window { skip, take: size.min(total - skip), paging: Some((page, size)) })
    } else {
        let count = nonneg("count")?.filter(|&c| c > 0).unwrap_or(UNPAGED_DEFAULT_ROWS);
        Ok(Window { skip: 0, take: count.min(total), paging: None })
    }
}

/// `GET /api/Tickets`: rows as the tenant's profile shapes them [L3].
pub(crate) fn list(store: &Store, q: &Params, now: NaiveDateTime) -> Result<Value, ApiError> {
    let filter = TicketFilter::parse(q, now, &store.profile, &store.lookups)?;
    let ids: Option<Vec<i64>> = q.get("ticketids").map(|_| q.list("ticketids").into_iter().filter_map(|v| v.parse().ok()).collect());
    let mut rows: Vec<&Map<String, Value>> = store
        .tickets
        .values()
        .filter(|t| ids.as_ref().is_none_or(|ids| ids.contains(&get_i64(t, "id"))))
        .filter(|t| filter.matches(t))
        .collect();
    sort_rows(&mut rows, q);
    let total = rows.len();
    let Window { skip, take, paging } = page_window(q, total)?;
    let id_only = q.flag("ticketidonly");
    let cf_ids: Option<Vec<i64>> =
        q.get("include_custom_fields").map(|_| q.list("include_custom_fields").into_iter().filter_map(|v| v.parse().ok()).collect());
    let out: Vec<Value> = rows
        .into_iter()
        .skip(skip)
        .take(take)
        .map(|t| if id_only { json!({ "id": get_i64(t, "id") }) } else { Value::Object(store.profile.row(t, cf_ids.as_deref())) })
        .collect();
    let mut resp = Map::new();
    if let Some((page, size)) = paging {
        resp.insert("page_no".into(), json!(page));
        resp.insert("page_size".into(), json!(size));
    }
    // Some live lists count only the page's rows [L12].
    let count = if store.profile.live.per_page_record_count { out.len() } else { total };
    resp.insert("record_count".into(), json!(count));
    resp.insert("tickets".into(), Value::Array(out));
    Ok(Value::Object(resp))
}

/// Parse a POST body: a JSON array of objects, or one bare object.
pub(crate) fn body_objects(body: &[u8]) -> Result<Vec<Map<String, Value>>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("A request body is required"));
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("The request body is not valid JSON: {e}")))?;
    let items = match v {
        Value::Array(a) => a,
        Value::Object(o) => return Ok(vec![o]),
        _ => {
            return Err(ApiError::bad_request("The request body must be a JSON array of objects"));
        }
    };
    if items.is_empty() {
        return Err(ApiError::bad_request("The request body contains no records"));
    }
    items
        .into_iter()
        .enumerate()
        .map(|(i, v)| match v {
            Value::Object(o) => Ok(o),
            _ => Err(ApiError::field(format!("[{i}]"), "The value is not valid.")),
        })
        .collect()
}

/// Read the optional `id` of element `i`: `Some(id)` only for a positive id.
pub(crate) fn element_id(o: &Map<String, Value>, i: usize) -> Result<Option<i64>, ApiError> {
    match o.get("id") {
        None => Ok(None),
        Some(v) => json_int(v).map(|id| id.filter(|&id| id > 0)).map_err(|()| ApiError::element(i, "id", "The value is not valid.")),
    }
}

/// Whether a POST body creates a ticket: an element without the ID of a ticket that exists.
pub(crate) fn creates_any(store: &Store, objs: &[Map<String, Value>]) -> bool {
    objs.iter().enumerate().any(|(i, o)| element_id(o, i).ok().flatten().is_none_or(|id| !store.tickets.contains_key(&id)))
}

/// `POST /api/Tickets`: every element is validated before any is applied, so a rejected batch
/// changes nothing. An element whose `id` exists updates that ticket (only the keys present);
/// any other element creates a ticket with a NEW id (Halo's upsert: an unknown id is not an
/// error, it silently creates a ticket [T5]). Returns the saved records in request order, as
/// stored (the caller shapes them for the answer).
pub(crate) fn post(
    store: &mut Store,
    objs: &[Map<String, Value>],
    actor: &Actor,
    now: NaiveDateTime,
) -> Result<Vec<Map<String, Value>>, ApiError> {
    let mut plan = Vec::with_capacity(objs.len());
    for (i, o) in objs.iter().enumerate() {
        let existing = element_id(o, i)?.filter(|id| store.tickets.contains_key(id));
        let key = |f: &str| format!("[{i}].{f}");
        let ch = store.parse_ticket_changes(o, &key, existing.is_none())?;
        plan.push((existing, ch));
    }
    let mut out = Vec::with_capacity(plan.len());
    for (existing, ch) in plan {
        let id = match existing {
            Some(id) => {
                store.update_ticket(id, &ch, actor, None, false, now);
                id
            }
            None => store.create_ticket(&ch, actor, now),
        };
        if let Some(t) = store.tickets.get(&id) {
            out.push(t.clone());
        }
    }
    Ok(out)
}

/// `DELETE /api/Tickets/{id}`: removes the ticket with its actions and attachments.
pub(crate) fn delete(store: &mut Store, id: i64, actor: &Actor) -> Option<Value> {
    let status = store.tickets.get(&id).map(|t| get_i64(t, "status_id"))?;
    store.queue_event(ChangeKind::Deleted, id, Some(status), None, actor, None);
    if let Some(t) = store.tickets.remove(&id) {
        store.unlink_child(id, get_i64(&t, "parent_id"));
    }
    if let Some(actions) = store.actions.remove(&id) {
        for a in actions {
            store.action_ticket.remove(&get_i64(&a, "id"));
        }
    }
    store.attachments.retain(|_, a| get_i64(&a.meta, "ticket_id") != id);
    Some(json!({ "id": id }))
}

/// `Simulator::agent_edit`: a change made by an agent in Halo's UI. The acting agent is the
/// ticket's (new) agent when that agent is active, else agent 2 (a service-desk agent).
/// Invalid fields make it return `None` and change nothing.
pub(crate) fn agent_edit(
    store: &mut Store,
    id: i64,
    fields: &Value,
    note: Option<&str>,
    by: Option<i64>,
    now: NaiveDateTime,
) -> Option<Value> {
    let current_agent = store.tickets.get(&id).map(|t| get_i64(t, "agent_id"))?;
    let empty = Map::new();
    let obj = match fields {
        Value::Object(o) => o,
        Value::Null => &empty,
        _ => return None,
    };
    let key = |f: &str| f.to_string();
    let ch = store.parse_ticket_changes(obj, &key, false).ok()?;
    let agent = ch.agent_id.unwrap_or(current_agent);
    let agent = match (by, store.lookups.agent(agent)) {
        (Some(by), _) => by,
        (None, Some(a)) if !a.disabled && a.id != super::state::API_AGENT_ID => a.id,
        _ => DEFAULT_UI_AGENT_ID,
    };
    let actor = store.actor(agent);
    store.update_ticket(id, &ch, &actor, note, true, now)?;
    store.tickets.get(&id).map(|t| Value::Object(t.clone()))
}

#[cfg(test)]
mod tests {
    use super::super::profile::{ListRows, Profile};
    use super::super::seed::seeded_store;
    use super::super::util::{SENTINEL_DATE, fmt_date, now};
    use super::*;

    fn ids(v: &Value) -> Vec<i64> {
        v.get("tickets").and_then(Value::as_array).map(|a| a.iter().filter_map(|t| t.get("id")?.as_i64()).collect()).unwrap_or_default()
    }

    fn q(s: &str) -> Params {
        Params::parse(Some(s))
    }

    fn list(s: &Store, q: &Params) -> Result<Value, ApiError> {
        super::list(s, q, now())
    }

    #[test]
    fn children_name_their_parent_and_the_parent_lists_them() {
        let mut s = seeded_store(true, now());
        let actor = s.api_actor();
        let child = |s: &Store, parent: i64| {
            let body = json!({"summary": "child", "tickettype_id": 1, "parent_id": parent});
            s.parse_ticket_changes(body.as_object().unwrap_or(&Map::new()), &|k| k.to_string(), true)
        };
        assert!(child(&s, 999).is_err(), "an unknown parent is refused");
        let ch = child(&s, 101).unwrap_or_default();
        let a = s.create_ticket(&ch, &actor, now());
        let b = s.create_ticket(&ch, &actor, now());
        assert_eq!(s.tickets.get(&101).and_then(|t| t.get("child_ticket_ids")), Some(&json!([a, b])));
        assert_eq!(ids(&list(&s, &q("parent_id=101")).unwrap_or_default()), vec![a, b]);
        delete(&mut s, a, &actor);
        assert_eq!(s.tickets.get(&101).and_then(|t| t.get("child_ticket_ids")), Some(&json!([b])), "a deleted child leaves the list");
    }

    #[test]
    fn list_filters() {
        let s = seeded_store(true, now());
        let all = list(&s, &q("")).unwrap_or_default();
        assert_eq!(all.get("record_count"), Some(&json!(6)), "ticket 104, closed ten days ago, is left out");
        assert!(all.pointer("/tickets/0/customfields").is_none(), "list rows omit custom fields");
        assert!(all.pointer("/tickets/0/hasbeenclosed").is_none() && all.pointer("/tickets/0/team_id").is_none(), "thin rows");
        assert_eq!(ids(&list(&s, &q("search=PHISHING")).unwrap_or_default()), vec![101]);
        assert_eq!(ids(&list(&s, &q("search=PHISHING&closed_only=true")).unwrap_or_default()), vec![104]);
        assert_eq!(ids(&list(&s, &q("search=105")).unwrap_or_default()), vec![105]);
        assert_eq!(ids(&list(&s, &q("search_details=mfa")).unwrap_or_default()), vec![103]);
        assert_eq!(ids(&list(&s, &q("agent_id=0")).unwrap_or_default()), vec![103]);
        assert_eq!(ids(&list(&s, &q("status=1,2&status=4")).unwrap_or_default()), vec![101, 102, 103, 105]);
        assert_eq!(ids(&list(&s, &q("team=2&requesttype=4")).unwrap_or_default()), vec![101, 102]);
        assert_eq!(ids(&list(&s, &q("closed_only=true")).unwrap_or_default()), vec![104, 107]);
        assert_eq!(ids(&list(&s, &q("open_only=true&client_id=2")).unwrap_or_default()), vec![103, 106]);
        assert_eq!(ids(&list(&s, &q("category_1=security%3Ephishing&includeclosed=0,1")).unwrap_or_default()), vec![101, 104]);
        assert_eq!(ids(&list(&s, &q("category_1=2")).unwrap_or_default()), vec![102]);
        assert!(list(&s, &q("status_id=abc")).is_err());
        assert!(list(&s, &q("datesearch=nope&startdate=2020-01-01")).is_err());
        assert!(list(&s, &q("startdate=garbage")).is_err());
        assert!(list(&s, &q("open_only=true&closed_only=true")).is_err());
    }

    #[test]
    fn closed_tickets_only_when_asked_for() {
        let s = seeded_store(true, now());
        assert_eq!(ids(&list(&s, &q("includeclosed=1")).unwrap_or_default()), vec![104, 107]);
        assert_eq!(ids(&list(&s, &q("includeclosed=0")).unwrap_or_default()), vec![101, 102, 103, 105, 106]);
        assert_eq!(ids(&list(&s, &q("includeclosed=0,1")).unwrap_or_default()).len(), 7);
        assert_eq!(ids(&list(&s, &q("ticketids=104,105&closed_only=true")).unwrap_or_default()), vec![104]);
        assert_eq!(ids(&list(&s, &q("ticketids=104,105")).unwrap_or_default()), vec![105], "104 closed too long ago");
        let schema = Store { profile: Profile { list_rows: ListRows::Schema, ..Profile::default() }, ..seeded_store(true, now()) };
        let v = list(&schema, &q("ticketids=107")).unwrap_or_default();
        assert_eq!(v.pointer("/tickets/0/hasbeenclosed"), Some(&json!(true)));
        assert!(v.pointer("/tickets/0/datecreated").is_none());
    }

    #[test]
    fn list_dates_order_and_paging() {
        let n = now();
        let s = seeded_store(true, n);
        let since = fmt_date(n - Duration::hours(25));
        let v = list(&s, &q(&format!("datesearch=datecreated&startdate={since}"))).unwrap_or_default();
        assert_eq!(ids(&v), vec![102, 103]);
        // dateclosed: open tickets (sentinel) never match.
        let v = list(&s, &q("datesearch=dateclosed&startdate=2000-01-01&closed_only=true")).unwrap_or_default();
        assert_eq!(ids(&v), vec![104, 107]);
        // A bare end date includes that whole day.
        let day = (n - Duration::hours(6)).date().format("%Y-%m-%d").to_string();
        let v = list(&s, &q(&format!("datesearch=datecreated&startdate={day}&enddate={day}"))).unwrap_or_default();
        assert!(ids(&v).contains(&103));

        let v = list(&s, &q("order=datecreated&orderdesc=true&includeclosed=0,1")).unwrap_or_default();
        assert_eq!(ids(&v), vec![103, 102, 107, 106, 101, 105, 104]);
        let v = list(&s, &q("orderdesc=true&count=2")).unwrap_or_default();
        assert_eq!(ids(&v), vec![107, 106]);
        assert_eq!(v.get("record_count"), Some(&json!(6)));

        let v = list(&s, &q("pageinate=true&page_size=3&page_no=3&includeclosed=0,1")).unwrap_or_default();
        assert_eq!(ids(&v), vec![107]);
        assert_eq!(v.get("record_count"), Some(&json!(7)));
        assert_eq!(v.get("page_size"), Some(&json!(3)));
        let v = list(&s, &q("pageinate=true&page_size=3&page_no=9")).unwrap_or_default();
        assert!(ids(&v).is_empty());
        let v = list(&s, &q("pageinate=true&page_size=1000")).unwrap_or_default();
        assert_eq!(v.get("page_size"), Some(&json!(100)));

        let v = list(&s, &q("ticketidonly=true&count=1")).unwrap_or_default();
        assert_eq!(v.get("tickets"), Some(&json!([{"id": 101}])));
        let v = list(&s, &q("include_custom_fields=102&search_summary=prowler")).unwrap_or_default();
        let cfs = v.pointer("/tickets/0/customfields").cloned().unwrap_or_default();
        assert_eq!(cfs.as_array().map(Vec::len), Some(1));
        assert_eq!(cfs.pointer("/0/id"), Some(&json!(102)));
    }

    #[test]
    fn post_validates_whole_batch_before_applying() {
        let mut s = seeded_store(true, now());
        let actor = s.api_actor();
        let objs = body_objects(br#"[{"summary":"ok","tickettype_id":1},{"summary":"","tickettype_id":1}]"#).unwrap_or_default();
        let e = post(&mut s, &objs, &actor, now()).err();
        assert_eq!(e, Some(ApiError::element(1, "summary", "Summary is required")));
        assert_eq!(s.tickets.len(), 7, "nothing applied");
        assert!(body_objects(b"").is_err());
        assert!(body_objects(b"[]").is_err());
        assert!(body_objects(b"[1]").is_err());
        assert!(body_objects(b"{not json").is_err());
        assert_eq!(body_objects(br#"{"id":1}"#).map(|v| v.len()), Ok(1));
    }

    #[test]
    fn delete_and_agent_edit() {
        let n = now();
        let mut s = seeded_store(true, n);
        let actor = s.api_actor();
        assert_eq!(delete(&mut s, 103, &actor), Some(json!({"id": 103})));
        assert!(!s.tickets.contains_key(&103));
        assert!(!s.actions.contains_key(&103));
        assert_eq!(delete(&mut s, 103, &actor), None);

        let t = agent_edit(&mut s, 101, &json!({"status_id": 9}), Some("Done"), None, n).unwrap_or_default();
        assert_eq!(t.get("hasbeenclosed"), Some(&json!(true)));
        assert_ne!(t.get("dateclosed"), Some(&json!(SENTINEL_DATE)));
        let last = s.actions.get(&101).and_then(|a| a.last()).cloned().unwrap_or_default();
        assert_eq!(last.get("who"), Some(&json!("Ben Carter")));
        assert_eq!(last.get("note"), Some(&json!("Done")));
        assert_eq!(agent_edit(&mut s, 101, &json!({"status_id": 99}), None, None, n), None);
        assert_eq!(agent_edit(&mut s, 9999, &json!({}), None, None, n), None);
        // An edit without notable changes still leaves a history entry.
        let before = s.actions.get(&102).map_or(0, Vec::len);
        assert!(agent_edit(&mut s, 102, &json!({"summary": "Renamed"}), None, None, n).is_some());
        assert_eq!(s.actions.get(&102).map_or(0, Vec::len), before + 1);
    }
}
