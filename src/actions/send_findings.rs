//! `send_findings`: Prowler (OCSF) findings to HaloITSM tickets (see `crate::findings`).

use std::collections::HashMap;

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::{invalid_input, positive, positive_opt, ticket_type};
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
#[derive(Debug, Clone, Copy)]
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

/// Who gives the findings settings, which decides how errors name some of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The `send_findings` step: its inputs.
    Step,
    /// The `send-findings` command: its flags.
    Command,
}

/// The findings settings as the step's inputs or the command's flags give them, one shape for
/// both; `check` turns them into `findings::Options` before anything is sent, each error naming
/// the input it is about.
#[derive(Debug, Clone)]
pub struct FindingSettings {
    pub origin: Origin,
    pub statuses: Vec<String>,
    pub min_severity: String,
    pub tickettype_id: Option<i64>,
    /// The connection's Default Ticket Type ID (the command has none).
    pub default_tickettype_id: Option<i64>,
    /// Severity name → HaloITSM priority ID, over the defaults.
    pub priority_map: HashMap<String, Value>,
    pub dedupe_field_id: Option<i64>,
    pub group_by: String,
    pub on_pass: String,
    pub reopen_status_id: i64,
    pub closed_status: ClosedStatus,
    pub team_id: Option<i64>,
    pub dry_run: bool,
    /// Seconds the whole batch may wait for HaloITSM's rate limit.
    pub deadline_seconds: i64,
    /// Tickets one HaloITSM request carries; None: the default (the command has no flag for it).
    pub batch_size: Option<i64>,
}

impl FindingSettings {
    /// The options, or the first wrong setting, named.
    pub fn check(self) -> Result<Options, PluginError> {
        let statuses: Vec<String> = self.statuses.iter().map(|s| s.trim().to_ascii_uppercase()).filter(|s| !s.is_empty()).collect();
        if statuses.is_empty() {
            return Err(invalid_input(NAME, "input `statuses` is empty", "Give at least one status to ticket, e.g. [\"FAIL\"]."));
        }
        if let Some(s) = statuses.iter().find(|s| !matches!(s.as_str(), "FAIL" | "PASS" | "MANUAL" | "MUTED")) {
            return Err(invalid_input(
                NAME,
                format_args!("input `statuses` has `{s}`, which is not a Prowler status"),
                "Use FAIL, PASS, MANUAL or MUTED.",
            ));
        }
        let min_severity = Severity::parse(&self.min_severity).ok_or_else(|| {
            invalid_input(
                NAME,
                format_args!("input `min_severity` must be Informational, Low, Medium, High or Critical, got `{}`", self.min_severity),
                "Pick one of the listed severities.",
            )
        })?;
        let tickettype_id = ticket_type(NAME, self.tickettype_id, self.default_tickettype_id, TICKET_TYPE_HELP)?;
        positive(NAME, "tickettype_id", tickettype_id)?;
        let mut priorities = findings::default_priorities();
        for (k, v) in &self.priority_map {
            let sev = Severity::parse(k).ok_or_else(|| {
                invalid_input(
                    NAME,
                    format_args!("input `priority_map` has the key `{k}`, which is not a severity"),
                    "Use the keys Informational, Low, Medium, High and Critical.",
                )
            })?;
            let p = v.as_i64().filter(|p| *p > 0).ok_or_else(|| {
                invalid_input(
                    NAME,
                    format_args!("input `priority_map.{k}` must be a positive priority ID, got {v}"),
                    "List Priorities shows the IDs.",
                )
            })?;
            priorities.insert(sev, p);
        }
        let group_by = match self.group_by.as_str() {
            "finding" => GroupBy::Finding,
            "check" => GroupBy::Check,
            other => {
                return Err(invalid_input(
                    NAME,
                    format_args!("input `group_by` must be finding or check, got `{other}`"),
                    "Use finding or check.",
                ));
            }
        };
        let on_pass = match self.on_pass.as_str() {
            "ignore" => OnPass::Ignore,
            "note" => OnPass::Note,
            "close" => OnPass::Close,
            other => {
                return Err(invalid_input(
                    NAME,
                    format_args!("input `on_pass` must be ignore, note or close, got `{other}`"),
                    "Use ignore, note or close.",
                ));
            }
        };
        let dedupe_field_id = positive_opt(NAME, "dedupe_field_id", self.dedupe_field_id)?;
        let reopen_status_id = positive(NAME, "reopen_status_id", self.reopen_status_id)?;
        let closed_status_id = positive(NAME, "closed_status_id", self.closed_status.id)?;
        let team_id = positive_opt(NAME, "team_id", self.team_id)?;
        // The command's flag keeps the step's wording but for the name (`--deadline-seconds`).
        let deadline = match self.origin {
            Origin::Step => deadline(NAME, self.deadline_seconds)?,
            Origin::Command => deadline("--deadline-seconds", self.deadline_seconds)?,
        };
        let batch_size = match self.batch_size {
            Some(n) => batch_size("input `batch_size`", n)?,
            None => crate::lifecycle::DEFAULT_BATCH,
        };
        Ok(Options {
            statuses,
            min_severity,
            tickettype_id,
            priorities,
            dedupe_field_id,
            group_by,
            on_pass,
            reopen_status_id,
            closed_status_id,
            closed_status_setting: self.closed_status.setting,
            team_id,
            dry_run: self.dry_run,
            deadline,
            batch_size,
        })
    }
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
        let config = ctx.client.config();
        let opts = FindingSettings {
            origin: Origin::Step,
            statuses: input.statuses,
            min_severity: input.min_severity,
            tickettype_id: input.tickettype_id,
            default_tickettype_id: config.default_ticket_type_id,
            priority_map: input.priority_map,
            dedupe_field_id: input.dedupe_field_id,
            group_by: input.group_by,
            on_pass: input.on_pass,
            reopen_status_id: input.reopen_status_id,
            closed_status: ClosedStatus::of(input.closed_status_id, config.closed_status_id, "the step's `closed_status_id`"),
            team_id: input.team_id,
            dry_run: input.dry_run,
            deadline_seconds: input.deadline_seconds,
            batch_size: Some(input.batch_size),
        }
        .check()?;
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
