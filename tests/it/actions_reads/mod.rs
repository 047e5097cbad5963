//! The read actions driven through the plugin's REST API against a mocked HaloITSM: the exact
//! requests each one sends (method, path, every query parameter) and the output it builds.
//! Covers search_tickets (filters, paging, duplicates, retries), get_ticket, get_user,
//! get_agent, list_comments and the lookups (statuses, ticket types, priorities, agents, teams).

use crate::common;

use common::*;
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockBuilder, MockServer, Request, ResponseTemplate};

mod comments;
mod get_ticket;
mod lookups;
mod search;
mod users_agents;

// ----- scaffolding ------------------------------------------------------------------------------

/// Matches when the request's query string holds exactly these parameters (in any order) and
/// nothing else.
type ExactQuery = QueryIs;

/// A mocked HaloITSM (token endpoint mounted, any request no mock expects fails the test) and a
/// plugin server in front of it.
struct Env {
    halo: MockServer,
    srv: PluginServer,
}

async fn env() -> Env {
    let halo = strict_halo().await;
    Env { halo, srv: PluginServer::start().await }
}

/// An authenticated API call to HaloITSM with exactly these query parameters.
fn api(verb: &str, api_path: &str, query: ExactQuery) -> MockBuilder {
    Mock::given(method(verb)).and(path(format!("/api/{api_path}"))).and(header("authorization", "Bearer tok")).and(query)
}

impl Env {
    async fn mount(&self, mock: Mock) {
        mock.mount(&self.halo).await;
    }

    fn conn(&self) -> Value {
        connection(&self.halo.uri())
    }

    async fn run(&self, name: &str, input: Value) -> (u16, Value) {
        post(&self.srv.url(&format!("/api/v1/actions/{name}")), &action(name, self.conn(), input)).await
    }

    /// Run an action that must succeed; checks the requests HaloITSM saw, that the output has no
    /// null anywhere, and returns the output.
    async fn ok(&self, name: &str, input: Value) -> Value {
        let (status, body) = self.run(name, input.clone()).await;
        self.halo.verify().await;
        assert_eq!(status, 200, "{name}({input}) -> {body}");
        assert_eq!(body["body"]["status"], "ok", "{body}");
        let output = body["body"]["output"].clone();
        assert!(!output.to_string().contains("null"), "{name} output holds a null: {output}");
        output
    }

    /// Run an action that must fail with `status`; returns the whole error body.
    async fn fails(&self, name: &str, input: Value, status: u16) -> Value {
        let (got, body) = self.run(name, input.clone()).await;
        self.halo.verify().await;
        assert_eq!(got, status, "{name}({input}) -> {body}");
        assert_eq!(body["body"]["status"], "error", "{body}");
        assert!(body["body"].get("output").is_none(), "{body}");
        body["body"].clone()
    }

    fn url_of(&self, id: i64) -> String {
        format!("{}/ticket?id={id}", self.halo.uri())
    }
}

/// The same for closed tickets.
fn closed_query(filters: &[(&str, &str)], page_size: u64, page_no: u64) -> ExactQuery {
    state_query(filters, "closed_only", page_size, page_no)
}

fn state_query(filters: &[(&str, &str)], state: &str, page_size: u64, page_no: u64) -> ExactQuery {
    let mut q: Vec<(String, String)> = filters.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    if !q.iter().any(|(k, _)| k == state) {
        q.push((state.to_string(), "true".to_string()));
    }
    for (k, v) in [
        ("pageinate", "true".to_string()),
        ("page_size", page_size.to_string()),
        ("page_no", page_no.to_string()),
        ("order", "id".to_string()),
        ("orderdesc", "true".to_string()),
    ] {
        q.push((k.to_string(), v));
    }
    ExactQuery::owned(q)
}

/// A raw ticket as a search page lists it: unassigned, with sentinel dates.
fn row(id: i64) -> Value {
    json!({"id": id, "summary": format!("Ticket {id}"), "status_id": 1, "status_name": "New", "agent_id": 0, "agent_name": "Unassigned",
           "team": "", "team_id": 0, "user_name": null, "datecreated": "2026-09-01T08:00:00", "dateclosed": "1900-01-01T00:00:00"})
}

/// Raw tickets with these IDs, in this order.
fn rows(ids: impl IntoIterator<Item = i64>) -> Vec<Value> {
    ids.into_iter().map(row).collect()
}

fn page(record_count: i64, ids: impl IntoIterator<Item = i64>) -> Value {
    json!({"record_count": record_count, "tickets": rows(ids)})
}

impl Env {
    /// The search's list of closed tickets finds none.
    async fn no_closed(&self, filters: &[(&str, &str)], page_size: u64) {
        self.mount(api("GET", "Tickets", closed_query(filters, page_size, 1)).respond_with(ok_json(page(0, []))).expect(1)).await;
    }
}

/// A short ticket as a full read shows it (with HaloITSM's closed flag).
fn read(id: i64) -> Value {
    let mut t = row(id);
    t["hasbeenclosed"] = json!(false);
    t
}
