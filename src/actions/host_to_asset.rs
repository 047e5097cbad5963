//! Which CMDB asset a scanned host is (docs/halo-api.md#X5): an InsightVM asset names a host by
//! hostname and IP, HaloITSM's CMDB keeps them in key fields whose meaning each tenant chooses
//! (X3). A host is taken as an asset only when exactly one active asset matches it, so a link is
//! never a guess: a host with a name is matched by name (its IP only telling namesakes apart, as
//! an address may have moved to another machine); a host known only by its IP, by IP.

use std::collections::HashMap;
use std::net::IpAddr;

use serde_json::Value;

use super::ActionContext;
use crate::halo::ticket::int;
use crate::protocol::PluginError;

/// The fields a host's name or address may be kept in (X3).
const KEY_FIELDS: &[&str] = &["key_field", "key_field2", "key_field3", "inventory_number"];

/// Candidates read per search: a full page; more than this and none is linked.
const MATCHES_READ: usize = 100;

/// What the CMDB holds for a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    One(i64),
    None,
    /// More than one asset matches: none is linked.
    Many(Vec<i64>),
    /// More candidates than one search reads: none is linked.
    TooMany,
}

/// A host as InsightVM or a workflow names it: a lower-case hostname (not an IP) and an IP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub name: String,
    pub ip: Option<IpAddr>,
    /// As given, for reports.
    pub label: String,
}

/// An IP in any of the ways a scanner or a CMDB writes one (`fe80::1`, `[fe80::1]`, `fe80::1%eth0`).
fn ip_of(text: &str) -> Option<IpAddr> {
    let t = text.trim().trim_start_matches('[').trim_end_matches(']');
    t.split('%').next().unwrap_or_default().parse().ok()
}

/// The first label of a hostname (`web-1` of `web-1.corp.example`).
fn short(name: &str) -> &str {
    name.split('.').next().unwrap_or_default()
}

impl Host {
    /// A host from a hostname and an IP, either possibly empty; a hostname that is an IP is one.
    pub fn new(name: &str, ip: &str) -> Host {
        let (name, ip_text) = (name.trim(), ip.trim());
        let label = [name, ip_text].iter().filter(|s| !s.is_empty()).copied().collect::<Vec<_>>().join(" ");
        let ip = ip_of(ip_text).or_else(|| ip_of(name));
        let name = if ip_of(name).is_some() || short(name).is_empty() { String::new() } else { name.to_lowercase() };
        Host { name, ip, label }
    }

    /// A host given as one text: `web-1`, `10.0.0.11`, or both, `web-1 10.0.0.11`.
    pub fn parse(text: &str) -> Host {
        let parts: Vec<&str> = text.split_whitespace().collect();
        match parts[..] {
            [name, ip] if ip_of(ip).is_some() => Host::new(name, ip),
            _ => Host::new(text, ""),
        }
    }

    /// Whether the host names anything a CMDB could hold.
    pub fn is_usable(&self) -> bool {
        !self.name.is_empty() || self.ip.is_some()
    }
}

fn fields(row: &Value) -> impl Iterator<Item = String> + '_ {
    KEY_FIELDS.iter().filter_map(|k| row.get(*k).and_then(Value::as_str)).map(|s| s.trim().to_lowercase()).filter(|s| !s.is_empty())
}

/// Whether a CMDB value names the host: the same name, or one is the other's short name
/// (`web-1` and `web-1.corp.example`), ignoring case. An IP value names no host.
fn names_host(value: &str, host: &str) -> bool {
    if ip_of(value).is_some() {
        return false;
    }
    value == host || (!value.contains('.') && value == short(host)) || (!host.contains('.') && short(value) == host)
}

fn holds_ip(row: &Value, ip: IpAddr) -> bool {
    fields(row).any(|f| ip_of(&f) == Some(ip))
}

fn active(row: &Value) -> bool {
    row.get("inactive") != Some(&Value::Bool(true))
}

fn ids(rows: &[&Value]) -> Vec<i64> {
    let mut ids: Vec<i64> = rows.iter().filter_map(|r| int(r, "id")).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Active candidates of one search, and whether more were left unread.
#[derive(Clone)]
struct Candidates {
    rows: Vec<Value>,
    cut: bool,
}

/// Looks hosts up in the CMDB, each search once per run; after a failed search, no more.
#[derive(Default)]
pub struct HostLookup {
    searched: HashMap<String, Candidates>,
    failed: Option<PluginError>,
}

impl HostLookup {
    /// Active assets that pass `keep`, found by searching for `text` (every row checked again,
    /// so a tenant that ignores `search` answers the same).
    async fn search(
        &mut self,
        ctx: &ActionContext,
        label: &str,
        text: String,
        keep: impl Fn(&Value) -> bool,
    ) -> Result<Candidates, PluginError> {
        if let Some(found) = self.searched.get(&text) {
            return Ok(found.clone());
        }
        let q = [("search", text.clone())];
        let listed = ctx.client.list_paged_where("Asset", &q, "assets", MATCHES_READ, |r| active(r) && keep(r)).await.map_err(|e| {
            let e = PluginError::from(e);
            let failed = PluginError { cause: format!("Searching the CMDB for {label} failed: {}", e.cause), ..e };
            self.failed = Some(failed.clone());
            failed
        })?;
        let found = Candidates { rows: listed.rows, cut: listed.more };
        self.searched.insert(text, found.clone());
        Ok(found)
    }

    /// The one active asset that is this host.
    async fn find(&mut self, ctx: &ActionContext, host: &Host) -> Result<Found, PluginError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if !host.name.is_empty() {
            // Searched by the short name, so `web-1` and `web-1.corp.example` share one search.
            let s = short(&host.name).to_string();
            let found = self.search(ctx, &host.label, s.clone(), |r| fields(r).any(|f| ip_of(&f).is_none() && short(&f) == s)).await?;
            if found.cut {
                return Ok(Found::TooMany);
            }
            let named: Vec<&Value> = found.rows.iter().filter(|r| fields(r).any(|f| names_host(&f, &host.name))).collect();
            let by_ip: Vec<&Value> = named.iter().copied().filter(|r| host.ip.is_some_and(|ip| holds_ip(r, ip))).collect();
            let (named, by_ip) = (ids(&named), ids(&by_ip));
            return Ok(match (&named[..], &by_ip[..]) {
                ([], _) => Found::None,
                ([id], _) | (_, [id]) => Found::One(*id),
                _ => Found::Many(named),
            });
        }
        let Some(ip) = host.ip else { return Ok(Found::None) };
        let found = self.search(ctx, &host.label, ip.to_string(), |r| holds_ip(r, ip)).await?;
        let rows: Vec<&Value> = found.rows.iter().collect();
        Ok(match (found.cut, &ids(&rows)[..]) {
            (true, _) => Found::TooMany,
            (_, []) => Found::None,
            (_, [id]) => Found::One(*id),
            (_, many) => Found::Many(many.to_vec()),
        })
    }
}

/// What linking a ticket's hosts came to.
#[derive(Debug, Default)]
pub struct HostLinks {
    /// Every asset the ticket links after it.
    pub asset_ids: Vec<i64>,
    /// Each host no single asset matched, with why.
    pub unmatched: Vec<String>,
}

impl HostLookup {
    /// Links ticket `ticket` to the assets its `hosts` are, adding to the links it has.
    pub async fn link(&mut self, ctx: &ActionContext, action: &str, ticket: i64, hosts: &[Host]) -> Result<HostLinks, PluginError> {
        let mut out = HostLinks::default();
        let mut linking = Vec::new();
        for host in hosts {
            let why = match self.find(ctx, host).await? {
                Found::One(id) => {
                    if !linking.contains(&id) {
                        linking.push(id);
                    }
                    continue;
                }
                _ if !host.is_usable() => "no hostname or IP".to_string(),
                Found::None if host.name.is_empty() => "no CMDB asset has the IP".to_string(),
                Found::None => "no CMDB asset has the name".to_string(),
                Found::Many(m) => format!("CMDB assets {} all match", m.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")),
                Found::TooMany => format!("more than {MATCHES_READ} CMDB assets could match"),
            };
            out.unmatched.push(format!("{} ({why})", if host.label.is_empty() { "a host" } else { &host.label }));
        }
        let lock = super::assets::links_lock(ctx, ticket);
        let _held = lock.lock().await;
        let current = ctx.require_ticket(action, ticket).await?;
        out.asset_ids = if linking.is_empty() {
            super::assets::links_of(ctx, ticket, &current).await?
        } else {
            super::assets::link_to(ctx, action, ticket, &current, &linking).await?.0
        };
        Ok(out)
    }
}

/// A `link_error`: the ticket stands, its links do not.
pub fn link_failure(ticket: i64, e: &PluginError) -> String {
    let data = if e.data.is_empty() { String::new() } else { format!(" Response was: {}", e.data) };
    format!("Ticket {ticket} stands, but its CMDB assets were not linked: {} {}{data}", e.cause, e.assistance)
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
        assert!(!names_host("10.0.0.1", "10"), "an IP is not a name");
    }

    #[test]
    fn hosts_are_read_as_names_and_ips() {
        let ip = |s: &str| ip_of(s);
        assert_eq!(Host::new("WEB-1", "10.0.0.11"), Host { name: "web-1".into(), ip: ip("10.0.0.11"), label: "WEB-1 10.0.0.11".into() });
        assert_eq!(Host::new("10.0.0.5", "").ip, ip("10.0.0.5"), "a hostname that is an IP is one");
        assert_eq!(Host::new("10.0.0.5", "").name, "");
        assert_eq!(Host::parse("[fe80::1]").ip, ip("fe80:0:0::1"), "IPv6 compared as addresses");
        assert_eq!(Host::parse("fe80::1%eth0").ip, ip("fe80::1"));
        assert_eq!(Host::parse("web-1 10.0.0.11"), Host::new("web-1", "10.0.0.11"));
        assert!(!Host::new(".corp", "").is_usable() && !Host::new("", "").is_usable());
    }
}
