//! The one stats writer task: collects events from the queue into batches,
//! updates the live counters, writes each batch to the SQL store (retrying
//! with backoff while it is unreachable, from a bounded backlog, or from the
//! journal on disk when one is configured), and drains everything on
//! shutdown.
//!
//! With a journal, a batch the database could not take is appended to it,
//! and so is every new batch while the database keeps failing, so the queue
//! never waits on the database. Once writes succeed again, the journal is
//! replayed oldest first between live batches: after each live write, one
//! journal batch at least, then more while the queue holds less than a
//! batch and for at most `flush_interval`, so neither side starves.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use aigw_domain::{
    AccountHealthChange, AccountHealthDelta, AccountId, HealthStatus, NewRequestLog, ProviderId,
    ProxyId, QuotaObservation, StatsBatchId,
};
use aigw_repository::state::{Invalidation, LiveCounts, LiveScope, SharedState};
use aigw_repository::{SqlRepository, StageWrite, StatsStage};
use chrono::NaiveDate;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use parking_lot::Mutex;
use tokio::sync::oneshot;
use tokio::time::{Instant, sleep_until, timeout_at};

use super::batch::{Backlog, PendingBatch, ProxyKey, ProxySums, delta, deltas};
use super::config::StatsConfig;
use super::event::StatsEvent;
use super::journal::Journal;
use super::metrics::{Counters, FlushReport};
use super::queue::EventReceiver;
use super::spill::{Overflow, Spill};
use crate::health::{AccountOutcome, DownAccounts, HealthSettings};

/// Failures the repository cannot classify (neither "unreachable" nor a
/// constraint) are retried this many times before the batch is split into
/// one-row writes, so that a single bad row cannot hold up the pipeline.
const MAX_UNCLASSIFIED_FAILURES: u32 = 3;

/// The stage names of a batch's writes in the database's stage markers.
const STAGE_LOGS: &str = "logs";
const STAGE_PROXY_STATS: &str = "proxy_stats";
const STAGE_ACCOUNT_USAGE: &str = "account_usage";

/// How long a stage marker is kept at least. A marker is only read by the
/// retries of its own batch, which follow its commit within the retry backoff
/// (seconds), unless the database stays unreachable for longer than this; a
/// journal keeps markers for its age limit plus this.
const MARKER_RETENTION: chrono::TimeDelta = chrono::TimeDelta::days(1);

/// How often the writer deletes markers past their retention.
const MARKER_CLEANUP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(3600);

/// How long a probe of the database may take while writes are failing. A
/// probe is a `SELECT 1`: cancelling it leaves nothing half done.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// Live-counter updates in flight at once (they are Redis round trips in the
/// scale-out deployment; fred pipelines them on one connection).
const LIVE_CONCURRENCY: usize = 64;

/// Where batches go; shared by reference with the write in progress.
struct Sink {
    repository: SqlRepository,
    state: SharedState,
    counters: Arc<Counters>,
    /// When old stage markers are next deleted. Locked only to read and
    /// move it, never across an `.await`.
    next_marker_cleanup: Mutex<Instant>,
    /// How old a stage marker gets before it is deleted.
    marker_retention: chrono::TimeDelta,
    /// The longest a batch's write may take before it counts as failed.
    write_timeout: std::time::Duration,
    /// Whether the last write failed and no write or probe has succeeded
    /// since: health and limits then skip the database (counted as health
    /// failures) rather than each wait for an answer that will not come.
    writes_failing: AtomicBool,
    /// How outcomes turn into account health.
    health: HealthSettings,
    /// The `down` accounts of this instance, kept in step with what is
    /// written.
    down: DownAccounts,
    /// When each account's learned limits were last written, and whether
    /// a window was used up then. Locked only to read and update the map,
    /// never across an `.await`.
    limits_written: Mutex<HashMap<AccountId, (Instant, bool)>>,
}

/// The writer task's state. It is the only owner of the receiver, the
/// batch in progress and the backlog, so none of them needs a lock.
pub(crate) struct Writer {
    sink: Sink,
    config: StatsConfig,
    rx: EventReceiver,
    stop: oneshot::Receiver<Instant>,
    /// `false` once the handle has asked to stop or was dropped.
    stop_open: bool,
    /// `false` once every recorder is dropped and the queue is empty.
    queue_open: bool,
    batch: Vec<StatsEvent>,
    /// When the writer next takes a partial batch from the queue (the queue
    /// wakes it only for whole ones): every `flush_interval`.
    next_take: Instant,
    /// A partial batch was taken and waits to be written.
    partial_due: bool,
    backlog: Backlog,
    /// The journal, when one is configured.
    spill: Option<Spill>,
    /// A batch was written since the database last handed back its cache.
    written_since_release: bool,
}

impl Writer {
    pub(crate) fn new(
        repository: SqlRepository,
        state: SharedState,
        config: StatsConfig,
        rx: EventReceiver,
        stop: oneshot::Receiver<Instant>,
        counters: Arc<Counters>,
        journal: Option<Journal>,
    ) -> Self {
        // A batch replayed from the journal may be as old as its age limit;
        // its markers must outlive it, or a replay could count it twice.
        let marker_retention = journal
            .as_ref()
            .and_then(|j| chrono::TimeDelta::from_std(j.config().max_age).ok())
            .map_or(MARKER_RETENTION, |age| age + MARKER_RETENTION);
        let spill = journal.map(|j| Spill::new(j, Arc::clone(&counters)));
        let next_take = Instant::now() + config.flush_interval;
        let backlog = Backlog::new(
            config.backlog_capacity,
            config.batch_size,
            config.retry_backoff_min,
            config.retry_backoff_max,
        );
        Self {
            sink: Sink {
                repository,
                state,
                counters,
                next_marker_cleanup: Mutex::new(Instant::now()),
                marker_retention,
                write_timeout: config.write_timeout,
                writes_failing: AtomicBool::new(false),
                health: config.health,
                down: DownAccounts::default(),
                limits_written: Mutex::new(HashMap::new()),
            },
            batch: Vec::with_capacity(config.batch_size),
            config,
            rx,
            stop,
            stop_open: true,
            queue_open: true,
            next_take,
            partial_due: false,
            backlog,
            spill,
            written_since_release: false,
        }
    }

    /// The writer that keeps `down` in step with the health it writes.
    pub(crate) fn with_down(mut self, down: DownAccounts) -> Self {
        self.sink.down = down;
        self
    }

    /// Whether writes wait: in the backlog or in the journal.
    fn pending(&self) -> bool {
        !self.backlog.is_empty() || self.spill.as_ref().is_some_and(Spill::has_pending)
    }

    /// Runs until asked to stop (or until every recorder and the handle are
    /// gone), then drains.
    pub(crate) async fn run(mut self) -> FlushReport {
        let deadline = self.collect().await;
        let deadline = deadline.unwrap_or_else(|| Instant::now() + self.config.shutdown_timeout);
        self.drain(deadline).await
    }

    /// The steady state: batch events and flush them when the batch is full,
    /// every `flush_interval` when a partial batch waits, or when a retry of
    /// the backlog is due. Returns the shutdown deadline, or `None` when the
    /// queue closed because every recorder was dropped.
    async fn collect(&mut self) -> Option<Instant> {
        loop {
            let now = Instant::now();
            if now >= self.next_take {
                let room = self.config.batch_size.saturating_sub(self.batch.len());
                let taken = self.rx.try_recv_many(&mut self.batch, room);
                Counters::add(&self.sink.counters.received, taken);
                self.partial_due = !self.batch.is_empty();
                self.next_take = now + self.config.flush_interval;
                if !self.partial_due && self.written_since_release && !self.pending() {
                    // A whole flush interval without an event: the load is over
                    // for now, and the database's cache is memory held for nothing.
                    self.written_since_release = false;
                    self.sink.release_memory().await;
                }
            }
            let batch_due = self.batch.len() >= self.config.batch_size || self.partial_due;
            let pending = self.pending();
            let retry_due = pending && self.backlog.due(now);
            if batch_due || retry_due {
                self.partial_due = false;
                self.written_since_release = true;
                if let Some(deadline) = self.flush().await {
                    return Some(deadline);
                }
                continue;
            }
            if !self.queue_open && !self.stop_open {
                return None;
            }
            let wake = match self.backlog.retry_at().filter(|_| pending) {
                Some(retry) => retry.min(self.next_take),
                None => self.next_take,
            };
            let room = self.config.batch_size - self.batch.len();
            tokio::select! {
                biased;
                stop = &mut self.stop, if self.stop_open => {
                    self.stop_open = false;
                    if let Ok(deadline) = stop {
                        return Some(deadline);
                    }
                    // The handle was dropped without a shutdown: keep going
                    // until the recorders are gone too.
                }
                received = self.rx.recv_many(&mut self.batch, room), if self.queue_open => {
                    if received == 0 {
                        self.queue_open = false;
                        if !self.stop_open {
                            return None;
                        }
                    } else {
                        Counters::add(&self.sink.counters.received, received);
                    }
                }
                () = sleep_until(wake) => {}
            }
        }
    }

    /// Seals the batch and writes what is due, while still taking events
    /// from the queue (up to one batch) so that a slow write does not fill
    /// it; with a journal, a write slow enough for the queue to get half
    /// full moves batches from the queue to the journal meanwhile, so the
    /// queue never fills while the journal has room. Returns the shutdown
    /// deadline if one arrived meanwhile; if that deadline passes before the
    /// write ends, the write is abandoned (the drain then counts what is
    /// left as dropped).
    async fn flush(&mut self) -> Option<Instant> {
        let events = std::mem::replace(&mut self.batch, Vec::with_capacity(self.config.batch_size));
        let overflow = self.spill.as_ref().map(Spill::overflow);
        let mut deadline = None;
        let mut moved = Moved::default();
        {
            let Self {
                sink,
                config,
                rx,
                stop,
                stop_open,
                queue_open,
                batch,
                backlog,
                spill,
                ..
            } = &mut *self;
            let (sink, rx) = (&*sink, &*rx);
            let work = write(sink, config, backlog, spill, events, true);
            tokio::pin!(work);
            let mut moving: Option<MoveFuture<'_>> = None;
            let mut spare = Vec::new();
            loop {
                let room = config.batch_size.saturating_sub(batch.len());
                let can_move = overflow.is_some() && moving.is_none() && *queue_open;
                tokio::select! {
                    biased;
                    () = &mut work => break,
                    stop = &mut *stop, if *stop_open => {
                        *stop_open = false;
                        if let Ok(at) = stop {
                            deadline = Some(at);
                        }
                    }
                    received = rx.recv_many(batch, room), if *queue_open && room > 0 => {
                        if received == 0 {
                            *queue_open = false;
                        } else {
                            Counters::add(&sink.counters.received, received);
                        }
                    }
                    taken = rx.recv_deep(&mut spare, config.batch_size), if can_move => {
                        if taken == 0 {
                            *queue_open = false;
                        } else if let Some(overflow) = &overflow {
                            Counters::add(&sink.counters.received, taken);
                            let events = std::mem::take(&mut spare);
                            moving = Some(Box::pin(move_to_journal(sink, overflow, events)));
                        }
                    }
                    kept = async {
                        match moving.as_mut() {
                            Some(pending) => pending.await,
                            None => std::future::pending().await,
                        }
                    }, if moving.is_some() => {
                        moving = None;
                        moved.add(kept);
                    }
                    () = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => break,
                }
            }
            // A move under way finishes: its events were taken from the queue.
            if let Some(pending) = moving {
                moved.add(pending.await);
            }
            batch.append(&mut spare);
        }
        moved.settle(&mut self.backlog, self.spill.as_mut());
        deadline
    }

    /// Shutdown: refuse new events, write everything queued and backlogged,
    /// retrying until `deadline`; count what is left then as dropped.
    async fn drain(mut self, deadline: Instant) -> FlushReport {
        self.rx.close();
        let written_before = self.sink.counters.flushed_rows.load(Ordering::Relaxed);
        let Self {
            sink,
            config,
            rx,
            batch,
            backlog,
            spill,
            ..
        } = &mut self;
        let work = async {
            loop {
                // A full batch first: `recv_many` with no room returns 0,
                // which would read as "queue empty".
                if batch.len() >= config.batch_size {
                    let events = std::mem::replace(batch, Vec::with_capacity(config.batch_size));
                    write(sink, config, backlog, spill, events, false).await;
                }
                let room = config.batch_size - batch.len();
                // Returns at once: the queue is closed, so 0 means empty.
                let received = rx.recv_many(batch, room).await;
                Counters::add(&sink.counters.received, received);
                if received == 0 {
                    write(sink, config, backlog, spill, std::mem::take(batch), false).await;
                    break;
                }
            }
            // With a journal, a failed write moves the backlog there, which
            // ends this loop; the journal is replayed at the next start.
            while !backlog.is_empty() {
                if let Some(at) = backlog.retry_at() {
                    sleep_until(at).await;
                }
                write(sink, config, backlog, spill, Vec::new(), false).await;
            }
        };
        let drained = timeout_at(deadline, work).await.is_ok();
        let mut left: Vec<PendingBatch> = backlog.take_all().into();
        let mut events = std::mem::take(batch);
        let taken = rx.try_recv_many(&mut events, usize::MAX);
        Counters::add(&sink.counters.received, taken);
        if !events.is_empty() {
            left.push(PendingBatch::from_events(&events));
        }
        if let Some(spill) = spill.as_mut() {
            // What the deadline cut off goes to the journal rather than
            // being lost; only what the journal cannot take is dropped.
            left = spill.append(left).await;
            spill.sync(true).await;
        }
        let dropped: usize = left.iter().map(|b| b.events).sum();
        let counters = &sink.counters;
        Counters::add(&counters.dropped_shutdown, dropped);
        Counters::set(&counters.backlog_len, 0);
        if dropped > 0 {
            tracing::error!(
                dropped,
                "stats writer stopped at its deadline with events unwritten"
            );
        }
        let written = counters.flushed_rows.load(Ordering::Relaxed) - written_before;
        FlushReport {
            drained,
            written_rows: written,
            dropped: u64::try_from(dropped).unwrap_or(u64::MAX),
            metrics: counters.metrics(),
        }
    }
}

/// Records `events` in the live counters, queues their writes, writes the
/// backlog if a retry is due, then trims the backlog to its capacity.
///
/// With a journal: while writes are failing, the batch goes to the journal
/// instead; a failed write moves the whole backlog there; after a successful
/// one, journal batches are replayed (when `replay`).
async fn write(
    sink: &Sink,
    config: &StatsConfig,
    backlog: &mut Backlog,
    spill: &mut Option<Spill>,
    events: Vec<StatsEvent>,
    replay: bool,
) {
    if !events.is_empty() {
        sink.observe(&events).await;
        let batch = PendingBatch::from_events_yielding(&events).await;
        match spill.as_mut() {
            Some(spill) if backlog.retry_at().is_some() => {
                for kept in spill.append(vec![batch]).await {
                    backlog.push(kept);
                }
            }
            _ => backlog.push(batch),
        }
    }
    // While writes fail, the journal takes every batch and a cheap probe
    // decides whether to try the database again: a dead database (or a
    // network that swallows packets) holds the writer for at most the
    // probe's timeout, never for a pool's connect timeout per batch.
    let outage = spill.is_some() && backlog.retry_at().is_some();
    if outage && backlog.due(Instant::now()) && !sink.probe().await {
        backlog.failed(Instant::now());
    } else if backlog.due(Instant::now()) {
        let written = sink.write_backlog(backlog).await;
        if let Some(spill) = spill.as_mut() {
            if !written {
                let failed: Vec<PendingBatch> = backlog.take_all().into();
                for kept in spill.append(failed).await {
                    backlog.push(kept);
                }
            } else if replay && spill.has_pending() {
                sink.replay(spill, backlog, config).await;
            }
        }
    }
    if let Some(spill) = spill.as_mut() {
        spill.sync(false).await;
    }
    sink.writes_failing
        .store(backlog.retry_at().is_some(), Ordering::Relaxed);
    let dropped = backlog.enforce_capacity();
    if dropped > 0 {
        Counters::add(&sink.counters.dropped_backlog_full, dropped);
        tracing::warn!(
            dropped,
            "stats backlog full while the database is unreachable; oldest events dropped"
        );
    }
    Counters::set(&sink.counters.backlog_len, backlog.len());
}

/// A batch on its way from the queue to the journal (see [`Writer::flush`]).
type MoveFuture<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Option<PendingBatch>> + Send + 'a>>;

/// What moving batches to the journal during one flush left to settle.
#[derive(Default)]
struct Moved {
    /// Some batch reached the journal.
    appended: bool,
    /// Batches the journal could not write (a file error).
    kept: Vec<PendingBatch>,
}

impl Moved {
    fn add(&mut self, kept: Option<PendingBatch>) {
        match kept {
            Some(batch) => self.kept.push(batch),
            None => self.appended = true,
        }
    }

    /// Tells the writer's journal handle what was appended beside it, and
    /// keeps what the journal refused in the backlog.
    fn settle(self, backlog: &mut Backlog, spill: Option<&mut Spill>) {
        if let (true, Some(spill)) = (self.appended, spill) {
            spill.overflowed();
        }
        for batch in self.kept {
            backlog.push(batch);
        }
    }
}

/// Moves `events`, taken from the queue while the writer was busy, to the
/// journal: their live counters first, as for any batch, then the rows.
/// Returns the batch if the journal could not write it. Nothing here waits
/// on the database, which is what the writer is busy with.
async fn move_to_journal(
    sink: &Sink,
    overflow: &Overflow,
    events: Vec<StatsEvent>,
) -> Option<PendingBatch> {
    sink.observe_offline(&events).await;
    let batch = PendingBatch::from_events_yielding(&events).await;
    overflow.append(batch).await
}

/// One live-counter update (a group's sums); whether it succeeded.
async fn live_one(
    state: &SharedState,
    scope: LiveScope,
    id: String,
    day: NaiveDate,
    added: LiveCounts,
) -> bool {
    state.live_add(scope, &id, day, added).await.is_ok()
}

/// What a live counter counts for, borrowed from the events of a batch so
/// that grouping them allocates nothing per event.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum LiveTarget<'a> {
    Proxy(ProxyId),
    Account(AccountId),
    Provider(&'a ProviderId),
}

impl LiveTarget<'_> {
    fn scope(self) -> LiveScope {
        match self {
            Self::Proxy(_) => LiveScope::Proxy,
            Self::Account(_) => LiveScope::Account,
            Self::Provider(_) => LiveScope::Provider,
        }
    }

    fn id(self) -> String {
        match self {
            Self::Proxy(id) => id.to_string(),
            Self::Account(id) => id.to_string(),
            Self::Provider(id) => id.as_str().to_owned(),
        }
    }
}

/// Live-counter increments by target and day; foldhash, as the writer looks up
/// three targets per event.
type LiveGroups<'a> = foldhash::HashMap<(LiveTarget<'a>, NaiveDate), LiveCounts>;

/// The live-counter increments of `events`: requests and failures summed
/// per target (proxy, account, provider) and UTC day.
fn live_groups(events: &[StatsEvent]) -> LiveGroups<'_> {
    let mut groups = LiveGroups::default();
    for e in events {
        let day = e.at.date_naive();
        let failed = u64::from(e.failed());
        let targets = [
            e.proxy_id.map(LiveTarget::Proxy),
            e.account_id.map(LiveTarget::Account),
            e.provider_id.as_ref().map(LiveTarget::Provider),
        ];
        for target in targets.into_iter().flatten() {
            let counts = groups.entry((target, day)).or_default();
            counts.requests += 1;
            counts.failures += failed;
        }
    }
    groups
}

/// What to do after a failed write.
enum FailedWrite {
    /// Keep the rows and try again later.
    Retry,
    /// The database will never take these rows: isolate and drop them.
    Reject,
}

fn failed_write(error: &aigw_repository::Error, unclassified: &mut u32) -> FailedWrite {
    use aigw_repository::Error as E;
    match error {
        e if e.is_unavailable() => FailedWrite::Retry,
        E::NotFound { .. } | E::Conflict { .. } | E::ForeignKey { .. } | E::InvalidRow { .. } => {
            FailedWrite::Reject
        }
        _ => {
            *unclassified += 1;
            if *unclassified >= MAX_UNCLASSIFIED_FAILURES {
                FailedWrite::Reject
            } else {
                FailedWrite::Retry
            }
        }
    }
}

/// The shortest time between two writes of one account's learned limits:
/// answers state them on every request, the quota view needs them fresh to
/// seconds, not to the request.
const LIMITS_WRITE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// The quota observations of `events`: the last one per account and model
/// (`*` for limits of the whole account).
fn quota_observations(events: &[StatsEvent]) -> BTreeMap<(AccountId, String), QuotaObservation> {
    let mut latest = BTreeMap::new();
    for e in events {
        let (Some(account), Some(limits)) = (e.account_id, e.limits.as_deref()) else {
            continue;
        };
        let model = if limits.account_wide {
            "*".to_owned()
        } else {
            match e.upstream_model.as_deref().or(e.model.as_deref()) {
                Some(model) => model.to_owned(),
                None => continue,
            }
        };
        let binding = limits.binding();
        let observation = QuotaObservation {
            account_id: account,
            model: model.clone(),
            request_limit: limits.limit_of("requests"),
            token_limit: limits.limit_of("tokens"),
            limit_window: binding.map(|w| w.name.to_string()),
            remaining: binding.and_then(|w| w.remaining),
            used_percent: binding.and_then(|w| w.used_percent),
            resets_at: binding.and_then(|w| w.resets_at),
            exhausted_at: limits.is_exhausted().then_some(e.at),
        };
        latest.insert((account, model), observation);
    }
    latest
}

/// The health deltas of `events`, one per account, in id order: whether a
/// success came, and the failures after the last one.
fn health_deltas(events: &[StatsEvent]) -> Vec<AccountHealthDelta> {
    let mut deltas: BTreeMap<AccountId, AccountHealthDelta> = BTreeMap::new();
    for e in events {
        let (Some(account), Some(outcome)) = (e.account_id, e.outcome) else {
            continue;
        };
        let delta = deltas.entry(account).or_insert_with(|| AccountHealthDelta {
            account_id: account,
            last_success_at: None,
            failures: 0,
            last_error: None,
        });
        match outcome {
            AccountOutcome::Success => {
                delta.last_success_at = Some(e.at);
                delta.failures = 0;
            }
            AccountOutcome::Failure => {
                delta.failures += 1;
                let message = e
                    .error
                    .as_ref()
                    .map_or_else(|| format!("status {}", e.status), |f| f.message.clone());
                delta.last_error = Some((e.at, message));
            }
        }
    }
    deltas.into_values().collect()
}

impl Sink {
    /// Lets the database hand back the cache its writes filled. Skipped
    /// while writes fail (it would wait for the same database); a failure
    /// costs nothing but the memory, so it is only logged.
    async fn release_memory(&self) {
        if self.writes_failing.load(Ordering::Relaxed) {
            return;
        }
        match tokio::time::timeout(self.write_timeout, self.repository.release_memory()).await {
            Ok(Ok(())) => Counters::add(&self.counters.memory_releases, 1),
            Ok(Err(error)) => tracing::debug!(%error, "database cache not released"),
            Err(_) => tracing::debug!("database cache not released in time"),
        }
    }

    /// What a batch changes beside its rows: the live counters, account
    /// health and learned limits.
    async fn observe(&self, events: &[StatsEvent]) {
        self.live(events).await;
        self.health(events).await;
        self.limits(events).await;
    }

    /// Like [`observe`](Self::observe) for a batch moved to the journal
    /// because the writer is behind: the live counters only. Its health and
    /// limits are counted as not written (health is current state, and the
    /// next outcome of each account writes it), rather than wait on the
    /// database the writer is already waiting for.
    async fn observe_offline(&self, events: &[StatsEvent]) {
        self.live(events).await;
        let skipped = health_deltas(events).len() + quota_observations(events).len();
        Counters::add(&self.counters.health_failures, skipped);
    }

    /// Account health: the batch's outcomes coalesced per account and
    /// written in one transaction; an account that went `down` (or whose
    /// probe failed) or came back is applied to this instance's table and
    /// announced to the others. Not retried: a failure is counted, and the
    /// next outcome of the account writes its health again.
    async fn health(&self, events: &[StatsEvent]) {
        let deltas = health_deltas(events);
        if deltas.is_empty() {
            return;
        }
        if self.writes_failing.load(Ordering::Relaxed) {
            Counters::add(&self.counters.health_failures, deltas.len());
            return;
        }
        let thresholds = self.health.thresholds();
        let written = tokio::time::timeout(
            self.write_timeout,
            self.repository.record_accounts_health(&deltas, &thresholds),
        )
        .await;
        let changes = match written {
            Ok(Ok(changes)) => changes,
            Ok(Err(error)) => {
                Counters::add(&self.counters.health_failures, deltas.len());
                tracing::warn!(%error, "account health not written");
                return;
            }
            Err(_) => {
                Counters::add(&self.counters.health_failures, deltas.len());
                tracing::warn!("account health not written in time");
                return;
            }
        };
        for change in changes {
            let failed = deltas
                .iter()
                .any(|d| d.account_id == change.account_id && d.failures > 0);
            self.announce_health(change, failed).await;
        }
    }

    /// Learned limits: the batch's last observation per account and model,
    /// written at most once per account every [`LIMITS_WRITE_INTERVAL`]
    /// (a window newly used up is always written), in one transaction. Not
    /// retried: the next answer states them again.
    async fn limits(&self, events: &[StatsEvent]) {
        let observed = quota_observations(events);
        if observed.is_empty() {
            return;
        }
        if self.writes_failing.load(Ordering::Relaxed) {
            Counters::add(&self.counters.health_failures, observed.len());
            return;
        }
        let now = Instant::now();
        let due: Vec<QuotaObservation> = {
            let mut written = self.limits_written.lock();
            let mut accepted: HashMap<AccountId, bool> = HashMap::new();
            for o in observed.values() {
                let exhausted = o.exhausted_at.is_some();
                let fresh = match written.get(&o.account_id) {
                    Some(&(at, was_exhausted)) => {
                        now.duration_since(at) >= LIMITS_WRITE_INTERVAL
                            || (exhausted && !was_exhausted)
                    }
                    None => true,
                };
                if fresh || accepted.contains_key(&o.account_id) {
                    *accepted.entry(o.account_id).or_default() |= exhausted;
                }
            }
            for (&account, &exhausted) in &accepted {
                written.insert(account, (now, exhausted));
            }
            if written.len() > 100_000 {
                written.retain(|_, (at, _)| now.duration_since(*at) < LIMITS_WRITE_INTERVAL);
            }
            observed
                .into_values()
                .filter(|o| accepted.contains_key(&o.account_id))
                .collect()
        };
        if due.is_empty() {
            return;
        }
        let written = tokio::time::timeout(
            self.write_timeout,
            self.repository.record_quota_observations(&due),
        )
        .await;
        match written {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => {
                Counters::add(&self.counters.health_failures, due.len());
                tracing::warn!(%error, "learned limits not written");
            }
            Err(_) => {
                Counters::add(&self.counters.health_failures, due.len());
                tracing::warn!("learned limits not written in time");
            }
        }
    }

    /// Applies a health change here and tells the other instances: a `down`
    /// account (newly, or after a failed probe) waits for its next probe; one
    /// no longer `down` is back in selection.
    async fn announce_health(&self, change: AccountHealthChange, failed: bool) {
        let account = change.account_id;
        let (next_probe_ms, wait) = if change.after == HealthStatus::Down {
            if !failed {
                return;
            }
            let wait = self.health.probe_wait(change.failure_count);
            let wait_ms = i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
            let next = chrono::Utc::now()
                .timestamp_millis()
                .saturating_add(wait_ms);
            self.down.mark_down(account, next, wait);
            tracing::warn!(
                %account,
                failures = change.failure_count,
                probe_in_ms = wait_ms,
                "account down; out of selection until its probe"
            );
            (next, wait_ms)
        } else if change.before == HealthStatus::Down {
            self.down.restore(account);
            tracing::info!(%account, "account healthy again");
            (0, 0)
        } else {
            return;
        };
        let event = Invalidation::AccountHealth {
            account: account.to_string(),
            status: change.after.as_str().to_owned(),
            next_probe_ms,
            probe_wait_ms: wait,
        };
        if let Err(error) = self.state.publish(event).await {
            tracing::debug!(%error, "could not announce an account's health to other instances");
        }
    }

    /// The live counters: the batch's events summed per scope, id and UTC
    /// day, then one update per group (a thousand events of one account
    /// through one proxy make three updates, not three thousand). Not
    /// retried: a failure is counted and the SQL rows remain the record.
    async fn live(&self, events: &[StatsEvent]) {
        let groups = live_groups(events);
        Counters::add(&self.counters.live_updates, groups.len());
        // Bounded by hand rather than with `buffer_unordered` and friends:
        // their closures returning borrowing futures can make the writer's
        // future lose `Send` (a known higher-ranked lifetime issue).
        let mut failures = 0;
        let mut in_flight = FuturesUnordered::new();
        for ((target, day), added) in groups {
            if in_flight.len() >= LIVE_CONCURRENCY && in_flight.next().await == Some(false) {
                failures += 1;
            }
            in_flight.push(live_one(
                &self.state,
                target.scope(),
                target.id(),
                day,
                added,
            ));
        }
        while let Some(ok) = in_flight.next().await {
            if !ok {
                failures += 1;
            }
        }
        if failures > 0 {
            Counters::add(&self.counters.live_failures, failures);
            tracing::warn!(failures, "live counters not updated");
        }
    }

    /// Writes the backlog oldest first; stops at the first batch that must
    /// be retried, and schedules the retry. Returns whether the backlog is
    /// written (an empty one leaves the schedule as it is).
    async fn write_backlog(&self, backlog: &mut Backlog) -> bool {
        if backlog.is_empty() {
            return true;
        }
        while let Some(batch) = backlog.front_mut() {
            match self.write_batch(batch).await {
                Ok(()) => {
                    backlog.pop_front();
                    Counters::add(&self.counters.flushes, 1);
                }
                Err(error) => {
                    Counters::add(&self.counters.flush_failures, 1);
                    let first = backlog.retry_at().is_none();
                    backlog.failed(Instant::now());
                    if first {
                        tracing::warn!(
                            %error,
                            backlog = backlog.len(),
                            "stats write failed; keeping the events and retrying"
                        );
                    } else {
                        tracing::debug!(%error, backlog = backlog.len(), "stats write retry failed");
                    }
                    return false;
                }
            }
        }
        if backlog.retry_at().is_some() {
            tracing::info!("stats writes succeed again; backlog written");
        }
        backlog.succeeded();
        true
    }

    /// Whether the database answers a `SELECT 1` within [`PROBE_TIMEOUT`].
    async fn probe(&self) -> bool {
        let answered = tokio::time::timeout(PROBE_TIMEOUT, self.repository.ping()).await;
        let ok = matches!(answered, Ok(Ok(())));
        if !ok {
            Counters::add(&self.counters.flush_failures, 1);
        }
        ok
    }

    /// Replays journal batches oldest first: one at least, then more while
    /// the queue holds less than a batch (live events are keeping up) and
    /// `flush_interval` has not passed. A failure keeps the batch for the
    /// next attempt and schedules the retry.
    async fn replay(&self, spill: &mut Spill, backlog: &mut Backlog, config: &StatsConfig) {
        let started = Instant::now();
        let mut replayed = 0_usize;
        loop {
            if replayed > 0
                && (started.elapsed() >= config.flush_interval
                    || self.counters.queue_depth() >= config.batch_size as u64)
            {
                return;
            }
            let Some((mut batch, end)) = spill.next().await else {
                return;
            };
            match self.write_batch(&mut batch).await {
                Ok(()) => {
                    spill.consumed(end).await;
                    replayed += 1;
                    Counters::add(&self.counters.flushes, 1);
                    Counters::add(&self.counters.journal_replayed_batches, 1);
                    Counters::add(&self.counters.journal_replayed_events, batch.events);
                    if backlog.retry_at().is_some() {
                        tracing::info!("stats writes succeed again; replaying the journal");
                        backlog.succeeded();
                    }
                    if !spill.has_pending() {
                        tracing::info!("stats journal replayed");
                    }
                }
                Err(error) => {
                    spill.retry_later(batch, end);
                    Counters::add(&self.counters.flush_failures, 1);
                    if backlog.retry_at().is_none() {
                        tracing::warn!(%error, "stats journal replay failed; retrying");
                    } else {
                        tracing::debug!(%error, "stats journal replay retry failed");
                    }
                    backlog.failed(Instant::now());
                    return;
                }
            }
        }
    }

    /// Writes what is left of `batch`: the request logs, the proxy-stats
    /// sums and the account uses, each in one transaction with its stage
    /// marker, the three at once on separate connections (each commit waits
    /// for the disk; waiting for three in turn would triple the time per
    /// batch). Each stage is emptied as it is written, so a retry resumes
    /// where the failure happened; a stage that committed although its
    /// commit was reported as failed is found by its marker and skipped.
    async fn write_batch(&self, batch: &mut PendingBatch) -> Result<(), aigw_repository::Error> {
        batch.attempted = true;
        let PendingBatch {
            id,
            logs,
            logs_done,
            proxy,
            accounts,
            unclassified: [logs_unclassified, proxy_unclassified, accounts_unclassified],
            split_logs,
            split_proxy,
            ..
        } = batch;
        let id = *id;
        let stages = async {
            tokio::join!(
                self.write_logs(id, logs, logs_done, split_logs, logs_unclassified),
                self.write_proxy_stats(id, proxy, split_proxy, proxy_unclassified),
                self.write_account_usage(id, accounts, accounts_unclassified),
            )
        };
        // A connection that died without a reset (the network swallows its
        // packets) would hold the writer until TCP gives up, minutes later.
        // Cancelled here, a stage keeps its rows (they are removed only once
        // written), and its marker tells whether its commit landed after all.
        let Ok((logs, proxy, accounts)) = tokio::time::timeout(self.write_timeout, stages).await
        else {
            return Err(aigw_repository::Error::Unavailable {
                context: "stats.write",
                source: aigw_repository::Unavailable::Timeout(self.write_timeout),
            });
        };
        logs.and(proxy).and(accounts)?;
        debug_assert!(batch.is_done());
        self.cleanup_markers().await;
        Ok(())
    }

    /// Counts a stage (or part) that `written` found committed by an
    /// earlier attempt.
    fn note_replay<T>(&self, stage: &StatsStage, written: &StageWrite<T>) {
        if !matches!(written, StageWrite::AlreadyWritten) {
            return;
        }
        Counters::add(&self.counters.replays_skipped, 1);
        tracing::info!(
            batch = %stage.batch(),
            stage = stage.name(),
            "stats stage already committed by an earlier attempt; skipped"
        );
    }

    /// The request logs: one insert transaction; once refused for good, one
    /// row (and one transaction, with the row's own marker) at a time, to
    /// isolate the bad ones.
    async fn write_logs(
        &self,
        batch: StatsBatchId,
        logs: &mut VecDeque<NewRequestLog>,
        done: &mut usize,
        split: &mut bool,
        unclassified: &mut u32,
    ) -> Result<(), aigw_repository::Error> {
        let counters = &self.counters;
        if !logs.is_empty() && !*split {
            let stage = StatsStage::whole(batch, STAGE_LOGS);
            match self
                .repository
                .insert_request_logs_once(&stage, logs.make_contiguous())
                .await
            {
                Ok(written) => {
                    self.note_replay(&stage, &written);
                    Counters::add(&counters.flushed_rows, logs.len());
                    *done += logs.len();
                    logs.clear();
                }
                Err(error) => match failed_write(&error, unclassified) {
                    FailedWrite::Retry => return Err(error),
                    FailedWrite::Reject => {
                        tracing::warn!(%error, "request-log batch refused; writing its rows one by one");
                        *split = true;
                    }
                },
            }
        }
        while let Some(row) = logs.front() {
            let stage = StatsStage::part(batch, STAGE_LOGS, *done);
            match self
                .repository
                .insert_request_logs_once(&stage, std::slice::from_ref(row))
                .await
            {
                Ok(written) => {
                    self.note_replay(&stage, &written);
                    Counters::add(&counters.flushed_rows, 1);
                }
                Err(error) => match failed_write(&error, unclassified) {
                    FailedWrite::Retry => return Err(error),
                    FailedWrite::Reject => {
                        tracing::warn!(%error, request_id = %row.request_id, "request-log row refused; dropped");
                        Counters::add(&counters.rejected_rows, 1);
                    }
                },
            }
            logs.pop_front();
            *done += 1;
        }
        Ok(())
    }

    /// The proxy-stats sums: one upsert transaction; once refused for good
    /// (a proxy deleted meanwhile), one key (with its own marker) at a time.
    async fn write_proxy_stats(
        &self,
        batch: StatsBatchId,
        proxy: &mut BTreeMap<ProxyKey, ProxySums>,
        split: &mut bool,
        unclassified: &mut u32,
    ) -> Result<(), aigw_repository::Error> {
        if !proxy.is_empty() && !*split {
            let stage = StatsStage::whole(batch, STAGE_PROXY_STATS);
            match self
                .repository
                .upsert_proxy_stats_once(&stage, &deltas(proxy))
                .await
            {
                Ok(written) => {
                    self.note_replay(&stage, &written);
                    proxy.clear();
                }
                Err(error) => match failed_write(&error, unclassified) {
                    FailedWrite::Retry => return Err(error),
                    FailedWrite::Reject => {
                        tracing::warn!(%error, "proxy-stats batch refused; writing it key by key");
                        *split = true;
                    }
                },
            }
        }
        while let Some((key, sums)) = proxy.first_key_value() {
            let (proxy_id, provider, day) = key;
            let part = format!(
                "{proxy_id}/{}/{day}",
                provider.as_ref().map_or("", ProviderId::as_str)
            );
            let stage = StatsStage::part(batch, STAGE_PROXY_STATS, part);
            match self
                .repository
                .upsert_proxy_stats_once(&stage, &[delta(key, sums)])
                .await
            {
                Ok(written) => self.note_replay(&stage, &written),
                Err(error) => match failed_write(&error, unclassified) {
                    FailedWrite::Retry => return Err(error),
                    FailedWrite::Reject => {
                        tracing::warn!(%error, proxy = %key.0, "proxy-stats update refused; dropped");
                        Counters::add(&self.counters.rejected_updates, 1);
                    }
                },
            }
            proxy.pop_first();
        }
        Ok(())
    }

    /// The account uses: one transaction for all the batch's accounts, with
    /// its marker. Uses of an account deleted meanwhile are dropped and
    /// counted; the others are recorded.
    async fn write_account_usage(
        &self,
        batch: StatsBatchId,
        accounts: &mut BTreeMap<AccountId, i64>,
        unclassified: &mut u32,
    ) -> Result<(), aigw_repository::Error> {
        if accounts.is_empty() {
            return Ok(());
        }
        let stage = StatsStage::whole(batch, STAGE_ACCOUNT_USAGE);
        let uses: Vec<(AccountId, i64)> = accounts.iter().map(|(&a, &n)| (a, n)).collect();
        match self
            .repository
            .record_accounts_usage_once(&stage, &uses)
            .await
        {
            Ok(StageWrite::Written(missing)) => {
                for account in &missing {
                    tracing::debug!(%account, "account usage not recorded (account gone)");
                }
                Counters::add(&self.counters.rejected_updates, missing.len());
            }
            Ok(written @ StageWrite::AlreadyWritten) => self.note_replay(&stage, &written),
            Err(error) => match failed_write(&error, unclassified) {
                FailedWrite::Retry => return Err(error),
                FailedWrite::Reject => {
                    tracing::warn!(%error, accounts = accounts.len(), "account usage refused; dropped");
                    Counters::add(&self.counters.rejected_updates, accounts.len());
                }
            },
        }
        accounts.clear();
        Ok(())
    }

    /// Deletes stage markers older than [`MARKER_RETENTION`], at most every
    /// [`MARKER_CLEANUP_INTERVAL`], after a batch was written (so never while
    /// the database is failing). A failure waits for the next interval.
    async fn cleanup_markers(&self) {
        let now = Instant::now();
        {
            let mut next = self.next_marker_cleanup.lock();
            if now < *next {
                return;
            }
            *next = now + MARKER_CLEANUP_INTERVAL;
        }
        let before = chrono::Utc::now() - self.marker_retention;
        match self.repository.delete_stats_stages_before(before).await {
            Ok(deleted) => tracing::debug!(deleted, "old stats stage markers deleted"),
            Err(error) => tracing::debug!(%error, "old stats stage markers not deleted"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::{DateTime, Utc};

    use super::*;
    use crate::limits::UpstreamLimits;
    use crate::stats::event::StatsFailure;

    fn outcome(account: AccountId, at: &str, outcome: AccountOutcome) -> StatsEvent {
        let at: DateTime<Utc> = at.parse().unwrap();
        let mut e = StatsEvent::new(at, "r");
        e.account_id = Some(account);
        e.outcome = Some(outcome);
        if outcome == AccountOutcome::Failure {
            e.status = 503;
            e.error = Some(StatsFailure::new(
                "upstream_status",
                format!("down at {at}"),
            ));
        } else {
            e.status = 200;
        }
        e
    }

    #[test]
    fn outcomes_coalesce_per_account_and_a_success_restarts_the_count() {
        let (a, b, c) = (AccountId::new(), AccountId::new(), AccountId::new());
        let mut client_error = outcome(c, "2025-06-01T10:00:00Z", AccountOutcome::Failure);
        client_error.outcome = None;
        let events = [
            outcome(a, "2025-06-01T10:00:00Z", AccountOutcome::Failure),
            outcome(a, "2025-06-01T10:00:01Z", AccountOutcome::Success),
            outcome(a, "2025-06-01T10:00:02Z", AccountOutcome::Failure),
            outcome(a, "2025-06-01T10:00:03Z", AccountOutcome::Failure),
            outcome(b, "2025-06-01T10:00:04Z", AccountOutcome::Failure),
            client_error,
        ];
        let deltas = health_deltas(&events);
        assert_eq!(
            deltas.len(),
            2,
            "one per account; the client's error is not one"
        );
        let of = |id| deltas.iter().find(|d| d.account_id == id).unwrap();
        assert_eq!(of(a).failures, 2, "failures after the last success");
        assert_eq!(
            of(a).last_success_at,
            Some("2025-06-01T10:00:01Z".parse().unwrap())
        );
        let (at, message) = of(a).last_error.clone().unwrap();
        assert_eq!(at, "2025-06-01T10:00:03Z".parse::<DateTime<Utc>>().unwrap());
        assert!(message.contains("10:00:03"), "{message}");
        assert_eq!((of(b).failures, of(b).last_success_at), (1, None));
    }

    #[test]
    fn the_last_statement_per_account_and_model_is_kept() {
        let a = AccountId::new();
        let now = Utc::now();
        let stated = |remaining: &str| {
            let mut h = http::HeaderMap::new();
            h.insert("x-ratelimit-limit-requests", "100".parse().unwrap());
            h.insert("x-ratelimit-remaining-requests", remaining.parse().unwrap());
            h.insert("x-ratelimit-reset-requests", "30s".parse().unwrap());
            let mut e = outcome(a, "2025-06-01T10:00:00Z", AccountOutcome::Success);
            e.model = Some("gpt-4o".into());
            e.limits = UpstreamLimits::from_headers(&h, now).map(Arc::new);
            e
        };
        let observed = quota_observations(&[stated("7"), stated("0")]);
        assert_eq!(observed.len(), 1);
        let o = &observed[&(a, "gpt-4o".to_owned())];
        assert_eq!(o.request_limit, Some(100));
        assert_eq!(o.remaining, Some(0));
        assert_eq!(o.limit_window.as_deref(), Some("requests"));
        assert!(o.exhausted_at.is_some());
    }
}
