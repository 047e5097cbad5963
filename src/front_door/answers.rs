//! Answers are JSON, in the shapes of the Python runtime.

use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::RETRY_AFTER_SECS;

pub fn json_response(status: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut resp = (status, bytes).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

/// The runtime's error body for HTTP-level failures: `{code, description, name, url, method}`.
pub fn http_error(status: StatusCode, description: impl Into<String>, uri: &Uri, method: &Method) -> Response {
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

/// A 503 that says when to come back.
pub fn retry_later(status_text: String, uri: &Uri, method: &Method) -> Response {
    let mut resp = http_error(StatusCode::SERVICE_UNAVAILABLE, status_text, uri, method);
    resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    resp
}
