//! `check_webhook`: is this integration's HaloITSM webhook on, did HaloITSM switch it off, which
//! deliveries failed since a given time (where the tenant keeps a delivery log over the API,
//! W20), and, with `recover`, the events those deliveries should have started: the very events
//! (and `event_id`s) `process_webhook` gives for them, so a workflow catches up without
//! duplicates. Where there is no log, it says so and points to the polling trigger.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::invalid_input;
use super::process_webhook::{self, ProcessWebhook};
use super::webhook_common::{self as common, checked_name, find_ours, full_record, refusal};
use super::{Action, ActionContext};
use crate::halo::HaloError;
use crate::halo::ticket::{as_int, parse_halo_date};
use crate::halo::webhooks::{DELIVERY_LOG_ROWS, webhook_id_of};
use crate::protocol::PluginError;
use crate::ticket_events::MAX_BATCH;
use crate::ticket_events::event::FilterInput;

const NAME: &str = "check_webhook";
/// How far back failures are looked for when `since` is not given.
const DEFAULT_LOOKBACK_HOURS: i64 = 24;
/// What the polling trigger is called in the advice.
const SAFETY_NET: &str =
    "Run the Ticket Updated trigger (it polls HaloITSM) as the safety net: it catches every change, whatever the webhook did.";

pub struct CheckWebhook;

#[derive(Debug, Deserialize)]
pub struct Input {
    #[serde(default = "common::default_name")]
    pub name: String,
    #[serde(default)]
    pub webhook_id: String,
    #[serde(default)]
    pub since: String,
    #[serde(default)]
    pub recover: bool,
    #[serde(default = "default_trigger")]
    pub trigger: String,
    #[serde(flatten)]
    pub filters: FilterInput,
}

fn default_trigger() -> String {
    "any".into()
}

/// A delivery HaloITSM logged as failed.
#[derive(Debug, Serialize)]
pub struct FailedDelivery {
    /// The log row's ID.
    pub log_id: String,
    /// The delivery's own `id`, when its body can be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_id: Option<String>,
    pub timestamp: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket_id: Option<i64>,
    /// The receiver's HTTP status (0: it never answered).
    pub response_status: i64,
    /// Whether its body can be processed again (`recover`).
    pub recoverable: bool,
}

/// The webhook as HaloITSM shows it (all false when there is none).
#[derive(Debug, Default, Serialize)]
pub struct WebhookState {
    pub found: bool,
    pub webhook_id: String,
    /// Active and not switched off.
    pub enabled: bool,
    /// HaloITSM switched the webhook off after failed deliveries.
    pub switched_off: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub switched_off_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_status: Option<i64>,
}

impl WebhookState {
    fn of(record: &Value) -> WebhookState {
        WebhookState {
            found: true,
            webhook_id: webhook_id_of(record).unwrap_or_default(),
            enabled: common::is_on(record),
            switched_off: common::switched_off(record),
            switched_off_at: record.get("last_auto_disable_date").and_then(Value::as_str).and_then(parse_halo_date).map(|d| d.to_rfc3339()),
            last_status: record.get("last_status").and_then(as_int),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Output {
    #[serde(flatten)]
    pub state: WebhookState,
    /// Whether HaloITSM offers the webhook's delivery log over the API.
    pub delivery_log: bool,
    /// Failed deliveries since `since`, newest first.
    pub failed: Vec<FailedDelivery>,
    /// What to do, in a sentence or two.
    pub advice: String,
    /// With `recover`: the events the failed deliveries should have started, as
    /// `process_webhook` gives them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovered: Option<process_webhook::Output>,
}

/// The log rows that failed since `since`: an error flag, or a status outside 2xx.
fn failures(rows: &[Value], since: DateTime<Utc>) -> Vec<(&Value, DateTime<Utc>)> {
    rows.iter()
        .filter_map(|r| Some((r, parse_halo_date(r.get("timestamp")?.as_str()?)?)))
        .filter(|(_, at)| *at >= since)
        .filter(|(r, _)| {
            let status = r.get("responsestatus").and_then(as_int);
            r.get("error") == Some(&Value::Bool(true)) || status.is_none_or(|s| !(200..300).contains(&s))
        })
        .collect()
}

/// The deliveries a logged body holds: one object, or each object of a batch (W9).
fn deliveries_in(row: &Value) -> Vec<Value> {
    // The spec types it a string; a log that keeps it as JSON is read as it is.
    let body = match row.get("requestbody") {
        Some(Value::String(b)) => serde_json::from_str::<Value>(b).ok(),
        other => other.cloned(),
    };
    match body {
        Some(Value::Object(o)) => vec![Value::Object(o)],
        Some(Value::Array(a)) => a.into_iter().filter(Value::is_object).collect(),
        _ => Vec::new(),
    }
}

fn checked_since(since: &str) -> Result<DateTime<Utc>, PluginError> {
    if since.trim().is_empty() {
        return Ok(Utc::now() - chrono::Duration::hours(DEFAULT_LOOKBACK_HOURS));
    }
    DateTime::parse_from_rfc3339(since.trim()).map(|d| d.with_timezone(&Utc)).map_err(|e| {
        invalid_input(
            NAME,
            format_args!("input `since` must be a date and time (RFC 3339), got `{since}` ({e})"),
            "Write e.g. 2026-12-01T00:00:00Z.",
        )
    })
}

impl Action for CheckWebhook {
    const NAME: &'static str = NAME;
    type Input = Input;
    type Output = Output;

    async fn run(ctx: ActionContext, input: Input) -> Result<Output, PluginError> {
        let name = checked_name(NAME, &input.name)?;
        let since = checked_since(&input.since)?;
        let id = input.webhook_id.trim();
        if !id.is_empty() && !crate::halo::webhooks::is_webhook_id(&id.to_ascii_lowercase()) {
            return Err(invalid_input(
                NAME,
                format_args!("input `webhook_id` must be a HaloITSM webhook ID (a GUID), got `{id}`"),
                "Leave it empty to find the webhook by `name`, or use the ID Set Up Webhook gave.",
            ));
        }
        let client = &ctx.client;
        let rows = client.webhooks().await.map_err(|e| refusal(NAME, e))?;
        let Some(row) = find_ours(&rows, &name, (!id.is_empty()).then_some(id)).0 else {
            return Ok(Output {
                state: WebhookState { webhook_id: id.to_string(), ..WebhookState::default() },
                delivery_log: false,
                failed: Vec::new(),
                advice: format!(
                    "HaloITSM has no webhook {}: run Set Up Webhook. {SAFETY_NET}",
                    if id.is_empty() { format!("named `{name}`") } else { id.to_string() }
                ),
                recovered: None,
            });
        };
        let record = full_record(client, row, &["active", "disabled"]).await.map_err(|e| refusal(NAME, e))?;
        let state = WebhookState::of(&record);
        let log = match client.webhook_deliveries(&state.webhook_id).await {
            Ok(log) => log,
            Err(e @ HaloError::Forbidden { .. }) => {
                tracing::info!("HaloITSM refused the delivery log ({e})");
                None
            }
            Err(e) => return Err(e.into()),
        };
        let Some(log) = log else {
            let advice = format!(
                "{}HaloITSM does not offer this webhook's delivery log over the API, so missed deliveries cannot be listed here. {SAFETY_NET}",
                state_advice(&state)
            );
            return Ok(Output { state, delivery_log: false, failed: Vec::new(), advice, recovered: None });
        };
        let failed_rows = failures(&log, since);
        let failed: Vec<FailedDelivery> = failed_rows
            .iter()
            .map(|(r, at)| {
                let inside = deliveries_in(r);
                FailedDelivery {
                    log_id: r.get("id").and_then(Value::as_str).unwrap_or_default().to_string(),
                    delivery_id: inside.first().and_then(|d| d.get("id")).and_then(Value::as_str).map(str::to_string),
                    timestamp: at.to_rfc3339(),
                    ticket_id: r.get("entity_id").and_then(as_int).filter(|id| *id > 0),
                    response_status: r.get("responsestatus").and_then(as_int).unwrap_or(0),
                    recoverable: !inside.is_empty(),
                }
            })
            .collect();
        let mut advice = state_advice(&state);
        if log.len() >= DELIVERY_LOG_ROWS {
            advice.push_str(&format!(
                "The log answered its {DELIVERY_LOG_ROWS} newest rows: give a later `since` to be sure of older ones. "
            ));
        }
        advice.push_str(&match (failed.len(), input.recover) {
            (0, _) => "No delivery failed since then.".to_string(),
            (n, false) => {
                format!("{n} deliveries failed since then: run this step with `recover` to get the events they should have started.")
            }
            (n, true) => format!(
                "{n} failed deliveries were processed again: `recovered` has their events, with the event IDs Process Webhook gives."
            ),
        });
        let recovered = match input.recover {
            true => recover(&ctx, &failed_rows, input.trigger, input.filters).await?,
            false => None,
        };
        Ok(Output { state, delivery_log: true, failed, advice, recovered })
    }
}

fn state_advice(state: &WebhookState) -> String {
    match (state.enabled, state.switched_off) {
        (_, true) => {
            "HaloITSM switched the webhook off after failed deliveries: fix the receiver, then run Set Up Webhook to switch it on again. "
                .into()
        }
        (false, false) => "The webhook is not active: run Set Up Webhook to switch it on. ".into(),
        (true, false) => String::new(),
    }
}

/// The failed deliveries through `process_webhook`, oldest first and each delivery once.
async fn recover(
    ctx: &ActionContext,
    failed: &[(&Value, DateTime<Utc>)],
    trigger: String,
    filters: FilterInput,
) -> Result<Option<process_webhook::Output>, PluginError> {
    let mut seen = std::collections::HashSet::new();
    let mut deliveries: Vec<Value> = failed
        .iter()
        .rev()
        .flat_map(|(r, _)| deliveries_in(r))
        .filter(|d| d.get("id").and_then(Value::as_str).is_none_or(|id| seen.insert(id.to_string())))
        .collect();
    if deliveries.is_empty() {
        return Ok(None);
    }
    if deliveries.len() > MAX_BATCH {
        tracing::warn!(
            "{} failed deliveries: the oldest {MAX_BATCH} are recovered; run again with a later `since` for the rest",
            deliveries.len()
        );
        deliveries.truncate(MAX_BATCH);
    }
    let input = process_webhook::Input { delivery: None, deliveries: Some(deliveries), trigger, filters };
    ProcessWebhook::run(ctx.clone(), input).await.map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn failures_are_errors_or_statuses_outside_2xx_since_the_time_given() {
        let rows = vec![
            json!({"id": "a", "timestamp": "2026-12-01T10:00:00.1234567Z", "responsestatus": 500, "error": true, "requestbody": "{\"id\":\"d1\",\"object_id\":4}"}),
            json!({"id": "b", "timestamp": "2026-12-01T10:00:01Z", "responsestatus": 200, "error": false}),
            json!({"id": "c", "timestamp": "2026-12-01T11:00:00", "responsestatus": 0, "requestbody": "[{\"id\":\"d2\"},{\"id\":\"d3\"},5]"}),
            json!({"id": "d", "timestamp": "2026-11-30T10:00:00Z", "responsestatus": 503}),
            json!({"id": "f", "timestamp": "2026-12-01T12:00:00Z", "responsestatus": 502, "requestbody": {"id": "d4", "object_id": 9}}),
            json!({"id": "e", "responsestatus": 503}),
        ];
        let since = DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z").map(|d| d.with_timezone(&Utc)).unwrap_or_default();
        let ids: Vec<_> = failures(&rows, since).iter().map(|(r, _)| r["id"].clone()).collect();
        assert_eq!(ids, vec![json!("a"), json!("c"), json!("f")]);
        assert_eq!(deliveries_in(&rows[0]).len(), 1);
        assert_eq!(deliveries_in(&rows[2]).len(), 2, "a batch's objects, nothing else");
        assert!(deliveries_in(&rows[3]).is_empty());
        assert_eq!(deliveries_in(&rows[4]).len(), 1, "a body kept as JSON");
    }

    #[test]
    fn since_is_a_date_or_a_day_ago() {
        assert!(checked_since("yesterday").err().map(|e| e.to_string()).unwrap_or_default().contains("`since`"));
        assert!(checked_since("").is_ok_and(|d| Utc::now() - d >= chrono::Duration::hours(23)));
    }
}
