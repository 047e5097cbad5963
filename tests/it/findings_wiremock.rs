//! `send_findings` (Prowler OCSF findings to HaloITSM tickets) driven through the plugin's REST
//! API against a mock HaloITSM, asserting the exact HaloITSM requests (method, path, query, JSON
//! body), how many of each were sent, and the action's output.
//!
//! Every mock HaloITSM here answers any request a test did not describe with HTTP 418 and an
//! echo of the request, and fails verification when it was hit, so an extra, missing or
//! differently shaped request fails the test.

use crate::common;

use base64::Engine;
use common::*;
use icon_haloitsm::findings::{GroupBy, key_of, ocsf, tag_of};
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

/// How the free-text field of a [`Record`] must look.
#[derive(Clone)]
enum Text {
    Contains(String),
    StartsWith(String),
}

/// The body is a one-element JSON array whose object equals `fields` once `text` is taken out,
/// and whose `text` is a string that satisfies `check`.
struct Record {
    fields: Value,
    text: &'static str,
    check: Text,
}

impl Match for Record {
    fn matches(&self, request: &Request) -> bool {
        let Ok(Value::Array(items)) = serde_json::from_slice::<Value>(&request.body) else { return false };
        let [Value::Object(obj)] = items.as_slice() else { return false };
        let mut obj = obj.clone();
        let Some(Value::String(text)) = obj.remove(self.text) else { return false };
        let text_ok = match &self.check {
            Text::Contains(s) => text.contains(s.as_str()),
            Text::StartsWith(s) => text.starts_with(s.as_str()),
        };
        text_ok && Value::Object(obj) == self.fields
    }
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
    /// A HaloITSM whose connection has Default Ticket Type ID 4.
    async fn start() -> Halo {
        Halo::with_connection(json!({"default_ticket_type_id": 4})).await
    }

    /// Like `start`, with exactly these fields added to the connection.
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

    /// Run `send_findings` through the REST API; (HTTP status, `body` of the answer).
    async fn run(&self, input: Value) -> (u16, Value) {
        let name = "send_findings";
        let (status, answer) = post(&self.srv.url(&format!("/api/v1/actions/{name}")), &action(name, self.conn.clone(), input)).await;
        (status, answer["body"].clone())
    }

    /// Run `send_findings`, which must succeed; its output.
    async fn ok(&self, input: Value) -> Value {
        let (status, body) = self.run(input.clone()).await;
        assert_eq!(status, 200, "send_findings({input}) -> {body}");
        assert_eq!(body["status"], "ok", "{body}");
        body["output"].clone()
    }

    /// Run `send_findings`, which must fail with this HTTP status; the answer's `body`.
    async fn err(&self, input: Value, status: u16) -> Value {
        let (got, body) = self.run(input.clone()).await;
        assert_eq!(got, status, "send_findings({input}) -> {body}");
        assert_eq!(body["status"], "error", "{body}");
        assert!(body.get("output").is_none(), "{body}");
        body
    }

    /// The API requests HaloITSM received, in order, as "METHOD /path?k=v&k=v" with the query
    /// decoded (token requests left out).
    async fn api_requests(&self) -> Vec<String> {
        self.server
            .received_requests()
            .await
            .unwrap()
            .iter()
            .filter(|r| r.url.path() != "/auth/token")
            .map(|r| {
                let q: Vec<String> = r.url.query_pairs().map(|(k, v)| format!("{k}={v}")).collect();
                if q.is_empty() {
                    format!("{} {}", r.method, r.url.path())
                } else {
                    format!("{} {}?{}", r.method, r.url.path(), q.join("&"))
                }
            })
            .collect()
    }

    /// The API requests, sorted (writes run concurrently, so their order is not fixed).
    async fn api_requests_sorted(&self) -> Vec<String> {
        let mut all = self.api_requests().await;
        all.sort();
        all
    }

    /// The JSON bodies of the `POST {p}` requests, in the order received.
    async fn posted(&self, p: &str) -> Vec<Value> {
        self.server
            .received_requests()
            .await
            .unwrap()
            .iter()
            .filter(|r| r.method.as_str() == "POST" && r.url.path() == p)
            .map(|r| serde_json::from_slice(&r.body).unwrap())
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

    /// The bulk lookup's page `page_no` of open (or closed) tickets answers `rows` with
    /// `record_count`, exactly once. Rows are thin, as HaloITSM's are: without `hasbeenclosed`.
    async fn lookup_state(&self, closed: bool, page_no: u64, rows: Vec<Value>, record_count: u64, field: Option<i64>) {
        let page = page_no.to_string();
        let field_s = field.map(|f| f.to_string());
        let state = if closed { "closed_only" } else { "open_only" };
        let mut q = vec![
            ("search", "prowler-key:"),
            ("order", "id"),
            (state, "true"),
            ("pageinate", "true"),
            ("page_size", "100"),
            ("page_no", page.as_str()),
        ];
        if let Some(f) = &field_s {
            q.push(("include_custom_fields", f.as_str()));
        }
        let rows: Vec<Value> = rows
            .into_iter()
            .map(|mut r| {
                r.as_object_mut().map(|o| o.remove("hasbeenclosed"));
                r
            })
            .collect();
        api("GET", "/api/Tickets")
            .and(query_is(&q))
            .respond_with(ok_json(json!({"record_count": record_count, "tickets": rows})))
            .expect(1)
            .named(format!("lookup page {page_no} of {state}"))
            .mount(&self.server)
            .await;
    }

    /// The bulk lookup's page `page_no` of open tickets.
    async fn lookup_page(&self, page_no: u64, rows: Vec<Value>, record_count: u64, field: Option<i64>) {
        self.lookup_state(false, page_no, rows, record_count, field).await;
    }

    /// The bulk lookup finds no closed ticket.
    async fn no_closed(&self, field: Option<i64>) {
        self.lookup_state(true, 1, vec![], 0, field).await;
    }

    /// The bulk lookup (no dedupe field) answers these tickets, the open ones and the closed ones
    /// (by their `hasbeenclosed`) on one page each, exactly once.
    async fn lookup(&self, rows: Vec<Value>) {
        let (closed, open): (Vec<Value>, Vec<Value>) = rows.into_iter().partition(|r| r["hasbeenclosed"] == json!(true));
        let (n_open, n_closed) = (open.len() as u64, closed.len() as u64);
        self.lookup_page(1, open, n_open, None).await;
        self.lookup_state(true, 1, closed, n_closed, None).await;
    }

    /// A full read of a ticket that HaloITSM now counts as closed (the check after a close).
    async fn read_closed(&self, id: i64, status: i64) {
        api("GET", &format!("/api/Tickets/{id}"))
            .and(query_is(&[("includedetails", "true")]))
            .respond_with(ok_json(json!({"id": id, "status_id": status, "hasbeenclosed": true})))
            .expect(1)
            .named(format!("read closed ticket {id}"))
            .mount(&self.server)
            .await;
    }

    /// `POST /api/Tickets` creating a ticket: the body is `[fields + details]` where the details
    /// carry `tag`; answers `response`, exactly `times` times.
    async fn create(&self, fields: Value, tag: &str, response: ResponseTemplate, times: u64) {
        let summary = fields["summary"].as_str().unwrap_or_default().to_string();
        write_where("/api/Tickets", Record { fields, text: "details", check: Text::Contains(tag.to_string()) })
            .respond_with(response)
            .expect(times)
            .named(format!("create {summary}"))
            .mount(&self.server)
            .await;
    }

    /// `POST /api/Actions` with a private note on `ticket_id` that starts with `note_start`, moving
    /// the ticket to `new_status` when given; answers an action, exactly once.
    async fn note(&self, ticket_id: i64, note_start: &str, new_status: Option<i64>) {
        let mut fields = json!({"ticket_id": ticket_id, "outcome": "Private Note", "hiddenfromuser": true});
        if let Some(s) = new_status {
            fields["new_status"] = json!(s);
        }
        write_where("/api/Actions", Record { fields, text: "note", check: Text::StartsWith(note_start.to_string()) })
            .respond_with(ok_json(json!({"id": 9000 + ticket_id, "ticket_id": ticket_id})))
            .expect(1)
            .named(format!("note on ticket {ticket_id}"))
            .mount(&self.server)
            .await;
    }

    /// `GET /api/Actions?ticket_id=N&excludesys=true` answers these actions, exactly once.
    async fn actions_of(&self, ticket_id: i64, actions: Value) {
        let id = ticket_id.to_string();
        api("GET", "/api/Actions")
            .and(query_is(&[("ticket_id", id.as_str()), ("excludesys", "true")]))
            .respond_with(ok_json(json!({"record_count": actions.as_array().map_or(0, Vec::len), "actions": actions})))
            .expect(1)
            .named(format!("actions of ticket {ticket_id}"))
            .mount(&self.server)
            .await;
    }

    /// The uncertain-create search for `tag` (among open tickets: it was just created) answers
    /// these tickets, exactly once.
    async fn search_tag(&self, tag: &str, rows: Vec<Value>) {
        api("GET", "/api/Tickets")
            .and(query_is(&[("search", tag), ("open_only", "true"), ("pageinate", "true"), ("page_size", "10"), ("page_no", "1")]))
            .respond_with(ok_json(json!({"record_count": rows.len(), "tickets": rows})))
            .expect(1)
            .named(format!("search {tag}"))
            .mount(&self.server)
            .await;
    }
}

/// An authenticated API request to this method and path.
fn api(m: &str, p: &str) -> MockBuilder {
    Mock::given(method(m)).and(path(p.to_string())).and(header("authorization", "Bearer tok"))
}

/// A HaloITSM write the plugin's way: `POST {path}` with no query, JSON, the body matching `m`.
fn write_where(p: &str, m: impl Match + 'static) -> MockBuilder {
    api("POST", p).and(no_query()).and(header("content-type", "application/json")).and(m)
}

/// A HaloITSM write with exactly this body: `[record]`.
fn write(p: &str, record: Value) -> MockBuilder {
    api("POST", p).and(no_query()).and(header("content-type", "application/json")).and(body_json(json!([record])))
}

fn ok_json(v: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(v)
}

// ----- findings and tickets -------------------------------------------------------------------

const ACCOUNT: &str = "123456789012";
const LAST_SEEN: &str = "last seen 2026-09-01 08:30 UTC";

/// A Prowler OCSF finding (OCSF 1.4 shape) about the S3 bucket `bucket` of account 123456789012
/// in eu-west-1, with a real finding ID.
fn finding(check: &str, status: &str, severity: &str, bucket: &str) -> Value {
    json!({
        "message": format!("S3 Bucket {bucket} checked."),
        "metadata": {"event_code": check, "product": {"name": "Prowler", "uid": "prowler", "vendor_name": "Prowler", "version": "5.4.0"},
                     "profiles": ["cloud", "datetime"], "tenant_uid": "", "version": "1.4.0"},
        "severity_id": 4,
        "severity": severity,
        "status": "New",
        "status_code": status,
        "status_detail": format!("S3 Bucket {bucket} is {}.", if status == "PASS" { "not public" } else { "public" }),
        "status_id": 1,
        "unmapped": {"related_url": "", "categories": ["internet-exposed"], "compliance": {"CIS-3.0": ["2.1.4"]}},
        "activity_name": "Create",
        "activity_id": 1,
        "finding_info": {
            "created_time": 1788000000,
            "first_seen_time_dt": "2026-08-30T10:00:00",
            "last_seen_time_dt": "2026-09-01T08:30:00",
            "desc": "Ensure S3 buckets are not publicly accessible",
            "product_uid": "prowler",
            "title": format!("Title of {check}"),
            "types": ["Effects", "Data Exposure"],
            "uid": format!("prowler-aws-{check}-{ACCOUNT}-eu-west-1-{bucket}")
        },
        "resources": [{"cloud_partition": "aws", "region": "eu-west-1", "group": {"name": "s3"}, "labels": [], "name": bucket,
                       "type": "AwsS3Bucket", "uid": format!("arn:aws:s3:::{bucket}")}],
        "category_name": "Findings",
        "category_uid": 2,
        "class_name": "Detection Finding",
        "class_uid": 2004,
        "cloud": {"account": {"name": "", "type": "AWS Account", "type_id": 10, "uid": ACCOUNT, "labels": []},
                  "org": {"name": "", "uid": ""}, "provider": "aws", "region": "eu-west-1"},
        "remediation": {"desc": "Block public access.", "references": ["https://docs.aws.amazon.com/s3/block"]},
        "risk_details": "Anyone can read the bucket.",
        "time": 1788251400,
        "time_dt": "2026-09-01T08:30:00",
        "type_uid": 200401,
        "type_name": "Detection Finding: Create"
    })
}

/// The key a finding is tracked by (one ticket per finding).
fn key(f: &Value) -> String {
    key_of(&ocsf::parse(f).unwrap(), GroupBy::Finding)
}

/// The key of a finding with `group_by: check`.
fn check_key(f: &Value) -> String {
    key_of(&ocsf::parse(f).unwrap(), GroupBy::Check)
}

/// The tag of a finding (one ticket per finding).
fn tag(f: &Value) -> String {
    tag_of(&key(f))
}

/// The summary of the ticket of a finding made by [`finding`].
fn summary(check: &str, severity: &str, bucket: &str) -> String {
    format!("[Prowler] {} - {check} - arn:aws:s3:::{bucket}", severity.to_uppercase())
}

/// A ticket as the bulk lookup returns it, tagged with `key` in its details.
fn tagged_ticket(id: i64, key: &str, summary: &str, priority_id: i64, closed: bool) -> Value {
    json!({"id": id, "summary": summary, "details": format!("<p><b>Prowler finding</b>: x</p><table></table><p>{}</p>", tag_of(key)),
           "tickettype_id": 4, "status_id": if closed { 9 } else { 1 }, "status_name": if closed { "Closed" } else { "New" },
           "priority_id": priority_id, "hasbeenclosed": closed, "customfields": []})
}

/// The fields of the new ticket of a finding made by [`finding`], details aside.
fn new_ticket(check: &str, severity: &str, bucket: &str, priority_id: i64) -> Value {
    json!({"summary": summary(check, severity, bucket), "tickettype_id": 4, "priority_id": priority_id})
}

/// (created, updated, reopened, closed, unchanged, skipped, failed) of an output.
fn counts(out: &Value) -> [i64; 7] {
    ["created", "updated", "reopened", "closed", "unchanged", "skipped", "failed"]
        .map(|k| out[k].as_i64().unwrap_or_else(|| panic!("{k}: {out}")))
}

/// (outcome, ticket id) of each result, in order, checking the results are in input order.
fn outcomes(out: &Value) -> Vec<(String, Option<i64>)> {
    let results = out["results"].as_array().unwrap_or_else(|| panic!("{out}"));
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r["index"], json!(i), "results in input order: {out}");
    }
    results.iter().map(|r| (r["outcome"].as_str().unwrap().to_string(), r["ticket_id"].as_i64())).collect()
}

fn o(outcome: &str, ticket: Option<i64>) -> (String, Option<i64>) {
    (outcome.to_string(), ticket)
}

/// The bulk lookup's first page of open tickets, then of closed ones (HaloITSM's plain list
/// leaves out tickets closed a while ago).
const LOOKUP: &str = "GET /api/Tickets?search=prowler-key:&order=id&open_only=true&pageinate=true&page_size=100&page_no=1";
const LOOKUP_CLOSED: &str = "GET /api/Tickets?search=prowler-key:&order=id&closed_only=true&pageinate=true&page_size=100&page_no=1";

fn lookup_request(page_no: u64) -> String {
    format!("GET /api/Tickets?search=prowler-key:&order=id&open_only=true&pageinate=true&page_size=100&page_no={page_no}")
}

fn prowler_file(name: &str) -> Vec<u8> {
    std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/prowler").join(name)).unwrap()
}

fn file_input(name: &str) -> Value {
    json!({"filename": name, "content": base64::engine::general_purpose::STANDARD.encode(prowler_file(name))})
}

// ----- bulk lookup ----------------------------------------------------------------------------

#[tokio::test]
async fn one_lookup_request_serves_a_whole_file_of_findings() {
    let h = Halo::start().await;
    h.lookup(vec![]).await;
    let findings: Vec<Value> = serde_json::from_slice(&prowler_file("example_output_azure.ocsf.json")).unwrap();
    assert_eq!(findings.len(), 5);
    for (i, f) in findings.iter().enumerate() {
        let p = ocsf::parse(f).unwrap();
        let fields = json!({"summary": format!("[Prowler] {} - {} - {}", p.severity.as_str().to_uppercase(), p.check_id, p.resource_uid),
                            "tickettype_id": 4, "priority_id": match p.severity.as_str() { "High" => 2, "Medium" => 3, _ => 4 }});
        h.create(fields, &tag(f), ok_json(json!({"id": 2000 + i as i64})), 1).await;
    }
    let out = h.ok(json!({"findings": findings})).await;
    assert_eq!(counts(&out), [5, 0, 0, 0, 0, 0, 0], "{out}");
    let reqs = h.api_requests().await;
    assert_eq!(reqs[0], LOOKUP, "the lookup comes first");
    assert_eq!(
        reqs.iter().filter(|r| r.starts_with("GET")).count(),
        2,
        "one lookup (of open and of closed tickets) for the whole file, no search per finding: {reqs:?}"
    );
    assert_eq!(reqs.len(), 7, "{reqs:?}");
    h.verify().await;
}

#[tokio::test]
async fn the_lookup_reads_every_page_of_250_tagged_tickets_and_no_more() {
    let h = Halo::start().await;
    let f = finding("s3_bucket_public_access", "FAIL", "High", "logs");
    // 250 tagged tickets; the one of this finding is on page 3.
    let mut rows: Vec<Value> = (0..250)
        .map(|i| {
            tagged_ticket(
                5000 + i,
                &format!("prowler-aws-other_check-{ACCOUNT}-eu-west-1-b{i}"),
                "[Prowler] LOW - other_check - x",
                4,
                false,
            )
        })
        .collect();
    rows[240] = tagged_ticket(5240, &key(&f), &summary("s3_bucket_public_access", "High", "logs"), 2, false);
    let page3: Vec<Value> = rows.split_off(200);
    let page2: Vec<Value> = rows.split_off(100);
    h.lookup_page(1, rows, 250, None).await;
    h.lookup_page(2, page2, 250, None).await;
    h.lookup_page(3, page3, 250, None).await;
    h.no_closed(None).await;
    let out = h.ok(json!({"findings": [f]})).await;
    assert_eq!(outcomes(&out), [o("unchanged", Some(5240))], "found on page 3, so nothing was created: {out}");
    assert_eq!(h.api_requests().await, [lookup_request(1), lookup_request(2), lookup_request(3), LOOKUP_CLOSED.to_string()]);
    h.verify().await;
}

#[tokio::test]
async fn the_lookup_stops_when_the_record_count_is_reached() {
    let h = Halo::start().await;
    let f = finding("s3_bucket_public_access", "FAIL", "High", "logs");
    let mut rows: Vec<Value> = (0..200)
        .map(|i| {
            tagged_ticket(
                5000 + i,
                &format!("prowler-aws-other_check-{ACCOUNT}-eu-west-1-b{i}"),
                "[Prowler] LOW - other_check - x",
                4,
                false,
            )
        })
        .collect();
    let page2 = rows.split_off(100);
    h.lookup_page(1, rows, 200, None).await;
    h.lookup_page(2, page2, 200, None).await;
    h.no_closed(None).await;
    h.create(new_ticket("s3_bucket_public_access", "High", "logs", 2), &tag(&f), ok_json(json!({"id": 6001})), 1).await;
    let out = h.ok(json!({"findings": [f]})).await;
    assert_eq!(outcomes(&out), [o("created", Some(6001))], "{out}");
    assert_eq!(
        h.api_requests().await,
        [lookup_request(1), lookup_request(2), LOOKUP_CLOSED.to_string(), "POST /api/Tickets".to_string()],
        "no page 3"
    );
    h.verify().await;
}

#[tokio::test]
async fn a_rerun_of_150_unchanged_findings_costs_one_list_request_per_page() {
    let h = Halo::start().await;
    let findings: Vec<Value> = (0..150).map(|i| finding("s3_bucket_public_access", "FAIL", "High", &format!("b{i:03}"))).collect();
    let mut rows: Vec<Value> = findings
        .iter()
        .enumerate()
        .map(|(i, f)| tagged_ticket(3000 + i as i64, &key(f), &summary("s3_bucket_public_access", "High", &format!("b{i:03}")), 2, false))
        .collect();
    let page2 = rows.split_off(100);
    h.lookup_page(1, rows, 150, None).await;
    h.lookup_page(2, page2, 150, None).await;
    h.no_closed(None).await;
    let out = h.ok(json!({"findings": findings})).await;
    assert_eq!(counts(&out), [0, 0, 0, 0, 150, 0, 0], "{out}");
    let got = outcomes(&out);
    for (i, (outcome, ticket)) in got.iter().enumerate() {
        assert_eq!((outcome.as_str(), *ticket), ("unchanged", Some(3000 + i as i64)));
    }
    assert_eq!(
        h.api_requests().await,
        [lookup_request(1), lookup_request(2), LOOKUP_CLOSED.to_string()],
        "no write, no per-finding search"
    );
    h.verify().await;
}

#[tokio::test]
async fn a_failing_lookup_fails_the_step_before_any_write() {
    let h = Halo::start().await;
    api("GET", "/api/Tickets")
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({"Message": "Agent lacks the Tickets permission"})))
        .expect(1)
        .named("lookup (forbidden)")
        .mount(&h.server)
        .await;
    let body = h.err(json!({"findings": [finding("s3_bucket_public_access", "FAIL", "High", "logs")]}), 500).await;
    let text = body.to_string();
    assert!(text.contains("HTTP 403") && text.contains("Agent lacks the Tickets permission"), "{body}");
    assert_eq!(h.api_requests().await, [LOOKUP], "nothing after the failed lookup");
    h.verify().await;
}

// ----- create -------------------------------------------------------------------------------

#[tokio::test]
async fn a_new_failure_creates_one_ticket_with_the_full_body() {
    let h = Halo::start().await;
    let mut f = finding("s3_bucket_public_access", "FAIL", "High", "logs");
    f["finding_info"]["title"] = json!("Ensure S3 buckets <b>block</b> public access & \"more\"");
    f["status_detail"] = json!("Bucket logs is public <script>alert(1)</script>");
    f["resources"][0]["name"] = json!("");
    f["cloud"]["account"]["name"] = json!("prod");
    f["remediation"]["references"] =
        json!(["https://docs.aws.amazon.com/s3/block?a=1&b=2", "aws s3api put-public-access-block --bucket logs"]);
    f["unmapped"]["compliance"] = json!({"CIS-3.0": ["2.1.4", "2.1.5"], "ISO27001-2013": ["A.8.1"]});
    f["unmapped"]["related_url"] = json!("https://prowler.example/checks/s3");
    let key = key(&f);
    assert_eq!(key, format!("prowler-aws-s3_bucket_public_access-{ACCOUNT}-eu-west-1-logs"), "a real finding ID is the key");
    let tag = tag_of(&key);
    h.lookup(vec![]).await;
    h.create(
        json!({"summary": "[Prowler] HIGH - s3_bucket_public_access - arn:aws:s3:::logs", "tickettype_id": 4, "priority_id": 2}),
        &tag,
        ok_json(json!({"id": 1042, "summary": "[Prowler] HIGH - s3_bucket_public_access - arn:aws:s3:::logs"})),
        1,
    )
    .await;
    let out = h.ok(json!({"findings": [f]})).await;
    assert_eq!(
        out,
        json!({"created": 1, "updated": 0, "reopened": 0, "closed": 0, "unchanged": 0, "skipped": 0, "failed": 0,
               "results": [{"index": 0, "key": key, "check_id": "s3_bucket_public_access", "resource_uid": "arn:aws:s3:::logs",
                            "severity": "High", "status": "FAIL", "ticket_id": 1042, "outcome": "created"}]})
    );
    assert_eq!(h.api_requests().await, [LOOKUP, LOOKUP_CLOSED, "POST /api/Tickets"]);

    let posted = h.posted("/api/Tickets").await;
    let details = posted[0][0]["details"].as_str().unwrap();
    let row = |label: &str, value: &str| format!("<th align=\"left\">{label}</th><td>{value}</td>");
    for want in [
        "Ensure S3 buckets &lt;b&gt;block&lt;/b&gt; public access &amp; &quot;more&quot;".to_string(),
        row("Check", "s3_bucket_public_access"),
        row("Severity", "High"),
        row("Status", "FAIL - Bucket logs is public &lt;script&gt;alert(1)&lt;/script&gt;"),
        row("Provider", "aws"),
        row("Account", "123456789012 (prod)"),
        row("Region", "eu-west-1"),
        row("Resource UID", "arn:aws:s3:::logs"),
        row("Resource name", "-"),
        row("Resource type", "AwsS3Bucket"),
        row("Risk", "Anyone can read the bucket."),
        row("Remediation", "Block public access."),
        "<a href=\"https://docs.aws.amazon.com/s3/block?a=1&amp;b=2\">https://docs.aws.amazon.com/s3/block?a=1&amp;b=2</a>".to_string(),
        "<code>aws s3api put-public-access-block --bucket logs</code>".to_string(),
        "https://prowler.example/checks/s3".to_string(),
        "CIS-3.0: 2.1.4, 2.1.5".to_string(),
        "ISO27001-2013: A.8.1".to_string(),
        row("First seen", "2026-08-30 10:00:00 UTC"),
        row("Last seen", "2026-09-01 08:30:00 UTC"),
        tag.clone(),
    ] {
        assert!(details.contains(&want), "the details lack {want}:\n{details}");
    }
    assert!(!details.contains("<script>") && !details.contains("<b>block"), "unescaped input in the details:\n{details}");
    assert_eq!(tag.len(), "prowler-key:".len() + 16);
    assert!(tag["prowler-key:".len()..].chars().all(|c| c.is_ascii_hexdigit()), "{tag}");
    h.verify().await;
}

#[tokio::test]
async fn empty_values_are_dashes_in_the_details_and_the_summary() {
    let h = Halo::start().await;
    let f = json!({"class_name": "DetectionFinding", "status_code": "FAIL", "severity": "Medium",
                   "metadata": {"event_code": "iam_root_mfa"}, "finding_info": {"uid": "prowler-aws-iam_root_mfa-1"}});
    h.lookup(vec![]).await;
    h.create(
        json!({"summary": "[Prowler] MEDIUM - iam_root_mfa - -", "tickettype_id": 4, "priority_id": 3}),
        &tag(&f),
        ok_json(json!({"id": 77})),
        1,
    )
    .await;
    let out = h.ok(json!({"findings": [f]})).await;
    assert_eq!(outcomes(&out), [o("created", Some(77))]);
    let details = h.posted("/api/Tickets").await[0][0]["details"].as_str().unwrap().to_string();
    for label in [
        "Provider",
        "Account",
        "Region",
        "Resource UID",
        "Resource name",
        "Resource type",
        "Risk",
        "Remediation",
        "References",
        "Compliance",
        "First seen",
        "Last seen",
    ] {
        assert!(details.contains(&format!("<th align=\"left\">{label}</th><td>-</td>")), "{label} should be `-`:\n{details}");
    }
    assert!(details.contains("FAIL - -"), "an empty status detail is `-`:\n{details}");
    h.verify().await;
}

#[tokio::test]
async fn create_takes_type_priority_map_team_and_dedupe_field_from_the_inputs() {
    let h = Halo::start().await;
    let high = finding("s3_bucket_public_access", "FAIL", "High", "logs");
    let medium = finding("s3_bucket_versioning", "FAIL", "Medium", "logs");
    let critical = finding("s3_bucket_no_mfa_delete", "FAIL", "critical", "logs");
    h.lookup_page(1, vec![], 0, Some(102)).await;
    h.no_closed(Some(102)).await;
    for (f, check, sev, priority, id) in [
        (&high, "s3_bucket_public_access", "High", 7, 11),
        (&medium, "s3_bucket_versioning", "Medium", 3, 12),
        (&critical, "s3_bucket_no_mfa_delete", "Critical", 6, 13),
    ] {
        h.create(
            json!({"summary": summary(check, sev, "logs"), "tickettype_id": 9, "priority_id": priority, "team_id": 3,
                   "customfields": [{"id": 102, "value": key(f)}]}),
            &tag(f),
            ok_json(json!({"id": id})),
            1,
        )
        .await;
    }
    let out = h
        .ok(json!({"findings": [high, medium, critical], "tickettype_id": 9, "priority_map": {"High": 7, "critical": 6}, "team_id": 3,
                   "dedupe_field_id": 102}))
        .await;
    assert_eq!(outcomes(&out), [o("created", Some(11)), o("created", Some(12)), o("created", Some(13))], "{out}");
    assert_eq!(
        h.api_requests().await[0],
        "GET /api/Tickets?search=prowler-key:&order=id&include_custom_fields=102&open_only=true&pageinate=true&page_size=100&page_no=1"
    );
    h.verify().await;
}

#[tokio::test]
async fn the_default_priority_map_is_critical_1_high_2_medium_3_low_4() {
    let h = Halo::start().await;
    let mut all = Vec::new();
    for (i, (sev, priority)) in [("Critical", 1), ("High", 2), ("Medium", 3), ("Low", 4)].into_iter().enumerate() {
        let check = format!("check_{}", sev.to_lowercase());
        let f = finding(&check, "FAIL", sev, "logs");
        h.create(new_ticket(&check, sev, "logs", priority), &tag(&f), ok_json(json!({"id": 20 + i as i64})), 1).await;
        all.push(f);
    }
    h.lookup(vec![]).await;
    let out = h.ok(json!({"findings": all})).await;
    assert_eq!(counts(&out), [4, 0, 0, 0, 0, 0, 0], "{out}");
    h.verify().await;
}

// ----- rerun, dedupe --------------------------------------------------------------------------

#[tokio::test]
async fn a_rerun_with_the_ticket_unchanged_writes_nothing() {
    let h = Halo::start().await;
    let f = finding("s3_bucket_public_access", "FAIL", "High", "logs");
    h.lookup(vec![tagged_ticket(1042, &key(&f), &summary("s3_bucket_public_access", "High", "logs"), 2, false)]).await;
    let out = h.ok(json!({"findings": [f]})).await;
    assert_eq!(counts(&out), [0, 0, 0, 0, 1, 0, 0], "{out}");
    assert_eq!(out["results"][0]["ticket_id"], 1042);
    assert_eq!(out["results"][0]["outcome"], "unchanged");
    assert_eq!(h.api_requests().await, [LOOKUP, LOOKUP_CLOSED]);
    h.verify().await;
}

#[tokio::test]
async fn the_tag_may_come_in_details_html() {
    let h = Halo::start().await;
    let f = finding("s3_bucket_public_access", "FAIL", "High", "logs");
    let mut t = tagged_ticket(1042, &key(&f), &summary("s3_bucket_public_access", "High", "logs"), 2, false);
    let details = t.as_object_mut().unwrap().remove("details").unwrap();
    t["details_html"] = details;
    h.lookup(vec![t]).await;
    let out = h.ok(json!({"findings": [f]})).await;
    assert_eq!(outcomes(&out), [o("unchanged", Some(1042))]);
    h.verify().await;
}

#[tokio::test]
async fn with_a_dedupe_field_the_key_in_the_custom_field_finds_the_ticket() {
    let h = Halo::start().await;
    let f = finding("s3_bucket_public_access", "FAIL", "High", "logs");
    let other = finding("s3_bucket_versioning", "FAIL", "High", "logs");
    let ticket = |id: i64, field: i64, f: &Value, check: &str| {
        json!({"id": id, "summary": summary(check, "High", "logs"), "details": "<p>No tag here: it was edited away.</p>", "priority_id": 2,
               "hasbeenclosed": false, "customfields": [{"id": 101, "name": "CFOther", "value": "x"},
                                                        {"id": field, "name": "CFProwlerKey", "label": "Prowler key", "value": key(f)}]})
    };
    // The first ticket holds the key in the dedupe field; the second holds the other finding's key
    // in a different field, which does not count.
    h.lookup_page(
        1,
        vec![ticket(1042, 102, &f, "s3_bucket_public_access"), ticket(1043, 103, &other, "s3_bucket_versioning")],
        2,
        Some(102),
    )
    .await;
    h.no_closed(Some(102)).await;
    // The key is only in the custom field of a row: a full read confirms it before it counts.
    api("GET", "/api/Tickets/1042")
        .and(query_is(&[("includedetails", "true")]))
        .respond_with(ok_json(ticket(1042, 102, &f, "s3_bucket_public_access")))
        .expect(1)
        .mount(&h.server)
        .await;
    h.create(
        json!({"summary": summary("s3_bucket_versioning", "High", "logs"), "tickettype_id": 4, "priority_id": 2,
               "customfields": [{"id": 102, "value": key(&other)}]}),
        &tag(&other),
        ok_json(json!({"id": 1044})),
        1,
    )
    .await;
    let out = h.ok(json!({"findings": [f, other], "dedupe_field_id": 102})).await;
    assert_eq!(outcomes(&out), [o("unchanged", Some(1042)), o("created", Some(1044))], "{out}");
    h.verify().await;
}

#[tokio::test]
async fn of_several_tickets_for_one_key_the_open_one_wins_then_the_newest() {
    let h = Halo::start().await;
    let a = finding("s3_bucket_public_access", "FAIL", "High", "a");
    let b = finding("s3_bucket_public_access", "FAIL", "High", "b");
    let (sa, sb) = (summary("s3_bucket_public_access", "High", "a"), summary("s3_bucket_public_access", "High", "b"));
    h.lookup(vec![
        tagged_ticket(10, &key(&a), &sa, 2, false),
        tagged_ticket(11, &key(&a), &sa, 2, true),
        tagged_ticket(12, &key(&b), &sb, 2, false),
        tagged_ticket(13, &key(&b), &sb, 2, false),
        tagged_ticket(14, &key(&b), &sb, 2, true),
    ])
    .await;
    let out = h.ok(json!({"findings": [a, b]})).await;
    assert_eq!(outcomes(&out), [o("unchanged", Some(10)), o("unchanged", Some(13))], "no reopen of a closed duplicate: {out}");
    assert_eq!(h.api_requests().await, [LOOKUP, LOOKUP_CLOSED]);
    h.verify().await;
}

// ----- lifecycle ------------------------------------------------------------------------------

#[tokio::test]
async fn a_failure_whose_ticket_is_closed_reopens_it_with_a_note() {
    let h = Halo::start().await;
    let f = finding("s3_bucket_public_access", "FAIL", "High", "logs");
    h.lookup(vec![tagged_ticket(1042, &key(&f), &summary("s3_bucket_public_access", "High", "logs"), 2, true)]).await;
    h.note(1042, "Prowler: FAIL again", Some(1)).await;
    let out = h.ok(json!({"findings": [f]})).await;
    assert_eq!(outcomes(&out), [o("reopened", Some(1042))], "{out}");
    assert_eq!(counts(&out), [0, 0, 1, 0, 0, 0, 0]);
    assert_eq!(
        h.posted("/api/Actions").await,
        [json!([{"ticket_id": 1042, "outcome": "Private Note", "note": format!("Prowler: FAIL again ({LAST_SEEN}); reopened."),
                 "hiddenfromuser": true, "new_status": 1}])]
    );
    assert_eq!(h.api_requests().await, [LOOKUP, LOOKUP_CLOSED, "POST /api/Actions"]);
    h.verify().await;
}

#[tokio::test]
async fn reopen_uses_the_reopen_status_id_input() {
    let h = Halo::start().await;
    let f = finding("s3_bucket_public_access", "FAIL", "High", "logs");
    h.lookup(vec![tagged_ticket(1042, &key(&f), &summary("s3_bucket_public_access", "High", "logs"), 2, true)]).await;
    h.note(1042, "Prowler: FAIL again", Some(2)).await;
    let out = h.ok(json!({"findings": [f], "reopen_status_id": 2})).await;
    assert_eq!(outcomes(&out), [o("reopened", Some(1042))], "{out}");
    h.verify().await;
}

#[tokio::test]
async fn a_pass_with_an_open_ticket_is_noted_unless_the_newest_prowler_note_says_pass() {
    let h = Halo::start().await;
    let a = finding("s3_bucket_public_access", "PASS", "High", "a");
    let b = finding("s3_bucket_public_access", "PASS", "High", "b");
    let (sa, sb) = (summary("s3_bucket_public_access", "High", "a"), summary("s3_bucket_public_access", "High", "b"));
    h.lookup(vec![tagged_ticket(21, &key(&a), &sa, 2, false), tagged_ticket(22, &key(&b), &sb, 2, false)]).await;
    // Ticket 21: an older PASS note, then the finding failed again: the newest Prowler note is a FAIL.
    h.actions_of(
        21,
        json!([{"id": 301, "ticket_id": 21, "note": "Prowler: PASS (last seen 2026-08-01 08:30 UTC). The check no longer fails."},
               {"id": 305, "ticket_id": 21, "note": "Agent: looked at it"},
               {"id": 303, "ticket_id": 21, "note": "Prowler: FAIL again (last seen 2026-08-15 08:30 UTC); reopened."}]),
    )
    .await;
    // Ticket 22: the newest Prowler note already says PASS (an agent wrote after it).
    h.actions_of(
        22,
        json!([{"id": 403, "ticket_id": 22, "note": "Prowler: PASS (last seen 2026-08-20 08:30 UTC). The check no longer fails."},
               {"id": 401, "ticket_id": 22, "note": "Prowler: FAIL again (last seen 2026-08-15 08:30 UTC); reopened."},
               {"id": 404, "ticket_id": 22, "note": "Customer: thanks"}]),
    )
    .await;
    write(
        "/api/Actions",
        json!({"ticket_id": 21, "outcome": "Private Note", "note": format!("Prowler: PASS ({LAST_SEEN}). The check no longer fails."),
               "hiddenfromuser": true}),
    )
    .respond_with(ok_json(json!({"id": 306, "ticket_id": 21})))
    .expect(1)
    .named("the PASS note on ticket 21")
    .mount(&h.server)
    .await;
    let out = h.ok(json!({"findings": [a, b]})).await;
    assert_eq!(outcomes(&out), [o("updated", Some(21)), o("unchanged", Some(22))], "{out}");
    assert_eq!(counts(&out), [0, 1, 0, 0, 1, 0, 0]);
    assert_eq!(
        h.api_requests_sorted().await,
        [
            "GET /api/Actions?ticket_id=21&excludesys=true",
            "GET /api/Actions?ticket_id=22&excludesys=true",
            LOOKUP_CLOSED,
            LOOKUP,
            "POST /api/Actions"
        ]
    );
    h.verify().await;
}

#[tokio::test]
async fn a_pass_with_on_pass_close_closes_the_open_ticket() {
    let h = Halo::start().await;
    let a = finding("s3_bucket_public_access", "PASS", "High", "a");
    let closed = finding("s3_bucket_public_access", "PASS", "High", "closed");
    h.lookup(vec![
        tagged_ticket(31, &key(&a), &summary("s3_bucket_public_access", "High", "a"), 2, false),
        tagged_ticket(32, &key(&closed), &summary("s3_bucket_public_access", "High", "closed"), 2, true),
    ])
    .await;
    h.note(31, "Prowler: PASS", Some(9)).await;
    h.read_closed(31, 9).await;
    let out = h.ok(json!({"findings": [a, closed], "on_pass": "close"})).await;
    assert_eq!(outcomes(&out), [o("closed", Some(31)), o("unchanged", Some(32))], "an already closed ticket is left alone: {out}");
    assert_eq!(counts(&out), [0, 0, 0, 1, 1, 0, 0]);
    assert_eq!(
        h.posted("/api/Actions").await,
        [
            json!([{"ticket_id": 31, "outcome": "Private Note", "note": format!("Prowler: PASS ({LAST_SEEN}); closed."), "hiddenfromuser": true,
                 "new_status": 9}])
        ]
    );
    h.verify().await;
}

#[tokio::test]
async fn on_pass_close_uses_the_closed_status_id_input() {
    let h = Halo::start().await;
    let a = finding("s3_bucket_public_access", "PASS", "High", "a");
    h.lookup(vec![tagged_ticket(31, &key(&a), &summary("s3_bucket_public_access", "High", "a"), 2, false)]).await;
    h.note(31, "Prowler: PASS", Some(8)).await;
    h.read_closed(31, 8).await;
    let out = h.ok(json!({"findings": [a], "on_pass": "close", "closed_status_id": 8})).await;
    assert_eq!(outcomes(&out), [o("closed", Some(31))], "{out}");
    h.verify().await;
}

#[tokio::test]
async fn a_close_that_does_not_close_fails_that_finding_naming_the_status_and_the_setting() {
    let h = Halo::with_connection(json!({"default_ticket_type_id": 4, "closed_status_id": 5})).await;
    let a = finding("s3_bucket_public_access", "PASS", "High", "a");
    h.lookup(vec![tagged_ticket(31, &key(&a), &summary("s3_bucket_public_access", "High", "a"), 2, false)]).await;
    h.note(31, "Prowler: PASS", Some(5)).await;
    // HaloITSM moved the ticket to status 5 but does not count it closed.
    api("GET", "/api/Tickets/31")
        .and(query_is(&[("includedetails", "true")]))
        .respond_with(ok_json(json!({"id": 31, "status_id": 5, "hasbeenclosed": false})))
        .expect(1)
        .mount(&h.server)
        .await;
    let out = h.ok(json!({"findings": [a], "on_pass": "close"})).await;
    assert_eq!(outcomes(&out), [o("failed", Some(31))], "{out}");
    let error = out["results"][0]["error"].as_str().unwrap_or_default();
    assert!(error.contains("did not close ticket 31") && error.contains("status 5"), "{error}");
    h.verify().await;
}

#[tokio::test]
async fn a_pass_with_on_pass_ignore_or_without_a_ticket_writes_nothing() {
    let h = Halo::start().await;
    let open = finding("s3_bucket_public_access", "PASS", "High", "open");
    let none = finding("s3_bucket_public_access", "PASS", "High", "none");
    h.lookup(vec![tagged_ticket(41, &key(&open), &summary("s3_bucket_public_access", "High", "open"), 2, false)]).await;
    let out = h.ok(json!({"findings": [open, none], "on_pass": "ignore"})).await;
    assert_eq!(outcomes(&out), [o("unchanged", Some(41)), o("skipped", None)], "{out}");
    assert_eq!(counts(&out), [0, 0, 0, 0, 1, 1, 0]);
    assert_eq!(h.api_requests().await, [LOOKUP, LOOKUP_CLOSED]);
    h.verify().await;
}

#[tokio::test]
async fn a_pass_without_a_ticket_is_skipped_whatever_on_pass_says() {
    for on_pass in ["note", "close"] {
        let h = Halo::start().await;
        let f = finding("s3_bucket_public_access", "PASS", "High", "logs");
        h.lookup(vec![]).await;
        let out = h.ok(json!({"findings": [f], "on_pass": on_pass})).await;
        assert_eq!(outcomes(&out), [o("skipped", None)], "{on_pass}: {out}");
        assert_eq!(h.api_requests().await, [LOOKUP, LOOKUP_CLOSED], "{on_pass}");
        h.verify().await;
    }
}

#[tokio::test]
async fn low_severity_manual_muted_and_unwanted_statuses_are_skipped_without_a_write() {
    let h = Halo::start().await;
    let low = finding("s3_bucket_versioning", "FAIL", "Low", "logs");
    let manual = finding("s3_bucket_policy_review", "MANUAL", "Critical", "logs");
    let muted = finding("s3_bucket_logging", "MUTED", "High", "logs");
    let info = finding("s3_bucket_tags", "FAIL", "Informational", "logs");
    let tracked = finding("s3_bucket_public_access", "FAIL", "High", "logs");
    h.lookup(vec![
        // An open ticket for the low finding stays as it is.
        tagged_ticket(51, &key(&low), &summary("s3_bucket_versioning", "Critical", "logs"), 1, false),
        tagged_ticket(52, &key(&tracked), &summary("s3_bucket_public_access", "High", "logs"), 2, false),
    ])
    .await;
    let out = h.ok(json!({"findings": [low, manual, muted, info, tracked], "min_severity": "Medium"})).await;
    assert_eq!(
        outcomes(&out),
        [o("skipped", Some(51)), o("skipped", None), o("skipped", None), o("skipped", None), o("unchanged", Some(52))],
        "{out}"
    );
    assert_eq!(counts(&out), [0, 0, 0, 0, 1, 4, 0]);
    assert_eq!(h.api_requests().await, [LOOKUP, LOOKUP_CLOSED]);
    h.verify().await;
}

#[tokio::test]
async fn informational_findings_count_with_min_severity_informational() {
    let h = Halo::start().await;
    let info = finding("s3_bucket_tags", "FAIL", "Informational", "logs");
    h.lookup(vec![]).await;
    h.create(new_ticket("s3_bucket_tags", "Informational", "logs", 4), &tag(&info), ok_json(json!({"id": 61})), 1).await;
    let out = h.ok(json!({"findings": [info], "min_severity": "Informational"})).await;
    assert_eq!(outcomes(&out), [o("created", Some(61))], "{out}");
    h.verify().await;
}

#[tokio::test]
async fn the_statuses_input_chooses_what_gets_a_ticket() {
    let h = Halo::start().await;
    let fail = finding("s3_bucket_public_access", "FAIL", "High", "logs");
    let manual = finding("s3_bucket_policy_review", "MANUAL", "Medium", "logs");
    h.lookup(vec![]).await;
    h.create(new_ticket("s3_bucket_policy_review", "Medium", "logs", 3), &tag(&manual), ok_json(json!({"id": 71})), 1).await;
    let out = h.ok(json!({"findings": [fail, manual], "statuses": ["manual"]})).await;
    assert_eq!(outcomes(&out), [o("skipped", None), o("created", Some(71))], "{out}");
    assert_eq!(h.api_requests().await, [LOOKUP, LOOKUP_CLOSED, "POST /api/Tickets"]);
    h.verify().await;
}

#[tokio::test]
async fn a_severity_change_updates_summary_and_priority() {
    let h = Halo::start().await;
    let f = finding("s3_bucket_public_access", "FAIL", "Critical", "logs");
    h.lookup(vec![tagged_ticket(81, &key(&f), &summary("s3_bucket_public_access", "Medium", "logs"), 3, false)]).await;
    write("/api/Tickets", json!({"summary": summary("s3_bucket_public_access", "Critical", "logs"), "priority_id": 1, "id": 81}))
        .respond_with(ok_json(json!({"id": 81, "summary": summary("s3_bucket_public_access", "Critical", "logs"), "priority_id": 1})))
        .expect(1)
        .named("update ticket 81")
        .mount(&h.server)
        .await;
    let out = h.ok(json!({"findings": [f]})).await;
    assert_eq!(outcomes(&out), [o("updated", Some(81))], "{out}");
    assert_eq!(counts(&out), [0, 1, 0, 0, 0, 0, 0]);
    assert_eq!(h.api_requests().await, [LOOKUP, LOOKUP_CLOSED, "POST /api/Tickets"]);
    h.verify().await;
}

/// The priority follows the severity only when the severity changes: a ticket whose summary
/// (and so severity) is unchanged keeps the priority it has, e.g. one an agent set by hand.
#[tokio::test]
async fn an_unchanged_summary_keeps_the_tickets_priority() {
    let h = Halo::start().await;
    let f = finding("s3_bucket_public_access", "FAIL", "High", "logs");
    let s = summary("s3_bucket_public_access", "High", "logs");
    // An agent raised the priority to 1 by hand; the map says 6 for High.
    h.lookup(vec![tagged_ticket(82, &key(&f), &s, 1, false)]).await;
    write("/api/Tickets", json!({"summary": s, "priority_id": 6, "id": 82}))
        .respond_with(ok_json(json!({"id": 82, "summary": s, "priority_id": 6})))
        .expect(0)
        .named("update ticket 82")
        .mount(&h.server)
        .await;
    let out = h.ok(json!({"findings": [f], "priority_map": {"High": 6}})).await;
    assert_eq!(outcomes(&out), [o("unchanged", Some(82))], "{out}");
    h.verify().await;
}

// ----- write safety ---------------------------------------------------------------------------

#[tokio::test]
async fn an_uncertain_create_found_by_its_tag_is_not_sent_again() {
    let h = Halo::start().await;
    let f = finding("s3_bucket_public_access", "FAIL", "High", "logs");
    let t = tag(&f);
    h.lookup(vec![]).await;
    h.create(
        new_ticket("s3_bucket_public_access", "High", "logs", 2),
        &t,
        ResponseTemplate::new(500).set_body_string("Timeout expired"),
        1,
    )
    .await;
    h.search_tag(
        &t,
        vec![json!({"id": 1077, "summary": summary("s3_bucket_public_access", "High", "logs"), "details": format!("<p>{t}</p>")})],
    )
    .await;
    let out = h.ok(json!({"findings": [f]})).await;
    assert_eq!(outcomes(&out), [o("created", Some(1077))], "{out}");
    assert_eq!(
        h.api_requests().await,
        [
            LOOKUP.to_string(),
            LOOKUP_CLOSED.to_string(),
            "POST /api/Tickets".to_string(),
            format!("GET /api/Tickets?search={t}&open_only=true&pageinate=true&page_size=10&page_no=1")
        ]
    );
    h.verify().await;
}

#[tokio::test]
async fn an_uncertain_create_not_found_is_sent_exactly_once_more() {
    let h = Halo::start().await;
    let f = finding("s3_bucket_public_access", "FAIL", "High", "logs");
    let t = tag(&f);
    h.lookup(vec![]).await;
    let fields = new_ticket("s3_bucket_public_access", "High", "logs", 2);
    write_where("/api/Tickets", Record { fields: fields.clone(), text: "details", check: Text::Contains(t.clone()) })
        .respond_with(ResponseTemplate::new(502).set_body_string("Bad Gateway"))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .named("create (502)")
        .mount(&h.server)
        .await;
    h.create(fields, &t, ok_json(json!({"id": 1078})), 1).await;
    // The search matches loosely: a ticket whose details do not hold the tag is not this one.
    h.search_tag(&t, vec![json!({"id": 999, "summary": "Something else", "details": "<p>prowler-key: mentioned in passing</p>"})]).await;
    let out = h.ok(json!({"findings": [f]})).await;
    assert_eq!(outcomes(&out), [o("created", Some(1078))], "{out}");
    assert_eq!(
        h.api_requests().await,
        [
            LOOKUP.to_string(),
            LOOKUP_CLOSED.to_string(),
            "POST /api/Tickets".to_string(),
            format!("GET /api/Tickets?search={t}&open_only=true&pageinate=true&page_size=10&page_no=1"),
            "POST /api/Tickets".to_string()
        ]
    );
    let posted = h.posted("/api/Tickets").await;
    assert_eq!(posted[0], posted[1], "the same ticket is sent again");
    h.verify().await;
}

#[tokio::test]
async fn an_uncertain_create_that_fails_twice_is_failed_after_two_posts() {
    let h = Halo::start().await;
    let f = finding("s3_bucket_public_access", "FAIL", "High", "logs");
    let t = tag(&f);
    h.lookup(vec![]).await;
    h.create(
        new_ticket("s3_bucket_public_access", "High", "logs", 2),
        &t,
        ResponseTemplate::new(503).set_body_string("Service Unavailable"),
        2,
    )
    .await;
    h.search_tag(&t, vec![]).await;
    let out = h.ok(json!({"findings": [f]})).await;
    assert_eq!(outcomes(&out), [o("failed", None)], "{out}");
    let error = out["results"][0]["error"].as_str().unwrap();
    assert!(error.contains("HTTP 503"), "{out}");
    // It may exist: the error says so, and how the next run settles it.
    assert!(error.contains("may have created the ticket anyway") && error.contains(&t) && error.contains("never created twice"), "{error}");
    h.verify().await;
}

#[tokio::test]
async fn a_create_timing_out_is_resolved_by_the_tag_search() {
    let h = Halo::with_connection(json!({"default_ticket_type_id": 4, "timeout_seconds": 1})).await;
    let f = finding("s3_bucket_public_access", "FAIL", "High", "logs");
    let t = tag(&f);
    h.lookup(vec![]).await;
    h.create(
        new_ticket("s3_bucket_public_access", "High", "logs", 2),
        &t,
        ok_json(json!({"id": 1079})).set_delay(std::time::Duration::from_secs(3)),
        1,
    )
    .await;
    h.search_tag(&t, vec![json!({"id": 1079, "details": format!("<table></table><p>{t}</p>")})]).await;
    let out = h.ok(json!({"findings": [f]})).await;
    assert_eq!(outcomes(&out), [o("created", Some(1079))], "{out}");
    assert_eq!(h.posted("/api/Tickets").await.len(), 1, "never a duplicate");
    h.verify().await;
}

#[tokio::test]
async fn a_rejected_create_fails_that_finding_and_the_others_go_on() {
    let h = Halo::start().await;
    let bad = finding("s3_bucket_public_access", "FAIL", "High", "bad");
    let good = finding("s3_bucket_public_access", "FAIL", "High", "good");
    let same = finding("s3_bucket_versioning", "FAIL", "Medium", "same");
    let manual = finding("s3_bucket_policy_review", "MANUAL", "Medium", "x");
    h.lookup(vec![tagged_ticket(91, &key(&same), &summary("s3_bucket_versioning", "Medium", "same"), 3, false)]).await;
    h.create(
        new_ticket("s3_bucket_public_access", "High", "bad", 2),
        &tag(&bad),
        ResponseTemplate::new(400)
            .set_body_json(json!({"ClassName": "HaloValidationException", "Message": "Priority 2 is not valid for ticket type 4"})),
        1,
    )
    .await;
    h.create(new_ticket("s3_bucket_public_access", "High", "good", 2), &tag(&good), ok_json(json!({"id": 92})), 1).await;
    let out = h.ok(json!({"findings": [bad, good, same, manual]})).await;
    assert_eq!(outcomes(&out), [o("failed", None), o("created", Some(92)), o("unchanged", Some(91)), o("skipped", None)], "{out}");
    let error = out["results"][0]["error"].as_str().unwrap();
    assert!(error.contains("Priority 2 is not valid for ticket type 4") && error.contains("HTTP 400"), "{error}");
    assert!(out["results"][1].get("error").is_none(), "{out}");
    let c = counts(&out);
    assert_eq!(c, [1, 0, 0, 0, 1, 1, 1]);
    assert_eq!(c.iter().sum::<i64>(), 4, "the counts add up to the findings");
    assert_eq!(h.posted("/api/Tickets").await.len(), 2, "a rejected create is not sent again");
    h.verify().await;
}

// ----- malformed findings ---------------------------------------------------------------------

#[tokio::test]
async fn malformed_findings_fail_alone_and_results_keep_the_input_order() {
    let h = Halo::start().await;
    let a = finding("s3_bucket_public_access", "FAIL", "High", "a");
    let b = finding("s3_bucket_public_access", "FAIL", "High", "b");
    let mut no_status = finding("s3_bucket_public_access", "FAIL", "High", "c");
    no_status.as_object_mut().unwrap().remove("status_code");
    let mut no_severity = finding("s3_bucket_public_access", "FAIL", "High", "d");
    no_severity.as_object_mut().unwrap().remove("severity");
    no_severity.as_object_mut().unwrap().remove("severity_id");
    let compliance =
        json!({"class_name": "Compliance Finding", "status_code": "FAIL", "severity": "High", "metadata": {"event_code": "x"}});
    h.lookup(vec![]).await;
    h.create(new_ticket("s3_bucket_public_access", "High", "a", 2), &tag(&a), ok_json(json!({"id": 101})), 1).await;
    h.create(new_ticket("s3_bucket_public_access", "High", "b", 2), &tag(&b), ok_json(json!({"id": 102})), 1).await;
    let out = h.ok(json!({"findings": [a, no_status, no_severity, compliance, b]})).await;
    assert_eq!(
        outcomes(&out),
        [o("created", Some(101)), o("failed", None), o("failed", None), o("failed", None), o("created", Some(102))],
        "{out}"
    );
    assert_eq!(counts(&out), [2, 0, 0, 0, 0, 0, 3]);
    let error = |i: usize| out["results"][i]["error"].as_str().unwrap_or_else(|| panic!("no error for {i}: {out}")).to_string();
    assert!(error(1).contains("finding 1") && error(1).contains("status_code"), "{}", error(1));
    assert!(error(2).contains("finding 2") && error(2).contains("severity"), "{}", error(2));
    assert!(error(3).contains("finding 3") && error(3).contains("Detection Finding"), "{}", error(3));
    for i in [0, 4] {
        assert!(out["results"][i].get("error").is_none(), "{out}");
    }
    assert_eq!(h.api_requests_sorted().await, [LOOKUP_CLOSED, LOOKUP, "POST /api/Tickets", "POST /api/Tickets"]);
    h.verify().await;
}

#[tokio::test]
async fn entries_of_a_file_that_are_not_objects_fail_alone() {
    let h = Halo::start().await;
    let a = finding("s3_bucket_public_access", "FAIL", "High", "a");
    let content = serde_json::to_vec(&json!(["not a finding", a, 42, null])).unwrap();
    h.lookup(vec![]).await;
    h.create(new_ticket("s3_bucket_public_access", "High", "a", 2), &tag(&a), ok_json(json!({"id": 103})), 1).await;
    let file = json!({"filename": "mixed.ocsf.json", "content": base64::engine::general_purpose::STANDARD.encode(content)});
    let out = h.ok(json!({"file": file})).await;
    assert_eq!(outcomes(&out), [o("failed", None), o("created", Some(103)), o("failed", None), o("failed", None)], "{out}");
    for i in [0, 2, 3] {
        let error = out["results"][i]["error"].as_str().unwrap_or_else(|| panic!("{out}"));
        assert!(error.contains(&format!("finding {i}")) && error.contains("not a JSON object"), "{error}");
    }
    assert_eq!(counts(&out), [1, 0, 0, 0, 0, 0, 3]);
    h.verify().await;
}

/// The `findings` input is typed `[]object` by the spec (InsightConnect enforces it too): an
/// entry that is not an object is an input error naming it. A file may hold anything; there a
/// malformed entry fails alone (see the file tests).
#[tokio::test]
async fn findings_entries_that_are_not_objects_are_an_input_error() {
    let h = Halo::start().await;
    let a = finding("s3_bucket_public_access", "FAIL", "High", "a");
    let body = h.err(json!({"findings": [a, "not a finding", 42]}), 400).await;
    assert!(body["error"].as_str().unwrap().contains("input `findings[1]`: expected an object"), "{body}");
    assert!(h.api_requests().await.is_empty());
    h.verify().await;
}

// ----- input errors ---------------------------------------------------------------------------

#[tokio::test]
async fn bad_inputs_are_a_400_before_any_request() {
    let h = Halo::start().await;
    let f = finding("s3_bucket_public_access", "FAIL", "High", "logs");
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    for (input, expect) in [
        (json!({}), "give `findings` or `file`"),
        (json!({"findings": []}), "give `findings` or `file`"),
        (json!({"findings": [f], "min_severity": "Urgent"}), "`min_severity`"),
        (json!({"findings": [f], "priority_map": {"Severe": 1}}), "`priority_map` has the key `Severe`"),
        (json!({"findings": [f], "priority_map": {"High": 0}}), "`priority_map.High` must be a positive"),
        (json!({"findings": [f], "priority_map": {"High": "2"}}), "`priority_map.High` must be a positive"),
        (json!({"findings": [f], "statuses": ["FAIL", "FAILED"]}), "`statuses` has `FAILED`"),
        (json!({"findings": [f], "statuses": []}), "`statuses` is empty"),
        (json!({"findings": [f], "group_by": "resource"}), "`group_by`"),
        (json!({"findings": [f], "on_pass": "delete"}), "`on_pass`"),
        (json!({"findings": [f], "tickettype_id": 0}), "tickettype_id"),
        (json!({"findings": [f], "reopen_status_id": 0}), "reopen_status_id"),
        (json!({"file": {"filename": "p.ocsf.json", "content": "%%% not base64 %%%"}}), "not valid base64"),
        (json!({"file": {"filename": "p.ocsf.json", "content": b64("this is not JSON")}}), "not valid JSON"),
        (json!({"file": {"filename": "p.ocsf.json", "content": b64("42")}}), "expected a JSON array"),
    ] {
        let body = h.err(input.clone(), 400).await;
        let error = body["error"].as_str().unwrap_or_default();
        assert!(error.contains(expect), "{input}: expected `{expect}` in {body}");
    }
    assert!(h.api_requests().await.is_empty(), "{:?}", h.api_requests().await);
    h.verify().await;
}

#[tokio::test]
async fn no_ticket_type_anywhere_is_a_400_before_any_request() {
    let h = Halo::with_connection(json!({})).await;
    let body = h.err(json!({"findings": [finding("s3_bucket_public_access", "FAIL", "High", "logs")]}), 400).await;
    let error = body["error"].as_str().unwrap();
    assert!(error.contains("no ticket type") && error.contains("Default Ticket Type ID"), "{body}");
    assert!(h.api_requests().await.is_empty());
    h.verify().await;
}

#[tokio::test]
async fn the_connections_default_ticket_type_is_used_and_the_input_wins() {
    let h = Halo::with_connection(json!({"default_ticket_type_id": 12})).await;
    let a = finding("s3_bucket_public_access", "FAIL", "High", "a");
    h.lookup_page(1, vec![], 0, None).await;
    h.no_closed(None).await;
    h.create(
        json!({"summary": summary("s3_bucket_public_access", "High", "a"), "tickettype_id": 12, "priority_id": 2}),
        &tag(&a),
        ok_json(json!({"id": 111})),
        1,
    )
    .await;
    let out = h.ok(json!({"findings": [a]})).await;
    assert_eq!(outcomes(&out), [o("created", Some(111))], "{out}");
    h.verify().await;

    let h = Halo::with_connection(json!({"default_ticket_type_id": 12})).await;
    let a = finding("s3_bucket_public_access", "FAIL", "High", "a");
    h.lookup(vec![]).await;
    h.create(
        json!({"summary": summary("s3_bucket_public_access", "High", "a"), "tickettype_id": 5, "priority_id": 2}),
        &tag(&a),
        ok_json(json!({"id": 112})),
        1,
    )
    .await;
    let out = h.ok(json!({"findings": [a], "tickettype_id": 5})).await;
    assert_eq!(outcomes(&out), [o("created", Some(112))], "{out}");
    h.verify().await;
}

// ----- file input -----------------------------------------------------------------------------

/// Mount the lookup and the two creates that the AWS example file needs.
async fn expect_aws_file(h: &Halo, findings: &[Value]) {
    h.lookup(vec![]).await;
    let key0 = "prowler:accessanalyzer_enabled:<account_uid>:<region>:<resource_uid>";
    assert_eq!(key(&findings[0]), key0, "placeholder finding IDs are not keys");
    h.create(
        json!({"summary": "[Prowler] LOW - accessanalyzer_enabled - <resource_uid>", "tickettype_id": 4, "priority_id": 4}),
        &tag_of(key0),
        ok_json(json!({"id": 201})),
        1,
    )
    .await;
    h.create(
        json!({"summary": "[Prowler] MEDIUM - account_maintain_different_contact_details_to_security_billing_and_operations - arn:aws:iam::<account_uid>:root",
               "tickettype_id": 4, "priority_id": 3}),
        &tag(&findings[2]),
        ok_json(json!({"id": 202})),
        1,
    )
    .await;
}

#[tokio::test]
async fn a_file_input_works_like_the_findings_input() {
    let name = "example_output_aws.ocsf.json";
    let findings: Vec<Value> = serde_json::from_slice(&prowler_file(name)).unwrap();
    let expected = [o("created", Some(201)), o("skipped", None), o("created", Some(202)), o("skipped", None), o("skipped", None)];

    let by_file = Halo::start().await;
    expect_aws_file(&by_file, &findings).await;
    let out_file = by_file.ok(json!({"file": file_input(name)})).await;
    assert_eq!(outcomes(&out_file), expected, "{out_file}");
    assert_eq!(counts(&out_file), [2, 0, 0, 0, 0, 3, 0]);
    by_file.verify().await;

    let by_findings = Halo::start().await;
    expect_aws_file(&by_findings, &findings).await;
    let out_findings = by_findings.ok(json!({"findings": findings})).await;
    assert_eq!(out_file, out_findings, "the same output either way");
    let mut sent_file = by_file.posted("/api/Tickets").await;
    let mut sent_findings = by_findings.posted("/api/Tickets").await;
    sent_file.sort_by_key(Value::to_string);
    sent_findings.sort_by_key(Value::to_string);
    assert_eq!(sent_file, sent_findings, "the same tickets either way");
    by_findings.verify().await;
}

#[tokio::test]
async fn findings_and_a_file_together_are_one_batch_findings_first() {
    let h = Halo::start().await;
    let name = "example_output_aws.ocsf.json";
    let from_file: Vec<Value> = serde_json::from_slice(&prowler_file(name)).unwrap();
    let extra = finding("s3_bucket_public_access", "FAIL", "High", "logs");
    expect_aws_file(&h, &from_file).await;
    h.create(new_ticket("s3_bucket_public_access", "High", "logs", 2), &tag(&extra), ok_json(json!({"id": 203})), 1).await;
    let out = h.ok(json!({"findings": [extra], "file": file_input(name)})).await;
    assert_eq!(
        outcomes(&out),
        [
            o("created", Some(203)),
            o("created", Some(201)),
            o("skipped", None),
            o("created", Some(202)),
            o("skipped", None),
            o("skipped", None)
        ],
        "{out}"
    );
    assert_eq!(h.api_requests().await.iter().filter(|r| r.starts_with("GET")).count(), 2, "one lookup each of open and closed tickets");
    h.verify().await;
}

#[tokio::test]
async fn every_shared_prowler_file_goes_through_with_one_lookup() {
    for name in [
        "example_output_aws.ocsf.json",
        "example_output_azure.ocsf.json",
        "example_output_gcp.ocsf.json",
        "example_output_kubernetes.ocsf.json",
    ] {
        let h = Halo::start().await;
        h.lookup(vec![]).await;
        api("POST", "/api/Tickets").respond_with(ok_json(json!({"id": 300}))).named("create").mount(&h.server).await;
        let findings: Vec<Value> = serde_json::from_slice(&prowler_file(name)).unwrap();
        let out = h.ok(json!({"file": file_input(name), "dry_run": false})).await;
        let c = counts(&out);
        assert_eq!(c.iter().sum::<i64>(), findings.len() as i64, "{name}: {out}");
        assert_eq!(c[6], 0, "{name}: no finding of a shared file fails: {out}");
        let reqs = h.api_requests().await;
        assert_eq!(reqs.iter().filter(|r| r.starts_with("GET")).count(), 2, "{name}: one lookup each of open and closed: {reqs:?}");
        h.verify().await;
    }
}

// ----- dry run --------------------------------------------------------------------------------

#[tokio::test]
async fn a_dry_run_only_looks_up_and_reports_what_would_happen() {
    let h = Halo::start().await;
    let new = finding("s3_bucket_public_access", "FAIL", "High", "new");
    let reopen = finding("s3_bucket_public_access", "FAIL", "High", "reopen");
    let update = finding("s3_bucket_public_access", "FAIL", "Critical", "update");
    let same = finding("s3_bucket_public_access", "FAIL", "High", "same");
    let close = finding("s3_bucket_public_access", "PASS", "High", "close");
    let manual = finding("s3_bucket_policy_review", "MANUAL", "High", "manual");
    let s = |b: &str, sev: &str| summary("s3_bucket_public_access", sev, b);
    h.lookup(vec![
        tagged_ticket(1, &key(&reopen), &s("reopen", "High"), 2, true),
        tagged_ticket(2, &key(&update), &s("update", "High"), 2, false),
        tagged_ticket(3, &key(&same), &s("same", "High"), 2, false),
        tagged_ticket(4, &key(&close), &s("close", "High"), 2, false),
    ])
    .await;
    let out = h.ok(json!({"findings": [new, reopen, update, same, close, manual], "on_pass": "close", "dry_run": true})).await;
    assert_eq!(
        outcomes(&out),
        [
            o("created", None),
            o("reopened", Some(1)),
            o("updated", Some(2)),
            o("unchanged", Some(3)),
            o("closed", Some(4)),
            o("skipped", None)
        ],
        "{out}"
    );
    assert_eq!(counts(&out), [1, 1, 1, 1, 1, 1, 0]);
    assert_eq!(h.api_requests().await, [LOOKUP, LOOKUP_CLOSED], "nothing but the lookup");
    h.verify().await;
}

// ----- group by check -------------------------------------------------------------------------

#[tokio::test]
async fn group_by_check_makes_one_ticket_per_provider_account_and_check() {
    let h = Halo::start().await;
    let a = finding("s3_bucket_public_access", "FAIL", "Medium", "alpha");
    let b = finding("s3_bucket_public_access", "FAIL", "High", "beta");
    let c = finding("s3_bucket_public_access", "FAIL", "Medium", "gamma");
    let other_check = finding("s3_bucket_versioning", "FAIL", "Low", "alpha");
    let mut other_account = finding("s3_bucket_public_access", "FAIL", "Medium", "delta");
    other_account["cloud"]["account"]["uid"] = json!("210987654321");
    let group_key = check_key(&a);
    assert_eq!(group_key, format!("prowler-check:aws:{ACCOUNT}:s3_bucket_public_access"));
    assert_eq!(check_key(&b), group_key);
    assert_ne!(check_key(&other_account), group_key);
    h.lookup(vec![]).await;
    h.create(
        json!({"summary": "[Prowler] HIGH - s3_bucket_public_access - 3 resources", "tickettype_id": 4, "priority_id": 2}),
        &tag_of(&group_key),
        ok_json(json!({"id": 501})),
        1,
    )
    .await;
    h.create(
        json!({"summary": "[Prowler] LOW - s3_bucket_versioning - 1 resource", "tickettype_id": 4, "priority_id": 4}),
        &tag_of(&check_key(&other_check)),
        ok_json(json!({"id": 502})),
        1,
    )
    .await;
    h.create(
        json!({"summary": "[Prowler] MEDIUM - s3_bucket_public_access - 1 resource", "tickettype_id": 4, "priority_id": 3}),
        &tag_of(&check_key(&other_account)),
        ok_json(json!({"id": 503})),
        1,
    )
    .await;
    let out = h.ok(json!({"findings": [a, b, other_check, c, other_account], "group_by": "check"})).await;
    assert_eq!(
        outcomes(&out),
        [o("created", Some(501)), o("created", Some(501)), o("created", Some(502)), o("created", Some(501)), o("created", Some(503))],
        "{out}"
    );
    assert_eq!(out["results"][3]["key"], json!(group_key));
    assert_eq!(out["results"][3]["resource_uid"], "arn:aws:s3:::gamma");
    assert_eq!(h.posted("/api/Tickets").await.len(), 3);
    let posted = h.posted("/api/Tickets").await;
    let grouped = posted.iter().find(|p| p[0]["summary"].as_str().unwrap().ends_with("3 resources")).unwrap();
    let details = grouped[0]["details"].as_str().unwrap();
    for bucket in ["alpha", "beta", "gamma"] {
        let row = format!(
            "<tr><td>arn:aws:s3:::{bucket}</td><td>{bucket}</td><td>eu-west-1</td><td>FAIL</td><td>S3 Bucket {bucket} is public.</td></tr>"
        );
        assert_eq!(details.matches(&row).count(), 1, "one row for {bucket}:\n{details}");
    }
    assert!(!details.contains("delta"), "another account's resource is not in this ticket:\n{details}");
    assert_eq!(details.matches("<tr><td>").count(), 3, "{details}");
    h.verify().await;
}

#[tokio::test]
async fn group_by_check_rerun_unchanged_and_reopen() {
    let h = Halo::start().await;
    let a = finding("s3_bucket_public_access", "FAIL", "High", "alpha");
    let b = finding("s3_bucket_public_access", "FAIL", "High", "beta");
    let v = finding("s3_bucket_versioning", "FAIL", "Low", "alpha");
    h.lookup(vec![
        tagged_ticket(601, &check_key(&a), "[Prowler] HIGH - s3_bucket_public_access - 2 resources", 2, false),
        tagged_ticket(602, &check_key(&v), "[Prowler] LOW - s3_bucket_versioning - 1 resource", 4, true),
    ])
    .await;
    h.note(602, "Prowler: FAIL again", Some(1)).await;
    let out = h.ok(json!({"findings": [a, b, v], "group_by": "check"})).await;
    assert_eq!(outcomes(&out), [o("unchanged", Some(601)), o("unchanged", Some(601)), o("reopened", Some(602))], "{out}");
    assert_eq!(h.api_requests().await, [LOOKUP, LOOKUP_CLOSED, "POST /api/Actions"]);
    h.verify().await;
}

// ----- known defects --------------------------------------------------------------------------

#[tokio::test]
async fn the_ticket_of_a_shared_key_describes_the_failing_finding() {
    let h = Halo::start().await;
    let name = "example_output_gcp.ocsf.json";
    let findings: Vec<Value> = serde_json::from_slice(&prowler_file(name)).unwrap();
    // Findings 2, 3 and 4 (PASS, PASS, FAIL) have the same check, project, region and resource.
    assert_eq!(key(&findings[2]), key(&findings[4]));
    h.lookup(vec![]).await;
    api("POST", "/api/Tickets").respond_with(ok_json(json!({"id": 300}))).expect(2).named("create").mount(&h.server).await;
    let out = h.ok(json!({"file": file_input(name)})).await;
    assert_eq!(out["results"][4]["outcome"], "created", "{out}");
    let posted = h.posted("/api/Tickets").await;
    let rdp = posted.iter().find(|p| p[0]["summary"].as_str().unwrap().contains("compute_firewall_rdp")).unwrap();
    let details = rdp[0]["details"].as_str().unwrap();
    assert!(
        details.contains("<td>FAIL - Firewall &lt;resource_id&gt; does exposes port 3389"),
        "the ticket describes the failure:\n{details}"
    );
    assert!(!details.contains("<td>PASS - "), "a ticket for a failure says PASS:\n{details}");
    h.verify().await;
}

#[tokio::test]
async fn a_dry_run_predicts_an_already_noted_pass_as_unchanged() {
    let h = Halo::start().await;
    let f = finding("s3_bucket_public_access", "PASS", "High", "logs");
    h.lookup(vec![tagged_ticket(21, &key(&f), &summary("s3_bucket_public_access", "High", "logs"), 2, false)]).await;
    // Reading the notes is no change, so a dry run may do it (or work it out otherwise).
    api("GET", "/api/Actions")
        .and(query_is(&[("ticket_id", "21"), ("excludesys", "true")]))
        .respond_with(ok_json(json!({"record_count": 1, "actions": [
            {"id": 403, "ticket_id": 21, "note": format!("Prowler: PASS ({LAST_SEEN}). The check no longer fails.")}]})))
        .expect(0..=1)
        .named("actions of ticket 21")
        .mount(&h.server)
        .await;
    let real = h.ok(json!({"findings": [f.clone()]})).await;
    assert_eq!(outcomes(&real), [o("unchanged", Some(21))], "{real}");
    let h = Halo::start().await;
    h.lookup(vec![tagged_ticket(21, &key(&f), &summary("s3_bucket_public_access", "High", "logs"), 2, false)]).await;
    api("GET", "/api/Actions")
        .and(query_is(&[("ticket_id", "21"), ("excludesys", "true")]))
        .respond_with(ok_json(json!({"record_count": 1, "actions": [
            {"id": 403, "ticket_id": 21, "note": format!("Prowler: PASS ({LAST_SEEN}). The check no longer fails.")}]})))
        .expect(0..=1)
        .named("actions of ticket 21")
        .mount(&h.server)
        .await;
    let dry = h.ok(json!({"findings": [f], "dry_run": true})).await;
    assert_eq!(outcomes(&dry), outcomes(&real), "a dry run predicts the real run: {dry}");
    h.verify().await;
}

#[tokio::test]
async fn a_long_summary_is_cut_to_250_characters_and_a_rerun_keeps_it() {
    let h = Halo::start().await;
    let bucket = "b".repeat(300);
    let f = finding("s3_bucket_public_access", "FAIL", "High", &bucket);
    let full = summary("s3_bucket_public_access", "High", &bucket);
    let cut: String = full.chars().take(249).chain(std::iter::once('…')).collect();
    assert_eq!(cut.chars().count(), 250);
    h.lookup(vec![]).await;
    h.create(json!({"summary": cut, "tickettype_id": 4, "priority_id": 2}), &tag(&f), ok_json(json!({"id": 700})), 1).await;
    let out = h.ok(json!({"findings": [f.clone()]})).await;
    assert_eq!(outcomes(&out), [o("created", Some(700))], "{out}");
    h.verify().await;

    let h = Halo::start().await;
    h.lookup(vec![tagged_ticket(700, &key(&f), &cut, 2, false)]).await;
    let out = h.ok(json!({"findings": [f]})).await;
    assert_eq!(outcomes(&out), [o("unchanged", Some(700))], "{out}");
    assert_eq!(h.api_requests().await, [LOOKUP, LOOKUP_CLOSED]);
    h.verify().await;
}
