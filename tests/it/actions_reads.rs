//! The read actions driven through the plugin's REST API against a mocked HaloITSM: the exact
//! requests each one sends (method, path, every query parameter) and the output it builds.
//! Covers search_tickets (filters, paging, duplicates, retries), get_ticket, get_user,
//! get_agent, list_comments and the lookups (statuses, ticket types, priorities, agents, teams).

use crate::common;

use common::*;
use serde_json::{Value, json};
use wiremock::matchers::{any, header, method, path, query_param};
use wiremock::{Match, Mock, MockBuilder, MockServer, Request, ResponseTemplate};

// ----- scaffolding ------------------------------------------------------------------------------

/// Matches when the request's query string holds exactly these parameters (in any order) and
/// nothing else.
struct ExactQuery(Vec<(String, String)>);

impl ExactQuery {
    fn new(pairs: &[(&str, &str)]) -> Self {
        Self::owned(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    fn owned(mut pairs: Vec<(String, String)>) -> Self {
        pairs.sort();
        ExactQuery(pairs)
    }
}

impl Match for ExactQuery {
    fn matches(&self, req: &Request) -> bool {
        let mut got: Vec<(String, String)> = req.url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        got.sort();
        got == self.0
    }
}

/// A mocked HaloITSM (token endpoint mounted, any request no mock expects fails the test) and a
/// plugin server in front of it.
struct Env {
    halo: MockServer,
    srv: PluginServer,
}

async fn env() -> Env {
    let halo = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/auth/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"access_token": "tok", "token_type": "Bearer", "expires_in": 3600})))
        .named("token")
        .mount(&halo)
        .await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(418).set_body_string("unexpected request"))
        .with_priority(u8::MAX)
        .named("a request no test expects")
        .expect(0)
        .mount(&halo)
        .await;
    Env { halo, srv: PluginServer::start().await }
}

/// An authenticated API call to HaloITSM with exactly these query parameters.
fn api(verb: &str, api_path: &str, query: ExactQuery) -> MockBuilder {
    Mock::given(method(verb)).and(path(format!("/api/{api_path}"))).and(header("authorization", "Bearer tok")).and(query)
}

fn json_ok(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
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

// ----- search_tickets ---------------------------------------------------------------------------

/// A search's query for open tickets: the filters, then paging and ordering, which every page
/// carries. Open and closed tickets are listed apart (a plain list leaves out tickets closed a
/// while ago).
fn search_query(filters: &[(&str, &str)], page_size: u64, page_no: u64) -> ExactQuery {
    state_query(filters, "open_only", page_size, page_no)
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
        self.mount(api("GET", "Tickets", closed_query(filters, page_size, 1)).respond_with(json_ok(page(0, []))).expect(1)).await;
    }
}

fn ids_of(output: &Value) -> Vec<i64> {
    output["tickets"].as_array().unwrap().iter().map(|t| t["id"].as_i64().unwrap()).collect()
}

#[tokio::test]
async fn search_maps_every_input_to_haloitsm_filter_names() {
    let e = env().await;
    let filters = [
        ("search", "jsmith"),
        ("search_summary", "Suspicious login"),
        ("status_id", "1"),
        ("agent_id", "3"),
        ("team", "2"),
        ("priority", "4"),
        ("datesearch", "datecreated"),
        ("startdate", "2026-09-01T00:00:00"),
        ("enddate", "2026-10-01T01:00:00"),
        ("open_only", "true"),
    ];
    e.mount(api("GET", "Tickets", search_query(&filters, 100, 1)).respond_with(json_ok(page(2, [12, 11]))).expect(1)).await;
    let out = e
        .ok(
            "search_tickets",
            json!({"query": "jsmith", "summary_contains": "Suspicious login", "status_id": 1, "agent_id": 3, "team_id": 2, "priority_id": 4,
                   "created_after": "2026-09-01T02:00:00+02:00", "created_before": "2026-09-30T20:00:00-05:00", "open_only": true,
                   "max_results": 100}),
        )
        .await;
    assert_eq!(out["count"], 2);
    assert_eq!(out["total"], 2);
    assert_eq!(ids_of(&out), vec![12, 11]);
    // Each row is a normalised ticket: unassigned agent/team and sentinel dates absent, dates in UTC, a link.
    assert_eq!(
        out["tickets"][0],
        json!({"id": 12, "summary": "Ticket 12", "status_id": 1, "status_name": "New", "datecreated": "2026-09-01T08:00:00Z",
               "closed": false, "url": e.url_of(12)}),
        "open, as the list it came from says"
    );
}

#[tokio::test]
async fn search_lists_open_and_closed_tickets_apart_and_merges_them_newest_first() {
    let e = env().await;
    // A plain list would leave out tickets closed long ago, and rows do not say which are closed.
    e.mount(api("GET", "Tickets", search_query(&[("search", "vpn")], 5, 1)).respond_with(json_ok(page(3, [9, 7, 3]))).expect(1)).await;
    e.mount(api("GET", "Tickets", closed_query(&[("search", "vpn")], 5, 1)).respond_with(json_ok(page(3, [8, 4, 2]))).expect(1)).await;
    let out = e.ok("search_tickets", json!({"query": "vpn", "max_results": 5})).await;
    assert_eq!(ids_of(&out), vec![9, 8, 7, 4, 3]);
    let closed: Vec<bool> = out["tickets"].as_array().unwrap().iter().map(|t| t["closed"].as_bool().unwrap()).collect();
    assert_eq!(closed, vec![false, true, false, true, false]);
    assert_eq!((out["count"].as_i64(), out["total"].as_i64()), (Some(5), Some(6)));
}

#[tokio::test]
async fn search_without_filters_sends_only_paging_and_order() {
    let e = env().await;
    e.no_closed(&[], 100).await;
    // Blank text filters and open_only false are not sent at all.
    e.mount(api("GET", "Tickets", search_query(&[], 100, 1)).respond_with(json_ok(page(1, [5]))).expect(1)).await;
    let out = e.ok("search_tickets", json!({"query": "   ", "summary_contains": "", "open_only": false, "max_results": 100})).await;
    assert_eq!(ids_of(&out), vec![5]);
    assert_eq!((out["count"].as_i64(), out["total"].as_i64()), (Some(1), Some(1)));
}

#[tokio::test]
async fn search_with_one_date_sends_only_that_bound() {
    let e = env().await;
    let filters = [("datesearch", "datecreated"), ("startdate", "2026-09-01T06:30:00")];
    e.mount(api("GET", "Tickets", search_query(&filters, 100, 1)).respond_with(json_ok(page(0, []))).expect(1)).await;
    e.no_closed(&filters, 100).await;
    let out = e.ok("search_tickets", json!({"created_after": "2026-09-01T06:30:00Z", "max_results": 100})).await;
    assert_eq!(out, json!({"tickets": [], "count": 0, "total": 0}));

    let e = env().await;
    let filters = [("datesearch", "datecreated"), ("enddate", "2026-09-30T21:59:59")];
    e.mount(api("GET", "Tickets", search_query(&filters, 100, 1)).respond_with(json_ok(page(0, []))).expect(1)).await;
    e.no_closed(&filters, 100).await;
    e.ok("search_tickets", json!({"created_before": "2026-09-30T23:59:59+02:00", "max_results": 100})).await;
}

#[tokio::test]
async fn search_returns_at_most_fifty_tickets_by_default() {
    let e = env().await;
    e.mount(
        Mock::given(method("GET"))
            .and(path("/api/Tickets"))
            .and(query_param("page_no", "1"))
            .and(query_param("pageinate", "true"))
            .and(query_param("open_only", "true"))
            .and(|req: &Request| {
                req.url
                    .query_pairs()
                    .find(|(k, _)| k == "page_size")
                    .and_then(|(_, v)| v.parse::<u64>().ok())
                    .is_some_and(|s| (50..=100).contains(&s))
            })
            .respond_with(json_ok(page(500, (401..=500).rev())))
            .expect(1),
    )
    .await;
    e.mount(
        Mock::given(method("GET"))
            .and(path("/api/Tickets"))
            .and(query_param("closed_only", "true"))
            .respond_with(json_ok(page(0, [])))
            .expect(1),
    )
    .await;
    let out = e.ok("search_tickets", json!({})).await;
    assert_eq!(out["count"], 50);
    assert_eq!(out["total"], 500);
    assert_eq!(ids_of(&out), (451..=500).rev().collect::<Vec<_>>());
}

#[tokio::test]
async fn search_reads_exactly_the_pages_it_needs() {
    let e = env().await;
    e.no_closed(&[], 100).await;
    // 250 matches, 250 wanted: pages 1, 2 and 3 of 100 (the third one short), and no fourth.
    e.mount(api("GET", "Tickets", search_query(&[], 100, 1)).respond_with(json_ok(page(250, (151..=250).rev()))).expect(1)).await;
    e.mount(api("GET", "Tickets", search_query(&[], 100, 2)).respond_with(json_ok(page(250, (51..=150).rev()))).expect(1)).await;
    e.mount(api("GET", "Tickets", search_query(&[], 100, 3)).respond_with(json_ok(page(250, (1..=50).rev()))).expect(1)).await;
    let out = e.ok("search_tickets", json!({"max_results": 250})).await;
    assert_eq!(out["count"], 250);
    assert_eq!(out["total"], 250);
    assert_eq!(ids_of(&out), (1..=250).rev().collect::<Vec<_>>());
}

#[tokio::test]
async fn search_keeps_one_page_size_and_stops_at_max_results() {
    let e = env().await;
    e.no_closed(&[], 100).await;
    // 150 wanted of 500: two pages of 100 (page 2 must not be asked with another page size, which
    // would shift its start), the second one cut at 150 tickets in all.
    e.mount(api("GET", "Tickets", search_query(&[], 100, 1)).respond_with(json_ok(page(500, (401..=500).rev()))).expect(1)).await;
    e.mount(api("GET", "Tickets", search_query(&[], 100, 2)).respond_with(json_ok(page(500, (301..=400).rev()))).expect(1)).await;
    let out = e.ok("search_tickets", json!({"max_results": 150})).await;
    assert_eq!(out["count"], 150);
    assert_eq!(out["total"], 500);
    assert_eq!(ids_of(&out), (351..=500).rev().collect::<Vec<_>>());
}

#[tokio::test]
async fn search_stops_at_a_short_page_and_accepts_bare_arrays() {
    let e = env().await;
    e.no_closed(&[], 100).await;
    // Bare arrays carry no record count: the total is what was returned. 10 000 is allowed.
    e.mount(api("GET", "Tickets", search_query(&[], 100, 1)).respond_with(json_ok(json!(rows((31..=130).rev())))).expect(1)).await;
    e.mount(api("GET", "Tickets", search_query(&[], 100, 2)).respond_with(json_ok(json!(rows((1..=30).rev())))).expect(1)).await;
    let out = e.ok("search_tickets", json!({"max_results": 10000})).await;
    assert_eq!(out["count"], 130);
    assert_eq!(out["total"], 130);
    assert_eq!(ids_of(&out), (1..=130).rev().collect::<Vec<_>>());
}

#[tokio::test]
async fn search_stops_once_the_record_count_is_read() {
    let e = env().await;
    e.no_closed(&[], 100).await;
    // Two full pages hold all 200 matches: no third (empty) page is asked for.
    e.mount(api("GET", "Tickets", search_query(&[], 100, 1)).respond_with(json_ok(page(200, (101..=200).rev()))).expect(1)).await;
    e.mount(api("GET", "Tickets", search_query(&[], 100, 2)).respond_with(json_ok(page(200, (1..=100).rev()))).expect(1)).await;
    let out = e.ok("search_tickets", json!({"max_results": 1000})).await;
    assert_eq!((out["count"].as_i64(), out["total"].as_i64()), (Some(200), Some(200)));
}

#[tokio::test]
async fn search_returns_a_ticket_seen_on_two_pages_once() {
    let e = env().await;
    e.no_closed(&[], 100).await;
    // A ticket created between the two reads shifts page 2 by one: ticket 101 is listed twice.
    e.mount(api("GET", "Tickets", search_query(&[], 100, 1)).respond_with(json_ok(page(200, (101..=200).rev()))).expect(1)).await;
    e.mount(api("GET", "Tickets", search_query(&[], 100, 2)).respond_with(json_ok(page(200, (2..=101).rev()))).expect(1)).await;
    let out = e.ok("search_tickets", json!({"max_results": 200})).await;
    let ids = ids_of(&out);
    assert_eq!(ids, (2..=200).rev().collect::<Vec<_>>());
    assert_eq!(out["count"], 199, "count is what was returned");
    assert_eq!(out["total"], 200, "total is HaloITSM's record count");
}

#[tokio::test]
async fn search_rejects_bad_inputs_before_any_request() {
    let e = env().await;
    e.mount(Mock::given(method("GET")).and(path("/api/Tickets")).respond_with(json_ok(page(0, []))).expect(0)).await;
    for (input, expect) in [
        (json!({"max_results": 0}), "max_results"),
        (json!({"max_results": 10001}), "max_results"),
        (json!({"max_results": -5}), "max_results"),
        (json!({"status_id": 0}), "status_id"),
        (json!({"team_id": -2}), "team_id"),
        (json!({"created_after": "2026-09-02T00:00:00Z", "created_before": "2026-09-01T00:00:00Z"}), "created_after"),
    ] {
        let err = e.fails("search_tickets", input.clone(), 400).await;
        assert!(err["error"].as_str().unwrap().contains(expect), "{input}: {err}");
    }
}

#[tokio::test]
async fn search_retries_a_page_that_fails_with_503() {
    let e = env().await;
    e.no_closed(&[], 100).await;
    e.mount(api("GET", "Tickets", search_query(&[], 100, 1)).respond_with(json_ok(page(150, (51..=150).rev()))).expect(1)).await;
    e.mount(
        api("GET", "Tickets", search_query(&[], 100, 2))
            .respond_with(ResponseTemplate::new(503).set_body_json(json!({"Message": "busy"})))
            .up_to_n_times(1)
            .with_priority(1)
            .named("page 2, first attempt")
            .expect(1),
    )
    .await;
    e.mount(
        api("GET", "Tickets", search_query(&[], 100, 2)).respond_with(json_ok(page(150, (1..=50).rev()))).named("page 2, retry").expect(1),
    )
    .await;
    let out = e.ok("search_tickets", json!({"max_results": 150})).await;
    assert_eq!(out["count"], 150);
    assert_eq!(ids_of(&out), (1..=150).rev().collect::<Vec<_>>());
}

// ----- get_ticket -------------------------------------------------------------------------------

/// A short ticket as a full read shows it (with HaloITSM's closed flag).
fn read(id: i64) -> Value {
    let mut t = row(id);
    t["hasbeenclosed"] = json!(false);
    t
}

#[tokio::test]
async fn get_ticket_without_the_closed_flag_asks_the_tenant_which_statuses_close() {
    let e = env().await;
    // A full read may leave `hasbeenclosed` out when it is false (docs/halo-api.md#T11): whether
    // the ticket is closed then comes from the tenant's statuses, read once and cached.
    e.mount(api("GET", "Tickets/5", ExactQuery::new(&[("includedetails", "true")])).respond_with(json_ok(row(5))).expect(1..=2)).await;
    let mut closed = row(6);
    closed["status_id"] = json!(9);
    e.mount(api("GET", "Tickets/6", ExactQuery::new(&[("includedetails", "true")])).respond_with(json_ok(closed)).expect(0..=1)).await;
    e.mount(
        api("GET", "Status", ExactQuery::new(&[("excludeclosed", "true")]))
            .respond_with(json_ok(json!([{"id": 1, "name": "New"}])))
            .expect(1),
    )
    .await;
    e.mount(
        api("GET", "Status", ExactQuery::new(&[]))
            .respond_with(json_ok(json!([{"id": 1, "name": "New"}, {"id": 9, "name": "Closed"}])))
            .expect(1),
    )
    .await;
    for _ in 0..2 {
        assert_eq!(e.ok("get_ticket", json!({"ticket_id": 5})).await["ticket"]["closed"], false);
    }
    assert_eq!(e.ok("get_ticket", json!({"ticket_id": 6})).await["ticket"]["closed"], true);
    let status_reads = e.halo.received_requests().await.unwrap().iter().filter(|r| r.url.path() == "/api/Status").count();
    assert_eq!(status_reads, 2, "one read of each status list for all three steps");
}

fn full_ticket() -> Value {
    json!({
        "id": 1042, "summary": "Suspicious login detected for jsmith", "details": "<p>Multiple failed logins</p>",
        "tickettype_id": 4, "tickettype_name": "Security Incident", "status_id": 2, "status_name": "In Progress",
        "priority_id": 2, "priority_name": "High", "sla_id": 1, "agent_id": 3, "agent_name": "Alex Morgan",
        "team": "Security Operations", "team_id": 2, "client_id": 1, "client_name": "Acme Corp", "site_id": 1, "site_name": "Head Office",
        "user_id": 7, "user_name": "Jordan Smith", "user_email": "jordan.smith@example.com", "categoryid_1": 10, "category_1": "Security>Phishing",
        "dateoccurred": "2026-09-01T08:00:00", "datecreated": "2026-09-01T08:00:05", "last_update": "2026-09-01T09:30:00",
        "lastactiondate": "1899-12-30T00:00:00", "dateclosed": "1900-01-01T00:00:00", "respondbydate": "1900-01-01T00:00:00",
        "hasbeenclosed": false, "impact": null,
        "customfields": [{"id": 101, "name": "CFSecurityReference", "label": "Reference", "value": "rrn:investigation:us:1234", "display": null}]
    })
}

#[tokio::test]
async fn get_ticket_asks_for_details_and_normalises_the_ticket() {
    let e = env().await;
    e.mount(api("GET", "Tickets/1042", ExactQuery::new(&[("includedetails", "true")])).respond_with(json_ok(full_ticket())).expect(1))
        .await;
    let out = e.ok("get_ticket", json!({"ticket_id": 1042})).await;
    assert_eq!(out["found"], true);
    assert_eq!(
        out["ticket"],
        json!({
            "id": 1042, "summary": "Suspicious login detected for jsmith", "details": "<p>Multiple failed logins</p>",
            "tickettype_id": 4, "tickettype_name": "Security Incident", "status_id": 2, "status_name": "In Progress",
            "priority_id": 2, "priority_name": "High", "category_id": 10, "category_1": "Security>Phishing",
            "agent_id": 3, "agent_name": "Alex Morgan", "team_id": 2, "team_name": "Security Operations",
            "client_id": 1, "client_name": "Acme Corp", "site_id": 1, "site_name": "Head Office",
            "user_id": 7, "user_name": "Jordan Smith", "user_email": "jordan.smith@example.com",
            "dateoccurred": "2026-09-01T08:00:00Z", "datecreated": "2026-09-01T08:00:05Z", "datemodified": "2026-09-01T09:30:00Z",
            "closed": false,
            "customfields": [{"id": 101, "name": "CFSecurityReference", "label": "Reference", "value": "rrn:investigation:us:1234"}],
            "url": e.url_of(1042)
        })
    );
}

#[tokio::test]
async fn get_ticket_without_details_sends_no_query() {
    let e = env().await;
    e.mount(api("GET", "Tickets/1042", ExactQuery::new(&[])).respond_with(json_ok(read(1042))).expect(1)).await;
    let out = e.ok("get_ticket", json!({"ticket_id": 1042, "include_details": false})).await;
    assert_eq!(out["found"], true);
    assert_eq!(out["ticket"]["id"], 1042);
    assert!(out["ticket"].get("agent_name").is_none() && out["ticket"].get("team_name").is_none(), "unassigned: {out}");
}

#[tokio::test]
async fn get_ticket_links_to_the_portal_url_when_one_is_set() {
    let e = env().await;
    e.mount(api("GET", "Tickets/5", ExactQuery::new(&[("includedetails", "true")])).respond_with(json_ok(read(5))).expect(1)).await;
    let mut conn = e.conn();
    conn["portal_url"] = json!("https://portal.example.com");
    let (status, body) = post(&e.srv.url("/api/v1/actions/get_ticket"), &action("get_ticket", conn, json!({"ticket_id": 5}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["body"]["output"]["ticket"]["url"], "https://portal.example.com/ticket?id=5");
}

#[tokio::test]
async fn get_ticket_unknown_id_is_found_false_with_an_empty_ticket() {
    let e = env().await;
    e.mount(ticket_list_probe()).await;
    e.mount(
        api("GET", "Tickets/404", ExactQuery::new(&[("includedetails", "true")]))
            .respond_with(ResponseTemplate::new(404).set_body_json(json!({"Message": "Ticket not found"})))
            .expect(1),
    )
    .await;
    let out = e.ok("get_ticket", json!({"ticket_id": 404})).await;
    assert_eq!(out, json!({"ticket": {}, "found": false}));
}

// ----- get_user / get_agent ---------------------------------------------------------------------

#[tokio::test]
async fn get_user_drops_nulls_and_fills_email_from_emailaddress() {
    let e = env().await;
    e.mount(
        api("GET", "Users/7", ExactQuery::new(&[]))
            .respond_with(json_ok(json!({"id": 7, "name": "Jordan Smith", "emailaddress": "jordan.smith@example.com", "client_id": 1,
                                        "site_id": 2, "phonenumber": null, "customfields": [{"id": 1, "value": null}],
                                        "site": {"id": 2, "name": null}})))
            .expect(1),
    )
    .await;
    let out = e.ok("get_user", json!({"user_id": 7})).await;
    assert_eq!(
        out,
        json!({"user": {"id": 7, "name": "Jordan Smith", "emailaddress": "jordan.smith@example.com", "email": "jordan.smith@example.com",
                        "client_id": 1, "site_id": 2, "customfields": [{"id": 1}], "site": {"id": 2}},
               "success": true})
    );
}

#[tokio::test]
async fn get_agent_keeps_its_own_email() {
    let e = env().await;
    e.mount(
        api("GET", "Agent/3", ExactQuery::new(&[]))
            .respond_with(json_ok(json!({"id": 3, "name": "Alex Morgan", "email": "alex.morgan@example.com",
                                        "emailaddress": "alex@old.example.com", "team": "Security Operations", "isdisabled": false,
                                        "signature": null})))
            .expect(1),
    )
    .await;
    let out = e.ok("get_agent", json!({"agent_id": 3})).await;
    assert_eq!(
        out,
        json!({"agent": {"id": 3, "name": "Alex Morgan", "email": "alex.morgan@example.com", "emailaddress": "alex@old.example.com",
                         "team": "Security Operations", "isdisabled": false},
               "success": true})
    );
}

#[tokio::test]
async fn get_agent_fills_email_from_emailaddress() {
    let e = env().await;
    e.mount(
        api("GET", "Agent/4", ExactQuery::new(&[]))
            .respond_with(json_ok(json!({"id": 4, "name": "Sam Lee", "email": null, "emailaddress": "sam.lee@example.com"})))
            .expect(1),
    )
    .await;
    let out = e.ok("get_agent", json!({"agent_id": 4})).await;
    assert_eq!(out["agent"]["email"], "sam.lee@example.com");
    assert_eq!(out["success"], true);
}

#[tokio::test]
async fn get_user_and_agent_unknown_ids_are_success_false_and_empty() {
    for (name, endpoint, input, key) in
        [("get_user", "Users/99", json!({"user_id": 99}), "user"), ("get_agent", "Agent/98", json!({"agent_id": 98}), "agent")]
    {
        let e = env().await;
        let missing = ResponseTemplate::new(404).set_body_json(json!({"Message": "not found"}));
        e.mount(api("GET", endpoint, ExactQuery::new(&[])).respond_with(missing).expect(1)).await;
        assert_eq!(e.ok(name, input).await, json!({key: {}, "success": false}), "{name}");
    }
}

#[tokio::test]
async fn get_user_and_agent_server_errors_are_retried_then_a_500() {
    let attempts = u64::from(fast_retries().max_attempts);
    for (name, endpoint, input) in [("get_user", "Users/7", json!({"user_id": 7})), ("get_agent", "Agent/3", json!({"agent_id": 3}))] {
        let e = env().await;
        let broken = ResponseTemplate::new(500).set_body_json(json!({"Message": "database unavailable"}));
        // Reads are retried: every attempt the retry policy allows reaches HaloITSM, then the step fails.
        e.mount(api("GET", endpoint, ExactQuery::new(&[])).respond_with(broken).expect(attempts)).await;
        let err = e.fails(name, input, 500).await;
        let cause = err["exception"]["cause"].as_str().unwrap();
        assert!(cause.contains("500") && cause.contains("database unavailable"), "{name}: {err}");
    }
}

#[tokio::test]
async fn get_user_and_agent_reject_non_positive_ids_without_a_request() {
    let e = env().await;
    let err = e.fails("get_user", json!({"user_id": 0}), 400).await;
    assert!(err["error"].as_str().unwrap().contains("user_id"), "{err}");
    let err = e.fails("get_agent", json!({"agent_id": -1}), 400).await;
    assert!(err["error"].as_str().unwrap().contains("agent_id"), "{err}");
}

// ----- list_comments ----------------------------------------------------------------------------

/// The existence check list_comments makes before reading the actions.
async fn ticket_exists(e: &Env, id: i64) {
    e.mount(api("GET", &format!("Tickets/{id}"), ExactQuery::new(&[("includedetails", "true")])).respond_with(json_ok(row(id))).expect(1))
        .await;
}

fn actions_query(id: i64, extra: &[(&str, &str)]) -> ExactQuery {
    let id = id.to_string();
    let mut q = vec![("ticket_id", id.as_str()), ("includehtmlnote", "true")];
    q.extend_from_slice(extra);
    ExactQuery::new(&q)
}

fn notes() -> Vec<Value> {
    vec![
        json!({"id": 501, "ticket_id": 42, "who": "Alex Morgan", "datetime": "2026-09-01T09:00:00", "outcome": "Note",
               "note": "Checked the sign-in logs", "note_html": "<p>ignored when note is set</p>", "hiddenfromuser": false,
               "new_status": 0, "old_status": 1}),
        json!({"id": 503, "ticket_id": 42, "who": "Alex Morgan", "datetime": "2026-09-01T11:15:00.1234567", "outcome": "Private Note",
               "note": "", "note_html": "<p>Blocked <b>evil.example</b></p><p>Done &amp; dusted&nbsp;</p>", "hiddenfromuser": true,
               "new_status": 2, "old_status": 1, "emailto": null}),
        json!({"id": 502, "ticket_id": 42, "who": "Jordan Smith", "datetime": "2026-09-01T10:00:00", "outcome": "User Update",
               "note": "It was me on holiday", "hiddenfromuser": false, "new_status": 2, "old_status": 2}),
        // Same second as 502: the higher action ID is the newer one.
        json!({"id": 504, "ticket_id": 42, "who": "Alex Morgan", "datetime": "2026-09-01T10:00:00", "outcome": "Private Note",
               "note": "Called the user", "hiddenfromuser": true}),
    ]
}

fn note(id: i64) -> Value {
    match id {
        501 => json!({"id": 501, "ticket_id": 42, "author": "Alex Morgan", "datetime": "2026-09-01T09:00:00Z", "outcome": "Note",
                      "text": "Checked the sign-in logs", "private": false}),
        502 => json!({"id": 502, "ticket_id": 42, "author": "Jordan Smith", "datetime": "2026-09-01T10:00:00Z", "outcome": "User Update",
                      "text": "It was me on holiday", "private": false}),
        503 => json!({"id": 503, "ticket_id": 42, "author": "Alex Morgan", "datetime": "2026-09-01T11:15:00.123456700Z",
                      "outcome": "Private Note", "text": "Blocked evil.example\nDone & dusted", "private": true, "new_status_id": 2}),
        504 => json!({"id": 504, "ticket_id": 42, "author": "Alex Morgan", "datetime": "2026-09-01T10:00:00Z", "outcome": "Private Note",
                      "text": "Called the user", "private": true}),
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn list_comments_reads_the_wrapped_list_newest_first_as_plain_text() {
    let e = env().await;
    ticket_exists(&e, 42).await;
    e.mount(
        api("GET", "Actions", actions_query(42, &[("excludesys", "true")]))
            .respond_with(json_ok(json!({"record_count": 4, "actions": notes()})))
            .expect(1),
    )
    .await;
    let out = e.ok("list_comments", json!({"ticket_id": 42})).await;
    assert_eq!(out, json!({"comments": [note(503), note(504), note(502), note(501)], "count": 4}));
}

#[tokio::test]
async fn list_comments_reads_a_bare_array_and_never_shows_private_notes_when_asked_not_to() {
    let e = env().await;
    ticket_exists(&e, 42).await;
    // HaloITSM was asked to leave private notes out but sends them anyway: they are still dropped.
    e.mount(
        api("GET", "Actions", actions_query(42, &[("excludeprivate", "true"), ("excludesys", "true")]))
            .respond_with(json_ok(json!(notes())))
            .expect(1),
    )
    .await;
    let out = e.ok("list_comments", json!({"ticket_id": 42, "include_private": false})).await;
    assert_eq!(out, json!({"comments": [note(502), note(501)], "count": 2}));
}

#[tokio::test]
async fn list_comments_with_system_actions_does_not_exclude_them() {
    let e = env().await;
    ticket_exists(&e, 42).await;
    let logged = json!({"id": 500, "ticket_id": 42, "who": "System", "datetime": "2026-09-01T08:00:00", "outcome": "Ticket Logged",
                        "note": "Ticket logged via API", "hiddenfromuser": false, "new_status": 1});
    e.mount(api("GET", "Actions", actions_query(42, &[])).respond_with(json_ok(json!({"record_count": 1, "actions": [logged]}))).expect(1))
        .await;
    let out = e.ok("list_comments", json!({"ticket_id": 42, "include_system": true})).await;
    assert_eq!(out["count"], 1);
    assert_eq!(out["comments"][0]["outcome"], "Ticket Logged");
    assert_eq!(out["comments"][0]["new_status_id"], 1);
}

#[tokio::test]
async fn list_comments_on_an_unknown_ticket_is_a_400_naming_it() {
    let e = env().await;
    e.mount(ticket_list_probe()).await;
    e.mount(
        api("GET", "Tickets/77", ExactQuery::new(&[("includedetails", "true")]))
            .respond_with(ResponseTemplate::new(404).set_body_json(json!({"Message": "not found"})))
            .expect(1),
    )
    .await;
    e.mount(Mock::given(method("GET")).and(path("/api/Actions")).respond_with(json_ok(json!([]))).expect(0)).await;
    let err = e.fails("list_comments", json!({"ticket_id": 77}), 400).await;
    assert!(err["error"].as_str().unwrap().contains("77"), "{err}");
}

#[tokio::test]
async fn list_comments_sorts_by_the_time_it_shows() {
    let e = env().await;
    ticket_exists(&e, 42).await;
    let rows = json!([
        {"id": 601, "ticket_id": 42, "who": "Alex Morgan", "datetime": "2026-09-01T09:00:00", "outcome": "Note", "note": "older"},
        {"id": 600, "ticket_id": 42, "who": "Alex Morgan", "actiondatecreated": "2026-09-02T09:00:00", "outcome": "Note", "note": "newer"},
    ]);
    e.mount(api("GET", "Actions", actions_query(42, &[("excludesys", "true")])).respond_with(json_ok(rows)).expect(1)).await;
    let out = e.ok("list_comments", json!({"ticket_id": 42})).await;
    let shown: Vec<(&str, &str)> =
        out["comments"].as_array().unwrap().iter().map(|c| (c["datetime"].as_str().unwrap(), c["text"].as_str().unwrap())).collect();
    assert_eq!(shown, vec![("2026-09-02T09:00:00Z", "newer"), ("2026-09-01T09:00:00Z", "older")], "newest first");
}

// ----- lookups ----------------------------------------------------------------------------------

fn statuses_all() -> Value {
    json!([
        {"id": 1, "name": "New", "shortname": "NEW", "type": 0, "sequence": 1},
        {"id": 2, "name": "In Progress", "shortname": "INP", "type": 0, "sequence": 2},
        {"id": 5, "name": "Closed", "shortname": "CLO", "type": 1, "sequence": 9},
        {"id": 9, "name": "Resolved", "shortname": null, "type": 1, "sequence": 8},
    ])
}

fn statuses_open() -> Value {
    json!([
        {"id": 1, "name": "New", "shortname": "NEW", "type": 0, "sequence": 1},
        {"id": 2, "name": "In Progress", "shortname": "INP", "type": 0, "sequence": 2},
    ])
}

#[tokio::test]
async fn list_statuses_marks_closed_those_missing_from_the_open_list() {
    let e = env().await;
    e.mount(api("GET", "Status", ExactQuery::new(&[("excludeclosed", "true")])).respond_with(json_ok(statuses_open())).expect(1)).await;
    e.mount(
        api("GET", "Status", ExactQuery::new(&[])).respond_with(json_ok(json!({"record_count": 4, "statuses": statuses_all()}))).expect(1),
    )
    .await;
    let out = e.ok("list_statuses", json!({})).await;
    assert_eq!(
        out,
        json!({"statuses": [{"id": 1, "name": "New", "type": 0, "closed": false}, {"id": 2, "name": "In Progress", "type": 0, "closed": false},
                            {"id": 5, "name": "Closed", "type": 1, "closed": true}, {"id": 9, "name": "Resolved", "type": 1, "closed": true}],
               "count": 4})
    );
}

#[tokio::test]
async fn list_statuses_excluding_closed_leaves_out_what_haloitsm_says_closes() {
    let e = env().await;
    e.mount(
        api("GET", "Status", ExactQuery::new(&[("excludeclosed", "true")]))
            .respond_with(json_ok(json!({"record_count": 2, "statuses": statuses_open()})))
            .expect(1),
    )
    .await;
    e.mount(api("GET", "Status", ExactQuery::new(&[])).respond_with(json_ok(statuses_all())).expect(1)).await;
    let out = e.ok("list_statuses", json!({"exclude_closed": true})).await;
    assert_eq!(
        out,
        json!({"statuses": [{"id": 1, "name": "New", "type": 0, "closed": false}, {"id": 2, "name": "In Progress", "type": 0, "closed": false}],
               "count": 2})
    );
}

#[tokio::test]
async fn list_statuses_says_nothing_of_closing_when_haloitsm_does_not_filter() {
    let e = env().await;
    // A tenant that ignores `excludeclosed` answers every status both times: which ones close is
    // unknown, so no status is called closed or open (and `type` is never read for it).
    for q in [&[("excludeclosed", "true")][..], &[]] {
        e.mount(api("GET", "Status", ExactQuery::new(q)).respond_with(json_ok(statuses_all())).expect(1)).await;
    }
    let out = e.ok("list_statuses", json!({})).await;
    assert_eq!(out["count"], 4);
    assert!(out["statuses"].as_array().unwrap().iter().all(|s| s.get("closed").is_none()), "{out}");
}

#[tokio::test]
async fn list_statuses_passes_the_ticket_type_on_both_requests() {
    let e = env().await;
    e.mount(
        api("GET", "Status", ExactQuery::new(&[("tickettype_id", "4"), ("excludeclosed", "true")]))
            .respond_with(json_ok(json!([{"id": 1, "name": "New", "type": 0}])))
            .expect(1),
    )
    .await;
    e.mount(
        api("GET", "Status", ExactQuery::new(&[("tickettype_id", "4")]))
            .respond_with(json_ok(json!([{"id": 1, "name": "New", "type": 0}, {"id": 5, "name": "Closed", "type": 1}])))
            .expect(1),
    )
    .await;
    let out = e.ok("list_statuses", json!({"tickettype_id": 4})).await;
    assert_eq!(out["count"], 2);
    assert_eq!(out["statuses"][1], json!({"id": 5, "name": "Closed", "type": 1, "closed": true}));
    let err = e.fails("list_statuses", json!({"tickettype_id": 0}), 400).await;
    assert!(err["error"].as_str().unwrap().contains("tickettype_id"), "{err}");
}

/// One lookup: its endpoint, Halo's rows, its input, and the output it must give.
struct Lookup {
    action: &'static str,
    endpoint: &'static str,
    /// The query HaloITSM must be asked with.
    query: &'static [(&'static str, &'static str)],
    wrapper_key: &'static str,
    rows: Value,
    input: Value,
    output: Value,
}

fn lookups() -> Vec<Lookup> {
    let agents = json!([
        {"id": 3, "name": "Alex Morgan", "email": "alex.morgan@example.com", "team": "Security Operations", "isdisabled": false},
        {"id": 4, "name": "Old Account", "email": "old@example.com", "team": "Service Desk", "isdisabled": true},
        {"id": 6, "name": "Sam Lee", "email": null, "team": null, "isdisabled": 0},
        {"id": 7, "name": "Gone Agent", "isdisabled": 1},
    ]);
    let teams = json!([
        {"id": 2, "name": "Security Operations", "inactive": false},
        {"id": 3, "name": "Legacy", "inactive": true},
        {"id": 4, "name": "Network", "inactive": null},
    ]);
    vec![
        Lookup {
            action: "list_ticket_types",
            endpoint: "TicketType",
            query: &[],
            wrapper_key: "tickettypes",
            rows: json!([{"id": 1, "name": "Incident", "group_id": null}, {"id": 4, "name": "Security Incident"}]),
            input: json!({}),
            output: json!({"ticket_types": [{"id": 1, "name": "Incident"}, {"id": 4, "name": "Security Incident"}], "count": 2}),
        },
        Lookup {
            action: "list_priorities",
            endpoint: "Priority",
            query: &[],
            wrapper_key: "priorities",
            rows: json!([
                {"id": "0c3e55b0-6a3f-4d1e-9a8f-1f2b3c4d5e6f", "priorityid": 1, "slaid": 1, "name": "Critical"},
                {"id": "5b7a1c2d-3e4f-4a5b-8c9d-0e1f2a3b4c5d", "priorityid": 2, "slaid": 1, "name": "High"},
            ]),
            input: json!({}),
            output: json!({"priorities": [{"id": 1, "name": "Critical", "sla_id": 1}, {"id": 2, "name": "High", "sla_id": 1}], "count": 2}),
        },
        Lookup {
            action: "list_agents",
            endpoint: "Agent",
            query: &[],
            wrapper_key: "agents",
            rows: agents.clone(),
            input: json!({}),
            output: json!({"agents": [
                {"id": 3, "name": "Alex Morgan", "email": "alex.morgan@example.com", "team": "Security Operations", "disabled": false},
                {"id": 6, "name": "Sam Lee", "disabled": false},
            ], "count": 2}),
        },
        Lookup {
            action: "list_agents",
            endpoint: "Agent",
            // Disabled agents are listed only when asked for (docs/halo-api.md#G3).
            query: &[("includedisabled", "true")],
            wrapper_key: "agents",
            rows: agents,
            input: json!({"include_disabled": true}),
            output: json!({"agents": [
                {"id": 3, "name": "Alex Morgan", "email": "alex.morgan@example.com", "team": "Security Operations", "disabled": false},
                {"id": 4, "name": "Old Account", "email": "old@example.com", "team": "Service Desk", "disabled": true},
                {"id": 6, "name": "Sam Lee", "disabled": false},
                {"id": 7, "name": "Gone Agent", "disabled": true},
            ], "count": 4}),
        },
        Lookup {
            action: "list_teams",
            endpoint: "Team",
            query: &[],
            wrapper_key: "teams",
            rows: teams.clone(),
            input: json!({}),
            output: json!({"teams": [{"id": 2, "name": "Security Operations", "inactive": false}, {"id": 4, "name": "Network"}], "count": 2}),
        },
        Lookup {
            action: "list_teams",
            endpoint: "Team",
            // Inactive teams are listed only when asked for (docs/halo-api.md#G6).
            query: &[("includedisabled", "true")],
            wrapper_key: "teams",
            rows: teams,
            input: json!({"include_inactive": true}),
            output: json!({"teams": [{"id": 2, "name": "Security Operations", "inactive": false}, {"id": 3, "name": "Legacy", "inactive": true},
                                     {"id": 4, "name": "Network"}], "count": 3}),
        },
    ]
}

#[tokio::test]
async fn lookups_accept_plain_arrays_and_wrapped_lists() {
    for l in lookups() {
        let query = l.query;
        let count = l.rows.as_array().unwrap().len();
        for (shape, answer) in [
            ("plain array", l.rows.clone()),
            ("wrapper", json!({"record_count": count, l.wrapper_key: l.rows.clone()})),
            ("wrapper under another key", json!({"record_count": count, "items": l.rows.clone()})),
        ] {
            let e = env().await;
            e.mount(api("GET", l.endpoint, ExactQuery::new(query)).respond_with(json_ok(answer)).expect(1)).await;
            let out = e.ok(l.action, l.input.clone()).await;
            assert_eq!(out, l.output, "{} {} ({shape})", l.action, l.input);
        }
    }
}

#[tokio::test]
async fn list_priorities_take_the_id_from_priorityid_only() {
    let e = env().await;
    // The ticket-facing ID is `priorityid`, whatever `id` holds (a GUID, or another number);
    // without a `priorityid` the GUID is not used as an ID.
    e.mount(
        api("GET", "Priority", ExactQuery::new(&[]))
            .respond_with(json_ok(json!([{"id": 17, "priorityid": 2, "name": "High", "slaid": 1},
                                         {"id": "0c3e55b0-6a3f-4d1e-9a8f-1f2b3c4d5e6f", "name": "Odd", "slaid": 2},
                                         {"id": "5b7a1c2d-3e4f-4a5b-8c9d-0e1f2a3b4c5d", "priorityid": "3", "name": "Medium"}])))
            .expect(1),
    )
    .await;
    let out = e.ok("list_priorities", json!({})).await;
    assert_eq!(
        out,
        json!({"priorities": [{"id": 2, "name": "High", "sla_id": 1}, {"name": "Odd", "sla_id": 2}, {"id": 3, "name": "Medium"}], "count": 3})
    );
}

#[tokio::test]
async fn list_priorities_gives_each_priority_once_whatever_its_slas() {
    let e = env().await;
    // One row per SLA and priority, the name differing per SLA, one row hidden (docs/halo-api.md#P1).
    e.mount(
        api("GET", "Priority", ExactQuery::new(&[]))
            .respond_with(json_ok(json!([
                {"id": "c183eb27-0000-4000-8000-000000000001", "priorityid": 1, "slaid": 1, "name": "Critical", "ishidden": true},
                {"id": "c183eb27-0000-4000-8000-000000000002", "priorityid": 1, "slaid": 2, "name": "Urgent", "ishidden": false},
                {"id": "c183eb27-0000-4000-8000-000000000003", "priorityid": 2, "slaid": 1, "name": "High"},
                {"id": "c183eb27-0000-4000-8000-000000000004", "priorityid": 2, "slaid": 2, "name": "P2"},
                {"id": "c183eb27-0000-4000-8000-000000000005", "priorityid": 4, "slaid": 2, "name": "Low"}
            ])))
            .expect(1),
    )
    .await;
    let out = e.ok("list_priorities", json!({})).await;
    assert_eq!(
        out,
        json!({"priorities": [{"id": 1, "name": "Urgent"}, {"id": 2, "name": "High"}, {"id": 4, "name": "Low", "sla_id": 2}], "count": 3})
    );
}
