//! The life of a ticket that tracks something found by a scanner (a Prowler finding, an InsightVM
//! solution): opened when it needs work, found again on every rerun by a tag in its details (one
//! list request per 100 tickets), updated when it changed, noted or closed when it is resolved,
//! reopened when it comes back. Each source says what its tickets say (`Subject`); this engine
//! decides and writes, the same way for all of them.
//!
//! Writes go a batch to a request (`run`): a scan costs a few dozen requests, not a few per
//! subject. A create whose outcome is uncertain (timeout, 5xx, an answer short of rows) is
//! resolved by looking for the tag before anything is sent again, and concurrent creates
//! elsewhere settle on one ticket (`crate::converge`).

mod create;
mod handle;
mod lookup;
mod run;
mod settle;
pub mod text;
mod writes;

use serde::Serialize;
use serde_json::{Map, Value};

pub use lookup::{Existing, lookup};
pub use run::carry_out;

/// Reads in flight at once (HaloITSM rate-limits; 429s are waited out by the client).
pub const CONCURRENCY: usize = 8;
/// Records one write request carries by default (`Policy::batch_size`).
pub const DEFAULT_BATCH: usize = 50;

/// What the tickets of one source look like: their tag and how their notes begin.
#[derive(Debug, Clone, Copy)]
pub struct Source {
    /// The tag prefix inside a ticket's details, e.g. `prowler-key:`.
    pub tag_prefix: &'static str,
    /// How this source's notes begin, e.g. `Prowler: `.
    pub note_prefix: &'static str,
    /// How a note saying "resolved" begins, e.g. `Prowler: PASS` (a rerun adds no second one).
    pub resolved_prefix: &'static str,
}

impl Source {
    /// The searchable tag of a key (FNV-1a, stable across versions and platforms).
    pub fn tag_of(&self, key: &str) -> String {
        format!("{}{:016x}", self.tag_prefix, crate::fnv::fnv1a(key.as_bytes()))
    }

    /// The tags of this source in a text.
    pub fn find_tags(&self, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut rest = text;
        while let Some(p) = rest.find(self.tag_prefix) {
            let after = &rest[p + self.tag_prefix.len()..];
            let hex: String = after.chars().take_while(|c| c.is_ascii_hexdigit()).collect();
            if hex.len() == 16 {
                out.push(format!("{}{hex}", self.tag_prefix));
            }
            rest = after;
        }
        out
    }
}

/// What the source wants for a subject now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// It needs work: a ticket, open and up to date.
    Ticket,
    /// It is fixed: its open ticket is noted or closed (`OnResolved`).
    Resolved,
    /// Not the tickets' business (e.g. below the minimum severity).
    Skip,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnResolved {
    Ignore,
    Note,
    Close,
}

/// How tickets are written, the same for every subject of a batch.
#[derive(Debug, Clone)]
pub struct Policy {
    pub source: Source,
    pub tickettype_id: i64,
    pub team_id: Option<i64>,
    /// A custom field that carries the key too (searchable where the details are edited).
    pub dedupe_field_id: Option<i64>,
    /// New tickets are children of this ticket.
    pub parent_id: Option<i64>,
    pub on_resolved: OnResolved,
    pub reopen_status_id: i64,
    pub closed_status_id: i64,
    /// The setting that chose `closed_status_id`, named when it turns out not to close tickets.
    pub closed_status_setting: &'static str,
    pub dry_run: bool,
    /// Records one write request carries (1 to `halo::batch::MAX_BATCH`).
    pub batch_size: usize,
}

/// What a ticket for one subject says.
#[derive(Debug, Clone, Default)]
pub struct Card {
    pub key: String,
    pub tag: String,
    pub summary: String,
    /// The details of a new ticket (they carry the tag).
    pub details: String,
    pub priority: Option<i64>,
    /// Whether an update writes the details too (not when they only describe the first sighting).
    pub update_details: bool,
    pub reopen_note: String,
    /// Starts with the source's `resolved_prefix`.
    pub resolved_note: String,
    pub closed_note: String,
    /// Named in messages, e.g. "the Prowler finding prowler-aws-…".
    pub what: String,
}

/// One thing a source tracks with a ticket.
pub trait Subject: Send + Sync {
    fn want(&self) -> Want;
    fn card(&self) -> &Card;
    /// Whether the ticket no longer shows the subject as it is. The summary carries what matters
    /// by default; when it is unchanged nothing is written, so a priority an agent changed by
    /// hand stays.
    fn changed(&self, existing: &Existing) -> bool {
        existing.summary != self.card().summary
    }
    /// A note of what changed since the ticket was last written, added with an update.
    fn change_note(&self, _existing: &Existing) -> Option<String> {
        None
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Created,
    Updated,
    Reopened,
    Closed,
    Unchanged,
    Skipped,
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Updated => "updated",
            Outcome::Reopened => "reopened",
            Outcome::Closed => "closed",
            Outcome::Unchanged => "unchanged",
            Outcome::Skipped => "skipped",
            Outcome::Failed => "failed",
        }
    }
}

/// The counts of a batch, by outcome.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Counts {
    pub created: i64,
    pub updated: i64,
    pub reopened: i64,
    pub closed: i64,
    pub unchanged: i64,
    pub skipped: i64,
    pub failed: i64,
}

impl Counts {
    /// `1 created, 0 updated, …`, and whether it was a dry run.
    pub fn describe(&self, dry_run: bool) -> String {
        format!(
            "{} created, {} updated, {} reopened, {} closed, {} unchanged, {} skipped, {} failed{}",
            self.created,
            self.updated,
            self.reopened,
            self.closed,
            self.unchanged,
            self.skipped,
            self.failed,
            if dry_run { " (dry run: nothing was changed)" } else { "" }
        )
    }

    pub fn count(&mut self, o: Outcome) {
        match o {
            Outcome::Created => self.created += 1,
            Outcome::Updated => self.updated += 1,
            Outcome::Reopened => self.reopened += 1,
            Outcome::Closed => self.closed += 1,
            Outcome::Unchanged => self.unchanged += 1,
            Outcome::Skipped => self.skipped += 1,
            Outcome::Failed => self.failed += 1,
        }
    }
}

/// What handling one subject came to.
#[derive(Debug, Clone)]
pub struct Handled {
    pub outcome: Outcome,
    pub ticket: Option<i64>,
    pub error: Option<String>,
    /// Tickets for the same key that a concurrent run opened too, closed as duplicates.
    pub duplicates_closed: Vec<i64>,
    /// Something to fix that did not stop the ticket being written (a priority HaloITSM did not
    /// keep, docs/halo-api.md#P3).
    pub warning: Option<String>,
}

impl Handled {
    fn of(outcome: Outcome, ticket: Option<i64>, error: Option<String>) -> Handled {
        Handled { outcome, ticket, error, duplicates_closed: Vec::new(), warning: None }
    }
}

/// What a saved ticket says about the priority a write asked for: a warning when HaloITSM kept
/// another (the ticket type's SLA lacks it, docs/halo-api.md#P3).
fn priority_warning(saved: &Value, asked: Option<i64>) -> Option<String> {
    crate::halo::ticket::check_priority_kept(saved, asked)
        .err()
        .map(|e| format!("{e}; use a priority the ticket type's SLA offers (List Priorities shows them)"))
}

/// Whether any subject needs the tickets looked up (none does when all are skipped).
pub fn needs_lookup<S: Subject>(subjects: &[S]) -> bool {
    subjects.iter().any(|s| s.want() != Want::Skip)
}

/// The values of the dedupe custom field a record carries.
pub fn dedupe_values(record: &Value, field: Option<i64>) -> Vec<String> {
    let (Some(field), Some(cfs)) = (field, record.get("customfields").and_then(Value::as_array)) else { return Vec::new() };
    cfs.iter()
        .filter(|cf| crate::halo::ticket::int(cf, "id") == Some(field))
        .filter_map(|cf| cf.get("value").and_then(Value::as_str).filter(|v| !v.is_empty()).map(str::to_string))
        .collect()
}

/// The fields of an update: summary and priority, and the details when the card says so.
fn update_fields(card: &Card) -> Map<String, Value> {
    let mut fields = Map::new();
    fields.insert("summary".into(), Value::from(card.summary.clone()));
    if let Some(p) = card.priority {
        fields.insert("priority_id".into(), Value::from(p));
    }
    if card.update_details {
        fields.insert("details".into(), Value::from(card.details.clone()));
    }
    fields
}
