//! 1. The plugin protocol: the start message, the run/test command line and the REST API.

use super::*;

/// Whether a string could send a request off this machine (a URL with a host that is not
/// loopback). Generated values never carry one; checked so that this stays true.
fn leaves_the_machine(v: &Value) -> bool {
    match v {
        Value::String(s) => {
            let lower = s.to_ascii_lowercase();
            lower.contains("://") && !lower.contains("://127.0.0.1") && !lower.contains("://localhost")
        }
        Value::Array(a) => a.iter().any(leaves_the_machine),
        Value::Object(m) => m.values().any(leaves_the_machine),
        _ => false,
    }
}

/// A start message of the right shape whose parts have random types and values: mostly a real
/// step with a working connection and input that is sometimes valid, sometimes not.
fn near_valid_message() -> BoxedStrategy<Value> {
    let all = steps();
    let n = all.len();
    (0..n + 2)
        .prop_flat_map(move |i| {
            // Two extra indices: a connection test and a task (this plugin has none).
            let (ty, key, name, schema): (&'static str, &'static str, String, Option<&'static ObjectSchema>) = match all.get(i) {
                Some(step) => (step.0, step.1, step.2.clone(), Some(step.3)),
                None if i == n => ("connection_test", "action", String::new(), None),
                None => ("task_start", "task", "nope".to_string(), None),
            };
            let input = match schema {
                Some(s) => prop_oneof![3 => valid_object(s, 0), 4 => fuzzed_object(s), 1 => arb_json()].boxed(),
                None => arb_json(),
            };
            let version = prop_oneof![8 => Just(json!("v1")), 1 => arb_json()];
            let type_ = prop_oneof![8 => Just(json!(ty)), 1 => prop::sample::select(vec![json!("action_start"), json!("trigger_start"), json!("task_start"), json!("connection_test"), json!("ACTION_START")]), 1 => arb_json()];
            let step_name = prop_oneof![8 => Just(json!(name)), 1 => prop::sample::select(steps().into_iter().map(|s| json!(s.2)).collect::<Vec<_>>()), 1 => arb_json()];
            let dispatcher = prop_oneof![
                Just(json!({"url": "http://127.0.0.1:9/events", "webhook_url": ""})),
                arb_json(),
                Just(Value::Null)
            ];
            let meta = prop_oneof![Just(json!({"triggerId": "pt", "jobId": "j"})), arb_json()];
            // Which body and top-level parts are left out.
            let drop = prop::collection::vec(prop::bool::weighted(0.08), 8);
            (Just(key), version, type_, step_name, connection(), input, meta, dispatcher, drop)
        })
        .prop_map(|(key, version, type_, name, connection, input, meta, dispatcher, drop)| {
            let mut body = Map::new();
            let parts = [(key, name), ("connection", connection), ("input", input), ("meta", meta), ("dispatcher", dispatcher)];
            for (i, (k, v)) in parts.into_iter().enumerate() {
                if !drop[i] {
                    body.insert(k.to_string(), v);
                }
            }
            let mut top = Map::new();
            for (i, (k, v)) in [("version", version), ("type", type_), ("body", Value::Object(body))].into_iter().enumerate() {
                if !drop[5 + i] {
                    top.insert(k.to_string(), v);
                }
            }
            Value::Object(top)
        })
        .boxed()
}

/// A start message of the right shape for a real step, with a working connection (or one
/// wrong value in it) and input that is valid or has random values under its real field names:
/// these get past the envelope to validation, and many run against the simulator. Actions and
/// triggers come in the proportion given.
fn runnable_message(actions_weight: u32, triggers_weight: u32) -> BoxedStrategy<Value> {
    let all = steps();
    let actions: Vec<usize> = (0..all.len()).filter(|i| all[*i].0 == "action_start").collect();
    let triggers: Vec<usize> = (0..all.len()).filter(|i| all[*i].0 == "trigger_start").collect();
    prop_oneof![actions_weight => prop::sample::select(actions), triggers_weight => prop::sample::select(triggers)]
        .prop_flat_map(move |i| {
            let (ty, key, name, schema) = steps().swap_remove(i);
            let input = prop_oneof![3 => valid_object(schema, 0), 2 => fuzzed_object(schema)];
            let working = prop_oneof![4 => connection_variants(), 1 => connection_with_one_random_field()];
            (Just((ty, key, name)), working, input)
        })
        .prop_map(|((ty, key, name), connection, input)| {
            json!({"version": "v1", "type": ty, "body": {
                key: name, "meta": {"triggerId": "pt", "jobId": "j"}, "connection": connection, "input": input,
                "dispatcher": {"url": "http://127.0.0.1:9/events", "webhook_url": ""}}})
        })
        .boxed()
}

/// What `StartMessage::parse` must accept: an object with version "v1", a known type, an object
/// body and, for a step, its name as a string.
fn parses_per_protocol(v: &Value) -> bool {
    let Some(top) = v.as_object() else { return false };
    let Some(kind) = top.get("type").and_then(Value::as_str).and_then(MessageType::parse) else { return false };
    if top.get("version") != Some(&json!("v1")) {
        return false;
    }
    let Some(body) = top.get("body").and_then(Value::as_object) else { return false };
    match kind.step_kind() {
        Some(step) => body.get(step.as_str()).is_some_and(Value::is_string),
        None => true,
    }
}

/// An output message as the protocol defines it; `Err` says what is wrong.
fn check_envelope(msg: &Value) -> Result<(), String> {
    if msg["version"] != "v1" {
        return Err(format!("no version v1: {msg}"));
    }
    let body = &msg["body"];
    match body["status"].as_str() {
        Some("ok") if body.get("output").is_some() => Ok(()),
        Some("error") if body["error"].as_str().is_some_and(|e| !e.is_empty()) && body["exception"].is_object() => Ok(()),
        _ => Err(format!("not a complete output message: {msg}")),
    }
}

/// A plugin defect: an answer a user should never see, whatever they sent.
fn is_defect(msg: &Value) -> bool {
    let text = msg.to_string();
    text.contains("defect in the plugin") || text.contains("stopped unexpectedly") || text.contains("panicked")
}

async fn check_cli(bytes: Vec<u8>, mode: Mode) -> Result<(), TestCaseError> {
    let parsed: Option<Value> = serde_json::from_slice(&bytes).ok();
    prop_assume!(!parsed.as_ref().is_some_and(leaves_the_machine));
    let (message, ok) = cli_path(&bytes, mode).await;
    prop_assert!(!is_defect(&message), "a plugin defect for {}: {message}", String::from_utf8_lossy(&bytes));
    match &parsed {
        None => {
            prop_assert!(!ok);
            prop_assert!(message["body"]["error"].as_str().is_some_and(|e| e.contains("not valid JSON")), "{message}");
        }
        Some(v) if !parses_per_protocol(v) => prop_assert!(!ok, "an invalid start message succeeded: {v} → {message}"),
        Some(_) => {}
    }
    // A trigger that started and stopped cleanly prints nothing; everything else is a message.
    if !(ok && message.is_null()) {
        if let Err(e) = check_envelope(&message) {
            return Err(TestCaseError::fail(e));
        }
        prop_assert_eq!(ok, message["body"]["status"] == "ok", "{}", message);
    }
    Ok(())
}

/// The REST API path: the bytes POSTed as a start message to a step route.
async fn check_http(route: String, bytes: Vec<u8>) -> Result<(), TestCaseError> {
    let parsed: Option<Value> = serde_json::from_slice(&bytes).ok();
    prop_assume!(!parsed.as_ref().is_some_and(leaves_the_machine));
    let url = format!("http://{}{route}", env().api);
    let resp = http().post(&url).header("content-type", "application/json").body(bytes.clone()).send().await;
    let resp = resp.map_err(|e| TestCaseError::fail(format!("the REST API did not answer {route}: {e}")))?;
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    prop_assert!([200, 204, 400, 500, 501].contains(&status), "status {status} for {route}: {text}");
    if status == 204 {
        return Ok(());
    }
    let answer: Value = serde_json::from_str(&text).map_err(|_| TestCaseError::fail(format!("not JSON ({status}): {text}")))?;
    prop_assert!(!is_defect(&answer), "a plugin defect on {route} for {}: {answer}", String::from_utf8_lossy(&bytes));
    match &parsed {
        None => prop_assert_eq!(status, 400, "{}", answer),
        Some(v) if !parses_per_protocol(v) => prop_assert_eq!(status, 400, "{} → {}", v, answer),
        Some(_) => {}
    }
    if status == 500 {
        // A 500 is a HaloITSM or plugin failure reported in a full output message, never a crash.
        if let Err(e) = check_envelope(&answer) {
            return Err(TestCaseError::fail(e));
        }
    }
    Ok(())
}

/// A route for a start message: the one its body names (so it gets past the route check), or
/// another one.
fn route_for(msg: &Value, pick: u8) -> String {
    let name = |k: &str| {
        msg.get("body")
            .and_then(|b| b.get(k))
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            .map(str::to_string)
    };
    match (msg.get("type").and_then(Value::as_str), pick % 4) {
        (Some("trigger_start"), _) => format!("/api/v1/triggers/{}/test", name("trigger").unwrap_or_else(|| "ticket_created".into())),
        (_, 0) => format!("/actions/{}/test", name("action").unwrap_or_else(|| "get_ticket".into())),
        (_, 1) => "/api/v1/tasks/nope".into(),
        _ => format!("/api/v1/actions/{}", name("action").unwrap_or_else(|| "get_ticket".into())),
    }
}

/// Byte inputs: random bytes, random JSON, valid messages cut short or with a byte changed.
fn message_bytes() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        2 => prop::collection::vec(any::<u8>(), 0..256),
        2 => arb_json().prop_map(|v| v.to_string().into_bytes()),
        2 => (near_valid_message(), any::<prop::sample::Index>()).prop_map(|(m, cut)| {
            let b = m.to_string().into_bytes();
            let n = cut.index(b.len() + 1);
            b[..n].to_vec()
        }),
        2 => (near_valid_message(), any::<prop::sample::Index>(), any::<u8>()).prop_map(|(m, at, byte)| {
            let mut b = m.to_string().into_bytes();
            let i = at.index(b.len());
            b[i] = byte;
            b
        }),
        1 => prop::sample::select(vec![&b""[..], &b"null"[..], &b"{}"[..], &b"[]"[..], &b"\"\""[..], &b"\xef\xbb\xbf{}"[..], &b"{\"version\":\"v1\""[..], &b"1e999999"[..]])
            .prop_map(<[u8]>::to_vec),
    ]
    .boxed()
}

proptest! {
    #![proptest_config(config(512))]

    /// Any JSON value: parsed or refused as a client error, exactly as the protocol says.
    #[test]
    fn start_message_parse_accepts_exactly_the_protocol(v in prop_oneof![arb_json(), near_valid_message()]) {
        match StartMessage::parse(&v) {
            Ok(m) => {
                prop_assert!(parses_per_protocol(&v), "accepted {v}");
                let body = &v["body"];
                if let Some(step) = m.kind.step_kind() {
                    prop_assert_eq!(m.name.as_deref(), body[step.as_str()].as_str());
                }
                for (part, got) in [("input", &m.input), ("connection", &m.connection)] {
                    let sent = body.get(part).filter(|p| !p.is_null()).cloned().unwrap_or_else(|| json!({}));
                    prop_assert_eq!(got, &sent);
                }
            }
            Err(e) => {
                prop_assert!(!parses_per_protocol(&v), "refused {v}: {e}");
                prop_assert_eq!(e.http_status(), 400);
                prop_assert!(!e.cause.is_empty() && !e.assistance.is_empty());
                // What can be echoed from a refused message must not panic either.
                let _ = StartMessage::salvage(&v);
            }
        }
    }
}

proptest! {
    #![proptest_config(config(256))]

    /// The command-line path: any standard input gives an output message (or a trigger that
    /// started and stopped), and an invalid one never succeeds.
    #[test]
    fn cli_run_and_test_never_panic(bytes in message_bytes(), test in any::<bool>()) {
        let mode = if test { Mode::Test } else { Mode::Run };
        rt().block_on(check_cli(bytes, mode))?;
    }

    /// Whole messages, near-valid or runnable: they reach validation, and many run.
    #[test]
    fn cli_runs_near_valid_messages(msg in prop_oneof![1 => near_valid_message(), 2 => runnable_message(2, 1)], test in any::<bool>()) {
        let mode = if test { Mode::Test } else { Mode::Run };
        rt().block_on(check_cli(msg.to_string().into_bytes(), mode))?;
    }

    /// Trigger start messages on the command line: the trigger starts (and is stopped at once)
    /// or says what is wrong, whatever its input.
    #[test]
    fn cli_starts_triggers_whatever_their_input(msg in runnable_message(0, 1)) {
        rt().block_on(check_cli(msg.to_string().into_bytes(), Mode::Run))?;
    }

    /// The REST API: any body gives a JSON answer with a documented status, never a crashed step.
    #[test]
    fn http_step_routes_never_panic(bytes in message_bytes(), pick in any::<u8>()) {
        let route = serde_json::from_slice::<Value>(&bytes).map(|m| route_for(&m, pick)).unwrap_or_else(|_| route_for(&Value::Null, pick));
        rt().block_on(check_http(route, bytes))?;
    }

    #[test]
    fn http_runs_near_valid_messages(msg in prop_oneof![1 => near_valid_message(), 2 => runnable_message(2, 1)], pick in any::<u8>()) {
        rt().block_on(check_http(route_for(&msg, pick), msg.to_string().into_bytes()))?;
    }
}
