//! Settling with concurrent creates elsewhere, once per run: after this run's creates, the newest
//! open tickets of the source are listed once (a request per 100), and a key with more than one
//! open ticket is settled as `crate::converge` settles it: the oldest kept, newer ones closed with
//! a note naming it.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::lookup::newest_tagged;
use super::{Handled, Outcome, Policy, Subject, dedupe_values};
use crate::halo::HaloClient;
use crate::halo::ticket::string;

/// Settle the tickets this run created (`created`: subject index and ticket), made since `since`.
/// Failing to settle undoes nothing: it is logged, and a later create of the key settles again.
pub(super) async fn settle_created<S: Subject>(
    client: &HaloClient,
    policy: &Policy,
    subjects: &[S],
    created: &[(usize, i64)],
    since: DateTime<Utc>,
    out: &mut [Option<Handled>],
) {
    if created.is_empty() {
        return;
    }
    let listed = match newest_tagged(client, policy.source, since).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!("Could not check the {} new ticket(s) for duplicates ({e})", created.len());
            return;
        }
    };
    for &(i, id) in created {
        let card = subjects[i].card();
        let others: Vec<i64> = listed.get(&card.tag).into_iter().flatten().copied().filter(|t| *t != id).collect();
        if others.is_empty() {
            continue;
        }
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
        let settled = match crate::converge::settle_among(client, &key, id, others).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("Could not check for duplicates of ticket {id} ({}): {e}", card.what);
                continue;
            }
        };
        if let Some(h) = out[i].as_mut() {
            if settled.kept != id {
                h.outcome = Outcome::Unchanged;
                h.ticket = Some(settled.kept);
            }
            h.duplicates_closed = settled.closed;
        }
    }
}
