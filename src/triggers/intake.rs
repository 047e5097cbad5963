//! Where sightings come from: the webhook inbox (in order, event-only deliveries merged per
//! ticket, a lost or truncated inbox noticed) and the poller (one list of what changed, tickets
//! closed a while ago swept apart now and then, a page at a time, the cursor never past a
//! crowded second).

use super::*;

/// What one poll pass saw: the newest change, and the earliest date that filled whole pages
/// (the cursor must not pass it).
struct PollSeen {
    newest: Option<DateTime<Utc>>,
    crowded: Option<DateTime<Utc>>,
}

impl PollSeen {
    /// Where the pass's cursor may move: its newest change, but not past a crowded second.
    fn reached(&self) -> Option<DateTime<Utc>> {
        match (self.newest, self.crowded) {
            (Some(n), Some(c)) => Some(n.min(c)),
            (n, _) => n,
        }
    }
}

impl Engine {
    /// Process what the inbox holds beyond the recorded offset, a group of stored POSTs at a
    /// time. Deliveries that carry no ticket (event-only payloads) are merged per ticket within a
    /// group: the ticket is read once after all of them arrived, which covers every change they
    /// announce, however many there are.
    pub(super) async fn drain_inbox(&mut self, inbox: &Inbox) -> Result<(), Halt> {
        self.check_inbox(inbox).await?;
        loop {
            let batches = inbox.read_from(self.store.state.inbox_offset, 64)?;
            let Some(end) = batches.last().map(|(_, end)| *end) else { break };
            let deliveries: Vec<&Value> =
                batches.iter().flat_map(|(d, _)| d).filter(|d| !self.handled(delivery_id(d).as_deref())).collect();
            let mut sightings: Vec<Sighting> = Vec::new();
            let mut event_only: HashMap<i64, usize> = HashMap::new();
            for s in deliveries.iter().filter_map(|d| Sighting::of_delivery(d)) {
                match (s.seen, event_only.get(&s.id)) {
                    (None, Some(&i)) => {
                        let merged = &mut sightings[i];
                        merged.new |= s.new;
                        merged.agent_id = s.agent_id.or(merged.agent_id);
                    }
                    (None, None) => {
                        event_only.insert(s.id, sightings.len());
                        sightings.push(s);
                    }
                    (Some(_), _) => sightings.push(s),
                }
            }
            self.read_ahead(&sightings).await?;
            for s in sightings {
                self.observe(s, Source::Webhook).await?;
            }
            for id in deliveries.iter().filter_map(|d| delivery_id(d)) {
                self.store.record_delivery(&id)?;
            }
            self.store.set_inbox_offset(end)?;
            self.read.clear();
        }
        let processed = self.store.state.inbox_offset;
        let store = &mut self.store;
        if inbox.compact(processed, || store.set_inbox_offset(0))?.is_some() {
            tracing::debug!("Compacted the webhook inbox");
        }
        Ok(())
    }

    /// An inbox shorter than the offset recorded as processed, or whose recorded offset is not
    /// the start of a line, was truncated, replaced or lost: new deliveries would wait (or be
    /// skipped) unseen. It is read again from the start (deliveries already handled are known by
    /// their IDs, changes by the record) and HaloITSM is polled for whatever was in the lost part.
    pub(super) async fn check_inbox(&mut self, inbox: &Inbox) -> Result<(), Halt> {
        let offset = self.store.state.inbox_offset;
        if offset == 0 || inbox.starts_line(offset)? {
            return Ok(());
        }
        tracing::error!(
            "The webhook inbox holds {} bytes but {offset} were recorded as processed, or that point is not the start of a delivery: the file was truncated, replaced or lost. Reading it again from the start and polling HaloITSM for anything missed",
            inbox.len()
        );
        self.store.set_inbox_offset(0)?;
        self.poll().await
    }

    /// One poll: every ticket whose last action date is at or after the cursor (minus the
    /// overlap), oldest change first, paged by date so that changes made meanwhile cannot
    /// shift a ticket past a page boundary. One list request when nothing changed: a plain
    /// list holds open tickets and those closed lately (docs/halo-api.md#Q1), so changes to
    /// tickets closed a while ago (a note, say) are looked for apart, in a list of closed ones
    /// at the first poll and every `SWEEP_EVERY` polls, with a cursor of its own (Q2). A cursor
    /// moves at the end of a complete cycle.
    pub(super) async fn poll(&mut self) -> Result<(), Halt> {
        let sweep = self.polls % SWEEP_EVERY == 0;
        self.polls += 1;
        let start = self.store.state.cursor.unwrap_or_else(|| self.floor());
        let Some(seen) = self.poll_state(None, start).await? else { return Ok(()) };
        if let Some(to) = seen.reached() {
            self.store.advance_cursor(to)?;
        }
        if sweep {
            let start = self.store.state.closed_cursor.or(self.store.state.since).unwrap_or_else(|| self.floor());
            let Some(seen) = self.poll_state(Some(State::Closed), start).await? else { return Ok(()) };
            if let Some(to) = seen.reached() {
                self.store.advance_closed_cursor(to)?;
            }
        }
        Ok(())
    }

    /// Poll the tickets changed since `start` (less the overlap), all of them or those in one
    /// state; None when HaloITSM could not be read (the cursor stays).
    async fn poll_state(&mut self, state: Option<State>, start: DateTime<Utc>) -> Result<Option<PollSeen>, Halt> {
        let mut from = start - chrono::Duration::from_std(OVERLAP).unwrap_or_default();
        let mut page_no = 1u64;
        let mut newest: Option<DateTime<Utc>> = None;
        // A date shared by a whole page is read page by page; the cursor must not pass it.
        let mut crowded: Option<DateTime<Utc>> = None;
        loop {
            let mut q = vec![
                ("datesearch", "lastactiondate".to_string()),
                ("startdate", from.format("%Y-%m-%dT%H:%M:%S").to_string()),
                ("order", "lastactiondate".to_string()),
                ("pageinate", "true".to_string()),
                ("page_size", PAGE.to_string()),
                ("page_no", page_no.to_string()),
            ];
            q.extend(state.map(State::filter));
            let answer = match unless_stopped(&self.stop, self.client.get("Tickets", &q)).await? {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!("Polling HaloITSM failed ({e}); trying again at the next interval");
                    return Ok(None);
                }
            };
            let rows = match rows_of(answer, "tickets") {
                Ok((rows, _)) => rows,
                Err(got) => {
                    tracing::warn!("HaloITSM answered the poll with {got}; trying again at the next interval");
                    return Ok(None);
                }
            };
            let full_page = rows.len() >= PAGE;
            let mut sightings: Vec<Sighting> = rows.iter().filter_map(Sighting::of).collect();
            sightings.sort_by_key(|s| s.seen.map(|(_, m)| (m, s.id)));
            let first = sightings.first().and_then(|s| s.seen.map(|x| x.1));
            let last = sightings.last().and_then(|s| s.seen.map(|x| x.1));
            self.read_ahead(&sightings).await?;
            for s in sightings {
                self.observe(s, Source::Poll).await?;
            }
            self.read.clear();
            newest = newest.max(last);
            if !full_page {
                break;
            }
            match (first, last) {
                (Some(f), Some(l)) if f == l => {
                    crowded = Some(crowded.map_or(f, |c| c.min(f)));
                    page_no += 1;
                }
                (_, Some(l)) => {
                    from = l;
                    page_no = 1;
                }
                _ => break,
            }
        }
        Ok(Some(PollSeen { newest, crowded }))
    }
}
