//! http mode: the REST API the orchestrator drives (legacy paths at `/` and the same under
//! `/api/v1`), with JSON errors everywhere, a body limit, a limit on concurrent steps with a
//! bounded wait queue, and graceful shutdown.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRequest, OriginalUri, Path, Query, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use axum::{Extension, Router};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use crate::plugin::{Mode, Plugin};
use crate::spec::StepKind;

/// Largest request body accepted (attachments arrive base64-encoded inside the input).
pub const DEFAULT_BODY_LIMIT: usize = 48 * 1024 * 1024;

/// Steps (actions, tasks, connection tests) that run at once by default.
pub const DEFAULT_MAX_CONCURRENT_STEPS: usize = 256;

/// Steps that may wait for a free slot by default; beyond these a step is refused with 503.
pub const DEFAULT_MAX_QUEUED_STEPS: usize = 1024;

/// Seconds a step refused for capacity is told to wait before retrying (`Retry-After`).
pub const CAPACITY_RETRY_AFTER_SECS: u64 = 1;

/// Server settings that are deployment concerns, not user configuration.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub body_limit: usize,
    /// How long in-flight steps may take to finish after a shutdown signal.
    pub graceful_timeout: Duration,
    /// Most steps running at once (at least 1). Routes that only describe the plugin or report
    /// its status are never limited.
    pub max_concurrent_steps: usize,
    /// Most steps waiting, first come first served, for a running slot (0: none wait). A step
    /// that finds both full is refused at once with 503 and `Retry-After`.
    pub max_queued_steps: usize,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            body_limit: DEFAULT_BODY_LIMIT,
            graceful_timeout: Duration::from_secs(30),
            max_concurrent_steps: DEFAULT_MAX_CONCURRENT_STEPS,
            max_queued_steps: DEFAULT_MAX_QUEUED_STEPS,
        }
    }
}

/// Admission of steps: at most `max_running` run at once, at most `max_queued` more wait for a
/// slot (the semaphore hands slots out in arrival order), and any beyond both are refused.
/// Without it a burst of requests would start a HaloITSM call each, exhausting memory,
/// sockets and HaloITSM's rate limit together.
struct StepLimiter {
    running: Arc<Semaphore>,
    queue: Arc<Semaphore>,
    max_running: usize,
    max_queued: usize,
    refused: AtomicU64,
}

impl StepLimiter {
    fn new(opts: &ServerOptions) -> Self {
        let max_running = opts.max_concurrent_steps.clamp(1, Semaphore::MAX_PERMITS);
        let max_queued = opts.max_queued_steps.min(Semaphore::MAX_PERMITS);
        StepLimiter {
            running: Arc::new(Semaphore::new(max_running)),
            queue: Arc::new(Semaphore::new(max_queued)),
            max_running,
            max_queued,
            refused: AtomicU64::new(0),
        }
    }

    /// A running slot, after waiting in the queue if every slot is taken; None when the queue is
    /// full too. The slot is held until the step's task ends.
    async fn admit(&self, state: &AppState) -> Option<OwnedSemaphorePermit> {
        if let Ok(slot) = self.running.clone().try_acquire_owned() {
            return Some(slot);
        }
        let Ok(_place) = self.queue.clone().try_acquire_owned() else {
            let n = self.refused.fetch_add(1, Ordering::Relaxed) + 1;
            // Logged at 1, 2, 4, 8, ... refusals: a burst is visible without flooding the log.
            if n.is_power_of_two() {
                tracing::warn!(
                    "At capacity ({} steps running, {} waiting): refused a step; {n} refused since the server started",
                    self.max_running,
                    self.max_queued
                );
            }
            return None;
        };
        let _waiting = Gauge::new(&state.queued);
        // The semaphore is never closed, so this only waits.
        self.running.clone().acquire_owned().await.ok()
    }
}

/// Counts one while it lives (also when the future holding it is dropped).
struct Gauge<'a>(&'a AtomicUsize);

impl<'a> Gauge<'a> {
    fn new(n: &'a AtomicUsize) -> Self {
        n.fetch_add(1, Ordering::SeqCst);
        Gauge(n)
    }
}

impl Drop for Gauge<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Shared state of the HTTP server.
pub struct AppState {
    pub plugin: Arc<Plugin>,
    shutting_down: AtomicBool,
    active: AtomicUsize,
    queued: AtomicUsize,
    idle: Notify,
}

impl AppState {
    pub fn new(plugin: Arc<Plugin>) -> Arc<Self> {
        Arc::new(AppState {
            plugin,
            shutting_down: AtomicBool::new(false),
            active: AtomicUsize::new(0),
            queued: AtomicUsize::new(0),
            idle: Notify::new(),
        })
    }

    /// Stop taking new steps; steps in flight finish.
    pub fn begin_shutdown(&self) {
        if !self.shutting_down.swap(true, Ordering::SeqCst) {
            tracing::info!("Shutdown requested: no new steps are accepted, {} in flight will finish", self.active_work());
        }
    }

    pub fn shutdown_initiated(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    /// Steps running (admitted and not yet finished).
    pub fn active_work(&self) -> usize {
        self.active.load(Ordering::SeqCst)
    }

    /// Steps waiting in the queue for a running slot.
    pub fn queued_work(&self) -> usize {
        self.queued.load(Ordering::SeqCst)
    }

    /// Resolves once no step is in flight.
    pub async fn wait_idle(&self) {
        loop {
            let notified = self.idle.notified();
            if self.active_work() == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// Counts a step as in flight for as long as it lives.
struct WorkGuard(Arc<AppState>);

impl WorkGuard {
    fn new(state: &Arc<AppState>) -> Self {
        state.active.fetch_add(1, Ordering::SeqCst);
        WorkGuard(state.clone())
    }
}

impl Drop for WorkGuard {
    fn drop(&mut self) {
        if self.0.active.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

type St = State<Arc<AppState>>;

/// The router: every route of PROTOCOL.md, legacy and `/api/v1`.
pub fn router(state: Arc<AppState>, opts: &ServerOptions) -> Router {
    let limiter = Arc::new(StepLimiter::new(opts));
    let steps = Router::new()
        .route("/actions/{name}", step_route(StepKind::Action, Mode::Run))
        .route("/actions/{name}/test", step_route(StepKind::Action, Mode::Test))
        .route("/triggers/{name}/test", step_route(StepKind::Trigger, Mode::Test))
        .route("/tasks/{name}", step_route(StepKind::Task, Mode::Run))
        .route("/tasks/{name}/test", step_route(StepKind::Task, Mode::Test));
    let v1 = Router::new()
        .route("/info", get(info))
        .route("/actions", get(list_actions))
        .route("/actions/{name}", step_route(StepKind::Action, Mode::Run).get(action_details))
        .route("/triggers", get(list_triggers))
        .route("/triggers/{name}", get(trigger_details))
        .route("/tasks", get(list_tasks))
        .route("/tasks/{name}", step_route(StepKind::Task, Mode::Run).get(task_details))
        .route("/definitions/actions", get(action_definitions))
        .route("/spec", get(plugin_spec))
        .route("/api", get(api_description))
        .route("/status", get(|| async { axum::Json(json!({"status": "Ready"})) }))
        .route("/connection", get(connection_schema))
        .route("/connection/{kind}", post(connection_test))
        .route("/workers", get(|| async { axum::Json(json!({"num_workers": 1})) }))
        .route("/admin/shutdown", post(admin_shutdown))
        .route("/admin/status", get(admin_status))
        .route("/actions/{name}/test", step_route(StepKind::Action, Mode::Test))
        .route("/triggers/{name}/test", step_route(StepKind::Trigger, Mode::Test))
        .route("/tasks/{name}/test", step_route(StepKind::Task, Mode::Test));
    steps
        .nest("/api/v1", v1)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(opts.body_limit))
        .layer(Extension(limiter))
        .with_state(state)
}

/// Serve until `shutdown` resolves (or SIGTERM/SIGINT when `handle_signals`), then finish the
/// steps in flight for at most `graceful_timeout`.
pub async fn serve(
    state: Arc<AppState>,
    listener: TcpListener,
    opts: ServerOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state.clone(), &opts);
    let stopping = Arc::new(Notify::new());
    let signal = {
        let state = state.clone();
        let stopping = stopping.clone();
        async move {
            shutdown.await;
            state.begin_shutdown();
            stopping.notify_waiters();
            stopping.notify_one();
        }
    };
    let server = axum::serve(listener, app).with_graceful_shutdown(signal);
    let grace = async {
        stopping.notified().await;
        tokio::time::sleep(opts.graceful_timeout).await;
    };
    tokio::select! {
        r = server => r,
        _ = grace => {
            tracing::warn!("{} steps were still running after the graceful timeout; stopping anyway", state.active_work());
            Ok(())
        }
    }
}

/// Resolves on SIGTERM or SIGINT.
pub async fn termination_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

// ----- JSON answers ------------------------------------------------------------------------------

fn json_response(status: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut resp = (status, bytes).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

/// The runtime's error body for HTTP-level failures: `{code, description, name, url, method}`.
fn http_error(status: StatusCode, description: impl Into<String>, uri: &Uri, method: &Method) -> Response {
    json_response(
        status,
        &json!({
            "code": status.as_u16(),
            "description": description.into(),
            "name": status.canonical_reason().unwrap_or("Error"),
            "url": uri.to_string(),
            "method": method.as_str(),
        }),
    )
}

async fn not_found(OriginalUri(uri): OriginalUri, method: Method) -> Response {
    http_error(
        StatusCode::NOT_FOUND,
        "The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.",
        &uri,
        &method,
    )
}

async fn method_not_allowed(OriginalUri(uri): OriginalUri, method: Method) -> Response {
    http_error(StatusCode::METHOD_NOT_ALLOWED, format!("The method {method} is not allowed for the requested URL."), &uri, &method)
}

// ----- running steps -----------------------------------------------------------------------------

/// Read a start message from a request body, answering malformed and oversized bodies.
fn parse_body(body: Result<Bytes, BytesRejection>, uri: &Uri, method: &Method) -> Result<Value, Box<Response>> {
    let bytes = match body {
        Ok(b) => b,
        Err(rejection) => {
            let status = rejection.status();
            let description = if status == StatusCode::PAYLOAD_TOO_LARGE {
                "The request body is larger than this plugin accepts.".to_string()
            } else {
                format!("The request body could not be read: {}", rejection.body_text())
            };
            return Err(Box::new(http_error(status, description, uri, method)));
        }
    };
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|e| Box::new(http_error(StatusCode::BAD_REQUEST, format!("The request body is not valid JSON: {e}."), uri, method)))?;
    let empty = match &value {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::String(s) => s.is_empty(),
        _ => false,
    };
    if empty {
        return Err(Box::new(json_response(StatusCode::BAD_REQUEST, &json!({"error": "Empty input provided"}))));
    }
    Ok(value)
}

fn shutdown_refusal() -> Response {
    json_response(StatusCode::SERVICE_UNAVAILABLE, &json!({"error": "Shutdown in progress. No new work can be accepted."}))
}

fn capacity_refusal(limiter: &StepLimiter, uri: &Uri, method: &Method) -> Response {
    let mut resp = http_error(
        StatusCode::SERVICE_UNAVAILABLE,
        format!(
            "The plugin is at capacity (steps running: {}, steps waiting: {}; the most it accepts). Nothing was done; retry the step after the Retry-After delay ({} s).",
            limiter.max_running, limiter.max_queued, CAPACITY_RETRY_AFTER_SECS
        ),
        uri,
        method,
    );
    resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(CAPACITY_RETRY_AFTER_SECS));
    resp
}

/// A path parameter, or the JSON answer to a malformed one.
fn path_param(p: Result<Path<String>, PathRejection>, uri: &Uri, method: &Method) -> Result<String, Box<Response>> {
    p.map(|Path(name)| name).map_err(|e| Box::new(http_error(e.status(), e.body_text(), uri, method)))
}

/// Run a step in its own task: it completes (and its writes land) even if the caller hangs up.
/// `route` is the step kind and name the route names, which the body must match. The step waits
/// for a running slot (or is refused) before its body is read.
async fn execute(
    state: Arc<AppState>,
    limiter: &StepLimiter,
    route: Option<(StepKind, &str)>,
    mode: Mode,
    req: Request,
    uri: Uri,
    method: Method,
) -> Response {
    if state.shutdown_initiated() {
        return shutdown_refusal();
    }
    let Some(slot) = limiter.admit(&state).await else {
        return capacity_refusal(limiter, &uri, &method);
    };
    // Counted as in flight before the shutdown check, so `shutdown_safe` never races a new step.
    let work = WorkGuard::new(&state);
    if state.shutdown_initiated() {
        return shutdown_refusal();
    }
    let body = Bytes::from_request(req, &state).await;
    let msg = match parse_body(body, &uri, &method) {
        Ok(m) => m,
        Err(resp) => return *resp,
    };
    if let Some((kind, name)) = route {
        let key = kind.as_str();
        let in_body = msg.get("body").and_then(|b| b.get(key));
        if in_body.and_then(Value::as_str) != Some(name) {
            let shown = match in_body {
                None | Some(Value::Null) => "None".to_string(),
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
            };
            let mut k = key.to_string();
            k[..1].make_ascii_uppercase();
            return http_error(
                StatusCode::BAD_REQUEST,
                format!("{k} name ({shown}) in input body is not matching with name ({name}) in route"),
                &uri,
                &method,
            );
        }
    }
    let plugin = state.plugin.clone();
    let task = tokio::spawn(async move {
        // Both live as long as the step, not as long as the caller's connection.
        let _work = work;
        let _slot = slot;
        plugin.handle(msg, mode).await
    });
    match task.await {
        Ok(outcome) => {
            let status = StatusCode::from_u16(outcome.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            json_response(status, &outcome.message)
        }
        Err(e) => json_response(StatusCode::INTERNAL_SERVER_ERROR, &json!({"error": format!("The step stopped unexpectedly: {e}")})),
    }
}

#[allow(clippy::too_many_arguments)]
async fn run_step(
    state: Arc<AppState>,
    limiter: &StepLimiter,
    kind: StepKind,
    name: Result<Path<String>, PathRejection>,
    mode: Mode,
    req: Request,
    uri: Uri,
    method: Method,
) -> Response {
    match path_param(name, &uri, &method) {
        Ok(name) => execute(state, limiter, Some((kind, &name)), mode, req, uri, method).await,
        Err(resp) => *resp,
    }
}

/// The POST route of a step kind in a mode (`/actions/{name}`, `/actions/{name}/test`, ...).
fn step_route(kind: StepKind, mode: Mode) -> MethodRouter<Arc<AppState>> {
    post(
        move |State(s): St,
              Extension(limiter): Extension<Arc<StepLimiter>>,
              name: Result<Path<String>, PathRejection>,
              OriginalUri(uri): OriginalUri,
              method: Method,
              req: Request| async move { run_step(s, &limiter, kind, name, mode, req, uri, method).await },
    )
}

async fn connection_test(
    State(s): St,
    Extension(limiter): Extension<Arc<StepLimiter>>,
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
    execute(s, &limiter, None, Mode::Test, req, uri, method).await
}

// ----- describing the plugin ---------------------------------------------------------------------

async fn info(State(s): St) -> Response {
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

async fn list_actions(State(s): St) -> Response {
    names(StepKind::Action, &s)
}
async fn list_triggers(State(s): St) -> Response {
    names(StepKind::Trigger, &s)
}
async fn list_tasks(State(s): St) -> Response {
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

async fn action_details(
    State(s): St,
    name: Result<Path<String>, PathRejection>,
    OriginalUri(uri): OriginalUri,
    method: Method,
) -> Response {
    match path_param(name, &uri, &method) {
        Ok(name) => details(StepKind::Action, &name, &s),
        Err(resp) => *resp,
    }
}
async fn trigger_details(
    State(s): St,
    name: Result<Path<String>, PathRejection>,
    OriginalUri(uri): OriginalUri,
    method: Method,
) -> Response {
    match path_param(name, &uri, &method) {
        Ok(name) => details(StepKind::Trigger, &name, &s),
        Err(resp) => *resp,
    }
}
async fn task_details(State(s): St, name: Result<Path<String>, PathRejection>, OriginalUri(uri): OriginalUri, method: Method) -> Response {
    match path_param(name, &uri, &method) {
        Ok(name) => details(StepKind::Task, &name, &s),
        Err(resp) => *resp,
    }
}

async fn action_definitions(State(s): St) -> Response {
    let spec = s.plugin.spec();
    let defs: Vec<Value> =
        spec.actions.values().map(|a| json!({"identifier": a.name, "inputJsonSchema": spec.json_schema(&a.input, "Input")})).collect();
    json_response(StatusCode::OK, &json!({"actionsDefinitions": defs}))
}

#[derive(serde::Deserialize)]
struct FormatQuery {
    format: Option<String>,
}

fn unsupported_format() -> Response {
    json_response(StatusCode::UNPROCESSABLE_ENTITY, &json!({"error": "The specified format is not supported"}))
}

/// The `format` query parameter, or the JSON answer to a malformed query.
fn format_param(q: Result<Query<FormatQuery>, QueryRejection>, uri: &Uri, method: &Method) -> Result<Option<String>, Box<Response>> {
    q.map(|Query(q)| q.format).map_err(|e| Box::new(http_error(e.status(), e.body_text(), uri, method)))
}

async fn plugin_spec(
    State(s): St,
    q: Result<Query<FormatQuery>, QueryRejection>,
    OriginalUri(uri): OriginalUri,
    method: Method,
) -> Response {
    let format = match format_param(q, &uri, &method) {
        Ok(f) => f,
        Err(resp) => return *resp,
    };
    match format.as_deref().unwrap_or("json") {
        "json" => json_response(StatusCode::OK, &s.plugin.spec().doc),
        "yaml" => ([(header::CONTENT_TYPE, "application/yaml")], s.plugin.spec().yaml).into_response(),
        _ => unsupported_format(),
    }
}

async fn api_description(
    State(s): St,
    q: Result<Query<FormatQuery>, QueryRejection>,
    OriginalUri(uri): OriginalUri,
    method: Method,
) -> Response {
    let format = match format_param(q, &uri, &method) {
        Ok(f) => f,
        Err(resp) => return *resp,
    };
    let doc = openapi(&s);
    match format.as_deref().unwrap_or("json") {
        "json" => json_response(StatusCode::OK, &doc),
        "yaml" => match serde_yaml::to_string(&doc) {
            Ok(y) => ([(header::CONTENT_TYPE, "application/yaml")], y).into_response(),
            Err(e) => json_response(StatusCode::INTERNAL_SERVER_ERROR, &json!({"error": e.to_string()})),
        },
        _ => unsupported_format(),
    }
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

async fn connection_schema(State(s): St) -> Response {
    let spec = s.plugin.spec();
    json_response(StatusCode::OK, &spec.json_schema(&spec.connection, "Connection"))
}

async fn admin_shutdown(State(s): St) -> Response {
    s.begin_shutdown();
    json_response(StatusCode::OK, &json!({"message": "Shutdown request accepted."}))
}

async fn admin_status(State(s): St) -> Response {
    let initiated = s.shutdown_initiated();
    let active = s.active_work();
    json_response(
        StatusCode::OK,
        &json!({"shutdown_initiated": initiated, "shutdown_safe": initiated && active == 0, "active_work": active}),
    )
}
