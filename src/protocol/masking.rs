//! Secrets kept out of every output and log line: the connection's secrets, in every form they
//! can take on the wire.

use serde_json::Value;

/// Keys whose string values in a connection are secrets (the Python runtime's OutputMasker).
const SECRET_KEYS: [&str; 4] = ["secretKey", "password", "key", "token"];
const MASK: &str = "********";

/// Every secret string in a connection, at any depth.
pub fn connection_secrets(connection: &Value) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        if let Value::Object(m) = v {
            for (k, v) in m {
                match v {
                    Value::Object(_) => walk(v, out),
                    Value::String(s) if !s.is_empty() && SECRET_KEYS.contains(&k.as_str()) => out.push(s.clone()),
                    _ => {}
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(connection, &mut out);
    out.sort();
    out.dedup();
    out
}

/// Add the forms a secret takes on the wire, so that an echo of a request cannot show it either:
/// form/URL-encoded, JSON-escaped, and inside HTTP Basic (`base64(user:secret)`) for the client
/// credentials and any user name and password pair.
pub fn with_encodings(secrets: &mut Vec<String>, connection: &Value) {
    use crate::halo::redact::{basic_forms, wire_forms};
    let mut more: Vec<String> = secrets.iter().flat_map(|s| wire_forms(s)).collect();
    let id = connection.get("client_id").and_then(Value::as_str);
    let secret = connection.get("client_secret").and_then(|c| c.get("secretKey")).and_then(Value::as_str);
    if let (Some(id), Some(secret)) = (id, secret) {
        more.extend(basic_forms(id, secret));
    }
    fn pairs(v: &Value, out: &mut Vec<(String, String)>) {
        if let Value::Object(m) = v {
            if let (Some(Value::String(u)), Some(Value::String(p))) = (m.get("username"), m.get("password")) {
                out.push((u.clone(), p.clone()));
            }
            m.values().for_each(|v| pairs(v, out));
        }
    }
    let mut found = Vec::new();
    pairs(connection, &mut found);
    more.extend(found.iter().filter(|(_, p)| !p.is_empty()).flat_map(|(u, p)| basic_forms(u, p)));
    secrets.extend(more.into_iter().filter(|m| m.len() >= 4));
    secrets.sort();
    secrets.dedup();
}

/// The secrets of one connection, compiled once: every string of every output and log line
/// is searched for all of them in one pass, and only a string that shows one is rebuilt.
#[derive(Debug, Default)]
pub struct Masker {
    secrets: Vec<Secret>,
    /// Finds the shortest leak of any secret; None when there are no secrets.
    finder: Option<aho_corasick::AhoCorasick>,
}

#[derive(Debug)]
struct Secret {
    chars: Vec<char>,
    /// Shortest prefix (in chars) that still counts as a leak: strictly more than 80 %.
    min_prefix: String,
}

impl Masker {
    pub fn new(secrets: Vec<String>) -> Self {
        let secrets: Vec<Secret> = secrets
            .into_iter()
            .filter(|s| !s.is_empty())
            .map(|s| {
                let chars: Vec<char> = s.chars().collect();
                let min_len = (chars.len() * 4 / 5 + 1).min(chars.len());
                Secret { min_prefix: chars[..min_len].iter().collect(), chars }
            })
            .collect();
        let finder =
            (!secrets.is_empty()).then(|| aho_corasick::AhoCorasick::new(secrets.iter().map(|s| s.min_prefix.as_str())).ok()).flatten();
        Masker { secrets, finder }
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// Replace every occurrence of a secret inside every string of `value` (keys untouched).
    /// Like the Python runtime, a leading part of a secret that covers more than 80 % of it
    /// (a truncated secret) is masked too.
    pub fn mask_value(&self, value: &mut Value) {
        if self.is_empty() {
            return;
        }
        match value {
            Value::String(s) => {
                if let Some(masked) = self.mask_str(s) {
                    *s = masked;
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|v| self.mask_value(v)),
            Value::Object(m) => m.values_mut().for_each(|v| self.mask_value(v)),
            _ => {}
        }
    }

    /// The masked text, or None when nothing needed masking.
    pub fn mask_str(&self, s: &str) -> Option<String> {
        // Nearly every string shows no secret: one scan says so.
        let finder = self.finder.as_ref()?;
        if !finder.is_match(s) {
            return None;
        }
        let mut out: Option<String> = None;
        for secret in &self.secrets {
            let current = out.as_deref().unwrap_or(s);
            if !current.contains(&secret.min_prefix) {
                continue;
            }
            let mut result = String::with_capacity(current.len());
            let mut rest = current;
            while let Some(pos) = rest.find(&secret.min_prefix) {
                result.push_str(&rest[..pos]);
                // Extend the match as far as the secret goes.
                let tail = &rest[pos..];
                let mut matched = 0;
                for (a, b) in tail.chars().zip(secret.chars.iter()) {
                    if a != *b {
                        break;
                    }
                    matched += a.len_utf8();
                }
                result.push_str(MASK);
                rest = &tail[matched..];
            }
            result.push_str(rest);
            out = Some(result);
        }
        out
    }
}
