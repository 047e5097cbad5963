//! The simulator's store: lookup tables (typed, they never change), and tickets, actions and
//! attachments kept as raw JSON objects. What a client sees of them is shaped by the tenant's
//! [`Profile`] (list rows, flags left out) when it is read.
//!
//! Conventions of this simulator (documented once here; docs/halo-api.md gives the sources):
//! - Each status is open, closed or pending (on hold: the SLA clock stops). A ticket's
//!   `hasbeenclosed` is true exactly when its status closes tickets, and `onhold` exactly when it
//!   is a pending one. None of this shows in a status's `type`, which is 0 for every status, as
//!   in a live sample [S3].
//! - Unassigned agent: `agent_id` 0 and no `agent_name` key at all (Halo omits empty names; the
//!   UI shows "Unassigned" but that word is not data). Likewise no team: `team_id` 0 and no
//!   `team` key; no user: `user_id` 0 and no `user_name`/`user_email`; no category: no
//!   `category_N` key and `categoryid_N` 0.
//! - Unset dates are the sentinel `1900-01-01T00:00:00`.
//! - A created ticket without `client_id` (and without a `user_id` to take it from) goes to the
//!   default client 1, as Halo's "default client for new tickets" setting does.
//! - An action records who made it [A6, A7]: `who` (a name), `who_agentid` and `actionby_agent_id`
//!   (the agent), and `actionby_application_id` (the API application's name when made through
//!   the API, null otherwise).

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDateTime;
use serde_json::{Map, Value, json};

use super::errors::ApiError;
use super::events::{ChangeEvent, ChangeKind};
use super::profile::Profile;
use super::util::{SENTINEL_DATE, display_of, fmt_date, json_int, json_string, parse_date, text_to_html};

pub(crate) const STATUS_KIND_OPEN: i64 = 0;
pub(crate) const STATUS_KIND_CLOSED: i64 = 1;
pub(crate) const STATUS_KIND_PENDING: i64 = 2;

/// The agent the API application acts as (`/api/Agent/me`).
pub(crate) const API_AGENT_ID: i64 = 1;
/// Who edits in the "UI" (`Simulator::agent_edit`) when the ticket has no active agent.
pub(crate) const DEFAULT_UI_AGENT_ID: i64 = 2;
pub(crate) const DEFAULT_CLIENT_ID: i64 = 1;
pub(crate) const DEFAULT_STATUS_ID: i64 = 1;
pub(crate) const DEFAULT_PRIORITY_ID: i64 = 3;
/// Who system actions (e.g. "Ticket logged") are by.
pub(crate) const SYSTEM_WHO: &str = "System";
/// Ticket ids handed out by the API start here (seed tickets sit below).
pub(crate) const FIRST_NEW_TICKET_ID: i64 = 1001;

#[derive(Clone, Debug)]
pub(crate) struct StatusDef {
    pub id: i64,
    pub name: String,
    pub shortname: String,
    pub kind: i64,
    pub sequence: i64,
    pub colour: String,
}

#[derive(Clone, Debug)]
pub(crate) struct PriorityDef {
    pub guid: String,
    /// The number tickets use (`priorityid`); one row per SLA shares it [P1].
    pub id: i64,
    pub slaid: i64,
    pub name: String,
    pub response_hours: i64,
    pub fix_hours: i64,
    pub hidden: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct NamedDef {
    pub id: i64,
    pub name: String,
}

#[derive(Clone, Debug)]
pub(crate) struct AgentDef {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub team_id: i64,
    pub disabled: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct TeamDef {
    pub id: i64,
    pub name: String,
    pub inactive: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct SiteDef {
    pub id: i64,
    pub name: String,
    pub client_id: i64,
}

#[derive(Clone, Debug)]
pub(crate) struct UserDef {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub client_id: i64,
    pub site_id: i64,
}

#[derive(Clone, Debug)]
pub(crate) struct CustomFieldDef {
    pub id: i64,
    pub name: String,
    pub label: String,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Lookups {
    pub statuses: Vec<StatusDef>,
    pub priorities: Vec<PriorityDef>,
    pub ticket_types: Vec<NamedDef>,
    pub agents: Vec<AgentDef>,
    pub teams: Vec<TeamDef>,
    pub clients: Vec<NamedDef>,
    pub sites: Vec<SiteDef>,
    pub users: Vec<UserDef>,
    pub custom_fields: Vec<CustomFieldDef>,
    pub categories: Vec<NamedDef>,
}

impl Lookups {
    pub(crate) fn status(&self, id: i64) -> Option<&StatusDef> {
        self.statuses.iter().find(|s| s.id == id)
    }
    /// A priority as tickets use it: the row of SLA 1 (the tenant's default SLA).
    pub(crate) fn priority(&self, id: i64) -> Option<&PriorityDef> {
        self.priorities.iter().find(|p| p.id == id)
    }
    pub(crate) fn ticket_type(&self, id: i64) -> Option<&NamedDef> {
        self.ticket_types.iter().find(|t| t.id == id)
    }
    pub(crate) fn agent(&self, id: i64) -> Option<&AgentDef> {
        self.agents.iter().find(|a| a.id == id)
    }
    pub(crate) fn team(&self, id: i64) -> Option<&TeamDef> {
        self.teams.iter().find(|t| t.id == id)
    }
    pub(crate) fn team_by_name(&self, name: &str) -> Option<&TeamDef> {
        let name = name.trim();
        self.teams.iter().find(|t| t.name.eq_ignore_ascii_case(name))
    }
    pub(crate) fn client(&self, id: i64) -> Option<&NamedDef> {
        self.clients.iter().find(|c| c.id == id)
    }
    pub(crate) fn site(&self, id: i64) -> Option<&SiteDef> {
        self.sites.iter().find(|s| s.id == id)
    }
    pub(crate) fn user(&self, id: i64) -> Option<&UserDef> {
        self.users.iter().find(|u| u.id == id)
    }
    pub(crate) fn custom_field(&self, id: i64) -> Option<&CustomFieldDef> {
        self.custom_fields.iter().find(|c| c.id == id)
    }
    pub(crate) fn custom_field_by_name(&self, name: &str) -> Option<&CustomFieldDef> {
        let name = name.trim();
        self.custom_fields.iter().find(|c| c.name.eq_ignore_ascii_case(name) || c.label.eq_ignore_ascii_case(name))
    }
    pub(crate) fn category_name(&self, id: i64) -> Option<String> {
        self.categories.iter().find(|c| c.id == id).map(|c| c.name.clone())
    }
    pub(crate) fn category_id(&self, name: &str) -> i64 {
        let name = name.trim();
        self.categories.iter().find(|c| c.name.eq_ignore_ascii_case(name)).map_or(0, |c| c.id)
    }
    pub(crate) fn is_closed_status(&self, id: i64) -> bool {
        self.status(id).is_some_and(|s| s.kind == STATUS_KIND_CLOSED)
    }
    fn status_name(&self, id: i64) -> String {
        self.status(id).map(|s| s.name.clone()).unwrap_or_default()
    }
    fn agent_name(&self, id: i64) -> Option<String> {
        self.agent(id).map(|a| a.name.clone())
    }
    fn team_name(&self, id: i64) -> Option<String> {
        self.team(id).map(|t| t.name.clone())
    }
}

/// Who performs a write.
#[derive(Clone, Debug)]
pub(crate) struct Actor {
    pub agent_id: i64,
    pub name: String,
    /// The API application's name when the write came through the API.
    pub application: Option<String>,
}

#[derive(Clone, Debug)]
pub(crate) struct Attachment {
    pub meta: Map<String, Value>,
    pub data: Vec<u8>,
}

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
}

/// What changed, for action records and events.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct ChangeSummary {
    pub old_status: i64,
    pub new_status: i64,
    pub old_agent: i64,
    pub new_agent: i64,
    pub old_team: i64,
    pub new_team: i64,
    pub old_priority: i64,
    pub new_priority: i64,
}

impl ChangeSummary {
    pub(crate) fn status_changed(&self) -> bool {
        self.old_status != self.new_status
    }
    pub(crate) fn agent_changed(&self) -> bool {
        self.old_agent != self.new_agent
    }
    pub(crate) fn team_changed(&self) -> bool {
        self.old_team != self.new_team
    }
    pub(crate) fn priority_changed(&self) -> bool {
        self.old_priority != self.new_priority
    }
}

pub(crate) struct Store {
    pub profile: Profile,
    /// The name of the simulated API application (`actionby_application_id` of API actions).
    pub application: String,
    pub lookups: Lookups,
    pub tickets: BTreeMap<i64, Map<String, Value>>,
    /// Actions per ticket, ascending id.
    pub actions: HashMap<i64, Vec<Map<String, Value>>>,
    /// Action id -> ticket id.
    pub action_ticket: HashMap<i64, i64>,
    pub attachments: BTreeMap<i64, Attachment>,
    pub next_ticket_id: i64,
    pub next_action_id: i64,
    pub next_attachment_id: i64,
    /// Events produced by the current write, drained by the simulator after the lock is released.
    pub pending: Vec<ChangeEvent>,
}

pub(crate) fn get_i64(t: &Map<String, Value>, key: &str) -> i64 {
    t.get(key).and_then(Value::as_i64).unwrap_or(0)
}

impl Store {
    pub(crate) fn empty(lookups: Lookups, profile: Profile, application: String) -> Store {
        Store {
            profile,
            application,
            lookups,
            tickets: BTreeMap::new(),
            actions: HashMap::new(),
            action_ticket: HashMap::new(),
            attachments: BTreeMap::new(),
            next_ticket_id: FIRST_NEW_TICKET_ID,
            next_action_id: 1,
            next_attachment_id: 1,
            pending: Vec::new(),
        }
    }

    /// An agent working in Halo's UI.
    pub(crate) fn actor(&self, agent_id: i64) -> Actor {
        Actor { agent_id, name: self.lookups.agent_name(agent_id).unwrap_or_else(|| "API Agent".to_string()), application: None }
    }

    /// The API application, acting as its agent.
    pub(crate) fn api_actor(&self) -> Actor {
        Actor { application: Some(self.application.clone()), ..self.actor(API_AGENT_ID) }
    }

    /// A new ticket with every field Halo returns, at its default. Callers apply the request's
    /// changes on top.
    pub(crate) fn ticket_skeleton(&self, id: i64, now: NaiveDateTime) -> Map<String, Value> {
        let lk = &self.lookups;
        let now_s = fmt_date(now);
        let mut t = Map::new();
        t.insert("id".into(), json!(id));
        t.insert("summary".into(), json!(""));
        t.insert("details".into(), json!(""));
        t.insert("details_html".into(), json!(""));
        t.insert("status_id".into(), json!(DEFAULT_STATUS_ID));
        t.insert("status_name".into(), json!(lk.status_name(DEFAULT_STATUS_ID)));
        t.insert("tickettype_id".into(), json!(0));
        t.insert("priority_id".into(), json!(0));
        t.insert("sla_id".into(), json!(0));
        t.insert("agent_id".into(), json!(0));
        t.insert("team_id".into(), json!(0));
        t.insert("client_id".into(), json!(0));
        t.insert("site_id".into(), json!(0));
        t.insert("user_id".into(), json!(0));
        for n in 1..=4 {
            t.insert(format!("categoryid_{n}"), json!(0));
        }
        t.insert("dateoccurred".into(), json!(now_s));
        t.insert("datecreated".into(), json!(now_s));
        t.insert("dateclosed".into(), json!(SENTINEL_DATE));
        t.insert("lastactiondate".into(), json!(now_s));
        t.insert("last_update".into(), json!(now_s));
        t.insert("respondbydate".into(), json!(SENTINEL_DATE));
        t.insert("fixbydate".into(), json!(SENTINEL_DATE));
        t.insert("hasbeenclosed".into(), json!(false));
        t.insert("onhold".into(), json!(false));
        t.insert("impact".into(), json!(0));
        t.insert("urgency".into(), json!(0));
        let cfs: Vec<Value> =
            lk.custom_fields.iter().map(|d| json!({"id": d.id, "name": d.name, "label": d.label, "value": "", "display": ""})).collect();
        t.insert("customfields".into(), Value::Array(cfs));
        t
    }

    /// Create a ticket from validated changes: defaults, then the changes, then the
    /// "Ticket logged" system action and a `Created` event. Returns the new id.
    pub(crate) fn create_ticket(&mut self, ch: &TicketChanges, actor: &Actor, now: NaiveDateTime) -> i64 {
        let id = self.next_ticket_id;
        self.next_ticket_id += 1;
        let mut t = self.ticket_skeleton(id, now);
        let mut ch = ch.clone();
        if ch.priority_id.is_none() {
            ch.priority_id = Some(DEFAULT_PRIORITY_ID);
        }
        if ch.client_id.is_none() && ch.user_id.is_none_or(|u| u == 0) {
            ch.client_id = Some(DEFAULT_CLIENT_ID);
        }
        apply_changes(&self.lookups, &mut t, &ch, now, true);
        let status = get_i64(&t, "status_id");
        self.tickets.insert(id, t);
        let mut action = Map::new();
        action.insert("outcome".into(), json!("Ticket logged"));
        let note = format!("Ticket logged by {}", actor.name);
        action.insert("note_html".into(), json!(text_to_html(&note)));
        action.insert("note".into(), json!(note));
        action.insert("hiddenfromuser".into(), json!(false));
        action.insert("new_status".into(), json!(status));
        let action = self.record_action(id, action, None, now);
        self.queue_event(ChangeKind::Created, id, None, Some(status), actor, Some(action));
        id
    }

    /// Apply validated changes to an existing ticket; records a history action when the status,
    /// agent, team or priority changed (or always, with `force_action`), and queues an event.
    /// `None` if the ticket is gone.
    pub(crate) fn update_ticket(
        &mut self,
        id: i64,
        ch: &TicketChanges,
        actor: &Actor,
        note: Option<&str>,
        force_action: bool,
        now: NaiveDateTime,
    ) -> Option<ChangeSummary> {
        let t = self.tickets.get_mut(&id)?;
        let sum = apply_changes(&self.lookups, t, ch, now, false);
        let notable = sum.status_changed() || sum.agent_changed() || sum.team_changed() || sum.priority_changed();
        let action = if notable || note.is_some() || force_action {
            let mut a = Map::new();
            let outcome = if sum.status_changed() {
                "Status Changed"
            } else if sum.agent_changed() || sum.team_changed() {
                "Reassigned"
            } else {
                "Updated"
            };
            a.insert("outcome".into(), json!(outcome));
            let text = match note {
                Some(n) => n.to_string(),
                None => self.describe(&sum),
            };
            a.insert("note_html".into(), json!(text_to_html(&text)));
            a.insert("note".into(), json!(text));
            // A reassignment alone is internal; a status change is visible to the end user.
            a.insert("hiddenfromuser".into(), json!(!sum.status_changed() && note.is_none()));
            Some(self.record_action(id, a, Some((&sum, actor)), now))
        } else {
            None
        };
        let kind = if sum.status_changed() { ChangeKind::StatusChanged } else { ChangeKind::Updated };
        self.queue_event(kind, id, Some(sum.old_status), Some(sum.new_status), actor, action);
        Some(sum)
    }

    /// Human text for a change, as Halo writes into the history.
    pub(crate) fn describe(&self, sum: &ChangeSummary) -> String {
        let lk = &self.lookups;
        let mut parts = Vec::new();
        if sum.status_changed() {
            parts.push(format!("Status changed from {} to {}", lk.status_name(sum.old_status), lk.status_name(sum.new_status)));
        }
        if sum.agent_changed() {
            let name = |id| lk.agent_name(id).unwrap_or_else(|| "Unassigned".into());
            parts.push(format!("Agent changed from {} to {}", name(sum.old_agent), name(sum.new_agent)));
        }
        if sum.team_changed() {
            let name = |id| lk.team_name(id).unwrap_or_else(|| "None".into());
            parts.push(format!("Team changed from {} to {}", name(sum.old_team), name(sum.new_team)));
        }
        if sum.priority_changed() {
            let name = |id| lk.priority(id).map(|p| p.name.clone()).unwrap_or_else(|| "None".into());
            parts.push(format!("Priority changed from {} to {}", name(sum.old_priority), name(sum.new_priority)));
        }
        if parts.is_empty() { "Ticket updated".into() } else { parts.join("\n") }
    }

    /// Store an action for `ticket_id`: assigns id, datetime, who; fills old/new status (and
    /// agent/team/priority when they changed) from `change`, or from the ticket as it is now.
    pub(crate) fn record_action(
        &mut self,
        ticket_id: i64,
        mut a: Map<String, Value>,
        change: Option<(&ChangeSummary, &Actor)>,
        now: NaiveDateTime,
    ) -> Value {
        let id = self.next_action_id;
        self.next_action_id += 1;
        a.insert("id".into(), json!(id));
        a.insert("ticket_id".into(), json!(ticket_id));
        a.insert("datetime".into(), json!(fmt_date(now)));
        match change {
            Some((sum, actor)) => {
                a.insert("who".into(), json!(actor.name));
                a.insert("who_agentid".into(), json!(actor.agent_id));
                a.insert("actionby_agent_id".into(), json!(actor.agent_id));
                a.insert("actionby_application_id".into(), json!(actor.application));
                a.insert("old_status".into(), json!(sum.old_status));
                a.insert("new_status".into(), json!(sum.new_status));
                if sum.agent_changed() {
                    a.insert("old_agent".into(), json!(sum.old_agent));
                    a.insert("new_agent".into(), json!(sum.new_agent));
                }
                if sum.team_changed() {
                    let name = |id| self.lookups.team_name(id).unwrap_or_default();
                    a.insert("old_team".into(), json!(name(sum.old_team)));
                    a.insert("new_team".into(), json!(name(sum.new_team)));
                }
                if sum.priority_changed() {
                    a.insert("old_priority".into(), json!(sum.old_priority));
                    a.insert("new_priority".into(), json!(sum.new_priority));
                }
            }
            None => {
                // System action (ticket logged).
                a.insert("who".into(), json!(SYSTEM_WHO));
                a.insert("who_agentid".into(), json!(0));
                a.insert("actionby_agent_id".into(), json!(0));
                a.insert("actionby_application_id".into(), Value::Null);
                let st = self.tickets.get(&ticket_id).map_or(0, |t| get_i64(t, "status_id"));
                a.entry("old_status").or_insert(json!(st));
                a.entry("new_status").or_insert(json!(st));
            }
        }
        for (k, v) in [
            ("outcome_id", json!(0)),
            ("hiddenfromuser", json!(false)),
            ("important", json!(false)),
            ("sendemail", json!(false)),
            ("timetaken", json!(0)),
        ] {
            a.entry(k).or_insert(v);
        }
        self.action_ticket.insert(id, ticket_id);
        let v = Value::Object(a.clone());
        self.actions.entry(ticket_id).or_default().push(a);
        if let Some(t) = self.tickets.get_mut(&ticket_id) {
            t.insert("lastactiondate".into(), json!(fmt_date(now)));
        }
        v
    }

    pub(crate) fn queue_event(
        &mut self,
        kind: ChangeKind,
        ticket_id: i64,
        old_status: Option<i64>,
        new_status: Option<i64>,
        actor: &Actor,
        action: Option<Value>,
    ) {
        let stored = self.tickets.get(&ticket_id);
        let closed = stored.is_some_and(|t| t.get("hasbeenclosed") == Some(&Value::Bool(true)));
        let ticket = stored.map_or(Value::Null, |t| Value::Object(self.profile.full(t)));
        self.pending.push(ChangeEvent {
            seq: 0,
            kind,
            ticket_id,
            old_status,
            new_status,
            agent_id: actor.agent_id,
            timestamp: fmt_date(super::util::now()),
            ticket,
            action,
            closed,
        });
    }

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
        let int = |field: &str| -> Result<Option<i64>, ApiError> {
            match obj.get(field) {
                None => Ok(None),
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
        ch.urgency = int("urgency")?;
        ch.customfields = self.parse_custom_fields(obj.get("customfields"), key)?;
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
            t.insert("details".into(), json!(super::util::html_to_text(h)));
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
    if let Some(v) = ch.priority_id
        && let Some(p) = lk.priority(v)
    {
        t.insert("priority_id".into(), json!(v));
        t.insert("priority_name".into(), json!(p.name));
        t.insert("sla_id".into(), json!(p.slaid));
        if creating || sum.old_priority != v {
            // SLA targets are measured from when the ticket was logged.
            let base = super::util::stored_date(t.get("datecreated")).unwrap_or(now);
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
    if let Some(v) = ch.urgency {
        t.insert("urgency".into(), json!(v));
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

#[cfg(test)]
mod tests {
    use super::super::seed;
    use super::*;

    fn store() -> Store {
        seed::seeded_store(true, super::super::util::now())
    }

    fn key(f: &str) -> String {
        format!("[0].{f}")
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn create_requires_summary_and_type() {
        let s = store();
        let e = s.parse_ticket_changes(&obj(json!({"tickettype_id": 1})), &key, true);
        assert_eq!(e.err(), Some(ApiError::field("[0].summary", "Summary is required")));
        let e = s.parse_ticket_changes(&obj(json!({"summary": "x"})), &key, true);
        assert!(matches!(e, Err(ApiError::PlainText(_, ref m)) if m == "Ticket type is required"));
        // An update needs neither.
        assert!(s.parse_ticket_changes(&obj(json!({"status_id": 2})), &key, false).is_ok());
    }

    #[test]
    fn unknown_lookups_are_rejected() {
        let s = store();
        for (field, value, msg) in [
            ("status_id", json!(7), "Invalid status_id 7"),
            ("priority_id", json!(9), "Invalid priority_id 9"),
            ("agent_id", json!(99), "Invalid agent_id 99"),
            ("team_id", json!(42), "Invalid team_id 42"),
            ("team", json!("Nope"), "Invalid team Nope"),
            ("tickettype_id", json!(77), "Invalid tickettype_id 77"),
        ] {
            let mut o = obj(json!({"summary": "x", "tickettype_id": 1}));
            o.insert(field.into(), value);
            let e = s.parse_ticket_changes(&o, &key, true).err();
            assert_eq!(e, Some(ApiError::bad_request(msg)), "{field}");
        }
        let e = s.parse_ticket_changes(&obj(json!({"status_id": "two"})), &key, false);
        assert_eq!(e.err(), Some(ApiError::field("[0].status_id", "The value is not valid.")));
        let e = s.parse_ticket_changes(&obj(json!({"customfields": [{"id": 999, "value": "x"}]})), &key, false);
        assert_eq!(e.err(), Some(ApiError::field("[0].customfields[0].id", "Unknown custom field 999")));
    }

    #[test]
    fn closing_and_reopening_keeps_flags_consistent() {
        let mut s = store();
        let now = super::super::util::now();
        let actor = s.api_actor();
        let ch =
            s.parse_ticket_changes(&obj(json!({"summary": "Disk full", "tickettype_id": 1, "user_id": 3})), &key, true).unwrap_or_default();
        let id = s.create_ticket(&ch, &actor, now);
        let t = s.tickets.get(&id).cloned().unwrap_or_default();
        assert_eq!(t.get("client_id"), Some(&json!(2)), "client from user");
        assert_eq!(t.get("site_id"), Some(&json!(2)), "site from user");
        assert_eq!(t.get("dateclosed"), Some(&json!(SENTINEL_DATE)));
        assert!(t.get("agent_name").is_none());

        let close = TicketChanges { status_id: Some(9), ..TicketChanges::default() };
        let sum = s.update_ticket(id, &close, &actor, None, false, now);
        assert_eq!(sum.map(|s| (s.old_status, s.new_status)), Some((1, 9)));
        let t = s.tickets.get(&id).cloned().unwrap_or_default();
        assert_eq!(t.get("hasbeenclosed"), Some(&json!(true)));
        assert_eq!(t.get("dateclosed"), Some(&json!(fmt_date(now))));

        let reopen = TicketChanges { status_id: Some(4), ..TicketChanges::default() };
        s.update_ticket(id, &reopen, &actor, None, false, now);
        let t = s.tickets.get(&id).cloned().unwrap_or_default();
        assert_eq!(t.get("hasbeenclosed"), Some(&json!(false)));
        assert_eq!(t.get("onhold"), Some(&json!(true)));
        assert_eq!(t.get("dateclosed"), Some(&json!(SENTINEL_DATE)));
        // Logged + closed + reopened.
        assert_eq!(s.actions.get(&id).map(Vec::len), Some(3));
        let kinds: Vec<_> = s.pending.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, vec![ChangeKind::Created, ChangeKind::StatusChanged, ChangeKind::StatusChanged]);
    }
}
