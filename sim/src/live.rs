//! What live tenants do that no API capture shows: behaviours that integrations running against
//! real HaloITSM ran into and wrote down (their commit messages, issue trackers and field notes).
//! docs/halo-api.md gives each one's source and how sure it is, under the IDs in brackets. Each
//! can be switched on alone; [`LiveQuirks::live_tenant`] switches on every one a tenant shows on
//! its own (not the misconfigurations: restricted outcomes, a Client login).

use serde::{Deserialize, Serialize};

/// Entries `GET /Actions` answers without `count` on a live tenant [A11].
pub const DEFAULT_ACTION_LIST_CAP: usize = 52;
/// How long a pre-signed attachment link lives [F6] ("~4-minute expiry").
pub const ATTACHMENT_LINK_TTL_SECS: u64 = 240;
/// The SLA with a single priority that the live tenant's Change tickets use [P3].
pub const NO_SLA_ID: i64 = 3;
/// The ticket type whose SLA offers only priority 1 on the live tenant [P3].
pub const NO_SLA_TICKET_TYPE: i64 = 5;
/// How long a create holds Halo's ticket numbering on a live tenant [T15] (the simulator's
/// choice: long enough for concurrent creates to meet).
pub const CREATE_DURATION: std::time::Duration = std::time::Duration::from_millis(25);
/// What a collided create answers [T15]: Halo stores tickets in SQL Server's `FAULTS` table, so a
/// numbering race surfaces as a key violation (the wording is the simulator's).
pub const COLLISION_MESSAGE: &str = "Violation of PRIMARY KEY constraint 'PK_FAULTS'. Cannot insert duplicate key in object 'dbo.FAULTS'.";

/// One create at a time: the slot a create holds while Halo numbers its ticket [T15].
#[derive(Debug, Default)]
pub(crate) struct CreateSlot(std::sync::atomic::AtomicBool);

impl CreateSlot {
    /// The slot, or None when another create holds it.
    pub(crate) fn claim(&self) -> Option<Claimed<'_>> {
        use std::sync::atomic::Ordering;
        self.0.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire).ok().map(|_| Claimed(self))
    }
}

pub(crate) struct Claimed<'a>(&'a CreateSlot);

impl Drop for Claimed<'_> {
    fn drop(&mut self) {
        self.0.0.store(false, std::sync::atomic::Ordering::Release);
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LiveQuirks {
    /// Free-text `search` on tickets misses text with punctuation (`:`) or ending in a digit, as
    /// Halo "escapes incorrectly on their side"; `search_summary` and `search_details` work [L11].
    pub search_misses_keys: bool,
    /// Without `count`, `GET /Actions` answers only the newest this many entries [A11].
    pub action_list_cap: Option<usize>,
    /// `GET /Actions` lists the newest entry first [A11].
    pub actions_newest_first: bool,
    /// Two ticket creates at once collide while Halo assigns ticket numbers: the later one
    /// answers 500 and saves nothing [T15].
    pub create_collisions: bool,
    /// Filters are hints: `agent_id` answers the agent's whole visible queue (his teams' tickets
    /// too), and a `datesearch` field Halo does not know is ignored rather than refused [Q6].
    pub filters_are_hints: bool,
    /// A ticket that names a user must name the user's site as well, and integer fields refuse
    /// a number written as `95.0`; users' `site_id` reads as a double [T16].
    pub user_needs_site: bool,
    /// `GET /Attachment/{id}` answers JSON with a short-lived pre-signed `link` instead of the
    /// bytes, and list rows carry `s3url`; the link refuses a request that carries an
    /// `Authorization` header [F6].
    pub attachment_links: bool,
    /// `record_count` counts the rows of the page answered, not every match [L12].
    pub per_page_record_count: bool,
    /// Logging a ticket writes no history entry: a status change in its first second is its
    /// first entry [A12].
    pub no_creation_entry: bool,
    /// The tenant's own outcomes: the private note is "Internal Note" (ID 7), and an action
    /// naming an outcome the tenant does not have is refused [A13].
    pub tenant_outcomes: bool,
    /// Outcomes the API application's agent may not use: "You do not have access to this Action
    /// at the moment" [A13].
    pub restricted_outcomes: Vec<i64>,
    /// A priority that the ticket type's SLA lacks is silently replaced by the SLA's first one;
    /// Change tickets use an SLA that offers only priority 1 [P3].
    pub priority_outside_sla_ignored: bool,
    /// The API application logs in as a Client, not an Agent: `/Team` and `/Agent` are refused
    /// [AU7].
    pub client_login: bool,
}

impl LiveQuirks {
    /// Every behaviour a live tenant shows on its own.
    pub fn live_tenant() -> LiveQuirks {
        LiveQuirks {
            search_misses_keys: true,
            action_list_cap: Some(DEFAULT_ACTION_LIST_CAP),
            actions_newest_first: true,
            create_collisions: true,
            filters_are_hints: true,
            user_needs_site: true,
            attachment_links: true,
            per_page_record_count: true,
            no_creation_entry: true,
            tenant_outcomes: true,
            restricted_outcomes: Vec::new(),
            priority_outside_sla_ignored: true,
            client_login: false,
        }
    }
}

/// Whether the broken free-text `search` finds `term` at all [L11]: not when it holds punctuation
/// other than a space, a hyphen or a dot, nor when it ends in a digit ("device names ending in
/// numbers").
pub(crate) fn search_finds(term: &str) -> bool {
    let odd = term.chars().any(|c| !(c.is_alphanumeric() || matches!(c, ' ' | '-' | '.')));
    !odd && !term.ends_with(|c: char| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_broken_search_misses_keys_but_finds_words() {
        assert!(search_finds("phishing") && search_finds("web server"));
        for key in ["prowler-key:ab12", "rapid7-ref:0011", "Device: web-1", "host42"] {
            assert!(!search_finds(key), "{key}");
        }
        let live = LiveQuirks::live_tenant();
        assert!(live.search_misses_keys && live.restricted_outcomes.is_empty() && !live.client_login);
        assert_eq!(LiveQuirks::default(), LiveQuirks { ..Default::default() });
    }
}
