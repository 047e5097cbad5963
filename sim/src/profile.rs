//! How the simulated tenant looks where tenants differ or public sources disagree. The default is
//! a stock HaloITSM tenant as the public captures show it; every other choice is a variant a
//! real tenant (or build) can also produce, so a client can be tested against each. The IDs in
//! brackets are the facts of docs/halo-api.md each behaviour follows.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::live::LiveQuirks;
use super::webhook_api::WebhookApiVariant;

/// The tenant's statuses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusSet {
    /// A stock tenant: New 1 … Closed 9, only Closed closes a ticket [S4, S6].
    #[default]
    Stock,
    /// A tenant that renamed its statuses and closes tickets with its own IDs (21, 22) and has
    /// no status 9 [S6].
    Customised,
}

/// What a `GET /api/Tickets` row carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListRows {
    /// The captured list row: no `hasbeenclosed`, `team_id`, `status_name`, `datecreated`,
    /// `customfields` and more [L3].
    #[default]
    Thin,
    /// Every field of the OpenAPI's list-row schema (which has `hasbeenclosed`, `team_id`, ...),
    /// still without `datecreated` [L3].
    Schema,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Profile {
    pub statuses: StatusSet,
    pub list_rows: ListRows,
    /// A full ticket read leaves `hasbeenclosed` out when it is false, as a captured create
    /// response of an open ticket does [T11].
    pub omit_false_hasbeenclosed: bool,
    /// Tickets closed longer ago than this are left out of lists that do not ask for closed
    /// tickets [Q1]. How long "recently" is, is not documented: this is the simulator's choice.
    pub recently_closed_days: i64,
    /// Refuse a POST body that is a bare object instead of an array, as one client reports [T3].
    pub refuse_bare_objects: bool,
    /// A full ticket read leaves out `assets`, `parent_id` and `child_ticket_ids`, as a captured
    /// create answer does; the links are then seen only through `GET /Asset?ticket_id=` and
    /// `GET /Tickets?parent_id=` [X4, T13].
    pub omit_ticket_relations: bool,
    /// A POST of several records answers only the last one saved, `returnall=true` or not, as a
    /// tenant that does not honour `returnall` would [A14].
    pub batch_answer_last_only: bool,
    /// A POST of more than one record is refused (400): one record per request [A14].
    pub refuse_arrays_of_many: bool,
    /// What live tenants do that captures do not show, each switchable (`live.rs`).
    pub live: LiveQuirks,
    /// How the tenant offers its webhook configuration and delivery log (`webhook_api.rs`).
    pub webhook_api: WebhookApiVariant,
}

impl Default for Profile {
    fn default() -> Self {
        Profile {
            statuses: StatusSet::Stock,
            list_rows: ListRows::Thin,
            omit_false_hasbeenclosed: false,
            recently_closed_days: 7,
            refuse_bare_objects: false,
            omit_ticket_relations: false,
            batch_answer_last_only: false,
            refuse_arrays_of_many: false,
            live: LiveQuirks::default(),
            webhook_api: WebhookApiVariant::default(),
        }
    }
}

impl Profile {
    /// A stock tenant as integrations running in production meet it: every live-tenant quirk on.
    pub fn live_tenant() -> Profile {
        Profile { live: LiveQuirks::live_tenant(), ..Profile::default() }
    }
}

/// The fields of the captured list row that this simulator stores [L3]; `id` first.
const THIN_ROW_FIELDS: &[&str] = &[
    "id",
    "summary",
    "details",
    "agent_id",
    "dateoccurred",
    "status_id",
    "tickettype_id",
    "sla_id",
    "priority_id",
    "client_id",
    "client_name",
    "site_id",
    "site_name",
    "user_id",
    "user_name",
    "team",
    "category_1",
    "category_2",
    "category_3",
    "category_4",
    "onhold",
    "respondbydate",
    "fixbydate",
    "lastactiondate",
    "last_update",
    "user_email",
    "impact",
    "urgency",
];

/// What `omit_ticket_relations` leaves out of a full read [X4, T13].
const RELATION_FIELDS: &[&str] = &["assets", "parent_id", "child_ticket_ids"];

/// What the small webhook object carries: the fields of the captured delivery [W4].
const SMALL_OBJECT_FIELDS: &[&str] =
    &["id", "summary", "status_id", "tickettype_id", "client_id", "team_id", "agent_id", "customfields", "hasbeenclosed"];

impl Profile {
    /// A ticket as `GET /api/Tickets/{id}` (and a POST's answer) shows it.
    pub(crate) fn full(&self, t: &Map<String, Value>) -> Map<String, Value> {
        let mut out = t.clone();
        if self.omit_false_hasbeenclosed && out.get("hasbeenclosed") == Some(&Value::Bool(false)) {
            out.remove("hasbeenclosed");
        }
        if self.omit_ticket_relations {
            for k in RELATION_FIELDS {
                out.remove(*k);
            }
        }
        out
    }

    /// Whether a full read differs from the ticket as stored.
    pub(crate) fn reshapes_full_reads(&self) -> bool {
        self.omit_false_hasbeenclosed || self.omit_ticket_relations
    }

    /// A ticket as a list row shows it; custom fields only those asked for by id.
    pub(crate) fn row(&self, t: &Map<String, Value>, custom_fields: Option<&[i64]>) -> Map<String, Value> {
        let mut row: Map<String, Value> = match self.list_rows {
            ListRows::Thin => THIN_ROW_FIELDS.iter().filter_map(|k| t.get(*k).map(|v| (k.to_string(), v.clone()))).collect(),
            ListRows::Schema => t
                .iter()
                .filter(|(k, _)| !matches!(k.as_str(), "datecreated" | "customfields"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        };
        if let Some(ids) = custom_fields {
            let cfs: Vec<Value> = t
                .get("customfields")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter(|c| c.get("id").and_then(Value::as_i64).is_some_and(|id| ids.contains(&id))).cloned().collect())
                .unwrap_or_default();
            row.insert("customfields".into(), Value::Array(cfs));
        }
        row
    }
}

/// The small object of a webhook delivery.
pub(crate) fn small_object(t: &Value) -> Value {
    let Some(t) = t.as_object() else { return t.clone() };
    Value::Object(SMALL_OBJECT_FIELDS.iter().filter_map(|k| t.get(*k).map(|v| (k.to_string(), v.clone()))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ticket() -> Map<String, Value> {
        json!({"id": 7, "summary": "s", "status_id": 1, "status_name": "New", "hasbeenclosed": false, "team_id": 2,
               "team": "Security Operations", "datecreated": "2026-01-01T00:00:00",
               "customfields": [{"id": 101, "value": "a"}, {"id": 102, "value": "b"}]})
        .as_object()
        .cloned()
        .unwrap_or_default()
    }

    #[test]
    fn thin_rows_carry_only_the_captured_fields() {
        let p = Profile::default();
        let row = p.row(&ticket(), None);
        for k in ["hasbeenclosed", "team_id", "status_name", "datecreated", "customfields"] {
            assert!(!row.contains_key(k), "{k}");
        }
        assert_eq!(row.get("team"), Some(&json!("Security Operations")));
        let row = p.row(&ticket(), Some(&[102]));
        assert_eq!(row.get("customfields"), Some(&json!([{"id": 102, "value": "b"}])));
        let schema = Profile { list_rows: ListRows::Schema, ..Profile::default() }.row(&ticket(), None);
        assert!(schema.contains_key("hasbeenclosed") && schema.contains_key("team_id") && !schema.contains_key("datecreated"));
    }

    #[test]
    fn the_false_flag_can_be_left_out() {
        let p = Profile { omit_false_hasbeenclosed: true, ..Profile::default() };
        assert!(!p.full(&ticket()).contains_key("hasbeenclosed"));
        let mut closed = ticket();
        closed.insert("hasbeenclosed".into(), json!(true));
        assert_eq!(p.full(&closed).get("hasbeenclosed"), Some(&json!(true)));
        assert!(Profile::default().full(&ticket()).contains_key("hasbeenclosed"));
    }

    #[test]
    fn relations_can_be_left_out_of_full_reads() {
        let mut t = ticket();
        t.insert("assets".into(), json!([{"id": 201}]));
        t.insert("parent_id".into(), json!(101));
        t.insert("child_ticket_ids".into(), json!("105"));
        let p = Profile { omit_ticket_relations: true, ..Profile::default() };
        let full = p.full(&t);
        assert!(RELATION_FIELDS.iter().all(|k| !full.contains_key(*k)) && full.contains_key("summary"));
        assert!(p.reshapes_full_reads() && !Profile::default().reshapes_full_reads());
        assert_eq!(Profile::default().full(&t).get("parent_id"), Some(&json!(101)));
    }

    #[test]
    fn small_objects_follow_the_capture() {
        let v = small_object(&Value::Object(ticket()));
        assert!(v.get("team_id").is_some() && v.get("hasbeenclosed").is_some() && v.get("team").is_none());
    }
}
