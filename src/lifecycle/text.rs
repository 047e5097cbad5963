//! Text helpers every source's tickets use: HTML escaping and HaloITSM's summary limit.

/// HaloITSM's summary field length.
pub const SUMMARY_MAX: usize = 250;

/// `-` for a blank value.
pub fn dash(s: &str) -> &str {
    if s.trim().is_empty() { "-" } else { s }
}

/// At most `max` characters, an ellipsis marking a cut.
pub fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// Text safe inside HTML.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
