//! Finding people by name or email: agents (docs/halo-api.md#G2, G5; their address is `email`)
//! and users (K2; `emailaddress`, and no `search_email`). HaloITSM's `search` narrows the list;
//! every match is checked here too, so a tenant that ignores `search` gives the same answer.

use serde_json::Value;

use super::ticket::{int, string};
use super::{HaloClient, HaloError};

/// Agents or users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum People {
    Agents,
    Users,
}

impl People {
    fn path(self) -> &'static str {
        match self {
            People::Agents => "Agent",
            People::Users => "Users",
        }
    }

    fn key(self) -> &'static str {
        match self {
            People::Agents => "agents",
            People::Users => "users",
        }
    }
}

/// A person's email, whichever field carries it.
pub fn email_of(p: &Value) -> Option<String> {
    string(p, "email").or_else(|| string(p, "emailaddress")).map(|e| e.trim().to_string()).filter(|e| !e.is_empty())
}

fn inactive(kind: People, p: &Value) -> bool {
    let flag = match kind {
        People::Agents => "isdisabled",
        People::Users => "inactive",
    };
    p.get(flag).and_then(Value::as_bool) == Some(true)
}

/// Whether `p` matches `query`: its email exactly when the query is an address, else its name
/// or email containing the query (case-insensitive).
fn matches(p: &Value, query: &str) -> bool {
    let q = query.trim().to_lowercase();
    let email = email_of(p).unwrap_or_default().to_lowercase();
    if q.contains('@') {
        return email == q;
    }
    let name = string(p, "name").unwrap_or_default().to_lowercase();
    name.contains(&q) || email.contains(&q)
}

impl HaloClient {
    /// The agent this API application acts as (`GET /Agent/me`, G4); None when HaloITSM does
    /// not say.
    pub async fn acting_agent(&self) -> Result<Option<i64>, HaloError> {
        Ok(self.get_optional("Agent/me", &[]).await?.and_then(|me| int(&me, "id")))
    }

    /// Up to `limit` people matching `query`, inactive ones only with `include_inactive`.
    pub async fn search_people(
        &self,
        kind: People,
        query: &str,
        extra: &[(&str, String)],
        include_inactive: bool,
        limit: usize,
    ) -> Result<Vec<Value>, HaloError> {
        let mut q = vec![("search", query.trim().to_string())];
        q.extend(extra.iter().cloned());
        if include_inactive {
            // G3 for agents; K2 for users.
            q.push((if kind == People::Agents { "includedisabled" } else { "includeinactive" }, "true".to_string()));
        }
        let wanted = |p: &Value| matches(p, query) && (include_inactive || !inactive(kind, p));
        let rows = match kind {
            // /Agent answers one bare array (G1), /Users pages (K2, L2).
            People::Agents => self.list(kind.path(), &q, kind.key()).await?.0.into_iter().filter(|p| wanted(p)).take(limit).collect(),
            People::Users => self.list_paged_where(kind.path(), &q, kind.key(), limit, wanted).await?.rows,
        };
        Ok(rows)
    }

    /// The IDs of the active people with this email: none, one, or two when the address is
    /// shared (enough to refuse it).
    pub async fn people_with_email(&self, kind: People, email: &str) -> Result<Vec<i64>, HaloError> {
        if email.trim().is_empty() {
            return Ok(Vec::new());
        }
        Ok(self.search_people(kind, email, &[], false, 2).await?.iter().filter_map(|p| int(p, "id")).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_address_matches_exactly_a_name_in_part() {
        let ben = json!({"id": 3, "name": "Ben Carter", "emailaddress": "Ben.Carter@halo.example"});
        assert!(matches(&ben, "ben.carter@halo.example"));
        assert!(!matches(&ben, "carter@halo.example"), "an address is never matched in part");
        assert!(matches(&ben, "carter") && matches(&ben, "HALO.example"));
        assert!(!matches(&ben, "priya"));
        assert_eq!(email_of(&ben).as_deref(), Some("Ben.Carter@halo.example"));
    }
}
