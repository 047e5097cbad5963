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
use wiremock::matchers::{any, body_json, header, method, path};
use wiremock::{Match, Mock, MockBuilder, MockServer, Request, Respond, ResponseTemplate};

mod assign;
mod attachments;
mod close;
mod comments;
mod create;
mod delete;
mod update;

// ----- the mock HaloITSM ----------------------------------------------------------------------

/// The query string, as a multiset of decoded pairs, is exactly this (no more, no less).
struct QueryIs(Vec<(String, String)>);

impl Match for QueryIs {
    fn matches(&self, request: &Request) -> bool {
        let mut got: Vec<(String, String)> = request.url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        let mut want = self.0.clone();
        got.sort();
        want.sort();
        got == want
    }
}

fn query_is(pairs: &[(&str, &str)]) -> QueryIs {
    QueryIs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
}

fn no_query() -> QueryIs {
    QueryIs(Vec::new())
}

/// The answer to any request no test mock describes: 418 with the request echoed, so the
/// plugin's error (printed by the failing assertion) shows what was sent.
struct Unexpected;

impl Respond for Unexpected {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        ResponseTemplate::new(418).set_body_string(format!(
            "unexpected request {} {} {}",
            request.method,
            request.url,
            String::from_utf8_lossy(&request.body)
        ))
    }
}

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
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/auth/token"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(json!({"access_token": "tok", "token_type": "Bearer", "expires_in": 3600})),
            )
            .named("token")
            .mount(&server)
            .await;
        Mock::given(any())
            .respond_with(Unexpected)
            .with_priority(u8::MAX)
            .expect(0)
            .named("a request no mock of the test describes")
            .mount(&server)
            .await;
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
        self.server
            .received_requests()
            .await
            .unwrap()
            .iter()
            .filter(|r| r.url.path() != "/auth/token")
            .map(|r| match r.url.query() {
                Some(q) => format!("{} {}?{q}", r.method, r.url.path()),
                None => format!("{} {}", r.method, r.url.path()),
            })
            .collect()
    }

    /// Check every mock's expectation now (wiremock also does on drop), listing what HaloITSM
    /// received when one fails.
    async fn verify(&self) {
        for r in self.server.received_requests().await.unwrap() {
            eprintln!("HaloITSM received: {} {} {}", r.method, r.url, String::from_utf8_lossy(&r.body));
        }
        self.server.verify().await;
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

/// An authenticated API request to this method and path.
fn api(m: &str, p: &str) -> MockBuilder {
    Mock::given(method(m)).and(path(p.to_string())).and(header("authorization", "Bearer tok"))
}

/// A HaloITSM write the plugin's way: `POST {path}` with no query, JSON, body `[record]`.
fn write(p: &str, record: Value) -> MockBuilder {
    let record = if p == "/api/Actions" { with_note_html(record) } else { record };
    api("POST", p).and(no_query()).and(header("content-type", "application/json")).and(body_json(json!([record])))
}

fn ok_json(v: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(v)
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
