//! Ticket lists where closed tickets matter. A plain `GET /Tickets` leaves out tickets closed a
//! while ago, and its rows do not say whether a ticket is closed (docs/halo-api.md#Q1, L3).
//! HaloITSM's own filters answer both (Q2): such a list is asked for twice, once with
//! `open_only=true` and once with `closed_only=true`, and each row's state is the filter that
//! returned it.

use serde_json::Value;

use super::paging::Listed;
use super::{HaloClient, HaloError};

/// Whether a ticket is open or closed, as HaloITSM's list filters say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Open,
    Closed,
}

impl State {
    /// The list filter that returns tickets in this state.
    pub fn filter(self) -> (&'static str, String) {
        match self {
            State::Open => ("open_only", "true".to_string()),
            State::Closed => ("closed_only", "true".to_string()),
        }
    }

    pub fn closed(self) -> bool {
        self == State::Closed
    }
}

/// A list row and the state of its ticket.
#[derive(Debug, Clone)]
pub struct Row {
    pub row: Value,
    pub state: State,
}

/// Open and closed tickets listed apart (`tickets_open_and_closed`).
#[derive(Debug)]
pub struct OpenAndClosed {
    pub rows: Vec<Row>,
    pub total: Option<u64>,
    pub more: bool,
}

impl HaloClient {
    /// At most `limit` tickets in `state` matching `query` (paged).
    pub async fn tickets_in(&self, state: State, query: &[(&str, String)], limit: usize) -> Result<Listed, HaloError> {
        let mut q = query.to_vec();
        q.push(state.filter());
        self.list_paged("Tickets", &q, "tickets", limit).await
    }

    /// As `tickets_in`, keeping only the rows `keep` takes (filters are hints on live tenants,
    /// docs/halo-api.md#Q6: the walk goes on until it holds `limit` kept rows).
    pub async fn tickets_in_where(
        &self,
        state: State,
        query: &[(&str, String)],
        limit: usize,
        keep: impl Fn(&Value) -> bool,
    ) -> Result<Listed, HaloError> {
        let mut q = query.to_vec();
        q.push(state.filter());
        self.list_paged_where("Tickets", &q, "tickets", limit, keep).await
    }

    /// Tickets matching `query`, open ones and closed ones however long ago (at most `limit` of
    /// each), each with its state, open first; HaloITSM's count of all matches; and whether
    /// either list goes on past `limit`.
    pub async fn tickets_open_and_closed(&self, query: &[(&str, String)], limit: usize) -> Result<OpenAndClosed, HaloError> {
        let mut out = OpenAndClosed { rows: Vec::new(), total: Some(0), more: false };
        for state in [State::Open, State::Closed] {
            let listed = self.tickets_in(state, query, limit).await?;
            out.total = out.total.zip(listed.total).map(|(a, b)| a + b);
            out.more |= listed.more;
            out.rows.extend(listed.rows.into_iter().map(|row| Row { row, state }));
        }
        Ok(out)
    }
}
