//! An InsightVM solution (and a project's parent ticket) as HaloITSM ticket text.

use super::parse::Remediation;
use crate::halo::markup::escape;
use crate::lifecycle::text::{SUMMARY_MAX, cut, dash};

fn plural(n: i64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `[InsightVM] <solution summary> - <n> assets, <m> vulnerabilities`, cut to HaloITSM's limit.
pub fn summary(r: &Remediation) -> String {
    cut(
        &format!(
            "[InsightVM] {} - {}, {}",
            r.summary.trim(),
            plural(r.asset_count, "asset", "assets"),
            plural(r.vulnerability_count, "vulnerability", "vulnerabilities")
        ),
        SUMMARY_MAX,
    )
}

fn row(out: &mut String, label: &str, value: &str) {
    out.push_str(&format!("<tr><th align=\"left\">{label}</th><td>{}</td></tr>", escape(dash(value))));
}

/// Plain text (InsightVM's fix steps are text) as HTML paragraphs.
fn paragraphs(text: &str) -> String {
    text.split("\n\n").filter(|p| !p.trim().is_empty()).map(|p| format!("<p>{}</p>", escape(p.trim()).replace('\n', "<br>"))).collect()
}

/// The details: what the solution is, its fix steps, the assets and vulnerabilities it fixes,
/// then the tags and the snapshot (`footer`) a rerun finds it by.
pub fn details(r: &Remediation, project: &str, footer: &str) -> String {
    let mut out = format!("<p><b>InsightVM solution</b>: {}</p><table>", escape(&r.summary));
    row(&mut out, "Solution", &r.nexpose_id);
    row(&mut out, "Solution ID", &r.solution_id.map(|i| i.to_string()).unwrap_or_default());
    row(&mut out, "Project", project);
    row(&mut out, "Risk score", &r.risk_score.to_string());
    row(&mut out, "Assets", &r.asset_count.to_string());
    row(&mut out, "Vulnerabilities", &r.vulnerability_count.to_string());
    out.push_str("</table>");
    if !r.fix.trim().is_empty() {
        out.push_str("<h3>Fix</h3>");
        out.push_str(&paragraphs(&r.fix));
    }
    if !r.assets.is_empty() {
        let shown =
            if (r.assets.len() as i64) < r.asset_count { format!(" ({} of {})", r.assets.len(), r.asset_count) } else { String::new() };
        out.push_str(&format!(
            "<h3>Assets{shown}</h3><table><tr><th>ID</th><th>Host</th><th>IP</th><th>OS</th><th>Risk score</th><th>Criticality</th></tr>"
        ));
        for a in &r.assets {
            out.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                a.id,
                escape(dash(&a.host_name)),
                escape(dash(&a.ip)),
                escape(dash(&a.os)),
                a.risk_score,
                escape(dash(&a.criticality))
            ));
        }
        out.push_str("</table>");
    }
    if !r.vulnerabilities.is_empty() {
        let n = r.vulnerabilities.len() as i64;
        let shown = if n < r.vulnerability_count { format!(" ({n} of {})", r.vulnerability_count) } else { String::new() };
        out.push_str(&format!(
            "<h3>Vulnerabilities{shown}</h3><table><tr><th>ID</th><th>Title</th><th>CVSS</th><th>Severity</th><th>Risk score</th></tr>"
        ));
        for v in &r.vulnerabilities {
            out.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&v.id),
                escape(dash(&v.title)),
                escape(dash(&v.cvss)),
                v.severity.map(|s| s.to_string()).unwrap_or_else(|| "-".into()),
                v.risk_score
            ));
        }
        out.push_str("</table>");
    }
    out.push_str(&format!("<p>{footer}</p>"));
    out
}

/// The parent ticket's summary.
pub fn parent_summary(project: &str) -> String {
    cut(&format!("[InsightVM] Remediation project: {}", project.trim()), SUMMARY_MAX)
}

/// The parent ticket's details: the project's open solutions, highest risk first, then those
/// still open that the last list left out.
pub fn parent_details(project: &str, open: &[&Remediation], still_open: &[String], footer: &str) -> String {
    let mut out = format!(
        "<p><b>InsightVM remediation project</b>: {}</p><p>{} need work; each has its own child ticket.</p>",
        escape(project),
        plural(open.len() as i64, "solution", "solutions")
    );
    if !open.is_empty() {
        out.push_str("<table><tr><th>Solution</th><th>Summary</th><th>Assets</th><th>Risk score</th></tr>");
        for r in open {
            out.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&r.nexpose_id),
                escape(&r.summary),
                r.asset_count,
                r.risk_score
            ));
        }
        out.push_str("</table>");
    }
    if !still_open.is_empty() {
        let names: Vec<String> = still_open.iter().map(|s| escape(s)).collect();
        out.push_str(&format!("<p>Still open, not in the last list: {}</p>", names.join(", ")));
    }
    out.push_str(&format!("<p>{footer}</p>"));
    out
}
