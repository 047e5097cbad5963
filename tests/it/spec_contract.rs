//! The spec and the code agree: every spec action has exactly one handler and the reverse,
//! every spec sample input validates and fits the handler's input type, every output example
//! validates, and the spec follows the writing rules Rapid7's validators enforce.

use std::collections::BTreeSet;

use icon_haloitsm::actions;
use icon_haloitsm::spec::{ObjectSchema, Section, spec};
use serde_json::Value;

#[test]
fn every_spec_action_has_a_handler_and_every_handler_a_spec_action() {
    let in_spec: BTreeSet<&str> = spec().actions.keys().map(String::as_str).collect();
    let handlers: BTreeSet<&str> = actions::registry().iter().map(|h| h.name).collect();
    assert_eq!(in_spec, handlers);
    assert_eq!(handlers.len(), actions::registry().len(), "a handler is registered twice");
}

#[test]
fn sample_inputs_validate_and_fit_the_handler_types() {
    let s = spec();
    for h in actions::registry() {
        let step = &s.actions[h.name];
        let mut input = s.sample(&step.input);
        s.validate_input(&step.input, &mut input, Section::Input).unwrap_or_else(|e| panic!("{}: sample input invalid: {e}", h.name));
        (h.accepts)(&input).unwrap_or_else(|e| panic!("{}: sample input does not fit the input type: {e}", h.name));
        // Only the required fields, defaults applied, must also fit.
        let mut minimal = serde_json::Map::new();
        for f in step.input.fields.iter().filter(|f| f.required) {
            minimal.insert(f.name.clone(), input[&f.name].clone());
        }
        let mut minimal = Value::Object(minimal);
        s.validate_input(&step.input, &mut minimal, Section::Input).unwrap();
        (h.accepts)(&minimal).unwrap_or_else(|e| panic!("{}: minimal input does not fit the input type: {e}", h.name));
    }
}

#[test]
fn sample_connection_validates() {
    let s = spec();
    let mut conn = s.sample(&s.connection);
    s.validate_input(&s.connection, &mut conn, Section::Connection).unwrap();
    icon_haloitsm::halo::ConnectionConfig::from_value(&conn).unwrap();
}

#[test]
fn output_examples_validate_against_their_schema() {
    let s = spec();
    for (name, step) in &s.actions {
        for f in &step.output.fields {
            if let Some(example) = &f.example {
                let single = ObjectSchema { fields: vec![f.clone()] };
                let mut obj = serde_json::Map::new();
                obj.insert(f.name.clone(), example.clone());
                s.validate_output(&single, &Value::Object(obj)).unwrap_or_else(|e| panic!("{name}: example of {} invalid: {e}", f.name));
            }
        }
    }
}

#[test]
fn fields_are_documented_the_way_rapid7_validators_expect() {
    let s = spec();
    let mut problems = Vec::new();
    let mut check = |where_: String, schema: &ObjectSchema, need_example: bool| {
        for f in &schema.fields {
            let at = format!("{where_}.{}", f.name);
            if f.title.is_empty() || f.title.ends_with('.') || f.title.starts_with(char::is_lowercase) {
                problems.push(format!("{at}: title {:?}", f.title));
            }
            if f.description.is_empty() || f.description.ends_with('.') || f.description.starts_with(char::is_lowercase) {
                problems.push(format!("{at}: description {:?}", f.description));
            }
            if need_example && f.example.is_none() {
                problems.push(format!("{at}: no example"));
            }
        }
    };
    check("connection".into(), &s.connection, true);
    for (name, step) in &s.actions {
        check(format!("actions.{name}.input"), &step.input, true);
        check(format!("actions.{name}.output"), &step.output, false);
    }
    for (name, step) in &s.triggers {
        check(format!("triggers.{name}.input"), &step.input, true);
        check(format!("triggers.{name}.output"), &step.output, false);
    }
    for (name, t) in &s.types {
        check(format!("types.{name}"), t, false);
    }
    for (name, step) in s.actions.iter().chain(s.triggers.iter()) {
        if step.description.ends_with('.') || step.title.is_empty() {
            problems.push(format!("{name}: title/description"));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

/// Every fact of docs/halo-api.md the code cites (`docs/halo-api.md#T3` in the client, `[T3]` in
/// the simulator, lists such as `#L3, T11` too) exists there: the code follows the contract, not
/// a memory of it.
#[test]
fn every_cited_halo_api_fact_exists() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/halo-api.md")).unwrap();
    let facts: BTreeSet<String> = doc
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("- **")?.split("**").next().map(str::to_string))
        .filter(|id| is_fact_id(id))
        .collect();
    assert!(facts.len() > 50, "the fact list was not read: {facts:?}");
    let mut cited = BTreeSet::new();
    let mut files = Vec::new();
    for dir in ["src", "sim/src"] {
        collect_rs(&root.join(dir), &mut files);
    }
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for (i, _) in text.match_indices("docs/halo-api.md#") {
            cited.extend(id_list(&text[i + "docs/halo-api.md#".len()..]).into_iter().map(|id| (id, f.clone())));
        }
        if f.starts_with(root.join("sim/src")) {
            for (i, _) in text.match_indices('[') {
                let rest = &text[i + 1..];
                if let Some(end) = rest.find(']') {
                    let ids: Vec<String> = rest[..end].split(", ").map(str::to_string).collect();
                    if ids.iter().all(|id| is_fact_id(id)) {
                        cited.extend(ids.into_iter().map(|id| (id, f.clone())));
                    }
                }
            }
        }
    }
    assert!(cited.len() > 20, "no citations found: {cited:?}");
    let missing: Vec<String> =
        cited.iter().filter(|(id, _)| !facts.contains(id)).map(|(id, f)| format!("{id} in {}", f.display())).collect();
    assert!(missing.is_empty(), "cited but not in docs/halo-api.md: {missing:?}");
}

fn is_fact_id(s: &str) -> bool {
    let letters = s.chars().take_while(char::is_ascii_uppercase).count();
    (1..=2).contains(&letters) && s.len() > letters && s[letters..].chars().all(|c| c.is_ascii_digit())
}

/// The IDs at the start of `rest`: `T3`, or a list `L3, T11`.
fn id_list(rest: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in rest.split(", ") {
        let id: String = part.chars().take_while(char::is_ascii_alphanumeric).collect();
        if !is_fact_id(&id) {
            break;
        }
        let whole = part.len() == id.len();
        out.push(id);
        if !whole {
            break;
        }
    }
    out
}

fn collect_rs(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            collect_rs(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}
