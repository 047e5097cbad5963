//! The lookups: statuses (and which close), ticket types, priorities, agents and teams; and
//! `list_clients`, `list_sites`, `list_categories` and `list_outcomes` on the simulator, and the
//! shapes of docs/halo-api.md#K3–K6 on a mocked HaloITSM (wrapped or plain answers, ids as
//! doubles, names under `value` and `outcome`).

use super::*;

use crate::common::step_output as run;

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
    e.mount(api("GET", "Status", ExactQuery::new(&[("excludeclosed", "true")])).respond_with(ok_json(statuses_open())).expect(1)).await;
    e.mount(
        api("GET", "Status", ExactQuery::new(&[])).respond_with(ok_json(json!({"record_count": 4, "statuses": statuses_all()}))).expect(1),
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
            .respond_with(ok_json(json!({"record_count": 2, "statuses": statuses_open()})))
            .expect(1),
    )
    .await;
    e.mount(api("GET", "Status", ExactQuery::new(&[])).respond_with(ok_json(statuses_all())).expect(1)).await;
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
        e.mount(api("GET", "Status", ExactQuery::new(q)).respond_with(ok_json(statuses_all())).expect(1)).await;
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
            .respond_with(ok_json(json!([{"id": 1, "name": "New", "type": 0}])))
            .expect(1),
    )
    .await;
    e.mount(
        api("GET", "Status", ExactQuery::new(&[("tickettype_id", "4")]))
            .respond_with(ok_json(json!([{"id": 1, "name": "New", "type": 0}, {"id": 5, "name": "Closed", "type": 1}])))
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
            e.mount(api("GET", l.endpoint, ExactQuery::new(query)).respond_with(ok_json(answer)).expect(1)).await;
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
            .respond_with(ok_json(json!([{"id": 17, "priorityid": 2, "name": "High", "slaid": 1},
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
            .respond_with(ok_json(json!([
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

// ----- clients, sites, categories and outcomes --------------------------------------------------

#[tokio::test]
async fn the_lookups_on_the_simulator() {
    let (_halo, srv, conn) = sim_world(json!({})).await;
    let (s, out) = run(&srv, &conn, "list_clients", json!({})).await;
    assert_eq!(s, 200, "{out}");
    assert!(out["count"].as_i64() >= Some(2) && out["has_more"] == false, "{out}");
    let (_, one) = run(&srv, &conn, "list_clients", json!({"max_results": 1})).await;
    assert_eq!((one["count"].as_i64(), one["has_more"].as_bool()), (Some(1), Some(true)), "{one}");
    let (_, sites) = run(&srv, &conn, "list_sites", json!({"client_id": 2})).await;
    assert!(sites["sites"].as_array().is_some_and(|a| !a.is_empty() && a.iter().all(|s| s["client_id"] == 2)), "{sites}");
    let (_, cats) = run(&srv, &conn, "list_categories", json!({"level": 1})).await;
    assert!(cats["categories"].as_array().is_some_and(|a| a.iter().any(|c| c["name"] == "Security>Phishing" && c["level"] == 1)), "{cats}");
    let (_, outcomes) = run(&srv, &conn, "list_outcomes", json!({})).await;
    let names: Vec<&str> = outcomes["outcomes"].as_array().into_iter().flatten().filter_map(|o| o["name"].as_str()).collect();
    assert!(names.contains(&"Private Note") && !names.contains(&"Legacy Escalation"), "hidden ones left out: {names:?}");
    let (_, all) = run(&srv, &conn, "list_outcomes", json!({"include_hidden": true})).await;
    assert_eq!(all["count"].as_i64(), outcomes["count"].as_i64().map(|n| n + 1));
    assert!(all["outcomes"].as_array().into_iter().flatten().any(|o| o["name"] == "Resolved" && o["new_status_id"] == 9));

    for (name, input, field) in [
        ("list_clients", json!({"max_results": 0}), "`max_results`"),
        ("list_sites", json!({"client_id": -1}), "`client_id`"),
        ("list_categories", json!({"level": 5}), "`level`"),
    ] {
        let (s, out) = run(&srv, &conn, name, input).await;
        assert_eq!(s, 400, "{name}: {out}");
        assert!(out.to_string().contains(field), "{name}: {out}");
    }
}

#[tokio::test]
async fn halos_shapes_and_the_exact_queries() {
    let halo = halo_with_token().await;
    Mock::given(method("GET"))
        .and(path("/api/Client"))
        .and(query_param("search", "acme"))
        .and(query_param("includeinactive", "true"))
        .and(query_param("pageinate", "true"))
        .and(query_param("page_no", "1"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"record_count": 1, "clients": [{"id": 12.0, "name": "Acme", "inactive": true, "toplevel_id": 1}]})),
        )
        .expect(1)
        .mount(&halo)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/Site"))
        .and(query_param("client_id", "12"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"record_count": 1, "sites": [{"id": 5, "name": "HQ", "client_id": 12.0, "clientsite_name": "Acme / HQ", "inactive": false}]})))
        .expect(1)
        .mount(&halo)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/Category"))
        .and(query_param("type_id", "2"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!([{"id": 40, "value": "Malware>Ransomware", "type_id": 2, "category_name": "x"}])),
        )
        .expect(1)
        .mount(&halo)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/Outcome"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"record_count": 2, "outcomes": [
            {"id": 3, "outcome": "Private Note", "buttonname": "Private", "hidden": false, "newstatus": 0},
            {"id": 4, "outcome": "Secret", "buttonname": "S", "hidden": true}]})))
        .expect(1)
        .mount(&halo)
        .await;
    let srv = PluginServer::start().await;
    let conn = connection(&halo.uri());
    let (_, clients) = run(&srv, &conn, "list_clients", json!({"search": " acme ", "include_inactive": true})).await;
    assert_eq!(clients["clients"], json!([{"id": 12, "name": "Acme", "inactive": true}]));
    let (_, sites) = run(&srv, &conn, "list_sites", json!({"client_id": 12})).await;
    assert_eq!(sites["sites"], json!([{"id": 5, "name": "HQ", "client_id": 12, "client_name": "Acme / HQ", "inactive": false}]));
    let (_, cats) = run(&srv, &conn, "list_categories", json!({"level": 2})).await;
    assert_eq!(cats["categories"], json!([{"id": 40, "name": "Malware>Ransomware", "level": 2}]));
    let (_, outcomes) = run(&srv, &conn, "list_outcomes", json!({})).await;
    assert_eq!(
        outcomes["outcomes"],
        json!([{"id": 3, "name": "Private Note", "button_name": "Private", "hidden": false}]),
        "a hidden one the tenant sent anyway is left out"
    );
}
