//! InsightVM remediations to HaloITSM tickets: one ticket per solution of a project, kept in step
//! with every rerun of InsightVM's Top Remediations by the shared engine (`crate::lifecycle`),
//! optionally all children of one parent ticket per project.
//!
//! A solution's ticket carries three plain-text tokens in its details: its key tag
//! (`ivm-key:<hash>` of project and solution, searchable), the project tag (`ivm-project:<hash>`,
//! so a solution gone from the list is found) and a snapshot of what it last said
//! (`ivm-state:…`, so a rerun can note what changed). Nothing is kept anywhere else, so reruns
//! from any container agree.

pub mod parse;
mod render;
mod snapshot;

use std::collections::HashSet;

use serde::Serialize;

use crate::halo::{HaloClient, HaloError};
use crate::lifecycle::{self, Card, Counts, Existing, Handled, OnResolved, Outcome, Policy, Source, Subject, Want};
use parse::Remediation;
use snapshot::Snapshot;

pub const TAG_PREFIX: &str = "ivm-key:";
const PROJECT_PREFIX: &str = "ivm-project:";
const PARENT_PREFIX: &str = "ivm-parent:";

/// InsightVM's tickets: their tag and notes.
pub const SOURCE: Source = Source { tag_prefix: TAG_PREFIX, note_prefix: "InsightVM: ", resolved_prefix: "InsightVM: resolved" };

/// Risk scores from `min_risk_score` up get `priority_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Band {
    pub min_risk_score: i64,
    pub priority_id: i64,
}

/// The default bands: 50,000 and up Critical (1), 10,000 High (2), 1,000 Medium (3), below Low (4).
/// A solution's risk score is the sum over its assets and vulnerabilities (RP14), so it runs far
/// higher than one vulnerability's.
pub fn default_bands() -> Vec<Band> {
    [(50_000, 1), (10_000, 2), (1_000, 3), (0, 4)]
        .into_iter()
        .map(|(min_risk_score, priority_id)| Band { min_risk_score, priority_id })
        .collect()
}

/// The priority of a risk score: the band with the highest minimum the score reaches.
pub fn priority_of(bands: &[Band], risk: i64) -> Option<i64> {
    bands.iter().filter(|b| risk >= b.min_risk_score).max_by_key(|b| b.min_risk_score).map(|b| b.priority_id)
}

#[derive(Debug, Clone)]
pub struct Options {
    pub project: String,
    pub tickettype_id: i64,
    pub team_id: Option<i64>,
    pub bands: Vec<Band>,
    /// Every solution's ticket a child of one ticket for the project.
    pub parent_ticket: bool,
    pub on_resolved: OnResolved,
    /// Whether a tracked solution missing from the input is fixed (false when the list is a
    /// top N that a solution can drop out of by rank alone).
    pub absent_means_fixed: bool,
    pub reopen_status_id: i64,
    pub closed_status_id: i64,
    pub closed_status_setting: &'static str,
    pub dry_run: bool,
    pub deadline: std::time::Duration,
    /// Tickets (or notes, closes) one write request carries.
    pub batch_size: usize,
}

/// What happened to one remediation (or, with `index` empty, a tracked solution gone from the
/// input, or the project's parent ticket).
#[derive(Debug, Clone, Serialize)]
pub struct RemediationResult {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nexpose_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub solution_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub risk_score: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asset_count: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket_id: Option<i64>,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub duplicates_closed: Vec<i64>,
    /// Something to fix that did not stop the ticket being written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    /// With `link_cmdb_assets`: the CMDB assets the ticket links, hosts no single asset matched,
    /// and why linking failed (the ticket itself was written).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cmdb_asset_ids: Vec<i64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unmatched_hosts: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link_error: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    #[serde(flatten)]
    pub counts: Counts,
    pub results: Vec<RemediationResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<RemediationResult>,
}

fn hash_tag(prefix: &str, text: &str) -> String {
    format!("{prefix}{:016x}", crate::fnv::fnv1a(text.as_bytes()))
}

/// A project as keys see it: `Production` and ` production ` are one project.
fn project_key(project: &str) -> String {
    project.trim().to_lowercase()
}

/// The tag every solution ticket of a project carries.
pub fn project_tag(project: &str) -> String {
    hash_tag(PROJECT_PREFIX, &project_key(project))
}

/// The key of a solution within a project (per HaloITSM tenant, through the tag search).
pub fn key_of(project: &str, nexpose_id: &str) -> String {
    format!("insightvm:{}:{nexpose_id}", project_key(project))
}

enum Kind {
    Solution(Remediation),
    Gone,
    Parent,
}

/// One ticket of the project: a solution's, a gone solution's, or the parent.
struct IvmTicket {
    kind: Kind,
    want: Want,
    card: Card,
    /// What the details must carry for the ticket to be up to date.
    token: String,
    project: String,
    reason: Option<String>,
}

impl Subject for IvmTicket {
    fn want(&self) -> Want {
        self.want
    }
    fn card(&self) -> &Card {
        &self.card
    }
    fn changed(&self, e: &Existing) -> bool {
        e.summary != self.card.summary || !e.details.contains(&self.token)
    }
    fn change_note(&self, e: &Existing) -> Option<String> {
        let Kind::Solution(r) = &self.kind else { return None };
        let old = Snapshot::find(&e.details)?;
        let text = Snapshot::of(r).changes_since(&old, r)?;
        Some(format!("InsightVM: {} changed (project {}):{text}", r.nexpose_id, self.project))
    }
}

fn solution(r: Remediation, opts: &Options) -> IvmTicket {
    let p = &opts.project;
    let key = key_of(p, &r.nexpose_id);
    let tag = SOURCE.tag_of(&key);
    let token = Snapshot::of(&r).token();
    let footer = format!("{tag} {} {token}", project_tag(p));
    let fixed = r.asset_count == 0;
    let resolved = format!("InsightVM: resolved: no asset needs {} any more (project {p}).", r.nexpose_id);
    let card = Card {
        summary: render::summary(&r),
        details: render::details(&r, p, &footer),
        priority: priority_of(&opts.bands, r.risk_score),
        update_details: true,
        reopen_note: format!("InsightVM: {} needs work again on {} asset(s) (project {p}); reopened.", r.nexpose_id, r.asset_count),
        closed_note: format!("{resolved} Closed."),
        resolved_note: resolved,
        what: format!("the InsightVM solution {} of project {p}", r.nexpose_id),
        key,
        tag,
    };
    let reason = fixed.then(|| "no assets left".to_string());
    IvmTicket { want: if fixed { Want::Resolved } else { Want::Ticket }, card, token, project: p.clone(), reason, kind: Kind::Solution(r) }
}

/// A tracked solution of the project that the input no longer lists.
fn gone(tag: &str, e: &Existing, opts: &Options) -> IvmTicket {
    let p = &opts.project;
    let solution = Snapshot::find(&e.details).map(|s| s.solution).unwrap_or_else(|| tag.to_string());
    let resolved = format!("InsightVM: resolved: {solution} is no longer among the remediations of project {p}.");
    let card = Card {
        summary: e.summary.clone(),
        details: e.details.clone(),
        closed_note: format!("{resolved} Closed."),
        resolved_note: resolved,
        what: format!("the InsightVM solution {solution} of project {p}"),
        key: solution,
        tag: tag.to_string(),
        ..Card::default()
    };
    IvmTicket {
        kind: Kind::Gone,
        want: Want::Resolved,
        card,
        token: String::new(),
        project: p.clone(),
        reason: Some("gone from the list".into()),
    }
}

/// The project's parent ticket: open while any solution needs work (`still_open`: tracked
/// solutions the list left out that may still need it).
fn parent(solutions: &[IvmTicket], still_open: &[String], opts: &Options) -> IvmTicket {
    let p = &opts.project;
    let mut open: Vec<&Remediation> = solutions
        .iter()
        .filter(|s| s.want == Want::Ticket)
        .filter_map(|s| if let Kind::Solution(r) = &s.kind { Some(r) } else { None })
        .collect();
    open.sort_by(|a, b| b.risk_score.cmp(&a.risk_score).then_with(|| a.nexpose_id.cmp(&b.nexpose_id)));
    let mut listing: String = open.iter().map(|r| format!("{}={}={};", r.nexpose_id, r.asset_count, r.risk_score)).collect();
    listing.push_str(&still_open.join(";"));
    let key = format!("insightvm-project:{}", project_key(p));
    let tag = SOURCE.tag_of(&key);
    let token = hash_tag(PARENT_PREFIX, &format!("{}\u{0}{listing}", project_key(p)));
    let resolved = format!("InsightVM: resolved: no solution of project {p} needs work.");
    let card = Card {
        summary: render::parent_summary(p),
        details: render::parent_details(p, &open, still_open, &format!("{tag} {token}")),
        priority: priority_of(&opts.bands, open.iter().map(|r| r.risk_score).max().unwrap_or(0)),
        update_details: true,
        reopen_note: format!("InsightVM: project {p} has solutions that need work again; reopened."),
        closed_note: format!("{resolved} Closed."),
        resolved_note: resolved,
        what: format!("the InsightVM project {p}"),
        key,
        tag,
    };
    let want = if open.is_empty() && still_open.is_empty() { Want::Resolved } else { Want::Ticket };
    IvmTicket { kind: Kind::Parent, want, card, token, project: p.clone(), reason: None }
}

fn result(index: Option<usize>, t: &IvmTicket, h: Handled) -> RemediationResult {
    let r = if let Kind::Solution(r) = &t.kind { Some(r) } else { None };
    RemediationResult {
        index: index.map(|i| i as i64),
        nexpose_id: match &t.kind {
            Kind::Solution(r) => Some(r.nexpose_id.clone()),
            Kind::Gone => Some(t.card.key.clone()),
            Kind::Parent => None,
        },
        solution_id: r.and_then(|r| r.solution_id),
        risk_score: r.map(|r| r.risk_score),
        asset_count: r.map(|r| r.asset_count),
        ticket_id: h.ticket,
        outcome: h.outcome,
        reason: t.reason.clone(),
        error: h.error,
        duplicates_closed: h.duplicates_closed,
        warning: h.warning,
        cmdb_asset_ids: Vec::new(),
        unmatched_hosts: Vec::new(),
        link_error: None,
    }
}

/// Send a project's remediations. Every request waits for HaloITSM's rate limit until
/// `opts.deadline` at most.
pub async fn send(client: &HaloClient, opts: &Options, remediations: Vec<Remediation>) -> Result<Report, HaloError> {
    crate::halo::budget::patience::for_at_most(opts.deadline, send_within(client, opts, remediations)).await
}

async fn send_within(client: &HaloClient, opts: &Options, remediations: Vec<Remediation>) -> Result<Report, HaloError> {
    let mut policy = Policy {
        source: SOURCE,
        tickettype_id: opts.tickettype_id,
        team_id: opts.team_id,
        dedupe_field_id: None,
        parent_id: None,
        on_resolved: opts.on_resolved,
        reopen_status_id: opts.reopen_status_id,
        closed_status_id: opts.closed_status_id,
        closed_status_setting: opts.closed_status_setting,
        dry_run: opts.dry_run,
        batch_size: opts.batch_size,
    };
    let looked_up_at = std::time::Instant::now();
    // Always looked up, even for an empty list: tracked solutions that are gone are resolved.
    let existing = lifecycle::lookup(client, &policy).await?;
    let mut subjects: Vec<IvmTicket> = remediations.into_iter().map(|r| solution(r, opts)).collect();
    let listed = subjects.len();
    // The project's open tickets the list does not have: fixed, or (when a top N may leave out
    // what still needs work) still open.
    let ours: HashSet<String> = subjects.iter().map(|s| s.card.tag.clone()).collect();
    let project_tag = project_tag(&opts.project);
    let mut absent: Vec<(&String, &Existing)> =
        existing.iter().filter(|(tag, e)| !e.closed && e.details.contains(&project_tag) && !ours.contains(tag.as_str())).collect();
    absent.sort_by_key(|(_, e)| e.id);
    let mut still_open = Vec::new();
    for (tag, e) in absent {
        if opts.absent_means_fixed {
            subjects.push(gone(tag, e, opts));
        } else {
            still_open.push(Snapshot::find(&e.details).map(|s| s.solution).unwrap_or_else(|| tag.clone()));
        }
    }
    let mut report = Report::default();
    let parent = opts.parent_ticket.then(|| parent(&subjects, &still_open, opts));
    let mut resolved_parent = None;
    match parent {
        // Closed after its children: a tenant may refuse to close a parent with open children.
        Some(p) if p.want == Want::Resolved => resolved_parent = Some(p),
        Some(p) => {
            let (p, h) = lifecycle::carry_out(client, &policy, vec![p], &existing, looked_up_at, &|_, _| {}).await.remove(0);
            let failed = h.outcome == Outcome::Failed;
            policy.parent_id = h.ticket;
            report.parent = Some(result(None, &p, h.clone()));
            if failed {
                // Children made now would stay without their parent for good: none is written.
                let why = format!(
                    "the project's parent ticket could not be written ({}); nothing was sent for this solution",
                    h.error.unwrap_or_default()
                );
                for (i, t) in subjects.iter().enumerate() {
                    let h = Handled {
                        outcome: Outcome::Failed,
                        ticket: None,
                        error: Some(why.clone()),
                        duplicates_closed: Vec::new(),
                        warning: None,
                    };
                    report.counts.count(h.outcome);
                    report.results.push(result((i < listed).then_some(i), t, h));
                }
                return Ok(report);
            }
        }
        None => {}
    }
    let handled = lifecycle::carry_out(client, &policy, subjects, &existing, looked_up_at, &|_, _| {}).await;
    for (i, (t, h)) in handled.into_iter().enumerate() {
        report.counts.count(h.outcome);
        report.results.push(result((i < listed).then_some(i), &t, h));
    }
    if let Some(p) = resolved_parent {
        let (p, h) = lifecycle::carry_out(client, &policy, vec![p], &existing, looked_up_at, &|_, _| {}).await.remove(0);
        report.parent = Some(result(None, &p, h));
    }
    Ok(report)
}
