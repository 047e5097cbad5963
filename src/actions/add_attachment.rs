use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::json;

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

fn bad(problem: String, assistance: &str) -> PluginError {
    PluginError::client(format!("Invalid input for action `add_attachment`: {problem}."), assistance)
}

/// The file name without any directory part.
fn base_name(name: &str) -> &str {
    name.rsplit(['/', '\\']).next().unwrap_or(name).trim()
}

impl Action for AddAttachment {
    const NAME: &'static str = NAME;
    type Input = Input;
    type Output = Output;

    async fn run(ctx: ActionContext, input: Input) -> Result<Output, PluginError> {
        let filename = base_name(&input.file.filename).to_string();
        if filename.is_empty() {
            return Err(bad("input `file.filename` is empty".into(), "Give the file a name, for example alert.json."));
        }
        // Checked before anything is sent: the content must be base64 and not too large.
        let cleaned: String = input.file.content.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        if cleaned.len() / 4 * 3 > MAX_BYTES + 3 {
            return Err(bad(
                format!("input `file` is larger than {} MiB", MAX_BYTES / 1024 / 1024),
                "Attach a smaller file, or compress it first.",
            ));
        }
        let bytes = base64::engine::general_purpose::STANDARD.decode(&cleaned).map_err(|e| {
            bad(
                format!("input `file.content` is not valid base64 ({e})"),
                "Give the file content base64-encoded, as InsightConnect file inputs are.",
            )
        })?;
        if bytes.len() > MAX_BYTES {
            return Err(bad(
                format!("input `file` is larger than {} MiB", MAX_BYTES / 1024 / 1024),
                "Attach a smaller file, or compress it first.",
            ));
        }
        let id = input.ticket_id;
        ctx.require_ticket(NAME, id).await?;
        let mut record = json!({"ticket_id": id, "filename": filename, "data_base64": cleaned});
        if let Some(n) = input.note.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
            record["note"] = json!(n);
        }
        let saved = ctx.client.post_one("Attachment", record).await.map_err(|e| e.to_plugin_error())?;
        let attachment_id = int(&saved, "id").filter(|i| *i > 0);
        tracing::info!("Attached {filename} ({} bytes) to ticket {id}", bytes.len());
        Ok(Output { success: true, attachment_id, size: bytes.len() as i64 })
    }
}

#[cfg(test)]
mod tests {
    use super::base_name;

    #[test]
    fn directory_parts_are_dropped_from_file_names() {
        assert_eq!(base_name("C:\\temp\\alert.json"), "alert.json");
        assert_eq!(base_name("../../etc/passwd"), "passwd");
        assert_eq!(base_name("report.pdf"), "report.pdf");
    }
}
