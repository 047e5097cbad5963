//! The example JSON help.md shows for a step's input, output and a connection: built from the
//! spec's examples, as Rapid7's `insight-plugin` tool builds it.

use serde_json::Value as Json;
use serde_yaml::{Mapping, Value as Yaml};

use crate::help::{key_string, sorted};

/// The example object of a set of fields: each field's `example`; for inputs then its `default`
/// or first `enum` value; otherwise a value built from its type.
pub fn example_object(fields: &Mapping, types: Option<&Mapping>, input: bool) -> Result<Json, String> {
    let mut obj = serde_json::Map::new();
    for (name, f) in sorted(fields) {
        obj.insert(name.clone(), field_example(f, types, input, &mut Vec::new()).map_err(|e| format!("{name}: {e}"))?);
    }
    Ok(sort_keys(Json::Object(obj)))
}

fn field_example(f: &Yaml, types: Option<&Mapping>, input: bool, seen: &mut Vec<String>) -> Result<Json, String> {
    if let Some(e) = f.get("example").filter(|e| !e.is_null()) {
        return Ok(to_json(e));
    }
    if input {
        if let Some(d) = f.get("default").filter(|d| !d.is_null()) {
            return Ok(to_json(d));
        }
        if let Some(first) = f.get("enum").and_then(Yaml::as_sequence).and_then(|e| e.first()) {
            return Ok(to_json(first));
        }
    }
    let ty = f.get("type").and_then(Yaml::as_str).ok_or("no type")?;
    type_example(ty, types, seen)
}

/// A value of a spec type: the base types' placeholders (as `insight-plugin` writes them), a
/// list of one element for `[]T`, and for a custom type an object of its fields' examples.
fn type_example(ty: &str, types: Option<&Mapping>, seen: &mut Vec<String>) -> Result<Json, String> {
    use serde_json::json;
    if let Some(inner) = ty.strip_prefix("[]") {
        return Ok(Json::Array(vec![type_example(inner, types, seen)?]));
    }
    let base = match ty {
        "boolean" | "bool" => Some(json!(true)),
        "integer" | "int" | "number" => Some(json!(0)),
        "float" => Some(json!(0.0)),
        "string" | "date" | "bytes" | "password" | "python" => Some(json!("")),
        "object" => Some(json!({})),
        "file" => Some(json!({"filename": "string", "content": "bytes"})),
        "credential_username_password" => Some(json!({"username": "", "password": ""})),
        "credential_asymmetric_key" => Some(json!({"key": ""})),
        "credential_secret_key" => Some(json!({"secretKey": ""})),
        "credential_token" => Some(json!({"token": "", "domain": ""})),
        _ => None,
    };
    if let Some(v) = base {
        return Ok(v);
    }
    let fields = types.and_then(|t| t.get(ty)).and_then(Yaml::as_mapping).ok_or_else(|| format!("unknown type {ty:?}"))?;
    if seen.iter().any(|s| s == ty) {
        return Ok(Json::Object(serde_json::Map::new())); // a type that contains itself
    }
    seen.push(ty.to_string());
    let mut obj = serde_json::Map::new();
    for (name, f) in sorted(fields) {
        obj.insert(name, field_example(f, types, false, seen)?);
    }
    seen.pop();
    Ok(Json::Object(obj))
}

/// A YAML value as JSON (mapping keys become strings).
fn to_json(v: &Yaml) -> Json {
    match v {
        Yaml::Null => Json::Null,
        Yaml::Bool(b) => Json::Bool(*b),
        Yaml::Number(n) => {
            if let Some(i) = n.as_i64() {
                Json::from(i)
            } else if let Some(u) = n.as_u64() {
                Json::from(u)
            } else {
                n.as_f64().and_then(serde_json::Number::from_f64).map_or(Json::Null, Json::Number)
            }
        }
        Yaml::String(s) => Json::String(s.clone()),
        Yaml::Sequence(items) => Json::Array(items.iter().map(to_json).collect()),
        Yaml::Mapping(m) => Json::Object(m.iter().map(|(k, v)| (key_string(k), to_json(v))).collect()),
        Yaml::Tagged(t) => to_json(&t.value),
    }
}

/// The same JSON with every object's keys in sorted order (as Python's `sort_keys=True`).
fn sort_keys(v: Json) -> Json {
    match v {
        Json::Object(m) => {
            let mut entries: Vec<(String, Json)> = m.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Json::Object(entries.into_iter().map(|(k, v)| (k, sort_keys(v))).collect())
        }
        Json::Array(items) => Json::Array(items.into_iter().map(sort_keys).collect()),
        other => other,
    }
}
