//! New tickets, a batch to a request (`POST /Tickets?returnall=true`, docs/halo-api.md#A14, T15):
//! each saved ticket HaloITSM answers is matched to its subject by the tag in its details. What
//! the answer does not account for (fewer rows, only the last one, a 5xx, a timeout) is looked up
//! by tag among the newest tickets before anything is sent again, and sent again once at most:
//! never a duplicate, never a silent loss.

use std::collections::HashMap;

use chrono::Utc;
use serde_json::{Value, json};

use super::lookup::newest_tagged;
use super::{Card, Handled, Outcome, Policy, Subject, priority_warning};
use crate::halo::batch::Saved;
use crate::halo::ticket::{int, string};
use crate::halo::{HaloClient, HaloError};

/// What creating one subject's ticket came to: the ticket (and the saved record, when HaloITSM
/// answered it), or why not.
enum Made {
    Saved(Value),
    Found(i64),
    Failed(HaloError),
}

/// Create the tickets of the subjects at `idx`, `policy.batch_size` to a request.
pub(super) async fn create_all<S: Subject>(client: &HaloClient, policy: &Policy, subjects: &[S], idx: &[usize]) -> Vec<(usize, Handled)> {
    let mut out = Vec::with_capacity(idx.len());
    for chunk in idx.chunks(policy.batch_size.max(1)) {
        out.extend(create_batch(client, policy, subjects, chunk).await);
    }
    out
}

/// The ticket a card asks for.
fn record(policy: &Policy, card: &Card) -> Value {
    let mut record = json!({"summary": card.summary, "details": card.details, "tickettype_id": policy.tickettype_id});
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
    record
}

async fn create_batch<S: Subject>(client: &HaloClient, policy: &Policy, subjects: &[S], chunk: &[usize]) -> Vec<(usize, Handled)> {
    let mut made: HashMap<usize, Made> = HashMap::new();
    let mut pending: Vec<usize> = chunk.to_vec();
    let mut uncertain: Option<HaloError> = None;
    for attempt in 0..2 {
        let sent_at = Utc::now();
        let records: Vec<Value> = pending.iter().map(|&i| record(policy, subjects[i].card())).collect();
        match client.create_tickets(records).await {
            Saved::Together(Ok(rows)) => take_rows(policy, subjects, &pending, rows, &mut made),
            Saved::Together(Err(e)) if e.outcome_uncertain() => uncertain = Some(e),
            Saved::Together(Err(e)) => {
                for &i in &pending {
                    made.insert(i, Made::Failed(e.clone()));
                }
            }
            Saved::Each(results) => {
                for (&i, r) in pending.iter().zip(results) {
                    match r {
                        Ok(saved) => _ = made.insert(i, Made::Saved(saved)),
                        Err(e) if e.outcome_uncertain() => uncertain = Some(e),
                        Err(e) => _ = made.insert(i, Made::Failed(e)),
                    }
                }
            }
        }
        pending.retain(|i| !made.contains_key(i));
        if pending.is_empty() {
            break;
        }
        // What the answer left unsaid is looked for before anything is sent again.
        tracing::warn!(
            "HaloITSM's answer to {} new ticket(s) does not account for {}; looking for them by their tags",
            chunk.len(),
            pending.len()
        );
        match newest_tagged(client, policy.source, sent_at).await {
            Ok(found) => {
                for &i in &pending {
                    if let Some(id) = found.get(&subjects[i].card().tag).and_then(|ids| ids.iter().max()) {
                        tracing::info!("The ticket for {} was created after all (ticket {id})", subjects[i].card().key);
                        made.insert(i, Made::Found(*id));
                    }
                }
            }
            Err(e) => {
                tracing::warn!("Could not look for the tickets HaloITSM may have created ({e}); they are not sent again");
                break;
            }
        }
        pending.retain(|i| !made.contains_key(i));
        if pending.is_empty() || attempt == 1 {
            break;
        }
    }
    chunk
        .iter()
        .map(|&i| {
            let card = subjects[i].card();
            let h = match made.remove(&i) {
                Some(Made::Saved(saved)) => match int(&saved, "id").filter(|id| *id > 0) {
                    Some(id) => {
                        Handled { warning: priority_warning(&saved, card.priority), ..Handled::of(Outcome::Created, Some(id), None) }
                    }
                    None => Handled::of(Outcome::Failed, None, Some("HaloITSM answered the new ticket without an ID".into())),
                },
                Some(Made::Found(id)) => Handled::of(Outcome::Created, Some(id), None),
                Some(Made::Failed(e)) => failed_create(e, card),
                None => unaccounted(uncertain.clone(), card),
            };
            (i, h)
        })
        .collect()
}

/// Match the saved tickets HaloITSM answered to the subjects sent: by the tag in each one's
/// details; by position when no row shows details and every record was answered.
fn take_rows<S: Subject>(policy: &Policy, subjects: &[S], sent: &[usize], rows: Vec<Value>, made: &mut HashMap<usize, Made>) {
    let details = |r: &Value| string(r, "details").or_else(|| string(r, "details_html"));
    if rows.len() == sent.len() && rows.iter().all(|r| details(r).is_none()) {
        for (&i, row) in sent.iter().zip(rows) {
            made.insert(i, Made::Saved(row));
        }
        return;
    }
    for row in rows {
        let tags = policy.source.find_tags(&details(&row).unwrap_or_default());
        if let Some(&i) = sent.iter().find(|&&i| !made.contains_key(&i) && tags.contains(&subjects[i].card().tag)) {
            made.insert(i, Made::Saved(row));
        }
    }
}

/// A create HaloITSM may or may not have saved, not found by its tag: say so, and how the next
/// run settles it.
fn unaccounted(e: Option<HaloError>, card: &Card) -> Handled {
    let why = e.map_or_else(|| "HaloITSM's answer did not include the new ticket".to_string(), |e| e.to_string());
    Handled::of(
        Outcome::Failed,
        None,
        Some(format!(
            "{why}. HaloITSM may have created the ticket anyway; it was looked for by its tag {} and not found. The next run looks for it by that tag before creating it, so the ticket is never created twice",
            card.tag
        )),
    )
}

/// A create that failed. HaloITSM may have saved it: say so, and how the next run settles it.
pub(super) fn failed_create(e: HaloError, card: &Card) -> Handled {
    if e.outcome_uncertain() {
        return unaccounted(Some(e), card);
    }
    Handled::of(Outcome::Failed, None, Some(e.to_string()))
}
