use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::common::invalid_input;
use super::{Action, ActionContext};
use crate::halo::ticket::int;
use crate::protocol::PluginError;

pub struct AddAttachment;

const NAME: &str = "add_attachment";
/// Largest file accepted, decoded.
pub const MAX_BYTES: usize = 20 * 1024 * 1024;

#[derive(Debug, Deserialize)]
pub struct File {
    pub filename: String,
    pub content: String,
}

#[derive(Debug, Deserialize)]
pub struct Input {
    pub ticket_id: i64,
    pub file: File,
    pub note: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Output {
    pub success: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachment_id: Option<i64>,
    pub size: i64,
}

/// The file's name as `file_names` makes it safe, or the error naming the input.
fn safe_name(raw: &str) -> Result<String, PluginError> {
    super::file_names::safe_file_name(raw).ok_or_else(|| {
        invalid_input(
            NAME,
            format!("input `file.filename` is not a usable file name (got {:?})", raw.chars().take(100).collect::<String>()),
            "Give the file a plain name, for example alert.json. Nothing was sent.",
        )
    })
}

/// The length of what base64 `text` (without whitespace) decodes to, checked by decoding it a
/// block at a time into one small buffer rather than into a copy of the whole file.
fn decoded_len(text: &str) -> Result<usize, base64::DecodeSliceError> {
    // A multiple of 4 characters: every block but the last decodes on its own, without padding.
    const BLOCK: usize = 64 * 1024;
    let mut buf = vec![0u8; BLOCK / 4 * 3];
    let mut total = 0;
    for block in text.as_bytes().chunks(BLOCK) {
        total += base64::engine::general_purpose::STANDARD.decode_slice(block, &mut buf)?;
    }
    Ok(total)
}

impl Action for AddAttachment {
    const NAME: &'static str = NAME;
    type Input = Input;
    type Output = Output;

    async fn run(ctx: ActionContext, input: Input) -> Result<Output, PluginError> {
        let filename = safe_name(&input.file.filename)?;
        let note = input.note;
        // Checked before anything is sent: the content must be base64 and not too large. The
        // content is most of the message: it is checked in place and moved into the request,
        // never decoded whole or copied (but once, when it holds line breaks to take out).
        let mut content = input.file.content;
        if content.bytes().any(|b| b.is_ascii_whitespace()) {
            content.retain(|c| !c.is_ascii_whitespace());
        }
        let too_large = || {
            invalid_input(
                NAME,
                format!("input `file` is larger than {} MiB", MAX_BYTES / 1024 / 1024),
                "Attach a smaller file, or compress it first.",
            )
        };
        if content.len() / 4 * 3 > MAX_BYTES + 3 {
            return Err(too_large());
        }
        let size = decoded_len(&content).map_err(|e| {
            invalid_input(
                NAME,
                format!("input `file.content` is not valid base64 ({e})"),
                "Give the file content base64-encoded, as InsightConnect file inputs are.",
            )
        })?;
        if size > MAX_BYTES {
            return Err(too_large());
        }
        let id = input.ticket_id;
        ctx.require_ticket(NAME, id).await?;
        let mut record = json!({"ticket_id": id, "filename": filename, "data_base64": content});
        if let Some(n) = note.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
            record["note"] = json!(n);
        }
        let saved = ctx.client.post_one("Attachment", record).await?;
        let attachment_id = int(&saved, "id").filter(|i| *i > 0);
        tracing::info!("Attached {filename} ({size} bytes) to ticket {id}");
        Ok(Output { success: true, attachment_id, size: size as i64 })
    }
}

#[cfg(test)]
mod tests {
    use super::{decoded_len, safe_name};
    use base64::Engine;

    #[test]
    fn base64_is_checked_a_block_at_a_time_as_a_whole_decode_would() {
        let b64 = |n: usize| base64::engine::general_purpose::STANDARD.encode(vec![7u8; n]);
        for n in [0, 1, 2, 3, 49_151, 49_152, 49_153, 200_000] {
            assert_eq!(decoded_len(&b64(n)).unwrap(), n, "{n} bytes");
        }
        // Padding is only valid at the very end, wherever the blocks fall.
        let mut padded_early = b64(1);
        padded_early.push_str(&b64(70_000));
        assert!(decoded_len(&padded_early).is_err());
        assert!(decoded_len("not base64!!").is_err());
        assert!(decoded_len("YQ").is_err(), "unpadded");
    }

    #[test]
    fn file_names_are_made_safe_or_refused() {
        assert_eq!(safe_name("report\r\n2026.pdf").unwrap(), "report2026.pdf");
        assert_eq!(safe_name("invoice\u{202e}fdp.exe").unwrap(), "invoicefdp.exe");
        assert_eq!(safe_name("a\0b.txt").unwrap(), "ab.txt");
        assert_eq!(safe_name("../../etc/passwd").unwrap(), "passwd");
        for bad in ["", " ", ".", "..", "dir/..", "\u{202e}", "\r\n"] {
            assert!(safe_name(bad).unwrap_err().cause.contains("`file.filename`"), "{bad:?}");
        }
    }
}
