//! 2. Input, connection and trigger validation against plugin.spec.yaml accepts or names the field.

use super::*;

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
        if v.get("rate_limit_requests").is_some() {
            v["rate_limit_requests"] = json!(closed_status);
        }
        if v.get("rate_limit_window_seconds").is_some() {
            v["rate_limit_window_seconds"] = json!(timeout);
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
                // The port asked for, 0 included (any free port, named in the log), else the default.
                let asked = m.input.get("webhook_port").and_then(Value::as_i64);
                prop_assert!(asked.is_none_or(|p| i64::from(cfg.webhook_addr.port()) == p) && (asked.is_some() || cfg.webhook_addr.port() > 0));
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
