//! Files HaloITSM hands out as links: some tenants answer `GET /Attachment/{id}` with the
//! attachment's record and a short-lived pre-signed `link` (or `s3url`, `download_url`) instead of
//! the bytes (docs/halo-api.md#F6). The link is read without the bearer token (a pre-signed link
//! refuses a second way of signing in, and the token must not leave for another host), within the
//! same size limit, and asked for afresh once when it has expired.

use serde_json::Value;

use super::download::{File, filename_of, read};
use super::ticket::string;
use super::{HaloClient, HaloError, redact};

/// The fields a link may come in, in order of preference.
const LINK_FIELDS: [&str; 3] = ["link", "s3url", "download_url"];
/// A record answered instead of a file is small; anything larger is the file itself.
const ENVELOPE_MAX: usize = 64 * 1024;

/// What HaloITSM answered for a file: the file, or a record pointing at it.
enum Served {
    File(File),
    Link { url: String, record: Value },
}

impl HaloClient {
    /// The file at `path` (an attachment), read within `max` bytes, whether HaloITSM serves the
    /// bytes or a link to them.
    pub async fn download_file(&self, path: &str, max: usize) -> Result<File, HaloError> {
        let mut expired_once = false;
        loop {
            let (url, record) = match self.served(path, max).await? {
                Served::File(f) => return Ok(f),
                Served::Link { url, record } => (url, record),
            };
            match self.fetch_link(&url, max).await {
                Ok(mut file) => {
                    // The record names the file; the link's own name is the storage key.
                    file.filename = string(&record, "filename").or(file.filename).or_else(|| last_segment(&url));
                    file.content_type = file.content_type.or_else(|| string(&record, "content_type"));
                    return Ok(file);
                }
                // A link read a few minutes late has expired: HaloITSM hands out a fresh one.
                Err(Link::Refused(status, _)) if (status == 403 || status == 400) && !expired_once => {
                    tracing::info!("HaloITSM's link to {path} was refused (HTTP {status}); asking for a fresh one");
                    expired_once = true;
                }
                Err(Link::Refused(status, message)) => {
                    return Err(HaloError::Unexpected {
                        status,
                        message: format!("HaloITSM answered {path} with a link to the file, and the link refused it: {message}"),
                    });
                }
                Err(Link::Failed(e)) => return Err(e),
            }
        }
    }

    /// The file, or the record HaloITSM answered with its link. The answer is read within
    /// `max` or the largest record, whichever is more, so a small `max` still takes a record.
    async fn served(&self, path: &str, max: usize) -> Result<Served, HaloError> {
        let file = self.download(path, max.max(ENVELOPE_MAX)).await?;
        let json = file.content_type.as_deref().is_some_and(|t| t.to_ascii_lowercase().contains("json"));
        if !json || file.filename.is_some() || file.bytes.len() > ENVELOPE_MAX {
            return as_file(file, max);
        }
        let record: Value = match serde_json::from_slice(&file.bytes) {
            Ok(v @ Value::Object(_)) => v,
            _ => return Ok(Served::File(file)),
        };
        match LINK_FIELDS.iter().find_map(|k| string(&record, k)).map(|u| u.trim().to_string()) {
            Some(url) => {
                self.check_link(&url)?;
                Ok(Served::Link { url, record })
            }
            None => as_file(file, max),
        }
    }

    /// A link is followed only to an https URL (or http where the Resource Server itself is http).
    fn check_link(&self, url: &str) -> Result<(), HaloError> {
        let parsed = reqwest::Url::parse(url).map_err(|_| HaloError::Unexpected {
            status: 200,
            message: "HaloITSM answered with a link to the file that is not a URL".into(),
        })?;
        let plain_ok = self.config().resource_server.starts_with("http://");
        match parsed.scheme() {
            "https" => Ok(()),
            "http" if plain_ok => Ok(()),
            other => Err(HaloError::Unexpected {
                status: 200,
                message: format!("HaloITSM answered with a link to the file over {other}, which is not followed"),
            }),
        }
    }

    /// GET a pre-signed link: no bearer token, no redirects, not counted against HaloITSM's rate
    /// limit (it is not an API request), within `max` bytes.
    async fn fetch_link(&self, url: &str, max: usize) -> Result<File, Link> {
        let resp = self.http.get(url).header(reqwest::header::ACCEPT, "*/*").send().await.map_err(|e| {
            Link::Failed(HaloError::Transport {
                message: format!("reading the file's link failed: {}", super::describe_transport(&e)),
                write: false,
            })
        })?;
        let status = resp.status();
        if !status.is_success() {
            let body = super::download::error_body(resp).await;
            let message = redact::redact(&super::extract_message(&body), &[]);
            return Err(Link::Refused(status.as_u16(), format!("HTTP {}: {message}", status.as_u16())));
        }
        read(resp, max).await.map_err(|e| match e {
            super::download::Failed::Refused(e) => Link::Failed(e),
            super::download::Failed::Cut(e) => Link::Failed(HaloError::Transport {
                message: format!("the file was cut off: {}", super::describe_transport(&e)),
                write: false,
            }),
        })
    }
}

enum Link {
    Refused(u16, String),
    Failed(HaloError),
}

/// A file read within the larger of `max` and a record's size, held to `max`.
fn as_file(file: File, max: usize) -> Result<Served, HaloError> {
    if file.bytes.len() > max {
        return Err(super::download::too_large(Some(file.bytes.len() as u64), max));
    }
    Ok(Served::File(file))
}

/// The last path segment of a URL, decoded: a name for a file with no other.
fn last_segment(url: &str) -> Option<String> {
    let u = reqwest::Url::parse(url).ok()?;
    let seg = u.path_segments()?.next_back()?.to_string();
    filename_of(&format!("attachment; filename*=UTF-8''{seg}")).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_links_last_segment_names_a_file_without_one() {
        assert_eq!(last_segment("https://us-cdn.example/t/_s/Attachments/r%C3%A9sum%C3%A9.pdf?Expires=1").as_deref(), Some("résumé.pdf"));
        assert_eq!(last_segment("https://us-cdn.example/").as_deref(), None);
    }
}
