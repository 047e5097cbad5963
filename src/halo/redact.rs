//! Credentials taken out of text that comes back from HaloITSM (or a proxy in front of it)
//! before it goes into an error, a log or a step's output: a server that echoes the request
//! would otherwise hand the access token or the client secret back to the user.

use base64::Engine;

use super::config::ConnectionConfig;

pub const MASK: &str = "********";

/// Header schemes whose credential follows them.
const SCHEMES: &[&str] = &["bearer ", "basic "];
/// Keys (JSON members, form fields, query parameters) whose value is a credential.
const KEYS: &[&str] = &["access_token", "refresh_token", "id_token", "client_secret", "password", "authorization"];

/// The exact strings a connection must never show: the client secret in every encoding a
/// request carries it in (as is, form-encoded in the token request, inside a Basic header).
pub fn connection_secrets(cfg: &ConnectionConfig) -> Vec<String> {
    let secret = cfg.client_secret.expose();
    if secret.is_empty() {
        return Vec::new();
    }
    let mut out = wire_forms(secret);
    out.extend(basic_forms(&cfg.client_id, secret));
    out.sort();
    out.dedup();
    out
}

/// A secret as a request may carry it: as is, form- or URL-encoded, JSON-escaped.
pub fn wire_forms(secret: &str) -> Vec<String> {
    let mut out = vec![secret.to_string(), url::form_urlencoded::byte_serialize(secret.as_bytes()).collect()];
    if let Ok(json) = serde_json::to_string(secret) {
        out.push(json[1..json.len() - 1].to_string());
    }
    out
}

/// A user name and secret inside HTTP Basic: `base64(user:secret)`, and the same of the
/// form-encoded pair (as OAuth clients send client credentials, RFC 6749 section 2.3.1).
pub fn basic_forms(user: &str, secret: &str) -> Vec<String> {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    vec![b64(&format!("{user}:{secret}")), b64(&format!("{}:{}", encode(user), encode(secret)))]
}

/// `text` with every credential it shows masked: the exact `secrets`, and whatever follows a
/// Bearer or Basic scheme or a credential key.
pub fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| s.len() >= 4) {
        if out.contains(*s) {
            out = out.replace(*s, MASK);
        }
    }
    for scheme in SCHEMES {
        out = mask_after(&out, scheme, |c| c.is_ascii_alphanumeric() || "-._~+/=".contains(c));
    }
    for key in KEYS {
        out = mask_key(&out, key);
    }
    out
}

/// Mask the run of `keep` characters after each case-insensitive `prefix`.
fn mask_after(text: &str, prefix: &str, keep: impl Fn(char) -> bool) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while let Some(p) = lower[i..].find(prefix) {
        let start = i + p + prefix.len();
        let end = text[start..].char_indices().find(|(_, c)| !keep(*c)).map_or(text.len(), |(j, _)| start + j);
        out.push_str(&text[i..start]);
        if end > start {
            out.push_str(MASK);
        }
        i = end.max(start);
    }
    out.push_str(&text[i..]);
    out
}

/// Mask the value after `key` in `"key": "value"`, `key=value` and `key: value` forms.
fn mask_key(text: &str, key: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while let Some(p) = lower[i..].find(key) {
        let mut j = i + p + key.len();
        let bytes = text.as_bytes();
        // Skip a closing quote, spaces and the separator.
        while j < bytes.len() && matches!(bytes[j], b'"' | b'\'' | b' ') {
            j += 1;
        }
        if j >= bytes.len() || !matches!(bytes[j], b':' | b'=') {
            out.push_str(&text[i..j.min(text.len())]);
            i = j.min(text.len());
            continue;
        }
        j += 1;
        while j < bytes.len() && matches!(bytes[j], b' ' | b'"' | b'\'') {
            j += 1;
        }
        let end = text[j..]
            .char_indices()
            .find(|(_, c)| matches!(c, '"' | '\'' | '&' | ',' | '}' | ';' | '\n' | ' '))
            .map_or(text.len(), |(k, _)| j + k);
        out.push_str(&text[i..j]);
        if end > j {
            out.push_str(MASK);
        }
        i = end;
    }
    out.push_str(&text[i..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoed_credentials_are_masked() {
        let echo = r#"{"Message": "bad request", "headers": {"Authorization": "Bearer eyJhbGciOi.J9x-y_z"}, "form": "grant_type=client_credentials&client_secret=p%40ss%26w0rd&scope=all"}"#;
        let r = redact(echo, &[]);
        assert!(!r.contains("eyJhbGciOi") && !r.contains("p%40ss"), "{r}");
        assert!(r.contains("bad request") && r.contains("scope=all"), "{r}");
        let basic = redact("Authorization: Basic aGFsbzpzM2NyZXQ=", &[]);
        assert!(!basic.contains("aGFsbzpz") && basic.starts_with("Authorization: "), "{basic}");
        assert_eq!(redact("token t0k3n-v4lue echoed", &["t0k3n-v4lue"]), "token ******** echoed");
        assert_eq!(redact(r#"{"access_token":"abc","expires_in":3600}"#, &[]), r#"{"access_token":"********","expires_in":3600}"#);
        assert_eq!(redact("nothing to see", &[]), "nothing to see");
    }

    #[test]
    fn every_encoding_of_the_secret_is_known() {
        let cfg = ConnectionConfig::from_value(&serde_json::json!({"client_id": "id", "client_secret": {"secretKey": "p@ss&w0rd"},
            "authorization_server": "https://h/auth", "resource_server": "https://h/api"}))
        .unwrap();
        let s = connection_secrets(&cfg);
        assert!(s.contains(&"p@ss&w0rd".to_string()) && s.contains(&"p%40ss%26w0rd".to_string()), "{s:?}");
        assert!(s.contains(&base64::engine::general_purpose::STANDARD.encode("id:p@ss&w0rd")), "{s:?}");
    }
}
