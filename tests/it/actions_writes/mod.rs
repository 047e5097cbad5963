//! The write actions (create, update, close, comment, assign, attach, delete) driven through the
//! plugin's REST API against a mock HaloITSM, asserting the exact HaloITSM requests: method,
//! path, query, JSON body and their order, and the action's output or error.
//!
//! Every mock HaloITSM here answers any request a test did not describe with HTTP 418 and an
//! echo of the request, and fails verification when it was hit, so an extra, missing or
//! differently shaped request fails the test.

use crate::common;

use base64::Engine;
use common::*;
use serde_json::{Value, json};
use wiremock::matchers::{body_json, header};
use wiremock::{MockBuilder, MockServer, ResponseTemplate};

mod assign;
mod attachments;
mod close;
mod comments;
mod create;
mod delete;
mod update;

// ----- the mock HaloITSM ----------------------------------------------------------------------

/// A mock HaloITSM (token endpoint and catch-all already mounted), a plugin server, and the
/// connection that points one at the other.
struct Halo {
    server: MockServer,
    srv: PluginServer,
    conn: Value,
}

impl Halo {
    async fn start() -> Halo {
        Halo::with_connection(json!({})).await
    }

    /// Like `start`, with these fields added to the connection.
    async fn with_connection(extra: Value) -> Halo {
        let server = strict_halo().await;
        let mut conn = connection(&server.uri());
        for (k, v) in extra.as_object().unwrap() {
            conn[k] = v.clone();
        }
        Halo { server, srv: PluginServer::start().await, conn }
    }

    /// Run an action through the REST API; (HTTP status, `body` of the answer).
    async fn run(&self, name: &str, input: Value) -> (u16, Value) {
        let (status, answer) = post(&self.srv.url(&format!("/api/v1/actions/{name}")), &action(name, self.conn.clone(), input)).await;
        (status, answer["body"].clone())
    }

    /// Run an action that must succeed; its output.
    async fn ok(&self, name: &str, input: Value) -> Value {
        let (status, body) = self.run(name, input.clone()).await;
        assert_eq!(status, 200, "{name}({input}) -> {body}");
        assert_eq!(body["status"], "ok", "{body}");
        body["output"].clone()
    }

    /// Run an action that must fail with this HTTP status; the answer's `body`.
    async fn err(&self, name: &str, input: Value, status: u16) -> Value {
        let (got, body) = self.run(name, input.clone()).await;
        assert_eq!(got, status, "{name}({input}) -> {body}");
        assert_eq!(body["status"], "error", "{body}");
        assert!(body.get("output").is_none(), "{body}");
        body
    }

    /// The API requests HaloITSM received, in order, as "METHOD /path?query" (token requests left out).
    async fn api_requests(&self) -> Vec<String> {
        api_requests(&self.server).await
    }

    /// Check every mock's expectation now (wiremock also does on drop), listing what HaloITSM
    /// received when one fails.
    async fn verify(&self) {
        verify_listing(&self.server).await;
    }

    fn url_of(&self, id: i64) -> String {
        format!("{}/ticket?id={id}", self.server.uri())
    }

    /// `GET /api/Tickets/{id}?includedetails=true` answers `raw`, exactly `times` times.
    /// `GET /api/Team?includedisabled=true` answers these teams, once (the plugin caches them).
    async fn teams(&self, teams: Value) {
        api("GET", "/api/Team")
            .and(query_is(&[("includedisabled", "true")]))
            .respond_with(ok_json(teams))
            .expect(1)
            .named("GET teams")
            .mount(&self.server)
            .await;
    }

    async fn ticket(&self, id: i64, raw: Value, times: u64) {
        api("GET", &format!("/api/Tickets/{id}"))
            .and(query_is(&[("includedetails", "true")]))
            .respond_with(ResponseTemplate::new(200).set_body_json(raw))
            .expect(times)
            .named(format!("GET ticket {id}"))
            .mount(&self.server)
            .await;
    }

    /// The first `GET /api/Tickets/{id}` answers `before`, the second `after` (the re-read after a write).
    async fn ticket_before_after(&self, id: i64, before: Value, after: Value) {
        api("GET", &format!("/api/Tickets/{id}"))
            .and(query_is(&[("includedetails", "true")]))
            .respond_with(ResponseTemplate::new(200).set_body_json(before))
            .up_to_n_times(1)
            .with_priority(1)
            .expect(1)
            .named(format!("GET ticket {id} (before)"))
            .mount(&self.server)
            .await;
        self.ticket(id, after, 1).await;
    }

    /// `GET /api/Tickets/{id}` answers 404, once.
    async fn no_ticket(&self, id: i64) {
        api("GET", &format!("/api/Tickets/{id}"))
            .and(query_is(&[("includedetails", "true")]))
            .respond_with(ResponseTemplate::new(404).set_body_json(json!({"Message": "Ticket not found"})))
            .expect(1)
            .named(format!("GET unknown ticket {id}"))
            .mount(&self.server)
            .await;
        ticket_list_probe().mount(&self.server).await;
    }

    /// `POST {path}` with exactly `[record]` answers `response`, exactly `times` times.
    async fn post_one(&self, p: &str, record: Value, response: ResponseTemplate, times: u64) {
        write(p, record).respond_with(response).expect(times).named(format!("POST {p}")).mount(&self.server).await;
    }
}

/// A HaloITSM write the plugin's way: `POST {path}` with no query, JSON, body `[record]`.
fn write(p: &str, record: Value) -> MockBuilder {
    let record = if p == "/api/Actions" { with_note_html(record) } else { record };
    api("POST", p).and(no_query()).and(header("content-type", "application/json")).and(body_json(json!([record])))
}

/// A ticket as HaloITSM returns it: unassigned, no team, no category.
fn raw_ticket(id: i64, status: i64) -> Value {
    let (status_name, closed) = match status {
        1 => ("New", false),
        2 => ("In Progress", false),
        4 => ("Resolved", true),
        5 => ("Closed", true),
        9 => ("Closed", true),
        _ => ("Other", false),
    };
    json!({"id": id, "summary": "Suspicious login detected for jsmith", "details": "Login from 203.0.113.9 (new country)",
           "tickettype_id": 4, "tickettype_name": "Security Incident", "status_id": status, "status_name": status_name,
           "priority_id": 3, "priority_name": "Medium", "agent_id": 0, "agent_name": "Unassigned", "team": "", "team_id": 0,
           "client_id": 1, "client_name": "Acme Corp", "dateoccurred": "2026-09-01T08:00:00",
           "dateclosed": if closed { "2026-09-02T17:00:00" } else { "1900-01-01T00:00:00" }, "hasbeenclosed": closed})
}

const TICKET_GET: &str = "GET /api/Tickets/42?includedetails=true";
const MAYBE_SAVED: &str = "may or may not have been saved";
/// The one ticket-list request that follows the first 404 (see `ticket_list_probe`).
const PROBE: &str = "GET /api/Tickets?count=1&ticketidonly=true";
