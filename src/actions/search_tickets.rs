use serde::{Deserialize, Serialize};

use super::common::positive_opt;
use super::{Action, ActionContext};
use crate::halo::ticket::{Ticket, int};
use crate::halo::ticket_lists::{Row, State};
use crate::protocol::PluginError;

pub struct SearchTickets;

const NAME: &str = "search_tickets";
/// Most tickets one search returns.
pub const MAX_RESULTS: i64 = 10_000;

#[derive(Debug, Deserialize)]
pub struct Input {
    pub query: Option<String>,
    pub summary_contains: Option<String>,
    pub status_id: Option<i64>,
    pub agent_id: Option<i64>,
    pub team_id: Option<i64>,
    pub priority_id: Option<i64>,
    pub created_after: Option<String>,
    pub created_before: Option<String>,
    #[serde(default)]
    pub open_only: bool,
    pub max_results: i64,
    /// Which page of `page_size` results (from 1); page 1 of `max_results` when not given.
    pub page: i64,
    pub page_size: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct Output {
    pub tickets: Vec<Ticket>,
    pub count: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
    /// Whether tickets match beyond this page.
    pub has_more: bool,
}

/// An RFC 3339 input as HaloITSM's zone-less UTC.
fn halo_date(field: &str, v: &str) -> Result<String, PluginError> {
    chrono::DateTime::parse_from_rfc3339(v).map(|d| d.with_timezone(&chrono::Utc).format("%Y-%m-%dT%H:%M:%S").to_string()).map_err(|_| {
        PluginError::client(
            format!("Invalid input for action `search_tickets`: input `{field}` is not an RFC 3339 date."),
            "Use a date such as 2026-09-01T00:00:00Z.",
        )
    })
}

/// The query parameters of a search (without paging).
pub fn filters(input: &Input) -> Result<Vec<(&'static str, String)>, PluginError> {
    let mut q: Vec<(&'static str, String)> = Vec::new();
    if let Some(s) = input.query.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        q.push(("search", s.to_string()));
    }
    if let Some(s) = input.summary_contains.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        q.push(("search_summary", s.to_string()));
    }
    if let Some(v) = positive_opt(NAME, "status_id", input.status_id)? {
        q.push(("status_id", v.to_string()));
    }
    if let Some(v) = positive_opt(NAME, "agent_id", input.agent_id)? {
        q.push(("agent_id", v.to_string()));
    }
    // Teams and priorities are list filters in HaloITSM (there is no team_id/priority_id filter).
    if let Some(v) = positive_opt(NAME, "team_id", input.team_id)? {
        q.push(("team", v.to_string()));
    }
    if let Some(v) = positive_opt(NAME, "priority_id", input.priority_id)? {
        q.push(("priority", v.to_string()));
    }
    let after = input.created_after.as_deref().map(|v| halo_date("created_after", v)).transpose()?;
    let before = input.created_before.as_deref().map(|v| halo_date("created_before", v)).transpose()?;
    if let (Some(a), Some(b)) = (&after, &before) {
        if a > b {
            return Err(PluginError::client(
                "Invalid input for action `search_tickets`: `created_after` is later than `created_before`.",
                "Swap the two dates or leave one empty.",
            ));
        }
    }
    if after.is_some() || before.is_some() {
        q.push(("datesearch", "datecreated".into()));
    }
    if let Some(a) = after {
        q.push(("startdate", a));
    }
    if let Some(b) = before {
        q.push(("enddate", b));
    }
    q.push(("order", "id".into()));
    q.push(("orderdesc", "true".into()));
    Ok(q)
}

impl Action for SearchTickets {
    const NAME: &'static str = NAME;
    type Input = Input;
    type Output = Output;

    async fn run(ctx: ActionContext, input: Input) -> Result<Output, PluginError> {
        if !(1..=MAX_RESULTS).contains(&input.max_results) {
            return Err(PluginError::client(
                format!(
                    "Invalid input for action `search_tickets`: input `max_results` must be between 1 and {MAX_RESULTS}, got {}.",
                    input.max_results
                ),
                "Narrow the search with filters, or ask for fewer tickets.",
            ));
        }
        let size = input.page_size.unwrap_or(input.max_results);
        if !(1..=MAX_RESULTS).contains(&size) || input.page < 1 || input.page.saturating_mul(size) > MAX_RESULTS {
            return Err(PluginError::client(
                format!(
                    "Invalid input for action `search_tickets`: inputs `page` ({}) and `page_size` ({size}) must be 1 or more, and reach no further than ticket {MAX_RESULTS}.",
                    input.page
                ),
                "Narrow the search with filters to walk fewer pages.",
            ));
        }
        let (skip, size) = (((input.page - 1) * size) as usize, size as usize);
        // Each list is read newest first up to the end of the page, so the merged page is exact.
        let wanted = skip + size;
        let base = filters(&input)?;
        // Tickets closed a while ago are listed only when asked for, and list rows do not say
        // whether a ticket is closed (docs/halo-api.md#Q1, L3): open and closed tickets are
        // listed apart and merged, newest first; each one's `closed` is the list it came from.
        let (mut rows, total, more) = if input.open_only {
            let listed = ctx.client.tickets_in(State::Open, &base, wanted).await?;
            (listed.rows.into_iter().map(|row| Row { row, state: State::Open }).collect::<Vec<_>>(), listed.total, listed.more)
        } else {
            let both = ctx.client.tickets_open_and_closed(&base, wanted).await?;
            (both.rows, both.total, both.more)
        };
        rows.sort_by_key(|r| std::cmp::Reverse(int(&r.row, "id").unwrap_or_default()));
        rows.dedup_by_key(|r| int(&r.row, "id"));
        // A list cut at the page's end goes on past it, whatever the merge.
        let has_more = more || rows.len() > wanted || total.is_some_and(|t| t > wanted as u64);
        let tickets: Vec<Ticket> = rows
            .iter()
            .skip(skip)
            .take(size)
            .map(|r| Ticket { closed: Some(r.state.closed()), ..Ticket::from_halo(&r.row, |id| ctx.client.ticket_url(id)) })
            .collect();
        let total = total.map(|t| t as i64);
        let count = tickets.len() as i64;
        tracing::info!("Found {count} ticket(s){}", total.map(|t| format!(" of {t} matching")).unwrap_or_default());
        Ok(Output { tickets, count, total: total.or(Some(count)), has_more })
    }
}
