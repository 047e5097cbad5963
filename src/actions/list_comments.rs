use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Action, ActionContext};
use crate::halo::ticket::{date, int, parse_halo_date, string};
use crate::protocol::PluginError;

pub struct ListComments;

const NAME: &str = "list_comments";

#[derive(Debug, Deserialize)]
pub struct Input {
    pub ticket_id: i64,
    pub include_private: bool,
    #[serde(default)]
    pub include_system: bool,
}

/// The `comment` custom type.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Comment {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub datetime: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_status_id: Option<i64>,
}

impl Comment {
    pub fn from_halo(raw: &Value) -> Comment {
        let text = string(raw, "note").or_else(|| string(raw, "note_html").map(|h| html_to_text(&h)));
        let new_status = int(raw, "new_status").filter(|s| *s > 0);
        Comment {
            id: int(raw, "id").filter(|i| *i > 0),
            ticket_id: int(raw, "ticket_id").filter(|i| *i > 0),
            author: string(raw, "who").or_else(|| string(raw, "actionby_agent_name")).or_else(|| string(raw, "agent_name")),
            datetime: date(raw, "datetime").or_else(|| date(raw, "actiondatecreated")),
            outcome: string(raw, "outcome"),
            text,
            private: raw.get("hiddenfromuser").and_then(Value::as_bool),
            // Only a real change of status (some builds echo the unchanged status).
            new_status_id: new_status.filter(|s| int(raw, "old_status") != Some(*s)),
        }
    }
}

/// Plain text from a HaloITSM HTML note: tags dropped, line breaks kept, entities decoded.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('>') else {
            rest = &rest[start..];
            break;
        };
        let tag = rest[start + 1..start + end].trim_start_matches('/').to_ascii_lowercase();
        let name = tag.split(|c: char| c.is_whitespace() || c == '/').next().unwrap_or("");
        if matches!(name, "br" | "p" | "div" | "li" | "tr") && !out.ends_with('\n') && !out.is_empty() {
            out.push('\n');
        }
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    let decoded = out
        .replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&amp;", "&");
    decoded.trim().to_string()
}

#[derive(Debug, Serialize)]
pub struct Output {
    pub comments: Vec<Comment>,
    pub count: i64,
}

impl Action for ListComments {
    const NAME: &'static str = NAME;
    type Input = Input;
    type Output = Output;

    async fn run(ctx: ActionContext, input: Input) -> Result<Output, PluginError> {
        let id = input.ticket_id;
        ctx.require_ticket(NAME, id).await?;
        let mut q = vec![("includehtmlnote", "true".to_string())];
        if !input.include_private {
            q.push(("excludeprivate", "true".into()));
        }
        if !input.include_system {
            q.push(("excludesys", "true".into()));
        }
        let rows = ctx.client.history(id, &q).await?;
        let mut comments: Vec<(Option<chrono::DateTime<chrono::Utc>>, Comment)> = rows
            .iter()
            .map(Comment::from_halo)
            // Sorted by the same time the output shows.
            .map(|c| (c.datetime.as_deref().and_then(parse_halo_date), c))
            // Whatever the server-side filter did, never show a private note when asked not to.
            .filter(|(_, c)| input.include_private || c.private != Some(true))
            .collect();
        // Newest first; the action ID breaks ties within the same second.
        comments.sort_by(|(da, a), (db, b)| db.cmp(da).then(b.id.cmp(&a.id)));
        let comments: Vec<Comment> = comments.into_iter().map(|(_, c)| c).collect();
        tracing::info!("Ticket {id} has {} note(s)", comments.len());
        Ok(Output { count: comments.len() as i64, comments })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn html_notes_become_plain_text() {
        assert_eq!(html_to_text("<p>Blocked <b>evil.example</b></p><p>Done &amp; dusted&nbsp;</p>"), "Blocked evil.example\nDone & dusted");
        assert_eq!(html_to_text("a<br/>b<br>c"), "a\nb\nc");
        assert_eq!(html_to_text("x < y"), "x < y");
        assert_eq!(html_to_text("broken <tag"), "broken <tag");
    }

    #[test]
    fn comments_from_actions() {
        let c = Comment::from_halo(
            &json!({"id": 9, "ticket_id": 1, "who": "Alex", "datetime": "2026-09-01T09:30:00", "outcome": "Private Note",
            "note": "", "note_html": "<p>hi</p>", "hiddenfromuser": true, "new_status": 2, "old_status": 1}),
        );
        assert_eq!(c.text.as_deref(), Some("hi"));
        assert_eq!(c.datetime.as_deref(), Some("2026-09-01T09:30:00Z"));
        assert_eq!(c.new_status_id, Some(2));
        let same = Comment::from_halo(&json!({"id": 10, "new_status": 2, "old_status": 2}));
        assert_eq!(same.new_status_id, None);
    }
}
