//! Rapid7 ⇄ HaloITSM status mappings and external references, for two-way sync workflows
//! (InsightIDR investigations, InsightVM remediation projects).
//!
//! Status IDs differ between HaloITSM instances, so every table can be replaced, from the
//! connection's `status_mapping` and per action:
//! ```json
//! {"insightidr_to_halo": {"OPEN": 1, "INVESTIGATING": 2, "WAITING": 3, "CLOSED": 5},
//!  "insightvm_to_halo": {"Not Started": 1, "In Progress": 2, "Remediated": 4, "Will Not Fix": 5},
//!  "halo_to_insightidr": {"2": "INVESTIGATING", "3": "WAITING", "4": "CLOSED", "5": "CLOSED"},
//!  "halo_to_insightvm": {"1": "Not Started", "2": "In Progress", "4": "Remediated", "5": "Will Not Fix"}}
//! ```
//! A table given replaces that whole table. HaloITSM → InsightIDR answers, for a status not
//! listed, CLOSED when HaloITSM marks the ticket closed, WAITING when it marks it on hold
//! (waiting on someone else), else OPEN; HaloITSM → InsightVM is defined only where the table
//! says.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

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
    pub fn of(ticket: &Value) -> Flags {
        let flag = |k: &str| match ticket.get(k) {
            Some(Value::Bool(b)) => *b,
            Some(Value::Number(n)) => n.as_i64().is_some_and(|i| i != 0),
            _ => false,
        };
        Flags { closed: flag("hasbeenclosed"), waiting: flag("onhold") }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Mappings {
    pub idr_to_halo: BTreeMap<String, i64>,
    pub ivm_to_halo: BTreeMap<String, i64>,
    pub halo_to_idr: BTreeMap<i64, String>,
    pub halo_to_ivm: BTreeMap<i64, String>,
}

impl Default for Mappings {
    fn default() -> Self {
        let s = |v: &[(&str, i64)]| v.iter().map(|(k, n)| (k.to_string(), *n)).collect();
        let h = |v: &[(i64, &str)]| v.iter().map(|(n, k)| (*n, k.to_string())).collect();
        Mappings {
            idr_to_halo: s(&[("OPEN", 1), ("INVESTIGATING", 2), ("WAITING", 3), ("CLOSED", 5)]),
            ivm_to_halo: s(&[("Not Started", 1), ("In Progress", 2), ("Remediated", 4), ("Will Not Fix", 5)]),
            halo_to_idr: h(&[(2, "INVESTIGATING"), (3, "WAITING"), (4, "CLOSED"), (5, "CLOSED")]),
            halo_to_ivm: h(&[(1, "Not Started"), (2, "In Progress"), (4, "Remediated"), (5, "Will Not Fix")]),
        }
    }
}

fn to_halo_table(v: &Value, name: &str) -> Result<BTreeMap<String, i64>, String> {
    let m = v.as_object().ok_or_else(|| format!("`{name}` must be an object of status → HaloITSM status ID"))?;
    m.iter()
        .map(|(k, v)| match v.as_i64() {
            Some(id) if id > 0 => Ok((k.clone(), id)),
            _ => Err(format!("`{name}.{k}` must be a positive HaloITSM status ID, got {v}")),
        })
        .collect()
}

fn from_halo_table(v: &Value, name: &str) -> Result<BTreeMap<i64, String>, String> {
    let m = v.as_object().ok_or_else(|| format!("`{name}` must be an object of HaloITSM status ID → status"))?;
    m.iter()
        .map(|(k, v)| {
            let id: i64 = k.trim().parse().map_err(|_| format!("`{name}` has the key `{k}`, which is not a HaloITSM status ID"))?;
            let s = v.as_str().filter(|s| !s.trim().is_empty()).ok_or_else(|| format!("`{name}.{k}` must be a status name, got {v}"))?;
            Ok((id, s.trim().to_string()))
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

    /// The HaloITSM status for a Rapid7 status.
    pub fn to_halo(&self, product: Product, status: &str) -> Result<i64, Unmapped> {
        let table = match product {
            Product::InsightIdr => &self.idr_to_halo,
            Product::InsightVm => &self.ivm_to_halo,
        };
        let wanted = norm(status);
        table.iter().find(|(k, _)| norm(k) == wanted).map(|(_, v)| *v).ok_or_else(|| Unmapped {
            message: format!(
                "`{status}` is not a {} {} status this plugin maps; accepted: {}",
                product.name(),
                product.what(),
                table.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        })
    }

    /// The Rapid7 status for a HaloITSM ticket's status.
    pub fn to_rapid7(&self, product: Product, halo_status: i64, state: Flags) -> Result<String, Unmapped> {
        match product {
            Product::InsightIdr => Ok(match self.halo_to_idr.get(&halo_status) {
                Some(s) => s.clone(),
                None if state.closed => "CLOSED".into(),
                None if state.waiting => "WAITING".into(),
                None => "OPEN".into(),
            }),
            Product::InsightVm => self.halo_to_ivm.get(&halo_status).cloned().ok_or_else(|| Unmapped {
                message: format!(
                    "HaloITSM status {halo_status} has no InsightVM remediation status; mapped HaloITSM statuses: {}",
                    self.halo_to_ivm.keys().map(|k| k.to_string()).collect::<Vec<_>>().join(", ")
                ),
            }),
        }
    }

    /// Whether a HaloITSM status already means this Rapid7 status (the loop breaker).
    pub fn equivalent(&self, product: Product, halo_status: i64, state: Flags, rapid7_status: &str) -> bool {
        self.to_rapid7(product, halo_status, state).is_ok_and(|s| norm(&s) == norm(rapid7_status))
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
    let mut h: u64 = 0xcbf29ce484222325;
    for b in reference.trim().as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("rapid7-ref:{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn default_tables_as_specified() {
        let m = Mappings::default();
        assert_eq!(m.to_halo(Product::InsightVm, "Not Started"), Ok(1));
        assert_eq!(m.to_halo(Product::InsightVm, "in_progress"), Ok(2));
        assert_eq!(m.to_halo(Product::InsightVm, "REMEDIATED"), Ok(4));
        assert_eq!(m.to_halo(Product::InsightVm, "will-not-fix"), Ok(5));
        for (s, h) in [("OPEN", 1), ("investigating", 2), ("WAITING", 3), ("Closed", 5)] {
            assert_eq!(m.to_halo(Product::InsightIdr, s), Ok(h));
        }
        let open = Flags::default();
        let closed = Flags { closed: true, waiting: false };
        let on_hold = Flags { closed: false, waiting: true };
        for (h, f, s) in [
            (4, closed, "CLOSED"),
            (5, closed, "CLOSED"),
            (2, open, "INVESTIGATING"),
            (3, on_hold, "WAITING"),
            (1, open, "OPEN"),
            (6, on_hold, "WAITING"),
            (7, open, "OPEN"),
            (8, closed, "CLOSED"),
        ] {
            assert_eq!(m.to_rapid7(Product::InsightIdr, h, f).unwrap(), s, "halo {h}");
        }
        assert_eq!(m.to_rapid7(Product::InsightVm, 4, closed).unwrap(), "Remediated");
        let e = m.to_rapid7(Product::InsightVm, 3, open).unwrap_err();
        assert!(e.message.contains("mapped HaloITSM statuses: 1, 2, 4, 5"), "{e}");
    }

    #[test]
    fn unknown_values_list_the_accepted_ones() {
        let e = Mappings::default().to_halo(Product::InsightIdr, "PAUSED").unwrap_err();
        assert_eq!(
            e.message,
            "`PAUSED` is not a InsightIDR investigation status this plugin maps; accepted: CLOSED, INVESTIGATING, OPEN, WAITING"
        );
    }

    #[test]
    fn tables_can_be_replaced_by_the_connection_then_the_action() {
        let conn = json!({"insightidr_to_halo": {"OPEN": 21, "INVESTIGATING": 22, "WAITING": 23, "CLOSED": 29}});
        let action = json!({"halo_to_insightidr": {"22": "INVESTIGATING", "29": "CLOSED"}});
        let m = Mappings::with(&[Some(&conn), Some(&action)]).unwrap();
        assert_eq!(m.to_halo(Product::InsightIdr, "CLOSED"), Ok(29));
        assert_eq!(m.to_rapid7(Product::InsightIdr, 29, Flags::default()).unwrap(), "CLOSED");
        assert_eq!(m.to_rapid7(Product::InsightIdr, 4, Flags::default()).unwrap(), "OPEN", "the action's table replaced the default one");
        assert_eq!(m.to_halo(Product::InsightVm, "Remediated"), Ok(4), "untouched tables keep their defaults");
        assert!(Mappings::with(&[Some(&json!({"idr": {}}))]).unwrap_err().contains("expected insightidr_to_halo"));
        assert!(
            Mappings::with(&[Some(&json!({"insightidr_to_halo": {"OPEN": "one"}}))])
                .unwrap_err()
                .contains("`insightidr_to_halo.OPEN` must be a positive")
        );
        assert!(Mappings::with(&[Some(&json!({"halo_to_insightidr": {"x": "OPEN"}}))]).unwrap_err().contains("not a HaloITSM status ID"));
    }

    #[test]
    fn equivalence_breaks_loops() {
        let m = Mappings::default();
        assert!(m.equivalent(Product::InsightIdr, 4, Flags { closed: true, waiting: false }, "CLOSED"), "Resolved already means CLOSED");
        assert!(!m.equivalent(Product::InsightIdr, 2, Flags::default(), "CLOSED"));
        assert_eq!(Flags::of(&json!({"hasbeenclosed": true, "onhold": 1})), Flags { closed: true, waiting: true });
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
