//! Answers from HaloITSM read within bounds: a JSON answer far larger than any record, an error
//! body, or a file (an attachment's bytes, docs/halo-api.md#F2) over its step's `max_bytes` fails
//! clearly instead of filling memory, and the files all steps hold at once share one budget.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use serde_json::Value;

use super::{HaloClient, HaloError};
use crate::memory::{BodyBudget, Reservation};

/// Largest JSON answer taken: a history of 10,000 entries or a page of 100 full tickets is a few
/// megabytes; anything this size is not a record (one tenant answered a ticket read with 300 MB).
pub const MAX_JSON_ANSWER: usize = 32 * 1024 * 1024;

/// Most bytes of an error answer read: its message is what is kept, never a whole page.
pub const MAX_ERROR_ANSWER: usize = 64 * 1024;

/// Bytes of files from HaloITSM held at once by every step of this process together.
pub const FILE_MEMORY: usize = 4 * 48 * 1024 * 1024;

fn files_budget() -> &'static BodyBudget {
    static FILES: OnceLock<BodyBudget> = OnceLock::new();
    FILES.get_or_init(|| BodyBudget::holding("Files from HaloITSM", FILE_MEMORY))
}

/// What a request expects back.
#[derive(Debug, Clone, Copy)]
pub(super) enum Expect {
    Json,
    /// A file of at most `max` bytes.
    File {
        max: usize,
    },
}

impl Expect {
    pub(super) fn accept(self) -> &'static str {
        match self {
            Expect::Json => "application/json",
            Expect::File { .. } => "*/*",
        }
    }
}

pub(super) enum Answer {
    Json(Value),
    File(File),
}

impl Answer {
    pub(super) fn into_json(self) -> Value {
        match self {
            Answer::Json(v) => v,
            Answer::File(_) => Value::Null,
        }
    }
}

/// A downloaded file: its bytes and what the answer's headers say about it. Its room in the
/// files' budget is held for as long as the file (or a clone) lives.
#[derive(Debug, Clone)]
pub struct File {
    pub bytes: Bytes,
    pub content_type: Option<String>,
    /// From `Content-Disposition`, when HaloITSM sends one.
    pub filename: Option<String>,
    _held: Held,
}

/// The room a file holds in the budget, given back when the last clone of the file goes.
#[derive(Clone, Default)]
struct Held {
    _room: Option<Arc<Reservation>>,
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Held")
    }
}

pub(super) enum Failed {
    /// Over the limit, or no room for it in the budget.
    Refused(HaloError),
    Cut(reqwest::Error),
}

/// HaloITSM's answer for a file that is over the limit.
pub fn too_large(size: Option<u64>, max: usize) -> HaloError {
    HaloError::TooLarge { size, max: max as u64 }
}

/// Why a body was not read whole.
pub(super) enum Capped {
    /// Over the limit: its announced length, when it announced one.
    Over(Option<u64>),
    /// The budget it is counted in has no room for it now.
    NoRoom(usize),
    Cut(reqwest::Error),
}

/// An answer's body, refused as soon as it (or its announced length) passes `max`; with `room`,
/// each part is covered in the files' budget before it is kept.
pub(super) async fn read_capped(resp: &mut reqwest::Response, max: usize, mut room: Option<&mut Reservation>) -> Result<Vec<u8>, Capped> {
    let declared = resp.content_length();
    if let Some(len) = declared.filter(|&l| l > max as u64) {
        return Err(Capped::Over(Some(len)));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(Capped::Cut)? {
        let size = body.len() + chunk.len();
        if size > max {
            return Err(Capped::Over(declared));
        }
        if let Some(r) = room.as_deref_mut() {
            if !files_budget().cover(r, size, None).await {
                return Err(Capped::NoRoom(size));
            }
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The files' budget has no room for `size` bytes now.
pub(super) fn busy(size: usize) -> HaloError {
    HaloError::Busy { what: format!("a file of {size} bytes or more"), held: files_budget().total_bytes as u64 }
}

/// The start of an error answer (at most `MAX_ERROR_ANSWER` bytes): enough for its message.
pub(super) async fn error_body(mut resp: reqwest::Response) -> Vec<u8> {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        let room = MAX_ERROR_ANSWER - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= MAX_ERROR_ANSWER {
            break;
        }
    }
    body
}

/// A file, refused as soon as it (or its announced length) passes `max`, its bytes counted in
/// the files' budget (refused, as a failure that may pass, when the budget is full).
pub(super) async fn read(mut resp: reqwest::Response, max: usize) -> Result<File, Failed> {
    let header = |name: reqwest::header::HeaderName| resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let content_type = header(reqwest::header::CONTENT_TYPE);
    let filename = header(reqwest::header::CONTENT_DISPOSITION).as_deref().and_then(filename_of);
    let mut room = Reservation::default();
    let body = match read_capped(&mut resp, max, Some(&mut room)).await {
        Ok(body) => body,
        Err(Capped::Over(size)) => return Err(Failed::Refused(too_large(size, max))),
        Err(Capped::NoRoom(size)) => return Err(Failed::Refused(busy(size))),
        Err(Capped::Cut(e)) => return Err(Failed::Cut(e)),
    };
    Ok(File { bytes: Bytes::from(body), content_type, filename, _held: Held { _room: Some(Arc::new(room)) } })
}

/// The file name of a `Content-Disposition` header: `filename*=UTF-8''…` (percent-encoded) wins
/// over `filename="…"`.
pub fn filename_of(header: &str) -> Option<String> {
    let mut plain = None;
    for part in header.split(';').map(str::trim) {
        let Some((k, v)) = part.split_once('=') else { continue };
        match k.trim().to_ascii_lowercase().as_str() {
            "filename*" => {
                let encoded = v.trim().split_once("''").map_or(v.trim(), |(_, e)| e);
                if let Some(name) = percent_decode(encoded).filter(|n| !n.is_empty()) {
                    return Some(name);
                }
            }
            "filename" => plain = Some(v.trim().trim_matches('"').to_string()).filter(|n| !n.is_empty()),
            _ => {}
        }
    }
    plain
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            out.push(u8::from_str_radix(s.get(i + 1..i + 3)?, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl HaloClient {
    /// `GET path` for a file of at most `max` bytes, with the retry policy applied.
    pub async fn download(&self, path: &str, max: usize) -> Result<File, HaloError> {
        match self.send(reqwest::Method::GET, path, &[], None, Expect::File { max }).await? {
            Answer::File(f) => Ok(f),
            Answer::Json(_) => Err(HaloError::Unexpected { status: 200, message: "a file was expected".into() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_from_content_disposition() {
        assert_eq!(filename_of("attachment; filename=\"report.pdf\"").as_deref(), Some("report.pdf"));
        assert_eq!(filename_of("attachment; filename=a.txt; filename*=UTF-8''r%C3%A9sum%C3%A9.txt").as_deref(), Some("résumé.txt"));
        assert_eq!(filename_of("inline").as_deref(), None);
        assert_eq!(filename_of("attachment; filename=\"\"").as_deref(), None);
    }
}
