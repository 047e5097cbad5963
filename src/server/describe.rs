//! The routes that describe the plugin (info, steps, spec, API, connection schema) and the
//! admin routes. None of them is a step: they are never limited.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use serde_json::{Value, json};
use std::sync::Arc;

use super::answers::path_param;
use super::{AppState, St};
use crate::front_door::answers::{http_error, json_response};
use crate::spec::StepKind;

pub async fn info(State(s): St) -> Response {
    let doc = &s.plugin.spec().doc;
    let field = |k: &str| doc.get(k).cloned().unwrap_or(Value::Null);
    let threads = tokio::runtime::Handle::current().metrics().num_workers();
    json_response(
        StatusCode::OK,
        &json!({
            "name": field("name"), "description": field("description"), "version": field("version"),
            "vendor": field("vendor"), "plugin_spec_version": field("plugin_spec_version"), "title": field("title"),
            "support": field("support"), "tags": field("tags"), "enable_cache": field("enable_cache"),
            "number_of_workers": 1, "threads": threads,
            "sdk_version": doc.pointer("/sdk/version").cloned().unwrap_or_else(|| json!(env!("CARGO_PKG_VERSION"))),
        }),
    )
}

fn names(kind: StepKind, s: &AppState) -> Response {
    let spec = s.plugin.spec();
    let list: Vec<&String> = match kind {
        StepKind::Action => spec.actions.keys().collect(),
        StepKind::Trigger => spec.triggers.keys().collect(),
        StepKind::Task => spec.tasks.keys().collect(),
    };
    json_response(StatusCode::OK, &json!(list))
}

pub async fn list_actions(State(s): St) -> Response {
    names(StepKind::Action, &s)
}
pub async fn list_triggers(State(s): St) -> Response {
    names(StepKind::Trigger, &s)
}
pub async fn list_tasks(State(s): St) -> Response {
    names(StepKind::Task, &s)
}

fn details(kind: StepKind, name: &str, s: &AppState) -> Response {
    match s.plugin.spec().step(kind, name) {
        None => {
            let mut k = kind.as_str().to_string();
            k[..1].make_ascii_uppercase();
            json_response(StatusCode::BAD_REQUEST, &json!({"error": format!("{k} {name} does not exist")}))
        }
        Some(step) => {
            let mut out = serde_json::Map::new();
            for key in ["description", "title", "input", "output", "schedule", "state"] {
                if let Some(v) = step.raw.get(key) {
                    out.insert(key.into(), v.clone());
                }
            }
            json_response(StatusCode::OK, &Value::Object(out))
        }
    }
}

/// The GET handler describing one step of `kind` (`/actions/{name}`, `/triggers/{name}`, ...).
pub fn details_of(kind: StepKind) -> MethodRouter<Arc<AppState>> {
    get(move |State(s): St, name: Result<Path<String>, PathRejection>, OriginalUri(uri): OriginalUri, method: Method| async move {
        match path_param(name, &uri, &method) {
            Ok(name) => details(kind, &name, &s),
            Err(resp) => *resp,
        }
    })
}

pub async fn action_definitions(State(s): St) -> Response {
    let spec = s.plugin.spec();
    let defs: Vec<Value> =
        spec.actions.values().map(|a| json!({"identifier": a.name, "inputJsonSchema": spec.json_schema(&a.input, "Input")})).collect();
    json_response(StatusCode::OK, &json!({"actionsDefinitions": defs}))
}

#[derive(serde::Deserialize)]
pub struct FormatQuery {
    format: Option<String>,
}

fn unsupported_format() -> Response {
    json_response(StatusCode::UNPROCESSABLE_ENTITY, &json!({"error": "The specified format is not supported"}))
}

/// The `format` query parameter, or the JSON answer to a malformed query.
fn format_param(q: Result<Query<FormatQuery>, QueryRejection>, uri: &Uri, method: &Method) -> Result<Option<String>, Box<Response>> {
    q.map(|Query(q)| q.format).map_err(|e| Box::new(http_error(e.status(), e.body_text(), uri, method)))
}

/// `doc` in the format the query asks for: JSON by default, or YAML (`yaml` when that text is
/// at hand, else made from `doc`).
fn in_format(q: Result<Query<FormatQuery>, QueryRejection>, uri: &Uri, method: &Method, doc: &Value, yaml: Option<&str>) -> Response {
    let format = match format_param(q, uri, method) {
        Ok(f) => f,
        Err(resp) => return *resp,
    };
    match format.as_deref().unwrap_or("json") {
        "json" => json_response(StatusCode::OK, doc),
        "yaml" => match yaml.map(str::to_string).map_or_else(|| serde_yaml::to_string(doc), Ok) {
            Ok(y) => ([(header::CONTENT_TYPE, "application/yaml")], y).into_response(),
            Err(e) => json_response(StatusCode::INTERNAL_SERVER_ERROR, &json!({"error": e.to_string()})),
        },
        _ => unsupported_format(),
    }
}

pub async fn plugin_spec(
    State(s): St,
    q: Result<Query<FormatQuery>, QueryRejection>,
    OriginalUri(uri): OriginalUri,
    method: Method,
) -> Response {
    let spec = s.plugin.spec();
    in_format(q, &uri, &method, &spec.doc, Some(spec.yaml))
}

pub async fn api_description(
    State(s): St,
    q: Result<Query<FormatQuery>, QueryRejection>,
    OriginalUri(uri): OriginalUri,
    method: Method,
) -> Response {
    in_format(q, &uri, &method, &openapi(&s), None)
}

/// An OpenAPI description of this REST API.
fn openapi(s: &AppState) -> Value {
    let spec = s.plugin.spec();
    let step_post = |summary: &str| {
        json!({"post": {"summary": summary, "parameters": [{"in": "path", "name": "name", "required": true, "schema": {"type": "string"}}],
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object"}}}},
            "responses": {"200": {"description": "Output message"}, "400": {"description": "Bad request"}, "500": {"description": "Plugin or upstream error"}, "503": {"description": "Shutting down, or at capacity (retry after the Retry-After header's seconds)"}}}})
    };
    let simple_get = |summary: &str| json!({"get": {"summary": summary, "responses": {"200": {"description": "OK"}}}});
    json!({
        "openapi": "3.0.3",
        "info": {"title": "InsightConnect Plugin Runtime API", "version": spec.version, "description": format!("REST API of the {} plugin", spec.title)},
        "paths": {
            "/api/v1/actions/{name}": step_post("Run an action"),
            "/api/v1/actions/{name}/test": step_post("Run the connection test in the context of an action"),
            "/api/v1/triggers/{name}/test": step_post("Run the connection test in the context of a trigger"),
            "/api/v1/tasks/{name}": step_post("Run a task"),
            "/api/v1/tasks/{name}/test": step_post("Run the connection test in the context of a task"),
            "/api/v1/connection/{kind}": step_post("Run the connection test (kind: test or test_task)"),
            "/api/v1/info": simple_get("Plugin information"),
            "/api/v1/actions": simple_get("Action names"),
            "/api/v1/triggers": simple_get("Trigger names"),
            "/api/v1/tasks": simple_get("Task names"),
            "/api/v1/definitions/actions": simple_get("Actions with their input JSON Schemas"),
            "/api/v1/spec": simple_get("The plugin spec (format=json|yaml)"),
            "/api/v1/api": simple_get("This API description (format=json|yaml)"),
            "/api/v1/status": simple_get("Readiness"),
            "/api/v1/connection": simple_get("The connection schema"),
            "/api/v1/admin/shutdown": {"post": {"summary": "Stop taking new work; in-flight steps finish", "responses": {"200": {"description": "Accepted"}}}},
            "/api/v1/admin/status": simple_get("Shutdown status and in-flight work"),
        }
    })
}

pub async fn connection_schema(State(s): St) -> Response {
    let spec = s.plugin.spec();
    json_response(StatusCode::OK, &spec.json_schema(&spec.connection, "Connection"))
}

pub async fn admin_shutdown(State(s): St) -> Response {
    s.begin_shutdown();
    json_response(StatusCode::OK, &json!({"message": "Shutdown request accepted."}))
}

pub async fn admin_status(State(s): St) -> Response {
    let initiated = s.shutdown_initiated();
    let active = s.active_work();
    json_response(
        StatusCode::OK,
        &json!({"shutdown_initiated": initiated, "shutdown_safe": initiated && active == 0, "active_work": active}),
    )
}
