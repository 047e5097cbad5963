//! 3. HaloITSM webhook deliveries: Delivery::read, the listener and the trigger engine never panic.

use super::*;
use crate::common::{CapturedLog, Lazy, Sink, eventually, listener_port};

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
                prop_assert!(e.to_string().starts_with(&format!("delivery {index} ")), "{e}");
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
    events: Sink,
    task: tokio::task::JoinHandle<Result<(), Value>>,
    _dir: tempfile::TempDir,
}

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| {
        let e = env();
        set_up(async {
            let events = Sink::events().await;
            let sink_url = events.url.clone();
            let mut connection = sim_connection();
            connection["webhook_credentials"] = json!({"username": "hook", "password": "hook-pass"});
            let msg = json!({"version": "v1", "type": "trigger_start", "body": {
                "trigger": "ticket_created", "meta": {"triggerId": "pt-engine"}, "connection": connection,
                "input": {"source": "webhook", "webhook_port": 0, "webhook_bind": "127.0.0.1"},
                "dispatcher": {"url": sink_url}}});
            let dir = tempfile::tempdir().expect("a state directory");
            let opts = triggers::Options {
                debug: false,
                state_dir: dir.path().to_path_buf(),
                flag_file: dir.path().join("stop.flag"),
                poll_every: None,
            };
            let log = CapturedLog::default();
            let task = tokio::spawn(log.around(triggers::run(e.plugin.clone(), msg, opts, std::future::pending())));
            // Owned, not borrowed: this future must be Send, which a closure's borrows defeat.
            let port = eventually("the trigger's listener to start", {
                let (log, running) = (log.clone(), task.abort_handle());
                async move || {
                    assert!(!running.is_finished(), "the trigger stopped:\n{}", log.text());
                    listener_port(&log.text())
                }
            })
            .await;
            let health = format!("http://127.0.0.1:{port}/healthz");
            eventually("the trigger's listener to answer", async move || http().get(health.clone()).send().await.is_ok()).await;
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
            // Until the sentinel's event came (true) or the trigger stopped (false).
            let fired = || e.events.bodies().iter().any(|ev| ev["body"]["output"]["ticket"]["id"] == id);
            let what = Lazy(|| format!("an event for ticket {id} after the batch {}", Value::Array(batch.clone())));
            let running = eventually(what, async || fired().then_some(true).or(e.task.is_finished().then_some(false))).await;
            prop_assert!(running, "the trigger stopped after the batch {}", Value::Array(batch.clone()));
            let events = e.events.bodies();
            for ev in &events {
                prop_assert_eq!(&ev["type"], "trigger_event");
                prop_assert!(ev["body"]["output"]["ticket"]["id"].as_i64().is_some_and(|i| i > 0), "{ev}");
            }
            Ok(())
        })?;
    }
}
