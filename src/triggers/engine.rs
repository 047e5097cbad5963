//! The engine, its state and all its work: where sightings come from (the webhook inbox, in
//! order, event-only deliveries merged per ticket, a lost or truncated inbox noticed; the
//! poller, one list of what changed, tickets closed a while ago swept apart now and then, a page
//! at a time, the cursor never past a crowded second), and what it does with one: reading the
//! ticket and its history from HaloITSM (patiently, giving way to a stop), deciding what it
//! means (`plan`), and sending each event (or setting it aside as a dead letter).

use super::*;

pub(super) struct Engine {
    cfg: Config,
    client: Arc<HaloClient>,
    store: Store,
    dispatcher: Dispatcher,
    log: StepLog,
    plugin: Arc<Plugin>,
    our_agent: Option<i64>,
    agent_checked: Option<std::time::Instant>,
    stop: watch::Receiver<bool>,
    dispatched: u64,
    /// Tickets and histories read ahead for the sightings being handled (see `read_ahead`).
    read: HashMap<i64, (Value, Vec<Act>)>,
    /// Polls made, for the sweep of tickets closed a while ago every `SWEEP_EVERY`.
    polls: u64,
}

/// Tickets read from HaloITSM at once while a batch of sightings is handled.
const READ_AHEAD: usize = 16;
/// Reads of a ticket whose history shows a newer status than the ticket did.
const REREADS: usize = 2;

/// Whether a ticket shows the status its history ends with (a history that records no status
/// says nothing against it).
fn consistent(ticket: &Value, history: &[Act]) -> bool {
    plan::status_after(history).is_none_or(|s| int(ticket, "status_id") == Some(s))
}

impl Engine {
    pub(super) fn new(
        plugin: Arc<Plugin>,
        cfg: Config,
        client: Arc<HaloClient>,
        store: Store,
        dispatcher: Dispatcher,
        log: StepLog,
        stop: watch::Receiver<bool>,
    ) -> Engine {
        Engine {
            cfg,
            client,
            store,
            dispatcher,
            log,
            plugin,
            our_agent: None,
            agent_checked: None,
            stop,
            dispatched: 0,
            read: HashMap::new(),
            polls: 0,
        }
    }

    /// The state compacted to one file as the trigger stops.
    pub(super) fn finish(&mut self) -> std::io::Result<()> {
        tracing::info!("Trigger stopped after sending {} event(s)", self.dispatched);
        self.store.compact()
    }

    /// Work until stopped: dead letters replayed (or announced), a first poll to catch up on what
    /// changed while the trigger was not running, then every webhook delivery as it arrives and
    /// a poll every interval.
    pub(super) async fn run(&mut self, inbox: Option<&Inbox>) -> Result<(), Halt> {
        if self.cfg.replay_dead_letters {
            self.replay_dead_letters().await?;
        } else if !self.store.state.dead_letters.is_empty() {
            tracing::warn!(
                "{} event(s) the dispatcher refused are set aside in {}; start the trigger with Replay Dead Letters to send them again",
                self.store.state.dead_letters.len(),
                self.store.dead_letter_path().display()
            );
        }
        self.poll().await?;
        tracing::info!("First poll done; watching for changes");
        let mut ticker = tokio::time::interval(self.cfg.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        let mut stop = self.stop.clone();
        loop {
            if let Some(inbox) = inbox {
                self.drain_inbox(inbox).await?;
            }
            let arrived = async {
                match inbox {
                    Some(i) => i.arrived.notified().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                _ = until_stopped(&mut stop) => return Err(Halt::Stopped),
                _ = arrived => {}
                _ = ticker.tick(), if self.cfg.poll => self.poll().await?,
            }
        }
    }

    /// Changes at or after this moment are reported. HaloITSM dates have whole seconds, so the
    /// moment is rounded down to its second: a change in the same second counts as after it.
    pub(super) fn floor(&self) -> DateTime<Utc> {
        use chrono::SubsecRound;
        self.store.floor().unwrap_or_else(Utc::now).trunc_subsecs(0)
    }

    /// Which agent this API application acts as (to recognise its own changes); asked again at
    /// most every 30 seconds while unknown.
    pub(super) async fn our_agent(&mut self) -> Result<Option<i64>, Halt> {
        if self.our_agent.is_none() && self.agent_checked.is_none_or(|t| t.elapsed() >= Duration::from_secs(30)) {
            self.agent_checked = Some(std::time::Instant::now());
            match unless_stopped(&self.stop, self.client.acting_agent()).await? {
                Ok(Some(me)) => self.our_agent = Some(me),
                Ok(None) | Err(_) => {
                    tracing::warn!("Could not read /Agent/me; changes by this integration cannot be recognised until it can")
                }
            }
        }
        Ok(self.our_agent)
    }

    /// Wait out HaloITSM failures that may pass (the event must not be lost): retried with
    /// backoff until they succeed or the trigger stops. Permanent refusals are returned.
    pub(super) async fn patiently<T, F, Fut>(&mut self, what: &str, mut call: F) -> Result<Result<T, HaloError>, Halt>
    where
        F: FnMut(Arc<HaloClient>) -> Fut,
        Fut: std::future::Future<Output = Result<T, HaloError>>,
    {
        let mut backoff = crate::halo::Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
        loop {
            let delay = backoff.next_delay();
            match unless_stopped(&self.stop, call(self.client.clone())).await? {
                Ok(v) => return Ok(Ok(v)),
                Err(e)
                    if e.is_transient()
                        || matches!(
                            e,
                            HaloError::InvalidCredentials { .. } | HaloError::Unauthorized { .. } | HaloError::TokenRejected { .. }
                        ) =>
                {
                    tracing::warn!("Could not read {what} ({e}); trying again in {:.1} s", delay.as_secs_f32());
                }
                Err(e) => return Ok(Err(e)),
            }
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = until_stopped(&mut self.stop) => return Err(Halt::Stopped),
            }
        }
    }

    pub(super) async fn ticket(&mut self, id: i64) -> Result<Fetched<Value>, Halt> {
        match self.patiently(&format!("ticket {id}"), |c| async move { c.get_ticket(id, true).await }).await? {
            Ok(Some(t)) => Ok(Fetched::Got(t)),
            Ok(None) => Ok(Fetched::Gone),
            Err(e) => {
                tracing::error!("Skipping a change to ticket {id}: HaloITSM refuses to show it ({e})");
                Ok(Fetched::Refused)
            }
        }
    }

    /// The ticket's history; None when HaloITSM refuses it for good (then only what the record
    /// proves is reported).
    pub(super) async fn history(&mut self, id: i64) -> Result<Option<Vec<Act>>, Halt> {
        match self.patiently(&format!("the history of ticket {id}"), |c| async move { c.history(id, &[]).await }).await? {
            Ok(rows) => Ok(Some(rows.iter().filter_map(Act::of).collect())),
            Err(e) => {
                tracing::warn!("HaloITSM refuses the history of ticket {id} ({e}); reporting only what the trigger itself saw");
                Ok(None)
            }
        }
    }

    /// The ticket read again after its history showed a change the first read had not: the
    /// snapshot an event carries is never older than the transition it reports. Read at most
    /// `REREADS` times while changes keep landing; the last read is newer than the history either
    /// way. None when the ticket is gone or refused meanwhile.
    pub(super) async fn reread_after(&mut self, id: i64, history: &[Act]) -> Result<Option<(Value, Now)>, Halt> {
        let mut last = None;
        for _ in 0..REREADS {
            let raw = match self.ticket(id).await? {
                Fetched::Got(t) => t,
                Fetched::Gone | Fetched::Refused => return Ok(None),
            };
            let Some(now) = Now::of(&raw) else { return Ok(None) };
            let done = consistent(&raw, history);
            last = Some((raw, now));
            if done {
                break;
            }
        }
        Ok(last)
    }

    /// Whether a sighting needs HaloITSM to be asked, judged from what the source said alone.
    pub(super) fn worth_reading(&self, s: &Sighting) -> Worth {
        let Some((status, marker)) = s.seen else { return Worth::Read };
        match self.store.state.tickets.get(&s.id) {
            Some(p) if marker < p.marker || (marker == p.marker && status == p.status_id) => Worth::Known,
            None if !s.new && marker < self.floor() => Worth::BeforeFloor(Mark { status_id: status, marker, last_action_id: 0 }),
            _ => Worth::Read,
        }
    }

    /// Read the tickets (then each one's history) that a batch of sightings will need,
    /// `READ_AHEAD` at a time, so that handling the batch in order waits on no round trip.
    /// What cannot be read here is simply read again, patiently, when its turn comes; what is
    /// read is used once, by the ticket's next sighting in this batch, and then forgotten.
    pub(super) async fn read_ahead(&mut self, sightings: &[Sighting]) -> Result<(), Halt> {
        let mut ids: Vec<i64> = sightings.iter().filter(|s| matches!(self.worth_reading(s), Worth::Read)).map(|s| s.id).collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.len() < 2 {
            return Ok(());
        }
        let client = self.client.clone();
        let reads = stream::iter(ids)
            .map(|id| {
                let c = client.clone();
                async move {
                    // As `observe` reads them: the ticket, its history, and the ticket again when
                    // the history has moved on meanwhile, so the snapshot is never older.
                    let mut ticket = c.get_ticket(id, true).await.ok().flatten()?;
                    let rows = c.history(id, &[]).await.ok()?;
                    let history: Vec<Act> = rows.iter().filter_map(Act::of).collect();
                    if !consistent(&ticket, &history) {
                        ticket = c.get_ticket(id, true).await.ok().flatten()?;
                    }
                    Some((id, (ticket, history)))
                }
            })
            .buffer_unordered(READ_AHEAD)
            .filter_map(std::future::ready)
            .collect::<Vec<_>>();
        let mut stop = self.stop.clone();
        tokio::select! {
            read = reads => self.read.extend(read),
            _ = until_stopped(&mut stop) => return Err(Halt::Stopped),
        }
        Ok(())
    }

    /// Handle one sighting of a ticket: skip what is already known, otherwise read the ticket
    /// and its history, send the events this trigger wants (each once), then record.
    pub(super) async fn observe(&mut self, s: Sighting, source: Source) -> Result<(), Halt> {
        let prev = self.store.state.tickets.get(&s.id).copied();
        let floor = self.floor();
        match self.worth_reading(&s) {
            Worth::Read => {}
            Worth::Known => return Ok(()),
            Worth::BeforeFloor(mark) => {
                // Last changed before the trigger's floor (e.g. re-read in the poll overlap):
                // remembered, not reported.
                self.store.record_ticket(s.id, mark)?;
                return Ok(());
            }
        }
        let (raw, history) = match self.read.remove(&s.id) {
            Some((raw, history)) => (raw, Some(Some(history))),
            None => match self.ticket(s.id).await? {
                Fetched::Got(t) => (t, None),
                Fetched::Gone => {
                    tracing::info!("Ticket {} no longer exists; nothing to report", s.id);
                    return Ok(());
                }
                Fetched::Refused => return Ok(()),
            },
        };
        let Some(now) = Now::of(&raw) else {
            tracing::warn!("Ticket {} has no status or last action date; it is skipped", s.id);
            return Ok(());
        };
        if let Some(p) = prev {
            if now.marker <= p.marker && now.status == p.status_id {
                return Ok(());
            }
        } else if !s.new && now.marker < floor {
            self.store.record_ticket(s.id, Mark { status_id: now.status, marker: now.marker, last_action_id: 0 })?;
            // The ticket was read: its next change can be compared with it.
            if self.cfg.filters.kind == Kind::Updated {
                self.store.record_fields(s.id, Prints::of(&raw))?;
            }
            return Ok(());
        }
        let history = match history {
            Some(h) => h,
            None => self.history(s.id).await?,
        };
        let (raw, now) = match &history {
            Some(h) if !consistent(&raw, h) => match self.reread_after(s.id, h).await? {
                Some(fresh) => fresh,
                None => return Ok(()),
            },
            _ => (raw, now),
        };
        let plan = plan::plan(prev, now, history.as_deref(), floor, s.new);
        let mut ticket = Ticket::from_halo(&raw, |id| self.client.ticket_url(id));
        let flags = unless_stopped(&self.stop, crate::sync::Flags::read(&self.client, &raw)).await?;
        ticket.closed = Some(flags.closed);
        let statuses = unless_stopped(&self.stop, event::tenant_statuses(&self.client)).await?;
        let rapid7 = event::rapid7_statuses(statuses.as_deref(), &self.cfg.mappings, now.status, flags);
        let us = self.our_agent().await?;
        let (prints, changed_fields) = self.changed_fields(s.id, &raw, &plan, prev);
        let seen = event::Seen {
            ticket: &ticket,
            raw: &raw,
            now,
            source,
            hinted_agent: s.agent_id,
            us,
            rapid7: &rapid7,
            reference_field_id: self.cfg.reference_field_id,
            changed_fields: &changed_fields,
            statuses: statuses.as_deref(),
        };
        let mut progress = prev.unwrap_or(Mark { status_id: now.status, marker: floor, last_action_id: 0 });
        for planned in &plan.events {
            if let Some((mut output, key)) = event::build(&self.cfg.filters, planned, &seen) {
                output["event_id"] = json!(format!("{}:{key}", self.cfg.state_name));
                self.dispatch(output).await?;
            }
            // A transition sent is recorded at once: a kill between two transitions of one
            // change must not send the first again.
            if let Planned::Transition { new, act: Some(act), .. } = planned {
                progress = Mark { status_id: *new, marker: progress.marker, last_action_id: *act };
                self.store.record_ticket(s.id, progress)?;
            }
        }
        self.store.record_ticket(s.id, plan.record)?;
        if let Some(prints) = prints {
            self.store.record_fields(s.id, prints)?;
        }
        if !self.cfg.poll {
            // Without polling, the webhook's changes are the cursor a restart catches up from.
            self.store.advance_cursor(now.marker)?;
        }
        Ok(())
    }

    /// The fields this change touched (`ticket_updated` only): those whose fingerprint differs
    /// from the ticket as last seen, and those the history entries since then record. Returns
    /// the fingerprints to keep as well.
    fn changed_fields(&self, id: i64, raw: &Value, plan: &plan::Plan, prev: Option<Mark>) -> (Option<Prints>, Vec<String>) {
        if self.cfg.filters.kind != Kind::Updated {
            return (None, Vec::new());
        }
        let now = Prints::of(raw);
        let by_prints = self.store.state.fields.get(&id).map(|before| before.changed(&now)).unwrap_or_default();
        let mut by_history = changes::from_history(&plan.fresh);
        if prev.is_some_and(|p| p.status_id != plan.record.status_id) {
            by_history.push("status".into());
        }
        (Some(now), changes::merge(by_prints, by_history))
    }

    /// Validate and send one event: retried until accepted or stopped; an event the dispatcher
    /// refuses for good is set aside as a dead letter and the trigger goes on.
    pub(super) async fn dispatch(&mut self, output: Value) -> Result<(), Halt> {
        self.plugin.check_output(StepKind::Trigger, &self.cfg.name, &output).map_err(|e| Halt::Failed(e.to_string()))?;
        tracing::info!("Sending a {} event for ticket {}", output["event"].as_str().unwrap_or("ticket"), output["ticket"]["id"]);
        let event_id = output["event_id"].as_str().unwrap_or_default().to_string();
        let msg =
            json!({"version": "v1", "type": "trigger_event", "body": {"meta": self.cfg.meta, "output": output, "log": self.log.take()}});
        match self.dispatcher.send(&msg, &mut self.stop).await? {
            Delivered::Accepted => self.dispatched += 1,
            Delivered::Refused { status, reason } => {
                tracing::error!(
                    "The dispatcher refused event {event_id} for good (HTTP {status}{}); it is set aside in {} and the trigger goes on. Start the trigger with Replay Dead Letters to send it again",
                    if reason.is_empty() { String::new() } else { format!(": {reason}") },
                    self.store.dead_letter_path().display()
                );
                self.store.dead_letter(DeadLetter { event_id, at: Utc::now(), status, reason }, &msg)?;
            }
        }
        Ok(())
    }

    /// Send the events set aside earlier, oldest first; those accepted leave the list.
    pub(super) async fn replay_dead_letters(&mut self) -> Result<(), Halt> {
        let letters = self.store.dead_messages()?;
        if letters.is_empty() {
            tracing::info!("Replay Dead Letters: there are none");
            return Ok(());
        }
        tracing::info!("Replaying {} dead letter(s)", letters.len());
        for (event_id, msg) in letters {
            match self.dispatcher.send(&msg, &mut self.stop).await? {
                Delivered::Accepted => {
                    tracing::info!("The dispatcher accepted dead letter {event_id}");
                    self.store.revive(&event_id)?;
                }
                Delivered::Refused { status, .. } => {
                    tracing::error!("The dispatcher refused dead letter {event_id} again (HTTP {status}); it stays set aside");
                }
            }
        }
        Ok(())
    }

    /// Whether the delivery with this key was handled already (one without an ID never was).
    pub(super) fn handled(&self, delivery_id: Option<&str>) -> bool {
        delivery_id.is_some_and(|id| self.store.state.seen_delivery(id))
    }
}

// ---------------------------------------------------------------------------------------------
// Where sightings come from

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
