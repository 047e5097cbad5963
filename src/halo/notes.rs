//! A ticket's newest note of some kind: how steps recognise what they wrote before (a rerun adds
//! no second note) without keeping state of their own.

use super::ticket::{int, string};
use super::{HaloClient, HaloError};

impl HaloClient {
    /// The note of the newest history entry (system entries left out) that `matching` accepts,
    /// given the entry's note; None when no entry matches or the newest match has no note.
    pub async fn newest_note(&self, ticket_id: i64, matching: impl Fn(Option<&str>) -> bool) -> Result<Option<String>, HaloError> {
        let rows = self.history(ticket_id, &[("excludesys", "true".to_string())]).await?;
        Ok(rows
            .iter()
            .filter(|a| matching(string(a, "note").as_deref()))
            .max_by_key(|a| int(a, "id").unwrap_or_default())
            .and_then(|a| string(a, "note")))
    }
}
