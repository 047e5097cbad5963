//! File names as this plugin hands them on, whichever way a file goes: into HaloITSM
//! (`add_attachment`) or out of it to a workflow (`get_attachment`, `list_attachments`), where a
//! name may be written to a disk or shown on a page. One rule for all of them.

use crate::halo::markup::hides_text;

/// Longest name given back, in characters (the common file-system limit).
const MAX_CHARS: usize = 255;
/// An extension longer than this is not kept apart when a long name is cut.
const MAX_EXTENSION_CHARS: usize = 16;

/// The file name without any directory part.
fn base_name(name: &str) -> &str {
    name.rsplit(['/', '\\']).next().unwrap_or(name).trim()
}

/// A name safe to hand on: its last path component only (no `../`, no absolute or Windows path),
/// without control characters (NUL, CR, LF, ...) or text-hiding ones (`invoice\u{202e}fdp.exe`),
/// with the characters Windows forbids in names (`<>:"|?*`) as `_`, and at most 255 characters
/// (a long name is cut before its extension). None when nothing usable is left (empty, `.`, `..`).
pub fn safe_file_name(raw: &str) -> Option<String> {
    let name: String = base_name(raw)
        .chars()
        .filter(|c| !c.is_control() && !hides_text(*c))
        .map(|c| if matches!(c, '<' | '>' | ':' | '"' | '|' | '?' | '*') { '_' } else { c })
        .collect();
    let name = name.trim().trim_end_matches('.').trim_end();
    if name.is_empty() || name == "." || name.chars().all(|c| c == '.') {
        return None;
    }
    if name.chars().count() <= MAX_CHARS {
        return Some(name.to_string());
    }
    let ext = name.rsplit_once('.').map(|(_, e)| e).filter(|e| !e.is_empty() && e.chars().count() <= MAX_EXTENSION_CHARS);
    Some(match ext {
        Some(ext) => {
            let stem: String = name.chars().take(MAX_CHARS - ext.chars().count() - 2).collect();
            format!("{stem}….{ext}")
        }
        None => name.chars().take(MAX_CHARS - 1).chain(['…']).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lose_paths_controls_and_hiding_characters() {
        assert_eq!(safe_file_name("report\r\n2026.pdf").as_deref(), Some("report2026.pdf"));
        assert_eq!(safe_file_name("invoice\u{202e}fdp.exe").as_deref(), Some("invoicefdp.exe"));
        assert_eq!(safe_file_name("a\0b.txt").as_deref(), Some("ab.txt"));
        assert_eq!(safe_file_name("../../etc/cron.d/x").as_deref(), Some("x"));
        assert_eq!(safe_file_name("/etc/passwd").as_deref(), Some("passwd"));
        assert_eq!(safe_file_name("C:\\Windows\\system32\\evil.dll").as_deref(), Some("evil.dll"));
        assert_eq!(safe_file_name("<script>alert(1)</script>.html").as_deref(), Some("script_.html"), "what follows the last `/`");
        assert_eq!(safe_file_name("<img onerror=x>.png").as_deref(), Some("_img onerror=x_.png"));
        assert_eq!(safe_file_name("what?.txt").as_deref(), Some("what_.txt"));
        for bad in ["", " ", ".", "..", "...", "dir/..", "\u{202e}", "\r\n", "a/"] {
            assert_eq!(safe_file_name(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn long_names_are_cut_before_their_extension() {
        let long = format!("{}.pdf", "a".repeat(100_000));
        let safe = safe_file_name(&long).unwrap();
        assert_eq!(safe.chars().count(), MAX_CHARS);
        assert!(safe.ends_with("….pdf"), "{safe}");
        let no_ext = "b".repeat(300);
        assert_eq!(safe_file_name(&no_ext).unwrap().chars().count(), MAX_CHARS);
    }
}
