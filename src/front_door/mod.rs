//! The front door of every listener of the plugin (the REST API, a trigger's webhook listener):
//! connections accepted and served (`connections`), a client slow to send its headers cut off,
//! every answer JSON (`answers`, and `json_errors` for the ones hyper writes itself), request
//! bodies read within a size limit, a read timeout and a memory budget (`body`, `budget`); and
//! the process's stop signals.

pub mod answers;
pub mod body;
mod connections;
mod json_errors;

use std::time::Duration;

pub use connections::serve;

/// Seconds a request refused for want of room is told to wait before retrying (`Retry-After`).
pub const RETRY_AFTER_SECS: u64 = 1;

/// Longest a request's headers may take to arrive by default (an idle keep-alive connection's
/// wait for its next request included).
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

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
