//! Drives the HaloITSM simulator over real HTTP on 127.0.0.1, the way the plugin's client will.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use halo_sim::{ChangeKind, Faults, SimConfig, SimHandle, start};
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

async fn sim_with(config: SimConfig) -> SimHandle {
    start(config, loopback()).await.expect("bind 127.0.0.1")
}

async fn sim() -> SimHandle {
    sim_with(SimConfig::default()).await
}

async fn token_response(h: &SimHandle, form: &[(&str, &str)]) -> Response {
    Client::new().post(format!("{}/token", h.auth_url())).form(form).send().await.expect("token request")
}

async fn token(h: &SimHandle) -> String {
    let r = token_response(
        h,
        &[("grant_type", "client_credentials"), ("client_id", "sim-client"), ("client_secret", "sim-secret"), ("scope", "all")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.expect("token json");
    v["access_token"].as_str().expect("access_token").to_string()
}

/// A client bound to one simulator and token.
struct Api {
    http: Client,
    base: String,
    token: String,
}

impl Api {
    async fn new(h: &SimHandle) -> Api {
        Api { http: Client::new(), base: h.api_url(), token: token(h).await }
    }

    async fn get(&self, path: &str) -> Response {
        self.http.get(format!("{}{path}", self.base)).bearer_auth(&self.token).send().await.expect("GET")
    }

    async fn post(&self, path: &str, body: &Value) -> Response {
        self.http.post(format!("{}{path}", self.base)).bearer_auth(&self.token).json(body).send().await.expect("POST")
    }

    async fn delete(&self, path: &str) -> Response {
        self.http.delete(format!("{}{path}", self.base)).bearer_auth(&self.token).send().await.expect("DELETE")
    }

    async fn get_json(&self, path: &str) -> Value {
        let r = self.get(path).await;
        assert_eq!(r.status(), StatusCode::OK, "GET {path}");
        r.json().await.expect("json")
    }

    async fn post_json(&self, path: &str, body: &Value) -> Value {
        let r = self.post(path, body).await;
        assert_eq!(r.status(), StatusCode::OK, "POST {path}");
        r.json().await.expect("json")
    }
}

async fn json_of(r: Response) -> (StatusCode, Value) {
    let status = r.status();
    let ct = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    assert!(ct.starts_with("application/json"), "{status}: content-type {ct}");
    (status, r.json().await.expect("json body"))
}

fn ids(v: &Value) -> Vec<i64> {
    v["tickets"].as_array().map(|a| a.iter().filter_map(|t| t["id"].as_i64()).collect()).unwrap_or_default()
}

fn b64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let mut n = 0u32;
        for (i, &b) in chunk.iter().enumerate() {
            n |= u32::from(b) << (16 - 8 * i);
        }
        for i in 0..4 {
            out.push(if i <= chunk.len() { char::from(A[(n >> (18 - 6 * i) & 63) as usize]) } else { '=' });
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Token endpoint

#[tokio::test]
async fn token_success_and_failures() {
    let h = sim().await;
    let r = token_response(&h, &[("grant_type", "client_credentials"), ("client_id", "sim-client"), ("client_secret", "sim-secret")]).await;
    let (status, v) = json_of(r).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["expires_in"], 3600);
    assert_eq!(v["scope"], "all", "scope defaults to all");
    assert!(v["access_token"].as_str().is_some_and(|t| t.len() >= 32));

    // Client credentials in an HTTP Basic header (what OAuth libraries send by default).
    let r = Client::new()
        .post(format!("{}/token", h.auth_url()))
        .basic_auth("sim-client", Some("sim-secret"))
        .form(&[("grant_type", "client_credentials"), ("scope", "read:tickets edit:tickets")])
        .send()
        .await
        .expect("send");
    let (status, v) = json_of(r).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["scope"], "read:tickets edit:tickets");

    type Form = Vec<(&'static str, &'static str)>;
    let cases: Vec<(Form, StatusCode, &str)> = vec![
        (
            vec![("grant_type", "client_credentials"), ("client_id", "sim-client"), ("client_secret", "wrong")],
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            vec![("grant_type", "client_credentials"), ("client_id", "other"), ("client_secret", "sim-secret")],
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            vec![("grant_type", "password"), ("client_id", "sim-client"), ("client_secret", "sim-secret")],
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        ),
        (vec![("client_id", "sim-client"), ("client_secret", "sim-secret")], StatusCode::BAD_REQUEST, "invalid_request"),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", "sim-client"),
                ("client_secret", "sim-secret"),
                ("scope", "everything"),
            ],
            StatusCode::BAD_REQUEST,
            "invalid_scope",
        ),
    ];
    for (form, want_status, want_error) in cases {
        let (status, v) = json_of(token_response(&h, &form).await).await;
        assert_eq!(status, want_status, "{form:?}");
        assert_eq!(v["error"], want_error, "{form:?}");
    }

    // A JSON body is not a form.
    let r = Client::new()
        .post(format!("{}/token", h.auth_url()))
        .json(&json!({"grant_type": "client_credentials", "client_id": "sim-client", "client_secret": "sim-secret"}))
        .send()
        .await
        .expect("send");
    let (status, v) = json_of(r).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"], "invalid_request");

    // GET on the token endpoint: JSON 405, not an empty or HTML body.
    let r = Client::new().get(format!("{}/token", h.auth_url())).send().await.expect("send");
    assert_eq!(json_of(r).await.0, StatusCode::METHOD_NOT_ALLOWED);

    // The 405 never reached the token handler, so it is not a token request.
    assert_eq!(h.sim.stats().token_requests, 8);
    h.shutdown().await;
}

#[tokio::test]
async fn tenant_must_be_in_the_token_url() {
    let h = sim_with(SimConfig { tenant: Some("acme".into()), ..SimConfig::default() }).await;
    let form = [("grant_type", "client_credentials"), ("client_id", "sim-client"), ("client_secret", "sim-secret")];
    for url in [format!("{}/token", h.auth_url()), format!("{}/token?tenant=other", h.auth_url())] {
        let r = Client::new().post(url).form(&form).send().await.expect("send");
        let (status, v) = json_of(r).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(v, json!({"error": "invalid_request", "error_description": "Unknown tenant"}));
    }
    let r = Client::new().post(format!("{}/token?tenant=acme", h.auth_url())).form(&form).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    h.shutdown().await;
}

#[tokio::test]
async fn api_rejects_missing_unknown_revoked_and_expired_tokens() {
    let h = sim_with(SimConfig { token_lifetime_secs: 1, ..SimConfig::default() }).await;
    let url = format!("{}/Tickets/101", h.api_url());
    let r = Client::new().get(&url).send().await.expect("send");
    assert!(r.headers().contains_key("www-authenticate"));
    assert_eq!(json_of(r).await, (StatusCode::UNAUTHORIZED, json!({"error": "invalid_token"})));
    let r = Client::new().get(&url).bearer_auth("made-up").send().await.expect("send");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let api = Api::new(&h).await;
    assert_eq!(api.get("/Tickets/101").await.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, v) = json_of(api.get("/Tickets/101").await).await;
    assert_eq!((status, v), (StatusCode::UNAUTHORIZED, json!({"error": "invalid_token"})), "expired");

    // Revocation, through the method and through the control route.
    let h2 = sim().await;
    let api = Api::new(&h2).await;
    assert_eq!(api.get("/Status").await.status(), StatusCode::OK);
    h2.sim.revoke_tokens();
    assert_eq!(api.get("/Status").await.status(), StatusCode::UNAUTHORIZED);
    let api = Api::new(&h2).await;
    let r = Client::new().post(format!("{}/_sim/revoke_tokens", h2.base_url())).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(api.get("/Status").await.status(), StatusCode::UNAUTHORIZED);
    // Unauthenticated requests are counted too.
    assert_eq!(h2.sim.stats().api_requests, 3);
    h.shutdown().await;
    h2.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Tickets

#[tokio::test]
async fn ticket_create_get_update_upsert_delete() {
    let h = sim().await;
    let api = Api::new(&h).await;
    let created = api
        .post_json(
            "/Tickets",
            &json!([{
                "summary": "Impossible travel sign-in for jordan.ellis",
                "details": "Sign-ins from London and Singapore 20 minutes apart.",
                "tickettype_id": 4, "client_id": 1, "user_id": 1, "team": "Security Operations",
                "priority_id": 2, "category_1": "Security>Suspicious Sign-in",
                "customfields": [{"id": 102, "value": "finding-abc"}]
            }]),
        )
        .await;
    let id = created["id"].as_i64().expect("id");
    assert!(id >= 1001, "new ids start above the seed: {id}");
    assert_eq!(created["status_id"], 1);
    assert_eq!(created["status_name"], "New");
    assert_eq!(created["agent_id"], 0);
    assert_eq!(created["team_id"], 2);
    assert_eq!(created["team"], "Security Operations");
    assert_eq!(created["user_name"], "Jordan Ellis");
    assert_eq!(created["site_name"], "London HQ");
    assert_eq!(created["priority_name"], "High");
    assert_eq!(created["categoryid_1"], 4);
    assert_eq!(created["dateclosed"], "1900-01-01T00:00:00");
    assert_eq!(created["hasbeenclosed"], false);
    let dc = created["datecreated"].as_str().expect("datecreated");
    assert_eq!(dc.len(), 19, "no zone, no fraction: {dc}");
    assert_eq!(created["lastactiondate"], created["datecreated"]);
    let cf = created["customfields"].as_array().and_then(|a| a.iter().find(|c| c["id"] == 102)).cloned().expect("custom field 102");
    assert_eq!(cf["name"], "CFFindingKey");
    assert_eq!(cf["value"], "finding-abc");
    assert_eq!(cf["display"], "finding-abc");

    let got = api.get_json(&format!("/Tickets/{id}?includedetails=true")).await;
    assert_eq!(got, created);
    let logged = h.sim.actions_for(id);
    assert_eq!(logged.len(), 1);
    assert_eq!(logged[0]["outcome"], "Ticket logged");

    // Partial update: only the keys sent change.
    tokio::time::sleep(Duration::from_millis(1050)).await;
    let updated = api.post_json("/Tickets", &json!([{"id": id, "agent_id": 3, "status_id": 2}])).await;
    assert_eq!(updated["id"], id);
    assert_eq!(updated["agent_name"], "Ben Carter");
    assert_eq!(updated["status_name"], "In Progress");
    for unchanged in ["summary", "details", "team", "priority_id", "user_id", "customfields", "datecreated"] {
        assert_eq!(updated[unchanged], created[unchanged], "{unchanged} untouched");
    }
    assert_ne!(updated["lastactiondate"], created["lastactiondate"]);
    assert_eq!(updated["last_update"], updated["lastactiondate"]);
    let history = h.sim.actions_for(id);
    assert_eq!(history.len(), 2, "status/agent change recorded");
    assert_eq!(history[1]["old_status"], 1);
    assert_eq!(history[1]["new_status"], 2);
    assert_eq!(history[1]["new_agent"], 3);

    // Halo's upsert: an unknown id is not an error, it creates a NEW ticket with a new id.
    let upserted = api.post_json("/Tickets", &json!([{"id": 5555, "summary": "Stale id", "tickettype_id": 1}])).await;
    let new_id = upserted["id"].as_i64().expect("id");
    assert_ne!(new_id, 5555);
    assert_eq!(new_id, id + 1);
    assert!(h.sim.ticket(5555).is_none());
    // ...and an unknown id without the create fields fails like a create.
    let (status, v) = json_of(api.post("/Tickets", &json!([{"id": 5556, "status_id": 2}])).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(v, json!({"[0].summary": "Summary is required"}));

    let r = api.delete(&format!("/Tickets/{id}?reason=duplicate")).await;
    assert_eq!(json_of(r).await, (StatusCode::OK, json!({"id": id})));
    let (status, v) = json_of(api.get(&format!("/Tickets/{id}")).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(v["ClassName"].as_str().is_some_and(|c| c.contains("NotFound")));
    assert_eq!(api.delete(&format!("/Tickets/{id}")).await.status(), StatusCode::NOT_FOUND);
    let (status, v) = json_of(api.get("/Tickets/abc").await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(v["Message"].is_string());

    let kinds: Vec<ChangeKind> = h.sim.events().iter().map(|e| e.kind).collect();
    assert_eq!(kinds, vec![ChangeKind::Created, ChangeKind::StatusChanged, ChangeKind::Created, ChangeKind::Deleted]);
    h.shutdown().await;
}

#[tokio::test]
async fn post_returns_one_last_or_all_and_validates() {
    let h = sim().await;
    let api = Api::new(&h).await;
    let two = json!([
        {"summary": "First", "tickettype_id": 1},
        {"summary": "Second", "tickettype_id": 1}
    ]);
    let last = api.post_json("/Tickets", &two).await;
    assert!(last.is_object());
    assert_eq!(last["summary"], "Second");
    let all = api.post_json("/Tickets?returnall=true", &two).await;
    let all = all.as_array().expect("array with returnall");
    assert_eq!(all.len(), 2);
    assert_eq!(all[0]["summary"], "First");
    assert!(all[0]["id"].as_i64() < all[1]["id"].as_i64());
    let bare = api.post_json("/Tickets", &json!({"summary": "Bare object", "tickettype_id": 3})).await;
    assert_eq!(bare["tickettype_name"], "Service Request");

    let (status, v) = json_of(api.post("/Tickets", &json!([{"tickettype_id": 1}])).await).await;
    assert_eq!((status, v), (StatusCode::BAD_REQUEST, json!({"[0].summary": "Summary is required"})));

    // A missing ticket type is rejected in plain text.
    let r = api.post("/Tickets", &json!([{"summary": "No type"}])).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.headers()["content-type"].to_str().is_ok_and(|c| c.starts_with("text/plain")));
    assert_eq!(r.text().await.expect("text"), "Ticket type is required");

    for (field, value) in
        [("status_id", json!(7)), ("tickettype_id", json!(99)), ("priority_id", json!(9)), ("agent_id", json!(6)), ("team_id", json!(9))]
    {
        let mut body = json!({"summary": "x", "tickettype_id": 1});
        body[field] = value.clone();
        let (status, v) = json_of(api.post("/Tickets", &json!([body])).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{field}");
        assert_eq!(v, json!({"ClassName": "System.Exception", "Message": format!("Invalid {field} {value}")}));
    }
    let (status, v) = json_of(api.post("/Tickets", &json!([{"id": 101, "customfields": [{"id": 999, "value": "x"}]}])).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(v, json!({"[0].customfields[0].id": "Unknown custom field 999"}));

    // Invalid JSON, wrong content type.
    let r = api
        .http
        .post(format!("{}/Tickets", api.base))
        .bearer_auth(&api.token)
        .header("content-type", "application/json")
        .body("[{\"summary\": ")
        .send()
        .await
        .expect("send");
    assert_eq!(json_of(r).await.0, StatusCode::BAD_REQUEST);
    let r = api
        .http
        .post(format!("{}/Tickets", api.base))
        .bearer_auth(&api.token)
        .header("content-type", "text/plain")
        .body("[]")
        .send()
        .await
        .expect("send");
    assert_eq!(json_of(r).await.0, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // 3 + 2 + 1 created; the rejected requests created nothing.
    assert_eq!(h.sim.tickets().len(), 7 + 5);
    h.shutdown().await;
}

#[tokio::test]
async fn close_and_reopen_through_ticket_updates() {
    let h = sim().await;
    let api = Api::new(&h).await;
    let closed = api.post_json("/Tickets", &json!({"id": 103, "status_id": 9})).await;
    assert_eq!(closed["hasbeenclosed"], true);
    assert_ne!(closed["dateclosed"], "1900-01-01T00:00:00");
    let reopened = api.post_json("/Tickets", &json!({"id": 103, "status_id": 2})).await;
    assert_eq!(reopened["hasbeenclosed"], false);
    assert_eq!(reopened["dateclosed"], "1900-01-01T00:00:00");
    h.shutdown().await;
}

#[tokio::test]
async fn list_paging_filters_dates_order_and_custom_fields() {
    let h = sim().await;
    let api = Api::new(&h).await;
    // A plain list leaves out ticket 104, closed ten days ago (docs/halo-api.md#Q1).
    let all = api.get_json("/Tickets").await;
    assert_eq!(all["record_count"], 6);
    assert_eq!(ids(&all), vec![101, 102, 103, 105, 106, 107]);
    assert_eq!(ids(&api.get_json("/Tickets?includeclosed=0,1").await), vec![101, 102, 103, 104, 105, 106, 107]);
    // Rows are thin (L3).
    for k in ["customfields", "hasbeenclosed", "team_id", "status_name", "datecreated"] {
        assert!(all["tickets"][0].get(k).is_none(), "{k} in a list row");
    }

    let page = api.get_json("/Tickets?pageinate=true&page_size=3&page_no=2").await;
    assert_eq!(page["record_count"], 6);
    assert_eq!(ids(&page), vec![105, 106, 107]);
    let clamped = api.get_json("/Tickets?pageinate=true&page_size=500").await;
    assert_eq!(clamped["page_size"], 100);
    assert_eq!(ids(&api.get_json("/Tickets?count=2").await), vec![101, 102]);

    assert_eq!(ids(&api.get_json("/Tickets?search=emotet").await), vec![102]);
    assert_eq!(ids(&api.get_json("/Tickets?search_summary=phishing").await), vec![101]);
    assert_eq!(ids(&api.get_json("/Tickets?search_summary=phishing&closed_only=true").await), vec![104]);
    assert_eq!(ids(&api.get_json("/Tickets?agent_id=0").await), vec![103]);
    assert_eq!(ids(&api.get_json("/Tickets?status=1&status=2").await), vec![101, 102, 103]);
    assert_eq!(ids(&api.get_json("/Tickets?team=3,4").await), vec![105, 106]);
    assert_eq!(ids(&api.get_json("/Tickets?requesttype_id=5").await), vec![106]);
    assert_eq!(ids(&api.get_json("/Tickets?priority=1").await), vec![102]);
    assert_eq!(ids(&api.get_json("/Tickets?user_id=3&open_only=true").await), vec![103, 106]);
    assert_eq!(ids(&api.get_json("/Tickets?closed_only=true").await), vec![104, 107]);
    assert_eq!(ids(&api.get_json("/Tickets?site_id=2").await), vec![103, 106]);
    assert_eq!(ids(&api.get_json("/Tickets?not_a_filter=1").await).len(), 6);

    // Something changes now; a lastactiondate window starting a minute ago finds only it.
    api.post_json("/Actions", &json!([{"ticket_id": 105, "outcome": "Private Note", "note": "Owner confirmed."}])).await;
    let since = (chrono::Utc::now() - chrono::Duration::minutes(1)).format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let recent = api.get_json(&format!("/Tickets?datesearch=lastactiondate&startdate={since}")).await;
    assert_eq!(ids(&recent), vec![105]);
    let old = api.get_json("/Tickets?datesearch=dateclosed&startdate=2000-01-01T00:00:00&enddate=2999-12-31&closed_only=true").await;
    assert_eq!(ids(&old), vec![104, 107]);
    let (status, _) = json_of(api.get("/Tickets?datesearch=lastactiondate&startdate=soon").await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let newest_first = api.get_json("/Tickets?order=datecreated&orderdesc=true&count=3").await;
    assert_eq!(ids(&newest_first), vec![103, 102, 107]);
    let by_summary = api.get_json("/Tickets?order=summary").await;
    assert_eq!(ids(&by_summary).first(), Some(&107), "Account locked... sorts first");

    let only_ids = api.get_json("/Tickets?ticketidonly=true&closed_only=true").await;
    assert_eq!(only_ids["tickets"], json!([{"id": 104}, {"id": 107}]));

    let with_cf = api.get_json("/Tickets?include_custom_fields=101,103&search_summary=emotet").await;
    let cfs = with_cf["tickets"][0]["customfields"].as_array().cloned().unwrap_or_default();
    let cf_ids: Vec<i64> = cfs.iter().filter_map(|c| c["id"].as_i64()).collect();
    assert_eq!(cf_ids, vec![101, 103]);
    assert_eq!(cfs[0]["value"], "SEC-2026-0142");
    h.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Actions

#[tokio::test]
async fn actions_close_tickets_and_validate() {
    let h = sim().await;
    let api = Api::new(&h).await;
    let saved = api
        .post_json(
            "/Actions",
            &json!([{
                "ticket_id": 101, "outcome": "Resolved", "note": "Sender blocked; 14 messages purged.",
                "hiddenfromuser": false, "new_status": 9, "new_agent": 4, "timetaken": 0.5
            }]),
        )
        .await;
    assert!(saved["id"].as_i64().is_some());
    assert_eq!(saved["ticket_id"], 101);
    assert_eq!(saved["who"], "API Agent");
    assert_eq!((saved["who_agentid"].clone(), saved["actionby_agent_id"].clone()), (json!(1), json!(1)));
    assert_eq!(saved["actionby_application_id"], "InsightConnect", "made through the API (docs/halo-api.md#A7)");
    assert_eq!(saved["old_status"], 2);
    assert_eq!(saved["new_status"], 9);
    assert_eq!(saved["old_agent"], 3);
    assert_eq!(saved["new_agent"], 4);
    assert_eq!(saved["note_html"], "Sender blocked; 14 messages purged.");
    assert_eq!(saved["datetime"].as_str().map(str::len), Some(19));
    let t = api.get_json("/Tickets/101").await;
    assert_eq!(t["status_id"], 9);
    assert_eq!(t["hasbeenclosed"], true);
    assert_eq!(t["agent_name"], "Priya Shah");
    assert_eq!(t["lastactiondate"], saved["datetime"]);
    assert_eq!(t["dateclosed"], saved["datetime"]);

    for (body, want) in [
        (json!([{"ticket_id": 101}]), json!({"[0].outcome": "Outcome is required"})),
        (json!([{"outcome": "Note"}]), json!({"[0].ticket_id": "Ticket ID is required"})),
        (json!([{"ticket_id": 999, "outcome": "Note"}]), json!({"ClassName": "System.Exception", "Message": "Ticket 999 not found"})),
        (json!([{"ticket_id": 101, "outcome": "Note"}, {"ticket_id": 101, "outcome": ""}]), json!({"[1].outcome": "Outcome is required"})),
    ] {
        assert_eq!(json_of(api.post("/Actions", &body).await).await, (StatusCode::BAD_REQUEST, want));
    }

    let two = api
        .post_json(
            "/Actions?returnall=true",
            &json!([
                {"ticket_id": 102, "outcome": "Private Note", "note_html": "<p>IOC: <b>45.9.148.0/24</b></p>", "hiddenfromuser": true},
                {"ticket_id": 102, "outcome": "Email User", "note": "Your laptop is being reimaged.", "sendemail": true, "emailto": "sam.patel@acmefinancial.example"}
            ]),
        )
        .await;
    assert_eq!(two.as_array().map(Vec::len), Some(2));
    assert_eq!(two[0]["note"], "IOC: 45.9.148.0/24");

    let list = api.get_json("/Actions?ticket_id=102").await;
    assert_eq!(list["record_count"], 4);
    let a = list["actions"].as_array().cloned().unwrap_or_default();
    assert!(a.windows(2).all(|w| w[0]["id"].as_i64() < w[1]["id"].as_i64()), "oldest first");
    assert!(a.iter().all(|x| x.get("note_html").is_none()));
    assert_eq!(a[0]["who"], "System");
    let public = api.get_json("/Actions?ticket_id=102&excludeprivate=true&excludesys=true&includehtmlnote=true").await;
    assert_eq!(public["record_count"], 1);
    assert_eq!(public["actions"][0]["outcome"], "Email User");
    assert!(public["actions"][0]["note_html"].is_string());
    let latest = api.get_json("/Actions?ticket_id=102&orderdesc=true&count=1").await;
    assert_eq!(latest["actions"][0]["outcome"], "Email User");
    assert_eq!(json_of(api.get("/Actions").await).await.0, StatusCode::BAD_REQUEST);

    let action_id = two[1]["id"].as_i64().expect("id");
    let one = api.get_json(&format!("/Actions/{action_id}?ticket_id=102")).await;
    assert_eq!(one["emailto"], "sam.patel@acmefinancial.example");
    assert_eq!(api.get(&format!("/Actions/{action_id}?ticket_id=101")).await.status(), StatusCode::NOT_FOUND);
    let r = api.delete(&format!("/Actions/{action_id}?ticket_id=102")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(api.get(&format!("/Actions/{action_id}?ticket_id=102")).await.status(), StatusCode::NOT_FOUND);
    h.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Lookups

#[tokio::test]
async fn lookup_shapes() {
    let h = sim().await;
    let api = Api::new(&h).await;
    let statuses = api.get_json("/Status").await;
    let names: Vec<&str> = statuses.as_array().map(|a| a.iter().filter_map(|s| s["name"].as_str()).collect()).unwrap_or_default();
    assert_eq!(names, ["New", "In Progress", "Pending", "On Hold", "Waiting on Client", "Waiting on Third Party", "Resolved", "Closed"]);
    // `type` does not say which statuses close tickets (docs/halo-api.md#S3); `excludeclosed` does.
    assert!(statuses.as_array().into_iter().flatten().all(|s| s["type"] == 0));
    for s in statuses.as_array().into_iter().flatten() {
        for k in ["id", "name", "shortname", "type", "sequence", "colour"] {
            assert!(s.get(k).is_some(), "status {k}");
        }
    }
    let open = api.get_json("/Status?excludeclosed=true&tickettype_id=1").await;
    let open: Vec<i64> = open.as_array().into_iter().flatten().filter_map(|s| s["id"].as_i64()).collect();
    assert_eq!(open, vec![1, 2, 3, 4, 5, 6, 8], "only Closed (9) closes tickets on a stock tenant (S4)");

    let p = api.get_json("/Priority").await;
    assert_eq!(p[0]["priorityid"], 1);
    assert_eq!(p[0]["name"], "Critical");
    assert!(p[0]["id"].as_str().is_some_and(|g| g.len() == 36 && g.matches('-').count() == 4));
    assert_eq!(p[0]["slaid"], 1);

    let types = api.get_json("/TicketType").await;
    assert_eq!(types[3], json!({"id": 4, "name": "Security Incident"}));

    let agents = api.get_json("/Agent?includedisabled=true").await;
    assert_eq!(api.get_json("/Agent").await.as_array().map(Vec::len), Some(5), "disabled agents only when asked for (G3)");
    let disabled: Vec<i64> = agents
        .as_array()
        .map(|a| a.iter().filter(|x| x["isdisabled"] == true).filter_map(|x| x["id"].as_i64()).collect())
        .unwrap_or_default();
    assert_eq!(disabled, vec![6]);
    assert_eq!(agents[2]["team"], "Security Operations");
    let me = api.get_json("/Agent/me").await;
    assert_eq!((me["id"].clone(), me["name"].clone()), (json!(1), json!("API Agent")));
    assert_eq!(api.get_json("/Agent/3").await["email"], "ben.carter@halo.example");
    assert_eq!(api.get("/Agent/77").await.status(), StatusCode::NOT_FOUND);

    let teams = api.get_json("/Team").await;
    assert_eq!(teams[1], json!({"id": 2, "name": "Security Operations", "inactive": false}));
    assert_eq!(teams.as_array().map(Vec::len), Some(4), "inactive teams only when asked for (G6)");
    assert_eq!(api.get_json("/Team?includedisabled=true").await[4], json!({"id": 5, "name": "Legacy Desk", "inactive": true}));

    let users = api.get_json("/Users").await;
    assert_eq!(users["record_count"], 3);
    assert_eq!(users["users"][2]["emailaddress"], "riley.chen@northwind.example");
    assert_eq!(api.get_json("/Users/1").await["client_id"], 1);
    assert_eq!(json_of(api.get("/Users/42").await).await.0, StatusCode::NOT_FOUND);
    let clients = api.get_json("/Client").await;
    assert_eq!(clients["record_count"], 2);
    assert_eq!(clients["clients"][1]["name"], "Northwind Logistics");
    let sites = api.get_json("/Site").await;
    assert_eq!(sites["sites"][0], json!({"id": 1, "name": "London HQ", "client_id": 1, "client_name": "Acme Financial Services"}));

    // Unknown routes and methods answer JSON.
    assert_eq!(json_of(api.get("/Nope").await).await.0, StatusCode::NOT_FOUND);
    assert_eq!(json_of(api.delete("/Status").await).await.0, StatusCode::METHOD_NOT_ALLOWED);
    let r = Client::new().get(format!("{}/nowhere", h.base_url())).send().await.expect("send");
    assert_eq!(json_of(r).await.0, StatusCode::NOT_FOUND);
    h.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Attachments

#[tokio::test]
async fn attachments_upload_list_download() {
    let h = sim().await;
    let api = Api::new(&h).await;
    let content = b"From: payroll@payro11-update.example\r\nSubject: Payroll update required\r\n";
    let saved = api
        .post_json(
            "/Attachment",
            &json!([{"ticket_id": 101, "filename": "original-message.eml", "data_base64": b64(content), "note": "As reported"}]),
        )
        .await;
    let id = saved["id"].as_i64().expect("id");
    assert_eq!(saved["ticket_id"], 101);
    assert_eq!(saved["filename"], "original-message.eml");
    assert_eq!(saved["filesize"], content.len());
    assert!(saved.get("data_base64").is_none());

    let list = api.get_json("/Attachment?ticket_id=101").await;
    assert_eq!(list["record_count"], 1);
    assert_eq!(list["attachments"][0]["id"], id);
    assert_eq!(api.get_json("/Attachment?ticket_id=102").await["record_count"], 1, "seeded");

    let r = api.get(&format!("/Attachment/{id}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/octet-stream");
    assert_eq!(r.bytes().await.expect("bytes").as_ref(), content);
    assert_eq!(json_of(api.get("/Attachment/999").await).await.0, StatusCode::NOT_FOUND);

    let (status, v) =
        json_of(api.post("/Attachment", &json!([{"ticket_id": 101, "filename": "x", "data_base64": "@@not base64@@"}])).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(v.get("[0].data_base64").is_some());
    let (status, v) = json_of(api.post("/Attachment", &json!([{"ticket_id": 4242, "filename": "x", "data_base64": "eA=="}])).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(v["Message"], "Ticket 4242 not found");
    h.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Faults and stats

#[tokio::test]
async fn every_nth_request_is_rate_limited_with_or_without_retry_after() {
    let h = sim().await;
    let api = Api::new(&h).await;
    h.sim.set_faults(Faults { rate_limit_every: 3, retry_after_secs: Some(7), ..Faults::default() });
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let r = api.get("/Tickets/101").await;
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(r.headers()["retry-after"], "7");
            assert!(json_of(r).await.1.is_object());
            statuses.push(429);
        } else {
            statuses.push(r.status().as_u16());
        }
    }
    assert_eq!(statuses, vec![200, 200, 429, 200, 200, 429]);

    // Set through the control route this time, without Retry-After.
    let r = Client::new().post(format!("{}/_sim/faults", h.base_url())).json(&json!({"rate_limit_every": 2})).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(h.sim.faults().rate_limit_every, 2);
    assert_eq!(h.sim.faults().retry_after_secs, None);
    assert_eq!(api.get("/Tickets/101").await.status(), StatusCode::OK);
    let r = api.get("/Tickets/101").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(!r.headers().contains_key("retry-after"));

    let stats = h.sim.stats();
    assert_eq!(stats.injected_429, 3);
    assert_eq!(stats.api_requests, 8);
    assert_eq!(stats.by_route.get("GET /api/Tickets/{id}"), Some(&8));
    h.shutdown().await;
}

#[tokio::test]
async fn server_errors_before_and_after_the_write() {
    let h = sim().await;
    let api = Api::new(&h).await;
    let body = json!([{"summary": "Fault probe", "tickettype_id": 1}]);

    h.sim.set_faults(Faults { server_error_every: 1, ..Faults::default() });
    let (status, v) = json_of(api.post("/Tickets", &body).await).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(v, json!({"ClassName": "System.Exception", "Message": "Simulated server error"}));
    assert_eq!(h.sim.tickets().len(), 7, "500 before apply: nothing written");

    h.sim.set_faults(Faults { server_error_every: 1, server_error_after_apply: true, ..Faults::default() });
    let r = api.post("/Tickets", &body).await;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let tickets = h.sim.tickets();
    assert_eq!(tickets.len(), 8, "500 after apply: the ticket exists anyway");
    assert_eq!(tickets[7]["summary"], "Fault probe");
    let r = api.delete("/Tickets/1001").await;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(h.sim.ticket(1001).is_none(), "delete applied despite the 500");
    // Reads are never "applied": a GET just fails.
    assert_eq!(api.get("/Tickets/101").await.status(), StatusCode::INTERNAL_SERVER_ERROR);

    h.sim.set_faults(Faults::default());
    assert_eq!(api.get("/Tickets/101").await.status(), StatusCode::OK);
    let stats = h.sim.stats();
    assert_eq!(stats.injected_500, 4);
    assert_eq!(stats.by_route.get("POST /api/Tickets"), Some(&2));
    assert_eq!(stats.by_route.get("DELETE /api/Tickets/{id}"), Some(&1));
    assert_eq!(stats.by_route.get("POST /auth/token"), Some(&1));
    assert_eq!(stats.token_requests, 1);

    // Stats over the control routes; reset.
    let v: Value = Client::new().get(format!("{}/_sim/stats", h.base_url())).send().await.expect("send").json().await.expect("json");
    assert_eq!(v["injected_500"], 4);
    let r = Client::new().post(format!("{}/_sim/stats/reset", h.base_url())).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(h.sim.stats().api_requests, 0);
    assert!(h.sim.stats().by_route.is_empty());
    h.shutdown().await;
}

#[tokio::test]
async fn latency_and_token_failures() {
    let h = sim().await;
    let api = Api::new(&h).await;
    h.sim.set_faults(Faults { latency_ms: 300, ..Faults::default() });
    let t0 = Instant::now();
    assert_eq!(api.get("/Status").await.status(), StatusCode::OK);
    assert!(t0.elapsed() >= Duration::from_millis(300));
    let t0 = Instant::now();
    token(&h).await;
    assert!(t0.elapsed() < Duration::from_millis(300), "token endpoint has its own latency");

    h.sim.set_faults(Faults { fail_token: true, token_latency_ms: 100, ..Faults::default() });
    let t0 = Instant::now();
    let r = token_response(&h, &[("grant_type", "client_credentials")]).await;
    assert!(t0.elapsed() >= Duration::from_millis(100));
    let (status, v) = json_of(r).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(v["error"], "server_error");
    // Control route GET shows the current faults.
    let v: Value = Client::new().get(format!("{}/_sim/faults", h.base_url())).send().await.expect("send").json().await.expect("json");
    assert_eq!(v["fail_token"], true);
    let r = Client::new().post(format!("{}/_sim/faults", h.base_url())).body("{not json").send().await.expect("send");
    assert_eq!(json_of(r).await.0, StatusCode::BAD_REQUEST);
    h.shutdown().await;
}

#[tokio::test]
async fn control_routes_expose_tickets_and_events() {
    let h = sim().await;
    let api = Api::new(&h).await;
    api.post_json("/Actions", &json!({"ticket_id": 106, "outcome": "Note", "note": "Subnet is 10.20.0.0/24."})).await;
    let t: Value = Client::new().get(format!("{}/_sim/tickets/106", h.base_url())).send().await.expect("send").json().await.expect("json");
    assert_eq!(t["id"], 106);
    assert!(t["customfields"].is_array());
    let r = Client::new().get(format!("{}/_sim/tickets/4242", h.base_url())).send().await.expect("send");
    assert_eq!(json_of(r).await.0, StatusCode::NOT_FOUND);
    let ev: Value = Client::new().get(format!("{}/_sim/events", h.base_url())).send().await.expect("send").json().await.expect("json");
    assert_eq!(ev[0]["kind"], "action_added");
    assert_eq!(ev[0]["ticket_id"], 106);
    assert_eq!(ev[0]["action"]["note"], "Subnet is 10.20.0.0/24.");

    // An agent's edit in the "UI" is seen by the API.
    let edited = h.sim.agent_edit(106, json!({"status_id": 2}), Some("Vendor confirmed the window.")).expect("ticket 106");
    assert_eq!(edited["status_name"], "In Progress");
    let via_api = api.get_json("/Tickets/106").await;
    assert_eq!(via_api["status_id"], 2);
    let last = h.sim.actions_for(106).last().cloned().expect("action");
    assert_eq!(last["who"], "Marco Rossi");
    assert_eq!(h.sim.events().last().map(|e| e.kind), Some(ChangeKind::StatusChanged));
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_requests_do_not_deadlock() {
    let h = sim().await;
    let api = std::sync::Arc::new(Api::new(&h).await);
    let mut tasks = Vec::new();
    for i in 0..200u32 {
        let api = api.clone();
        tasks.push(tokio::spawn(async move {
            match i % 4 {
                0 => api.get("/Tickets/101").await.status(),
                1 => api.get("/Tickets?search=phishing").await.status(),
                2 => api.post("/Tickets", &json!({"summary": format!("Load {i}"), "tickettype_id": 1})).await.status(),
                _ => api.post("/Actions", &json!({"ticket_id": 102, "outcome": "Note", "note": format!("n{i}")})).await.status(),
            }
        }));
    }
    let all = tokio::time::timeout(Duration::from_secs(30), futures::future::join_all(tasks)).await.expect("no deadlock within 30 s");
    assert!(all.iter().all(|r| matches!(r, Ok(s) if *s == StatusCode::OK)));
    assert_eq!(h.sim.tickets().len(), 7 + 50);
    assert_eq!(h.sim.actions_for(102).len(), 2 + 50);
    assert_eq!(h.sim.stats().api_requests, 200);
    // Ids stay unique and increasing under concurrency.
    let ids: Vec<i64> = h.sim.tickets().iter().filter_map(|t| t["id"].as_i64()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(ids.last(), Some(&1050));
    h.shutdown().await;
}

#[tokio::test]
async fn hostile_inputs_get_json_or_text_errors_never_a_crash() {
    let h = sim().await;
    let api = Api::new(&h).await;
    let gets = [
        "/Tickets?enddate=%2B262142-12-31&datesearch=datecreated",
        "/Tickets?enddate=262143-12-31",
        "/Tickets?startdate=0001-01-01&enddate=9999-12-31T23:59:59.9999999Z",
        "/Tickets?page_no=-5&page_size=-1&pageinate=true",
        "/Tickets?page_no=99999999999999999999&pageinate=true",
        "/Tickets?pageinate=true&page_no=9223372036854775807&page_size=100",
        "/Tickets?count=-1&order=%00&orderdesc=maybe",
        "/Tickets?search=%F0%9F%94%A5%ZZ&status=,,,&agent=1,x",
        "/Tickets/-1",
        "/Tickets/99999999999999999999",
        "/Tickets/%FF%FE",
        "/Actions?ticket_id=1e9",
        "/Actions/abc?ticket_id=101",
        "/Attachment/-3",
        "/Agent/%20me%20",
        "/Users/0",
    ];
    for path in gets {
        let r = api.get(path).await;
        let status = r.status();
        assert!(!status.is_server_error(), "{path}: {status}");
        let ct = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        assert!(ct.starts_with("application/json") || ct.starts_with("text/plain"), "{path}: {ct}");
    }
    let mut deep = String::new();
    for _ in 0..5000 {
        deep.push('[');
    }
    let bodies = [
        json!([{"summary": "x", "tickettype_id": 1, "dateoccurred": "+262142-12-31T23:59:59"}]),
        json!([{"summary": "x", "tickettype_id": 1e300}]),
        json!([{"summary": ["not", "a", "string"], "tickettype_id": 1}]),
        json!([{"summary": "x", "tickettype_id": 1, "customfields": {"id": 101}}]),
        json!([{"summary": "x", "tickettype_id": 1, "customfields": [{"id": 101, "value": {"deep": 1}}]}]),
        json!([{"id": "abc"}]),
        json!([{"id": -7, "summary": "negative id creates", "tickettype_id": 1, "team": 3.5}]),
        json!([null]),
        json!("just a string"),
        json!([{"id": 101, "summary": "  "}]),
        json!([{"id": 101, "site_id": 2, "client_id": 1}]),
        json!([{"id": 101, "agent_id": -1}]),
    ];
    for body in &bodies {
        let r = api.post("/Tickets", body).await;
        assert!(r.status().is_client_error() || r.status().is_success(), "{body}: {}", r.status());
    }
    for body in [
        json!([{"ticket_id": 101, "outcome": "x", "timetaken": -1}]),
        json!([{"ticket_id": 101, "outcome": "x", "new_team": "Nobody"}]),
        json!([{"ticket_id": 101, "outcome": "x", "new_agent": 6}]),
        json!([{"ticket_id": "101", "outcome": 5, "note_html": "<unclosed"}]),
    ] {
        let r = api.post("/Actions", &body).await;
        assert!(r.status().is_client_error() || r.status().is_success(), "{body}: {}", r.status());
    }
    let r = api
        .http
        .post(format!("{}/Tickets", api.base))
        .bearer_auth(&api.token)
        .header("content-type", "application/json")
        .body(deep)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // Still serving normally afterwards.
    assert_eq!(api.get("/Tickets/101").await.status(), StatusCode::OK);
    h.shutdown().await;
}
