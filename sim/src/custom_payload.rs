//! Halo's custom webhook payloads [W13]: a JSON template whose `<<ticket>>` is the whole ticket
//! and `<<ticket^a^b>>` one of its fields (`<<ticket^status^id>>` in ILERT's guide); any other
//! variable is left as written. Where a variable stands inside a JSON string its text goes in
//! raw, elsewhere as JSON: how Halo itself quotes is not public, so the template decides.

use serde_json::Value;

/// Fill a template for one ticket; the result must be JSON.
pub fn render(template: &str, ticket: &Value) -> Result<Value, String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("<<") {
        out.push_str(&rest[..start]);
        let Some(len) = rest[start..].find(">>") else {
            out.push_str(&rest[start..]);
            rest = "";
            break;
        };
        let var = &rest[start + 2..start + len];
        let in_string = out.matches('"').count() % 2 == 1;
        match lookup(var, ticket) {
            Some(Value::String(s)) if in_string => out.push_str(&json_escape(&s)),
            Some(v) if in_string => out.push_str(&json_escape(&v.to_string())),
            Some(v) => out.push_str(&v.to_string()),
            None => out.push_str(&rest[start..start + len + 2]),
        }
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    serde_json::from_str(&out).map_err(|e| format!("the custom payload is not JSON once filled in: {e}"))
}

fn lookup(var: &str, ticket: &Value) -> Option<Value> {
    let mut parts = var.split('^');
    if parts.next()? != "ticket" {
        return None;
    }
    let mut at = ticket;
    for p in parts {
        at = at.get(p)?;
    }
    Some(at.clone())
}

fn json_escape(s: &str) -> String {
    let quoted = Value::String(s.to_string()).to_string();
    quoted[1..quoted.len() - 1].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn variables_fill_as_json_or_as_text() {
        let t = json!({"id": 42, "summary": "Say \"hi\"", "status": {"id": 2}});
        assert_eq!(render(r#"{"ticket": <<ticket>>}"#, &t).unwrap(), json!({"ticket": t}));
        assert_eq!(
            render(r#"{"id": <<ticket^id>>, "text": "<<ticket^summary>> (<<ticket^status^id>>)", "x": "<<other>>"}"#, &t).unwrap(),
            json!({"id": 42, "text": "Say \"hi\" (2)", "x": "<<other>>"})
        );
        assert!(render(r#"{"id": <<nope>>}"#, &t).is_err());
    }
}
