//! `send_findings`: Prowler (OCSF) findings to HaloITSM tickets (see `crate::findings`).

use std::collections::HashMap;

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::{invalid_input, positive, ticket_type};
use super::{Action, ActionContext};
use crate::findings::ocsf::{self, Severity};
use crate::findings::{self, FindingResult, GroupBy, OnPass, Options};
use crate::lifecycle::Counts;
use crate::protocol::PluginError;

pub struct SendFindings;

const NAME: &str = "send_findings";

#[derive(Debug, Deserialize)]
pub struct File {
    pub filename: String,
    pub content: String,
}

#[derive(Debug, Deserialize)]
pub struct Input {
    #[serde(default)]
    pub findings: Vec<Value>,
    pub file: Option<File>,
    pub statuses: Vec<String>,
    pub min_severity: String,
    pub tickettype_id: Option<i64>,
    #[serde(default)]
    pub priority_map: HashMap<String, Value>,
    pub dedupe_field_id: Option<i64>,
    pub group_by: String,
    pub on_pass: String,
    pub reopen_status_id: i64,
    /// None: the connection's Closed Status ID.
    pub closed_status_id: Option<i64>,
    pub team_id: Option<i64>,
    #[serde(default)]
    pub dry_run: bool,
    pub deadline_seconds: i64,
    /// Tickets one HaloITSM request carries.
    pub batch_size: i64,
}

#[derive(Debug, Serialize)]
pub struct Output {
    #[serde(flatten)]
    pub counts: Counts,
    pub results: Vec<FindingResult>,
}

/// The status that closes tickets, and the setting it came from (named if it does not close).
pub struct ClosedStatus {
    pub id: i64,
    pub setting: &'static str,
}

impl ClosedStatus {
    /// The step's own status when given, else the connection's Closed Status ID.
    pub fn of(given: Option<i64>, connection: i64, given_name: &'static str) -> ClosedStatus {
        match given {
            Some(id) => ClosedStatus { id, setting: given_name },
            None => ClosedStatus { id: connection, setting: "the connection's Closed Status ID" },
        }
    }
}

/// What errors say when a batch step has neither a ticket type nor a connection default.
pub const TICKET_TYPE_HELP: &str = "Give `tickettype_id`, or set Default Ticket Type ID in the connection. Nothing was sent.";

/// Options from the inputs shared by the action and the command; checked before anything is
/// sent.
#[allow(clippy::too_many_arguments)]
pub fn options(
    statuses: &[String],
    min_severity: &str,
    tickettype_id: Option<i64>,
    priority_map: &HashMap<String, Value>,
    dedupe_field_id: Option<i64>,
    group_by: &str,
    on_pass: &str,
    reopen_status_id: i64,
    closed_status: ClosedStatus,
    team_id: Option<i64>,
    dry_run: bool,
) -> Result<Options, PluginError> {
    let statuses: Vec<String> = statuses.iter().map(|s| s.trim().to_ascii_uppercase()).filter(|s| !s.is_empty()).collect();
    if statuses.is_empty() {
        return Err(invalid_input(NAME, "input `statuses` is empty", "Give at least one status to ticket, e.g. [\"FAIL\"]."));
    }
    if let Some(s) = statuses.iter().find(|s| !matches!(s.as_str(), "FAIL" | "PASS" | "MANUAL" | "MUTED")) {
        return Err(invalid_input(
            NAME,
            format!("input `statuses` has `{s}`, which is not a Prowler status"),
            "Use FAIL, PASS, MANUAL or MUTED.",
        ));
    }
    let min_severity = Severity::parse(min_severity).ok_or_else(|| {
        invalid_input(
            NAME,
            format!("input `min_severity` must be Informational, Low, Medium, High or Critical, got `{min_severity}`"),
            "Pick one of the listed severities.",
        )
    })?;
    let tickettype_id = ticket_type(NAME, tickettype_id, None, TICKET_TYPE_HELP)?;
    positive(NAME, "tickettype_id", tickettype_id)?;
    let mut priorities = findings::default_priorities();
    for (k, v) in priority_map {
        let sev = Severity::parse(k).ok_or_else(|| {
            invalid_input(
                NAME,
                format!("input `priority_map` has the key `{k}`, which is not a severity"),
                "Use the keys Informational, Low, Medium, High and Critical.",
            )
        })?;
        let p = v.as_i64().filter(|p| *p > 0).ok_or_else(|| {
            invalid_input(
                NAME,
                format!("input `priority_map.{k}` must be a positive priority ID, got {v}"),
                "List Priorities shows the IDs.",
            )
        })?;
        priorities.insert(sev, p);
    }
    let group_by = match group_by {
        "finding" => GroupBy::Finding,
        "check" => GroupBy::Check,
        other => {
            return Err(invalid_input(NAME, format!("input `group_by` must be finding or check, got `{other}`"), "Use finding or check."));
        }
    };
    let on_pass = match on_pass {
        "ignore" => OnPass::Ignore,
        "note" => OnPass::Note,
        "close" => OnPass::Close,
        other => {
            return Err(invalid_input(
                NAME,
                format!("input `on_pass` must be ignore, note or close, got `{other}`"),
                "Use ignore, note or close.",
            ));
        }
    };
    Ok(Options {
        statuses,
        min_severity,
        tickettype_id,
        priorities,
        dedupe_field_id: dedupe_field_id.map(|d| positive(NAME, "dedupe_field_id", d)).transpose()?,
        group_by,
        on_pass,
        reopen_status_id: positive(NAME, "reopen_status_id", reopen_status_id)?,
        closed_status_id: positive(NAME, "closed_status_id", closed_status.id)?,
        closed_status_setting: closed_status.setting,
        team_id: team_id.map(|t| positive(NAME, "team_id", t)).transpose()?,
        dry_run,
        deadline: crate::halo::budget::patience::BULK_DEADLINE,
        batch_size: crate::lifecycle::DEFAULT_BATCH,
    })
}

/// A batch size as an input or flag (`what` names it): 1 to `halo::batch::MAX_BATCH` records a
/// request.
pub fn batch_size(what: &str, n: i64) -> Result<usize, PluginError> {
    let max = crate::halo::batch::MAX_BATCH as i64;
    if (1..=max).contains(&n) {
        return Ok(n as usize);
    }
    Err(PluginError::client(
        format!("Invalid {what}: it must be between 1 and {max}, got {n}."),
        format!("Give how many tickets one HaloITSM request may carry (50 by default, {max} at most). Nothing was sent."),
    ))
}

/// The longest deadline a batch may be given: a day.
pub const MAX_DEADLINE_SECONDS: u64 = 86_400;

/// A batch's deadline for HaloITSM's rate limit, checked (`what` names the input or flag).
/// The input `deadline_seconds` of `action`, checked.
pub fn deadline(action: &str, seconds: i64) -> Result<std::time::Duration, PluginError> {
    if !(1..=MAX_DEADLINE_SECONDS as i64).contains(&seconds) {
        return Err(invalid_input(
            action,
            format_args!("input `deadline_seconds` must be between 1 and {MAX_DEADLINE_SECONDS} seconds, got {seconds}"),
            "Give the seconds the batch may wait in all for HaloITSM's rate limit; 3600 is the default.",
        ));
    }
    Ok(std::time::Duration::from_secs(seconds.unsigned_abs()))
}

impl Action for SendFindings {
    const NAME: &'static str = NAME;
    type Input = Input;
    type Output = Output;

    async fn run(ctx: ActionContext, input: Input) -> Result<Output, PluginError> {
        let opts = options(
            &input.statuses,
            &input.min_severity,
            input.tickettype_id.or(ctx.client.config().default_ticket_type_id),
            &input.priority_map,
            input.dedupe_field_id,
            &input.group_by,
            &input.on_pass,
            input.reopen_status_id,
            ClosedStatus::of(input.closed_status_id, ctx.client.config().closed_status_id, "the step's `closed_status_id`"),
            input.team_id,
            input.dry_run,
        )?;
        let opts = Options {
            deadline: deadline(NAME, input.deadline_seconds)?,
            batch_size: batch_size("input `batch_size`", input.batch_size)?,
            ..opts
        };
        let mut all = input.findings;
        if let Some(f) = &input.file {
            let bytes =
                base64::engine::general_purpose::STANDARD.decode(f.content.split_whitespace().collect::<String>()).map_err(|e| {
                    invalid_input(
                        NAME,
                        format!("input `file.content` is not valid base64 ({e})"),
                        "Give the file base64-encoded, as InsightConnect file inputs are.",
                    )
                })?;
            let more = ocsf::read_file(&bytes).map_err(|e| {
                invalid_input(NAME, format!("input `file` ({}): {e}", f.filename), "Give a Prowler OCSF JSON output file (*.ocsf.json).")
            })?;
            all.extend(more);
        }
        if all.is_empty() && input.file.is_none() {
            return Err(invalid_input(
                NAME,
                "give `findings` or `file`",
                "Pass the findings of a Prowler OCSF output, or the file itself.",
            ));
        }
        let report = findings::send(&ctx.client, &opts, &all, &|_, _| {}).await?;
        tracing::info!("{} finding(s): {}", all.len(), report.counts.describe(opts.dry_run));
        Ok(Output { counts: report.counts, results: report.results })
    }
}
