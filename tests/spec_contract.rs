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
