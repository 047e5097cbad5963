//! Halo's CMDB: `search_assets`, `get_asset` and `link_assets` (docs/halo-api.md#X1–X4), and the
//! asset links `create_ticket` and `update_ticket` take. A ticket's `assets` are written whole, so
//! a link sends the assets it had plus the new ones, and is read back.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::common::{invalid_input, positive, positive_opt};
use super::{Action, ActionContext};
use crate::halo::ticket::{int, strip_nulls};
use crate::protocol::PluginError;

/// The most assets a search returns, and the most linked at once.
const MAX_RESULTS: i64 = 1000;

/// An asset for output: the record as HaloITSM gives it, without nulls (X3; which key field holds
/// the hostname or the IP is the tenant's choice, so none is renamed).
fn asset(raw: &Value) -> Map<String, Value> {
    match strip_nulls(raw) {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// The asset IDs, checked (positive, no repeats, each one in HaloITSM) before anything is written.
pub async fn checked_assets(ctx: &ActionContext, action: &str, ids: &[i64]) -> Result<Vec<i64>, PluginError> {
    if ids.len() as i64 > MAX_RESULTS {
        return Err(invalid_input(
            action,
            format!("input `asset_ids` has {} IDs, more than {MAX_RESULTS}", ids.len()),
            "Link fewer assets at once.",
        ));
    }
    let mut out = Vec::with_capacity(ids.len());
    for (i, &id) in ids.iter().enumerate() {
        positive(action, &format!("asset_ids[{i}]"), id)?;
        if out.contains(&id) {
            continue;
        }
        if ctx.client.get_optional(&format!("Asset/{id}"), &[]).await?.is_none() {
            return Err(invalid_input(
                action,
                format!("input `asset_ids[{i}]` names asset {id}, which does not exist in HaloITSM"),
                "Search Assets shows the IDs of the CMDB's records. Nothing was changed.",
            ));
        }
        out.push(id);
    }
    Ok(out)
}

/// The asset IDs ticket `id` links: its full read's `assets`, or, where a read leaves them out,
/// the CMDB's `GET /Asset?ticket_id=` (X4).
pub async fn links_of(ctx: &ActionContext, id: i64, ticket: &Value) -> Result<Vec<i64>, PluginError> {
    if let Some(rows) = ticket.get("assets").and_then(Value::as_array) {
        return Ok(rows.iter().filter_map(|x| int(x, "id")).collect());
    }
    let listed = ctx.client.list_paged("Asset", &[("ticket_id", id.to_string())], "assets", MAX_RESULTS as usize).await?;
    Ok(listed.rows.iter().filter_map(|r| int(r, "id")).collect())
}

/// `assets` for a write: those linked now plus `add`, in that order, each once.
pub fn merged(now: &[i64], add: &[i64]) -> Value {
    let mut ids = now.to_vec();
    for id in add {
        if !ids.contains(id) {
            ids.push(*id);
        }
    }
    Value::Array(ids.into_iter().map(|id| json!({"id": id})).collect())
}

/// Whether ticket `id`, read back after a write, links every one of `added` and still links
/// those of `before`, else a clear error (X4's write shape is unconfirmed: a tenant could ignore
/// the list, or take it as the only links). Gives the ticket as read and the links it found.
pub async fn confirm_linked(
    ctx: &ActionContext,
    action: &str,
    id: i64,
    before: &[i64],
    added: &[i64],
) -> Result<(Value, Vec<i64>), PluginError> {
    match check_linked(ctx, action, id, before, added).await? {
        Linked::Kept(saved, now) => Ok((saved, now)),
        Linked::Raced(_) => Err(lost_race(id)),
        Linked::NotKept(e) => Err(e),
    }
}

/// What a read after a links write shows.
pub enum Linked {
    /// Every link asked for, and every link there was: the ticket and its links now.
    Kept(Value, Vec<i64>),
    /// Links neither there before nor asked for: another step changed them at the same moment
    /// (the write replaces the whole list, so one of the two lost); the ticket as read.
    Raced(Value),
    /// HaloITSM did not keep the links, and nobody else changed them.
    NotKept(PluginError),
}

/// The answer for the loser of two concurrent links writes to one ticket, after its retry.
fn lost_race(id: i64) -> PluginError {
    PluginError::plugin(
        crate::protocol::Preset::ServerError,
        format!("Another step changed ticket {id}'s asset links at the same moment, twice, and this step's links were lost to it."),
        "Run the step again: it links what is still missing and keeps what the other step linked.",
    )
}

pub async fn check_linked(ctx: &ActionContext, action: &str, id: i64, before: &[i64], added: &[i64]) -> Result<Linked, PluginError> {
    let saved = ctx.require_ticket(action, id).await?;
    let now = links_of(ctx, id, &saved).await?;
    let absent = |ids: &[i64]| ids.iter().filter(|a| !now.contains(a)).map(i64::to_string).collect::<Vec<_>>();
    let (missing, dropped) = (absent(added), absent(before));
    if missing.is_empty() && dropped.is_empty() {
        return Ok(Linked::Kept(saved, now));
    }
    if now.iter().any(|a| !before.contains(a) && !added.contains(a)) {
        return Ok(Linked::Raced(saved));
    }
    let mut problems = Vec::new();
    if !missing.is_empty() {
        problems.push(format!("did not link asset(s) {}", missing.join(", ")));
    }
    if !dropped.is_empty() {
        problems.push(format!("no longer links asset(s) {} it linked before", dropped.join(", ")));
    }
    Ok(Linked::NotKept(PluginError::plugin(
        crate::protocol::Preset::ServerError,
        format!("HaloITSM {} on ticket {id}.", problems.join(" and ")),
        "This HaloITSM may not take asset links through the API as sent; check the ticket's assets in HaloITSM, and the API application's permissions.",
    )))
}

#[derive(Debug, Deserialize)]
pub struct SearchInput {
    pub query: Option<String>,
    pub inventory_number: Option<String>,
    pub client_id: Option<i64>,
    pub site_id: Option<i64>,
    pub assettype_id: Option<i64>,
    #[serde(default)]
    pub include_inactive: bool,
    pub page: i64,
    pub page_size: i64,
}

#[derive(Debug, Serialize)]
pub struct SearchOutput {
    pub assets: Vec<Map<String, Value>>,
    pub count: i64,
    pub has_more: bool,
}

pub struct SearchAssets;

impl Action for SearchAssets {
    const NAME: &'static str = "search_assets";
    type Input = SearchInput;
    type Output = SearchOutput;

    async fn run(ctx: ActionContext, input: SearchInput) -> Result<SearchOutput, PluginError> {
        let name = Self::NAME;
        let mut q: Vec<(&str, String)> = Vec::new();
        let text = |v: &Option<String>| v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
        if let Some(s) = text(&input.query) {
            q.push(("search", s));
        }
        if let Some(s) = text(&input.inventory_number) {
            q.push(("inventory_number", s));
        }
        for (field, v, param) in [
            ("client_id", input.client_id, "client_id"),
            ("site_id", input.site_id, "site_id"),
            ("assettype_id", input.assettype_id, "assettype_id"),
        ] {
            if let Some(v) = positive_opt(name, field, v)? {
                q.push((param, v.to_string()));
            }
        }
        if q.is_empty() {
            return Err(invalid_input(
                name,
                "give at least one of `query`, `inventory_number`, `client_id`, `site_id` or `assettype_id`",
                "A search of the whole CMDB is refused; name a host, an IP, a tag or a client.",
            ));
        }
        if input.page < 1 || !(1..=MAX_RESULTS).contains(&input.page_size) || input.page.saturating_mul(input.page_size) > 10_000 {
            return Err(invalid_input(
                name,
                format!(
                    "inputs `page` ({}) and `page_size` ({}) must be 1 or more, the size at most {MAX_RESULTS}, reaching no further than asset 10000",
                    input.page, input.page_size
                ),
                "Walk the pages one after another, or narrow the search.",
            ));
        }
        if input.include_inactive {
            q.push(("includeinactive", "true".into()));
        }
        let (skip, size) = (((input.page - 1) * input.page_size) as usize, input.page_size as usize);
        let listed = ctx.client.list_paged("Asset", &q, "assets", skip + size).await?;
        let (rows, has_more) = listed.page(skip, size);
        let assets: Vec<_> = rows.iter().map(asset).collect();
        Ok(SearchOutput { count: assets.len() as i64, assets, has_more })
    }
}

#[derive(Debug, Deserialize)]
pub struct GetInput {
    pub asset_id: i64,
}

#[derive(Debug, Serialize)]
pub struct GetOutput {
    pub asset: Map<String, Value>,
    pub found: bool,
}

pub struct GetAsset;

impl Action for GetAsset {
    const NAME: &'static str = "get_asset";
    type Input = GetInput;
    type Output = GetOutput;

    async fn run(ctx: ActionContext, input: GetInput) -> Result<GetOutput, PluginError> {
        let id = positive(Self::NAME, "asset_id", input.asset_id)?;
        let raw = ctx.client.get_optional(&format!("Asset/{id}"), &[]).await?;
        Ok(GetOutput { found: raw.is_some(), asset: raw.as_ref().map(asset).unwrap_or_default() })
    }
}

#[derive(Debug, Deserialize)]
pub struct LinkInput {
    pub ticket_id: i64,
    pub asset_ids: Vec<i64>,
}

#[derive(Debug, Serialize)]
pub struct LinkOutput {
    pub success: bool,
    /// Every asset the ticket links now.
    pub asset_ids: Vec<i64>,
    /// Those this step added.
    pub added: Vec<i64>,
}

pub struct LinkAssets;

impl Action for LinkAssets {
    const NAME: &'static str = "link_assets";
    type Input = LinkInput;
    type Output = LinkOutput;

    async fn run(ctx: ActionContext, input: LinkInput) -> Result<LinkOutput, PluginError> {
        if input.asset_ids.is_empty() {
            return Err(invalid_input(
                Self::NAME,
                "input `asset_ids` is empty",
                "Give the IDs of the assets to link (Search Assets shows them).",
            ));
        }
        let lock = links_lock(&ctx, input.ticket_id);
        let _held = lock.lock().await;
        let current = ctx.require_ticket(Self::NAME, input.ticket_id).await?;
        let ids = checked_assets(&ctx, Self::NAME, &input.asset_ids).await?;
        let (asset_ids, added) = link_to(&ctx, Self::NAME, input.ticket_id, &current, &ids).await?;
        Ok(LinkOutput { success: true, asset_ids, added })
    }
}

/// The lock a step holds from reading a ticket's asset links to confirming its write: a write
/// sends the links whole, so two steps of this process adding to one ticket at once would each
/// drop the other's. (Steps in other containers are not held back.)
pub fn links_lock(ctx: &ActionContext, id: i64) -> std::sync::Arc<tokio::sync::Mutex<()>> {
    crate::key_locks::lock_of(&format!("{}\u{0}asset links of ticket {id}", ctx.client.config().application_key()))
}

/// Links existing assets `ids` to ticket `id` (read as `current`, under `links_lock`), keeping
/// those it links, and confirms it: every asset the ticket links now, and those added. No write
/// when all are linked.
pub async fn link_to(
    ctx: &ActionContext,
    action: &str,
    id: i64,
    current: &Value,
    ids: &[i64],
) -> Result<(Vec<i64>, Vec<i64>), PluginError> {
    let mut current = current.clone();
    // A write that lost to another step's at the same moment (another container) is made once
    // more on the ticket as it is now.
    for attempt in 1..=2 {
        let before = links_of(ctx, id, &current).await?;
        let added: Vec<i64> = ids.iter().copied().filter(|a| !before.contains(a)).collect();
        if added.is_empty() {
            return Ok((before, added));
        }
        let mut fields = Map::new();
        fields.insert("assets".into(), merged(&before, &added));
        ctx.client.update_ticket(id, fields).await?;
        match check_linked(ctx, action, id, &before, &added).await? {
            Linked::Kept(_, now) => return Ok((now, added)),
            Linked::Raced(saved) if attempt == 1 => {
                tracing::info!("Another step changed ticket {id}'s asset links at the same moment; linking again");
                current = saved;
            }
            Linked::Raced(_) => return Err(lost_race(id)),
            Linked::NotKept(e) => return Err(e),
        }
    }
    Err(lost_race(id))
}
