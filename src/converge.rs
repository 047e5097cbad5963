//! Settling duplicates that concurrent creates made. Several plugin containers on one HaloITSM
//! (or a step started again while the first run still goes) can each find no ticket for a key
//! and each create one; nothing in HaloITSM's API makes a create conditional. So after every
//! create the key is looked up again: when more than one open ticket carries it, the oldest
//! (lowest ID) is kept and the newer ones are closed with a note naming it. Whichever create
//! finished last sees all of them, so no duplicate is left open; closed tickets are not listed,
//! so settling again changes nothing.

use serde_json::{Value, json};

use crate::halo::outcomes::Purpose;
use crate::halo::ticket::int;
use crate::halo::ticket_lists::State;
use crate::halo::{HaloClient, HaloError};

/// What settling found: the ticket kept for the key, and the duplicates it closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    pub kept: i64,
    pub closed: Vec<i64>,
}

/// How a key is found: the tag searched for and whether a full read holds the key.
pub struct Key<'a> {
    pub tag: &'a str,
    pub holds: &'a (dyn Fn(&Value) -> bool + Sync),
    /// Named in the note, e.g. "the Prowler finding prowler-aws-…".
    pub what: &'a str,
    pub closed_status: i64,
    pub closed_status_setting: &'static str,
}

/// `settle`, where failing to settle does not undo the create: the failure is logged and the
/// created ticket reported (a later create of the key settles it again).
pub async fn settle_or_keep(client: &HaloClient, key: &Key<'_>, created: i64) -> Settled {
    match settle(client, key, created).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("Could not check for duplicates of ticket {created} ({}): {e}", key.what);
            Settled { kept: created, closed: Vec::new() }
        }
    }
}

/// Look the key up again after `created` was made for it, and close any newer duplicate.
pub async fn settle(client: &HaloClient, key: &Key<'_>, created: i64) -> Result<Settled, HaloError> {
    // The tag is in the details (free-text `search` misses keys: docs/halo-api.md#L11); a row
    // that shows details must hold it (a tenant may answer rows the search did not match, Q6).
    let shows_tag = |r: &Value| {
        crate::halo::ticket::string(r, "details")
            .or_else(|| crate::halo::ticket::string(r, "details_html"))
            .is_none_or(|d| d.contains(key.tag))
    };
    let rows = client.tickets_in_where(State::Open, &[("search_details", key.tag.to_string())], 50, shows_tag).await?.rows;
    let ids: Vec<i64> = rows.iter().filter_map(|r| int(r, "id")).collect();
    settle_among(client, key, created, ids).await
}

/// Of `created` and the open tickets `listed` for the key (a list found them), keep the oldest
/// that a full read confirms holds the key and is open, and close the newer ones.
pub async fn settle_among(client: &HaloClient, key: &Key<'_>, created: i64, listed: Vec<i64>) -> Result<Settled, HaloError> {
    let mut ids = listed;
    if !ids.contains(&created) {
        ids.push(created);
    }
    ids.sort_unstable();
    ids.dedup();
    if ids.len() == 1 {
        return Ok(Settled { kept: created, closed: Vec::new() });
    }
    // Rows are thin (docs/halo-api.md#L3): each candidate is confirmed by a full read.
    let mut holders = Vec::new();
    for id in ids {
        if let Some(t) = client.get_ticket(id, true).await?
            && (key.holds)(&t)
            && !client.is_closed(&t).await
        {
            holders.push(id);
        }
    }
    let Some((&kept, newer)) = holders.split_first() else { return Ok(Settled { kept: created, closed: Vec::new() }) };
    let mut closed = Vec::new();
    for &dup in newer {
        let note = format!(
            "Closed as a duplicate of ticket {kept}: both were opened for {} at the same time (by two runs of the InsightConnect plugin). Ticket {kept} is kept.",
            key.what
        );
        client
            .post_action(
                Purpose::PrivateNote,
                json!({"ticket_id": dup, "note": note, "hiddenfromuser": true, "new_status": key.closed_status}),
            )
            .await?;
        client.confirm_closed(dup, key.closed_status, key.closed_status_setting).await?;
        tracing::warn!("Ticket {dup} duplicated ticket {kept} ({}); closed it", key.what);
        closed.push(dup);
    }
    Ok(Settled { kept, closed })
}
