//! `sync_comments`: an InsightIDR investigation's comments and a HaloITSM ticket's notes, each
//! carried across once, without echo and without state of the plugin's own (`plan` says how).
//! One history read and one `POST /Actions` a run, whatever the number of comments; a second
//! history read only when HaloITSM's answer leaves a note unaccounted for.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::common::{invalid_input, positive};
use super::list_comments::Comment;
use super::{Action, ActionContext};
use crate::halo::HaloError;
use crate::halo::batch::MAX_BATCH;
use crate::halo::outcomes::Purpose;
use crate::halo::ticket::int;
use crate::protocol::PluginError;

mod plan;

use plan::{IdrComment, NewComment, Sides, Skipped};

pub struct SyncComments;

const NAME: &str = "sync_comments";

#[derive(Debug, Deserialize)]
pub struct Input {
    pub ticket_id: i64,
    pub investigation_rrn: String,
    /// As the InsightIDR plugin's List Comments outputs them; checked field by field here.
    #[serde(default)]
    pub comments: Vec<Value>,
    #[serde(default = "yes")]
    pub is_private: bool,
    #[serde(default)]
    pub outcome: Option<String>,
    #[serde(default)]
    pub since: Option<String>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Default, Serialize)]
pub struct Written {
    pub count: i64,
    /// The HaloITSM notes (action IDs) written from InsightIDR comments.
    pub action_ids: Vec<i64>,
    /// The comments they came from, in the same order.
    pub comment_rrns: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Output {
    pub written: Written,
    pub to_insightidr: Vec<NewComment>,
    pub skipped: Vec<Skipped>,
}

/// The outcome notes are recorded with: the one named, else the tenant's private or public note.
fn purpose(outcome: Option<&str>, private: bool) -> Purpose {
    match outcome.map(str::trim).filter(|o| !o.is_empty()) {
        None if private => Purpose::PrivateNote,
        None => Purpose::PublicNote,
        Some(o) if o.eq_ignore_ascii_case("Private Note") => Purpose::PrivateNote,
        Some(o) if o.eq_ignore_ascii_case("Note") => Purpose::PublicNote,
        Some(o) => Purpose::Named(o.to_string(), None),
    }
}

/// Everything the input says, checked before any request.
struct Checked {
    ticket_id: i64,
    target: String,
    comments: Vec<IdrComment>,
    since: Option<chrono::DateTime<chrono::Utc>>,
}

fn check(input: &Input) -> Result<Checked, PluginError> {
    let ticket_id = positive(NAME, "ticket_id", input.ticket_id)?;
    let target = input.investigation_rrn.trim().to_string();
    if !target.starts_with("rrn:") {
        return Err(invalid_input(
            NAME,
            "input `investigation_rrn` is not an RRN",
            "Give the investigation's RRN (rrn:investigation:...), the target its comments have. Nothing was written.",
        ));
    }
    let comments = plan::check(&input.comments, &target).map_err(|r| {
        invalid_input(
            NAME,
            format_args!("input `{}` {}", r.field, r.problem),
            "Pass the `comments` of InsightIDR's List Comments for this investigation as they are. Nothing was written.",
        )
    })?;
    let since = match input.since.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(chrono::DateTime::parse_from_rfc3339(s).map(|d| d.to_utc()).map_err(|_| {
            invalid_input(NAME, "input `since` is not an RFC 3339 date", "Use a date such as 2026-09-01T00:00:00Z. Nothing was written.")
        })?),
    };
    Ok(Checked { ticket_id, target, comments, since })
}

impl Action for SyncComments {
    const NAME: &'static str = NAME;
    type Input = Input;
    type Output = Output;

    async fn run(ctx: ActionContext, input: Input) -> Result<Output, PluginError> {
        let checked = check(&input)?;
        let id = checked.ticket_id;
        ctx.require_ticket(NAME, id).await?;
        let us = super::common::our_agent(&ctx, "notes are told apart by their markers only").await?;
        let rows = ctx.client.history(id, &notes_query()).await?;
        let sides = Sides { ticket_id: id, target: &checked.target, us, since: checked.since };
        let plan = plan::plan(&sides, checked.comments, &rows);
        let mut skipped = plan.skipped;
        let written =
            write(&ctx, id, purpose(input.outcome.as_deref(), input.is_private), input.is_private, &plan.to_halo, &mut skipped).await?;
        tracing::info!(
            "Ticket {id}: {} InsightIDR comment(s) written as notes, {} note(s) for InsightIDR, {} skipped",
            written.count,
            plan.to_insightidr.len(),
            skipped.len()
        );
        Ok(Output { written, to_insightidr: plan.to_insightidr, skipped })
    }
}

/// The history read: every note with its HTML, system entries left out (docs/halo-api.md#A3).
fn notes_query() -> Vec<(&'static str, String)> {
    vec![("includehtmlnote", "true".to_string()), ("excludesys", "true".to_string())]
}

/// Write each comment as a note, a batch to a request. A note HaloITSM's answer leaves
/// unaccounted for (or a write that may have been applied) is looked for by its marker in one
/// more history read before it is sent again; one still unaccounted for after that is reported
/// as skipped (`unconfirmed`), and the next run writes it if it is missing.
async fn write(
    ctx: &ActionContext,
    ticket_id: i64,
    purpose: Purpose,
    private: bool,
    comments: &[IdrComment],
    skipped: &mut Vec<Skipped>,
) -> Result<Written, PluginError> {
    let mut saved: HashMap<String, i64> = HashMap::new();
    let mut open: Vec<&IdrComment> = Vec::new();
    post(ctx, ticket_id, &purpose, private, comments.iter().collect(), &mut saved, &mut open).await?;
    if !open.is_empty() {
        let rows = ctx.client.history(ticket_id, &notes_query()).await?;
        let found = plan::mirrored_rrns(&rows);
        let mut missing: Vec<&IdrComment> = Vec::new();
        for c in open {
            match found.get(&c.rrn) {
                Some(a) => {
                    saved.insert(c.rrn.clone(), *a);
                }
                None => missing.push(c),
            }
        }
        let mut still = Vec::new();
        post(ctx, ticket_id, &purpose, private, missing, &mut saved, &mut still).await?;
        for c in still {
            skipped.push(Skipped {
                direction: "to_halo",
                index: Some(c.index as i64),
                rrn: Some(c.rrn.clone()),
                halo_action_id: None,
                reason: "unconfirmed",
                detail: "HaloITSM's answer does not show the note; the next run writes it if it is missing".to_string(),
            });
        }
    }
    let mut out = Written::default();
    for c in comments {
        if let Some(a) = saved.get(&c.rrn) {
            out.action_ids.push(*a);
            out.comment_rrns.push(c.rrn.clone());
        }
    }
    out.count = out.action_ids.len() as i64;
    Ok(out)
}

/// One request per `MAX_BATCH` notes: saved notes into `saved` (RRN → action ID), those the
/// answer leaves unaccounted for into `open`. A refusal fails the step.
async fn post<'a>(
    ctx: &ActionContext,
    ticket_id: i64,
    purpose: &Purpose,
    private: bool,
    comments: Vec<&'a IdrComment>,
    saved: &mut HashMap<String, i64>,
    open: &mut Vec<&'a IdrComment>,
) -> Result<(), PluginError> {
    for chunk in comments.chunks(MAX_BATCH) {
        let actions: Vec<Value> = chunk
            .iter()
            .map(|c| json!({"ticket_id": ticket_id, "note": plan::note_text(c), "hiddenfromuser": private, "sendemail": false}))
            .collect();
        let results = ctx.client.post_actions(purpose.clone(), actions).await;
        // Every note of the batch is for the same ticket, and a tenant may answer fewer records
        // than it saved: each saved record is matched to its comment by the marker it carries.
        let mut rows = Vec::new();
        for r in results {
            match r {
                Ok(Some(a)) => rows.push(a),
                Ok(None) => {}
                Err(e) if e.outcome_uncertain() => {}
                Err(e) => return Err(refused(e, saved.len())),
            }
        }
        for c in chunk {
            match rows.iter().find(|a| carries(a, &c.rrn)).and_then(|a| int(a, "id")).filter(|i| *i > 0) {
                Some(a) => {
                    saved.insert(c.rrn.clone(), a);
                }
                None => open.push(c),
            }
        }
    }
    Ok(())
}

/// Whether a saved action's note names the comment `rrn` as its origin.
fn carries(saved: &Value, rrn: &str) -> bool {
    Comment::from_halo(saved).text.as_deref().and_then(plan::idr_marker) == Some(rrn)
}

/// A write HaloITSM refused: the step fails; notes already written stay, and a rerun writes only
/// the rest.
fn refused(e: HaloError, written: usize) -> PluginError {
    let mut err: PluginError = e.into();
    if written > 0 {
        err.assistance = format!("{} {written} note(s) were written before; running the step again writes only the rest.", err.assistance);
    }
    err
}
