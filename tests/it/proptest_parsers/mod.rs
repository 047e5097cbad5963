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
//! regression test in `regressions.rs` instead.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use base64::Engine as _;
use chrono::{FixedOffset, TimeZone, Utc};
use halo_sim::{self as sim, SimConfig, SimHandle};
use icon_haloitsm::findings::{self, GroupBy, OnPass, Options as FindingOptions, Outcome as FindingOutcome, ocsf};
use icon_haloitsm::halo::{ConnectionConfig, HaloClient, HaloError, RetryPolicy};
use icon_haloitsm::plugin::{Mode, Plugin};
use icon_haloitsm::protocol::{MessageType, PluginError, StartMessage, envelope};
use icon_haloitsm::server::{self, AppState, ServerOptions};
use icon_haloitsm::spec::{ObjectSchema, Section, Ty, spec};
use icon_haloitsm::ticket_events::delivery::Delivery;
use icon_haloitsm::triggers::{self, webhook};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{Map, Value, json};

mod protocol;
mod prowler;
mod regressions;
mod validation;
mod webhooks;

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
