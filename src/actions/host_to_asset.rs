//! Which CMDB asset a scanned host is (docs/halo-api.md#X5): an InsightVM asset names a host by
//! hostname and IP, HaloITSM's CMDB keeps them in key fields whose meaning each tenant chooses
//! (X3). A host is taken as an asset only when exactly one active asset matches it, so a link is
//! never a guess.

use std::collections::HashMap;

use serde_json::Value;

use super::ActionContext;
use crate::halo::ticket::int;
use crate::halo::{HaloClient, HaloError};
use crate::protocol::PluginError;

/// The fields a host's name or address may be kept in (X3).
const KEY_FIELDS: &[&str] = &["key_field", "key_field2", "key_field3", "inventory_number"];

/// Matches read per search: enough to see more than one, and an IP to tell them apart.
const MATCHES_READ: usize = 20;

/// What the CMDB holds for a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    One(i64),
    None,
    /// More than one asset matches: none is linked.
    Many(Vec<i64>),
}

fn fields(row: &Value) -> impl Iterator<Item = String> + '_ {
    KEY_FIELDS.iter().filter_map(|k| row.get(*k).and_then(Value::as_str)).map(|s| s.trim().to_lowercase()).filter(|s| !s.is_empty())
}

/// Whether a CMDB value names the host: the same name, or one is the other's short name
/// (`web-1` and `web-1.corp.example`), ignoring case.
fn names_host(value: &str, host: &str) -> bool {
    let short = |s: &str| s.split('.').next().unwrap_or_default().to_string();
    value == host || (!value.contains('.') && value == short(host)) || (!host.contains('.') && short(value) == host)
}

/// Whether an IP text is one (so `10.0.0.1` is not matched as a short name `10`).
fn is_ip(text: &str) -> bool {
    text.parse::<std::net::IpAddr>().is_ok()
}

fn active(row: &Value) -> bool {
    row.get("inactive") != Some(&Value::Bool(true))
}

/// Looks hosts up in the CMDB, each search once per run.
#[derive(Default)]
pub struct HostLookup {
    searched: HashMap<String, Vec<Value>>,
}

impl HostLookup {
    /// Active assets that pass `keep`, found by searching for `text` (every row checked again,
    /// so a tenant that ignores `search` answers the same), read once per `key`.
    async fn search(
        &mut self,
        client: &HaloClient,
        key: String,
        text: &str,
        keep: impl Fn(&Value) -> bool,
    ) -> Result<Vec<Value>, HaloError> {
        if let Some(rows) = self.searched.get(&key) {
            return Ok(rows.clone());
        }
        let q = [("search", text.to_string())];
        let rows = client.list_paged_where("Asset", &q, "assets", MATCHES_READ, |r| active(r) && keep(r)).await?.rows;
        self.searched.insert(key, rows.clone());
        Ok(rows)
    }

    /// The one active asset that is this host: by name, an IP telling name matches apart; else
    /// by IP alone.
    pub async fn find(&mut self, client: &HaloClient, host_name: &str, ip: &str) -> Result<Found, HaloError> {
        let (host, ip) = (host_name.trim().to_lowercase(), ip.trim().to_lowercase());
        let has_ip = |r: &Value| !ip.is_empty() && fields(r).any(|f| f == ip);
        let mut matches = Vec::new();
        if !host.is_empty() && !is_ip(&host) {
            let short = host.split('.').next().unwrap_or_default().to_string();
            matches = self.search(client, format!("name {host}"), &short, |r| fields(r).any(|f| names_host(&f, &host))).await?;
            if matches.len() > 1 {
                let by_ip: Vec<Value> = matches.iter().filter(|r| has_ip(r)).cloned().collect();
                if by_ip.len() == 1 {
                    matches = by_ip;
                }
            }
        }
        if matches.is_empty() && !ip.is_empty() {
            matches = self.search(client, format!("ip {ip}"), &ip, has_ip).await?;
        }
        let mut ids: Vec<i64> = matches.iter().filter_map(|r| int(r, "id")).collect();
        ids.sort_unstable();
        ids.dedup();
        Ok(match ids[..] {
            [] => Found::None,
            [id] => Found::One(id),
            _ => Found::Many(ids),
        })
    }
}

/// What linking a ticket's hosts came to.
#[derive(Debug, Default)]
pub struct HostLinks {
    /// Every asset the ticket links after it (none read when no host matched).
    pub asset_ids: Vec<i64>,
    /// Each host no single asset matched, with why.
    pub unmatched: Vec<String>,
}

impl HostLookup {
    /// Links ticket `ticket` to the assets its `hosts` (hostname, IP) are, adding to its links.
    pub async fn link(
        &mut self,
        ctx: &ActionContext,
        action: &str,
        ticket: i64,
        hosts: &[(String, String)],
    ) -> Result<HostLinks, PluginError> {
        let mut out = HostLinks::default();
        let mut ids = Vec::new();
        for (host, ip) in hosts {
            match self.find(&ctx.client, host, ip).await? {
                Found::One(id) if !ids.contains(&id) => ids.push(id),
                Found::One(_) => {}
                Found::None => out.unmatched.push(format!("{} (no CMDB asset)", describe(host, ip))),
                Found::Many(m) => {
                    let m: Vec<String> = m.iter().map(i64::to_string).collect();
                    out.unmatched.push(format!("{} (CMDB assets {})", describe(host, ip), m.join(", ")));
                }
            }
        }
        if !ids.is_empty() {
            let current = ctx.require_ticket(action, ticket).await?;
            out.asset_ids = super::assets::link_to(ctx, action, ticket, &current, &ids).await?.0;
        }
        Ok(out)
    }
}

fn describe(host: &str, ip: &str) -> String {
    [host.trim(), ip.trim()].iter().filter(|s| !s.is_empty()).copied().collect::<Vec<_>>().join(" ")
}

/// A host given as one text: an IP, or a hostname.
pub fn host_of(text: &str) -> (String, String) {
    let t = text.trim().to_string();
    if is_ip(&t) { (String::new(), t) } else { (t, String::new()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_matches_itself_or_its_short_form_only() {
        assert!(names_host("web-1", "web-1"));
        assert!(names_host("web-1", "web-1.corp.example"));
        assert!(names_host("web-1.corp.example", "web-1"));
        assert!(!names_host("web-10", "web-1"));
        assert!(!names_host("web-1.other.example", "web-1.corp.example"));
        assert!(is_ip("10.0.0.1") && is_ip("fe80::1") && !is_ip("web-1"));
        assert_eq!(host_of(" 10.0.0.1 "), (String::new(), "10.0.0.1".to_string()));
        assert_eq!(describe("web-1", ""), "web-1");
    }
}
