//! `/api/Asset`: the CMDB, listed with the filters of X1 (search over the inventory number and
//! key fields, or the inventory number only; client, site, asset type, the assets of a ticket;
//! inactive ones only when asked), paged as tickets are [L2], wrapped as `assets` [X2].

use serde_json::{Map, Value, json};

use super::errors::ApiError;
use super::state::{Store, get_i64};
use super::tickets::page_window;
use super::util::Params;

fn text(a: &Map<String, Value>, k: &str) -> String {
    a.get(k).and_then(Value::as_str).unwrap_or_default().to_lowercase()
}

/// `GET /api/Asset`.
pub(crate) fn list(store: &Store, q: &Params) -> Result<Value, ApiError> {
    let int = |k: &str| q.int(k).map_err(|m| ApiError::field(k, m));
    let (client, site, kind, ticket) = (int("client_id")?, int("site_id")?, int("assettype_id")?, int("ticket_id")?);
    let search = q.get_nonblank("search").map(str::to_lowercase);
    let inventory_only = q.flag("search_inventory_number_only");
    let inventory = q.get_nonblank("inventory_number").map(str::to_lowercase);
    let linked: Option<Vec<i64>> = ticket.map(|t| {
        store
            .tickets
            .get(&t)
            .and_then(|t| t.get("assets"))
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|x| x.get("id")?.as_i64()).collect())
            .unwrap_or_default()
    });
    let include_inactive = q.flag("includeinactive");
    let rows: Vec<&Map<String, Value>> = store
        .lookups
        .assets
        .iter()
        .filter(|a| include_inactive || a.get("inactive") != Some(&Value::Bool(true)))
        .filter(|a| client.is_none_or(|c| get_i64(a, "client_id") == c))
        .filter(|a| site.is_none_or(|s| get_i64(a, "site_id") == s))
        .filter(|a| kind.is_none_or(|k| get_i64(a, "assettype_id") == k))
        .filter(|a| linked.as_ref().is_none_or(|ids| ids.contains(&get_i64(a, "id"))))
        .filter(|a| inventory.as_ref().is_none_or(|i| text(a, "inventory_number") == *i))
        .filter(|a| {
            search.as_ref().is_none_or(|s| {
                let fields: &[&str] = if inventory_only {
                    &["inventory_number"]
                } else {
                    &["inventory_number", "key_field", "key_field2", "key_field3", "username"]
                };
                fields.iter().any(|f| text(a, f).contains(s.as_str()))
            })
        })
        .collect();
    let total = rows.len();
    let w = page_window(q, total)?;
    let out: Vec<Value> = rows.into_iter().skip(w.skip).take(w.take).map(|a| Value::Object(a.clone())).collect();
    let count = if store.profile.live.per_page_record_count { out.len() } else { total };
    Ok(json!({"record_count": count, "assets": out}))
}

/// `GET /api/Asset/{id}`.
pub(crate) fn get(store: &Store, id: i64) -> Result<Value, ApiError> {
    store.lookups.asset(id).map(|a| Value::Object(a.clone())).ok_or_else(|| ApiError::not_found(format!("Asset {id} not found")))
}
