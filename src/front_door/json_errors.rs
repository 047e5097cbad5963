//! Every answer JSON, hyper's own included. When hyper cannot parse a request (a malformed
//! request line or header: 400; headers too large or too many: 431; a URL too long: 414) it
//! writes a bare response itself (`content-length: 0`, no content type) and closes the
//! connection, before the router ever sees a request. This wrapper around the connection spots
//! that response as it is written and writes a JSON one with the same status in its place.
//!
//! It can tell hyper's answer from the router's: every answer of the router has a content type,
//! and none of its bodies holds a raw CR LF CR LF (JSON escapes line breaks), so a write that
//! is exactly a bodiless 4xx/5xx head without a content type can only be hyper's.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A connection whose bare error responses are rewritten as JSON.
pub struct JsonErrors<T> {
    inner: T,
    /// The JSON answer being written in place of hyper's, how much of it is out, and the length
    /// of hyper's write to report once it all is.
    replacing: Option<(Vec<u8>, usize, usize)>,
}

impl<T> JsonErrors<T> {
    pub fn new(inner: T) -> Self {
        JsonErrors { inner, replacing: None }
    }
}

/// The JSON answer to write instead of `buf`, when `buf` is one of hyper's bare error heads.
fn replacement_for(buf: &[u8]) -> Option<Vec<u8>> {
    let head = buf.strip_suffix(b"\r\n\r\n")?;
    if head.windows(4).any(|w| w == b"\r\n\r\n") {
        return None;
    }
    let head = std::str::from_utf8(head).ok()?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let rest = status_line.strip_prefix("HTTP/1.1 ").or_else(|| status_line.strip_prefix("HTTP/1.0 "))?;
    let code: u16 = rest.get(..3)?.parse().ok()?;
    if !(400..600).contains(&code) {
        return None;
    }
    let mut bodiless = false;
    for line in lines {
        let line = line.to_ascii_lowercase();
        if line.starts_with("content-type:") {
            return None;
        }
        bodiless |= line.replace(' ', "") == "content-length:0";
    }
    if !bodiless {
        return None;
    }
    let status = axum::http::StatusCode::from_u16(code).ok()?;
    let description = match code {
        400 => "The request is not valid HTTP: its request line or a header is malformed.",
        414 => "The request's URL is longer than this plugin accepts.",
        431 => "The request's headers are larger, or more, than this plugin accepts.",
        _ => "The request could not be read.",
    };
    let name = status.canonical_reason().unwrap_or("Error");
    let body = serde_json::json!({"code": code, "description": description, "name": name}).to_string();
    Some(
        format!(
            "HTTP/1.1 {code} {name}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

impl<T: AsyncRead + Unpin> AsyncRead for JsonErrors<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for JsonErrors<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if self.replacing.is_none() {
            if let Some(json) = replacement_for(buf) {
                self.replacing = Some((json, 0, buf.len()));
            }
        }
        let this = &mut *self;
        if let Some((json, done, report)) = &mut this.replacing {
            while *done < json.len() {
                let n = ready!(Pin::new(&mut this.inner).poll_write(cx, &json[*done..]))?;
                if n == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                *done += n;
            }
            let report = *report;
            this.replacing = None;
            return Poll::Ready(Ok(report));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    /// Not vectored: hyper then writes each response head as one buffer, which is what the
    /// rewrite looks at.
    fn is_write_vectored(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::replacement_for;

    #[test]
    fn only_hypers_bare_error_heads_are_replaced() {
        let bare = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Tue, 01 Dec 2026 20:00:00 GMT\r\n\r\n";
        let json = String::from_utf8(replacement_for(bare).unwrap()).unwrap();
        assert!(json.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"), "{json}");
        let body: serde_json::Value = serde_json::from_str(json.split("\r\n\r\n").nth(1).unwrap()).unwrap();
        assert_eq!(body["code"], 431);
        for ours in [
            &b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 0\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 100 Continue\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\n{}",
            b"{\"a\": 1}",
        ] {
            assert!(replacement_for(ours).is_none(), "{}", String::from_utf8_lossy(ours));
        }
    }
}
