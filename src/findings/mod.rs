//! Security findings (Prowler OCSF) to HaloITSM tickets, without duplicates, through their life:
//! a failing check opens a ticket, a rerun finds it again, a pass notes or closes it, a new
//! failure reopens it (the shared engine, `crate::lifecycle`). Shared by the `send_findings`
//! action and the `send-findings` command.
//!
//! Every ticket carries its finding key twice: as a tag in the details (`prowler-key:<hash>`,
//! searchable) and, when a dedupe custom field is configured, in that field.

pub mod ocsf;
mod render;

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use serde_json::Value;

use crate::halo::{HaloClient, HaloError};
use crate::lifecycle::{self, Card, Counts, Policy, Source, Subject, Want};
pub use crate::lifecycle::{CONCURRENCY, OnResolved as OnPass, Outcome};
use ocsf::{Finding, Severity};

/// What a finding key tag looks like inside a ticket's details.
pub const TAG_PREFIX: &str = "prowler-key:";

/// Prowler's tickets: their tag and notes.
pub const SOURCE: Source = Source { tag_prefix: TAG_PREFIX, note_prefix: "Prowler: ", resolved_prefix: "Prowler: PASS" };

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    Finding,
    Check,
}

/// How findings become tickets.
#[derive(Debug, Clone)]
pub struct Options {
    /// Statuses that need a ticket (upper case), e.g. `FAIL`.
    pub statuses: Vec<String>,
    pub min_severity: Severity,
    pub tickettype_id: i64,
    pub priorities: HashMap<Severity, i64>,
    pub dedupe_field_id: Option<i64>,
    pub group_by: GroupBy,
    pub on_pass: OnPass,
    pub reopen_status_id: i64,
    pub closed_status_id: i64,
    /// The setting that chose `closed_status_id`, named when it turns out not to close tickets.
    pub closed_status_setting: &'static str,
    pub team_id: Option<i64>,
    pub dry_run: bool,
    /// How long the whole batch may wait for HaloITSM's rate limit (its 429s never fail a
    /// finding before then).
    pub deadline: std::time::Duration,
    /// Tickets (or notes, closes) one write request carries.
    pub batch_size: usize,
}

/// The default severity → HaloITSM priority mapping (1 Critical … 4 Low).
pub fn default_priorities() -> HashMap<Severity, i64> {
    HashMap::from([(Severity::Critical, 1), (Severity::High, 2), (Severity::Medium, 3), (Severity::Low, 4), (Severity::Informational, 4)])
}

/// What happened to one finding of the input.
#[derive(Debug, Clone, Serialize)]
pub struct FindingResult {
    pub index: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket_id: Option<i64>,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Tickets for the same key that a concurrent run opened too, closed as duplicates.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub duplicates_closed: Vec<i64>,
    /// Something to fix that did not stop the ticket being written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    #[serde(flatten)]
    pub counts: Counts,
    pub results: Vec<FindingResult>,
}

/// The key a finding is tracked by: its Prowler finding ID when real, else (check, account,
/// region, resource). With `group_by: check`, one key per (provider, account, check).
pub fn key_of(f: &Finding, group: GroupBy) -> String {
    let dash = |s: &str| if s.is_empty() { "-".to_string() } else { s.to_string() };
    match group {
        GroupBy::Check => format!("prowler-check:{}:{}:{}", dash(&f.provider), dash(&f.account_uid), f.check_id),
        GroupBy::Finding => match &f.uid {
            Some(uid) => uid.clone(),
            None => format!("prowler:{}:{}:{}:{}", f.check_id, dash(&f.account_uid), dash(&f.region), dash(&f.resource_uid)),
        },
    }
}

/// The searchable tag of a key (FNV-1a, stable across versions and platforms).
pub fn tag_of(key: &str) -> String {
    SOURCE.tag_of(key)
}

/// The findings sharing one key (one finding, or one check with its resources).
#[derive(Debug)]
struct Item {
    key: String,
    tag: String,
    findings: Vec<(usize, Finding)>,
}

impl Item {
    /// The findings the ticket is about: those with the item's status (several findings can
    /// share a key, e.g. when their IDs are placeholders); all of them when none matches.
    fn relevant(&self, wanted: &[String]) -> Vec<&Finding> {
        let status = self.status(wanted);
        let matching: Vec<&Finding> = self.findings.iter().map(|(_, f)| f).filter(|f| f.status == status).collect();
        if matching.is_empty() { self.findings.iter().map(|(_, f)| f).collect() } else { matching }
    }

    fn severity(&self, wanted: &[String]) -> Severity {
        self.relevant(wanted).iter().map(|f| f.severity).max().unwrap_or(Severity::Informational)
    }

    fn summary(&self, opts: &Options) -> String {
        render::summary(self.relevant(&opts.statuses).into_iter(), opts.group_by)
    }

    /// Details: the relevant finding (one per finding), or every resource of the check.
    fn details(&self, opts: &Options) -> String {
        let shown: Vec<&Finding> = match opts.group_by {
            GroupBy::Finding => self.relevant(&opts.statuses),
            GroupBy::Check => self.findings.iter().map(|(_, f)| f).collect(),
        };
        render::details(&shown, opts.group_by, &self.tag)
    }

    /// The status that counts for the ticket: a wanted status (e.g. FAIL) if any finding has
    /// one, PASS if all pass, else the first finding's.
    fn status(&self, wanted: &[String]) -> String {
        if let Some((_, f)) = self.findings.iter().find(|(_, f)| wanted.contains(&f.status)) {
            return f.status.clone();
        }
        if self.findings.iter().all(|(_, f)| f.status == "PASS") {
            return "PASS".into();
        }
        self.findings.first().map(|(_, f)| f.status.clone()).unwrap_or_default()
    }
}

/// The status that counts for an item, and whether it wants a ticket, is resolved, or neither.
fn want_of(item: &Item, opts: &Options) -> Want {
    let status = item.status(&opts.statuses);
    if opts.statuses.contains(&status) && item.severity(&opts.statuses) >= opts.min_severity {
        Want::Ticket
    } else if status == "PASS" {
        Want::Resolved
    } else {
        Want::Skip
    }
}

/// An item with what its ticket says.
struct FindingTicket {
    item: Item,
    want: Want,
    card: Card,
}

impl FindingTicket {
    fn of(item: Item, opts: &Options) -> FindingTicket {
        let status = item.status(&opts.statuses);
        let seen = last_seen(&item);
        let card = Card {
            summary: item.summary(opts),
            details: item.details(opts),
            priority: opts.priorities.get(&item.severity(&opts.statuses)).copied(),
            // Per check the details are the table of failing resources.
            update_details: opts.group_by == GroupBy::Check,
            reopen_note: format!("Prowler: {status} again{seen}; reopened."),
            resolved_note: format!("Prowler: PASS{seen}. The check no longer fails."),
            closed_note: format!("Prowler: PASS{seen}; closed."),
            what: format!("the Prowler finding {}", item.key),
            key: item.key.clone(),
            tag: item.tag.clone(),
        };
        FindingTicket { want: want_of(&item, opts), item, card }
    }
}

impl Subject for FindingTicket {
    fn want(&self) -> Want {
        self.want
    }
    fn card(&self) -> &Card {
        &self.card
    }
}

/// How the shared engine writes findings' tickets.
fn policy(opts: &Options) -> Policy {
    Policy {
        source: SOURCE,
        tickettype_id: opts.tickettype_id,
        team_id: opts.team_id,
        dedupe_field_id: opts.dedupe_field_id,
        parent_id: None,
        on_resolved: opts.on_pass,
        reopen_status_id: opts.reopen_status_id,
        closed_status_id: opts.closed_status_id,
        closed_status_setting: opts.closed_status_setting,
        dry_run: opts.dry_run,
        batch_size: opts.batch_size,
    }
}

/// Send a batch of findings. `progress(done, total)` is called as items finish. Every request
/// waits for HaloITSM's rate limit until `opts.deadline` at most.
pub async fn send(
    client: &HaloClient,
    opts: &Options,
    findings: &[Value],
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Report, HaloError> {
    crate::halo::budget::patience::for_at_most(opts.deadline, send_within(client, opts, findings, progress)).await
}

async fn send_within(
    client: &HaloClient,
    opts: &Options,
    findings: &[Value],
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Report, HaloError> {
    let mut report = Report::default();
    let mut items: BTreeMap<String, Item> = BTreeMap::new();
    let mut failed_rows = Vec::new();
    for (i, raw) in findings.iter().enumerate() {
        match ocsf::parse(raw) {
            Ok(f) => {
                let key = key_of(&f, opts.group_by);
                items.entry(key.clone()).or_insert_with(|| Item { tag: tag_of(&key), key, findings: Vec::new() }).findings.push((i, f));
            }
            Err(e) => failed_rows.push(FindingResult {
                index: i as i64,
                key: None,
                check_id: None,
                resource_uid: None,
                severity: None,
                status: None,
                ticket_id: None,
                outcome: Outcome::Failed,
                error: Some(format!("finding {i} is malformed: {e}")),
                duplicates_closed: Vec::new(),
                warning: None,
            }),
        }
    }
    let subjects: Vec<FindingTicket> = items.into_values().map(|item| FindingTicket::of(item, opts)).collect();
    let policy = policy(opts);
    let looked_up_at = std::time::Instant::now();
    let existing = if lifecycle::needs_lookup(&subjects) { lifecycle::lookup(client, &policy).await? } else { HashMap::new() };
    let handled = lifecycle::carry_out(client, &policy, subjects, &existing, looked_up_at, progress).await;
    for (subject, h) in handled {
        let item = subject.item;
        let status = item.status(&opts.statuses);
        for (i, f) in &item.findings {
            // A finding sharing its key with one of another status did not shape the ticket.
            let outcome = if opts.group_by == GroupBy::Finding && f.status != status { Outcome::Skipped } else { h.outcome };
            report.results.push(FindingResult {
                index: *i as i64,
                key: Some(item.key.clone()),
                check_id: Some(f.check_id.clone()),
                resource_uid: Some(f.resource_uid.clone()).filter(|r| !r.is_empty()),
                severity: Some(f.severity.to_string()),
                status: Some(f.status.clone()),
                ticket_id: h.ticket,
                outcome,
                error: h.error.clone(),
                duplicates_closed: h.duplicates_closed.clone(),
                warning: h.warning.clone(),
            });
            report.counts.count(outcome);
        }
    }
    for row in failed_rows {
        report.counts.count(row.outcome);
        report.results.push(row);
    }
    report.results.sort_by_key(|r| r.index);
    Ok(report)
}

fn last_seen(item: &Item) -> String {
    item.findings
        .iter()
        .filter_map(|(_, f)| f.last_seen)
        .max()
        .map(|t| format!(" (last seen {})", t.format("%Y-%m-%d %H:%M UTC")))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(status: &str, sev: Severity, uid: Option<&str>) -> Finding {
        Finding {
            status: status.into(),
            status_detail: String::new(),
            severity: sev,
            check_id: "s3_public".into(),
            title: "t".into(),
            uid: uid.map(str::to_string),
            provider: "aws".into(),
            account_uid: "123".into(),
            region: "eu-west-1".into(),
            resource_uid: "arn:b".into(),
            resource_name: String::new(),
            resource_type: String::new(),
            risk: String::new(),
            remediation: String::new(),
            references: vec![],
            compliance: vec![],
            categories: vec![],
            first_seen: None,
            last_seen: None,
            account_name: String::new(),
        }
    }

    fn opts() -> Options {
        Options {
            statuses: vec!["FAIL".into()],
            min_severity: Severity::Low,
            tickettype_id: 4,
            priorities: default_priorities(),
            dedupe_field_id: None,
            group_by: GroupBy::Finding,
            on_pass: OnPass::Note,
            reopen_status_id: 1,
            closed_status_id: 9,
            closed_status_setting: "the connection's Closed Status ID",
            team_id: None,
            dry_run: false,
            deadline: crate::halo::budget::patience::BULK_DEADLINE,
            batch_size: crate::lifecycle::DEFAULT_BATCH,
        }
    }

    #[test]
    fn keys_use_real_ids_or_the_finding_coordinates() {
        assert_eq!(key_of(&finding("FAIL", Severity::Low, Some("prowler-aws-x-1")), GroupBy::Finding), "prowler-aws-x-1");
        assert_eq!(key_of(&finding("FAIL", Severity::Low, None), GroupBy::Finding), "prowler:s3_public:123:eu-west-1:arn:b");
        assert_eq!(key_of(&finding("FAIL", Severity::Low, None), GroupBy::Check), "prowler-check:aws:123:s3_public");
        let t = tag_of("prowler-aws-x-1");
        assert!(t.starts_with(TAG_PREFIX) && t.len() == TAG_PREFIX.len() + 16);
        assert_eq!(t, tag_of("prowler-aws-x-1"));
        assert_ne!(t, tag_of("prowler-aws-x-2"));
        assert_eq!(SOURCE.find_tags(&format!("<p>a</p><p>{t}</p> {TAG_PREFIX}zz")), vec![t]);
    }

    #[test]
    fn what_each_finding_wants() {
        let item = |status: &str, sev| Item { key: "k".into(), tag: "t".into(), findings: vec![(0, finding(status, sev, None))] };
        let o = opts();
        assert_eq!(want_of(&item("FAIL", Severity::High), &o), Want::Ticket);
        assert_eq!(want_of(&item("FAIL", Severity::Informational), &o), Want::Skip, "below the minimum severity");
        assert_eq!(want_of(&item("MANUAL", Severity::High), &o), Want::Skip);
        assert_eq!(want_of(&item("PASS", Severity::High), &o), Want::Resolved);
        let t = FindingTicket::of(item("PASS", Severity::High), &o);
        assert!(t.card.resolved_note.starts_with(SOURCE.resolved_prefix) && t.card.closed_note.starts_with(SOURCE.resolved_prefix));
        let again = FindingTicket::of(item("FAIL", Severity::High), &o).card.reopen_note;
        assert!(again.starts_with("Prowler: FAIL again") && !again.starts_with(SOURCE.resolved_prefix), "{again}");
    }
}
