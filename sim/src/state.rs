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

mod ticket_changes;

pub(crate) use ticket_changes::{TicketChanges, apply_changes};

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
    /// Assets (`Device` records, X3), each a whole record as `GET /Asset/{id}` shows it.
    pub assets: Vec<Map<String, Value>>,
    /// (ticket type, SLA) where a type's SLA limits its priorities [P3]; empty: any priority.
    pub ticket_type_sla: Vec<(i64, i64)>,
}

impl Lookups {
    pub(crate) fn asset(&self, id: i64) -> Option<&Map<String, Value>> {
        self.assets.iter().find(|a| get_i64(a, "id") == id)
    }

    pub(crate) fn status(&self, id: i64) -> Option<&StatusDef> {
        self.statuses.iter().find(|s| s.id == id)
    }
    /// A priority as tickets use it: the row of SLA 1 (the tenant's default SLA).
    pub(crate) fn priority(&self, id: i64) -> Option<&PriorityDef> {
        self.priorities.iter().find(|p| p.id == id)
    }
    /// The priority a ticket of `ticket_type` takes when `id` is asked for: that one, or, where
    /// the type's SLA lacks it, the SLA's first priority instead, silently [P3].
    pub(crate) fn priority_for(&self, ticket_type: i64, id: i64) -> Option<&PriorityDef> {
        let Some(&(_, sla)) = self.ticket_type_sla.iter().find(|(t, _)| *t == ticket_type) else { return self.priority(id) };
        let on_sla = |p: &&PriorityDef| p.slaid == sla;
        self.priorities.iter().filter(on_sla).find(|p| p.id == id).or_else(|| self.priorities.iter().find(on_sla))
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
        t.insert("parent_id".into(), json!(0));
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
        self.link_child(id, ch.parent_id);
        if self.profile.live.no_creation_entry {
            // A live tenant whose history starts with the ticket's first change [A12].
            self.queue_event(ChangeKind::Created, id, None, Some(status), actor, None);
            return id;
        }
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

    /// Record a new child on its parent's `child_ticket_ids` [T13].
    fn link_child(&mut self, child: i64, parent: Option<i64>) {
        let Some(p) = self.tickets.get_mut(&parent.unwrap_or(0)) else { return };
        let ids = p.entry("child_ticket_ids").or_insert_with(|| json!([]));
        if let Some(a) = ids.as_array_mut() {
            a.push(json!(child));
        }
    }

    /// Take a child off its parent's `child_ticket_ids` (moved or deleted).
    pub(crate) fn unlink_child(&mut self, child: i64, parent: i64) {
        if let Some(a) = self.tickets.get_mut(&parent).and_then(|p| p.get_mut("child_ticket_ids")).and_then(Value::as_array_mut) {
            a.retain(|c| c.as_i64() != Some(child));
        }
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
        let old_parent = get_i64(t, "parent_id");
        let sum = apply_changes(&self.lookups, t, ch, now, false);
        if let Some(p) = ch.parent_id.filter(|&p| p != old_parent && p != id) {
            self.unlink_child(id, old_parent);
            self.link_child(id, Some(p));
        }
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
            timestamp: String::new(), // stamped by the simulator's clock as it is emitted
            ticket,
            action,
            closed,
        });
    }
}

#[cfg(test)]
mod tests;
