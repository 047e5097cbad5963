use serde::{Deserialize, Serialize};

use super::common::{invalid_input, positive_opt};
use super::{Action, ActionContext};
use serde_json::Value;

use crate::halo::ticket::{Ticket, int, parse_halo_date, string};
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
        invalid_input(NAME, format_args!("input `{field}` is not an RFC 3339 date"), "Use a date such as 2026-09-01T00:00:00Z.")
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
    // `agent_id` answers an agent's whole visible queue on live tenants; `agent` (a list) is the
    // assignee filter (docs/halo-api.md#Q6).
    if let Some(v) = positive_opt(NAME, "agent_id", input.agent_id)? {
        q.push(("agent", v.to_string()));
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
            return Err(invalid_input(NAME, "`created_after` is later than `created_before`", "Swap the two dates or leave one empty."));
        }
    }
    // The date a ticket was opened: the spec's "Date Opened" example (the database spells it
    // `dateoccured`; SIMVAY's working sweeps use `dateoccurred`, docs/halo-api.md#Q6), and a field
    // list rows carry, so each row is checked against the range too.
    if after.is_some() || before.is_some() {
        q.push(("datesearch", "dateoccurred".into()));
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

/// What a search asked for, checked on every row HaloITSM answers (its filters are hints on live
/// tenants: docs/halo-api.md#Q6). A field a row does not carry is not held against it; the free
/// text `query` is HaloITSM's to judge.
struct Asked {
    summary: Option<String>,
    status: Option<i64>,
    agent: Option<i64>,
    team: Option<(i64, Option<String>)>,
    priority: Option<i64>,
    after: Option<chrono::DateTime<chrono::Utc>>,
    before: Option<chrono::DateTime<chrono::Utc>>,
}

impl Asked {
    async fn of(ctx: &ActionContext, input: &Input) -> Result<Asked, PluginError> {
        let date = |v: &Option<String>| v.as_deref().and_then(|d| chrono::DateTime::parse_from_rfc3339(d).ok()).map(|d| d.to_utc());
        let team = match input.team_id {
            // The team's name: thin rows carry `team` (a name), not `team_id` (L3).
            Some(id) => Some((id, ctx.client.team(id).await.ok().flatten().map(|t| t.name))),
            None => None,
        };
        Ok(Asked {
            summary: input.summary_contains.as_deref().map(|s| s.trim().to_lowercase()).filter(|s| !s.is_empty()),
            status: input.status_id,
            agent: input.agent_id,
            team,
            priority: input.priority_id,
            after: date(&input.created_after),
            before: date(&input.created_before),
        })
    }

    fn holds(&self, row: &Value) -> bool {
        let same = |field: &str, want: Option<i64>| want.is_none_or(|w| int(row, field).is_none_or(|v| v == w));
        let summary = self.summary.as_ref().is_none_or(|s| string(row, "summary").is_none_or(|v| v.to_lowercase().contains(s)));
        let team = self.team.as_ref().is_none_or(|(id, name)| match (int(row, "team_id"), string(row, "team"), name) {
            (Some(t), _, _) => t == *id,
            (None, Some(t), Some(n)) => t.trim().eq_ignore_ascii_case(n.trim()),
            // Rows carry `team` whenever the ticket has one (L4): none shown is no team.
            (None, None, Some(_)) => false,
            // The team's name is not known: nothing to check.
            (None, _, None) => true,
        });
        let opened = string(row, "dateoccurred").and_then(|d| parse_halo_date(&d));
        let dated = opened.is_none_or(|d| self.after.is_none_or(|a| d >= a) && self.before.is_none_or(|b| d <= b));
        summary && team && dated && same("status_id", self.status) && same("agent_id", self.agent) && same("priority_id", self.priority)
    }
}

impl Action for SearchTickets {
    const NAME: &'static str = NAME;
    type Input = Input;
    type Output = Output;

    async fn run(ctx: ActionContext, input: Input) -> Result<Output, PluginError> {
        if !(1..=MAX_RESULTS).contains(&input.max_results) {
            return Err(invalid_input(
                NAME,
                format_args!("input `max_results` must be between 1 and {MAX_RESULTS}, got {}", input.max_results),
                "Narrow the search with filters, or ask for fewer tickets.",
            ));
        }
        let size = input.page_size.unwrap_or(input.max_results);
        if !(1..=MAX_RESULTS).contains(&size) || input.page < 1 || input.page.saturating_mul(size) > MAX_RESULTS {
            return Err(invalid_input(
                NAME,
                format_args!(
                    "inputs `page` ({}) and `page_size` ({size}) must be 1 or more, and reach no further than ticket {MAX_RESULTS}",
                    input.page
                ),
                "Narrow the search with filters to walk fewer pages.",
            ));
        }
        let (skip, size) = (((input.page - 1) * size) as usize, size as usize);
        // Each list is read newest first up to the end of the page, so the merged page is exact.
        let wanted = skip + size;
        let base = filters(&input)?;
        let asked = Asked::of(&ctx, &input).await?;
        // Tickets closed a while ago are listed only when asked for, and list rows do not say
        // whether a ticket is closed (docs/halo-api.md#Q1, L3): open and closed tickets are
        // listed apart and merged, newest first; each one's `closed` is the list it came from.
        // HaloITSM's filters are hints (Q6): every row is checked against what was asked.
        let states: &[State] = if input.open_only { &[State::Open] } else { &[State::Open, State::Closed] };
        let (mut rows, mut total, mut more, mut dropped) = (Vec::new(), Some(0u64), false, 0);
        for &state in states {
            let listed = ctx.client.tickets_in_where(state, &base, wanted, |r| asked.holds(r)).await?;
            total = total.zip(listed.total).map(|(a, b)| a + b);
            more |= listed.more;
            dropped += listed.dropped;
            rows.extend(listed.rows.into_iter().map(|row| Row { row, state }));
        }
        if dropped > 0 {
            // HaloITSM's count took in rows that do not match: only lists read to their end
            // are counted, by the rows kept (the paging helper says so).
            tracing::info!("HaloITSM answered {dropped} ticket(s) that do not match the search; they were left out");
        }
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
        Ok(Output { tickets, count, total, has_more })
    }
}
