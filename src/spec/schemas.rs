//! Documents derived from the spec: JSON Schemas in the Python SDK's layout, and samples.

use serde_json::{Map, Value, json};

use super::*;

impl Spec {
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
