//! search_tickets: filters, open and closed lists, paging, duplicates, bad inputs and retries.

use super::*;

/// A search's query for open tickets: the filters, then paging and ordering, which every page
/// carries. Open and closed tickets are listed apart (a plain list leaves out tickets closed a
/// while ago).
fn search_query(filters: &[(&str, &str)], page_size: u64, page_no: u64) -> ExactQuery {
    state_query(filters, "open_only", page_size, page_no)
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
        // The assignee filter: `agent_id` is an agent's visible queue on live tenants (Q6).
        ("agent", "3"),
        ("team", "2"),
        ("priority", "4"),
        // The date a ticket was opened, which rows carry (Q6, L4).
        ("datesearch", "dateoccurred"),
        ("startdate", "2026-09-01T00:00:00"),
        ("enddate", "2026-10-01T01:00:00"),
        ("open_only", "true"),
    ];
    let matching = |id: i64| {
        json!({"id": id, "summary": "Suspicious login for jsmith", "status_id": 1, "status_name": "New", "agent_id": 3,
               "team": "Security Operations", "priority_id": 4, "dateoccurred": "2026-09-01T08:00:00", "datecreated": "2026-09-01T08:00:00"})
    };
    e.mount(
        api("GET", "Tickets", search_query(&filters, 100, 1))
            .respond_with(ok_json(json!({"record_count": 2, "tickets": [matching(12), matching(11)]})))
            .expect(1),
    )
    .await;
    // The team's name, to check the rows' `team` (thin rows carry no `team_id`).
    e.mount(
        Mock::given(method("GET"))
            .and(path("/api/Team"))
            .respond_with(ok_json(json!([{"id": 2, "name": "Security Operations"}])))
            .expect(1),
    )
    .await;
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
    assert_eq!(out["tickets"][0]["closed"], json!(false), "open, as the list it came from says");
    assert_eq!(out["tickets"][0]["datecreated"], json!("2026-09-01T08:00:00Z"));
}

#[tokio::test]
async fn rows_that_do_not_match_what_was_asked_are_left_out_and_not_counted() {
    let e = env().await;
    // A tenant whose `agent` filter answered agent 3's visible queue: his tickets and his team's.
    let filters = [("agent", "3"), ("open_only", "true")];
    let mut rows = rows([12, 11, 10, 9]);
    for (row, agent) in rows.iter_mut().zip([3, 4, 3, 0]) {
        row["agent_id"] = json!(agent);
    }
    e.mount(
        api("GET", "Tickets", search_query(&filters, 100, 1)).respond_with(ok_json(json!({"record_count": 4, "tickets": rows}))).expect(1),
    )
    .await;
    let out = e.ok("search_tickets", json!({"agent_id": 3, "open_only": true, "max_results": 100})).await;
    assert_eq!(ids_of(&out), vec![12, 10]);
    assert_eq!(
        (out["count"].as_i64(), out["total"].as_i64(), out["has_more"].as_bool()),
        (Some(2), Some(2), Some(false)),
        "HaloITSM's 4 is not the count"
    );
}

#[tokio::test]
async fn a_count_that_may_be_only_the_pages_does_not_end_the_walk() {
    let e = env().await;
    e.no_closed(&[], 100).await;
    // A full page whose record_count is its own 100 rows (L12): the next page is read, and the
    // total is what the whole list held.
    e.mount(api("GET", "Tickets", search_query(&[], 100, 1)).respond_with(ok_json(page(100, (31..=130).rev()))).expect(1)).await;
    e.mount(api("GET", "Tickets", search_query(&[], 100, 2)).respond_with(ok_json(page(30, (1..=30).rev()))).expect(1)).await;
    let out = e.ok("search_tickets", json!({"max_results": 1000})).await;
    assert_eq!((out["count"].as_i64(), out["total"].as_i64(), out["has_more"].as_bool()), (Some(130), Some(130), Some(false)));
}

#[tokio::test]
async fn search_lists_open_and_closed_tickets_apart_and_merges_them_newest_first() {
    let e = env().await;
    // A plain list would leave out tickets closed long ago, and rows do not say which are closed.
    // Pages are full ones (100), since rows are checked on this side and may be left out.
    e.mount(api("GET", "Tickets", search_query(&[("search", "vpn")], 100, 1)).respond_with(ok_json(page(3, [9, 7, 3]))).expect(1)).await;
    e.mount(api("GET", "Tickets", closed_query(&[("search", "vpn")], 100, 1)).respond_with(ok_json(page(3, [8, 4, 2]))).expect(1)).await;
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
    e.mount(api("GET", "Tickets", search_query(&[], 100, 1)).respond_with(ok_json(page(1, [5]))).expect(1)).await;
    let out = e.ok("search_tickets", json!({"query": "   ", "summary_contains": "", "open_only": false, "max_results": 100})).await;
    assert_eq!(ids_of(&out), vec![5]);
    assert_eq!((out["count"].as_i64(), out["total"].as_i64()), (Some(1), Some(1)));
}

#[tokio::test]
async fn search_with_one_date_sends_only_that_bound() {
    let e = env().await;
    let filters = [("datesearch", "dateoccurred"), ("startdate", "2026-09-01T06:30:00")];
    e.mount(api("GET", "Tickets", search_query(&filters, 100, 1)).respond_with(ok_json(page(0, []))).expect(1)).await;
    e.no_closed(&filters, 100).await;
    let out = e.ok("search_tickets", json!({"created_after": "2026-09-01T06:30:00Z", "max_results": 100})).await;
    assert_eq!(out, json!({"tickets": [], "count": 0, "total": 0, "has_more": false}));

    let e = env().await;
    let filters = [("datesearch", "dateoccurred"), ("enddate", "2026-09-30T21:59:59")];
    e.mount(api("GET", "Tickets", search_query(&filters, 100, 1)).respond_with(ok_json(page(0, []))).expect(1)).await;
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
            .respond_with(ok_json(page(500, (401..=500).rev())))
            .expect(1),
    )
    .await;
    e.mount(
        Mock::given(method("GET"))
            .and(path("/api/Tickets"))
            .and(query_param("closed_only", "true"))
            .respond_with(ok_json(page(0, [])))
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
    e.mount(api("GET", "Tickets", search_query(&[], 100, 1)).respond_with(ok_json(page(250, (151..=250).rev()))).expect(1)).await;
    e.mount(api("GET", "Tickets", search_query(&[], 100, 2)).respond_with(ok_json(page(250, (51..=150).rev()))).expect(1)).await;
    e.mount(api("GET", "Tickets", search_query(&[], 100, 3)).respond_with(ok_json(page(250, (1..=50).rev()))).expect(1)).await;
    let out = e.ok("search_tickets", json!({"max_results": 250})).await;
    assert_eq!(out["count"], 250);
    assert_eq!(out["total"], 250);
    assert_eq!(ids_of(&out), (1..=250).rev().collect::<Vec<_>>());
}

#[tokio::test]
async fn a_later_page_reads_only_up_to_its_end() {
    let e = env().await;
    e.no_closed(&[], 100).await;
    // Page 2 of 100 of 250 matches: pages 1 and 2 of the list, newest first, and no third.
    e.mount(api("GET", "Tickets", search_query(&[], 100, 1)).respond_with(ok_json(page(250, (151..=250).rev()))).expect(1)).await;
    e.mount(api("GET", "Tickets", search_query(&[], 100, 2)).respond_with(ok_json(page(250, (51..=150).rev()))).expect(1)).await;
    let out = e.ok("search_tickets", json!({"page": 2, "page_size": 100})).await;
    assert_eq!(ids_of(&out), (51..=150).rev().collect::<Vec<_>>());
    assert_eq!((out["has_more"].as_bool(), out["total"].as_i64()), (Some(true), Some(250)));
}

#[tokio::test]
async fn search_keeps_one_page_size_and_stops_at_max_results() {
    let e = env().await;
    e.no_closed(&[], 100).await;
    // 150 wanted of 500: two pages of 100 (page 2 must not be asked with another page size, which
    // would shift its start), the second one cut at 150 tickets in all.
    e.mount(api("GET", "Tickets", search_query(&[], 100, 1)).respond_with(ok_json(page(500, (401..=500).rev()))).expect(1)).await;
    e.mount(api("GET", "Tickets", search_query(&[], 100, 2)).respond_with(ok_json(page(500, (301..=400).rev()))).expect(1)).await;
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
    e.mount(api("GET", "Tickets", search_query(&[], 100, 1)).respond_with(ok_json(json!(rows((31..=130).rev())))).expect(1)).await;
    e.mount(api("GET", "Tickets", search_query(&[], 100, 2)).respond_with(ok_json(json!(rows((1..=30).rev())))).expect(1)).await;
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
    e.mount(api("GET", "Tickets", search_query(&[], 100, 1)).respond_with(ok_json(page(200, (101..=200).rev()))).expect(1)).await;
    e.mount(api("GET", "Tickets", search_query(&[], 100, 2)).respond_with(ok_json(page(200, (1..=100).rev()))).expect(1)).await;
    let out = e.ok("search_tickets", json!({"max_results": 1000})).await;
    assert_eq!((out["count"].as_i64(), out["total"].as_i64()), (Some(200), Some(200)));
}

#[tokio::test]
async fn search_returns_a_ticket_seen_on_two_pages_once() {
    let e = env().await;
    e.no_closed(&[], 100).await;
    // A ticket created between the two reads shifts page 2 by one: ticket 101 is listed twice.
    e.mount(api("GET", "Tickets", search_query(&[], 100, 1)).respond_with(ok_json(page(200, (101..=200).rev()))).expect(1)).await;
    e.mount(api("GET", "Tickets", search_query(&[], 100, 2)).respond_with(ok_json(page(200, (2..=101).rev()))).expect(1)).await;
    let out = e.ok("search_tickets", json!({"max_results": 200})).await;
    let ids = ids_of(&out);
    assert_eq!(ids, (2..=200).rev().collect::<Vec<_>>());
    assert_eq!(out["count"], 199, "count is what was returned");
    assert_eq!(out["total"], 200, "total is HaloITSM's record count");
}

#[tokio::test]
async fn search_rejects_bad_inputs_before_any_request() {
    let e = env().await;
    e.mount(Mock::given(method("GET")).and(path("/api/Tickets")).respond_with(ok_json(page(0, []))).expect(0)).await;
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
    e.mount(api("GET", "Tickets", search_query(&[], 100, 1)).respond_with(ok_json(page(150, (51..=150).rev()))).expect(1)).await;
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
        api("GET", "Tickets", search_query(&[], 100, 2)).respond_with(ok_json(page(150, (1..=50).rev()))).named("page 2, retry").expect(1),
    )
    .await;
    let out = e.ok("search_tickets", json!({"max_results": 150})).await;
    assert_eq!(out["count"], 150);
    assert_eq!(ids_of(&out), (1..=150).rev().collect::<Vec<_>>());
}

#[tokio::test]
async fn once_rows_were_left_out_more_and_total_come_from_the_rows_kept() {
    // Agent 3's visible queue: his tickets 12 and 10, and 11 and 9 of his team (Q6).
    let queue = || {
        let mut rows = rows([12, 11, 10, 9]);
        for (row, agent) in rows.iter_mut().zip([3, 4, 3, 4]) {
            row["agent_id"] = json!(agent);
        }
        json!({"record_count": 4, "tickets": rows})
    };
    let filters = [("agent", "3"), ("open_only", "true")];
    for (max, ids, more, total) in [(1, vec![12], true, None), (2, vec![12, 10], false, Some(2))] {
        let e = env().await;
        e.mount(api("GET", "Tickets", search_query(&filters, 100, 1)).respond_with(ok_json(queue())).expect(1)).await;
        let out = e.ok("search_tickets", json!({"agent_id": 3, "open_only": true, "max_results": max})).await;
        assert_eq!(ids_of(&out), ids, "{out}");
        assert_eq!((out["has_more"].as_bool(), out["total"].as_i64()), (Some(more), total), "max {max}: HaloITSM's 4 is no count: {out}");
    }
}
