//! A ticket write as HaloITSM takes it: the changes parsed from a request (each field checked
//! against the lookups) and applied to the stored ticket.

use super::*;

/// A ticket change parsed from a request and validated against the lookups. Applying it cannot
/// fail. `None` = key absent (partial updates change only present keys).
#[derive(Clone, Debug, Default)]
pub(crate) struct TicketChanges {
    pub summary: Option<String>,
    pub details: Option<String>,
    pub details_html: Option<String>,
    pub status_id: Option<i64>,
    pub tickettype_id: Option<i64>,
    pub priority_id: Option<i64>,
    /// 0 = unassign.
    pub agent_id: Option<i64>,
    /// 0 = no team.
    pub team_id: Option<i64>,
    pub client_id: Option<i64>,
    pub site_id: Option<i64>,
    /// 0 = no user.
    pub user_id: Option<i64>,
    /// `Some("")` clears the category.
    pub categories: [Option<String>; 4],
    pub dateoccurred: Option<NaiveDateTime>,
    pub impact: Option<i64>,
    pub urgency: Option<i64>,
    pub customfields: Vec<(i64, Value)>,
    /// The parent ticket [T13]; 0 = none.
    pub parent_id: Option<i64>,
    /// Linked assets by ID [X4]; replaces the ticket's list.
    pub assets: Option<Vec<i64>>,
    /// The request source [T17], any integer (0 Email, negatives built-in integrations).
    pub source: Option<i64>,
}

impl Store {
    /// Parse and validate one ticket object from a request. `key` builds the error key for a
    /// field (e.g. `[0].summary`). `creating` enables the create-only rules.
    ///
    /// Only writable keys are read. Any other key is ignored, as Halo's typed deserialiser ignores
    /// unknown or read-only properties: names such as `status_name` are always derived from the
    /// ids, and `datecreated`, `dateclosed`, `hasbeenclosed`, `onhold` from the history.
    /// A JSON `null` counts as absent.
    pub(crate) fn parse_ticket_changes(
        &self,
        obj: &Map<String, Value>,
        key: &dyn Fn(&str) -> String,
        creating: bool,
    ) -> Result<TicketChanges, ApiError> {
        let lk = &self.lookups;
        let mut ch = TicketChanges::default();
        let bad = |field: &str| ApiError::field(key(field), "The value is not valid.");
        // A live tenant binds integers strictly: `95.0` or `"3"` is refused [T16].
        let strict = self.profile.live.user_needs_site;
        let int = |field: &str| -> Result<Option<i64>, ApiError> {
            match obj.get(field) {
                None => Ok(None),
                Some(Value::Number(n)) if strict && n.is_f64() => {
                    Err(ApiError::field(key(field), format!("Input string '{n}' is not a valid integer.")))
                }
                Some(Value::String(s)) if strict && !s.trim().is_empty() && matches!(field, "client_id" | "site_id" | "user_id") => {
                    Err(ApiError::bad_request("Please select a valid Client/Site/User"))
                }
                Some(v) => json_int(v).map_err(|()| bad(field)),
            }
        };
        let string = |field: &str| -> Result<Option<String>, ApiError> {
            match obj.get(field) {
                None => Ok(None),
                Some(v) => json_string(v).map_err(|()| bad(field)),
            }
        };

        ch.summary = string("summary")?;
        let summary_blank = ch.summary.as_deref().is_none_or(|s| s.trim().is_empty());
        if summary_blank && (creating || ch.summary.is_some()) {
            return Err(ApiError::field(key("summary"), "Summary is required"));
        }
        ch.details = string("details")?;
        ch.details_html = string("details_html")?;

        ch.tickettype_id = int("tickettype_id")?.filter(|&v| v != 0);
        match ch.tickettype_id {
            None if creating => {
                return Err(ApiError::PlainText(axum::http::StatusCode::BAD_REQUEST, "Ticket type is required".into()));
            }
            Some(v) if lk.ticket_type(v).is_none() => {
                return Err(ApiError::invalid_value("tickettype_id", v));
            }
            _ => {}
        }
        ch.status_id = int("status_id")?.filter(|&v| v != 0);
        if let Some(v) = ch.status_id
            && lk.status(v).is_none()
        {
            return Err(ApiError::invalid_value("status_id", v));
        }
        ch.priority_id = int("priority_id")?.filter(|&v| v != 0);
        if let Some(v) = ch.priority_id
            && lk.priority(v).is_none()
        {
            return Err(ApiError::invalid_value("priority_id", v));
        }
        ch.agent_id = int("agent_id")?;
        if let Some(v) = ch.agent_id {
            // A disabled agent cannot be given new work; the UI does not offer them either.
            if v < 0 || (v != 0 && lk.agent(v).is_none_or(|a| a.disabled)) {
                return Err(ApiError::invalid_value("agent_id", v));
            }
        }
        // team_id wins over team (a name); either may clear the team with 0 / "".
        ch.team_id = match int("team_id")? {
            Some(v) => Some(v),
            None => match obj.get("team") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) if s.trim().is_empty() => Some(0),
                Some(Value::String(s)) => match lk.team_by_name(s) {
                    Some(t) => Some(t.id),
                    None => return Err(ApiError::invalid_value("team", s)),
                },
                Some(v) => Some(json_int(v).map_err(|()| bad("team"))?.unwrap_or(0)),
            },
        };
        if let Some(v) = ch.team_id
            && v != 0
            && lk.team(v).is_none_or(|t| t.inactive)
        {
            return Err(ApiError::invalid_value("team_id", v));
        }
        ch.client_id = int("client_id")?.filter(|&v| v != 0);
        if let Some(v) = ch.client_id
            && lk.client(v).is_none()
        {
            return Err(ApiError::invalid_value("client_id", v));
        }
        ch.site_id = int("site_id")?.filter(|&v| v != 0);
        if let Some(v) = ch.site_id {
            match lk.site(v) {
                None => return Err(ApiError::invalid_value("site_id", v)),
                Some(s) if ch.client_id.is_some_and(|c| c != s.client_id) => {
                    return Err(ApiError::bad_request(format!("Site {v} does not belong to client {}", ch.client_id.unwrap_or_default())));
                }
                Some(_) => {}
            }
        }
        ch.user_id = int("user_id")?;
        if let Some(v) = ch.user_id
            && v != 0
            && lk.user(v).is_none()
        {
            return Err(ApiError::invalid_value("user_id", v));
        }
        // A live tenant "requires both" the user and the user's site [T16].
        if strict && ch.user_id.is_some_and(|u| u != 0) && ch.site_id.is_none() {
            return Err(ApiError::bad_request("Please select a valid Client/Site/User"));
        }
        for n in 1..=4 {
            ch.categories[n - 1] = string(&format!("category_{n}"))?;
            // A category may also be given by id (`categoryid_N`); 0 clears it.
            if ch.categories[n - 1].is_none()
                && let Some(id) = int(&format!("categoryid_{n}"))?
            {
                ch.categories[n - 1] = match id {
                    0 => Some(String::new()),
                    id => match lk.category_name(id) {
                        Some(name) => Some(name),
                        None => return Err(ApiError::invalid_value(&format!("categoryid_{n}"), id)),
                    },
                };
            }
        }
        if let Some(v) = obj.get("dateoccurred") {
            match json_string(v) {
                Ok(None) => {}
                Ok(Some(s)) => match parse_date(&s) {
                    Some(p) => ch.dateoccurred = Some(p.at),
                    None => return Err(bad("dateoccurred")),
                },
                Err(()) => return Err(bad("dateoccurred")),
            }
        }
        ch.impact = int("impact")?;
        // The request source [T17]: Halo keeps any integer (0 Email, negatives its integrations).
        ch.source = int("source")?;
        ch.urgency = int("urgency")?;
        ch.customfields = self.parse_custom_fields(obj.get("customfields"), key)?;
        // A child ticket names its parent [T13]; the parent must exist.
        // 0 takes a child off its parent.
        ch.parent_id = int("parent_id")?;
        if let Some(v) = ch.parent_id
            && v != 0
            && !self.tickets.contains_key(&v)
        {
            return Err(ApiError::invalid_value("parent_id", v));
        }
        ch.assets = match obj.get("assets") {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) => {
                let mut ids = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let id = item.get("id").map(json_int).and_then(Result::ok).flatten().ok_or_else(|| bad(&format!("assets[{i}].id")))?;
                    if lk.asset(id).is_none() {
                        return Err(ApiError::invalid_value(&format!("assets[{i}].id"), id));
                    }
                    ids.push(id);
                }
                Some(ids)
            }
            Some(_) => return Err(bad("assets")),
        };
        Ok(ch)
    }

    fn parse_custom_fields(&self, v: Option<&Value>, key: &dyn Fn(&str) -> String) -> Result<Vec<(i64, Value)>, ApiError> {
        let items = match v {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::Array(a)) => a,
            Some(_) => {
                return Err(ApiError::field(key("customfields"), "The value is not valid."));
            }
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let k = |f: &str| key(&format!("customfields[{i}].{f}"));
            let Some(o) = item.as_object() else {
                return Err(ApiError::field(key(&format!("customfields[{i}]")), "The value is not valid."));
            };
            let by_id = match o.get("id") {
                None => None,
                Some(v) => json_int(v).map_err(|()| ApiError::field(k("id"), "The value is not valid."))?.filter(|&id| id != 0),
            };
            let def = match (by_id, o.get("name").and_then(Value::as_str)) {
                (Some(id), _) => {
                    self.lookups.custom_field(id).ok_or_else(|| ApiError::field(k("id"), format!("Unknown custom field {id}")))?
                }
                (None, Some(name)) => self
                    .lookups
                    .custom_field_by_name(name)
                    .ok_or_else(|| ApiError::field(k("name"), format!("Unknown custom field {name}")))?,
                (None, None) => {
                    return Err(ApiError::field(k("id"), "Custom field id is required"));
                }
            };
            let value = o.get("value").cloned().unwrap_or(Value::Null);
            if value.is_array() || value.is_object() {
                return Err(ApiError::field(k("value"), "The value is not valid."));
            }
            out.push((def.id, value));
        }
        Ok(out)
    }
}

fn set_or_remove(t: &mut Map<String, Value>, key: &str, v: Option<String>) {
    match v {
        Some(s) if !s.is_empty() => {
            t.insert(key.into(), Value::String(s));
        }
        _ => {
            t.remove(key);
        }
    }
}

/// Apply validated changes to a stored ticket, deriving names, closed/hold state and dates.
/// Bumps `lastactiondate`/`last_update` unless `creating` (the skeleton already holds now).
pub(crate) fn apply_changes(
    lk: &Lookups,
    t: &mut Map<String, Value>,
    ch: &TicketChanges,
    now: NaiveDateTime,
    creating: bool,
) -> ChangeSummary {
    let now_s = fmt_date(now);
    let mut sum = ChangeSummary {
        old_status: get_i64(t, "status_id"),
        old_agent: get_i64(t, "agent_id"),
        old_team: get_i64(t, "team_id"),
        old_priority: get_i64(t, "priority_id"),
        ..ChangeSummary::default()
    };

    if let Some(s) = &ch.summary {
        t.insert("summary".into(), json!(s));
    }
    match (&ch.details, &ch.details_html) {
        (Some(d), Some(h)) => {
            t.insert("details".into(), json!(d));
            t.insert("details_html".into(), json!(h));
        }
        (Some(d), None) => {
            t.insert("details_html".into(), json!(text_to_html(d)));
            t.insert("details".into(), json!(d));
        }
        (None, Some(h)) => {
            t.insert("details".into(), json!(crate::util::html_to_text(h)));
            t.insert("details_html".into(), json!(h));
        }
        (None, None) => {}
    }
    if let Some(v) = ch.tickettype_id
        && let Some(ty) = lk.ticket_type(v)
    {
        t.insert("tickettype_id".into(), json!(v));
        t.insert("tickettype_name".into(), json!(ty.name));
    }
    if let Some(p) = ch.priority_id.and_then(|v| lk.priority_for(get_i64(t, "tickettype_id"), v)) {
        let v = p.id;
        t.insert("priority_id".into(), json!(v));
        t.insert("priority_name".into(), json!(p.name));
        t.insert("sla_id".into(), json!(p.slaid));
        if creating || sum.old_priority != v {
            // SLA targets are measured from when the ticket was logged.
            let base = crate::util::stored_date(t.get("datecreated")).unwrap_or(now);
            let after = |d: chrono::Duration| base.checked_add_signed(d).unwrap_or(base);
            let respond = after(chrono::Duration::hours(p.response_hours));
            let fix = after(chrono::Duration::hours(p.fix_hours));
            t.insert("respondbydate".into(), json!(fmt_date(respond)));
            t.insert("fixbydate".into(), json!(fmt_date(fix)));
        }
    }

    // User first: it supplies client and site unless those are given too.
    let mut client = ch.client_id;
    let mut site = ch.site_id;
    if let Some(u) = ch.user_id {
        match lk.user(u) {
            Some(user) => {
                t.insert("user_id".into(), json!(u));
                t.insert("user_name".into(), json!(user.name));
                t.insert("user_email".into(), json!(user.email));
                if client.is_none() {
                    client = Some(user.client_id);
                }
                if site.is_none() && client == Some(user.client_id) {
                    site = Some(user.site_id);
                }
            }
            None => {
                t.insert("user_id".into(), json!(0));
                t.remove("user_name");
                t.remove("user_email");
            }
        }
    }
    if let Some(c) = client
        && let Some(cl) = lk.client(c)
    {
        t.insert("client_id".into(), json!(c));
        t.insert("client_name".into(), json!(cl.name));
        let current_site = get_i64(t, "site_id");
        let site_fits = lk.site(current_site).is_some_and(|s| s.client_id == c);
        if site.is_none() && !site_fits {
            // The client's main (first) site, as Halo assigns.
            site = Some(lk.sites.iter().find(|s| s.client_id == c).map_or(0, |s| s.id));
        }
    }
    if let Some(s) = site {
        match lk.site(s) {
            Some(sd) => {
                t.insert("site_id".into(), json!(s));
                t.insert("site_name".into(), json!(sd.name));
            }
            None => {
                t.insert("site_id".into(), json!(0));
                t.remove("site_name");
            }
        }
    }

    if let Some(a) = ch.agent_id {
        t.insert("agent_id".into(), json!(a));
        set_or_remove(t, "agent_name", lk.agent_name(a));
    }
    if let Some(tm) = ch.team_id {
        let name = lk.team_name(tm);
        t.insert("team_id".into(), json!(if name.is_some() { tm } else { 0 }));
        set_or_remove(t, "team", name);
    }
    for (i, c) in ch.categories.iter().enumerate() {
        if let Some(c) = c {
            let n = i + 1;
            let c = c.trim().to_string();
            t.insert(format!("categoryid_{n}"), json!(lk.category_id(&c)));
            set_or_remove(t, &format!("category_{n}"), Some(c));
        }
    }
    if let Some(d) = ch.dateoccurred {
        t.insert("dateoccurred".into(), json!(fmt_date(d)));
    }
    if let Some(v) = ch.impact {
        t.insert("impact".into(), json!(v));
    }
    if let Some(v) = ch.source {
        t.insert("source".into(), json!(v));
    }
    if let Some(v) = ch.urgency {
        t.insert("urgency".into(), json!(v));
    }
    if let Some(v) = ch.parent_id {
        t.insert("parent_id".into(), json!(v));
    }
    if let Some(ids) = &ch.assets {
        // A ticket shows its assets as `Device_List` rows [X4].
        let rows: Vec<Value> = ids
            .iter()
            .filter_map(|id| lk.asset(*id))
            .map(|a| {
                let keep = ["id", "inventory_number", "key_field", "assettype_id", "assettype_name", "client_id", "site_id"];
                Value::Object(keep.iter().filter_map(|k| a.get(*k).map(|v| (k.to_string(), v.clone()))).collect())
            })
            .collect();
        t.insert("assets".into(), Value::Array(rows));
    }
    if !ch.customfields.is_empty() {
        let mut cfs = match t.remove("customfields") {
            Some(Value::Array(a)) => a,
            _ => Vec::new(),
        };
        for (id, value) in &ch.customfields {
            let display = display_of(value);
            let existing = cfs.iter_mut().filter_map(Value::as_object_mut).find(|o| o.get("id").and_then(Value::as_i64) == Some(*id));
            match existing {
                Some(o) => {
                    o.insert("value".into(), value.clone());
                    o.insert("display".into(), json!(display));
                }
                None => {
                    if let Some(d) = lk.custom_field(*id) {
                        cfs.push(json!({"id": d.id, "name": d.name, "label": d.label,
                                        "value": value, "display": display}));
                    }
                }
            }
        }
        t.insert("customfields".into(), Value::Array(cfs));
    }

    if let Some(s) = ch.status_id
        && let Some(st) = lk.status(s)
    {
        let was_closed = lk.is_closed_status(sum.old_status) && !creating;
        t.insert("status_id".into(), json!(s));
        t.insert("status_name".into(), json!(st.name));
        if st.kind == STATUS_KIND_CLOSED {
            t.insert("hasbeenclosed".into(), json!(true));
            if !was_closed {
                t.insert("dateclosed".into(), json!(now_s));
            }
        } else {
            t.insert("hasbeenclosed".into(), json!(false));
            t.insert("dateclosed".into(), json!(SENTINEL_DATE));
        }
        t.insert("onhold".into(), json!(st.kind == STATUS_KIND_PENDING));
    }
    if !creating {
        t.insert("lastactiondate".into(), json!(now_s));
        t.insert("last_update".into(), json!(now_s));
    }

    sum.new_status = get_i64(t, "status_id");
    sum.new_agent = get_i64(t, "agent_id");
    sum.new_team = get_i64(t, "team_id");
    sum.new_priority = get_i64(t, "priority_id");
    if creating {
        sum.old_status = sum.new_status;
        sum.old_agent = sum.new_agent;
        sum.old_team = sum.new_team;
        sum.old_priority = sum.new_priority;
    }
    sum
}
