//! What a change to a ticket means as an event, in one place for the running triggers
//! (`triggers`) and the `process_webhook` step: how a webhook delivery is read (`delivery`), what
//! a change means from the record, the ticket and its history (`plan`), which fields it touched
//! (`changes`), what a delivery announces without any record (`from_delivery`), whether a status
//! change reopens the ticket (`reopen`), and the event output itself (`event`). Pure logic, but for
//! reading the tenant's statuses and the Rapid7 statuses of an event.

pub mod changes;
pub mod delivery;
pub mod event;
pub mod from_delivery;
pub mod plan;
pub mod reopen;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Most deliveries in one batched body (the webhook listener's and the step's limit).
pub const MAX_BATCH: usize = 1000;

/// Which trigger's events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Created,
    Updated,
    StatusChanged,
}

impl Kind {
    pub fn from_name(name: &str) -> Option<Kind> {
        match name {
            "ticket_created" => Some(Kind::Created),
            "ticket_updated" => Some(Kind::Updated),
            "ticket_status_changed" => Some(Kind::StatusChanged),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Created => "ticket_created",
            Kind::Updated => "ticket_updated",
            Kind::StatusChanged => "ticket_status_changed",
        }
    }
}

/// Where a change was noticed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Webhook,
    Poll,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Webhook => "webhook",
            Source::Poll => "poll",
        }
    }
}

/// The last known state of one ticket. A trigger's state file and journal hold it under the
/// one-letter names it was first stored with, so that state written before still loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    #[serde(rename = "s")]
    pub status_id: i64,
    /// Change marker: HaloITSM's last action date of the ticket.
    #[serde(rename = "m")]
    pub marker: DateTime<Utc>,
    /// The newest history entry (action ID) already accounted for; 0 when unknown.
    #[serde(rename = "a", default)]
    pub last_action_id: i64,
}
