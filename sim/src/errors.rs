//! Error bodies in the shapes clients report for Halo. They are deliberately not uniform
//! ([E2, E4]): clients must cope with every one of them.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// ClassName Halo uses for "no such record" errors.
pub(crate) const NOT_FOUND_CLASS: &str = "System.Collections.Generic.KeyNotFoundException";
/// ClassName Halo uses for most validation and server errors.
pub(crate) const EXCEPTION_CLASS: &str = "System.Exception";

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ApiError {
    /// `{"[0].summary": "Summary is required"}`: ASP.NET model-validation style.
    FieldKeyed(StatusCode, Map<String, Value>),
    /// `{"ClassName": "...", "Message": "..."}`: a .NET exception serialised by Halo.
    Exception(StatusCode, &'static str, String),
    /// A `text/plain` body (Halo does this for some validation failures).
    PlainText(StatusCode, String),
    /// OAuth token endpoint errors: `{"error": "...", "error_description": "..."}`.
    OAuth(StatusCode, &'static str, Option<String>),
}

impl ApiError {
    pub(crate) fn field(key: impl Into<String>, message: impl Into<String>) -> ApiError {
        let mut m = Map::new();
        m.insert(key.into(), Value::String(message.into()));
        ApiError::FieldKeyed(StatusCode::BAD_REQUEST, m)
    }

    /// Field-keyed error for element `index` of a POST array: key `[index].field`.
    pub(crate) fn element(index: usize, field: &str, message: impl Into<String>) -> ApiError {
        ApiError::field(format!("[{index}].{field}"), message)
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::Exception(StatusCode::BAD_REQUEST, EXCEPTION_CLASS, message.into())
    }

    pub(crate) fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::Exception(StatusCode::NOT_FOUND, NOT_FOUND_CLASS, message.into())
    }

    pub(crate) fn invalid_value(field: &str, value: impl std::fmt::Display) -> ApiError {
        ApiError::bad_request(format!("Invalid {field} {value}"))
    }

    pub(crate) fn status(&self) -> StatusCode {
        match self {
            ApiError::FieldKeyed(s, _) | ApiError::Exception(s, _, _) | ApiError::PlainText(s, _) | ApiError::OAuth(s, _, _) => *s,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::FieldKeyed(status, m) => json_response(status, &Value::Object(m)),
            ApiError::Exception(status, class, message) => json_response(status, &json!({ "ClassName": class, "Message": message })),
            ApiError::PlainText(status, text) => {
                (status, [(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"))], text).into_response()
            }
            ApiError::OAuth(status, error, description) => {
                let mut m = Map::new();
                m.insert("error".into(), Value::from(error));
                if let Some(d) = description {
                    m.insert("error_description".into(), Value::from(d));
                }
                json_response(status, &Value::Object(m))
            }
        }
    }
}

/// Serialise `v` as an `application/json` response.
pub(crate) fn json_response(status: StatusCode, v: &Value) -> Response {
    json_bytes_response(status, serde_json::to_vec(v).unwrap_or_else(|_| b"{}".to_vec()))
}

/// An already-serialised JSON body.
pub(crate) fn json_bytes_response(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"))], body).into_response()
}

pub(crate) type ApiResult = Result<Response, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_are_json_or_plain_text() {
        let r = ApiError::element(0, "summary", "Summary is required").into_response();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert!(r.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("application/json")));
        let r = ApiError::PlainText(StatusCode::BAD_REQUEST, "x".into()).into_response();
        assert!(r.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("text/plain")));
        assert_eq!(ApiError::not_found("x").status(), StatusCode::NOT_FOUND);
    }
}
