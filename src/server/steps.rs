//! Running steps over HTTP: the body is read (size limit, memory budget, read timeout), the
//! start message checked against the route, and only then does the step take a running slot
//! (or wait for one, or is refused). The step runs in its own task: it completes, and its writes
//! land, even if the caller hangs up.

use std::sync::Arc;

use axum::Extension;
use axum::extract::rejection::PathRejection;
use axum::extract::{OriginalUri, Path, Request, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::Response;
use axum::routing::{MethodRouter, post};
use serde_json::{Value, json};

use super::answers::{capacity_refusal, path_param, shutdown_refusal};
use super::limits::StepLimiter;
use super::{AppState, ServerOptions, St, WorkGuard};
use crate::front_door::answers::{http_error, json_response};
use crate::front_door::body::{self, BodyRules};
use crate::memory::BodyBudget;
use crate::plugin::Mode;
use crate::spec::StepKind;

/// Everything that admits a step: its body's rules and budget, and the running slots.
pub struct StepGate {
    pub steps: StepLimiter,
    pub bodies: BodyBudget,
    pub rules: BodyRules,
}

impl StepGate {
    pub fn new(opts: &ServerOptions) -> Self {
        StepGate {
            steps: StepLimiter::new(opts),
            // A budget smaller than one body would refuse the largest body accepted, forever.
            bodies: BodyBudget::new(opts.max_body_bytes_in_flight.max(opts.body_limit)),
            rules: BodyRules { limit: opts.body_limit, timeout: opts.body_read_timeout },
        }
    }
}

/// The answer when the body names another step than the route.
fn route_mismatch(msg: &Value, kind: StepKind, name: &str, uri: &Uri, method: &Method) -> Option<Response> {
    let key = kind.as_str();
    let in_body = msg.get("body").and_then(|b| b.get(key));
    if in_body.and_then(Value::as_str) == Some(name) {
        return None;
    }
    let shown = match in_body {
        None | Some(Value::Null) => "None".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    let mut k = key.to_string();
    k[..1].make_ascii_uppercase();
    Some(http_error(
        StatusCode::BAD_REQUEST,
        format!("{k} name ({shown}) in input body is not matching with name ({name}) in route"),
        uri,
        method,
    ))
}

/// Run a step. `route` is the step kind and name the route names, which the body must match.
async fn execute(
    state: Arc<AppState>,
    gate: &StepGate,
    route: Option<(StepKind, &str)>,
    mode: Mode,
    req: Request,
    uri: Uri,
    method: Method,
) -> Response {
    if state.shutdown_initiated() {
        return shutdown_refusal();
    }
    let (bytes, room) = match body::read(req, &gate.rules, &gate.bodies, &uri, &method).await {
        Ok(read) => read,
        Err(resp) => return *resp,
    };
    // Parsed by value, and the raw bytes let go at once: the body is held once, not twice.
    let msg = match body::parse(bytes, &uri, &method) {
        Ok(m) => m,
        Err(resp) => return *resp,
    };
    if let Some(resp) = route.and_then(|(kind, name)| route_mismatch(&msg, kind, name, &uri, &method)) {
        return resp;
    }
    let Some(slot) = gate.steps.admit(&state).await else {
        return capacity_refusal(&gate.steps, &uri, &method);
    };
    // Counted as in flight before the shutdown check, so `shutdown_safe` never races a new step.
    let work = WorkGuard::new(&state);
    if state.shutdown_initiated() {
        return shutdown_refusal();
    }
    let plugin = state.plugin.clone();
    let task = tokio::spawn(async move {
        // All live as long as the step, not as long as the caller's connection.
        let (_work, _slot, _room) = (work, slot, room);
        plugin.handle(msg, mode).await
    });
    match task.await {
        Ok(outcome) => {
            let status = outcome.status;
            json_response(status, &outcome.message)
        }
        Err(e) => json_response(StatusCode::INTERNAL_SERVER_ERROR, &json!({"error": format!("The step stopped unexpectedly: {e}")})),
    }
}

/// The POST route of a step kind in a mode (`/actions/{name}`, `/actions/{name}/test`, ...).
pub fn step_route(kind: StepKind, mode: Mode) -> MethodRouter<Arc<AppState>> {
    post(
        move |State(s): St,
              Extension(gate): Extension<Arc<StepGate>>,
              name: Result<Path<String>, PathRejection>,
              OriginalUri(uri): OriginalUri,
              method: Method,
              req: Request| async move {
            match path_param(name, &uri, &method) {
                Ok(name) => execute(s, &gate, Some((kind, &name)), mode, req, uri, method).await,
                Err(resp) => *resp,
            }
        },
    )
}

pub async fn connection_test(
    State(s): St,
    Extension(gate): Extension<Arc<StepGate>>,
    kind: Result<Path<String>, PathRejection>,
    OriginalUri(uri): OriginalUri,
    method: Method,
    req: Request,
) -> Response {
    let kind = match path_param(kind, &uri, &method) {
        Ok(k) => k,
        Err(resp) => return *resp,
    };
    if kind != "test" && kind != "test_task" {
        return json_response(
            StatusCode::NOT_FOUND,
            &json!({"error": "The requested endpoint is not available, only ['test', 'test_task'] are supported.", "code": 404, "method": "POST", "name": "Not Found"}),
        );
    }
    execute(s, &gate, None, Mode::Test, req, uri, method).await
}
