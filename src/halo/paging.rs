//! The one way this client walks HaloITSM's paged lists (docs/halo-api.md#L1, L2): `pageinate`,
//! `page_size` (at most 100), `page_no` from 1, and the `record_count` of the answer.

use std::collections::HashSet;

use serde_json::Value;

use super::ticket::int;
use super::{HaloClient, HaloError, rows_of};

/// HaloITSM's largest page.
pub const MAX_PAGE_SIZE: usize = 100;
/// No list is walked further than this many pages.
const MAX_PAGES: u64 = 10_000;

/// The rows of a list and HaloITSM's count of all matches, when it gave one.
#[derive(Debug, Default)]
pub struct Listed {
    pub rows: Vec<Value>,
    pub total: Option<u64>,
}

impl HaloClient {
    /// At most `limit` rows of a paged list, page after page with one page size throughout (so
    /// page N always starts at row (N-1) × size). It stops at a short page, at the record count,
    /// or at a page that starts like the first one (a server ignoring the paging parameters would
    /// repeat it forever). Rows seen on an earlier page (pages shift when tickets change while
    /// they are read) are not returned twice.
    pub async fn list_paged(&self, path: &str, query: &[(&str, String)], key: &str, limit: usize) -> Result<Listed, HaloError> {
        let size = MAX_PAGE_SIZE.min(limit.max(1));
        let mut out = Listed::default();
        let mut seen = HashSet::new();
        let mut first_of_page_one: Option<i64> = None;
        // A listing of more pages than one is bulk work: its later pages wait for the rate limit
        // as a bulk step would (unless a step set a deadline already).
        let bulk_deadline = tokio::time::Instant::now() + super::budget::patience::BULK_DEADLINE;
        for page_no in 1..=MAX_PAGES {
            let mut q = query.to_vec();
            q.push(("pageinate", "true".to_string()));
            q.push(("page_size", size.to_string()));
            q.push(("page_no", page_no.to_string()));
            let page = if page_no == 1 || super::budget::patience::deadline().is_some() {
                self.get(path, &q).await?
            } else {
                super::budget::patience::within(bulk_deadline, self.get(path, &q)).await?
            };
            let (rows, count) = rows_of(page, key)
                .map_err(|got| HaloError::Unexpected { status: 200, message: format!("expected a list from /{path}, got {got}") })?;
            if page_no == 1 {
                out.total = count;
                first_of_page_one = rows.first().and_then(|r| int(r, "id"));
            } else if rows.first().and_then(|r| int(r, "id")).is_some_and(|id| Some(id) == first_of_page_one) {
                tracing::warn!("HaloITSM answered page {page_no} of /{path} with the first page again; stopping there");
                break;
            }
            let got = rows.len();
            for row in rows {
                if int(&row, "id").is_some_and(|id| !seen.insert(id)) {
                    continue;
                }
                out.rows.push(row);
                if out.rows.len() >= limit {
                    return Ok(out);
                }
            }
            let fetched = (page_no as usize - 1) * size + got;
            if got < size || count.is_some_and(|c| fetched as u64 >= c) {
                break;
            }
        }
        Ok(out)
    }
}
