//! Regression tests for what the properties found.

use super::*;

/// A trigger_start message for the simulator, as standard input of `run`.
fn trigger_start(trigger: &str, input: Value) -> Vec<u8> {
    json!({"version": "v1", "type": "trigger_start", "body": {
        "trigger": trigger, "meta": {"triggerId": "regression"}, "connection": sim_connection(), "input": input,
        "dispatcher": {"url": "http://127.0.0.1:9/events"}}})
    .to_string()
    .into_bytes()
}

fn trigger_config(mut input: Value) -> Result<triggers::Config, PluginError> {
    spec().validate_input(&spec().triggers["ticket_created"].input, &mut input, Section::Input).expect("a valid input");
    let m = StartMessage {
        kind: MessageType::TriggerStart,
        name: Some("ticket_created".into()),
        meta: json!({}),
        connection: json!({}),
        input: input.clone(),
        dispatcher: json!({}),
    };
    triggers::Config::from_message(&m, input, &ConnectionConfig::from_value(&sim_connection()).expect("the simulator's connection"))
}

/// Found by `trigger_config_accepts_or_names_the_input`: `lookback_minutes` × 60 overflowed
/// (a panic in debug builds, a silently wrapped lookback in release).
#[test]
fn regression_lookback_minutes_times_sixty_overflowed() {
    for m in [307_445_734_561_825_861i64, i64::MAX] {
        let e = trigger_config(json!({"lookback_minutes": m})).err().expect("refused");
        assert_eq!(e.http_status(), 400);
        assert!(e.cause.contains("input `lookback_minutes` must be at most 52560000 (100 years)"), "{}", e.cause);
    }
    let cfg = trigger_config(json!({"lookback_minutes": 52_560_000})).expect("100 years back is accepted");
    assert_eq!(cfg.lookback, Some(Duration::from_secs(52_560_000 * 60)));
}

/// Found by `cli_starts_triggers_whatever_their_input`: 241,043,081,851 minutes back (458,000
/// years) is before the calendar's first date, and the first start's `Utc::now() - lookback`
/// panicked ("`DateTime - TimeDelta` overflowed").
#[test]
fn regression_lookback_before_the_calendar_panicked() {
    let (message, ok) =
        rt().block_on(cli_path(&trigger_start("ticket_created", json!({"lookback_minutes": 241_043_081_851i64})), Mode::Run));
    assert!(!ok, "{message}");
    let error = message["body"]["error"].as_str().unwrap_or_default();
    assert!(error.contains("input `lookback_minutes` must be at most 52560000"), "{message}");
    let (message, ok) = rt().block_on(cli_path(&trigger_start("ticket_created", json!({"lookback_minutes": 52_560_000})), Mode::Run));
    assert!(ok, "100 years back starts (and stops): {message}");
}
