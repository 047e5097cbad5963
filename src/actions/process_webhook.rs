//! `process_webhook`: a HaloITSM webhook body, as an InsightConnect API Trigger received it, turned
//! into the events the triggers emit. Stateless: each delivery is read against HaloITSM's history
//! (`triggers::from_delivery`), so the same delivery gives the same events and `event_id`s
//! whenever and however often it is processed, and a workflow can drop repeats by `event_id`.
//! A batch reads each ticket and its history once, however many of its deliveries name it.

use std::sync::Arc;

use futures::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::common::invalid_input;
use super::{Action, ActionContext};
use crate::halo::HaloError;
use crate::halo::ticket::{Ticket, int};
use crate::protocol::PluginError;
use crate::sync::{Flags, Mappings};
use crate::ticket_events::changes::{self, FROM_HISTORY};
use crate::ticket_events::delivery::{Delivery, NOT_AN_OBJECT};
use crate::ticket_events::event::{self, FilterInput, Filters, Seen};
use crate::ticket_events::from_delivery::{Announced, Doubt, announced, verify_carried};
use crate::ticket_events::plan::{self, Act, Now};
use crate::ticket_events::{Kind, MAX_BATCH, Source};

const NAME: &str = "process_webhook";
/// Deliveries read from HaloITSM at once (in order of the batch all the same).
const AT_ONCE: usize = 8;

pub struct ProcessWebhook;

#[derive(Debug, Deserialize)]
pub struct Input {
    pub delivery: Option<Value>,
    pub deliveries: Option<Vec<Value>>,
    pub trigger: String,
    #[serde(flatten)]
    pub filters: FilterInput,
}

/// A delivery that gave no event, and why.
#[derive(Debug, Serialize)]
pub struct Skipped {
    pub index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_id: Option<String>,
    pub ticket_id: i64,
    /// `deleted`, `forbidden`, `no_history`, `duplicate`, `filtered`, `unverified` (it carries a
    /// history entry HaloITSM's history does not have) or `undated` (nothing says which change).
    pub reason: &'static str,
    pub detail: String,
}

/// A delivery that could not be read.
#[derive(Debug, Serialize)]
pub struct Refused {
    pub index: usize,
    pub error: String,
}

#[derive(Debug, Serialize)]
pub struct Output {
    pub events: Vec<Value>,
    pub skipped: Vec<Skipped>,
    pub refused: Vec<Refused>,
}

/// Which trigger's events the step gives: one kind, or (`any`) a new ticket's creation and every
/// other change as `ticket_updated` reports it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Wanted {
    Any,
    Only(Kind),
}

impl Wanted {
    fn kind_for(self, new: bool) -> Kind {
        match self {
            Wanted::Only(k) => k,
            Wanted::Any if new => Kind::Created,
            Wanted::Any => Kind::Updated,
        }
    }
}

/// What the step needs from HaloITSM once, whatever the number of deliveries.
struct Shared {
    filters: Filters,
    wanted: Wanted,
    mappings: Mappings,
    us: Option<i64>,
}

enum Outcome {
    Events(Vec<Announcement>),
    Skipped(Skipped),
}

/// One event of a delivery: the trigger's output (with `event_id`, `change_id` and
/// `delivery_id` in it), and the identities the step reasons with, typed.
struct Announcement {
    output: Value,
    /// The change itself, whichever delivery (or HaloITSM event) announced it.
    change_id: String,
    delivery_id: Option<String>,
    ticket_id: i64,
}

impl Action for ProcessWebhook {
    const NAME: &'static str = NAME;
    type Input = Input;
    type Output = Output;

    /// A non-object in `deliveries` is refused alone (the spec would fail the whole batch for
    /// it), and an empty `trigger` is refused rather than taken as `any` by the spec's default.
    fn before_validation(input: &mut Value) -> Result<(), PluginError> {
        if input.get("trigger").and_then(Value::as_str).is_some_and(|t| t.trim().is_empty()) {
            return Err(invalid_input(
                NAME,
                "input `trigger` is empty; it must be any, ticket_created, ticket_updated or ticket_status_changed",
                "Name the trigger whose events the workflow wants, or leave the input out for any.",
            ));
        }
        if let Some(Value::Array(items)) = input.get_mut("deliveries") {
            for item in items.iter_mut().filter(|i| !i.is_object()) {
                let kind = match item {
                    Value::Null => "null",
                    Value::Bool(_) => "a boolean",
                    Value::Number(_) => "a number",
                    Value::String(_) => "a string",
                    _ => "an array",
                };
                *item = json!({ NOT_AN_OBJECT: kind });
            }
        }
        Ok(())
    }

    async fn run(ctx: ActionContext, input: Input) -> Result<Output, PluginError> {
        let (items, single) = match (input.delivery, input.deliveries) {
            (Some(d), None) => (vec![d], true),
            (None, Some(ds)) => (ds, false),
            (Some(_), Some(_)) => {
                return Err(invalid_input(
                    NAME,
                    "give either input `delivery` or input `deliveries`, not both",
                    "Pass the API Trigger's body as `delivery` (one object) or `deliveries` (an array).",
                ));
            }
            (None, None) => {
                return Err(invalid_input(
                    NAME,
                    "input `delivery` or input `deliveries` is required",
                    "Pass the API Trigger's body as `delivery` (one object) or `deliveries` (an array).",
                ));
            }
        };
        if items.is_empty() {
            return Err(invalid_input(NAME, "input `deliveries` is empty", "Pass at least one HaloITSM webhook delivery."));
        }
        if items.len() > MAX_BATCH {
            return Err(invalid_input(
                NAME,
                format!("input `deliveries` holds {} deliveries, at most {MAX_BATCH} are taken", items.len()),
                "Split the batch.",
            ));
        }
        let wanted = match input.trigger.as_str() {
            "any" => Wanted::Any,
            name => Wanted::Only(Kind::from_name(name).ok_or_else(|| {
                invalid_input(
                    NAME,
                    format!("input `trigger` must be any, ticket_created, ticket_updated or ticket_status_changed, got `{name}`"),
                    "Pick the trigger whose events the workflow wants.",
                )
            })?),
        };
        let monitored_fields = changes::monitored(input.filters.monitored_fields.as_deref(), &FROM_HISTORY, false).map_err(|e| {
            invalid_input(NAME, e, "This step reads a change from HaloITSM's history, which records status, priority, agent and team changes and notes; to watch other fields use the Ticket Updated trigger, which keeps each ticket's previous state")
        })?;
        for (field, v) in [
            ("ticket_id", input.filters.ticket_id),
            ("tickettype_id", input.filters.tickettype_id),
            ("priority_id", input.filters.priority_id),
            ("new_status_id", input.filters.new_status_id),
        ] {
            super::common::positive_opt(NAME, field, v)?;
        }
        let mut refused = Vec::new();
        let mut readable = Vec::new();
        for (i, item) in items.into_iter().enumerate() {
            match Delivery::read(&item, i) {
                Ok(d) => readable.push((i, d)),
                Err(e) if single => {
                    return Err(invalid_input(
                        NAME,
                        format!("input `delivery`: the delivery {}", e.why),
                        "Pass the body HaloITSM posted, with its `object_id` (or `ticket.id`).",
                    ));
                }
                Err(e) => refused.push(Refused { index: i, error: e.to_string() }),
            }
        }
        if readable.is_empty() {
            return Err(invalid_input(
                NAME,
                format!("none of the {} deliveries can be read (the first: {})", refused.len(), refused[0].error),
                "Pass the bodies HaloITSM posted, each with its `object_id` (or `ticket.id`).",
            ));
        }
        let shared = Arc::new(Shared {
            // The kind is set per delivery (see `Wanted`).
            filters: Filters::of(Kind::Updated, &input.filters, monitored_fields),
            wanted,
            mappings: Mappings::of_connection(ctx.client.config())?,
            us: super::common::our_agent(&ctx, "changed_by_integration is false for every event").await?,
        });
        // Deliveries grouped by ticket (in the order each ticket first appears): one read of the
        // ticket and its history serves all of its deliveries.
        let mut by_ticket: indexmap::IndexMap<i64, Vec<(usize, Delivery)>> = indexmap::IndexMap::new();
        for (i, d) in readable {
            by_ticket.entry(d.ticket_id).or_default().push((i, d));
        }
        let mut outcomes: Vec<(usize, Result<Outcome, PluginError>)> = stream::iter(by_ticket)
            .map(|(ticket_id, deliveries)| {
                let (ctx, shared) = (ctx.clone(), shared.clone());
                async move { of_ticket(&ctx, &shared, ticket_id, deliveries).await }
            })
            .buffered(AT_ONCE)
            .flat_map(stream::iter)
            .collect()
            .await;
        outcomes.sort_by_key(|(i, _)| *i);
        let (mut events, mut skipped) = (Vec::new(), Vec::new());
        let mut changes = std::collections::HashSet::new();
        for (index, o) in outcomes {
            match o? {
                Outcome::Events(e) => {
                    // One change announced by several deliveries (say "status changed" and
                    // "closed" for one close) is given once, for the first of them.
                    let (fresh, seen): (Vec<Announcement>, Vec<Announcement>) =
                        e.into_iter().partition(|a| changes.insert(a.change_id.clone()));
                    if fresh.is_empty()
                        && let Some(first) = seen.first()
                    {
                        skipped.push(Skipped {
                            index,
                            delivery_id: first.delivery_id.clone(),
                            ticket_id: first.ticket_id,
                            reason: "duplicate",
                            detail: format!("An earlier delivery of this input announced the same change ({})", first.change_id),
                        });
                    }
                    events.extend(fresh.into_iter().map(|a| a.output));
                }
                Outcome::Skipped(s) => skipped.push(s),
            }
        }
        tracing::info!(
            "{} event(s) from {} delivery(ies); {} skipped, {} refused",
            events.len(),
            events.len() + skipped.len(),
            skipped.len(),
            refused.len()
        );
        Ok(Output { events, skipped, refused })
    }
}

/// What HaloITSM shows of one ticket, read once for every delivery of it in the batch.
struct Ticketed {
    raw: Value,
    current: Now,
    /// The history's rows; None when HaloITSM will not show them.
    rows: Option<Vec<Value>>,
    history: Option<Vec<Act>>,
    flags: Flags,
    /// History entries read in full (`GET /Actions/{id}`), by ID, so no entry is read twice.
    entries: std::collections::HashMap<i64, Option<Value>>,
}

/// The outcomes of a ticket's deliveries. HaloITSM failures that may pass fail the step (the
/// workflow's retry processes the deliveries again, with the same result); a ticket gone or
/// hidden skips each of its deliveries.
async fn of_ticket(
    ctx: &ActionContext,
    shared: &Shared,
    ticket_id: i64,
    deliveries: Vec<(usize, Delivery)>,
) -> Vec<(usize, Result<Outcome, PluginError>)> {
    let skip_all = |reason: &'static str, detail: String| {
        deliveries
            .iter()
            .map(|(index, d)| {
                let s = Skipped { index: *index, delivery_id: d.id.clone(), ticket_id, reason, detail: detail.clone() };
                (*index, Ok(Outcome::Skipped(s)))
            })
            .collect::<Vec<_>>()
    };
    let fail_all = |e: PluginError| deliveries.iter().map(|(index, _)| (*index, Err(e.clone()))).collect::<Vec<_>>();
    let raw = match ctx.client.get_ticket(ticket_id, true).await {
        Ok(Some(t)) => t,
        Ok(None) => return skip_all("deleted", format!("Ticket {ticket_id} no longer exists in HaloITSM")),
        Err(HaloError::Forbidden { message, .. }) => {
            return skip_all("forbidden", format!("HaloITSM refuses to show ticket {ticket_id}: {message}"));
        }
        Err(e) => return fail_all(e.into()),
    };
    let Some(current) = Now::of(&raw) else {
        return skip_all("filtered", format!("Ticket {ticket_id} has no status or last action date"));
    };
    let rows = match ctx.client.history(ticket_id, &[]).await {
        Ok(rows) => Some(rows),
        Err(e @ (HaloError::Forbidden { .. } | HaloError::NotFound { .. })) => {
            tracing::warn!("HaloITSM refuses the history of ticket {ticket_id} ({e}); reporting only what the deliveries say");
            None
        }
        Err(e) => return fail_all(e.into()),
    };
    let history = rows.as_ref().map(|r| r.iter().filter_map(Act::of).collect());
    let flags = Flags::read(&ctx.client, &raw).await;
    let mut t = Ticketed { raw, current, rows, history, flags, entries: Default::default() };
    let mut out = Vec::with_capacity(deliveries.len());
    for (index, d) in deliveries {
        out.push((index, one(ctx, shared, index, d, &mut t).await));
    }
    out
}

/// The events of one delivery, against its ticket as read once for the batch.
async fn one(ctx: &ActionContext, shared: &Shared, index: usize, d: Delivery, t: &mut Ticketed) -> Result<Outcome, PluginError> {
    let skip =
        |reason, detail: String| Outcome::Skipped(Skipped { index, delivery_id: d.id.clone(), ticket_id: d.ticket_id, reason, detail });
    let carried_ok = match (&d.action, &t.rows) {
        (Some(carried), Some(rows)) => verify_carried(carried, d.ticket_id, rows),
        _ => Ok(()),
    };
    let a = announced(&d, t.history.as_deref(), t.current, carried_ok);
    match &a.doubt {
        Some(Doubt::Unverified(why)) => {
            return Ok(skip("unverified", format!("Not reported as a change: {why}")));
        }
        Some(Doubt::Undated) => {
            return Ok(skip(
                "undated",
                format!(
                    "The delivery for ticket {} carries no history entry (`action`), no `timestamp` and no ticket `lastactiondate`, so which change it announces is unknown; it is not matched to whatever change is latest",
                    d.ticket_id
                ),
            ));
        }
        None => {}
    }
    let kind = shared.wanted.kind_for(a.new);
    let plan = plan::plan(a.prev, a.now, a.history.as_deref(), chrono::DateTime::<chrono::Utc>::MIN_UTC, a.new);
    let changed_fields = match kind == Kind::Updated {
        true => changes::merge(changes::from_history(&full_entries(ctx, &d, &a, t).await?), Vec::new()),
        false => Vec::new(),
    };
    let raw = &t.raw;
    let mut ticket = Ticket::from_halo(raw, |id| ctx.client.ticket_url(id));
    ticket.closed = Some(t.flags.closed);
    // The status right after the change, as the event's other fields: the same whenever processed.
    let statuses = event::tenant_statuses(&ctx.client).await;
    let rapid7 = event::rapid7_statuses(statuses.as_deref(), &shared.mappings, a.now.status, t.flags);
    let seen = Seen {
        ticket: &ticket,
        raw,
        now: a.now,
        source: Source::Webhook,
        hinted_agent: d.agent_id,
        us: shared.us,
        rapid7: &rapid7,
        reference_field_id: ctx.client.config().reference_field_id,
        changed_fields: &changed_fields,
        statuses: statuses.as_deref(),
    };
    let filters = Filters { kind, ..shared.filters.clone() };
    let built: Vec<(Value, String)> = plan.events.iter().filter_map(|p| event::build(&filters, p, &seen)).collect();
    if built.is_empty() && a.history.is_none() {
        return Ok(skip("no_history", format!("HaloITSM will not show the history of ticket {}, so what changed is unknown", d.ticket_id)));
    }
    if built.is_empty() {
        return Ok(skip(
            "filtered",
            format!("The change to ticket {} gives no `{}` event the filters let through", d.ticket_id, kind.name()),
        ));
    }
    let n = built.len();
    Ok(Outcome::Events(
        built
            .into_iter()
            .enumerate()
            .map(|(i, (mut out, key))| {
                let id = match &d.id {
                    Some(id) if n == 1 || i == 0 => id.clone(),
                    Some(id) => format!("{id}#{}", i + 1),
                    None => format!("halo:{key}"),
                };
                let change_id = format!("halo:{key}");
                out["event_id"] = json!(id);
                out["change_id"] = json!(change_id);
                if let Some(id) = &d.id {
                    out["delivery_id"] = json!(id);
                }
                if a.history.is_none() {
                    // Without the history the status before is unknown, never guessed.
                    if let Some(o) = out.as_object_mut() {
                        o.remove("previous_status_id");
                    }
                }
                Announcement { output: out, change_id, delivery_id: d.id.clone(), ticket_id: d.ticket_id }
            })
            .collect(),
    ))
}

/// The entries the change wrote, as full records: list rows leave out the new agent and team
/// (docs/halo-api.md#A4), so those are read one by one, unless the delivery carries the entry.
async fn full_entries(ctx: &ActionContext, d: &Delivery, a: &Announced, t: &mut Ticketed) -> Result<Vec<Act>, PluginError> {
    let mut out = Vec::with_capacity(a.covered.len());
    for entry in &a.covered {
        let row = t.rows.as_deref().unwrap_or_default().iter().find(|r| int(r, "id") == Some(entry.id));
        // Verified against the history row already (`verify_carried`).
        let carried = d.action.as_ref().filter(|x| int(x, "id") == Some(entry.id));
        let full = match (carried, row) {
            (Some(x), _) => Some(x.clone()),
            (None, Some(r)) if r.get("new_agent").is_some() || r.get("new_team").is_some() => Some(r.clone()),
            _ => match t.entries.get(&entry.id) {
                Some(read) => read.clone(),
                None => {
                    let read =
                        match ctx.client.get_optional(&format!("Actions/{}", entry.id), &[("ticket_id", d.ticket_id.to_string())]).await {
                            Ok(full) => full,
                            // An entry the API application may not read in full: the list row is all there is.
                            Err(HaloError::Forbidden { .. } | HaloError::NotFound { .. }) => None,
                            Err(e) => return Err(e.into()),
                        };
                    t.entries.insert(entry.id, read.clone());
                    read
                }
            },
        };
        out.push(full.as_ref().and_then(Act::of).unwrap_or(*entry));
    }
    Ok(out)
}
