//! `send_findings` (Prowler OCSF findings to HaloITSM tickets) driven through the plugin's REST
//! API against a mock HaloITSM, asserting the exact HaloITSM requests (method, path, query, JSON
//! body), how many of each were sent, and the action's output. Writes go a batch to a request:
//! each record a test expects is answered by `writes`.
//!
//! Every mock HaloITSM here answers any request a test did not describe with HTTP 418 and an
//! echo of the request, and fails verification when it was hit, so an extra, missing or
//! differently shaped request fails the test.

use crate::common;

use base64::Engine;
use common::*;
use icon_haloitsm::findings::{GroupBy, key_of, ocsf, tag_of};
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

mod batches;
mod create;
mod dry_run;
mod file_input;
mod group_by_check;
mod inputs;
mod known_defects;
mod lifecycle;
mod lookup;
mod rerun;
mod write_safety;
mod writes;

use writes::{Answer, Writes};

// ----- the mock HaloITSM ----------------------------------------------------------------------

/// How the free-text field of a [`Record`] must look.
#[derive(Clone)]
enum Text {
    Contains(String),
    StartsWith(String),
}

/// A record of a batch that equals `fields` once `text` is taken out, and whose `text` is a
/// string that satisfies `check`.
struct Record {
    fields: Value,
    text: &'static str,
    check: Text,
}

impl Record {
    /// Whether one record of a batch is this one.
    fn takes(&self, record: &serde_json::Map<String, Value>) -> bool {
        let mut obj = record.clone();
        let Some(Value::String(text)) = obj.remove(self.text) else { return false };
        // Every note goes with its escaped HTML.
        if self.text == "note" && obj.remove("note_html") != Some(Value::String(crate::common::note_as_html(&text))) {
            return false;
        }
        let text_ok = match &self.check {
            Text::Contains(s) => text.contains(s.as_str()),
            Text::StartsWith(s) => text.starts_with(s.as_str()),
        };
        text_ok && Value::Object(obj) == self.fields
    }
}

/// A record's answer: the saved record (HaloITSM's answer shows what was sent, and these fields).
fn saved(v: Value) -> Answer {
    Answer::Saved(v)
}

/// A record's answer: an error, for the whole request it came in.
fn failed_with(status: u16, body: Value) -> Answer {
    Answer::Error(status, body)
}

/// A mock HaloITSM (token endpoint, batched writes and catch-all already mounted), a plugin
/// server, and the connection that points one at the other.
struct Halo {
    server: MockServer,
    srv: PluginServer,
    conn: Value,
    writes: Writes,
}

impl Halo {
    /// A HaloITSM whose connection has Default Ticket Type ID 4.
    async fn start() -> Halo {
        Halo::with_connection(json!({"default_ticket_type_id": 4})).await
    }

    /// Like `start`, with exactly these fields added to the connection.
    async fn with_connection(extra: Value) -> Halo {
        let server = strict_halo().await;
        // The duplicate check after a run's creates: the newest open tagged tickets, none other.
        Mock::given(method("GET"))
            .and(path("/api/Tickets"))
            .and(query_is(&SETTLE_QUERY))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"record_count": 0, "tickets": []})))
            .named("duplicate check after the creates")
            .mount(&server)
            .await;
        // Every write, a batch to a request: each record answered as a test expects it.
        let writes = Writes::default();
        for p in ["/api/Tickets", "/api/Actions"] {
            Mock::given(method("POST"))
                .and(path(p))
                .and(|r: &Request| matches!(r.url.query(), None | Some("returnall=true")))
                .and(header("content-type", "application/json"))
                .respond_with(writes.clone())
                .named(format!("writes to {p}"))
                .mount(&server)
                .await;
        }
        let mut conn = connection(&server.uri());
        for (k, v) in extra.as_object().unwrap() {
            conn[k] = v.clone();
        }
        Halo { server, srv: PluginServer::start().await, conn, writes }
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
        api_requests_decoded(&self.server).await
    }

    /// The API requests, sorted (writes run concurrently, so their order is not fixed).
    async fn api_requests_sorted(&self) -> Vec<String> {
        let mut all = self.api_requests().await;
        all.sort();
        all
    }

    /// The JSON bodies of the `POST {p}` requests, in the order received.
    async fn posted(&self, p: &str) -> Vec<Value> {
        posted_to(&self.server, p).await
    }

    /// Check every mock's expectation now (wiremock also does on drop), listing what HaloITSM
    /// received when one fails.
    async fn verify(&self) {
        self.writes.verify();
        verify_listing(&self.server).await;
    }

    /// The bulk lookup's page `page_no` of open (or closed) tickets answers `rows` with
    /// `record_count`, exactly once. Rows are thin, as HaloITSM's are: without `hasbeenclosed`.
    async fn lookup_state(&self, closed: bool, page_no: u64, rows: Vec<Value>, record_count: u64, field: Option<i64>) {
        let page = page_no.to_string();
        let field_s = field.map(|f| f.to_string());
        let state = if closed { "closed_only" } else { "open_only" };
        let mut q = vec![
            ("search_details", "prowler-key:"),
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

    /// The check after a batch of closes: one list of those of `ids` HaloITSM counts as closed
    /// (`ticketids`, `closed_only`), answering `closed`, exactly once.
    async fn closed_list(&self, ids: &[i64], closed: &[i64]) {
        let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        let count = ids.len().to_string();
        let rows: Vec<Value> = closed.iter().map(|id| json!({"id": id, "status_id": 9})).collect();
        api("GET", "/api/Tickets")
            .and(query_is(&[("ticketids", list.as_str()), ("count", count.as_str()), ("closed_only", "true")]))
            .respond_with(ok_json(json!({"record_count": rows.len(), "tickets": rows})))
            .expect(1)
            .named(format!("closed among {list}"))
            .mount(&self.server)
            .await;
    }

    /// A record of a batch, exactly `record`, at `path` (`/api/Tickets` or `/api/Actions`);
    /// answered `answer`, exactly once.
    async fn record(&self, path: &str, record: Value, answer: Answer) {
        let record = if path == "/api/Actions" { crate::common::with_note_html(record) } else { record };
        let name = format!("{path} record {record}");
        self.writes.expect(path, name, move |r| Value::Object(r.clone()) == record, answer, 1);
    }

    /// A new ticket's record in a `POST /api/Tickets` batch: `fields` plus details that carry
    /// `tag`; answered `answer` (a saved ticket shows the details sent), exactly `times` times.
    async fn create(&self, fields: Value, tag: &str, answer: Answer, times: u64) {
        let summary = fields["summary"].as_str().unwrap_or_default().to_string();
        let record = Record { fields, text: "details", check: Text::Contains(tag.to_string()) };
        self.writes.expect("/api/Tickets", format!("create {summary}"), move |r| record.takes(r), answer, times);
    }

    /// A private note's record in a `POST /api/Actions` batch, on `ticket_id`, starting with
    /// `note_start`, moving the ticket to `new_status` when given; answered with the saved
    /// action, exactly once.
    async fn note(&self, ticket_id: i64, note_start: &str, new_status: Option<i64>) {
        let mut fields = json!({"ticket_id": ticket_id, "outcome": "Private Note", "hiddenfromuser": true});
        if let Some(s) = new_status {
            fields["new_status"] = json!(s);
        }
        let record = Record { fields, text: "note", check: Text::StartsWith(note_start.to_string()) };
        let answer = saved(json!({"id": 9000 + ticket_id, "ticket_id": ticket_id}));
        self.writes.expect("/api/Actions", format!("note on ticket {ticket_id}"), move |r| record.takes(r), answer, 1);
    }

    /// `GET /api/Actions?ticket_id=N&excludesys=true` answers these actions, exactly once.
    async fn actions_of(&self, ticket_id: i64, actions: Value) {
        let id = ticket_id.to_string();
        api("GET", "/api/Actions")
            .and(query_is(&[("ticket_id", id.as_str()), ("count", "10000"), ("excludesys", "true")]))
            .respond_with(ok_json(json!({"record_count": actions.as_array().map_or(0, Vec::len), "actions": actions})))
            .expect(1)
            .named(format!("actions of ticket {ticket_id}"))
            .mount(&self.server)
            .await;
    }

    /// The look for new tickets after an uncertain create (the newest open tagged tickets)
    /// answers these tickets, exactly once; the duplicate check after it finds none.
    async fn newest(&self, rows: Vec<Value>) {
        api("GET", "/api/Tickets")
            .and(query_is(&SETTLE_QUERY))
            .respond_with(ok_json(json!({"record_count": rows.len(), "tickets": rows})))
            .up_to_n_times(1)
            .with_priority(1)
            .expect(1)
            .named("the newest tagged tickets, after an uncertain create")
            .mount(&self.server)
            .await;
    }
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

/// A read that is not the duplicate check after the creates.
fn is_lookup(request: &str) -> bool {
    request.starts_with("GET") && request != SETTLE
}

/// The duplicate check after a run's creates: its newest open tagged tickets, one page.
const SETTLE_QUERY: [(&str, &str); 7] = [
    ("search_details", "prowler-key:"),
    ("order", "id"),
    ("orderdesc", "true"),
    ("open_only", "true"),
    ("pageinate", "true"),
    ("page_size", "100"),
    ("page_no", "1"),
];
const SETTLE: &str =
    "GET /api/Tickets?search_details=prowler-key:&order=id&orderdesc=true&open_only=true&pageinate=true&page_size=100&page_no=1";
/// A batch of writes.
const POST_TICKETS: &str = "POST /api/Tickets?returnall=true";
const POST_ACTIONS: &str = "POST /api/Actions?returnall=true";

const LOOKUP: &str = "GET /api/Tickets?search_details=prowler-key:&order=id&open_only=true&pageinate=true&page_size=100&page_no=1";
const LOOKUP_CLOSED: &str = "GET /api/Tickets?search_details=prowler-key:&order=id&closed_only=true&pageinate=true&page_size=100&page_no=1";

fn prowler_file(name: &str) -> Vec<u8> {
    std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/prowler").join(name)).unwrap()
}

fn file_input(name: &str) -> Value {
    json!({"filename": name, "content": base64::engine::general_purpose::STANDARD.encode(prowler_file(name))})
}
