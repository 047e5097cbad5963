//! `send_remediations`: InsightVM remediations, exactly as Rapid7's InsightVM plugin's Top
//! Remediations outputs them (docs/halo-api.md#RP14), to one HaloITSM ticket per solution of a
//! project (see `crate::remediations`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::{invalid_input, positive, positive_opt, ticket_type};
use super::host_to_asset::{Host, HostLookup};
use super::send_findings::{ClosedStatus, TICKET_TYPE_HELP, deadline};
use super::{Action, ActionContext};
use crate::lifecycle::{Counts, OnResolved, Outcome};
use crate::protocol::PluginError;
use crate::remediations::{self, Band, Options, RemediationResult};

pub struct SendRemediations;

const NAME: &str = "send_remediations";

#[derive(Debug, Deserialize)]
pub struct BandInput {
    pub min_risk_score: i64,
    pub priority_id: i64,
}

#[derive(Debug, Deserialize)]
pub struct Input {
    pub remediations: Vec<Value>,
    pub project: String,
    pub tickettype_id: Option<i64>,
    pub team_id: Option<i64>,
    #[serde(default)]
    pub priority_bands: Vec<BandInput>,
    #[serde(default)]
    pub parent_ticket: bool,
    pub on_resolved: String,
    pub absent_means_fixed: bool,
    pub reopen_status_id: i64,
    pub closed_status_id: Option<i64>,
    #[serde(default)]
    pub dry_run: bool,
    pub deadline_seconds: i64,
    /// Tickets one HaloITSM request carries.
    pub batch_size: i64,
    #[serde(default)]
    pub link_cmdb_assets: bool,
}

#[derive(Debug, Serialize)]
pub struct Output {
    #[serde(flatten)]
    pub counts: Counts,
    pub results: Vec<RemediationResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<RemediationResult>,
}

/// The bands, checked: positive priorities, scores of 0 or more, no score twice.
fn bands(given: &[BandInput]) -> Result<Vec<Band>, PluginError> {
    if given.is_empty() {
        return Ok(remediations::default_bands());
    }
    let mut out: Vec<Band> = Vec::with_capacity(given.len());
    for (i, b) in given.iter().enumerate() {
        if b.min_risk_score < 0 {
            return Err(invalid_input(
                NAME,
                format!("input `priority_bands[{i}].min_risk_score` must be 0 or more, got {}", b.min_risk_score),
                "Give the lowest risk score of each band, e.g. 10000.",
            ));
        }
        positive(NAME, &format!("priority_bands[{i}].priority_id"), b.priority_id)?;
        if out.iter().any(|o| o.min_risk_score == b.min_risk_score) {
            return Err(invalid_input(
                NAME,
                format!("input `priority_bands[{i}].min_risk_score` repeats {}", b.min_risk_score),
                "Give each band its own lowest risk score.",
            ));
        }
        out.push(Band { min_risk_score: b.min_risk_score, priority_id: b.priority_id });
    }
    Ok(out)
}

fn options(ctx: &ActionContext, input: &Input) -> Result<Options, PluginError> {
    let project = input.project.trim().to_string();
    if project.is_empty() {
        return Err(invalid_input(NAME, "input `project` is empty", "Name the InsightVM project or scope the remediations belong to."));
    }
    let tickettype_id = ticket_type(NAME, input.tickettype_id, ctx.client.config().default_ticket_type_id, TICKET_TYPE_HELP)?;
    let on_resolved = match input.on_resolved.as_str() {
        "ignore" => OnResolved::Ignore,
        "note" => OnResolved::Note,
        "close" => OnResolved::Close,
        other => {
            return Err(invalid_input(
                NAME,
                format!("input `on_resolved` must be ignore, note or close, got `{other}`"),
                "Use ignore, note or close.",
            ));
        }
    };
    let closed = ClosedStatus::of(input.closed_status_id, ctx.client.config().closed_status_id, "the step's `closed_status_id`");
    Ok(Options {
        project,
        tickettype_id: positive(NAME, "tickettype_id", tickettype_id)?,
        team_id: positive_opt(NAME, "team_id", input.team_id.or(ctx.client.config().default_team_id))?,
        bands: bands(&input.priority_bands)?,
        parent_ticket: input.parent_ticket,
        on_resolved,
        absent_means_fixed: input.absent_means_fixed,
        reopen_status_id: positive(NAME, "reopen_status_id", input.reopen_status_id)?,
        closed_status_id: positive(NAME, "closed_status_id", closed.id)?,
        closed_status_setting: closed.setting,
        dry_run: input.dry_run,
        deadline: deadline(NAME, input.deadline_seconds)?,
        batch_size: super::send_findings::batch_size("input `batch_size`", input.batch_size)?,
    })
}

impl Action for SendRemediations {
    const NAME: &'static str = NAME;
    type Input = Input;
    type Output = Output;

    async fn run(ctx: ActionContext, input: Input) -> Result<Output, PluginError> {
        let opts = options(&ctx, &input)?;
        // Every remediation is checked before anything is sent: a bad one changes nothing.
        let parsed = remediations::parse::parse_all(&input.remediations).map_err(|e| {
            invalid_input(
                NAME,
                format!("input `{}` must be {}", e.field, e.expected),
                "Pass the remediations exactly as InsightVM's Top Remediations step outputs them. Nothing was sent.",
            )
        })?;
        let n = parsed.len();
        let until = tokio::time::Instant::now() + opts.deadline;
        let linking = input.link_cmdb_assets && !opts.dry_run;
        // Taken before `send` consumes the remediations, and only when they are to be linked.
        let hosts: Vec<Vec<Host>> = if linking {
            parsed.iter().map(|r| r.assets.iter().map(|a| Host::new(&a.host_name, &a.ip)).collect()).collect()
        } else {
            Vec::new()
        };
        let mut report = remediations::send(&ctx.client, &opts, parsed).await?;
        if linking {
            crate::halo::budget::patience::within(until, link_hosts(&ctx, &mut report.results, &hosts)).await;
        }
        tracing::info!("{n} remediation(s) of project {}: {}", opts.project, report.counts.describe(opts.dry_run));
        Ok(Output { counts: report.counts, results: report.results, parent: report.parent })
    }
}

/// Links each open solution ticket to the CMDB assets its InsightVM hosts are (X5), unchanged
/// ones too, so a link that failed, or a host the CMDB gained since, is linked on the next run. A
/// failure is the result's `link_error`; the ticket stands and the other solutions go on.
async fn link_hosts(ctx: &ActionContext, results: &mut [RemediationResult], hosts: &[Vec<Host>]) {
    let mut lookup = HostLookup::default();
    for r in results.iter_mut() {
        let (Some(i), Some(ticket)) = (r.index, r.ticket_id) else { continue };
        let hosts = hosts.get(i as usize).map(Vec::as_slice).unwrap_or_default();
        if hosts.is_empty() || !matches!(r.outcome, Outcome::Created | Outcome::Updated | Outcome::Reopened | Outcome::Unchanged) {
            continue;
        }
        match lookup.link(ctx, NAME, ticket, hosts).await {
            Ok(links) => (r.cmdb_asset_ids, r.unmatched_hosts) = (links.asset_ids, links.unmatched),
            Err(e) => r.link_error = Some(super::host_to_asset::link_failure(ticket, &e)),
        }
    }
}
