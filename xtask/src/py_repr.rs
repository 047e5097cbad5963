//! Python's `str()` and `repr()` of a value as PyYAML loads it: Rapid7's validators rebuild
//! help.md's tables with them, so the generated tables must print values the same way.

use serde_yaml::Value as Yaml;

/// Python's `str()`: a string as it is, anything else as `repr()`.
pub fn py_str(v: &Yaml) -> String {
    match v {
        Yaml::String(s) => s.clone(),
        Yaml::Tagged(t) => py_str(&t.value),
        other => py_repr(other),
    }
}

/// Python's `repr()` of the value PyYAML loads: `None`, `True`, `'text'`, `[1, 2]`, `{'k': 1}`.
pub fn py_repr(v: &Yaml) -> String {
    match v {
        Yaml::Null => "None".into(),
        Yaml::Bool(true) => "True".into(),
        Yaml::Bool(false) => "False".into(),
        Yaml::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.to_string()
            } else if let Some(u) = n.as_u64() {
                u.to_string()
            } else {
                py_float(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Yaml::String(s) => py_quote(s),
        Yaml::Sequence(items) => format!("[{}]", items.iter().map(py_repr).collect::<Vec<_>>().join(", ")),
        Yaml::Mapping(m) => {
            format!("{{{}}}", m.iter().map(|(k, v)| format!("{}: {}", py_repr(k), py_repr(v))).collect::<Vec<_>>().join(", "))
        }
        Yaml::Tagged(t) => py_repr(&t.value),
    }
}

/// Python's `repr()` of a float, for ordinary magnitudes (`1.0`, `0.25`).
fn py_float(f: f64) -> String {
    if f.is_nan() {
        "nan".into()
    } else if f.is_infinite() {
        if f > 0.0 { "inf".into() } else { "-inf".into() }
    } else if f.fract() == 0.0 && f.abs() < 1e16 {
        format!("{f:.1}")
    } else {
        format!("{f}")
    }
}

/// Python's `repr()` of a string: single quotes unless the text holds a single quote and no
/// double quote; backslashes, the quote and control characters escaped.
fn py_quote(s: &str) -> String {
    let q = if s.contains('\'') && !s.contains('"') { '"' } else { '\'' };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(q);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == q => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || (0x7f..0xa0).contains(&(c as u32)) => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push(q);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(s: &str) -> Yaml {
        serde_yaml::from_str(s).unwrap()
    }

    #[test]
    fn python_reprs() {
        assert_eq!(py_quote("plain"), "'plain'");
        assert_eq!(py_quote("it's"), "\"it's\"");
        assert_eq!(py_quote("both ' and \""), "'both \\' and \"'");
        assert_eq!(py_quote("a\\b\tc"), "'a\\\\b\\tc'");
        assert_eq!(py_float(1.0), "1.0");
        assert_eq!(py_float(0.25), "0.25");
        assert_eq!(py_repr(&yaml("[1, 2.5, null, {a: [true]}]")), "[1, 2.5, None, {'a': [True]}]");
    }
}
