//! The store's own checks.

use super::super::seed;
use super::*;

fn store() -> Store {
    seed::seeded_store(true, super::super::util::now())
}

fn key(f: &str) -> String {
    format!("[0].{f}")
}

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

#[test]
fn create_requires_summary_and_type() {
    let s = store();
    let e = s.parse_ticket_changes(&obj(json!({"tickettype_id": 1})), &key, true);
    assert_eq!(e.err(), Some(ApiError::field("[0].summary", "Summary is required")));
    let e = s.parse_ticket_changes(&obj(json!({"summary": "x"})), &key, true);
    assert!(matches!(e, Err(ApiError::PlainText(_, ref m)) if m == "Ticket type is required"));
    // An update needs neither.
    assert!(s.parse_ticket_changes(&obj(json!({"status_id": 2})), &key, false).is_ok());
}

#[test]
fn unknown_lookups_are_rejected() {
    let s = store();
    for (field, value, msg) in [
        ("status_id", json!(7), "Invalid status_id 7"),
        ("priority_id", json!(9), "Invalid priority_id 9"),
        ("agent_id", json!(99), "Invalid agent_id 99"),
        ("team_id", json!(42), "Invalid team_id 42"),
        ("team", json!("Nope"), "Invalid team Nope"),
        ("tickettype_id", json!(77), "Invalid tickettype_id 77"),
    ] {
        let mut o = obj(json!({"summary": "x", "tickettype_id": 1}));
        o.insert(field.into(), value);
        let e = s.parse_ticket_changes(&o, &key, true).err();
        assert_eq!(e, Some(ApiError::bad_request(msg)), "{field}");
    }
    let e = s.parse_ticket_changes(&obj(json!({"status_id": "two"})), &key, false);
    assert_eq!(e.err(), Some(ApiError::field("[0].status_id", "The value is not valid.")));
    let e = s.parse_ticket_changes(&obj(json!({"customfields": [{"id": 999, "value": "x"}]})), &key, false);
    assert_eq!(e.err(), Some(ApiError::field("[0].customfields[0].id", "Unknown custom field 999")));
}

#[test]
fn closing_and_reopening_keeps_flags_consistent() {
    let mut s = store();
    let now = super::super::util::now();
    let actor = s.api_actor();
    let ch =
        s.parse_ticket_changes(&obj(json!({"summary": "Disk full", "tickettype_id": 1, "user_id": 3})), &key, true).unwrap_or_default();
    let id = s.create_ticket(&ch, &actor, now);
    let t = s.tickets.get(&id).cloned().unwrap_or_default();
    assert_eq!(t.get("client_id"), Some(&json!(2)), "client from user");
    assert_eq!(t.get("site_id"), Some(&json!(2)), "site from user");
    assert_eq!(t.get("dateclosed"), Some(&json!(SENTINEL_DATE)));
    assert!(t.get("agent_name").is_none());

    let close = TicketChanges { status_id: Some(9), ..TicketChanges::default() };
    let sum = s.update_ticket(id, &close, &actor, None, false, now);
    assert_eq!(sum.map(|s| (s.old_status, s.new_status)), Some((1, 9)));
    let t = s.tickets.get(&id).cloned().unwrap_or_default();
    assert_eq!(t.get("hasbeenclosed"), Some(&json!(true)));
    assert_eq!(t.get("dateclosed"), Some(&json!(fmt_date(now))));

    let reopen = TicketChanges { status_id: Some(4), ..TicketChanges::default() };
    s.update_ticket(id, &reopen, &actor, None, false, now);
    let t = s.tickets.get(&id).cloned().unwrap_or_default();
    assert_eq!(t.get("hasbeenclosed"), Some(&json!(false)));
    assert_eq!(t.get("onhold"), Some(&json!(true)));
    assert_eq!(t.get("dateclosed"), Some(&json!(SENTINEL_DATE)));
    // Logged + closed + reopened.
    assert_eq!(s.actions.get(&id).map(Vec::len), Some(3));
    let kinds: Vec<_> = s.pending.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, vec![ChangeKind::Created, ChangeKind::StatusChanged, ChangeKind::StatusChanged]);
}

/// The request source is stored as given, 0 and negatives too [T17], and an update without it
/// keeps it.
#[test]
fn the_request_source_is_kept_as_given() {
    let s = store();
    let now = super::super::util::now();
    for source in [0, -9, 12] {
        let ch = s.parse_ticket_changes(&obj(json!({"summary": "x", "tickettype_id": 1, "source": source})), &key, true).unwrap();
        let mut t = s.ticket_skeleton(9999, now);
        apply_changes(&s.lookups, &mut t, &ch, now, true);
        assert_eq!(t.get("source"), Some(&json!(source)));
        let ch = s.parse_ticket_changes(&obj(json!({"status_id": 2})), &key, false).unwrap();
        apply_changes(&s.lookups, &mut t, &ch, now, false);
        assert_eq!(t.get("source"), Some(&json!(source)));
    }
}
