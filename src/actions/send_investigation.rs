//! `send_investigation`: an InsightIDR investigation, exactly as Rapid7's InsightIDR plugin outputs
//! it (type `investigation`, docs/halo-api.md#RP13: `rrn`, `title`, `status`, `priority`, `disposition`, `assignee
//! {name, email}`, `source`, times), becomes one ticket keyed by its RRN through the reference
//! engine (`reference::find`, `reference::create_for`).
//!
//! What was last sent is kept on the ticket as a line `[insightidr-sync] {json}` (in the details
//! when created, in the change note after), so a later call changes only the ticket fields whose
//! InsightIDR source changed since: an agent's own edit of another field stays.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::common::{invalid_input, ticket_type};
use super::host_to_asset::{Host, HostLookup, link_failure};
use super::reference::{create_for, field_of, find, mappings};
use super::{Action, ActionContext};
use crate::halo::HaloClient;
use crate::halo::HaloError;
use crate::halo::outcomes::Purpose;
use crate::halo::ticket::{Ticket, int, string};
use crate::protocol::PluginError;
use crate::sync::Product;

const NAME: &str = "send_investigation";
/// Marks the line that records what was last sent.
const SYNC_MARK: &str = "[insightidr-sync] ";
const STATUSES: [&str; 4] = ["OPEN", "INVESTIGATING", "WAITING", "CLOSED"];
const PRIORITIES: [&str; 5] = ["UNSPECIFIED", "LOW", "MEDIUM", "HIGH", "CRITICAL"];

pub struct SendInvestigation;

#[derive(Debug, Deserialize)]
pub struct Input {
    pub investigation: Value,
    #[serde(default)]
    pub alerts: Vec<Value>,
    pub reference_field_id: Option<i64>,
    pub tickettype_id: Option<i64>,
    pub team_id: Option<i64>,
    pub priority_mapping: Option<Value>,
    pub status_mapping: Option<Value>,
    #[serde(default)]
    pub hosts: Vec<String>,
}

/// The investigation's ticket as the step left it.
#[derive(Debug, Serialize)]
pub struct Upserted {
    pub ticket: Ticket,
    /// `created`, `updated` or `unchanged`.
    pub outcome: &'static str,
    /// What changed since the last call, as the note says it.
    pub changes: Vec<String>,
    pub duplicates_closed: Vec<i64>,
}

#[derive(Debug, Serialize)]
pub struct Output {
    #[serde(flatten)]
    pub upserted: Upserted,
    /// With `hosts`: every CMDB asset the ticket links, the hosts no single asset matched, and
    /// why linking failed (the ticket stands).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cmdb_asset_ids: Option<Vec<i64>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unmatched_hosts: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link_error: Option<String>,
}

/// The most hosts one call links.
const MAX_HOSTS: usize = 100;

/// The investigation fields the ticket follows, upper-cased where InsightIDR has a fixed set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Synced {
    title: String,
    status: String,
    priority: String,
    disposition: String,
    assignee: String,
}

impl Synced {
    fn of(inv: &Map<String, Value>) -> Result<Synced, PluginError> {
        let text = |k: &str| inv.get(k).and_then(Value::as_str).map(str::trim).unwrap_or_default().to_string();
        let one_of = |k: &str, allowed: &[&str]| -> Result<String, PluginError> {
            // A number (say a priority of 3) is refused, never read as "none given": InsightIDR
            // names these, and a guess at what 3 means would put the wrong priority on the ticket.
            if let Some(v) = inv.get(k).filter(|v| !v.is_string() && !v.is_null()) {
                return Err(invalid_input(
                    NAME,
                    format!("input `investigation.{k}` must be one of {} (a name), got {v}", allowed.join(", ")),
                    "Pass the investigation as InsightIDR's plugin outputs it; priority_mapping maps its priorities to HaloITSM's priority IDs.",
                ));
            }
            let v = text(k).to_ascii_uppercase();
            if v.is_empty() || allowed.contains(&v.as_str()) {
                return Ok(v);
            }
            Err(invalid_input(
                NAME,
                format!("input `investigation.{k}` must be one of {}, got `{}`", allowed.join(", "), text(k)),
                "Pass the investigation as InsightIDR's plugin outputs it.",
            ))
        };
        Ok(Synced {
            title: text("title"),
            status: one_of("status", &STATUSES)?,
            priority: one_of("priority", &PRIORITIES)?,
            disposition: text("disposition").to_ascii_uppercase(),
            assignee: inv
                .get("assignee")
                .and_then(|a| a.get("email"))
                .and_then(Value::as_str)
                .map(|e| e.trim().to_ascii_lowercase())
                .unwrap_or_default(),
        })
    }

    fn line(&self) -> String {
        format!("{SYNC_MARK}{}", serde_json::to_string(self).unwrap_or_default())
    }

    /// The state a text records last, if any; the text may have come back as HTML.
    fn recorded_in(text: &str) -> Option<Synced> {
        let text = unescape_html(text);
        let at = text.rfind(SYNC_MARK)?;
        let rest = &text[at + SYNC_MARK.len()..];
        serde_json::Deserializer::from_str(rest).into_iter::<Synced>().next()?.ok()
    }

    /// What differs from `before`, as `field: old -> new`.
    fn changes(&self, before: &Synced) -> Vec<(&'static str, String)> {
        [
            ("title", &before.title, &self.title),
            ("status", &before.status, &self.status),
            ("priority", &before.priority, &self.priority),
            ("disposition", &before.disposition, &self.disposition),
            ("assignee", &before.assignee, &self.assignee),
        ]
        .into_iter()
        .filter(|(_, a, b)| a != b)
        .map(|(name, a, b)| (name, format!("{name}: {} -> {}", or_none(a), or_none(b))))
        .collect()
    }
}

/// The few entities HaloITSM's HTML rendering of a text can put into a JSON line.
fn unescape_html(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn or_none(s: &str) -> &str {
    if s.is_empty() { "none" } else { s }
}

/// The default InsightIDR priority → HaloITSM priority (1 Critical … 4 Low, as for findings).
fn priority_of(priority: &str, table: Option<&Value>) -> Result<Option<i64>, PluginError> {
    if let Some(t) = table {
        let Some(m) = t.as_object() else {
            return Err(invalid_input(
                NAME,
                "input `priority_mapping` must be an object of InsightIDR priority → HaloITSM priority ID",
                "For example {\"CRITICAL\": 1, \"HIGH\": 2}.",
            ));
        };
        for (k, v) in m {
            if !PRIORITIES.contains(&k.to_ascii_uppercase().as_str()) || v.as_i64().is_none_or(|id| id <= 0) {
                return Err(invalid_input(
                    NAME,
                    format!("input `priority_mapping` maps `{k}` to {v}: keys are {}, values HaloITSM priority IDs", PRIORITIES.join(", ")),
                    "For example {\"CRITICAL\": 1, \"HIGH\": 2}.",
                ));
            }
        }
        if let Some(id) = m.iter().find(|(k, _)| k.eq_ignore_ascii_case(priority)).and_then(|(_, v)| v.as_i64()) {
            return Ok(Some(id));
        }
    }
    Ok(match priority {
        "CRITICAL" => Some(1),
        "HIGH" => Some(2),
        "MEDIUM" => Some(3),
        "LOW" => Some(4),
        _ => None,
    })
}

/// The ticket's details: the investigation as InsightIDR describes it, its alerts, the sync line.
fn details(inv: &Map<String, Value>, alerts: &[Value], synced: &Synced) -> String {
    let text = |k: &str| inv.get(k).and_then(Value::as_str).unwrap_or("-").to_string();
    let mut out = vec![format!("InsightIDR investigation {}", text("rrn"))];
    for (label, key) in [
        ("Status", "status"),
        ("Priority", "priority"),
        ("Disposition", "disposition"),
        ("Source", "source"),
        ("Created", "created_time"),
        ("First alert", "first_alert_time"),
        ("Latest alert", "latest_alert_time"),
    ] {
        out.push(format!("{label}: {}", text(key)));
    }
    if let Some(a) = inv.get("assignee").filter(|a| a.is_object()) {
        out.push(format!(
            "Assignee: {} <{}>",
            a.get("name").and_then(Value::as_str).unwrap_or("-"),
            a.get("email").and_then(Value::as_str).unwrap_or("-")
        ));
    }
    if !alerts.is_empty() {
        out.push(String::new());
        out.push(format!("Alerts ({}):", alerts.len()));
        for a in alerts {
            let t = |k: &str| a.get(k).and_then(Value::as_str).unwrap_or("-");
            out.push(format!("- {} ({}; {})", t("title"), t("alert_type"), t("created_time")));
        }
    }
    out.push(String::new());
    out.push(synced.line());
    out.join("\n")
}

impl Action for SendInvestigation {
    const NAME: &'static str = NAME;
    type Input = Input;
    type Output = Output;

    async fn run(ctx: ActionContext, input: Input) -> Result<Output, PluginError> {
        let hosts = hosts_of(&input.hosts)?;
        let upserted = upsert(&ctx, &input).await?;
        let mut out = Output { upserted, cmdb_asset_ids: None, unmatched_hosts: Vec::new(), link_error: None };
        if hosts.is_empty() {
            return Ok(out);
        }
        // After the ticket is written, and on every call, so a rerun links what failed before.
        // A failure does not fail the step: the ticket's outcome and changes still reach the workflow.
        let id = out.upserted.ticket.id.unwrap_or_default();
        match HostLookup::default().link(&ctx, NAME, id, &hosts).await {
            Ok(links) => (out.cmdb_asset_ids, out.unmatched_hosts) = (Some(links.asset_ids), links.unmatched),
            Err(e) => out.link_error = Some(link_failure(id, &e)),
        }
        Ok(out)
    }
}

/// The `hosts` input, checked before anything is sent: each a hostname, an IP, or both
/// (`web-1 10.0.0.11`), each once.
fn hosts_of(given: &[String]) -> Result<Vec<Host>, PluginError> {
    if given.len() > MAX_HOSTS {
        return Err(invalid_input(
            NAME,
            format!("input `hosts` has {} hosts, more than {MAX_HOSTS}", given.len()),
            "Link fewer hosts at once. Nothing was sent.",
        ));
    }
    let mut out: Vec<Host> = Vec::new();
    for (i, h) in given.iter().enumerate() {
        let host = Host::parse(h);
        if !host.is_usable() {
            return Err(invalid_input(
                NAME,
                format!("input `hosts[{i}]` must be a hostname or an IP address, got `{h}`"),
                "Give each host as a hostname, an IP address, or both (web-1 10.0.0.11). Nothing was sent.",
            ));
        }
        if !out.iter().any(|o| o.name == host.name && o.ip == host.ip) {
            out.push(host);
        }
    }
    Ok(out)
}

/// The investigation's ticket, created or brought up to date.
async fn upsert(ctx: &ActionContext, input: &Input) -> Result<Upserted, PluginError> {
    let Some(inv) = input.investigation.as_object() else {
        return Err(invalid_input(
            NAME,
            "input `investigation` must be an object",
            "Pass the investigation as InsightIDR's plugin outputs it.",
        ));
    };
    let rrn = inv.get("rrn").and_then(Value::as_str).map(str::trim).filter(|r| !r.is_empty()).ok_or_else(|| {
        invalid_input(
            NAME,
            "input `investigation.rrn` is missing or empty",
            "Pass the whole investigation object of an InsightIDR step: its RRN keys the ticket. Nothing was sent.",
        )
    })?;
    let synced = Synced::of(inv)?;
    let field = field_of(ctx, NAME, input.reference_field_id)?;
    let map = mappings(ctx, NAME, input.status_mapping.as_ref())?;
    let priority = priority_of(&synced.priority, input.priority_mapping.as_ref())?;
    let cfg = ctx.client.config();
    let tenant = ctx.client.statuses(false).await?;
    let status = match synced.status.as_str() {
        "" => None,
        s => Some(map.to_halo(Product::InsightIdr, s, &tenant, cfg.closed_status_id).map_err(|e| {
            invalid_input(
                NAME,
                format!("input `investigation.status`: {e}"),
                "Map the status in the Status Mapping's insightidr_to_halo table.",
            )
        })?),
    };
    // The assignee is a hint: no agent, or two sharing the address, leaves the agent as it is.
    let agents = ctx.client.people_with_email(crate::halo::people::People::Agents, &synced.assignee).await?;
    let agent = match agents[..] {
        [id] => Some(id),
        _ if synced.assignee.is_empty() => None,
        [] => {
            tracing::info!("No enabled HaloITSM agent has the email {}; the ticket's agent is left as it is", synced.assignee);
            None
        }
        _ => {
            tracing::warn!("More than one enabled HaloITSM agent has the email {}; the ticket's agent is left as it is", synced.assignee);
            None
        }
    };
    // Cut to HaloITSM's summary length, as create_ticket does; the details keep the whole title.
    let summary = crate::lifecycle::text::cut(
        &format!("InsightIDR: {}", if synced.title.is_empty() { rrn } else { &synced.title }),
        crate::lifecycle::text::SUMMARY_MAX,
    );
    let lock = crate::key_locks::lock_of(&format!("{}\u{0}reference {field}:{rrn}", cfg.application_key()));
    let _held = lock.lock().await;
    let Some(current) = find(&ctx.client, rrn, field, false).await? else {
        let tickettype = ticket_type(
            NAME,
            input.tickettype_id,
            cfg.default_ticket_type_id,
            "Give `tickettype_id` or set Default Ticket Type ID in the connection. Nothing was sent.",
        )?;
        let mut record = Map::new();
        record.insert("summary".into(), json!(summary));
        record.insert("tickettype_id".into(), json!(tickettype));
        record.insert("customfields".into(), json!([{"id": field, "value": rrn}]));
        if let Some(status) = status {
            record.insert("status_id".into(), json!(status));
        }
        let assignment = super::common::Assignment { priority_id: priority, category_id: None, agent_id: agent, team_id: input.team_id };
        record.extend(super::common::object(super::common::new_ticket_fields(NAME, cfg, assignment)?));
        let made = create_for(ctx, record, &details(inv, &input.alerts, &synced), rrn, field).await?;
        let outcome = if made.ours { "created" } else { "unchanged" };
        return Ok(Upserted {
            ticket: ctx.ticket(&made.ticket).await,
            outcome,
            changes: Vec::new(),
            duplicates_closed: made.duplicates_closed,
        });
    };
    let id = int(&current, "id").unwrap_or_default();
    let before = last_synced(&ctx.client, id, &current).await?;
    let changed = synced.changes(&before);
    if changed.is_empty() {
        return Ok(Upserted {
            ticket: ctx.ticket(&current).await,
            outcome: "unchanged",
            changes: Vec::new(),
            duplicates_closed: Vec::new(),
        });
    }
    // Only the fields whose InsightIDR source changed are written.
    let mut fields = Map::new();
    for (name, _) in &changed {
        let (key, value) = match *name {
            "title" => ("summary", Some(json!(summary))),
            "status" => ("status_id", status.map(Value::from)),
            "priority" => ("priority_id", priority.map(Value::from)),
            "assignee" => ("agent_id", agent.map(Value::from)),
            _ => continue,
        };
        if let Some(v) = value.filter(|v| current.get(key) != Some(v)) {
            fields.insert(key.into(), v);
        }
    }
    let wrote_status = fields.contains_key("status_id");
    if !fields.is_empty() {
        let asked = fields.get("priority_id").and_then(Value::as_i64);
        let saved = ctx.client.update_ticket(id, fields).await?;
        ctx.client.check_priority_kept(&saved, asked).await?;
    }
    // Checked only when this call closes it: a ticket an analyst reopened stays open until
    // InsightIDR's status changes again.
    if let Some(s) = status.filter(|s| wrote_status && tenant.closes(*s) == Some(true)) {
        ctx.client.confirm_closed(id, s, "the InsightIDR CLOSED status mapping").await?;
    }
    let lines: Vec<String> = changed.into_iter().map(|(_, l)| l).collect();
    let note = format!("InsightIDR investigation {rrn} changed: {}.\n\n{}", lines.join("; "), synced.line());
    ctx.client.post_action(Purpose::PrivateNote, json!({"ticket_id": id, "note": note, "hiddenfromuser": true})).await?;
    tracing::info!("Updated ticket {id} for {rrn}: {}", lines.join("; "));
    let now = ctx.client.get_ticket(id, true).await?.unwrap_or(current);
    Ok(Upserted { ticket: ctx.ticket(&now).await, outcome: "updated", changes: lines, duplicates_closed: Vec::new() })
}

/// What was last sent to the ticket: the newest note that records it, else its details; a ticket
/// that never recorded it (made by another step) counts as having recorded nothing.
async fn last_synced(client: &HaloClient, id: i64, ticket: &Value) -> Result<Synced, HaloError> {
    let from_notes = client.newest_note(id, |n| n.is_some_and(|n| n.contains(SYNC_MARK))).await?.and_then(|n| Synced::recorded_in(&n));
    let from_details = || string(ticket, "details").or_else(|| string(ticket, "details_html")).and_then(|d| Synced::recorded_in(&d));
    Ok(from_notes.or_else(from_details).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn what_is_synced_and_what_changed() {
        let a = Synced::of(&inv(
            json!({"rrn": "rrn:x", "title": "T", "status": "open", "priority": "HIGH", "assignee": {"email": "Ellen@Example.com"}}),
        ))
        .unwrap();
        assert_eq!((a.status.as_str(), a.assignee.as_str()), ("OPEN", "ellen@example.com"));
        let b = Synced { status: "INVESTIGATING".into(), priority: "CRITICAL".into(), ..a.clone() };
        assert_eq!(
            b.changes(&a).into_iter().map(|(_, l)| l).collect::<Vec<_>>(),
            vec!["status: OPEN -> INVESTIGATING", "priority: HIGH -> CRITICAL"]
        );
        assert!(a.changes(&a).is_empty());
        let text = format!("Some details\n\n{}", b.line());
        assert_eq!(Synced::recorded_in(&text), Some(b.clone()));
        assert_eq!(Synced::recorded_in("nothing"), None);
        let html = format!("<p>Some details</p><p>{}</p>", b.line().replace('"', "&quot;"));
        assert_eq!(Synced::recorded_in(&html).map(|s| s.status), Some("INVESTIGATING".to_string()), "read back from HTML");
        let e = Synced::of(&inv(json!({"rrn": "r", "status": "DONE"}))).unwrap_err();
        assert!(e.to_string().contains("`investigation.status`") && e.to_string().contains("DONE"), "{e}");
    }

    #[test]
    fn priorities_map_by_default_or_by_table() {
        assert_eq!(priority_of("CRITICAL", None).unwrap(), Some(1));
        assert_eq!(priority_of("UNSPECIFIED", None).unwrap(), None);
        assert_eq!(priority_of("HIGH", Some(&json!({"high": 7}))).unwrap(), Some(7));
        assert_eq!(priority_of("LOW", Some(&json!({"HIGH": 7}))).unwrap(), Some(4), "a table replaces only what it names");
        assert!(priority_of("LOW", Some(&json!({"URGENT": 1}))).is_err());
        assert!(priority_of("LOW", Some(&json!({"LOW": 0}))).is_err());
    }
}
