//! The writer's handle on the journal: every journal operation runs on
//! tokio's blocking pool (file IO and fsync never stall a runtime worker),
//! and its outcome is counted and published as gauges.

use std::sync::Arc;

use chrono::Utc;
use parking_lot::Mutex;

use super::batch::PendingBatch;
use super::journal::{Appended, Journal, JournalBatch, JournalError, Position};
use super::metrics::Counters;

/// The journal, as the writer task uses it.
pub(crate) struct Spill {
    /// Locked only inside blocking-pool closures, never across an `.await`;
    /// the writer is the only user, so the lock is never contended.
    journal: Arc<Mutex<Journal>>,
    counters: Arc<Counters>,
    /// A batch read back from the journal whose write failed: retried
    /// before the next record is read, keeping what its earlier attempts
    /// achieved.
    replaying: Option<(PendingBatch, Position)>,
    /// Whether the journal had a record to replay after the last operation.
    pending: bool,
    /// Whether appends may be waiting for an fsync.
    unsynced: bool,
}

impl Spill {
    pub(crate) fn new(journal: Journal, counters: Arc<Counters>) -> Self {
        publish(&journal, &counters);
        let pending = journal.has_pending();
        Self {
            journal: Arc::new(Mutex::new(journal)),
            counters,
            replaying: None,
            pending,
            unsynced: false,
        }
    }

    /// Whether a batch waits in the journal.
    pub(crate) fn has_pending(&self) -> bool {
        self.replaying.is_some() || self.pending
    }

    /// Runs `op` on the journal on the blocking pool; `None` if that task
    /// failed.
    async fn run<T: Send + 'static>(
        &mut self,
        op: impl FnOnce(&mut Journal) -> T + Send + 'static,
    ) -> Option<T> {
        let (out, pending) = run_blocking(&self.journal, &self.counters, op).await?;
        self.pending = pending;
        Some(out)
    }

    /// A second way into the journal, for batches the writer moves there
    /// while a write of its own is in progress (see [`Overflow`]).
    pub(crate) fn overflow(&self) -> Overflow {
        Overflow {
            journal: Arc::clone(&self.journal),
            counters: Arc::clone(&self.counters),
        }
    }

    /// Notes that an [`Overflow`] appended records: they wait for replay
    /// and for the next sync.
    pub(crate) fn overflowed(&mut self) {
        self.pending = true;
        self.unsynced = true;
    }

    /// Appends `batches` in order. Returns those the journal could not
    /// write (a file error), for the caller to keep in memory; a full
    /// journal drops the batch and counts its events.
    pub(crate) async fn append(&mut self, batches: Vec<PendingBatch>) -> Vec<PendingBatch> {
        if batches.is_empty() {
            return batches;
        }
        self.unsynced = true;
        let Some((kept, pending)) = append_batches(&self.journal, &self.counters, batches).await
        else {
            return Vec::new();
        };
        self.pending = pending;
        kept
    }

    /// The next batch to replay: the one whose write failed last, or the
    /// oldest record in the journal.
    pub(crate) async fn next(&mut self) -> Option<(PendingBatch, Position)> {
        if let Some(replaying) = self.replaying.take() {
            return Some(replaying);
        }
        if !self.pending {
            return None;
        }
        let counters = Arc::clone(&self.counters);
        let outcome = self
            .run(move |journal| {
                let next = journal.next(Utc::now());
                let skipped = journal.take_skipped();
                Counters::add64(&counters.journal_corrupt_records, skipped.corrupt);
                Counters::add64(&counters.dropped_journal_expired, skipped.expired_events);
                if skipped.corrupt > 0 {
                    tracing::warn!(
                        records = skipped.corrupt,
                        "corrupt stats journal records skipped (torn write or bad checksum)"
                    );
                }
                if skipped.expired_events > 0 {
                    tracing::warn!(
                        dropped = skipped.expired_events,
                        "stats journal records past their age dropped"
                    );
                }
                next
            })
            .await?;
        match outcome {
            Ok(next) => next.map(|r| (r.batch.into_pending(), r.end)),
            Err(error) => {
                self.journal_error(&error);
                None
            }
        }
    }

    /// Keeps `batch` (written in part, or not at all) for the next replay.
    pub(crate) fn retry_later(&mut self, batch: PendingBatch, end: Position) {
        self.replaying = Some((batch, end));
    }

    /// The batch ending at `end` is written: the journal moves past it.
    pub(crate) async fn consumed(&mut self, end: Position) {
        if let Some(Err(error)) = self.run(move |journal| journal.consumed(end)).await {
            self.journal_error(&error);
        }
    }

    /// Forces appended records to disk, always or only when the interval
    /// policy's interval has passed.
    pub(crate) async fn sync(&mut self, always: bool) {
        if !self.unsynced {
            return;
        }
        let outcome = self
            .run(move |journal| {
                if always {
                    journal.sync().map(|()| true)
                } else {
                    journal.sync_due()
                }
            })
            .await;
        match outcome {
            Some(Ok(synced)) => self.unsynced = !synced,
            Some(Err(error)) => self.journal_error(&error),
            None => {}
        }
    }

    fn journal_error(&self, error: &JournalError) {
        journal_error(&self.counters, error);
    }
}

/// Moves batches from the writer's queue to the journal while the writer
/// is busy with a write of its own, so that a slow or unreachable database
/// fills the journal, not the queue. Shares the journal (and its lock) with
/// the writer's [`Spill`].
pub(crate) struct Overflow {
    journal: Arc<Mutex<Journal>>,
    counters: Arc<Counters>,
}

impl Overflow {
    /// Appends `batch`; returns it if the journal could not write it (a file
    /// error), for the caller to keep in memory. A full journal drops it and
    /// counts its events.
    pub(crate) async fn append(&self, batch: PendingBatch) -> Option<PendingBatch> {
        let events = batch.events;
        let (mut kept, _) = append_batches(&self.journal, &self.counters, vec![batch]).await?;
        if kept.is_empty() {
            Counters::add(&self.counters.journal_overflow_events, events);
        }
        kept.pop()
    }
}

/// Runs `op` on the journal on the blocking pool, then publishes the gauges.
/// Returns what `op` returned and whether the journal has a record to
/// replay; `None` if the task failed.
async fn run_blocking<T: Send + 'static>(
    journal: &Arc<Mutex<Journal>>,
    counters: &Arc<Counters>,
    op: impl FnOnce(&mut Journal) -> T + Send + 'static,
) -> Option<(T, bool)> {
    let journal = Arc::clone(journal);
    let published = Arc::clone(counters);
    let outcome = tokio::task::spawn_blocking(move || {
        let mut journal = journal.lock();
        let out = op(&mut journal);
        publish(&journal, &published);
        (out, journal.has_pending())
    })
    .await;
    match outcome {
        Ok(done) => Some(done),
        Err(error) => {
            tracing::error!(%error, "stats journal task failed");
            Counters::add(&counters.journal_errors, 1);
            None
        }
    }
}

/// Appends `batches` in order and counts the outcome. Returns those the
/// journal could not write (a file error), and whether the journal has a
/// record to replay; a full journal drops the batch and counts its events.
async fn append_batches(
    journal: &Arc<Mutex<Journal>>,
    counters: &Arc<Counters>,
    batches: Vec<PendingBatch>,
) -> Option<(Vec<PendingBatch>, bool)> {
    let ((kept, outcome, full_events, (batches, events), error), pending) =
        run_blocking(journal, counters, move |journal| {
            let now = Utc::now();
            let mut kept = Vec::new();
            let mut outcome = Appended::Written(0);
            let mut error = None;
            let mut full_events = 0;
            let mut written = (0, 0);
            for batch in batches {
                if error.is_some() {
                    kept.push(batch);
                    continue;
                }
                match journal.append(&JournalBatch::of(&batch), now) {
                    Ok(Appended::Written(_)) => {
                        written.0 += 1;
                        written.1 += batch.events;
                    }
                    Ok(Appended::Full) => {
                        outcome = Appended::Full;
                        full_events += batch.events;
                    }
                    Err(e) => {
                        error = Some(e);
                        kept.push(batch);
                    }
                }
            }
            (kept, outcome, full_events, written, error)
        })
        .await?;
    Counters::add(&counters.journal_appended_batches, batches);
    Counters::add(&counters.journal_appended_events, events);
    if outcome == Appended::Full {
        Counters::add(&counters.dropped_journal_full, full_events);
        tracing::warn!(
            dropped = full_events,
            "stats journal full while the database is unreachable; events dropped"
        );
    }
    if let Some(error) = error {
        journal_error(counters, &error);
    }
    Some((kept, pending))
}

fn journal_error(counters: &Counters, error: &JournalError) {
    Counters::add(&counters.journal_errors, 1);
    tracing::error!(%error, "stats journal operation failed");
}

/// Publishes the journal's gauges.
fn publish(journal: &Journal, counters: &Counters) {
    let gauges = journal.gauges();
    Counters::set64(&counters.journal_bytes, gauges.bytes);
    Counters::set64(&counters.journal_pending_bytes, gauges.pending_bytes);
    let oldest = gauges
        .oldest
        .map_or(0, |at| u64::try_from(at.timestamp_millis()).unwrap_or(0));
    Counters::set64(&counters.journal_oldest_ms, oldest);
}
