//! `list_clients` and `list_sites`: the customers and locations a ticket can belong to
//! (docs/halo-api.md#K3, K4), walked page by page with the one paging helper.

use serde::{Deserialize, Serialize};

use super::common::{invalid_input, positive_opt};
use super::lookups::flag;
use super::{Action, ActionContext};
use crate::halo::ticket::{int, string};
use crate::protocol::PluginError;

/// The most rows a lookup returns.
const MAX_RESULTS: i64 = 10_000;

fn limit(action: &str, max_results: i64) -> Result<usize, PluginError> {
    if !(1..=MAX_RESULTS).contains(&max_results) {
        return Err(invalid_input(
            action,
            format_args!("input `max_results` must be between 1 and {MAX_RESULTS}, got {max_results}"),
            "Give how many records the step may return.",
        ));
    }
    Ok(max_results as usize)
}

fn search_query(search: &Option<String>, include_inactive: bool) -> Vec<(&'static str, String)> {
    let mut q = Vec::new();
    if let Some(s) = search.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        q.push(("search", s.to_string()));
    }
    if include_inactive {
        q.push(("includeinactive", "true".to_string()));
    }
    q
}

#[derive(Debug, Deserialize)]
pub struct ClientInput {
    pub search: Option<String>,
    #[serde(default)]
    pub include_inactive: bool,
    pub max_results: i64,
}

#[derive(Debug, Serialize)]
pub struct Client {
    pub id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inactive: Option<bool>,
}

#[derive(Debug, Serialize)]
pub struct ClientOutput {
    pub clients: Vec<Client>,
    pub count: i64,
    /// Whether HaloITSM has more than were returned.
    pub has_more: bool,
}

pub struct ListClients;

impl Action for ListClients {
    const NAME: &'static str = "list_clients";
    type Input = ClientInput;
    type Output = ClientOutput;

    async fn run(ctx: ActionContext, input: ClientInput) -> Result<ClientOutput, PluginError> {
        let limit = limit(Self::NAME, input.max_results)?;
        let listed = ctx.client.list_paged("Client", &search_query(&input.search, input.include_inactive), "clients", limit).await?;
        let (rows, has_more) = listed.page(0, limit);
        let clients: Vec<Client> = rows
            .iter()
            .filter_map(|r| Some(Client { id: int(r, "id").filter(|i| *i > 0)?, name: string(r, "name"), inactive: flag(r, "inactive") }))
            .collect();
        Ok(ClientOutput { count: clients.len() as i64, clients, has_more })
    }
}

#[derive(Debug, Deserialize)]
pub struct SiteInput {
    pub client_id: Option<i64>,
    pub search: Option<String>,
    #[serde(default)]
    pub include_inactive: bool,
    pub max_results: i64,
}

#[derive(Debug, Serialize)]
pub struct Site {
    pub id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inactive: Option<bool>,
}

#[derive(Debug, Serialize)]
pub struct SiteOutput {
    pub sites: Vec<Site>,
    pub count: i64,
    pub has_more: bool,
}

pub struct ListSites;

impl Action for ListSites {
    const NAME: &'static str = "list_sites";
    type Input = SiteInput;
    type Output = SiteOutput;

    async fn run(ctx: ActionContext, input: SiteInput) -> Result<SiteOutput, PluginError> {
        let limit = limit(Self::NAME, input.max_results)?;
        let mut q = search_query(&input.search, input.include_inactive);
        if let Some(c) = positive_opt(Self::NAME, "client_id", input.client_id)? {
            q.push(("client_id", c.to_string()));
        }
        let listed = ctx.client.list_paged("Site", &q, "sites", limit).await?;
        let (rows, has_more) = listed.page(0, limit);
        let sites: Vec<Site> = rows
            .iter()
            .filter_map(|r| {
                Some(Site {
                    id: int(r, "id").filter(|i| *i > 0)?,
                    name: string(r, "name"),
                    // K1, K4: `client_id` may come as a double.
                    client_id: int(r, "client_id").filter(|i| *i > 0),
                    client_name: string(r, "client_name").or_else(|| string(r, "clientsite_name")),
                    inactive: flag(r, "inactive"),
                })
            })
            .collect();
        Ok(SiteOutput { count: sites.len() as i64, sites, has_more })
    }
}
