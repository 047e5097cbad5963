//! Checking inputs and outputs against the spec: defaults applied, blanks dropped, every
//! error naming the field and what was expected.

use serde_json::{Map, Value};

use super::*;

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
                // Paths are only rendered for an output that has a null to report.
                if let Some(p) = has_null(v).then(|| find_null(v, &at.render())).flatten() {
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

fn has_null(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.values().any(has_null),
        Value::Array(a) => a.iter().any(has_null),
        _ => false,
    }
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
