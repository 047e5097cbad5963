//! Deciding what one subject's ticket needs (pure: `run` carries the decisions out).

use super::{Existing, OnResolved, Outcome, Subject, Want};

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
