//! Finding every ticket a source tracks, by tag, in one pass over HaloITSM's ticket list.

use std::collections::HashMap;

use super::{Card, Policy, dedupe_values};
use crate::halo::ticket::{int, string};
use crate::halo::ticket_lists::State;
use crate::halo::{HaloClient, HaloError};

/// A ticket already tracking a key, as its list row shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Existing {
    pub id: i64,
    pub closed: bool,
    pub summary: String,
    pub details: String,
}

impl Existing {
    /// A ticket this process just wrote from `card`.
    pub fn written(id: i64, card: &Card) -> Existing {
        Existing { id, closed: false, summary: card.summary.clone(), details: card.details.clone() }
    }
}

/// Every ticket carrying one of the source's tags, by tag: one list request per 100 tickets,
/// for open and for closed ones (a plain list leaves out tickets closed a while ago, and its rows
/// do not say which are closed: docs/halo-api.md#Q1, Q2, L3). List rows carry the details (L4).
pub async fn lookup(client: &HaloClient, policy: &Policy) -> Result<HashMap<String, Existing>, HaloError> {
    let source = policy.source;
    let mut out: HashMap<String, Existing> = HashMap::new();
    // The tags are in the details; free-text `search` misses such keys on live tenants
    // (docs/halo-api.md#L11), so the details are searched, and every row is checked below.
    let mut query = vec![("search_details", source.tag_prefix.to_string()), ("order", "id".to_string())];
    if let Some(f) = policy.dedupe_field_id {
        query.push(("include_custom_fields", f.to_string()));
    }
    for state in [State::Open, State::Closed] {
        let listed = client.tickets_in(state, &query, usize::MAX).await?;
        for row in &listed.rows {
            let Some(id) = int(row, "id") else { continue };
            let details = string(row, "details").or_else(|| string(row, "details_html")).unwrap_or_default();
            let mut tags = source.find_tags(&details);
            // A key only in the dedupe field (the tag was edited out of the details) counts once
            // a full read confirms it: rows carry custom fields only where HaloITSM honours
            // `include_custom_fields` (L5).
            for key in dedupe_values(row, policy.dedupe_field_id) {
                if !tags.contains(&source.tag_of(&key)) && confirmed_key(client, id, policy.dedupe_field_id, &key).await? {
                    tags.push(source.tag_of(&key));
                }
            }
            let e = Existing { id, closed: state.closed(), summary: string(row, "summary").unwrap_or_default(), details };
            for tag in tags {
                // Several tickets for one key (e.g. one made by hand, or two opened at once): an
                // open one wins, the oldest, which is the one settling keeps (`crate::converge`);
                // else the newest closed one.
                let better = match out.get(&tag) {
                    None => true,
                    Some(cur) if cur.closed != e.closed => cur.closed,
                    Some(cur) if e.closed => e.id > cur.id,
                    Some(cur) => e.id < cur.id,
                };
                if better {
                    out.insert(tag, e.clone());
                }
            }
        }
    }
    Ok(out)
}

/// Whether a full read of the ticket shows `key` in the dedupe field.
async fn confirmed_key(client: &HaloClient, id: i64, field: Option<i64>, key: &str) -> Result<bool, HaloError> {
    Ok(client.get_ticket(id, true).await?.is_some_and(|t| dedupe_values(&t, field).iter().any(|v| v == key)))
}

/// The open tickets carrying the source's tags that were opened since `since`, newest first, by
/// tag (a row's tag checked on the row): what a batch of creates left behind, whatever HaloITSM
/// answered to it, and what concurrent creates elsewhere made meanwhile. One list request per
/// 100 such tickets: the walk stops at a short page or at the first page that reaches back past
/// `since` (an hour earlier, for clocks that differ), at most `MAX_NEWEST_PAGES` pages.
pub async fn newest_tagged(
    client: &HaloClient,
    source: super::Source,
    since: chrono::DateTime<chrono::Utc>,
) -> Result<HashMap<String, Vec<i64>>, HaloError> {
    let floor = since - chrono::Duration::hours(1);
    let mut out: HashMap<String, Vec<i64>> = HashMap::new();
    let size = crate::halo::paging::MAX_PAGE_SIZE;
    for page_no in 1..=MAX_NEWEST_PAGES {
        let q = [
            ("search_details", source.tag_prefix.to_string()),
            ("order", "id".to_string()),
            ("orderdesc", "true".to_string()),
            State::Open.filter(),
            ("pageinate", "true".to_string()),
            ("page_size", size.to_string()),
            ("page_no", page_no.to_string()),
        ];
        let (rows, _) = client.list("Tickets", &q, "tickets").await?;
        let mut older = false;
        for row in &rows {
            let Some(id) = int(row, "id") else { continue };
            let details = string(row, "details").or_else(|| string(row, "details_html")).unwrap_or_default();
            for tag in source.find_tags(&details) {
                out.entry(tag).or_default().push(id);
            }
            older |= string(row, "dateoccurred").and_then(|d| crate::halo::ticket::parse_halo_date(&d)).is_some_and(|d| d < floor);
        }
        if rows.len() < size || older {
            break;
        }
    }
    Ok(out)
}

/// Pages `newest_tagged` reads at most (10 000 tickets).
const MAX_NEWEST_PAGES: u64 = 100;
