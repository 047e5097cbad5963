//! The event a trigger emits for a planned change, in one place for the running triggers and the
//! `process_webhook` step, so both give the same events for the same change.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::changes;
use super::plan::{self, Now, Planned};
use super::reopen::Closing;
use super::{Kind, Source};
use crate::halo::HaloClient;
use crate::halo::tenant::Statuses;
use crate::halo::ticket::Ticket;
use crate::sync::{Flags, Mappings, Product};

/// Which events are wanted: the trigger's kind and its filters.
#[derive(Debug, Clone)]
pub struct Filters {
    pub kind: Kind,
    pub ticket_id: Option<i64>,
    pub tickettype_id: Option<i64>,
    pub priority_id: Option<i64>,
    /// `ticket_updated`: only changes that moved the status.
    pub status_changed: bool,
    /// `ticket_status_changed`: only transitions to this status.
    pub new_status_id: Option<i64>,
    /// `ticket_updated`: only changes to one of these fields (all when empty).
    pub monitored_fields: Vec<String>,
    /// Only status changes that reopen the ticket (closed to open); every other event left out.
    pub reopened_only: bool,
}

/// The filter inputs the triggers and `process_webhook` share, as the spec names them.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct FilterInput {
    pub ticket_id: Option<i64>,
    pub tickettype_id: Option<i64>,
    pub priority_id: Option<i64>,
    #[serde(default)]
    pub status_changed: bool,
    pub new_status_id: Option<i64>,
    pub monitored_fields: Option<Vec<String>>,
    #[serde(default)]
    pub reopened_only: bool,
}

impl Filters {
    /// The filters of `kind` from its inputs, `monitored_fields` already checked.
    pub fn of(kind: Kind, input: &FilterInput, monitored_fields: Vec<String>) -> Filters {
        Filters {
            kind,
            ticket_id: input.ticket_id,
            tickettype_id: input.tickettype_id,
            priority_id: input.priority_id,
            status_changed: input.status_changed,
            new_status_id: input.new_status_id,
            monitored_fields,
            reopened_only: input.reopened_only,
        }
    }
}

/// What is known about the change besides the plan.
pub struct Seen<'a> {
    pub ticket: &'a Ticket,
    pub raw: &'a Value,
    pub now: Now,
    pub source: Source,
    /// The agent a webhook delivery names, used only when the history names none.
    pub hinted_agent: Option<i64>,
    /// The agent this connection acts as.
    pub us: Option<i64>,
    pub rapid7: &'a [(&'static str, String)],
    /// The connection's custom field holding the Rapid7 reference.
    pub reference_field_id: Option<i64>,
    /// The fields the change touched (`ticket_updated` events).
    pub changed_fields: &'a [String],
    /// The tenant's statuses (cached per connection), when they could be read: which close.
    pub statuses: Option<&'a Statuses>,
}

/// A date as the events give it: UTC, whole seconds.
pub fn at(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The output for a planned event (without `event_id`) and the key that identifies the change,
/// when the filters want it.
pub fn build(f: &Filters, planned: &Planned, seen: &Seen) -> Option<(Value, String)> {
    let (now, ticket) = (seen.now, seen.ticket);
    if f.ticket_id.is_some_and(|t| t != now.id) {
        return None;
    }
    // This connection's own change: made by the agent it acts as and not recorded as made
    // outside an API application (docs/halo-api.md#A7). The webhook's agent stands in only
    // when the history names none.
    let by_us = |actor: plan::Actor| match actor.agent {
        Some(_) => actor.is(seen.us),
        // A system entry (ticket logged) names nobody: the webhook's agent is all there is.
        None => seen.hinted_agent.is_some() && seen.hinted_agent == seen.us,
    };
    let closing = Closing::of(seen.statuses, seen.raw);
    let (event, changed_at, actor, extra, key) = match (f.kind, planned) {
        (Kind::Created, Planned::Created { at: when, actor }) => {
            if f.reopened_only
                || f.tickettype_id.is_some_and(|t| ticket.tickettype_id != Some(t))
                || f.priority_id.is_some_and(|p| ticket.priority_id != Some(p))
            {
                return None;
            }
            ("created", *when, *actor, json!({}), format!("created:{}", now.id))
        }
        (Kind::Updated, Planned::Updated { previous, status_changed, at: when, actor }) => {
            if (f.status_changed && !status_changed) || !changes::wanted(seen.changed_fields, &f.monitored_fields) {
                return None;
            }
            let mut extra = json!({"changed_fields": seen.changed_fields});
            if let Some(p) = previous {
                extra["previous_status_id"] = json!(p);
                if *status_changed {
                    extra["old_status_id"] = json!(p);
                    extra["new_status_id"] = json!(now.status);
                }
            }
            // `reopened` on every status change, absent from the other updates.
            if *status_changed {
                let reopened = previous.is_some_and(|p| closing.reopened(now.id, p, now.status));
                if f.reopened_only && !reopened {
                    return None;
                }
                extra["reopened"] = json!(reopened);
            } else if f.reopened_only {
                return None;
            }
            let event = if *status_changed { "status_changed" } else { "updated" };
            (event, *when, *actor, extra, format!("updated:{}:{}:{}", now.id, at(*when), now.status))
        }
        (Kind::StatusChanged, Planned::Transition { old, new, at: when, actor, nth, .. }) => {
            if f.new_status_id.is_some_and(|s| s != *new) {
                return None;
            }
            let reopened = closing.reopened(now.id, *old, *new);
            if f.reopened_only && !reopened {
                return None;
            }
            // One identity for a transition, whether the history or the ticket reported it.
            let key = match nth {
                0 => format!("status:{}:{old}-{new}@{}", now.id, at(*when)),
                n => format!("status:{}:{old}-{new}@{}#{n}", now.id, at(*when)),
            };
            ("status_changed", *when, *actor, json!({"old_status_id": old, "new_status_id": new, "reopened": reopened}), key)
        }
        _ => return None,
    };
    let mut out = json!({
        "ticket": ticket,
        "event": event,
        "source": seen.source.as_str(),
        "changed_at": at(changed_at),
        "changed_by_integration": by_us(actor),
    });
    if let (Some(o), Value::Object(e)) = (out.as_object_mut(), extra) {
        o.extend(e);
    }
    // What a two-way sync workflow needs to update the Rapid7 side in one step.
    if let Some(reference) = seen.reference_field_id.and_then(|f| crate::sync::custom_field(seen.raw, f)) {
        out["reference"] = json!(reference);
    }
    for (key, status) in seen.rapid7 {
        out[*key] = json!(status);
    }
    Some((out, key))
}

/// The tenant's statuses, from the connection's cache (read once per connection, no request per
/// event); None, said in a log line, when they cannot be read.
pub async fn tenant_statuses(client: &HaloClient) -> Option<Arc<Statuses>> {
    match client.statuses(false).await {
        Ok(t) => Some(t),
        Err(e) => {
            tracing::debug!("Could not read the tenant's statuses ({e}); mapping by status ID only, no reopen told from them");
            None
        }
    }
}

/// The ticket's status as InsightIDR and InsightVM see it, through the mappings (names resolved
/// on the tenant's statuses, when they could be read).
pub fn rapid7_statuses(tenant: Option<&Statuses>, mappings: &Mappings, status: i64, flags: Flags) -> Vec<(&'static str, String)> {
    let empty = Statuses::default();
    let tenant = tenant.unwrap_or(&empty);
    [("insightidr_status", Product::InsightIdr), ("insightvm_status", Product::InsightVm)]
        .into_iter()
        .filter_map(|(key, product)| mappings.to_rapid7(product, status, flags, tenant).ok().map(|s| (key, s)))
        .collect()
}
