//! Carrying out a run's decisions in batches, so a scan costs a few dozen requests however many
//! subjects it has (HaloITSM rations requests: docs/halo-api.md#R2): new tickets a batch to a
//! request, then updates, reopens, resolved notes and closes the same way, and one settling pass
//! for creates made at the same time elsewhere.

use std::collections::HashMap;
use std::time::Instant;

use futures::stream::{self, StreamExt};

use super::handle::{Plan, decide};
use super::writes::{Change, Note, already_noted_resolved, close_all, failed, note_all, update_all};
use super::{CONCURRENCY, Existing, Handled, Outcome, Policy, Subject};
use crate::halo::HaloClient;

/// Carry out every subject's plan against the tickets `lookup` found at `looked_up_at`.
/// `progress(done, total)` is called as subjects finish. Results come in the subjects' order.
pub async fn carry_out<S: Subject>(
    client: &HaloClient,
    policy: &Policy,
    subjects: Vec<S>,
    existing: &HashMap<String, Existing>,
    looked_up_at: Instant,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Vec<(S, Handled)> {
    // Keys are per HaloITSM: the same subject sent to two tenants is two tickets.
    let tenant = client.config().application_key();
    let key_of = |s: &S| format!("{tenant}\u{0}{}", s.card().tag);
    // One run per key at a time in this process: every key of the run is held (in one order,
    // so two runs never wait on each other), and a ticket another run made since the lookup
    // counts as found.
    let mut keys: Vec<String> = subjects.iter().map(key_of).collect();
    keys.sort_unstable();
    keys.dedup();
    let mut held = Vec::with_capacity(keys.len());
    for k in &keys {
        held.push(crate::key_locks::lock_of(k).lock_owned().await);
    }
    let total = subjects.len();
    let found: Vec<Option<Existing>> = subjects
        .iter()
        .map(|s| {
            existing
                .get(&s.card().tag)
                .cloned()
                .or_else(|| crate::key_locks::created_since(&key_of(s), looked_up_at).map(|id| Existing::written(id, s.card())))
        })
        .collect();
    let plans: Vec<Plan> = subjects.iter().zip(&found).map(|(s, f)| decide(s, f.as_ref(), policy.on_resolved)).collect();
    let mut out: Vec<Option<Handled>> = vec![None; total];
    let mut done = 0;
    let mut finished = |n: usize| {
        done += n;
        progress(done, total);
    };

    let ticket = |i: usize| found[i].as_ref().map(|e| e.id);
    let of = |p: Plan| -> Vec<usize> { (0..total).filter(|&i| plans[i] == p).collect() };
    for i in 0..total {
        if let Plan::Nothing(o) = plans[i] {
            out[i] = Some(Handled::of(o, ticket(i), None));
        }
    }
    if policy.dry_run {
        dry_run(client, policy, &plans, &found, &mut out).await;
        finished(total);
        return subjects.into_iter().zip(out).map(|(s, h)| (s, h.unwrap_or_else(|| Handled::of(Outcome::Skipped, None, None)))).collect();
    }

    // New tickets, then one settling pass for what concurrent creates elsewhere made.
    let creating = of(Plan::Create);
    let since = chrono::Utc::now();
    let made = super::create::create_all(client, policy, &subjects, &creating).await;
    let mut created = Vec::new();
    for (i, h) in made {
        if let (Outcome::Created, Some(id)) = (h.outcome, h.ticket) {
            created.push((i, id));
        }
        out[i] = Some(h);
    }
    super::settle::settle_created(client, policy, &subjects, &created, since, &mut out).await;
    for &(i, _) in &created {
        if let Some(kept) = out[i].as_ref().and_then(|h| h.ticket) {
            crate::key_locks::remember_created(&key_of(&subjects[i]), kept);
        }
    }
    finished(creating.len());

    // Changes, each kind a batch to a request.
    let updating = of(Plan::Update);
    let changes: Vec<Change> = updating.iter().filter_map(|&i| Some(Change { i, ticket: ticket(i)?, card: subjects[i].card() })).collect();
    let written = update_all(client, policy, &changes).await;
    let mut change_notes = Vec::new();
    for c in &changes {
        out[c.i] = Some(match &written[&c.i] {
            Ok(warning) => {
                let existing = found[c.i].as_ref().expect("an update has a ticket");
                if let Some(text) = subjects[c.i].change_note(existing) {
                    change_notes.push(Note { i: c.i, ticket: c.ticket, text, status: None });
                }
                Handled { warning: warning.clone(), ..Handled::of(Outcome::Updated, Some(c.ticket), None) }
            }
            Err(why) => failed(c.ticket, why.clone()),
        });
    }
    for (i, r) in note_all(client, policy, &change_notes).await {
        if let (Err(why), Some(t)) = (r, ticket(i)) {
            out[i] = Some(failed(t, why));
        }
    }
    finished(updating.len());

    let reopening = of(Plan::Reopen);
    let notes: Vec<Note> = reopening
        .iter()
        .filter_map(|&i| {
            Some(Note { i, ticket: ticket(i)?, text: subjects[i].card().reopen_note.clone(), status: Some(policy.reopen_status_id) })
        })
        .collect();
    let noted = note_all(client, policy, &notes).await;
    let mut stale = Vec::new();
    for n in &notes {
        out[n.i] = Some(match &noted[&n.i] {
            Ok(()) => Handled::of(Outcome::Reopened, Some(n.ticket), None),
            Err(why) => failed(n.ticket, why.clone()),
        });
        let existing = found[n.i].as_ref().expect("a reopen has a ticket");
        if noted[&n.i].is_ok() && subjects[n.i].changed(existing) {
            stale.push(Change { i: n.i, ticket: n.ticket, card: subjects[n.i].card() });
        }
    }
    for (i, r) in update_all(client, policy, &stale).await {
        match (r, out[i].as_mut()) {
            (Ok(warning), Some(h)) => h.warning = warning,
            (Err(why), _) => out[i] = Some(failed(ticket(i).unwrap_or_default(), why)),
            _ => {}
        }
    }
    finished(reopening.len());

    // Resolved: noted once (a rerun adds no second note), or closed and proven closed.
    let noting = of(Plan::NoteResolved);
    let unnoted = not_yet_noted(client, policy, &noting, &found, &mut out).await;
    let notes: Vec<Note> =
        unnoted.iter().map(|&(i, t)| Note { i, ticket: t, text: subjects[i].card().resolved_note.clone(), status: None }).collect();
    for (i, r) in note_all(client, policy, &notes).await {
        let t = ticket(i).unwrap_or_default();
        out[i] = Some(r.map_or_else(|why| failed(t, why), |()| Handled::of(Outcome::Updated, Some(t), None)));
    }
    finished(noting.len());

    let closing = of(Plan::CloseResolved);
    let notes: Vec<Note> = closing
        .iter()
        .filter_map(|&i| {
            Some(Note { i, ticket: ticket(i)?, text: subjects[i].card().closed_note.clone(), status: Some(policy.closed_status_id) })
        })
        .collect();
    for (i, r) in close_all(client, policy, &notes).await {
        let t = ticket(i).unwrap_or_default();
        out[i] = Some(r.map_or_else(|why| failed(t, why), |()| Handled::of(Outcome::Closed, Some(t), None)));
    }
    finished(closing.len());
    drop(held);
    subjects.into_iter().zip(out).map(|(s, h)| (s, h.unwrap_or_else(|| Handled::of(Outcome::Skipped, None, None)))).collect()
}

/// Of the subjects at `idx` to be noted resolved, those whose ticket's newest note of the source
/// does not say so yet (a history read each, `CONCURRENCY` at a time); the others are unchanged.
async fn not_yet_noted(
    client: &HaloClient,
    policy: &Policy,
    idx: &[usize],
    found: &[Option<Existing>],
    out: &mut [Option<Handled>],
) -> Vec<(usize, i64)> {
    let tickets: Vec<(usize, i64)> = idx.iter().filter_map(|&i| Some((i, found[i].as_ref()?.id))).collect();
    let checks: Vec<(usize, i64, Result<bool, String>)> = stream::iter(tickets)
        .map(|(i, t)| async move { (i, t, already_noted_resolved(client, policy.source, t).await.map_err(|e| e.to_string())) })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let mut todo = Vec::new();
    for (i, t, noted) in checks {
        match noted {
            Ok(true) => out[i] = Some(Handled::of(Outcome::Unchanged, Some(t), None)),
            Ok(false) => todo.push((i, t)),
            Err(why) => out[i] = Some(failed(t, why)),
        }
    }
    todo.sort_unstable();
    todo
}

/// A dry run predicts what a real run would do, reading (never writing): an already-noted
/// resolution is predicted as unchanged.
async fn dry_run(client: &HaloClient, policy: &Policy, plans: &[Plan], found: &[Option<Existing>], out: &mut [Option<Handled>]) {
    let noting: Vec<usize> = (0..plans.len()).filter(|&i| plans[i] == Plan::NoteResolved).collect();
    let unnoted = not_yet_noted(client, policy, &noting, found, out).await;
    for (i, t) in unnoted {
        out[i] = Some(Handled::of(Outcome::Updated, Some(t), None));
    }
    for (i, plan) in plans.iter().enumerate() {
        let ticket = found[i].as_ref().map(|e| e.id);
        let outcome = match plan {
            Plan::Create => Outcome::Created,
            Plan::Update => Outcome::Updated,
            Plan::Reopen => Outcome::Reopened,
            Plan::CloseResolved => Outcome::Closed,
            Plan::NoteResolved | Plan::Nothing(_) => continue,
        };
        out[i] = Some(Handled::of(outcome, ticket, None));
    }
}
