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
use serde_json::{Map, Value, json};

/// The spec text compiled into the binary.
pub const SPEC_YAML: &str = include_str!("../plugin.spec.yaml");

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

/// A value that does not fit its spec.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidationError {
    pub section: Section,
    /// Dotted path to the offending field, e.g. `customfields[0].id`.
    pub path: String,
    pub problem: String,
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{} {}", self.section, self.problem)
        } else {
            write!(f, "{} `{}`: {}", self.section, self.path, self.problem)
        }
    }
}

impl std::error::Error for ValidationError {}

/// The kind of a value without its content (for secrets).
fn describe_kind(v: &Value) -> String {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
    .into()
}

fn describe_value(v: &Value) -> String {
    let kind = match v {
        Value::Null => return "null".into(),
        Value::Bool(b) => return format!("the boolean {b}"),
        Value::Number(n) => return format!("the number {n}"),
        Value::String(s) => {
            let shown: String = s.chars().take(40).collect();
            let more = if s.chars().count() > 40 { "…" } else { "" };
            return format!("the string \"{shown}{more}\"");
        }
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    kind.into()
}

/// Strings that are always accepted as an absent optional input: the InsightConnect UI turns an
/// unset variable into an empty string or null.
fn is_blank(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        _ => false,
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

    /// Validate an input (or connection) object in place: defaults are applied to absent optional
    /// fields, blank optional fields are treated as absent, integral floats become integers.
    pub fn validate_input(&self, schema: &ObjectSchema, value: &mut Value, section: Section) -> Result<(), ValidationError> {
        if value.is_null() {
            *value = Value::Object(Map::new());
        }
        let Value::Object(map) = value else {
            return Err(ValidationError {
                section,
                path: String::new(),
                problem: format!("must be an object, got {}", describe_value(value)),
            });
        };
        for field in &schema.fields {
            let present = map.get(&field.name).is_some_and(|v| !is_blank(v));
            if !present {
                if field.required {
                    return Err(ValidationError {
                        section,
                        path: field.name.clone(),
                        problem: format!("is required ({}), but it is missing or empty", field.ty.describe()),
                    });
                }
                match &field.default {
                    Some(d) => {
                        map.insert(field.name.clone(), d.clone());
                    }
                    None => {
                        map.remove(&field.name);
                    }
                }
                continue;
            }
            if let Some(v) = map.get_mut(&field.name) {
                self.check_value(&field.ty, v, &field.name, section, true)?;
                normalise_enum(field, v);
                check_enum(field, v, &field.name, section)?;
            }
        }
        Ok(())
    }

    /// Validate an output object: required fields present, every value of its declared type,
    /// no nulls anywhere (absent values are omitted), nothing undeclared.
    pub fn validate_output(&self, schema: &ObjectSchema, value: &Value) -> Result<(), ValidationError> {
        let Value::Object(map) = value else {
            return Err(ValidationError {
                section: Section::Output,
                path: String::new(),
                problem: format!("must be an object, got {}", describe_value(value)),
            });
        };
        self.check_output_fields(schema, map, &Seg::Root)
    }

    fn check_output_fields(&self, schema: &ObjectSchema, map: &Map<String, Value>, at: &Seg<'_>) -> Result<(), ValidationError> {
        let err = |at: &Seg<'_>, problem: String| ValidationError { section: Section::Output, path: at.render(), problem };
        for field in &schema.fields {
            let here = Seg::Key(at, &field.name);
            match map.get(&field.name) {
                None if field.required => return Err(err(&here, format!("is required ({}), but it is missing", field.ty.describe()))),
                None => {}
                Some(Value::Null) => return Err(err(&here, format!("is null; expected {} or no value at all", field.ty.describe()))),
                Some(v) => {
                    self.check_output_value(&field.ty, v, &here)?;
                    if let Some(allowed) = &field.enum_values {
                        if !allowed.contains(v) {
                            return Err(err(&here, format!("must be one of {}, got {}", list_values(allowed), describe_value(v))));
                        }
                    }
                }
            }
        }
        if let Some(k) = map.keys().find(|k| schema.field(k).is_none()) {
            return Err(err(&Seg::Key(at, k), "is not declared in the spec".into()));
        }
        Ok(())
    }

    fn check_output_value(&self, ty: &Ty, v: &Value, at: &Seg<'_>) -> Result<(), ValidationError> {
        let bad = || ValidationError {
            section: Section::Output,
            path: at.render(),
            problem: format!("expected {}, got {}", ty.describe(), describe_value(v)),
        };
        let ok = match ty {
            Ty::String | Ty::Password | Ty::Bytes => v.is_string(),
            Ty::Date => v.as_str().is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok()),
            Ty::Integer => v.is_i64() || v.is_u64(),
            Ty::Number => v.is_number(),
            Ty::Boolean => v.is_boolean(),
            Ty::Object => {
                if !v.is_object() {
                    return Err(bad());
                }
                if let Some(p) = find_null(v, &at.render()) {
                    return Err(ValidationError {
                        section: Section::Output,
                        path: p,
                        problem: "is null; absent values must be omitted".into(),
                    });
                }
                true
            }
            Ty::File | Ty::CredentialSecretKey | Ty::CredentialUsernamePassword | Ty::CredentialToken => {
                let mut copy = v.clone();
                return self.check_value(ty, &mut copy, &at.render(), Section::Output, false);
            }
            Ty::Custom(name) => {
                let (Some(schema), Value::Object(map)) = (self.types.get(name), v) else { return Err(bad()) };
                return self.check_output_fields(schema, map, at);
            }
            Ty::Array(inner) => {
                let Value::Array(items) = v else { return Err(bad()) };
                for (i, item) in items.iter().enumerate() {
                    let here = Seg::Index(at, i);
                    if item.is_null() {
                        return Err(ValidationError {
                            section: Section::Output,
                            path: here.render(),
                            problem: format!("is null; expected {}", inner.describe()),
                        });
                    }
                    self.check_output_value(inner, item, &here)?;
                }
                true
            }
        };
        if ok { Ok(()) } else { Err(bad()) }
    }

    /// Check one value against a type. `lenient` (inputs) turns integral floats into integers and
    /// allows nulls inside free-form objects.
    fn check_value(&self, ty: &Ty, v: &mut Value, path: &str, section: Section, lenient: bool) -> Result<(), ValidationError> {
        let bad = |v: &Value| ValidationError {
            section,
            path: path.to_string(),
            problem: format!("expected {}, got {}", ty.describe(), if ty.is_sensitive() { describe_kind(v) } else { describe_value(v) }),
        };
        match ty {
            Ty::String | Ty::Password | Ty::Bytes => {
                if !v.is_string() {
                    return Err(bad(v));
                }
            }
            Ty::Date => {
                let Some(s) = v.as_str() else { return Err(bad(v)) };
                if chrono::DateTime::parse_from_rfc3339(s).is_err() {
                    return Err(bad(v));
                }
            }
            Ty::Integer => {
                if v.is_i64() {
                    return Ok(());
                }
                if v.is_u64() {
                    return Err(ValidationError {
                        section,
                        path: path.to_string(),
                        problem: format!("{} is too large; expected an integer up to {}", describe_value(v), i64::MAX),
                    });
                }
                match v.as_f64() {
                    Some(f) if lenient && f.fract() == 0.0 && f.abs() < 9.0e15 => {
                        *v = Value::from(f as i64);
                    }
                    _ => return Err(bad(v)),
                }
            }
            Ty::Number => {
                if !v.is_number() {
                    return Err(bad(v));
                }
            }
            Ty::Boolean => {
                if !v.is_boolean() {
                    return Err(bad(v));
                }
            }
            Ty::Object => {
                if !v.is_object() {
                    return Err(bad(v));
                }
                if !lenient {
                    if let Some(p) = find_null(v, path) {
                        return Err(ValidationError { section, path: p, problem: "is null; absent values must be omitted".into() });
                    }
                }
            }
            Ty::File => self.check_builtin_object(v, &[("filename", true), ("content", true)], path, section, ty)?,
            Ty::CredentialSecretKey => self.check_builtin_object(v, &[("secretKey", true)], path, section, ty)?,
            Ty::CredentialUsernamePassword => self.check_builtin_object(v, &[("username", true), ("password", true)], path, section, ty)?,
            Ty::CredentialToken => self.check_builtin_object(v, &[("token", true), ("domain", false)], path, section, ty)?,
            Ty::Custom(name) => {
                let Some(schema) = self.types.get(name) else {
                    return Err(ValidationError { section, path: path.to_string(), problem: format!("uses unknown type `{name}`") });
                };
                if !v.is_object() {
                    return Err(bad(v));
                }
                if lenient {
                    // Inputs of custom types: validate each field like a nested input.
                    let mut inner = std::mem::take(v);
                    let res = self.validate_nested_input(schema, &mut inner, path, section);
                    *v = inner;
                    res?;
                } else {
                    return self.check_output_value(ty, v, &Seg::Path(path));
                }
            }
            Ty::Array(inner) => {
                let Value::Array(items) = v else { return Err(bad(v)) };
                for (i, item) in items.iter_mut().enumerate() {
                    let p = format!("{path}[{i}]");
                    if item.is_null() {
                        return Err(ValidationError { section, path: p, problem: format!("is null; expected {}", inner.describe()) });
                    }
                    self.check_value(inner, item, &p, section, lenient)?;
                }
            }
        }
        Ok(())
    }

    fn validate_nested_input(&self, schema: &ObjectSchema, v: &mut Value, prefix: &str, section: Section) -> Result<(), ValidationError> {
        let Value::Object(map) = v else { return Ok(()) };
        for field in &schema.fields {
            let path = join(prefix, &field.name);
            let present = map.get(&field.name).is_some_and(|v| !is_blank(v));
            if !present {
                if field.required {
                    return Err(ValidationError {
                        section,
                        path,
                        problem: format!("is required ({}), but it is missing or empty", field.ty.describe()),
                    });
                }
                map.remove(&field.name);
                continue;
            }
            if let Some(v) = map.get_mut(&field.name) {
                self.check_value(&field.ty, v, &path, section, true)?;
                normalise_enum(field, v);
                check_enum(field, v, &path, section)?;
            }
        }
        Ok(())
    }

    fn check_builtin_object(&self, v: &Value, keys: &[(&str, bool)], path: &str, section: Section, ty: &Ty) -> Result<(), ValidationError> {
        let Value::Object(map) = v else {
            return Err(ValidationError {
                section,
                path: path.to_string(),
                problem: format!("expected {}, got {}", ty.describe(), describe_kind(v)),
            });
        };
        for (k, required) in keys {
            match map.get(*k) {
                Some(Value::String(_)) => {}
                None | Some(Value::Null) if !required => {}
                Some(other) => {
                    return Err(ValidationError {
                        section,
                        path: join(path, k),
                        problem: format!("expected a string, got {}", describe_kind(other)),
                    });
                }
                None => {
                    return Err(ValidationError { section, path: join(path, k), problem: format!("is required in {}", ty.describe()) });
                }
            }
        }
        Ok(())
    }

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

    // ----- derived documents ------------------------------------------------------------------

    /// The JSON Schema of an object, in the layout the Python SDK generates
    /// (`properties`, `required`, `definitions` with `$ref`s for custom and credential types).
    pub fn json_schema(&self, schema: &ObjectSchema, title: &str) -> Value {
        let mut defs = Map::new();
        let mut out = self.object_json_schema(schema, title, &mut defs);
        if !defs.is_empty() {
            out["definitions"] = Value::Object(defs);
        }
        out
    }

    fn object_json_schema(&self, schema: &ObjectSchema, title: &str, defs: &mut Map<String, Value>) -> Value {
        let mut props = Map::new();
        let mut required = Vec::new();
        for f in &schema.fields {
            let mut p = self.type_json_schema(&f.ty, defs);
            let obj = p.as_object_mut().expect("type schemas are objects");
            obj.insert("title".into(), json!(f.title));
            obj.insert("description".into(), json!(f.description));
            if let Some(d) = &f.default {
                obj.insert("default".into(), d.clone());
            }
            if let Some(e) = &f.enum_values {
                obj.insert("enum".into(), Value::Array(e.clone()));
            }
            if let Some(o) = f.order {
                obj.insert("order".into(), json!(o));
            }
            props.insert(f.name.clone(), p);
            if f.required {
                required.push(json!(f.name));
            }
        }
        let mut out = json!({"type": "object", "title": title, "properties": props});
        if !required.is_empty() {
            out["required"] = Value::Array(required);
        }
        out
    }

    fn type_json_schema(&self, ty: &Ty, defs: &mut Map<String, Value>) -> Value {
        match ty {
            Ty::String => json!({"type": "string"}),
            Ty::Integer => json!({"type": "integer"}),
            Ty::Number => json!({"type": "number"}),
            Ty::Boolean => json!({"type": "boolean"}),
            Ty::Date => json!({"type": "string", "format": "date-time", "displayType": "date"}),
            Ty::Bytes => json!({"type": "string", "format": "bytes", "displayType": "bytes"}),
            Ty::Password => json!({"type": "string", "format": "password", "displayType": "password"}),
            Ty::Object => json!({"type": "object"}),
            Ty::Array(inner) => json!({"type": "array", "items": self.type_json_schema(inner, defs)}),
            Ty::File => {
                defs.entry("file").or_insert_with(|| {
                    json!({"id": "file", "type": "object", "title": "File",
                        "properties": {
                            "filename": {"type": "string", "title": "Filename", "description": "Name of file"},
                            "content": {"type": "string", "format": "bytes", "title": "Content", "description": "File contents"}}})
                });
                json!({"$ref": "#/definitions/file"})
            }
            Ty::CredentialSecretKey => {
                defs.entry("credential_secret_key").or_insert_with(|| {
                    json!({"id": "credential_secret_key", "type": "object", "title": "Credential: Secret Key",
                        "properties": {"secretKey": {"type": "string", "title": "Secret Key", "displayType": "password",
                            "description": "The shared secret key", "format": "password"}},
                        "required": ["secretKey"]})
                });
                json!({"$ref": "#/definitions/credential_secret_key"})
            }
            Ty::CredentialUsernamePassword => {
                defs.entry("credential_username_password").or_insert_with(|| {
                    json!({"id": "credential_username_password", "type": "object", "title": "Credential: Username and Password",
                        "properties": {
                            "username": {"type": "string", "title": "Username", "description": "The username to log in with"},
                            "password": {"type": "string", "title": "Password", "displayType": "password", "format": "password",
                                "description": "The password"}},
                        "required": ["username", "password"]})
                });
                json!({"$ref": "#/definitions/credential_username_password"})
            }
            Ty::CredentialToken => {
                defs.entry("credential_token").or_insert_with(|| {
                    json!({"id": "credential_token", "type": "object", "title": "Credential: Token",
                        "properties": {
                            "token": {"type": "string", "title": "Token", "displayType": "password", "format": "password",
                                "description": "The shared token"},
                            "domain": {"type": "string", "title": "Domain", "description": "The domain for the token"}},
                        "required": ["token"]})
                });
                json!({"$ref": "#/definitions/credential_token"})
            }
            Ty::Custom(name) => {
                if !defs.contains_key(name) {
                    // Insert a placeholder first so recursive types terminate.
                    defs.insert(name.clone(), Value::Null);
                    let schema = self.types.get(name).cloned().unwrap_or_default();
                    let s = self.object_json_schema(&schema, name, defs);
                    defs.insert(name.clone(), s);
                }
                json!({"$ref": format!("#/definitions/{name}")})
            }
        }
    }

    /// A sample value for every field: the example, else the default, else a value of the type.
    pub fn sample(&self, schema: &ObjectSchema) -> Value {
        let mut out = Map::new();
        for f in &schema.fields {
            let v = f.example.clone().or_else(|| f.default.clone()).unwrap_or_else(|| self.type_sample(&f.ty));
            out.insert(f.name.clone(), wrap_credential(&f.ty, v));
        }
        Value::Object(out)
    }

    fn type_sample(&self, ty: &Ty) -> Value {
        match ty {
            Ty::String | Ty::Password | Ty::Bytes | Ty::Date => json!(""),
            Ty::Integer | Ty::Number => json!(0),
            Ty::Boolean => json!(false),
            Ty::Array(_) => json!([]),
            Ty::Object => json!({}),
            Ty::File => json!({"filename": "", "content": ""}),
            Ty::CredentialSecretKey => json!({"secretKey": ""}),
            Ty::CredentialUsernamePassword => json!({"username": "", "password": ""}),
            Ty::CredentialToken => json!({"token": "", "domain": ""}),
            Ty::Custom(name) => match self.types.get(name) {
                Some(s) => self.sample(s),
                None => json!({}),
            },
        }
    }
}

/// A credential field whose example is written as a plain string gets the object shape the
/// orchestrator sends.
fn wrap_credential(ty: &Ty, v: Value) -> Value {
    match (ty, v) {
        (Ty::CredentialSecretKey, Value::String(s)) => json!({"secretKey": s}),
        (Ty::CredentialToken, Value::String(s)) => json!({"token": s}),
        (_, v) => v,
    }
}

fn list_values(allowed: &[Value]) -> String {
    allowed.iter().map(Value::to_string).collect::<Vec<_>>().join(", ")
}

/// A position inside a validated value, rendered into a dotted path only when an error needs it.
enum Seg<'a> {
    Root,
    Path(&'a str),
    Key(&'a Seg<'a>, &'a str),
    Index(&'a Seg<'a>, usize),
}

impl Seg<'_> {
    fn render(&self) -> String {
        match self {
            Seg::Root => String::new(),
            Seg::Path(p) => p.to_string(),
            Seg::Key(parent, k) => join(&parent.render(), k),
            Seg::Index(parent, i) => format!("{}[{i}]", parent.render()),
        }
    }
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() { name.to_string() } else { format!("{prefix}.{name}") }
}

fn find_null(v: &Value, path: &str) -> Option<String> {
    match v {
        Value::Null => Some(path.to_string()),
        Value::Object(m) => m.iter().find_map(|(k, v)| find_null(v, &join(path, k))),
        Value::Array(a) => a.iter().enumerate().find_map(|(i, v)| find_null(v, &format!("{path}[{i}]"))),
        _ => None,
    }
}

/// An input string that matches an enum value but for letter case becomes that value
/// (`informational` → `Informational`).
fn normalise_enum(field: &Field, v: &mut Value) {
    if let (Some(allowed), Value::String(given)) = (&field.enum_values, &*v) {
        if !allowed.contains(v) {
            if let Some(canonical) = allowed.iter().find(|a| a.as_str().is_some_and(|a| a.eq_ignore_ascii_case(given))) {
                *v = canonical.clone();
            }
        }
    }
}

fn check_enum(field: &Field, v: &Value, path: &str, section: Section) -> Result<(), ValidationError> {
    if let Some(allowed) = &field.enum_values {
        if !allowed.contains(v) {
            return Err(ValidationError {
                section,
                path: path.to_string(),
                problem: format!("must be one of {}, got {}", list_values(allowed), describe_value(v)),
            });
        }
    }
    Ok(())
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
