//! The lookup tables and the realistic seed data set: a small MSP security desk with two
//! customers. Ticket dates are relative to the moment the simulator starts.
//!
//! Ids (stable, tests and demos rely on them):
//! - statuses of a stock tenant [S4, S5, S6]: 1 New, 2 In Progress, 3 Pending, 4 On Hold,
//!   5 Waiting on Client, 6 Waiting on Third Party, 8 Resolved, 9 Closed (only 9 closes a ticket;
//!   on hold: 3, 4, 5, 6). The customised tenant [S6]: 1 Logged, 2 Working, 3 Pending, 4 Parked,
//!   5 Awaiting Customer, 6 Awaiting Supplier, 8 Fixed, 21 Completed and 22 Cancelled (both close
//!   a ticket), and no 9.
//! - priorities [P1]: 1 Critical, 2 High, 3 Medium, 4 Low on SLA 1 "Standard"; the same
//!   priority IDs again on SLA 2 "Enhanced" with other names, one of them hidden
//! - ticket types 1 Incident, 2 Problem, 3 Service Request, 4 Security Incident, 5 Change
//! - agents 1 API Agent, 2 Alice Nguyen, 3 Ben Carter, 4 Priya Shah, 5 Marco Rossi,
//!   6 Dana Whitfield (disabled)
//! - teams 1 Service Desk, 2 Security Operations, 3 Network, 4 Cloud Platform, 5 Legacy Desk
//!   (inactive)
//! - clients 1 Acme Financial Services, 2 Northwind Logistics; sites 1 London HQ (client 1),
//!   2 Rotterdam Distribution Centre (client 2)
//! - users 1 Jordan Ellis, 2 Sam Patel (client 1), 3 Riley Chen (client 2)
//! - custom fields 101 CFSecurityReference, 102 CFFindingKey, 103 CFSourceSystem
//! - tickets 101..=107 (see `seed_tickets`); new tickets start at 1001

use chrono::{Duration, NaiveDateTime};
use serde_json::{Map, Value, json};

use super::live::{NO_SLA_ID, NO_SLA_TICKET_TYPE};
use super::profile::{Profile, StatusSet};
use super::state::{
    AgentDef, Attachment, CustomFieldDef, Lookups, NamedDef, PriorityDef, SiteDef, StatusDef, Store, TeamDef, TicketChanges, UserDef,
    apply_changes,
};
use super::util::{fmt_date, text_to_html};

fn named(id: i64, name: &str) -> NamedDef {
    NamedDef { id, name: name.into() }
}

/// The closed status of each status set, for seed tickets that were closed.
pub(crate) fn closed_status(set: StatusSet) -> i64 {
    match set {
        StatusSet::Stock => 9,
        StatusSet::Customised => 21,
    }
}

fn statuses(set: StatusSet) -> Vec<StatusDef> {
    use super::state::{STATUS_KIND_CLOSED as CLOSED, STATUS_KIND_OPEN as OPEN, STATUS_KIND_PENDING as PENDING};
    let status = |id, name: &str, short: &str, kind, sequence, colour: &str| StatusDef {
        id,
        name: name.into(),
        shortname: short.into(),
        kind,
        sequence,
        colour: colour.into(),
    };
    match set {
        StatusSet::Stock => vec![
            status(1, "New", "New", OPEN, 1, "#fcc400"),
            status(2, "In Progress", "Prog", OPEN, 2, "#10ac84"),
            status(3, "Pending", "Pend", PENDING, 3, "#f6b93b"),
            status(4, "On Hold", "Hold", PENDING, 4, "#ff9f43"),
            status(5, "Waiting on Client", "Wait", PENDING, 5, "#feca57"),
            status(6, "Waiting on Third Party", "3rdP", PENDING, 6, "#c8d6e5"),
            status(8, "Resolved", "Res", OPEN, 8, "#8395a7"),
            status(9, "Closed", "Closed", CLOSED, 9, "#000000"),
        ],
        StatusSet::Customised => vec![
            status(1, "Logged", "Log", OPEN, 1, "#fcc400"),
            status(2, "Working", "Work", OPEN, 2, "#10ac84"),
            status(3, "Pending", "Pend", PENDING, 3, "#f6b93b"),
            status(4, "Parked", "Park", PENDING, 4, "#ff9f43"),
            status(5, "Awaiting Customer", "Cust", PENDING, 5, "#feca57"),
            status(6, "Awaiting Supplier", "Supp", PENDING, 6, "#c8d6e5"),
            status(8, "Fixed", "Fix", OPEN, 7, "#8395a7"),
            status(21, "Completed", "Done", CLOSED, 8, "#000000"),
            status(22, "Cancelled", "Canc", CLOSED, 9, "#576574"),
        ],
    }
}

/// The priorities of each SLA; with `no_sla`, also a "No SLA" offering only priority 1 [P3].
fn priorities(no_sla: bool) -> Vec<PriorityDef> {
    let priority = |id, slaid, guid: &str, name: &str, response_hours, fix_hours, hidden| PriorityDef {
        guid: guid.into(),
        id,
        slaid,
        name: name.into(),
        response_hours,
        fix_hours,
        hidden,
    };
    let mut rows = vec![
        priority(1, 1, "3b9c6a1e-4f27-4d8e-9a61-0c5b7e2d1f01", "Critical", 1, 4, false),
        priority(2, 1, "7d2e8f40-1a3b-4c5d-8e9f-2a4b6c8d0e02", "High", 2, 8, false),
        priority(3, 1, "c41f0b6a-9e8d-47c3-b2a1-5f6e7d8c9b03", "Medium", 4, 24, false),
        priority(4, 1, "e8a7b6c5-d4e3-4f21-a0b9-c8d7e6f5a404", "Low", 8, 72, false),
        // The same priorities on a second SLA: other GUIDs and names, one row hidden [P1].
        priority(1, 2, "c183eb27-5a1d-4c1e-9f0e-6b2d8a7c3e11", "P1 - Urgent", 1, 2, false),
        priority(2, 2, "0b4f9a3e-77c2-4d5b-a1e8-9c3f2d6b4a12", "P2 - High", 2, 4, true),
        priority(3, 2, "5e1d7c9b-2a4f-4e6d-8b3c-1f9a7e5d2c13", "P3 - Normal", 4, 16, false),
        priority(4, 2, "9a7c5e3b-1d2f-4a6e-b8c4-3e5f7a9c1d14", "P4 - Low", 8, 48, false),
    ];
    if no_sla {
        rows.push(priority(1, NO_SLA_ID, "2d6f8b1a-3c5e-4a7b-9d1f-6e8a0c2b4d31", "No SLA", 0, 0, false));
    }
    rows
}

pub(crate) fn lookups(profile: &Profile) -> Lookups {
    let agent = |id, name: &str, email: &str, team_id, disabled| AgentDef { id, name: name.into(), email: email.into(), team_id, disabled };
    let team = |id, name: &str, inactive| TeamDef { id, name: name.into(), inactive };
    let user = |id, name: &str, email: &str, client_id, site_id| UserDef { id, name: name.into(), email: email.into(), client_id, site_id };
    let cf = |id, name: &str, label: &str| CustomFieldDef { id, name: name.into(), label: label.into() };
    Lookups {
        statuses: statuses(profile.statuses),
        priorities: priorities(profile.live.priority_outside_sla_ignored),
        ticket_types: vec![
            named(1, "Incident"),
            named(2, "Problem"),
            named(3, "Service Request"),
            named(4, "Security Incident"),
            named(5, "Change"),
        ],
        agents: vec![
            agent(1, "API Agent", "api.agent@halo.example", 1, false),
            agent(2, "Alice Nguyen", "alice.nguyen@halo.example", 1, false),
            agent(3, "Ben Carter", "ben.carter@halo.example", 2, false),
            agent(4, "Priya Shah", "priya.shah@halo.example", 2, false),
            agent(5, "Marco Rossi", "marco.rossi@halo.example", 3, false),
            agent(6, "Dana Whitfield", "dana.whitfield@halo.example", 4, true),
        ],
        teams: vec![
            team(1, "Service Desk", false),
            team(2, "Security Operations", false),
            team(3, "Network", false),
            team(4, "Cloud Platform", false),
            team(5, "Legacy Desk", true),
        ],
        clients: vec![named(1, "Acme Financial Services"), named(2, "Northwind Logistics")],
        sites: vec![
            SiteDef { id: 1, name: "London HQ".into(), client_id: 1 },
            SiteDef { id: 2, name: "Rotterdam Distribution Centre".into(), client_id: 2 },
        ],
        users: vec![
            user(1, "Jordan Ellis", "jordan.ellis@acmefinancial.example", 1, 1),
            user(2, "Sam Patel", "sam.patel@acmefinancial.example", 1, 1),
            user(3, "Riley Chen", "riley.chen@northwind.example", 2, 2),
        ],
        custom_fields: vec![
            cf(101, "CFSecurityReference", "Security Reference"),
            cf(102, "CFFindingKey", "Finding Key"),
            cf(103, "CFSourceSystem", "Source System"),
        ],
        categories: vec![
            named(1, "Security>Phishing"),
            named(2, "Security>Malware"),
            named(3, "Security>Vulnerability"),
            named(4, "Security>Suspicious Sign-in"),
            named(5, "Network>Firewall"),
            named(6, "Access>Account Lockout"),
            named(7, "Cloud>Misconfiguration"),
        ],
        assets: seed_assets(),
        // Change tickets use the single-priority SLA on a live tenant [P3].
        ticket_type_sla: if profile.live.priority_outside_sla_ignored { vec![(NO_SLA_TICKET_TYPE, NO_SLA_ID)] } else { Vec::new() },
    }
}

/// A small CMDB: servers and laptops with the Device fields of X3 (hostname and IP as key fields).
fn seed_assets() -> Vec<Map<String, Value>> {
    let asset = |id: i64,
                 inv: &str,
                 host: &str,
                 ip: &str,
                 type_id: i64,
                 type_name: &str,
                 client: i64,
                 site: i64,
                 user: &str,
                 inactive: bool| {
        let v = json!({"id": id, "inventory_number": inv, "key_field": host, "key_field2": ip, "key_field3": "",
            "assettype_id": type_id, "assettype_name": type_name, "client_id": client, "site_id": site, "username": user,
            "status_id": 1, "inactive": inactive, "fields": [{"id": 1, "name": "Operating System", "value": if type_id == 1 { "Ubuntu Linux 22.04" } else { "Windows 11" }, "display": ""}]});
        v.as_object().cloned().unwrap_or_default()
    };
    vec![
        asset(201, "SRV-0001", "web-1", "10.0.0.11", 1, "Server", 1, 1, "", false),
        asset(202, "SRV-0002", "web-2", "10.0.0.12", 1, "Server", 1, 1, "", false),
        asset(203, "LT-0423", "FIN-LT-0423", "10.1.4.23", 2, "Laptop", 1, 1, "Sam Patel", false),
        asset(204, "SRV-0099", "old-db", "10.0.9.99", 1, "Server", 2, 2, "", true),
    ]
}

/// A seed ticket: fields as a client would POST them, plus its history.
struct SeedTicket {
    id: i64,
    hours_ago: i64,
    fields: Value,
    history: Vec<SeedAction>,
}

/// (hours ago, agent id (0 = System), outcome, note, hidden from user, new status)
type SeedAction = (i64, i64, &'static str, &'static str, bool, Option<i64>);

fn seed_tickets(closed: i64) -> Vec<SeedTicket> {
    vec![
        SeedTicket {
            id: 101,
            hours_ago: 72,
            fields: json!({
                "summary": "Suspicious email: 'Payroll update required' - possible phishing",
                "details": "User forwarded an email asking staff to confirm bank details for a payroll update.\nLink points to payro11-update.example.",
                "tickettype_id": 4, "priority_id": 2, "agent_id": 3, "team_id": 2,
                "client_id": 1, "site_id": 1, "user_id": 1, "category_1": "Security>Phishing",
                "impact": 2, "urgency": 2
            }),
            history: vec![
                (
                    71,
                    3,
                    "Private Note",
                    "Header analysis: sender domain payro11-update.example registered 2 days ago; SPF fail.",
                    true,
                    None,
                ),
                (70, 3, "Status Changed", "Investigating.", false, Some(2)),
                (
                    48,
                    3,
                    "Email User",
                    "We have blocked the sender and removed the message from 14 mailboxes. Please do not click the link.",
                    false,
                    None,
                ),
            ],
        },
        SeedTicket {
            id: 102,
            hours_ago: 20,
            fields: json!({
                "summary": "EDR alert: Emotet loader detected on FIN-LT-0423",
                "details": "CrowdStrike Falcon raised a high-severity detection: suspicious PowerShell spawning rundll32 from a macro-enabled document.",
                "tickettype_id": 4, "priority_id": 1, "agent_id": 4, "team_id": 2,
                "client_id": 1, "site_id": 1, "user_id": 2, "category_1": "Security>Malware",
                "impact": 1, "urgency": 1,
                "customfields": [
                    {"id": 101, "value": "SEC-2026-0142"},
                    {"id": 103, "value": "CrowdStrike Falcon"}
                ]
            }),
            history: vec![(19, 4, "Private Note", "Host isolated via EDR. Collecting triage package.", true, None)],
        },
        SeedTicket {
            id: 103,
            hours_ago: 6,
            fields: json!({
                "summary": "User reports unexpected MFA prompts overnight",
                "details": "Riley received six MFA push requests between 02:00 and 03:00 and denied them all.",
                "tickettype_id": 1, "priority_id": 3,
                "client_id": 2, "site_id": 2, "user_id": 3,
                "impact": 3, "urgency": 2
            }),
            history: vec![],
        },
        SeedTicket {
            id: 104,
            hours_ago: 336,
            fields: json!({
                "summary": "Phishing campaign impersonating DocuSign",
                "details": "Several users reported 'Please review and sign' emails with a credential-harvesting link.",
                "tickettype_id": 4, "priority_id": 2, "team_id": 2,
                "client_id": 1, "site_id": 1, "user_id": 2, "category_1": "Security>Phishing",
                "impact": 2, "urgency": 2,
                "customfields": [{"id": 101, "value": "SEC-2026-0098"}]
            }),
            history: vec![
                (330, 6, "Status Changed", "Blocking sender domain and purging mailboxes.", false, Some(2)),
                (240, 6, "Status Changed", "Mailbox purge completed; no credentials were entered. Closing.", false, Some(closed)),
            ],
        },
        SeedTicket {
            id: 105,
            hours_ago: 120,
            fields: json!({
                "summary": "Prowler: S3 bucket acme-prod-logs allows public read",
                "details": "Check s3_bucket_public_access failed for bucket acme-prod-logs in eu-west-1 (account 123456789012).",
                "tickettype_id": 4, "priority_id": 2, "agent_id": 4, "team_id": 4,
                "client_id": 1, "site_id": 1, "category_1": "Cloud>Misconfiguration",
                "impact": 2, "urgency": 3,
                "customfields": [
                    {"id": 101, "value": "SEC-2026-0150"},
                    {"id": 102, "value": "prowler-s3_bucket_public_access-123456789012-eu-west-1-acme-prod-logs"},
                    {"id": 103, "value": "Prowler"}
                ]
            }),
            history: vec![(
                96,
                4,
                "Status Changed",
                "Waiting for the bucket owner to confirm the log consumers before removing the public ACL.",
                true,
                Some(4),
            )],
        },
        SeedTicket {
            id: 106,
            hours_ago: 48,
            fields: json!({
                "summary": "Firewall change: allow 443 to new vendor SFTP gateway",
                "details": "Vendor Kestrel Freight needs HTTPS access to sftp.kestrel.example from the WMS subnet.",
                "tickettype_id": 5, "priority_id": 4, "agent_id": 5, "team_id": 3,
                "client_id": 2, "site_id": 2, "user_id": 3, "category_1": "Network>Firewall",
                "impact": 3, "urgency": 3
            }),
            history: vec![(30, 5, "Status Changed", "Please confirm the source subnet and the change window.", false, Some(5))],
        },
        SeedTicket {
            id: 107,
            hours_ago: 30,
            fields: json!({
                "summary": "Account locked out after password change",
                "details": "Sam is locked out after changing the password; the old password is cached on a phone.",
                "tickettype_id": 3, "priority_id": 3, "agent_id": 2, "team_id": 1,
                "client_id": 1, "site_id": 1, "user_id": 2, "category_1": "Access>Account Lockout",
                "impact": 3, "urgency": 2
            }),
            history: vec![(28, 2, "Status Changed", "Account unlocked and the mail profile on the phone updated.", false, Some(closed))],
        },
    ]
}

/// The name of the simulated API application, as its actions record it [A7].
pub(crate) const DEFAULT_APPLICATION: &str = "InsightConnect";

/// A stock tenant's store (see [`seeded`]).
#[cfg(test)]
pub(crate) fn seeded_store(with_tickets: bool, now: NaiveDateTime) -> Store {
    seeded(&Profile::default(), DEFAULT_APPLICATION, with_tickets, now)
}

/// A store holding the tenant's lookups and, when `with_tickets`, the seed tickets with their
/// history.
pub(crate) fn seeded(profile: &Profile, application: &str, with_tickets: bool, now: NaiveDateTime) -> Store {
    let mut store = Store::empty(lookups(profile), profile.clone(), application.to_string());
    if !with_tickets {
        return store;
    }
    for st in seed_tickets(closed_status(profile.statuses)) {
        add_seed_ticket(&mut store, st, now);
    }
    add_seed_attachment(&mut store, now);
    store.pending.clear();
    store
}

fn add_seed_ticket(store: &mut Store, st: SeedTicket, now: NaiveDateTime) {
    let created = now - Duration::hours(st.hours_ago);
    let key = |f: &str| f.to_string();
    let Some(obj) = st.fields.as_object() else {
        return;
    };
    // Seed data is ours; a mistake in it must show up in the seed test, not as a panic.
    let Ok(ch) = store.parse_ticket_changes(obj, &key, true) else {
        return;
    };
    let mut t = store.ticket_skeleton(st.id, created);
    apply_changes(&store.lookups, &mut t, &ch, created, true);
    store.tickets.insert(st.id, t);
    seed_action(store, st.id, created, 0, "Ticket logged", "Ticket logged by email", false, None);
    for (hours_ago, agent, outcome, note, hidden, new_status) in st.history {
        let at = now - Duration::hours(hours_ago);
        seed_action(store, st.id, at, agent, outcome, note, hidden, new_status);
    }
    // The closed seed ticket was handled by an agent who has since left (disabled).
    if st.id == 104
        && let Some(t) = store.tickets.get_mut(&st.id)
    {
        t.insert("agent_id".into(), json!(6));
        t.insert("agent_name".into(), json!("Dana Whitfield"));
    }
}

#[allow(clippy::too_many_arguments)]
fn seed_action(
    store: &mut Store,
    ticket_id: i64,
    at: NaiveDateTime,
    agent_id: i64,
    outcome: &str,
    note: &str,
    hidden: bool,
    new_status: Option<i64>,
) {
    let Some(t) = store.tickets.get(&ticket_id) else {
        return;
    };
    let old_status = super::state::get_i64(t, "status_id");
    if let Some(s) = new_status {
        let ch = TicketChanges { status_id: Some(s), ..TicketChanges::default() };
        if let Some(t) = store.tickets.get_mut(&ticket_id) {
            apply_changes(&store.lookups, t, &ch, at, false);
        }
    }
    let who = if agent_id == 0 {
        super::state::SYSTEM_WHO.to_string()
    } else {
        store.lookups.agent(agent_id).map(|a| a.name.clone()).unwrap_or_default()
    };
    let id = store.next_action_id;
    store.next_action_id += 1;
    let mut a = Map::new();
    a.insert("id".into(), json!(id));
    a.insert("ticket_id".into(), json!(ticket_id));
    a.insert("outcome".into(), json!(outcome));
    a.insert("outcome_id".into(), json!(0));
    a.insert("note".into(), json!(note));
    a.insert("note_html".into(), json!(text_to_html(note)));
    a.insert("hiddenfromuser".into(), json!(hidden));
    a.insert("important".into(), json!(false));
    a.insert("sendemail".into(), json!(false));
    a.insert("timetaken".into(), json!(0));
    a.insert("datetime".into(), json!(fmt_date(at)));
    a.insert("who".into(), json!(who));
    a.insert("actionby_agent_id".into(), json!(agent_id));
    a.insert("old_status".into(), json!(old_status));
    a.insert("new_status".into(), json!(new_status.unwrap_or(old_status)));
    store.action_ticket.insert(id, ticket_id);
    store.actions.entry(ticket_id).or_default().push(a);
    if let Some(t) = store.tickets.get_mut(&ticket_id) {
        t.insert("lastactiondate".into(), json!(fmt_date(at)));
        t.insert("last_update".into(), json!(fmt_date(at)));
    }
}

fn add_seed_attachment(store: &mut Store, now: NaiveDateTime) {
    let data = b"Detection: Emotet loader\nHost: FIN-LT-0423\nParent: WINWORD.EXE\nChild: powershell.exe -enc ...\n".to_vec();
    let id = store.next_attachment_id;
    store.next_attachment_id += 1;
    let mut meta = Map::new();
    meta.insert("id".into(), json!(id));
    meta.insert("ticket_id".into(), json!(102));
    meta.insert("action_id".into(), json!(0));
    meta.insert("filename".into(), json!("edr-detection-summary.txt"));
    meta.insert("filesize".into(), json!(data.len()));
    meta.insert("note".into(), json!("Detection summary exported from the EDR console"));
    meta.insert("datecreated".into(), json!(fmt_date(now - Duration::hours(19))));
    store.attachments.insert(id, Attachment { meta, data });
    // A screenshot on the phishing ticket (an image, as `isimage` shows).
    let data = b"\x89PNG\r\n\x1a\n(screenshot of the phishing page)".to_vec();
    let id = store.next_attachment_id;
    store.next_attachment_id += 1;
    let mut meta = Map::new();
    meta.insert("id".into(), json!(id));
    meta.insert("ticket_id".into(), json!(101));
    meta.insert("action_id".into(), json!(0));
    meta.insert("filename".into(), json!("phishing-page.png"));
    meta.insert("filesize".into(), json!(data.len()));
    meta.insert("note".into(), json!(""));
    meta.insert("datecreated".into(), json!(fmt_date(now - Duration::hours(2))));
    store.attachments.insert(id, Attachment { meta, data });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::{SENTINEL_DATE, now};

    #[test]
    fn seed_is_complete_and_consistent() {
        let n = now();
        let s = seeded_store(true, n);
        let ids: Vec<i64> = s.tickets.keys().copied().collect();
        assert_eq!(ids, vec![101, 102, 103, 104, 105, 106, 107]);
        for (id, t) in &s.tickets {
            let status = t.get("status_id").and_then(Value::as_i64).unwrap_or(0);
            let closed = s.lookups.is_closed_status(status);
            assert_eq!(t.get("hasbeenclosed"), Some(&json!(closed)), "ticket {id}");
            let dateclosed = t.get("dateclosed").and_then(Value::as_str).unwrap_or("");
            assert_eq!(dateclosed == SENTINEL_DATE, !closed, "ticket {id}");
            assert!(t.get("summary").and_then(Value::as_str).is_some_and(|x| !x.is_empty()));
            assert!(t.get("status_name").is_some() && t.get("tickettype_name").is_some());
            let created = t.get("datecreated").and_then(Value::as_str).unwrap_or("");
            assert!(created < fmt_date(n).as_str(), "ticket {id} dated in the past");
            // Every action belongs to its ticket and the first one is the logging action.
            let acts = s.actions.get(id).cloned().unwrap_or_default();
            assert_eq!(acts.first().and_then(|a| a.get("outcome")), Some(&json!("Ticket logged")));
        }
        let t103 = s.tickets.get(&103).cloned().unwrap_or_default();
        assert_eq!(t103.get("agent_id"), Some(&json!(0)));
        assert_eq!(t103.get("team_id"), Some(&json!(0)));
        assert!(t103.get("agent_name").is_none() && t103.get("team").is_none());
        assert!(t103.get("category_1").is_none());
        let t104 = s.tickets.get(&104).cloned().unwrap_or_default();
        assert_eq!(t104.get("status_id"), Some(&json!(9)));
        assert_eq!(s.tickets.get(&107).and_then(|t| t.get("status_id")), Some(&json!(9)));
        assert_eq!(t104.get("agent_name"), Some(&json!("Dana Whitfield")));
        let t105 = s.tickets.get(&105).cloned().unwrap_or_default();
        let cf102 = t105
            .get("customfields")
            .and_then(Value::as_array)
            .and_then(|a| a.iter().find(|c| c.get("id") == Some(&json!(102))))
            .and_then(|c| c.get("value"))
            .cloned();
        assert_eq!(cf102, Some(json!("prowler-s3_bucket_public_access-123456789012-eu-west-1-acme-prod-logs")));
        assert_eq!(t105.get("onhold"), Some(&json!(true)));
        assert!(s.pending.is_empty());
        assert_eq!(s.next_ticket_id, 1001);
        assert_eq!(s.attachments.len(), 2);
    }
}
