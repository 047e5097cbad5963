//! What the client knows about one tenant's configuration, read once and cached per connection:
//! its statuses (and which of them close a ticket) and its teams. Tenants add and rename both,
//! so nothing here is assumed; a name or ID that is not found is read again once, in case it
//! was just added.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::ticket::{int, string};
use super::{HaloClient, HaloError};

/// How long a tenant's statuses and teams are trusted before they are read again.
pub const TENANT_TTL: Duration = Duration::from_secs(300);

/// One status of the tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusInfo {
    pub id: i64,
    pub name: String,
    /// Whether HaloITSM says it closes a ticket; None when HaloITSM does not say (see
    /// [`Statuses::read`]).
    pub closes: Option<bool>,
}

/// The tenant's statuses.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Statuses {
    pub list: Vec<StatusInfo>,
}

impl Statuses {
    /// Which statuses close a ticket is HaloITSM's own answer: those the full list has and the
    /// `excludeclosed=true` list leaves out (docs/halo-api.md#S7). A status's `type` says nothing
    /// about it (S3). When the filtered list leaves nothing out, the tenant did not filter, and
    /// nothing is known.
    pub fn from_lists(all: &[Value], open: &[Value]) -> Statuses {
        let open_ids: Vec<i64> = open.iter().filter_map(|s| int(s, "id")).collect();
        let all: Vec<(i64, String)> = all.iter().filter_map(|s| Some((int(s, "id")?, string(s, "name").unwrap_or_default()))).collect();
        let filtered = all.iter().any(|(id, _)| !open_ids.contains(id));
        Statuses {
            list: all.into_iter().map(|(id, name)| StatusInfo { id, name, closes: filtered.then(|| !open_ids.contains(&id)) }).collect(),
        }
    }

    pub fn get(&self, id: i64) -> Option<&StatusInfo> {
        self.list.iter().find(|s| s.id == id)
    }

    /// The status with this name, ignoring case and surrounding spaces.
    pub fn named(&self, name: &str) -> Option<&StatusInfo> {
        let name = name.trim();
        self.list.iter().find(|s| s.name.trim().eq_ignore_ascii_case(name))
    }

    /// Whether the status closes a ticket, when HaloITSM said so.
    pub fn closes(&self, id: i64) -> Option<bool> {
        self.get(id).and_then(|s| s.closes)
    }
}

/// Whether `closed` (the connection's Closed Status ID) closes tickets on this tenant, as far as
/// HaloITSM says: Err explains what is wrong and what to set instead.
pub fn check_closed_status(statuses: &Statuses, closed: i64) -> Result<(), String> {
    let closing: Vec<String> = statuses.list.iter().filter(|s| s.closes == Some(true)).map(|s| format!("{} ({})", s.id, s.name)).collect();
    let hint = if closing.is_empty() { String::new() } else { format!("; statuses that close tickets: {}", closing.join(", ")) };
    match statuses.get(closed) {
        None if !statuses.list.is_empty() => {
            Err(format!("HaloITSM has no status {closed}: set Closed Status ID (closed_status_id) to one that closes tickets{hint}"))
        }
        Some(s) if s.closes == Some(false) => Err(format!(
            "status {closed} ({}) does not close tickets: set Closed Status ID (closed_status_id) to one that does{hint}",
            s.name
        )),
        _ => Ok(()),
    }
}

/// One team of the tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct TeamInfo {
    pub id: i64,
    pub name: String,
    pub inactive: bool,
}

/// A value read from HaloITSM and when.
type Slot<T> = tokio::sync::Mutex<Option<(Instant, Arc<T>)>>;

/// The per-connection cache. Each slot's lock is held while it is read, so concurrent callers
/// on an empty or stale slot cause one read and share it.
#[derive(Default)]
pub struct TenantCache {
    statuses: Slot<Statuses>,
    teams: Slot<Vec<TeamInfo>>,
}

impl TenantCache {
    async fn get<T, F, Fut>(slot: &Slot<T>, fresh: bool, read: F) -> Result<Arc<T>, HaloError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<T, HaloError>>,
    {
        let mut g = slot.lock().await;
        if !fresh
            && let Some((at, v)) = g.as_ref()
            && at.elapsed() < TENANT_TTL
        {
            return Ok(v.clone());
        }
        let v = Arc::new(read().await?);
        *g = Some((Instant::now(), v.clone()));
        Ok(v)
    }
}

impl HaloClient {
    /// The tenant's statuses (cached; `fresh` reads them again).
    pub async fn statuses(&self, fresh: bool) -> Result<Arc<Statuses>, HaloError> {
        TenantCache::get(&self.tenant.statuses, fresh, || async {
            let (all, _) = self.list("Status", &[], "statuses").await?;
            let (open, _) = self.list("Status", &[("excludeclosed", "true".to_string())], "statuses").await?;
            Ok(Statuses::from_lists(&all, &open))
        })
        .await
    }

    /// The tenant's teams, inactive ones included (docs/halo-api.md#G6), cached; `fresh` reads
    /// them again.
    pub async fn teams(&self, fresh: bool) -> Result<Arc<Vec<TeamInfo>>, HaloError> {
        TenantCache::get(&self.tenant.teams, fresh, || async {
            let (rows, _) = self.list("Team", &[("includedisabled", "true".to_string())], "teams").await?;
            Ok(rows
                .iter()
                .filter_map(|t| {
                    Some(TeamInfo {
                        id: int(t, "id")?,
                        name: string(t, "name")?,
                        inactive: t.get("inactive").is_some_and(|v| v.as_bool() == Some(true) || v.as_i64().is_some_and(|i| i != 0)),
                    })
                })
                .collect())
        })
        .await
    }

    /// The team with this ID, or None when the tenant has none (read again once before saying so).
    pub async fn team(&self, id: i64) -> Result<Option<TeamInfo>, HaloError> {
        if let Some(t) = self.teams(false).await?.iter().find(|t| t.id == id) {
            return Ok(Some(t.clone()));
        }
        Ok(self.teams(true).await?.iter().find(|t| t.id == id).cloned())
    }

    /// The status with this name, or None when the tenant has none (read again once before
    /// saying so).
    pub async fn status_named(&self, name: &str) -> Result<Option<StatusInfo>, HaloError> {
        if let Some(s) = self.statuses(false).await?.named(name) {
            return Ok(Some(s.clone()));
        }
        Ok(self.statuses(true).await?.named(name).cloned())
    }

    /// Whether a ticket, as a full read shows it, is closed: HaloITSM's `hasbeenclosed` when the
    /// read has it (docs/halo-api.md#T11); otherwise whether its status closes tickets, as the
    /// tenant's status list says, and failing that whether it is the connection's closed status.
    pub async fn is_closed(&self, ticket: &Value) -> bool {
        if let Some(flag) = super::ticket::closed_flag(ticket) {
            return flag;
        }
        let Some(status) = int(ticket, "status_id") else { return false };
        match self.statuses(false).await {
            Ok(s) => s.closes(status).unwrap_or(status == self.config().closed_status_id),
            Err(e) => {
                tracing::debug!("Could not read the tenant's statuses ({e}); comparing with the closed status setting");
                status == self.config().closed_status_id
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn closing_statuses_are_those_the_filtered_list_leaves_out() {
        let all = [
            json!({"id": 1, "name": "New", "type": 0}),
            json!({"id": 9, "name": "Closed", "type": 0}),
            json!({"id": 8, "name": "Resolved"}),
        ];
        let s = Statuses::from_lists(&all, &[all[0].clone(), all[2].clone()]);
        assert_eq!(s.closes(9), Some(true));
        assert_eq!(s.closes(1), Some(false));
        assert_eq!(s.named(" resolved ").map(|s| s.id), Some(8));
        // A tenant that ignores the filter says nothing about closing.
        let s = Statuses::from_lists(&all, &all);
        assert_eq!(s.closes(9), None);
        assert_eq!(s.closes(77), None);
    }
}
