//! The plugin specification: loaded once from the `plugin.spec.yaml` embedded at build time, and
//! everything derived from it (field types, input/output validation, defaults, JSON Schemas,
//! samples).
//!
//! Validation is written against the spec's own type system rather than a generic JSON Schema
//! engine so that every error names the field and says what was expected in words a workflow
//! builder understands, and so that the hot path (every action) does no schema compilation.

use std::fmt;
use std::sync::OnceLock;

use indexmap::IndexMap;

mod schemas;
mod validation;

use serde_json::Value;
pub use validation::ValidationError;

/// The spec text compiled into the binary.
pub const SPEC_YAML: &str = include_str!("../../plugin.spec.yaml");

/// The spec, parsed once per process.
pub fn spec() -> &'static Spec {
    static SPEC: OnceLock<Spec> = OnceLock::new();
    SPEC.get_or_init(|| {
        // The embedded spec is part of the build; a test parses it, so failing here is a build bug.
        Spec::parse(SPEC_YAML).unwrap_or_else(|e| panic!("embedded plugin.spec.yaml is invalid: {e}"))
    })
}

/// A type named in the spec.
#[derive(Debug, Clone, PartialEq)]
pub enum Ty {
    String,
    Integer,
    Number,
    Boolean,
    Date,
    Bytes,
    Object,
    File,
    Password,
    CredentialSecretKey,
    CredentialUsernamePassword,
    CredentialToken,
    Custom(String),
    Array(Box<Ty>),
}

impl Ty {
    fn parse(s: &str, custom: &dyn Fn(&str) -> bool) -> Result<Ty, String> {
        if let Some(inner) = s.strip_prefix("[]") {
            return Ok(Ty::Array(Box::new(Ty::parse(inner, custom)?)));
        }
        Ok(match s {
            "string" => Ty::String,
            "integer" | "int" => Ty::Integer,
            "number" | "float" => Ty::Number,
            "boolean" | "bool" => Ty::Boolean,
            "date" => Ty::Date,
            "bytes" => Ty::Bytes,
            "object" => Ty::Object,
            "file" => Ty::File,
            "password" => Ty::Password,
            "credential_secret_key" => Ty::CredentialSecretKey,
            "credential_username_password" => Ty::CredentialUsernamePassword,
            "credential_token" => Ty::CredentialToken,
            other if custom(other) => Ty::Custom(other.to_string()),
            other => return Err(format!("unknown type `{other}`")),
        })
    }

    /// How the type is described to a user in an error message ("an integer").
    pub fn describe(&self) -> String {
        match self {
            Ty::String | Ty::Password => "a string".into(),
            Ty::Integer => "an integer".into(),
            Ty::Number => "a number".into(),
            Ty::Boolean => "a boolean (true or false)".into(),
            Ty::Date => "a date in RFC 3339 format (e.g. 2026-09-01T08:00:00Z)".into(),
            Ty::Bytes => "a base64-encoded string".into(),
            Ty::Object => "an object".into(),
            Ty::File => "a file object {\"filename\": ..., \"content\": <base64>}".into(),
            Ty::CredentialSecretKey => "a secret key object {\"secretKey\": ...}".into(),
            Ty::CredentialUsernamePassword => "a credential object {\"username\": ..., \"password\": ...}".into(),
            Ty::CredentialToken => "a token object {\"token\": ...}".into(),
            Ty::Custom(name) => format!("a `{name}` object"),
            Ty::Array(inner) => format!("an array of {}", inner.describe_plural()),
        }
    }

    fn describe_plural(&self) -> String {
        match self {
            Ty::Integer => "integers".into(),
            Ty::String => "strings".into(),
            Ty::Object => "objects".into(),
            Ty::Custom(name) => format!("`{name}` objects"),
            other => format!("values of type {}", other.spec_name()),
        }
    }

    /// Values of this type are secrets and are never shown in messages.
    pub fn is_sensitive(&self) -> bool {
        matches!(self, Ty::Password | Ty::CredentialSecretKey | Ty::CredentialUsernamePassword | Ty::CredentialToken)
    }

    /// The type's name as written in the spec.
    pub fn spec_name(&self) -> String {
        match self {
            Ty::String => "string".into(),
            Ty::Integer => "integer".into(),
            Ty::Number => "number".into(),
            Ty::Boolean => "boolean".into(),
            Ty::Date => "date".into(),
            Ty::Bytes => "bytes".into(),
            Ty::Object => "object".into(),
            Ty::File => "file".into(),
            Ty::Password => "password".into(),
            Ty::CredentialSecretKey => "credential_secret_key".into(),
            Ty::CredentialUsernamePassword => "credential_username_password".into(),
            Ty::CredentialToken => "credential_token".into(),
            Ty::Custom(n) => n.clone(),
            Ty::Array(inner) => format!("[]{}", inner.spec_name()),
        }
    }
}

/// One field of an input, output, connection or custom type.
#[derive(Debug, Clone)]
pub struct Field {
    pub name: String,
    pub title: String,
    pub description: String,
    pub ty: Ty,
    pub required: bool,
    pub default: Option<Value>,
    pub example: Option<Value>,
    pub enum_values: Option<Vec<Value>>,
    pub order: Option<i64>,
}

/// An ordered set of fields (an input, an output, the connection, or a custom type).
#[derive(Debug, Clone, Default)]
pub struct ObjectSchema {
    pub fields: Vec<Field>,
}

impl ObjectSchema {
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// An action, trigger or task.
#[derive(Debug, Clone)]
pub struct StepSpec {
    pub name: String,
    pub title: String,
    pub description: String,
    pub input: ObjectSchema,
    pub output: ObjectSchema,
    /// The step's entry in the spec, as JSON, for the REST API's details routes.
    pub raw: Value,
}

#[derive(Debug)]
pub struct Spec {
    pub yaml: &'static str,
    /// The whole spec as JSON (for `/api/v1/spec`).
    pub doc: Value,
    pub name: String,
    pub title: String,
    pub description: String,
    pub version: String,
    pub vendor: String,
    pub types: IndexMap<String, ObjectSchema>,
    pub connection: ObjectSchema,
    pub actions: IndexMap<String, StepSpec>,
    pub triggers: IndexMap<String, StepSpec>,
    pub tasks: IndexMap<String, StepSpec>,
}

/// Where a validated value sits, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Input,
    Output,
    Connection,
}

impl fmt::Display for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Section::Input => "input",
            Section::Output => "output",
            Section::Connection => "connection",
        })
    }
}

impl Spec {
    pub fn parse(yaml: &'static str) -> Result<Spec, String> {
        let doc: Value = serde_yaml::from_str(yaml).map_err(|e| e.to_string())?;
        let top = doc.as_object().ok_or("spec is not a mapping")?;
        let s = |k: &str| top.get(k).and_then(Value::as_str).unwrap_or_default().to_string();

        let type_names: Vec<String> = top.get("types").and_then(Value::as_object).map(|m| m.keys().cloned().collect()).unwrap_or_default();
        let is_custom = |n: &str| type_names.iter().any(|t| t == n);

        let mut types = IndexMap::new();
        if let Some(m) = top.get("types").and_then(Value::as_object) {
            for (name, fields) in m {
                types.insert(name.clone(), parse_fields(fields, &is_custom).map_err(|e| format!("type {name}: {e}"))?);
            }
        }
        let connection = match top.get("connection") {
            Some(c) => parse_fields(c, &is_custom).map_err(|e| format!("connection: {e}"))?,
            None => ObjectSchema::default(),
        };
        let steps = |key: &str| -> Result<IndexMap<String, StepSpec>, String> {
            let mut out = IndexMap::new();
            if let Some(m) = top.get(key).and_then(Value::as_object) {
                for (name, raw) in m {
                    let get = |k: &str| raw.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
                    let input = match raw.get("input") {
                        Some(v) => parse_fields(v, &is_custom).map_err(|e| format!("{key}.{name}.input: {e}"))?,
                        None => ObjectSchema::default(),
                    };
                    let output = match raw.get("output") {
                        Some(v) => parse_fields(v, &is_custom).map_err(|e| format!("{key}.{name}.output: {e}"))?,
                        None => ObjectSchema::default(),
                    };
                    out.insert(
                        name.clone(),
                        StepSpec {
                            name: name.clone(),
                            title: get("title"),
                            description: get("description"),
                            input,
                            output,
                            raw: raw.clone(),
                        },
                    );
                }
            }
            Ok(out)
        };
        let actions = steps("actions")?;
        let triggers = steps("triggers")?;
        let tasks = steps("tasks")?;
        Ok(Spec {
            yaml,
            name: s("name"),
            title: s("title"),
            description: s("description"),
            version: s("version"),
            vendor: s("vendor"),
            types,
            connection,
            actions,
            triggers,
            tasks,
            doc,
        })
    }

    /// Find an action, trigger or task by kind.
    pub fn step(&self, kind: StepKind, name: &str) -> Option<&StepSpec> {
        match kind {
            StepKind::Action => self.actions.get(name),
            StepKind::Trigger => self.triggers.get(name),
            StepKind::Task => self.tasks.get(name),
        }
    }

    // ----- validation -------------------------------------------------------------------------

    /// Plain string values given for sensitive connection fields (e.g. a `client_secret` sent as
    /// a bare string instead of `{"secretKey": ...}`), which the masker must also hide.
    pub fn sensitive_strings(&self, connection: &Value) -> Vec<String> {
        self.connection
            .fields
            .iter()
            .filter(|f| f.ty.is_sensitive())
            .filter_map(|f| connection.get(&f.name).and_then(Value::as_str))
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }
}

fn parse_fields(v: &Value, is_custom: &dyn Fn(&str) -> bool) -> Result<ObjectSchema, String> {
    let Some(m) = v.as_object() else {
        return if v.is_null() { Ok(ObjectSchema::default()) } else { Err("expected a mapping of fields".into()) };
    };
    let mut fields = Vec::with_capacity(m.len());
    for (name, f) in m {
        let ty_name = f.get("type").and_then(Value::as_str).ok_or_else(|| format!("field {name} has no type"))?;
        let ty = Ty::parse(ty_name, is_custom).map_err(|e| format!("field {name}: {e}"))?;
        let get = |k: &str| f.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
        fields.push(Field {
            name: name.clone(),
            title: get("title"),
            description: get("description"),
            ty,
            required: f.get("required").and_then(Value::as_bool).unwrap_or(false),
            default: f.get("default").cloned(),
            example: f.get("example").cloned(),
            enum_values: f.get("enum").and_then(Value::as_array).cloned(),
            order: f.get("order").and_then(Value::as_i64),
        });
    }
    Ok(ObjectSchema { fields })
}

/// The three kinds of steps a plugin can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    Action,
    Trigger,
    Task,
}

impl StepKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::Action => "action",
            StepKind::Trigger => "trigger",
            StepKind::Task => "task",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn test_spec() -> Spec {
        Spec::parse(
            r#"
name: t
types:
  thing:
    id: {title: ID, description: d, type: integer, required: true}
    tags: {title: Tags, description: d, type: "[]string"}
connection:
  secret: {title: S, description: d, type: credential_secret_key, required: true, example: abc}
actions:
  a:
    title: A
    description: d
    input:
      n: {title: N, description: d, type: integer, required: true}
      flag: {title: F, description: d, type: boolean, default: true}
      when: {title: W, description: d, type: date}
      kind: {title: K, description: d, type: string, enum: [one, two]}
      things: {title: T, description: d, type: "[]thing"}
    output:
      thing: {title: T, description: d, type: thing, required: true}
      ok: {title: O, description: d, type: boolean, required: true}
"#,
        )
        .unwrap()
    }

    fn input_err(v: Value) -> String {
        let s = test_spec();
        let mut v = v;
        s.validate_input(&s.actions["a"].input, &mut v, Section::Input).unwrap_err().to_string()
    }

    #[test]
    fn defaults_applied_and_blank_optional_dropped() {
        let s = test_spec();
        let mut v = json!({"n": 3, "when": "", "kind": null});
        s.validate_input(&s.actions["a"].input, &mut v, Section::Input).unwrap();
        assert_eq!(v, json!({"n": 3, "flag": true}));
    }

    #[test]
    fn integral_float_becomes_integer() {
        let s = test_spec();
        let mut v = json!({"n": 3.0});
        s.validate_input(&s.actions["a"].input, &mut v, Section::Input).unwrap();
        assert_eq!(v["n"], json!(3));
        assert!(v["n"].is_i64());
    }

    #[test]
    fn errors_name_the_field_and_expectation() {
        assert_eq!(input_err(json!({})), "input `n`: is required (an integer), but it is missing or empty");
        assert_eq!(input_err(json!({"n": "7"})), "input `n`: expected an integer, got the string \"7\"");
        assert_eq!(input_err(json!({"n": 1.5})), "input `n`: expected an integer, got the number 1.5");
        assert!(input_err(json!({"n": 1, "flag": "yes"})).starts_with("input `flag`: expected a boolean"));
        assert!(input_err(json!({"n": 1, "when": "yesterday"})).starts_with("input `when`: expected a date in RFC 3339"));
        assert_eq!(input_err(json!({"n": 1, "kind": "three"})), "input `kind`: must be one of \"one\", \"two\", got the string \"three\"");
        let s = test_spec();
        let mut v = json!({"n": 1, "kind": "TWO"});
        s.validate_input(&s.actions["a"].input, &mut v, Section::Input).unwrap();
        assert_eq!(v["kind"], "two", "letter case of enum values is forgiven");
        assert_eq!(
            input_err(json!({"n": 1, "things": [{"id": 1}, {"tags": ["x"]}]})),
            "input `things[1].id`: is required (an integer), but it is missing or empty"
        );
        assert_eq!(
            input_err(json!({"n": 1, "things": [{"id": 1, "tags": [1]}]})),
            "input `things[0].tags[0]`: expected a string, got the number 1"
        );
        assert_eq!(input_err(json!([1])), "input must be an object, got an array");
    }

    #[test]
    fn secrets_are_never_echoed_and_huge_integers_are_refused() {
        let s = test_spec();
        let mut conn = json!({"secret": "TopSecretValue"});
        let e = s.validate_input(&s.connection, &mut conn, Section::Connection).unwrap_err().to_string();
        assert!(!e.contains("TopSecretValue"), "{e}");
        assert!(e.contains("got a string"), "{e}");
        assert_eq!(s.sensitive_strings(&json!({"secret": "TopSecretValue"})), vec!["TopSecretValue".to_string()]);
        assert!(input_err(json!({"n": 18446744073709551615u64})).contains("is too large"));
    }

    #[test]
    fn output_rejects_nulls_missing_required_and_undeclared() {
        let s = test_spec();
        let out = &s.actions["a"].output;
        assert!(s.validate_output(out, &json!({"thing": {"id": 1}, "ok": true})).is_ok());
        assert_eq!(
            s.validate_output(out, &json!({"thing": {"id": 1}})).unwrap_err().to_string(),
            "output `ok`: is required (a boolean (true or false)), but it is missing"
        );
        assert_eq!(
            s.validate_output(out, &json!({"thing": {"id": null}, "ok": true})).unwrap_err().to_string(),
            "output `thing.id`: is null; expected an integer or no value at all"
        );
        assert_eq!(
            s.validate_output(out, &json!({"thing": {"id": 1}, "ok": true, "x": 1})).unwrap_err().to_string(),
            "output `x`: is not declared in the spec"
        );
        // Output integers must really be integers.
        assert!(s.validate_output(out, &json!({"thing": {"id": 1.0}, "ok": true})).is_err());
    }

    #[test]
    fn json_schema_uses_definitions_for_custom_and_credential_types() {
        let s = test_spec();
        let js = s.json_schema(&s.actions["a"].output, "Output");
        assert_eq!(js["properties"]["thing"]["$ref"], "#/definitions/thing");
        assert_eq!(js["definitions"]["thing"]["properties"]["tags"]["items"]["type"], "string");
        assert_eq!(js["required"], json!(["thing", "ok"]));
        let conn = s.json_schema(&s.connection, "Connection");
        assert_eq!(conn["definitions"]["credential_secret_key"]["required"], json!(["secretKey"]));
    }

    #[test]
    fn sample_wraps_credentials_and_fills_every_field() {
        let s = test_spec();
        assert_eq!(s.sample(&s.connection), json!({"secret": {"secretKey": "abc"}}));
        let input = s.sample(&s.actions["a"].input);
        assert_eq!(input["flag"], json!(true));
        assert_eq!(input["things"], json!([]));
    }

    #[test]
    fn embedded_spec_parses() {
        let s = spec();
        assert_eq!(s.name, "haloitsm");
        assert!(s.actions.contains_key("get_ticket"));
    }
}
