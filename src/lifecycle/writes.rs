//! Changes to tickets that exist, a batch to a request: updates through `POST /Tickets`, notes,
//! reopens and closes through `POST /Actions` (docs/halo-api.md#T2, A1, A14), and the read-back
//! that proves a batch of closes done with one list by `ticketids` (Q5). What an answer does not
//! account for is checked on the ticket before it is sent again.

use std::collections::{HashMap, HashSet};

use serde_json::{Value, json};

use super::{Card, Handled, Outcome, Policy, priority_warning};
use crate::halo::batch::Saved;
use crate::halo::outcomes::Purpose;
use crate::halo::ticket::int;
use crate::halo::ticket_lists::State;
use crate::halo::{HaloClient, HaloError};

/// One ticket change of a batch: the subject's index, its ticket and what to write.
pub(super) struct Change<'a> {
    pub i: usize,
    pub ticket: i64,
    pub card: &'a Card,
}

/// A private note of the plugin's, optionally moving the ticket to a status.
pub(super) struct Note {
    pub i: usize,
    pub ticket: i64,
    pub text: String,
    pub status: Option<i64>,
}

/// Update each ticket to its card (summary, priority, details when the card says), a batch to a
/// request. Each subject's result: Ok(warning) once written, or why not.
pub(super) async fn update_all(
    client: &HaloClient,
    policy: &Policy,
    changes: &[Change<'_>],
) -> HashMap<usize, Result<Option<String>, String>> {
    let mut out = HashMap::new();
    for chunk in changes.chunks(policy.batch_size.max(1)) {
        let records: Vec<Value> = chunk
            .iter()
            .map(|c| {
                let mut f = super::update_fields(c.card);
                f.insert("id".into(), json!(c.ticket));
                Value::Object(f)
            })
            .collect();
        let answered: Vec<Option<Result<Value, HaloError>>> = match client.post_many("Tickets", records).await {
            Saved::Together(Ok(rows)) => {
                let strays: Vec<i64> =
                    rows.iter().filter_map(|r| int(r, "id")).filter(|id| !chunk.iter().any(|c| c.ticket == *id)).collect();
                if !strays.is_empty() {
                    tracing::error!(
                        "HaloITSM answered a batch of updates with ticket(s) {strays:?}, which it did not name: a ticket may have been deleted meanwhile"
                    );
                }
                chunk.iter().map(|c| rows.iter().find(|r| int(r, "id") == Some(c.ticket)).cloned().map(Ok)).collect()
            }
            Saved::Together(Err(e)) if e.outcome_uncertain() => chunk.iter().map(|_| None).collect(),
            Saved::Together(Err(e)) => chunk.iter().map(|_| Some(Err(e.clone()))).collect(),
            Saved::Each(each) => each.into_iter().map(Some).collect(),
        };
        for (c, a) in chunk.iter().zip(answered) {
            let result = match a {
                Some(Ok(saved)) => Ok(priority_warning(&saved, c.card.priority)),
                Some(Err(e)) => Err(e.to_string()),
                // Unaccounted for: sent again alone, the way that never turns into a create.
                None => match client.update_ticket(c.ticket, super::update_fields(c.card)).await {
                    Ok(saved) => Ok(priority_warning(&saved, c.card.priority)),
                    Err(e) => Err(e.to_string()),
                },
            };
            out.insert(c.i, result);
        }
    }
    out
}

/// Post each note, a batch to a request. Each subject's result: Ok once written, or why not. A
/// note HaloITSM's answer does not account for is looked for in the ticket's history before it
/// is sent again alone.
pub(super) async fn note_all(client: &HaloClient, policy: &Policy, notes: &[Note]) -> HashMap<usize, Result<(), String>> {
    let mut out = HashMap::new();
    for chunk in notes.chunks(policy.batch_size.max(1)) {
        let actions: Vec<Value> = chunk.iter().map(note_action).collect();
        let results = client.post_actions(Purpose::PrivateNote, actions).await;
        for (n, r) in chunk.iter().zip(results) {
            let result = match r {
                Ok(Some(_)) => Ok(()),
                Err(e) if !e.outcome_uncertain() => Err(e.to_string()),
                // Unaccounted for, or maybe saved: looked for before it is sent again.
                _ => match client.newest_note(n.ticket, |t| t.is_some_and(|t| t.trim() == n.text.trim())).await {
                    Ok(Some(_)) => Ok(()),
                    Ok(None) => client.post_action(Purpose::PrivateNote, note_action(n)).await.map(|_| ()).map_err(|e| e.to_string()),
                    Err(e) => Err(format!("the note may or may not have been saved and could not be checked: {e}")),
                },
            };
            out.insert(n.i, result);
        }
    }
    out
}

fn note_action(n: &Note) -> Value {
    let mut a = json!({"ticket_id": n.ticket, "note": n.text, "hiddenfromuser": true});
    if let Some(s) = n.status {
        a["new_status"] = json!(s);
    }
    a
}

/// Close each ticket with its note (one action each, a batch to a request), then prove the closes
/// with one list of the batch's tickets that HaloITSM counts as closed (docs/halo-api.md#Q2, Q5).
/// A tenant whose list ignores `ticketids` (Q6) is read ticket by ticket instead.
pub(super) async fn close_all(client: &HaloClient, policy: &Policy, notes: &[Note]) -> HashMap<usize, Result<(), String>> {
    let mut out = note_all(client, policy, notes).await;
    for chunk in notes.chunks(policy.batch_size.max(1)) {
        let written: Vec<&Note> = chunk.iter().filter(|n| out.get(&n.i).is_some_and(Result::is_ok)).collect();
        if written.is_empty() {
            continue;
        }
        let ids: Vec<i64> = written.iter().map(|n| n.ticket).collect();
        let closed = match closed_among(client, &ids).await {
            Ok(Some(closed)) => closed,
            Ok(None) | Err(_) => {
                // The list cannot say: each ticket is read back.
                for n in &written {
                    let r = client.confirm_closed(n.ticket, policy.closed_status_id, policy.closed_status_setting).await;
                    out.insert(n.i, r.map(|_| ()).map_err(|e| e.to_string()));
                }
                continue;
            }
        };
        for n in written.iter().filter(|n| !closed.contains(&n.ticket)) {
            // Not listed as closed: a full read says for sure (a status that does not close).
            let r = client.confirm_closed(n.ticket, policy.closed_status_id, policy.closed_status_setting).await;
            out.insert(n.i, r.map(|_| ()).map_err(|e| e.to_string()));
        }
    }
    out
}

/// Of `ids`, those HaloITSM lists as closed, with one request (`ticketids` and `closed_only`);
/// None when the answer shows tickets it was not asked for (the tenant ignores `ticketids`).
async fn closed_among(client: &HaloClient, ids: &[i64]) -> Result<Option<HashSet<i64>>, HaloError> {
    let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    let mut q = vec![("ticketids", list), ("count", ids.len().to_string())];
    q.push(State::Closed.filter());
    let (rows, _) = client.list("Tickets", &q, "tickets").await?;
    let listed: HashSet<i64> = rows.iter().filter_map(|r| int(r, "id")).collect();
    if listed.iter().any(|id| !ids.contains(id)) {
        return Ok(None);
    }
    Ok(Some(listed))
}

/// Whether the source's newest note on the ticket already says resolved (so a rerun adds no second).
pub(super) async fn already_noted_resolved(client: &HaloClient, source: super::Source, id: i64) -> Result<bool, HaloError> {
    let newest = client.newest_note(id, |n| n.is_some_and(|n| n.starts_with(source.note_prefix))).await?;
    Ok(newest.is_some_and(|n| n.starts_with(source.resolved_prefix)))
}

/// A failed write of a subject that has a ticket.
pub(super) fn failed(ticket: i64, why: String) -> Handled {
    Handled::of(Outcome::Failed, Some(ticket), Some(why))
}
