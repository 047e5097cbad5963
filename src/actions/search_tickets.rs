use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::common::positive_opt;
use super::{Action, ActionContext};
use crate::halo::rows_of;
use crate::halo::ticket::{Ticket, int};
use crate::protocol::PluginError;

pub struct SearchTickets;

const NAME: &str = "search_tickets";
/// HaloITSM's largest page.
pub const PAGE_SIZE: u64 = 100;
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
    #[serde(default = "fifty")]
    pub max_results: i64,
}

fn fifty() -> i64 {
    50
}

#[derive(Debug, Serialize)]
pub struct Output {
    pub tickets: Vec<Ticket>,
    pub count: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
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
    if input.open_only {
        q.push(("open_only", "true".into()));
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
        let wanted = input.max_results as usize;
        let base = filters(&input)?;
        let mut tickets: Vec<Ticket> = Vec::with_capacity(wanted.min(PAGE_SIZE as usize));
        let mut seen = HashSet::new();
        let mut total: Option<i64> = None;
        let mut page_no: u64 = 1;
        // One page size for the whole search: page N then always starts at (N-1) * page_size.
        let page_size = PAGE_SIZE.min(wanted as u64);
        loop {
            let mut q = base.clone();
            q.push(("pageinate", "true".into()));
            q.push(("page_size", page_size.to_string()));
            q.push(("page_no", page_no.to_string()));
            let answer = ctx.client.get("Tickets", &q).await.map_err(|e| e.to_plugin_error())?;
            let (rows, count) = rows_of(answer, "tickets").map_err(|got| {
                crate::halo::HaloError::Unexpected { status: 200, message: format!("expected a ticket list, got {got}") }.to_plugin_error()
            })?;
            if total.is_none() {
                total = count.map(|c| c as i64);
            }
            let got = rows.len() as u64;
            // Rows are normalised page by page; the raw pages are not kept.
            for raw in &rows {
                // Newest-first pages can shift while they are read: never return a ticket twice.
                if let Some(id) = int(raw, "id") {
                    if !seen.insert(id) {
                        continue;
                    }
                }
                tickets.push(ctx.ticket(raw));
                if tickets.len() == wanted {
                    break;
                }
            }
            let fetched = (page_no - 1) * page_size + got;
            let exhausted = got < page_size || total.is_some_and(|t| fetched >= t as u64);
            if tickets.len() >= wanted || exhausted || got == 0 {
                break;
            }
            page_no += 1;
        }
        let count = tickets.len() as i64;
        tracing::info!("Found {count} ticket(s){}", total.map(|t| format!(" of {t} matching")).unwrap_or_default());
        Ok(Output { tickets, count, total: total.or(Some(count)) })
    }
}
