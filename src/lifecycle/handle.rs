//! Deciding and carrying out what one subject's ticket needs.

use serde_json::json;

use super::create::{create, failed_create};
use super::{Existing, Handled, OnResolved, Outcome, Policy, Source, Subject, Want, update_fields};
use crate::halo::outcomes::Purpose;
use crate::halo::{HaloClient, HaloError};

/// The decision for one subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Plan {
    Create,
    Update,
    Reopen,
    NoteResolved,
    CloseResolved,
    Nothing(Outcome),
}

pub(super) fn decide<S: Subject + ?Sized>(subject: &S, existing: Option<&Existing>, on_resolved: OnResolved) -> Plan {
    match (subject.want(), existing) {
        (Want::Ticket, None) => Plan::Create,
        (Want::Ticket, Some(e)) if e.closed => Plan::Reopen,
        (Want::Ticket, Some(e)) if subject.changed(e) => Plan::Update,
        (Want::Ticket, Some(_)) => Plan::Nothing(Outcome::Unchanged),
        (Want::Resolved, Some(e)) if !e.closed => match on_resolved {
            OnResolved::Ignore => Plan::Nothing(Outcome::Unchanged),
            OnResolved::Note => Plan::NoteResolved,
            OnResolved::Close => Plan::CloseResolved,
        },
        (Want::Resolved, Some(_)) => Plan::Nothing(Outcome::Unchanged),
        (Want::Resolved, None) | (Want::Skip, _) => Plan::Nothing(Outcome::Skipped),
    }
}

/// Carry out the plan for one subject.
pub(super) async fn handle<S: Subject + ?Sized>(
    client: &HaloClient,
    policy: &Policy,
    subject: &S,
    existing: Option<Existing>,
    lock_key: &str,
) -> Handled {
    let plan = decide(subject, existing.as_ref(), policy.on_resolved);
    let card = subject.card();
    let ticket = existing.as_ref().map(|e| e.id);
    let outcome = match plan {
        Plan::Create => Outcome::Created,
        Plan::Update | Plan::NoteResolved => Outcome::Updated,
        Plan::Reopen => Outcome::Reopened,
        Plan::CloseResolved => Outcome::Closed,
        Plan::Nothing(o) => o,
    };
    let (Some(id), Some(e)) = (ticket, existing.as_ref()) else {
        if plan != Plan::Create || policy.dry_run {
            return Handled::of(outcome, ticket, None);
        }
        return match create(client, policy, card, lock_key).await {
            Ok(settled) => {
                let outcome = if settled.kept == settled.created { Outcome::Created } else { Outcome::Unchanged };
                Handled { outcome, ticket: Some(settled.kept), error: None, duplicates_closed: settled.closed, warning: settled.warning }
            }
            Err(e) => failed_create(e, card),
        };
    };
    if matches!(plan, Plan::Nothing(_)) {
        return Handled::of(outcome, ticket, None);
    }
    if policy.dry_run {
        // Reading is no change: a dry run predicts an already-noted resolution as the real run would.
        if plan == Plan::NoteResolved && already_noted_resolved(client, policy.source, id).await.unwrap_or(false) {
            return Handled::of(Outcome::Unchanged, ticket, None);
        }
        return Handled::of(outcome, ticket, None);
    }
    let mut warning = None;
    let result = match plan {
        Plan::Update => update(client, subject, e).await.map(|w| warning = w),
        Plan::Reopen => match note(client, id, &card.reopen_note, Some(policy.reopen_status_id)).await {
            Ok(()) if subject.changed(e) => {
                client.update_ticket(id, update_fields(card)).await.map(|saved| warning = super::priority_warning(&saved, card.priority))
            }
            other => other,
        },
        Plan::NoteResolved => match already_noted_resolved(client, policy.source, id).await {
            Ok(true) => return Handled::of(Outcome::Unchanged, ticket, None),
            Ok(false) => note(client, id, &card.resolved_note, None).await,
            Err(e) => Err(e),
        },
        Plan::CloseResolved => match note(client, id, &card.closed_note, Some(policy.closed_status_id)).await {
            // The status must really close the ticket on this tenant (docs/halo-api.md#S4).
            Ok(()) => client.confirm_closed(id, policy.closed_status_id, policy.closed_status_setting).await.map(|_| ()),
            other => other,
        },
        Plan::Create | Plan::Nothing(_) => Ok(()),
    };
    match result {
        Ok(()) => Handled { warning, ..Handled::of(outcome, ticket, None) },
        Err(e) => Handled::of(Outcome::Failed, ticket, Some(e.to_string())),
    }
}

/// Bring the ticket in line with the subject, and note what changed when the subject says; a
/// warning when HaloITSM did not keep the priority.
async fn update<S: Subject + ?Sized>(client: &HaloClient, subject: &S, existing: &Existing) -> Result<Option<String>, HaloError> {
    let card = subject.card();
    let saved = client.update_ticket(existing.id, update_fields(card)).await?;
    if let Some(text) = subject.change_note(existing) {
        note(client, existing.id, &text, None).await?;
    }
    Ok(super::priority_warning(&saved, card.priority))
}

/// A private note, optionally moving the ticket to a status.
async fn note(client: &HaloClient, id: i64, text: &str, new_status: Option<i64>) -> Result<(), HaloError> {
    let mut a = json!({"ticket_id": id, "note": text, "hiddenfromuser": true});
    if let Some(s) = new_status {
        a["new_status"] = json!(s);
    }
    client.post_action(Purpose::PrivateNote, a).await.map(|_| ())
}

/// Whether the source's newest note on the ticket already says resolved (so a rerun adds no second).
async fn already_noted_resolved(client: &HaloClient, source: Source, id: i64) -> Result<bool, HaloError> {
    let newest = client.newest_note(id, |n| n.is_some_and(|n| n.starts_with(source.note_prefix))).await?;
    Ok(newest.is_some_and(|n| n.starts_with(source.resolved_prefix)))
}

#[cfg(test)]
mod tests {
    use super::super::Card;
    use super::*;

    struct Fixed(Want, Card);

    impl Subject for Fixed {
        fn want(&self) -> Want {
            self.0
        }
        fn card(&self) -> &Card {
            &self.1
        }
    }

    #[test]
    fn the_lifecycle_decisions() {
        let card = Card { summary: "now".into(), ..Card::default() };
        let s = |w| Fixed(w, card.clone());
        let open = Existing { id: 5, closed: false, summary: "now".into(), details: String::new() };
        let closed = Existing { closed: true, ..open.clone() };
        let stale = Existing { summary: "before".into(), ..open.clone() };
        let note = OnResolved::Note;
        assert_eq!(decide(&s(Want::Ticket), None, note), Plan::Create);
        assert_eq!(decide(&s(Want::Ticket), Some(&closed), note), Plan::Reopen);
        assert_eq!(decide(&s(Want::Ticket), Some(&stale), note), Plan::Update, "the summary differs");
        assert_eq!(decide(&s(Want::Ticket), Some(&open), note), Plan::Nothing(Outcome::Unchanged));
        assert_eq!(decide(&s(Want::Skip), None, note), Plan::Nothing(Outcome::Skipped));
        assert_eq!(decide(&s(Want::Skip), Some(&open), note), Plan::Nothing(Outcome::Skipped));
        assert_eq!(decide(&s(Want::Resolved), None, note), Plan::Nothing(Outcome::Skipped));
        assert_eq!(decide(&s(Want::Resolved), Some(&open), note), Plan::NoteResolved);
        assert_eq!(decide(&s(Want::Resolved), Some(&closed), note), Plan::Nothing(Outcome::Unchanged));
        assert_eq!(decide(&s(Want::Resolved), Some(&open), OnResolved::Close), Plan::CloseResolved);
        assert_eq!(decide(&s(Want::Resolved), Some(&open), OnResolved::Ignore), Plan::Nothing(Outcome::Unchanged));
    }
}
