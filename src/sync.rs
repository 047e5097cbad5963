//! Rapid7 ⇄ HaloITSM status mappings and external references, for two-way sync workflows
//! (InsightIDR investigations, InsightVM remediation projects).
//!
//! Status IDs and names differ between HaloITSM tenants (docs/halo-api.md#S4, S6), so the
//! default tables name HaloITSM statuses, and the names are looked up in the tenant's own status
//! list. Every table can be replaced, from the connection's `status_mapping` and per action; a
//! value is a status ID (used as given), a name, or a list of names (the first the tenant has):
//! ```json
//! {"insightidr_to_halo": {"OPEN": "New", "INVESTIGATING": "In Progress",
//!                         "WAITING": ["Waiting on User", "Waiting on Client", "Pending", "On Hold"], "CLOSED": "Closed"},
//!  "insightvm_to_halo": {"Not Started": "New", "In Progress": "In Progress", "Remediated": "Resolved", "Will Not Fix": "Closed"},
//!  "halo_to_insightidr": {"In Progress": "INVESTIGATING", "Resolved": "CLOSED", "Closed": "CLOSED"},
//!  "halo_to_insightvm": {"New": "Not Started", "In Progress": "In Progress", "Resolved": "Remediated", "Closed": "Will Not Fix"}}
//! ```
//! A table given replaces that whole table. A Rapid7 status that closes its object (InsightIDR
//! CLOSED, InsightVM Remediated and Will Not Fix) whose HaloITSM name the tenant lacks goes to the
//! connection's closed status (9, HaloITSM's built-in Closed, unless changed); any other missing
//! name is an error naming the table to fix. HaloITSM → InsightIDR answers, for a status not
//! listed, CLOSED when HaloITSM counts the ticket closed, WAITING when it is on hold (waiting on
//! someone else), else OPEN; HaloITSM → InsightVM is defined only where the table says.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

use crate::halo::tenant::Statuses;
use crate::halo::{ConnectionConfig, HaloClient};
use crate::protocol::PluginError;

/// A Rapid7 product whose statuses are mapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Product {
    InsightIdr,
    InsightVm,
}

impl Product {
    pub fn parse(s: &str) -> Option<Product> {
        match s.trim().to_ascii_lowercase().as_str() {
            "insightidr" | "idr" => Some(Product::InsightIdr),
            "insightvm" | "ivm" => Some(Product::InsightVm),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Product::InsightIdr => "InsightIDR",
            Product::InsightVm => "InsightVM",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Product::InsightIdr => "investigation",
            Product::InsightVm => "remediation project",
        }
    }
}

/// A status that has no mapping; says which ones do.
#[derive(Debug, Clone, PartialEq)]
pub struct Unmapped {
    pub message: String,
}

impl fmt::Display for Unmapped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Status names compared without case, spaces, underscores or hyphens
/// (`Not Started` = `NOT_STARTED` = `not-started`).
fn norm(s: &str) -> String {
    s.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

/// What HaloITSM says about a ticket besides its status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flags {
    /// HaloITSM counts the ticket closed (`hasbeenclosed`).
    pub closed: bool,
    /// The ticket waits on someone else (`onhold`).
    pub waiting: bool,
}

impl Flags {
    /// The flags of a ticket as a full read shows it; whether it is closed is known even when
    /// the read leaves HaloITSM's flag out (docs/halo-api.md#T11).
    pub async fn read(client: &HaloClient, ticket: &Value) -> Flags {
        Flags { closed: client.is_closed(ticket).await, ..Flags::of(ticket) }
    }

    /// The flags a record carries itself.
    pub fn of(ticket: &Value) -> Flags {
        let flag = |k: &str| match ticket.get(k) {
            Some(Value::Bool(b)) => *b,
            Some(Value::Number(n)) => n.as_i64().is_some_and(|i| i != 0),
            _ => false,
        };
        Flags { closed: flag("hasbeenclosed"), waiting: flag("onhold") }
    }
}

/// A HaloITSM status as a mapping names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum StatusRef {
    /// A status ID, used as given.
    Id(i64),
    /// Status names, the first one the tenant has.
    Names(Vec<String>),
}

impl StatusRef {
    fn names(names: &[&str]) -> StatusRef {
        StatusRef::Names(names.iter().map(|n| n.to_string()).collect())
    }

    /// The tenant's status ID for this reference, if the tenant has it.
    pub fn resolve(&self, tenant: &Statuses) -> Option<i64> {
        match self {
            StatusRef::Id(id) => Some(*id),
            StatusRef::Names(names) => names.iter().find_map(|n| tenant.named(n)).map(|s| s.id),
        }
    }

    /// Whether this reference names the HaloITSM status `id`.
    fn matches(&self, id: i64, tenant: &Statuses) -> bool {
        match self {
            StatusRef::Id(i) => *i == id,
            StatusRef::Names(names) => tenant.get(id).is_some_and(|s| names.iter().any(|n| s.name.trim().eq_ignore_ascii_case(n.trim()))),
        }
    }
}

impl fmt::Display for StatusRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StatusRef::Id(id) => write!(f, "status {id}"),
            StatusRef::Names(names) if names.len() == 1 => write!(f, "status named `{}`", names[0]),
            StatusRef::Names(names) => {
                write!(f, "status named {}", names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(" or "))
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Mappings {
    pub idr_to_halo: BTreeMap<String, StatusRef>,
    pub ivm_to_halo: BTreeMap<String, StatusRef>,
    pub halo_to_idr: Vec<(StatusRef, String)>,
    pub halo_to_ivm: Vec<(StatusRef, String)>,
}

impl Default for Mappings {
    fn default() -> Self {
        let to = |v: &[(&str, &[&str])]| v.iter().map(|(k, n)| (k.to_string(), StatusRef::names(n))).collect();
        let from = |v: &[(&str, &str)]| v.iter().map(|(n, k)| (StatusRef::names(&[n]), k.to_string())).collect();
        Mappings {
            idr_to_halo: to(&[
                ("OPEN", &["New"]),
                ("INVESTIGATING", &["In Progress"]),
                ("WAITING", &["Waiting on User", "Waiting on Client", "Pending", "On Hold"]),
                ("CLOSED", &["Closed"]),
            ]),
            ivm_to_halo: to(&[
                ("Not Started", &["New"]),
                ("In Progress", &["In Progress"]),
                ("Remediated", &["Resolved"]),
                ("Will Not Fix", &["Closed"]),
            ]),
            halo_to_idr: from(&[("In Progress", "INVESTIGATING"), ("Resolved", "CLOSED"), ("Closed", "CLOSED")]),
            halo_to_ivm: from(&[
                ("New", "Not Started"),
                ("In Progress", "In Progress"),
                ("Resolved", "Remediated"),
                ("Closed", "Will Not Fix"),
            ]),
        }
    }
}

/// The Rapid7 statuses that close their object: mapped to a status the tenant lacks, they go to
/// the connection's closed status instead of failing.
fn closes(product: Product, status: &str) -> bool {
    let s = norm(status);
    match product {
        Product::InsightIdr => s == "closed",
        Product::InsightVm => s == "remediated" || s == "willnotfix",
    }
}

fn status_ref(v: &Value, at: &str) -> Result<StatusRef, String> {
    let name = |s: &str| -> Result<String, String> {
        let s = s.trim();
        if s.is_empty() { Err(format!("`{at}` has an empty status name")) } else { Ok(s.to_string()) }
    };
    match v {
        Value::Number(_) => match v.as_i64() {
            Some(id) if id > 0 => Ok(StatusRef::Id(id)),
            _ => Err(format!("`{at}` must be a positive HaloITSM status ID or a status name, got {v}")),
        },
        Value::String(s) => match s.trim().parse::<i64>() {
            Ok(id) if id > 0 => Ok(StatusRef::Id(id)),
            Ok(_) => Err(format!("`{at}` must be a positive HaloITSM status ID or a status name, got {v}")),
            Err(_) => Ok(StatusRef::Names(vec![name(s)?])),
        },
        Value::Array(items) if !items.is_empty() => Ok(StatusRef::Names(
            items
                .iter()
                .map(|i| i.as_str().ok_or_else(|| format!("`{at}` must list status names, got {i}")).and_then(name))
                .collect::<Result<_, _>>()?,
        )),
        _ => Err(format!("`{at}` must be a HaloITSM status ID, a status name or a list of names, got {v}")),
    }
}

fn to_halo_table(v: &Value, name: &str) -> Result<BTreeMap<String, StatusRef>, String> {
    let m = v.as_object().ok_or_else(|| format!("`{name}` must be an object of status → HaloITSM status"))?;
    m.iter().map(|(k, v)| Ok((k.clone(), status_ref(v, &format!("{name}.{k}"))?))).collect()
}

fn from_halo_table(v: &Value, name: &str) -> Result<Vec<(StatusRef, String)>, String> {
    let m = v.as_object().ok_or_else(|| format!("`{name}` must be an object of HaloITSM status → status"))?;
    m.iter()
        .map(|(k, v)| {
            let key = status_ref(&Value::String(k.clone()), &format!("{name}` key `{k}"))?;
            let s = v.as_str().filter(|s| !s.trim().is_empty()).ok_or_else(|| format!("`{name}.{k}` must be a status name, got {v}"))?;
            Ok((key, s.trim().to_string()))
        })
        .collect()
}

impl Mappings {
    /// The defaults with the tables of `overrides` (the connection's, then an action's) in
    /// their place. The error names the table and key at fault.
    pub fn with(overrides: &[Option<&Value>]) -> Result<Mappings, String> {
        let mut m = Mappings::default();
        for o in overrides.iter().flatten() {
            let Some(obj) = o.as_object() else { return Err("the status mapping must be an object".into()) };
            apply(&mut m, obj)?;
        }
        Ok(m)
    }

    /// The connection's mappings: the defaults with its Status Mapping's tables in their place.
    /// The one check of that setting, made when the connection is (so the connection test
    /// reports a bad one), and the one message for it.
    pub fn of_connection(connection: &ConnectionConfig) -> Result<Mappings, PluginError> {
        Mappings::with(&[connection.status_mapping.as_ref()]).map_err(|e| {
            PluginError::client(
                format!("The connection setting `status_mapping` (Status Mapping) is invalid: {e}."),
                "Correct the connection field `status_mapping`; the help shows its shape and the default tables.",
            )
        })
    }

    fn table(&self, product: Product) -> (&BTreeMap<String, StatusRef>, &'static str) {
        match product {
            Product::InsightIdr => (&self.idr_to_halo, "insightidr_to_halo"),
            Product::InsightVm => (&self.ivm_to_halo, "insightvm_to_halo"),
        }
    }

    /// The tenant's HaloITSM status for a Rapid7 status. `closed_status` is where a closing
    /// Rapid7 status goes when the status it is mapped to is not the tenant's.
    pub fn to_halo(&self, product: Product, status: &str, tenant: &Statuses, closed_status: i64) -> Result<i64, Unmapped> {
        let (table, table_name) = self.table(product);
        let wanted = norm(status);
        let Some((key, target)) = table.iter().find(|(k, _)| norm(k) == wanted) else {
            return Err(Unmapped {
                message: format!(
                    "`{status}` is not a {} {} status this plugin maps; accepted: {}",
                    product.name(),
                    product.what(),
                    table.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            });
        };
        match target.resolve(tenant) {
            Some(id) => Ok(id),
            None if closes(product, key) => Ok(closed_status),
            None => Err(Unmapped {
                message: format!(
                    "HaloITSM has no {target}, which {} {key} is mapped to; map {key} to one of this tenant's statuses in the Status Mapping's `{table_name}` table",
                    product.name()
                ),
            }),
        }
    }

    /// The Rapid7 status for a HaloITSM ticket's status.
    pub fn to_rapid7(&self, product: Product, halo_status: i64, state: Flags, tenant: &Statuses) -> Result<String, Unmapped> {
        let (table, name) = match product {
            Product::InsightIdr => (&self.halo_to_idr, "halo_to_insightidr"),
            Product::InsightVm => (&self.halo_to_ivm, "halo_to_insightvm"),
        };
        let mapped = table.iter().find(|(k, _)| k.matches(halo_status, tenant)).map(|(_, v)| v.clone());
        match (product, mapped) {
            (_, Some(s)) => Ok(s),
            (Product::InsightIdr, None) if state.closed => Ok("CLOSED".into()),
            (Product::InsightIdr, None) if state.waiting => Ok("WAITING".into()),
            (Product::InsightIdr, None) => Ok("OPEN".into()),
            (Product::InsightVm, None) => Err(Unmapped {
                message: format!(
                    "HaloITSM status {halo_status} has no InsightVM remediation status; the `{name}` table maps: {}",
                    table.iter().map(|(k, v)| format!("{k} → {v}")).collect::<Vec<_>>().join(", ")
                ),
            }),
        }
    }

    /// Whether a HaloITSM status already means this Rapid7 status (the loop breaker).
    pub fn equivalent(&self, product: Product, halo_status: i64, state: Flags, rapid7_status: &str, tenant: &Statuses) -> bool {
        self.to_rapid7(product, halo_status, state, tenant).is_ok_and(|s| norm(&s) == norm(rapid7_status))
    }

    /// Whether a Rapid7 status closes its object (and so the HaloITSM ticket must end up closed).
    pub fn closes(product: Product, status: &str) -> bool {
        closes(product, status)
    }
}

fn apply(m: &mut Mappings, obj: &Map<String, Value>) -> Result<(), String> {
    for (k, v) in obj {
        match k.as_str() {
            "insightidr_to_halo" => m.idr_to_halo = to_halo_table(v, k)?,
            "insightvm_to_halo" => m.ivm_to_halo = to_halo_table(v, k)?,
            "halo_to_insightidr" => m.halo_to_idr = from_halo_table(v, k)?,
            "halo_to_insightvm" => m.halo_to_ivm = from_halo_table(v, k)?,
            other => {
                return Err(format!(
                    "the status mapping has the table `{other}`; expected insightidr_to_halo, insightvm_to_halo, halo_to_insightidr or halo_to_insightvm"
                ));
            }
        }
    }
    Ok(())
}

/// The value of a custom field on a raw HaloITSM ticket.
pub fn custom_field(ticket: &Value, field_id: i64) -> Option<String> {
    ticket.get("customfields")?.as_array()?.iter().find(|c| c.get("id").and_then(Value::as_i64) == Some(field_id)).and_then(|c| {
        match c.get("value")? {
            Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    })
}

/// The searchable tag of an external reference, written in the details of tickets this plugin
/// creates for it (FNV-1a, stable).
pub fn reference_tag(reference: &str) -> String {
    format!("rapid7-ref:{:016x}", crate::fnv::fnv1a(reference.trim().as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stock() -> Statuses {
        let all: Vec<Value> =
            [(1, "New"), (2, "In Progress"), (3, "Pending"), (4, "On Hold"), (5, "Waiting on Client"), (8, "Resolved"), (9, "Closed")]
                .iter()
                .map(|(id, n)| json!({"id": id, "name": n}))
                .collect();
        Statuses::from_lists(&all, &all[..6])
    }

    fn renamed() -> Statuses {
        let all: Vec<Value> =
            [(1, "Logged"), (2, "Working"), (21, "Completed")].iter().map(|(id, n)| json!({"id": id, "name": n})).collect();
        Statuses::from_lists(&all, &all[..2])
    }

    #[test]
    fn default_tables_name_statuses_and_resolve_on_the_tenant() {
        let m = Mappings::default();
        let t = stock();
        assert_eq!(m.to_halo(Product::InsightVm, "Not Started", &t, 9), Ok(1));
        assert_eq!(m.to_halo(Product::InsightVm, "in_progress", &t, 9), Ok(2));
        assert_eq!(m.to_halo(Product::InsightVm, "REMEDIATED", &t, 9), Ok(8));
        assert_eq!(m.to_halo(Product::InsightVm, "will-not-fix", &t, 9), Ok(9));
        for (s, h) in [("OPEN", 1), ("investigating", 2), ("WAITING", 5), ("Closed", 9)] {
            assert_eq!(m.to_halo(Product::InsightIdr, s, &t, 9), Ok(h), "{s}");
        }
        let open = Flags::default();
        let closed = Flags { closed: true, waiting: false };
        let on_hold = Flags { closed: false, waiting: true };
        for (h, f, s) in [
            (9, closed, "CLOSED"),
            (8, closed, "CLOSED"),
            (2, open, "INVESTIGATING"),
            (4, on_hold, "WAITING"),
            (1, open, "OPEN"),
            (7, open, "OPEN"),
        ] {
            assert_eq!(m.to_rapid7(Product::InsightIdr, h, f, &t).unwrap(), s, "halo {h}");
        }
        assert_eq!(m.to_rapid7(Product::InsightVm, 8, open, &t).unwrap(), "Remediated");
        assert_eq!(m.to_rapid7(Product::InsightVm, 9, closed, &t).unwrap(), "Will Not Fix");
        let e = m.to_rapid7(Product::InsightVm, 3, open, &t).unwrap_err();
        assert!(e.message.contains("`halo_to_insightvm` table maps"), "{e}");
    }

    #[test]
    fn a_tenant_without_the_names_closes_with_the_closed_status_and_errs_otherwise() {
        let m = Mappings::default();
        let t = renamed();
        assert_eq!(m.to_halo(Product::InsightIdr, "CLOSED", &t, 21), Ok(21));
        assert_eq!(m.to_halo(Product::InsightVm, "Remediated", &t, 21), Ok(21));
        let e = m.to_halo(Product::InsightIdr, "INVESTIGATING", &t, 21).unwrap_err();
        assert_eq!(
            e.message,
            "HaloITSM has no status named `In Progress`, which InsightIDR INVESTIGATING is mapped to; map INVESTIGATING to one of this tenant's statuses in the Status Mapping's `insightidr_to_halo` table"
        );
        // An ID is used as given, whatever the tenant's list says.
        let ids =
            Mappings::with(&[Some(&json!({"insightidr_to_halo": {"INVESTIGATING": 2, "OPEN": "1", "WAITING": ["Nope", "Working"]}}))])
                .unwrap();
        assert_eq!(ids.to_halo(Product::InsightIdr, "INVESTIGATING", &t, 21), Ok(2));
        assert_eq!(ids.to_halo(Product::InsightIdr, "OPEN", &t, 21), Ok(1));
        assert_eq!(ids.to_halo(Product::InsightIdr, "WAITING", &t, 21), Ok(2), "the first name the tenant has");
    }

    #[test]
    fn unknown_values_list_the_accepted_ones() {
        let e = Mappings::default().to_halo(Product::InsightIdr, "PAUSED", &stock(), 9).unwrap_err();
        assert_eq!(
            e.message,
            "`PAUSED` is not a InsightIDR investigation status this plugin maps; accepted: CLOSED, INVESTIGATING, OPEN, WAITING"
        );
    }

    #[test]
    fn tables_can_be_replaced_by_the_connection_then_the_action() {
        let t = stock();
        let conn = json!({"insightidr_to_halo": {"OPEN": 21, "INVESTIGATING": 22, "WAITING": 23, "CLOSED": 29}});
        let action = json!({"halo_to_insightidr": {"22": "INVESTIGATING", "29": "CLOSED"}});
        let m = Mappings::with(&[Some(&conn), Some(&action)]).unwrap();
        assert_eq!(m.to_halo(Product::InsightIdr, "CLOSED", &t, 9), Ok(29));
        assert_eq!(m.to_rapid7(Product::InsightIdr, 29, Flags::default(), &t).unwrap(), "CLOSED");
        assert_eq!(
            m.to_rapid7(Product::InsightIdr, 2, Flags::default(), &t).unwrap(),
            "OPEN",
            "the action's table replaced the default one"
        );
        assert_eq!(m.to_halo(Product::InsightVm, "Remediated", &t, 9), Ok(8), "untouched tables keep their defaults");
        assert!(Mappings::with(&[Some(&json!({"idr": {}}))]).unwrap_err().contains("expected insightidr_to_halo"));
        assert!(
            Mappings::with(&[Some(&json!({"insightidr_to_halo": {"OPEN": -1}}))])
                .unwrap_err()
                .contains("`insightidr_to_halo.OPEN` must be a positive")
        );
        assert!(Mappings::with(&[Some(&json!({"insightidr_to_halo": {"OPEN": true}}))]).unwrap_err().contains("insightidr_to_halo.OPEN"));
        assert!(Mappings::with(&[Some(&json!({"halo_to_insightidr": {"Closed": 5}}))]).unwrap_err().contains("must be a status name"));
        let by_name = Mappings::with(&[Some(&json!({"halo_to_insightidr": {"waiting on client": "WAITING"}}))]).unwrap();
        assert_eq!(by_name.to_rapid7(Product::InsightIdr, 5, Flags::default(), &t).unwrap(), "WAITING");
    }

    #[test]
    fn equivalence_breaks_loops() {
        let m = Mappings::default();
        let t = stock();
        assert!(
            m.equivalent(Product::InsightIdr, 8, Flags { closed: false, waiting: false }, "CLOSED", &t),
            "Resolved already means CLOSED"
        );
        assert!(!m.equivalent(Product::InsightIdr, 2, Flags::default(), "CLOSED", &t));
        assert_eq!(Flags::of(&json!({"hasbeenclosed": true, "onhold": 1})), Flags { closed: true, waiting: true });
        assert!(Mappings::closes(Product::InsightVm, "will not fix") && !Mappings::closes(Product::InsightIdr, "WAITING"));
    }

    #[test]
    fn references_and_custom_fields() {
        let t = json!({"customfields": [{"id": 101, "value": " rrn:x "}, {"id": 102, "value": 5}, {"id": 103, "value": null}]});
        assert_eq!(custom_field(&t, 101).as_deref(), Some("rrn:x"));
        assert_eq!(custom_field(&t, 102).as_deref(), Some("5"));
        assert_eq!(custom_field(&t, 103), None);
        assert_eq!(reference_tag("rrn:x"), reference_tag(" rrn:x "));
        assert!(reference_tag("a").starts_with("rapid7-ref:"));
    }
}
