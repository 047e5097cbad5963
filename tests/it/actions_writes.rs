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

// ----- create_ticket --------------------------------------------------------------------------

fn connection_defaults() -> Value {
    json!({"default_ticket_type_id": 4, "default_priority_id": 3, "default_team_id": 2, "default_agent_id": 5, "default_category_id": 10})
}

#[tokio::test]
async fn create_posts_one_ticket_filled_from_the_connection_defaults() {
    let h = Halo::with_connection(connection_defaults()).await;
    let saved = json!({"id": 1001, "summary": "InsightIDR: Suspicious Authentication", "details": "Login from 203.0.113.9",
                       "tickettype_id": 4, "status_id": 1, "status_name": "New", "priority_id": 3, "categoryid_1": 10,
                       "category_1": "Security>Phishing", "agent_id": 5, "agent_name": "Alex Morgan", "team_id": 2,
                       "team": "Security Operations", "datecreated": "2026-09-01T08:00:00", "hasbeenclosed": false});
    h.post_one(
        "/api/Tickets",
        json!({"summary": "InsightIDR: Suspicious Authentication", "details": "Login from 203.0.113.9", "tickettype_id": 4,
               "status_id": 1, "priority_id": 3, "categoryid_1": 10, "agent_id": 5, "team_id": 2}),
        ok_json(saved),
        1,
    )
    .await;
    let out = h.ok("create_ticket", json!({"summary": "InsightIDR: Suspicious Authentication", "details": "Login from 203.0.113.9"})).await;
    assert_eq!(out["success"], true);
    assert_eq!(
        out["ticket"],
        json!({"id": 1001, "summary": "InsightIDR: Suspicious Authentication", "details": "Login from 203.0.113.9", "tickettype_id": 4,
               "status_id": 1, "status_name": "New", "priority_id": 3, "category_id": 10, "category_1": "Security>Phishing",
               "agent_id": 5, "agent_name": "Alex Morgan", "team_id": 2, "team_name": "Security Operations",
               "datecreated": "2026-09-01T08:00:00Z", "closed": false, "url": h.url_of(1001)})
    );
    assert_eq!(h.api_requests().await, ["POST /api/Tickets"], "a create needs no existence check");
    h.verify().await;
}

#[tokio::test]
async fn create_inputs_override_the_defaults_and_custom_fields_pass_through() {
    let h = Halo::with_connection(connection_defaults()).await;
    let fields = json!([{"id": 101, "value": "x"}, {"name": "CFSecurityReference", "value": "rrn:investigation:us:42"}]);
    h.post_one(
        "/api/Tickets",
        json!({"summary": "s", "details": "d", "tickettype_id": 7, "status_id": 2, "priority_id": 1, "categoryid_1": 11,
               "agent_id": 6, "team_id": 8, "site_id": 9, "user_id": 12, "customfields": fields}),
        ok_json(json!({"id": 1002, "summary": "s", "tickettype_id": 7, "customfields": [{"id": 101, "name": "CFRef", "value": "x", "display": null}]})),
        1,
    )
    .await;
    let out = h
        .ok(
            "create_ticket",
            json!({"summary": "s", "details": "d", "tickettype_id": 7, "status_id": 2, "priority_id": 1, "category_id": 11,
                   "agent_id": 6, "team_id": 8, "site_id": 9, "user_id": 12, "customfields": fields}),
        )
        .await;
    assert_eq!(out["success"], true);
    assert_eq!(out["ticket"]["id"], 1002);
    assert_eq!(out["ticket"]["customfields"], json!([{"id": 101, "name": "CFRef", "value": "x"}]), "nulls dropped from the output");
    h.verify().await;
}

#[tokio::test]
async fn create_without_a_ticket_type_anywhere_is_a_400_before_any_request() {
    let h = Halo::start().await;
    api("POST", "/api/Tickets").respond_with(ok_json(json!({"id": 1}))).expect(0).mount(&h.server).await;
    let body = h.err("create_ticket", json!({"summary": "s", "details": "d", "priority_id": 2}), 400).await;
    let error = body["error"].as_str().unwrap();
    assert!(error.contains("no ticket type was given") && error.contains("Default Ticket Type ID"), "{error}");
    assert!(body["exception"]["assistance"].as_str().unwrap().contains("tickettype_id"), "{body}");
    assert!(h.api_requests().await.is_empty());
    h.verify().await;
}

#[tokio::test]
async fn create_with_invalid_inputs_is_a_400_before_any_request() {
    let h = Halo::with_connection(connection_defaults()).await;
    api("POST", "/api/Tickets").respond_with(ok_json(json!({"id": 1}))).expect(0).mount(&h.server).await;
    for (input, expect) in [
        (json!({"customfields": [{"value": "x"}]}), "`customfields[0]` needs an `id`"),
        (
            json!({"customfields": [{"id": 101, "value": "x"}, {"id": "abc", "value": "y"}]}),
            "`customfields[1]` has an `id` that is not a positive",
        ),
        (json!({"customfields": [{"id": 101}]}), "`customfields[0]` needs a `value`"),
        (json!({"priority_id": 0}), "`priority_id` must be a positive ID"),
        (json!({"tickettype_id": -4}), "`tickettype_id` must be a positive ID"),
    ] {
        let mut full = json!({"summary": "s", "details": "d"});
        for (k, v) in input.as_object().unwrap() {
            full[k] = v.clone();
        }
        let body = h.err("create_ticket", full, 400).await;
        assert!(body["error"].as_str().unwrap().contains(expect), "{input}: {body}");
    }
    assert!(h.api_requests().await.is_empty());
    h.verify().await;
}

/// create_ticket against a HaloITSM that rejects the ticket with this answer, once; the plugin's `body`.
async fn create_rejected_with(answer: ResponseTemplate, status: u16) -> Value {
    let h = Halo::with_connection(connection_defaults()).await;
    h.post_one(
        "/api/Tickets",
        json!({"summary": "s", "details": "d", "tickettype_id": 4, "status_id": 1, "priority_id": 3, "categoryid_1": 10,
               "agent_id": 5, "team_id": 2}),
        answer,
        1,
    )
    .await;
    let body = h.err("create_ticket", json!({"summary": "s", "details": "d"}), status).await;
    assert_eq!(h.api_requests().await, ["POST /api/Tickets"], "sent once, never retried");
    h.verify().await;
    body
}

#[tokio::test]
async fn create_rejected_by_halo_is_a_400_carrying_halos_message_in_every_error_shape() {
    for (answer, message) in [
        (ResponseTemplate::new(400).set_body_json(json!({"[0].summary": "Summary is required"})), "summary: Summary is required"),
        (
            ResponseTemplate::new(400).set_body_json(json!({"ClassName": "HaloValidationException", "Message": "Invalid tickettype_id 4"})),
            "Invalid tickettype_id 4",
        ),
        (
            ResponseTemplate::new(400).set_body_json(json!({"resultCode": 1, "errorMessage": "Approval code required"})),
            "Approval code required",
        ),
        (
            ResponseTemplate::new(400).set_body_json(json!({"Message": "Status 1 is not valid for this ticket type"})),
            "Status 1 is not valid for this ticket type",
        ),
        (ResponseTemplate::new(400).set_body_string("Ticket type is required"), "Ticket type is required"),
    ] {
        let body = create_rejected_with(answer, 400).await;
        assert_eq!(body["exception"]["data"], message, "{body}");
        assert!(body["exception"]["cause"].as_str().unwrap().contains("HTTP 400"), "{body}");
        assert!(body["error"].as_str().unwrap().contains(message), "{body}");
    }
}

#[tokio::test]
async fn create_forbidden_is_a_500_with_permission_advice() {
    let body =
        create_rejected_with(ResponseTemplate::new(403).set_body_json(json!({"Message": "Agent lacks the Tickets permission"})), 500).await;
    let cause = body["exception"]["cause"].as_str().unwrap();
    assert!(cause.contains("HTTP 403") && cause.contains("Agent lacks the Tickets permission"), "{body}");
    assert!(body["exception"]["assistance"].as_str().unwrap().contains("permission"), "{body}");
}

#[tokio::test]
async fn create_server_error_is_not_retried_and_says_the_ticket_may_exist() {
    let body = create_rejected_with(ResponseTemplate::new(500).set_body_json(json!({"Message": "Timeout expired"})), 500).await;
    assert!(body["exception"]["cause"].as_str().unwrap().contains("HTTP 500"), "{body}");
    assert!(body["exception"]["assistance"].as_str().unwrap().contains(MAYBE_SAVED), "{body}");
}

#[tokio::test]
async fn create_timing_out_is_not_retried_and_says_the_ticket_may_exist() {
    let mut extra = connection_defaults();
    extra["timeout_seconds"] = json!(1);
    let h = Halo::with_connection(extra).await;
    h.post_one(
        "/api/Tickets",
        json!({"summary": "s", "details": "d", "tickettype_id": 4, "status_id": 1, "priority_id": 3, "categoryid_1": 10,
               "agent_id": 5, "team_id": 2}),
        ok_json(json!({"id": 1005})).set_delay(std::time::Duration::from_secs(3)),
        1,
    )
    .await;
    let body = h.err("create_ticket", json!({"summary": "s", "details": "d"}), 500).await;
    assert!(body["exception"]["cause"].as_str().unwrap().contains("did not answer within 1 seconds"), "{body}");
    assert!(body["exception"]["assistance"].as_str().unwrap().contains(MAYBE_SAVED), "{body}");
    assert_eq!(h.api_requests().await, ["POST /api/Tickets"]);
    h.verify().await;
}

#[tokio::test]
async fn create_rate_limited_then_accepted_creates_the_ticket_once() {
    let h = Halo::with_connection(connection_defaults()).await;
    let record = json!({"summary": "s", "details": "d", "tickettype_id": 4, "status_id": 1, "priority_id": 3, "categoryid_1": 10,
                        "agent_id": 5, "team_id": 2});
    write("/api/Tickets", record.clone())
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "0").set_body_json(json!({"Message": "Too many requests"})))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .named("POST /api/Tickets (rate limited)")
        .mount(&h.server)
        .await;
    h.post_one(
        "/api/Tickets",
        record,
        ok_json(json!({"id": 1003, "summary": "s", "tickettype_id": 4, "status_id": 1, "hasbeenclosed": false})),
        1,
    )
    .await;
    let out = h.ok("create_ticket", json!({"summary": "s", "details": "d"})).await;
    assert_eq!(out["success"], true);
    assert_eq!(out["ticket"]["id"], 1003);
    assert_eq!(h.api_requests().await, ["POST /api/Tickets", "POST /api/Tickets"]);
    h.verify().await;
}

#[tokio::test]
async fn create_accepts_an_array_answer_and_a_ticket_without_agent_team_or_category() {
    let h = Halo::with_connection(json!({"default_ticket_type_id": 4})).await;
    h.post_one(
        "/api/Tickets",
        json!({"summary": "Bare", "details": "d", "tickettype_id": 4, "status_id": 1}),
        ok_json(json!([{"id": 1004, "summary": "Bare", "details": "d", "tickettype_id": 4, "status_id": 1, "agent_id": 0,
                        "agent_name": "Unassigned", "team_id": 0, "team": "", "categoryid_1": 0, "category_1": "", "hasbeenclosed": false}])),
        1,
    )
    .await;
    let out = h.ok("create_ticket", json!({"summary": "Bare", "details": "d"})).await;
    assert_eq!(
        out,
        json!({"ticket": {"id": 1004, "summary": "Bare", "details": "d", "tickettype_id": 4, "status_id": 1, "closed": false,
                          "url": h.url_of(1004)},
               "success": true})
    );
    h.verify().await;
}

// ----- update_ticket --------------------------------------------------------------------------

#[tokio::test]
async fn update_sends_the_id_and_only_the_given_fields() {
    let h = Halo::start().await;
    h.ticket(42, raw_ticket(42, 2), 1).await;
    let mut saved = raw_ticket(42, 2);
    saved["priority_id"] = json!(1);
    saved["priority_name"] = json!("High");
    h.post_one("/api/Tickets", json!({"id": 42, "priority_id": 1}), ok_json(saved), 1).await;
    // Blank optional inputs (as the InsightConnect UI sends unset variables) are not fields to change.
    let out = h.ok("update_ticket", json!({"ticket_id": 42, "priority_id": 1, "summary": "", "details": null})).await;
    assert_eq!(out["success"], true);
    let t = &out["ticket"];
    assert_eq!((t["id"].as_i64(), t["priority_id"].as_i64(), t["priority_name"].as_str()), (Some(42), Some(1), Some("High")), "{t}");
    assert_eq!(t["summary"], "Suspicious login detected for jsmith");
    assert_eq!(h.api_requests().await, [TICKET_GET, "POST /api/Tickets"], "the existence check comes before the write");
    h.verify().await;
}

#[tokio::test]
async fn update_with_text_status_and_custom_fields() {
    let h = Halo::start().await;
    h.ticket(42, raw_ticket(42, 1), 1).await;
    let mut saved = raw_ticket(42, 2);
    saved["summary"] = json!("New summary");
    saved["details"] = json!("New details");
    h.post_one(
        "/api/Tickets",
        json!({"id": 42, "summary": "New summary", "details": "New details", "status_id": 2, "customfields": [{"id": 101, "value": "x"}]}),
        ok_json(saved),
        1,
    )
    .await;
    let out = h
        .ok(
            "update_ticket",
            json!({"ticket_id": 42, "summary": "New summary", "details": "New details", "status_id": 2, "customfields": [{"id": 101, "value": "x"}]}),
        )
        .await;
    assert_eq!((out["ticket"]["summary"].as_str(), out["ticket"]["status_id"].as_i64()), (Some("New summary"), Some(2)), "{out}");
    h.verify().await;
}

#[tokio::test]
async fn update_of_an_unknown_ticket_is_a_400_naming_it_and_writes_nothing() {
    let h = Halo::start().await;
    h.no_ticket(4242).await;
    api("POST", "/api/Tickets").respond_with(ok_json(json!({"id": 4242}))).expect(0).mount(&h.server).await;
    let body = h.err("update_ticket", json!({"ticket_id": 4242, "summary": "x"}), 400).await;
    assert!(body["error"].as_str().unwrap().contains("Ticket 4242 does not exist"), "{body}");
    assert_eq!(h.api_requests().await, ["GET /api/Tickets/4242?includedetails=true", PROBE]);
    h.verify().await;
}

#[tokio::test]
async fn update_without_fields_writes_nothing_and_returns_the_ticket() {
    let h = Halo::start().await;
    h.ticket(42, raw_ticket(42, 2), 1).await;
    api("POST", "/api/Tickets").respond_with(ok_json(json!({"id": 42}))).expect(0).mount(&h.server).await;
    let out = h.ok("update_ticket", json!({"ticket_id": 42, "summary": "", "customfields": []})).await;
    assert_eq!(
        out,
        json!({"ticket": {"id": 42, "summary": "Suspicious login detected for jsmith", "details": "Login from 203.0.113.9 (new country)",
                          "tickettype_id": 4, "tickettype_name": "Security Incident", "status_id": 2, "status_name": "In Progress",
                          "priority_id": 3, "priority_name": "Medium", "client_id": 1, "client_name": "Acme Corp",
                          "dateoccurred": "2026-09-01T08:00:00Z", "datecreated": "2026-09-01T08:00:00Z", "closed": false,
                          "url": h.url_of(42)},
               "success": true})
    );
    assert_eq!(h.api_requests().await, [TICKET_GET]);
    h.verify().await;
}

#[tokio::test]
async fn update_with_agent_zero_unassigns() {
    let h = Halo::start().await;
    let mut current = raw_ticket(42, 2);
    current["agent_id"] = json!(3);
    current["agent_name"] = json!("Alex Morgan");
    h.ticket(42, current, 1).await;
    h.post_one("/api/Tickets", json!({"id": 42, "agent_id": 0}), ok_json(raw_ticket(42, 2)), 1).await;
    let out = h.ok("update_ticket", json!({"ticket_id": 42, "agent_id": 0})).await;
    assert!(out["ticket"].get("agent_id").is_none() && out["ticket"].get("agent_name").is_none(), "{out}");
    h.verify().await;
}

/// Just now, in HaloITSM's date form (whole seconds, UTC, no zone).
fn halo_now(offset_secs: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(offset_secs)).format("%Y-%m-%dT%H:%M:%S").to_string()
}

/// `GET /api/Tickets/{id}` (the plain read that checks a ticket is gone) answers 404, once.
async fn gone(h: &Halo, id: i64) {
    api("GET", &format!("/api/Tickets/{id}"))
        .and(no_query())
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"Message": "Ticket not found"})))
        .expect(1)
        .named(format!("GET ticket {id} (gone)"))
        .mount(&h.server)
        .await;
    ticket_list_probe().mount(&h.server).await;
}

#[tokio::test]
async fn update_that_halo_turned_into_a_create_deletes_the_stray_ticket() {
    let h = Halo::start().await;
    // The ticket vanished between the check and the write: HaloITSM's upsert made ticket 43.
    h.ticket(42, raw_ticket(42, 2), 1).await;
    h.post_one("/api/Tickets", json!({"id": 42, "summary": "x"}), ok_json(json!({"id": 43, "summary": "x"})), 1).await;
    gone(&h, 42).await;
    // Ticket 43 is provably the one this update made: created after it was sent, with its fields.
    h.ticket(43, json!({"id": 43, "summary": "x", "datecreated": halo_now(1)}), 1).await;
    api("DELETE", "/api/Tickets/43")
        .and(query_is(&[("reason", "Created by accident while updating ticket 42, which no longer exists")]))
        .respond_with(ok_json(json!({"id": 43})))
        .expect(1)
        .named("DELETE the stray ticket")
        .mount(&h.server)
        .await;
    let body = h.err("update_ticket", json!({"ticket_id": 42, "summary": "x"}), 500).await;
    let cause = body["exception"]["cause"].as_str().unwrap();
    assert!(cause.contains("Ticket 42 was deleted while it was being updated") && cause.contains("ticket 43"), "{body}");
    assert!(cause.contains("deleted again"), "{body}");
    assert_eq!(
        h.api_requests().await,
        [
            TICKET_GET,
            "POST /api/Tickets",
            "GET /api/Tickets/42",
            PROBE,
            "GET /api/Tickets/43?includedetails=true",
            "DELETE /api/Tickets/43?reason=Created+by+accident+while+updating+ticket+42%2C+which+no+longer+exists"
        ]
    );
    h.verify().await;
}

#[tokio::test]
async fn an_answer_for_another_ticket_is_never_deleted_on_a_guess() {
    // Each case: what the reads show; none proves ticket 43 is the one this update created.
    let cases = [
        ("ticket 42 still exists", Some(raw_ticket(42, 2)), json!({"id": 43, "summary": "x", "datecreated": halo_now(1)})),
        ("ticket 43 is older than the update", None, json!({"id": 43, "summary": "x", "datecreated": "2026-01-01T00:00:00"})),
        ("ticket 43 has another summary", None, json!({"id": 43, "summary": "someone else's", "datecreated": halo_now(1)})),
        ("ticket 43 has no creation date", None, json!({"id": 43, "summary": "x"})),
    ];
    for (case, still_there, stray) in cases {
        let h = Halo::start().await;
        h.ticket(42, raw_ticket(42, 2), 1).await;
        h.post_one("/api/Tickets", json!({"id": 42, "summary": "x"}), ok_json(json!({"id": 43, "summary": "x"})), 1).await;
        match still_there {
            Some(t) => {
                api("GET", "/api/Tickets/42").and(no_query()).respond_with(ok_json(t)).expect(1).mount(&h.server).await;
                h.ticket(43, stray, 0).await;
            }
            None => {
                gone(&h, 42).await;
                h.ticket(43, stray, 1).await;
            }
        }
        api("DELETE", "/api/Tickets/43").respond_with(ok_json(json!({"id": 43}))).expect(0).named("no delete").mount(&h.server).await;
        let body = h.err("update_ticket", json!({"ticket_id": 42, "summary": "x"}), 500).await;
        let cause = body["exception"]["cause"].as_str().unwrap();
        assert!(cause.contains("left alone"), "{case}: {body}");
        assert!(body["exception"]["assistance"].as_str().unwrap().contains("ticket 43"), "{case}: {body}");
        h.verify().await;
    }
}

#[tokio::test]
async fn update_server_error_is_not_retried() {
    let h = Halo::start().await;
    h.ticket(42, raw_ticket(42, 2), 1).await;
    h.post_one("/api/Tickets", json!({"id": 42, "status_id": 2}), ResponseTemplate::new(502).set_body_string("Bad Gateway"), 1).await;
    let body = h.err("update_ticket", json!({"ticket_id": 42, "status_id": 2}), 500).await;
    assert!(body["exception"]["assistance"].as_str().unwrap().contains(MAYBE_SAVED), "{body}");
    h.verify().await;
}

// ----- close_ticket ---------------------------------------------------------------------------

#[tokio::test]
async fn close_records_status_and_resolution_in_one_action_and_leaves_the_details() {
    let h = Halo::start().await;
    h.ticket_before_after(42, raw_ticket(42, 2), raw_ticket(42, 9)).await;
    // HaloITSM's built-in Closed is 9 (docs/halo-api.md#S4).
    h.post_one(
        "/api/Actions",
        json!({"ticket_id": 42, "outcome": "Closed", "note": "False positive - corporate VPN", "new_status": 9, "hiddenfromuser": false}),
        ok_json(json!({"id": 9001, "ticket_id": 42, "new_status": 9})),
        1,
    )
    .await;
    api("POST", "/api/Tickets").respond_with(ok_json(json!({"id": 42}))).expect(0).mount(&h.server).await;
    let out = h.ok("close_ticket", json!({"ticket_id": 42, "resolution": "  False positive - corporate VPN  "})).await;
    assert_eq!(out["success"], true);
    let t = &out["ticket"];
    assert_eq!((t["status_id"].as_i64(), t["status_name"].as_str(), t["closed"].as_bool()), (Some(9), Some("Closed"), Some(true)), "{t}");
    assert_eq!(t["details"], "Login from 203.0.113.9 (new country)");
    assert_eq!(t["dateclosed"], "2026-09-02T17:00:00Z");
    assert_eq!(h.api_requests().await, [TICKET_GET, "POST /api/Actions", TICKET_GET], "check, one action, re-read");
    h.verify().await;
}

#[tokio::test]
async fn close_honours_closed_status_id_and_notes_a_default_resolution() {
    let h = Halo::start().await;
    h.ticket_before_after(42, raw_ticket(42, 2), raw_ticket(42, 4)).await;
    h.post_one(
        "/api/Actions",
        json!({"ticket_id": 42, "outcome": "Closed", "note": "Closed from InsightConnect", "new_status": 4, "hiddenfromuser": false}),
        ok_json(json!({"id": 9002})),
        1,
    )
    .await;
    let out = h.ok("close_ticket", json!({"ticket_id": 42, "closed_status_id": 4})).await;
    assert_eq!((out["success"].as_bool(), out["ticket"]["status_id"].as_i64()), (Some(true), Some(4)), "{out}");
    h.verify().await;
}

#[tokio::test]
async fn close_uses_the_connections_closed_status() {
    let h = Halo::with_connection(json!({"closed_status_id": 21})).await;
    h.ticket_before_after(42, raw_ticket(42, 2), json!({"id": 42, "status_id": 21, "status_name": "Completed", "hasbeenclosed": true}))
        .await;
    h.post_one(
        "/api/Actions",
        json!({"ticket_id": 42, "outcome": "Closed", "note": "Closed from InsightConnect", "new_status": 21, "hiddenfromuser": false}),
        ok_json(json!({"id": 9003})),
        1,
    )
    .await;
    let out = h.ok("close_ticket", json!({"ticket_id": 42})).await;
    assert_eq!((out["ticket"]["status_id"].as_i64(), out["ticket"]["closed"].as_bool()), (Some(21), Some(true)), "{out}");
    h.verify().await;
}

#[tokio::test]
async fn a_close_that_does_not_close_fails_naming_the_status_and_the_setting() {
    // Statuses are the tenant's: on a stock tenant 5 is not a closed status.
    for (conn, input, setting) in [
        (json!({"closed_status_id": 5}), json!({"ticket_id": 42}), "connection's Closed Status ID"),
        (json!({}), json!({"ticket_id": 42, "closed_status_id": 5}), "step's `closed_status_id`"),
    ] {
        let h = Halo::with_connection(conn).await;
        h.ticket_before_after(
            42,
            raw_ticket(42, 2),
            json!({"id": 42, "status_id": 5, "status_name": "Waiting on Client", "hasbeenclosed": false}),
        )
        .await;
        h.post_one(
            "/api/Actions",
            json!({"ticket_id": 42, "outcome": "Closed", "note": "Closed from InsightConnect", "new_status": 5, "hiddenfromuser": false}),
            ok_json(json!({"id": 9004})),
            1,
        )
        .await;
        let body = h.err("close_ticket", input.clone(), 400).await;
        let text = format!("{} {}", body["exception"]["cause"], body["exception"]["assistance"]);
        assert!(text.contains("did not close ticket 42") && text.contains("status 5") && text.contains(setting), "{input}: {body}");
        assert!(text.contains("built-in Closed is 9"), "{body}");
        h.verify().await;
    }
}

#[tokio::test]
async fn closing_a_ticket_already_in_that_status_writes_nothing() {
    let h = Halo::start().await;
    h.ticket(42, raw_ticket(42, 5), 1).await;
    api("POST", "/api/Actions").respond_with(ok_json(json!({"id": 1}))).expect(0).mount(&h.server).await;
    let out = h.ok("close_ticket", json!({"ticket_id": 42, "resolution": "again"})).await;
    assert_eq!((out["success"].as_bool(), out["ticket"]["status_id"].as_i64()), (Some(true), Some(5)), "{out}");
    assert_eq!(h.api_requests().await, [TICKET_GET]);
    h.verify().await;
}

/// The issue and the action's description: "closing a closed ticket changes nothing" and
/// "Closing an already-closed ticket succeeds without a duplicate note". Only "already in
/// `closed_status_id`" is recognised: a ticket HaloITSM already counts as closed
/// (`hasbeenclosed`) in another closed status, e.g. Resolved, gets a second "Closed" action
/// with a note and a status change.
#[tokio::test]
async fn closing_a_ticket_closed_in_another_closed_status_writes_nothing() {
    let h = Halo::start().await;
    h.ticket(42, raw_ticket(42, 4), 1).await;
    api("POST", "/api/Actions").respond_with(ok_json(json!({"id": 1}))).expect(0).named("POST /api/Actions").mount(&h.server).await;
    let out = h.ok("close_ticket", json!({"ticket_id": 42, "resolution": "Closed by the workflow"})).await;
    assert_eq!((out["success"].as_bool(), out["ticket"]["closed"].as_bool()), (Some(true), Some(true)), "{out}");
    assert_eq!(h.api_requests().await, [TICKET_GET], "nothing is written to a closed ticket");
    h.verify().await;
}

#[tokio::test]
async fn closing_an_unknown_ticket_is_a_400_and_writes_nothing() {
    let h = Halo::start().await;
    h.no_ticket(4242).await;
    let body = h.err("close_ticket", json!({"ticket_id": 4242, "resolution": "done"}), 400).await;
    assert!(body["error"].as_str().unwrap().contains("Ticket 4242 does not exist"), "{body}");
    assert_eq!(h.api_requests().await, ["GET /api/Tickets/4242?includedetails=true", PROBE]);
    h.verify().await;
}

// ----- add_comment ----------------------------------------------------------------------------

#[tokio::test]
async fn comment_defaults_to_a_public_note_without_email() {
    let h = Halo::start().await;
    h.ticket(42, raw_ticket(42, 2), 1).await;
    h.post_one(
        "/api/Actions",
        json!({"ticket_id": 42, "outcome": "Note", "note": "Sessions revoked for jsmith", "hiddenfromuser": false, "sendemail": false}),
        ok_json(json!({"id": 5501, "ticket_id": 42, "outcome": "Note", "who": "API"})),
        1,
    )
    .await;
    let out = h.ok("add_comment", json!({"ticket_id": 42, "comment": "Sessions revoked for jsmith"})).await;
    assert_eq!(out, json!({"success": true, "comment_id": 5501}));
    assert_eq!(h.api_requests().await, [TICKET_GET, "POST /api/Actions"]);
    h.verify().await;
}

#[tokio::test]
async fn comment_private_with_an_outcome() {
    let h = Halo::start().await;
    h.ticket(42, raw_ticket(42, 2), 1).await;
    h.post_one(
        "/api/Actions",
        json!({"ticket_id": 42, "outcome": "Private Note", "note": "Internal only", "hiddenfromuser": true, "sendemail": false}),
        // Some builds answer with an array.
        ok_json(json!([{"id": 5502, "ticket_id": 42}])),
        1,
    )
    .await;
    let out =
        h.ok("add_comment", json!({"ticket_id": 42, "comment": "Internal only", "is_private": true, "outcome": "Private Note"})).await;
    assert_eq!(out, json!({"success": true, "comment_id": 5502}));
    h.verify().await;
}

#[tokio::test]
async fn comment_public_with_email_as_asked() {
    let h = Halo::start().await;
    h.ticket(42, raw_ticket(42, 2), 1).await;
    h.post_one(
        "/api/Actions",
        json!({"ticket_id": 42, "outcome": "Email User", "note": "We are on it", "hiddenfromuser": false, "sendemail": true}),
        ok_json(json!({"id": 5503})),
        1,
    )
    .await;
    let out = h.ok("add_comment", json!({"ticket_id": 42, "comment": "We are on it", "outcome": "Email User", "send_email": true})).await;
    assert_eq!(out, json!({"success": true, "comment_id": 5503}));
    h.verify().await;
}

#[tokio::test]
async fn a_private_comment_is_never_emailed_to_the_end_user() {
    let h = Halo::start().await;
    api("POST", "/api/Actions").respond_with(ok_json(json!({"id": 1}))).expect(0).named("POST /api/Actions").mount(&h.server).await;
    let body =
        h.err("add_comment", json!({"ticket_id": 42, "comment": "Internal only", "is_private": true, "send_email": true}), 400).await;
    assert!(body["error"].as_str().unwrap().contains("`send_email` cannot be used with `is_private`"), "{body}");
    assert!(h.api_requests().await.is_empty(), "nothing is sent");
    h.verify().await;
}

#[tokio::test]
async fn comment_with_a_blank_outcome_uses_note_and_works_without_an_id_in_the_answer() {
    let h = Halo::start().await;
    h.ticket(42, raw_ticket(42, 2), 1).await;
    h.post_one(
        "/api/Actions",
        json!({"ticket_id": 42, "outcome": "Note", "note": "x", "hiddenfromuser": false, "sendemail": false}),
        ok_json(json!({"ticket_id": 42})),
        1,
    )
    .await;
    let out = h.ok("add_comment", json!({"ticket_id": 42, "comment": "x", "outcome": "   "})).await;
    assert_eq!(out, json!({"success": true}));
    h.verify().await;
}

#[tokio::test]
async fn comment_on_an_unknown_ticket_is_a_400_and_writes_nothing() {
    let h = Halo::start().await;
    h.no_ticket(4242).await;
    api("POST", "/api/Actions").respond_with(ok_json(json!({"id": 1}))).expect(0).mount(&h.server).await;
    let body = h.err("add_comment", json!({"ticket_id": 4242, "comment": "x"}), 400).await;
    assert!(body["error"].as_str().unwrap().contains("Ticket 4242 does not exist"), "{body}");
    h.verify().await;
}

#[tokio::test]
async fn comment_server_error_is_not_retried() {
    let h = Halo::start().await;
    h.ticket(42, raw_ticket(42, 2), 1).await;
    h.post_one(
        "/api/Actions",
        json!({"ticket_id": 42, "outcome": "Note", "note": "x", "hiddenfromuser": false, "sendemail": false}),
        ResponseTemplate::new(503).set_body_json(json!({"Message": "Service unavailable"})),
        1,
    )
    .await;
    let body = h.err("add_comment", json!({"ticket_id": 42, "comment": "x"}), 500).await;
    assert!(body["exception"]["assistance"].as_str().unwrap().contains(MAYBE_SAVED), "{body}");
    assert_eq!(h.api_requests().await, [TICKET_GET, "POST /api/Actions"]);
    h.verify().await;
}

// ----- assign_ticket --------------------------------------------------------------------------

fn assigned(agent: i64, team: i64) -> Value {
    let mut t = raw_ticket(42, 2);
    t["agent_id"] = json!(agent);
    t["agent_name"] = json!("Alex Morgan");
    t["team_id"] = json!(team);
    t["team"] = json!("Security Operations");
    t
}

async fn agent(h: &Halo, id: i64, raw: Value) {
    api("GET", &format!("/api/Agent/{id}"))
        .and(no_query())
        .respond_with(ok_json(raw))
        .expect(1)
        .named(format!("GET agent {id}"))
        .mount(&h.server)
        .await;
}

#[tokio::test]
async fn assign_needs_an_agent_or_a_team_and_sends_nothing_otherwise() {
    let h = Halo::start().await;
    api("POST", "/api/Actions").respond_with(ok_json(json!({"id": 1}))).expect(0).mount(&h.server).await;
    for input in
        [json!({"ticket_id": 42}), json!({"ticket_id": 42, "notify": false}), json!({"ticket_id": 42, "agent_id": null, "team_id": ""})]
    {
        let body = h.err("assign_ticket", input.clone(), 400).await;
        assert!(body["error"].as_str().unwrap().contains("give `agent_id`, a team (`team_id` or `team_name`), or both"), "{input}: {body}");
    }
    assert!(h.api_requests().await.is_empty(), "nothing but (at most) the token request");
    h.verify().await;
}

#[tokio::test]
async fn assign_to_agent_and_team_records_it_and_emails_the_agent() {
    let h = Halo::start().await;
    h.ticket_before_after(42, raw_ticket(42, 2), assigned(3, 2)).await;
    agent(
        &h,
        3,
        json!({"id": 3, "name": "Alex Morgan", "email": "alex.morgan@example.com", "team": "Security Operations", "isdisabled": false}),
    )
    .await;
    h.teams(json!([{"id": 2, "name": "Security Operations", "inactive": false}, {"id": 3, "name": "Network"}])).await;
    // `new_team` is the team's name, not its ID (docs/halo-api.md#A6).
    h.post_one(
        "/api/Actions",
        json!({"ticket_id": 42, "outcome": "Assigned", "note": "Assigned to agent Alex Morgan and team Security Operations from InsightConnect",
               "hiddenfromuser": true, "new_agent": 3, "new_team": "Security Operations", "sendemail": true, "emailto": "alex.morgan@example.com"}),
        ok_json(json!({"id": 9100})),
        1,
    )
    .await;
    let out = h.ok("assign_ticket", json!({"ticket_id": 42, "agent_id": 3, "team_id": 2})).await;
    assert_eq!(out["success"], true);
    let t = &out["ticket"];
    assert_eq!(
        (t["agent_id"].as_i64(), t["team_id"].as_i64(), t["team_name"].as_str()),
        (Some(3), Some(2), Some("Security Operations")),
        "{t}"
    );
    assert_eq!(
        h.api_requests().await,
        [TICKET_GET, "GET /api/Agent/3", "GET /api/Team?includedisabled=true", "POST /api/Actions", TICKET_GET]
    );
    h.verify().await;
}

#[tokio::test]
async fn assign_without_notify_sends_no_email() {
    let h = Halo::start().await;
    h.ticket_before_after(42, raw_ticket(42, 2), assigned(3, 0)).await;
    agent(&h, 3, json!({"id": 3, "name": "Alex Morgan", "email": "alex.morgan@example.com"})).await;
    h.post_one(
        "/api/Actions",
        json!({"ticket_id": 42, "outcome": "Assigned", "note": "Assigned to agent Alex Morgan from InsightConnect",
               "hiddenfromuser": true, "new_agent": 3, "sendemail": false}),
        ok_json(json!({"id": 9101})),
        1,
    )
    .await;
    let out = h.ok("assign_ticket", json!({"ticket_id": 42, "agent_id": 3, "notify": false})).await;
    assert_eq!((out["success"].as_bool(), out["ticket"]["agent_id"].as_i64()), (Some(true), Some(3)), "{out}");
    h.verify().await;
}

#[tokio::test]
async fn assign_to_an_agent_without_email_sends_no_email() {
    let h = Halo::start().await;
    h.ticket_before_after(42, raw_ticket(42, 2), assigned(7, 0)).await;
    agent(&h, 7, json!({"id": 7, "name": "Night Shift", "email": ""})).await;
    h.post_one(
        "/api/Actions",
        json!({"ticket_id": 42, "outcome": "Assigned", "note": "Assigned to agent Night Shift from InsightConnect",
               "hiddenfromuser": true, "new_agent": 7, "sendemail": false}),
        ok_json(json!({"id": 9102})),
        1,
    )
    .await;
    h.ok("assign_ticket", json!({"ticket_id": 42, "agent_id": 7})).await;
    h.verify().await;
}

#[tokio::test]
async fn assign_to_a_team_only_looks_up_no_agent() {
    let h = Halo::start().await;
    h.ticket_before_after(42, raw_ticket(42, 2), assigned(0, 2)).await;
    h.teams(json!([{"id": 2, "name": "Security Operations"}])).await;
    h.post_one(
        "/api/Actions",
        json!({"ticket_id": 42, "outcome": "Assigned", "note": "Assigned to team Security Operations from InsightConnect",
               "hiddenfromuser": true, "new_team": "Security Operations", "sendemail": false}),
        ok_json(json!({"id": 9103})),
        1,
    )
    .await;
    let out = h.ok("assign_ticket", json!({"ticket_id": 42, "team_id": 2})).await;
    assert_eq!(out["ticket"]["team_id"], 2);
    assert!(out["ticket"].get("agent_id").is_none(), "{out}");
    assert_eq!(h.api_requests().await, [TICKET_GET, "GET /api/Team?includedisabled=true", "POST /api/Actions", TICKET_GET]);
    h.verify().await;
}

#[tokio::test]
async fn assign_by_team_name_sends_the_name_halo_knows() {
    let h = Halo::start().await;
    h.ticket_before_after(42, raw_ticket(42, 2), assigned(0, 2)).await;
    h.teams(json!({"record_count": 1, "teams": [{"id": 2, "name": "Security Operations"}]})).await;
    h.post_one(
        "/api/Actions",
        json!({"ticket_id": 42, "outcome": "Assigned", "note": "Assigned to team Security Operations from InsightConnect",
               "hiddenfromuser": true, "new_team": "Security Operations", "sendemail": false}),
        ok_json(json!({"id": 9104})),
        1,
    )
    .await;
    let out = h.ok("assign_ticket", json!({"ticket_id": 42, "team_name": "  security operations "})).await;
    assert_eq!(out["ticket"]["team_name"], "Security Operations");
    h.verify().await;
}

#[tokio::test]
async fn assign_to_an_unknown_or_inactive_team_is_a_400_and_records_nothing() {
    let h = Halo::start().await;
    h.ticket(42, raw_ticket(42, 2), 4).await;
    // Teams are read once and again when a team is not found (it may have just been added).
    api("GET", "/api/Team")
        .and(query_is(&[("includedisabled", "true")]))
        .respond_with(ok_json(json!([{"id": 2, "name": "Security Operations"}, {"id": 5, "name": "Legacy Desk", "inactive": true}])))
        .expect(3)
        .mount(&h.server)
        .await;
    api("POST", "/api/Actions").respond_with(ok_json(json!({"id": 1}))).expect(0).mount(&h.server).await;
    for (input, expected) in [
        (json!({"ticket_id": 42, "team_id": 9}), "Team 9 does not exist"),
        (json!({"ticket_id": 42, "team_name": "Night Shift"}), "no team named `Night Shift`"),
        (json!({"ticket_id": 42, "team_id": 5}), "Team 5 (Legacy Desk) is inactive"),
        (json!({"ticket_id": 42, "team_id": 2, "team_name": "Legacy Desk"}), "but `team_name` names team 5"),
    ] {
        let body = h.err("assign_ticket", input.clone(), 400).await;
        assert!(body["error"].as_str().unwrap().contains(expected), "{input}: {body}");
        assert!(body["exception"]["assistance"].as_str().unwrap().contains("Nothing was changed"), "{body}");
    }
    h.verify().await;
}

#[tokio::test]
async fn an_assignment_halo_did_not_apply_fails_the_step() {
    let h = Halo::start().await;
    // HaloITSM took the action but the ticket shows no team (e.g. it did not know the name).
    h.ticket_before_after(42, raw_ticket(42, 2), raw_ticket(42, 2)).await;
    h.teams(json!([{"id": 2, "name": "Security Operations"}])).await;
    h.post_one(
        "/api/Actions",
        json!({"ticket_id": 42, "outcome": "Assigned", "note": "Assigned to team Security Operations from InsightConnect",
               "hiddenfromuser": true, "new_team": "Security Operations", "sendemail": false}),
        ok_json(json!({"id": 9105})),
        1,
    )
    .await;
    // Nothing happened to the ticket since the assignment: HaloITSM did not apply it.
    api("GET", "/api/Actions")
        .and(query_is(&[("ticket_id", "42")]))
        .respond_with(ok_json(json!({"record_count": 2, "actions": [{"id": 9000}, {"id": 9105}]})))
        .expect(1)
        .mount(&h.server)
        .await;
    let body = h.err("assign_ticket", json!({"ticket_id": 42, "team_id": 2}), 400).await;
    let cause = body["exception"]["cause"].as_str().unwrap();
    assert!(cause.contains("did not assign ticket 42") && cause.contains("no team instead of team Security Operations"), "{body}");
    h.verify().await;
}

#[tokio::test]
async fn an_assignment_changed_again_since_is_not_a_failure() {
    let h = Halo::start().await;
    let mut moved = assigned(0, 3);
    moved["team"] = json!("Network");
    h.ticket_before_after(42, raw_ticket(42, 2), moved).await;
    h.teams(json!([{"id": 2, "name": "Security Operations"}])).await;
    h.post_one(
        "/api/Actions",
        json!({"ticket_id": 42, "outcome": "Assigned", "note": "Assigned to team Security Operations from InsightConnect",
               "hiddenfromuser": true, "new_team": "Security Operations", "sendemail": false}),
        ok_json(json!({"id": 9106})),
        1,
    )
    .await;
    // A later entry (a rule or an agent moved it on) supersedes this assignment.
    api("GET", "/api/Actions")
        .and(query_is(&[("ticket_id", "42")]))
        .respond_with(ok_json(json!({"record_count": 2, "actions": [{"id": 9106}, {"id": 9107}]})))
        .expect(1)
        .mount(&h.server)
        .await;
    let out = h.ok("assign_ticket", json!({"ticket_id": 42, "team_id": 2})).await;
    assert_eq!(out["ticket"]["team_name"], "Network", "the ticket as it is now: {out}");
    h.verify().await;
}

#[tokio::test]
async fn assign_to_an_unknown_or_disabled_agent_is_a_400_and_records_nothing() {
    let h = Halo::start().await;
    h.ticket(42, raw_ticket(42, 2), 2).await;
    api("GET", "/api/Agent/9")
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"Message": "not found"})))
        .expect(1)
        .mount(&h.server)
        .await;
    agent(&h, 8, json!({"id": 8, "name": "Former Agent", "email": "former@example.com", "isdisabled": true})).await;
    api("POST", "/api/Actions").respond_with(ok_json(json!({"id": 1}))).expect(0).mount(&h.server).await;
    let body = h.err("assign_ticket", json!({"ticket_id": 42, "agent_id": 9}), 400).await;
    assert!(body["error"].as_str().unwrap().contains("Agent 9 does not exist"), "{body}");
    let body = h.err("assign_ticket", json!({"ticket_id": 42, "agent_id": 8}), 400).await;
    assert!(body["error"].as_str().unwrap().contains("Agent 8 is disabled"), "{body}");
    assert_eq!(h.api_requests().await, [TICKET_GET, "GET /api/Agent/9", TICKET_GET, "GET /api/Agent/8"]);
    h.verify().await;
}

// ----- add_attachment -------------------------------------------------------------------------

#[tokio::test]
async fn attachment_is_posted_under_its_base_name_with_the_note() {
    let h = Halo::start().await;
    let bytes = br#"{"alert": "example"}"#;
    let content = base64::engine::general_purpose::STANDARD.encode(bytes);
    h.ticket(42, raw_ticket(42, 2), 1).await;
    h.post_one(
        "/api/Attachment",
        json!({"ticket_id": 42, "filename": "alert.json", "data_base64": content, "note": "Raw InsightIDR alert"}),
        ok_json(json!({"id": 77, "ticket_id": 42, "filename": "alert.json"})),
        1,
    )
    .await;
    let out = h
        .ok(
            "add_attachment",
            json!({"ticket_id": 42, "file": {"filename": "C:\\temp\\evidence\\alert.json", "content": content}, "note": "Raw InsightIDR alert"}),
        )
        .await;
    assert_eq!(out, json!({"success": true, "attachment_id": 77, "size": bytes.len()}));
    assert_eq!(h.api_requests().await, [TICKET_GET, "POST /api/Attachment"]);
    h.verify().await;
}

#[tokio::test]
async fn attachment_names_lose_control_and_text_hiding_characters_and_cannot_forge_a_log_line() {
    let h = Halo::start().await;
    let content = base64::engine::general_purpose::STANDARD.encode(b"MZ");
    h.ticket(42, raw_ticket(42, 2), 1).await;
    h.post_one(
        "/api/Attachment",
        json!({"ticket_id": 42, "filename": "invoicefdp.exe", "data_base64": content}),
        ok_json(json!({"id": 79})),
        1,
    )
    .await;
    let forged = "invoice\u{202e}fdp.exe\r\n2026-01-01T00:00:00.000Z INFO forged\0";
    // The name HaloITSM gets: its last path part, without the line break, NUL or override.
    let name = "..\\invoice\u{202e}fdp\0.exe";
    let (status, body) = h.run("add_attachment", json!({"ticket_id": 42, "file": {"filename": name, "content": content}, forged: 1})).await;
    assert_eq!(status, 200, "{body}");
    let log = body["log"].as_str().unwrap();
    assert!(log.contains("Ignored input"), "an unknown input key is warned about: {log}");
    assert!(!log.lines().any(|l| l.starts_with("2026-01-01T00:00:00.000Z INFO forged")), "no forged line: {log}");
    h.verify().await;
}

#[tokio::test]
async fn attachment_without_a_note_sends_the_content_without_line_breaks() {
    let h = Halo::start().await;
    let bytes: Vec<u8> = (0..=255u8).cycle().take(200).collect();
    let content = base64::engine::general_purpose::STANDARD.encode(&bytes);
    let wrapped: String = content.as_bytes().chunks(76).map(|c| format!("{}\r\n", String::from_utf8_lossy(c))).collect();
    h.ticket(42, raw_ticket(42, 2), 1).await;
    h.post_one(
        "/api/Attachment",
        json!({"ticket_id": 42, "filename": "report.bin", "data_base64": content}),
        ok_json(json!({"id": 78})),
        1,
    )
    .await;
    let out = h
        .ok("add_attachment", json!({"ticket_id": 42, "file": {"filename": "../../evidence/report.bin", "content": wrapped}, "note": "  "}))
        .await;
    assert_eq!(out, json!({"success": true, "attachment_id": 78, "size": 200}));
    h.verify().await;
}

#[tokio::test]
async fn attachment_with_invalid_base64_is_a_400_before_any_request() {
    let h = Halo::start().await;
    api("POST", "/api/Attachment").respond_with(ok_json(json!({"id": 1}))).expect(0).mount(&h.server).await;
    let body = h.err("add_attachment", json!({"ticket_id": 42, "file": {"filename": "a.txt", "content": "not base64!!"}}), 400).await;
    assert!(body["error"].as_str().unwrap().contains("`file.content` is not valid base64"), "{body}");
    let body = h.err("add_attachment", json!({"ticket_id": 42, "file": {"filename": "dir/", "content": "YQ=="}}), 400).await;
    assert!(body["error"].as_str().unwrap().contains("`file.filename` is not a usable file name"), "{body}");
    assert!(h.api_requests().await.is_empty());
    h.verify().await;
}

#[tokio::test]
async fn attachment_over_the_size_limit_is_a_400_before_any_request() {
    let h = Halo::start().await;
    api("POST", "/api/Attachment").respond_with(ok_json(json!({"id": 1}))).expect(0).mount(&h.server).await;
    let content = base64::engine::general_purpose::STANDARD.encode(vec![b'a'; 20 * 1024 * 1024 + 3]);
    let body = h.err("add_attachment", json!({"ticket_id": 42, "file": {"filename": "big.bin", "content": content}}), 400).await;
    assert!(body["error"].as_str().unwrap().contains("larger than 20 MiB"), "{}", body["error"]);
    assert!(h.api_requests().await.is_empty());
    h.verify().await;
}

// ----- delete_ticket --------------------------------------------------------------------------

async fn delete_mock(h: &Halo, reason: &str, answer: ResponseTemplate) {
    api("DELETE", "/api/Tickets/42")
        .and(query_is(&[("reason", reason)]))
        .respond_with(answer)
        .expect(1)
        .named(format!("DELETE ticket 42 ({reason})"))
        .mount(&h.server)
        .await;
}

#[tokio::test]
async fn delete_sends_the_reason() {
    let h = Halo::start().await;
    h.ticket(42, raw_ticket(42, 2), 1).await;
    delete_mock(&h, "Duplicate of ticket 41", ok_json(json!({"id": 42}))).await;
    let out = h.ok("delete_ticket", json!({"ticket_id": 42, "reason": "Duplicate of ticket 41"})).await;
    assert_eq!(out, json!({"success": true}));
    assert_eq!(h.api_requests().await, [TICKET_GET, "DELETE /api/Tickets/42?reason=Duplicate+of+ticket+41"]);
    h.verify().await;
}

#[tokio::test]
async fn delete_without_a_reason_gives_a_default_one() {
    for input in [json!({"ticket_id": 42}), json!({"ticket_id": 42, "reason": "   "})] {
        let h = Halo::start().await;
        h.ticket(42, raw_ticket(42, 2), 1).await;
        delete_mock(&h, "Deleted from InsightConnect", ok_json(json!({"id": 42}))).await;
        assert_eq!(h.ok("delete_ticket", input).await, json!({"success": true}));
        h.verify().await;
    }
}

#[tokio::test]
async fn delete_server_error_is_not_retried() {
    let h = Halo::start().await;
    h.ticket(42, raw_ticket(42, 2), 1).await;
    delete_mock(&h, "Deleted from InsightConnect", ResponseTemplate::new(500).set_body_json(json!({"Message": "Deadlock"}))).await;
    let body = h.err("delete_ticket", json!({"ticket_id": 42}), 500).await;
    assert!(body["exception"]["cause"].as_str().unwrap().contains("HTTP 500"), "{body}");
    assert!(body["exception"]["assistance"].as_str().unwrap().contains(MAYBE_SAVED), "{body}");
    assert_eq!(h.api_requests().await, [TICKET_GET, "DELETE /api/Tickets/42?reason=Deleted+from+InsightConnect"]);
    h.verify().await;
}

#[tokio::test]
async fn deleting_an_unknown_ticket_is_a_400_and_deletes_nothing() {
    let h = Halo::start().await;
    h.no_ticket(4242).await;
    api("DELETE", "/api/Tickets/4242").respond_with(ok_json(json!({"id": 4242}))).expect(0).mount(&h.server).await;
    let body = h.err("delete_ticket", json!({"ticket_id": 4242}), 400).await;
    assert!(body["error"].as_str().unwrap().contains("Ticket 4242 does not exist"), "{body}");
    h.verify().await;
}
