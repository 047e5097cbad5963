//! 4. Prowler OCSF findings: files read, parsed, mutated and cut, the whole batch, the ticket text.

use super::*;

/// A Prowler example output: file name, bytes, findings.
type Example = (String, Vec<u8>, Vec<Value>);

fn examples() -> &'static Vec<Example> {
    static EX: OnceLock<Vec<Example>> = OnceLock::new();
    EX.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/prowler");
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&dir).expect("testdata/prowler") {
            let path = entry.expect("an entry").path();
            if !path.to_string_lossy().ends_with(".ocsf.json") {
                continue;
            }
            let bytes = std::fs::read(&path).expect("an example file");
            let findings = ocsf::read_file(&bytes).expect("the example parses");
            out.push((path.file_name().unwrap_or_default().to_string_lossy().into_owned(), bytes, findings));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        assert!(out.len() >= 4, "the Prowler examples are missing");
        out
    })
}

fn example_findings() -> Vec<Value> {
    examples().iter().flat_map(|(_, _, f)| f.clone()).collect()
}

/// The invariants of a parsed finding.
fn check_finding(f: &ocsf::Finding) -> Result<(), TestCaseError> {
    prop_assert!(!f.status.is_empty() && f.status == f.status.to_ascii_uppercase(), "status {:?}", f.status);
    prop_assert!(!f.check_id.is_empty(), "no check ID");
    prop_assert!(!f.title.is_empty(), "no title");
    prop_assert!(f.uid.as_deref().is_none_or(|u| !ocsf::is_placeholder(u)), "a placeholder as ID");
    prop_assert!(!findings::key_of(f, GroupBy::Finding).is_empty() && !findings::key_of(f, GroupBy::Check).is_empty());
    Ok(())
}

/// One change to a finding: drop the key at a path, or put another type of value there.
#[derive(Debug, Clone)]
enum Mutation {
    Drop(Vec<prop::sample::Index>),
    Replace(Vec<prop::sample::Index>, Value),
}

fn mutation() -> BoxedStrategy<Mutation> {
    let path = prop::collection::vec(any::<prop::sample::Index>(), 1..5);
    prop_oneof![path.clone().prop_map(Mutation::Drop), (path, arb_json()).prop_map(|(p, v)| Mutation::Replace(p, v)),].boxed()
}

fn kind(v: &Value) -> u8 {
    match v {
        Value::Null => 0,
        Value::Bool(_) => 1,
        Value::Number(_) => 2,
        Value::String(_) => 3,
        Value::Array(_) => 4,
        Value::Object(_) => 5,
    }
}

/// Apply a mutation; returns the top-level key it touched.
fn mutate(v: &mut Value, m: &Mutation) -> Option<String> {
    let (path, replacement) = match m {
        Mutation::Drop(p) => (p, None),
        Mutation::Replace(p, r) => (p, Some(r)),
    };
    let mut top = None;
    let mut cur = v;
    for (depth, step) in path.iter().enumerate() {
        let last = depth + 1 == path.len();
        let next = match cur {
            Value::Object(map) if !map.is_empty() => {
                let k = map.keys().nth(step.index(map.len())).cloned()?;
                if depth == 0 {
                    top = Some(k.clone());
                }
                if last || !map[&k].is_object() && !map[&k].is_array() {
                    match replacement {
                        None => {
                            map.shift_remove(&k);
                        }
                        Some(r) => {
                            let old = &map[&k];
                            let new = if kind(r) == kind(old) { Value::Array(vec![r.clone()]) } else { r.clone() };
                            map.insert(k, new);
                        }
                    }
                    return top;
                }
                map.get_mut(&k)?
            }
            Value::Array(items) if !items.is_empty() => {
                let i = step.index(items.len());
                if last || !items[i].is_object() && !items[i].is_array() {
                    match replacement {
                        None => {
                            items.remove(i);
                        }
                        Some(r) => {
                            let new = if kind(r) == kind(&items[i]) { Value::Array(vec![r.clone()]) } else { r.clone() };
                            items[i] = new;
                        }
                    }
                    return top;
                }
                &mut items[i]
            }
            _ => return top,
        };
        cur = next;
    }
    top
}

/// Top-level keys whose change may rightly make a finding unreadable.
const ESSENTIAL: &[&str] = &["class_name", "status_code", "status", "severity", "severity_id", "metadata", "finding_info", "finding"];

fn finding_options(dry_run: bool, group_by: GroupBy) -> FindingOptions {
    FindingOptions {
        statuses: vec!["FAIL".into()],
        min_severity: ocsf::Severity::Informational,
        tickettype_id: 1,
        priorities: findings::default_priorities(),
        dedupe_field_id: None,
        group_by,
        on_pass: OnPass::Note,
        reopen_status_id: 1,
        closed_status_id: 9,
        closed_status_setting: "the connection's Closed Status ID",
        team_id: None,
        dry_run,
        deadline: icon_haloitsm::halo::budget::patience::BULK_DEADLINE,
        batch_size: icon_haloitsm::lifecycle::DEFAULT_BATCH,
    }
}

/// Text safe inside HTML, as the ticket details must show it.
/// As the details show text: HTML's special characters as entities; control characters (line
/// breaks and tabs aside) and characters that hide or reorder text as their code point.
fn escaped(s: &str) -> String {
    let hides =
        |c: char| matches!(c, '\u{061c}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}');
    s.chars()
        .map(|c| match c {
            '&' => "&amp;".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '"' => "&quot;".to_string(),
            '\'' => "&#39;".to_string(),
            '\n' | '\t' => c.to_string(),
            c if c.is_control() || hides(c) => format!("[U+{:04X}]", c as u32),
            c => c.to_string(),
        })
        .collect()
}

proptest! {
    #![proptest_config(config(512))]

    /// Any bytes as a findings file: read or refused; what is read is one value per finding.
    #[test]
    fn ocsf_file_reading_never_panics(bytes in prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512),
        arb_json().prop_map(|v| v.to_string().into_bytes()),
        prop::collection::vec(arb_json(), 0..4).prop_map(|vs| vs.iter().map(Value::to_string).collect::<Vec<_>>().join("\n").into_bytes()),
    ]) {
        match ocsf::read_file(&bytes) {
            Ok(items) => {
                if let Ok(Value::Array(a)) = serde_json::from_slice::<Value>(&bytes) {
                    prop_assert_eq!(items.len(), a.len());
                }
                for item in &items {
                    if let Ok(f) = ocsf::parse(item) {
                        check_finding(&f)?;
                    }
                }
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }

    /// Any JSON as a finding: a finding that keeps its invariants, or a reason.
    #[test]
    fn ocsf_parse_never_panics(v in arb_json()) {
        match ocsf::parse(&v) {
            Ok(f) => check_finding(&f)?,
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }

    /// Prowler's real findings with keys dropped and values of other types: never a panic, and a
    /// finding whose essential keys are untouched still parses.
    #[test]
    fn ocsf_mutated_examples_never_panic(pick in any::<prop::sample::Index>(), mutations in prop::collection::vec(mutation(), 1..6)) {
        let all = example_findings();
        let mut v = all[pick.index(all.len())].clone();
        let mut touched = HashSet::new();
        for m in &mutations {
            if let Some(k) = mutate(&mut v, m) {
                touched.insert(k);
            }
        }
        match ocsf::parse(&v) {
            Ok(f) => check_finding(&f)?,
            Err(e) => prop_assert!(touched.iter().any(|k| ESSENTIAL.contains(&k.as_str())), "refused after changing only {touched:?}: {e}\n{v}"),
        }
    }

    /// Example files cut anywhere (even inside a UTF-8 character): read or refused, never a panic.
    #[test]
    fn ocsf_truncated_files_never_panic(pick in any::<prop::sample::Index>(), cut in any::<prop::sample::Index>()) {
        let ex = examples();
        let (_, bytes, all) = &ex[pick.index(ex.len())];
        let n = cut.index(bytes.len() + 1);
        match ocsf::read_file(&bytes[..n]) {
            Ok(items) => {
                if n == bytes.len() {
                    prop_assert_eq!(&items, all);
                }
                for item in &items {
                    if let Ok(f) = ocsf::parse(item) {
                        check_finding(&f)?;
                    }
                }
            }
            Err(e) => prop_assert!(n < bytes.len() && !e.is_empty(), "the whole file was refused: {e}"),
        }
    }
}

/// A finding made of odd strings: HTML, unicode, very long values.
fn odd_finding() -> BoxedStrategy<Value> {
    let strings = prop::collection::vec(odd_string(), 14);
    let severity = prop::sample::select(vec!["Critical", "High", "Medium", "Low", "Informational", "critical", " high "]);
    let time = prop_oneof![number(), odd_string().prop_map(Value::String)];
    (strings, severity, time, prop::collection::vec(odd_string(), 0..4))
        .prop_map(|(s, severity, time, refs)| {
            let nb = |x: &String| if x.trim().is_empty() { "x".to_string() } else { x.clone() };
            json!({
                "class_name": "Detection Finding", "status_code": "FAIL", "status_detail": s[0], "severity": severity,
                "metadata": {"event_code": nb(&s[1])},
                "finding_info": {"title": s[2], "first_seen_time": time, "last_seen_time_dt": s[3]},
                "cloud": {"provider": s[4], "account": {"uid": s[5], "name": s[6]}, "region": s[7]},
                "resources": [{"uid": s[8], "name": s[9], "type": s[10]}],
                "risk_details": s[11], "remediation": {"desc": s[12], "references": refs},
                "unmapped": {"compliance": {s[13].clone(): [s[0].clone(), "1.1"]}, "related_url": s[3]},
            })
        })
        .boxed()
}

proptest! {
    #![proptest_config(config(128))]

    /// Mutated example files through the whole batch (a dry run against the simulator): every
    /// finding is accounted for exactly once, malformed ones as failed.
    #[test]
    fn send_findings_accounts_for_every_mutated_finding(
        picks in prop::collection::vec((any::<prop::sample::Index>(), prop::collection::vec(mutation(), 0..4)), 1..12),
        by_check in any::<bool>(),
    ) {
        let all = example_findings();
        let batch: Vec<Value> = picks.iter().map(|(i, ms)| {
            let mut v = all[i.index(all.len())].clone();
            for m in ms {
                mutate(&mut v, m);
            }
            v
        }).collect();
        let opts = finding_options(true, if by_check { GroupBy::Check } else { GroupBy::Finding });
        let report = rt().block_on(findings::send(sim_client(), &opts, &batch, &|_, _| {}));
        let report = report.map_err(|e| TestCaseError::fail(format!("the batch failed as a whole: {e}")))?;
        let indices: Vec<i64> = report.results.iter().map(|r| r.index).collect();
        prop_assert_eq!(indices, (0..batch.len() as i64).collect::<Vec<_>>());
        let counted = report.counts.created + report.counts.updated + report.counts.reopened + report.counts.closed + report.counts.unchanged + report.counts.skipped + report.counts.failed;
        prop_assert_eq!(counted, batch.len() as i64);
        for (r, raw) in report.results.iter().zip(&batch) {
            let parsed = ocsf::parse(raw);
            prop_assert_eq!(r.outcome == FindingOutcome::Failed, parsed.is_err(), "{:?} for {}", r, raw);
        }
    }

}

proptest! {
    #![proptest_config(config(64))]

    /// The ticket made from a finding of odd strings: the summary fits HaloITSM's field and
    /// names the severity, and the details show every value escaped (no tag from the input).
    #[test]
    fn ticket_text_from_odd_findings(finding in odd_finding(), by_check in any::<bool>()) {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        // A fresh key per case, so every case creates its own ticket.
        let mut finding = finding;
        finding["finding_info"]["uid"] = json!(format!("pt-odd-{n}"));
        finding["cloud"]["account"]["uid"] = json!(format!("{} {n}", finding["cloud"]["account"]["uid"].as_str().unwrap_or_default()));
        let parsed = ocsf::parse(&finding).map_err(|e| TestCaseError::fail(format!("{e}: {finding}")))?;
        check_finding(&parsed)?;
        let opts = finding_options(false, if by_check { GroupBy::Check } else { GroupBy::Finding });
        let report = rt().block_on(findings::send(sim_client(), &opts, std::slice::from_ref(&finding), &|_, _| {}));
        let report = report.map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(report.counts.created, 1, "{:?}", report);
        let id = report.results[0].ticket_id.unwrap_or_default();
        let ticket = env().sim.sim.ticket(id).ok_or_else(|| TestCaseError::fail(format!("ticket {id} was not created")))?;
        let summary = ticket["summary"].as_str().unwrap_or_default();
        let details = ticket["details"].as_str().unwrap_or_default();
        prop_assert!(summary.chars().count() <= 250, "{} characters", summary.chars().count());
        prop_assert!(summary.starts_with(&format!("[Prowler] {} - ", parsed.severity.as_str().to_uppercase())), "{summary}");
        let lower = details.to_lowercase();
        prop_assert!(!lower.contains("<script") && !lower.contains("<img") && !lower.contains("</td></tr></table><b>"), "unescaped HTML: {details}");
        let mut shown = vec![&parsed.title, &parsed.check_id, &parsed.provider, &parsed.account_uid, &parsed.risk, &parsed.remediation];
        if !by_check {
            shown.extend([&parsed.status_detail, &parsed.region, &parsed.resource_uid, &parsed.resource_name, &parsed.resource_type]);
        }
        for s in shown.into_iter().filter(|s| !s.trim().is_empty()) {
            prop_assert!(details.contains(&escaped(s)), "{s:?} is not in the details");
        }
        for r in &parsed.references {
            prop_assert!(details.contains(&escaped(r)), "reference {r:?} is not in the details");
        }
        let tag = findings::tag_of(&findings::key_of(&parsed, opts.group_by));
        prop_assert!(details.ends_with(&format!("<p>{tag}</p>")), "the details do not end with the tag {}", tag);
    }
}
