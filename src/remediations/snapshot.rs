//! What a solution's ticket last said, kept as one plain-text token in its details so a rerun
//! can tell what changed without any state of its own: the counts, the risk score and the
//! affected assets. Plain ASCII with no HTML-special characters, so it survives HaloITSM
//! keeping details as HTML.

use super::parse::Remediation;

const PREFIX: &str = "ivm-state:";
/// Asset IDs are listed (for the change note) up to this many; beyond, only their hash is kept.
const LISTED_ASSETS: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
    pub solution: String,
    pub assets: i64,
    pub vulnerabilities: i64,
    pub risk: i64,
    /// FNV-1a of the sorted asset IDs: a change of assets with the same count shows too.
    pub assets_hash: u64,
    /// Empty when there were more than `LISTED_ASSETS`.
    pub asset_ids: Vec<i64>,
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-' | b':' => (b as char).to_string(),
            b => format!("%{b:02X}"),
        })
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], s.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Snapshot {
    pub fn of(r: &Remediation) -> Snapshot {
        let mut ids: Vec<i64> = r.assets.iter().map(|a| a.id).collect();
        ids.sort_unstable();
        ids.dedup();
        let joined = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(".");
        Snapshot {
            solution: r.nexpose_id.clone(),
            assets: r.asset_count,
            vulnerabilities: r.vulnerability_count,
            risk: r.risk_score,
            assets_hash: crate::fnv::fnv1a(joined.as_bytes()),
            asset_ids: if ids.len() <= LISTED_ASSETS { ids } else { Vec::new() },
        }
    }

    /// The token written into the details.
    pub fn token(&self) -> String {
        let ids = self.asset_ids.iter().map(i64::to_string).collect::<Vec<_>>().join(".");
        format!(
            "{PREFIX}s={};a={};v={};r={};h={:016x};ids={ids}",
            encode(&self.solution),
            self.assets,
            self.vulnerabilities,
            self.risk,
            self.assets_hash
        )
    }

    /// The snapshot a ticket's details carry, if any.
    pub fn find(details: &str) -> Option<Snapshot> {
        let start = details.find(PREFIX)? + PREFIX.len();
        let token: String = details[start..].chars().take_while(|c| !c.is_whitespace() && *c != '<').collect();
        let mut s = Snapshot::default();
        for part in token.split(';') {
            let (k, v) = part.split_once('=')?;
            match k {
                "s" => s.solution = decode(v),
                "a" => s.assets = v.parse().ok()?,
                "v" => s.vulnerabilities = v.parse().ok()?,
                "r" => s.risk = v.parse().ok()?,
                "h" => s.assets_hash = u64::from_str_radix(v, 16).ok()?,
                "ids" => s.asset_ids = v.split('.').filter(|x| !x.is_empty()).map(str::parse).collect::<Result<_, _>>().ok()?,
                _ => {}
            }
        }
        (!s.solution.is_empty()).then_some(s)
    }

    /// What changed from `old` to this one, in words; None when nothing did.
    pub fn changes_since(&self, old: &Snapshot, r: &Remediation) -> Option<String> {
        let mut parts = Vec::new();
        for (what, before, now) in [
            ("assets", old.assets, self.assets),
            ("vulnerabilities", old.vulnerabilities, self.vulnerabilities),
            ("risk score", old.risk, self.risk),
        ] {
            if before != now {
                parts.push(format!("{what} {before} -> {now}"));
            }
        }
        let mut text = if parts.is_empty() { String::new() } else { format!(" {}.", parts.join(", ")) };
        if old.assets_hash != self.assets_hash && !old.asset_ids.is_empty() && !self.asset_ids.is_empty() {
            let gone: Vec<String> = old.asset_ids.iter().filter(|id| !self.asset_ids.contains(id)).map(i64::to_string).collect();
            let mut named = std::collections::HashSet::new();
            let new: Vec<String> = r
                .assets
                .iter()
                .filter(|a| !old.asset_ids.contains(&a.id) && named.insert(a.id))
                .map(|a| if a.host_name.is_empty() { format!("{} ({})", a.id, a.ip) } else { format!("{} ({})", a.host_name, a.ip) })
                .collect();
            if !gone.is_empty() {
                text.push_str(&format!(" No longer affected: asset {}.", gone.join(", ")));
            }
            if !new.is_empty() {
                text.push_str(&format!(" Newly affected: {}.", new.join(", ")));
            }
        } else if old.assets_hash != self.assets_hash {
            text.push_str(" The affected assets changed.");
        }
        (!text.is_empty()).then_some(text)
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse::parse_all;
    use super::*;
    use serde_json::json;

    fn rem(assets: &[(i64, &str)], count: i64) -> Remediation {
        let a: Vec<_> = assets.iter().map(|(id, h)| json!({"id": id, "hostName": h, "ip": "10.0.0.1"})).collect();
        parse_all(&[json!({"nexposeId": "sol; 1=2", "assetCount": count, "vulnerabilityCount": 4, "riskScore": 900, "assets": a})])
            .unwrap_or_default()
            .remove(0)
    }

    #[test]
    fn a_snapshot_survives_the_details_and_names_what_changed() {
        let before = rem(&[(1, "a"), (2, "b")], 2);
        let s = Snapshot::of(&before);
        let details = format!("<p>x</p><p>ivm-key:00 {}</p>", s.token());
        assert!(!s.token().contains(['<', '>', '&', '"', '\'', ' ']), "{}", s.token());
        assert_eq!(Snapshot::find(&details), Some(s.clone()));
        assert_eq!(Snapshot::find("no token"), None);
        let after = rem(&[(2, "b"), (3, "c")], 2);
        let note = Snapshot::of(&after).changes_since(&s, &after).unwrap_or_default();
        assert_eq!(note, " No longer affected: asset 1. Newly affected: c (10.0.0.1).");
        let fewer = rem(&[(2, "b")], 1);
        assert!(Snapshot::of(&fewer).changes_since(&s, &fewer).unwrap_or_default().starts_with(" assets 2 -> 1."));
        assert_eq!(Snapshot::of(&before).changes_since(&s, &before), None);
    }
}
