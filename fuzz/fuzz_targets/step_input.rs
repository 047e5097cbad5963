//! Any JSON as the input of any step, or as a connection, validated against plugin.spec.yaml:
//! what passes must pass again, unchanged. The data is `NAME\nJSON`; NAME is a step's name or
//! `connection` (an unknown name picks a schema by its first byte).
#![no_main]

use icon_haloitsm::spec::{Section, spec};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(split) = data.iter().position(|b| *b == b'\n') else { return };
    let (name, json) = (&data[..split], &data[split + 1..]);
    let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(json) else { return };
    let s = spec();
    let steps: Vec<_> = s.actions.iter().chain(s.triggers.iter()).chain(s.tasks.iter()).collect();
    let name = String::from_utf8_lossy(name);
    let (schema, section) = match steps.iter().find(|(n, _)| n.as_str() == name) {
        Some((_, step)) => (&step.input, Section::Input),
        None if name == "connection" => (&s.connection, Section::Connection),
        None => match steps.get(name.bytes().next().unwrap_or(0) as usize % (steps.len() + 1)) {
            Some((_, step)) => (&step.input, Section::Input),
            None => (&s.connection, Section::Connection),
        },
    };
    if s.validate_input(schema, &mut v, section).is_ok() {
        let mut again = v.clone();
        assert!(s.validate_input(schema, &mut again, section).is_ok(), "validation is not idempotent: {v}");
        assert_eq!(again, v, "a second validation changed the value");
    }
});
