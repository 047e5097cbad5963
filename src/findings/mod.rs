//! Security findings (Prowler OCSF) to HaloITSM tickets, without duplicates, through their life:
//! a failing check opens a ticket, a rerun finds it again (one list request per 100 tickets),
//! a pass notes or closes it, a new failure reopens it. Shared by the `send_findings` action
//! and the `send-findings` command.
//!
//! Every ticket carries its finding key twice: as a tag in the details (`prowler-key:<hash>`,
//! searchable) and, when a dedupe custom field is configured, in that field. A create whose
//! outcome is uncertain (timeout or 5xx after sending) is resolved by searching for the tag
//! before anything is sent again.

mod create;
pub mod ocsf;
mod render;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::stream::{self, StreamExt};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::halo::ticket::{int, string};
use crate::halo::ticket_lists::State;
use crate::halo::{HaloClient, HaloError};
use create::{create, failed_create};
use ocsf::{Finding, Severity};

/// What a finding key tag looks like inside a ticket's details.
pub const TAG_PREFIX: &str = "prowler-key:";
/// Writes in flight at once (HaloITSM rate-limits; 429s are waited out by the client).
pub const CONCURRENCY: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    Finding,
    Check,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnPass {
    Ignore,
    Note,
    Close,
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
}

/// The default severity → HaloITSM priority mapping (1 Critical … 4 Low).
pub fn default_priorities() -> HashMap<Severity, i64> {
    HashMap::from([(Severity::Critical, 1), (Severity::High, 2), (Severity::Medium, 3), (Severity::Low, 4), (Severity::Informational, 4)])
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Created,
    Updated,
    Reopened,
    Closed,
    Unchanged,
    Skipped,
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Updated => "updated",
            Outcome::Reopened => "reopened",
            Outcome::Closed => "closed",
            Outcome::Unchanged => "unchanged",
            Outcome::Skipped => "skipped",
            Outcome::Failed => "failed",
        }
    }
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
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub created: i64,
    pub updated: i64,
    pub reopened: i64,
    pub closed: i64,
    pub unchanged: i64,
    pub skipped: i64,
    pub failed: i64,
    pub results: Vec<FindingResult>,
}

impl Report {
    fn count(&mut self, o: Outcome) {
        match o {
            Outcome::Created => self.created += 1,
            Outcome::Updated => self.updated += 1,
            Outcome::Reopened => self.reopened += 1,
            Outcome::Closed => self.closed += 1,
            Outcome::Unchanged => self.unchanged += 1,
            Outcome::Skipped => self.skipped += 1,
            Outcome::Failed => self.failed += 1,
        }
    }
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
    format!("{TAG_PREFIX}{:016x}", crate::fnv::fnv1a(key.as_bytes()))
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

/// A ticket already tracking a key.
#[derive(Debug, Clone)]
struct Existing {
    id: i64,
    closed: bool,
    summary: String,
}

/// The decision for one item.
#[derive(Debug, Clone, PartialEq)]
enum Plan {
    Create,
    UpdateSummary,
    Reopen,
    NotePass,
    ClosePass,
    Nothing(Outcome),
}

fn decide(item: &Item, existing: Option<&Existing>, opts: &Options) -> Plan {
    let status = item.status(&opts.statuses);
    let wanted = opts.statuses.contains(&status) && item.severity(&opts.statuses) >= opts.min_severity;
    match (wanted, status.as_str(), existing) {
        (true, _, None) => Plan::Create,
        (true, _, Some(e)) if e.closed => Plan::Reopen,
        // The summary carries the severity (and, per check, the failing resources): when it is
        // unchanged, nothing is written, so a priority an agent changed by hand stays.
        (true, _, Some(e)) if e.summary != item.summary(opts) => Plan::UpdateSummary,
        (true, _, Some(_)) => Plan::Nothing(Outcome::Unchanged),
        (false, "PASS", Some(e)) if !e.closed => match opts.on_pass {
            OnPass::Ignore => Plan::Nothing(Outcome::Unchanged),
            OnPass::Note => Plan::NotePass,
            OnPass::Close => Plan::ClosePass,
        },
        (false, "PASS", Some(_)) => Plan::Nothing(Outcome::Unchanged),
        _ => Plan::Nothing(Outcome::Skipped),
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
            }),
        }
    }
    let needs_lookup =
        items.values().any(|it| !matches!(decide(it, None, opts), Plan::Nothing(Outcome::Skipped)) || it.status(&opts.statuses) == "PASS");
    let looked_up_at = std::time::Instant::now();
    // Keys are per HaloITSM: the same finding sent to two tenants is two tickets.
    let tenant = client.config().application_key();
    let existing = if needs_lookup && !items.is_empty() { lookup(client, opts).await? } else { HashMap::new() };
    let total = items.len();
    let done = AtomicUsize::new(0);
    let outcomes: Vec<(Item, Handled)> = stream::iter(items.into_values())
        .map(|item| {
            let found = existing.get(&item.tag).cloned();
            let (done, key) = (&done, format!("{tenant}\u{0}{}", item.tag));
            async move {
                // One run per key at a time in this process; a ticket another run made since
                // the lookup counts as found.
                let lock = crate::key_locks::lock_of(&key);
                let held = lock.lock().await;
                let found = found.or_else(|| {
                    crate::key_locks::created_since(&key, looked_up_at).map(|id| Existing {
                        id,
                        closed: false,
                        summary: item.summary(opts),
                    })
                });
                let handled = handle(client, opts, &item, found, &key).await;
                drop(held);
                progress(done.fetch_add(1, Ordering::Relaxed) + 1, total);
                (item, handled)
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    for (item, Handled { outcome, ticket: ticket_id, error, duplicates_closed }) in outcomes {
        let status = item.status(&opts.statuses);
        for (i, f) in &item.findings {
            // A finding sharing its key with one of another status did not shape the ticket.
            let outcome = if opts.group_by == GroupBy::Finding && f.status != status { Outcome::Skipped } else { outcome };
            report.results.push(FindingResult {
                index: *i as i64,
                key: Some(item.key.clone()),
                check_id: Some(f.check_id.clone()),
                resource_uid: Some(f.resource_uid.clone()).filter(|r| !r.is_empty()),
                severity: Some(f.severity.to_string()),
                status: Some(f.status.clone()),
                ticket_id,
                outcome,
                error: error.clone(),
                duplicates_closed: duplicates_closed.clone(),
            });
            report.count(outcome);
        }
    }
    for row in failed_rows {
        report.count(row.outcome);
        report.results.push(row);
    }
    report.results.sort_by_key(|r| r.index);
    Ok(report)
}

/// Every ticket carrying a finding tag, by tag: one list request per 100 tickets, for open and
/// for closed ones (a plain list leaves out tickets closed a while ago, and its rows do not say
/// which are closed: docs/halo-api.md#Q1, Q2, L3).
async fn lookup(client: &HaloClient, opts: &Options) -> Result<HashMap<String, Existing>, HaloError> {
    let mut out: HashMap<String, Existing> = HashMap::new();
    let mut query = vec![("search", TAG_PREFIX.to_string()), ("order", "id".to_string())];
    if let Some(f) = opts.dedupe_field_id {
        query.push(("include_custom_fields", f.to_string()));
    }
    for state in [State::Open, State::Closed] {
        let listed = client.tickets_in(state, &query, usize::MAX).await?;
        for row in &listed.rows {
            let Some(id) = int(row, "id") else { continue };
            let details = string(row, "details").or_else(|| string(row, "details_html")).unwrap_or_default();
            let mut tags = find_tags(&details);
            // A key only in the dedupe field (the tag was edited out of the details) counts once
            // a full read confirms it: rows carry custom fields only where HaloITSM honours
            // `include_custom_fields` (L5).
            for key in dedupe_values(row, opts.dedupe_field_id) {
                if !tags.contains(&tag_of(&key)) && confirmed_key(client, id, opts.dedupe_field_id, &key).await? {
                    tags.push(tag_of(&key));
                }
            }
            let e = Existing { id, closed: state.closed(), summary: string(row, "summary").unwrap_or_default() };
            for tag in tags {
                // Several tickets for one key (e.g. one made by hand): an open one wins, then
                // the newest.
                let better = match out.get(&tag) {
                    None => true,
                    Some(cur) => (cur.closed && !e.closed) || (cur.closed == e.closed && e.id > cur.id),
                };
                if better {
                    out.insert(tag, e.clone());
                }
            }
        }
    }
    Ok(out)
}

/// The values of the dedupe custom field a record carries.
fn dedupe_values(record: &Value, field: Option<i64>) -> Vec<String> {
    let (Some(field), Some(cfs)) = (field, record.get("customfields").and_then(Value::as_array)) else { return Vec::new() };
    cfs.iter()
        .filter(|cf| int(cf, "id") == Some(field))
        .filter_map(|cf| cf.get("value").and_then(Value::as_str).filter(|v| !v.is_empty()).map(str::to_string))
        .collect()
}

/// Whether a full read of the ticket shows `key` in the dedupe field.
async fn confirmed_key(client: &HaloClient, id: i64, field: Option<i64>, key: &str) -> Result<bool, HaloError> {
    Ok(client.get_ticket(id, true).await?.is_some_and(|t| dedupe_values(&t, field).iter().any(|v| v == key)))
}

/// The finding tags in a text.
fn find_tags(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(p) = rest.find(TAG_PREFIX) {
        let after = &rest[p + TAG_PREFIX.len()..];
        let hex: String = after.chars().take_while(|c| c.is_ascii_hexdigit()).collect();
        if hex.len() == 16 {
            out.push(format!("{TAG_PREFIX}{hex}"));
        }
        rest = after;
    }
    out
}

/// What handling one item came to.
#[derive(Debug)]
struct Handled {
    outcome: Outcome,
    ticket: Option<i64>,
    error: Option<String>,
    duplicates_closed: Vec<i64>,
}

impl Handled {
    fn of(outcome: Outcome, ticket: Option<i64>, error: Option<String>) -> Handled {
        Handled { outcome, ticket, error, duplicates_closed: Vec::new() }
    }
}

/// Carry out the plan for one item.
async fn handle(client: &HaloClient, opts: &Options, item: &Item, existing: Option<Existing>, lock_key: &str) -> Handled {
    let plan = decide(item, existing.as_ref(), opts);
    let ticket = existing.as_ref().map(|e| e.id);
    let outcome = match &plan {
        Plan::Create => Outcome::Created,
        Plan::UpdateSummary => Outcome::Updated,
        Plan::Reopen => Outcome::Reopened,
        Plan::NotePass => Outcome::Updated,
        Plan::ClosePass => Outcome::Closed,
        Plan::Nothing(o) => *o,
    };
    if matches!(plan, Plan::Nothing(_)) {
        return Handled::of(outcome, ticket, None);
    }
    if opts.dry_run {
        // Reading is no change: a dry run predicts an already-noted PASS as the real run would.
        if plan == Plan::NotePass && already_noted_pass(client, ticket.unwrap_or_default()).await.unwrap_or(false) {
            return Handled::of(Outcome::Unchanged, ticket, None);
        }
        return Handled::of(outcome, ticket, None);
    }
    if plan == Plan::Create {
        return match create(client, opts, item, lock_key).await {
            Ok(settled) => {
                let outcome = if settled.kept == settled.created { Outcome::Created } else { Outcome::Unchanged };
                Handled { outcome, ticket: Some(settled.kept), error: None, duplicates_closed: settled.closed }
            }
            Err(e) => failed_create(e, item),
        };
    }
    let result = match plan {
        Plan::Create => Ok(ticket),
        Plan::UpdateSummary => refresh(client, opts, item, ticket).await,
        Plan::Reopen => {
            let note = format!("Prowler: {} again{}; reopened.", item.status(&opts.statuses), last_seen(item));
            match action(client, ticket, &note, Some(opts.reopen_status_id)).await {
                Ok(t) if existing.as_ref().is_some_and(|e| e.summary != item.summary(opts)) => refresh(client, opts, item, t).await,
                other => other,
            }
        }
        Plan::NotePass => match already_noted_pass(client, ticket.unwrap_or_default()).await {
            Ok(true) => return Handled::of(Outcome::Unchanged, ticket, None),
            Ok(false) => action(client, ticket, &format!("Prowler: PASS{}. The check no longer fails.", last_seen(item)), None).await,
            Err(e) => Err(e),
        },
        Plan::ClosePass => {
            match action(client, ticket, &format!("Prowler: PASS{}; closed.", last_seen(item)), Some(opts.closed_status_id)).await {
                // The status must really close the ticket on this tenant (docs/halo-api.md#S4).
                Ok(Some(id)) => client.confirm_closed(id, opts.closed_status_id, opts.closed_status_setting).await.map(|_| Some(id)),
                other => other,
            }
        }
        Plan::Nothing(_) => Ok(ticket),
    };
    match result {
        Ok(t) => Handled::of(outcome, t.or(ticket), None),
        Err(e) => Handled::of(Outcome::Failed, ticket, Some(e.to_string())),
    }
}

fn last_seen(item: &Item) -> String {
    item.findings
        .iter()
        .filter_map(|(_, f)| f.last_seen)
        .max()
        .map(|t| format!(" (last seen {})", t.format("%Y-%m-%d %H:%M UTC")))
        .unwrap_or_default()
}

/// Bring an existing ticket's summary and priority (and, per check, its resource table) in line
/// with the findings.
async fn refresh(client: &HaloClient, opts: &Options, item: &Item, ticket: Option<i64>) -> Result<Option<i64>, HaloError> {
    let Some(id) = ticket else { return Ok(None) };
    let mut fields = Map::new();
    fields.insert("summary".into(), json!(item.summary(opts)));
    if let Some(p) = opts.priorities.get(&item.severity(&opts.statuses)) {
        fields.insert("priority_id".into(), json!(p));
    }
    if opts.group_by == GroupBy::Check {
        fields.insert("details".into(), json!(item.details(opts)));
    }
    client.update_ticket(id, fields).await.map(|_| Some(id))
}

/// A private note, optionally moving the ticket to a status.
async fn action(client: &HaloClient, ticket: Option<i64>, note: &str, new_status: Option<i64>) -> Result<Option<i64>, HaloError> {
    let Some(id) = ticket else { return Ok(None) };
    let mut a = json!({"ticket_id": id, "outcome": "Private Note", "note": note, "hiddenfromuser": true});
    if let Some(s) = new_status {
        a["new_status"] = json!(s);
    }
    client.post_one("Actions", a).await.map(|_| Some(id))
}

/// Whether the newest Prowler note on the ticket already says PASS (so a rerun adds no second).
async fn already_noted_pass(client: &HaloClient, id: i64) -> Result<bool, HaloError> {
    let newest = client.newest_note(id, |n| n.is_some_and(|n| n.starts_with("Prowler: "))).await?;
    Ok(newest.is_some_and(|n| n.starts_with("Prowler: PASS")))
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
        assert_eq!(find_tags(&format!("<p>a</p><p>{t}</p> {TAG_PREFIX}zz")), vec![t]);
    }

    #[test]
    fn the_lifecycle_decisions() {
        let item = |status: &str, sev| Item { key: "k".into(), tag: "t".into(), findings: vec![(0, finding(status, sev, None))] };
        let o = opts();
        let open = Existing { id: 5, closed: false, summary: String::new() };
        let closed = Existing { closed: true, ..open.clone() };
        assert_eq!(decide(&item("FAIL", Severity::High), None, &o), Plan::Create);
        assert_eq!(decide(&item("FAIL", Severity::High), Some(&closed), &o), Plan::Reopen);
        assert_eq!(decide(&item("FAIL", Severity::High), Some(&open), &o), Plan::UpdateSummary, "the summary differs");
        let same =
            Existing { summary: render::summary([&finding("FAIL", Severity::High, None)].into_iter(), GroupBy::Finding), ..open.clone() };
        assert_eq!(decide(&item("FAIL", Severity::High), Some(&same), &o), Plan::Nothing(Outcome::Unchanged));
        assert_eq!(decide(&item("FAIL", Severity::Informational), None, &o), Plan::Nothing(Outcome::Skipped), "below the minimum severity");
        assert_eq!(decide(&item("MANUAL", Severity::High), None, &o), Plan::Nothing(Outcome::Skipped));
        assert_eq!(decide(&item("PASS", Severity::High), None, &o), Plan::Nothing(Outcome::Skipped));
        assert_eq!(decide(&item("PASS", Severity::High), Some(&open), &o), Plan::NotePass);
        assert_eq!(decide(&item("PASS", Severity::High), Some(&closed), &o), Plan::Nothing(Outcome::Unchanged));
        assert_eq!(decide(&item("PASS", Severity::High), Some(&open), &Options { on_pass: OnPass::Close, ..o.clone() }), Plan::ClosePass);
        assert_eq!(
            decide(&item("PASS", Severity::High), Some(&open), &Options { on_pass: OnPass::Ignore, ..o.clone() }),
            Plan::Nothing(Outcome::Unchanged)
        );
    }
}
