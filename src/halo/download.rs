//! Files HaloITSM serves as they are (an attachment's bytes, docs/halo-api.md#F2), read within a
//! size limit so a huge file fails clearly instead of filling memory.

use bytes::Bytes;
use serde_json::Value;

use super::{HaloClient, HaloError};

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

/// A downloaded file: its bytes and what the answer's headers say about it.
#[derive(Debug, Clone)]
pub struct File {
    pub bytes: Bytes,
    pub content_type: Option<String>,
    /// From `Content-Disposition`, when HaloITSM sends one.
    pub filename: Option<String>,
}

pub(super) enum Failed {
    TooLarge(HaloError),
    Cut(reqwest::Error),
}

/// HaloITSM's answer for a file that is over the limit.
pub fn too_large(size: Option<u64>, max: usize) -> HaloError {
    HaloError::TooLarge { size, max: max as u64 }
}

/// The body, refused as soon as it (or its announced length) passes `max`.
pub(super) async fn read(mut resp: reqwest::Response, max: usize) -> Result<File, Failed> {
    let header = |name: reqwest::header::HeaderName| resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let content_type = header(reqwest::header::CONTENT_TYPE);
    let filename = header(reqwest::header::CONTENT_DISPOSITION).as_deref().and_then(filename_of);
    if let Some(len) = resp.content_length().filter(|&l| l > max as u64) {
        return Err(Failed::TooLarge(too_large(Some(len), max)));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(Failed::Cut)? {
        if body.len() + chunk.len() > max {
            return Err(Failed::TooLarge(too_large(None, max)));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(File { bytes: Bytes::from(body), content_type, filename })
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
