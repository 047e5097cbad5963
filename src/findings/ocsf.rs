//! Prowler's OCSF Detection Findings (`*.ocsf.json`, OCSF 1.1 to 1.5 and their variations),
//! read tolerantly: status from `status_code`/`status` (never the numeric ids), `finding_info`
//! or the older `finding`, categories as a list or a string, Kubernetes findings without
//! `cloud`, times as epoch seconds or ISO strings.

use std::fmt;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;

/// OCSF severity, ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] = [Severity::Informational, Severity::Low, Severity::Medium, Severity::High, Severity::Critical];

    pub fn parse(s: &str) -> Option<Severity> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "informational" | "info" => Severity::Informational,
            "low" => Severity::Low,
            "medium" => Severity::Medium,
            "high" => Severity::High,
            "critical" | "fatal" => Severity::Critical,
            _ => return None,
        })
    }

    fn from_id(id: i64) -> Option<Severity> {
        Some(match id {
            1 => Severity::Informational,
            2 => Severity::Low,
            3 => Severity::Medium,
            4 => Severity::High,
            5 | 6 => Severity::Critical,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Informational => "Informational",
            Severity::Low => "Low",
            Severity::Medium => "Medium",
            Severity::High => "High",
            Severity::Critical => "Critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A finding, as much as the file says (empty strings for what it does not).
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// `FAIL`, `PASS`, `MANUAL`, ... (upper case).
    pub status: String,
    pub status_detail: String,
    pub severity: Severity,
    pub check_id: String,
    pub title: String,
    /// `finding_info.uid` when it is a real ID (not a placeholder).
    pub uid: Option<String>,
    pub provider: String,
    pub account_uid: String,
    pub account_name: String,
    pub region: String,
    pub resource_uid: String,
    pub resource_name: String,
    pub resource_type: String,
    pub risk: String,
    pub remediation: String,
    pub references: Vec<String>,
    pub compliance: Vec<(String, Vec<String>)>,
    pub categories: Vec<String>,
    pub first_seen: Option<DateTime<Utc>>,
    pub last_seen: Option<DateTime<Utc>>,
}

fn s(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |cur, k| cur.get(k))
}

/// A value Prowler leaves as a template placeholder (`<finding_uid>`) or empty.
pub fn is_placeholder(s: &str) -> bool {
    let s = s.trim();
    s.is_empty() || (s.contains('<') && s.contains('>'))
}

fn time(v: Option<&Value>) -> Option<DateTime<Utc>> {
    match v? {
        Value::Number(n) => {
            let secs = n.as_i64().or_else(|| n.as_f64().map(|f| f as i64))?;
            // Milliseconds when the number is too large for seconds.
            if secs > 100_000_000_000 { Utc.timestamp_millis_opt(secs).single() } else { Utc.timestamp_opt(secs, 0).single() }
        }
        Value::String(s) => crate::halo::ticket::parse_halo_date(s),
        _ => None,
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(items)) => items.iter().map(|i| s(Some(i))).filter(|i| !i.is_empty()).collect(),
        // Some versions write a comma-separated string.
        Some(Value::String(text)) => text.split(',').map(|p| p.trim().to_string()).filter(|p| !p.is_empty()).collect(),
        _ => Vec::new(),
    }
}

/// Why a finding cannot be ticketed: what is missing or not a finding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unusable {
    #[error("the finding is not a JSON object")]
    NotAnObject,
    #[error("not a Detection Finding (class_name `{0}`)")]
    OtherClass(String),
    #[error("no `status_code` (PASS, FAIL or MANUAL)")]
    NoStatus,
    #[error("no usable `severity`")]
    NoSeverity,
    #[error("no check ID (`metadata.event_code`) and no finding ID")]
    NoCheck,
}

/// Read one finding; the error says what is missing.
pub fn parse(v: &Value) -> Result<Finding, Unusable> {
    let Some(obj) = v.as_object() else { return Err(Unusable::NotAnObject) };
    let class = s(obj.get("class_name")).replace(' ', "").to_ascii_lowercase();
    if !class.is_empty() && class != "detectionfinding" {
        return Err(Unusable::OtherClass(s(obj.get("class_name"))));
    }
    let status = {
        let code = s(obj.get("status_code")).to_ascii_uppercase();
        if !code.is_empty() {
            code
        } else {
            // Older files put PASS/FAIL in `status` itself.
            let st = s(obj.get("status")).to_ascii_uppercase();
            if matches!(st.as_str(), "PASS" | "FAIL" | "MANUAL" | "MUTED") { st } else { String::new() }
        }
    };
    if status.is_empty() {
        return Err(Unusable::NoStatus);
    }
    let severity = Severity::parse(&s(obj.get("severity")))
        .or_else(|| obj.get("severity_id").and_then(Value::as_i64).and_then(Severity::from_id))
        .ok_or(Unusable::NoSeverity)?;
    let info = obj.get("finding_info").or_else(|| obj.get("finding")).cloned().unwrap_or(Value::Null);
    let check_id = s(at(v, &["metadata", "event_code"]));
    let uid = Some(s(info.get("uid"))).filter(|u| !is_placeholder(u));
    if check_id.is_empty() && uid.is_none() {
        return Err(Unusable::NoCheck);
    }
    let resource = obj.get("resources").and_then(Value::as_array).and_then(|r| r.first()).cloned().unwrap_or(Value::Null);
    let cloud = obj.get("cloud").cloned().unwrap_or(Value::Null);
    let provider = {
        let p = s(cloud.get("provider"));
        if !p.is_empty() {
            p
        } else if at(v, &["metadata", "profiles"]).and_then(Value::as_array).is_some_and(|p| p.iter().any(|x| x == "container"))
            || resource.get("namespace").is_some()
        {
            "kubernetes".into()
        } else {
            s(resource.get("cloud_partition"))
        }
    };
    let region = Some(s(cloud.get("region"))).filter(|r| !r.is_empty()).unwrap_or_else(|| s(resource.get("region")));
    let compliance = match at(v, &["unmapped", "compliance"]) {
        Some(Value::Object(m)) => m.iter().map(|(k, ids)| (k.clone(), strings(Some(ids)))).collect(),
        _ => Vec::new(),
    };
    let mut references = strings(at(v, &["remediation", "references"]));
    let related = s(at(v, &["unmapped", "related_url"]));
    if !related.is_empty() && !references.contains(&related) {
        references.push(related);
    }
    Ok(Finding {
        status,
        status_detail: Some(s(obj.get("status_detail"))).filter(|d| !d.is_empty()).unwrap_or_else(|| s(obj.get("message"))),
        severity,
        title: Some(s(info.get("title"))).filter(|t| !t.is_empty()).unwrap_or_else(|| check_id.clone()),
        check_id: if check_id.is_empty() { uid.clone().unwrap_or_default() } else { check_id },
        uid,
        provider,
        account_uid: s(at(&cloud, &["account", "uid"])),
        account_name: s(at(&cloud, &["account", "name"])),
        region,
        resource_uid: s(resource.get("uid")),
        resource_name: s(resource.get("name")),
        resource_type: s(resource.get("type")),
        risk: s(obj.get("risk_details")),
        remediation: s(at(v, &["remediation", "desc"])),
        references,
        compliance,
        categories: strings(at(v, &["unmapped", "categories"])),
        first_seen: time(info.get("first_seen_time_dt"))
            .or_else(|| time(info.get("first_seen_time")))
            .or_else(|| time(info.get("created_time_dt")))
            .or_else(|| time(info.get("created_time")))
            .or_else(|| time(obj.get("time_dt")))
            .or_else(|| time(obj.get("time"))),
        last_seen: time(info.get("last_seen_time_dt"))
            .or_else(|| time(info.get("last_seen_time")))
            .or_else(|| time(obj.get("time_dt")))
            .or_else(|| time(obj.get("time"))),
    })
}

/// Read a whole Prowler output file: a JSON array of findings (or one finding, or JSON lines).
pub fn read_file(bytes: &[u8]) -> Result<Vec<Value>, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "the file is not UTF-8 text".to_string())?;
    let trimmed = text.trim_start_matches('\u{feff}').trim();
    if trimmed.is_empty() {
        return Ok(Vec::new());
    }
    match serde_json::from_str::<Value>(trimmed) {
        Ok(Value::Array(items)) => Ok(items),
        Ok(obj @ Value::Object(_)) => Ok(vec![obj]),
        Ok(_) => Err("expected a JSON array of findings".into()),
        Err(first) => {
            // JSON lines (one finding per line), as some tools write.
            let items: Result<Vec<Value>, _> =
                trimmed.lines().filter(|l| !l.trim().is_empty()).map(serde_json::from_str::<Value>).collect();
            items.map_err(|_| format!("the file is not valid JSON: {first}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn variations_are_accepted() {
        let base = json!({"class_name": "DetectionFinding", "status_code": "fail", "status": "New", "status_id": 99, "severity": "HIGH",
            "metadata": {"event_code": "s3_bucket_public", "profiles": ["container"]}, "finding": {"uid": "abc", "title": "Public bucket"},
            "unmapped": {"categories": "internet-exposed, encryption"}, "resources": [{"uid": "arn:aws:s3:::b", "namespace": "n"}], "time": 1739539623});
        let f = parse(&base).unwrap();
        assert_eq!((f.status.as_str(), f.severity), ("FAIL", Severity::High));
        assert_eq!(f.uid.as_deref(), Some("abc"));
        assert_eq!(f.categories, vec!["internet-exposed", "encryption"]);
        assert_eq!(f.provider, "kubernetes", "no cloud, a container profile");
        assert_eq!(f.first_seen.unwrap().timestamp(), 1739539623);
        // Status keyed on the code, not status_id: MANUAL with status_id 99.
        let manual = json!({"status_code": "MANUAL", "status_id": 99, "severity_id": 3, "metadata": {"event_code": "x"}});
        let m = parse(&manual).unwrap();
        assert_eq!((m.status.as_str(), m.severity), ("MANUAL", Severity::Medium));
    }

    #[test]
    fn malformed_findings_say_why() {
        assert_eq!(parse(&json!("x")).unwrap_err().to_string(), "the finding is not a JSON object");
        assert!(parse(&json!({"severity": "Low", "metadata": {"event_code": "x"}})).unwrap_err().to_string().contains("status_code"));
        assert!(parse(&json!({"status_code": "FAIL", "metadata": {"event_code": "x"}})).unwrap_err().to_string().contains("severity"));
        assert!(parse(&json!({"status_code": "FAIL", "severity": "Low"})).unwrap_err().to_string().contains("check ID"));
        assert!(
            parse(&json!({"class_name": "Compliance Finding", "status_code": "FAIL", "severity": "Low", "metadata": {"event_code": "x"}}))
                .unwrap_err()
                .to_string()
                .contains("Detection Finding")
        );
    }

    #[test]
    fn placeholders_are_not_ids() {
        assert!(is_placeholder("<finding_uid>"));
        assert!(is_placeholder("prowler-azure-x-<subscription_uid>-global"));
        assert!(is_placeholder(""));
        assert!(!is_placeholder("prowler-aws-iam_x-123456789012-us-east-1-role"));
    }

    #[test]
    fn files_as_arrays_objects_or_lines() {
        assert_eq!(read_file(b"[{\"a\":1},{\"a\":2}]").unwrap().len(), 2);
        assert_eq!(read_file(b"{\"a\":1}").unwrap().len(), 1);
        assert_eq!(read_file(b"{\"a\":1}\n{\"a\":2}\n").unwrap().len(), 2);
        assert!(read_file(b"[1,").is_err());
        assert!(read_file(b"").unwrap().is_empty());
    }

    #[test]
    fn every_shared_prowler_file_parses() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/prowler");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let bytes = std::fs::read(path).unwrap();
            for f in read_file(&bytes).unwrap() {
                let parsed = parse(&f).unwrap_or_else(|e| panic!("{e}: {f}"));
                assert!(!parsed.check_id.is_empty() && !parsed.title.is_empty());
                n += 1;
            }
        }
        assert!(n >= 20, "{n}");
    }
}
