//! The REST API's own answers: unknown routes and methods, refusals of steps, malformed paths.

use axum::extract::OriginalUri;
use axum::extract::Path;
use axum::extract::rejection::PathRejection;
use axum::http::{Method, StatusCode, Uri};
use axum::response::Response;
use serde_json::json;

use super::CAPACITY_RETRY_AFTER_SECS;
use super::limits::StepLimiter;
use crate::front_door::answers::{http_error, json_response, retry_later};

pub async fn not_found(OriginalUri(uri): OriginalUri, method: Method) -> Response {
    http_error(
        StatusCode::NOT_FOUND,
        "The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.",
        &uri,
        &method,
    )
}

pub async fn method_not_allowed(OriginalUri(uri): OriginalUri, method: Method) -> Response {
    http_error(StatusCode::METHOD_NOT_ALLOWED, format!("The method {method} is not allowed for the requested URL."), &uri, &method)
}

pub fn shutdown_refusal() -> Response {
    json_response(StatusCode::SERVICE_UNAVAILABLE, &json!({"error": "Shutdown in progress. No new work can be accepted."}))
}

pub fn capacity_refusal(limiter: &StepLimiter, uri: &Uri, method: &Method) -> Response {
    retry_later(
        format!(
            "The plugin is at capacity (steps running: {}, steps waiting: {}; the most it accepts). Nothing was done; retry the step after the Retry-After delay ({} s).",
            limiter.max_running, limiter.max_queued, CAPACITY_RETRY_AFTER_SECS
        ),
        uri,
        method,
    )
}

/// A path parameter, or the JSON answer to a malformed one.
pub fn path_param(p: Result<Path<String>, PathRejection>, uri: &Uri, method: &Method) -> Result<String, Box<Response>> {
    p.map(|Path(name)| name).map_err(|e| Box::new(http_error(e.status(), e.body_text(), uri, method)))
}
