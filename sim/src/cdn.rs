//! Attachments served as links [F6]: on a live tenant `GET /Attachment/{id}` answers JSON with a
//! short-lived pre-signed `link` to a CDN instead of the file. The CDN here is a route outside
//! `/api` (`/_cdn/{token}`): it takes no bearer token (a pre-signed link refuses a second way of
//! signing in, as S3 does) and refuses a link past its expiry.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::clock::Clock;

/// Links handed out, by token: the attachment and when the link stops working.
#[derive(Default)]
pub(crate) struct Links {
    issued: Mutex<HashMap<String, (i64, Instant)>>,
}

impl Links {
    /// A new link token for `attachment`, valid for `ttl` by `clock` (expired at once when
    /// `expired`).
    pub(crate) fn issue(&self, attachment: i64, ttl: Duration, expired: bool, clock: &Clock) -> (String, u64) {
        let token: String = std::iter::repeat_with(|| fastrand::alphanumeric().to_ascii_lowercase()).take(24).collect();
        let now = clock.instant();
        let until = if expired { now.checked_sub(Duration::from_secs(1)).unwrap_or(now) } else { now + ttl };
        let mut g = self.issued.lock().unwrap_or_else(|e| e.into_inner());
        // Expired links are forgotten as new ones are made, so the table stays small.
        g.retain(|_, (_, t)| *t + Duration::from_secs(60) > now);
        g.insert(token.clone(), (attachment, until));
        let epoch = u64::try_from(clock.utc().timestamp()).unwrap_or_default();
        let expires = if expired { epoch.saturating_sub(1) } else { epoch.saturating_add(ttl.as_secs()) };
        (token, expires)
    }

    /// The attachment a link names while it is valid: Err(false) when it never existed,
    /// Err(true) when it expired.
    pub(crate) fn resolve(&self, token: &str, clock: &Clock) -> Result<i64, bool> {
        let g = self.issued.lock().unwrap_or_else(|e| e.into_inner());
        match g.get(token) {
            None => Err(false),
            Some((_, until)) if *until <= clock.instant() => Err(true),
            Some((id, _)) => Ok(*id),
        }
    }
}

/// An S3-style XML error.
pub(crate) fn s3_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>");
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/xml"))], body).into_response()
}

/// A request to a pre-signed link that also signs in with a header is refused.
pub(crate) fn refuses_authorization(headers: &HeaderMap) -> Option<Response> {
    headers.contains_key(header::AUTHORIZATION).then(|| {
        s3_error(
            StatusCode::BAD_REQUEST,
            "InvalidArgument",
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_expire_and_unknown_ones_are_refused() {
        let (links, clock) = (Links::default(), Clock::default());
        let (live, _) = links.issue(7, Duration::from_secs(60), false, &clock);
        assert_eq!(links.resolve(&live, &clock), Ok(7));
        let (old, expires) = links.issue(7, Duration::from_secs(60), true, &clock);
        assert_eq!(links.resolve(&old, &clock), Err(true));
        assert!(expires > 0);
        assert_eq!(links.resolve("nope", &clock), Err(false));
        clock.shift(60_000);
        assert_eq!(links.resolve(&live, &clock), Err(true), "expired by the simulator's clock");
        let mut h = HeaderMap::new();
        assert!(refuses_authorization(&h).is_none());
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer x"));
        assert_eq!(refuses_authorization(&h).map(|r| r.status()), Some(StatusCode::BAD_REQUEST));
    }
}
