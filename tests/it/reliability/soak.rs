//! 1. Soak: many mixed steps with injected 5xx and 429 answers.

use super::*;

const SOAK_STEPS: usize = 20_000;
const SOAK_IN_FLIGHT: usize = 32;

/// What one soak step is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Op {
    GetTicket,
    SearchTickets,
    ListComments,
    ListStatuses,
    ListPriorities,
    ListAgents,
    ListTeams,
    ListTicketTypes,
    CreateTicket,
    UpdateTicket,
    AddComment,
    AssignTicket,
    CloseTicket,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::GetTicket => "get_ticket",
            Op::SearchTickets => "search_tickets",
            Op::ListComments => "list_comments",
            Op::ListStatuses => "list_statuses",
            Op::ListPriorities => "list_priorities",
            Op::ListAgents => "list_agents",
            Op::ListTeams => "list_teams",
            Op::ListTicketTypes => "list_ticket_types",
            Op::CreateTicket => "create_ticket",
            Op::UpdateTicket => "update_ticket",
            Op::AddComment => "add_comment",
            Op::AssignTicket => "assign_ticket",
            Op::CloseTicket => "close_ticket",
        }
    }

    fn is_read(self) -> bool {
        !matches!(self, Op::CreateTicket | Op::UpdateTicket | Op::AddComment | Op::AssignTicket | Op::CloseTicket)
    }

    /// A workflow-like mix, mostly reads (75 of 100).
    fn pick(rng: &mut fastrand::Rng) -> Op {
        match rng.u32(0..100) {
            0..40 => Op::GetTicket,
            40..55 => Op::SearchTickets,
            55..60 => Op::ListComments,
            60..63 => Op::ListStatuses,
            63..66 => Op::ListPriorities,
            66..69 => Op::ListAgents,
            69..72 => Op::ListTeams,
            72..75 => Op::ListTicketTypes,
            75..83 => Op::CreateTicket,
            83..90 => Op::UpdateTicket,
            90..96 => Op::AddComment,
            96..98 => Op::AssignTicket,
            _ => Op::CloseTicket,
        }
    }
}

/// Tickets created before the soak, which its reads and updates spread over (as workflows work
/// on many tickets, not a handful).
const SOAK_TARGETS: usize = 200;

fn soak_input(op: Op, i: usize, targets: &[i64], rng: &mut fastrand::Rng) -> Value {
    let ticket = targets[rng.usize(..targets.len())];
    match op {
        Op::GetTicket => json!({"ticket_id": ticket}),
        Op::SearchTickets => match i % 3 {
            0 => json!({"open_only": true, "max_results": 25}),
            1 => json!({"summary_contains": "soak-create-1", "max_results": 10}),
            _ => json!({"status_id": 1, "max_results": 10}),
        },
        Op::ListComments => json!({"ticket_id": ticket}),
        Op::ListAgents => json!({"include_disabled": i % 2 == 0}),
        Op::ListStatuses | Op::ListPriorities | Op::ListTeams | Op::ListTicketTypes => json!({}),
        Op::CreateTicket => {
            json!({"summary": format!("soak-create-{i}"), "details": format!("Soak step {i}"), "tickettype_id": 4, "priority_id": 3})
        }
        Op::UpdateTicket => json!({"ticket_id": ticket, "details": format!("Updated by soak step {i}"), "priority_id": rng.i64(1..=4)}),
        Op::AddComment => json!({"ticket_id": ticket, "comment": format!("Soak note {i}."), "is_private": i % 2 == 0}),
        Op::AssignTicket => json!({"ticket_id": ticket, "agent_id": rng.i64(2..=5), "team_id": rng.i64(1..=4), "notify": false}),
        Op::CloseTicket => json!({"ticket_id": ticket, "resolution": format!("Closed by soak step {i}")}),
    }
}

/// The outcome of one soak step.
struct Done {
    op: Op,
    i: usize,
    input: Value,
    status: u16,
    body: Value,
}

/// 20,000 mixed steps through the REST API, 32 in flight, with every 97th HaloITSM request
/// answered 500 (after a write was applied: the dangerous case) and every 101st 429. Reads never
/// fail, no ticket is created twice, writes that failed say they may have been saved, and one
/// token serves the whole run.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn soak_mixed_steps_with_injected_5xx_and_429() {
    let _shared = EXCLUSIVE.read().await;
    let halo = simulator().await;
    // The production retry policy: 4 attempts within 60 s, 250 ms base backoff.
    let srv = Server::start(Plugin::new(false), ServerOptions::default()).await;
    let conn = sim_connection(&halo, 5);
    let http = client();
    let create = |n: usize| {
        action(
            "create_ticket",
            conn.clone(),
            json!({"summary": format!("soak-target-{n}"), "details": "A soak target", "tickettype_id": 1}),
        )
    };
    let created = futures::stream::iter(0..SOAK_TARGETS)
        .map(|n| post(&http, srv.url("/api/v1/actions/create_ticket"), create(n)))
        .buffer_unordered(SOAK_IN_FLIGHT)
        .collect::<Vec<_>>()
        .await;
    let mut targets: Vec<i64> = halo.sim.tickets().iter().filter_map(|t| t["id"].as_i64()).collect();
    assert!(created.iter().all(|(s, _)| *s == 200) && targets.len() == 7 + SOAK_TARGETS, "{created:?}");
    targets.sort_unstable();
    halo.sim.set_faults(Faults {
        server_error_every: 97,
        server_error_after_apply: true,
        rate_limit_every: 101,
        // Retry-After 0: the retry goes at once; without it every 429 would pause the connection
        // for half a second (the learned-limit path, tested in rate_limits).
        retry_after_secs: Some(0),
        ..Default::default()
    });
    let seed = std::env::var("SOAK_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_u64);
    let mut rng = fastrand::Rng::with_seed(seed);
    let steps: Vec<(Op, usize, Value)> = (0..SOAK_STEPS)
        .map(|i| {
            let op = Op::pick(&mut rng);
            (op, i, soak_input(op, i, &targets, &mut rng))
        })
        .collect();
    let started = Instant::now();
    let done: Vec<Done> = futures::stream::iter(steps)
        .map(|(op, i, input)| {
            let http = http.clone();
            let url = srv.url(&format!("/api/v1/actions/{}", op.name()));
            let msg = action(op.name(), conn.clone(), input.clone());
            async move {
                let (status, body) = post(&http, &url, &msg).await;
                Done { op, i, input, status, body }
            }
        })
        .buffer_unordered(SOAK_IN_FLIGHT)
        .collect()
        .await;
    let elapsed = started.elapsed();

    let mut by_op: HashMap<Op, (usize, usize)> = HashMap::new();
    let mut created_ok: HashMap<i64, String> = HashMap::new();
    let mut creates_failed = 0usize;
    for d in &done {
        let entry = by_op.entry(d.op).or_default();
        if d.status == 200 {
            entry.0 += 1;
            assert_eq!(d.body["body"]["status"], "ok", "{}: {}", d.op.name(), d.body);
            if d.op == Op::CreateTicket {
                let id = d.body["body"]["output"]["ticket"]["id"].as_i64().expect("a created ticket has an ID");
                let summary = format!("soak-create-{}", d.i);
                assert_eq!(d.body["body"]["output"]["ticket"]["summary"], summary.as_str());
                assert!(created_ok.insert(id, summary).is_none(), "two successful creates answered ticket {id}");
            }
            continue;
        }
        entry.1 += 1;
        assert!(!d.op.is_read(), "a read failed although reads are retried: {} -> {} {}", d.op.name(), d.status, d.body);
        // A write may only fail because HaloITSM answered 500 to it, and must then say so.
        assert_eq!(d.status, 500, "{} failed unexpectedly: {}", d.op.name(), d.body);
        let exc = &d.body["body"]["exception"];
        assert!(exc["cause"].as_str().unwrap_or_default().contains("(HTTP 500)"), "{}: {}", d.op.name(), d.body);
        assert!(
            exc["assistance"].as_str().unwrap_or_default().contains("may or may not have been saved"),
            "a failed write must say it may have been saved: {}",
            d.body
        );
        if d.op == Op::CreateTicket {
            creates_failed += 1;
        }
    }
    let mut summary: Vec<_> = by_op.iter().map(|(op, (ok, failed))| format!("{} {ok}/{failed}", op.name())).collect();
    summary.sort();
    eprintln!("soak: {SOAK_STEPS} steps in {elapsed:?} (seed {seed}); ok/failed: {}", summary.join(", "));
    let stats = halo.sim.stats();
    eprintln!(
        "soak: simulator {} API requests, {} injected 500, {} injected 429",
        stats.api_requests, stats.injected_500, stats.injected_429
    );
    assert_eq!(done.len(), SOAK_STEPS);
    assert!(stats.injected_500 >= 150 && stats.injected_429 >= 150, "faults were injected: {stats:?}");
    assert!(by_op.len() == 13, "every kind of step ran: {by_op:?}");

    // No duplicates: every summary once; each create that reported success is there, and each
    // that failed with a 500 (applied before the error, and never sent again) is there once too.
    let tickets = halo.sim.tickets();
    let mut summaries = HashSet::new();
    for t in &tickets {
        let s = t["summary"].as_str().unwrap_or_default().to_string();
        assert!(summaries.insert(s.clone()), "two tickets have the summary {s:?}");
    }
    let soak_tickets = tickets.iter().filter(|t| t["summary"].as_str().is_some_and(|s| s.starts_with("soak-create-"))).count();
    for (id, summary) in &created_ok {
        let t = halo.sim.ticket(*id).unwrap_or_else(|| panic!("ticket {id} reported created is missing"));
        assert_eq!(t["summary"], summary.as_str());
    }
    assert!(creates_failed > 0, "some creates hit a 500 (else the duplicate check proves little)");
    assert_eq!(
        soak_tickets,
        created_ok.len() + creates_failed,
        "tickets in HaloITSM = creates that succeeded + creates that failed after being applied"
    );

    // Comments too: each one, saved or failed after being applied, is on its ticket once.
    let mut notes: HashMap<i64, Vec<String>> = HashMap::new();
    for d in done.iter().filter(|d| d.op == Op::AddComment) {
        let ticket = d.input["ticket_id"].as_i64().unwrap_or_default();
        let list = notes
            .entry(ticket)
            .or_insert_with(|| halo.sim.actions_for(ticket).iter().filter_map(|a| a["note"].as_str().map(str::to_string)).collect());
        let text = format!("Soak note {}.", d.i);
        let copies = list.iter().filter(|n| n.contains(&text)).count();
        assert_eq!(copies, 1, "{text:?} is on ticket {ticket} {copies} times (step answered {})", d.status);
    }

    assert_eq!(stats.token_requests, 1, "one token for the plugin's lifetime: {stats:?}");
    assert_eq!(srv.state.active_work(), 0);
}
