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

/// The rows of a list, HaloITSM's count of all matches when it is known to be one, whether rows
/// follow the last one returned (from the count, or from the rows of the page read past it), and
/// how many rows read were not kept (`list_paged_where`).
#[derive(Debug, Default)]
pub struct Listed {
    pub rows: Vec<Value>,
    pub total: Option<u64>,
    pub more: bool,
    pub dropped: usize,
}

impl Listed {
    /// Rows `skip..skip + size` of a list read to their end, and whether there are more.
    pub fn page(&self, skip: usize, size: usize) -> (&[Value], bool) {
        let end = skip.saturating_add(size);
        let more = self.rows.len() > end || (self.rows.len() == end && self.more);
        (&self.rows[skip.min(self.rows.len())..end.min(self.rows.len())], more)
    }
}

impl HaloClient {
    /// At most `limit` rows of a paged list, page after page with one page size throughout (so
    /// page N always starts at row (N-1) × size). It stops at a short page, at the record count
    /// once that is known to count every match, or at a page that starts like the first one (a
    /// server ignoring the paging parameters would repeat it forever). Some tenants count only the
    /// page's rows (docs/halo-api.md#L12): a count is taken as the total only when it is more than
    /// the page holds, or when the walk reached the list's end. At the limit, `more` says whether
    /// rows follow: the total tells, else the rest of the page, else (at a page's end) the next
    /// page. Rows seen on an earlier page (pages shift when tickets change while they are read)
    /// are not returned twice.
    pub async fn list_paged(&self, path: &str, query: &[(&str, String)], key: &str, limit: usize) -> Result<Listed, HaloError> {
        self.walk(path, query, key, limit, MAX_PAGE_SIZE.min(limit.max(1)), None::<fn(&Value) -> bool>).await
    }

    /// As `list_paged`, keeping only the rows `keep` takes: the walk stops once it has `limit`
    /// of those, so a search checked on this side reads no further than it must. Pages are
    /// full ones, since how many rows a page must hold to give `limit` kept rows is unknown.
    /// HaloITSM's count is trusted only while no row was left out: once one was, `more` comes
    /// from a kept row past the limit (the next page is read to see), and `total` is the rows
    /// kept of a walk that reached the end (else none).
    pub async fn list_paged_where(
        &self,
        path: &str,
        query: &[(&str, String)],
        key: &str,
        limit: usize,
        keep: impl Fn(&Value) -> bool,
    ) -> Result<Listed, HaloError> {
        self.walk(path, query, key, limit, MAX_PAGE_SIZE, Some(keep)).await
    }

    async fn walk(
        &self,
        path: &str,
        query: &[(&str, String)],
        key: &str,
        limit: usize,
        size: usize,
        keep: Option<impl Fn(&Value) -> bool>,
    ) -> Result<Listed, HaloError> {
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
                first_of_page_one = rows.first().and_then(|r| int(r, "id"));
            } else if rows.first().and_then(|r| int(r, "id")).is_some_and(|id| Some(id) == first_of_page_one) {
                tracing::warn!("HaloITSM answered page {page_no} of /{path} with the first page again; stopping there");
                break;
            }
            let got = rows.len();
            let fetched = (page_no as usize - 1) * size + got;
            // A count above the page's own rows counts every match; one equal to them may not.
            if let Some(c) = count.filter(|&c| c > got as u64) {
                out.total = Some(c);
            }
            for row in rows {
                if int(&row, "id").is_some_and(|id| !seen.insert(id)) {
                    continue;
                }
                if keep.as_ref().is_some_and(|k| !k(&row)) {
                    out.dropped += 1;
                    continue;
                }
                if out.rows.len() >= limit {
                    // A row past the limit: there are more (and a count is HaloITSM's only while
                    // every row read was kept).
                    out.more = true;
                    if out.dropped > 0 {
                        out.total = None;
                    }
                    return Ok(out);
                }
                out.rows.push(row);
            }
            if got < size || out.total.is_some_and(|c| fetched as u64 >= c) {
                // The end of the list: this many rows match (of those kept, when some were not).
                out.total = if out.dropped > 0 { Some(out.rows.len() as u64) } else { out.total.or(Some(out.rows.len() as u64)) };
                break;
            }
            if out.rows.len() >= limit && out.total.is_some() && out.dropped == 0 {
                // The count says rows follow; without one, the next page is read to see.
                out.more = true;
                return Ok(out);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn listed(n: i64, more: bool) -> Listed {
        Listed { rows: (1..=n).map(|id| json!({"id": id})).collect(), total: None, more, dropped: 0 }
    }

    #[test]
    fn a_page_knows_whether_rows_follow_it() {
        let five = listed(5, true);
        let (rows, more) = five.page(0, 5);
        assert_eq!((rows.len(), more), (5, true), "the list was cut at the page's end");
        assert!(!listed(5, false).page(0, 5).1, "the list ended there");
        assert!(listed(6, false).page(0, 5).1, "a row past the page");
        let seven = listed(7, false);
        let (rows, more) = seven.page(5, 5);
        assert_eq!((rows.iter().filter_map(|r| int(r, "id")).collect::<Vec<_>>(), more), (vec![6, 7], false));
        assert!(listed(3, true).page(5, 5).0.is_empty(), "a page past the end is empty");
    }
}
