//! `process_webhook`: a HaloITSM webhook body, as an InsightConnect API Trigger received it, turned
//! into the events the triggers emit. Stateless: each delivery is read against HaloITSM's history
//! (`triggers::from_delivery`), so the same delivery gives the same events and `event_id`s
//! whenever and however often it is processed, and a workflow can drop repeats by `event_id`.

use std::sync::Arc;

use futures::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Action, ActionContext};
use crate::halo::HaloError;
use crate::halo::ticket::{Ticket, int};
use crate::protocol::PluginError;
use crate::sync::{Flags, Mappings};
use crate::ticket_events::changes::{self, FROM_HISTORY};
use crate::ticket_events::delivery::Delivery;
use crate::ticket_events::event::{self, FilterInput, Filters, Seen};
use crate::ticket_events::from_delivery::{Announced, announced};
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
    /// `deleted`, `forbidden`, `no_history`, `duplicate` or `filtered`.
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

fn bad(cause: String, assistance: &str) -> PluginError {
    PluginError::client(format!("Invalid input for action `{NAME}`: {cause}."), assistance)
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
    Events(Vec<Value>),
    Skipped(Skipped),
}

impl Action for ProcessWebhook {
    const NAME: &'static str = NAME;
    type Input = Input;
    type Output = Output;

    async fn run(ctx: ActionContext, input: Input) -> Result<Output, PluginError> {
        let (items, single) = match (input.delivery, input.deliveries) {
            (Some(d), None) => (vec![d], true),
            (None, Some(ds)) => (ds, false),
            (Some(_), Some(_)) => {
                return Err(bad(
                    "give either input `delivery` or input `deliveries`, not both".into(),
                    "Pass the API Trigger's body as `delivery` (one object) or `deliveries` (an array).",
                ));
            }
            (None, None) => {
                return Err(bad(
                    "input `delivery` or input `deliveries` is required".into(),
                    "Pass the API Trigger's body as `delivery` (one object) or `deliveries` (an array).",
                ));
            }
        };
        if items.is_empty() {
            return Err(bad("input `deliveries` is empty".into(), "Pass at least one HaloITSM webhook delivery."));
        }
        if items.len() > MAX_BATCH {
            return Err(bad(
                format!("input `deliveries` holds {} deliveries, at most {MAX_BATCH} are taken", items.len()),
                "Split the batch.",
            ));
        }
        let wanted = match input.trigger.as_str() {
            "any" => Wanted::Any,
            name => Wanted::Only(Kind::from_name(name).ok_or_else(|| {
                bad(
                    format!("input `trigger` must be any, ticket_created, ticket_updated or ticket_status_changed, got `{name}`"),
                    "Pick the trigger whose events the workflow wants.",
                )
            })?),
        };
        let monitored_fields = changes::monitored(input.filters.monitored_fields.as_deref(), &FROM_HISTORY, false).map_err(|e| {
            bad(e, "This step reads a change from HaloITSM's history, which records status, priority, agent and team changes and notes; to watch other fields use the Ticket Updated trigger, which keeps each ticket's previous state")
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
                    return Err(bad(
                        format!("input `delivery`: {}", e.replacen("delivery 0 ", "the delivery ", 1)),
                        "Pass the body HaloITSM posted, with its `object_id` (or `ticket.id`).",
                    ));
                }
                Err(e) => refused.push(Refused { index: i, error: e }),
            }
        }
        if readable.is_empty() {
            return Err(bad(
                format!("none of the {} deliveries can be read (the first: {})", refused.len(), refused[0].error),
                "Pass the bodies HaloITSM posted, each with its `object_id` (or `ticket.id`).",
            ));
        }
        let shared = Arc::new(Shared {
            // The kind is set per delivery (see `Wanted`).
            filters: Filters::of(Kind::Updated, &input.filters, monitored_fields),
            wanted,
            mappings: Mappings::of_connection(ctx.client.config())?,
            us: our_agent(&ctx).await?,
        });
        let indices: Vec<usize> = readable.iter().map(|(i, _)| *i).collect();
        let outcomes: Vec<Result<Outcome, PluginError>> = stream::iter(readable)
            .map(|(i, d)| {
                let (ctx, shared) = (ctx.clone(), shared.clone());
                async move { one(&ctx, &shared, i, d).await }
            })
            .buffered(AT_ONCE)
            .collect()
            .await;
        let (mut events, mut skipped) = (Vec::new(), Vec::new());
        let mut changes = std::collections::HashSet::new();
        for (o, index) in outcomes.into_iter().zip(indices) {
            match o? {
                Outcome::Events(e) => {
                    // One change announced by several deliveries (say "status changed" and
                    // "closed" for one close) is given once, for the first of them.
                    let (fresh, seen): (Vec<Value>, Vec<Value>) = e.into_iter().partition(|ev| changes.insert(ev["change_id"].to_string()));
                    if fresh.is_empty()
                        && let Some(first) = seen.first()
                    {
                        skipped.push(Skipped {
                            index,
                            delivery_id: first["delivery_id"].as_str().map(str::to_string),
                            ticket_id: first["ticket"]["id"].as_i64().unwrap_or_default(),
                            reason: "duplicate",
                            detail: format!(
                                "An earlier delivery of this input announced the same change ({})",
                                first["change_id"].as_str().unwrap_or_default()
                            ),
                        });
                    }
                    events.extend(fresh);
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

/// The agent this connection acts as, to recognise its own changes; unknown when HaloITSM will
/// not say.
async fn our_agent(ctx: &ActionContext) -> Result<Option<i64>, PluginError> {
    match ctx.client.get_optional("Agent/me", &[]).await {
        Ok(me) => Ok(me.and_then(|me| int(&me, "id"))),
        // A failure that may pass fails the step: its events would differ from a retry's.
        Err(e) if e.is_transient() => Err(e.into()),
        Err(e) => {
            tracing::warn!("Could not read /Agent/me ({e}); changed_by_integration is false for every event");
            Ok(None)
        }
    }
}

/// The events of one delivery. HaloITSM failures that may pass fail the step (the workflow's
/// retry processes the delivery again, with the same result); a ticket gone or hidden is skipped.
async fn one(ctx: &ActionContext, shared: &Shared, index: usize, d: Delivery) -> Result<Outcome, PluginError> {
    let skip =
        |reason, detail: String| Outcome::Skipped(Skipped { index, delivery_id: d.id.clone(), ticket_id: d.ticket_id, reason, detail });
    let raw = match ctx.client.get_ticket(d.ticket_id, true).await {
        Ok(Some(t)) => t,
        Ok(None) => return Ok(skip("deleted", format!("Ticket {} no longer exists in HaloITSM", d.ticket_id))),
        Err(HaloError::Forbidden { message, .. }) => {
            return Ok(skip("forbidden", format!("HaloITSM refuses to show ticket {}: {message}", d.ticket_id)));
        }
        Err(e) => return Err(e.into()),
    };
    let Some(current) = Now::of(&raw) else {
        return Ok(skip("filtered", format!("Ticket {} has no status or last action date", d.ticket_id)));
    };
    let rows = match ctx.client.history(d.ticket_id, &[]).await {
        Ok(rows) => Some(rows),
        Err(e @ (HaloError::Forbidden { .. } | HaloError::NotFound { .. })) => {
            tracing::warn!("HaloITSM refuses the history of ticket {} ({e}); reporting only what the delivery says", d.ticket_id);
            None
        }
        Err(e) => return Err(e.into()),
    };
    let history: Option<Vec<Act>> = rows.as_ref().map(|r| r.iter().filter_map(Act::of).collect());
    let a = announced(&d, history.as_deref(), current);
    let kind = shared.wanted.kind_for(a.new);
    let plan = plan::plan(a.prev, a.now, a.history.as_deref(), chrono::DateTime::<chrono::Utc>::MIN_UTC, a.new);
    let changed_fields = match kind == Kind::Updated {
        true => changes::merge(changes::from_history(&full_entries(ctx, &d, &a, rows.as_deref()).await?), Vec::new()),
        false => Vec::new(),
    };
    let mut ticket = Ticket::from_halo(&raw, |id| ctx.client.ticket_url(id));
    let flags = Flags::read(&ctx.client, &raw).await;
    ticket.closed = Some(flags.closed);
    // The status right after the change, as the event's other fields: the same whenever processed.
    let rapid7 = event::rapid7_statuses(&ctx.client, &shared.mappings, a.now.status, flags).await;
    let seen = Seen {
        ticket: &ticket,
        raw: &raw,
        now: a.now,
        source: Source::Webhook,
        hinted_agent: d.agent_id,
        us: shared.us,
        rapid7: &rapid7,
        reference_field_id: ctx.client.config().reference_field_id,
        changed_fields: &changed_fields,
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
                out["event_id"] = json!(id);
                // The change itself, whichever delivery (or HaloITSM event) announced it.
                out["change_id"] = json!(format!("halo:{key}"));
                if let Some(id) = &d.id {
                    out["delivery_id"] = json!(id);
                }
                if a.history.is_none() {
                    // Without the history the status before is unknown, never guessed.
                    if let Some(o) = out.as_object_mut() {
                        o.remove("previous_status_id");
                    }
                }
                out
            })
            .collect(),
    ))
}

/// The entries the change wrote, as full records: list rows leave out the new agent and team
/// (docs/halo-api.md#A4), so those are read one by one, unless the delivery carries the entry.
async fn full_entries(ctx: &ActionContext, d: &Delivery, a: &Announced, rows: Option<&[Value]>) -> Result<Vec<Act>, PluginError> {
    let mut out = Vec::with_capacity(a.covered.len());
    for entry in &a.covered {
        let row = rows.unwrap_or_default().iter().find(|r| int(r, "id") == Some(entry.id));
        let carried = d.action.as_ref().filter(|x| int(x, "id") == Some(entry.id));
        let full = match (carried, row) {
            (Some(x), _) => Some(x.clone()),
            (None, Some(r)) if r.get("new_agent").is_some() || r.get("new_team").is_some() => Some(r.clone()),
            _ => match ctx.client.get_optional(&format!("Actions/{}", entry.id), &[("ticket_id", d.ticket_id.to_string())]).await {
                Ok(full) => full,
                // An entry the API application may not read in full: the list row is all there is.
                Err(HaloError::Forbidden { .. } | HaloError::NotFound { .. }) => None,
                Err(e) => return Err(e.into()),
            },
        };
        out.push(full.as_ref().and_then(Act::of).unwrap_or(*entry));
    }
    Ok(out)
}
