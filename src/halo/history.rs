//! A ticket's history (its actions) read whole. A plain `GET /Actions?ticket_id=` answers only the
//! newest entries on a live tenant (52 of them, newest first: docs/halo-api.md#A11), so every read
//! asks for a `count` and checks it against `record_count`; the entries come back oldest first,
//! whatever order HaloITSM answers in.

use serde_json::Value;

use super::ticket::int;
use super::{HaloClient, HaloError};

/// The entries one read asks for: far above any real ticket's history.
pub const HISTORY_COUNT: u64 = 10_000;

impl HaloClient {
    /// Every entry of a ticket's history (`filters` such as `excludesys` added), oldest first.
    /// When HaloITSM counts more entries than it answered, the history is asked for once more with
    /// that count; a tenant that still answers fewer is logged, and what it gave is used.
    pub async fn history(&self, ticket_id: i64, filters: &[(&str, String)]) -> Result<Vec<Value>, HaloError> {
        let mut count = HISTORY_COUNT;
        let mut rows = Vec::new();
        for attempt in 0..2 {
            let mut q = vec![("ticket_id", ticket_id.to_string()), ("count", count.to_string())];
            q.extend(filters.iter().cloned());
            let (answered, total) = self.list("Actions", &q, "actions").await?;
            rows = answered;
            match total {
                Some(total) if total > rows.len() as u64 && attempt == 0 => count = total,
                Some(total) if total > rows.len() as u64 => {
                    tracing::warn!("HaloITSM counts {total} history entries for ticket {ticket_id} but answered {}", rows.len());
                    break;
                }
                _ => break,
            }
        }
        rows.sort_by_key(|a| int(a, "id").unwrap_or_default());
        rows.dedup_by_key(|a| int(a, "id"));
        Ok(rows)
    }
}
