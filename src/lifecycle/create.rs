//! Creating a subject's ticket: write-safe (an uncertain create is looked up by its tag before
//! it is sent again) and settled with concurrent creates elsewhere (`crate::converge`).

use serde_json::{Value, json};

use super::{Card, Handled, Outcome, Policy, dedupe_values};
use crate::halo::ticket::{int, string};
use crate::halo::ticket_lists::State;
use crate::halo::{HaloClient, HaloError};

/// A ticket created for a key, how settling with concurrent creates ended, and a priority
/// HaloITSM did not keep.
pub(super) struct Created {
    pub created: i64,
    pub kept: i64,
    pub closed: Vec<i64>,
    pub warning: Option<String>,
}

/// Create the card's ticket, then settle with any made for the same key at the same time
/// elsewhere (`crate::converge`).
pub(super) async fn create(client: &HaloClient, policy: &Policy, card: &Card, lock_key: &str) -> Result<Created, HaloError> {
    let (created, warning) = create_once(client, policy, card).await?;
    crate::key_locks::remember_created(lock_key, created);
    let holds = |t: &Value| {
        string(t, "details").or_else(|| string(t, "details_html")).is_some_and(|d| d.contains(&card.tag))
            || dedupe_values(t, policy.dedupe_field_id).contains(&card.key)
    };
    let key = crate::converge::Key {
        tag: &card.tag,
        holds: &holds,
        what: &card.what,
        closed_status: policy.closed_status_id,
        closed_status_setting: policy.closed_status_setting,
    };
    let settled = crate::converge::settle_or_keep(client, &key, created).await;
    if settled.kept != created {
        crate::key_locks::remember_created(lock_key, settled.kept);
    }
    Ok(Created { created, kept: settled.kept, closed: settled.closed, warning })
}

/// Create the card's ticket: its ID, and a warning when HaloITSM did not keep its priority. An
/// uncertain outcome (timeout or 5xx after sending) is resolved by looking for the tag before
/// anything is sent again: never a duplicate.
async fn create_once(client: &HaloClient, policy: &Policy, card: &Card) -> Result<(i64, Option<String>), HaloError> {
    let mut record = json!({
        "summary": card.summary,
        "details": card.details,
        "tickettype_id": policy.tickettype_id,
    });
    if let Some(p) = card.priority {
        record["priority_id"] = json!(p);
    }
    if let Some(t) = policy.team_id {
        record["team_id"] = json!(t);
    }
    if let Some(p) = policy.parent_id {
        record["parent_id"] = json!(p);
    }
    if let Some(f) = policy.dedupe_field_id {
        record["customfields"] = json!([{"id": f, "value": card.key}]);
    }
    for attempt in 0..2 {
        match client.create_ticket(record.clone()).await {
            Ok(saved) => {
                let id = int(&saved, "id").ok_or(HaloError::Unexpected { status: 200, message: "the new ticket has no ID".into() })?;
                return Ok((id, super::priority_warning(&saved, card.priority)));
            }
            Err(e) if e.outcome_uncertain() && attempt == 0 => {
                tracing::warn!("Creating the ticket for {} may or may not have worked ({e}); looking for it before trying again", card.key);
                if let Some(id) = find_by_tag(client, &card.tag).await? {
                    tracing::info!("The ticket for {} was created after all (ticket {id})", card.key);
                    return Ok((id, None));
                }
            }
            Err(e) => return Err(e),
        }
    }
    Err(HaloError::Unexpected { status: 0, message: "the ticket could not be created".into() })
}

/// The newest open ticket whose details hold `tag` (a ticket just created is open). Rows are
/// checked here, since a tenant may answer rows the search did not match (docs/halo-api.md#Q6);
/// a row that shows no details is confirmed by a full read.
async fn find_by_tag(client: &HaloClient, tag: &str) -> Result<Option<i64>, HaloError> {
    let details = |r: &Value| string(r, "details").or_else(|| string(r, "details_html"));
    let listed = client
        .tickets_in_where(State::Open, &[("search_details", tag.to_string())], 10, |r| details(r).is_none_or(|d| d.contains(tag)))
        .await?;
    let mut rows: Vec<(i64, bool)> = listed.rows.iter().filter_map(|r| Some((int(r, "id")?, details(r).is_some()))).collect();
    rows.sort_unstable_by_key(|r| std::cmp::Reverse(r.0));
    for (id, checked) in rows {
        if checked || client.get_ticket(id, true).await?.as_ref().and_then(details).is_some_and(|d| d.contains(tag)) {
            return Ok(Some(id));
        }
    }
    Ok(None)
}

/// A create that failed. HaloITSM may have saved it: say so, and how the next run settles it.
pub(super) fn failed_create(e: HaloError, card: &Card) -> Handled {
    let error = if e.outcome_uncertain() {
        format!(
            "{e}. HaloITSM may have created the ticket anyway; it was looked for by its tag {} and not found. The next run looks for it by that tag before creating it, so the ticket is never created twice",
            card.tag
        )
    } else {
        e.to_string()
    };
    Handled::of(Outcome::Failed, None, Some(error))
}
