//! What a trigger remembers between restarts: where polling got to, the last status and change
//! marker of each ticket it has seen, recent webhook delivery IDs, and how far the webhook inbox
//! has been processed.
//!
//! Stored as `<dir>/<trigger id>.json` (rewritten atomically: temp file + rename) plus an
//! append-only journal `<dir>/<trigger id>.journal` that records each step as it happens, so a
//! kill at any moment loses at most the step in flight. The journal is folded into the JSON file
//! on start, every few thousand entries and on shutdown. Sizes are bounded.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use crate::ticket_events::Mark;
use crate::ticket_events::changes::Prints;

/// Most tickets remembered; the ones changed longest ago are forgotten first.
pub const MAX_TICKETS: usize = 50_000;
/// Most webhook delivery IDs remembered for de-duplication.
pub const MAX_DELIVERIES: usize = 20_000;
/// Journal entries before it is folded into the state file.
const COMPACT_EVERY: usize = 5_000;
/// Most events set aside as refused by the dispatcher; the oldest go first.
pub const MAX_DEAD_LETTERS: usize = 1_000;

/// An event the dispatcher refused for good, set aside so the trigger goes on. Its whole message
/// is in the dead-letter file (`<trigger id>.dead.jsonl`), to be replayed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub event_id: String,
    pub at: DateTime<Utc>,
    pub status: u16,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TriggerState {
    /// Changes before this moment are not reported (first start, or lookback).
    pub since: Option<DateTime<Utc>>,
    /// Polling has reported every change up to here.
    pub cursor: Option<DateTime<Utc>>,
    /// The sweep of tickets closed a while ago (which a plain list leaves out) has reported
    /// every change to them up to here; None until the first sweep (it starts at `since`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_cursor: Option<DateTime<Utc>>,
    pub tickets: BTreeMap<i64, Mark>,
    pub deliveries: VecDeque<String>,
    /// Bytes of the webhook inbox already processed.
    pub inbox_offset: u64,
    /// The newest change marker among tickets forgotten to keep the state bounded: a ticket
    /// unknown to the state but changed before this may have been known before.
    #[serde(default)]
    pub forgotten: Option<DateTime<Utc>>,
    /// Events the dispatcher refused for good, oldest first.
    #[serde(default)]
    pub dead_letters: VecDeque<DeadLetter>,
    /// Field fingerprints of each ticket as last seen (`ticket_updated` only, for
    /// `changed_fields`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<i64, Prints>,
    #[serde(skip)]
    delivery_set: HashSet<String>,
}

/// One journal line.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "k")]
enum Entry {
    #[serde(rename = "t")]
    Ticket {
        id: i64,
        #[serde(flatten)]
        mark: Mark,
    },
    #[serde(rename = "c")]
    Cursor { v: DateTime<Utc> },
    #[serde(rename = "cc")]
    ClosedCursor { v: DateTime<Utc> },
    #[serde(rename = "d")]
    Delivery { v: String },
    #[serde(rename = "o")]
    Inbox { v: u64 },
    #[serde(rename = "x")]
    Dead { v: DeadLetter },
    /// A dead letter the dispatcher has now accepted.
    #[serde(rename = "r")]
    Revived { v: String },
    #[serde(rename = "f")]
    Fields { id: i64, v: Prints },
}

impl TriggerState {
    pub fn seen_delivery(&self, id: &str) -> bool {
        self.delivery_set.contains(id)
    }

    fn apply(&mut self, e: Entry) {
        match e {
            Entry::Ticket { id, mark } => {
                self.tickets.insert(id, mark);
                if self.tickets.len() > MAX_TICKETS {
                    self.evict();
                }
            }
            Entry::Cursor { v } => {
                if self.cursor.is_none_or(|c| v > c) {
                    self.cursor = Some(v);
                }
            }
            Entry::ClosedCursor { v } => {
                if self.closed_cursor.is_none_or(|c| v > c) {
                    self.closed_cursor = Some(v);
                }
            }
            Entry::Delivery { v } => {
                if self.delivery_set.insert(v.clone()) {
                    self.deliveries.push_back(v);
                    while self.deliveries.len() > MAX_DELIVERIES {
                        if let Some(old) = self.deliveries.pop_front() {
                            self.delivery_set.remove(&old);
                        }
                    }
                }
            }
            Entry::Inbox { v } => self.inbox_offset = v,
            Entry::Dead { v } => {
                self.dead_letters.retain(|d| d.event_id != v.event_id);
                self.dead_letters.push_back(v);
                while self.dead_letters.len() > MAX_DEAD_LETTERS {
                    self.dead_letters.pop_front();
                }
            }
            Entry::Revived { v } => self.dead_letters.retain(|d| d.event_id != v),
            Entry::Fields { id, v } => {
                // Only for tickets the state keeps (a forgotten one is forgotten whole).
                if self.tickets.contains_key(&id) {
                    self.fields.insert(id, v);
                }
            }
        }
    }

    /// Forget the tenth of tickets whose last change is oldest.
    fn evict(&mut self) {
        let mut by_age: Vec<(DateTime<Utc>, i64)> = self.tickets.iter().map(|(id, mark)| (mark.marker, *id)).collect();
        by_age.sort_unstable();
        for (m, id) in by_age.into_iter().take(MAX_TICKETS / 10) {
            self.tickets.remove(&id);
            self.fields.remove(&id);
            if self.forgotten.is_none_or(|f| m > f) {
                self.forgotten = Some(m);
            }
        }
    }

    fn rebuild_index(&mut self) {
        self.delivery_set = self.deliveries.iter().cloned().collect();
    }
}

/// A trigger's state on disk, kept in step with the in-memory copy.
pub struct Store {
    path: PathBuf,
    journal_path: PathBuf,
    journal: Option<File>,
    pending: usize,
    pub state: TriggerState,
    /// What opening found, for the trigger to say.
    pub opened: Opened,
}

/// What `Store::open` found on disk.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Opened {
    /// The state file was there.
    pub state_file: bool,
    /// A journal was there (left by a run that did not stop cleanly).
    pub journal: bool,
    /// Journal lines that could not be read, the torn last line of a kill aside.
    pub bad_lines: usize,
}

impl Store {
    /// Load (or start) the state of `name` in `dir`, folding any journal left by a previous run.
    pub fn open(dir: &Path, name: &str) -> std::io::Result<Store> {
        fs::create_dir_all(dir)?;
        let path = dir.join(format!("{name}.json"));
        let journal_path = dir.join(format!("{name}.journal"));
        let mut opened = Opened::default();
        let mut state: TriggerState = match fs::read(&path) {
            Ok(bytes) => {
                opened.state_file = true;
                serde_json::from_slice(&bytes).map_err(|e| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("the trigger state file {} is not valid: {e}", path.display()),
                    )
                })?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => TriggerState::default(),
            Err(e) => return Err(e),
        };
        state.rebuild_index();
        if let Ok(f) = File::open(&journal_path) {
            opened.journal = true;
            let lines: Vec<String> = BufReader::new(f).lines().map_while(Result::ok).collect();
            for (i, line) in lines.iter().enumerate() {
                match serde_json::from_str::<Entry>(line) {
                    Ok(e) => state.apply(e),
                    // A line cut short by a kill is the last one: expected, and skipped.
                    Err(_) if i + 1 == lines.len() => {}
                    Err(_) => opened.bad_lines += 1,
                }
            }
        }
        let mut store = Store { path, journal_path, journal: None, pending: 0, state, opened };
        store.compact()?;
        Ok(store)
    }

    pub fn is_new(&self) -> bool {
        self.state.since.is_none()
    }

    /// The moment before which changes are not reported: the first start, or later when
    /// tickets had to be forgotten.
    pub fn floor(&self) -> Option<DateTime<Utc>> {
        match (self.state.since, self.state.forgotten) {
            (Some(s), Some(f)) => Some(s.max(f)),
            (s, f) => s.or(f),
        }
    }

    /// Set where reporting starts (first start only); written at once.
    pub fn set_since(&mut self, since: DateTime<Utc>) -> std::io::Result<()> {
        self.state.since = Some(since);
        self.state.cursor = Some(since);
        self.compact()
    }

    pub fn record_ticket(&mut self, id: i64, mark: Mark) -> std::io::Result<()> {
        self.write(Entry::Ticket { id, mark })
    }

    /// Remember a ticket's field fingerprints (after its mark: see `Entry::Fields`).
    pub fn record_fields(&mut self, id: i64, prints: Prints) -> std::io::Result<()> {
        if self.state.fields.get(&id) == Some(&prints) {
            return Ok(());
        }
        self.write(Entry::Fields { id, v: prints })
    }

    pub fn advance_cursor(&mut self, to: DateTime<Utc>) -> std::io::Result<()> {
        if self.state.cursor.is_some_and(|c| c >= to) {
            return Ok(());
        }
        self.write(Entry::Cursor { v: to })
    }

    pub fn advance_closed_cursor(&mut self, to: DateTime<Utc>) -> std::io::Result<()> {
        if self.state.closed_cursor.is_some_and(|c| c >= to) {
            return Ok(());
        }
        self.write(Entry::ClosedCursor { v: to })
    }

    pub fn record_delivery(&mut self, id: &str) -> std::io::Result<()> {
        if self.state.seen_delivery(id) {
            return Ok(());
        }
        self.write(Entry::Delivery { v: id.to_string() })
    }

    /// Set an event aside as refused for good: its summary in the state, the whole message in
    /// the dead-letter file.
    pub fn dead_letter(&mut self, letter: DeadLetter, message: &serde_json::Value) -> std::io::Result<()> {
        let mut line =
            serde_json::to_vec(&serde_json::json!({"event_id": letter.event_id, "message": message})).map_err(std::io::Error::other)?;
        line.push(b'\n');
        OpenOptions::new().create(true).append(true).open(self.dead_letter_path())?.write_all(&line)?;
        self.write(Entry::Dead { v: letter })
    }

    /// The file holding the messages of the events set aside.
    pub fn dead_letter_path(&self) -> PathBuf {
        self.path.with_extension("dead.jsonl")
    }

    /// The messages set aside that are still dead letters, oldest first.
    pub fn dead_messages(&self) -> std::io::Result<Vec<(String, serde_json::Value)>> {
        let f = match File::open(self.dead_letter_path()) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out: Vec<(String, serde_json::Value)> = Vec::new();
        for line in BufReader::new(f).lines().map_while(Result::ok) {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
            let Some(id) = v.get("event_id").and_then(serde_json::Value::as_str) else { continue };
            if self.state.dead_letters.iter().any(|d| d.event_id == id) && !out.iter().any(|(o, _)| o == id) {
                out.push((id.to_string(), v.get("message").cloned().unwrap_or_default()));
            }
        }
        Ok(out)
    }

    /// A dead letter was accepted on replay; once none is left, the file goes too.
    pub fn revive(&mut self, event_id: &str) -> std::io::Result<()> {
        self.write(Entry::Revived { v: event_id.to_string() })?;
        if self.state.dead_letters.is_empty() {
            match fs::remove_file(self.dead_letter_path()) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    pub fn set_inbox_offset(&mut self, offset: u64) -> std::io::Result<()> {
        if self.state.inbox_offset == offset {
            return Ok(());
        }
        self.write(Entry::Inbox { v: offset })
    }

    fn write(&mut self, e: Entry) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(&e).map_err(std::io::Error::other)?;
        line.push(b'\n');
        if self.journal.is_none() {
            self.journal = Some(OpenOptions::new().create(true).append(true).open(&self.journal_path)?);
        }
        if let Some(f) = self.journal.as_mut() {
            // One write per entry: a process killed right after still has it in the file.
            f.write_all(&line)?;
        }
        self.state.apply(e);
        self.pending += 1;
        if self.pending >= COMPACT_EVERY {
            self.compact()?;
        }
        Ok(())
    }

    /// Write the whole state atomically and empty the journal.
    pub fn compact(&mut self) -> std::io::Result<()> {
        let tmp = self.path.with_extension("json.tmp");
        {
            let mut f = File::create(&tmp)?;
            f.write_all(&serde_json::to_vec(&self.state).map_err(std::io::Error::other)?)?;
            f.sync_all()?;
        }
        fs::rename(&tmp, &self.path)?;
        self.journal = None;
        match fs::remove_file(&self.journal_path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        self.pending = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn field_prints_survive_a_restart_and_go_with_their_ticket() {
        let dir = tempfile::tempdir().unwrap();
        let prints = Prints::of(&serde_json::json!({"summary": "a", "status_id": 2}));
        {
            let mut s = Store::open(dir.path(), "trig").unwrap();
            s.record_fields(5, prints.clone()).unwrap();
            assert!(s.state.fields.is_empty(), "no prints for a ticket the state does not keep");
            s.record_ticket(5, Mark { status_id: 2, marker: t("2026-09-01T01:00:00Z"), last_action_id: 7 }).unwrap();
            s.record_fields(5, prints.clone()).unwrap();
        }
        let mut s = Store::open(dir.path(), "trig").unwrap();
        assert_eq!(s.state.fields.get(&5), Some(&prints));
        s.state.tickets.clear();
        for id in 0..(MAX_TICKETS as i64 + 1) {
            s.state.apply(Entry::Ticket {
                id,
                mark: Mark { status_id: 1, marker: t("2026-09-01T00:00:00Z") + chrono::Duration::seconds(id), last_action_id: 0 },
            });
            if id == 0 {
                s.state.apply(Entry::Fields { id, v: prints.clone() });
            }
        }
        assert!(!s.state.fields.contains_key(&0), "forgotten with the ticket");
    }

    #[test]
    fn survives_a_restart_with_and_without_compaction() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut s = Store::open(dir.path(), "trig").unwrap();
            assert!(s.is_new());
            s.set_since(t("2026-09-01T00:00:00Z")).unwrap();
            s.record_ticket(5, Mark { status_id: 2, marker: t("2026-09-01T01:00:00Z"), last_action_id: 7 }).unwrap();
            s.advance_cursor(t("2026-09-01T01:00:00Z")).unwrap();
            s.record_delivery("guid-1").unwrap();
            s.set_inbox_offset(120).unwrap();
            // Dropped without compaction, like a killed process: the journal holds the steps.
        }
        assert!(dir.path().join("trig.journal").exists());
        let s = Store::open(dir.path(), "trig").unwrap();
        assert!(!s.is_new());
        assert_eq!(s.state.tickets[&5], Mark { status_id: 2, marker: t("2026-09-01T01:00:00Z"), last_action_id: 7 });
        assert_eq!(s.state.cursor, Some(t("2026-09-01T01:00:00Z")));
        assert!(s.state.seen_delivery("guid-1"));
        assert_eq!(s.state.inbox_offset, 120);
        assert!(!dir.path().join("trig.journal").exists(), "folded into the state file on open");
    }

    #[test]
    fn forgetting_tickets_raises_the_floor() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path(), "f").unwrap();
        s.set_since(t("2026-01-01T00:00:00Z")).unwrap();
        let base = t("2026-09-01T00:00:00Z");
        for i in 0..(MAX_TICKETS as i64 + 1) {
            s.state.apply(Entry::Ticket {
                id: i,
                mark: Mark { status_id: 1, marker: base + chrono::Duration::seconds(i), last_action_id: 0 },
            });
        }
        assert!(s.state.tickets.len() <= MAX_TICKETS);
        let f = s.state.forgotten.unwrap();
        assert!(f >= base + chrono::Duration::seconds(MAX_TICKETS as i64 / 10 - 1), "{f}");
        assert_eq!(s.floor(), Some(f));
    }

    #[test]
    fn dead_letters_are_kept_until_revived() {
        let dir = tempfile::tempdir().unwrap();
        let letter = |id: &str| DeadLetter { event_id: id.into(), at: t("2026-09-01T00:00:00Z"), status: 413, reason: "too big".into() };
        {
            let mut s = Store::open(dir.path(), "d").unwrap();
            s.dead_letter(letter("e1"), &serde_json::json!({"n": 1})).unwrap();
            s.dead_letter(letter("e2"), &serde_json::json!({"n": 2})).unwrap();
        }
        let mut s = Store::open(dir.path(), "d").unwrap();
        assert_eq!(s.state.dead_letters.iter().map(|d| d.event_id.as_str()).collect::<Vec<_>>(), ["e1", "e2"]);
        assert_eq!(
            s.dead_messages().unwrap(),
            vec![("e1".into(), serde_json::json!({"n": 1})), ("e2".into(), serde_json::json!({"n": 2}))]
        );
        s.revive("e1").unwrap();
        assert_eq!(s.dead_messages().unwrap().len(), 1);
        s.revive("e2").unwrap();
        assert!(!s.dead_letter_path().exists(), "no dead letter left, no file");
    }

    #[test]
    fn unreadable_journal_lines_are_counted_but_a_torn_last_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("j.journal"), b"garbage\n{\"k\":\"c\",\"v\":\"2026-09-01T00:00:00Z\"}\n{\"k\":\"t\",\"id\"").unwrap();
        let s = Store::open(dir.path(), "j").unwrap();
        assert_eq!(s.opened, Opened { state_file: false, journal: true, bad_lines: 1 });
        assert_eq!(s.state.cursor, Some(t("2026-09-01T00:00:00Z")));
    }

    #[test]
    fn a_torn_last_journal_line_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut s = Store::open(dir.path(), "x").unwrap();
            s.record_ticket(1, Mark { status_id: 1, marker: t("2026-09-01T00:00:00Z"), last_action_id: 0 }).unwrap();
        }
        let mut f = OpenOptions::new().append(true).open(dir.path().join("x.journal")).unwrap();
        f.write_all(b"{\"k\":\"t\",\"id\":2,\"s\"").unwrap();
        let s = Store::open(dir.path(), "x").unwrap();
        assert_eq!(s.state.tickets.len(), 1);
    }

    #[test]
    fn cursor_only_moves_forward_and_sizes_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path(), "b").unwrap();
        s.advance_cursor(t("2026-09-02T00:00:00Z")).unwrap();
        s.advance_cursor(t("2026-09-01T00:00:00Z")).unwrap();
        assert_eq!(s.state.cursor, Some(t("2026-09-02T00:00:00Z")));
        for i in 0..(MAX_DELIVERIES + 10) {
            s.record_delivery(&format!("d{i}")).unwrap();
        }
        assert_eq!(s.state.deliveries.len(), MAX_DELIVERIES);
        assert!(!s.state.seen_delivery("d0"));
        assert!(s.state.seen_delivery(&format!("d{}", MAX_DELIVERIES + 9)));
    }

    #[test]
    fn a_corrupt_state_file_is_reported_not_silently_reset() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("c.json"), b"{not json").unwrap();
        let e = Store::open(dir.path(), "c").err().unwrap();
        assert!(e.to_string().contains("not valid"), "{e}");
    }
}
