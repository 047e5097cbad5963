//! Small helpers the simulator needs and that are not worth a dependency: Halo-style dates,
//! query-string parsing with ASP.NET-like leniency, base64, and HTML <-> text for notes.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Timelike, Utc};
use serde_json::Value;

/// Halo writes dates as UTC ISO-8601 without a zone suffix and without fractions.
pub(crate) const DATE_FORMAT: &str = "%Y-%m-%dT%H:%M:%S";

/// What Halo returns for a date that was never set (e.g. `dateclosed` of an open ticket).
pub(crate) const SENTINEL_DATE: &str = "1900-01-01T00:00:00";

/// A time truncated to whole seconds (Halo never returns fractions here).
pub(crate) fn whole_seconds(t: DateTime<Utc>) -> NaiveDateTime {
    let n = t.naive_utc();
    n.with_nanosecond(0).unwrap_or(n)
}

/// The wall clock in whole seconds, for unit tests of the store; a running simulator's dates
/// come from its [`Clock`](crate::clock::Clock).
#[cfg(test)]
pub(crate) fn now() -> NaiveDateTime {
    whole_seconds(Utc::now())
}

pub(crate) fn fmt_date(d: NaiveDateTime) -> String {
    d.format(DATE_FORMAT).to_string()
}

/// A date read from a request or from a stored ticket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ParsedDate {
    pub at: NaiveDateTime,
    /// True when the text carried no time of day (`2026-09-01`).
    pub date_only: bool,
}

/// Parse the date shapes a client may send: with or without zone (`Z`, `+02:00`), with or without
/// fractions, `T` or space separator, or a bare date. Zoned values are converted to UTC.
pub(crate) fn parse_date(s: &str) -> Option<ParsedDate> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        let at = dt.with_timezone(&Utc).naive_utc();
        return Some(ParsedDate { at: at.with_nanosecond(0).unwrap_or(at), date_only: false });
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(s, f) {
            return Some(ParsedDate { at: dt.with_nanosecond(0).unwrap_or(dt), date_only: false });
        }
    }
    // A trailing `Z` without seconds or an ISO date with a `Z` that RFC 3339 rejected.
    if let Some(stripped) = s.strip_suffix('Z').or_else(|| s.strip_suffix('z'))
        && let Some(p) = parse_date(stripped)
    {
        return Some(p);
    }
    let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    Some(ParsedDate { at: d.and_hms_opt(0, 0, 0)?, date_only: true })
}

/// A stored date that means "not set" (`1899-12-30...`, `1900-01-01...`).
pub(crate) fn is_sentinel(d: NaiveDateTime) -> bool {
    use chrono::Datelike;
    d.year() < 1901
}

/// Read a stored ticket date; sentinels and garbage count as absent.
pub(crate) fn stored_date(v: Option<&Value>) -> Option<NaiveDateTime> {
    let p = parse_date(v?.as_str()?)?;
    (!is_sentinel(p.at)).then_some(p.at)
}

// ---------------------------------------------------------------------------------------------
// Query strings

/// Decoded query or form pairs, looked up case-insensitively like ASP.NET model binding does.
#[derive(Clone, Debug, Default)]
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    pub(crate) fn parse(raw: Option<&str>) -> Params {
        Params(raw.map(parse_pairs).unwrap_or_default())
    }

    pub(crate) fn from_pairs(pairs: Vec<(String, String)>) -> Params {
        Params(pairs)
    }

    fn matches(stored: &str, key: &str) -> bool {
        let stored = stored.strip_suffix("[]").unwrap_or(stored);
        stored.eq_ignore_ascii_case(key)
    }

    /// First value for `key`.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| Self::matches(k, key)).map(|(_, v)| v.as_str())
    }

    /// First non-blank value for `key`.
    pub(crate) fn get_nonblank(&self, key: &str) -> Option<&str> {
        self.get(key).map(str::trim).filter(|v| !v.is_empty())
    }

    /// Every value for `key`, accepting repeated keys and comma-separated lists alike.
    pub(crate) fn list(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| Self::matches(k, key))
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .collect()
    }

    /// `true`, `True`, `1` are true; anything else (or absence) is false.
    pub(crate) fn flag(&self, key: &str) -> bool {
        self.get(key).is_some_and(truthy)
    }

    /// An integer parameter; a value that is present but not an integer is a binding error.
    pub(crate) fn int(&self, key: &str) -> Result<Option<i64>, String> {
        match self.get_nonblank(key) {
            None => Ok(None),
            Some(v) => v.parse::<i64>().map(Some).map_err(|_| format!("The value '{v}' is not valid for {key}.")),
        }
    }

    /// An integer list parameter (repeated keys or comma lists); `None` when absent.
    pub(crate) fn int_list(&self, key: &str) -> Result<Option<Vec<i64>>, String> {
        let raw = self.list(key);
        if raw.is_empty() {
            return Ok(None);
        }
        raw.into_iter()
            .map(|v| v.parse::<i64>().map_err(|_| format!("The value '{v}' is not valid for {key}.")))
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }
}

pub(crate) fn truthy(v: &str) -> bool {
    let v = v.trim();
    v.eq_ignore_ascii_case("true") || v == "1"
}

/// Parse `a=1&b=two+words&c=%2C` into decoded pairs. Never fails: undecodable escapes are kept.
pub(crate) fn parse_pairs(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (url_decode(k), url_decode(v))
        })
        .collect()
}

/// Form/query decoding: `+` is a space, `%XX` is a byte; invalid UTF-8 is replaced.
pub(crate) fn url_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' if i + 2 < bytes.len() => match (hex_val(bytes[i + 1]), hex_val(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// base64 (standard or URL-safe alphabet, padding optional, whitespace ignored)

pub(crate) fn base64_decode(s: &str) -> Option<Vec<u8>> {
    fn val(c: u8) -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some(u32::from(c - b'A')),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
            b'+' | b'-' => Some(62),
            b'/' | b'_' => Some(63),
            _ => None,
        }
    }
    let clean: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let body = match clean.iter().position(|&b| b == b'=') {
        Some(p) => {
            // Only padding may follow the first '=', at most two of them, and only to a
            // multiple of four.
            if clean[p..].iter().any(|&b| b != b'=') || clean.len() - p > 2 || clean.len() % 4 != 0 {
                return None;
            }
            &clean[..p]
        }
        None => &clean[..],
    };
    if body.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(body.len() / 4 * 3 + 2);
    for chunk in body.chunks(4) {
        let mut n: u32 = 0;
        for (i, &c) in chunk.iter().enumerate() {
            n |= val(c)? << (18 - 6 * i);
        }
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(out)
}

#[cfg(test)]
pub(crate) fn base64_encode(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let mut n = 0u32;
        for (i, &b) in chunk.iter().enumerate() {
            n |= u32::from(b) << (16 - 8 * i);
        }
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Notes: plain text <-> HTML

/// Plain text to the HTML Halo would store: escaped, newlines as `<br>`.
pub(crate) fn text_to_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' => out.push_str("<br>"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// HTML to plain text: tags dropped (`<br>` and block ends become newlines), entities decoded.
pub(crate) fn html_to_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        let Some(end) = after.find('>') else {
            // An unclosed '<' is text, not a tag.
            out.push_str(after);
            rest = "";
            break;
        };
        let tag = after[1..end].trim().to_ascii_lowercase();
        let name = tag.trim_start_matches('/').split([' ', '/']).next().unwrap_or("");
        if matches!(name, "br" | "p" | "div" | "li" | "tr") && (name == "br" || tag.starts_with('/')) && !out.ends_with('\n') {
            out.push('\n');
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    decode_entities(out.trim_end_matches('\n'))
}

fn decode_entities(s: &str) -> String {
    s.replace("&nbsp;", " ").replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&#39;", "'").replace("&amp;", "&")
}

// ---------------------------------------------------------------------------------------------
// Lenient JSON scalar reading, the way Halo's deserializer accepts numbers and booleans

/// An integer from a JSON number (integral) or a numeric string; `Ok(None)` for null.
pub(crate) fn json_int(v: &Value) -> Result<Option<i64>, ()> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Ok(Some(i))
            } else {
                match n.as_f64() {
                    Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Some(f as i64)),
                    _ => Err(()),
                }
            }
        }
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => s.trim().parse::<i64>().map(Some).map_err(|_| ()),
        _ => Err(()),
    }
}

/// A boolean from true/false, 0/1 or their string forms; `Ok(None)` for null.
pub(crate) fn json_bool(v: &Value) -> Result<Option<bool>, ()> {
    match v {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(*b)),
        Value::Number(n) => match n.as_i64() {
            Some(0) => Ok(Some(false)),
            Some(1) => Ok(Some(true)),
            _ => Err(()),
        },
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(Some(true)),
            "false" | "0" => Ok(Some(false)),
            "" => Ok(None),
            _ => Err(()),
        },
        _ => Err(()),
    }
}

/// A string from a JSON string, or the text form of a number/bool; `Ok(None)` for null.
pub(crate) fn json_string(v: &Value) -> Result<Option<String>, ()> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Bool(b) => Ok(Some(b.to_string())),
        _ => Err(()),
    }
}

/// The text a custom field shows for a stored value.
pub(crate) fn display_of(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_in_all_accepted_shapes() {
        let want = NaiveDate::from_ymd_opt(2026, 9, 1).and_then(|d| d.and_hms_opt(8, 0, 0)).map(|at| ParsedDate { at, date_only: false });
        for s in [
            "2026-09-01T08:00:00",
            "2026-09-01T08:00:00Z",
            "2026-09-01T08:00:00.1234567",
            "2026-09-01T08:00:00.123Z",
            "2026-09-01 08:00:00",
            "2026-09-01T10:00:00+02:00",
            "2026-09-01T08:00",
            "2026-09-01T08:00Z",
        ] {
            assert_eq!(parse_date(s), want, "{s}");
        }
        let d = parse_date("2026-09-01").map(|p| (p.date_only, fmt_date(p.at)));
        assert_eq!(d, Some((true, "2026-09-01T00:00:00".to_string())));
        assert_eq!(parse_date("yesterday"), None);
        // Extreme but parseable: callers must not do unchecked arithmetic on it.
        assert!(parse_date("+262142-12-31").is_some_and(|p| p.date_only));
        assert_eq!(parse_date(""), None);
        assert_eq!(stored_date(Some(&Value::from(SENTINEL_DATE))), None);
        assert_eq!(stored_date(Some(&Value::from("1899-12-30T00:00:00"))), None);
    }

    #[test]
    fn query_params_are_case_insensitive_and_take_lists() {
        let p = Params::parse(Some("Status=1,2&status=4&agent%5B%5D=3&search=two+words%21&Open_Only=True&n=x&bad=%zz"));
        assert_eq!(p.list("status"), vec!["1", "2", "4"]);
        assert_eq!(p.int_list("agent"), Ok(Some(vec![3])));
        assert_eq!(p.get("search"), Some("two words!"));
        assert!(p.flag("open_only"));
        assert!(!p.flag("closed_only"));
        assert!(p.int("n").is_err());
        assert_eq!(p.int("missing"), Ok(None));
        assert_eq!(p.get("bad"), Some("%zz"));
        assert_eq!(url_decode("%"), "%");
        assert_eq!(url_decode("a%4"), "a%4");
        assert_eq!(url_decode("%41%42"), "AB");
    }

    #[test]
    fn base64_round_trips_and_rejects_garbage() {
        for data in [&b""[..], b"f", b"fo", b"foo", b"foob", b"fooba", b"foobar"] {
            let enc = base64_encode(data);
            assert_eq!(base64_decode(&enc).as_deref(), Some(data));
            assert_eq!(base64_decode(enc.trim_end_matches('=')).as_deref(), Some(data));
        }
        assert_eq!(base64_decode("aGVs\nbG8=").as_deref(), Some(&b"hello"[..]));
        assert_eq!(base64_decode("not base64!"), None);
        assert_eq!(base64_decode("a"), None);
        assert_eq!(base64_decode("ab=c"), None);
        assert_eq!(base64_decode("ab==="), None);
    }

    #[test]
    fn notes_convert_between_text_and_html() {
        assert_eq!(text_to_html("a < b & c\nnext"), "a &lt; b &amp; c<br>next");
        assert_eq!(html_to_text("<p>Hello <b>there</b></p><p>x &amp; y<br/>z</p>"), "Hello there\nx & y\nz");
        assert_eq!(html_to_text("1 < 2"), "1 < 2");
        assert_eq!(html_to_text(&text_to_html("a\n<b>")), "a\n<b>");
    }

    #[test]
    fn lenient_scalars() {
        assert_eq!(json_int(&Value::from(3)), Ok(Some(3)));
        assert_eq!(json_int(&Value::from("12")), Ok(Some(12)));
        assert_eq!(json_int(&Value::from(2.0)), Ok(Some(2)));
        assert_eq!(json_int(&Value::from(2.5)), Err(()));
        assert_eq!(json_int(&Value::from("x")), Err(()));
        assert_eq!(json_int(&Value::Null), Ok(None));
        assert_eq!(json_bool(&Value::from("True")), Ok(Some(true)));
        assert_eq!(json_bool(&Value::from(0)), Ok(Some(false)));
        assert_eq!(json_bool(&Value::from("maybe")), Err(()));
    }
}
