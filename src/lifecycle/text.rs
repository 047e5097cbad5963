//! Text helpers every source's tickets use: HaloITSM's summary limit, blanks and cuts (HTML escaping is
//! `halo::markup`'s).

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
