//! Property tests: no input makes the plugin panic. Four parsers, each fed arbitrary bytes,
//! arbitrary JSON and structured near-valid input:
//!
//! 1. the plugin protocol's start message, through `StartMessage::parse`, the `run`/`test`
//!    command-line path (bytes → JSON → `Plugin::handle`, or `triggers::run` for a trigger) and
//!    the REST API (`POST /api/v1/actions/{name}` and the test routes);
//! 2. input and connection validation against plugin.spec.yaml, for every action and trigger
//!    (and a trigger's own checks after it, `triggers::Config::from_message`);
//! 3. HaloITSM webhook deliveries: the listener (`Delivery::read`, the HTTP route, the inbox) and
//!    the trigger engine that turns stored deliveries into ticket IDs and events;
//! 4. Prowler OCSF files (`findings::ocsf`), mutated and truncated example files, the whole batch
//!    through `findings::send`, and the ticket text rendered from odd strings.
//!
//! Everything runs on loopback against the embedded simulator; no request leaves the machine.
//! Failure persistence is off (no `proptest-regressions` files): a failing case is kept as a named
//! regression test at the end of this file instead.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine as _;
use chrono::{FixedOffset, TimeZone, Utc};
use halo_sim::{self as sim, SimConfig, SimHandle};
use icon_haloitsm::findings::{self, GroupBy, OnPass, Options as FindingOptions, Outcome as FindingOutcome, ocsf};
use icon_haloitsm::halo::{ConnectionConfig, HaloClient, HaloError, RetryPolicy};
use icon_haloitsm::plugin::{Mode, Plugin};
use icon_haloitsm::protocol::{MessageType, PluginError, StartMessage, envelope};
use icon_haloitsm::server::{self, AppState, ServerOptions};
use icon_haloitsm::spec::{ObjectSchema, Section, Ty, spec};
use icon_haloitsm::triggers::delivery::Delivery;
use icon_haloitsm::triggers::{self, webhook};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{Map, Value, json};

// ----- configuration and shared scaffolding ----------------------------------------------------

/// `cases` per property, never writing failure files into the repository.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

/// One runtime for every property that talks to a server (they all run on loopback).
fn rt() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a tokio runtime"))
}

/// Run a one-time set-up on the shared runtime, from a thread of its own: the first caller may
/// itself be running on that runtime (a property that needs the set-up only inside its future).
fn set_up<F>(f: F) -> F::Output
where
    F: std::future::Future + Send,
    F::Output: Send,
{
    std::thread::scope(|s| s.spawn(|| rt().block_on(f)).join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
}

fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 2,
        max_elapsed: Duration::from_secs(5),
        base_delay: Duration::from_millis(2),
        max_delay: Duration::from_millis(50),
    }
}

/// The simulator, a plugin, and that plugin's REST API, shared by the properties.
struct Env {
    sim: SimHandle,
    plugin: Arc<Plugin>,
    api: SocketAddr,
    /// Highest ticket ID of the simulator's seed data.
    seed_max: i64,
}

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        set_up(async {
            let sim = sim::start(SimConfig::default(), SocketAddr::from(([127, 0, 0, 1], 0))).await.expect("start the simulator");
            let seed_max = sim.sim.tickets().iter().filter_map(|t| t["id"].as_i64()).max().unwrap_or(0);
            let plugin = Arc::new(Plugin::new(false).with_retry_policy(fast_retries()));
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the plugin API");
            let api = listener.local_addr().expect("its address");
            let state = AppState::new(plugin.clone());
            tokio::spawn(server::serve(state, listener, ServerOptions::default(), std::future::pending()));
            Env { sim, plugin, api, seed_max }
        })
    })
}

/// A connection to the simulator that works.
fn sim_connection() -> Value {
    let mut c = env().sim.connection();
    c["timeout_seconds"] = 10.into();
    c
}

fn sim_client() -> &'static HaloClient {
    static CLIENT: OnceLock<HaloClient> = OnceLock::new();
    CLIENT.get_or_init(|| {
        HaloClient::new(ConnectionConfig::from_value(&sim_connection()).expect("the simulator's connection"))
            .expect("a client")
            .with_retry_policy(fast_retries())
    })
}

fn http() -> &'static reqwest::Client {
    static HTTP: OnceLock<reqwest::Client> = OnceLock::new();
    HTTP.get_or_init(|| reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("an HTTP client"))
}

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

// ----- generators ------------------------------------------------------------------------------

/// Strings that have broken parsers elsewhere: HTML, scripts, right-to-left overrides, combining
/// marks, astral characters, NUL, lone separators, placeholders, dates, numbers in words.
const ODD: &[&str] = &[
    "",
    " ",
    "\t\n",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "\"'&<>",
    "</td></tr></table><b>",
    "&amp;&lt;",
    "\u{202e}evil\u{202c}",
    "e\u{301}\u{301}\u{301}",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 🚀👩‍👩‍👧",
    "日本語のチケット",
    "\u{0}",
    "\u{feff}",
    "<finding_uid>",
    "PASS",
    "FAIL",
    "fail",
    "MANUAL",
    "critical",
    "High",
    "informational",
    "2026-09-01T08:00:00Z",
    "2026-09-01T08:00:00",
    "1900-01-01T00:00:00",
    "9999-12-31T23:59:59",
    "0",
    "-1",
    "1e400",
    "9223372036854775808",
    "new ticket logged",
    "Ticket Updated",
    "prowler-key:0123456789abcdef",
    "a,b,,c",
    "http://127.0.0.1:9/x",
];

fn odd_string() -> BoxedStrategy<String> {
    prop_oneof![
        4 => ".{0,16}",
        3 => prop::sample::select(ODD).prop_map(str::to_string),
        1 => (prop::sample::select(ODD), 0usize..4000).prop_map(|(s, n)| s.repeat(n.max(1) / s.len().max(1) + 1)),
        1 => (any::<char>(), 0usize..3000).prop_map(|(c, n)| std::iter::repeat_n(c, n).collect::<String>()),
    ]
    .boxed()
}

fn nonblank_string() -> BoxedStrategy<String> {
    odd_string().prop_map(|s| if s.is_empty() { "x".to_string() } else { s }).boxed()
}

/// Keys a parser of this plugin looks for, and some it does not.
const KEYS: &[&str] = &[
    "id",
    "type",
    "version",
    "body",
    "action",
    "trigger",
    "task",
    "input",
    "connection",
    "meta",
    "dispatcher",
    "url",
    "object_id",
    "ticket",
    "event",
    "status_id",
    "lastactiondate",
    "status_code",
    "severity",
    "finding_info",
    "uid",
    "metadata",
    "event_code",
    "secretKey",
    "password",
    "token",
    "key",
    "",
    "é",
];

fn key() -> BoxedStrategy<String> {
    prop_oneof![3 => prop::sample::select(KEYS).prop_map(str::to_string), 1 => ".{0,8}"].boxed()
}

/// Integers spread evenly over magnitudes (a uniform i64 is almost always near ±2^62).
fn magnitude_int() -> BoxedStrategy<i64> {
    (0u32..63, any::<u64>(), any::<bool>())
        .prop_map(|(bits, r, negative)| {
            let n = ((1u64 << bits) | (r & ((1u64 << bits) - 1))) as i64;
            if negative { -n } else { n }
        })
        .boxed()
}

fn number() -> BoxedStrategy<Value> {
    prop_oneof![
        2 => magnitude_int().prop_map(Value::from),
        3 => (-3i64..300).prop_map(Value::from),
        2 => any::<i64>().prop_map(Value::from),
        1 => any::<u64>().prop_map(Value::from),
        1 => prop::sample::select(vec![i64::MIN, i64::MAX, 0, -1, 1]).prop_map(Value::from),
        1 => any::<f64>().prop_map(Value::from),
        1 => (-1e6f64..1e6).prop_map(Value::from),
        1 => prop::sample::select(vec![1e300, -1e300, 0.5, 5.0, 1e17]).prop_map(Value::from),
    ]
    .boxed()
}

/// Any JSON value, a few levels deep.
fn arb_json() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::Bool),
        3 => number(),
        3 => odd_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6).prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
    .boxed()
}

fn arb_object() -> BoxedStrategy<Value> {
    prop::collection::vec((key(), arb_json()), 0..5).prop_map(|kv| Value::Object(kv.into_iter().collect())).boxed()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A value of the spec type `ty` that validation must accept.
fn valid_value(ty: &Ty, depth: u32) -> BoxedStrategy<Value> {
    match ty {
        Ty::String | Ty::Password => nonblank_string().prop_map(Value::String).boxed(),
        Ty::Bytes => prop::collection::vec(any::<u8>(), 1..48).prop_map(|b| Value::String(b64(&b))).boxed(),
        Ty::Integer => prop_oneof![3 => -5i64..500, 1 => any::<i64>(), 2 => magnitude_int()].prop_map(Value::from).boxed(),
        Ty::Number => prop_oneof![any::<i64>().prop_map(Value::from), (-1e9f64..1e9).prop_map(Value::from)].boxed(),
        Ty::Boolean => any::<bool>().prop_map(Value::Bool).boxed(),
        Ty::Date => (-2_000_000_000i64..4_000_000_000, -50_000i32..50_000, any::<bool>())
            .prop_map(|(secs, offset, fraction)| {
                let offset = FixedOffset::east_opt(offset).unwrap_or_else(|| FixedOffset::east_opt(0).unwrap());
                let t = offset.timestamp_opt(secs, if fraction { 123_000_000 } else { 0 }).unwrap();
                Value::String(t.to_rfc3339())
            })
            .boxed(),
        Ty::Object => arb_object(),
        Ty::File => (nonblank_string(), prop::collection::vec(any::<u8>(), 0..64))
            .prop_map(|(name, content)| json!({"filename": name, "content": b64(&content)}))
            .boxed(),
        Ty::CredentialSecretKey => odd_string().prop_map(|s| json!({"secretKey": s})).boxed(),
        Ty::CredentialUsernamePassword => (odd_string(), odd_string()).prop_map(|(u, p)| json!({"username": u, "password": p})).boxed(),
        Ty::CredentialToken => (odd_string(), prop::option::of(odd_string()))
            .prop_map(|(t, d)| match d {
                Some(d) => json!({"token": t, "domain": d}),
                None => json!({"token": t}),
            })
            .boxed(),
        Ty::Custom(name) => match spec().types.get(name) {
            Some(schema) if depth < 3 => valid_object(schema, depth + 1),
            _ => Just(json!({})).boxed(),
        },
        Ty::Array(inner) => prop::collection::vec(valid_value(inner, depth + 1), 0..3).prop_map(Value::Array).boxed(),
    }
}

/// A valid value for a field: one of its enum values when it has them, an IP address for a
/// bind address, else any value of its type.
fn valid_field_value(field: &icon_haloitsm::spec::Field, depth: u32) -> BoxedStrategy<Value> {
    match (&field.enum_values, field.name.as_str()) {
        (Some(allowed), _) if !allowed.is_empty() => prop::sample::select(allowed.clone()).boxed(),
        (_, "webhook_bind") => prop::sample::select(vec![json!("127.0.0.1"), json!("::1"), json!("0.0.0.0")]).boxed(),
        _ => valid_value(&field.ty, depth),
    }
}

/// An object every field of which is valid: required ones always, optional ones sometimes.
fn valid_object(schema: &'static ObjectSchema, depth: u32) -> BoxedStrategy<Value> {
    let fields: Vec<BoxedStrategy<Option<(String, Value)>>> = schema
        .fields
        .iter()
        .map(|f| {
            let name = f.name.clone();
            let value = valid_field_value(f, depth).prop_map(move |v| Some((name.clone(), v)));
            if f.required { value.boxed() } else { prop_oneof![Just(None), value].boxed() }
        })
        .collect();
    fields.prop_map(|kv| Value::Object(kv.into_iter().flatten().collect())).boxed()
}

/// An object with the schema's real field names holding values of random JSON types (sometimes
/// valid ones, sometimes blank, sometimes absent), plus keys the spec does not know.
fn fuzzed_object(schema: &'static ObjectSchema) -> BoxedStrategy<Value> {
    let fields: Vec<BoxedStrategy<Option<(String, Value)>>> = schema
        .fields
        .iter()
        .map(|f| {
            let name = f.name.clone();
            let n1 = name.clone();
            let n2 = name.clone();
            prop_oneof![
                2 => Just(None),
                3 => valid_field_value(f, 1).prop_map(move |v| Some((n1.clone(), v))),
                3 => arb_json().prop_map(move |v| Some((n2.clone(), v))),
                1 => prop::sample::select(vec![Value::Null, json!("")]).prop_map(move |v| Some((name.clone(), v))),
            ]
            .boxed()
        })
        .collect();
    let unknown = prop::collection::vec(("~[a-z_]{0,8}", arb_json()), 0..3);
    (fields, unknown)
        .prop_map(|(kv, extra)| {
            let mut m: Map<String, Value> = kv.into_iter().flatten().collect();
            m.extend(extra);
            Value::Object(m)
        })
        .boxed()
}

/// Every step a start message can name: (message type, body key, name, input schema).
fn steps() -> Vec<(&'static str, &'static str, String, &'static ObjectSchema)> {
    let s = spec();
    let mut out: Vec<_> = s.actions.iter().map(|(n, st)| ("action_start", "action", n.clone(), &st.input)).collect();
    out.extend(s.triggers.iter().map(|(n, st)| ("trigger_start", "trigger", n.clone(), &st.input)));
    out
}

/// A connection that works, or works but for one wrong value.
fn connection_variants() -> BoxedStrategy<Value> {
    let working = sim_connection();
    let with = |k: &str, v: Value| {
        let mut c = working.clone();
        c[k] = v;
        c
    };
    let variants = vec![
        working.clone(),
        with("client_secret", json!({"secretKey": "wrong"})),
        with("webhook_credentials", json!({"username": "hook", "password": "hook-pass"})),
        with("reference_field_id", json!(102)),
        with("status_mapping", json!({"halo_to_insightidr": {"2": "INVESTIGATING"}})),
    ];
    prop::sample::select(variants).boxed()
}

/// The working connection with one of its fields set to random JSON.
fn connection_with_one_random_field() -> BoxedStrategy<Value> {
    let working = sim_connection();
    let names: Vec<String> = spec().connection.fields.iter().map(|f| f.name.clone()).collect();
    (prop::sample::select(names), arb_json())
        .prop_map(move |(k, v)| {
            let mut c = working.clone();
            c[k.as_str()] = v;
            c
        })
        .boxed()
}

/// Connections: one that works (or nearly), the spec's fields with random values, or any JSON.
fn connection() -> BoxedStrategy<Value> {
    prop_oneof![
        4 => connection_variants(),
        2 => connection_with_one_random_field(),
        2 => fuzzed_object(&spec().connection),
        1 => arb_json(),
    ]
    .boxed()
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

// ----- 1. the plugin protocol -------------------------------------------------------------------

/// The `run`/`test` command-line path (`cli::run_stdin`) for one standard input: the bytes as
/// JSON, then `triggers::run` for a trigger_start in run mode (stopped at once, its state in a
/// fresh directory) or `Plugin::handle` for anything else. Returns (output message, success).
async fn cli_path(bytes: &[u8], mode: Mode) -> (Value, bool) {
    let plugin = env().plugin.clone();
    let msg: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => {
            let e =
                PluginError::client(format!("The start message on standard input is not valid JSON: {e}"), "Pipe one JSON start message.");
            return (envelope(None, &json!({}), String::new(), Err(e)), false);
        }
    };
    if mode == Mode::Run && msg.get("type").and_then(Value::as_str) == Some("trigger_start") {
        // Generated triggers listen on the default webhook port: one at a time.
        static DEFAULT_PORT: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
        let _port = DEFAULT_PORT.lock().await;
        let dir = tempfile::tempdir().expect("a state directory");
        let opts = triggers::Options {
            debug: false,
            state_dir: dir.path().to_path_buf(),
            flag_file: dir.path().join("stop.flag"),
            poll_every: None,
        };
        let run = triggers::run(plugin, msg, opts, std::future::ready(()));
        return match tokio::time::timeout(Duration::from_secs(30), run).await {
            Ok(Ok(())) => (Value::Null, true),
            Ok(Err(message)) => (message, false),
            Err(_) => (json!({"error": "the trigger did not stop"}), false),
        };
    }
    let outcome = plugin.handle(msg, mode).await;
    let ok = outcome.is_ok();
    (outcome.message, ok)
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

// ----- 2. input validation against plugin.spec.yaml --------------------------------------------

/// Every schema validated as user input: each action's and trigger's input, and the connection.
fn schemas() -> Vec<(String, Section, &'static ObjectSchema)> {
    let mut out: Vec<_> = steps().into_iter().map(|(_, kind, name, schema)| (format!("{kind} {name}"), Section::Input, schema)).collect();
    out.push(("connection".into(), Section::Connection, &spec().connection));
    out
}

fn schema_and(objects: fn(&'static ObjectSchema) -> BoxedStrategy<Value>) -> BoxedStrategy<(usize, Value)> {
    let all = schemas();
    (0..all.len()).prop_flat_map(move |i| (Just(i), objects(all[i].2))).boxed()
}

/// The field an error path starts with (`customfields[0].id` → `customfields`).
fn top_field(path: &str) -> &str {
    path.split(['.', '[']).next().unwrap_or_default()
}

proptest! {
    #![proptest_config(config(512))]

    /// Random values under the real field names (and unknown keys): Ok, or an error that names
    /// the field at fault. What validation accepts it accepts again, unchanged.
    #[test]
    fn validation_accepts_or_names_the_field((i, value) in schema_and(fuzzed_object)) {
        let (label, section, schema) = &schemas()[i];
        let mut v = value.clone();
        match spec().validate_input(schema, &mut v, *section) {
            Ok(()) => {
                for f in schema.fields.iter().filter(|f| f.required) {
                    prop_assert!(v.get(&f.name).is_some_and(|x| !x.is_null() && x != ""), "{label}: required `{}` missing after Ok: {v}", f.name);
                }
                let mut again = v.clone();
                prop_assert!(spec().validate_input(schema, &mut again, *section).is_ok(), "{label}: not idempotent: {v}");
                prop_assert_eq!(again, v);
            }
            Err(e) => {
                let field = top_field(&e.path);
                prop_assert!(schema.field(field).is_some(), "{label}: the error does not name a field of the spec: {e} (for {value})");
                prop_assert!(e.to_string().contains(&format!("`{}`", e.path)), "{label}: {e}");
                prop_assert_eq!(e.section, *section);
                // A secret is described by its kind, never shown.
                if let Some(f) = schema.field(field).filter(|f| f.ty.is_sensitive()) {
                    if let Some(Value::String(s)) = value.get(&f.name) {
                        prop_assert!(s.chars().count() < 3 || !e.to_string().contains(s.as_str()), "{label}: secret shown: {e}");
                    }
                }
            }
        }
    }

    /// Values of the declared types (enum values where there are some) are accepted.
    #[test]
    fn validation_accepts_valid_shaped_input((i, value) in schema_and(|s| valid_object(s, 0))) {
        let (label, section, schema) = &schemas()[i];
        let mut v = value.clone();
        let result = spec().validate_input(schema, &mut v, *section);
        prop_assert!(result.is_ok(), "{label}: refused valid input {value}: {result:?}");
    }

    /// Input that is not an object is refused as a whole (null counts as an empty object).
    #[test]
    fn validation_refuses_non_objects((i, value) in (0..schemas().len(), arb_json())) {
        let (_, section, schema) = &schemas()[i];
        let mut v = value.clone();
        match spec().validate_input(schema, &mut v, *section) {
            Ok(()) => prop_assert!(value.is_object() || value.is_null(), "accepted {value}"),
            Err(e) if !value.is_object() && !value.is_null() => {
                prop_assert!(e.path.is_empty() && e.to_string().contains("must be an object"), "{e}")
            }
            Err(e) => prop_assert!(schema.field(top_field(&e.path)).is_some(), "{e}"),
        }
    }

    /// After the spec, a connection is read into the client's configuration: Ok or an error
    /// naming the connection field; a valid-shaped one with real URLs is accepted.
    #[test]
    fn connection_config_accepts_or_names_the_field(
        value in fuzzed_object(&spec().connection),
        valid in valid_object(&spec().connection, 0),
        host in "[a-z]{1,10}(\\.[a-z]{2,5}){0,2}",
        timeout in 1u64..=300,
        closed_status in 1i64..=1000,
    ) {
        let mut v = value;
        if spec().validate_input(&spec().connection, &mut v, Section::Connection).is_ok() {
            match ConnectionConfig::from_value(&v) {
                Ok(_) => {}
                Err(HaloError::InvalidConfig { field, .. }) => {
                    prop_assert!(field == "connection" || spec().connection.field(&field).is_some(), "unknown field `{field}`");
                }
                Err(other) => prop_assert!(false, "not a configuration error: {other}"),
            }
        }
        let mut v = valid;
        v["authorization_server"] = json!(format!("https://{host}/auth"));
        v["resource_server"] = json!(format!("https://{host}/api"));
        v["timeout_seconds"] = json!(timeout);
        if v.get("closed_status_id").is_some() {
            v["closed_status_id"] = json!(closed_status);
        }
        if v.get("portal_url").is_some() {
            v["portal_url"] = json!(format!("https://{host}"));
        }
        // Settings with meaning beyond their type, given real values (the first half checks
        // that odd ones are refused by name).
        if v.get("webhook_credentials").is_some() {
            v["webhook_credentials"] = json!({"username": host, "password": "a-long-random-password"});
        }
        if v.get("reference_field_id").is_some() {
            v["reference_field_id"] = json!(closed_status);
        }
        if v.get("webhook_api_key_header").is_some() {
            v["webhook_api_key_header"] = json!("X-API-Key");
        }
        prop_assert!(spec().validate_input(&spec().connection, &mut v, Section::Connection).is_ok());
        let parsed = ConnectionConfig::from_value(&v);
        prop_assert!(parsed.is_ok(), "refused a valid connection {v}: {parsed:?}");
    }

    /// A trigger's own checks after the spec's: Ok, or a client error that names the input.
    #[test]
    fn trigger_config_accepts_or_names_the_input(
        (name, input) in prop::sample::select(spec().triggers.keys().cloned().collect::<Vec<_>>())
            .prop_flat_map(|n| { let s = &spec().triggers[&n].input; (Just(n), prop_oneof![fuzzed_object(s), valid_object(s, 0)]) }),
        connection in prop_oneof![Just(json!({})), Just(json!({"webhook_credentials": {"username": "u", "password": "p"}})), fuzzed_object(&spec().connection)],
        meta in prop_oneof![Just(json!({"triggerId": "t-1"})), arb_json()],
    ) {
        let mut input = input;
        prop_assume!(spec().validate_input(&spec().triggers[&name].input, &mut input, Section::Input).is_ok());
        // The generated settings on top of a working connection; the spec's checks, then the
        // connection's own, which must either accept it or name the setting at fault.
        let mut connection = match (sim_connection(), connection) {
            (Value::Object(mut base), Value::Object(extra)) => { base.extend(extra); Value::Object(base) }
            (base, _) => base,
        };
        // Most fuzzed connections fail the spec's checks (covered above); not counted as rejects,
        // which would end the run early.
        if spec().validate_input(&spec().connection, &mut connection, Section::Connection).is_err() {
            return Ok(());
        }
        let checked = match ConnectionConfig::from_value(&connection) {
            Ok(c) => c,
            Err(e) => {
                prop_assert!(e.to_string().contains("connection setting `"), "names no setting: {e}");
                return Ok(());
            }
        };
        let m = StartMessage { kind: MessageType::TriggerStart, name: Some(name.clone()), meta, connection: connection.clone(), input: input.clone(), dispatcher: json!({}) };
        match triggers::Config::from_message(&m, input, &checked) {
            Ok(cfg) => {
                prop_assert!(cfg.interval >= Duration::from_secs(5));
                prop_assert!(cfg.webhook_addr.port() > 0);
            }
            Err(e) => {
                prop_assert_eq!(e.http_status(), 400);
                prop_assert!(
                    e.cause.contains("input `") || e.cause.contains("Status Mapping") || e.cause.contains("connection setting `"),
                    "names no field: {}",
                    e.cause
                );
            }
        }
    }
}

// ----- 3. HaloITSM webhook deliveries -----------------------------------------------------------

/// What the listener must accept as one delivery: an object with a positive integer ticket ID
/// in `object_id` or `ticket.id`.
/// An ID as HaloITSM may send one: a number, a whole float or a numeric string.
fn id_like(v: &Value) -> Option<i64> {
    let whole = |f: f64| (f.fract() == 0.0 && f.abs() < 9.0e15).then_some(f as i64);
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().and_then(whole)),
        Value::String(s) => s.trim().parse::<i64>().ok().or_else(|| s.trim().parse::<f64>().ok().and_then(whole)),
        _ => None,
    }
}

fn delivery_ok(d: &Value) -> bool {
    let wrapped = d.get("ticket").or_else(|| d.get("object")).filter(|t| t.is_object());
    let id = d.get("object_id").and_then(id_like).or_else(|| wrapped.and_then(|t| t.get("id")).and_then(id_like));
    d.is_object() && id.is_some_and(|i| i > 0)
}

/// Ticket IDs for deliveries: seeded tickets, tickets that do not exist, and values that are not
/// positive integers. Never an ID the simulator will give a new ticket (the engine property's
/// sentinels).
fn delivery_ticket_id() -> BoxedStrategy<Value> {
    let max = env().seed_max.max(1);
    prop_oneof![
        4 => (1..=max).prop_map(Value::from),
        1 => (1..=max).prop_map(|i| json!(i.to_string())),
        1 => (1..=max).prop_map(|i| json!(i as f64)),
        2 => (1_000_000_000_000i64..=i64::MAX).prop_map(Value::from),
        1 => prop::sample::select(vec![json!(0), json!(-7), json!(1.5), json!(null), json!(true), json!("abc"), json!(u64::MAX), json!([1])]),
    ]
    .boxed()
}

fn halo_date_like() -> BoxedStrategy<Value> {
    prop_oneof![
        3 => (0i64..5_000_000_000).prop_map(|s| json!(Utc.timestamp_opt(s, 0).unwrap().format("%Y-%m-%dT%H:%M:%S%.3f").to_string())),
        1 => Just(json!("1900-01-01T00:00:00")),
        1 => Just(json!(Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string())),
        2 => arb_json(),
    ]
    .boxed()
}

/// A HaloITSM-style delivery whose fields have random types and values.
fn delivery() -> BoxedStrategy<Value> {
    let ticket =
        (delivery_ticket_id(), prop_oneof![(1i64..30).prop_map(Value::from), arb_json()], halo_date_like(), halo_date_like(), arb_object())
            .prop_map(|(id, status, last, created, extra)| {
                let mut t = json!({"id": id, "status_id": status, "lastactiondate": last, "datecreated": created});
                if let (Some(t), Value::Object(extra)) = (t.as_object_mut(), extra) {
                    for (k, v) in extra {
                        if !["id", "status_id", "lastactiondate", "datecreated"].contains(&k.as_str()) {
                            t.insert(k, v);
                        }
                    }
                }
                t
            });
    let event = prop_oneof![
        prop::sample::select(vec![json!("New Ticket Logged"), json!("Ticket Updated"), json!("Ticket Status Changed"), json!("logged")]),
        odd_string().prop_map(Value::String),
        arb_json()
    ];
    let delivery_id = prop_oneof![
        "[0-9a-f]{8}-[0-9a-f]{4}".prop_map(Value::String),
        (0usize..200).prop_map(|n| Value::String("d".repeat(n))),
        arb_json()
    ];
    let agent = prop_oneof![(0i64..10).prop_map(Value::from), arb_json()];
    let drop = prop::collection::vec(any::<bool>(), 5);
    (delivery_ticket_id(), ticket, event, delivery_id, agent, drop)
        .prop_map(|(object_id, ticket, event, id, agent, drop)| {
            let mut d = Map::new();
            for (i, (k, v)) in
                [("object_id", object_id), ("ticket", ticket), ("event", event), ("id", id), ("agent_id", agent)].into_iter().enumerate()
            {
                if !drop[i] {
                    d.insert(k.into(), v);
                }
            }
            Value::Object(d)
        })
        .boxed()
}

/// A delivery the listener accepts (it has a usable ticket ID), otherwise as random as above.
fn accepted_delivery() -> BoxedStrategy<Value> {
    let max = env().seed_max.max(1);
    (delivery(), 1..=max)
        .prop_map(|(d, id)| {
            if delivery_ok(&d) {
                d
            } else {
                let mut d = d;
                d["object_id"] = json!(id);
                d
            }
        })
        .boxed()
}

/// A webhook listener of its own, with credentials, storing into a fresh inbox.
struct Listener {
    url: String,
    inbox: Arc<webhook::Inbox>,
    _dir: tempfile::TempDir,
}

fn listener() -> &'static Listener {
    static L: OnceLock<Listener> = OnceLock::new();
    L.get_or_init(|| {
        set_up(async {
            let dir = tempfile::tempdir().expect("an inbox directory");
            let inbox = Arc::new(webhook::Inbox::open(dir.path(), "pt").expect("the inbox"));
            let creds = webhook::Credentials { username: "hook".into(), password: "hook-pass".into() };
            let app = webhook::router(inbox.clone(), webhook::Auth { basic: Some(creds), ..webhook::Auth::default() });
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the listener");
            let url = format!("http://{}{}", l.local_addr().expect("its address"), webhook::PATH);
            tokio::spawn(async move { axum::serve(l, app).await });
            Listener { url, inbox, _dir: dir }
        })
    })
}

/// Bodies for the listener: any bytes, any JSON, one delivery, or a batch.
fn webhook_body() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..128),
        2 => arb_json().prop_map(|v| v.to_string().into_bytes()),
        2 => delivery().prop_map(|d| d.to_string().into_bytes()),
        3 => prop::collection::vec(accepted_delivery(), 1..8).prop_map(|b| Value::Array(b).to_string().into_bytes()),
        2 => prop::collection::vec(prop_oneof![6 => accepted_delivery(), 1 => delivery(), 1 => arb_json()], 0..8)
            .prop_map(|b| Value::Array(b).to_string().into_bytes()),
        1 => (delivery(), any::<prop::sample::Index>()).prop_map(|(d, cut)| {
            let b = d.to_string().into_bytes();
            b[..cut.index(b.len() + 1)].to_vec()
        }),
    ]
    .boxed()
}

proptest! {
    #![proptest_config(config(512))]

    /// The listener's shape check: never panics; accepts exactly deliveries with a ticket ID.
    #[test]
    fn delivery_read_accepts_exactly_deliveries_with_a_ticket(d in prop_oneof![arb_json(), delivery()], index in 0usize..2000) {
        match Delivery::read(&d, index) {
            Ok(_) => prop_assert!(delivery_ok(&d), "accepted {d}"),
            Err(e) => {
                prop_assert!(!delivery_ok(&d), "refused {d}: {e}");
                prop_assert!(e.starts_with(&format!("delivery {index} ")), "{e}");
            }
        }
    }
}

proptest! {
    #![proptest_config(config(256))]

    /// The listener over HTTP: 200 exactly when some delivery is usable (and then those are in
    /// the inbox as sent, and the answer names the others), 400/401/415 otherwise with a JSON
    /// error, never a crash.
    #[test]
    fn webhook_listener_never_panics(body in webhook_body(), auth in 0u8..8, content_type in 0u8..8) {
        let l = listener();
        rt().block_on(async {
            let before = l.inbox.len();
            let mut req = http().post(&l.url).body(body.clone());
            req = match content_type {
                0 => req.header("content-type", "text/plain"),
                1 => req.header("content-type", "Application/JSON; charset=utf-8"),
                _ => req.header("content-type", "application/json"),
            };
            let right = auth != 0;
            req = match auth {
                0 => req.basic_auth("hook", Some("wrong")),
                _ => req.basic_auth("hook", Some("hook-pass")),
            };
            let resp = req.send().await.map_err(|e| TestCaseError::fail(format!("the listener did not answer: {e}")))?;
            let status = resp.status().as_u16();
            let answer: Value = serde_json::from_str(&resp.text().await.unwrap_or_default())
                .map_err(|_| TestCaseError::fail(format!("not JSON ({status})")))?;
            let deliveries = match serde_json::from_slice::<Value>(&body) {
                Ok(Value::Array(a)) => Some(a),
                Ok(o @ Value::Object(_)) => Some(vec![o]),
                _ => None,
            };
            let usable = deliveries.as_ref().is_some_and(|d| d.iter().any(delivery_ok));
            let expected = if !right { 401 } else if content_type == 0 { 415 } else if usable { 200 } else { 400 };
            prop_assert_eq!(status, expected, "{} for {}", answer, String::from_utf8_lossy(&body));
            if status == 200 {
                let all = deliveries.unwrap_or_default();
                let refused: Vec<usize> = (0..all.len()).filter(|i| !delivery_ok(&all[*i])).collect();
                let d: Vec<Value> = all.into_iter().filter(delivery_ok).collect();
                prop_assert_eq!(&answer["status"], &json!("queued"));
                prop_assert_eq!(&answer["deliveries"], &json!(d.len()));
                let named: Vec<usize> =
                    answer["refused"].as_array().map(|r| r.iter().filter_map(|x| x["index"].as_u64()).map(|i| i as usize).collect()).unwrap_or_default();
                prop_assert_eq!(named, refused, "{}", answer);
                let stored = l.inbox.read_from(before, 10).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(stored.len(), 1);
                // As the inbox stores them: written as JSON and read back.
                let expected: Vec<Value> = serde_json::from_slice(&serde_json::to_vec(&d).unwrap_or_default()).unwrap_or_default();
                prop_assert_eq!(&stored[0].0, &expected);
            } else {
                prop_assert!(answer["error"].as_str().is_some_and(|e| !e.is_empty()), "{answer}");
                prop_assert_eq!(l.inbox.len(), before, "a refused delivery was stored");
            }
            Ok(())
        })?;
    }
}

/// A running `ticket_created` trigger fed by webhooks only, and the events it sent.
struct Engine {
    hook: String,
    events: Arc<Mutex<Vec<Value>>>,
    task: tokio::task::JoinHandle<Result<(), Value>>,
    _dir: tempfile::TempDir,
}

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| {
        let e = env();
        set_up(async {
            let events: Arc<Mutex<Vec<Value>>> = Arc::default();
            let sink = {
                let events = events.clone();
                axum::Router::new().route(
                    "/events",
                    axum::routing::post(move |body: axum::Json<Value>| {
                        let events = events.clone();
                        async move {
                            events.lock().unwrap_or_else(|p| p.into_inner()).push(body.0);
                            axum::http::StatusCode::OK
                        }
                    }),
                )
            };
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the sink");
            let sink_url = format!("http://{}/events", l.local_addr().expect("its address"));
            tokio::spawn(async move { axum::serve(l, sink).await });
            let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
            let mut connection = sim_connection();
            connection["webhook_credentials"] = json!({"username": "hook", "password": "hook-pass"});
            let msg = json!({"version": "v1", "type": "trigger_start", "body": {
                "trigger": "ticket_created", "meta": {"triggerId": "pt-engine"}, "connection": connection,
                "input": {"source": "webhook", "webhook_port": port, "webhook_bind": "127.0.0.1"},
                "dispatcher": {"url": sink_url}}});
            let dir = tempfile::tempdir().expect("a state directory");
            let opts = triggers::Options {
                debug: false,
                state_dir: dir.path().to_path_buf(),
                flag_file: dir.path().join("stop.flag"),
                poll_every: None,
            };
            let task = tokio::spawn(triggers::run(e.plugin.clone(), msg, opts, std::future::pending()));
            let health = format!("http://127.0.0.1:{port}/healthz");
            let start = Instant::now();
            while http().get(&health).send().await.is_err() {
                assert!(!task.is_finished() && start.elapsed() < Duration::from_secs(20), "the trigger's listener did not start");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Engine { hook: format!("http://127.0.0.1:{port}{}", webhook::PATH), events, task, _dir: dir }
        })
    })
}

async fn deliver(url: &str, body: &Value) -> Result<u16, TestCaseError> {
    let resp = http().post(url).basic_auth("hook", Some("hook-pass")).json(body).send().await;
    resp.map(|r| r.status().as_u16()).map_err(|e| TestCaseError::fail(format!("the trigger's listener did not answer: {e}")))
}

proptest! {
    #![proptest_config(config(64))]

    /// The trigger engine reads every accepted delivery (ticket IDs of every type, dates, events,
    /// delivery IDs, agents): it keeps running, and a new ticket announced after the batch still
    /// fires its event, so nothing in the batch stopped or wedged it.
    #[test]
    fn trigger_engine_survives_any_accepted_delivery(batch in prop::collection::vec(accepted_delivery(), 1..8)) {
        static SENTINEL: AtomicU64 = AtomicU64::new(0);
        let e = engine();
        rt().block_on(async {
            prop_assert_eq!(deliver(&e.hook, &Value::Array(batch.clone())).await?, 200);
            let n = SENTINEL.fetch_add(1, Ordering::SeqCst);
            let created = sim_client().post_one("Tickets", json!({"summary": format!("sentinel {n}"), "details": "d", "tickettype_id": 1})).await;
            let id = created.map_err(|e| TestCaseError::fail(e.to_string()))?["id"].as_i64().unwrap_or_default();
            prop_assert!(id > env().seed_max);
            let sentinel = json!({"id": format!("sentinel-delivery-{n}-{id}"), "event": "New Ticket Logged", "object_id": id});
            prop_assert_eq!(deliver(&e.hook, &sentinel).await?, 200);
            let start = Instant::now();
            loop {
                let fired = e.events.lock().unwrap_or_else(|p| p.into_inner()).iter().any(|ev| ev["body"]["output"]["ticket"]["id"] == id);
                if fired {
                    break;
                }
                prop_assert!(!e.task.is_finished(), "the trigger stopped after the batch {}", Value::Array(batch.clone()));
                prop_assert!(start.elapsed() < Duration::from_secs(20), "no event for ticket {} after the batch {}", id, Value::Array(batch.clone()));
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let events = e.events.lock().unwrap_or_else(|p| p.into_inner()).clone();
            for ev in &events {
                prop_assert_eq!(&ev["type"], "trigger_event");
                prop_assert!(ev["body"]["output"]["ticket"]["id"].as_i64().is_some_and(|i| i > 0), "{ev}");
            }
            Ok(())
        })?;
    }
}

// ----- 4. Prowler OCSF findings -----------------------------------------------------------------

/// A Prowler example output: file name, bytes, findings.
type Example = (String, Vec<u8>, Vec<Value>);

fn examples() -> &'static Vec<Example> {
    static EX: OnceLock<Vec<Example>> = OnceLock::new();
    EX.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/prowler");
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&dir).expect("testdata/prowler") {
            let path = entry.expect("an entry").path();
            if !path.to_string_lossy().ends_with(".ocsf.json") {
                continue;
            }
            let bytes = std::fs::read(&path).expect("an example file");
            let findings = ocsf::read_file(&bytes).expect("the example parses");
            out.push((path.file_name().unwrap_or_default().to_string_lossy().into_owned(), bytes, findings));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        assert!(out.len() >= 4, "the Prowler examples are missing");
        out
    })
}

fn example_findings() -> Vec<Value> {
    examples().iter().flat_map(|(_, _, f)| f.clone()).collect()
}

/// The invariants of a parsed finding.
fn check_finding(f: &ocsf::Finding) -> Result<(), TestCaseError> {
    prop_assert!(!f.status.is_empty() && f.status == f.status.to_ascii_uppercase(), "status {:?}", f.status);
    prop_assert!(!f.check_id.is_empty(), "no check ID");
    prop_assert!(!f.title.is_empty(), "no title");
    prop_assert!(f.uid.as_deref().is_none_or(|u| !ocsf::is_placeholder(u)), "a placeholder as ID");
    prop_assert!(!findings::key_of(f, GroupBy::Finding).is_empty() && !findings::key_of(f, GroupBy::Check).is_empty());
    Ok(())
}

/// One change to a finding: drop the key at a path, or put another type of value there.
#[derive(Debug, Clone)]
enum Mutation {
    Drop(Vec<prop::sample::Index>),
    Replace(Vec<prop::sample::Index>, Value),
}

fn mutation() -> BoxedStrategy<Mutation> {
    let path = prop::collection::vec(any::<prop::sample::Index>(), 1..5);
    prop_oneof![path.clone().prop_map(Mutation::Drop), (path, arb_json()).prop_map(|(p, v)| Mutation::Replace(p, v)),].boxed()
}

fn kind(v: &Value) -> u8 {
    match v {
        Value::Null => 0,
        Value::Bool(_) => 1,
        Value::Number(_) => 2,
        Value::String(_) => 3,
        Value::Array(_) => 4,
        Value::Object(_) => 5,
    }
}

/// Apply a mutation; returns the top-level key it touched.
fn mutate(v: &mut Value, m: &Mutation) -> Option<String> {
    let (path, replacement) = match m {
        Mutation::Drop(p) => (p, None),
        Mutation::Replace(p, r) => (p, Some(r)),
    };
    let mut top = None;
    let mut cur = v;
    for (depth, step) in path.iter().enumerate() {
        let last = depth + 1 == path.len();
        let next = match cur {
            Value::Object(map) if !map.is_empty() => {
                let k = map.keys().nth(step.index(map.len())).cloned()?;
                if depth == 0 {
                    top = Some(k.clone());
                }
                if last || !map[&k].is_object() && !map[&k].is_array() {
                    match replacement {
                        None => {
                            map.shift_remove(&k);
                        }
                        Some(r) => {
                            let old = &map[&k];
                            let new = if kind(r) == kind(old) { Value::Array(vec![r.clone()]) } else { r.clone() };
                            map.insert(k, new);
                        }
                    }
                    return top;
                }
                map.get_mut(&k)?
            }
            Value::Array(items) if !items.is_empty() => {
                let i = step.index(items.len());
                if last || !items[i].is_object() && !items[i].is_array() {
                    match replacement {
                        None => {
                            items.remove(i);
                        }
                        Some(r) => {
                            let new = if kind(r) == kind(&items[i]) { Value::Array(vec![r.clone()]) } else { r.clone() };
                            items[i] = new;
                        }
                    }
                    return top;
                }
                &mut items[i]
            }
            _ => return top,
        };
        cur = next;
    }
    top
}

/// Top-level keys whose change may rightly make a finding unreadable.
const ESSENTIAL: &[&str] = &["class_name", "status_code", "status", "severity", "severity_id", "metadata", "finding_info", "finding"];

fn finding_options(dry_run: bool, group_by: GroupBy) -> FindingOptions {
    FindingOptions {
        statuses: vec!["FAIL".into()],
        min_severity: ocsf::Severity::Informational,
        tickettype_id: 1,
        priorities: findings::default_priorities(),
        dedupe_field_id: None,
        group_by,
        on_pass: OnPass::Note,
        reopen_status_id: 1,
        closed_status_id: 9,
        closed_status_setting: "the connection's Closed Status ID",
        team_id: None,
        dry_run,
    }
}

/// Text safe inside HTML, as the ticket details must show it.
fn escaped(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

proptest! {
    #![proptest_config(config(512))]

    /// Any bytes as a findings file: read or refused; what is read is one value per finding.
    #[test]
    fn ocsf_file_reading_never_panics(bytes in prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512),
        arb_json().prop_map(|v| v.to_string().into_bytes()),
        prop::collection::vec(arb_json(), 0..4).prop_map(|vs| vs.iter().map(Value::to_string).collect::<Vec<_>>().join("\n").into_bytes()),
    ]) {
        match ocsf::read_file(&bytes) {
            Ok(items) => {
                if let Ok(Value::Array(a)) = serde_json::from_slice::<Value>(&bytes) {
                    prop_assert_eq!(items.len(), a.len());
                }
                for item in &items {
                    if let Ok(f) = ocsf::parse(item) {
                        check_finding(&f)?;
                    }
                }
            }
            Err(e) => prop_assert!(!e.is_empty()),
        }
    }

    /// Any JSON as a finding: a finding that keeps its invariants, or a reason.
    #[test]
    fn ocsf_parse_never_panics(v in arb_json()) {
        match ocsf::parse(&v) {
            Ok(f) => check_finding(&f)?,
            Err(e) => prop_assert!(!e.is_empty()),
        }
    }

    /// Prowler's real findings with keys dropped and values of other types: never a panic, and a
    /// finding whose essential keys are untouched still parses.
    #[test]
    fn ocsf_mutated_examples_never_panic(pick in any::<prop::sample::Index>(), mutations in prop::collection::vec(mutation(), 1..6)) {
        let all = example_findings();
        let mut v = all[pick.index(all.len())].clone();
        let mut touched = HashSet::new();
        for m in &mutations {
            if let Some(k) = mutate(&mut v, m) {
                touched.insert(k);
            }
        }
        match ocsf::parse(&v) {
            Ok(f) => check_finding(&f)?,
            Err(e) => prop_assert!(touched.iter().any(|k| ESSENTIAL.contains(&k.as_str())), "refused after changing only {touched:?}: {e}\n{v}"),
        }
    }

    /// Example files cut anywhere (even inside a UTF-8 character): read or refused, never a panic.
    #[test]
    fn ocsf_truncated_files_never_panic(pick in any::<prop::sample::Index>(), cut in any::<prop::sample::Index>()) {
        let ex = examples();
        let (_, bytes, all) = &ex[pick.index(ex.len())];
        let n = cut.index(bytes.len() + 1);
        match ocsf::read_file(&bytes[..n]) {
            Ok(items) => {
                if n == bytes.len() {
                    prop_assert_eq!(&items, all);
                }
                for item in &items {
                    if let Ok(f) = ocsf::parse(item) {
                        check_finding(&f)?;
                    }
                }
            }
            Err(e) => prop_assert!(n < bytes.len() && !e.is_empty(), "the whole file was refused: {e}"),
        }
    }
}

/// A finding made of odd strings: HTML, unicode, very long values.
fn odd_finding() -> BoxedStrategy<Value> {
    let strings = prop::collection::vec(odd_string(), 14);
    let severity = prop::sample::select(vec!["Critical", "High", "Medium", "Low", "Informational", "critical", " high "]);
    let time = prop_oneof![number(), odd_string().prop_map(Value::String)];
    (strings, severity, time, prop::collection::vec(odd_string(), 0..4))
        .prop_map(|(s, severity, time, refs)| {
            let nb = |x: &String| if x.trim().is_empty() { "x".to_string() } else { x.clone() };
            json!({
                "class_name": "Detection Finding", "status_code": "FAIL", "status_detail": s[0], "severity": severity,
                "metadata": {"event_code": nb(&s[1])},
                "finding_info": {"title": s[2], "first_seen_time": time, "last_seen_time_dt": s[3]},
                "cloud": {"provider": s[4], "account": {"uid": s[5], "name": s[6]}, "region": s[7]},
                "resources": [{"uid": s[8], "name": s[9], "type": s[10]}],
                "risk_details": s[11], "remediation": {"desc": s[12], "references": refs},
                "unmapped": {"compliance": {s[13].clone(): [s[0].clone(), "1.1"]}, "related_url": s[3]},
            })
        })
        .boxed()
}

proptest! {
    #![proptest_config(config(128))]

    /// Mutated example files through the whole batch (a dry run against the simulator): every
    /// finding is accounted for exactly once, malformed ones as failed.
    #[test]
    fn send_findings_accounts_for_every_mutated_finding(
        picks in prop::collection::vec((any::<prop::sample::Index>(), prop::collection::vec(mutation(), 0..4)), 1..12),
        by_check in any::<bool>(),
    ) {
        let all = example_findings();
        let batch: Vec<Value> = picks.iter().map(|(i, ms)| {
            let mut v = all[i.index(all.len())].clone();
            for m in ms {
                mutate(&mut v, m);
            }
            v
        }).collect();
        let opts = finding_options(true, if by_check { GroupBy::Check } else { GroupBy::Finding });
        let report = rt().block_on(findings::send(sim_client(), &opts, &batch, &|_, _| {}));
        let report = report.map_err(|e| TestCaseError::fail(format!("the batch failed as a whole: {e}")))?;
        let indices: Vec<i64> = report.results.iter().map(|r| r.index).collect();
        prop_assert_eq!(indices, (0..batch.len() as i64).collect::<Vec<_>>());
        let counted = report.created + report.updated + report.reopened + report.closed + report.unchanged + report.skipped + report.failed;
        prop_assert_eq!(counted, batch.len() as i64);
        for (r, raw) in report.results.iter().zip(&batch) {
            let parsed = ocsf::parse(raw);
            prop_assert_eq!(r.outcome == FindingOutcome::Failed, parsed.is_err(), "{:?} for {}", r, raw);
        }
    }

}

proptest! {
    #![proptest_config(config(64))]

    /// The ticket made from a finding of odd strings: the summary fits HaloITSM's field and
    /// names the severity, and the details show every value escaped (no tag from the input).
    #[test]
    fn ticket_text_from_odd_findings(finding in odd_finding(), by_check in any::<bool>()) {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        // A fresh key per case, so every case creates its own ticket.
        let mut finding = finding;
        finding["finding_info"]["uid"] = json!(format!("pt-odd-{n}"));
        finding["cloud"]["account"]["uid"] = json!(format!("{} {n}", finding["cloud"]["account"]["uid"].as_str().unwrap_or_default()));
        let parsed = ocsf::parse(&finding).map_err(|e| TestCaseError::fail(format!("{e}: {finding}")))?;
        check_finding(&parsed)?;
        let opts = finding_options(false, if by_check { GroupBy::Check } else { GroupBy::Finding });
        let report = rt().block_on(findings::send(sim_client(), &opts, std::slice::from_ref(&finding), &|_, _| {}));
        let report = report.map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(report.created, 1, "{:?}", report);
        let id = report.results[0].ticket_id.unwrap_or_default();
        let ticket = env().sim.sim.ticket(id).ok_or_else(|| TestCaseError::fail(format!("ticket {id} was not created")))?;
        let summary = ticket["summary"].as_str().unwrap_or_default();
        let details = ticket["details"].as_str().unwrap_or_default();
        prop_assert!(summary.chars().count() <= 250, "{} characters", summary.chars().count());
        prop_assert!(summary.starts_with(&format!("[Prowler] {} - ", parsed.severity.as_str().to_uppercase())), "{summary}");
        let lower = details.to_lowercase();
        prop_assert!(!lower.contains("<script") && !lower.contains("<img") && !lower.contains("</td></tr></table><b>"), "unescaped HTML: {details}");
        let mut shown = vec![&parsed.title, &parsed.check_id, &parsed.provider, &parsed.account_uid, &parsed.risk, &parsed.remediation];
        if !by_check {
            shown.extend([&parsed.status_detail, &parsed.region, &parsed.resource_uid, &parsed.resource_name, &parsed.resource_type]);
        }
        for s in shown.into_iter().filter(|s| !s.trim().is_empty()) {
            prop_assert!(details.contains(&escaped(s)), "{s:?} is not in the details");
        }
        for r in &parsed.references {
            prop_assert!(details.contains(&escaped(r)), "reference {r:?} is not in the details");
        }
        let tag = findings::tag_of(&findings::key_of(&parsed, opts.group_by));
        prop_assert!(details.ends_with(&format!("<p>{tag}</p>")), "the details do not end with the tag {}", tag);
    }
}

// ----- regression tests for what the properties found -------------------------------------------

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
