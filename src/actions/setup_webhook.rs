//! `setup_webhook`: create, or find and bring up to date, this integration's HaloITSM webhook
//! (docs/halo-api.md W17–W22), so HaloITSM posts ticket changes to an InsightConnect API Trigger
//! with no hand set-up. Idempotent: a second run with the same inputs finds the webhook as it
//! should be and writes nothing. The secret is never read back (HaloITSM need not show it); a
//! fingerprint of it in the webhook's `note` tells whether it changed.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::common::invalid_input;
use super::webhook_common::{self as common, canonical_event, checked_name, event_names, find_ours, full_record, refusal};
use super::{Action, ActionContext};
use crate::halo::webhooks::webhook_id_of;
use crate::protocol::PluginError;

const NAME: &str = "setup_webhook";
/// The start of the webhook's `note`, which carries the secret's fingerprint.
const NOTE_PREFIX: &str = "Managed by Rapid7 InsightConnect (Set Up Webhook). Secret fingerprint: ";
/// How much of a test delivery's answer the output keeps.
const ANSWER_CHARS: usize = 500;

pub struct SetupWebhook;

#[derive(Debug, Deserialize)]
pub struct Input {
    pub url: String,
    #[serde(default = "common::default_name")]
    pub name: String,
    #[serde(default = "common::default_events")]
    pub events: Vec<String>,
    #[serde(default = "default_authentication")]
    pub authentication: String,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub api_key: String,
    #[serde(default = "default_api_key_header")]
    pub api_key_header: String,
    #[serde(default)]
    pub test: bool,
}

fn default_authentication() -> String {
    "basic".into()
}

fn default_api_key_header() -> String {
    "X-API-Key".into()
}

/// How a test delivery went, as far as HaloITSM says.
#[derive(Debug, Serialize)]
pub struct Tested {
    /// The receiver answered 2xx; false when it failed or HaloITSM did not say.
    pub delivered: bool,
    /// The receiver's HTTP status, when HaloITSM reports it (0: it never answered).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<i64>,
    /// The start of the receiver's answer, when HaloITSM reports it.
    pub answer: String,
}

#[derive(Debug, Serialize)]
pub struct Output {
    pub webhook_id: String,
    pub created: bool,
    /// The settings brought up to date (empty: the webhook was as it should be).
    pub changed: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test: Option<Tested>,
    pub warnings: Vec<String>,
    /// The webhook as HaloITSM shows it (never with its secret).
    pub webhook: Value,
}

/// How HaloITSM authenticates to the receiver (`authentication_type`: W6, W7, W14).
#[derive(Debug, Clone, PartialEq)]
enum Auth {
    None,
    Basic { username: String, password: String },
    ApiKey { header: String, key: String },
}

impl Auth {
    fn kind(&self) -> i64 {
        match self {
            Auth::None => 0,
            Auth::Basic { .. } => 1,
            Auth::ApiKey { .. } => 3,
        }
    }

    /// A fingerprint of everything secret-bearing: it changes when the secret does, and says
    /// nothing of it.
    fn fingerprint(&self, url: &str) -> String {
        let text = match self {
            Auth::None => format!("none\n{url}"),
            Auth::Basic { username, password } => format!("basic\n{url}\n{username}\n{password}"),
            Auth::ApiKey { header, key } => format!("api_key\n{url}\n{header}\n{key}"),
        };
        Sha256::digest(text.as_bytes()).iter().take(8).map(|b| format!("{b:02x}")).collect()
    }
}

/// The checked inputs.
struct Wanted {
    url: String,
    name: String,
    events: Vec<&'static str>,
    auth: Auth,
}

/// An HTTPS URL, or HTTP on this machine only (tests, a local relay): HaloITSM would send the
/// secret and every ticket in clear text otherwise.
fn checked_url(url: &str) -> Result<String, PluginError> {
    let bad = |why: &str| {
        invalid_input(
            NAME,
            format_args!("input `url` {why}"),
            "Give the API Trigger's URL as InsightConnect shows it (https://<region>.api.insight.rapid7.com/connect/v1/workflows/.../events/execute). Nothing was changed.",
        )
    };
    let parsed = url::Url::parse(url.trim()).map_err(|e| bad(&format!("is not a URL ({e})")))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad("must not carry a user name or password: use `username` and `password`"));
    }
    let loopback = match parsed.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => return Err(bad("has no host")),
    };
    match parsed.scheme() {
        "https" => Ok(parsed.to_string()),
        "http" if loopback => Ok(parsed.to_string()),
        "http" => {
            Err(bad("must be https: HaloITSM would send the secret and every ticket unencrypted (http is taken only for this machine)"))
        }
        other => Err(bad(&format!("must be https, got the scheme `{other}`"))),
    }
}

fn checked(input: &Input) -> Result<Wanted, PluginError> {
    let url = checked_url(&input.url)?;
    let name = checked_name(NAME, &input.name)?;
    if input.events.is_empty() {
        return Err(invalid_input(
            NAME,
            "input `events` is empty",
            "Name at least one event, e.g. Ticket Status Changed. Nothing was changed.",
        ));
    }
    let mut events = Vec::new();
    for (i, e) in input.events.iter().enumerate() {
        let known = canonical_event(e).ok_or_else(|| {
            invalid_input(
                NAME,
                format_args!("input `events[{i}]` is `{e}`, which is not a HaloITSM webhook event this step knows"),
                format!("Use {}. Nothing was changed.", common::KNOWN_EVENTS.join(", ")),
            )
        })?;
        if !events.contains(&known) {
            events.push(known);
        }
    }
    let given = |field: &str, v: &str, what: &str| -> Result<String, PluginError> {
        let v = v.trim();
        if v.is_empty() {
            return Err(invalid_input(
                NAME,
                format_args!("input `{field}` is required with authentication `{}`", input.authentication),
                what,
            ));
        }
        Ok(v.to_string())
    };
    let auth = match input.authentication.trim() {
        "none" => Auth::None,
        "basic" => Auth::Basic {
            username: given("username", &input.username, "Give the user name HaloITSM sends with Basic authentication.")?,
            password: given("password", &input.password, "Give the password HaloITSM sends with Basic authentication.")?,
        },
        "api_key" => {
            let header = given("api_key_header", &input.api_key_header, "Name the header the key goes in, e.g. X-API-Key.")?;
            if reqwest::header::HeaderName::from_bytes(header.as_bytes()).is_err() {
                return Err(invalid_input(
                    NAME,
                    format_args!("input `api_key_header` `{header}` is not an HTTP header name"),
                    "Use e.g. X-API-Key.",
                ));
            }
            Auth::ApiKey { header, key: given("api_key", &input.api_key, "Give the InsightConnect API key the API Trigger requires.")? }
        }
        other => {
            return Err(invalid_input(
                NAME,
                format_args!("input `authentication` must be basic, api_key or none, got `{other}`"),
                "Use basic (HaloITSM's documented kind), api_key (for an API Trigger that requires a key) or none.",
            ));
        }
    };
    Ok(Wanted { url, name, events, auth })
}

/// The events to send: the record's own event objects where it has the name (they carry
/// HaloITSM's numbers, which are not public: W18), a bare `{name}` for the others.
fn events_for(record: Option<&Value>, wanted: &[&str]) -> Value {
    let existing = record.and_then(|r| r.get("events")).and_then(Value::as_array).cloned().unwrap_or_default();
    let of = |name: &str| {
        existing
            .iter()
            .find(|e| e.get("name").and_then(Value::as_str).and_then(canonical_event) == Some(name))
            .cloned()
            .unwrap_or_else(|| json!({"name": name}))
    };
    Value::Array(wanted.iter().map(|n| of(n)).collect())
}

/// The fields of the webhook as it should be, and (against a found record) which differ.
fn plan(w: &Wanted, found: Option<&Value>) -> (Map<String, Value>, Vec<String>) {
    let fingerprint = format!("{NOTE_PREFIX}{}", w.auth.fingerprint(&w.url));
    let mut fields = Map::new();
    fields.insert("name".into(), json!(w.name));
    fields.insert("url".into(), json!(w.url));
    fields.insert("active".into(), json!(true));
    fields.insert("disabled".into(), json!(false));
    fields.insert("events".into(), events_for(found, &w.events));
    fields.insert("authentication_type".into(), json!(w.auth.kind()));
    fields.insert("note".into(), json!(fingerprint));
    let Some(r) = found else {
        add_secret(&mut fields, &w.auth);
        return (fields, Vec::new());
    };
    let text = |k: &str| r.get(k).and_then(Value::as_str).map(str::trim).unwrap_or_default().to_string();
    let mut changed = Vec::new();
    if text("url") != w.url {
        changed.push("url".to_string());
    }
    if r.get("active") == Some(&json!(false)) {
        changed.push("active".into());
    }
    if common::switched_off(r) {
        changed.push("disabled".into());
    }
    let mut have: Vec<String> = event_names(r);
    have.sort();
    let mut want: Vec<String> = w.events.iter().map(|e| e.to_string()).collect();
    want.sort();
    if have != want {
        changed.push("events".into());
    }
    if r.get("authentication_type").and_then(Value::as_i64) != Some(w.auth.kind()) {
        changed.push("authentication_type".into());
    }
    match &w.auth {
        Auth::Basic { username, .. } if text("basic_username") != *username => changed.push("basic_username".into()),
        Auth::ApiKey { header, .. } if !text("authentication_header").eq_ignore_ascii_case(header) => {
            changed.push("authentication_header".into())
        }
        _ => {}
    }
    if text("note") != fingerprint {
        changed.push("secret".into());
    }
    if changed.iter().any(|c| matches!(c.as_str(), "secret" | "authentication_type" | "basic_username" | "authentication_header")) {
        add_secret(&mut fields, &w.auth);
    }
    (fields, changed)
}

fn add_secret(fields: &mut Map<String, Value>, auth: &Auth) {
    match auth {
        Auth::None => {}
        Auth::Basic { username, password } => {
            fields.insert("basic_username".into(), json!(username));
            fields.insert("basic_password".into(), json!(password));
        }
        // Where the key's value goes is not public; `basic_password` is the spec's only field
        // that could hold it (W14).
        Auth::ApiKey { header, key } => {
            fields.insert("authentication_header".into(), json!(header));
            fields.insert("basic_password".into(), json!(key));
        }
    }
}

/// The record as output: no secret, whatever HaloITSM shows.
fn shown(record: &Value) -> Value {
    let mut out = crate::halo::ticket::strip_nulls(record);
    if let Some(o) = out.as_object_mut() {
        o.retain(|k, _| !matches!(k.as_str(), "basic_password" | "password" | "authentication_header_value" | "_test_result"));
    }
    out
}

impl Action for SetupWebhook {
    const NAME: &'static str = NAME;
    type Input = Input;
    type Output = Output;

    async fn run(ctx: ActionContext, input: Input) -> Result<Output, PluginError> {
        let wanted = checked(&input)?;
        let client = &ctx.client;
        let rows = client.webhooks().await.map_err(|e| refusal(NAME, e))?;
        let (row, others) = find_ours(&rows, &wanted.name, None);
        let mut warnings = Vec::new();
        if others > 0 {
            warnings.push(format!(
                "HaloITSM has {} more webhook(s) named `{}`; this step keeps the first and leaves the others alone: delete them in HaloITSM if they post the same changes.",
                others, wanted.name
            ));
        }
        let found = match row {
            Some(r) => Some(full_record(client, r, &["url", "events", "authentication_type", "note"]).await.map_err(|e| refusal(NAME, e))?),
            None => None,
        };
        let (mut fields, changed) = plan(&wanted, found.as_ref());
        let existing_id = found.as_ref().and_then(webhook_id_of);
        let (record, created) = match (&existing_id, changed.is_empty()) {
            (Some(_), true) => (found.clone().unwrap_or_default(), false),
            (Some(id), false) => {
                fields.insert("id".into(), json!(id));
                (client.save_webhook(Value::Object(fields)).await.map_err(|e| refusal(NAME, e))?, false)
            }
            (None, _) => (client.save_webhook(Value::Object(fields)).await.map_err(|e| refusal(NAME, e))?, true),
        };
        // A tenant that answers a save without the record: find it by name.
        let record = match (webhook_id_of(&record), &existing_id) {
            (Some(_), _) => record,
            (None, Some(id)) => client.webhook(id).await?.unwrap_or(record),
            (None, None) => {
                let rows = client.webhooks().await?;
                find_ours(&rows, &wanted.name, None).0.cloned().unwrap_or(record)
            }
        };
        let webhook_id = webhook_id_of(&record).or(existing_id).ok_or_else(|| {
            PluginError::plugin(
                crate::protocol::Preset::ServerError,
                "HaloITSM saved the webhook but shows no webhook ID for it.",
                format!(
                    "Look for the webhook `{}` in HaloITSM (Configuration > Integrations > Webhooks) and run this step again.",
                    wanted.name
                ),
            )
        })?;
        let kept = event_names(&record);
        if record.get("events").is_some() && wanted.events.iter().any(|e| !kept.iter().any(|k| k == e)) {
            warnings.push(format!(
                "HaloITSM did not keep every event asked for (it shows {}): tick {} on the webhook in HaloITSM once; this step keeps what it finds there.",
                if kept.is_empty() { "none".to_string() } else { kept.join(", ") },
                wanted.events.join(", ")
            ));
        }
        if !common::is_on(&record) && (created || !changed.is_empty()) {
            warnings.push("HaloITSM shows the webhook as not active after the change: check it in HaloITSM.".into());
        }
        // The payload is left as the tenant has it (its numbering is not public, W22); a custom
        // one is the only kind Process Webhook may not read.
        if record.get("payload_type").and_then(Value::as_i64) == Some(1) || record.get("custom_payload") == Some(&json!(true)) {
            warnings.push(
                "The webhook sends a custom payload: Process Webhook reads it only if it carries the ticket's ID (`object_id` or `ticket.id`); choose HaloITSM's full object payload for the best events.".into(),
            );
        }
        let test = match input.test {
            true => Some(tested(&client.test_webhook(&webhook_id).await.map_err(|e| refusal(NAME, e))?, &mut warnings)),
            false => None,
        };
        tracing::info!(created, changed = changed.len(), tested = test.is_some(), "Webhook `{}` set up", wanted.name);
        let webhook = if record.is_object() { shown(&record) } else { json!({"id": webhook_id}) };
        Ok(Output { webhook_id, created, changed, test, warnings, webhook })
    }
}

/// What HaloITSM said of a test delivery (`_test_result`, a delivery log row: W19).
fn tested(answer: &Value, warnings: &mut Vec<String>) -> Tested {
    // HCLI's record carries `_test_result`; an answer that is the delivery itself is read too.
    let result = answer.get("_test_result").filter(|r| r.is_object()).or_else(|| answer.get("responsestatus").map(|_| answer));
    let Some(result) = result else {
        warnings.push(
            "HaloITSM sent the test delivery but did not say how it went: see the webhook's Deliveries tab in HaloITSM, or run Check Webhook.".into(),
        );
        return Tested { delivered: false, status: None, answer: String::new() };
    };
    let status = result.get("responsestatus").and_then(crate::halo::ticket::as_int);
    let failed = result.get("error") == Some(&json!(true)) || status.is_none_or(|s| !(200..300).contains(&s));
    let answer: String = result.get("responsebody").and_then(Value::as_str).unwrap_or_default().chars().take(ANSWER_CHARS).collect();
    if failed {
        warnings.push(format!(
            "The test delivery failed (the receiver answered HTTP {}): check the URL and the credentials the API Trigger expects.",
            status.unwrap_or(0)
        ));
    }
    Tested { delivered: !failed, status, answer }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(url: &str) -> Input {
        serde_json::from_value(json!({"url": url, "username": "halo", "password": "s3cret"})).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn urls_must_be_https_outside_this_machine() {
        assert!(checked_url("https://us.api.insight.rapid7.com/connect/v1/workflows/x/events/execute").is_ok());
        assert!(checked_url("http://127.0.0.1:9000/hook").is_ok());
        assert!(checked_url("http://localhost/hook").is_ok());
        assert!(checked_url("http://[::1]:80/hook").is_ok());
        for bad in ["http://example.com/hook", "ftp://x/", "not a url", "https://user:pw@x.example/"] {
            let e = checked_url(bad).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(e.contains("`url`"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_record_as_it_should_be_needs_nothing_and_a_changed_secret_is_seen() {
        let w = checked(&input("https://r7.example/hook")).unwrap_or_else(|e| panic!("{e}"));
        let (fields, changed) = plan(&w, None);
        assert!(changed.is_empty() && fields["basic_password"] == json!("s3cret"));
        let mut saved = Value::Object(fields);
        saved["id"] = json!("0f8fad5b-d9cb-469f-a165-70867728950e");
        saved.as_object_mut().map(|o| o.remove("basic_password"));
        let (fields, changed) = plan(&w, Some(&saved));
        assert!(changed.is_empty(), "{changed:?}");
        assert!(fields.get("basic_password").is_none());
        let rotated = checked(&Input { password: "n3w".into(), ..input("https://r7.example/hook") }).unwrap_or_else(|e| panic!("{e}"));
        let (fields, changed) = plan(&rotated, Some(&saved));
        assert_eq!(changed, vec!["secret".to_string()]);
        assert_eq!(fields["basic_password"], json!("n3w"));
        saved["disabled"] = json!(true);
        assert_eq!(plan(&w, Some(&saved)).1, vec!["disabled".to_string()]);
    }

    #[test]
    fn a_test_answer_is_read_inside_the_record_or_as_the_delivery_itself() {
        let mut warnings = Vec::new();
        assert!(tested(&json!({"id": "x", "_test_result": {"responsestatus": 200, "error": false}}), &mut warnings).delivered);
        assert!(tested(&json!({"responsestatus": 204}), &mut warnings).delivered);
        assert!(!tested(&json!({"responsestatus": 500, "error": true}), &mut warnings).delivered);
        assert!(!tested(&json!({"id": "x"}), &mut warnings).delivered);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
    }

    #[test]
    fn unknown_events_and_missing_credentials_are_named() {
        let bad = Input { events: vec!["Ticket Status Changed".into(), "Ticket Exploded".into()], ..input("https://r7.example/") };
        assert!(checked(&bad).err().map(|e| e.to_string()).unwrap_or_default().contains("`events[1]`"));
        let bad = Input { password: " ".into(), ..input("https://r7.example/") };
        assert!(checked(&bad).err().map(|e| e.to_string()).unwrap_or_default().contains("`password`"));
        let bad = Input { authentication: "api_key".into(), ..input("https://r7.example/") };
        assert!(checked(&bad).err().map(|e| e.to_string()).unwrap_or_default().contains("`api_key`"));
    }
}
