//! http mode: the REST API the orchestrator drives (legacy paths at `/` and the same under
//! `/api/v1`), with JSON answers everywhere, and limits that keep one client from locking the
//! others out: header and body read timeouts, a body size limit, a memory budget for bodies, a
//! limit on running steps with a bounded wait queue; and graceful shutdown.
//!
//! Connections come in through `front_door` (as a trigger's webhook listener does); `steps` reads
//! a step's body and runs it, `describe` answers the routes that describe the plugin.

mod answers;
mod describe;
mod limits;
mod steps;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, State};
use axum::routing::{get, post};
use axum::{Extension, Router};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::Notify;

pub use crate::front_door::termination_signal;

use crate::plugin::{Mode, Plugin};
use crate::spec::StepKind;
use steps::{StepGate, step_route};

/// Largest request body accepted (attachments arrive base64-encoded inside the input).
pub const DEFAULT_BODY_LIMIT: usize = 48 * 1024 * 1024;

/// Bytes of request bodies held in memory at once by default: four of the largest.
pub const DEFAULT_MAX_BODY_BYTES_IN_FLIGHT: usize = 4 * DEFAULT_BODY_LIMIT;

/// Steps (actions, tasks, connection tests) that run at once by default.
pub const DEFAULT_MAX_CONCURRENT_STEPS: usize = 256;

/// Steps that may wait for a free slot by default; beyond these a step is refused with 503.
pub const DEFAULT_MAX_QUEUED_STEPS: usize = 1024;

/// Seconds a step refused for capacity is told to wait before retrying (`Retry-After`).
pub const CAPACITY_RETRY_AFTER_SECS: u64 = crate::front_door::RETRY_AFTER_SECS;

pub use crate::front_door::DEFAULT_HEADER_READ_TIMEOUT;

/// Longest a request's whole body may take to arrive by default.
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(60);

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
    /// Bytes of step bodies held at once (being read, waiting for a slot, or running); a body
    /// that does not fit is refused with 503 and `Retry-After`. Never less than `body_limit`.
    pub max_body_bytes_in_flight: usize,
    /// A client slower than this to send a request's headers is disconnected.
    pub header_read_timeout: Duration,
    /// A step whose body takes longer than this to arrive is answered 408.
    pub body_read_timeout: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            body_limit: DEFAULT_BODY_LIMIT,
            graceful_timeout: Duration::from_secs(30),
            max_concurrent_steps: DEFAULT_MAX_CONCURRENT_STEPS,
            max_queued_steps: DEFAULT_MAX_QUEUED_STEPS,
            max_body_bytes_in_flight: DEFAULT_MAX_BODY_BYTES_IN_FLIGHT,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
        }
    }
}

/// Shared state of the HTTP server.
pub struct AppState {
    pub plugin: Arc<Plugin>,
    shutting_down: AtomicBool,
    active: AtomicUsize,
    /// Steps waiting for a running slot (counted by the step limiter).
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
    use describe::*;
    let gate = Arc::new(StepGate::new(opts));
    let steps = Router::new()
        .route("/actions/{name}", step_route(StepKind::Action, Mode::Run))
        .route("/actions/{name}/test", step_route(StepKind::Action, Mode::Test))
        .route("/triggers/{name}/test", step_route(StepKind::Trigger, Mode::Test))
        .route("/tasks/{name}", step_route(StepKind::Task, Mode::Run))
        .route("/tasks/{name}/test", step_route(StepKind::Task, Mode::Test));
    let v1 = Router::new()
        .route("/info", get(info))
        .route("/actions", get(list_actions))
        .route("/actions/{name}", step_route(StepKind::Action, Mode::Run).merge(details_of(StepKind::Action)))
        .route("/triggers", get(list_triggers))
        .route("/triggers/{name}", details_of(StepKind::Trigger))
        .route("/tasks", get(list_tasks))
        .route("/tasks/{name}", step_route(StepKind::Task, Mode::Run).merge(details_of(StepKind::Task)))
        .route("/definitions/actions", get(action_definitions))
        .route("/spec", get(plugin_spec))
        .route("/api", get(api_description))
        .route("/status", get(|| async { axum::Json(json!({"status": "Ready"})) }))
        .route("/connection", get(connection_schema))
        .route("/connection/{kind}", post(steps::connection_test))
        .route("/workers", get(|| async { axum::Json(json!({"num_workers": 1})) }))
        .route("/admin/shutdown", post(admin_shutdown))
        .route("/admin/status", get(admin_status))
        .route("/actions/{name}/test", step_route(StepKind::Action, Mode::Test))
        .route("/triggers/{name}/test", step_route(StepKind::Trigger, Mode::Test))
        .route("/tasks/{name}/test", step_route(StepKind::Task, Mode::Test));
    steps
        .nest("/api/v1", v1)
        .fallback(answers::not_found)
        .method_not_allowed_fallback(answers::method_not_allowed)
        .layer(DefaultBodyLimit::max(opts.body_limit))
        .layer(Extension(gate))
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
    let server = crate::front_door::serve(listener, app, opts.header_read_timeout, signal);
    let grace = async {
        stopping.notified().await;
        tokio::time::sleep(opts.graceful_timeout).await;
    };
    tokio::select! {
        () = server => Ok(()),
        () = grace => {
            tracing::warn!("{} steps were still running after the graceful timeout; stopping anyway", state.active_work());
            Ok(())
        }
    }
}
