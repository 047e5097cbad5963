//! A finding as a HaloITSM ticket: the summary line and the HTML details.

use super::GroupBy;
use super::ocsf::{Finding, Severity};

pub use crate::halo::markup::escape;
use crate::lifecycle::text::{SUMMARY_MAX, cut, dash};

/// `[Prowler] <SEVERITY> - <check id> - <resource uid>` (or `- <n> resources` for a check),
/// cut to HaloITSM's limit.
pub fn summary<'a>(findings: impl Iterator<Item = &'a Finding>, group: GroupBy) -> String {
    let all: Vec<&Finding> = findings.collect();
    let severity = all.iter().map(|f| f.severity).max().unwrap_or(Severity::Informational);
    let check = all.first().map(|f| f.check_id.as_str()).unwrap_or("-");
    let tail = match group {
        GroupBy::Finding => dash(all.first().map(|f| f.resource_uid.as_str()).unwrap_or("")).to_string(),
        GroupBy::Check => {
            let n = all.len();
            format!("{n} resource{}", if n == 1 { "" } else { "s" })
        }
    };
    cut(&format!("[Prowler] {} - {check} - {tail}", severity.as_str().to_uppercase()), SUMMARY_MAX)
}

fn cell(s: &str) -> String {
    escape(dash(s))
}

fn row(out: &mut String, label: &str, value_html: &str) {
    out.push_str(&format!("<tr><th align=\"left\">{label}</th><td>{value_html}</td></tr>"));
}

fn references(refs: &[String]) -> String {
    if refs.is_empty() {
        return "-".into();
    }
    refs.iter()
        .map(|r| {
            if r.starts_with("https://") || r.starts_with("http://") {
                format!("<a href=\"{0}\">{0}</a>", escape(r))
            } else {
                format!("<code>{}</code>", escape(r))
            }
        })
        .collect::<Vec<_>>()
        .join("<br>")
}

fn compliance(c: &[(String, Vec<String>)]) -> String {
    if c.is_empty() {
        return "-".into();
    }
    c.iter().map(|(framework, ids)| format!("{}: {}", escape(framework), escape(&ids.join(", ")))).collect::<Vec<_>>().join("<br>")
}

fn when(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string()).unwrap_or_else(|| "-".into())
}

/// The ticket details: what failed, where, why it matters, how to fix it, and the key tag.
pub fn details(findings: &[&Finding], group: GroupBy, tag: &str) -> String {
    let Some(first) = findings.first() else { return String::new() };
    let mut out = format!("<p><b>Prowler finding</b>: {}</p><table>", cell(&first.title));
    let severity = findings.iter().map(|f| f.severity).max().unwrap_or(first.severity);
    row(&mut out, "Check", &cell(&first.check_id));
    row(&mut out, "Severity", severity.as_str());
    if group == GroupBy::Finding {
        row(&mut out, "Status", &format!("{} - {}", cell(&first.status), cell(&first.status_detail)));
    }
    row(&mut out, "Provider", &cell(&first.provider));
    let account = if first.account_name.is_empty() {
        cell(&first.account_uid)
    } else {
        format!("{} ({})", cell(&first.account_uid), escape(&first.account_name))
    };
    row(&mut out, "Account", &account);
    if group == GroupBy::Finding {
        row(&mut out, "Region", &cell(&first.region));
        row(&mut out, "Resource UID", &cell(&first.resource_uid));
        row(&mut out, "Resource name", &cell(&first.resource_name));
        row(&mut out, "Resource type", &cell(&first.resource_type));
    }
    row(&mut out, "Risk", &cell(&first.risk));
    row(&mut out, "Remediation", &cell(&first.remediation));
    row(&mut out, "References", &references(&first.references));
    row(&mut out, "Compliance", &compliance(&first.compliance));
    let first_seen = findings.iter().filter_map(|f| f.first_seen).min();
    let last_seen = findings.iter().filter_map(|f| f.last_seen).max();
    row(&mut out, "First seen", &when(first_seen));
    row(&mut out, "Last seen", &when(last_seen));
    out.push_str("</table>");
    if group == GroupBy::Check {
        out.push_str("<p><b>Affected resources</b></p><table><tr><th>Resource UID</th><th>Name</th><th>Region</th><th>Status</th><th>Detail</th></tr>");
        for f in findings {
            out.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                cell(&f.resource_uid),
                cell(&f.resource_name),
                cell(&f.region),
                cell(&f.status),
                cell(&f.status_detail)
            ));
        }
        out.push_str("</table>");
    }
    out.push_str(&format!("<p>{}</p>", escape(tag)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f() -> Finding {
        Finding {
            status: "FAIL".into(),
            status_detail: "Bucket <b> is public".into(),
            severity: Severity::High,
            check_id: "s3_bucket_public_access".into(),
            title: "Ensure S3 buckets are not public".into(),
            uid: None,
            provider: "aws".into(),
            account_uid: "123456789012".into(),
            account_name: String::new(),
            region: "eu-west-1".into(),
            resource_uid: "arn:aws:s3:::logs".into(),
            resource_name: String::new(),
            resource_type: "AwsS3Bucket".into(),
            risk: "Data exposure".into(),
            remediation: "Block public access".into(),
            references: vec!["https://docs.aws.amazon.com/x".into(), "aws s3api put-public-access-block".into()],
            compliance: vec![("CIS-3.0".into(), vec!["2.1.4".into()])],
            categories: vec![],
            first_seen: None,
            last_seen: None,
        }
    }

    #[test]
    fn summary_line_and_limit() {
        assert_eq!(summary([&f()].into_iter(), GroupBy::Finding), "[Prowler] HIGH - s3_bucket_public_access - arn:aws:s3:::logs");
        assert_eq!(summary([&f(), &f()].into_iter(), GroupBy::Check), "[Prowler] HIGH - s3_bucket_public_access - 2 resources");
        let mut long = f();
        long.resource_uid = "x".repeat(400);
        let s = summary([&long].into_iter(), GroupBy::Finding);
        assert_eq!(s.chars().count(), SUMMARY_MAX);
        assert!(s.ends_with('…'));
        let mut empty = f();
        empty.resource_uid.clear();
        assert!(summary([&empty].into_iter(), GroupBy::Finding).ends_with(" - -"));
    }

    #[test]
    fn details_are_escaped_complete_and_tagged() {
        let d = details(&[&f()], GroupBy::Finding, "prowler-key:0123456789abcdef");
        assert!(d.contains("Bucket &lt;b&gt; is public"), "{d}");
        assert!(d.contains("<a href=\"https://docs.aws.amazon.com/x\">"));
        assert!(d.contains("<code>aws s3api put-public-access-block</code>"));
        assert!(d.contains("CIS-3.0: 2.1.4"));
        assert!(d.contains("<th align=\"left\">Resource name</th><td>-</td>"), "empty values as -");
        assert!(d.contains("<th align=\"left\">First seen</th><td>-</td>"));
        assert!(d.ends_with("<p>prowler-key:0123456789abcdef</p>"));
        let g = details(&[&f(), &f()], GroupBy::Check, "t");
        assert_eq!(g.matches("<td>arn:aws:s3:::logs</td>").count(), 2);
    }
}
