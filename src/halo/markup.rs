//! Text from other systems as HaloITSM's fields hold it. A ticket's `details` and an action's
//! `note_html` are HTML (docs/halo-api.md#T7, A2): what an alert, a scanner or a workflow chose
//! (a user or host name, a title, a comment) is escaped here, by every writer, before it lands in
//! one, so that it shows as the text it was and never runs or renders as markup.

use serde_json::Value;

/// Characters that reorder or hide text (bidirectional overrides, isolates and marks, zero-width
/// characters): they could make what a ticket shows differ from what it holds.
pub fn hides_text(c: char) -> bool {
    matches!(c, '\u{061c}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
}

/// `s` safe inside HTML: the five markup characters as entities, and control and text-hiding
/// characters (line breaks and tabs aside) shown as their code point, `[U+202E]`, so they can
/// neither break the page nor hide what a line says.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' => out.push(c),
            c if c.is_control() || hides_text(c) => out.push_str(&format!("[U+{:04X}]", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Plain text as the HTML of a field that shows HTML: escaped, its line breaks kept as `<br>`.
pub fn text_to_html(s: &str) -> String {
    escape(&s.replace("\r\n", "\n")).replace('\n', "<br>")
}

/// An action about to be posted: its plain `note` goes as it is, and beside it the same text as
/// escaped `note_html`, so the note is safe whichever of the two HaloITSM shows. Every action this
/// plugin posts passes here (`post_action`, `post_actions`).
pub fn with_note_html(action: &mut Value) {
    let Some(obj) = action.as_object_mut() else { return };
    if let Some(html) = obj.get("note").and_then(Value::as_str).map(text_to_html) {
        obj.insert("note_html".into(), Value::String(html));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn markup_entities_and_controls_cannot_pass() {
        assert_eq!(escape("<script>alert('x')</script>"), "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;");
        assert_eq!(escape("<img src=x onerror=\"a()\">"), "&lt;img src=x onerror=&quot;a()&quot;&gt;");
        assert_eq!(escape("&amp; &#60;"), "&amp;amp; &amp;#60;", "entities show as typed");
        assert_eq!(escape("invoice\u{202e}fdp.exe\u{0}"), "invoice[U+202E]fdp.exe[U+0000]");
        assert_eq!(escape("a\u{200b}b"), "a[U+200B]b");
        assert_eq!(escape("Zürich – 東京"), "Zürich – 東京");
        assert_eq!(text_to_html("one\r\ntwo\n<b>"), "one<br>two<br>&lt;b&gt;");
    }

    #[test]
    fn every_note_goes_with_its_escaped_html() {
        let mut a = json!({"ticket_id": 1, "note": "<script>x</script>\nnext", "note_html": "<b>forged</b>"});
        with_note_html(&mut a);
        assert_eq!(a["note"], "<script>x</script>\nnext", "the plain note is kept as given");
        assert_eq!(a["note_html"], "&lt;script&gt;x&lt;/script&gt;<br>next");
        let mut none = json!({"ticket_id": 1, "new_status": 9});
        with_note_html(&mut none);
        assert!(none.get("note_html").is_none());
    }
}
